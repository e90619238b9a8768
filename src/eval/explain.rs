//! Explanations: for every rule of a request's action, whether it matched and why, with
//! the actual values the conditions read.
//!
//! An explanation evaluates without short-circuiting, so an administrator sees every
//! condition that failed, not only the first. Under three-valued logic this gives the
//! same result as the fast path (a test checks that they agree).

use super::{Request, Tri, not};
use crate::ast::Effect;
use crate::compile::{CompiledSet, Node, Opnd};

/// One line of a rule's trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Nesting level (0 = the rule's condition).
    pub depth: usize,
    /// The condition as written, or `all of` / `any of` / `not` / a `let` name.
    pub text: String,
    /// Its value.
    pub result: Tri,
    /// The request values it read, as `path = value`.
    pub values: Vec<String>,
}

/// How one rule fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTrace {
    /// The rule.
    pub rule: u32,
    /// Its condition's value (`True` for a rule without one).
    pub result: Tri,
    /// The condition, step by step.
    pub steps: Vec<Step>,
}

/// How every rule of an action fared for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Deny rules first, then allow rules, each in load order.
    pub rules: Vec<RuleTrace>,
}

impl CompiledSet {
    /// Explains a request: every rule of its action, matched or not, with its conditions.
    /// A request built by another set gets an empty explanation (its decision is a deny).
    pub fn explain(&self, request: &Request) -> Explanation {
        let mut rules = Vec::new();
        // A request of another set is not decided, so there is nothing to explain.
        if request.set != self.id {
            return Explanation { rules };
        }
        let Some(plan) = self.plans.get(request.action as usize) else {
            return Explanation { rules };
        };
        for list in [&plan.deny, &plan.allow] {
            for r in &list.rules {
                let mut steps = Vec::new();
                let result = match r.root {
                    None => Tri::True,
                    Some(n) => self.trace(n, request, 0, &mut steps),
                };
                rules.push(RuleTrace {
                    rule: r.rule,
                    result,
                    steps,
                });
            }
        }
        Explanation { rules }
    }

    fn trace(&self, n: u32, r: &Request, depth: usize, steps: &mut Vec<Step>) -> Tri {
        let meta = &self.meta[n as usize];
        let node = self.nodes[n as usize];
        let label = |default: &str| meta.let_name.clone().unwrap_or_else(|| default.to_owned());
        match node {
            Node::And(s, e) | Node::Or(s, e) => {
                let is_and = matches!(node, Node::And(..));
                // A rule's top-level `and` is shown as its list of terms.
                let (child_depth, at) = if depth == 0 && is_and && meta.let_name.is_none() {
                    (0, None)
                } else {
                    steps.push(Step {
                        depth,
                        text: label(if is_and { "all of" } else { "any of" }),
                        result: Tri::False,
                        values: Vec::new(),
                    });
                    (depth + 1, Some(steps.len() - 1))
                };
                let mut err = None;
                let mut decided = None;
                for &k in &self.kids[s as usize..e as usize] {
                    match self.trace(k, r, child_depth, steps) {
                        Tri::False if is_and => decided = Some(Tri::False),
                        Tri::True if !is_and => decided = Some(Tri::True),
                        Tri::Error(v) => {
                            err.get_or_insert(v);
                        }
                        _ => {}
                    }
                }
                let result = decided.unwrap_or_else(|| {
                    err.map_or(if is_and { Tri::True } else { Tri::False }, Tri::Error)
                });
                if let Some(at) = at {
                    steps[at].result = result;
                }
                result
            }
            Node::Not(k) => {
                let at = steps.len();
                steps.push(Step {
                    depth,
                    text: label("not"),
                    result: Tri::False,
                    values: Vec::new(),
                });
                let result = not(self.trace(k, r, depth + 1, steps));
                steps[at].result = result;
                result
            }
            leaf => {
                let result = self.leaf(leaf, &r.values);
                let mut values = Vec::new();
                for o in operands(leaf) {
                    if let Opnd::Value(s) = o {
                        let v = format!(
                            "{} = {}",
                            self.value_path(r.action, s),
                            self.display_value(r, s)
                        );
                        if !values.contains(&v) {
                            values.push(v);
                        }
                    }
                }
                let source = self
                    .sources
                    .slice(meta.span)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                // A `let` that is a single test shows its name and what it stands for.
                let text = match &meta.let_name {
                    Some(name) => format!("{name} ({source})"),
                    None => source,
                };
                steps.push(Step {
                    depth,
                    text,
                    result,
                    values,
                });
                result
            }
        }
    }

    /// For a default deny: the `allow` rule that came closest (fewest unmet top-level
    /// conditions, first in load order on a tie) and those unmet conditions, each with
    /// the values it read. `None` if the action has no `allow` rule.
    pub fn closest_allow(&self, e: &Explanation) -> Option<(u32, Vec<String>)> {
        e.rules
            .iter()
            .filter(|t| self.rule(t.rule).effect == Effect::Allow && t.result != Tri::True)
            .map(|t| {
                let unmet: Vec<String> = t
                    .steps
                    .iter()
                    .filter(|s| s.depth == 0 && s.result != Tri::True)
                    .map(|s| {
                        if s.values.is_empty() {
                            s.text.clone()
                        } else {
                            format!("{} [{}]", s.text, s.values.join(", "))
                        }
                    })
                    .collect();
                (t.rule, unmet)
            })
            .min_by_key(|(_, unmet)| unmet.len())
    }

    /// Renders an explanation as indented text.
    pub fn render_explanation(&self, e: &Explanation) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for t in &e.rules {
            let info = self.rule(t.rule);
            let status = match (t.result, info.effect) {
                (Tri::True, _) => "matched",
                (Tri::False, _) => "not matched",
                (Tri::Error(_), Effect::Allow) => "error, counts as not matched",
                (Tri::Error(_), Effect::Deny) => "error, counts as matched",
            };
            let _ = writeln!(
                out,
                "  {} rule {} ({}:{}): {status}",
                info.effect.as_str(),
                info.id,
                info.file,
                info.line
            );
            if t.steps.is_empty() {
                let _ = writeln!(out, "      (no condition: always applies)");
            }
            for s in &t.steps {
                let mark = match s.result {
                    Tri::True => "true ",
                    Tri::False => "false",
                    Tri::Error(_) => "error",
                };
                let indent = "  ".repeat(s.depth);
                let _ = write!(out, "      {mark} {indent}{}", s.text);
                if !s.values.is_empty() {
                    let _ = write!(out, "    [{}]", s.values.join(", "));
                }
                out.push('\n');
            }
        }
        out
    }
}

fn operands(n: Node) -> Vec<Opnd> {
    match n {
        Node::Bool(a) | Node::InList(a, ..) => vec![a],
        Node::Cmp(_, a, b) | Node::SetAny(a, b) | Node::SetAll(a, b) => vec![a, b],
        Node::Member { set, elem } => vec![set, elem],
        Node::EnumIs { value_at, .. }
        | Node::HasMember { value_at, .. }
        | Node::InMask { value_at, .. } => {
            vec![Opnd::Value(value_at)]
        }
        Node::Const(_) | Node::And(..) | Node::Or(..) | Node::Not(_) => Vec::new(),
    }
}
