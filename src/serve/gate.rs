//! The reload gate: what a candidate policy set must pass before it decides.
//!
//! A candidate goes live only when it loads cleanly, its revision is the same in two reads
//! one debounce apart (checked by the reload, which owns the timing), and every invariant
//! of the set holds (`verify`). With [`Gate::Scenarios`], every scenario of the folder must
//! also pass its `expect`. Anything else is a [`Refusal`]: the last good set keeps deciding.

use super::snapshot::Snapshot;
use crate::analysis::{Analyzer, InvariantOutcome};
use crate::policy_set::{self, Origin};
use crate::source::SourceMap;

/// Which checks a candidate set must pass besides loading, stability and its invariants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gate {
    /// Load, stability and every invariant (the default).
    #[default]
    Invariants,
    /// As [`Gate::Invariants`], and every scenario under the folder's `scenarios/` passes.
    Scenarios,
}

/// Why a candidate set was refused (the `reason` of `/v1/status`'s `last_reload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// It did not load (syntax, validation, a missing or unreadable file, a scenario file
    /// that does not load under the scenario gate).
    LoadFailed,
    /// Its files changed between two reads one debounce apart.
    Unstable,
    /// An invariant does not hold (or, under the scenario gate, a scenario fails).
    InvariantFailed,
}

impl Reason {
    /// `load_failed`, `unstable` or `invariant_failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::LoadFailed => "load_failed",
            Reason::Unstable => "unstable",
            Reason::InvariantFailed => "invariant_failed",
        }
    }
}

/// A refused candidate: why, and the diagnostics, rendered (one per problem).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub reason: Reason,
    /// What failed: rendered load diagnostics, or one line per failing invariant (its
    /// name, its counterexample and how the set decides it) or scenario request.
    pub diagnostics: Vec<String>,
}

impl Refusal {
    /// One line for the terminal: the reason and the first diagnostic's first line.
    pub fn summary(&self) -> String {
        let first = self
            .diagnostics
            .first()
            .and_then(|d| d.lines().next())
            .unwrap_or("");
        let more = self.diagnostics.len().saturating_sub(1);
        let more = if more == 0 {
            String::new()
        } else {
            format!(" (and {more} more)")
        };
        format!("{}: {first}{more}", self.reason.as_str())
    }
}

/// One line about an invariant that does not hold: its name and place, the
/// counterexample (a batch line) and how the set decides it.
fn invariant_line(o: &InvariantOutcome) -> String {
    let mut s = format!(
        "invariant {} does not hold ({}:{})",
        o.invariant, o.file, o.line
    );
    if let Some(c) = &o.counterexample {
        s.push_str(&format!(": counterexample {c}"));
    }
    if let Some(d) = &o.decision {
        s.push_str(&format!(", decided {d}"));
    }
    s
}

/// Checks a loaded candidate: every invariant holds, and under [`Gate::Scenarios`] every
/// scenario of `origin` passes. Fails closed: an analysis error refuses the set.
pub(crate) fn check(origin: &Origin, snap: &Snapshot, gate: Gate) -> Result<(), Refusal> {
    let outcomes = Analyzer::new(&snap.set).verify().map_err(|e| Refusal {
        reason: Reason::InvariantFailed,
        diagnostics: vec![format!("the invariants could not be verified: {e}")],
    })?;
    let mut failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.holds)
        .map(invariant_line)
        .collect();
    if gate == Gate::Scenarios {
        let (load_errors, scenario_failures) = scenarios(origin, snap);
        if !load_errors.is_empty() {
            return Err(Refusal {
                reason: Reason::LoadFailed,
                diagnostics: load_errors,
            });
        }
        failed.extend(scenario_failures);
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Refusal {
            reason: Reason::InvariantFailed,
            diagnostics: failed,
        })
    }
}

/// Decides every scenario request of `origin` with `snap`: the rendered load errors of
/// scenario files that do not load, and one line per request whose `expect` fails.
fn scenarios(origin: &Origin, snap: &Snapshot) -> (Vec<String>, Vec<String>) {
    let set = &snap.set;
    let mut sources = SourceMap::new();
    let (mut errors, mut failures) = (Vec::new(), Vec::new());
    for raw in policy_set::scenario_files(origin) {
        let id = match policy_set::decode(raw, &mut sources) {
            Ok(id) => id,
            Err(d) => {
                errors.push(d.render(&sources));
                continue;
            }
        };
        match crate::scenario::load(id, sources.get(id), set) {
            Ok(scenario) => {
                for r in &scenario.requests {
                    let Some(expect) = r.expect else { continue };
                    let decision = set.evaluate(&r.request);
                    if decision.effect != expect {
                        let loc = sources.location(r.span);
                        failures.push(format!(
                            "scenario {}:{}: request {}: {} -> {} (expected {})",
                            loc.file,
                            loc.line,
                            r.index,
                            r.summary,
                            decision.effect.as_str(),
                            expect.as_str()
                        ));
                    }
                }
            }
            Err(errs) => errors.extend(
                errs.iter()
                    .map(|e| e.to_diagnostic().render(&sources))
                    .collect::<Vec<_>>(),
            ),
        }
    }
    (errors, failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_set_passes_both_gates() {
        let snap = super::super::snapshot::load(&Origin::Embedded).unwrap();
        assert_eq!(check(&Origin::Embedded, &snap, Gate::Invariants), Ok(()));
        assert_eq!(check(&Origin::Embedded, &snap, Gate::Scenarios), Ok(()));
    }

    #[test]
    fn a_summary_is_one_line() {
        let r = Refusal {
            reason: Reason::LoadFailed,
            diagnostics: vec!["error: x\n  --> a:1:1\n".to_owned(), "b".to_owned()],
        };
        assert_eq!(r.summary(), "load_failed: error: x (and 1 more)");
    }
}
