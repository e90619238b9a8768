//! Criterion benchmarks of the analysis:
//! (a) counterfactuals of one request on the shipped set (the analyzer, with each
//!     action's diagram built once, is reused, as `eval` and `eval --batch` do), per action;
//! (b) `eval --batch --why-not` throughput, end to end (JSON in, JSON with counterfactuals
//!     out), one thread;
//! (c) building every action's diagram of the shipped set from scratch;
//! (d) `diff` of the shipped set against an edited copy (a version gate moved by five
//!     builds), and of a generated set of 200 rules over 8 actions against a copy where
//!     every rule's version gate moved (every rule changes);
//! (e) the lints of `check` (every action's diagrams built from scratch, then every
//!     lint decided): the shipped set (target under 100 ms) and a generated set of 1,000
//!     rules over 8 actions (target under 5 s).
//!
//! Run with `cargo bench --bench analysis`. Requests come from the seeded generator.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "benchmark code"
)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mailgate::analysis::{Analyzer, WhyNotOptions};
use mailgate::batch;
use mailgate::generate;
use mailgate::policy_set::{self, Origin};
use std::hint::black_box;

fn shipped() -> mailgate::compile::CompiledSet {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    policy_set::load(&Origin::Dir(dir))
        .expect("shipped policies load")
        .set
}

/// (a) Counterfactuals per request, per action.
fn counterfactuals(c: &mut Criterion) {
    let set = shipped();
    let analyzer = Analyzer::new(&set);
    let orgs = generate::org_variants();
    let reqs = generate::requests(11, 4_000);
    let opts = WhyNotOptions::default();
    let mut g = c.benchmark_group("counterfactuals");
    for action in generate::ACTIONS {
        let lines: Vec<_> = reqs
            .iter()
            .filter(|r| r.action == *action)
            .map(|r| batch::parse_request(&set, r.to_json(&orgs).as_bytes()).unwrap())
            .filter(|r| analyzer.counterfactuals(r, &opts).is_ok())
            .take(32)
            .collect();
        if lines.is_empty() {
            continue;
        }
        let mut i = 0;
        g.bench_function(*action, |b| {
            b.iter(|| {
                i = (i + 1) % lines.len();
                black_box(
                    analyzer
                        .counterfactuals(black_box(&lines[i]), &opts)
                        .unwrap(),
                )
            });
        });
    }
    g.finish();
}

/// (b) `eval --batch --why-not` over 2,000 generated lines, one thread.
fn batch_why_not(c: &mut Criterion) {
    let set = shipped();
    let orgs = generate::org_variants();
    let input: String = generate::requests(5, 2_000)
        .iter()
        .map(|r| r.to_json(&orgs) + "\n")
        .collect();
    let opts = WhyNotOptions::default();
    let mut g = c.benchmark_group("batch_why_not");
    g.throughput(Throughput::Elements(2_000));
    g.sample_size(10);
    g.bench_function("2000_lines_1_thread", |b| {
        b.iter(|| {
            let analyzer = Analyzer::new(&set);
            let w = batch::WhyNot {
                analyzer: &analyzer,
                options: &opts,
            };
            let mut out = Vec::with_capacity(4 << 20);
            batch::run_with(&set, input.as_bytes(), &mut out, 1, Some(w)).unwrap();
            black_box(out.len())
        });
    });
    g.finish();
}

/// (c) Every action's diagram of the shipped set, from scratch.
fn build_models(c: &mut Criterion) {
    let set = shipped();
    c.bench_function("build_shipped_diagrams", |b| {
        b.iter(|| {
            let a = Analyzer::new(&set);
            for action in 0..set.schema().actions.len() {
                black_box(a.diagram_sizes(u16::try_from(action).unwrap()).unwrap());
            }
        });
    });
}

/// The shipped set's files, with `from` replaced by `to` in `file`.
fn shipped_edited(file: &str, from: &str, to: &str) -> mailgate::compile::CompiledSet {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let (schema, mut policies) = policy_set::policy_files(&Origin::Dir(dir)).unwrap();
    for p in &mut policies {
        if p.name.ends_with(file) {
            let text = String::from_utf8(p.bytes.clone().unwrap()).unwrap();
            assert!(text.contains(from));
            p.bytes = Ok(text.replacen(from, to, 1).into_bytes());
        }
    }
    policy_set::load_files(schema, policies).unwrap().set
}

/// (d) `diff`, models built from scratch each time.
fn diff(c: &mut Criterion) {
    use mailgate::analysis::{DiffOptions, diff};
    let old = shipped();
    let new = shipped_edited(
        "approvers.policy",
        r#"org.version >= "9.2.22104.00170""#,
        r#"org.version >= "9.2.22104.00175""#,
    );
    let opts = DiffOptions::default();
    let mut g = c.benchmark_group("diff");
    g.sample_size(10);
    g.bench_function("shipped_vs_moved_version_gate", |b| {
        b.iter(|| black_box(diff(&old, &new, &opts).unwrap()));
    });
    let (schema, text) = generate::policy_set(200, 8);
    let edited = text.replace(r#"env.version >= "8."#, r#"env.version >= "9.3."#);
    let old = policy_set::load_texts(&schema, &[("gen.policy", &text)])
        .unwrap()
        .set;
    let new = policy_set::load_texts(&schema, &[("gen.policy", &edited)])
        .unwrap()
        .set;
    g.bench_function("generated_200_rules_8_actions", |b| {
        b.iter(|| black_box(diff(&old, &new, &opts).map(|d| d.len())));
    });
    g.finish();
}

/// (e) The lints, models built from scratch each time.
fn lint(c: &mut Criterion) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let shipped = policy_set::load(&Origin::Dir(dir)).unwrap();
    let mut g = c.benchmark_group("lint");
    g.sample_size(10);
    g.bench_function("shipped", |b| {
        b.iter(|| {
            let r = mailgate::analysis::lint::lint(&shipped.set, &shipped.validated);
            assert!(r.lints.is_empty());
            black_box(r)
        });
    });
    let (schema, text) = generate::policy_set(1_000, 8);
    let generated = policy_set::load_texts(&schema, &[("gen.policy", &text)]).unwrap();
    g.bench_function("generated_1000_rules_8_actions", |b| {
        b.iter(|| {
            black_box(mailgate::analysis::lint::lint(
                &generated.set,
                &generated.validated,
            ))
        });
    });
    g.finish();
}

criterion_group!(
    benches,
    counterfactuals,
    batch_why_not,
    build_models,
    diff,
    lint
);
criterion_main!(benches);
