//! `verify`: proves each invariant for every schema-valid request of its actions.
//!
//! For an invariant with condition `P` on action `a`, the violations are
//!
//! | form | violations |
//! |---|---|
//! | `allow only when P` | allowed and not `P` |
//! | `allow when P` | `P` and denied |
//! | `deny when P` | `P` and allowed |
//!
//! (all over valid requests). The invariant holds when that diagram is empty for every
//! action. Otherwise the counterexample is the violating request closest to the schema
//! defaults (a least-cost path where each variable costs 1 when it differs from the
//! defaults' encoding), decoded to a concrete request and decided again by the evaluator,
//! with the condition evaluated on it too: a disagreement is an internal error.

use super::dd::Backend as _;
use super::model::{ActionModel, Dd, Dom};
use super::whynot::json_value;
use super::{AnalysisError, Analyzer};
use crate::ast::{Effect, InvariantForm};
use crate::compile::CompiledSet;
use crate::eval::{Decision, Request, Tri};
use crate::schema::{ActionId, Type};
use crate::value::{EnumSet, Value};
use crate::version::Version;
use serde::Serialize;

/// A decision, as verify shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShownDecision {
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// `allowed`, `denied_by_rule` or `no_rule_allows`.
    pub cause: &'static str,
    /// The determining rules.
    pub rules: Vec<String>,
    /// `file:line` of each determining rule.
    pub locations: Vec<String>,
}

impl ShownDecision {
    /// How `set` decided: the decision, its cause, and each determining rule with its
    /// `file:line`.
    pub fn of(set: &CompiledSet, d: &Decision) -> Self {
        ShownDecision {
            decision: d.effect.as_str(),
            cause: d.cause.as_str(),
            rules: d.rules.iter().map(|&r| set.rule(r).id.clone()).collect(),
            locations: d
                .rules
                .iter()
                .map(|&r| format!("{}:{}", set.rule(r).file, set.rule(r).line))
                .collect(),
        }
    }
}

impl std::fmt::Display for ShownDecision {
    /// `allow by RULE (file:line), …`, or `deny by no rule allows it`: the one way the
    /// CLI and the server's reload gate word a counterexample's decision.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} by ", self.decision)?;
        if self.rules.is_empty() {
            return f.write_str("no rule allows it");
        }
        for (i, (r, l)) in self.rules.iter().zip(&self.locations).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{r} ({l})")?;
        }
        Ok(())
    }
}

/// The outcome of one invariant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvariantOutcome {
    /// Its id.
    pub invariant: String,
    /// Its file.
    pub file: String,
    /// The line of its id.
    pub line: usize,
    /// Whether it holds for every request.
    pub holds: bool,
    /// The violating request closest to the schema defaults, as a batch line object.
    pub counterexample: Option<serde_json::Value>,
    /// How the evaluator decides the counterexample.
    pub decision: Option<ShownDecision>,
    /// The invariant's reason.
    #[serde(skip)]
    pub reason: Option<String>,
}

impl Analyzer<'_> {
    /// Proves every invariant of the set, in load order.
    pub fn verify(&self) -> Result<Vec<InvariantOutcome>, AnalysisError> {
        let set = self.set();
        let mut out = Vec::new();
        for (i, inv) in set.invariants().iter().enumerate() {
            let mut outcome = InvariantOutcome {
                invariant: inv.id.clone(),
                file: inv.file.clone(),
                line: inv.line,
                holds: true,
                counterexample: None,
                decision: None,
                reason: inv.reason.clone(),
            };
            for &(action, _) in &inv.actions {
                let m = self.model(action)?;
                if let Some((line, decision)) = violation(set, m, i, inv.form)? {
                    outcome.holds = false;
                    outcome.counterexample = Some(line);
                    outcome.decision = Some(decision);
                    break;
                }
            }
            out.push(outcome);
        }
        Ok(out)
    }
}

/// The counterexample of invariant `i` on the model's action, if it has one.
fn violation(
    set: &CompiledSet,
    m: &ActionModel,
    i: usize,
    form: InvariantForm,
) -> Result<Option<(serde_json::Value, ShownDecision)>, AnalysisError> {
    let b = &m.backend;
    let name = &set.schema().action(m.action).name;
    let over = |_| AnalysisError::Budget {
        action: name.clone(),
        budget: crate::limits::MAX_ANALYSIS_NODES,
    };
    for (k, root, cond) in &m.invariants {
        if *k != i {
            continue;
        }
        let bad = match form {
            InvariantForm::AllowOnlyWhen => b.and(&m.allow, &b.not(cond)).map_err(over)?,
            InvariantForm::AllowWhen => b.and(cond, &m.deny).map_err(over)?,
            InvariantForm::DenyWhen => b.and(cond, &m.allow).map_err(over)?,
        };
        if b.is_false(&bad) {
            continue;
        }
        let Some((req, _)) = closest(set, m, &bad)? else {
            continue;
        };
        let d = set.evaluate(&req);
        let p = set.eval(*root, &req.values) == Tri::True;
        let allowed = d.effect == Effect::Allow;
        let violated = match form {
            InvariantForm::AllowOnlyWhen => allowed && !p,
            InvariantForm::AllowWhen => p && !allowed,
            InvariantForm::DenyWhen => p && allowed,
        };
        if !violated {
            return Err(AnalysisError::Disagreement {
                detail: format!(
                    "the counterexample found for an invariant on `{name}` does not violate it when decided ({}, condition {p})",
                    d.effect.as_str()
                ),
            });
        }
        let shown = ShownDecision::of(set, &d);
        return Ok(Some((batch_line(set, &req), shown)));
    }
    Ok(None)
}

/// The request of `dd` closest to the schema defaults (a least-cost path where each
/// variable costs 1 when it differs from the defaults' encoding), decoded to a concrete
/// request of `set`, with the assignment it was decoded from; `None` if `dd` is empty.
pub(crate) fn closest(
    set: &CompiledSet,
    m: &ActionModel,
    dd: &Dd,
) -> Result<Option<(Request, Vec<bool>)>, AnalysisError> {
    let base = baseline(set, m.action);
    let enc = m.encode(set, &base)?;
    let cost = |v: u16, x: bool| u32::from(enc.get(usize::from(v)).copied() != Some(x));
    let prefer = |v: u16| enc.get(usize::from(v)).copied().unwrap_or(false);
    Ok(m.backend
        .min_cost(dd, &cost, &prefer, &enc)
        .map(|(_, w)| (decode(set, m, &base, &w), w)))
}

/// The schema defaults, and for attributes without one: `false`, `0`, `""`, version `0`,
/// the first enum member, the empty set.
pub(crate) fn baseline(set: &CompiledSet, action: ActionId) -> Request {
    let mut r = set.new_request(action);
    let types = set.layout(action).types.clone();
    for (i, ty) in types.into_iter().enumerate() {
        if r.values[i] != Value::Missing {
            continue;
        }
        r.values[i] = match ty {
            Type::Bool => Value::Bool(false),
            Type::Int => Value::Int(0),
            Type::String => Value::Str(set.intern(&mut r, "")),
            Type::Version => Value::Version(Version::default()),
            Type::Enum(_) => Value::Enum(0),
            Type::Set(_) => Value::Set(EnumSet::default()),
        };
    }
    r
}

/// The concrete request for a full assignment `w`, starting from `base`.
fn decode(set: &CompiledSet, m: &ActionModel, base: &Request, w: &[bool]) -> Request {
    let mut req = base.clone();
    let mut others: Vec<usize> = Vec::new();
    for (k, a) in m.attrs.iter().enumerate() {
        let slot = a.index as usize;
        match &a.dom {
            Dom::Bool { var } => req.values[slot] = Value::Bool(w[usize::from(*var)]),
            Dom::Set { vars } => {
                let mut s = EnumSet::default();
                for (i, v) in vars.iter().enumerate() {
                    if w[usize::from(*v)] {
                        s.insert(u16::try_from(i).unwrap_or(u16::MAX));
                    }
                }
                req.values[slot] = Value::Set(s);
            }
            Dom::OneHot { vars, reps, .. } => {
                let cls = vars.iter().position(|v| w[usize::from(*v)]).unwrap_or(0);
                if m.class_of(k, &base.values[slot]) == Some(cls) && reps[cls].is_some() {
                    // The baseline's own value is in the class: keep it.
                    continue;
                }
                match reps.get(cls).copied().flatten() {
                    // A literal only another set mentions: a request string here.
                    Some(Value::Str(id)) if id.0 >= set.policy_string_count() => {
                        let text = m.string_text(set, id).to_owned();
                        req.values[slot] = Value::Str(set.intern(&mut req, &text));
                    }
                    Some(v) => req.values[slot] = v,
                    None => others.push(k),
                }
            }
        }
    }
    // Strings outside every literal: one fresh value per group of paths the assignment
    // makes equal.
    let mut assigned: Vec<(usize, String)> = Vec::new();
    let mut n = 0u32;
    for k in others {
        // The baseline's own string, if it is outside every literal and agrees with the
        // equalities the assignment asks for.
        let slot = m.attrs[k].index as usize;
        let own = match base.values[slot] {
            Value::Str(id) => {
                let t = set.string(base, id).to_owned();
                let literal = match &m.attrs[k].dom {
                    Dom::OneHot { reps, .. } => reps
                        .iter()
                        .any(|r| matches!(r, Some(Value::Str(l)) if m.string_text(set, *l) == t)),
                    _ => true,
                };
                let fits = m.eqs.iter().all(|e| {
                    if e.a != k && e.b != k {
                        return true;
                    }
                    let p = if e.a == k { e.b } else { e.a };
                    assigned
                        .iter()
                        .find(|(q, _)| *q == p)
                        .is_none_or(|(_, u)| (*u == t) == w[usize::from(e.var)])
                });
                (!literal && fits).then_some(t)
            }
            _ => None,
        };
        if let Some(t) = own {
            assigned.push((k, t));
            continue;
        }
        let partner = m.eqs.iter().find_map(|e| {
            if !w[usize::from(e.var)] || (e.a != k && e.b != k) {
                return None;
            }
            let p = if e.a == k { e.b } else { e.a };
            assigned
                .iter()
                .find(|(q, _)| *q == p)
                .map(|(_, t)| t.clone())
        });
        let text = partner.unwrap_or_else(|| {
            loop {
                n += 1;
                let t = format!("other-{n}");
                if set.policy_string(&t).is_none() && !m.extra_strings.contains(&t) {
                    break t;
                }
            }
        });
        let id = set.intern(&mut req, &text);
        req.values[m.attrs[k].index as usize] = Value::Str(id);
        assigned.push((k, text));
    }
    req
}

/// A request as a batch line object: the action, then the context and each slot with the
/// attributes that have no default or differ from it, then each parameter.
pub fn batch_line(set: &CompiledSet, r: &Request) -> serde_json::Value {
    let schema = set.schema();
    let layout = set.layout(r.action);
    let action = schema.action(r.action);
    let mut obj = serde_json::Map::new();
    obj.insert(
        "action".into(),
        serde_json::Value::String(action.name.clone()),
    );
    let mut part = |name: &str, entity: &crate::schema::EntityDef, offset: usize| {
        let mut m = serde_json::Map::new();
        for (i, attr) in entity.attrs.iter().enumerate() {
            let v = r.values.get(offset + i).copied().unwrap_or_default();
            if v == Value::Missing || layout.defaults.get(offset + i) == Some(&v) {
                continue;
            }
            m.insert(attr.name.clone(), json_value(set, r, attr.ty, v));
        }
        obj.insert(name.to_owned(), serde_json::Value::Object(m));
    };
    part(schema.context_name(), schema.context(), 0);
    for (s, slot) in action.slots.iter().enumerate() {
        part(
            &slot.name,
            schema.entity(slot.entity),
            layout.slots[s] as usize,
        );
    }
    for (p, param) in action.params.iter().enumerate() {
        let v = r
            .values
            .get(layout.params as usize + p)
            .copied()
            .unwrap_or_default();
        if v != Value::Missing {
            obj.insert(param.name.clone(), json_value(set, r, param.ty, v));
        }
    }
    serde_json::Value::Object(obj)
}
