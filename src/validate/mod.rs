//! Validation: parsed policies + schema → [`ValidatedSet`], or every error there is.
//!
//! Checks every name (actions, slots, attributes, enum members, `let`s), every type, every
//! version literal, duplicate rule ids and `let` cycles, and the size of conditions once
//! `let`s are expanded. The parts: `lets` (definitions, cycles, sizes, expansion),
//! `names` (paths, slots, parameters), `typing` (operands and operators) and `rules`
//! (rules, invariants and their conditions). `let`s are expanded in place at each use, typed in the context of
//! the rule that uses them, so a `let` that reads `user.directory_roles` works for every
//! action with a `user` slot. Errors are collected, never stopped at: one run reports them
//! all. Only this module can build a [`ValidatedSet`], so only validated policies can be
//! compiled.

mod error;
mod lets;
mod names;
mod rules;
pub mod typed;
mod typing;

pub use error::{ValidationError, ValidationWarning};
pub use typed::{CheckedInvariant, CheckedRule, Operand, PathRef, Root, TExpr, TKind};

use crate::ast::{InvariantDecl, Item, LetDecl, Literal, PolicyFile, RuleDecl};
use crate::diagnostics::Diagnostic;
use crate::limits::MAX_RULES;
use crate::schema::{ActionId, EntityId, Schema, Type};
use crate::source::Span;
use lets::LetInfo;
use names::Resolved;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

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
        slot_cache: rustc_hash::FxHashMap::default(),
        param_cache: rustc_hash::FxHashMap::default(),
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
    c.check_unused_lets(&let_order);

    let mut diags: Vec<Diagnostic> = c.errors;
    let ok = diags.is_empty();
    diags.extend(c.warnings.iter().map(ValidationWarning::to_diagnostic));
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

/// What slots and parameters a condition may use.
enum Env {
    /// Those of every one of these actions (shared, so that saving it is cheap).
    Actions(Rc<[ActionId]>),
    /// Those of any action (an item whose actions are all unknown).
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
    warnings: Vec<ValidationWarning>,
    env: Env,
    /// Slot and parameter names resolved in the current item.
    slot_cache: rustc_hash::FxHashMap<String, Resolved<EntityId>>,
    param_cache: rustc_hash::FxHashMap<String, Resolved<Type>>,
    /// Where the outermost `let` being expanded was used, for "used here" labels.
    use_site: Option<(String, Span)>,
    quiet_unknown_names: bool,
    /// Expanded nodes of the rules checked so far (see [`MAX_SET_NODES`]).
    set_nodes: usize,
}

impl Checker<'_> {
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
}
