//! `mailgate diff OLD NEW`: how two versions of a policy set decide differently.

use super::inputs::{load_policy_set, load_scenarios, scenario_files};
use super::{Exit, Format};
use crate::analysis::{self, ActionDiff, DiffOptions, FlipClass, SideDecision};
use crate::diagnostics::render_all;
use crate::policy_set::{self, Origin};
use crate::source::SourceMap;
use std::path::PathBuf;

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The old policy folder (checked against the new folder's schema).
    #[arg(value_name = "OLD")]
    old: PathBuf,
    /// The new policy folder.
    #[arg(value_name = "NEW")]
    new: PathBuf,
    /// Also decide the requests of these scenario files (or folders) with both sets and
    /// list those whose decision changed.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    scenarios: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit with 1 when any action changed (like `git diff --exit-code`).
    #[arg(long)]
    exit_code: bool,
}

/// The last JSON line.
#[derive(Debug, serde::Serialize)]
struct Summary {
    summary: &'static str,
    actions_changed: usize,
}

/// A scenario request whose decision changed.
#[derive(Debug, serde::Serialize)]
struct ScenarioChange {
    file: String,
    line: usize,
    request: usize,
    summary: String,
    old: SideDecision,
    new: SideDecision,
}

fn class_text(direction: &str, i: usize, c: &FlipClass) -> String {
    let mut s = format!("  {direction} [{}]\n", i + 1);
    for line in c.text_lines() {
        s.push_str(&format!("    {line}\n"));
    }
    s
}

fn action_text(d: &ActionDiff) -> String {
    let mut s = format!("{}: {}", d.action, d.verdict.as_str());
    let count = |n: usize, more: bool| format!("{n}{}", if more { "+" } else { "" });
    if !d.gained.is_empty() || !d.lost.is_empty() {
        s.push_str(&format!(
            " ({} gained, {} lost)",
            count(d.gained.len(), d.gained_truncated),
            count(d.lost.len(), d.lost_truncated)
        ));
    }
    s.push('\n');
    for (i, c) in d.gained.iter().enumerate() {
        s.push_str(&class_text("gained (deny → allow)", i, c));
    }
    if d.gained_truncated {
        s.push_str("  gained: more classes not shown\n");
    }
    for (i, c) in d.lost.iter().enumerate() {
        s.push_str(&class_text("lost (allow → deny)", i, c));
    }
    if d.lost_truncated {
        s.push_str("  lost: more classes not shown\n");
    }
    s
}

/// The scenario requests whose decision changed, and how many requests there were;
/// `None` (after printing why) when a file is invalid.
fn scenario_changes(
    args: &DiffArgs,
    old: &crate::compile::CompiledSet,
    new: &crate::compile::CompiledSet,
) -> Option<(Vec<ScenarioChange>, usize)> {
    let raws = scenario_files(&args.scenarios, &Origin::Dir(args.new.clone()));
    if raws.is_empty() {
        errln!("error: no scenario files found");
        return None;
    }
    let mut new_sources = SourceMap::new();
    let mut old_sources = SourceMap::new();
    let new_loaded = load_scenarios(raws.clone(), new, &mut new_sources);
    let old_loaded = load_scenarios(raws, old, &mut old_sources);
    let mut changes = Vec::new();
    let mut total = 0;
    for (n, o) in new_loaded.iter().zip(&old_loaded) {
        let (Ok(ns), Ok(os)) = (&n.result, &o.result) else {
            if let Err(diags) = &n.result {
                err!("{}", render_all(diags, &new_sources));
            }
            errln!(
                "error: {} is not a valid scenario; nothing was compared",
                new_sources.get(n.file).name
            );
            return None;
        };
        for (nr, or) in ns.requests.iter().zip(&os.requests) {
            total += 1;
            if let Some((od, nd)) = analysis::replay(old, new, &or.request, &nr.request) {
                changes.push(ScenarioChange {
                    file: new_sources.get(n.file).name.clone(),
                    line: new_sources.location(nr.span).line,
                    request: nr.index,
                    summary: nr.summary.clone(),
                    old: od,
                    new: nd,
                });
            }
        }
    }
    Some((changes, total))
}

/// Runs `diff`.
pub(crate) fn run(args: &DiffArgs) -> Exit {
    let (old_origin, new_origin) = (Origin::Dir(args.old.clone()), Origin::Dir(args.new.clone()));
    let Some(new) = load_policy_set(&new_origin, "nothing was compared") else {
        return Exit::Failure;
    };
    let old = match policy_set::load_with_schema(&old_origin, &new_origin) {
        Ok(loaded) => {
            err!("{}", render_all(&loaded.warnings, loaded.set.sources()));
            loaded
        }
        Err(failure) => {
            err!("{}", render_all(&failure.diagnostics, &failure.sources));
            let n = failure.diagnostics.iter().filter(|d| d.is_error()).count();
            errln!(
                "error: the old policy set has {n} error{} against the new set's schema; nothing was compared",
                if n == 1 { "" } else { "s" }
            );
            return Exit::Failure;
        }
    };
    let diffs = match analysis::diff(&old.set, &new.set, &DiffOptions::default()) {
        Ok(d) => d,
        Err(e) => {
            errln!("error: {e}");
            return Exit::Failure;
        }
    };
    let scenarios = if args.scenarios.is_empty() {
        None
    } else {
        match scenario_changes(args, &old.set, &new.set) {
            Some(s) => Some(s),
            None => return Exit::Failure,
        }
    };
    let changed = diffs
        .iter()
        .filter(|d| d.verdict != analysis::Verdict::Equivalent)
        .count();
    let summary = if changed == 0 {
        "equivalent"
    } else {
        "changed"
    };
    match args.format {
        Format::Text => {
            for d in &diffs {
                out!("{}", action_text(d));
            }
            if let Some((changes, total)) = &scenarios {
                outln!(
                    "scenarios: {} of {total} requests change decision",
                    changes.len()
                );
                for c in changes {
                    outln!(
                        "  {}:{} request {} ({}): {} → {}",
                        c.file,
                        c.line,
                        c.request,
                        c.summary,
                        c.old.describe(),
                        c.new.describe()
                    );
                }
            }
            outln!(
                "summary: {summary} ({changed} of {} actions changed)",
                diffs.len()
            );
        }
        Format::Json => {
            for d in &diffs {
                outln!("{}", serde_json::to_string(d).unwrap_or_default());
            }
            if let Some((changes, _)) = &scenarios {
                let v = serde_json::json!({ "scenario_changes": changes });
                outln!("{v}");
            }
            let s = Summary {
                summary,
                actions_changed: changed,
            };
            outln!("{}", serde_json::to_string(&s).unwrap_or_default());
        }
    }
    if args.exit_code && changed > 0 {
        Exit::Failure
    } else {
        Exit::Ok
    }
}
