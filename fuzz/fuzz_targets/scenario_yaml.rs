//! Arbitrary bytes as a scenario file against the shipped policy set: decoding, loading
//! and rendering the diagnostics must never panic, and a scenario that loads must decide.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate::compile::CompiledSet;
use mailgate::policy_set::{Origin, RawFile, decode, load};
use mailgate::scenario;
use mailgate::source::SourceMap;
use std::sync::LazyLock;

static SET: LazyLock<CompiledSet> = LazyLock::new(|| {
    load(&Origin::Embedded)
        .unwrap_or_else(|_| panic!("the shipped policy set loads"))
        .set
});

fuzz_target!(|data: &[u8]| {
    let set = &*SET;
    let mut sources = SourceMap::new();
    let raw = RawFile {
        name: "fuzz.yaml".to_owned(),
        bytes: Ok(data.to_vec()),
    };
    let id = match decode(raw, &mut sources) {
        Ok(id) => id,
        Err(d) => {
            assert!(std::str::from_utf8(data).is_err(), "valid UTF-8 was refused");
            let _ = d.render(&sources);
            return;
        }
    };
    match scenario::load(id, sources.get(id), set) {
        Ok(s) => {
            for r in &s.requests {
                let _ = set.evaluate(&r.request);
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in &errors {
                let _ = e.to_diagnostic().render(&sources);
            }
        }
    }
});
