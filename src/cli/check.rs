//! `mailgate check`: parse and validate; print every diagnostic or a one-line summary.
//!
//! With `--format json`, every diagnostic (errors and warnings) is one JSON object per line
//! on stdout, for editors and CI annotations, followed by a summary object.

use super::inputs::load_policy_set_limited;
use super::{Exit, Format, PolicyArgs};
use crate::analysis::lint::{self, LintReport, Subject};
use crate::diagnostics::{Diagnostic, Label, Severity, render_all};
use crate::policy_set;
use crate::source::SourceMap;
use serde::Serialize;

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Output format: text diagnostics on stderr, or JSON Lines on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit 1 when there is any warning (the lints included).
    #[arg(long)]
    deny_warnings: bool,
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
    let report = lint::lint(set, &loaded.validated);
    let warnings = loaded.warnings.len() + report.lints.len();
    print_lints_text(&report, set.sources());
    if args.deny_warnings && warnings > 0 {
        errln!(
            "error: {warnings} warning{} (denied by --deny-warnings)",
            if warnings == 1 { "" } else { "s" }
        );
        return Exit::Failure;
    }
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
    #[serde(flatten)]
    lint: Option<JsonLint<'a>>,
}

/// The keys a lint adds to its diagnostic object.
#[derive(Serialize)]
struct JsonLint<'a> {
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invariant: Option<&'a str>,
    #[serde(rename = "let", skip_serializing_if = "Option::is_none")]
    let_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    other_rule: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
}

/// Lint warnings on stderr, then one `note:` line per action not linted.
fn print_lints_text(report: &LintReport, sources: &SourceMap) {
    let diags: Vec<Diagnostic> = report.lints.iter().map(lint::Lint::to_diagnostic).collect();
    err!("{}", render_all(&diags, sources));
    for n in &report.not_linted {
        errln!("note: {}", n.message());
    }
}

/// Lint warnings as JSON objects, then one `note` object per action not linted.
fn print_lints_json(report: &LintReport, sources: &SourceMap) {
    for l in &report.lints {
        let d = l.to_diagnostic();
        let (rule, invariant, let_name) = match &l.subject {
            Subject::Rule(r) => (Some(r.as_str()), None, None),
            Subject::Invariant(i) => (None, Some(i.as_str()), None),
            Subject::Let(n) => (None, None, Some(n.as_str())),
        };
        let j = JsonDiagnostic {
            severity: "warning",
            message: &d.message,
            span: d.primary.as_ref().map(|l| json_span(sources, l)),
            file: None,
            related: d.secondary.iter().map(|l| json_span(sources, l)).collect(),
            help: None,
            lint: Some(JsonLint {
                code: l.code.as_str(),
                rule,
                invariant,
                let_name,
                action: l.action.as_deref(),
                other_rule: l.other_rule.as_deref(),
                notes: &l.notes,
            }),
        };
        if let Ok(line) = serde_json::to_string(&j) {
            outln!("{line}");
        }
    }
    for n in &report.not_linted {
        let j = serde_json::json!({"severity": "note", "message": n.message(), "action": n.action});
        outln!("{j}");
    }
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
            lint: None,
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
            let report = lint::lint(set, &loaded.validated);
            print_lints_json(&report, set.sources());
            let warnings = loaded.warnings.len() + report.lints.len();
            let ok = !(args.deny_warnings && warnings > 0);
            (
                ok,
                serde_json::json!({
                    "summary": if ok { "ok" } else { "failed" },
                    "policy_files": loaded.policy_files,
                    "rules": set.rules().len(),
                    "invariants": loaded.validated.invariants().len(),
                    "actions": set.schema().actions.len(),
                    "errors": 0,
                    "warnings": warnings,
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
