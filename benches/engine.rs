//! Criterion benchmarks for the performance targets in docs/performance.md:
//! (a) one in-process decision on the shipped set, per action;
//! (b) `eval --batch` throughput, end to end (JSON in, JSON out), 1 and 2 threads, beside
//!     the parse-only floor (`serde_json` checking each line's syntax) on the same lines,
//!     for the generated lines and for export-like lines of about 550 bytes;
//! loading the shipped set (read, parse, validate, compile);
//! (c) parse + validate + compile of a generated 10,000-rule set;
//! (d) decision latency as generated sets grow from 10 to 10,000 rules, spread over 100
//!     actions and all on one action (discriminated by enum equality);
//! (e) loading time as a policy set or a schema doubles in size (it should double too).
//!
//! What each benchmark claims is checked once before it is timed: (a) exercises both
//! outcomes, (b) has no error record, (d) matches exactly one rule.
//!
//! Run with `cargo bench`. Generators are seeded, so every run measures the same inputs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "benchmark code"
)]

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mailgate::ast::Effect;
use mailgate::batch;
use mailgate::eval::Decision;
use mailgate::generate;
use mailgate::policy_set::{self, Origin};
use std::hint::black_box;

fn shipped() -> mailgate::compile::CompiledSet {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    policy_set::load(&Origin::Dir(dir))
        .expect("shipped policies load")
        .set
}

/// (a) One decision per action on the shipped policy set.
fn decide_shipped(c: &mut Criterion) {
    let set = shipped();
    let orgs = generate::org_variants();
    let reqs = generate::requests(7, 2_000);
    let mut g = c.benchmark_group("decide_shipped");
    for action in generate::ACTIONS {
        // Sixteen requests of this action, half allowed and half denied where the
        // generator gives both, so both outcomes are exercised (checked below).
        let parsed: Vec<_> = reqs
            .iter()
            .filter(|r| r.action == *action)
            .map(|r| batch::parse_request(&set, r.to_json(&orgs).as_bytes()).unwrap())
            .collect();
        let (allowed, denied): (Vec<_>, Vec<_>) = parsed
            .into_iter()
            .partition(|r| set.evaluate(r).effect == Effect::Allow);
        assert!(
            !allowed.is_empty() && !denied.is_empty(),
            "{action}: the generated requests do not exercise both outcomes"
        );
        let lines: Vec<_> = allowed
            .into_iter()
            .take(8)
            .chain(denied.into_iter().take(8))
            .collect();
        let mut d = Decision::default();
        let mut i = 0;
        g.bench_function(*action, |b| {
            b.iter(|| {
                i = (i + 1) % lines.len();
                set.evaluate_into(black_box(&lines[i]), &mut d);
                black_box(d.effect)
            });
        });
    }
    g.finish();
}

/// The shipped policy files and the shipped schema, with [`generate::LONG_ROLES`] added to
/// it when `long_roles`.
fn shipped_with(long_roles: bool) -> mailgate::compile::CompiledSet {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let mut schema = std::fs::read_to_string(dir.join("schema.yaml")).unwrap();
    if long_roles {
        schema = generate::schema_with_long_roles(&schema);
    }
    let mut texts: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "policy"))
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    texts.sort();
    let refs: Vec<(&str, &str)> = texts
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    policy_set::load_texts(&schema, &refs).unwrap().set
}

/// The parse-only floor: every line's JSON syntax checked by `serde_json` (`IgnoredAny`),
/// nothing decided or written. Returns the number of lines that are not JSON.
fn floor(input: &[u8]) -> usize {
    let mut start = 0;
    let mut bad = 0;
    for end in memchr::memchr_iter(b'\n', input) {
        bad += usize::from(
            serde_json::from_slice::<serde::de::IgnoredAny>(&input[start..end]).is_err(),
        );
        start = end + 1;
    }
    bad
}

/// (b) `eval --batch` end to end over 1,000,000 generated lines, beside the parse-only
/// floor on the same lines: the lines of [`generate::requests`] (`batch`), and the same
/// lines written as an export writes them, about 550 bytes with long role names
/// (`batch_long`).
fn batch_throughput(c: &mut Criterion) {
    let orgs = generate::org_variants();
    let n = 1_000_000;
    for long in [false, true] {
        let set = shipped_with(long);
        let mut input = String::with_capacity(n * if long { 600 } else { 400 });
        for r in generate::requests(11, n) {
            let line = r.to_json(&orgs);
            if long {
                input.push_str(&generate::export_like(&line));
            } else {
                input.push_str(&line);
            }
            input.push('\n');
        }
        // Once before timing: every line is a valid request (no error record), and the
        // decisions are not all one way; the floor finds every line well-formed.
        let mut out = Vec::new();
        let stats = batch::run(&set, input.as_bytes(), &mut out, 1).unwrap();
        assert_eq!(stats.lines, n as u64);
        assert_eq!(stats.bad, 0, "a generated line was an error record");
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("\"invalid_request\""));
        assert!(text.contains("\"decision\":\"allow\"") && text.contains("\"decision\":\"deny\""));
        drop(text);
        assert_eq!(floor(input.as_bytes()), 0);
        let mut g = c.benchmark_group(if long { "batch_long" } else { "batch" });
        g.sample_size(10);
        g.throughput(Throughput::Elements(n as u64));
        // Floor and batch alternate, so that both see the same load.
        g.bench_function("floor_parse_only", |b| {
            b.iter(|| black_box(floor(black_box(input.as_bytes()))));
        });
        for threads in [1, 2] {
            g.bench_function(BenchmarkId::new("1M_lines_threads", threads), |b| {
                b.iter(|| {
                    let stats =
                        batch::run(&set, input.as_bytes(), std::io::sink(), threads).unwrap();
                    assert_eq!(stats.lines, n as u64);
                    assert_eq!(stats.bad, 0);
                    black_box(stats)
                });
            });
        }
        g.finish();
    }
}

/// Loading the shipped set: read the files, parse, validate and compile (target < 5 ms;
/// `serve` reloads and the language server depend on it).
fn load_shipped(c: &mut Criterion) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let mut g = c.benchmark_group("load");
    g.bench_function("shipped_set", |b| {
        b.iter(|| {
            let loaded = policy_set::load(&Origin::Dir(dir.clone())).unwrap();
            black_box(loaded.set.rules().len())
        });
    });
    g.finish();
}

/// (c) Parse, validate and compile a generated set of 10,000 rules.
fn check_10k(c: &mut Criterion) {
    let (schema, text) = generate::policy_set(10_000, 100);
    let mut g = c.benchmark_group("check");
    g.sample_size(10);
    g.bench_function("10000_rules", |b| {
        b.iter(|| {
            let loaded = policy_set::load_texts(&schema, &[("gen.policy", &text)]).unwrap();
            black_box(loaded.set.rules().len())
        });
    });
    g.finish();
}

/// (d) Decision latency as the set grows.
fn scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("scaling");
    for (label, actions) in [("100_actions", 100), ("one_action", 1)] {
        for rules in [10, 100, 1_000, 10_000] {
            let (schema, text) = generate::policy_set(rules, actions.min(rules));
            let loaded = policy_set::load_texts(&schema, &[("gen.policy", &text)]).unwrap();
            let set = loaded.set;
            // Code 0 belongs to rule r0 of action a0: the request matches exactly one rule.
            let req =
                batch::parse_request(&set, generate::policy_set_request(0, 0).as_bytes()).unwrap();
            let mut d = Decision::default();
            set.evaluate_into(&req, &mut d);
            assert_eq!(
                d.rules
                    .iter()
                    .map(|&r| set.get_rule(r).unwrap().id.as_str())
                    .collect::<Vec<_>>(),
                ["r0"],
                "{label}/{rules}: the request should match exactly rule r0"
            );
            g.bench_with_input(BenchmarkId::new(label, rules), &req, |b, req| {
                b.iter_batched_ref(
                    || (),
                    |()| {
                        set.evaluate_into(black_box(req), &mut d);
                        black_box(d.effect)
                    },
                    BatchSize::SmallInput,
                );
            });
        }
    }
    g.finish();
}

/// Loading grows linearly: a policy set and a schema at 1x, 2x and 4x the size.
fn load_growth(c: &mut Criterion) {
    let mut g = c.benchmark_group("load_growth");
    g.sample_size(10);
    for rules in [5_000usize, 10_000, 20_000] {
        let (schema, text) = generate::policy_set(rules, 100);
        g.throughput(Throughput::Elements(rules as u64));
        g.bench_function(BenchmarkId::new("rules", rules), |b| {
            b.iter(|| {
                let loaded = policy_set::load_texts(&schema, &[("gen.policy", &text)]).unwrap();
                black_box(loaded.set.rules().len())
            });
        });
    }
    for actions in [5_000u64, 10_000, 20_000] {
        // A schema with `actions` actions of eight slots and a parameter each, and one
        // policy that reads a slot of every action.
        let mut schema = String::from(
            "entities:\n  user: { plural: users, attributes: { level: { type: int } } }\ncontext: { name: org }\nactions:\n",
        );
        let mut rules = String::new();
        for a in 0..actions {
            schema.push_str(&format!(
                "  a{a}: {{ slots: {{ s0: user, s1: user, s2: user, s3: user, s4: user, s5: user, s6: user, s{a}x: user }}, params: {{ p{a}: int }} }}\n"
            ));
            rules.push_str(&format!(
                "rule r{a} {{ allow a{a} when s{a}x.level > request.p{a} and s3.level == 1 }}\n"
            ));
        }
        g.throughput(Throughput::Elements(actions));
        g.bench_function(BenchmarkId::new("schema_actions", actions), |b| {
            b.iter(|| {
                let loaded = policy_set::load_texts(&schema, &[("a.policy", &rules)]).unwrap();
                black_box(loaded.set.rules().len())
            });
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    decide_shipped,
    batch_throughput,
    load_shipped,
    check_10k,
    scaling,
    load_growth
);
criterion_main!(benches);
