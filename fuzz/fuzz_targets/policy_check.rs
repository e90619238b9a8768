//! Arbitrary bytes as one policy file next to the shipped schema: decoding, parsing,
//! validating, compiling and rendering the diagnostics must never panic, a file that is
//! not UTF-8 must be an error, and a set that loads must decide every action.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate::policy_set::{RawFile, decode, load_texts};
use mailgate::source::SourceMap;

const SCHEMA: &str = include_str!("../../policies/schema.yaml");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        let mut sources = SourceMap::new();
        let raw = RawFile {
            name: "fuzz.policy".to_owned(),
            bytes: Ok(data.to_vec()),
        };
        let d = decode(raw, &mut sources).expect_err("invalid UTF-8 must be an error");
        let _ = d.render(&sources);
        return;
    };
    match load_texts(SCHEMA, &[("fuzz.policy", text)]) {
        Ok(loaded) => {
            let set = &loaded.set;
            for action in 0..set.schema().actions.len() {
                let Ok(action) = u16::try_from(action) else { continue };
                let request = set.new_request(action);
                let _ = set.evaluate(&request);
            }
        }
        Err(failure) => {
            assert!(failure.diagnostics.iter().any(|d| d.is_error()));
            for d in &failure.diagnostics {
                let _ = d.render(&failure.sources);
            }
        }
    }
});
