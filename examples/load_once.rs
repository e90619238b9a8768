//! Loads a generated 10,000-rule set once (for profiling with callgrind).
#![allow(clippy::unwrap_used, missing_docs, reason = "example")]
fn main() {
    let (schema, text) = mailgate::generate::policy_set(10_000, 100);
    let l = mailgate::policy_set::load_texts(&schema, &[("g.policy", &text)]).unwrap();
    println!("{}", l.set.rules().len());
}
