//! Lints: what the analysis proves about the rules themselves.
//!
//! Every lint is decided on the decision diagrams of `super::model`, per action, with no
//! sampling:
//!
//! | code | on | means |
//! |---|---|---|
//! | `never-matches` | rule R, action A | no schema-valid request of A makes R's condition true |
//! | `never-allows` | allow rule R, action A | R matches some request of A, but every one of them is denied |
//! | `subsumed` | allow rule R, action A | another allow rule S (the first in load order) matches every request of A that R matches and that is allowed |
//! | `redundant-condition` | operand X of an `and` / `or` | for every action its rule (or its `let`'s users) applies to: in an `and`, X holds whenever its siblings all hold; in an `or`, some sibling holds whenever X does |
//! | `vacuous-invariant` | invariant I (`allow only when`, `deny when`) | no request of I's actions is allowed |
//!
//! A comment `# mailgate: allow(CODE)` on the line directly above a rule, `let` or
//! invariant silences that code for it. An action whose model cannot be built (over the
//! node budget, or a comparison the abstraction does not model) is not linted, and is
//! reported as such: never a guess.

use super::dd::Backend as _;
use super::model::{ActionModel, Dd};
use super::{AnalysisError, Analyzer};
use crate::ast::{Effect, InvariantForm};
use crate::compile::{CompiledSet, Node};
use crate::diagnostics::{Diagnostic, Label};
use crate::schema::ActionId;
use crate::source::{SourceMap, Span};
use crate::validate::ValidatedSet;
use rustc_hash::FxHashMap;

/// The kinds of lint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LintCode {
    /// No request of the action makes the rule's condition true.
    NeverMatches,
    /// The allow rule matches, but every request it matches is denied.
    NeverAllows,
    /// Another allow rule allows everything this one allows.
    Subsumed,
    /// An operand of an `and` / `or` that never changes its value.
    RedundantCondition,
    /// An invariant that holds because nothing is allowed.
    VacuousInvariant,
}

impl LintCode {
    /// Every code, in the order of the documentation.
    pub const ALL: [LintCode; 5] = [
        LintCode::NeverMatches,
        LintCode::NeverAllows,
        LintCode::Subsumed,
        LintCode::RedundantCondition,
        LintCode::VacuousInvariant,
    ];

    /// The code as written (`never-matches`).
    pub fn as_str(self) -> &'static str {
        match self {
            LintCode::NeverMatches => "never-matches",
            LintCode::NeverAllows => "never-allows",
            LintCode::Subsumed => "subsumed",
            LintCode::RedundantCondition => "redundant-condition",
            LintCode::VacuousInvariant => "vacuous-invariant",
        }
    }

    /// The code named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What a lint is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A rule, by id.
    Rule(String),
    /// An invariant, by id.
    Invariant(String),
    /// A `let`, by name (for an operand inside its body).
    Let(String),
}

/// One lint warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    /// Its code.
    pub code: LintCode,
    /// The rule, invariant or `let` it is about.
    pub subject: Subject,
    /// The action, where the code is per action.
    pub action: Option<String>,
    /// The other rule (`subsumed`).
    pub other_rule: Option<String>,
    /// The rule's id, the invariant's id, or the operand.
    pub span: Span,
    /// The headline.
    pub message: String,
    /// The label under the span.
    pub label: String,
    /// Related places (the other rule).
    pub related: Vec<Label>,
    /// Notes (the other rule or the actions).
    pub notes: Vec<String>,
    /// `redundant-condition`: the text to delete to remove the operand (with its `and`
    /// or `or`).
    pub removal: Option<Span>,
}

impl Lint {
    /// The lint as a warning diagnostic with its code.
    pub fn to_diagnostic(&self) -> Diagnostic {
        let mut d =
            Diagnostic::error(self.message.clone(), self.span, self.label.clone()).warning();
        d.code = Some(self.code.as_str().to_owned());
        d.secondary.clone_from(&self.related);
        d.notes.clone_from(&self.notes);
        d.fix = self.removal.map(|r| (r, String::new()));
        d
    }
}

/// An action that was not linted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotLinted {
    /// The action.
    pub action: String,
    /// Why (the analysis error).
    pub reason: String,
}

impl NotLinted {
    /// The one-line note: `action `A` was not linted: REASON`.
    pub fn message(&self) -> String {
        format!("action `{}` was not linted: {}", self.action, self.reason)
    }
}

/// The lints of a policy set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintReport {
    /// The warnings, in source order.
    pub lints: Vec<Lint>,
    /// The actions that were not linted, in schema order.
    pub not_linted: Vec<NotLinted>,
}

/// One occurrence of an `and`/`or` operand, gathered over every action and use.
struct Operand {
    owner: Subject,
    is_and: bool,
    redundant: bool,
    actions: Vec<String>,
    removal: Span,
}

/// Lints `set` (compiled from `validated`).
pub fn lint(set: &CompiledSet, validated: &ValidatedSet) -> LintReport {
    Analyzer::new(set).lint(validated)
}

impl Analyzer<'_> {
    /// Lints the set analysed (compiled from `validated`), reusing this analyzer's models.
    pub fn lint(&self, validated: &ValidatedSet) -> LintReport {
        let set = self.set();
        let mut report = LintReport::default();
        let mut operands: FxHashMap<(u32, u32, u32), Operand> = FxHashMap::default();
        let mut order: Vec<(u32, u32, u32)> = Vec::new();
        let mut failed = vec![false; set.schema().actions.len()];
        for (a, failed_a) in failed.iter_mut().enumerate() {
            let Ok(action) = ActionId::try_from(a) else {
                continue;
            };
            let name = set.schema().action(action).name.clone();
            // Lints compare rules with each other and operands with their siblings: work
            // that grows faster than the set. Past these limits the action is not linted
            // (a note says so), never linted partly or guessed; decisions are unaffected.
            let (n_rules, n_operands) = lint_size(set, action);
            if n_rules > crate::limits::MAX_LINT_RULES
                || n_operands > crate::limits::MAX_LINT_OPERANDS
            {
                *failed_a = true;
                report.not_linted.push(NotLinted {
                    action: name.clone(),
                    reason: format!(
                        "it has {n_rules} rules and {n_operands} operands of `and`/`or`, over the \
                         lint limits ({} rules, {} operands)",
                        crate::limits::MAX_LINT_RULES,
                        crate::limits::MAX_LINT_OPERANDS
                    ),
                });
                spoil(set, action, &mut operands);
                continue;
            }
            let result = self.model(action).and_then(|m| {
                lint_action(
                    set,
                    validated,
                    m,
                    &name,
                    &mut report.lints,
                    &mut operands,
                    &mut order,
                )
            });
            if let Err(e) = result {
                *failed_a = true;
                report.not_linted.push(NotLinted {
                    action: name.clone(),
                    reason: e.to_string(),
                });
                // No operand used by this action can be called redundant.
                spoil(set, action, &mut operands);
            }
        }
        for key in order {
            let Some(op) = operands.get(&key) else {
                continue;
            };
            if !op.redundant || matches!(op.owner, Subject::Invariant(_)) {
                continue;
            }
            let span = Span {
                file: crate::source::FileId(key.0),
                start: key.1,
                end: key.2,
            };
            let (what, label) = if op.is_and {
                (
                    "and",
                    "this holds whenever the other operands of the `and` hold",
                )
            } else {
                (
                    "or",
                    "whenever this holds, another operand of the `or` holds too",
                )
            };
            let _ = what;
            report.lints.push(Lint {
                code: LintCode::RedundantCondition,
                message: format!("redundant condition in {}", describe(&op.owner)),
                subject: op.owner.clone(),
                action: None,
                other_rule: None,
                span,
                label: label.to_owned(),
                related: Vec::new(),
                notes: vec![format!(
                    "removing it changes no decision of {}",
                    op.actions
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )],
                removal: Some(op.removal),
            });
        }
        vacuous_invariants(self, validated, &failed, &mut report.lints);
        let sources = set.sources();
        report.lints.retain(|l| !silenced(sources, validated, l));
        report
            .lints
            .sort_by_key(|l| (l.span.file.0, l.span.start, l.code, l.action.clone()));
        report
    }
}

/// How many rules an action has, and how many operands its rules' `and`s and `or`s have in
/// all (each node counted once), in one pass over the nodes its rules reach.
fn lint_size(set: &CompiledSet, action: ActionId) -> (usize, usize) {
    let plan = &set.plans[action as usize];
    let mut rules = 0;
    let mut operands = 0usize;
    let mut seen = rustc_hash::FxHashSet::default();
    let mut stack = Vec::new();
    for list in [&plan.deny, &plan.allow] {
        for r in &list.rules {
            rules += 1;
            stack.extend(r.root);
        }
    }
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        match set.nodes[n as usize] {
            Node::And(s, e) | Node::Or(s, e) => {
                operands += (e - s) as usize;
                stack.extend_from_slice(&set.kids[s as usize..e as usize]);
            }
            Node::Not(k) => stack.push(k),
            _ => {}
        }
    }
    (rules, operands)
}

fn describe(s: &Subject) -> String {
    match s {
        Subject::Rule(r) => format!("rule `{r}`"),
        Subject::Invariant(i) => format!("invariant `{i}`"),
        Subject::Let(l) => format!("let `{l}`"),
    }
}

fn over(action: &str) -> impl Fn(super::dd::OverBudget) -> AnalysisError + '_ {
    move |_| AnalysisError::Budget {
        action: action.to_owned(),
        budget: crate::limits::MAX_ANALYSIS_NODES,
    }
}

/// The diagrams of compiled nodes, each built once.
struct Memo<'m> {
    set: &'m CompiledSet,
    m: &'m ActionModel,
    attr_at: Vec<usize>,
    dds: FxHashMap<u32, Dd>,
}

impl Memo<'_> {
    fn dd(&mut self, n: u32) -> Result<Dd, super::dd::OverBudget> {
        if let Some(d) = self.dds.get(&n) {
            return Ok(d.clone());
        }
        let b = &self.m.backend;
        let d = match self.set.nodes[n as usize] {
            Node::And(s, e) | Node::Or(s, e) => {
                let is_and = matches!(self.set.nodes[n as usize], Node::And(..));
                let mut acc = b.constant(is_and);
                for i in s..e {
                    let k = self.set.kids[i as usize];
                    let x = self.dd(k)?;
                    acc = if is_and {
                        b.and(&acc, &x)?
                    } else {
                        b.or(&acc, &x)?
                    };
                }
                acc
            }
            Node::Not(k) => b.not(&self.dd(k)?),
            _ => self.m.node(self.set, n, &self.attr_at, &[])?,
        };
        self.dds.insert(n, d.clone());
        Ok(d)
    }
}

#[allow(
    clippy::too_many_lines,
    clippy::too_many_arguments,
    reason = "one pass per action over its rules, gathering into the report"
)]
fn lint_action(
    set: &CompiledSet,
    validated: &ValidatedSet,
    m: &ActionModel,
    name: &str,
    out: &mut Vec<Lint>,
    operands: &mut FxHashMap<(u32, u32, u32), Operand>,
    order: &mut Vec<(u32, u32, u32)>,
) -> Result<(), AnalysisError> {
    let err = over(name);
    let b = &m.backend;
    let plan = &set.plans[m.action as usize];
    let mut memo = Memo {
        set,
        m,
        attr_at: m.attr_at(set),
        dds: FxHashMap::default(),
    };
    let mut rules: Vec<(u32, Effect, Option<u32>, Dd)> = Vec::new();
    for (list, effect) in [(&plan.deny, Effect::Deny), (&plan.allow, Effect::Allow)] {
        for r in &list.rules {
            let cond = match r.root {
                None => m.valid.clone(),
                Some(root) => b
                    .and(&memo.dd(root).map_err(&err)?, &m.valid)
                    .map_err(&err)?,
            };
            rules.push((r.rule, effect, r.root, cond));
        }
    }
    rules.sort_by_key(|r| r.0);
    let rule_span = |i: u32| validated.rules()[i as usize].id_span;
    let rule_id = |i: u32| set.rule(i).id.clone();
    for (rule, effect, _, cond) in &rules {
        let id = rule_id(*rule);
        if b.is_false(cond) {
            out.push(Lint {
                code: LintCode::NeverMatches,
                subject: Subject::Rule(id.clone()),
                action: Some(name.to_owned()),
                other_rule: None,
                span: rule_span(*rule),
                message: format!("rule `{id}` never matches a request of `{name}`"),
                label: String::new(),
                related: Vec::new(),
                notes: vec![format!(
                    "no schema-valid request of `{name}` makes its condition true"
                )],
                removal: None,
            });
            continue;
        }
        if *effect != Effect::Allow {
            continue;
        }
        let allowed = b.and(cond, &m.allow).map_err(&err)?;
        if b.is_false(&allowed) {
            // Name the first deny rule that alone covers it, if one does.
            let mut by = None;
            // A rule that misses one request `cond` holds for cannot cover it: a cheap
            // test before the diagram one.
            let w = b.witness(cond).unwrap_or_default();
            for (d, e, _, dc) in &rules {
                if *e == Effect::Deny
                    && b.eval(dc, &w)
                    && b.is_false(&b.and(cond, &b.not(dc)).map_err(&err)?)
                {
                    by = Some(*d);
                    break;
                }
            }
            let (note, related) = match by {
                Some(d) => (
                    format!(
                        "every request of `{name}` it matches is denied by `{}`",
                        rule_id(d)
                    ),
                    vec![Label {
                        span: rule_span(d),
                        text: "this deny rule matches every request it matches".to_owned(),
                    }],
                ),
                None => (
                    format!(
                        "every request of `{name}` it matches is denied by the deny rules of `{name}` together"
                    ),
                    Vec::new(),
                ),
            };
            out.push(Lint {
                code: LintCode::NeverAllows,
                subject: Subject::Rule(id.clone()),
                action: Some(name.to_owned()),
                other_rule: None,
                span: rule_span(*rule),
                message: format!("rule `{id}` never allows a request of `{name}`"),
                label: String::new(),
                related,
                notes: vec![note],
                removal: None,
            });
            continue;
        }
        let w = b.witness(&allowed).unwrap_or_default();
        for (s, e, _, sc) in &rules {
            if s == rule || *e != Effect::Allow || !b.eval(sc, &w) {
                continue;
            }
            if b.is_false(&b.and(&allowed, &b.not(sc)).map_err(&err)?) {
                let other = rule_id(*s);
                out.push(Lint {
                    code: LintCode::Subsumed,
                    subject: Subject::Rule(id.clone()),
                    action: Some(name.to_owned()),
                    other_rule: Some(other.clone()),
                    span: rule_span(*rule),
                    message: format!("rule `{id}` is subsumed by `{other}` for `{name}`"),
                    label: String::new(),
                    related: vec![Label {
                        span: rule_span(*s),
                        text: format!("`{other}` matches every request that `{id}` allows"),
                    }],
                    notes: vec![format!(
                        "`{other}` matches every request of `{name}` that `{id}` matches and allows, so removing `{id}` changes no decision of `{name}`"
                    )],
                    removal: None,
                });
                break;
            }
        }
    }
    // Operands of `and` / `or`, in rules and in the invariants (whose `let`s count too).
    let mut roots: Vec<(Subject, u32)> = rules
        .iter()
        .filter_map(|(r, _, root, _)| root.map(|root| (Subject::Rule(rule_id(*r)), root)))
        .collect();
    for (i, root, _) in &m.invariants {
        roots.push((Subject::Invariant(set.invariants()[*i].id.clone()), *root));
    }
    for (owner, root) in roots {
        let owner = owner_of(set, root, &owner);
        let mut stack = vec![(root, owner)];
        while let Some((n, owner)) = stack.pop() {
            let (s, e, is_and) = match set.nodes[n as usize] {
                Node::And(s, e) => (s, e, true),
                Node::Or(s, e) => (s, e, false),
                Node::Not(k) => {
                    stack.push((k, owner_of(set, k, &owner)));
                    continue;
                }
                _ => continue,
            };
            let kids: Vec<u32> = set.kids[s as usize..e as usize].to_vec();
            let dds: Vec<Dd> = kids
                .iter()
                .map(|&k| memo.dd(k))
                .collect::<Result<_, _>>()
                .map_err(&err)?;
            for (i, &k) in kids.iter().enumerate() {
                stack.push((k, owner_of(set, k, &owner)));
                if kids.len() < 2 {
                    continue;
                }
                let mut others = b.constant(is_and);
                for (j, d) in dds.iter().enumerate() {
                    if j != i {
                        others = if is_and {
                            b.and(&others, d).map_err(&err)?
                        } else {
                            b.or(&others, d).map_err(&err)?
                        };
                    }
                }
                // The requests that would show X is needed, first without the schema's
                // constraints (small diagrams): none, or one that is schema-valid, settles
                // it; otherwise the constraints decide.
                let loose = if is_and {
                    b.and(&others, &b.not(&dds[i]))
                } else {
                    b.and(&dds[i], &b.not(&others))
                }
                .map_err(&err)?;
                let redundant = match b.witness(&loose) {
                    None => true,
                    Some(w) if b.eval(&m.valid, &w) => false,
                    Some(_) => b.is_false(&b.and(&loose, &m.valid).map_err(&err)?),
                };
                let site = set.meta[k as usize].site;
                let key = (site.file.0, site.start, site.end);
                let removal = removal_span(set, &kids, i);
                let entry = operands.entry(key).or_insert_with(|| {
                    order.push(key);
                    Operand {
                        owner: owner.clone(),
                        is_and,
                        redundant: true,
                        actions: Vec::new(),
                        removal,
                    }
                });
                entry.redundant &= redundant;
                if !entry.actions.iter().any(|a| a == name) {
                    entry.actions.push(name.to_owned());
                }
                if matches!(entry.owner, Subject::Invariant(_))
                    && !matches!(owner, Subject::Invariant(_))
                {
                    entry.owner = owner.clone();
                }
            }
        }
    }
    Ok(())
}

/// The owner of node `k` below a node owned by `owner`: the `let` whose root `k` is
/// inside, if `k` is a `let`'s root, else `owner`.
fn owner_of(set: &CompiledSet, k: u32, owner: &Subject) -> Subject {
    match &set.meta[k as usize].let_name {
        Some(l) => Subject::Let(l.clone()),
        None => owner.clone(),
    }
}

/// What to delete to remove operand `i` of `kids`: the operand (its parentheses
/// included) with the `and`/`or` after it and the space up to the next operand, or, for
/// the last operand of its parentheses, with the space and the `and`/`or` before it. Both
/// stay inside the operand's own parentheses, where the parser may have flattened
/// `a and (b and c)` into one `and`.
fn removal_span(set: &CompiledSet, kids: &[u32], i: usize) -> Span {
    let me = set.meta[kids[i] as usize].site;
    let text = set.sources().get(me.file).text.as_bytes();
    let (s, e) = (me.start as usize, (me.end as usize).min(text.len()));
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.';
    let connective = |at: usize| -> Option<usize> {
        ["and", "or"].iter().find_map(|w| {
            let w = w.as_bytes();
            let after = at + w.len();
            (text.get(at..after) == Some(w) && text.get(after).is_none_or(|&c| !is_word(c)))
                .then_some(after)
        })
    };
    // After: spaces, a connective, spaces.
    let mut k = e;
    while k < text.len() && text[k].is_ascii_whitespace() {
        k += 1;
    }
    if let Some(after) = connective(k) {
        let mut k = after;
        while k < text.len() && text[k].is_ascii_whitespace() {
            k += 1;
        }
        return Span::new(me.file, s, k);
    }
    // Before: spaces, a connective, spaces.
    let mut k = s;
    while k > 0 && text[k - 1].is_ascii_whitespace() {
        k -= 1;
    }
    for w in ["and", "or"] {
        if let Some(at) = k.checked_sub(w.len())
            && connective(at).is_some()
            && (at == 0 || !is_word(text[at - 1]))
        {
            let mut b = at;
            while b > 0 && text[b - 1].is_ascii_whitespace() {
                b -= 1;
            }
            return Span::new(me.file, b, e);
        }
    }
    Span::new(me.file, s, e)
}

/// Marks every operand used by `action` as not provably redundant.
fn spoil(set: &CompiledSet, action: ActionId, operands: &mut FxHashMap<(u32, u32, u32), Operand>) {
    let plan = &set.plans[action as usize];
    let mut stack: Vec<u32> = plan
        .deny
        .rules
        .iter()
        .chain(&plan.allow.rules)
        .filter_map(|r| r.root)
        .chain(
            set.invariants()
                .iter()
                .flat_map(|i| i.actions.iter())
                .filter(|(a, _)| *a == action)
                .map(|(_, r)| *r),
        )
        .collect();
    let mut poisoned: Vec<(u32, u32, u32)> = Vec::new();
    while let Some(n) = stack.pop() {
        match set.nodes[n as usize] {
            Node::And(s, e) | Node::Or(s, e) => {
                for &k in &set.kids[s as usize..e as usize] {
                    let site = set.meta[k as usize].site;
                    poisoned.push((site.file.0, site.start, site.end));
                    stack.push(k);
                }
            }
            Node::Not(k) => stack.push(k),
            _ => {}
        }
    }
    for key in poisoned {
        // Record it even if no linted action has seen it yet.
        operands
            .entry(key)
            .or_insert_with(|| Operand {
                owner: Subject::Invariant(String::new()),
                is_and: true,
                redundant: false,
                actions: Vec::new(),
                removal: Span {
                    file: crate::source::FileId(key.0),
                    start: key.1,
                    end: key.2,
                },
            })
            .redundant = false;
    }
}

fn vacuous_invariants(
    an: &Analyzer<'_>,
    validated: &ValidatedSet,
    failed: &[bool],
    out: &mut Vec<Lint>,
) {
    for (k, inv) in an.set().invariants().iter().enumerate() {
        let Some(checked) = validated.invariants().get(k) else {
            continue;
        };
        if !matches!(
            inv.form,
            InvariantForm::AllowOnlyWhen | InvariantForm::DenyWhen
        ) {
            continue;
        }
        if inv.actions.iter().any(|(a, _)| failed[*a as usize]) {
            continue;
        }
        let vacuous = inv
            .actions
            .iter()
            .all(|(a, _)| an.model(*a).is_ok_and(|m| m.backend.is_false(&m.allow)));
        if !vacuous {
            continue;
        }
        let names: Vec<String> = inv
            .actions
            .iter()
            .map(|(a, _)| format!("`{}`", an.set().schema().action(*a).name))
            .collect();
        out.push(Lint {
            code: LintCode::VacuousInvariant,
            subject: Subject::Invariant(inv.id.clone()),
            action: None,
            other_rule: None,
            span: checked.id_span,
            message: format!("invariant `{}` holds trivially", inv.id),
            label: String::new(),
            related: Vec::new(),
            notes: vec![format!(
                "no request of {} is allowed, so it restricts nothing",
                names.join(", ")
            )],
            removal: None,
        });
    }
}

/// Whether a `# mailgate: allow(CODE)` comment directly above the lint's rule, `let` or
/// invariant silences it.
fn silenced(sources: &SourceMap, validated: &ValidatedSet, l: &Lint) -> bool {
    let header = match &l.subject {
        Subject::Rule(id) => validated
            .rules()
            .iter()
            .find(|r| &r.id == id)
            .map(|r| r.id_span),
        Subject::Invariant(id) => validated
            .invariants()
            .iter()
            .find(|i| &i.id == id)
            .map(|i| i.id_span),
        Subject::Let(name) => let_header(sources, l.span, name),
    };
    let Some(header) = header else {
        return false;
    };
    let file = sources.get(header.file);
    let line = file.line(header.start as usize);
    if line < 2 {
        return false;
    }
    let above = file.text.lines().nth(line - 2).unwrap_or("");
    allows(above, l.code)
}

/// Whether a source line is a `# mailgate: allow(...)` comment naming `code`.
pub(crate) fn allows(line: &str, code: LintCode) -> bool {
    let Some(rest) = line.trim().strip_prefix('#') else {
        return false;
    };
    let Some(rest) = rest.trim().strip_prefix("mailgate:") else {
        return false;
    };
    let Some(rest) = rest.trim().strip_prefix("allow(") else {
        return false;
    };
    let Some((list, _)) = rest.split_once(')') else {
        return false;
    };
    list.split(',').any(|c| c.trim() == code.as_str())
}

/// The span of the line `let NAME` that holds `inner`: the nearest such line at or above
/// it.
fn let_header(sources: &SourceMap, inner: Span, name: &str) -> Option<Span> {
    let file = sources.get(inner.file);
    let text = file.text.get(..inner.start as usize)?;
    let mut end = text.len();
    loop {
        let start = text[..end].rfind('\n').map_or(0, |i| i + 1);
        let line = &file.text[start..];
        let line = line.split('\n').next().unwrap_or("");
        if let Some(rest) = line.trim_start().strip_prefix("let")
            && rest.starts_with(char::is_whitespace)
            && rest.trim_start().strip_prefix(name).is_some_and(|r| {
                r.is_empty()
                    || !r.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '-')
            })
        {
            return Some(Span {
                file: inner.file,
                start: u32::try_from(start).ok()?,
                end: u32::try_from(start).ok()?,
            });
        }
        if start == 0 {
            return None;
        }
        end = start - 1;
    }
}
