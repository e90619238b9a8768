//! Parsing: every fixture under `fixtures/syntax/ok` parses and its AST is snapshotted in
//! the canonical fully parenthesised form; every fixture under `fixtures/syntax/err` fails
//! and its rendered diagnostics (what a user sees) are snapshotted.

use crate::util;
use mailgate::diagnostics::{Diagnostic, render_all};
use mailgate::source::{FileId, SourceFile, SourceMap};
use mailgate::syntax::{Parsed, SyntaxError, parse};
use std::path::Path;

/// The fixture's path as shown to users: `tests/fixtures/...`, with `/` separators.
pub(crate) fn display_name(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let at = parts.iter().rposition(|p| p == "fixtures").unwrap_or(0);
    format!("tests/{}", parts[at..].join("/"))
}

/// Parses `text` as file `name`; returns the parse and the rendered diagnostics.
fn parse_named(name: &str, text: &str) -> (Parsed, String) {
    let mut sources = SourceMap::new();
    let id = sources.add(SourceFile::new(name, text));
    let parsed = parse(id, &sources.get(id).text);
    let diags: Vec<Diagnostic> = parsed.errors.iter().map(Diagnostic::from).collect();
    let rendered = render_all(&diags, &sources);
    (parsed, rendered)
}

#[test]
fn parse_ok() {
    util::settings().bind(|| {
        insta::glob!("fixtures/syntax/ok/*.policy", |path| {
            let text = std::fs::read_to_string(path).unwrap().replace("\r\n", "\n");
            let (parsed, diags) = parse_named(&display_name(path), &text);
            assert!(
                parsed.errors.is_empty(),
                "{} should parse:\n{diags}",
                path.display()
            );
            insta::assert_snapshot!(parsed.file.to_string());
        });
    });
}

#[test]
fn parse_err() {
    util::settings().bind(|| {
        insta::glob!("fixtures/syntax/err/*.policy", |path| {
            let text = std::fs::read_to_string(path).unwrap().replace("\r\n", "\n");
            let (parsed, diags) = parse_named(&display_name(path), &text);
            assert!(
                !parsed.errors.is_empty(),
                "{} should not parse",
                path.display()
            );
            insta::assert_snapshot!(diags);
        });
    });
}

fn errors(text: &str) -> Vec<SyntaxError> {
    parse(FileId(0), text).errors
}

#[test]
fn three_errors_in_three_rules_are_all_reported_in_source_order() {
    let text = util::read("tests/fixtures/syntax/err/three_errors_in_three_rules.policy");
    let (parsed, rendered) = parse_named("three.policy", &text);
    assert_eq!(parsed.errors.len(), 3, "{rendered}");
    let lines: Vec<usize> = parsed
        .errors
        .iter()
        .map(|e| SourceFile::new("x", text.as_str()).line(e.span().start as usize))
        .collect();
    // Each error sits in its own rule (`first` on 2-5, `second` on 7-11, `third` on 13-15).
    assert!((2..=5).contains(&lines[0]), "{lines:?}");
    assert!((7..=11).contains(&lines[1]), "{lines:?}");
    assert!((13..=15).contains(&lines[2]), "{lines:?}");
    // The rule that is fine (lines 17-19) is not reported.
    assert!(lines.iter().all(|&l| l < 17), "{lines:?}");
}

#[test]
fn deep_nesting_is_an_error_with_a_caret_not_a_crash() {
    for (open, close) in [("(", ")"), ("not (", ")")] {
        let text = format!(
            "let deep = {}a.b{}\n",
            open.repeat(100_000),
            close.repeat(100_000)
        );
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(matches!(errs[0], SyntaxError::TooDeep { limit: 64, .. }));
        assert_eq!(
            errs[0].to_string(),
            "nesting is deeper than the limit of 64 levels"
        );
    }
    // A moderate depth is still fine, and renders as a snapshot-sized message when over.
    let ok = format!("let fine = {}a.b{}", "(".repeat(60), ")".repeat(60));
    assert!(errors(&ok).is_empty());
    let text = format!("let deep = {}a.b{}\n", "(".repeat(70), ")".repeat(70));
    let (_, rendered) = parse_named("deep.policy", &text);
    util::settings().bind(|| insta::assert_snapshot!("deep_nesting", rendered));
}

#[test]
fn deep_lists_are_limited_too() {
    let text = format!("let deep = a.b in {}\n", "[".repeat(10_000));
    let errs = errors(&text);
    assert!(
        errs.iter()
            .any(|e| matches!(e, SyntaxError::TooDeep { .. })),
        "{errs:?}"
    );
}

#[test]
fn brackets_inside_strings_and_comments_do_not_count_as_nesting() {
    let text = format!(
        "# {}\nlet x = user.upn == \"{}\"\n",
        "(".repeat(200),
        "[".repeat(200)
    );
    assert!(errors(&text).is_empty());
}

#[test]
fn error_spans_point_at_the_offending_token() {
    let text = "let x = a.b == 99999999999999999999";
    let errs = errors(text);
    assert_eq!(errs.len(), 1);
    let span = errs[0].span();
    assert_eq!(&text[span.range()], "99999999999999999999");

    let text = "let x = a.b == \"bad \\q escape\"";
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].to_string(), "unknown escape `\\q` in string");
    assert_eq!(&text[errs[0].span().range()], "\\q");
}

#[test]
fn int_limits() {
    assert!(errors("let x = a.b == 9223372036854775807").is_empty());
    assert!(errors("let x = a.b == -9223372036854775808").is_empty());
    assert_eq!(
        errors("let x = a.b == 9223372036854775808")[0].to_string(),
        "number `9223372036854775808` is out of range"
    );
}

#[test]
fn crlf_line_endings_parse_like_lf() {
    let lf = "rule r {\n  allow a\n  when x.y == \"z\"\n}\n";
    let crlf = lf.replace('\n', "\r\n");
    let a = parse(FileId(0), lf);
    let b = parse(FileId(0), &crlf);
    assert!(a.errors.is_empty() && b.errors.is_empty());
    assert_eq!(a.file.to_string(), b.file.to_string());
}

#[test]
fn every_keyword_is_refused_as_a_let_name() {
    for kw in [
        "let", "rule", "allow", "deny", "when", "reason", "and", "or", "not", "in", "contains",
        "true", "false",
    ] {
        let errs = errors(&format!("let {kw} = a.b"));
        assert_eq!(errs.len(), 1, "`let {kw}` should be refused: {errs:?}");
        assert_eq!(
            errs[0].to_string(),
            format!("expected a name for the `let`, found `{kw}`")
        );
    }
}
