//! Criterion benchmark of `mailgate audit`: a generated export of 100,000 mailboxes and
//! 20,000 users (in memory, in the shape the export scripts write), imported, decided
//! and written to a sink in each format, on one thread.
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
    // JSON Lines, CSV, the text report and the HTML report (plans with who for every
    // denial; the text and HTML hold each mailbox as a few words and write it in turn).
    for (name, format) in [
        ("json", Format::Json),
        ("csv", Format::Csv),
        ("text", Format::Text),
        ("html", Format::Html),
    ] {
        g.bench_function(format!("100k_mailboxes_20k_users_{name}"), |b| {
            b.iter(|| {
                let bundle = audit::import_bundle(&files, &origin, &set, &opts).unwrap();
                let mut sink = std::io::sink();
                let summary = audit::write_report(&set, &bundle, format, &mut sink).unwrap();
                assert_eq!(summary.mailboxes, MAILBOXES);
            });
        });
    }
    g.finish();
}

criterion_group!(benches, audit_100k);
criterion_main!(benches);
