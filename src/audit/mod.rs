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
//! Every decision is made from the same JSON request line that `mailgate eval --batch`
//! takes ([`Auditor::sync_line`] and friends), parsed by [`crate::batch::parse_request`]
//! and decided by the compiled set. The column and option-value mapping is data
//! ([`mapping`], `policies/dataverse-mapping.yaml`).

mod error;
mod html;
pub mod import;
mod json;
pub mod mapping;
mod write;

pub use error::AuditError;
pub use import::{Bundle, ImportOptions, Mailbox, Profile, User};
pub use json::BundleSource;
pub use write::{Format, Summary, write_report};

use crate::analysis::{Analyzer, WhyNotOptions, WhyNotResult};
use crate::compile::CompiledSet;
use crate::eval::{Decision, Request};
use crate::report::DecisionReport;
use rustc_hash::FxHashMap;

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

/// Decides the audit's requests; caches approval decisions by class of user and mailbox.
#[derive(Debug)]
pub struct Auditor<'a> {
    set: &'a CompiledSet,
    bundle: &'a Bundle,
    approvals: Approvals,
    analyzer: Analyzer<'a>,
    /// Counterfactuals of sync decisions by (action, mailbox attributes, email if a policy
    /// string): the email is never changed and is read only through equality, so mailboxes
    /// alike in everything else have the same options.
    why_not: std::cell::RefCell<FxHashMap<WhyNotKey, WhyNotResult>>,
}

/// A sync action, a mailbox's attributes and its email if that is a policy string.
type WhyNotKey = (&'static str, String, Option<String>);

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
    user_actions: FxHashMap<String, Option<Vec<u32>>>,
}

impl<'a> Auditor<'a> {
    /// An auditor of `bundle` with `set`.
    pub fn new(set: &'a CompiledSet, bundle: &'a Bundle) -> Self {
        let mut a = Approvals::default();
        let mut index: FxHashMap<(&str, Option<&str>), u32> = FxHashMap::default();
        for (i, u) in bundle.users.iter().enumerate() {
            let canon = set.policy_string(&u.upn_key).map(|_| u.upn_key.as_str());
            let next = u32::try_from(a.classes.len()).unwrap_or(u32::MAX);
            let c = *index.entry((u.attrs.as_str(), canon)).or_insert_with(|| {
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
            why_not: std::cell::RefCell::default(),
        }
    }

    /// The batch line for a sync action on a mailbox.
    pub fn sync_line(&self, m: &Mailbox, action: &str) -> String {
        format!(
            "{{\"action\":\"{action}\",\"org\":{},\"mailbox\":{}}}",
            self.bundle.org,
            mailbox_object(m, &m.email_key)
        )
    }

    /// The batch line for `approve_mailbox` by a user on a mailbox.
    pub fn approve_line(&self, u: &User, m: &Mailbox) -> String {
        approve_line(&self.bundle.org, &u.attrs, &u.upn_key, m, &m.email_key)
    }

    /// The batch lines of a user's two questions: `change_approval_settings`, and
    /// `assign_role` of Delegated Mailbox Approver to a user.
    pub fn user_lines(&self, u: &User) -> [String; 2] {
        let user = user_object(u, &u.upn_key);
        [
            format!(
                "{{\"action\":\"change_approval_settings\",\"org\":{},\"user\":{user}}}",
                self.bundle.org
            ),
            format!(
                "{{\"action\":\"assign_role\",\"org\":{},\"actor\":{user},\"assignee\":{{\"kind\":\"user\"}},\"role\":\"{DELEGATED_ROLE}\"}}",
                self.bundle.org
            ),
        ]
    }

    /// Decides one batch line.
    pub fn decide_line(&self, line: &str, what: &str) -> Result<(Request, Decision), AuditError> {
        let request = crate::batch::parse_request(self.set, line.as_bytes()).map_err(|e| {
            AuditError::Request {
                what: what.to_owned(),
                message: e.to_string(),
            }
        })?;
        let decision = self.set.evaluate(&request);
        Ok((request, decision))
    }

    /// Decides one batch line into a report, with a hint for a denial when `hint`.
    pub fn decide(&self, line: &str, what: &str, hint: bool) -> Result<AuditDecision, AuditError> {
        self.decide_with(line, what, hint, false)
    }

    /// [`Auditor::decide`], and for a denial when `why_not`, its counterfactuals.
    pub fn decide_with(
        &self,
        line: &str,
        what: &str,
        hint: bool,
        why_not: bool,
    ) -> Result<AuditDecision, AuditError> {
        let (request, decision) = self.decide_line(line, what)?;
        let report = DecisionReport::new(self.set, &request, &decision);
        let counterfactuals = (why_not && report.decision == "deny").then(|| {
            WhyNotResult::from(
                self.analyzer
                    .counterfactuals(&request, &WhyNotOptions::default()),
            )
        });
        let hint = if hint && report.decision == "deny" {
            let e = self.set.explain(&request);
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
        Ok(AuditDecision {
            report,
            hint,
            counterfactuals,
            plans: None,
        })
    }

    /// The three sync decisions of a mailbox, in [`SYNC_ACTIONS`] order.
    pub fn sync(&self, m: &Mailbox, hint: bool) -> Result<Vec<AuditDecision>, AuditError> {
        SYNC_ACTIONS
            .iter()
            .map(|a| {
                let key = (
                    *a,
                    m.attrs.clone(),
                    self.set
                        .policy_string(&m.email_key)
                        .map(|_| m.email_key.clone()),
                );
                let cached = self.why_not.borrow().get(&key).cloned();
                let line = self.sync_line(m, a);
                let what = format!("mailbox {} ({a})", m.id);
                let mut d = self.decide_with(&line, &what, hint, cached.is_none())?;
                if d.report.decision == "deny" {
                    match cached {
                        Some(c) => d.counterfactuals = Some(c),
                        None => {
                            if let Some(c) = &d.counterfactuals {
                                self.why_not.borrow_mut().insert(key, c.clone());
                            }
                        }
                    }
                }
                Ok(d)
            })
            .collect()
    }

    /// The users who may approve `m` (indices into the bundle's users, in export order).
    /// Decided once per class of user and mailbox: the policy language reads a string
    /// only by comparing it with a policy string or with another request string, so users
    /// with the same roles, directory roles and privileges decide alike, except where the
    /// UPN is a policy string or equals the mailbox's email (decided separately).
    pub fn approvers(&mut self, m: &Mailbox) -> Result<Vec<u32>, AuditError> {
        self.users_allowed(m, "approve_mailbox")
    }

    /// The users allowed `action` on `m` (indices into the bundle's users, in export
    /// order), for a fix step that names it: an action with a `user` and a `mailbox` slot
    /// is decided per class as for [`Auditor::approvers`]; `change_approval_settings`
    /// and `assign_role` (of Delegated Mailbox Approver) per user. `None` for an action
    /// of another shape: the export cannot say who.
    pub fn who(&mut self, m: &Mailbox, action: &str) -> Result<Option<Vec<u32>>, AuditError> {
        let schema = self.set.schema();
        let Some(id) = schema.action_id(action) else {
            return Ok(None);
        };
        let def = schema.action(id);
        let names: Vec<&str> = def.slots.iter().map(|s| s.name.as_str()).collect();
        if names == ["user", "mailbox"] && def.params.is_empty() {
            return self.users_allowed(m, action).map(Some);
        }
        if let Some(found) = self.approvals.user_actions.get(action) {
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
                    let line = &self.user_lines(u)[k];
                    let (_, d) = self.decide_line(line, &format!("user {}", u.id))?;
                    if d.effect == crate::ast::Effect::Allow {
                        out.push(u32::try_from(i).unwrap_or(u32::MAX));
                    }
                }
                Some(out)
            }
        };
        self.approvals
            .user_actions
            .insert(action.to_owned(), found.clone());
        Ok(found)
    }

    /// The users allowed `action` (slots `user` and `mailbox`) on `m`.
    fn users_allowed(&mut self, m: &Mailbox, action: &str) -> Result<Vec<u32>, AuditError> {
        let m_canon = self
            .set
            .policy_string(&m.email_key)
            .map(|_| m.email_key.clone());
        let next = u32::try_from(self.approvals.mailbox_classes.len()).unwrap_or(u32::MAX);
        let mc = *self
            .approvals
            .mailbox_classes
            .entry((m.attrs.clone(), m_canon.clone()))
            .or_insert(next);
        let mut out = Vec::new();
        let self_users: Vec<u32> = self
            .approvals
            .by_upn
            .get(&m.email_key)
            .cloned()
            .unwrap_or_default();
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
                for &u in &self.approvals.members[c] {
                    if u_canon.is_some() || !self_users.contains(&u) {
                        out.push(u);
                    }
                }
            }
        }
        // Users whose UPN (not a policy string) equals this mailbox's email.
        if m_canon.is_none() {
            for &u in &self_users {
                let cu = self.approvals.user_class[u as usize];
                if self.approvals.classes[cu as usize].1.is_some() {
                    continue;
                }
                if self.allowed(action, cu, mc, true, m, None, None)? {
                    out.push(u);
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// When nobody may approve `m`: the reasons of the deny rules that stop the first
    /// user of the export, if a deny rule stops them (an already approved address, say).
    pub fn why_nobody(&self, m: &Mailbox) -> Result<Option<String>, AuditError> {
        let Some(u) = self.bundle.users.first() else {
            return Ok(None);
        };
        let line = approve_line(&self.bundle.org, &u.attrs, &u.upn_key, m, &m.email_key);
        let d = self.decide(
            &line,
            &format!("approve_mailbox on mailbox {}", m.id),
            false,
        )?;
        Ok(
            (d.report.cause == "denied_by_rule" && !d.report.reasons.is_empty())
                .then(|| d.report.reasons.join("; ")),
        )
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
        let line = action_line(action, &self.bundle.org, &rep.attrs, &upn, m, &email);
        let (_, d) = self.decide_line(&line, &format!("{action} on mailbox {}", m.id))?;
        let a = d.effect == crate::ast::Effect::Allow;
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
        u.attrs,
        serde_json::to_string(upn).unwrap_or_default()
    )
}

fn mailbox_object(m: &Mailbox, email: &str) -> String {
    format!(
        "{{{},\"email\":{}}}",
        m.attrs,
        serde_json::to_string(email).unwrap_or_default()
    )
}

fn approve_line(org: &str, user_attrs: &str, upn: &str, m: &Mailbox, email: &str) -> String {
    action_line("approve_mailbox", org, user_attrs, upn, m, email)
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
        "{{\"action\":\"{action}\",\"org\":{org},\"user\":{{{user_attrs},\"upn\":{}}},\"mailbox\":{}}}",
        serde_json::to_string(upn).unwrap_or_default(),
        mailbox_object(m, email)
    )
}
