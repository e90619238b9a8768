//! Lints (`check`'s warnings about the rules themselves).
//!
//! - Brute force: on a small schema whose requests can all be listed (480 of them), random
//!   rule sets are linted and every lint is compared with an exhaustive enumeration by an
//!   evaluator written here, independent of mailgate's; a `subsumed` rule or a
//!   `redundant-condition` operand is then deleted from the text and every request is
//!   decided again by mailgate's evaluator, which must change no decision.
//! - Planted cases on the shipped schema, one per code, as reviewed snapshots.
//! - The shipped set and the lending-library fixture are lint-clean; `--deny-warnings`
//!   exits 1 on a warning; `# mailgate: allow(CODE)` silences exactly that code.

use crate::util::{self, mailgate};
use mailgate::analysis::lint::{Lint, LintCode, Subject, lint};
use mailgate::ast::Effect;
use mailgate::policy_set::load_texts;
use proptest::prelude::*;

const SCHEMA: &str = r#"
enums:
  color: [red, green, blue]
entities:
  thing:
    plural: things
    attributes:
      a: { type: bool }
      b: { type: bool }
      c: { type: color }
      s: { type: "set<color>" }
      num: { type: int }
context:
  name: org
  attributes:
    flag: { type: bool }
actions:
  act: { slots: { x: thing } }
"#;

const COLORS: [&str; 3] = ["red", "green", "blue"];

/// One request of the small schema.
#[derive(Debug, Clone, Copy)]
struct Req {
    flag: bool,
    a: bool,
    b: bool,
    c: usize,
    s: u8,
    n: i64,
}

/// Every request: the ints 0..=4 cover every class of the literals 1..=3 used below.
fn all_requests() -> Vec<Req> {
    let mut out = Vec::new();
    for flag in [false, true] {
        for a in [false, true] {
            for b in [false, true] {
                for c in 0..3 {
                    for s in 0..8u8 {
                        for n in 0..=4 {
                            out.push(Req {
                                flag,
                                a,
                                b,
                                c,
                                s,
                                n,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

impl Req {
    fn batch_line(&self) -> String {
        let s: Vec<String> = (0..3)
            .filter(|i| self.s & (1 << i) != 0)
            .map(|i| format!("\"{}\"", COLORS[i]))
            .collect();
        format!(
            r#"{{"action":"act","org":{{"flag":{}}},"x":{{"a":{},"b":{},"c":"{}","s":[{}],"num":{}}}}}"#,
            self.flag,
            self.a,
            self.b,
            COLORS[self.c],
            s.join(","),
            self.n
        )
    }
}

/// A condition of the small language.
#[derive(Debug, Clone)]
enum E {
    Flag,
    A,
    B,
    ColorIs(usize, bool),
    Has(usize),
    Gt(i64),
    Eq(i64),
    Not(Box<E>),
    And(Vec<E>),
    Or(Vec<E>),
}

impl E {
    fn eval(&self, r: &Req) -> bool {
        match self {
            E::Flag => r.flag,
            E::A => r.a,
            E::B => r.b,
            E::ColorIs(c, eq) => (r.c == *c) == *eq,
            E::Has(c) => r.s & (1 << c) != 0,
            E::Gt(k) => r.n > *k,
            E::Eq(k) => r.n == *k,
            E::Not(x) => !x.eval(r),
            E::And(xs) => xs.iter().all(|x| x.eval(r)),
            E::Or(xs) => xs.iter().any(|x| x.eval(r)),
        }
    }

    /// Writes the condition; records every `and`/`or` operand as (its start in `out`,
    /// the start of its text inside any parentheses, the operator is `and`, its
    /// siblings).
    fn write(&self, out: &mut String, ops: &mut Vec<OpSite>) {
        match self {
            E::Flag => out.push_str("org.flag"),
            E::A => out.push_str("x.a"),
            E::B => out.push_str("x.b"),
            E::ColorIs(c, eq) => {
                out.push_str(&format!(
                    "x.c {} \"{}\"",
                    if *eq { "==" } else { "!=" },
                    COLORS[*c]
                ));
            }
            E::Has(c) => out.push_str(&format!("x.s contains \"{}\"", COLORS[*c])),
            E::Gt(k) => out.push_str(&format!("x.num > {k}")),
            E::Eq(k) => out.push_str(&format!("x.num == {k}")),
            E::Not(x) => {
                out.push_str("not (");
                x.write(out, ops);
                out.push(')');
            }
            E::And(xs) | E::Or(xs) => {
                // The parser flattens `a and (b and c)` into one `and` of three: so do
                // the operand lists here.
                let is_and = matches!(self, E::And(_));
                let mut group = Vec::new();
                write_group(is_and, xs, out, ops, &mut group);
                for (i, (outer, inner, end, x)) in group.iter().enumerate() {
                    ops.push(OpSite {
                        outer: *outer,
                        inner: *inner,
                        end: *end,
                        is_and,
                        operand: x.clone(),
                        siblings: group
                            .iter()
                            .enumerate()
                            .filter(|(j, _)| *j != i)
                            .map(|(_, y)| y.3.clone())
                            .collect(),
                    });
                }
            }
        }
    }
}

/// Writes the operands of an `and` (or `or`), each in parentheses; an operand that is
/// itself an `and` (`or`) adds its operands to the same group.
fn write_group(
    is_and: bool,
    xs: &[E],
    out: &mut String,
    ops: &mut Vec<OpSite>,
    group: &mut Vec<(usize, usize, usize, E)>,
) {
    for (i, x) in xs.iter().enumerate() {
        if i > 0 {
            out.push_str(if is_and { " and " } else { " or " });
        }
        match x {
            E::And(ys) if is_and => {
                out.push('(');
                write_group(is_and, ys, out, ops, group);
                out.push(')');
            }
            E::Or(ys) if !is_and => {
                out.push('(');
                write_group(is_and, ys, out, ops, group);
                out.push(')');
            }
            _ => {
                let outer = out.len();
                out.push('(');
                let inner = out.len();
                x.write(out, ops);
                out.push(')');
                group.push((outer, inner, out.len(), x.clone()));
            }
        }
    }
}

/// An operand of an `and`/`or`, where it is written.
#[derive(Debug, Clone)]
struct OpSite {
    outer: usize,
    inner: usize,
    end: usize,
    is_and: bool,
    operand: E,
    siblings: Vec<E>,
}

fn expr() -> impl Strategy<Value = E> {
    let leaf = prop_oneof![
        Just(E::Flag),
        Just(E::A),
        Just(E::B),
        (0..3usize, any::<bool>()).prop_map(|(c, eq)| E::ColorIs(c, eq)),
        (0..3usize).prop_map(E::Has),
        (1..=3i64).prop_map(E::Gt),
        (1..=3i64).prop_map(E::Eq),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|x| E::Not(Box::new(x))),
            prop::collection::vec(inner.clone(), 2..=3).prop_map(E::And),
            prop::collection::vec(inner, 2..=3).prop_map(E::Or),
        ]
    })
}

/// A generated rule: effect and condition (none: always applies).
#[derive(Debug, Clone)]
struct GenRule {
    allow: bool,
    cond: Option<E>,
}

impl GenRule {
    fn matches(&self, r: &Req) -> bool {
        self.cond.as_ref().is_none_or(|c| c.eval(r))
    }
}

/// The policy text of `rules`, with each rule's operand sites (offsets into the text).
fn render(rules: &[GenRule]) -> (String, Vec<Vec<OpSite>>) {
    let mut out = String::new();
    let mut sites = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        out.push_str(&format!(
            "rule r{i} {{\n  {} act\n",
            if r.allow { "allow" } else { "deny" }
        ));
        let mut ops = Vec::new();
        if let Some(c) = &r.cond {
            out.push_str("  when ");
            c.write(&mut out, &mut ops);
            out.push('\n');
        }
        out.push_str("}\n\n");
        sites.push(ops);
    }
    (out, sites)
}

fn oracle_allows(rules: &[GenRule], r: &Req) -> bool {
    let matching = |allow: bool| rules.iter().any(|x| x.allow == allow && x.matches(r));
    matching(true) && !matching(false)
}

/// mailgate's decisions of every request under policy text `text`.
fn decisions(text: &str, reqs: &[Req]) -> Vec<bool> {
    let loaded = load_texts(SCHEMA, &[("p.policy", text)])
        .unwrap_or_else(|f| panic!("does not load: {:?}\n{text}", f.diagnostics));
    reqs.iter()
        .map(|r| {
            let req = mailgate::batch::parse_request(&loaded.set, r.batch_line().as_bytes())
                .unwrap_or_else(|e| panic!("{e:?}"));
            loaded.set.evaluate(&req).effect == Effect::Allow
        })
        .collect()
}

fn rule_ix(l: &Lint) -> usize {
    match &l.subject {
        Subject::Rule(id) => id[1..].parse().unwrap(),
        other => panic!("unexpected subject {other:?}"),
    }
}

fn check_against_enumeration(rules: &[GenRule]) {
    let reqs = all_requests();
    let (text, sites) = render(rules);
    let loaded = load_texts(SCHEMA, &[("p.policy", &text)])
        .unwrap_or_else(|f| panic!("does not load: {:?}\n{text}", f.diagnostics));
    let report = lint(&loaded.set, &loaded.validated);
    assert!(report.not_linted.is_empty(), "{:?}", report.not_linted);
    let has = |code: LintCode, i: usize| {
        report
            .lints
            .iter()
            .filter(|l| l.code == code && matches!(l.subject, Subject::Rule(_)) && rule_ix(l) == i)
            .collect::<Vec<_>>()
    };
    let base = decisions(&text, &reqs);
    for (r, d) in reqs.iter().zip(&base) {
        assert_eq!(
            oracle_allows(rules, r),
            *d,
            "the oracle and mailgate disagree on {r:?}\n{text}"
        );
    }
    for (i, rule) in rules.iter().enumerate() {
        let matched: Vec<&Req> = reqs.iter().filter(|r| rule.matches(r)).collect();
        // never-matches
        let never = matched.is_empty();
        assert_eq!(
            !has(LintCode::NeverMatches, i).is_empty(),
            never,
            "never-matches of r{i}\n{text}"
        );
        // never-allows
        let allowed: Vec<&Req> = matched
            .iter()
            .copied()
            .filter(|r| oracle_allows(rules, r))
            .collect();
        let never_allows = rule.allow && !never && allowed.is_empty();
        assert_eq!(
            !has(LintCode::NeverAllows, i).is_empty(),
            never_allows,
            "never-allows of r{i}\n{text}"
        );
        // subsumed: the first other allow rule matching every allowed request it matches.
        let expected = if rule.allow && !never && !never_allows {
            rules
                .iter()
                .enumerate()
                .find(|(j, s)| *j != i && s.allow && allowed.iter().all(|r| s.matches(r)))
                .map(|(j, _)| j)
        } else {
            None
        };
        let got = has(LintCode::Subsumed, i);
        assert_eq!(
            got.first().and_then(|l| l.other_rule.clone()),
            expected.map(|j| format!("r{j}")),
            "subsumed of r{i}\n{text}"
        );
        if expected.is_some() {
            // Deleting it changes no decision.
            let mut fewer = rules.to_vec();
            fewer.remove(i);
            let (t2, _) = render(&fewer);
            assert_eq!(
                decisions(&t2, &reqs),
                base,
                "deleting subsumed r{i} changed a decision\n{text}"
            );
        }
    }
    // redundant-condition: per operand, the implication over every request.
    let redundant: Vec<&Lint> = report
        .lints
        .iter()
        .filter(|l| l.code == LintCode::RedundantCondition)
        .collect();
    let mut expected_count = 0;
    for ops in &sites {
        for op in ops {
            let holds = reqs.iter().all(|r| {
                if op.is_and {
                    !op.siblings.iter().all(|s| s.eval(r)) || op.operand.eval(r)
                } else {
                    !op.operand.eval(r) || op.siblings.iter().any(|s| s.eval(r))
                }
            });
            let found = redundant.iter().find(|l| {
                let (start, end) = (l.span.start as usize, l.span.end as usize);
                (start, end) == (op.outer, op.end) || (start, end) == (op.inner, op.end - 1)
            });
            assert_eq!(
                found.is_some(),
                holds,
                "redundant-condition at {}: `{}`\n{text}",
                op.outer,
                &text[op.outer..op.end]
            );
            if let Some(l) = found {
                expected_count += 1;
                let removal = l.removal.expect("a removal span");
                let mut t2 = text.clone();
                t2.replace_range(removal.start as usize..removal.end as usize, "");
                assert_eq!(
                    decisions(&t2, &reqs),
                    base,
                    "removing `{}` changed a decision\n{text}\n--- became ---\n{t2}",
                    &text[removal.start as usize..removal.end as usize]
                );
            }
        }
    }
    assert_eq!(redundant.len(), expected_count, "{redundant:?}\n{text}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn lints_agree_with_exhaustive_enumeration(
        rules in prop::collection::vec(
            (any::<bool>(), prop::option::weighted(0.9, expr()))
                .prop_map(|(allow, cond)| GenRule { allow, cond }),
            1..=5,
        )
    ) {
        check_against_enumeration(&rules);
    }
}

/// Cases the random search may take long to hit, checked every run.
#[test]
fn lints_agree_with_enumeration_on_chosen_cases() {
    use E::{A, And, B, ColorIs, Flag, Gt, Has, Not, Or};
    let cases: Vec<Vec<GenRule>> = vec![
        // Identical allow rules: each subsumed by the other.
        vec![
            GenRule {
                allow: true,
                cond: Some(And(vec![A, B])),
            },
            GenRule {
                allow: true,
                cond: Some(And(vec![B, A])),
            },
        ],
        // A contradiction; a rule always denied; a redundant `or` operand.
        vec![
            GenRule {
                allow: true,
                cond: Some(And(vec![ColorIs(0, true), ColorIs(1, true)])),
            },
            GenRule {
                allow: true,
                cond: Some(And(vec![A, Flag])),
            },
            GenRule {
                allow: false,
                cond: Some(A),
            },
            GenRule {
                allow: true,
                cond: Some(Or(vec![Gt(2), E::Eq(3), Has(1)])),
            },
            GenRule {
                allow: true,
                cond: Some(Not(Box::new(Or(vec![B, And(vec![B, Flag])])))),
            },
        ],
        // A rule with no condition subsumes the others.
        vec![
            GenRule {
                allow: true,
                cond: Some(And(vec![A, Gt(1), Gt(2)])),
            },
            GenRule {
                allow: true,
                cond: None,
            },
        ],
    ];
    for rules in cases {
        check_against_enumeration(&rules);
    }
}

/// The shipped policies with one planted file; `check` in text and JSON.
fn planted(name: &str, file: &str) -> String {
    let dir = util::temp_dir(&format!("lint-{name}"));
    util::copy_dir(&util::repo_path("policies"), &dir.join("policies"));
    std::fs::write(dir.join("policies/planted.policy"), file).unwrap();
    let text = mailgate(&["check", "--policies", "policies"])
        .dir(&dir)
        .run();
    text.code(0);
    let denied = mailgate(&["check", "--deny-warnings", "--policies", "policies"])
        .dir(&dir)
        .run();
    denied.code(1);
    let json = mailgate(&["check", "--format", "json", "--policies", "policies"])
        .dir(&dir)
        .run();
    json.code(0);
    assert!(
        text.stderr.contains(&format!("warning[{name}]")),
        "{name} not reported:\n{}",
        text.stderr
    );
    format!(
        "--- planted.policy\n{file}\n--- check\n{}\n--- check --deny-warnings (last line)\n{}\n--- check --format json\n{}",
        text.transcript(),
        denied.stderr.lines().last().unwrap_or(""),
        json.stdout
    )
}

#[test]
fn planted_never_matches() {
    let out = planted(
        "never-matches",
        "rule planted-never-matches {\n  allow approve_mailbox\n  when mailbox.approval == \"approved\" and mailbox.approval == \"rejected\"\n}\n",
    );
    util::settings().bind(|| insta::assert_snapshot!("lint_never_matches", out));
}

#[test]
fn planted_never_allows() {
    let out = planted(
        "never-allows",
        "rule planted-never-allows {\n  allow approve_mailbox\n  when mailbox.approval == \"approved\" and is_system_administrator\n}\n",
    );
    util::settings().bind(|| insta::assert_snapshot!("lint_never_allows", out));
}

#[test]
fn planted_subsumed() {
    let out = planted(
        "subsumed",
        "rule planted-subsumed {\n  allow approve_mailbox\n  when org.deployment == \"onpremises\" and is_system_administrator and has_approval_privilege\n   and mailbox.server == \"exchange_online\"\n}\n",
    );
    util::settings().bind(|| insta::assert_snapshot!("lint_subsumed", out));
}

#[test]
fn planted_redundant_condition() {
    let out = planted(
        "redundant-condition",
        "rule planted-redundant-condition {\n  deny approve_mailbox\n  when mailbox.approval == \"rejected\"\n   and mailbox.approval != \"pending_approval\"\n  reason \"the mailbox's email address was rejected\"\n}\n",
    );
    util::settings().bind(|| insta::assert_snapshot!("lint_redundant_condition", out));
}

#[test]
fn planted_redundant_condition_in_a_let() {
    let out = planted(
        "redundant-condition",
        "let planted_rejected = mailbox.approval == \"rejected\" and mailbox.approval != \"approved\"\n\nrule planted-rejected {\n  deny approve_mailbox\n  when planted_rejected\n  reason \"the mailbox's email address was rejected\"\n}\n",
    );
    assert!(out.contains(r#""let":"planted_rejected""#), "{out}");
    util::settings().bind(|| insta::assert_snapshot!("lint_redundant_condition_let", out));
}

#[test]
fn planted_vacuous_invariant() {
    let out = planted(
        "vacuous-invariant",
        "rule planted-deny-all-assignments {\n  deny assign_role\n  reason \"role assignment is frozen\"\n}\n",
    );
    util::settings().bind(|| insta::assert_snapshot!("lint_vacuous_invariant", out));
}

/// `# mailgate: allow(CODE)` silences that code, on the line directly above only.
#[test]
fn allow_comments_silence_exactly_their_code() {
    let rule = "rule planted {\n  allow approve_mailbox\n  when mailbox.approval == \"approved\" and is_system_administrator\n}\n";
    let run = |file: &str| {
        let dir = util::temp_dir("lint-allow");
        util::copy_dir(&util::repo_path("policies"), &dir.join("policies"));
        std::fs::write(dir.join("policies/planted.policy"), file).unwrap();
        mailgate(&["check", "--deny-warnings", "--policies", "policies"])
            .dir(&dir)
            .run()
    };
    run(rule).code(1);
    run(&format!("# mailgate: allow(never-allows)\n{rule}")).code(0);
    run(&format!(
        "# mailgate: allow(subsumed, never-allows)\n{rule}"
    ))
    .code(0);
    // Another code, or a line in between, does not silence it.
    run(&format!("# mailgate: allow(subsumed)\n{rule}")).code(1);
    run(&format!("# mailgate: allow(never-allows)\n\n{rule}")).code(1);
}

#[test]
fn the_shipped_set_is_lint_clean() {
    let out = mailgate(&["check", "--deny-warnings"]).run();
    out.code(0);
    assert_eq!(out.stderr, "");
}

#[test]
fn the_lending_library_is_lint_clean_and_names_the_actions_it_cannot_lint() {
    let out = mailgate(&[
        "check",
        "--deny-warnings",
        "--policies",
        "tests/fixtures/other-domain",
    ])
    .run();
    out.code(0);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    // Comparisons of two int paths are outside the abstraction: a note per action.
    util::settings().bind(|| insta::assert_snapshot!("lint_other_domain", out.transcript()));
}
