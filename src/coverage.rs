//! Coverage: which rules and conditions a set of requests exercises.
//!
//! For every rule: how many requests it matched, for how many it was a determining rule,
//! and for each top-level condition of its `when` (the `and`-ed terms in source order, the
//! ones `--explain` lists at depth 0) how often it was true, false or an error. Every
//! condition of every rule of the request's action is evaluated, as `--explain` does: a
//! condition after a false one still counts. A condition seen both true and false is
//! covered; the percentage is covered conditions over all conditions.
//!
//! Built on the compiled set and the ordinary evaluator, so what is counted is what
//! decides.

use crate::compile::{CompiledSet, Node};
use crate::eval::{Request, Tri};
use serde::Serialize;
use std::fmt::Write as _;

/// How often one top-level condition was true, false or an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionCount {
    /// The condition as written (a `let` by its name).
    pub text: String,
    /// Requests where it held.
    #[serde(rename = "true")]
    pub true_count: usize,
    /// Requests where it did not hold.
    #[serde(rename = "false")]
    pub false_count: usize,
    /// Requests where it could not be evaluated (a value was missing).
    #[serde(rename = "error")]
    pub error_count: usize,
}

impl ConditionCount {
    /// Seen both true and false.
    pub fn both_ways(&self) -> bool {
        self.true_count > 0 && self.false_count > 0
    }
}

/// The counts of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCount {
    /// The rule (an index for [`CompiledSet::get_rule`]).
    pub rule: u32,
    /// Names of the actions it is about, in schema order.
    pub actions: Vec<String>,
    /// Requests where its condition held.
    pub matched: usize,
    /// Requests where it was a determining rule.
    pub determining: usize,
    /// Its top-level conditions, in source order (none for a rule without `when`).
    pub conditions: Vec<ConditionCount>,
}

/// Coverage of a policy set by the requests recorded so far.
#[derive(Debug, Clone)]
pub struct Coverage {
    /// One entry per rule, in load order.
    pub rules: Vec<RuleCount>,
    /// Requests recorded.
    pub requests: usize,
}

/// The totals of a coverage report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Rules in the set.
    pub rules: usize,
    /// Rules matched by at least one request.
    pub rules_matched: usize,
    /// Top-level conditions in the set.
    pub conditions: usize,
    /// Conditions seen both true and false.
    pub conditions_both_ways: usize,
}

impl Totals {
    /// Covered conditions as a percentage, rounded down to one decimal (100 when the set
    /// has no conditions), so `100.0` is shown only when every condition is covered.
    pub fn percent(&self) -> f64 {
        if self.conditions == 0 {
            return 100.0;
        }
        let tenths = self.conditions_both_ways * 1000 / self.conditions;
        // At most 1000: exact in an f64.
        f64::from(u32::try_from(tenths).unwrap_or(1000)) / 10.0
    }

    /// Whether the exact percentage is at least `min`.
    pub fn meets(&self, min: f64) -> bool {
        if self.conditions == 0 {
            return 100.0 >= min;
        }
        // Exact: both counts are far below 2^53.
        #[allow(clippy::cast_precision_loss, reason = "counts are far below 2^53")]
        let (covered, all) = (self.conditions_both_ways as f64, self.conditions as f64);
        covered * 100.0 >= min * all
    }
}

/// The top-level terms of a rule's compiled condition: the children of its `and` (unless
/// that `and` is a `let`), else the condition itself.
pub(crate) fn top_terms(set: &CompiledSet, root: u32) -> Vec<u32> {
    match set.nodes[root as usize] {
        Node::And(s, e) if set.meta[root as usize].let_name.is_none() => {
            set.kids[s as usize..e as usize].to_vec()
        }
        _ => vec![root],
    }
}

/// A condition node as written: a `let` by its name, anything else as its source text
/// with runs of whitespace made one space.
pub(crate) fn term_text(set: &CompiledSet, node: u32) -> String {
    let meta = &set.meta[node as usize];
    match &meta.let_name {
        Some(name) => name.clone(),
        None => set
            .sources
            .slice(meta.span)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    }
}

impl Coverage {
    /// An empty report for every rule of `set`.
    pub fn new(set: &CompiledSet) -> Self {
        let mut rules: Vec<RuleCount> = set
            .rules()
            .iter()
            .enumerate()
            .map(|(i, _)| RuleCount {
                rule: u32::try_from(i).unwrap_or(u32::MAX),
                actions: Vec::new(),
                matched: 0,
                determining: 0,
                conditions: Vec::new(),
            })
            .collect();
        let mut texts_done = vec![false; rules.len()];
        for (a, plan) in set.plans.iter().enumerate() {
            let action = &set.schema.actions[a].name;
            for r in plan.deny.rules.iter().chain(&plan.allow.rules) {
                let Some(entry) = rules.get_mut(r.rule as usize) else {
                    continue;
                };
                entry.actions.push(action.clone());
                // Every action of a rule compiles the same condition: take its terms once.
                if !texts_done[r.rule as usize] {
                    texts_done[r.rule as usize] = true;
                    if let Some(root) = r.root {
                        entry.conditions = top_terms(set, root)
                            .iter()
                            .map(|&t| ConditionCount {
                                text: term_text(set, t),
                                true_count: 0,
                                false_count: 0,
                                error_count: 0,
                            })
                            .collect();
                    }
                }
            }
        }
        Coverage { rules, requests: 0 }
    }

    /// Decides `request` and counts every rule of its action.
    pub fn record(&mut self, set: &CompiledSet, request: &Request) {
        self.requests += 1;
        let decision = set.evaluate(request);
        let Some(plan) = set.plans.get(request.action as usize) else {
            return;
        };
        let values = request.values.as_slice();
        for r in plan.deny.rules.iter().chain(&plan.allow.rules) {
            let Some(entry) = self.rules.get_mut(r.rule as usize) else {
                continue;
            };
            if decision.rules.contains(&r.rule) {
                entry.determining += 1;
            }
            let Some(root) = r.root else {
                entry.matched += 1;
                continue;
            };
            if set.eval(root, values) == Tri::True {
                entry.matched += 1;
            }
            for (count, term) in entry.conditions.iter_mut().zip(top_terms(set, root)) {
                match set.eval(term, values) {
                    Tri::True => count.true_count += 1,
                    Tri::False => count.false_count += 1,
                    Tri::Error(_) => count.error_count += 1,
                }
            }
        }
    }

    /// The totals.
    pub fn totals(&self) -> Totals {
        let conditions = self.rules.iter().map(|r| r.conditions.len()).sum();
        let conditions_both_ways = self
            .rules
            .iter()
            .flat_map(|r| &r.conditions)
            .filter(|c| c.both_ways())
            .count();
        Totals {
            rules: self.rules.len(),
            rules_matched: self.rules.iter().filter(|r| r.matched > 0).count(),
            conditions,
            conditions_both_ways,
        }
    }

    /// The JSON shape of one rule's counts.
    pub fn rule_json<'a>(&'a self, set: &'a CompiledSet, count: &'a RuleCount) -> RuleJson<'a> {
        let info = set.rule(count.rule);
        RuleJson {
            rule: &info.id,
            file: &info.file,
            line: info.line,
            effect: info.effect.as_str(),
            actions: &count.actions,
            matched: count.matched,
            determining: count.determining,
            conditions: &count.conditions,
        }
    }

    /// The text report: the totals, then the rules never matched and the conditions never
    /// seen false or never seen true, then one line with the percentage.
    pub fn render_text(&self, set: &CompiledSet) -> String {
        let t = self.totals();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "coverage of {} request{}: {} of {} rules matched, {} of {} conditions seen both true and false",
            self.requests,
            if self.requests == 1 { "" } else { "s" },
            t.rules_matched,
            t.rules,
            t.conditions_both_ways,
            t.conditions
        );
        let where_ = |r: &RuleCount| {
            let info = set.rule(r.rule);
            format!(
                "{} {} ({}:{})",
                info.effect.as_str(),
                info.id,
                info.file,
                info.line
            )
        };
        let never_matched: Vec<&RuleCount> = self.rules.iter().filter(|r| r.matched == 0).collect();
        if !never_matched.is_empty() {
            let _ = writeln!(out, "rules never matched:");
            for r in never_matched {
                let _ = writeln!(out, "  {}", where_(r));
            }
        }
        for (title, gap) in [
            (
                "conditions never seen false:",
                (|c: &ConditionCount| c.false_count == 0) as fn(&ConditionCount) -> bool,
            ),
            ("conditions never seen true:", |c: &ConditionCount| {
                c.true_count == 0
            }),
        ] {
            let mut lines = Vec::new();
            for r in &self.rules {
                for (i, c) in r.conditions.iter().enumerate() {
                    if gap(c) {
                        lines.push(format!(
                            "  {}: condition {} `{}` (true {}, false {}, error {})",
                            where_(r),
                            i + 1,
                            c.text,
                            c.true_count,
                            c.false_count,
                            c.error_count
                        ));
                    }
                }
            }
            if !lines.is_empty() {
                let _ = writeln!(out, "{title}");
                for l in lines {
                    let _ = writeln!(out, "{l}");
                }
            }
        }
        let _ = writeln!(
            out,
            "coverage: {:.1}% of conditions seen both true and false",
            t.percent()
        );
        out
    }
}

/// One rule's counts as JSON:
/// `{"rule", "file", "line", "effect", "actions", "matched", "determining", "conditions"}`.
#[derive(Debug, Serialize)]
pub struct RuleJson<'a> {
    /// The rule id.
    pub rule: &'a str,
    /// Its file.
    pub file: &'a str,
    /// The line of its id.
    pub line: usize,
    /// `allow` or `deny`.
    pub effect: &'static str,
    /// Its actions.
    pub actions: &'a [String],
    /// Requests where its condition held.
    pub matched: usize,
    /// Requests where it was a determining rule.
    pub determining: usize,
    /// Its top-level conditions with their counts.
    pub conditions: &'a [ConditionCount],
}

/// The closing JSON line:
/// `{"summary", "rules", "rules_matched", "conditions", "conditions_both_ways", "percent"}`.
#[derive(Debug, Serialize)]
pub struct SummaryJson {
    /// `ok`, `below_min` (under `--min`) or `invalid_input` (a scenario file did not load).
    pub summary: &'static str,
    /// Rules in the set.
    pub rules: usize,
    /// Rules matched at least once.
    pub rules_matched: usize,
    /// Top-level conditions.
    pub conditions: usize,
    /// Conditions seen both true and false.
    pub conditions_both_ways: usize,
    /// `conditions_both_ways / conditions × 100`, rounded down to one decimal.
    pub percent: f64,
}

impl SummaryJson {
    /// The summary of `totals` with the given verdict.
    pub fn new(summary: &'static str, t: Totals) -> Self {
        SummaryJson {
            summary,
            rules: t.rules,
            rules_matched: t.rules_matched,
            conditions: t.conditions,
            conditions_both_ways: t.conditions_both_ways,
            percent: t.percent(),
        }
    }
}
