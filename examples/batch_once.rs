//! Runs `eval --batch` over generated lines once, single-threaded (for profiling):
//! `batch_once [N] [decide|floor] [short|long] [THREADS]`. `floor` only checks each line's JSON
//! syntax with `serde_json` (`IgnoredAny`), the parse-only floor of the benchmarks;
//! `long` uses export-like lines of about 550 bytes (`generate::export_like`).
#![allow(
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    missing_docs,
    reason = "example"
)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let floor = args.get(2).is_some_and(|s| s == "floor");
    let long = args.get(3).is_some_and(|s| s == "long");
    let threads: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let set = if long {
        let schema = std::fs::read_to_string(dir.join("schema.yaml")).unwrap();
        let schema = mailgate::generate::schema_with_long_roles(&schema);
        let texts: Vec<(String, String)> = std::fs::read_dir(&dir)
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
        let refs: Vec<(&str, &str)> = texts
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        mailgate::policy_set::load_texts(&schema, &refs)
            .unwrap()
            .set
    } else {
        mailgate::policy_set::load(&mailgate::policy_set::Origin::Dir(dir))
            .unwrap()
            .set
    };
    let orgs = mailgate::generate::org_variants();
    let mut input = String::new();
    for r in mailgate::generate::requests(11, n) {
        let line = r.to_json(&orgs);
        if long {
            input.push_str(&mailgate::generate::export_like(&line));
        } else {
            input.push_str(&line);
        }
        input.push('\n');
    }
    eprintln!("{} lines, {} bytes on average", n, input.len() / n);
    let t = std::time::Instant::now();
    if floor {
        let bad = floor_run(input.as_bytes());
        assert_eq!(bad, 0);
    } else {
        let stats = mailgate::batch::run(&set, input.as_bytes(), std::io::sink(), threads).unwrap();
        assert_eq!(stats.bad, 0);
    }
    let el = t.elapsed();
    eprintln!("in {el:?}: {:.0} lines/s", n as f64 / el.as_secs_f64());
}

/// The parse-only floor: each line's JSON syntax checked, nothing decided.
#[inline(never)]
fn floor_run(input: &[u8]) -> usize {
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
