//! `mailgate audit`: read what an administrator can export from a Dynamics 365 org and
//! its Microsoft 365 tenant, and answer the support questions about every mailbox and
//! user at once, with the same policies as every other command.
//!
//! ```text
//! bundle DIR ──import::import──▶ Bundle (org, users, mailboxes as batch-line objects)
//! Bundle + CompiledSet ──Auditor──▶ per-mailbox sync decisions and approvers,
//!                                   per-user decisions, a summary
//! ```
//!
//! Every request is built from the imported values through the embedding facade's
//! [`crate::RequestBuilder`] ([`Auditor::sync_request`] and friends) and decided by the
//! compiled set. [`Auditor::sync_line`] and friends write the same requests as
//! `mailgate eval --batch` lines (for the console, and the test that the two agree).
//! The column and option-value mapping is data ([`mapping`],
//! `policies/dataverse-mapping.yaml`).

mod error;
mod html;
pub mod import;
mod json;
pub mod mapping;
mod write;

pub use error::AuditError;
pub use import::{Attrs, Bundle, ImportOptions, Mailbox, Profile, User};
pub use json::BundleSource;
pub use write::{Format, Summary, write_report, write_report_with};

use crate::RequestBuilder;
use crate::analysis::{Analyzer, WhyNotOptions, WhyNotResult};
use crate::compile::CompiledSet;
use crate::eval::Request;
use crate::report::DecisionReport;
use rustc_hash::FxHashMap;
use std::cell::Cell;
use std::rc::Rc;

/// The three sync actions, in the order reports list them.
pub const SYNC_ACTIONS: [&str; 3] = [
    "sync_incoming_email",
    "sync_outgoing_email",
    "sync_appointments_contacts_tasks",
];

/// The role whose assignment the user records check.
pub const DELEGATED_ROLE: &str = "Delegated Mailbox Approver";

/// Reads the bundle in `dir` with the mapping of the policy set at `origin`.
pub fn import_bundle(
    dir: &BundleSource,
    origin: &crate::policy_set::Origin,
    set: &CompiledSet,
    opts: &ImportOptions,
) -> Result<Bundle, AuditError> {
    let mapping = mapping::load(origin, set.schema()).map_err(AuditError::Mapping)?;
    for (profile, ty) in &opts.servers {
        let server = set
            .schema()
            .entities
            .iter()
            .find(|e| e.name == "mailbox")
            .and_then(|e| e.attr("server").map(|i| e.attrs[i].ty));
        if let Some(crate::schema::Type::Enum(e)) = server {
            set.schema().enum_member(e, ty).map_err(|err| {
                let help = err.help().map(|h| format!("; {h}")).unwrap_or_default();
                AuditError::Usage(format!("--server {profile}={ty}: {err}{help}"))
            })?;
        }
    }
    import::import(dir, &mapping, opts)
}

/// One decision as an audit record shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditDecision {
    /// The resolved decision.
    pub report: DecisionReport,
    /// For a denial: the nearest `allow` rule and what it still needs (text report).
    pub hint: Option<String>,
    /// For a denial: the subset-minimal changes that would allow it, or why they could
    /// not be computed. `None` for an allow.
    pub counterfactuals: Option<WhyNotResult>,
    /// For a denial: the options as plans (cheapest first, those with a warning last),
    /// each step with an action naming who may perform it. Filled by the report.
    pub plans: Option<Vec<crate::analysis::WhyNotOption>>,
}

/// Users by index into the bundle's users, in export order. Mailboxes alike share one
/// list (an approver list can name thousands of users; it is computed and held once).
pub type UserList = Rc<[u32]>;

/// The sync decisions of every mailbox alike: the three decisions with their plans (steps
/// without `who`, which depends on the mailbox's own email), computed once per class.
#[derive(Debug, Clone)]
pub struct SyncClass {
    /// The decisions, in [`SYNC_ACTIONS`] order; a denial has its `plans`.
    pub sync: Vec<AuditDecision>,
    /// The actions the plans' steps name, each once, in order of first appearance.
    pub actions: Vec<String>,
    /// The mailbox's reasons: each denial's reasons, each once (see `reasons_of`).
    pub reasons: Vec<String>,
}

/// How much work an audit did (for the tests that it grows linearly, not with the output).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Requests built and decided.
    pub decisions: u64,
    /// Why-not searches run.
    pub why_not: u64,
    /// Classes of sync decisions computed ([`SyncClass`]).
    pub sync_classes: u64,
}

/// Decides the audit's requests; caches approval decisions by class of user and mailbox,
/// and sync decisions (with their counterfactuals and plans) by class of mailbox.
#[derive(Debug)]
pub struct Auditor<'a> {
    set: &'a CompiledSet,
    bundle: &'a Bundle,
    approvals: Approvals,
    analyzer: Analyzer<'a>,
    /// Whether to reuse what was decided for a mailbox alike (off only to test that the
    /// reuse changes nothing).
    memo: bool,
    /// Sync classes by (attributes, email where it can matter, hint): the email is never
    /// changed and a policy reads a string only by comparing it with a policy string or
    /// another request string, so mailboxes alike in everything else decide alike.
    sync_index: FxHashMap<(String, Option<String>, bool), u32>,
    sync_classes: Vec<SyncClass>,
    /// Per (action, mailbox class): the users allowed it, before the mailbox's own users
    /// (those whose UPN is its email) are decided.
    base_allowed: FxHashMap<(String, u32), UserList>,
    /// Per (mailbox class, first user's UPN equals the email): why nobody may approve.
    nobody: FxHashMap<(u32, bool), Option<Rc<str>>>,
    work: Cell<Work>,
}

/// Users grouped by everything a decision can read from them.
#[derive(Debug, Default)]
struct Approvals {
    /// Per user: its class.
    user_class: Vec<u32>,
    /// Per class: a representative user, and the UPN if it is a policy string.
    classes: Vec<(usize, Option<String>)>,
    /// Per class: its users.
    members: Vec<Vec<u32>>,
    /// Users by lowercase UPN.
    by_upn: FxHashMap<String, Vec<u32>>,
    /// Mailbox classes: (attributes, email if a policy string) → id.
    mailbox_classes: FxHashMap<(String, Option<String>), u32>,
    /// Per action: (user class, mailbox class, UPN equals email) → allowed.
    cache: FxHashMap<String, FxHashMap<(u32, u32, bool), bool>>,
    /// Per action of a user alone (`change_approval_settings`, `assign_role`): the users
    /// allowed it, in export order.
    user_actions: FxHashMap<String, Option<UserList>>,
}

impl<'a> Auditor<'a> {
    /// An auditor of `bundle` with `set`.
    pub fn new(set: &'a CompiledSet, bundle: &'a Bundle) -> Self {
        let mut a = Approvals::default();
        let mut index: FxHashMap<(&str, Option<&str>), u32> = FxHashMap::default();
        for (i, u) in bundle.users.iter().enumerate() {
            let canon = set.policy_string(&u.upn_key).map(|_| u.upn_key.as_str());
            let next = u32::try_from(a.classes.len()).unwrap_or(u32::MAX);
            let c = *index.entry((u.attrs.json(), canon)).or_insert_with(|| {
                a.classes.push((i, canon.map(str::to_owned)));
                a.members.push(Vec::new());
                next
            });
            a.user_class.push(c);
            let ui = u32::try_from(i).unwrap_or(u32::MAX);
            a.members[c as usize].push(ui);
            a.by_upn.entry(u.upn_key.clone()).or_default().push(ui);
        }
        Auditor {
            set,
            bundle,
            approvals: a,
            analyzer: Analyzer::new(set),
            memo: true,
            sync_index: FxHashMap::default(),
            sync_classes: Vec::new(),
            base_allowed: FxHashMap::default(),
            nobody: FxHashMap::default(),
            work: Cell::default(),
        }
    }

    /// An auditor that decides every mailbox afresh, reusing nothing from a mailbox alike
    /// (for the tests that the reuse changes nothing).
    #[doc(hidden)]
    pub fn without_memo(set: &'a CompiledSet, bundle: &'a Bundle) -> Self {
        Auditor {
            memo: false,
            ..Auditor::new(set, bundle)
        }
    }

    /// The work done so far.
    pub fn work(&self) -> Work {
        self.work.get()
    }

    fn count(&self, f: impl FnOnce(&mut Work)) {
        let mut w = self.work.get();
        f(&mut w);
        self.work.set(w);
    }

    /// The batch line for a sync action on a mailbox ([`Auditor::sync_request`] as JSON).
    pub fn sync_line(&self, m: &Mailbox, action: &str) -> String {
        format!(
            "{{\"action\":\"{action}\",\"org\":{{{}}},\"mailbox\":{}}}",
            self.bundle.org.json(),
            mailbox_object(m, &m.email_key)
        )
    }

    /// The batch line for `approve_mailbox` by a user on a mailbox
    /// ([`Auditor::approve_request`] as JSON).
    pub fn approve_line(&self, u: &User, m: &Mailbox) -> String {
        action_line(
            "approve_mailbox",
            self.bundle.org.json(),
            u.attrs.json(),
            &u.upn_key,
            m,
            &m.email_key,
        )
    }

    /// The batch lines of a user's two questions: `change_approval_settings`, and
    /// `assign_role` of Delegated Mailbox Approver to a user ([`Auditor::user_requests`]
    /// as JSON).
    pub fn user_lines(&self, u: &User) -> [String; 2] {
        let user = user_object(u, &u.upn_key);
        let org = self.bundle.org.json();
        [
            format!(
                "{{\"action\":\"change_approval_settings\",\"org\":{{{org}}},\"user\":{user}}}"
            ),
            format!(
                "{{\"action\":\"assign_role\",\"org\":{{{org}}},\"actor\":{user},\"assignee\":{{\"kind\":\"user\"}},\"role\":\"{DELEGATED_ROLE}\"}}"
            ),
        ]
    }

    /// The request for a sync action on a mailbox.
    pub fn sync_request(&self, m: &Mailbox, action: &str) -> Result<Request, AuditError> {
        self.build(
            || format!("mailbox {} ({action})", m.id),
            |b| {
                b.set_all("org", self.bundle.org.values())?
                    .set_all("mailbox", m.attrs.values())?
                    .set("mailbox.email", m.email_key.as_str())
            },
            action,
        )
    }

    /// The request for `approve_mailbox` by a user on a mailbox.
    pub fn approve_request(&self, u: &User, m: &Mailbox) -> Result<Request, AuditError> {
        self.action_request(
            "approve_mailbox",
            &u.attrs,
            &u.upn_key,
            m,
            &m.email_key,
            &|| format!("approve_mailbox on mailbox {}", m.id),
        )
    }

    /// The requests of a user's two questions: `change_approval_settings`, and
    /// `assign_role` of Delegated Mailbox Approver to a user.
    pub fn user_requests(&self, u: &User) -> Result<[Request; 2], AuditError> {
        let what = || format!("user {}", u.id);
        let settings = self.build(
            what,
            |b| {
                b.set_all("org", self.bundle.org.values())?
                    .set_all("user", u.attrs.values())?
                    .set("user.upn", u.upn_key.as_str())
            },
            "change_approval_settings",
        )?;
        let assign = self.build(
            what,
            |b| {
                b.set_all("org", self.bundle.org.values())?
                    .set_all("actor", u.attrs.values())?
                    .set("actor.upn", u.upn_key.as_str())?
                    .set("assignee.kind", "user")?
                    .set("request.role", DELEGATED_ROLE)
            },
            "assign_role",
        )?;
        Ok([settings, assign])
    }

    /// `action` (slots `user` and `mailbox`) by a user with `user` attributes and `upn`
    /// on `m`, its email given as `email`.
    fn action_request(
        &self,
        action: &str,
        user: &Attrs,
        upn: &str,
        m: &Mailbox,
        email: &str,
        what: &dyn Fn() -> String,
    ) -> Result<Request, AuditError> {
        self.build(
            what,
            |b| {
                b.set_all("org", self.bundle.org.values())?
                    .set_all("user", user.values())?
                    .set("user.upn", upn)?
                    .set_all("mailbox", m.attrs.values())?
                    .set("mailbox.email", email)
            },
            action,
        )
    }

    /// Builds a request for `action` with `fill`; `what` names it in an error.
    fn build(
        &self,
        what: impl FnOnce() -> String,
        fill: impl FnOnce(RequestBuilder<'a>) -> Result<RequestBuilder<'a>, crate::RequestError>,
        action: &str,
    ) -> Result<Request, AuditError> {
        RequestBuilder::new(self.set, action)
            .and_then(fill)
            .map(RequestBuilder::build)
            .map_err(|e| AuditError::Request {
                what: what(),
                message: e.to_string(),
            })
    }

    /// Decides one request into a report, with a hint for a denial when `hint`.
    pub fn decide(&self, request: &Request, hint: bool) -> AuditDecision {
        self.decide_with(request, hint, false)
    }

    /// [`Auditor::decide`], and for a denial when `why_not`, its counterfactuals.
    pub fn decide_with(&self, request: &Request, hint: bool, why_not: bool) -> AuditDecision {
        self.count(|w| w.decisions += 1);
        let decision = self.set.evaluate(request);
        let report = DecisionReport::new(self.set, request, &decision);
        let counterfactuals = (why_not && report.decision == "deny").then(|| {
            self.count(|w| w.why_not += 1);
            WhyNotResult::from(
                self.analyzer
                    .counterfactuals(request, &WhyNotOptions::default()),
            )
        });
        let hint = if hint && report.decision == "deny" {
            let e = self.set.explain(request);
            self.set
                .closest_allow(&e)
                .filter(|(_, unmet)| !unmet.is_empty())
                .map(|(rule, unmet)| {
                    format!(
                        "rule {} would allow it once these hold: {}",
                        self.set.rule(rule).id,
                        unmet.join("; ")
                    )
                })
        } else {
            None
        };
        AuditDecision {
            report,
            hint,
            counterfactuals,
            plans: None,
        }
    }

    /// The three sync decisions of a mailbox, in [`SYNC_ACTIONS`] order, each denial with
    /// its counterfactuals and plans (steps without `who`: see [`Auditor::who`]).
    pub fn sync(&mut self, m: &Mailbox, hint: bool) -> Result<Vec<AuditDecision>, AuditError> {
        let c = self.sync_class(m, hint)?;
        Ok(self.sync_classes[c as usize].sync.clone())
    }

    /// The class of a mailbox's sync decisions ([`Auditor::class`]), decided when it is
    /// the first of its class.
    pub fn sync_class(&mut self, m: &Mailbox, hint: bool) -> Result<u32, AuditError> {
        let key = (m.attrs.json().to_owned(), self.email_if_read(m), hint);
        if let Some(&c) = self.sync_index.get(&key).filter(|_| self.memo) {
            return Ok(c);
        }
        self.count(|w| w.sync_classes += 1);
        let mut sync = Vec::with_capacity(SYNC_ACTIONS.len());
        let mut actions: Vec<String> = Vec::new();
        let mut reasons: Vec<String> = Vec::new();
        for a in SYNC_ACTIONS {
            let request = self.sync_request(m, a)?;
            let mut d = self.decide_with(&request, hint, true);
            if d.report.decision == "deny" {
                let mut plans = match &d.counterfactuals {
                    Some(WhyNotResult::Found(c)) => c.options.clone(),
                    _ => Vec::new(),
                };
                // Those without a warning first, each group still cheapest first.
                plans.sort_by_key(|o| o.warning().is_some());
                for step in plans.iter().flat_map(|p| &p.steps) {
                    if let Some(action) = step.action.as_ref().filter(|a| !actions.contains(a)) {
                        actions.push(action.clone());
                    }
                }
                d.plans = Some(plans);
            }
            for r in write::reasons_of(&d, a) {
                if !reasons.contains(&r) {
                    reasons.push(r);
                }
            }
            sync.push(d);
        }
        let c = u32::try_from(self.sync_classes.len()).unwrap_or(u32::MAX);
        self.sync_classes.push(SyncClass {
            sync,
            actions,
            reasons,
        });
        if self.memo {
            self.sync_index.insert(key, c);
        }
        Ok(c)
    }

    /// A class of sync decisions ([`Auditor::sync_class`]).
    pub fn class(&self, c: u32) -> &SyncClass {
        &self.sync_classes[c as usize]
    }

    /// The mailbox's email where a sync decision could tell it from another: a policy
    /// string, or equal to another string of the request. Otherwise `None`: the policies
    /// can only see that it is some other string.
    fn email_if_read(&self, m: &Mailbox) -> Option<String> {
        let e = m.email_key.as_str();
        let in_values = |values: &[(String, crate::Arg)]| {
            values.iter().any(|(_, v)| match v {
                crate::Arg::Text(t) => t == e,
                crate::Arg::List(items) => items.iter().any(|t| t == e),
                crate::Arg::Bool(_) | crate::Arg::Int(_) => false,
            })
        };
        (self.set.policy_string(e).is_some()
            || in_values(m.attrs.values())
            || in_values(self.bundle.org.values()))
        .then(|| e.to_owned())
    }

    /// The users who may approve `m` (indices into the bundle's users, in export order).
    /// Decided once per class of user and mailbox: the policy language reads a string
    /// only by comparing it with a policy string or with another request string, so users
    /// with the same roles, directory roles and privileges decide alike, except where the
    /// UPN is a policy string or equals the mailbox's email (decided separately).
    pub fn approvers(&mut self, m: &Mailbox) -> Result<Vec<u32>, AuditError> {
        Ok(self.users_allowed(m, "approve_mailbox")?.to_vec())
    }

    /// [`Auditor::approvers`], the list shared with the mailboxes that have the same.
    pub fn approver_list(&mut self, m: &Mailbox) -> Result<UserList, AuditError> {
        self.users_allowed(m, "approve_mailbox")
    }

    /// The users allowed `action` on `m` (indices into the bundle's users, in export
    /// order), for a fix step that names it: an action with a `user` and a `mailbox` slot
    /// is decided per class as for [`Auditor::approvers`]; `change_approval_settings`
    /// and `assign_role` (of Delegated Mailbox Approver) per user. `None` for an action
    /// of another shape: the export cannot say who.
    pub fn who(&mut self, m: &Mailbox, action: &str) -> Result<Option<Vec<u32>>, AuditError> {
        Ok(self.who_list(m, action)?.map(|w| w.to_vec()))
    }

    /// [`Auditor::who`], the list shared with the mailboxes that have the same.
    pub fn who_list(&mut self, m: &Mailbox, action: &str) -> Result<Option<UserList>, AuditError> {
        let schema = self.set.schema();
        let Some(id) = schema.action_id(action) else {
            return Ok(None);
        };
        let def = schema.action(id);
        let names: Vec<&str> = def.slots.iter().map(|s| s.name.as_str()).collect();
        if names == ["user", "mailbox"] && def.params.is_empty() {
            return self.users_allowed(m, action).map(Some);
        }
        if let Some(found) = self
            .approvals
            .user_actions
            .get(action)
            .filter(|_| self.memo)
        {
            return Ok(found.clone());
        }
        let which = match action {
            "change_approval_settings" => Some(0),
            "assign_role" => Some(1),
            _ => None,
        };
        let found = match which {
            None => None,
            Some(k) => {
                let mut out = Vec::new();
                for (i, u) in self.bundle.users.iter().enumerate() {
                    let request = &self.user_requests(u)?[k];
                    self.count(|w| w.decisions += 1);
                    if self.set.evaluate(request).effect == crate::ast::Effect::Allow {
                        out.push(u32::try_from(i).unwrap_or(u32::MAX));
                    }
                }
                Some(UserList::from(out))
            }
        };
        self.approvals
            .user_actions
            .insert(action.to_owned(), found.clone());
        Ok(found)
    }

    /// The users allowed `action` (slots `user` and `mailbox`) on `m`: the users of the
    /// classes allowed it on a mailbox of this class (decided once per class of mailbox),
    /// then the mailbox's own users (UPN equal to its email, not a policy string) decided
    /// as such. Shares the class's list when the mailbox's own users change nothing.
    fn users_allowed(&mut self, m: &Mailbox, action: &str) -> Result<UserList, AuditError> {
        let m_canon = self
            .set
            .policy_string(&m.email_key)
            .map(|_| m.email_key.clone());
        let mc = self.mailbox_class(m, m_canon.as_ref());
        let memo_key = (action.to_owned(), mc);
        let base = match self.base_allowed.get(&memo_key) {
            Some(b) if self.memo => b.clone(),
            _ => {
                let mut out = Vec::new();
                for c in 0..self.approvals.classes.len() {
                    let cu = u32::try_from(c).unwrap_or(u32::MAX);
                    let u_canon = self.approvals.classes[c].1.clone();
                    let eq = u_canon.is_some() && u_canon == m_canon;
                    if self.allowed(
                        action,
                        cu,
                        mc,
                        eq,
                        m,
                        u_canon.as_deref(),
                        m_canon.as_deref(),
                    )? {
                        out.extend_from_slice(&self.approvals.members[c]);
                    }
                }
                out.sort_unstable();
                let base = UserList::from(out);
                if self.memo {
                    self.base_allowed.insert(memo_key, base.clone());
                }
                base
            }
        };
        if m_canon.is_some() {
            // The mailbox's own users have the email as UPN, a policy string: their
            // class was decided with the UPN equal to the email.
            return Ok(base);
        }
        let Some(self_users) = self.approvals.by_upn.get(&m.email_key).cloned() else {
            return Ok(base);
        };
        // Users whose UPN (not a policy string) equals this mailbox's email.
        let mut add = Vec::new();
        let mut remove = Vec::new();
        for &u in &self_users {
            let cu = self.approvals.user_class[u as usize];
            if self.approvals.classes[cu as usize].1.is_some() {
                continue;
            }
            let as_other = base.binary_search(&u).is_ok();
            let as_self = self.allowed(action, cu, mc, true, m, None, None)?;
            match (as_other, as_self) {
                (true, false) => remove.push(u),
                (false, true) => add.push(u),
                _ => {}
            }
        }
        if add.is_empty() && remove.is_empty() {
            return Ok(base);
        }
        let mut out: Vec<u32> = base
            .iter()
            .copied()
            .filter(|u| !remove.contains(u))
            .collect();
        out.extend(add);
        out.sort_unstable();
        out.dedup();
        Ok(UserList::from(out))
    }

    /// The class of a mailbox for approval decisions: its attributes, and its email if a
    /// policy string.
    fn mailbox_class(&mut self, m: &Mailbox, m_canon: Option<&String>) -> u32 {
        let next = u32::try_from(self.approvals.mailbox_classes.len()).unwrap_or(u32::MAX);
        if !self.memo {
            // Every mailbox its own class: nothing decided for another is reused.
            self.approvals
                .mailbox_classes
                .insert((format!("{next}"), None), next);
            return next;
        }
        *self
            .approvals
            .mailbox_classes
            .entry((m.attrs.json().to_owned(), m_canon.cloned()))
            .or_insert(next)
    }

    /// The mailbox's own users: those whose UPN is its email (who may approve their own
    /// mailbox), in export order.
    pub(crate) fn own_users(&self, m: &Mailbox) -> &[u32] {
        self.approvals
            .by_upn
            .get(&m.email_key)
            .map_or(&[], Vec::as_slice)
    }

    /// When nobody may approve `m`: the reasons of the deny rules that stop the first
    /// user of the export, if a deny rule stops them (an already approved address, say).
    pub fn why_nobody(&mut self, m: &Mailbox) -> Result<Option<String>, AuditError> {
        Ok(self.why_nobody_shared(m)?.map(|s| s.to_string()))
    }

    /// [`Auditor::why_nobody`], decided once per class of mailbox.
    pub(crate) fn why_nobody_shared(&mut self, m: &Mailbox) -> Result<Option<Rc<str>>, AuditError> {
        let Some(u) = self.bundle.users.first() else {
            return Ok(None);
        };
        let m_canon = self
            .set
            .policy_string(&m.email_key)
            .map(|_| m.email_key.clone());
        let mc = self.mailbox_class(m, m_canon.as_ref());
        let key = (mc, u.upn_key == m.email_key);
        if let Some(found) = self.nobody.get(&key) {
            return Ok(found.clone());
        }
        let d = self.decide(&self.approve_request(u, m)?, false);
        let found = (d.report.cause == "denied_by_rule" && !d.report.reasons.is_empty())
            .then(|| Rc::from(d.report.reasons.join("; ")));
        self.nobody.insert(key, found.clone());
        Ok(found)
    }

    /// Whether user class `cu` may take `action` on a mailbox of class `mc`, deciding a
    /// representative request once.
    #[allow(
        clippy::too_many_arguments,
        reason = "the class key and the strings that realise it"
    )]
    fn allowed(
        &mut self,
        action: &str,
        cu: u32,
        mc: u32,
        eq: bool,
        m: &Mailbox,
        u_canon: Option<&str>,
        m_canon: Option<&str>,
    ) -> Result<bool, AuditError> {
        if let Some(&a) = self
            .approvals
            .cache
            .get(action)
            .and_then(|c| c.get(&(cu, mc, eq)))
        {
            return Ok(a);
        }
        let rep = &self.bundle.users[self.approvals.classes[cu as usize].0];
        // Strings that realise the class: the policy string itself, or the mailbox's own
        // email (not a policy string) and, where they must differ, another string that
        // is not a policy string either.
        let email = m_canon.unwrap_or(&m.email_key).to_owned();
        let upn = match u_canon {
            Some(l) => l.to_owned(),
            None if eq => email.clone(),
            None => {
                let mut s = format!("~{}", rep.upn_key);
                while s == email || self.set.policy_string(&s).is_some() {
                    s.push('~');
                }
                s
            }
        };
        let request = self.action_request(action, &rep.attrs, &upn, m, &email, &|| {
            format!("{action} on mailbox {}", m.id)
        })?;
        self.count(|w| w.decisions += 1);
        let a = self.set.evaluate(&request).effect == crate::ast::Effect::Allow;
        self.approvals
            .cache
            .entry(action.to_owned())
            .or_default()
            .insert((cu, mc, eq), a);
        Ok(a)
    }
}

fn user_object(u: &User, upn: &str) -> String {
    format!(
        "{{{},\"upn\":{}}}",
        u.attrs.json(),
        serde_json::to_string(upn).unwrap_or_default()
    )
}

fn mailbox_object(m: &Mailbox, email: &str) -> String {
    format!(
        "{{{},\"email\":{}}}",
        m.attrs.json(),
        serde_json::to_string(email).unwrap_or_default()
    )
}

fn action_line(
    action: &str,
    org: &str,
    user_attrs: &str,
    upn: &str,
    m: &Mailbox,
    email: &str,
) -> String {
    format!(
        "{{\"action\":\"{action}\",\"org\":{{{org}}},\"user\":{{{user_attrs},\"upn\":{}}},\"mailbox\":{}}}",
        serde_json::to_string(upn).unwrap_or_default(),
        mailbox_object(m, email)
    )
}
