//! Validation: parsed policies + schema → [`ValidatedSet`], or every error there is.
//!
//! Checks every name (actions, slots, attributes, enum members, `let`s), every type, every
//! version literal, duplicate rule ids and `let` cycles, and the size of conditions once
//! `let`s are expanded. `let`s are expanded in place at each use, typed in the context of
//! the rule that uses them, so a `let` that reads `user.directory_roles` works for every
//! action with a `user` slot. Errors are collected, never stopped at: one run reports them
//! all. Only this module can build a [`ValidatedSet`], so only validated policies can be
//! compiled.

mod error;
pub mod typed;

pub use error::ValidationError;
pub use typed::{CheckedInvariant, CheckedRule, Operand, PathRef, Root, TExpr, TKind};

use crate::ast::{
    CmpOp, Expr, ExprKind, InvariantDecl, Item, LetDecl, Literal, PolicyFile, RuleDecl,
};
use crate::diagnostics::{Diagnostic, did_you_mean};
use crate::limits::{MAX_EXPANDED_DEPTH, MAX_EXPANDED_NODES, MAX_RULES, MAX_SET_NODES};
use crate::schema::{ActionId, EntityId, Schema, Type};
use crate::source::Span;
use crate::value::{Const, EnumSet};
use std::collections::{HashMap, HashSet};

/// A policy set that passed validation against its schema.
#[derive(Debug, Clone)]
pub struct ValidatedSet {
    schema: Schema,
    rules: Vec<CheckedRule>,
    invariants: Vec<CheckedInvariant>,
}

impl ValidatedSet {
    /// The schema the rules were checked against.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The rules, in load order (files in sorted path order, rules in source order).
    pub fn rules(&self) -> &[CheckedRule] {
        &self.rules
    }

    /// The invariants, in load order. They never take part in a decision.
    pub fn invariants(&self) -> &[CheckedInvariant] {
        &self.invariants
    }
}

/// Validates `files` against `schema`. Returns the validated set when there is no error,
/// and every diagnostic (errors and warnings) either way.
///
/// `quiet_unknown_names` silences "unknown name" errors; the loader sets it when some
/// file had syntax errors, since the missing `let` is then most likely in the broken part.
pub fn validate(
    schema: Schema,
    files: &[PolicyFile],
    quiet_unknown_names: bool,
) -> (Option<ValidatedSet>, Vec<Diagnostic>) {
    let mut c = Checker {
        schema: &schema,
        lets: rustc_hash::FxHashMap::default(),
        errors: Vec::new(),
        seen: HashSet::new(),
        warnings: Vec::new(),
        env: Env::Any,
        use_site: None,
        quiet_unknown_names,
        set_nodes: 0,
    };
    let mut let_order: Vec<&LetDecl> = Vec::new();
    let mut rules: Vec<&RuleDecl> = Vec::new();
    let mut invariants: Vec<&InvariantDecl> = Vec::new();
    for file in files {
        for item in &file.items {
            match item {
                Item::Let(l) => {
                    if let Some(first) = c.lets.get(l.name.name.as_str()) {
                        let first = first.decl.name.span;
                        c.error(ValidationError::DuplicateLet {
                            name: l.name.name.clone(),
                            span: l.name.span,
                            first,
                        });
                    } else {
                        c.lets.insert(
                            &l.name.name,
                            LetInfo {
                                decl: l,
                                poisoned: false,
                                used: false,
                                size: 0,
                                depth: 0,
                            },
                        );
                        let_order.push(l);
                    }
                }
                Item::Rule(r) => rules.push(r),
                Item::Invariant(i) => invariants.push(i),
            }
        }
    }
    c.check_let_cycles(&let_order);

    let mut checked = Vec::new();
    let mut ids: HashMap<&str, Span> = HashMap::new();
    for (n, rule) in rules.iter().enumerate() {
        if n == MAX_RULES {
            c.error(ValidationError::TooManyRules {
                count: rules.len(),
                limit: MAX_RULES,
                span: rule.id.span,
            });
            break;
        }
        if let Some(first) = ids.get(rule.id.name.as_str()) {
            c.error(ValidationError::DuplicateRule {
                id: rule.id.name.clone(),
                span: rule.id.span,
                first: *first,
            });
        } else {
            ids.insert(&rule.id.name, rule.id.span);
        }
        if let Some(r) = c.check_rule(rule) {
            checked.push(r);
        }
    }
    let mut checked_invariants = Vec::new();
    let mut invariant_ids: HashMap<&str, Span> = HashMap::new();
    for inv in &invariants {
        if checked.len() + checked_invariants.len() >= MAX_RULES {
            c.error(ValidationError::TooManyRules {
                count: rules.len() + invariants.len(),
                limit: MAX_RULES,
                span: inv.id.span,
            });
            break;
        }
        if let Some(first) = invariant_ids.get(inv.id.name.as_str()) {
            c.error(ValidationError::DuplicateInvariant {
                id: inv.id.name.clone(),
                span: inv.id.span,
                first: *first,
            });
        } else {
            invariant_ids.insert(&inv.id.name, inv.id.span);
        }
        if let Some(i) = c.check_invariant(inv) {
            checked_invariants.push(i);
        }
    }
    // Lets no rule uses are still checked, with any slot any action has.
    for l in &let_order {
        let info = &c.lets[l.name.name.as_str()];
        if !info.used && !info.poisoned {
            c.env = Env::Any;
            c.use_site = None;
            let _ = c.value_or_cond(&l.body);
            c.warnings.push(
                Diagnostic::error(
                    format!("`let {}` is never used", l.name.name),
                    l.name.span,
                    "",
                )
                .warning(),
            );
        }
    }

    let mut diags: Vec<Diagnostic> = c.errors;
    let ok = diags.is_empty();
    diags.append(&mut c.warnings);
    if ok {
        (
            Some(ValidatedSet {
                schema,
                rules: checked,
                invariants: checked_invariants,
            }),
            diags,
        )
    } else {
        (None, diags)
    }
}

struct LetInfo<'a> {
    decl: &'a LetDecl,
    poisoned: bool,
    used: bool,
    size: usize,
    depth: usize,
}

/// What slots and parameters a condition may use.
enum Env {
    /// Those of every one of these actions.
    Actions(Vec<ActionId>),
    /// Those of any action (for unused `let`s).
    Any,
}

/// An operand before its type is known from the other side.
enum Raw<'a> {
    Op(Operand),
    Lit(&'a Literal, Span),
    List(&'a [(Literal, Span)], Span),
}

struct Checker<'a> {
    schema: &'a Schema,
    lets: rustc_hash::FxHashMap<&'a str, LetInfo<'a>>,
    errors: Vec<Diagnostic>,
    seen: HashSet<(Span, String)>,
    warnings: Vec<Diagnostic>,
    env: Env,
    /// Where the outermost `let` being expanded was used, for "used here" labels.
    use_site: Option<(String, Span)>,
    quiet_unknown_names: bool,
    /// Expanded nodes of the rules checked so far (see [`MAX_SET_NODES`]).
    set_nodes: usize,
}

impl<'a> Checker<'a> {
    #[expect(
        clippy::needless_pass_by_value,
        reason = "callers build the error in place"
    )]
    fn error(&mut self, e: ValidationError) {
        if self.quiet_unknown_names && matches!(e, ValidationError::UnknownLet { .. }) {
            return;
        }
        if !self.seen.insert((e.span(), e.to_string())) {
            return;
        }
        let mut d = e.to_diagnostic();
        let span = e.span();
        if let Some((rule, site)) = &self.use_site {
            let inside = site.file == span.file && site.start <= span.start && span.end <= site.end;
            if !inside {
                d = d.with_label(*site, format!("in {rule}, through this name"));
            }
        }
        self.errors.push(d);
    }

    fn type_name(&self, ty: Type) -> String {
        self.schema.type_name(ty)
    }

    // ---- lets ------------------------------------------------------------------------

    fn check_let_cycles(&mut self, order: &[&'a LetDecl]) {
        // Iterative DFS (let chains may be long); post-order gives an order in which every
        // let's references are measured before the let itself.
        let mut state: HashMap<&str, u8> = HashMap::new();
        let mut post: Vec<&'a LetDecl> = Vec::new();
        for root in order {
            if state.contains_key(root.name.name.as_str()) {
                continue;
            }
            let mut stack: Vec<(&'a LetDecl, Vec<&'a str>, usize)> =
                vec![(root, names_in(&root.body), 0)];
            state.insert(&root.name.name, 1);
            while let Some((_, deps, i)) = stack.last_mut() {
                if let Some(dep) = deps.get(*i).copied() {
                    *i += 1;
                    let Some(info) = self.lets.get(dep) else {
                        continue;
                    };
                    let dep_decl = info.decl;
                    match state.get(dep) {
                        None => {
                            state.insert(dep, 1);
                            stack.push((dep_decl, names_in(&dep_decl.body), 0));
                        }
                        Some(1) => {
                            let start = stack
                                .iter()
                                .position(|(d, ..)| d.name.name == dep)
                                .unwrap_or(0);
                            let mut names: Vec<&str> = stack[start..]
                                .iter()
                                .map(|(d, ..)| d.name.name.as_str())
                                .collect();
                            names.push(dep);
                            let span = stack[start].0.name.span;
                            for n in &names {
                                if let Some(info) = self.lets.get_mut(n) {
                                    info.poisoned = true;
                                }
                            }
                            self.error(ValidationError::CyclicLet {
                                cycle: names.join(" -> "),
                                span,
                            });
                        }
                        _ => {}
                    }
                } else {
                    let Some((d, ..)) = stack.pop() else { break };
                    state.insert(&d.name.name, 2);
                    post.push(d);
                }
            }
        }
        for decl in post {
            let (size, depth) = self.measure(&decl.body);
            let too_big = self.too_large(size, depth, decl.name.span);
            if let Some(info) = self.lets.get_mut(decl.name.name.as_str()) {
                info.size = size;
                info.depth = depth;
                info.poisoned |= too_big;
            }
        }
    }

    fn too_large(&mut self, size: usize, depth: usize, span: Span) -> bool {
        if depth > MAX_EXPANDED_DEPTH {
            self.error(ValidationError::TooLarge {
                what: "nesting depth",
                size: depth,
                limit: MAX_EXPANDED_DEPTH,
                span,
            });
            true
        } else if size > MAX_EXPANDED_NODES {
            self.error(ValidationError::TooLarge {
                what: "node count",
                size,
                limit: MAX_EXPANDED_NODES,
                span,
            });
            true
        } else {
            false
        }
    }

    /// Size and depth of an expression with `let`s expanded (lets already measured).
    fn measure(&self, e: &Expr) -> (usize, usize) {
        match &e.kind {
            ExprKind::And(xs) | ExprKind::Or(xs) => {
                let mut size = 1usize;
                let mut depth = 0;
                for x in xs {
                    let (s, d) = self.measure(x);
                    size = size.saturating_add(s);
                    depth = depth.max(d);
                }
                (size, depth + 1)
            }
            ExprKind::Not(x) => {
                let (s, d) = self.measure(x);
                (s.saturating_add(1), d + 1)
            }
            ExprKind::Compare { lhs, rhs, .. } => {
                let (s1, d1) = self.measure(lhs);
                let (s2, d2) = self.measure(rhs);
                (s1.saturating_add(s2).saturating_add(1), d1.max(d2) + 1)
            }
            ExprKind::Name(n) => self
                .lets
                .get(n.as_str())
                .map_or((1, 1), |l| (l.size.max(1), l.depth + 1)),
            ExprKind::List(items) => (items.len() + 1, 1),
            ExprKind::Path(_) | ExprKind::Literal(_) => (1, 1),
        }
    }

    // ---- rules -----------------------------------------------------------------------

    /// Resolves a rule's or an invariant's action list; `None` when any name is wrong.
    fn actions(&mut self, names: &[crate::ast::Ident]) -> (Vec<ActionId>, bool) {
        let mut actions = Vec::new();
        let mut ok = true;
        for a in names {
            match self.schema.action_id(&a.name) {
                Some(id) if actions.contains(&id) => {
                    ok = false;
                    self.error(ValidationError::DuplicateAction {
                        name: a.name.clone(),
                        span: a.span,
                    });
                }
                Some(id) => actions.push(id),
                None => {
                    ok = false;
                    self.error(ValidationError::UnknownAction {
                        name: a.name.clone(),
                        help: self.schema.suggest_action(&a.name),
                        span: a.span,
                    });
                }
            }
        }
        (actions, ok)
    }

    /// Checks the condition of a rule or invariant about `actions`, within the size budgets.
    /// `owner` names the item for labels ("rule `x`").
    fn item_condition(
        &mut self,
        actions: &[ActionId],
        cond: &'a Expr,
        owner: &str,
    ) -> Option<TExpr> {
        // With no known action, check paths against every action, so a misspelled action
        // does not also make each of its slots "unknown".
        self.env = if actions.is_empty() {
            Env::Any
        } else {
            Env::Actions(actions.to_vec())
        };
        self.use_site = None;
        let (size, depth) = self.measure(cond);
        if self.too_large(size, depth, cond.span) {
            return None;
        }
        let before = self.set_nodes;
        self.set_nodes = before.saturating_add(size);
        if self.set_nodes > MAX_SET_NODES {
            // Reported once, at the first item over the budget; the rest are not
            // expanded, so the budget also bounds the memory spent here.
            if before <= MAX_SET_NODES {
                self.error(ValidationError::TooLarge {
                    what: "node count of the whole policy set",
                    size: self.set_nodes,
                    limit: MAX_SET_NODES,
                    span: cond.span,
                });
            }
            return None;
        }
        self.cond(cond, owner)
    }

    fn check_rule(&mut self, rule: &'a RuleDecl) -> Option<CheckedRule> {
        let (actions, ok) = self.actions(&rule.actions);
        if rule.reason.is_none() && rule.effect == crate::ast::Effect::Deny {
            self.warnings.push(
                Diagnostic::error(
                    format!("deny rule `{}` has no reason", rule.id.name),
                    rule.id.span,
                    "",
                )
                .warning()
                .with_help("add `reason \"...\"` so administrators can read why they were denied"),
            );
        }
        let condition = match &rule.condition {
            None => None,
            Some(cond) => {
                Some(self.item_condition(&actions, cond, &format!("rule `{}`", rule.id.name))?)
            }
        };
        ok.then(|| CheckedRule {
            id: rule.id.name.clone(),
            effect: rule.effect,
            actions,
            condition,
            reason: rule.reason.clone(),
            id_span: rule.id.span,
        })
    }

    fn check_invariant(&mut self, inv: &'a InvariantDecl) -> Option<CheckedInvariant> {
        let (actions, ok) = self.actions(&inv.actions);
        let owner = format!("invariant `{}`", inv.id.name);
        let condition = self.item_condition(&actions, &inv.condition, &owner)?;
        ok.then(|| CheckedInvariant {
            id: inv.id.name.clone(),
            actions,
            form: inv.form,
            condition,
            reason: inv.reason.clone(),
            id_span: inv.id.span,
        })
    }

    /// Checks `e` as a condition.
    fn cond(&mut self, e: &'a Expr, rule: &str) -> Option<TExpr> {
        let kind = match &e.kind {
            ExprKind::And(xs) | ExprKind::Or(xs) => {
                let mut out = Vec::with_capacity(xs.len());
                let mut ok = true;
                for x in xs {
                    match self.cond(x, rule) {
                        Some(t) => out.push(t),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                if matches!(e.kind, ExprKind::And(_)) {
                    TKind::And(out)
                } else {
                    TKind::Or(out)
                }
            }
            ExprKind::Not(x) => TKind::Not(Box::new(self.cond(x, rule)?)),
            ExprKind::Compare {
                op,
                op_span,
                lhs,
                rhs,
            } => {
                let l = self.operand(lhs, rule);
                let r = self.operand(rhs, rule);
                self.compare(*op, *op_span, l?, r?)?
            }
            ExprKind::Name(n) => return self.let_ref(n, e.span, rule),
            ExprKind::Path(_) | ExprKind::Literal(_) | ExprKind::List(_) => {
                match self.operand(e, rule)? {
                    Raw::Op(op) if op.ty() == Type::Bool => TKind::Bool(op),
                    Raw::Lit(Literal::Bool(b), span) => {
                        TKind::Bool(Operand::Const(Const::Bool(*b), Type::Bool, span))
                    }
                    other => {
                        let found = self.describe(&other);
                        self.error(ValidationError::TypeMismatch {
                            message: format!("expected a condition, found {found}"),
                            help: Some(
                                "compare it with something, for example `== \"value\"`".to_owned(),
                            ),
                            span: e.span,
                        });
                        return None;
                    }
                }
            }
        };
        Some(TExpr {
            kind,
            span: e.span,
            let_name: None,
        })
    }

    /// Checks a body that may be either a condition or a value (unused lets).
    fn value_or_cond(&mut self, e: &'a Expr) -> Option<()> {
        match &e.kind {
            ExprKind::Path(_) | ExprKind::Literal(_) | ExprKind::List(_) | ExprKind::Name(_) => {
                self.operand(e, "").map(|_| ())
            }
            _ => self.cond(e, "").map(|_| ()),
        }
    }

    /// Expands `let name` as a condition.
    fn let_ref(&mut self, name: &str, span: Span, rule: &str) -> Option<TExpr> {
        let Some(info) = self.lets.get_mut(name) else {
            let help = did_you_mean(name, self.lets.keys().copied());
            self.error(ValidationError::UnknownLet {
                name: name.to_owned(),
                help,
                span,
            });
            return None;
        };
        info.used = true;
        if info.poisoned {
            return None;
        }
        let body = &info.decl.body;
        let outer = self.use_site.is_none();
        if outer && !rule.is_empty() {
            self.use_site = Some((rule.to_owned(), span));
        }
        let out = self.cond(body, rule).map(|mut t| {
            t.let_name = Some(name.to_owned());
            t
        });
        if outer {
            self.use_site = None;
        }
        out
    }

    /// Checks `e` as a value.
    fn operand(&mut self, e: &'a Expr, rule: &str) -> Option<Raw<'a>> {
        match &e.kind {
            ExprKind::Path(segs) => self.path(segs, e.span).map(Raw::Op),
            ExprKind::Literal(l) => Some(Raw::Lit(l, e.span)),
            ExprKind::List(items) => Some(Raw::List(items, e.span)),
            ExprKind::Name(n) => {
                // A value `let` (a path, literal or list) is used as a value; a condition
                // `let` may stand where a boolean value is expected.
                let Some(info) = self.lets.get_mut(n.as_str()) else {
                    let help = did_you_mean(n, self.lets.keys().copied());
                    self.error(ValidationError::UnknownLet {
                        name: n.clone(),
                        help,
                        span: e.span,
                    });
                    return None;
                };
                info.used = true;
                if info.poisoned {
                    return None;
                }
                let body: &'a Expr = &info.decl.body;
                let outer = self.use_site.is_none();
                if outer && !rule.is_empty() {
                    self.use_site = Some((rule.to_owned(), e.span));
                }
                let out = match body.kind {
                    ExprKind::Path(_)
                    | ExprKind::Literal(_)
                    | ExprKind::List(_)
                    | ExprKind::Name(_) => self.operand(body, rule),
                    _ => {
                        self.error(ValidationError::TypeMismatch {
                            message: format!("`{n}` is a condition, not a value"),
                            help: None,
                            span: e.span,
                        });
                        None
                    }
                };
                if outer {
                    self.use_site = None;
                }
                out
            }
            _ => {
                self.error(ValidationError::TypeMismatch {
                    message: "expected a value, found a condition".to_owned(),
                    help: Some("put parentheses around the comparison".to_owned()),
                    span: e.span,
                });
                None
            }
        }
    }

    fn path(&mut self, segs: &[crate::ast::Ident], span: Span) -> Option<Operand> {
        let [root, attr] = segs else {
            let path: Vec<&str> = segs.iter().map(|s| s.name.as_str()).collect();
            self.error(ValidationError::BadPath {
                path: path.join("."),
                span,
            });
            return None;
        };
        let schema = self.schema;
        let entity = if root.name == schema.context_name() {
            schema.context
        } else if root.name == "request" {
            let ty = self.param(&attr.name, attr.span)?;
            return Some(Operand::Path(PathRef {
                root: Root::Param {
                    name: attr.name.clone(),
                },
                ty,
                span,
            }));
        } else {
            self.slot(&root.name, root.span)?
        };
        let def = schema.entity(entity);
        let Some(index) = def.attr(&attr.name) else {
            self.error(ValidationError::UnknownAttribute {
                entity: def.name.clone(),
                attr: attr.name.clone(),
                help: def.suggest_attr(&attr.name),
                span: attr.span,
            });
            return None;
        };
        let root = if entity == schema.context {
            Root::Context { attr: index }
        } else {
            Root::Slot {
                name: root.name.clone(),
                attr: index,
            }
        };
        Some(Operand::Path(PathRef {
            root,
            ty: def.attrs[index].ty,
            span,
        }))
    }

    /// The entity type of slot `name` in every action of the current rule.
    fn slot(&mut self, name: &str, span: Span) -> Option<EntityId> {
        let schema = self.schema;
        let actions: Vec<ActionId> = match &self.env {
            Env::Actions(a) => a.clone(),
            Env::Any => {
                return schema
                    .actions
                    .iter()
                    .find_map(|a| a.slot(name))
                    .map(|s| s.entity)
                    .or_else(|| {
                        self.unknown_root(
                            name,
                            span,
                            &(0..schema.actions.len())
                                .filter_map(|i| ActionId::try_from(i).ok())
                                .collect::<Vec<_>>(),
                        );
                        None
                    });
            }
        };
        let mut found: Option<EntityId> = None;
        let mut lacking = None;
        for &a in &actions {
            match schema.action(a).slot(name) {
                Some(s) => match found {
                    Some(f) if f != s.entity => {
                        self.error(ValidationError::SlotTypeConflict {
                            name: name.to_owned(),
                            first: schema.entity(f).name.clone(),
                            second: schema.entity(s.entity).name.clone(),
                            span,
                        });
                        return None;
                    }
                    _ => found = Some(s.entity),
                },
                None => lacking = lacking.or(Some(a)),
            }
        }
        match (found, lacking) {
            (Some(e), None) => Some(e),
            // Some of the rule's actions have it, or other actions do: say which of this
            // rule's actions lacks it.
            (found, Some(a))
                if found.is_some() || schema.actions.iter().any(|d| d.slot(name).is_some()) =>
            {
                self.error(ValidationError::SlotNotInAction {
                    what: "slot",
                    name: name.to_owned(),
                    action: schema.action(a).name.clone(),
                    span,
                });
                None
            }
            _ => {
                self.unknown_root(name, span, &actions);
                None
            }
        }
    }

    fn unknown_root(&mut self, name: &str, span: Span, actions: &[ActionId]) {
        let schema = self.schema;
        let mut roots: Vec<&str> = vec![schema.context_name(), "request"];
        for &a in actions {
            for s in &schema.action(a).slots {
                if !roots.contains(&s.name.as_str()) {
                    roots.push(&s.name);
                }
            }
        }
        let help = did_you_mean(name, roots.iter().copied()).or_else(|| {
            Some(format!(
                "paths start with {}",
                roots
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        });
        self.error(ValidationError::UnknownRoot {
            name: name.to_owned(),
            help,
            span,
        });
    }

    /// The type of parameter `name` in every action of the current rule.
    fn param(&mut self, name: &str, span: Span) -> Option<Type> {
        let schema = self.schema;
        let actions: Vec<ActionId> = match &self.env {
            Env::Actions(a) => a.clone(),
            Env::Any => (0..schema.actions.len())
                .filter_map(|i| ActionId::try_from(i).ok())
                .collect(),
        };
        let any = matches!(self.env, Env::Any);
        let mut found: Option<Type> = None;
        for &a in &actions {
            match schema.action(a).param(name) {
                Some(p) => match found {
                    Some(t) if t != p.ty => {
                        self.error(ValidationError::TypeMismatch {
                            message: format!(
                                "parameter `{name}` has different types in the rule's actions"
                            ),
                            help: None,
                            span,
                        });
                        return None;
                    }
                    _ => found = Some(p.ty),
                },
                None if !any => {
                    self.error(ValidationError::SlotNotInAction {
                        what: "parameter",
                        name: name.to_owned(),
                        action: schema.action(a).name.clone(),
                        span,
                    });
                    return None;
                }
                None => {}
            }
        }
        if found.is_none() {
            let mut params: Vec<&str> = Vec::new();
            for a in &schema.actions {
                params.extend(a.params.iter().map(|p| p.name.as_str()));
            }
            self.error(ValidationError::UnknownAttribute {
                entity: "request".to_owned(),
                attr: name.to_owned(),
                help: did_you_mean(name, params),
                span,
            });
        }
        found
    }

    fn describe(&self, raw: &Raw) -> String {
        match raw {
            Raw::Op(Operand::Path(p)) => {
                format!("`{}`, a `{}`", self.path_text(p), self.type_name(p.ty))
            }
            Raw::Op(Operand::Const(_, ty, _)) => format!("a `{}`", self.type_name(*ty)),
            Raw::Lit(Literal::Str(_), _) => "a string".to_owned(),
            Raw::Lit(Literal::Int(_), _) => "a number".to_owned(),
            Raw::Lit(Literal::Bool(_), _) => "a boolean".to_owned(),
            Raw::List(..) => "a list".to_owned(),
        }
    }

    /// The path as written (`mailbox.email`), rebuilt from its resolved form.
    fn path_text(&self, p: &PathRef) -> String {
        let schema = self.schema;
        match &p.root {
            Root::Slot { name, attr } => {
                let in_rule: &[ActionId] = match &self.env {
                    Env::Actions(a) => a,
                    Env::Any => &[],
                };
                let entity = in_rule
                    .iter()
                    .map(|&a| schema.action(a))
                    .chain(schema.actions.iter())
                    .find_map(|a| a.slot(name))
                    .map(|s| schema.entity(s.entity));
                match entity.and_then(|e| e.attrs.get(*attr)) {
                    Some(a) => format!("{name}.{}", a.name),
                    None => name.clone(),
                }
            }
            Root::Context { attr } => {
                let ctx = schema.context();
                match ctx.attrs.get(*attr) {
                    Some(a) => format!("{}.{}", ctx.name, a.name),
                    None => ctx.name.clone(),
                }
            }
            Root::Param { name } => format!("request.{name}"),
        }
    }

    fn mismatch(&mut self, message: String, span: Span) {
        self.error(ValidationError::TypeMismatch {
            message,
            help: None,
            span,
        });
    }

    /// Converts a literal to a constant of `ty`.
    fn lit(&mut self, lit: &Literal, span: Span, ty: Type) -> Option<Const> {
        match (ty, lit) {
            (Type::Bool, Literal::Bool(b)) => Some(Const::Bool(*b)),
            (Type::Int, Literal::Int(i)) => Some(Const::Int(*i)),
            (Type::String, Literal::Str(s)) => Some(Const::Str(s.clone())),
            (Type::Version, Literal::Str(s)) => match crate::version::Version::parse(s) {
                Ok(v) => Some(Const::Version(v)),
                Err(e) => {
                    self.error(ValidationError::BadVersion {
                        text: s.clone(),
                        reason: e.to_string(),
                        span,
                    });
                    None
                }
            },
            (Type::Enum(en), Literal::Str(s)) => match self.schema.enum_def(en).lookup(s) {
                Some(i) => Some(Const::Enum(i)),
                None => {
                    let def = self.schema.enum_def(en);
                    self.error(ValidationError::UnknownEnumValue {
                        value: s.clone(),
                        enum_name: def.name.clone(),
                        help: did_you_mean(s, def.values.iter().map(String::as_str)),
                        span,
                    });
                    None
                }
            },
            _ => {
                let found = self.describe(&Raw::Lit(lit, span));
                self.mismatch(
                    format!("expected a `{}` value, found {found}", self.type_name(ty)),
                    span,
                );
                None
            }
        }
    }

    /// Converts a list literal to an enum set.
    fn enum_list(
        &mut self,
        items: &[(Literal, Span)],
        e: crate::schema::EnumId,
    ) -> Option<EnumSet> {
        let mut set = EnumSet::default();
        let mut ok = true;
        for (l, s) in items {
            match self.lit(l, *s, Type::Enum(e)) {
                Some(Const::Enum(i)) => set.insert(i),
                _ => ok = false,
            }
        }
        ok.then_some(set)
    }

    /// Resolves one side against the other's type.
    fn typed_pair(
        &mut self,
        l: Raw,
        r: Raw,
        op: CmpOp,
        op_span: Span,
    ) -> Option<(Operand, Operand)> {
        match (l, r) {
            (Raw::Op(a), Raw::Op(b)) => {
                if a.ty() == b.ty() {
                    Some((a, b))
                } else {
                    let (da, db) = (
                        self.describe(&Raw::Op(a.clone())),
                        self.describe(&Raw::Op(b.clone())),
                    );
                    self.mismatch(
                        format!("`{}` compares {da} with {db}", op.as_str()),
                        op_span,
                    );
                    None
                }
            }
            (Raw::Op(a), Raw::Lit(lit, s)) => {
                let c = self.lit(lit, s, a.ty())?;
                let ty = a.ty();
                Some((a, Operand::Const(c, ty, s)))
            }
            (Raw::Lit(lit, s), Raw::Op(b)) => {
                let c = self.lit(lit, s, b.ty())?;
                let ty = b.ty();
                Some((Operand::Const(c, ty, s), b))
            }
            (Raw::Lit(..), Raw::Lit(..)) => {
                self.mismatch(
                    format!(
                        "`{}` compares two literals; one side must be an attribute",
                        op.as_str()
                    ),
                    op_span,
                );
                None
            }
            (Raw::List(_, s), _) | (_, Raw::List(_, s)) => {
                self.error(ValidationError::TypeMismatch {
                    message: format!("`{}` cannot compare with a list", op.as_str()),
                    help: Some("use `in [...]` to test membership in a list".to_owned()),
                    span: s,
                });
                None
            }
        }
    }

    fn compare(&mut self, op: CmpOp, op_span: Span, l: Raw<'a>, r: Raw<'a>) -> Option<TKind> {
        match op {
            CmpOp::Eq | CmpOp::Ne => {
                let (lhs, rhs) = self.typed_pair(l, r, op, op_span)?;
                Some(TKind::Cmp { op, lhs, rhs })
            }
            CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
                let (lhs, rhs) = self.typed_pair(l, r, op, op_span)?;
                if matches!(lhs.ty(), Type::Int | Type::Version) {
                    Some(TKind::Cmp { op, lhs, rhs })
                } else {
                    let d = self.describe(&Raw::Op(lhs));
                    self.error(ValidationError::TypeMismatch {
                        message: format!("`{}` needs numbers or versions, found {d}", op.as_str()),
                        help: None,
                        span: op_span,
                    });
                    None
                }
            }
            CmpOp::In => match r {
                Raw::List(items, _) => match l {
                    Raw::Op(elem) => match elem.ty() {
                        Type::Enum(e)
                            if self.schema.enum_def(e).values.len() <= EnumSet::CAPACITY =>
                        {
                            let set = self.enum_list(items, e)?;
                            Some(TKind::Member {
                                set: Operand::Const(Const::Set(set), Type::Set(e), op_span),
                                elem,
                            })
                        }
                        Type::Set(_) => {
                            let d = self.describe(&Raw::Op(elem));
                            self.error(ValidationError::TypeMismatch {
                                message: format!(
                                    "`in` needs a single value on the left, found {d}"
                                ),
                                help: Some(
                                    "use `contains any` or `contains all` to compare sets"
                                        .to_owned(),
                                ),
                                span: op_span,
                            });
                            None
                        }
                        ty => {
                            let mut list = Vec::new();
                            let mut ok = true;
                            for (lit, s) in items {
                                match self.lit(lit, *s, ty) {
                                    Some(c) => list.push(c),
                                    None => ok = false,
                                }
                            }
                            ok.then_some(TKind::InList { elem, list })
                        }
                    },
                    _ => {
                        self.mismatch("`in` needs an attribute on the left".to_owned(), op_span);
                        None
                    }
                },
                Raw::Op(set) => {
                    let Type::Set(e) = set.ty() else {
                        let d = self.describe(&Raw::Op(set));
                        self.mismatch(
                            format!("`in` needs a list or a set on the right, found {d}"),
                            op_span,
                        );
                        return None;
                    };
                    let elem = self.member(l, e, op_span)?;
                    Some(TKind::Member { set, elem })
                }
                Raw::Lit(..) => {
                    self.mismatch(
                        "`in` needs a list or a set on the right".to_owned(),
                        op_span,
                    );
                    None
                }
            },
            CmpOp::Contains | CmpOp::ContainsAny | CmpOp::ContainsAll => {
                let set = match l {
                    Raw::Op(op_) if matches!(op_.ty(), Type::Set(_)) => op_,
                    other => {
                        let d = self.describe(&other);
                        self.error(ValidationError::TypeMismatch {
                            message: format!("`{}` needs a set on the left, found {d}", op.as_str()),
                            help: Some("`contains` tests membership in a `set<...>` attribute; use `==` for single values".to_owned()),
                            span: op_span,
                        });
                        return None;
                    }
                };
                let Type::Set(e) = set.ty() else {
                    return None;
                };
                if op == CmpOp::Contains {
                    let elem = self.member(r, e, op_span)?;
                    return Some(TKind::Member { set, elem });
                }
                let other = match r {
                    Raw::List(items, s) => {
                        Operand::Const(Const::Set(self.enum_list(items, e)?), Type::Set(e), s)
                    }
                    Raw::Op(o) if o.ty() == Type::Set(e) => o,
                    other => {
                        let d = self.describe(&other);
                        self.mismatch(
                            format!(
                                "`{}` needs a list or a set of `{}` on the right, found {d}",
                                op.as_str(),
                                self.schema.enum_def(e).name
                            ),
                            op_span,
                        );
                        return None;
                    }
                };
                Some(TKind::SetOp {
                    any: op == CmpOp::ContainsAny,
                    set,
                    other,
                })
            }
        }
    }

    /// A member of enum `e`, from a literal or an enum-typed attribute.
    fn member(&mut self, raw: Raw<'a>, e: crate::schema::EnumId, op_span: Span) -> Option<Operand> {
        match raw {
            Raw::Lit(lit, s) => {
                let c = self.lit(lit, s, Type::Enum(e))?;
                Some(Operand::Const(c, Type::Enum(e), s))
            }
            Raw::Op(o) if o.ty() == Type::Enum(e) => Some(o),
            other => {
                let d = self.describe(&other);
                self.mismatch(
                    format!(
                        "expected a `{}` value, found {d}",
                        self.schema.enum_def(e).name
                    ),
                    op_span,
                );
                None
            }
        }
    }
}

/// The `let` names an expression refers to.
fn names_in(e: &Expr) -> Vec<&str> {
    let mut out = Vec::new();
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match &e.kind {
            ExprKind::And(xs) | ExprKind::Or(xs) => stack.extend(xs.iter().rev()),
            ExprKind::Not(x) => stack.push(x),
            ExprKind::Compare { lhs, rhs, .. } => {
                stack.push(rhs);
                stack.push(lhs);
            }
            ExprKind::Name(n) => out.push(n.as_str()),
            ExprKind::Path(_) | ExprKind::Literal(_) | ExprKind::List(_) => {}
        }
    }
    out
}
