//! Arbitrary bytes as one `eval --batch` line against the shipped policy set: deciding must
//! never panic, must append exactly one line of JSON, and a bad line must never be `allow`.
//! The record, and the request of an accepted line, must also be exactly the ones
//! `serde_json` alone gives (the reference reader): the fast reader that reads well-formed
//! lines first may never change either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate::batch::LineDecider;
use mailgate::compile::CompiledSet;
use mailgate::policy_set::{Origin, load};
use std::sync::LazyLock;

static SET: LazyLock<CompiledSet> = LazyLock::new(|| {
    load(&Origin::Embedded)
        .unwrap_or_else(|_| panic!("the shipped policy set loads"))
        .set
});

fuzz_target!(|data: &[u8]| {
    // A batch line never contains its newline.
    let line = data.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let mut decider = LineDecider::new(&SET);
    let mut out = b"previous\n".to_vec();
    let ok = decider.decide(7, line, &mut out);
    let record = &out[b"previous\n".len()..];
    let mut reference = Vec::new();
    let mut reference_decider = LineDecider::new(&SET).reference_reader();
    let reference_ok = reference_decider.decide(7, line, &mut reference);
    assert_eq!(ok, reference_ok, "the fast reader changed the verdict");
    assert_eq!(record, reference.as_slice(), "the fast reader changed the record");
    if ok {
        let (a, b) = (decider.request(), reference_decider.request());
        assert_eq!(a.action, b.action, "the fast reader changed the action");
        assert_eq!(a.values, b.values, "the fast reader changed a value");
        for i in 0..a.values.len() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            assert_eq!(SET.display_value(a, i), SET.display_value(b, i));
        }
    }
    assert_eq!(record.last(), Some(&b'\n'), "record ends with a newline");
    assert_eq!(
        record.iter().filter(|&&b| b == b'\n').count(),
        1,
        "exactly one line"
    );
    let v: serde_json::Value = serde_json::from_slice(record).expect("record is JSON");
    assert_eq!(v["line"], 7);
    for key in ["decision", "rules", "reasons", "errors"] {
        assert!(v.get(key).is_some(), "record lacks `{key}`");
    }
    if !ok {
        assert_eq!(v["decision"], "deny", "a bad line was allowed");
        assert_eq!(v["cause"], "invalid_request");
        assert!(v["error"].is_string());
    }
});
