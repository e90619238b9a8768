//! `mailgate check`: parse and validate; print every diagnostic or a one-line summary.
//!
//! With `--format json`, every diagnostic (errors and warnings) is one JSON object per line
//! on stdout, for editors and CI annotations, followed by a summary object.

use super::inputs::load_policy_set_limited;
use super::{Exit, Format, PolicyArgs};
use crate::diagnostics::{Diagnostic, Label, Severity};
use crate::policy_set;
use crate::source::SourceMap;
use serde::Serialize;

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Output format: text diagnostics on stderr, or JSON Lines on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Print at most N errors, then `… and M more errors` (JSON output keeps them all).
    #[arg(long, value_name = "N", default_value_t = crate::diagnostics::DEFAULT_MAX_ERRORS)]
    max_errors: usize,
    #[command(flatten)]
    policies: PolicyArgs,
}

/// Runs `check`.
pub(crate) fn run(args: &CheckArgs) -> Exit {
    if args.format == Format::Json {
        return run_json(args);
    }
    let Some(loaded) = load_policy_set_limited(
        &args.policies.origin(),
        "it cannot be used",
        args.max_errors,
    ) else {
        return Exit::Failure;
    };
    let set = &loaded.set;
    let invariants = loaded.validated.invariants().len();
    let invariants = match invariants {
        0 => String::new(),
        1 => ", 1 invariant".to_owned(),
        n => format!(", {n} invariants"),
    };
    outln!(
        "ok: {} policy files, {} rules, {} actions{invariants}",
        loaded.policy_files,
        set.rules().len(),
        set.schema().actions.len()
    );
    Exit::Ok
}

/// A position in a file, 1-based.
#[derive(Serialize)]
struct JsonSpan<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    label: &'a str,
}

/// One diagnostic as JSON.
#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    severity: &'static str,
    message: &'a str,
    /// The main place (absent for whole-file problems such as an unreadable file).
    #[serde(skip_serializing_if = "Option::is_none")]
    span: Option<JsonSpan<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related: Vec<JsonSpan<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<&'a str>,
}

fn json_span<'a>(sources: &'a SourceMap, label: &'a Label) -> JsonSpan<'a> {
    let file = sources.get(label.span.file);
    let (line, column) = file.line_col(label.span.start as usize);
    let (end_line, end_column) = file.line_col(label.span.end as usize);
    JsonSpan {
        file: &file.name,
        line,
        column,
        end_line,
        end_column,
        label: &label.text,
    }
}

fn print_json(diags: &[Diagnostic], sources: &SourceMap) {
    for d in diags {
        let j = JsonDiagnostic {
            severity: match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            message: &d.message,
            span: d.primary.as_ref().map(|l| json_span(sources, l)),
            file: d.file.as_deref(),
            related: d.secondary.iter().map(|l| json_span(sources, l)).collect(),
            help: d.help.as_deref(),
        };
        if let Ok(line) = serde_json::to_string(&j) {
            outln!("{line}");
        }
    }
}

fn run_json(args: &CheckArgs) -> Exit {
    let (ok, summary) = match policy_set::load(&args.policies.origin()) {
        Ok(loaded) => {
            print_json(&loaded.warnings, loaded.set.sources());
            let set = &loaded.set;
            (
                true,
                serde_json::json!({
                    "summary": "ok",
                    "policy_files": loaded.policy_files,
                    "rules": set.rules().len(),
                    "invariants": loaded.validated.invariants().len(),
                    "actions": set.schema().actions.len(),
                    "errors": 0,
                    "warnings": loaded.warnings.len(),
                }),
            )
        }
        Err(failure) => {
            print_json(&failure.diagnostics, &failure.sources);
            let errors = failure.diagnostics.iter().filter(|d| d.is_error()).count();
            (
                false,
                serde_json::json!({
                    "summary": "failed",
                    "errors": errors,
                    "warnings": failure.diagnostics.len() - errors,
                }),
            )
        }
    };
    outln!("{summary}");
    if ok { Exit::Ok } else { Exit::Failure }
}
