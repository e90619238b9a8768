//! A forgiving tokenizer for policy text, for the editor features.
//!
//! The parser stops at the first error in an item, but an editor asks questions about text
//! that is being typed and is usually broken. Hover, definition and completion therefore
//! work on tokens: the word under the cursor, the path it belongs to, the string literal
//! the cursor is in and the tokens before it. This never fails: any byte that is not part
//! of a word, string, number or comment is a one-character punctuation token.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Letters, digits, `_` and `-` (identifiers, keywords, rule ids and integers).
    Word,
    /// A string literal; `closed` is false when the line ends first.
    Str {
        /// Whether the closing quote is there.
        closed: bool,
    },
    /// `#` to the end of the line.
    Comment,
    /// Any other character (`.`, `,`, `{`, `=`, ...).
    Punct,
}

/// One token: its kind and byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    /// What it is.
    pub(crate) kind: Kind,
    /// First byte.
    pub(crate) start: usize,
    /// One past the last byte.
    pub(crate) end: usize,
}

impl Token {
    /// Its text.
    pub(crate) fn text(self, src: &str) -> &str {
        src.get(self.start..self.end).unwrap_or("")
    }

    /// Whether this is the punctuation `p`.
    pub(crate) fn is_punct(self, src: &str, p: &str) -> bool {
        self.kind == Kind::Punct && self.text(src) == p
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// The tokens of `src`, whitespace left out, in order.
pub(crate) fn tokens(src: &str) -> Vec<Token> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let kind = if b.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if b == b'#' {
            i = memchr::memchr(b'\n', &bytes[i..]).map_or(bytes.len(), |n| i + n);
            Kind::Comment
        } else if b == b'"' {
            i += 1;
            let mut closed = false;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' if i + 1 < bytes.len() && bytes[i + 1] != b'\n' => i += 2,
                    b'"' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    b'\n' => break,
                    _ => i += 1,
                }
            }
            Kind::Str { closed }
        } else if is_word_byte(b) {
            while i < bytes.len() && is_word_byte(bytes[i]) {
                i += 1;
            }
            Kind::Word
        } else {
            // One character (which may be several bytes).
            i += src
                .get(i..)
                .and_then(|s| s.chars().next())
                .map_or(1, char::len_utf8);
            Kind::Punct
        };
        out.push(Token {
            kind,
            start,
            end: i.min(bytes.len()),
        });
    }
    out
}

/// The contents of a string token, with escapes undone (`\"`, `\\`, `\n`, `\t`).
pub(crate) fn unquote(raw: &str) -> String {
    let inner = raw.strip_prefix('"').unwrap_or(raw);
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A string literal for `text`, with `"` and `\` escaped.
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    out.push_str(&escape(text));
    out.push('"');
    out
}

/// `text` with `"` and `\` escaped, for use inside a string literal.
pub(crate) fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

pub(crate) use crate::syntax::KEYWORDS;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_cover_words_strings_comments_and_punctuation() {
        let src = "rule a-1 { # c\"\n when user.x == \"a \\\" b\" and \"open";
        let toks: Vec<(Kind, &str)> = tokens(src).iter().map(|t| (t.kind, t.text(src))).collect();
        assert_eq!(
            toks,
            vec![
                (Kind::Word, "rule"),
                (Kind::Word, "a-1"),
                (Kind::Punct, "{"),
                (Kind::Comment, "# c\""),
                (Kind::Word, "when"),
                (Kind::Word, "user"),
                (Kind::Punct, "."),
                (Kind::Word, "x"),
                (Kind::Punct, "="),
                (Kind::Punct, "="),
                (Kind::Str { closed: true }, "\"a \\\" b\""),
                (Kind::Word, "and"),
                (Kind::Str { closed: false }, "\"open"),
            ]
        );
        assert_eq!(unquote("\"a \\\" b\""), "a \" b");
        assert_eq!(quote("a \" b"), "\"a \\\" b\"");
    }

    #[test]
    fn non_ascii_punctuation_is_one_token_per_character() {
        let src = "é😀x";
        let toks = tokens(src);
        assert_eq!(toks.len(), 3);
        assert_eq!(toks[1].text(src), "😀");
    }
}
