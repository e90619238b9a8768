//! A completely different domain (a lending library, `fixtures/other-domain`) runs on the
//! same engine without code changes: its own enums, entities, context and actions, lets,
//! sets, ints, versions, parameters, path-to-path comparisons and deny rules.

use crate::util::{self, mailgate};

const LIBRARY: &str = "tests/fixtures/other-domain";

#[test]
fn the_library_policies_check_cleanly() {
    let out = mailgate(&["check", "--policies", LIBRARY]).run();
    out.code(0);
    assert_eq!(out.stdout, "ok: 4 policy files, 13 rules, 4 actions\n");
    // Clean: no error and no warning. The two actions whose rules compare two int paths
    // are outside the analysis, so the lints say once each that they were not linted.
    let notes: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(notes.len(), 2, "{}", out.stderr);
    assert!(notes[0].starts_with("note: action `borrow` was not linted"));
    assert!(notes[1].starts_with("note: action `reserve` was not linted"));
    assert!(!out.stderr.contains("warning") && !out.stderr.contains("error"));
}

#[test]
fn the_library_scenarios_all_pass() {
    let out = mailgate(&["test", "--policies", LIBRARY]).run();
    out.code(0);
    assert_eq!(out.last_line(), "32 passed, 0 failed");
    for file in [
        "borrowing.yaml (15 checked)",
        "fines.yaml (5 checked)",
        "renewals-new-system.yaml (5 checked)",
        "renewals-old-system.yaml (7 checked)",
    ] {
        assert!(
            out.stdout
                .contains(&format!("ok   {LIBRARY}/scenarios/{file}")),
            "{}",
            out.stdout
        );
    }
}

#[test]
fn library_decisions_name_their_rules_and_causes() {
    let out = mailgate(&[
        "eval",
        "--policies",
        LIBRARY,
        "--format",
        "json",
        &format!("{LIBRARY}/scenarios/borrowing.yaml"),
    ])
    .run();
    out.code(0);
    let records: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 15);
    let by_index = |i: usize| &records[i - 1];
    // Explicit deny: reference books never leave.
    assert_eq!(by_index(8)["cause"], "denied_by_rule");
    assert_eq!(
        by_index(8)["rules"],
        serde_json::json!(["reference-stays-in-library"])
    );
    assert_eq!(
        by_index(8)["locations"],
        serde_json::json!([format!("{LIBRARY}/rules/lending.policy:17")])
    );
    // Default deny: at the loan limit no rule allows.
    assert_eq!(by_index(2)["cause"], "no_rule_allows");
    // Path-to-path: the reservation is for this member's card.
    assert_eq!(by_index(11)["decision"], "allow");
    assert_eq!(
        by_index(11)["rules"],
        serde_json::json!(["borrow-your-reservation"])
    );
    // Set membership with a path element: the south branch is closed.
    assert_eq!(by_index(10)["rules"], serde_json::json!(["branch-closed"]));
    // Two allow rules match the child reserving a children's book.
    assert_eq!(
        by_index(13)["rules"],
        serde_json::json!(["reserve-what-is-out", "children-reserve-children-books"])
    );

    let text = mailgate(&[
        "eval",
        "--policies",
        LIBRARY,
        &format!("{LIBRARY}/scenarios/renewals-old-system.yaml"),
    ])
    .run();
    text.code(0);
    util::settings().bind(|| insta::assert_snapshot!("domain_library_renewals", text.transcript()));
}

#[test]
fn the_library_explains_with_its_own_vocabulary() {
    let out = mailgate(&[
        "eval",
        "--explain",
        "--policies",
        LIBRARY,
        &format!("{LIBRARY}/scenarios/fines.yaml"),
    ])
    .run();
    out.code(0);
    assert!(
        out.stdout
            .contains("false request.amount_cents <= 5000    [request.amount_cents = 6000]"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "true  librarian.card == member.card    [librarian.card = \"S-9\", member.card = \"S-9\"]"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn scenarios_are_checked_against_the_schema_in_use() {
    // A mailbox scenario means nothing to the library schema, and the other way round.
    let out = mailgate(&[
        "test",
        "--policies",
        LIBRARY,
        "policies/scenarios/sync-act.yaml",
    ])
    .run();
    out.code(1);
    assert!(out.stderr.contains("unknown key `org`"), "{}", out.stderr);
    assert_eq!(out.last_line(), "0 passed, 1 failed");

    let out = mailgate(&["test", &format!("{LIBRARY}/scenarios/fines.yaml")]).run();
    out.code(1);
    assert!(
        out.stderr.contains("unknown key `library`"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_library_policy_error_is_reported_in_library_terms() {
    let schema = util::read(&format!("{LIBRARY}/schema.yaml"));
    let diags = util::load_err(
        &schema,
        &[(
            "bad.policy",
            "rule r {\n  allow borow\n  when member.membrship == \"staff\"\n}\n\
             rule s {\n  allow borrow\n  when book.genre == \"poetry\"\n}\n",
        )],
    );
    assert!(diags.contains("unknown action `borow`"), "{diags}");
    assert!(diags.contains("did you mean `borrow`?"), "{diags}");
    assert!(
        diags.contains("`member` has no attribute `membrship`"),
        "{diags}"
    );
    assert!(diags.contains("`poetry` is not a `genre`"), "{diags}");
}
