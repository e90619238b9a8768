//! Arbitrary bytes as `schema.yaml` with the shipped policies: decoding, loading the
//! schema, validating the policies against it and rendering every diagnostic must never
//! panic; a failed load has at least one error, and a set that loads decides every action.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate::policy_set::load_texts;

/// The shipped policies (for schemas near the shipped one) and a tiny policy (for small
/// schemas like the `seed-small` corpus entry): each input is loaded with both.
const SHIPPED: &[(&str, &str)] = &[
    ("approvers.policy", include_str!("../../policies/approvers.policy")),
    ("approval.policy", include_str!("../../policies/approval.policy")),
    ("sync.policy", include_str!("../../policies/sync.policy")),
];
const TINY: &[(&str, &str)] = &[("tiny.policy", "rule t { allow a when x.y == \"a\" }\n")];

fuzz_target!(|data: &[u8]| {
    let Ok(schema) = std::str::from_utf8(data) else {
        return;
    };
    for policies in [SHIPPED, TINY] {
        check(schema, policies);
    }
});

fn check(schema: &str, policies: &[(&str, &str)]) {
    match load_texts(schema, policies) {
        Ok(loaded) => {
            let set = &loaded.set;
            for a in 0..set.schema().actions.len() {
                let action = u16::try_from(a).expect("action ids are 16-bit");
                let _ = set.evaluate(&set.new_request(action));
            }
        }
        Err(failure) => {
            assert!(failure.diagnostics.iter().any(|d| d.is_error()));
            let _ = failure.to_string();
        }
    }
}
