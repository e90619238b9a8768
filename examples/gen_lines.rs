//! Writes N generated batch lines for the shipped schema to stdout (for trying
//! `eval --batch` by hand): `cargo run --release --example gen_lines -- 1000000 > lines.jsonl`.
#![allow(missing_docs, reason = "example")]
use std::io::Write as _;
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let orgs = mailgate::generate::org_variants();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for r in mailgate::generate::requests(11, n) {
        if writeln!(out, "{}", r.to_json(&orgs)).is_err() {
            return;
        }
    }
}
