//! Rules and invariants: their action lists, their conditions within the size budgets,
//! and the conditions themselves.

use super::Operand;
use super::{
    CheckedInvariant, CheckedRule, Checker, Env, Raw, TExpr, TKind, ValidationError,
    ValidationWarning,
};
use crate::ast::{Expr, ExprKind, InvariantDecl, Literal, RuleDecl};
use crate::limits::MAX_SET_NODES;
use crate::schema::{ActionId, Type};
use crate::value::Const;

impl<'a> Checker<'a> {
    /// Resolves a rule's or an invariant's action list; `None` when any name is wrong.
    pub(super) fn actions(&mut self, names: &[crate::ast::Ident]) -> (Vec<ActionId>, bool) {
        let mut actions = Vec::new();
        let mut listed = rustc_hash::FxHashSet::default();
        let mut ok = true;
        for a in names {
            match self.schema.action_id(&a.name) {
                Some(id) if !listed.insert(id) => {
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
            Env::Actions(actions.into())
        };
        self.slot_cache.clear();
        self.param_cache.clear();
        self.use_site = None;
        let (size, depth) = self.measure(cond);
        if self.too_large(size, depth, cond.span) {
            return None;
        }
        // Each action gets its own compiled copy of the condition.
        let before = self.set_nodes;
        self.set_nodes = before.saturating_add(size.saturating_mul(actions.len().max(1)));
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

    pub(super) fn check_rule(&mut self, rule: &'a RuleDecl) -> Option<CheckedRule> {
        let (actions, ok) = self.actions(&rule.actions);
        if rule.reason.is_none() && rule.effect == crate::ast::Effect::Deny {
            self.warnings.push(ValidationWarning::DenyWithoutReason {
                id: rule.id.name.clone(),
                span: rule.id.span,
            });
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

    pub(super) fn check_invariant(&mut self, inv: &'a InvariantDecl) -> Option<CheckedInvariant> {
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
    pub(super) fn cond(&mut self, e: &'a Expr, rule: &str) -> Option<TExpr> {
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
            ExprKind::Name(n) => {
                return self.expand_let(n, e.span, rule, |c, body| {
                    c.cond(body, rule).map(|mut t| {
                        t.let_name = Some(n.clone());
                        t.site = e.span;
                        t
                    })
                });
            }
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
            site: e.span,
        })
    }
}
