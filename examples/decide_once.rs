//! Decides generated requests of one action of the shipped set many times (for counting
//! instructions per decision with callgrind):
//! `decide_once ACTION [N] [bitset|reference]`.
#![allow(clippy::unwrap_used, missing_docs, reason = "example")]
use mailgate::eval::Decision;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let action = args.get(1).map_or("sync_incoming_email", String::as_str);
    let n: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let reference = args.get(3).is_some_and(|s| s == "reference");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let set = mailgate::policy_set::load(&mailgate::policy_set::Origin::Dir(dir))
        .unwrap()
        .set;
    let orgs = mailgate::generate::org_variants();
    let reqs: Vec<_> = mailgate::generate::requests(7, 2_000)
        .into_iter()
        .filter(|r| r.action == action)
        .take(16)
        .map(|r| mailgate::batch::parse_request(&set, r.to_json(&orgs).as_bytes()).unwrap())
        .collect();
    assert!(!reqs.is_empty(), "no requests for {action}");
    let mut d = Decision::default();
    let mut allowed = 0usize;
    for i in 0..n {
        let r = std::hint::black_box(&reqs[i % reqs.len()]);
        if reference {
            set.evaluate_reference_into(r, &mut d);
        } else {
            set.evaluate_into(r, &mut d);
        }
        allowed += usize::from(d.effect == mailgate::ast::Effect::Allow);
    }
    println!("{action}: {allowed} of {n} allowed");
}
