//! Writes the generated export of `benches/audit.rs` to a folder, for timing `mailgate
//! audit` by hand: `cargo run --example audit_bundle -- DIR 100000 20000`, then
//! `/usr/bin/time -v target/release/mailgate audit DIR --format html > report.html`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    reason = "example: the generator indexes small arrays"
)]

#[path = "../benches/support/audit_bundle.rs"]
mod audit_bundle;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "bundle".to_owned()));
    let mut number = |default: usize| args.next().and_then(|s| s.parse().ok()).unwrap_or(default);
    let mailboxes = number(100_000);
    let users = number(20_000);
    for (name, text) in audit_bundle::bundle(mailboxes, users) {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}
