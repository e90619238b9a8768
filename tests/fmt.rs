//! `mailgate fmt`: golden files, idempotence, comments kept in place (a property test that
//! injects a unique comment into token gaps), identical decisions after formatting, and the
//! command line (`--check`, `-`, files with syntax errors left alone).

use crate::syntax::display_name;
use crate::util::{self, mailgate};
use mailgate::diagnostics::render_all;
use mailgate::fmt::{FmtError, format_source};
use mailgate::policy_set::{self, Origin};
use mailgate::report::DecisionReport;
use mailgate::source::{FileId, SourceFile, SourceMap};
use mailgate::syntax::concrete::parse_concrete;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

/// Formats `text`, panicking with the rendered diagnostics on error.
fn format_ok(name: &str, text: &str) -> String {
    format_source(text).unwrap_or_else(|e| panic!("{name}: {}", rendered(name, text, &e)))
}

/// The diagnostics of a formatting error, as the CLI prints them.
fn rendered(name: &str, text: &str, e: &FmtError) -> String {
    let mut sources = SourceMap::new();
    sources.add(SourceFile::new(name, text));
    render_all(&e.diagnostics(), &sources)
}

/// The canonical AST print (no spans).
fn ast(text: &str) -> String {
    let parsed = mailgate::syntax::parse(FileId(0), text);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    parsed.file.to_string()
}

fn shipped_policy_files() -> Vec<PathBuf> {
    let files: Vec<PathBuf> =
        mailgate::files::walk(&util::repo_path("policies"), "policy folder", &|p| {
            p.extension().is_some_and(|e| e == "policy")
        })
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert!(files.len() >= 6, "the shipped policy files");
    files
}

fn fixture_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(util::repo_path(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "policy"))
        .collect();
    files.sort();
    files
}

#[test]
fn golden_files() {
    util::settings().bind(|| {
        insta::glob!("fixtures/fmt/ok/*.policy", |path| {
            let text = std::fs::read_to_string(path).unwrap();
            insta::assert_snapshot!("fmt_golden", format_ok(&display_name(path), &text));
        });
    });
}

#[test]
fn files_with_syntax_errors_are_reported_with_positions() {
    util::settings().bind(|| {
        insta::glob!("fixtures/fmt/err/*.policy", |path| {
            let text = std::fs::read_to_string(path).unwrap();
            let name = display_name(path);
            match format_source(&text) {
                Ok(out) => panic!("{name} formatted:\n{out}"),
                Err(e @ FmtError::Syntax(_)) => {
                    insta::assert_snapshot!("fmt_syntax_error", rendered(&name, &text, &e));
                }
                Err(e) => panic!("{name}: not a syntax error: {e}"),
            }
        });
    });
}

#[test]
fn formatting_twice_changes_nothing() {
    let mut files = fixture_files("tests/fixtures/fmt/ok");
    files.extend(fixture_files("tests/fixtures/syntax/ok"));
    files.extend(shipped_policy_files());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display().to_string();
        let once = format_ok(&name, &text);
        assert_eq!(
            format_ok(&name, &once),
            once,
            "{name} changed on the second run"
        );
        assert_eq!(ast(&once), ast(&text), "{name} changed meaning");
    }
}

#[test]
fn shipped_policies_are_formatted() {
    for path in shipped_policy_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            format_ok(&path.display().to_string(), &text) == text,
            "{} is not formatted: run `mailgate fmt`",
            path.display()
        );
    }
}

#[test]
fn crlf_becomes_lf_and_output_ends_with_one_newline() {
    let text = "# c\r\nlet a = x.y # t\r\n\r\n\r\nlet b = x.y\r\n\r\n";
    assert_eq!(
        format_ok("crlf", text),
        "# c\nlet a = x.y # t\n\nlet b = x.y\n"
    );
    assert_eq!(format_ok("empty", ""), "");
    assert_eq!(format_ok("blank", "\n\n  \n"), "");
    assert_eq!(format_ok("comment only", "  # only\n\n"), "# only\n");
}

#[test]
fn a_long_flat_chain_formats_without_deep_recursion() {
    let body = vec!["a.b == 1"; 50_000].join(" and ");
    let out = format_ok("long", &format!("let x = {body}"));
    assert_eq!(out.lines().count(), 50_000);
    assert!(out.starts_with("let x = a.b == 1\n   and a.b == 1\n"));
}

#[test]
fn a_long_comparison_chain_is_an_error_not_a_crash() {
    // Comparisons do not chain, so 5,000 `==` in a row are one syntax error, found
    // without recursing once per operator.
    let text = format!("let x = a.b{}", " == a.b".repeat(5_000));
    match format_source(&text) {
        Err(FmtError::Syntax(errors)) => {
            assert_eq!(errors[0].to_string(), "comparison operators do not chain");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn parentheses_past_the_nesting_limit_are_an_error_not_a_crash() {
    let text = format!("let x = {}a.b == 1{}", "(".repeat(5_000), ")".repeat(5_000));
    match format_source(&text) {
        Err(FmtError::Syntax(errors)) => {
            assert!(
                errors[0]
                    .to_string()
                    .starts_with("nesting is deeper than the limit"),
                "{}",
                errors[0]
            );
        }
        other => panic!("expected a depth error, got {other:?}"),
    }
}

// ---- meaning: decisions of every shipped scenario ---------------------------------------

/// Every token of `text` on its own line, comments dropped: far from the house style.
fn scrambled(text: &str) -> String {
    let tree = parse_concrete(FileId(0), text).unwrap();
    let tokens: Vec<&str> = tree.tokens.iter().map(|s| &text[s.range()]).collect();
    tokens.join("\n    ")
}

/// Decides every shipped scenario request with a set built from these policy texts; each
/// decision as JSON without rule locations (formatting moves lines).
fn decisions(policies: &[(String, String)]) -> Vec<String> {
    let files: Vec<(&str, &str)> = policies
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let set = util::load_ok(&util::shipped_schema(), &files).set;
    let mut sources = SourceMap::new();
    let mut out = Vec::new();
    for raw in policy_set::scenario_files(&Origin::Dir(util::repo_path("policies"))) {
        let text = String::from_utf8(raw.bytes.unwrap()).unwrap();
        let id = sources.add(SourceFile::new(raw.name.clone(), text));
        let scenario = mailgate::scenario::load(id, sources.get(id), &set).unwrap();
        for r in &scenario.requests {
            let d = set.evaluate(&r.request);
            let mut report = DecisionReport::new(&set, &r.request, &d);
            report.locations.clear();
            out.push(format!(
                "{} {}: {}",
                raw.name,
                r.index,
                serde_json::to_string(&report).unwrap()
            ));
        }
    }
    out
}

#[test]
fn formatting_keeps_every_shipped_decision() {
    let shipped: Vec<(String, String)> = shipped_policy_files()
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read_to_string(p).unwrap()))
        .collect();
    let reformatted: Vec<(String, String)> = shipped
        .iter()
        .map(|(n, t)| {
            let s = scrambled(t);
            assert_ne!(&s, t);
            (n.clone(), format_ok(n, &s))
        })
        .collect();
    let before = decisions(&shipped);
    assert!(before.len() >= 260, "every shipped scenario request");
    assert_eq!(decisions(&reformatted), before);
}

// ---- comments: injected into token gaps, none lost or moved ---------------------------

/// Random policy text: lets and rules over nested conditions and lists.
fn condition() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("user.upn == mailbox.email".to_owned()),
        Just("mailbox.profile_active".to_owned()),
        Just("has_approval_privilege".to_owned()),
        Just("org.version >= \"9.1.0.5805\"".to_owned()),
        Just(
            "user.roles contains any [\"Global Administrator\", \"Exchange Administrator\",]"
                .to_owned()
        ),
        Just("mailbox.server in [\"pop3_smtp\", \"imap_smtp\"]".to_owned()),
        Just("org.count < -3".to_owned()),
        Just("[]".to_owned()),
        Just("true".to_owned()),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..5).prop_map(|v| v.join(" and ")),
            prop::collection::vec(inner.clone(), 2..5).prop_map(|v| v.join(" or ")),
            inner.clone().prop_map(|c| format!("({c})")),
            inner.prop_map(|c| format!("not {c}")),
        ]
    })
}

fn policy_text() -> impl Strategy<Value = String> {
    let item = prop_oneof![
        condition().prop_map(|c| format!("let n = {c}\n")),
        (condition(), any::<bool>()).prop_map(|(c, deny)| format!(
            "rule r {{ {} approve_mailbox, reject_mailbox when {c} reason \"why # not a comment\" }}\n",
            if deny { "deny" } else { "allow" }
        )),
        Just("rule s { allow assign_role }\n".to_owned()),
    ];
    prop::collection::vec(item, 1..4).prop_map(|v| v.concat())
}

/// Inserts `# cN` comments into the gaps between tokens: `where_[i]` picks, for gap `i`,
/// nothing, a trailing comment or an own-line comment. Returns the text and, for each
/// comment in order, the number of tokens (commas aside) before it.
fn inject(text: &str, where_: &[u8]) -> (String, Vec<(String, usize)>) {
    let tree = parse_concrete(FileId(0), text).unwrap();
    let mut out = String::new();
    let mut expected = Vec::new();
    let mut prev = 0;
    let mut before = 0usize;
    for (i, span) in tree
        .tokens
        .iter()
        .chain(std::iter::once(&mailgate::source::Span::new(
            FileId(0),
            text.len(),
            text.len(),
        )))
        .enumerate()
    {
        let gap = &text[prev..span.start as usize];
        let comment = format!("# c{i}");
        match where_.get(i).copied().unwrap_or(0) % 3 {
            1 if i > 0 => {
                out.push_str(&format!(" {comment}\n"));
                expected.push((comment, before));
            }
            2 => {
                out.push_str(&format!("\n{comment}\n"));
                expected.push((comment, before));
            }
            _ => out.push_str(gap),
        }
        if out.is_empty() || !out.ends_with(char::is_whitespace) {
            out.push(' ');
        }
        let token = &text[span.range()];
        out.push_str(token);
        if !token.is_empty() && token != "," {
            before += 1;
        }
        prev = span.end as usize;
    }
    (out, expected)
}

/// The comments of formatted text, each with the number of tokens (commas aside) before it.
fn comments_in(text: &str) -> Vec<(String, usize)> {
    let tree = parse_concrete(FileId(0), text).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find("# c") {
        let start = at + found;
        let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
        let inside_token = tree
            .tokens
            .iter()
            .any(|s| (s.start as usize) < start && start < s.end as usize);
        if !inside_token {
            let before = tree
                .tokens
                .iter()
                .filter(|s| (s.end as usize) <= start && &text[s.range()] != ",")
                .count();
            out.push((text[start..end].to_owned(), before));
        }
        at = end;
    }
    out
}

#[test]
fn injection_puts_a_comment_in_each_chosen_gap() {
    let (text, expected) = inject("let x = [\"a\",]", &[2, 1, 0, 2, 0, 1, 0]);
    assert_eq!(text, "\n# c0\nlet # c1\nx =\n# c3\n[ \"a\" # c5\n, ] ");
    let expected_places = [("# c0", 0), ("# c1", 1), ("# c3", 3), ("# c5", 5)];
    let got: Vec<(&str, usize)> = expected.iter().map(|(c, n)| (c.as_str(), *n)).collect();
    assert_eq!(got, expected_places);
    let out = format_ok("injected", &text);
    assert_eq!(comments_in(&out), expected);
    // `# c5` stays between `"a"` and the comma, so the comma starts a line.
    assert_eq!(
        out,
        "# c0\nlet # c1\n    x =\n    # c3\n    [\n  \"a\" # c5\n      ,\n]\n"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn injected_comments_are_kept_in_order_beside_their_tokens(
        text in policy_text(),
        where_ in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let (with_comments, expected) = inject(&text, &where_);
        let out = format_source(&with_comments)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{with_comments}")))?;
        prop_assert_eq!(comments_in(&out), expected, "\n{}\n---\n{}", with_comments, out);
        prop_assert_eq!(ast(&out), ast(&text));
        prop_assert_eq!(format_source(&out).ok(), Some(out.clone()));
        prop_assert!(out.lines().all(|l| l == l.trim_end()), "trailing space:\n{}", out);
    }

    #[test]
    fn formatting_random_policies_is_stable(text in policy_text()) {
        let out = format_source(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(ast(&out), ast(&text));
        prop_assert_eq!(format_source(&out).ok(), Some(out.clone()));
    }
}

// ---- the command line ----------------------------------------------------------------------

/// A temp folder holding a copy of the shipped policies and two extra files.
fn workspace(name: &str) -> PathBuf {
    let dir = util::temp_dir(name);
    util::copy_dir(&util::repo_path("policies"), &dir.join("policies"));
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn check_lists_files_that_would_change_and_exits_1() {
    let dir = workspace("fmt-check");
    mailgate(&["fmt", "--check"]).dir(&dir).run().code(0);
    let messy = dir.join("policies/messy.policy");
    std::fs::write(&messy, "let   x =a.b").unwrap();
    let out = mailgate(&["fmt", "--check"]).dir(&dir).run();
    out.code(1);
    assert_eq!(out.stdout, "policies/messy.policy\n");
    assert_eq!(read(&messy), "let   x =a.b", "--check wrote the file");
    // Formatting writes it; afterwards --check passes.
    mailgate(&["fmt", "--policies", "policies"])
        .dir(&dir)
        .run()
        .code(0);
    assert_eq!(read(&messy), "let x = a.b\n");
    mailgate(&["fmt", "--check", "policies/messy.policy"])
        .dir(&dir)
        .run()
        .code(0);
}

#[test]
fn stdin_is_formatted_to_stdout() {
    let out = mailgate(&["fmt", "-"])
        .stdin("rule r{allow a,b when x.y and(z.w or v.u)# why\n}")
        .run();
    out.code(0);
    assert_eq!(
        out.stdout,
        "rule r {\n  allow a, b\n  when x.y and (z.w or v.u) # why\n}\n"
    );
    let out = mailgate(&["fmt", "--check", "-"])
        .stdin("let x = a.b\n")
        .run();
    out.code(0);
    assert_eq!(out.stdout, "");
    let out = mailgate(&["fmt", "--check", "-"])
        .stdin("let x=a.b\n")
        .run();
    out.code(1);
    assert_eq!(out.stdout, "<stdin>\n");
}

#[test]
fn a_file_with_syntax_errors_is_reported_and_left_alone() {
    let dir = workspace("fmt-broken");
    let broken = dir.join("policies/broken.policy");
    let text = "rule a {   allow x when }\nlet   ok = a.b\n";
    std::fs::write(&broken, text).unwrap();
    let messy = dir.join("policies/messy.policy");
    std::fs::write(&messy, "let   x =a.b").unwrap();
    let out = mailgate(&["fmt"]).dir(&dir).run();
    out.code(1);
    assert!(
        out.stderr.contains("error: expected a value, found `}`")
            && out.stderr.contains("--> policies/broken.policy:1:25"),
        "{}",
        out.stderr
    );
    assert_eq!(read(&broken), text, "a broken file was changed");
    // The other files are still formatted.
    assert_eq!(read(&messy), "let x = a.b\n");
    util::settings().bind(|| {
        insta::assert_snapshot!("fmt_cli_syntax_error", out.transcript());
    });
}

#[test]
fn an_unchanged_file_is_not_rewritten() {
    let dir = workspace("fmt-mtime");
    let file = dir.join("policies/sync.policy");
    let before = std::fs::metadata(&file).unwrap().modified().unwrap();
    mailgate(&["fmt", "policies/sync.policy"])
        .dir(&dir)
        .run()
        .code(0);
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        before
    );
}
