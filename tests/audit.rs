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

/// How many mailboxes the fixture's mailboxes.json holds (every page), read from the file.
fn fixture_mailboxes() -> usize {
    let text = std::fs::read_to_string(util::repo_path(BUNDLE).join("mailboxes.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let pages = match v {
        Value::Array(pages) => pages,
        page => vec![page],
    };
    pages
        .iter()
        .map(|p| p["value"].as_array().unwrap().len())
        .sum()
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
    let n = fixture_mailboxes();
    assert_eq!(summary["mailboxes"], n);
    let blocked = r[..n]
        .iter()
        .filter(|m| m["sync"]["sync_incoming_email"]["decision"] == "deny")
        .count();
    assert!(blocked > 0);
    assert_eq!(summary["blocked"]["sync_incoming_email"], blocked);
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
    let n = fixture_mailboxes();
    assert_eq!(a[..n], b[..n]);
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

// ---- fix plans (docs/audit.md) -------------------------------------------------------------

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect()
}

/// Sam's and Dana's addresses are not approved: the first plan is to approve the address
/// (done by `approve_mailbox`, so it names the mailbox's approvers), and switching the
/// org-wide approval off comes last, with its warning.
#[test]
fn plans_lead_with_the_admins_steps_and_name_who_can_do_them() {
    let r = audit_json(&util::repo_path(BUNDLE));
    for name in ["Sam Rivera", "Dana Whitley"] {
        let m = mailbox(&r, name);
        let approvers = strs(&m["approvers"]);
        assert!(!approvers.is_empty(), "{name}");
        let d = &m["sync"]["sync_incoming_email"];
        assert_eq!(d["decision"], "deny");
        let plans = d["plans"].as_array().unwrap();
        let first = &plans[0];
        assert!(
            first["steps"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s.get("warning").is_none())
        );
        let approve = &first["steps"][0];
        assert_eq!(approve["action"], "approve_mailbox", "{name}: {first}");
        assert!(approve["text"].as_str().unwrap().starts_with("Approve"));
        assert_eq!(strs(&approve["who"]), approvers, "{name}");
        // Every change of the plan is covered by exactly one step.
        let mut covered: Vec<u64> = first["steps"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.as_u64().unwrap())
            })
            .collect();
        covered.sort_unstable();
        let n = first["changes"].as_array().unwrap().len() as u64;
        assert_eq!(covered, (0..n).collect::<Vec<_>>());
        // Warned plans come after every plan without a warning, and the org switch is one.
        let warned: Vec<bool> = plans
            .iter()
            .map(|p| {
                p["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s.get("warning").is_some())
            })
            .collect();
        assert!(
            warned.windows(2).all(|w| !w[0] || w[1]),
            "{name}: {warned:?}"
        );
        let last = plans.last().unwrap();
        assert!(
            last["changes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["path"] == "org.process_emails_only_for_approved_users"),
            "{name}: {last}"
        );
        assert!(last["cost"].as_u64().unwrap() >= 10);
        // The counterfactuals (eval's shape) carry costs and steps too, cheapest first.
        let costs: Vec<u64> = d["counterfactuals"]["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["cost"].as_u64().unwrap())
            .collect();
        assert!(costs.windows(2).all(|w| w[0] <= w[1]), "{costs:?}");
    }
    // The text report: numbered steps with who, then the org switch, not recommended.
    let out = mailgate(&["audit", BUNDLE]).run();
    out.code(0);
    for (name, email) in [
        ("Sam Rivera", "sam@contoso.com"),
        ("Dana Whitley", "dana@contoso.com"),
    ] {
        let start = out.stdout.find(&format!("{name} <{email}>")).unwrap();
        let block = &out.stdout[start..];
        let block = &block[..block.find("\n\n").unwrap()];
        let m = mailbox(&r, name);
        let who = strs(&m["approvers"]).join(", ");
        let fix = block
            .find("    to fix:\n      1. Approve the mailbox's email address")
            .unwrap_or_else(|| panic!("{block}"));
        assert!(block.contains(&format!("(can do it: {who})")), "{block}");
        let not = block
            .find("    not recommended: Turn off 'Process emails only for approved users'")
            .unwrap_or_else(|| panic!("{block}"));
        assert!(fix < not);
        assert!(
            block.contains("Microsoft recommends keeping approval on"),
            "{block}"
        );
        assert!(!block.contains("smallest fix"), "{block}");
    }
    // CSV: the first plan's steps in a `fix` column.
    let out = mailgate(&["audit", "--format", "csv", BUNDLE]).run();
    out.code(0);
    let mut rdr = csv::Reader::from_reader(out.stdout.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    let fix = headers.iter().position(|h| h == "fix").unwrap();
    let name = headers.iter().position(|h| h == "mailbox").unwrap();
    let sam = rdr
        .records()
        .map(Result::unwrap)
        .find(|r| &r[name] == "Sam Rivera")
        .unwrap();
    assert!(
        sam[fix].starts_with("Approve the mailbox's email address"),
        "{}",
        &sam[fix]
    );
    assert!(sam[fix].contains(" / Run Test & Enable"), "{}", &sam[fix]);
}

#[test]
fn csv_cells_cannot_be_formulas() {
    let dir = edited("formula", "mailboxes.json", |t| {
        t.replacen("\"Sam Rivera\"", "\"=HYPERLINK(\\\"http://x\\\")\"", 1)
            .replacen("\"Support\"", "\"@SUM(1)\"", 1)
    });
    let out = mailgate(&["audit", "--format", "csv"]).arg(&dir).run();
    out.code(0);
    let mut rdr = csv::Reader::from_reader(out.stdout.as_bytes());
    let names: Vec<String> = rdr.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert!(
        names.contains(&"'=HYPERLINK(\"http://x\")".to_owned()),
        "{names:?}"
    );
    assert!(names.contains(&"'@SUM(1)".to_owned()), "{names:?}");
    for n in &names {
        assert!(!n.starts_with(['=', '+', '-', '@', '\t', '\r']), "{n}");
    }
}

#[test]
fn the_text_report_escapes_control_characters() {
    let dir = edited("escape", "mailboxes.json", |t| {
        t.replacen("\"Sam Rivera\"", "\"Sam \\u001b[31mRivera\\u0007\"", 1)
    });
    let out = mailgate(&["audit"]).arg(&dir).run();
    out.code(0);
    assert!(!out.stdout.contains('\u{1b}') && !out.stdout.contains('\u{7}'));
    assert!(
        out.stdout
            .contains("Sam \\x1b[31mRivera\\x07 <sam@contoso.com>"),
        "{}",
        out.stdout
    );
}

#[test]
fn an_incomplete_paged_export_is_an_error() {
    // The last page still links a next one.
    fails(
        "next-link",
        "mailboxes.json",
        |t| {
            let mut pages: Vec<Value> = serde_json::from_str(&t).unwrap();
            let last = pages.last_mut().unwrap();
            last["@odata.nextLink"] = Value::String(
                "https://contoso.crm.dynamics.com/api/data/v9.2/mailboxes?$skiptoken=x".into(),
            );
            serde_json::to_string_pretty(&pages).unwrap()
        },
        &[
            "mailboxes.json:",
            "the export of mailboxes is incomplete: a next page is linked but missing",
        ],
    );
    // A single response with a next link is one page of several.
    fails(
        "next-link-single",
        "systemusers.json",
        |t| {
            let mut v: Value = serde_json::from_str(&t).unwrap();
            let page = match &mut v {
                Value::Array(p) => p.last_mut().unwrap(),
                page => page,
            };
            page["@odata.nextLink"] = Value::String("https://x/next".into());
            serde_json::to_string_pretty(&v).unwrap()
        },
        &["the export of systemusers is incomplete"],
    );
}

#[test]
fn ids_that_name_files_must_be_guids() {
    let text = std::fs::read_to_string(util::repo_path(BUNDLE).join("systemusers.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let first = match &v {
        Value::Array(p) => p[0]["value"][0]["systemuserid"]
            .as_str()
            .unwrap()
            .to_owned(),
        page => page["value"][0]["systemuserid"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    fails(
        "traversal",
        "systemusers.json",
        |t| t.replace(&first, "../../../etc/passwd"),
        &[
            "systemusers.json:",
            "`systemuserid` must be a GUID",
            "../../../etc/passwd",
        ],
    );
}

// ---- the HTML report (docs/audit.md) -----------------------------------------------------

/// The attribute values of `attr` on every element of `tag` (a plain scan: the report's
/// markup is generated, one element per line start or per cell).
fn attr_values<'a>(html: &'a str, tag: &str, attr: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let open = format!("<{tag} ");
    for (i, _) in html.match_indices(&open) {
        let end = html[i..].find('>').unwrap() + i;
        let head = &html[i..end];
        let key = format!("{attr}=\"");
        if let Some(k) = head.find(&key) {
            let v = &head[k + key.len()..];
            out.push(&v[..v.find('"').unwrap()]);
        }
    }
    out
}

#[test]
fn the_html_report_is_self_contained_and_carries_the_decisions() {
    let out = mailgate(&["audit", "--format", "html", BUNDLE]).run();
    out.code(0);
    let html = &out.stdout;
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Nothing leaves the file: no src, only fragment links, no CSS url().
    assert!(!html.contains(" src="), "an src attribute");
    assert!(!html.contains("url("), "a CSS url()");
    for (i, _) in html.match_indices("href=\"") {
        assert!(html[i + 6..].starts_with('#'), "{}", &html[i..i + 60]);
    }
    assert!(html.contains("<input type=\"search\" data-filter"));
    assert!(html.contains("<input type=\"checkbox\" data-blocked-only>"));
    assert!(html.contains("<svg "));
    // Every mailbox of the JSON output has its row, with its decisions.
    let records = audit_json(&util::repo_path(BUNDLE));
    let n = fixture_mailboxes();
    let ids = attr_values(html, "tr", "data-mailbox-id");
    assert_eq!(ids.len(), n);
    for rec in &records[..n] {
        let id = rec["id"].as_str().unwrap();
        let start = html.find(&format!("<tr data-mailbox-id=\"{id}\"")).unwrap();
        let row = &html[start..start + html[start..].find("</tr>").unwrap()];
        let blocked = SYNC_ACTIONS
            .iter()
            .any(|a| rec["sync"][a]["decision"] == "deny");
        assert!(
            row.contains(&format!("data-blocked=\"{blocked}\"")),
            "{row}"
        );
        for a in SYNC_ACTIONS {
            let d = rec["sync"][a]["decision"].as_str().unwrap();
            assert!(
                row.contains(&format!("data-action=\"{a}\" data-decision=\"{d}\"")),
                "{id} {a}: {row}"
            );
        }
    }
    // Plan steps are numbered list items; approving names its action.
    assert!(
        html.contains("<li data-step=\"1\" data-action=\"approve_mailbox\">Approve the mailbox")
    );
    // Every user has a row.
    let users: Vec<&str> = records
        .iter()
        .filter_map(|r| r.get("user").and_then(Value::as_str))
        .collect();
    assert!(!users.is_empty());
    let rows = attr_values(html, "tr", "data-user");
    assert_eq!(rows, users);
}

#[test]
fn the_html_report_escapes_what_the_export_says() {
    let dir = edited("html-escape", "mailboxes.json", |t| {
        t.replacen("\"Sam Rivera\"", "\"<script>alert(1)</script>\"", 1)
    });
    let out = mailgate(&["audit", "--format", "html"]).arg(&dir).run();
    out.code(0);
    assert!(!out.stdout.contains("<script>alert(1)"));
    assert!(out.stdout.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

/// The report in a real browser (headless Chromium): no console errors, the filter and
/// the "blocked only" toggle hide rows, and every mailbox of the JSON output is in the
/// DOM with the same decisions. Saves a screenshot (into `$MAILGATE_SCREENSHOTS` when set).
#[test]
fn the_html_report_works_in_a_browser() {
    let Some(node) = browser_ready("audit report") else {
        return;
    };
    let html = mailgate(&["audit", "--format", "html", BUNDLE]).run();
    html.code(0);
    let dir = util::temp_dir("audit-html");
    let page = dir.join("report.html");
    std::fs::write(&page, &html.stdout).unwrap();
    let json = dir.join("report.jsonl");
    let out = mailgate(&["audit", "--format", "json", BUNDLE]).run();
    out.code(0);
    std::fs::write(&json, &out.stdout).unwrap();
    // The screenshot goes into the temp folder, or into `MAILGATE_SCREENSHOTS` (for example
    // `docs/img`) when that is set, so a test run never rewrites the docs by itself.
    let shot = match std::env::var_os("MAILGATE_SCREENSHOTS") {
        Some(d) => std::path::PathBuf::from(d).join("audit-report.png"),
        None => dir.join("audit-report.png"),
    };
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let status = std::process::Command::new(node)
        .arg(util::repo_path("tests/browser/audit-report.mjs"))
        .arg(&page)
        .arg(&json)
        .arg(&shot)
        .status()
        .unwrap();
    assert!(status.success(), "tests/browser/audit-report.mjs failed");
}

/// `node`, once Chromium is there and `tests/browser` has its packages (`npm ci` when
/// `node_modules` is missing); `None` (with a printed reason) when something is missing,
/// except under `CI=true`, where that fails the test.
fn browser_ready(what: &str) -> Option<&'static str> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let skip = |why: String| {
        assert!(!ci, "{what}: {why} (CI=true: the browser test must run)");
        eprintln!("skipping the {what} browser test: {why}");
    };
    let chromium =
        std::env::var("MAILGATE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        skip(format!("no Chromium at {chromium}"));
        return None;
    }
    let node_ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        skip("no `node` on PATH".to_owned());
        return None;
    }
    let dir = util::repo_path("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let ok = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            skip("`npm ci` in tests/browser failed".to_owned());
            return None;
        }
    }
    Some("node")
}
