//! Runs `eval --batch` over generated lines once, single-threaded (for profiling).
#![allow(
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    missing_docs,
    reason = "example"
)]
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let set = mailgate::policy_set::load(&mailgate::policy_set::Origin::Dir(dir))
        .unwrap()
        .set;
    let orgs = mailgate::generate::org_variants();
    let mut input = String::new();
    for r in mailgate::generate::requests(11, n) {
        input.push_str(&r.to_json(&orgs));
        input.push('\n');
    }
    eprintln!("{} lines, {} bytes on average", n, input.len() / n);
    let t = std::time::Instant::now();
    let stats = mailgate::batch::run(&set, input.as_bytes(), std::io::sink(), 1).unwrap();
    let el = t.elapsed();
    eprintln!(
        "{stats:?} in {el:?}: {:.0} lines/s",
        n as f64 / el.as_secs_f64()
    );
}
