//! `eval --batch`: agreement with scenario evaluation, record format, bad lines, threads.

use crate::util::{mailgate, repo_path};
use mailgate::ast::Effect;
use mailgate::batch;
use mailgate::generate;
use mailgate::policy_set::{self, Origin};
use mailgate::source::{SourceFile, SourceMap};

fn shipped() -> mailgate::compile::CompiledSet {
    policy_set::load(&Origin::Dir(repo_path("policies")))
        .expect("shipped policies load")
        .set
}

fn records(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8(out.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l}: {e}")))
        .collect()
}

/// The same 12,000 generated requests, decided from batch lines and from YAML scenarios
/// (grouped by org), must get the same decisions and the same determining rules.
#[test]
fn batch_agrees_with_scenarios_on_12000_generated_requests() {
    let set = shipped();
    let orgs = generate::org_variants();
    let reqs = generate::requests(2024, 12_000);
    let mut input = String::new();
    for r in &reqs {
        input.push_str(&r.to_json(&orgs));
        input.push('\n');
    }
    let mut out = Vec::new();
    let stats = batch::run(&set, input.as_bytes(), &mut out, 1).unwrap();
    assert_eq!((stats.lines, stats.bad), (12_000, 0));
    let batch_records = records(&out);
    assert_eq!(batch_records.len(), 12_000);

    let mut sources = SourceMap::new();
    let (mut allows, mut denies) = (0, 0);
    for (org, org_json) in orgs.iter().enumerate() {
        let group: Vec<(usize, &generate::GenRequest)> = reqs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.org == org)
            .collect();
        let members: Vec<&generate::GenRequest> = group.iter().map(|(_, r)| *r).collect();
        let yaml = generate::scenario_yaml(&members, org_json);
        let id = sources.add(SourceFile::new(format!("gen-{org}.yaml"), yaml));
        let scenario = mailgate::scenario::load(id, sources.get(id), &set)
            .unwrap_or_else(|e| panic!("generated scenario {org} does not load: {e:?}"));
        assert_eq!(scenario.requests.len(), group.len());
        for ((line_index, _), sr) in group.iter().zip(&scenario.requests) {
            let d = set.evaluate(&sr.request);
            let rec = &batch_records[*line_index];
            assert_eq!(rec["line"], *line_index as u64 + 1);
            assert_eq!(
                rec["decision"],
                d.effect.as_str(),
                "line {}",
                line_index + 1
            );
            let ids: Vec<&str> = d
                .rules
                .iter()
                .map(|&r| set.get_rule(r).unwrap().id.as_str())
                .collect();
            let rec_ids: Vec<&str> = rec["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(rec_ids, ids, "line {}", line_index + 1);
            match d.effect {
                Effect::Allow => allows += 1,
                Effect::Deny => denies += 1,
            }
        }
    }
    // The generator exercises both outcomes.
    assert!(
        allows > 500 && denies > 500,
        "{allows} allows, {denies} denies"
    );
}

/// One thread decides lines where they lie in the reader's buffer, and reads a line that
/// runs past the buffer on its own: whatever the buffer's size, the records are the ones
/// a whole-input read gives (CRLF endings, empty lines, a line over the limit, a last line
/// without a newline).
#[test]
fn one_thread_reads_lines_across_buffer_boundaries() {
    let set = shipped();
    let orgs = generate::org_variants();
    let mut input = Vec::new();
    for (i, r) in generate::requests(8, 300).iter().enumerate() {
        input.extend_from_slice(r.to_json(&orgs).as_bytes());
        input.extend_from_slice(match i % 4 {
            0 => b"\r\n".as_slice(),
            // An empty line ended by CRLF: its `\r` must go too (the error says column 0).
            1 => b"\n\r\n",
            _ => b"\n",
        });
        if i == 150 {
            input.extend_from_slice(br#"{"action":""#);
            input.extend(std::iter::repeat_n(
                b'x',
                mailgate::limits::MAX_BATCH_LINE_BYTES,
            ));
            input.extend_from_slice(b"\"}\n");
        }
    }
    input.extend_from_slice(br#"{"action":"no_such_action"}"#);
    let mut whole = Vec::new();
    let stats = batch::run(&set, input.as_slice(), &mut whole, 1).unwrap();
    assert_eq!(stats.lines, 300 + 75 + 2);
    // 75 empty lines, the long line and the last one.
    assert_eq!(stats.bad, 75 + 2);
    let mut parallel = Vec::new();
    assert_eq!(
        batch::run(&set, input.as_slice(), &mut parallel, 2).unwrap(),
        stats
    );
    assert!(whole == parallel, "one and two threads differ");
    // Small buffers cut lines (and the long one) across reads; the threaded path copies
    // whole lines a buffer at a time and reads a cut line on its own.
    for capacity in [1, 7, 64, 377, 4096, 1 << 20] {
        for threads in [1, 2] {
            let reader = std::io::BufReader::with_capacity(capacity, input.as_slice());
            let mut out = Vec::new();
            assert_eq!(batch::run(&set, reader, &mut out, threads).unwrap(), stats);
            assert!(
                out == whole,
                "a buffer of {capacity} bytes changed the records with {threads} thread(s)"
            );
        }
    }
    let recs = records(&whole);
    assert!(recs[0]["decision"].as_str().is_some());
    assert!(recs.iter().any(|r| {
        r["error"]
            .as_str()
            .is_some_and(|e| e.contains("over the limit"))
    }));
}

#[test]
fn two_threads_give_the_same_output_in_order() {
    let set = shipped();
    let orgs = generate::org_variants();
    let mut input = String::new();
    for (i, r) in generate::requests(5, 9_000).iter().enumerate() {
        // Sprinkle bad lines so error records are ordered too.
        if i % 997 == 0 {
            input.push_str("{\"action\": 1}\n");
        }
        input.push_str(&r.to_json(&orgs));
        input.push('\n');
    }
    let mut one = Vec::new();
    let s1 = batch::run(&set, input.as_bytes(), &mut one, 1).unwrap();
    assert_eq!(s1.bad, 10);
    // The reading thread decides some chunks in place and hands others to the workers;
    // the records come out in input order whatever the mix.
    for threads in [2, 3, 8] {
        let mut many = Vec::new();
        let s = batch::run(&set, input.as_bytes(), &mut many, threads).unwrap();
        assert_eq!(s1, s);
        assert!(
            one == many,
            "outputs differ between 1 and {threads} threads"
        );
    }
    for (i, rec) in records(&one).iter().enumerate() {
        assert_eq!(rec["line"], i as u64 + 1);
    }
}

#[test]
fn records_have_the_documented_keys() {
    let set = shipped();
    let line = br#"{"action":"approve_mailbox","org":{"version":"9.2.22104.00170"},"user":{"security_roles":["System Administrator","Delegated Mailbox Approver"],"privileges":["Approve Email Addresses for Users or Queues"]},"mailbox":{"owner_kind":"queue","email":"support@contoso.com","approval":"pending_approval","server":"exchange_online"}}"#;
    let mut out = Vec::new();
    assert!(batch::LineDecider::new(&set).decide(7, line, &mut out));
    let rec = &records(&out)[0];
    assert_eq!(rec["line"], 7);
    assert_eq!(rec["decision"], "allow");
    assert_eq!(rec["cause"], "allowed");
    assert_eq!(rec["rules"][0], "approve-exchange-online");
    assert!(
        rec["reasons"][0]
            .as_str()
            .unwrap()
            .contains("Delegated Mailbox Approver")
    );
    assert_eq!(rec["errors"].as_array().unwrap().len(), 0);
}

#[test]
fn a_missing_required_attribute_fails_closed_with_an_error() {
    let set = shipped();
    // No `approval` on the mailbox: the allow rule cannot be evaluated, the deny rules
    // that read it count as matched.
    let line = br#"{"action":"sync_incoming_email","org":{"version":"9.2"},"mailbox":{"owner_kind":"user","email":"a@b.c","server":"exchange_online","incoming":"success"}}"#;
    let mut out = Vec::new();
    assert!(batch::LineDecider::new(&set).decide(1, line, &mut out));
    let rec = &records(&out)[0];
    assert_eq!(rec["decision"], "deny");
    assert_eq!(rec["cause"], "denied_by_rule");
    let errors = rec["errors"].as_array().unwrap();
    assert!(!errors.is_empty());
    assert!(
        errors[0]
            .as_str()
            .unwrap()
            .contains("`mailbox.approval` has no value")
    );
}

#[test]
fn bad_lines_get_error_records_and_never_allow() {
    let set = shipped();
    let cases: &[(&str, &str)] = &[
        ("not json", "invalid JSON"),
        ("", "invalid JSON"),
        ("[1,2]", "must be a JSON object"),
        (r#"{"org":{}}"#, "missing key `action`"),
        (
            r#"{"action":"aprove_mailbox"}"#,
            "did you mean `approve_mailbox`",
        ),
        (
            r#"{"action":"change_approval_settings","org":{"version":"9"}}"#,
            "missing slot `user`",
        ),
        (
            r#"{"action":"change_approval_settings","usr":{}}"#,
            "unknown key `usr`",
        ),
        (
            r#"{"action":"change_approval_settings","user":{"security_roles":["Sytem Administrator"]}}"#,
            "did you mean `System Administrator`",
        ),
        (
            r#"{"action":"change_approval_settings","user":{"security_roles":"System Administrator"}}"#,
            "invalid type",
        ),
        (
            r#"{"action":"change_approval_settings","user":{"security_roles":[]},"org":{"version":"nine"}}"#,
            "not a valid version",
        ),
        (
            r#"{"action":"change_approval_settings","user":{"roles":[]}}"#,
            "has no attribute `roles`",
        ),
        (
            r#"{"action":"change_approval_settings","user":{"security_roles":[],"security_roles":[]}}"#,
            "duplicate attribute",
        ),
        (
            r#"{"action":"assign_role","actor":{"security_roles":[]},"assignee":{"kind":"user"}}"#,
            "missing parameter `role`",
        ),
        (
            r#"{"action":"change_approval_settings","user":{"security_roles":[]}} trailing"#,
            "invalid JSON",
        ),
    ];
    let mut d = batch::LineDecider::new(&set);
    for (i, (line, expect)) in cases.iter().enumerate() {
        let mut out = Vec::new();
        assert!(!d.decide(i as u64 + 1, line.as_bytes(), &mut out), "{line}");
        let recs = records(&out);
        assert_eq!(recs.len(), 1, "{line}");
        let rec = &recs[0];
        assert_eq!(rec["decision"], "deny", "{line}");
        assert_eq!(rec["cause"], "invalid_request", "{line}");
        assert_eq!(rec["line"], i as u64 + 1);
        let msg = rec["error"].as_str().unwrap();
        assert!(msg.contains(expect), "{line}: {msg}");
    }
}

#[test]
fn cli_batch_from_stdin_keeps_going_and_exits_1_on_bad_lines() {
    let good = r#"{"action":"change_approval_settings","org":{"deployment":"onpremises","version":"9.1"},"user":{"security_roles":["System Administrator"],"privileges":["Approve Email Addresses for Users or Queues"]}}"#;
    let input = format!("{good}\n{{oops\n{good}\n");
    let out = mailgate(&["eval", "--batch", "-", "--policies"])
        .arg(repo_path("policies"))
        .stdin(input)
        .run();
    out.code(1);
    let recs = records(out.stdout.as_bytes());
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0]["decision"], "allow");
    assert_eq!(recs[1]["cause"], "invalid_request");
    assert_eq!(recs[2]["decision"], "allow");
    assert!(out.stderr.contains("1 of 3 lines"), "{}", out.stderr);

    let ok = mailgate(&["eval", "--batch", "-", "--threads", "2", "--policies"])
        .arg(repo_path("policies"))
        .stdin(format!("{good}\n"))
        .run();
    ok.code(0);
}

#[test]
fn threads_without_batch_is_a_usage_error() {
    mailgate(&["eval", "--threads", "2", "policies/scenarios/sync-act.yaml"])
        .dir(crate::util::repo())
        .run()
        .code(2);
}

/// The fast reader of batch lines must never change a record or a request: for well-formed
/// lines, and for the same lines with bytes inserted, removed or replaced by JSON's
/// structural characters, escapes, control characters, number forms and whitespace, every
/// record and every accepted request equals the one `serde_json` alone gives (the
/// reference reader).
mod fast_reader {
    use super::shipped;
    use mailgate::batch::LineDecider;
    use mailgate::compile::CompiledSet;
    use mailgate::generate;
    use proptest::prelude::*;
    use std::sync::LazyLock;

    static SET: LazyLock<CompiledSet> = LazyLock::new(shipped);
    static LINES: LazyLock<Vec<String>> = LazyLock::new(|| {
        let orgs = generate::org_variants();
        generate::requests(99, 400)
            .iter()
            .map(|r| r.to_json(&orgs))
            .collect()
    });

    /// Bytes that matter to a JSON reader.
    const ALPHABET: &[&[u8]] = &[
        b"\"",
        b"\\",
        b"\\\"",
        b"\\u0041",
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b" ",
        b"\t",
        b"\r",
        b"\n",
        b"\x01",
        b"\x1f",
        b"\x7f",
        b"0",
        b"01",
        b"-",
        b"-0",
        b"1.5",
        b"1e3",
        b"9",
        b"18446744073709551616",
        b"-9223372036854775808",
        b"true",
        b"false",
        b"null",
        b"t",
        "é".as_bytes(),
        b"\xff",
        b"a",
        b"action",
        b"\"\":\"\"",
    ];

    /// The record of `line`, and for an accepted line also the request it was read into
    /// (every value, strings by their text), which must be the same for both readers.
    fn record(d: &mut LineDecider<'_>, line: &[u8]) -> String {
        record_in(&SET, d, line)
    }

    fn record_in(set: &CompiledSet, d: &mut LineDecider<'_>, line: &[u8]) -> String {
        let mut out = Vec::new();
        let ok = d.decide(1, line, &mut out);
        let mut text = String::from_utf8(out).unwrap();
        if ok {
            let req = d.request();
            text.push_str(&format!("{:?} {:?}\n", req.action, req.values));
            for i in 0..req.values.len() {
                text.push_str(&set.display_value(req, u32::try_from(i).unwrap()));
                text.push('\n');
            }
        }
        text
    }

    #[test]
    fn well_formed_lines_get_the_same_records() {
        let mut fast = LineDecider::new(&SET);
        let mut reference = LineDecider::new(&SET).reference_reader();
        for line in LINES.iter() {
            let a = record(&mut fast, line.as_bytes());
            assert!(!a.contains("invalid_request"), "{line} -> {a}");
            assert_eq!(a, record(&mut reference, line.as_bytes()), "{line}");
        }
    }

    /// The shipped schema has no `int`; another domain's has several, in entities and
    /// parameters, so integers of every form are read the same way by both readers.
    #[test]
    fn integers_get_the_same_records() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/other-domain");
        let set = mailgate::policy_set::load(&mailgate::policy_set::Origin::Dir(dir))
            .unwrap()
            .set;
        let mut fast = LineDecider::new(&set);
        let mut reference = LineDecider::new(&set).reference_reader();
        let forms = [
            "0",
            "5",
            " 7",
            "-3",
            "00",
            "01",
            "-0",
            "-",
            "1.0",
            "1e2",
            "1E2",
            "true",
            "\"4\"",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775807",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
        ];
        let mut accepted = 0;
        for age in forms {
            for weeks in ["2", "-1", "0"] {
                let line = format!(
                    r#"{{"action":"renew","library":{{"system_version":"1.2","max_loans":3}},"member":{{"card":"c1","membership":"student","age":{age}}},"book":{{"genre":"fiction","state":"on_loan","branch":"north"}},"weeks":{weeks}}}"#
                );
                let a = record_in(&set, &mut fast, line.as_bytes());
                accepted += usize::from(!a.contains("invalid_request"));
                assert_eq!(
                    a,
                    record_in(&set, &mut reference, line.as_bytes()),
                    "{line}"
                );
            }
        }
        // 0, 5, 7, -3, the largest, the smallest but one, and `i64::MIN`, for each week.
        assert_eq!(accepted, 7 * 3);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn edited_lines_get_the_same_records(
            which in 0usize..400,
            edits in proptest::collection::vec((0usize..4096, 0usize..ALPHABET.len(), 0u8..3), 1..4),
        ) {
            let mut line = LINES[which].as_bytes().to_vec();
            for (at, what, how) in edits {
                let at = at % (line.len() + 1);
                match how {
                    0 => { line.splice(at..at, ALPHABET[what].iter().copied()); }
                    1 if at < line.len() => { line.remove(at); }
                    _ if at < line.len() => {
                        line.splice(at..=at, ALPHABET[what].iter().copied());
                    }
                    _ => line.extend_from_slice(ALPHABET[what]),
                }
            }
            let mut fast = LineDecider::new(&SET);
            let mut reference = LineDecider::new(&SET).reference_reader();
            prop_assert_eq!(record(&mut fast, &line), record(&mut reference, &line));
        }
    }
}
