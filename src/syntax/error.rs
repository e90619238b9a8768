//! Errors of the syntax layer.

use crate::diagnostics::Diagnostic;
use crate::source::Span;

/// A problem found while reading policy text.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SyntaxError {
    /// The text does not follow the grammar.
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What the grammar allows here, in words.
        expected: String,
        /// What is there instead.
        found: String,
        /// Where.
        span: Span,
    },
    /// Parentheses, lists or `not`s nested deeper than the limit.
    #[error("nesting is deeper than the limit of {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// The opening token that went over it.
        span: Span,
    },
    /// The file is larger than the limit.
    #[error("policy file is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
        /// The start of the file.
        span: Span,
    },
    /// A control character (such as NUL) anywhere in the text, strings and comments too:
    /// it is invisible when the policy is read, so it is refused.
    #[error("control character U+{code:04X} is not allowed in policy text")]
    ControlChar {
        /// The character's code point.
        code: u32,
        /// Where.
        span: Span,
    },
    /// A character that displays differently from how it parses (the "Trojan Source"
    /// class, CVE-2021-42574): a carriage return not followed by a line feed, a line or
    /// paragraph separator, or a zero-width character anywhere but at the start of a file.
    #[error(
        "{what} (U+{code:04X}) is not allowed in policy text: it displays differently from how it parses"
    )]
    Invisible {
        /// What the character is, in words.
        what: &'static str,
        /// The character's code point.
        code: u32,
        /// Where.
        span: Span,
    },
    /// Two comparisons in a row, such as `a == b == c`.
    #[error("comparison operators do not chain")]
    ChainedComparison {
        /// The second operator.
        span: Span,
    },
    /// A number does not fit in 64 bits.
    #[error("number `{text}` is out of range")]
    IntOutOfRange {
        /// The literal.
        text: String,
        /// Where.
        span: Span,
    },
    /// An unknown escape in a string.
    #[error("unknown escape `{text}` in string")]
    BadEscape {
        /// The escape.
        text: String,
        /// Where.
        span: Span,
    },
}

impl SyntaxError {
    /// Where the error is.
    pub fn span(&self) -> Span {
        match self {
            SyntaxError::Unexpected { span, .. }
            | SyntaxError::TooDeep { span, .. }
            | SyntaxError::TooLarge { span, .. }
            | SyntaxError::ControlChar { span, .. }
            | SyntaxError::Invisible { span, .. }
            | SyntaxError::IntOutOfRange { span, .. }
            | SyntaxError::ChainedComparison { span }
            | SyntaxError::BadEscape { span, .. } => *span,
        }
    }
}

impl From<&SyntaxError> for Diagnostic {
    fn from(e: &SyntaxError) -> Self {
        let label = match e {
            SyntaxError::Unexpected { expected, .. } => format!("expected {expected}"),
            SyntaxError::TooDeep { .. } => "too deeply nested".to_owned(),
            SyntaxError::TooLarge { .. } => "file too large".to_owned(),
            SyntaxError::ControlChar { .. } | SyntaxError::Invisible { .. } => {
                "invisible character here".to_owned()
            }
            SyntaxError::IntOutOfRange { .. } => "does not fit in 64 bits".to_owned(),
            SyntaxError::BadEscape { .. } => "allowed escapes are \\\" \\\\ \\n \\t".to_owned(),
            SyntaxError::ChainedComparison { .. } => "a second comparison".to_owned(),
        };
        let d = Diagnostic::error(e.to_string(), e.span(), label);
        match e {
            SyntaxError::TooDeep { .. } => {
                d.with_help("split the condition into named parts with `let`")
            }
            SyntaxError::ChainedComparison { .. } => d.with_help(
                "a comparison compares two values; join comparisons with `and`, as in `a == b and b == c`",
            ),
            _ => d,
        }
    }
}
