//! Rule lists compiled into one pass over a bitset of shared tests.
//!
//! The rules of one action often test the same few attributes: the eight deny rules of
//! `sync_incoming_email` read eleven booleans and enum values between them, several of
//! them more than once. Deciding each rule by walking its condition reads and tests
//! each value again per rule. Here, instead, every distinct leaf test of a list's rules
//! (an [`Atom`]: an enum's value, a set's member, a bool, an enum in a list) is evaluated
//! once per request into two words of bits, which hold and which could not be evaluated;
//! each rule (its condition is `and`, `or`, `not` and constants over atoms) is held in
//! disjunctive normal form, a few `(must hold, must not hold)` pairs of masks, and
//! decided with a handful of word operations.
//!
//! Only the case without errors is decided this way: when a rule reads an atom that could
//! not be evaluated, it is decided by walking its condition as before, so the three-valued
//! logic and the value an error names are exactly the reference evaluator's. Without
//! errors, Kleene's logic is Boolean logic, and the normal form is equivalent to the
//! condition by construction. A property test compares the two over random policies and
//! requests.

#![allow(
    clippy::inline_always,
    reason = "the per-decision helpers must be inlined into the decision loop (measured with callgrind)"
)]

use super::{CRule, CompiledSet, Node, Opnd};
use crate::ast::Effect;
use crate::value::Value;

/// Most atoms a list may have (one bit of a word each).
const MAX_ATOMS: usize = 64;

/// Most terms of one rule's normal form; a rule beyond it is walked instead.
const MAX_TERMS: usize = 16;

/// A leaf test that the bitset pass evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Atom {
    /// The enum value at `value_at` is `member`.
    EnumIs { value_at: u32, member: u16 },
    /// The set value at `value_at` contains `member`.
    HasMember { value_at: u32, member: u16 },
    /// The bool value at `value_at` is true.
    Bool { value_at: u32 },
    /// The enum value at `value_at` is one of the members of mask `mask` of
    /// [`ActionBits::masks`].
    InMask { value_at: u32, mask: u32 },
}

impl Atom {
    /// The test's result, or `None` where it cannot be evaluated (exactly where
    /// [`CompiledSet::leaf`] gives an error).
    #[inline(always)]
    fn test(self, values: &[Value], masks: &[u128]) -> Option<bool> {
        match self {
            Atom::EnumIs { value_at, member } => match values.get(value_at as usize) {
                Some(Value::Enum(v)) => Some(*v == member),
                _ => None,
            },
            Atom::HasMember { value_at, member } => match values.get(value_at as usize) {
                Some(Value::Set(s)) => Some(s.contains(member)),
                _ => None,
            },
            Atom::Bool { value_at } => match values.get(value_at as usize) {
                Some(Value::Bool(b)) => Some(*b),
                _ => None,
            },
            Atom::InMask { value_at, mask } => match values.get(value_at as usize) {
                Some(Value::Enum(v)) => {
                    let members = masks.get(mask as usize).copied().unwrap_or(0);
                    Some(*v < 128 && members & (1u128 << *v) != 0)
                }
                _ => None,
            },
        }
    }
}

/// One conjunction of a normal form: every atom of `pos` holds and none of `neg` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Term {
    pos: u64,
    neg: u64,
}

impl Term {
    const TRUE: Term = Term { pos: 0, neg: 0 };
    /// A term that never holds (an atom that must both hold and not hold).
    const FALSE: Term = Term { pos: 1, neg: 1 };

    #[inline(always)]
    fn holds(self, holds: u64) -> bool {
        self.pos & !holds == 0 && self.neg & holds == 0
    }

    /// Both terms at once, or `None` if they contradict each other.
    fn and(self, other: Term) -> Option<Term> {
        let t = Term {
            pos: self.pos | other.pos,
            neg: self.neg | other.neg,
        };
        (t.pos & t.neg == 0).then_some(t)
    }
}

/// A rule in normal form: the atoms it reads and its terms (the first one inline, as
/// most rules have only one).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BitRule {
    /// Every atom the rule reads: if any could not be evaluated, the rule is walked.
    uses: u64,
    /// Its first term ([`Term::FALSE`] if it has none: the rule never holds).
    first: Term,
    /// Its other terms, a range of [`ActionBits::terms`].
    start: u32,
    end: u32,
}

/// An action's atoms, shared by its `deny` and `allow` rules, and the normal forms of
/// its rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct ActionBits {
    atoms: Vec<Atom>,
    /// The member masks of the `in [...]` atoms.
    masks: Vec<u128>,
    /// Per `deny` rule position: its normal form, or `None` if it is walked.
    deny: Vec<Option<BitRule>>,
    /// The same for the `allow` rules.
    allow: Vec<Option<BitRule>>,
    terms: Vec<Term>,
}

/// The atoms of one request: which hold, and which could not be evaluated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AtomBits {
    holds: u64,
    errors: u64,
}

impl ActionBits {
    /// Compiles an action's `deny` and `allow` rules (whose conditions live in the arena
    /// `nodes`, `kids`, `consts`). Returns `None` when no rule has a normal form.
    pub(crate) fn build(
        nodes: &[Node],
        kids: &[u32],
        consts: &[Value],
        deny: &[CRule],
        allow: &[CRule],
    ) -> Option<ActionBits> {
        let mut bits = ActionBits::default();
        let cx = Cx {
            nodes,
            kids,
            consts,
        };
        for (rules, effect) in [(deny, Effect::Deny), (allow, Effect::Allow)] {
            let mut forms = Vec::with_capacity(rules.len());
            // Past this many rules atoms run out, and an index does better.
            if rules.len() <= MAX_ATOMS {
                for r in rules {
                    forms.push(bits.form(&cx, r));
                }
            }
            match effect {
                Effect::Deny => bits.deny = forms,
                Effect::Allow => bits.allow = forms,
            }
        }
        bits.deny
            .iter()
            .chain(&bits.allow)
            .any(Option::is_some)
            .then_some(bits)
    }

    /// The normal form of rule `r`, adding its atoms, or `None` if it has none.
    fn form(&mut self, cx: &Cx<'_>, r: &CRule) -> Option<BitRule> {
        let mut atoms = self.atoms.clone();
        let mut masks = self.masks.clone();
        let mut uses = 0u64;
        let terms = match r.root {
            None => vec![Term::TRUE],
            Some(root) => cx.dnf(root, false, &mut atoms, &mut masks, &mut uses)?,
        };
        if atoms.len() > MAX_ATOMS {
            return None;
        }
        self.atoms = atoms;
        self.masks = masks;
        let first = terms.first().copied().unwrap_or(Term::FALSE);
        let start = u32::try_from(self.terms.len()).ok()?;
        self.terms.extend(terms.iter().skip(1));
        let end = u32::try_from(self.terms.len()).ok()?;
        Some(BitRule {
            uses,
            first,
            start,
            end,
        })
    }

    /// Evaluates every atom once.
    #[inline]
    pub(crate) fn atoms(&self, values: &[Value]) -> AtomBits {
        let mut holds = 0u64;
        let mut errors = 0u64;
        for (i, a) in self.atoms.iter().enumerate() {
            match a.test(values, &self.masks) {
                Some(b) => holds |= u64::from(b) << i,
                None => errors |= 1 << i,
            }
        }
        AtomBits { holds, errors }
    }

    /// Whether the `effect` rule at `pos` holds, or `None` if it must be walked (it has
    /// no normal form, or an atom it reads could not be evaluated).
    #[inline(always)]
    pub(crate) fn decide(&self, effect: Effect, pos: u32, bits: AtomBits) -> Option<bool> {
        let forms = match effect {
            Effect::Deny => &self.deny,
            Effect::Allow => &self.allow,
        };
        let r = (*forms.get(pos as usize)?)?;
        if r.uses & bits.errors != 0 {
            return None;
        }
        if r.first.holds(bits.holds) {
            return Some(true);
        }
        if r.start == r.end {
            return Some(false);
        }
        let more = self.terms.get(r.start as usize..r.end as usize)?;
        Some(more.iter().any(|t| t.holds(bits.holds)))
    }
}

/// What compiling a condition reads.
struct Cx<'a> {
    nodes: &'a [Node],
    kids: &'a [u32],
    consts: &'a [Value],
}

impl Cx<'_> {
    /// The atom of a leaf node, and whether it holds when the node does (`false` for
    /// `!=`), or `None` if the node is no atom.
    fn atom(&self, node: Node, masks: &mut Vec<u128>) -> Option<(Atom, bool)> {
        Some(match node {
            Node::EnumIs {
                value_at,
                member,
                eq,
            } => (Atom::EnumIs { value_at, member }, eq),
            Node::HasMember { value_at, member } => (Atom::HasMember { value_at, member }, true),
            Node::Bool(Opnd::Value(value_at)) => (Atom::Bool { value_at }, true),
            Node::InMask { value_at, members } => match self.consts.get(members as usize)? {
                Value::Set(s) => {
                    let mask = match masks.iter().position(|m| *m == s.0) {
                        Some(i) => i,
                        None => {
                            masks.push(s.0);
                            masks.len() - 1
                        }
                    };
                    (
                        Atom::InMask {
                            value_at,
                            mask: u32::try_from(mask).ok()?,
                        },
                        true,
                    )
                }
                _ => return None,
            },
            _ => return None,
        })
    }

    /// The normal form of node `n` (negated if `negate`), adding new atoms to `atoms`
    /// and every atom it reads to `uses` (those of contradictory terms too, which are
    /// dropped: an error in one must still send the rule to the walk); `None` if it has a node that is no atom or too many terms.
    fn dnf(
        &self,
        n: u32,
        negate: bool,
        atoms: &mut Vec<Atom>,
        masks: &mut Vec<u128>,
        uses: &mut u64,
    ) -> Option<Vec<Term>> {
        let node = *self.nodes.get(n as usize)?;
        match node {
            Node::Const(b) => Some(if b == negate {
                Vec::new()
            } else {
                vec![Term::TRUE]
            }),
            Node::Not(k) => self.dnf(k, !negate, atoms, masks, uses),
            Node::And(s, e) | Node::Or(s, e) => {
                let kids = self.kids.get(s as usize..e as usize)?;
                // Under a negation, `and` is an `or` of the negated kids and vice versa.
                let conjunction = matches!(node, Node::And(..)) != negate;
                if conjunction {
                    let mut acc = vec![Term::TRUE];
                    for &k in kids {
                        let form = self.dnf(k, negate, atoms, masks, uses)?;
                        let mut next = Vec::new();
                        for a in &acc {
                            for b in &form {
                                if let Some(t) = a.and(*b)
                                    && !next.contains(&t)
                                {
                                    next.push(t);
                                }
                            }
                        }
                        if next.len() > MAX_TERMS {
                            return None;
                        }
                        acc = next;
                    }
                    Some(acc)
                } else {
                    let mut acc: Vec<Term> = Vec::new();
                    for &k in kids {
                        for t in self.dnf(k, negate, atoms, masks, uses)? {
                            if !acc.contains(&t) {
                                acc.push(t);
                            }
                        }
                        if acc.len() > MAX_TERMS {
                            return None;
                        }
                    }
                    Some(acc)
                }
            }
            leaf => {
                let (atom, holds) = self.atom(leaf, masks)?;
                let i = match atoms.iter().position(|a| *a == atom) {
                    Some(i) => i,
                    None => {
                        atoms.push(atom);
                        atoms.len() - 1
                    }
                };
                if i >= MAX_ATOMS {
                    return None;
                }
                let bit = 1u64 << i;
                *uses |= bit;
                Some(vec![if holds == negate {
                    Term { pos: 0, neg: bit }
                } else {
                    Term { pos: bit, neg: 0 }
                }])
            }
        }
    }
}

impl CompiledSet {
    /// Whether this set decides `action`'s rules with the bitset pass (for tests and
    /// benchmarks: `(deny, allow)`).
    #[doc(hidden)]
    pub fn bitset_rules(&self, action: crate::schema::ActionId) -> (usize, usize) {
        let count = |forms: &[Option<BitRule>]| forms.iter().filter(|r| r.is_some()).count();
        self.plans
            .get(usize::from(action))
            .and_then(|p| p.bits.as_ref())
            .map_or((0, 0), |b| (count(&b.deny), count(&b.allow)))
    }
}

#[cfg(test)]
mod tests {
    use crate::policy_set::{Origin, load};

    /// The shipped sync actions, whose deny rules test the same few attributes, decide
    /// every rule in the bitset pass (so the property tests exercise it).
    #[test]
    fn every_shipped_sync_rule_has_a_normal_form() {
        let set = load(&Origin::Embedded).unwrap().set;
        for action in [
            "sync_incoming_email",
            "sync_outgoing_email",
            "sync_appointments_contacts_tasks",
        ] {
            let id = set.schema().action_id(action).unwrap();
            let (deny, allow) = set.bitset_rules(id);
            assert_eq!(Some(deny + allow), set.rule_count(id), "{action}");
        }
    }
}
