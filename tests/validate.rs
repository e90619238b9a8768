//! Validation against the shipped schema (`policies/schema.yaml`): every fixture under
//! `fixtures/validate/ok` loads cleanly; every fixture under `fixtures/validate/err` fails,
//! and the rendered diagnostics (`file:line:col`, source line, caret, help) are snapshotted.

use crate::syntax::display_name;
use crate::util;

fn load_fixture(path: &std::path::Path) -> Result<mailgate::policy_set::Loaded, String> {
    let text = std::fs::read_to_string(path).unwrap().replace("\r\n", "\n");
    util::load_texts(&util::shipped_schema(), &[(&display_name(path), &text)])
}

#[test]
fn validate_ok() {
    insta::glob!("fixtures/validate/ok/*.policy", |path| {
        let loaded = load_fixture(path)
            .unwrap_or_else(|diags| panic!("{} should validate:\n{diags}", path.display()));
        assert!(
            loaded.warnings.is_empty(),
            "{}: unexpected warnings {:?}",
            path.display(),
            loaded.warnings
        );
        assert!(!loaded.set.rules().is_empty());
    });
}

#[test]
fn validate_err() {
    util::settings().bind(|| {
        insta::glob!("fixtures/validate/err/*.policy", |path| {
            let Err(diags) = load_fixture(path) else {
                panic!("{} should not validate", path.display());
            };
            let name = display_name(path);
            assert!(
                diags.contains(&format!("--> {name}:")),
                "every error names the file and position:\n{diags}"
            );
            insta::assert_snapshot!(diags);
        });
    });
}

fn errors(text: &str) -> String {
    util::load_err(&util::shipped_schema(), &[("p.policy", text)])
}

#[track_caller]
fn assert_error(text: &str, message: &str, help: Option<&str>) {
    let diags = errors(text);
    assert!(
        diags.contains(&format!("error: {message}\n")),
        "missing `{message}` in:\n{diags}"
    );
    if let Some(help) = help {
        assert!(
            diags.contains(&format!("help: {help}")),
            "missing help `{help}` in:\n{diags}"
        );
    }
}

#[test]
fn each_error_class_has_its_message_and_suggestion() {
    assert_error(
        r#"rule r { allow approve_mailbox when user.security_roles contains "system adminstrator" }"#,
        "`system adminstrator` is not a `security_role`",
        Some("did you mean `System Administrator`?"),
    );
    assert_error(
        r#"rule r { allow approve_mailbox when user.privilege contains "Write Mailbox" }"#,
        "`user` has no attribute `privilege`",
        Some("did you mean `privileges`?"),
    );
    assert_error(
        "rule r { allow aprove_mailbox }",
        "unknown action `aprove_mailbox`",
        Some("did you mean `approve_mailbox`?"),
    );
    assert_error(
        r#"rule r { allow change_approval_settings when mailbox.approval == "approved" }"#,
        "slot `mailbox` is not available for action `change_approval_settings`",
        None,
    );
    assert_error(
        r#"rule r { allow approve_mailbox when org.version >= "9.1.x" }"#,
        "`9.1.x` is not a valid version",
        None,
    );
    assert_error(
        "let a = b\nlet b = a\nrule r { allow approve_mailbox when a }",
        "`let` definitions refer to each other in a cycle: a -> b -> a",
        None,
    );
    assert_error(
        "let is_admin = true\nrule r { allow approve_mailbox when is_admn }",
        "unknown name `is_admn`",
        Some("did you mean `is_admin`?"),
    );
    assert_error(
        "rule r { allow approve_mailbox }\nrule r { deny approve_mailbox }",
        "duplicate rule id `r`",
        None,
    );
}

#[test]
fn type_mismatches_are_errors() {
    for (condition, fragment) in [
        (r#"mailbox.email contains "a""#, "contains"),
        (r#"mailbox.approval < "approved""#, "<"),
        (r#"user.security_roles < "Basic User""#, "<"),
        (r#"user.upn >= "m""#, ">="),
        (r#"mailbox.profile_active == "yes""#, "bool"),
        ("user.upn == mailbox.approval", "string"),
        ("org.version == org.deployment", "version"),
        ("mailbox.email == 3", "string"),
        (
            r#"user.security_roles contains any "Basic User""#,
            "contains any",
        ),
        (
            "mailbox.email",
            "expected a condition, found `mailbox.email`",
        ),
    ] {
        let text = format!("rule r {{ allow approve_mailbox when {condition} }}");
        let diags = errors(&text);
        assert!(
            diags.contains(fragment),
            "`{condition}`: expected a type error mentioning `{fragment}`:\n{diags}"
        );
        assert!(diags.contains("p.policy:1:"), "{diags}");
    }
}

#[test]
fn a_literal_outside_an_enum_is_an_error_wherever_it_appears() {
    for condition in [
        r#"mailbox.server == "gmail""#,
        r#""gmail" == mailbox.server"#,
        r#"mailbox.server != "gmail""#,
        r#"mailbox.server in ["exchange_online", "gmail"]"#,
        r#"user.security_roles contains all ["Basic User", "gmail"]"#,
    ] {
        let diags = errors(&format!(
            "rule r {{ allow approve_mailbox when {condition} }}"
        ));
        assert!(
            diags.contains("`gmail` is not a "),
            "`{condition}`:\n{diags}"
        );
    }
}

#[test]
fn duplicate_rule_ids_in_two_files_name_both_places() {
    let diags = util::load_err(
        &util::shipped_schema(),
        &[
            ("a.policy", "# first\nrule same { allow approve_mailbox }\n"),
            (
                "b.policy",
                "\n\n\nrule same { deny approve_mailbox reason \"no\" }\n",
            ),
        ],
    );
    assert!(diags.contains("duplicate rule id `same`"), "{diags}");
    assert!(diags.contains("--> b.policy:4:"), "{diags}");
    assert!(diags.contains("a.policy:2:"), "{diags}");
    assert!(diags.contains("first defined here"), "{diags}");
    util::settings().bind(|| insta::assert_snapshot!("duplicate_rule_two_files", diags));
}

#[test]
fn all_errors_in_all_files_are_reported_in_one_run() {
    let diags = util::load_err(
        &util::shipped_schema(),
        &[
            (
                "a.policy",
                "rule a { allow aprove_mailbox }\nrule b { allow approve_mailbox when usr.upn == \"\" }\n",
            ),
            (
                "b.policy",
                "rule c { allow approve_mailbox when mailbox.approval < \"approved\" }\n",
            ),
            ("c.policy", "rule d { allow approve_mailbox when }\n"),
        ],
    );
    for expected in [
        "--> a.policy:1:16",
        "--> a.policy:2:",
        "--> b.policy:1:",
        "--> c.policy:1:",
    ] {
        assert!(diags.contains(expected), "missing {expected}:\n{diags}");
    }
    assert_eq!(diags.matches("error: ").count(), 4, "{diags}");
}

#[test]
fn a_set_with_one_error_among_good_files_is_never_usable() {
    let good = util::read("policies/approval.policy");
    let approvers = util::read("policies/approvers.policy");
    let result = util::load_texts(
        &util::shipped_schema(),
        &[
            ("approval.policy", &good),
            ("approvers.policy", &approvers),
            (
                "bad.policy",
                "rule x { allow approve_mailbox when user.upn < \"a\" }",
            ),
        ],
    );
    assert!(result.is_err());
}

#[test]
fn the_shipped_policies_validate_without_warnings() {
    let loaded = mailgate::policy_set::load(&mailgate::policy_set::Origin::Dir(util::repo_path(
        "policies",
    )))
    .unwrap_or_else(|f| {
        panic!(
            "{}",
            mailgate::diagnostics::render_all(&f.diagnostics, &f.sources)
        )
    });
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.policy_files, 7);
    assert_eq!(loaded.set.rules().len(), 32);
}

#[test]
fn an_empty_policy_set_loads_with_a_warning() {
    let loaded = util::load_ok(&util::shipped_schema(), &[]);
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].message.contains("no `.policy` files"));
}

#[test]
fn invariants_are_validated_and_kept_apart_from_rules() {
    let text = util::read("tests/fixtures/validate/ok/invariants.policy");
    let loaded = util::load_texts(&util::shipped_schema(), &[("p.policy", &text)])
        .unwrap_or_else(|d| panic!("should validate:\n{d}"));
    assert_eq!(loaded.set.rules().len(), 1, "invariants are not rules");
    let invariants = loaded.validated.invariants();
    let seen: Vec<(&str, &str, usize)> = invariants
        .iter()
        .map(|i| (i.id.as_str(), i.form.as_str(), i.actions.len()))
        .collect();
    assert_eq!(
        seen,
        [
            ("approvers-hold-the-privilege", "allow only when", 2),
            ("no-dma-for-teams", "deny when", 1),
            ("old-orgs-need-a-global-admin", "allow when", 1),
        ]
    );
    assert_eq!(
        invariants[0].reason.as_deref(),
        Some("every approver holds the approval privilege")
    );
}
