//! Decisions as people and programs read them: one text rendering and one JSON shape,
//! shared by `eval`, `test` and `eval --batch`.

use crate::ast::Effect;
use crate::compile::CompiledSet;
use crate::eval::{Decision, EvalError, Explanation, Request, Tri};
use serde::Serialize;

/// A decision with every rule id resolved to its id, location and reason.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DecisionReport {
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// `allowed`, `denied_by_rule` (explicit deny) or `no_rule_allows` (default deny).
    pub cause: &'static str,
    /// Ids of the determining rules.
    pub rules: Vec<String>,
    /// `file:line` of each determining rule.
    pub locations: Vec<String>,
    /// Reasons of the determining rules (those that have one).
    pub reasons: Vec<String>,
    /// Rules that could not be evaluated, and why.
    pub errors: Vec<String>,
    /// The reason of each determining rule, in the order of `rules`.
    #[serde(skip)]
    rule_reasons: Vec<Option<String>>,
}

impl DecisionReport {
    /// Resolves a decision for `request`.
    pub fn new(set: &CompiledSet, request: &Request, d: &Decision) -> Self {
        let mut rules = Vec::new();
        let mut locations = Vec::new();
        let mut reasons = Vec::new();
        let mut rule_reasons = Vec::new();
        for &r in &d.rules {
            let info = set.rule(r);
            rules.push(info.id.clone());
            locations.push(format!("{}:{}", info.file, info.line));
            if let Some(reason) = &info.reason {
                reasons.push(reason.clone());
            }
            rule_reasons.push(info.reason.clone());
        }
        let errors = d
            .errors
            .iter()
            .map(|e| {
                let (rule, value) = match *e {
                    EvalError::ForeignRequest => {
                        return "the request was built by another policy set; it is not decided"
                            .to_owned();
                    }
                    EvalError::Misfit => {
                        return "the request does not fit its action in the schema".to_owned();
                    }
                    EvalError::Rule { rule, value } => (rule, value),
                };
                let info = set.rule(rule);
                let what = match value {
                    None => "a value has the wrong type".to_owned(),
                    Some(v) => format!("`{}` has no value", set.value_path(request.action, v)),
                };
                let counts = match info.effect {
                    Effect::Allow => "does not count as matched",
                    Effect::Deny => "counts as matched",
                };
                format!(
                    "rule `{}` could not be evaluated ({what}); it {counts}",
                    info.id
                )
            })
            .collect();
        DecisionReport {
            decision: d.effect.as_str(),
            cause: d.cause.as_str(),
            rules,
            locations,
            reasons,
            errors,
            rule_reasons,
        }
    }

    /// Indented lines saying why: which rules decided, their reasons, any errors.
    pub fn render_text(&self, set: &CompiledSet, request: &Request) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        match self.cause {
            "no_rule_allows" => {
                let action = &set.schema().action(request.action).name;
                let _ = writeln!(out, "  denied by default: no rule allows {action}");
            }
            cause => {
                let verb = if cause == "allowed" {
                    "allowed by"
                } else {
                    "denied by"
                };
                for (i, id) in self.rules.iter().enumerate() {
                    let _ = write!(out, "  {verb} rule {id} ({})", self.locations[i]);
                    match &self.rule_reasons[i] {
                        Some(reason) => {
                            let _ = writeln!(out, ": {reason}");
                        }
                        None => out.push('\n'),
                    }
                }
            }
        }
        for e in &self.errors {
            let _ = writeln!(out, "  error: {e}");
        }
        out
    }
}

/// One rule's trace in an explanation, as `eval --explain --format json` and
/// `POST /v1/decide?explain=true` print it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RuleTraceJson {
    /// The rule's id.
    pub rule: String,
    /// `allow` or `deny`.
    pub effect: &'static str,
    /// `true`, `false` or `error`: what the rule's condition came to.
    pub result: &'static str,
    /// Each step of the condition, outermost first.
    pub steps: Vec<StepJson>,
}

/// One step of a rule's trace.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StepJson {
    /// Nesting level (0: the rule's condition).
    pub depth: usize,
    /// The condition as written, or `all of` / `any of` / `not` / a `let` name.
    pub text: String,
    /// `true`, `false` or `error`.
    pub result: &'static str,
    /// The request's values the step looked at, as `path = value`.
    pub values: Vec<String>,
}

fn tri(t: Tri) -> &'static str {
    match t {
        Tri::True => "true",
        Tri::False => "false",
        Tri::Error(_) => "error",
    }
}

/// An explanation in its JSON shape (shared by `eval` and `serve`).
pub fn explanation_json(set: &CompiledSet, e: &Explanation) -> Vec<RuleTraceJson> {
    e.rules
        .iter()
        .map(|t| {
            let info = set.rule(t.rule);
            RuleTraceJson {
                rule: info.id.clone(),
                effect: info.effect.as_str(),
                result: tri(t.result),
                steps: t
                    .steps
                    .iter()
                    .map(|s| StepJson {
                        depth: s.depth,
                        text: s.text.clone(),
                        result: tri(s.result),
                        values: s.values.clone(),
                    })
                    .collect(),
            }
        })
        .collect()
}
