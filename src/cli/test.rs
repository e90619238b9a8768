//! `mailgate test`: decide every scenario request and compare with its `expect`.

use super::eval::render_decision;
use super::inputs::{load_policies, load_scenarios, scenario_files};
use super::{Exit, Format, PolicyArgs};
use crate::diagnostics::render_all;
use crate::source::SourceMap;
use std::path::PathBuf;

/// Arguments of `test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Scenario files or folders (default: the policy set's `scenarios/`).
    #[arg(value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,
    /// After the summary, print which rules and conditions the requests exercised (as
    /// `mailgate coverage` does).
    #[arg(long)]
    coverage: bool,
    #[command(flatten)]
    policies: PolicyArgs,
}

/// Runs `test`.
pub(crate) fn run(args: &TestArgs) -> Exit {
    let origin = args.policies.origin();
    let Some(set) = load_policies(&origin) else {
        outln!("0 passed, 1 failed");
        return Exit::Failure;
    };
    let mut sources = SourceMap::new();
    let raws = scenario_files(&args.paths, &origin);
    if raws.is_empty() {
        errln!("error: no scenario files found");
        outln!("0 passed, 0 failed");
        return Exit::Failure;
    }
    let scenarios = load_scenarios(raws, &set, &mut sources);
    let (mut passed, mut failed) = (0usize, 0usize);
    for s in &scenarios {
        let name = &sources.get(s.file).name;
        match &s.result {
            Ok(scenario) => {
                let mut file_failed = 0;
                let mut checked = 0;
                for r in &scenario.requests {
                    let Some(expect) = r.expect else { continue };
                    checked += 1;
                    let decision = set.evaluate(&r.request);
                    if decision.effect == expect {
                        passed += 1;
                    } else {
                        failed += 1;
                        file_failed += 1;
                        out!(
                            "FAIL {}",
                            render_decision(&set, &sources, r, Format::Text, true, None)
                        );
                    }
                }
                if file_failed == 0 {
                    outln!("ok   {name} ({checked} checked)");
                } else {
                    outln!("FAIL {name} ({file_failed} of {checked} failed)");
                }
            }
            Err(diags) => {
                failed += 1;
                err!("{}", render_all(diags, &sources));
                let n = diags.len();
                outln!(
                    "FAIL {name} (invalid scenario: {n} error{})",
                    if n == 1 { "" } else { "s" }
                );
            }
        }
    }
    outln!("{passed} passed, {failed} failed");
    if args.coverage {
        // Invalid files were reported above.
        let (coverage, _) = super::coverage::count(&set, &scenarios, &sources, false);
        outln!();
        out!("{}", coverage.render_text(&set));
    }
    if failed == 0 { Exit::Ok } else { Exit::Failure }
}
