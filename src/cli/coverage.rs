//! `mailgate coverage`: which rules and conditions the scenario requests exercise.

use super::inputs::{LoadedScenario, load_policies, load_scenarios, scenario_files};
use super::{Exit, Format, PolicyArgs};
use crate::compile::CompiledSet;
use crate::coverage::{Coverage, SummaryJson};
use crate::diagnostics::render_all;
use crate::source::SourceMap;
use std::path::PathBuf;

/// Arguments of `coverage`.
#[derive(Debug, clap::Args)]
pub struct CoverageArgs {
    /// Scenario files or folders (default: the policy set's `scenarios/`).
    #[arg(value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit 1 when fewer than PERCENT of the conditions were seen both true and false.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
    min: Option<f64>,
    #[command(flatten)]
    policies: PolicyArgs,
}

fn parse_percent(s: &str) -> Result<f64, String> {
    match s.trim_end_matches('%').parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("`{s}` is not a percentage from 0 to 100")),
    }
}

/// Counts every request of the loaded scenarios; prints the diagnostics of invalid files.
/// Returns the coverage and whether every file was valid.
pub(crate) fn count(
    set: &CompiledSet,
    scenarios: &[LoadedScenario],
    sources: &SourceMap,
    report_errors: bool,
) -> (Coverage, bool) {
    let mut coverage = Coverage::new(set);
    let mut valid = true;
    for s in scenarios {
        match &s.result {
            Ok(scenario) => {
                for r in &scenario.requests {
                    coverage.record(set, &r.request);
                }
            }
            Err(diags) => {
                valid = false;
                if report_errors {
                    err!("{}", render_all(diags, sources));
                    errln!(
                        "error: {} is not a valid scenario; its requests were not counted",
                        sources.get(s.file).name
                    );
                }
            }
        }
    }
    (coverage, valid)
}

/// Runs `coverage`.
pub(crate) fn run(args: &CoverageArgs) -> Exit {
    let origin = args.policies.origin();
    let Some(set) = load_policies(&origin) else {
        return Exit::Failure;
    };
    let raws = scenario_files(&args.paths, &origin);
    if raws.is_empty() {
        errln!("error: no scenario files found");
        return Exit::Failure;
    }
    let mut sources = SourceMap::new();
    let scenarios = load_scenarios(raws, &set, &mut sources);
    let (coverage, valid) = count(&set, &scenarios, &sources, true);
    let totals = coverage.totals();
    let meets = args.min.is_none_or(|m| totals.meets(m));
    match args.format {
        Format::Text => {
            out!("{}", coverage.render_text(&set));
            if let Some(min) = args.min
                && !meets
            {
                outln!(
                    "below the minimum of {min}% (--min): {} of {} conditions seen both true and false",
                    totals.conditions_both_ways,
                    totals.conditions
                );
            }
        }
        Format::Json => {
            for r in &coverage.rules {
                let line = serde_json::to_string(&coverage.rule_json(&set, r))
                    .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()));
                outln!("{line}");
            }
            let verdict = if !valid {
                "invalid_input"
            } else if meets {
                "ok"
            } else {
                "below_min"
            };
            let line = serde_json::to_string(&SummaryJson::new(verdict, totals))
                .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()));
            outln!("{line}");
        }
    }
    if valid && meets {
        Exit::Ok
    } else {
        Exit::Failure
    }
}
