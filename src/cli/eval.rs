//! `mailgate eval`: decide every request of each scenario, or a JSON Lines batch.

use super::inputs::{load_policies, load_scenarios, scenario_files};
use super::{Exit, Format, PolicyArgs, WhyNot};
use crate::analysis::{Analyzer, WhyNotOptions, WhyNotResult};
use crate::compile::CompiledSet;
use crate::diagnostics::render_all;
use crate::report::DecisionReport;
use crate::scenario::ScenarioRequest;
use crate::source::SourceMap;
use serde::Serialize;
use std::io::Write as _;
use std::path::PathBuf;

/// Arguments of `eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Scenario files or folders.
    #[arg(
        value_name = "FILE",
        required_unless_present = "batch",
        conflicts_with = "batch"
    )]
    files: Vec<PathBuf>,
    /// Show, for every rule of the action, whether it matched and the values it read.
    #[arg(long)]
    explain: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Decide JSON Lines requests from FILE (`-` for standard input), one decision per line.
    #[arg(long, value_name = "FILE")]
    batch: Option<PathBuf>,
    /// Add to each decision the smallest sets of changes that would flip it.
    #[arg(long)]
    why_not: bool,
    /// Most options `--why-not` lists per decision.
    #[arg(long, value_name = "N", default_value_t = 5)]
    max_options: usize,
    /// Never propose changing this attribute (`user.privileges`); repeatable.
    #[arg(long, value_name = "PATH")]
    hold: Vec<String>,
    /// Worker threads for `--batch` (default: all cores).
    #[arg(long, value_name = "N", requires = "batch")]
    threads: Option<usize>,
    #[command(flatten)]
    policies: PolicyArgs,
}

/// JSON form of one decision.
#[derive(Serialize)]
struct JsonDecision<'a> {
    file: &'a str,
    request: usize,
    line: usize,
    action: &'a str,
    summary: &'a str,
    #[serde(flatten)]
    report: &'a DecisionReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<Vec<crate::report::RuleTraceJson>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    counterfactuals: Option<WhyNotResult>,
}

/// Renders one decided scenario request in the chosen format.
pub(crate) fn render_decision(
    set: &CompiledSet,
    sources: &SourceMap,
    r: &ScenarioRequest,
    format: Format,
    explain: bool,
    why_not: Option<&WhyNot<'_>>,
) -> String {
    let decision = set.evaluate(&r.request);
    let cf = why_not
        .filter(|w| {
            w.full || (format == Format::Text && decision.effect == crate::ast::Effect::Deny)
        })
        .map(|w| w.analyzer.counterfactuals(&r.request, &w.options));
    let full = why_not.is_some_and(|w| w.full);
    let report = DecisionReport::new(set, &r.request, &decision);
    let loc = sources.location(r.span);
    match format {
        Format::Json => {
            let explanation =
                explain.then(|| crate::report::explanation_json(set, &set.explain(&r.request)));
            let j = JsonDecision {
                file: loc.file,
                request: r.index,
                line: loc.line,
                action: &set.schema().action(r.request.action).name,
                summary: &r.summary,
                report: &report,
                expected: r.expect.map(crate::ast::Effect::as_str),
                explanation,
                counterfactuals: cf.clone().map(WhyNotResult::from),
            };
            let mut s = serde_json::to_string(&j)
                .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()));
            s.push('\n');
            s
        }
        Format::Text => {
            let mut out = format!(
                "{}:{}: request {}: {} -> {}",
                loc.file, loc.line, r.index, r.summary, report.decision
            );
            if let Some(expect) = r.expect
                && expect != decision.effect
            {
                out.push_str(&format!(" (expected {})", expect.as_str()));
            }
            out.push('\n');
            out.push_str(&report.render_text(set, &r.request));
            if decision.cause == crate::eval::Cause::NoRuleAllows
                && let Some((rule, unmet)) = set.closest_allow(&set.explain(&r.request))
            {
                let info = set.rule(rule);
                out.push_str(&format!(
                    "  nearest rule: {} ({}:{}); unmet: {}{}\n",
                    info.id,
                    info.file,
                    info.line,
                    unmet.join("; "),
                    if explain {
                        ""
                    } else {
                        " (--explain shows every condition)"
                    }
                ));
            }
            match (&cf, full) {
                (Some(Ok(c)), true) => {
                    for line in c.text_lines() {
                        let indent = if line.starts_with('-') { "    " } else { "  " };
                        out.push_str(&format!("{indent}{line}\n"));
                    }
                }
                (Some(Ok(c)), false) => out.push_str(&format!("  {}\n", c.first_line())),
                (Some(Err(e)), true) => out.push_str(&format!("  why-not: {e}\n")),
                // The one-line hint is left out for requests outside the analysis.
                (Some(Err(_)), false) | (None, _) => {}
            }
            if explain {
                out.push_str(&set.render_explanation(&set.explain(&r.request)));
            }
            out
        }
    }
}

/// Runs `eval`.
pub(crate) fn run(args: &EvalArgs) -> Exit {
    // clap's `requires` does not fire here (the scenario files are a positional that
    // conflicts with `--batch`), so the check stays in code; `batch::threads_without_batch_is_a_usage_error` covers it.
    if args.threads.is_some() && args.batch.is_none() {
        errln!(
            "error: `--threads` only applies to `--batch`\n\nFor more information, try '--help'."
        );
        return Exit::Usage;
    }
    let origin = args.policies.origin();
    let Some(set) = load_policies(&origin) else {
        return Exit::Failure;
    };
    let analyzer = Analyzer::new(&set);
    if let Err(e) = analyzer.check_paths(&args.hold) {
        errln!("error: {e}");
        return Exit::Failure;
    }
    let why_not = WhyNot {
        analyzer: &analyzer,
        options: WhyNotOptions {
            max_options: args.max_options,
            hold: args.hold.clone(),
        },
        full: args.why_not || args.explain,
    };
    if let Some(batch) = &args.batch {
        let w = why_not.full.then_some(&why_not);
        return super::batch::run(&set, batch, args.threads, w);
    }
    let mut sources = SourceMap::new();
    let scenarios = load_scenarios(scenario_files(&args.files, &origin), &set, &mut sources);
    let mut invalid = false;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for s in &scenarios {
        match &s.result {
            Ok(scenario) => {
                for r in &scenario.requests {
                    let _ = out.write_all(
                        render_decision(
                            &set,
                            &sources,
                            r,
                            args.format,
                            args.explain,
                            Some(&why_not),
                        )
                        .as_bytes(),
                    );
                }
            }
            Err(diags) => {
                invalid = true;
                let _ = out.flush();
                err!("{}", render_all(diags, &sources));
                errln!(
                    "error: {} is not a valid scenario; its requests were not decided",
                    sources.get(s.file).name
                );
            }
        }
    }
    let _ = out.flush();
    if invalid { Exit::Failure } else { Exit::Ok }
}
