//! `mailgate fmt`: policy text in the one house style, comments kept.
//!
//! Formatting works above the parser, from its concrete tree
//! ([`crate::syntax::concrete`]), so grouping parentheses and the exact text of strings,
//! numbers and paths survive. Comments are recovered from the text between tokens
//! ([`trivia`]) and printed beside the token they belong to ([`print`]).
//!
//! Every result is checked before it is returned: it must parse to the same AST (spans
//! aside), keep every comment in the same order between the same tokens, and format to
//! itself. Anything else is an [`FmtError`], never a changed file.

mod error;
mod print;
mod trivia;

pub use error::FmtError;

use crate::limits::MAX_EXPANDED_DEPTH;
use crate::source::{FileId, Span};
use crate::syntax::concrete::{ClauseBody, ConcreteExpr, ConcreteFile, ConcreteItem};
use crate::syntax::{self, SyntaxError};
use trivia::Trivia;

/// Formats a policy file's text. Spans in errors belong to `FileId(0)`.
pub fn format_source(text: &str) -> Result<String, FmtError> {
    format_file(FileId::default(), text)
}

/// Formats a policy file's text; spans in errors belong to `file`.
pub fn format_file(file: FileId, text: &str) -> Result<String, FmtError> {
    let formatted = format_once(file, text)?;
    let whole = Span::new(file, 0, 0);
    let unsound = |reason: &str| FmtError::Unsound {
        reason: reason.to_owned(),
        span: whole,
    };
    // The safety net: same meaning, same comments in the same places, stable.
    let before = syntax::parse(file, text).file.to_string();
    let after = syntax::parse(file, &formatted);
    if !after.errors.is_empty() {
        return Err(unsound("produce text that does not parse"));
    }
    if after.file.to_string() != before {
        return Err(unsound("change the meaning of the file"));
    }
    if comment_places(file, text)? != comment_places(file, &formatted)? {
        return Err(unsound("lose or move a comment"));
    }
    match format_once(file, &formatted) {
        Ok(again) if again == formatted => Ok(formatted),
        _ => Err(unsound("give a different result when run again")),
    }
}

/// One formatting pass, unchecked.
fn format_once(file: FileId, text: &str) -> Result<String, FmtError> {
    let tree = syntax::concrete::parse_concrete(file, text).map_err(FmtError::Syntax)?;
    check_depth(&tree)?;
    let trivia = Trivia::scan(file, text, tree.tokens.clone())
        .map_err(|span| FmtError::UnknownText { span })?;
    Ok(print::print(text, &tree, &trivia))
}

/// Refuses expressions nested deeper than [`MAX_EXPANDED_DEPTH`] (such as a long run of
/// `a == b == c ...`), which the printer would otherwise recurse into.
fn check_depth(tree: &ConcreteFile) -> Result<(), FmtError> {
    let mut stack: Vec<(&ConcreteExpr, usize)> = Vec::new();
    for item in &tree.items {
        match item {
            ConcreteItem::Let { body, .. } => stack.push((body, 1)),
            ConcreteItem::Block { clauses, .. } => {
                stack.extend(clauses.iter().filter_map(|c| match &c.body {
                    ClauseBody::Expr(e) => Some((e, 1)),
                    _ => None,
                }));
            }
        }
    }
    while let Some((e, depth)) = stack.pop() {
        if depth > MAX_EXPANDED_DEPTH {
            let span = match e {
                ConcreteExpr::Atom(s) => *s,
                ConcreteExpr::Not { op, .. } => *op,
                ConcreteExpr::Compare { op_span, .. } => *op_span,
                ConcreteExpr::Paren { open, .. } | ConcreteExpr::List { open, .. } => *open,
                ConcreteExpr::Chain { ops, .. } => ops.first().copied().unwrap_or_default(),
            };
            return Err(FmtError::Syntax(vec![SyntaxError::TooDeep {
                limit: MAX_EXPANDED_DEPTH,
                span,
            }]));
        }
        match e {
            ConcreteExpr::Chain { operands, .. } => {
                stack.extend(operands.iter().map(|o| (o, depth + 1)));
            }
            ConcreteExpr::Not { operand: x, .. } | ConcreteExpr::Paren { inner: x, .. } => {
                stack.push((x, depth + 1));
            }
            ConcreteExpr::Compare { lhs, rhs, .. } => {
                stack.push((lhs, depth + 1));
                stack.push((rhs, depth + 1));
            }
            ConcreteExpr::Atom(_) | ConcreteExpr::List { .. } => {}
        }
    }
    Ok(())
}

/// Each comment with the number of tokens before it (commas aside: the formatter adds and
/// drops trailing commas) and whether it trails code.
fn comment_places(file: FileId, text: &str) -> Result<Vec<(String, usize, bool)>, FmtError> {
    let tree = syntax::concrete::parse_concrete(file, text).map_err(FmtError::Syntax)?;
    let trivia =
        Trivia::scan(file, text, tree.tokens).map_err(|span| FmtError::UnknownText { span })?;
    Ok(trivia
        .placements(text, |t| t != ",")
        .into_iter()
        .map(|(c, n, trailing)| (c.to_owned(), n, trailing))
        .collect())
}
