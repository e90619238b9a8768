//! Policy text → [`crate::ast::PolicyFile`]. The only module that knows about pest.
//!
//! Parsing is pest's and therefore stops at the first error in a piece of text. To report
//! more than one syntax error per file, a file that fails is cut into items (at lines that
//! start with `rule`, `let` or `invariant`) and each item is parsed on its own. Before pest sees any
//! text, a cheap scan rejects nesting deeper than [`MAX_NESTING`], so hostile input such as
//! 100,000 opening parentheses is an error, not a stack overflow.

pub mod concrete;
mod error;
mod expected;
mod grammar;
mod lower;

pub use error::SyntaxError;

use crate::ast::PolicyFile;
use crate::limits::{MAX_FILE_BYTES, MAX_NESTING};
use crate::source::{FileId, Span};
use grammar::{PolicyParser, Rule};
use pest::Parser as _;

/// The result of parsing one file: the items that parsed, and every error found.
#[derive(Debug)]
pub struct Parsed {
    /// The items that parsed (all of them when `errors` is empty).
    pub file: PolicyFile,
    /// Syntax errors, in source order.
    pub errors: Vec<SyntaxError>,
}

/// Parses one policy file.
pub fn parse(file: FileId, text: &str) -> Parsed {
    let empty = PolicyFile {
        file,
        items: Vec::new(),
    };
    if text.len() > MAX_FILE_BYTES {
        return Parsed {
            file: empty,
            errors: vec![SyntaxError::TooLarge {
                size: text.len(),
                limit: MAX_FILE_BYTES,
                span: Span::new(file, 0, 0),
            }],
        };
    }
    if let Some(e) = control_char(file, text) {
        return Parsed {
            file: empty,
            errors: vec![e],
        };
    }
    let starts = item_starts(text);
    // Large files are parsed in two halves, split at an item boundary, on two threads.
    // Items are independent, so the halves parse exactly as the whole would.
    let mid = if text.len() >= PARALLEL_MIN_BYTES {
        starts.partition_point(|&s| s < text.len() / 2)
    } else {
        0
    };
    let (mut items, mut errors) = if mid == 0 || mid == starts.len() {
        parse_recovering(file, text, &starts, text.len())
    } else {
        let (first, second) = starts.split_at(mid);
        let first_end = second[0];
        std::thread::scope(|scope| {
            let worker = std::thread::Builder::new()
                .stack_size(PARSER_STACK_BYTES)
                .spawn_scoped(scope, || parse_recovering(file, text, first, first_end));
            let mut right = parse_recovering(file, text, second, text.len());
            // If no thread could be started, parse the first half here.
            let mut left = worker
                .ok()
                .and_then(|h| h.join().ok())
                .unwrap_or_else(|| parse_recovering(file, text, first, first_end));
            left.0.append(&mut right.0);
            left.1.append(&mut right.1);
            left
        })
    };
    if !errors.is_empty() {
        items.clear();
    }
    errors.sort_by_key(|e| e.span().start);
    Parsed {
        file: PolicyFile { file, items },
        errors,
    }
}

/// Files from this size up are parsed on two threads.
const PARALLEL_MIN_BYTES: usize = 256 * 1024;

/// Stack of the second parser thread (the main thread's is usually 8 MiB).
const PARSER_STACK_BYTES: usize = 8 * 1024 * 1024;

/// Parses the items that start at `starts` (each runs to the next start; the last one to
/// `stop`). On a syntax error, parses item by item so that every broken item is reported.
fn parse_recovering(
    file: FileId,
    text: &str,
    starts: &[usize],
    stop: usize,
) -> (Vec<crate::ast::Item>, Vec<SyntaxError>) {
    let Some(&begin) = starts.first() else {
        return (Vec::new(), Vec::new());
    };
    match parse_chunk(file, text, begin, stop) {
        Ok(items) => (items, Vec::new()),
        Err(first) => {
            let mut items = Vec::new();
            let mut errors = Vec::new();
            for (i, &start) in starts.iter().enumerate() {
                let end = starts.get(i + 1).copied().unwrap_or(stop);
                match parse_chunk(file, text, start, end) {
                    Ok(mut parsed) => items.append(&mut parsed),
                    Err(mut errs) => errors.append(&mut errs),
                }
            }
            if errors.is_empty() {
                // The split hid the problem (it spans items): report the whole error.
                errors = first;
            }
            (items, errors)
        }
    }
}

/// Parses the item(s) at `whole[start..end]`. The whole file is passed so that an error at
/// the end of a chunk names the token that follows it, not "end of file".
fn parse_chunk(
    file: FileId,
    whole: &str,
    start: usize,
    end: usize,
) -> Result<Vec<crate::ast::Item>, Vec<SyntaxError>> {
    let text = &whole[start..end];
    check_nesting(file, text, start)?;
    let pairs = PolicyParser::parse(Rule::file, text)
        .map_err(|e| vec![lower::pest_error(file, whole, start, &e)])?;
    lower::lower_file(file, start, pairs)
}

/// Byte offsets where top-level items start: line starts whose first word is `rule` or
/// `let` or `invariant`. The first chunk always starts at 0 (after a byte order mark) so
/// leading text is not lost.
fn item_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![bom_len(text)];
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let is_item = ["rule", "let", "invariant"].iter().any(|kw| {
            trimmed
                .strip_prefix(kw)
                .is_some_and(|rest| rest.starts_with([' ', '\t']))
        });
        if is_item && offset > starts[0] {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts
}

/// Rejects nesting of `(`, `[` and runs of `not` deeper than [`MAX_NESTING`] before pest
/// and the Pratt parser recurse into them.
/// Strings and comments are skipped so brackets inside them do not count.
fn check_nesting(file: FileId, text: &str, offset: usize) -> Result<(), Vec<SyntaxError>> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut nots = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' | b'[' => {
                depth += 1;
                nots = 0;
                if depth > MAX_NESTING {
                    return Err(vec![SyntaxError::TooDeep {
                        limit: MAX_NESTING,
                        span: Span::new(file, offset + i, offset + i + 1),
                    }]);
                }
            }
            b')' | b']' => {
                depth = depth.saturating_sub(1);
                nots = 0;
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let start = i;
                while i + 1 < bytes.len()
                    && (bytes[i + 1].is_ascii_alphanumeric() || bytes[i + 1] == b'_')
                {
                    i += 1;
                }
                if &bytes[start..=i] == b"not" {
                    // A run of `not`s recurses in the Pratt parser: bound it like parentheses.
                    nots += 1;
                    if nots > MAX_NESTING {
                        return Err(vec![SyntaxError::TooDeep {
                            limit: MAX_NESTING,
                            span: Span::new(file, offset + start, offset + i + 1),
                        }]);
                    }
                } else {
                    nots = 0;
                }
            }
            b if b.is_ascii_whitespace() => {}
            _ => nots = 0,
        }
        i += 1;
    }
    Ok(())
}

/// The first control character other than tab, line feed and carriage return (NUL, escape,
/// DEL, C1 controls) or bidirectional control character (the "Trojan Source" characters
/// that reorder how code is displayed), anywhere in the text: such characters are
/// invisible to a reviewer.
///
/// The other characters that display differently from how they parse are refused too: a
/// carriage return not followed by a line feed (terminals and editors start a new line,
/// the parser does not), U+2028 and U+2029, and the zero-width characters U+200B–U+200D,
/// U+2060 and U+FEFF (a byte order mark is allowed as the very first character only).
fn control_char(file: FileId, text: &str) -> Option<SyntaxError> {
    let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}');
    let bytes = text.as_bytes();
    text.char_indices().find_map(|(i, c)| {
        let span = Span::new(file, i, i + c.len_utf8());
        let code = u32::from(c);
        let what = match c {
            '\r' if bytes.get(i + 1) != Some(&b'\n') => "a carriage return without a line feed",
            '\u{2028}' => "a line separator",
            '\u{2029}' => "a paragraph separator",
            '\u{FEFF}' if i == 0 => return None,
            '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => "a zero-width character",
            _ if (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || bidi(c) => {
                return Some(SyntaxError::ControlChar { code, span });
            }
            _ => return None,
        };
        Some(SyntaxError::Invisible { what, code, span })
    })
}

/// The length of a UTF-8 byte order mark at the start of `text` (0 if there is none): it
/// is skipped, not parsed.
fn bom_len(text: &str) -> usize {
    if text.starts_with('\u{FEFF}') {
        '\u{FEFF}'.len_utf8()
    } else {
        0
    }
}

/// The keywords of the policy language: they never name a `let`, rule, action, attribute,
/// slot, enum or member (the schema loader refuses such names; the language server never
/// offers them as names).
pub const KEYWORDS: [&str; 14] = [
    "let",
    "rule",
    "invariant",
    "allow",
    "deny",
    "when",
    "reason",
    "and",
    "or",
    "not",
    "in",
    "contains",
    "true",
    "false",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> String {
        let p = parse(FileId(0), text);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        p.file.to_string()
    }

    fn parse_err(text: &str) -> Vec<String> {
        parse(FileId(0), text)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn precedence_or_and_not_comparison() {
        assert_eq!(
            parse_ok("let x = a.b == 1 or not c.d and e.f in [1, 2]"),
            "let x = (or (== a.b 1) (and (not c.d) (in e.f [1, 2])))\n"
        );
    }

    #[test]
    fn and_chains_are_flat() {
        assert_eq!(
            parse_ok("let x = a and b and (c and d)"),
            "let x = (and $a $b $c $d)\n"
        );
    }

    #[test]
    fn contains_forms() {
        assert_eq!(
            parse_ok(
                "let x = u.r contains \"A\" and u.r contains any [\"A\"] and u.r contains  all [\"B\",]"
            ),
            "let x = (and (contains u.r \"A\") (contains any u.r [\"A\"]) (contains all u.r [\"B\"]))\n"
        );
    }

    #[test]
    fn rule_with_everything() {
        assert_eq!(
            parse_ok("# c\nrule a-1 { deny x, y when not u.b reason \"why \\\"q\\\"\" }"),
            "rule a-1 deny [x, y] when (not u.b) reason \"why \\\"q\\\"\"\n"
        );
    }

    #[test]
    fn keywords_are_not_names_but_prefixes_are() {
        assert_eq!(parse_ok("let android = order"), "let android = $order\n");
        assert_eq!(
            parse_err("let and = 1"),
            ["expected a name for the `let`, found `and`"]
        );
    }

    #[test]
    fn errors_in_separate_items_are_all_reported() {
        let errs = parse_err(
            "rule a { allow x when }\nrule b { allow y when u.x == }\nrule c { allow }\n",
        );
        assert_eq!(errs.len(), 3, "{errs:?}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = format!("let x = {}a.b{}", "(".repeat(100_000), ")".repeat(100_000));
        assert_eq!(
            parse_err(&text),
            ["nesting is deeper than the limit of 64 levels"]
        );
        let text = format!("let x = {}a.b", "not ".repeat(100_000));
        assert_eq!(
            parse_err(&text),
            ["nesting is deeper than the limit of 64 levels"]
        );
    }

    #[test]
    fn bidirectional_controls_are_refused() {
        // "Trojan Source": a right-to-left override inside a string literal.
        assert_eq!(
            parse_err("let x = user.upn == \"a\u{202E}b\""),
            ["control character U+202E is not allowed in policy text"]
        );
        assert_eq!(
            parse_err("# comment \u{2066}\nlet x = a.b"),
            ["control character U+2066 is not allowed in policy text"]
        );
    }

    #[test]
    fn text_that_displays_differently_from_how_it_parses_is_refused() {
        let cases = [
            (
                "# note\rrule r { allow x }",
                "a carriage return without a line feed (U+000D)",
            ),
            ("let x = a.b\u{2028}", "a line separator (U+2028)"),
            ("let x = a.b\u{2029}", "a paragraph separator (U+2029)"),
            ("let x = \"a\u{200B}\"", "a zero-width character (U+200B)"),
            ("let x = \"a\u{200C}\"", "a zero-width character (U+200C)"),
            ("# \u{200D}", "a zero-width character (U+200D)"),
            ("# \u{2060}", "a zero-width character (U+2060)"),
            ("let x = 1\n\u{FEFF}", "a zero-width character (U+FEFF)"),
        ];
        for (text, start) in cases {
            let errs = parse_err(text);
            assert_eq!(errs.len(), 1, "{text:?}: {errs:?}");
            assert!(errs[0].starts_with(start), "{text:?}: {errs:?}");
        }
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{2067}', '\u{2068}', '\u{2069}',
        ] {
            assert_eq!(parse_err(&format!("# {c}")).len(), 1, "{c:?}");
        }
        // CRLF line ends are fine.
        assert_eq!(
            parse_ok("let x = 1\r\nlet y = 2\r\n"),
            "let x = 1\nlet y = 2\n"
        );
    }

    #[test]
    fn a_byte_order_mark_at_the_start_is_skipped() {
        assert_eq!(parse_ok("\u{FEFF}let x = 1\n"), "let x = 1\n");
        assert_eq!(parse_ok("\u{FEFF}"), "");
        let p = parse(FileId(0), "\u{FEFF}rule r {");
        assert_eq!(p.errors.len(), 1);
    }

    #[test]
    fn a_bad_first_token_says_what_was_expected() {
        assert_eq!(
            parse_err("foo bar\n"),
            ["expected `let`, `rule` or `invariant`, found `foo`"]
        );
        assert_eq!(
            parse_err("\u{FEFF}foo"),
            ["expected `let`, `rule` or `invariant`, found `foo`"]
        );
    }

    #[test]
    fn int_out_of_range() {
        assert_eq!(
            parse_err("let x = a.b == 99999999999999999999"),
            ["number `99999999999999999999` is out of range"]
        );
    }
}
