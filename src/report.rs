//! Decisions as people and programs read them: one text rendering and one JSON shape,
//! shared by `eval`, `test` and `eval --batch`.

use crate::ast::Effect;
use crate::compile::CompiledSet;
use crate::eval::{Cause, Decision, EvalError, Request};
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
            cause: match d.cause {
                Cause::Allowed => "allowed",
                Cause::DeniedByRule => "denied_by_rule",
                Cause::NoRuleAllows => "no_rule_allows",
            },
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
