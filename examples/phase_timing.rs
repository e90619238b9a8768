//! Times the phases of loading a generated 10,000-rule set (best of 5 runs each).
#![allow(clippy::unwrap_used, missing_docs, reason = "example")]
use std::time::{Duration, Instant};

fn best<T>(f: impl Fn() -> T) -> Duration {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            let _x = f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn main() {
    let (schema, text) = mailgate::generate::policy_set(10_000, 100);
    println!("policy text: {} bytes", text.len());
    let half = &text[..text.len() / 2];
    let cut = half.rfind("\nrule ").unwrap() + 1;
    println!(
        "parse half: {:?}",
        best(|| mailgate::syntax::parse(mailgate::source::FileId(1), &text[..cut]))
    );
    println!(
        "parse: {:?}",
        best(|| mailgate::syntax::parse(mailgate::source::FileId(1), &text))
    );
    println!(
        "schema: {:?}",
        best(|| mailgate::policy_set::load_texts(&schema, &[]).unwrap())
    );
    println!(
        "load: {:?}",
        best(|| mailgate::policy_set::load_texts(&schema, &[("g.policy", &text)]).unwrap())
    );
}
