//! Deciding: a [`Request`] against a [`CompiledSet`] → [`Decision`].
//!
//! Semantics (docs/language.md, "Decisions"): default deny; any matching `deny` rule wins; an `allow` rule whose
//! condition cannot be evaluated (a value is missing) does not match, and a `deny` rule
//! that cannot be evaluated does match, with the error in the decision. Logic is
//! three-valued in the Kleene sense: `false and <error>` is `false` and `true or <error>`
//! is `true`, because those hold whatever the missing value would have been; everything
//! else with an error is an error. So an error can never be the reason for an `allow`.
//!
//! The hot path ([`CompiledSet::evaluate_into`]) allocates nothing once the output buffers
//! have grown, and compares no strings.

mod explain;
mod request;

pub use explain::{Explanation, RuleTrace, Step};
pub use request::Request;

use crate::ast::Effect;
use crate::compile::{ActionBits, AtomBits, CompiledSet, Node, Opnd, Relation, RuleList};
use crate::value::Value;

/// The result of one condition: true, false, or an error at a request value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    /// Holds.
    True,
    /// Does not hold.
    False,
    /// Cannot be decided: the request value at this index is missing, or (`None`) a value
    /// has a type the test does not take.
    Error(Option<u32>),
}

/// Why a decision came out the way it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// At least one `allow` rule matched and no `deny` rule did.
    Allowed,
    /// A `deny` rule matched (explicit deny).
    DeniedByRule,
    /// No `allow` rule matched (default deny).
    NoRuleAllows,
}

impl Cause {
    /// `allowed`, `denied_by_rule` or `no_rule_allows`, as records and reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Allowed => "allowed",
            Cause::DeniedByRule => "denied_by_rule",
            Cause::NoRuleAllows => "no_rule_allows",
        }
    }
}

/// Why part of a decision could not be evaluated. Every one of them denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalError {
    /// The request was built by another compiled set. String ids and enum indexes are
    /// local to the set that built a request, so it is not decided at all.
    ForeignRequest,
    /// The request does not fit its action (an unknown action, or the wrong number of
    /// values).
    Misfit,
    /// A rule whose condition could not be evaluated.
    Rule {
        /// The rule.
        rule: u32,
        /// The request value that was missing (an index into the action's layout), or
        /// `None` when a value had a type the test does not take.
        value: Option<u32>,
    },
}

/// A decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `allow` or `deny`.
    pub effect: Effect,
    /// Explicit or default deny, or allow.
    pub cause: Cause,
    /// The determining rules: every matched rule of the winning effect, in load order
    /// (none for a default deny).
    pub rules: Vec<u32>,
    /// Rules that could not be evaluated.
    pub errors: Vec<EvalError>,
}

impl Default for Decision {
    fn default() -> Self {
        Decision {
            effect: Effect::Deny,
            cause: Cause::NoRuleAllows,
            rules: Vec::new(),
            errors: Vec::new(),
        }
    }
}

impl CompiledSet {
    /// Decides a request.
    pub fn evaluate(&self, request: &Request) -> Decision {
        let mut d = Decision::default();
        self.evaluate_into(request, &mut d);
        d
    }

    /// Decides a request into `out`, reusing its buffers (no allocation once they have
    /// grown).
    pub fn evaluate_into(&self, request: &Request, out: &mut Decision) {
        self.decide(request, out, true);
    }

    /// [`CompiledSet::evaluate_into`] by walking every rule's condition, never through the
    /// bitset pass (`compile::bits`). The decisions are the same either way; this exists
    /// so that tests can check it.
    #[doc(hidden)]
    pub fn evaluate_reference_into(&self, request: &Request, out: &mut Decision) {
        self.decide(request, out, false);
    }

    #[inline]
    fn decide(&self, request: &Request, out: &mut Decision, bitsets: bool) {
        out.effect = Effect::Deny;
        out.cause = Cause::NoRuleAllows;
        out.rules.clear();
        out.errors.clear();
        if request.set != self.id {
            out.errors.push(EvalError::ForeignRequest);
            return;
        }
        let Some(plan) = self.plans.get(request.action as usize) else {
            out.errors.push(EvalError::Misfit);
            return;
        };
        let values = request.values.as_slice();
        if values.len() != plan.layout.len as usize {
            out.errors.push(EvalError::Misfit);
            return;
        }
        // Every atom of the action's bitset once, for both lists.
        let bits = match &plan.bits {
            Some(b) if bitsets => Some((b, b.atoms(values))),
            _ => None,
        };
        self.decide_list(&plan.deny, values, bits, Effect::Deny, out);
        if !out.rules.is_empty() {
            out.cause = Cause::DeniedByRule;
            return;
        }
        self.decide_list(&plan.allow, values, bits, Effect::Allow, out);
        if !out.rules.is_empty() {
            out.effect = Effect::Allow;
            out.cause = Cause::Allowed;
        }
    }

    /// Adds the rules of `list` that match to `out.rules`, and the errors to `out.errors`.
    /// A `deny` rule that cannot be evaluated matches; an `allow` rule does not.
    #[allow(
        clippy::inline_always,
        reason = "inlined into both calls in the decision (measured with callgrind)"
    )]
    #[inline(always)]
    fn decide_list(
        &self,
        list: &RuleList,
        values: &[Value],
        bits: Option<(&ActionBits, AtomBits)>,
        effect: Effect,
        out: &mut Decision,
    ) {
        for &pos in list.candidates(values) {
            let r = list.rules[pos as usize];
            let tri = match bits.and_then(|(b, atoms)| b.decide(effect, pos, atoms)) {
                Some(true) => Tri::True,
                Some(false) => Tri::False,
                None => self.eval_root(r.root, values),
            };
            match tri {
                Tri::False => {}
                Tri::True => out.rules.push(r.rule),
                Tri::Error(v) => {
                    if effect == Effect::Deny {
                        out.rules.push(r.rule);
                    }
                    out.errors.push(EvalError::Rule {
                        rule: r.rule,
                        value: v,
                    });
                }
            }
        }
    }

    #[inline]
    fn eval_root(&self, root: Option<u32>, values: &[Value]) -> Tri {
        match root {
            None => Tri::True,
            Some(n) => self.eval_kid(n, values),
        }
    }

    /// Evaluates node `n`, short-circuiting.
    pub(crate) fn eval(&self, n: u32, values: &[Value]) -> Tri {
        let node = self.nodes[n as usize];
        match node {
            Node::And(s, e) => {
                let mut err = None;
                for &k in &self.kids[s as usize..e as usize] {
                    match self.eval_kid(k, values) {
                        Tri::False => return Tri::False,
                        Tri::Error(v) => {
                            err.get_or_insert(v);
                        }
                        Tri::True => {}
                    }
                }
                err.map_or(Tri::True, Tri::Error)
            }
            Node::Or(s, e) => {
                let mut err = None;
                for &k in &self.kids[s as usize..e as usize] {
                    match self.eval_kid(k, values) {
                        Tri::True => return Tri::True,
                        Tri::Error(v) => {
                            err.get_or_insert(v);
                        }
                        Tri::False => {}
                    }
                }
                err.map_or(Tri::False, Tri::Error)
            }
            Node::Not(k) => not(self.eval_kid(k, values)),
            leaf => self.leaf(leaf, values),
        }
    }

    /// Evaluates child node `k`: the commonest tests right here, anything else through
    /// [`CompiledSet::eval`].
    #[inline]
    fn eval_kid(&self, k: u32, values: &[Value]) -> Tri {
        match self.nodes.get(k as usize) {
            Some(&node) => Self::quick(node, values).unwrap_or_else(|| self.eval(k, values)),
            None => Tri::Error(None),
        }
    }

    /// The commonest tests (an enum's value, a set's member, a bool), or `None` for any
    /// other node; [`CompiledSet::leaf`] tries them first too.
    #[inline]
    fn quick(node: Node, values: &[Value]) -> Option<Tri> {
        let tri = |b: bool| if b { Tri::True } else { Tri::False };
        Some(match node {
            Node::EnumIs {
                value_at,
                member,
                eq,
            } => match values.get(value_at as usize) {
                Some(Value::Enum(v)) => tri((*v == member) == eq),
                _ => Tri::Error(Some(value_at)),
            },
            Node::HasMember { value_at, member } => match values.get(value_at as usize) {
                Some(Value::Set(s)) => tri(s.contains(member)),
                _ => Tri::Error(Some(value_at)),
            },
            Node::Bool(Opnd::Value(value_at)) => match values.get(value_at as usize) {
                Some(Value::Bool(b)) => tri(*b),
                _ => Tri::Error(Some(value_at)),
            },
            _ => return None,
        })
    }

    #[inline]
    fn load<'a>(&'a self, o: Opnd, values: &'a [Value]) -> Result<&'a Value, Option<u32>> {
        match o {
            Opnd::Const(c) => Ok(&self.consts[c as usize]),
            Opnd::Value(value_at) => match values.get(value_at as usize) {
                Some(Value::Missing) | None => Err(Some(value_at)),
                Some(v) => Ok(v),
            },
        }
    }

    /// Evaluates a leaf node (a test on values).
    #[inline]
    pub(crate) fn leaf(&self, node: Node, values: &[Value]) -> Tri {
        let tri = |b: bool| if b { Tri::True } else { Tri::False };
        // The specialised tests first: they are most of any real policy.
        if let Some(t) = Self::quick(node, values) {
            return t;
        }
        if let Node::InMask { value_at, members } = node {
            return match (
                values.get(value_at as usize),
                &self.consts[members as usize],
            ) {
                (Some(Value::Enum(v)), Value::Set(m)) => tri(m.contains(*v)),
                _ => Tri::Error(Some(value_at)),
            };
        }
        let r = (|| -> Result<bool, Option<u32>> {
            Ok(match node {
                Node::Const(b) => b,
                Node::Bool(o) => match self.load(o, values)? {
                    Value::Bool(b) => *b,
                    _ => return Err(value_of(o)),
                },
                Node::Cmp(op, a, b) => {
                    let (x, y) = (self.load(a, values)?, self.load(b, values)?);
                    compare(op, x, y).ok_or_else(|| value_of(a).or(value_of(b)))?
                }
                Node::InList(a, s, e) => {
                    let x = self.load(a, values)?;
                    self.kids[s as usize..e as usize]
                        .iter()
                        .any(|&c| self.consts[c as usize] == *x)
                }
                Node::Member { set, elem } => {
                    match (self.load(set, values)?, self.load(elem, values)?) {
                        (Value::Set(s), Value::Enum(m)) => s.contains(*m),
                        _ => return Err(value_of(set).or(value_of(elem))),
                    }
                }
                Node::SetAny(a, b) | Node::SetAll(a, b) => {
                    match (self.load(a, values)?, self.load(b, values)?) {
                        (Value::Set(x), Value::Set(y)) => {
                            if matches!(node, Node::SetAny(..)) {
                                x.0 & y.0 != 0
                            } else {
                                x.0 & y.0 == y.0
                            }
                        }
                        _ => return Err(value_of(a).or(value_of(b))),
                    }
                }
                Node::And(..)
                | Node::Or(..)
                | Node::Not(_)
                | Node::EnumIs { .. }
                | Node::HasMember { .. }
                | Node::InMask { .. } => return Err(None),
            })
        })();
        match r {
            Ok(true) => Tri::True,
            Ok(false) => Tri::False,
            Err(v) => Tri::Error(v),
        }
    }
}

/// The request value an operand reads, if it reads one.
fn value_of(o: Opnd) -> Option<u32> {
    match o {
        Opnd::Value(value_at) => Some(value_at),
        Opnd::Const(_) => None,
    }
}

pub(crate) fn not(t: Tri) -> Tri {
    match t {
        Tri::True => Tri::False,
        Tri::False => Tri::True,
        e @ Tri::Error(_) => e,
    }
}

/// `x op y` for two values of one type; `None` if the types do not fit the operator.
pub(crate) fn compare(op: Relation, x: &Value, y: &Value) -> Option<bool> {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (x, y) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Version(a), Value::Version(b)) => Some(a.cmp(b)),
        _ => None,
    };
    Some(match op {
        Relation::Eq | Relation::Ne => {
            if std::mem::discriminant(x) != std::mem::discriminant(y) {
                return None;
            }
            (x == y) == (op == Relation::Eq)
        }
        Relation::Lt => ord? == Ordering::Less,
        Relation::Le => ord? != Ordering::Greater,
        Relation::Gt => ord? == Ordering::Greater,
        Relation::Ge => ord? != Ordering::Less,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::Version;

    #[test]
    fn comparison_operators() {
        let v = |s| Value::Version(Version::parse(s).unwrap());
        assert_eq!(
            compare(Relation::Ge, &v("9.2.22104.00170"), &v("9.1.0.5805")),
            Some(true)
        );
        assert_eq!(
            compare(Relation::Lt, &v("9.1.0.5804"), &v("9.1.0.5805")),
            Some(true)
        );
        assert_eq!(
            compare(Relation::Le, &Value::Int(3), &Value::Int(3)),
            Some(true)
        );
        assert_eq!(
            compare(Relation::Gt, &Value::Int(3), &Value::Int(3)),
            Some(false)
        );
        assert_eq!(
            compare(Relation::Ne, &Value::Enum(1), &Value::Enum(2)),
            Some(true)
        );
        assert_eq!(compare(Relation::Eq, &Value::Enum(1), &Value::Int(1)), None);
        assert_eq!(
            compare(Relation::Lt, &Value::Enum(1), &Value::Enum(2)),
            None
        );
    }

    #[test]
    fn not_keeps_errors() {
        assert_eq!(not(Tri::True), Tri::False);
        assert_eq!(not(Tri::Error(Some(3))), Tri::Error(Some(3)));
    }
}
