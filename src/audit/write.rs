//! The audit's three outputs: JSON Lines (one record per mailbox, then per user, then a
//! summary), CSV (one row per mailbox) and a text report for people (blocked mailboxes
//! first, each with what to do; then who can approve what; then the summary). JSON and
//! CSV are written as the mailboxes are decided; the text report holds the decided
//! mailboxes to put the blocked ones first.

use super::{AuditDecision, AuditError, Auditor, Bundle, Mailbox, SYNC_ACTIONS};
use crate::compile::CompiledSet;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

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

#[derive(Serialize)]
struct MailboxRecord<'a> {
    mailbox: &'a str,
    id: &'a str,
    email: &'a str,
    owner_kind: Option<&'a str>,
    server: Option<ServerRecord<'a>>,
    sync: SyncMap<'a>,
    approvers: Vec<&'a str>,
    warnings: &'a [String],
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

/// One decided mailbox.
pub(super) struct Decided {
    pub(super) index: usize,
    pub(super) sync: Vec<AuditDecision>,
    pub(super) approvers: Vec<u32>,
    /// When nobody may approve: the reasons a rule gives (text report only).
    pub(super) nobody: Option<String>,
}

impl Decided {
    pub(super) fn blocked(&self) -> bool {
        self.sync.iter().any(|d| d.report.decision == "deny")
    }
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
    let mut auditor = Auditor::new(set, bundle);
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
    let mut held = Vec::new();
    let mut line = Vec::new();
    for (index, m) in bundle.mailboxes.iter().enumerate() {
        let mut sync = auditor.sync(m, format == Format::Text)?;
        let approvers = auditor.approvers(m)?;
        add_plans(&mut auditor, bundle, m, &mut sync)?;
        for &u in &approvers {
            can_approve[u as usize] += 1;
        }
        let mut mailbox_reasons: Vec<String> = Vec::new();
        for (d, action) in sync.iter().zip(SYNC_ACTIONS) {
            if d.report.decision == "deny" {
                *summary.blocked.entry(action.to_owned()).or_default() += 1;
            }
            for r in reasons_of(d, action) {
                if !mailbox_reasons.contains(&r) {
                    mailbox_reasons.push(r);
                }
            }
        }
        for r in &mailbox_reasons {
            *summary.by_reason.entry(r.clone()).or_default() += 1;
        }
        let nobody = if matches!(format, Format::Text | Format::Html) && approvers.is_empty() {
            auditor.why_nobody(m)?
        } else {
            None
        };
        let decided = Decided {
            index,
            sync,
            approvers,
            nobody,
        };
        match format {
            Format::Json => {
                line.clear();
                serde_json::to_writer(&mut line, &mailbox_record(bundle, m, &decided)).map_err(
                    |e| AuditError::File {
                        file: "<output>".to_owned(),
                        message: e.to_string(),
                    },
                )?;
                line.push(b'\n');
                out.write_all(&line).map_err(|e| io(&e))?;
            }
            Format::Csv => {
                let row = csv_row(bundle, m, &decided, &mailbox_reasons)?;
                out.write_all(&row).map_err(|e| io(&e))?;
            }
            Format::Text | Format::Html => held.push(decided),
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
    match format {
        Format::Json => {
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
        Format::Text => {
            let text = text_report(bundle, &held, &users, &can_approve, &summary);
            out.write_all(escape_controls(&text).as_bytes())
                .map_err(|e| io(&e))?;
        }
        Format::Html => {
            let html = super::html::report(bundle, &held, &users, &can_approve, &summary);
            out.write_all(html.as_bytes()).map_err(|e| io(&e))?;
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

/// Turns each denial's options into plans: those without a warning first (each group
/// still cheapest first), and each step with an action naming who may perform it.
fn add_plans(
    auditor: &mut Auditor<'_>,
    bundle: &Bundle,
    m: &Mailbox,
    sync: &mut [AuditDecision],
) -> Result<(), AuditError> {
    let mut who: Vec<(String, Option<Vec<String>>)> = Vec::new();
    for d in sync.iter_mut() {
        if d.report.decision != "deny" {
            continue;
        }
        let mut plans = match &d.counterfactuals {
            Some(crate::analysis::WhyNotResult::Found(c)) => c.options.clone(),
            _ => Vec::new(),
        };
        plans.sort_by_key(|o| o.warning().is_some());
        for p in &mut plans {
            for step in &mut p.steps {
                let Some(action) = &step.action else { continue };
                let found = match who.iter().find(|(a, _)| a == action) {
                    Some((_, w)) => w.clone(),
                    None => {
                        let w = auditor.who(m, action)?.map(|users| {
                            users
                                .iter()
                                .map(|&u| user_name(bundle, u).to_owned())
                                .collect::<Vec<_>>()
                        });
                        who.push((action.clone(), w.clone()));
                        w
                    }
                };
                step.who = found;
            }
        }
        d.plans = Some(plans);
    }
    Ok(())
}

/// A step for people: its text, and who can do it where it has an action.
pub(super) fn step_line(step: &crate::analysis::Step) -> String {
    match &step.who {
        Some(w) if w.is_empty() => format!("{} (can do it: nobody in this export)", step.text),
        Some(w) => format!("{} (can do it: {})", step.text, w.join(", ")),
        None => step.text.clone(),
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
fn fix_column(d: &Decided) -> String {
    let mut steps: Vec<String> = Vec::new();
    for s in &d.sync {
        if let Some(p) = s.plans.as_ref().and_then(|p| p.first()) {
            for step in &p.steps {
                let line = step_line(step);
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

fn mailbox_record<'a>(bundle: &'a Bundle, m: &'a Mailbox, d: &'a Decided) -> MailboxRecord<'a> {
    MailboxRecord {
        mailbox: &m.name,
        id: &m.id,
        email: &m.email,
        owner_kind: m.owner_kind.as_deref(),
        server: server_record(m),
        sync: SyncMap {
            sync_incoming_email: sync_record(&d.sync[0]),
            sync_outgoing_email: sync_record(&d.sync[1]),
            sync_appointments_contacts_tasks: sync_record(&d.sync[2]),
        },
        approvers: d
            .approvers
            .iter()
            .map(|&u| bundle.users[u as usize].upn.as_str())
            .collect(),
        warnings: &m.warnings,
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
    m: &Mailbox,
    d: &Decided,
    reasons: &[String],
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
        d.sync[0].report.decision,
        d.sync[1].report.decision,
        d.sync[2].report.decision,
        &reasons.join("; "),
        &approvers.join("; "),
        &m.warnings.join("; "),
        &fix_column(d),
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
fn write_plans(out: &mut String, plans: &[crate::analysis::WhyNotOption]) {
    use std::fmt::Write as _;
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
                let _ = writeln!(out, "      {}. {}", i + 1, step_line(step));
            }
        }
    }
    if let Some(p) = plans.iter().find(|p| p.warning().is_some()) {
        let steps: Vec<String> = p.steps.iter().map(step_line).collect();
        let _ = writeln!(
            out,
            "    not recommended: {} ({})",
            steps.join("; then "),
            p.warning().unwrap_or_default()
        );
    }
}

fn text_report(
    bundle: &Bundle,
    held: &[Decided],
    users: &[(usize, &str, &str)],
    can_approve: &[u64],
    summary: &Summary,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let blocked: Vec<&Decided> = held.iter().filter(|d| d.blocked()).collect();
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
        blocked.len()
    );
    let approver_list = |d: &Decided| -> String {
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
    };
    if !blocked.is_empty() {
        let _ = writeln!(out, "\nBlocked mailboxes\n");
    }
    for d in &blocked {
        let m = &bundle.mailboxes[d.index];
        let _ = writeln!(out, "{}", describe(m));
        for (i, s) in d.sync.iter().enumerate() {
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
                    write_plans(&mut out, plans);
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
        let _ = writeln!(out, "  who can approve it: {}", approver_list(d));
        for w in &m.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
        out.push('\n');
    }
    let ready: Vec<&Decided> = held.iter().filter(|d| !d.blocked()).collect();
    if !ready.is_empty() {
        let _ = writeln!(
            out,
            "{}Mailboxes that sync every workload\n",
            if blocked.is_empty() { "\n" } else { "" }
        );
        for d in ready {
            let m = &bundle.mailboxes[d.index];
            let _ = writeln!(out, "{}", describe(m));
            let _ = writeln!(out, "  who can approve it: {}", approver_list(d));
            for w in &m.warnings {
                let _ = writeln!(out, "  warning: {w}");
            }
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
    out
}
