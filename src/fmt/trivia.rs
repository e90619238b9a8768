//! Comments and blank lines, recovered from the text between tokens.
//!
//! The grammar skips comments, so the parse tree has none. But every token is known (the
//! concrete tree lists them all), and between two tokens there can only be whitespace and
//! `#` comments: a comment is found by scanning those gaps, never by guessing where a
//! string ends.
//!
//! Each comment belongs to one token:
//! - a comment after code on the same line is the *trailing* comment of the token before it;
//! - any other comment is a *leading* comment of the token after it (or, after the last
//!   token, an end-of-file comment).

use crate::source::{FileId, Span};

/// One comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Comment<'a> {
    /// From `#` to the end of the line, trailing whitespace removed.
    pub(crate) text: &'a str,
    /// A blank line comes before it in the source.
    pub(crate) blank_before: bool,
}

/// What surrounds one token.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenTrivia<'a> {
    /// Own-line comments before the token.
    pub(crate) leading: Vec<Comment<'a>>,
    /// The comment after the token on its line.
    pub(crate) trailing: Option<Comment<'a>>,
    /// A blank line comes right before the token (after its leading comments, if any).
    pub(crate) blank_before: bool,
}

/// The comments of a file, attached to its tokens.
#[derive(Debug, Clone)]
pub(crate) struct Trivia<'a> {
    /// The tokens, sorted by position.
    tokens: Vec<Span>,
    /// One entry per token.
    per_token: Vec<TokenTrivia<'a>>,
    /// Comments after the last token.
    pub(crate) eof: Vec<Comment<'a>>,
}

impl<'a> Trivia<'a> {
    /// Scans the gaps between `tokens` (sorted, not overlapping). Fails with the position of
    /// any text that is neither whitespace nor a comment: the token list is then incomplete.
    pub(crate) fn scan(file: FileId, text: &'a str, tokens: Vec<Span>) -> Result<Self, Span> {
        let mut per_token = vec![TokenTrivia::default(); tokens.len()];
        let mut eof = Vec::new();
        let mut prev_end = 0usize;
        for i in 0..=tokens.len() {
            let gap_end = tokens.get(i).map_or(text.len(), |t| t.start as usize);
            let gap = text
                .get(prev_end..gap_end)
                .ok_or(Span::new(file, prev_end, prev_end))?;
            let mut newlines = 0usize;
            let mut leading = Vec::new();
            let mut pos = 0;
            let bytes = gap.as_bytes();
            while pos < bytes.len() {
                match bytes[pos] {
                    b'\n' => {
                        newlines += 1;
                        pos += 1;
                    }
                    b' ' | b'\t' | b'\r' | 0x0b | 0x0c => pos += 1,
                    b'#' => {
                        let end =
                            memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |n| pos + n);
                        let comment = Comment {
                            text: gap[pos..end].trim_end(),
                            blank_before: newlines >= 2,
                        };
                        if i > 0 && newlines == 0 && leading.is_empty() {
                            per_token[i - 1].trailing = Some(comment);
                        } else {
                            leading.push(comment);
                        }
                        newlines = 0;
                        pos = end;
                    }
                    _ => {
                        let at = prev_end + pos;
                        return Err(Span::new(file, at, at + 1));
                    }
                }
            }
            match per_token.get_mut(i) {
                Some(t) => {
                    t.leading = leading;
                    t.blank_before = newlines >= 2;
                }
                None => eof = leading,
            }
            if let Some(t) = tokens.get(i) {
                prev_end = t.end as usize;
            }
        }
        Ok(Trivia {
            tokens,
            per_token,
            eof,
        })
    }

    /// The trivia of the token at `span` (empty for a token the scan did not see).
    pub(crate) fn get(&self, span: Span) -> Option<&TokenTrivia<'a>> {
        self.tokens
            .binary_search_by_key(&span.start, |t| t.start)
            .ok()
            .and_then(|i| self.per_token.get(i))
    }

    /// Whether the token has leading comments.
    pub(crate) fn has_leading(&self, span: Span) -> bool {
        self.get(span).is_some_and(|t| !t.leading.is_empty())
    }

    /// Whether the token has a trailing comment.
    pub(crate) fn has_trailing(&self, span: Span) -> bool {
        self.get(span).is_some_and(|t| t.trailing.is_some())
    }

    /// Every comment in source order, with the number of tokens before it that `counts`,
    /// and whether it trails code on its line. Two texts whose lists are equal keep the same
    /// comments in the same places.
    pub(crate) fn placements(
        &self,
        text: &str,
        counts: impl Fn(&str) -> bool,
    ) -> Vec<(&'a str, usize, bool)> {
        let mut out = Vec::new();
        let mut before = 0usize;
        for (span, t) in self.tokens.iter().zip(&self.per_token) {
            out.extend(t.leading.iter().map(|c| (c.text, before, false)));
            if counts(text.get(span.range()).unwrap_or("")) {
                before += 1;
            }
            out.extend(t.trailing.iter().map(|c| (c.text, before, true)));
        }
        out.extend(self.eof.iter().map(|c| (c.text, before, false)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str, words: &[&str]) -> Vec<Span> {
        let mut from = 0;
        words
            .iter()
            .map(|w| {
                let at = from + text[from..].find(w).unwrap_or(0);
                from = at + w.len();
                Span::new(FileId(0), at, at + w.len())
            })
            .collect()
    }

    #[test]
    fn trailing_leading_and_end_of_file_comments() {
        let text = "# head\n\nlet x # t\n# own\n\n= y\n# end\n";
        let t = Trivia::scan(FileId(0), text, spans(text, &["let", "x", "=", "y"]))
            .unwrap_or_else(|s| panic!("{s:?}"));
        let first = &t.per_token[0];
        assert_eq!(
            first.leading,
            [Comment {
                text: "# head",
                blank_before: false
            }]
        );
        assert!(first.trailing.is_none() && first.blank_before);
        assert_eq!(
            t.per_token[1].trailing.as_ref().map(|c| c.text),
            Some("# t")
        );
        let eq = &t.per_token[2];
        assert_eq!(
            eq.leading,
            [Comment {
                text: "# own",
                blank_before: false
            }]
        );
        assert!(eq.blank_before);
        assert_eq!(
            t.eof,
            [Comment {
                text: "# end",
                blank_before: false
            }]
        );
    }

    #[test]
    fn text_that_is_not_a_comment_is_an_error() {
        let text = "let x = y z";
        let err = Trivia::scan(FileId(0), text, spans(text, &["let", "x", "=", "y"]));
        assert_eq!(err.err().map(|s| s.start), Some(10));
    }
}
