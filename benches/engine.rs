//! Criterion benchmarks for the performance targets in the README ("Performance"):
//! (a) one in-process decision on the shipped set, per action;
//! (b) `eval --batch` throughput, end to end (JSON in, JSON out), 1 and 2 threads;
//! (c) parse + validate + compile of a generated 10,000-rule set;
//! (d) decision latency as generated sets grow from 10 to 10,000 rules, spread over 100
//!     actions and all on one action (discriminated by enum equality).
//!
//! Run with `cargo bench`. Generators are seeded, so every run measures the same inputs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "benchmark code"
)]

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
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
        // A few requests of this action, so both outcomes are exercised.
        let lines: Vec<_> = reqs
            .iter()
            .filter(|r| r.action == *action)
            .take(16)
            .map(|r| batch::parse_request(&set, r.to_json(&orgs).as_bytes()).unwrap())
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

/// (b) `eval --batch` end to end over 1,000,000 generated lines.
fn batch_throughput(c: &mut Criterion) {
    let set = shipped();
    let orgs = generate::org_variants();
    let n = 1_000_000;
    let mut input = String::with_capacity(n * 400);
    for r in generate::requests(11, n) {
        input.push_str(&r.to_json(&orgs));
        input.push('\n');
    }
    let mut g = c.benchmark_group("batch");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    for threads in [1, 2] {
        g.bench_function(BenchmarkId::new("1M_lines_threads", threads), |b| {
            b.iter(|| {
                let stats = batch::run(&set, input.as_bytes(), std::io::sink(), threads).unwrap();
                assert_eq!(stats.lines, n as u64);
                black_box(stats)
            });
        });
    }
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

criterion_group!(
    benches,
    decide_shipped,
    batch_throughput,
    check_10k,
    scaling
);
criterion_main!(benches);
