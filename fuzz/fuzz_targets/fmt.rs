//! Arbitrary text as one policy file through `mailgate::fmt::format_source`: it never
//! panics; text with syntax errors is refused (never formatted); formatted text parses to
//! the same AST and formats to itself. `format_source` also checks that every comment is
//! kept between the same tokens; if that check (or any other) fails it returns
//! `FmtError::Unsound`, which this target treats as a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate::fmt::{FmtError, format_source};
use mailgate::source::FileId;
use mailgate::syntax::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse(FileId(0), text);
    match format_source(text) {
        Ok(out) => {
            assert!(parsed.errors.is_empty(), "text with syntax errors was formatted");
            let again = parse(FileId(0), &out);
            assert!(again.errors.is_empty(), "output does not parse:\n{out}");
            assert_eq!(again.file.to_string(), parsed.file.to_string(), "meaning changed");
            assert_eq!(format_source(&out).ok().as_deref(), Some(out.as_str()), "not idempotent");
        }
        Err(FmtError::Syntax(errors)) => {
            // Either the parser refused the text, or it nests past the formatter's limit.
            assert!(!parsed.errors.is_empty() || !errors.is_empty());
        }
        Err(e) => panic!("formatter refused its own work: {e}\n{text}"),
    }
});

