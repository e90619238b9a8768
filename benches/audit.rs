//! Criterion benchmark of `mailgate audit`: a generated export of 100,000 mailboxes and
//! 20,000 users (in memory, in the shape the export scripts write), imported, decided
//! and written as JSON Lines to a sink, on one thread.
//!
//! Run with `cargo bench --bench audit`. The generator is seeded, so every run measures
//! the same bundle.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "benchmark code"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use mailgate::audit::{self, BundleSource, Format, ImportOptions};
use mailgate::policy_set::{self, Origin};
use std::time::Duration;

#[path = "support/audit_bundle.rs"]
mod audit_bundle;
use audit_bundle::bundle;

const MAILBOXES: usize = 100_000;
const USERS: usize = 20_000;

fn audit_100k(c: &mut Criterion) {
    let origin = Origin::Dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"));
    let set = policy_set::load(&origin).unwrap().set;
    let files = BundleSource::Memory(bundle(MAILBOXES, USERS));
    let opts = ImportOptions {
        deployment: "online".to_owned(),
        ..ImportOptions::default()
    };
    let mut g = c.benchmark_group("audit");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("100k_mailboxes_20k_users_json", |b| {
        b.iter(|| {
            let bundle = audit::import_bundle(&files, &origin, &set, &opts).unwrap();
            let mut sink = std::io::sink();
            let summary = audit::write_report(&set, &bundle, Format::Json, &mut sink).unwrap();
            assert_eq!(summary.mailboxes, MAILBOXES);
        });
    });
    // The HTML report: plans with who for every denial, every row and detail in one file.
    g.bench_function("100k_mailboxes_20k_users_html", |b| {
        b.iter(|| {
            let bundle = audit::import_bundle(&files, &origin, &set, &opts).unwrap();
            let mut sink = std::io::sink();
            let summary = audit::write_report(&set, &bundle, Format::Html, &mut sink).unwrap();
            assert_eq!(summary.mailboxes, MAILBOXES);
        });
    });
    g.finish();
}

criterion_group!(benches, audit_100k);
criterion_main!(benches);
