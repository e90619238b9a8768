//! `mailgate coverage` and `test --coverage`: counts worked out by hand on a small fixture,
//! reviewed snapshots of both output formats, `--min` exit codes, and the shipped
//! scenarios' coverage.

use crate::util::{self, mailgate};
use mailgate::coverage::{ConditionCount, Coverage};
use mailgate::policy_set::{self, Origin};
use mailgate::source::{SourceFile, SourceMap};

const FIXTURE: &str = "tests/fixtures/coverage";

fn cond(text: &str, t: usize, f: usize, e: usize) -> ConditionCount {
    ConditionCount {
        text: text.to_owned(),
        true_count: t,
        false_count: f,
        error_count: e,
    }
}

/// The fixture's four scenario requests, plus a batch request that leaves out the
/// required `thing.color` (so conditions that read it are errors):
///
/// | request | take-red: color==red, big | drop-any | closed: not open | never: blue, green | decision |
/// |---|---|---|---|---|---|
/// | take big-red, open | T, T (matched) | - | F | F, F | allow by take-red |
/// | take small-red, open | T, F | - | F | F, F | default deny |
/// | drop green, open | - | (matched) | F | - | allow by drop-any |
/// | take big-red, closed | T, T (matched) | - | T (matched) | F, F | deny by closed |
/// | take, no color, size 20 | E, T | - | F | E, E | default deny |
#[test]
fn counts_match_a_hand_computed_table() {
    let origin = Origin::Dir(util::repo_path(FIXTURE));
    let set = policy_set::load(&origin).unwrap().set;
    let mut coverage = Coverage::new(&set);
    let mut sources = SourceMap::new();
    for raw in policy_set::scenario_files(&origin) {
        let text = String::from_utf8(raw.bytes.unwrap()).unwrap();
        let id = sources.add(SourceFile::new(raw.name.clone(), text));
        let scenario = mailgate::scenario::load(id, sources.get(id), &set).unwrap();
        for r in &scenario.requests {
            coverage.record(&set, &r.request);
        }
    }
    let missing_color =
        mailgate::batch::parse_request(&set, br#"{"action":"take","org":{},"thing":{"size":20}}"#)
            .unwrap();
    coverage.record(&set, &missing_color);

    assert_eq!(coverage.requests, 5);
    let by_id = |id: &str| {
        coverage
            .rules
            .iter()
            .find(|r| set.get_rule(r.rule).unwrap().id == id)
            .unwrap()
    };
    let take_red = by_id("take-red");
    assert_eq!((take_red.matched, take_red.determining), (2, 1));
    assert_eq!(
        take_red.conditions,
        vec![
            cond("thing.color == \"red\"", 3, 0, 1),
            cond("big", 3, 1, 0)
        ]
    );
    let drop_any = by_id("drop-any");
    assert_eq!((drop_any.matched, drop_any.determining), (1, 1));
    assert!(drop_any.conditions.is_empty());
    let closed = by_id("closed");
    assert_eq!(closed.actions, vec!["take", "drop"]);
    assert_eq!((closed.matched, closed.determining), (1, 1));
    assert_eq!(closed.conditions, vec![cond("not org.open", 1, 4, 0)]);
    let never = by_id("never");
    assert_eq!((never.matched, never.determining), (0, 0));
    assert_eq!(
        never.conditions,
        vec![
            cond("thing.color == \"blue\"", 0, 3, 1),
            cond("thing.color == \"green\"", 0, 3, 1)
        ]
    );

    let t = coverage.totals();
    assert_eq!(
        (
            t.rules,
            t.rules_matched,
            t.conditions,
            t.conditions_both_ways
        ),
        (4, 3, 5, 2)
    );
    assert!((t.percent() - 40.0).abs() < f64::EPSILON);
    assert!(t.meets(40.0));
    assert!(!t.meets(40.1));
}

#[test]
fn percent_rounds_down_so_100_means_everything() {
    let t = mailgate::coverage::Totals {
        rules: 1,
        rules_matched: 1,
        conditions: 3,
        conditions_both_ways: 2,
    };
    assert!((t.percent() - 66.6).abs() < 1e-9);
    let almost = mailgate::coverage::Totals {
        conditions: 10_000,
        conditions_both_ways: 9_999,
        ..t
    };
    assert!((almost.percent() - 99.9).abs() < 1e-9);
    assert!(!almost.meets(100.0));
    let none = mailgate::coverage::Totals {
        conditions: 0,
        conditions_both_ways: 0,
        ..t
    };
    assert!((none.percent() - 100.0).abs() < f64::EPSILON);
}

#[test]
fn text_and_json_reports_of_the_fixture() {
    let text = mailgate(&["coverage", "--policies", FIXTURE]).run();
    text.code(0);
    let json = mailgate(&["coverage", "--policies", FIXTURE, "--format", "json"]).run();
    json.code(0);
    // Every JSON line parses, rules first, the summary last.
    let lines: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[4]["summary"], "ok");
    assert_eq!(lines[4]["percent"], 40.0);
    util::settings().bind(|| {
        insta::assert_snapshot!("coverage_fixture_text", text.transcript());
        insta::assert_snapshot!("coverage_fixture_json", json.transcript());
    });
}

#[test]
fn min_sets_the_exit_code() {
    let run = |min: &str| {
        mailgate(&[
            "coverage",
            "--policies",
            FIXTURE,
            "--format",
            "json",
            "--min",
            min,
        ])
        .run()
    };
    let ok = run("40");
    ok.code(0);
    assert!(
        ok.last_line().contains(r#""summary":"ok""#),
        "{}",
        ok.stdout
    );
    let below = run("40.5");
    below.code(1);
    assert!(
        below.last_line().contains(r#""summary":"below_min""#),
        "{}",
        below.stdout
    );
    let text = mailgate(&["coverage", "--policies", FIXTURE, "--min", "100"]).run();
    text.code(1);
    assert_eq!(
        text.last_line(),
        "below the minimum of 100% (--min): 2 of 5 conditions seen both true and false"
    );
    // Not a percentage: a usage error.
    mailgate(&["coverage", "--min", "120"]).run().code(2);
    mailgate(&["coverage", "--min", "lots"]).run().code(2);
}

#[test]
fn an_invalid_scenario_file_fails_the_run() {
    let out = mailgate(&[
        "coverage",
        "--format",
        "json",
        "tests/fixtures/cli/bad-scenarios/unknown_id.yaml",
        "policies/scenarios/assign-role.yaml",
    ])
    .run();
    out.code(1);
    assert!(
        out.stderr.contains("not a valid scenario"),
        "{}",
        out.stderr
    );
    assert!(
        out.last_line().contains(r#""summary":"invalid_input""#),
        "{}",
        out.stdout
    );
}

#[test]
fn the_shipped_scenarios_see_every_condition_both_ways() {
    let out = mailgate(&["coverage", "--min", "100"]).run();
    out.code(0);
    let requests = crate::util::requests(&crate::util::shipped_scenario_files());
    let rules = crate::util::shipped_policy_counts().1;
    let (first, second) = out.stdout.split_once('\n').unwrap();
    let conditions = first
        .strip_prefix(&format!(
            "coverage of {requests} requests: {rules} of {rules} rules matched, "
        ))
        .and_then(|rest| rest.strip_suffix(" conditions seen both true and false"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    let (seen, of) = conditions.split_once(" of ").unwrap();
    assert_eq!(seen, of, "{}", out.stdout);
    assert_eq!(
        second,
        "coverage: 100.0% of conditions seen both true and false\n"
    );
}

#[test]
fn test_coverage_prints_the_report_after_the_summary() {
    let out = mailgate(&["test", "--coverage", "--policies", FIXTURE]).run();
    out.code(0);
    let (tests, report) = out.stdout.split_once("\n\n").unwrap();
    assert_eq!(tests.lines().last().unwrap(), "4 passed, 0 failed");
    let alone = mailgate(&["coverage", "--policies", FIXTURE]).run();
    assert_eq!(report, alone.stdout);
    // Without the flag, the summary stays the last line.
    let plain = mailgate(&["test", "--policies", FIXTURE]).run();
    assert_eq!(plain.last_line(), "4 passed, 0 failed");
}
