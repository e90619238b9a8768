//! `mailgate audit` on a hand-written export bundle (tests/fixtures/audit/contoso): the
//! three output formats as reviewed snapshots, the decisions against `eval --batch` on the
//! very lines the importer builds, the readings docs/permission-model.md asks for, and hostile bundles.

use crate::util::{self, mailgate};
use mailgate::audit::{self, Auditor, BundleSource, ImportOptions, SYNC_ACTIONS};
use mailgate::policy_set::{self, Origin};
use serde_json::Value;
use std::path::{Path, PathBuf};

const BUNDLE: &str = "tests/fixtures/audit/contoso";

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The fixture bundle, copied to a temp dir with `edit` applied to `file`.
fn edited(name: &str, file: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    let dir = util::temp_dir(&format!("audit-{name}"));
    util::copy_dir(&util::repo_path(BUNDLE), &dir);
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let new = edit(text.clone());
    assert_ne!(text, new, "the edit of {file} changed nothing");
    std::fs::write(&path, new).unwrap();
    dir
}

fn audit_json(dir: &Path) -> Vec<Value> {
    let out = mailgate(&["audit", "--format", "json"]).arg(dir).run();
    out.code(0);
    json_lines(&out.stdout)
}

fn mailbox<'a>(records: &'a [Value], name: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["mailbox"] == name)
        .unwrap_or_else(|| panic!("no mailbox {name}"))
}

fn user<'a>(records: &'a [Value], upn: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["user"] == upn)
        .unwrap_or_else(|| panic!("no user {upn}"))
}

#[test]
fn text_report_snapshot() {
    let out = mailgate(&["audit", BUNDLE]).run();
    out.code(0);
    util::settings().bind(|| insta::assert_snapshot!("audit_text", out.transcript()));
}

#[test]
fn json_report_snapshot() {
    let out = mailgate(&["audit", "--format", "json", BUNDLE]).run();
    out.code(0);
    util::settings().bind(|| insta::assert_snapshot!("audit_json", out.transcript()));
}

#[test]
fn csv_report_snapshot() {
    let out = mailgate(&["audit", "--format", "csv", BUNDLE]).run();
    out.code(0);
    util::settings().bind(|| insta::assert_snapshot!("audit_csv", out.transcript()));
}

/// Expectations from docs/permission-model.md, for the mailboxes and users of the fixture.
#[test]
fn decisions_follow_the_domain() {
    let r = audit_json(&util::repo_path(BUNDLE));
    let d = |name: &str, action: &str| {
        mailbox(&r, name)["sync"][action]["decision"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Approved, tested, server-side sync everywhere, active profile: all three sync.
    for a in SYNC_ACTIONS {
        assert_eq!(d("Alex Wilber", a), "allow", "{a}");
    }
    // Pending approval on Exchange Online: email and ACT blocked.
    assert_eq!(d("Sam Rivera", "sync_incoming_email"), "deny");
    // A queue with approval on and an approved address syncs email.
    assert_eq!(d("Support", "sync_incoming_email"), "allow");
    // A forward mailbox never sends.
    assert_eq!(d("Fax forward", "sync_outgoing_email"), "deny");
    assert_eq!(d("Fax forward", "sync_incoming_email"), "allow");
    // POP3: email syncs, ACT never does.
    assert_eq!(d("Olga Novak", "sync_incoming_email"), "allow");
    assert_eq!(d("Olga Novak", "sync_appointments_contacts_tasks"), "deny");
    // Inactive profile, no profile, inactive mailbox: nothing syncs.
    for name in ["Tina Chen", "Dana Whitley", "Former Employee"] {
        for a in SYNC_ACTIONS {
            assert_eq!(d(name, a), "deny", "{name} {a}");
        }
    }
    let reasons =
        |name: &str| mailbox(&r, name)["sync"]["sync_incoming_email"]["reasons"].to_string();
    assert!(reasons("Dana Whitley").contains("no email server profile"));
    assert!(!reasons("Dana Whitley").contains("profile is inactive"));
    assert!(reasons("Tina Chen").contains("profile is inactive"));
    assert!(reasons("Former Employee").contains("mailbox record is inactive"));
    // Another organization primary: email here, ACT there.
    assert_eq!(d("Megan Bowen", "sync_incoming_email"), "allow");
    assert_eq!(d("Megan Bowen", "sync_appointments_contacts_tasks"), "deny");
    // Disabled by the platform after permanent errors: those workloads stop, ACT goes on.
    assert_eq!(d("Lee Gu", "sync_outgoing_email"), "deny");
    assert_eq!(d("Lee Gu", "sync_appointments_contacts_tasks"), "allow");

    // Who may approve Sam's pending Exchange Online mailbox (9.2.24094 online): Alex
    // (System Administrator + Global Administrator), Dana (System Administrator +
    // Delegated Mailbox Approver), Tina (System Administrator through a team + Exchange
    // Administrator) and Sam himself (his UPN, Write Mailbox). Not Pat (Power Platform
    // Administrator), not Olga.
    assert_eq!(
        mailbox(&r, "Sam Rivera")["approvers"],
        serde_json::json!([
            "AlexW@contoso.com",
            "dana@contoso.com",
            "sam@contoso.com",
            "tina@contoso.com"
        ])
    );
    // Pat's IMAP mailbox: any System Administrator with the privilege, Pat included
    // (his role has a localized name and is matched by its template id).
    assert_eq!(
        mailbox(&r, "Pat Fischer")["approvers"],
        serde_json::json!([
            "AlexW@contoso.com",
            "dana@contoso.com",
            "tina@contoso.com",
            "pat@contoso.com"
        ])
    );
    // An approved address is not approved again.
    assert_eq!(
        mailbox(&r, "Alex Wilber")["approvers"],
        serde_json::json!([])
    );

    // Users: only a Global or Exchange Administrator assigns Delegated Mailbox Approver.
    assert_eq!(
        user(&r, "AlexW@contoso.com")["assign_delegated_mailbox_approver"],
        "allow"
    );
    assert_eq!(
        user(&r, "tina@contoso.com")["assign_delegated_mailbox_approver"],
        "allow"
    );
    assert_eq!(
        user(&r, "dana@contoso.com")["assign_delegated_mailbox_approver"],
        "deny"
    );
    assert_eq!(
        user(&r, "dana@contoso.com")["change_approval_settings"],
        "allow"
    );
    assert_eq!(
        user(&r, "pat@contoso.com")["change_approval_settings"],
        "deny"
    );
    assert_eq!(user(&r, "olga@contoso.com")["can_approve"], 0);
    assert_eq!(user(&r, "dana@contoso.com")["can_approve"], 3);
    // Tina's System Administrator comes through a team, and the record says so.
    assert_eq!(
        user(&r, "tina@contoso.com")["team_roles"],
        serde_json::json!(["System Administrator (team Mailbox Admins)"])
    );
    // The smallest fix of an inactive profile is to activate it; an allow has none.
    let tina = &mailbox(&r, "Tina Chen")["sync"]["sync_incoming_email"]["counterfactuals"];
    assert_eq!(tina["complete"], true);
    assert_eq!(
        tina["options"][0]["changes"],
        serde_json::json!([{"path": "mailbox.profile_active", "op": "set", "value": true}])
    );
    assert!(mailbox(&r, "Alex Wilber")["sync"]["sync_incoming_email"]["counterfactuals"].is_null());
    let summary = r.last().unwrap();
    assert_eq!(summary["mailboxes"], 12);
    assert_eq!(summary["blocked"]["sync_incoming_email"], 7);
}

/// Every decision of the audit equals `eval --batch` on the batch line the importer
/// builds: the three sync actions per mailbox, approval for every user and mailbox
/// (which checks the decide-once-per-class shortcut), and the two user questions.
#[test]
fn every_decision_equals_eval_batch_on_the_importers_lines() {
    let origin = Origin::Dir(util::repo_path("policies"));
    let set = policy_set::load(&origin).unwrap().set;
    let opts = ImportOptions {
        deployment: "online".to_owned(),
        ..ImportOptions::default()
    };
    let bundle = audit::import_bundle(
        &BundleSource::Dir(util::repo_path(BUNDLE)),
        &origin,
        &set,
        &opts,
    )
    .unwrap();
    let auditor = Auditor::new(&set, &bundle);
    let mut lines = Vec::new();
    for m in &bundle.mailboxes {
        for a in SYNC_ACTIONS {
            lines.push(auditor.sync_line(m, a));
        }
        for u in &bundle.users {
            lines.push(auditor.approve_line(u, m));
        }
    }
    for u in &bundle.users {
        lines.extend(auditor.user_lines(u));
    }
    let out = mailgate(&["eval", "--batch", "-"])
        .stdin(lines.join("\n") + "\n")
        .run();
    out.code(0);
    let batch = json_lines(&out.stdout);
    assert_eq!(batch.len(), lines.len());
    let records = audit_json(&util::repo_path(BUNDLE));
    let mut i = 0;
    for m in &bundle.mailboxes {
        let rec = mailbox(&records, &m.name);
        for a in SYNC_ACTIONS {
            let got = &rec["sync"][a];
            let want = &batch[i];
            assert_eq!(got["decision"], want["decision"], "{} {a}", m.name);
            assert_eq!(got["cause"], want["cause"], "{} {a}", m.name);
            assert_eq!(got["rules"], want["rules"], "{} {a}", m.name);
            assert_eq!(got["reasons"], want["reasons"], "{} {a}", m.name);
            i += 1;
        }
        let approvers: Vec<&str> = rec["approvers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for u in &bundle.users {
            let allowed = batch[i]["decision"] == "allow";
            assert_eq!(
                approvers.contains(&u.upn.as_str()),
                allowed,
                "{} approving {}",
                u.upn,
                m.name
            );
            i += 1;
        }
    }
    for u in &bundle.users {
        let rec = user(&records, &u.upn);
        assert_eq!(
            rec["change_approval_settings"], batch[i]["decision"],
            "{}",
            u.upn
        );
        assert_eq!(
            rec["assign_delegated_mailbox_approver"],
            batch[i + 1]["decision"],
            "{}",
            u.upn
        );
        i += 2;
    }
}

#[test]
fn formatted_value_labels_are_never_read() {
    // Replace every label with nonsense that would mean something else.
    let dir = edited("labels", "mailboxes.json", |t| {
        t.lines()
            .map(|l| {
                if l.contains("FormattedValue\":") {
                    let (k, _) = l.split_once(": ").unwrap();
                    let comma = if l.ends_with(',') { "," } else { "" };
                    format!("{k}: \"Approved\"{comma}")
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let strip = |mut v: Vec<Value>| {
        let s = v.pop().unwrap();
        assert_eq!(s["summary"], "audit");
        v
    };
    assert_eq!(
        strip(audit_json(&dir)),
        strip(audit_json(&util::repo_path(BUNDLE)))
    );
}

#[test]
fn a_single_page_and_a_paged_file_read_alike() {
    let dir = edited("one-page", "mailboxes.json", |t| {
        let pages: Vec<Value> = serde_json::from_str(&t).unwrap();
        let mut all = Vec::new();
        for p in pages {
            all.extend(p["value"].as_array().unwrap().clone());
        }
        serde_json::json!({"@odata.context": "x", "value": all}).to_string()
    });
    let a = audit_json(&dir);
    let b = audit_json(&util::repo_path(BUNDLE));
    assert_eq!(a[..12], b[..12]);
}

#[test]
fn onpremises_deployment_and_server_override() {
    let out = mailgate(&[
        "audit",
        "--format",
        "json",
        "--deployment",
        "onpremises",
        BUNDLE,
    ])
    .run();
    out.code(0);
    let r = json_lines(&out.stdout);
    // On-premises: a System Administrator with the privilege approves any mailbox, so
    // Pat now may approve Sam's.
    let approvers = mailbox(&r, "Sam Rivera")["approvers"].to_string();
    assert!(approvers.contains("pat@contoso.com"), "{approvers}");
    // --server turns the Exchange Online profile into an on-premises one.
    let out = mailgate(&[
        "audit",
        "--format",
        "json",
        "--server",
        "000000E5-0000-4000-8000-000000000001=exchange_onpremises",
        BUNDLE,
    ])
    .run();
    out.code(0);
    let r = json_lines(&out.stdout);
    let sam = mailbox(&r, "Sam Rivera");
    assert_eq!(sam["server"]["type"], "exchange_onpremises");
    assert_eq!(sam["server"]["evidence"], "--server override");
    // Exchange on-premises ACT does not need approval; only the missing test stops it.
    assert_eq!(
        sam["sync"]["sync_appointments_contacts_tasks"]["rules"],
        serde_json::json!(["act-not-tested"])
    );
    let out = mailgate(&["audit", "--server", "x=exchange_online_typo", BUNDLE]).run();
    out.code(1);
    assert!(
        out.stderr.contains(
            "`exchange_online_typo` is not a `server_type`; did you mean `exchange_online`?"
        ),
        "{}",
        out.stderr
    );
    let out = mailgate(&["audit", "--server", "nothing", BUNDLE]).run();
    out.code(2);
}

#[test]
fn the_mapping_file_is_not_a_scenario() {
    let out = mailgate(&["test", "policies"]).run();
    out.code(0);
    assert!(!out.stdout.contains("dataverse-mapping"), "{}", out.stdout);
}

#[test]
fn a_new_option_value_is_an_edit_of_the_mapping() {
    // An option value the mapping does not know is an error that names it...
    let bundle = edited("new-option", "mailboxes.json", |t| {
        t.replacen("\"actdeliverymethod\": 1,", "\"actdeliverymethod\": 9,", 1)
    });
    let out = mailgate(&["audit"]).arg(&bundle).run();
    out.code(1);
    assert!(out.stderr.contains("mailboxes.json:"), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "option value 9 of column `actdeliverymethod` is not in the mapping (known: 0, 1, 2)"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
    // ... and one line in the mapping file makes it known.
    let dir = util::temp_dir("audit-mapping-edit");
    util::copy_dir(&util::repo_path("policies"), &dir.join("policies"));
    let path = dir.join("policies/dataverse-mapping.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace(
        "values: { 0: outlook, 1: server_side_sync, 2: none }",
        "values: { 0: outlook, 1: server_side_sync, 2: none, 9: none }",
    );
    std::fs::write(&path, text).unwrap();
    let out = mailgate(&["audit", "--format", "json", "--policies"])
        .arg(dir.join("policies"))
        .arg(&bundle)
        .run();
    out.code(0);
}

#[test]
fn mapping_errors_point_into_the_mapping_file() {
    let dir = util::temp_dir("audit-mapping-bad");
    util::copy_dir(&util::repo_path("policies"), &dir.join("policies"));
    let path = dir.join("policies/dataverse-mapping.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .replace(
            "  incoming:\n    column: incomingemailstatus",
            "  incomming:\n    column: incomingemailstatus",
        )
        .replace(
            "1: approved, 2: pending_approval",
            "1: aproved, 2: pending_approval",
        )
        .replace(
            "prvWriteMailbox: Write Mailbox",
            "prvWriteMailbox: Write Mailbx",
        );
    std::fs::write(&path, text).unwrap();
    let out = mailgate(&["audit", "--policies"])
        .arg(dir.join("policies"))
        .arg(util::repo_path(BUNDLE))
        .run();
    out.code(1);
    for needle in [
        "`incomming` is not an attribute of `mailbox`",
        "did you mean `incoming`?",
        "`aproved` is not an `approval_status`",
        "did you mean `Write Mailbox`?",
        "dataverse-mapping.yaml:",
    ] {
        assert!(
            out.stderr.contains(needle),
            "no `{needle}` in:\n{}",
            out.stderr
        );
    }
}

/// A hostile or broken bundle: exit 1 with a message that names the file (and line and
/// column where there is one), nothing on stdout, never a panic, never an allow.
fn fails(name: &str, file: &str, edit: impl FnOnce(String) -> String, needles: &[&str]) {
    let dir = edited(name, file, edit);
    for format in ["text", "json", "csv"] {
        let out = mailgate(&["audit", "--format", format]).arg(&dir).run();
        out.code(1);
        assert_eq!(out.stdout, "", "{name}: a failed audit prints no decisions");
        for n in needles {
            assert!(
                out.stderr.contains(n),
                "{name}: no `{n}` in:\n{}",
                out.stderr
            );
        }
    }
}

#[test]
fn invalid_json_names_file_line_and_column() {
    fails(
        "invalid-json",
        "mailboxes.json",
        |t| {
            t.replacen(
                "\"emailrouteraccessapproval\": 1,",
                "\"emailrouteraccessapproval\": 1,,",
                1,
            )
        },
        &["mailboxes.json:", "invalid JSON"],
    );
    fails(
        "truncated",
        "systemusers.json",
        |t| t[..t.len() / 2].to_owned(),
        &["systemusers.json:", "invalid JSON: EOF"],
    );
    fails(
        "not-utf8",
        "teams.json",
        |t| t.replacen("Mailbox Admins", "Mailbox \u{0}Admins", 1),
        &["teams.json:"],
    );
}

#[test]
fn a_wrong_type_in_a_column_is_an_error() {
    // A label where the integer belongs.
    fails(
        "label-instead-of-int",
        "mailboxes.json",
        |t| {
            t.replacen(
                "\"emailrouteraccessapproval\": 2,",
                "\"emailrouteraccessapproval\": \"Pending Approval\",",
                1,
            )
        },
        &[
            "mailboxes.json:",
            "column `emailrouteraccessapproval` should be an integer option value, found a string",
        ],
    );
    fails(
        "bool-as-int",
        "mailboxes.json",
        |t| {
            t.replacen(
                "\"enabledforincomingemail\": true,",
                "\"enabledforincomingemail\": 1,",
                1,
            )
        },
        &["column `enabledforincomingemail` should be true or false, found a number"],
    );
    fails(
        "value-not-a-list",
        "organizations.json",
        |t| {
            t.replacen("\"value\": [", "\"value\": {\"x\": [", 1)
                .replacen("]\n}", "]}\n}", 1)
        },
        &[
            "organizations.json:",
            "expected `value` to be a list, found an object",
        ],
    );
    fails(
        "duplicate-key",
        "mailboxes.json",
        |t| {
            t.replacen(
                "\"actstatus\": 1,",
                "\"actstatus\": 1, \"actstatus\": 0,",
                1,
            )
        },
        &["duplicate key `actstatus`"],
    );
}

#[test]
fn missing_files_and_columns_are_named() {
    let dir = util::temp_dir("audit-missing-file");
    util::copy_dir(&util::repo_path(BUNDLE), &dir);
    std::fs::remove_file(dir.join("teams.json")).unwrap();
    let out = mailgate(&["audit"]).arg(&dir).run();
    out.code(1);
    assert!(
        out.stderr
            .contains("teams.json: file is missing from the bundle"),
        "{}",
        out.stderr
    );
    fails(
        "missing-column",
        "mailboxes.json",
        |t| t.replacen("\"actstatus\": 1,", "", 1),
        &["mailboxes.json:", "missing column `actstatus`"],
    );
    fails(
        "missing-privileges",
        "systemusers.json",
        |t| {
            t.replacen(
                "00000051-0000-4000-8000-000000000001",
                "00000051-0000-4000-8000-0000000000ff",
                1,
            )
        },
        &["privileges/00000051-0000-4000-8000-0000000000ff.json: file is missing from the bundle"],
    );
    fails(
        "unknown-profile",
        "mailboxes.json",
        |t| {
            t.replacen(
                "\"_emailserverprofile_value\": \"000000e5-0000-4000-8000-000000000002\"",
                "\"_emailserverprofile_value\": \"000000e5-0000-4000-8000-0000000000ee\"",
                1,
            )
        },
        &["server profile 000000e5-0000-4000-8000-0000000000ee is neither expanded"],
    );
}

#[test]
fn an_optional_column_may_be_missing_with_a_warning() {
    let dir = edited("optional", "mailboxes.json", |t| {
        t.lines()
            .filter(|l| !l.contains("orgmarkedasprimaryforexchangesync"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let r = audit_json(&dir);
    let summary = r.last().unwrap().to_string();
    assert!(
        summary.contains("has no column `orgmarkedasprimaryforexchangesync`"),
        "{summary}"
    );
    // The schema default (this organization is primary) applies.
    assert_eq!(
        mailbox(&r, "Megan Bowen")["sync"]["sync_appointments_contacts_tasks"]["decision"],
        "allow"
    );
}

#[test]
fn a_file_over_the_size_limit_is_refused_before_it_is_read() {
    let dir = util::temp_dir("audit-huge");
    util::copy_dir(&util::repo_path(BUNDLE), &dir);
    // A sparse file: its size is over the limit, but it costs no disk or time.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(dir.join("mailboxes.json"))
        .unwrap();
    f.set_len(mailgate::limits::MAX_BUNDLE_FILE_BYTES as u64 + 1)
        .unwrap();
    drop(f);
    let out = mailgate(&["audit"]).arg(&dir).run();
    out.code(1);
    assert!(
        out.stderr
            .contains("mailboxes.json: file is 268435457 bytes, over the limit of 268435456 bytes"),
        "{}",
        out.stderr
    );
}

#[test]
fn deep_nesting_and_garbage_are_errors() {
    fails(
        "deep",
        "directory-roles.json",
        |_| format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)),
        &["directory-roles.json:1:2: expected a page to be an object, found a list"],
    );
    fails(
        "deep-in-a-row",
        "directory-roles.json",
        |_| {
            format!(
                "{{\"value\": [{{\"principalId\": {}1{}}}]}}",
                "[".repeat(100_000),
                "]".repeat(100_000)
            )
        },
        &["directory-roles.json:1:28: column `principalId` should be a string, found a list"],
    );
    fails(
        "not-an-object",
        "version.json",
        |_| "[1, 2]".to_owned(),
        &["version.json:1:1: expected the file to be an object, found a list"],
    );
    fails(
        "bad-version",
        "version.json",
        |t| t.replace("9.2.24094.00213", "nine"),
        &["version.json:", "`Version` is not a version"],
    );
}

#[test]
fn a_missing_bundle_folder_is_an_error() {
    let out = mailgate(&["audit", "tests/fixtures/audit/no-such-bundle"]).run();
    out.code(1);
    assert!(
        out.stderr
            .contains("no-such-bundle: the bundle folder does not exist"),
        "{}",
        out.stderr
    );
}
