//! Errors of the formatter.

use crate::diagnostics::Diagnostic;
use crate::source::Span;
use crate::syntax::SyntaxError;

/// Why a file was not formatted. The text is then left exactly as it was.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FmtError {
    /// The text has syntax errors (every one, as `check` reports them).
    #[error("the file has {} syntax error{}", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Syntax(Vec<SyntaxError>),
    /// The formatter found text it does not account for between two tokens.
    #[error("internal error: the formatter does not know the text here")]
    UnknownText {
        /// Where.
        span: Span,
    },
    /// The formatted text would not be equivalent (a different meaning, a comment lost or
    /// moved, or a second run would change it again). A formatter bug, caught before
    /// anything is written.
    #[error("internal error: formatting would {reason}; the file was left as it is")]
    Unsound {
        /// What went wrong, in words.
        reason: String,
        /// The start of the file.
        span: Span,
    },
}

impl FmtError {
    /// The diagnostics to show, with positions: every syntax error, or one error.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            FmtError::Syntax(errors) => errors.iter().map(Diagnostic::from).collect(),
            FmtError::UnknownText { span } => {
                vec![Diagnostic::error(
                    self.to_string(),
                    *span,
                    "not a token, space or comment",
                )]
            }
            FmtError::Unsound { span, .. } => vec![
                Diagnostic::error(self.to_string(), *span, "in this file")
                    .with_help("this is a bug in `mailgate fmt`; please report it with the file"),
            ],
        }
    }
}
