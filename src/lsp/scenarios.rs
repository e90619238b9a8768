//! Scenario files in the editor: the requests of an open `scenarios/*.yaml` buffer decided
//! by the policy set as the editor sees it (the open buffers in place of the files on
//! disk).
//!
//! The YAML is read by the scenario loader ([`crate::scenario::load`]), exactly as
//! `mailgate test` reads it, so a file the editor accepts is a file `test` accepts. What
//! comes out is protocol-free: byte ranges, texts and the loader's diagnostics; `mod.rs`
//! turns them into inlay hints, diagnostics and code actions.

use crate::analysis::{Analyzer, WhyNotOptions};
use crate::ast::Effect;
use crate::compile::CompiledSet;
use crate::diagnostics::Diagnostic;
use crate::eval::{Cause, Request};
use crate::report::DecisionReport;
use crate::scenario::{self, ScenarioError};
use crate::source::{SourceFile, SourceMap, Span};
use std::ops::Range;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the why-not analysis behind the code action may run (the server answers on
/// one thread, so a set outside the analysis's reach must not stall the editor).
const WHY_NOT_DEADLINE: Duration = Duration::from_secs(5);

/// Most requests one code action request analyses (each costs a why-not analysis).
pub(crate) const MAX_WHY_NOT_ACTIONS: usize = 20;

/// Whether `path` is one of the scenario files of the policy folder `root`: a `.yaml` or
/// `.yml` file under `root/scenarios/` (at any depth, not under a folder starting with
/// `.`), the files `mailgate test` reads.
pub(crate) fn is_scenario(root: &Path, path: &Path) -> bool {
    crate::files::walk_reaches(&root.join("scenarios"), path)
        && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml")
}

/// One decided request.
#[derive(Debug)]
pub(crate) struct Decided {
    /// Where the hint goes: the end of the request's first line (the loader's span of a
    /// request is where it starts).
    pub(crate) hint_at: usize,
    /// The request's first line, from the request's start to the end of that line.
    pub(crate) line: Range<usize>,
    /// `allow`, or `deny: REASON`.
    pub(crate) label: String,
    /// The decision as `mailgate eval` prints it (summary, determining rules, reasons).
    pub(crate) tooltip: String,
    /// The request, for the why-not analysis.
    pub(crate) request: Request,
}

/// An open scenario file, decided.
#[derive(Debug)]
pub(crate) struct ScenarioView {
    /// The file alone (diagnostic spans point into it).
    pub(crate) sources: SourceMap,
    /// Errors of the loader, one per request whose `expect` disagrees, or a note that
    /// nothing was decided.
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// Every request, in file order (none when the file has errors).
    pub(crate) requests: Vec<Decided>,
}

/// Loads the scenario `text` (named `name`) against `set` and decides each request.
/// `set` is `None` when the policy set has errors: then nothing is decided, and one
/// warning at the top of the file says why.
pub(crate) fn evaluate(set: Option<&CompiledSet>, name: &str, text: &str) -> ScenarioView {
    let mut sources = SourceMap::new();
    let file = sources.add(SourceFile::new(name, text));
    let mut view = ScenarioView {
        sources,
        diagnostics: Vec::new(),
        requests: Vec::new(),
    };
    let Some(set) = set else {
        view.diagnostics.push(
            Diagnostic::error(
                "the requests are not decided: the policy set has errors (see its files)",
                Span::new(file, 0, 0),
                "",
            )
            .warning(),
        );
        return view;
    };
    let loaded = scenario::load(file, view.sources.get(file), set);
    let scenario = match loaded {
        Ok(s) => s,
        Err(errors) => {
            view.diagnostics = errors.iter().map(ScenarioError::to_diagnostic).collect();
            return view;
        }
    };
    for r in &scenario.requests {
        let decision = set.evaluate(&r.request);
        let report = DecisionReport::new(set, &r.request, &decision);
        let label = match decision.cause {
            Cause::Allowed => "allow".to_owned(),
            Cause::NoRuleAllows => format!(
                "deny: no rule allows {}",
                set.schema().action(r.request.action).name
            ),
            Cause::DeniedByRule => {
                let reasons: Vec<String> = decision
                    .rules
                    .iter()
                    .map(|&i| {
                        let info = set.rule(i);
                        info.reason
                            .clone()
                            .unwrap_or_else(|| format!("rule {}", info.id))
                    })
                    .collect();
                // A hint is one line, whatever a reason holds.
                format!("deny: {}", reasons.join("; ").replace(['\r', '\n'], " "))
            }
        };
        let tooltip = format!(
            "request {}: {} -> {}\n{}",
            r.index,
            r.summary,
            report.decision,
            report.render_text(set, &r.request)
        );
        let line = first_line(text, r.span.range());
        let hint_at = line.start + text[line.clone()].trim_end().len();
        if let Some(expect) = r.expect
            && expect != decision.effect
        {
            let message = format!(
                "request {}: expected {}, but the decision is {label}",
                r.index,
                expect.as_str(),
            );
            view.diagnostics.push(Diagnostic::error(
                message,
                Span::new(file, line.start, line.end),
                "",
            ));
        }
        view.requests.push(Decided {
            hint_at,
            line,
            label,
            tooltip,
            request: r.request.clone(),
        });
    }
    view
}

/// From `range.start` to the end of its line (a `\r` before the `\n` left out).
fn first_line(text: &str, range: Range<usize>) -> Range<usize> {
    let start = range.start.min(text.len());
    let mut end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    if end > start && text.as_bytes().get(end - 1) == Some(&b'\r') {
        end -= 1;
    }
    start..end
}

/// An analyzer for the why-not code action: one per request for code actions, so the
/// requests on the lines asked about share its diagrams and its deadline.
pub(crate) fn analyzer(set: &CompiledSet) -> Analyzer<'_> {
    Analyzer::until(set, Instant::now() + WHY_NOT_DEADLINE)
}

/// The first why-not option of `request` as a YAML comment line (without indentation):
/// `# would be allowed with: ...`. `None` when no change would flip the decision, the set
/// is outside the analysis, or the analysis ran past its deadline.
pub(crate) fn why_not_comment(analyzer: &Analyzer<'_>, request: &Request) -> Option<String> {
    let cf = analyzer
        .counterfactuals(request, &WhyNotOptions::default())
        .ok()?;
    let option = cf.options.first()?;
    let verb = match cf.target {
        Effect::Allow => "allowed",
        Effect::Deny => "denied",
    };
    // A comment is one line, whatever the names in it hold.
    let text = option.describe().replace(['\r', '\n'], " ");
    Some(format!("# would be {verb} with: {text}"))
}
