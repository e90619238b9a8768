//! The audit's three outputs: JSON Lines (one record per mailbox, then per user, then a
//! summary), CSV (one row per mailbox) and a text report for people (blocked mailboxes
//! first, each with what to do; then who can approve what; then the summary). JSON and
//! CSV are written as the mailboxes are decided; the text and HTML reports hold each
//! decided mailbox as a few words (its class of sync decisions and its shared user lists,
//! `Decided`) and write it a mailbox at a time, so no report is built in memory.

use super::{
    AuditDecision, AuditError, Auditor, Bundle, Mailbox, SYNC_ACTIONS, SyncClass, UserList,
};
use crate::compile::CompiledSet;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::rc::Rc;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A report for people.
    Text,
    /// JSON Lines.
    Json,
    /// One CSV row per mailbox.
    Csv,
    /// One self-contained HTML document.
    Html,
}

/// Counts of an audit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Always `"audit"`.
    pub summary: &'static str,
    /// The organization's name.
    pub organization: String,
    /// Its version.
    pub version: String,
    /// Its deployment.
    pub deployment: String,
    /// Mailboxes audited.
    pub mailboxes: usize,
    /// Users audited.
    pub users: usize,
    /// Per sync action: mailboxes it is denied for.
    pub blocked: BTreeMap<String, usize>,
    /// Per reason: mailboxes with at least one workload denied for it.
    pub by_reason: BTreeMap<String, usize>,
    /// Warnings about the bundle as a whole.
    pub warnings: Vec<String>,
}

#[derive(Serialize)]
struct SyncRecord<'a> {
    decision: &'a str,
    cause: &'a str,
    rules: &'a [String],
    reasons: &'a [String],
    /// For a denial, the subset-minimal changes that allow it; `null` for an allow.
    counterfactuals: Option<&'a crate::analysis::WhyNotResult>,
    /// For a denial, the options as plans with who can do each step.
    #[serde(skip_serializing_if = "Option::is_none")]
    plans: Option<&'a [crate::analysis::WhyNotOption]>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    errors: &'a [String],
}

#[derive(Serialize)]
struct ServerRecord<'a> {
    #[serde(rename = "type")]
    ty: Option<&'a str>,
    profile: &'a str,
    profile_id: &'a str,
    active: bool,
    evidence: &'a str,
}

/// The three sync decisions, in the order the report lists them.
#[derive(Serialize)]
#[allow(
    clippy::struct_field_names,
    reason = "the fields are the action names the record shows"
)]
struct SyncMap<'a> {
    sync_incoming_email: SyncRecord<'a>,
    sync_outgoing_email: SyncRecord<'a>,
    sync_appointments_contacts_tasks: SyncRecord<'a>,
}

/// The start of a mailbox record: `sync`, `approvers` and `warnings` follow (see
/// [`JsonWriter::mailbox`]).
#[derive(Serialize)]
struct MailboxHead<'a> {
    mailbox: &'a str,
    id: &'a str,
    email: &'a str,
    owner_kind: Option<&'a str>,
    server: Option<ServerRecord<'a>>,
}

#[derive(Serialize)]
struct UserRecord<'a> {
    user: &'a str,
    id: &'a str,
    change_approval_settings: &'a str,
    assign_delegated_mailbox_approver: &'a str,
    can_approve: u64,
    team_roles: &'a [String],
    warnings: &'a [String],
}

/// One decided mailbox: what it shares with the mailboxes alike (its class of sync
/// decisions, its lists of users), so that holding every mailbox for the text and HTML
/// reports costs a few words each, however long the lists are.
pub(super) struct Decided {
    pub(super) index: usize,
    /// Its class of sync decisions ([`Auditor::class`]).
    pub(super) class: u32,
    pub(super) approvers: UserList,
    /// Per action of the class's plans (in [`SyncClass::actions`] order): who may do it.
    pub(super) who: Vec<Option<UserList>>,
    /// When nobody may approve: the reasons a rule gives (text and HTML reports only).
    pub(super) nobody: Option<Rc<str>>,
}

impl Decided {
    /// Who may perform `action` on this mailbox, if a step names it and the export can say.
    pub(super) fn who<'d>(
        &'d self,
        class: &SyncClass,
        action: Option<&String>,
    ) -> Option<&'d [u32]> {
        let a = action?;
        let i = class.actions.iter().position(|x| x == a)?;
        self.who.get(i)?.as_deref()
    }
}

/// Whether any of the decisions is a denial.
pub(super) fn blocked(sync: &[AuditDecision]) -> bool {
    sync.iter().any(|d| d.report.decision == "deny")
}

fn io(e: &std::io::Error) -> AuditError {
    AuditError::File {
        file: "<output>".to_owned(),
        message: format!("cannot write: {e}"),
    }
}

/// The reasons a denial counts under: its deny reasons, or "no rule allows ACTION".
pub(super) fn reasons_of(d: &AuditDecision, action: &str) -> Vec<String> {
    if d.report.decision != "deny" {
        return Vec::new();
    }
    if d.report.reasons.is_empty() {
        vec![format!("no rule allows {action}")]
    } else {
        d.report.reasons.clone()
    }
}

/// Decides every mailbox and user of `bundle` and writes the report in `format`.
pub fn write_report<W: Write>(
    set: &CompiledSet,
    bundle: &Bundle,
    format: Format,
    out: &mut W,
) -> Result<Summary, AuditError> {
    write_report_with(&mut Auditor::new(set, bundle), format, out)
}

/// [`write_report`] with a given auditor (one made by `Auditor::without_memo`, say, or
/// one whose [`Auditor::work`] is read afterwards).
pub fn write_report_with<W: Write>(
    auditor: &mut Auditor<'_>,
    format: Format,
    out: &mut W,
) -> Result<Summary, AuditError> {
    let bundle = auditor.bundle;
    let mut summary = Summary {
        summary: "audit",
        organization: bundle.org_name.clone(),
        version: bundle.version.clone(),
        deployment: bundle.deployment.clone(),
        mailboxes: bundle.mailboxes.len(),
        users: bundle.users.len(),
        warnings: bundle.warnings.clone(),
        ..Summary::default()
    };
    for a in SYNC_ACTIONS {
        summary.blocked.insert(a.to_owned(), 0);
    }
    let mut can_approve = vec![0u64; bundle.users.len()];
    if format == Format::Csv {
        let header = [
            "mailbox",
            "id",
            "email",
            "owner_kind",
            "server",
            "profile",
            SYNC_ACTIONS[0],
            SYNC_ACTIONS[1],
            SYNC_ACTIONS[2],
            "reasons",
            "approvers",
            "warnings",
            "fix",
        ];
        out.write_all(&csv_line(&header)?).map_err(|e| io(&e))?;
    }
    let mut json = JsonWriter::new(bundle);
    // Mailboxes per class of sync decisions, for the summary's counts.
    let mut per_class: Vec<usize> = Vec::new();
    let mut held = Vec::new();
    for (index, m) in bundle.mailboxes.iter().enumerate() {
        let class = auditor.sync_class(m, format == Format::Text)?;
        let approvers = auditor.approver_list(m)?;
        let actions = auditor.class(class).actions.clone();
        let mut who = Vec::with_capacity(actions.len());
        for a in &actions {
            who.push(auditor.who_list(m, a)?);
        }
        for &u in approvers.iter() {
            can_approve[u as usize] += 1;
        }
        let c = class as usize;
        if per_class.len() <= c {
            per_class.resize(c + 1, 0);
        }
        per_class[c] += 1;
        let nobody = if matches!(format, Format::Text | Format::Html) && approvers.is_empty() {
            auditor.why_nobody_shared(m)?
        } else {
            None
        };
        let decided = Decided {
            index,
            class,
            approvers,
            who,
            nobody,
        };
        match format {
            Format::Json => json.mailbox(auditor.class(class), m, &decided, out)?,
            Format::Csv => {
                let row = csv_row(bundle, auditor.class(class), m, &decided)?;
                out.write_all(&row).map_err(|e| io(&e))?;
            }
            Format::Text | Format::Html => held.push(decided),
        }
    }
    for (c, &n) in per_class.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let class = auditor.class(u32::try_from(c).unwrap_or(u32::MAX));
        for (d, action) in class.sync.iter().zip(SYNC_ACTIONS) {
            if d.report.decision == "deny" {
                *summary.blocked.entry(action.to_owned()).or_default() += n;
            }
        }
        for r in &class.reasons {
            *summary.by_reason.entry(r.clone()).or_default() += n;
        }
    }
    if format == Format::Csv {
        return Ok(summary);
    }
    let mut users = Vec::new();
    for (i, u) in bundle.users.iter().enumerate() {
        let [settings, assign] = auditor.user_requests(u)?;
        let settings = auditor.decide(&settings, false).report.decision;
        let assign = auditor.decide(&assign, false).report.decision;
        users.push((i, settings, assign));
    }
    let auditor: &Auditor<'_> = auditor;
    match format {
        Format::Json => {
            let mut line = Vec::new();
            for &(i, settings, assign) in &users {
                let u = &bundle.users[i];
                let rec = UserRecord {
                    user: &u.upn,
                    id: &u.id,
                    change_approval_settings: settings,
                    assign_delegated_mailbox_approver: assign,
                    can_approve: can_approve[i],
                    team_roles: &u.team_roles,
                    warnings: &u.warnings,
                };
                line.clear();
                let _ = serde_json::to_writer(&mut line, &rec);
                line.push(b'\n');
                out.write_all(&line).map_err(|e| io(&e))?;
            }
            line.clear();
            let _ = serde_json::to_writer(&mut line, &summary);
            line.push(b'\n');
            out.write_all(&line).map_err(|e| io(&e))?;
        }
        Format::Text => text_report(auditor, &held, &users, &can_approve, &summary, out)?,
        Format::Html => {
            super::html::report(auditor, &held, &users, &can_approve, &summary, out)
                .map_err(|e| io(&e))?;
        }
        Format::Csv => {}
    }
    Ok(summary)
}

/// The name a report shows for user `u`: its UPN, or its id when it has none.
pub(super) fn user_name(bundle: &Bundle, u: u32) -> &str {
    bundle.users.get(u as usize).map_or("", |u| {
        if u.upn.is_empty() {
            u.id.as_str()
        } else {
            u.upn.as_str()
        }
    })
}

/// A step for people: its text, and who can do it where it has an action the export can
/// answer for.
pub(super) fn step_line(
    bundle: &Bundle,
    step: &crate::analysis::Step,
    who: Option<&[u32]>,
) -> String {
    match who {
        Some([]) => format!("{} (can do it: nobody in this export)", step.text),
        Some(w) => {
            let mut line = format!("{} (can do it: ", step.text);
            for (i, &u) in w.iter().enumerate() {
                if i > 0 {
                    line.push_str(", ");
                }
                line.push_str(user_name(bundle, u));
            }
            line.push(')');
            line
        }
        None => step.text.clone(),
    }
}

/// Writes the JSON Lines mailbox records. A class's `sync` object is the same for every
/// mailbox of the class except for the `who` of its steps: it is serialized once, as
/// pieces with a hole per `who`, and each mailbox's lists fill the holes.
struct JsonWriter {
    /// Per class of sync decisions: its `sync` object as pieces.
    templates: Vec<Option<Vec<Piece>>>,
    /// Per user: the name a step shows (see [`user_name`]), as a JSON string.
    names: Vec<String>,
    /// Per user: the UPN, as a JSON string (the approvers).
    upns: Vec<String>,
    line: Vec<u8>,
}

enum Piece {
    /// JSON text.
    Raw(String),
    /// `,"who":[...]` of the class's action of this index, or nothing when the export
    /// cannot say who.
    Who(usize),
}

impl JsonWriter {
    fn new(bundle: &Bundle) -> Self {
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
        let count = u32::try_from(bundle.users.len()).unwrap_or(u32::MAX);
        JsonWriter {
            templates: Vec::new(),
            names: (0..count).map(|u| quote(user_name(bundle, u))).collect(),
            upns: bundle.users.iter().map(|u| quote(&u.upn)).collect(),
            line: Vec::new(),
        }
    }

    /// The class's `sync` object, with a hole for every step's `who`.
    fn template(class: &SyncClass) -> Vec<Piece> {
        let hole = |i: usize| format!("\u{0}mailgate-who-{i}\u{0}");
        let mut sync = class.sync.clone();
        for d in &mut sync {
            for step in d
                .plans
                .iter_mut()
                .flatten()
                .flat_map(|p| p.steps.iter_mut())
            {
                if let Some(i) = step
                    .action
                    .as_ref()
                    .and_then(|a| class.actions.iter().position(|x| x == a))
                {
                    step.who = Some(vec![hole(i)]);
                }
            }
        }
        let map = SyncMap {
            sync_incoming_email: sync_record(&sync[0]),
            sync_outgoing_email: sync_record(&sync[1]),
            sync_appointments_contacts_tasks: sync_record(&sync[2]),
        };
        let mut text = serde_json::to_string(&map).unwrap_or_default();
        let holes: Vec<String> = (0..class.actions.len())
            .map(|i| {
                format!(
                    ",\"who\":[{}]",
                    serde_json::to_string(&hole(i)).unwrap_or_default()
                )
            })
            .collect();
        let mut pieces = Vec::new();
        loop {
            let next = holes
                .iter()
                .enumerate()
                .filter_map(|(i, h)| text.find(h.as_str()).map(|at| (at, i, h.len())))
                .min();
            let Some((at, i, len)) = next else { break };
            pieces.push(Piece::Raw(text[..at].to_owned()));
            pieces.push(Piece::Who(i));
            text = text.split_off(at + len);
        }
        pieces.push(Piece::Raw(text));
        pieces
    }

    fn list(line: &mut Vec<u8>, quoted: &[String], users: &[u32]) {
        line.push(b'[');
        for (i, &u) in users.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            line.extend_from_slice(quoted[u as usize].as_bytes());
        }
        line.push(b']');
    }

    fn mailbox<W: Write>(
        &mut self,
        class: &SyncClass,
        m: &Mailbox,
        d: &Decided,
        out: &mut W,
    ) -> Result<(), AuditError> {
        let c = d.class as usize;
        if self.templates.len() <= c {
            self.templates.resize_with(c + 1, || None);
        }
        let pieces = self.templates[c].get_or_insert_with(|| Self::template(class));
        let line = &mut self.line;
        line.clear();
        let head = MailboxHead {
            mailbox: &m.name,
            id: &m.id,
            email: &m.email,
            owner_kind: m.owner_kind.as_deref(),
            server: server_record(m),
        };
        serde_json::to_writer(&mut *line, &head).map_err(|e| AuditError::File {
            file: "<output>".to_owned(),
            message: e.to_string(),
        })?;
        line.pop(); // the head's closing brace: the record goes on
        line.extend_from_slice(b",\"sync\":");
        for piece in pieces.iter() {
            match piece {
                Piece::Raw(text) => line.extend_from_slice(text.as_bytes()),
                Piece::Who(i) => {
                    if let Some(Some(users)) = d.who.get(*i) {
                        line.extend_from_slice(b",\"who\":");
                        Self::list(line, &self.names, users);
                    }
                }
            }
        }
        line.extend_from_slice(b",\"approvers\":");
        Self::list(line, &self.upns, &d.approvers);
        line.extend_from_slice(b",\"warnings\":");
        let _ = serde_json::to_writer(&mut *line, &m.warnings);
        line.extend_from_slice(b"}\n");
        out.write_all(line).map_err(|e| io(&e))
    }
}

/// Control characters (other than line ends) as `\x1b`, `\u{85}`: a name from an export
/// cannot move the cursor or recolour the terminal that shows the report.
pub(super) fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_control() && c != '\n' {
            let n = u32::from(c);
            if n < 0x80 {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push_str(&format!("\\u{{{n:x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The first plan's steps of each blocked workload, each once, joined by ` / ` (CSV).
fn fix_column(bundle: &Bundle, class: &SyncClass, d: &Decided) -> String {
    let mut steps: Vec<String> = Vec::new();
    for s in &class.sync {
        if let Some(p) = s.plans.as_ref().and_then(|p| p.first()) {
            for step in &p.steps {
                let line = step_line(bundle, step, d.who(class, step.action.as_ref()));
                if !steps.contains(&line) {
                    steps.push(line);
                }
            }
        }
    }
    steps.join(" / ")
}

fn server_record(m: &Mailbox) -> Option<ServerRecord<'_>> {
    m.profile.as_ref().map(|p| ServerRecord {
        ty: p.server.as_deref(),
        profile: &p.name,
        profile_id: &p.id,
        active: p.active,
        evidence: &p.evidence,
    })
}

fn sync_record(s: &AuditDecision) -> SyncRecord<'_> {
    SyncRecord {
        decision: s.report.decision,
        cause: s.report.cause,
        rules: &s.report.rules,
        reasons: &s.report.reasons,
        counterfactuals: s.counterfactuals.as_ref(),
        plans: s.plans.as_deref(),
        errors: &s.report.errors,
    }
}

/// One CSV record (quoted as needed by the csv crate), with its line end. A cell that a
/// spreadsheet would read as a formula (it begins with `=`, `+`, `-`, `@`, tab or CR)
/// gets a leading `'`, as OWASP advises.
fn csv_line(fields: &[&str]) -> Result<Vec<u8>, AuditError> {
    let err = |e: String| AuditError::File {
        file: "<output>".to_owned(),
        message: e,
    };
    let fields: Vec<std::borrow::Cow<'_, str>> = fields
        .iter()
        .map(|f| {
            if f.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                std::borrow::Cow::Owned(format!("'{f}"))
            } else {
                std::borrow::Cow::Borrowed(*f)
            }
        })
        .collect();
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(fields.iter().map(|f| f.as_bytes()))
        .map_err(|e| err(e.to_string()))?;
    w.into_inner().map_err(|e| err(e.to_string()))
}

fn csv_row(
    bundle: &Bundle,
    class: &SyncClass,
    m: &Mailbox,
    d: &Decided,
) -> Result<Vec<u8>, AuditError> {
    let approvers: Vec<&str> = d
        .approvers
        .iter()
        .map(|&u| bundle.users[u as usize].upn.as_str())
        .collect();
    let server = m
        .profile
        .as_ref()
        .and_then(|p| p.server.clone())
        .unwrap_or_default();
    let profile = m
        .profile
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_default();
    csv_line(&[
        m.name.as_str(),
        &m.id,
        &m.email,
        m.owner_kind.as_deref().unwrap_or(""),
        &server,
        &profile,
        class.sync[0].report.decision,
        class.sync[1].report.decision,
        class.sync[2].report.decision,
        &class.reasons.join("; "),
        &approvers.join("; "),
        &m.warnings.join("; "),
        &fix_column(bundle, class, d),
    ])
}

pub(super) const WORKLOADS: [&str; 3] = [
    "incoming email",
    "outgoing email",
    "appointments, contacts and tasks",
];

pub(super) fn describe(m: &Mailbox) -> String {
    let kind = match m.owner_kind.as_deref() {
        Some("user") => "user mailbox".to_owned(),
        Some("queue") => "queue mailbox".to_owned(),
        Some("forward") => "forward mailbox".to_owned(),
        Some(k) => format!("{k} mailbox"),
        None => "mailbox of unknown owner".to_owned(),
    };
    let server = match &m.profile {
        None => "no server profile".to_owned(),
        Some(p) => format!(
            "profile \"{}\": {} ({})",
            p.name,
            p.server.as_deref().unwrap_or("server type unknown"),
            p.evidence
        ),
    };
    format!("{} <{}>, {kind}, {server}", m.name, m.email)
}

/// `to fix:` and the first plan's steps, numbered; then `not recommended:` and the first
/// plan with a warning.
fn write_plans(
    out: &mut String,
    bundle: &Bundle,
    class: &SyncClass,
    d: &Decided,
    plans: &[crate::analysis::WhyNotOption],
) {
    use std::fmt::Write as _;
    let line =
        |step: &crate::analysis::Step| step_line(bundle, step, d.who(class, step.action.as_ref()));
    match plans.first() {
        None => {
            let _ = writeln!(
                out,
                "    to fix: nothing (no change to what may change would allow it)"
            );
        }
        Some(p) if p.warning().is_some() => {
            let _ = writeln!(out, "    to fix: no plan without a warning");
        }
        Some(p) => {
            let _ = writeln!(out, "    to fix:");
            for (i, step) in p.steps.iter().enumerate() {
                let _ = writeln!(out, "      {}. {}", i + 1, line(step));
            }
        }
    }
    if let Some(p) = plans.iter().find(|p| p.warning().is_some()) {
        let steps: Vec<String> = p.steps.iter().map(line).collect();
        let _ = writeln!(
            out,
            "    not recommended: {} ({})",
            steps.join("; then "),
            p.warning().unwrap_or_default()
        );
    }
}

/// Who may approve a mailbox, for people: the names, or why nobody.
pub(super) fn approver_names(bundle: &Bundle, d: &Decided) -> String {
    if d.approvers.is_empty() {
        match &d.nobody {
            Some(why) => format!("nobody: {why}"),
            None => "nobody in this export".to_owned(),
        }
    } else {
        let names: Vec<&str> = d
            .approvers
            .iter()
            .map(|&u| bundle.users[u as usize].upn.as_str())
            .collect();
        names.join(", ")
    }
}

/// The text report, written a mailbox at a time (blocked mailboxes first).
fn text_report<W: Write>(
    auditor: &Auditor<'_>,
    held: &[Decided],
    users: &[(usize, &str, &str)],
    can_approve: &[u64],
    summary: &Summary,
    w: &mut W,
) -> Result<(), AuditError> {
    use std::fmt::Write as _;
    let bundle = auditor.bundle;
    let mut out = String::new();
    let mut flush = |out: &mut String| -> Result<(), AuditError> {
        w.write_all(escape_controls(out).as_bytes())
            .map_err(|e| io(&e))?;
        out.clear();
        Ok(())
    };
    let is_blocked = |d: &&Decided| blocked(&auditor.class(d.class).sync);
    let count = held.iter().filter(is_blocked).count();
    let _ = writeln!(
        out,
        "Audit of {} (version {}, {}): {} mailboxes, {} users; {} mailboxes have a blocked workload",
        if bundle.org_name.is_empty() {
            "the organization"
        } else {
            &bundle.org_name
        },
        bundle.version,
        bundle.deployment,
        bundle.mailboxes.len(),
        bundle.users.len(),
        count
    );
    if count > 0 {
        let _ = writeln!(out, "\nBlocked mailboxes\n");
    }
    for d in held.iter().filter(is_blocked) {
        let m = &bundle.mailboxes[d.index];
        let class = auditor.class(d.class);
        let _ = writeln!(out, "{}", describe(m));
        for (i, s) in class.sync.iter().enumerate() {
            if s.report.decision == "allow" {
                let _ = writeln!(out, "  {}: syncs", WORKLOADS[i]);
                continue;
            }
            let why = if s.report.reasons.is_empty() {
                format!("no rule allows {}", SYNC_ACTIONS[i])
            } else {
                s.report.reasons.join("; ")
            };
            let _ = writeln!(out, "  {}: blocked: {why}", WORKLOADS[i]);
            match (&s.counterfactuals, &s.plans) {
                (Some(crate::analysis::WhyNotResult::Found(_)), Some(plans)) => {
                    write_plans(&mut out, bundle, class, d, plans);
                }
                _ => {
                    if let Some(h) = &s.hint {
                        let _ = writeln!(out, "    what to do: {h}");
                    }
                }
            }
            for e in &s.report.errors {
                let _ = writeln!(out, "    error: {e}");
            }
        }
        let _ = writeln!(out, "  who can approve it: {}", approver_names(bundle, d));
        for w in &m.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
        out.push('\n');
        flush(&mut out)?;
    }
    if count < held.len() {
        let _ = writeln!(
            out,
            "{}Mailboxes that sync every workload\n",
            if count == 0 { "\n" } else { "" }
        );
        for d in held.iter().filter(|d| !is_blocked(d)) {
            let m = &bundle.mailboxes[d.index];
            let _ = writeln!(out, "{}", describe(m));
            let _ = writeln!(out, "  who can approve it: {}", approver_names(bundle, d));
            for w in &m.warnings {
                let _ = writeln!(out, "  warning: {w}");
            }
            flush(&mut out)?;
        }
        out.push('\n');
    }
    let _ = writeln!(out, "Who can approve what\n");
    let yes = |d: &str| if d == "allow" { "yes" } else { "no" };
    for &(i, settings, assign) in users {
        let u = &bundle.users[i];
        let name = if u.upn.is_empty() {
            u.id.as_str()
        } else {
            u.upn.as_str()
        };
        let _ = writeln!(
            out,
            "{name}: may approve {} of {} mailboxes; may change the approval settings: {}; may assign Delegated Mailbox Approver: {}",
            can_approve[i],
            bundle.mailboxes.len(),
            yes(settings),
            yes(assign)
        );
        for r in &u.team_roles {
            let _ = writeln!(out, "  through a team: {r}");
        }
        for w in &u.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
        if out.len() > 1 << 16 {
            flush(&mut out)?;
        }
    }
    let _ = writeln!(out, "\nSummary\n");
    for (action, n) in &summary.blocked {
        let _ = writeln!(out, "{n:>6} mailboxes blocked for {action}");
    }
    if !summary.by_reason.is_empty() {
        let _ = writeln!(out, "\nBlocked mailboxes by reason\n");
        let mut reasons: Vec<(&String, &usize)> = summary.by_reason.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (r, n) in reasons {
            let _ = writeln!(out, "{n:>6}  {r}");
        }
    }
    if !summary.warnings.is_empty() {
        let _ = writeln!(out, "\nData warnings\n");
        for w in &summary.warnings {
            let _ = writeln!(out, "- {w}");
        }
    }
    flush(&mut out)
}
