//! The real `mailgate` binary: exit codes, what it prints on stdout and stderr, and a few
//! snapshots of whole transcripts where reading them is the review.

use crate::util::{self, mailgate};

const BAD_SCENARIOS: &str = "tests/fixtures/cli/bad-scenarios";
const SYNC_ACT: &str = "policies/scenarios/sync-act.yaml";

/// What `test` should print last for the shipped scenarios: every expectation passes.
fn shipped_test_summary() -> String {
    let n = util::expectations(&util::shipped_scenario_files());
    format!("{n} passed, 0 failed")
}

#[test]
fn check_the_shipped_policies() {
    let out = mailgate(&["check"]).run();
    out.code(0);
    assert_eq!(out.stdout, format!("{}\n", util::shipped_check_summary()));
    assert_eq!(out.stderr, "");
    let out = mailgate(&["check", "--policies", "policies"]).run();
    out.code(0);
    assert_eq!(out.last_line(), util::shipped_check_summary());
}

/// A copy of the shipped policies in a temp dir, with `edit` applied to the named files.
fn broken_copy(name: &str, edits: &[(&str, &str, &str)]) -> std::path::PathBuf {
    let dir = util::temp_dir(name);
    util::copy_dir(&util::repo_path("policies"), &dir.join("policies"));
    for (file, from, to) in edits {
        let path = dir.join("policies").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no `{from}`");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }
    dir
}

#[test]
fn check_a_broken_copy_lists_every_error_and_exits_1() {
    let dir = broken_copy(
        "check-broken",
        &[
            (
                "approvers.policy",
                "contains \"System Administrator\"",
                "contains \"System Adminstrator\"",
            ),
            (
                "approval.policy",
                "deny approve_mailbox",
                "deny aprove_mailbox",
            ),
            (
                "sync.policy",
                "mailbox.incoming != \"success\"",
                "mailbox.incoming < \"success\"",
            ),
        ],
    );
    let out = mailgate(&["check", "--policies", "policies"])
        .dir(&dir)
        .run();
    out.code(1);
    assert_eq!(out.stdout, "");
    for expected in [
        "--> policies/approvers.policy:9:",
        "help: did you mean `System Administrator`?",
        "--> policies/approval.policy:39:8",
        "help: did you mean `approve_mailbox`?",
        "--> policies/sync.policy:",
        "error: the policy set has 3 errors; it cannot be used",
    ] {
        assert!(
            out.stderr.contains(expected),
            "missing {expected}:\n{}",
            out.stderr
        );
    }
    util::settings().bind(|| insta::assert_snapshot!("cli_check_broken", out.transcript()));
    // A broken set is never used for decisions either.
    let out = mailgate(&["test"]).dir(&dir).run();
    out.code(1);
    assert!(
        out.stderr.contains("no decision was made"),
        "{}",
        out.stderr
    );
    let out = mailgate(&["eval", "policies/scenarios/sync-email.yaml"])
        .dir(&dir)
        .run();
    out.code(1);
    assert_eq!(out.stdout, "");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_reports_a_missing_folder_or_schema() {
    let out = mailgate(&["check", "--policies", "no/such/folder"]).run();
    out.code(1);
    assert!(
        out.stderr.contains("policy folder does not exist"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("no/such/folder"), "{}", out.stderr);

    let out = mailgate(&["check", "--policies", "tests/fixtures/syntax"]).run();
    out.code(1);
    assert!(out.stderr.contains("no `schema.yaml`"), "{}", out.stderr);
}

#[test]
fn eval_prints_each_decision_with_its_rules() {
    let out = mailgate(&["eval", "policies/scenarios/assign-role.yaml"]).run();
    out.code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "policies/scenarios/assign-role.yaml:28: request 1: assign_role actor=ga-only assignee=dana role=Delegated Mailbox Approver -> allow"
    );
    assert_eq!(
        lines[1],
        "  allowed by rule assign-delegated-approver (policies/role-assignment.policy:4): a Global or Exchange Administrator may assign the Delegated Mailbox Approver role to a user"
    );
    assert!(
        out.stdout.contains(
            "request 4: assign_role actor=ga-only assignee=sales-team role=Delegated Mailbox Approver -> deny\n  \
             denied by rule delegated-approver-not-for-teams (policies/role-assignment.policy:20): \
             the Delegated Mailbox Approver role can't be assigned to a team\n"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "request 18: assign_role actor=ga-only assignee=dana role=Salesperson -> deny\n  \
             denied by default: no rule allows assign_role\n"
        ),
        "{}",
        out.stdout
    );
    let requests = util::requests(&["policies/scenarios/assign-role.yaml".into()]);
    assert_eq!(out.stdout.matches(" -> ").count(), requests);
}

#[test]
fn eval_json_lines_have_the_documented_keys() {
    let out = mailgate(&[
        "eval",
        "--format",
        "json",
        "tests/fixtures/cli/good/wrong-expectation.yaml",
        "tests/fixtures/cli/good/no-expectations.yaml",
    ])
    .run();
    out.code(0);
    let records: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(records.len(), 5);
    for r in &records {
        for key in [
            "file", "request", "action", "decision", "rules", "reasons", "errors",
        ] {
            assert!(r.get(key).is_some(), "missing `{key}` in {r}");
        }
        assert!(r["rules"].is_array() && r["reasons"].is_array() && r["errors"].is_array());
    }
    let first = &records[0];
    assert_eq!(
        first["file"],
        "tests/fixtures/cli/good/wrong-expectation.yaml"
    );
    assert_eq!(first["request"], 1);
    assert_eq!(first["action"], "approve_mailbox");
    assert_eq!(first["decision"], "allow");
    assert_eq!(
        first["rules"],
        serde_json::json!(["approve-exchange-online"])
    );
    assert_eq!(first["expected"], "allow");
    // The wrong expectation: decided deny by default, expected allow.
    assert_eq!(records[1]["decision"], "deny");
    assert_eq!(records[1]["cause"], "no_rule_allows");
    assert_eq!(records[1]["rules"], serde_json::json!([]));
    assert_eq!(records[1]["expected"], "allow");
    assert_eq!(records[2]["cause"], "denied_by_rule");
    assert_eq!(
        records[2]["reasons"],
        serde_json::json!(["the mailbox's email address is not approved"])
    );
    // No `expect` in the scenario: no `expected` key.
    assert_eq!(
        records[3]["file"],
        "tests/fixtures/cli/good/no-expectations.yaml"
    );
    assert!(records[3].get("expected").is_none(), "{}", records[3]);
}

#[test]
fn eval_output_is_byte_for_byte_deterministic() {
    let run = |format: &str| {
        let out = mailgate(&["eval", "--format", format, "policies/scenarios"]).run();
        out.code(0);
        out.stdout
    };
    for format in ["text", "json"] {
        let first = run(format);
        assert_eq!(first, run(format), "{format}");
        assert!(first.lines().count() >= 260);
    }
}

#[test]
fn eval_explain_shows_the_missing_role_and_actual_values() {
    let out = mailgate(&[
        "eval",
        "--explain",
        "tests/fixtures/cli/good/denied-approval.yaml",
    ])
    .run();
    out.code(0);
    let text = &out.stdout;
    assert!(
        text.contains("-> deny\n  denied by default: no rule allows approve_mailbox"),
        "{text}"
    );
    assert!(
        text.contains(
            "allow rule approve-exchange-online (policies/approval.policy:8): not matched"
        ),
        "{text}"
    );
    assert!(
        text.contains("false       has_exchange_rights (user.directory_roles contains any [\"Global Administrator\", \"Exchange Administrator\"])    [user.directory_roles = []]"),
        "{text}"
    );
    assert!(
        text.contains(
            "false       is_delegated_approver (user.security_roles contains \"Delegated Mailbox Approver\")    [user.security_roles = [System Administrator]]"
        ),
        "{text}"
    );
    assert!(text.contains("[org.version = 9.1.0.5805]"), "{text}");
    util::settings()
        .bind(|| insta::assert_snapshot!("cli_eval_explain_denied_approval", out.transcript()));

    // The JSON form carries the same explanation.
    let out = mailgate(&[
        "eval",
        "--explain",
        "--format",
        "json",
        "tests/fixtures/cli/good/denied-approval.yaml",
    ])
    .run();
    out.code(0);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let rules = v["explanation"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .any(|r| r["rule"] == "approve-exchange-online" && r["result"] == "false")
    );
}

#[test]
fn test_passes_on_the_shipped_scenarios() {
    let out = mailgate(&["test"]).run();
    out.code(0);
    assert_eq!(out.last_line(), shipped_test_summary());
    assert_eq!(
        out.stdout.matches("\nok   ").count() + 1,
        util::shipped_scenario_files().len(),
        "{}",
        out.stdout
    );
    let out = mailgate(&[
        "test",
        "policies/scenarios/sync-act.yaml",
        "policies/scenarios/assign-role.yaml",
    ])
    .run();
    out.code(0);
    let both = util::expectations(&[
        "policies/scenarios/sync-act.yaml".into(),
        "policies/scenarios/assign-role.yaml".into(),
    ]);
    assert_eq!(out.last_line(), format!("{both} passed, 0 failed"));
}

#[test]
fn test_explains_a_wrong_expectation_and_exits_1() {
    let out = mailgate(&["test", "tests/fixtures/cli/good/wrong-expectation.yaml"]).run();
    out.code(1);
    assert_eq!(out.last_line(), "2 passed, 1 failed");
    assert!(
        out.stdout.contains(
            "FAIL tests/fixtures/cli/good/wrong-expectation.yaml:13: request 2: approve_mailbox user=sam mailbox=support -> deny (expected allow)"
        ),
        "{}",
        out.stdout
    );
    // The explanation shows why: sam has no privilege.
    assert!(
        out.stdout.contains("[user.privileges = []]"),
        "{}",
        out.stdout
    );
    util::settings()
        .bind(|| insta::assert_snapshot!("cli_test_wrong_expectation", out.transcript()));

    // Mixed with passing files, the count covers all of them.
    let out = mailgate(&[
        "test",
        "policies/scenarios/sync-act.yaml",
        "tests/fixtures/cli/good/wrong-expectation.yaml",
    ])
    .run();
    out.code(1);
    // The fixture has three expectations, one of them wrong.
    let passed = util::expectations(&[SYNC_ACT.into()]) + 2;
    assert_eq!(out.last_line(), format!("{passed} passed, 1 failed"));
}

#[test]
fn test_with_no_expectations_checks_nothing_and_passes() {
    let out = mailgate(&["test", "tests/fixtures/cli/good/no-expectations.yaml"]).run();
    out.code(0);
    assert_eq!(out.last_line(), "0 passed, 0 failed");
}

#[test]
fn without_a_policies_folder_the_built_in_set_is_used() {
    let dir = util::temp_dir("embedded");
    let out = mailgate(&["check"]).dir(&dir).run();
    out.code(0);
    assert_eq!(out.stdout, format!("{}\n", util::shipped_check_summary()));
    assert!(
        out.stderr
            .contains("using the policy set built into mailgate"),
        "{}",
        out.stderr
    );

    let out = mailgate(&["test"]).dir(&dir).run();
    out.code(0);
    assert_eq!(out.last_line(), shipped_test_summary());
    assert!(out.stderr.contains("built into mailgate"), "{}", out.stderr);

    // A scenario file from elsewhere is decided by the built-in set.
    let out = mailgate(&["eval", "--format", "json"])
        .arg(util::repo_path(
            "tests/fixtures/cli/good/denied-approval.yaml",
        ))
        .dir(&dir)
        .run();
    out.code(0);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["locations"], serde_json::json!([]));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `eval` and `test` on one bad scenario: both exit 1 with the same diagnostics.
fn run_bad(file: &str) -> util::Output {
    let path = format!("{BAD_SCENARIOS}/{file}");
    let eval = mailgate(&["eval", &path]).run();
    eval.code(1);
    assert_eq!(
        eval.stdout, "",
        "no request of an invalid scenario is decided"
    );
    assert!(
        eval.stderr
            .contains(&format!("error: {path} is not a valid scenario")),
        "{}",
        eval.stderr
    );
    let test = mailgate(&["test", &path]).run();
    test.code(1);
    assert_eq!(test.last_line(), "0 passed, 1 failed");
    eval
}

#[test]
fn bad_scenarios_name_the_file_the_line_and_the_request() {
    for (file, location, message) in [
        (
            "unknown_id.yaml",
            "unknown_id.yaml:10:38",
            "request 2: unknown user `dnaa`",
        ),
        (
            "unknown_attribute.yaml",
            "unknown_attribute.yaml:4:51",
            "`user` has no attribute `privilges`",
        ),
        (
            "unknown_attribute.yaml",
            "unknown_attribute.yaml:9:38",
            "request 1: user `dana` has errors, so this request cannot be decided",
        ),
        (
            "value_outside_enum.yaml",
            "value_outside_enum.yaml:4:",
            "invalid value for `security_roles`: `System Adminstrator` is not a `security_role`",
        ),
        (
            "value_outside_enum.yaml",
            "value_outside_enum.yaml:9:63",
            "request 2: invalid value for `role`: `Janitor` is not a `security_role`",
        ),
        (
            "missing_required_attribute.yaml",
            "missing_required_attribute.yaml:4:",
            "mailbox `support` is missing required attribute `approval`",
        ),
        (
            "missing_required_attribute.yaml",
            "missing_required_attribute.yaml:6:",
            "request 1: mailbox `support` has errors",
        ),
        ("invalid_yaml.yaml", "invalid_yaml.yaml:3:", "invalid YAML"),
        (
            "unknown_top_level_key.yaml",
            "unknown_top_level_key.yaml:3:1",
            "unknown key `mailbox`",
        ),
        (
            "unknown_action.yaml",
            "unknown_action.yaml:7:15",
            "request 1: unknown action `sync_incomming_email`",
        ),
        (
            "bad_expect.yaml",
            "bad_expect.yaml:7:",
            "request 1: `expect` must be `allow` or `deny`, found `maybe`",
        ),
        (
            "missing_slot.yaml",
            "missing_slot.yaml:7:",
            "request 1: missing key `user`",
        ),
        (
            "bad_version.yaml",
            "bad_version.yaml:2:17",
            "invalid value for `version`: `9.2.x` is not a valid version",
        ),
    ] {
        let out = run_bad(file);
        assert!(
            out.stderr
                .contains(&format!("--> {BAD_SCENARIOS}/{location}")),
            "{file}: no {location} in\n{}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!("error: {message}")),
            "{file}: no `{message}` in\n{}",
            out.stderr
        );
    }
}

#[test]
fn bad_scenario_transcripts() {
    util::settings().bind(|| {
        insta::glob!("fixtures/cli/bad-scenarios/*.yaml", |path| {
            let name = path.file_name().unwrap().to_string_lossy();
            let out = run_bad(&name);
            insta::assert_snapshot!(out.transcript());
        });
    });
}

#[test]
fn one_bad_scenario_does_not_stop_the_others() {
    let out = mailgate(&[
        "eval",
        "policies/scenarios/sync-act.yaml",
        &format!("{BAD_SCENARIOS}/unknown_id.yaml"),
        "tests/fixtures/cli/good/denied-approval.yaml",
    ])
    .run();
    out.code(1);
    let decided = util::requests(&[
        SYNC_ACT.into(),
        "tests/fixtures/cli/good/denied-approval.yaml".into(),
    ]);
    assert_eq!(
        out.stdout.matches(" -> ").count(),
        decided,
        "{}",
        out.stdout
    );
    let out = mailgate(&["test", "policies/scenarios/sync-act.yaml", BAD_SCENARIOS]).run();
    out.code(1);
    // Each file of the bad-scenarios fixture fails as a whole.
    let bad = std::fs::read_dir(util::repo_path(BAD_SCENARIOS))
        .unwrap()
        .count();
    let passed = util::expectations(&[SYNC_ACT.into()]);
    assert_eq!(out.last_line(), format!("{passed} passed, {bad} failed"));
}

#[test]
fn unreadable_inputs_are_errors_not_panics() {
    let out = mailgate(&["eval", "no-such-file.yaml"]).run();
    out.code(1);
    assert!(out.stderr.contains("no-such-file.yaml"), "{}", out.stderr);
    let out = mailgate(&["test", "no-such-file.yaml"]).run();
    out.code(1);
    assert!(out.stderr.contains("no-such-file.yaml"), "{}", out.stderr);
    // A folder without scenarios.
    let dir = util::temp_dir("empty-scenarios");
    let out = mailgate(&["test"]).arg(&dir).run();
    out.code(1);
    assert!(
        out.stderr.contains("no scenario files found"),
        "{}",
        out.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["frobnicate"][..],
        &["eval"][..],
        &["eval", "--format", "xml", "policies/scenarios"][..],
        &["check", "--bogus"][..],
        &["test", "--policies"][..],
    ] {
        let out = mailgate(args).run();
        out.code(2);
        assert_eq!(out.stdout, "");
        assert!(!out.stderr.is_empty());
    }
    for args in [
        &["--help"][..],
        &["check", "--help"][..],
        &["--version"][..],
    ] {
        let out = mailgate(args).run();
        out.code(0);
        assert!(!out.stdout.is_empty());
    }
}

#[test]
fn piped_input_does_not_change_check() {
    let out = mailgate(&["check"]).stdin("garbage\n").run();
    out.code(0);
    assert_eq!(out.stdout, format!("{}\n", util::shipped_check_summary()));
}

/// `mailgate eval ... | head -1`: a closed stdout is not a reason to panic.
#[test]
fn a_closed_stdout_does_not_panic() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(["eval", "--explain", "policies/scenarios"])
        .current_dir(util::repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close our end of stdout before mailgate has written its (large) output.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    assert!(out.status.code().is_some(), "killed by a signal");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `check --format json`: one object per diagnostic with its span, then a summary.
#[test]
fn check_json_lists_every_diagnostic_with_its_span() {
    let dir = broken_copy(
        "check-json",
        &[
            (
                "approvers.policy",
                "contains \"System Administrator\"",
                "contains \"System Adminstrator\"",
            ),
            (
                "approval.policy",
                "deny approve_mailbox",
                "deny aprove_mailbox",
            ),
        ],
    );
    let out = mailgate(&["check", "--format", "json", "--policies", "policies"])
        .dir(&dir)
        .run();
    out.code(1);
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    let role = &lines[0];
    assert_eq!(role["severity"], "error");
    assert_eq!(
        role["message"],
        "`System Adminstrator` is not a `security_role`"
    );
    assert_eq!(role["span"]["file"], "policies/approvers.policy");
    assert_eq!(role["span"]["line"], 9);
    assert_eq!(role["help"], "did you mean `System Administrator`?");
    assert_eq!(lines[1]["span"]["file"], "policies/approval.policy");
    assert_eq!(lines[1]["span"]["line"], 39);
    assert_eq!(lines[1]["span"]["column"], 8);
    assert_eq!(lines[2]["summary"], "failed");
    assert_eq!(lines[2]["errors"], 2);

    let ok = mailgate(&["check", "--format", "json"]).run();
    ok.code(0);
    let summary: serde_json::Value = serde_json::from_str(ok.stdout.trim()).unwrap();
    assert_eq!(summary["summary"], "ok");
    assert_eq!(summary["rules"], util::shipped_policy_counts().1);
}

/// `mailgate test policies`: a folder search leaves out the policy set's `schema.yaml`.
#[test]
fn test_on_a_policy_folder_runs_its_scenarios_not_its_schema() {
    let out = mailgate(&["test", "policies"]).run();
    out.code(0);
    assert_eq!(out.last_line(), shipped_test_summary());
    assert!(!out.stdout.contains("schema.yaml"), "{}", out.stdout);
}
