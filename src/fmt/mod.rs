//! `mailgate fmt`: policy text in the one house style, comments kept.
//!
//! Formatting works above the parser, from its concrete tree
//! ([`crate::syntax::concrete`]), so grouping parentheses and the exact text of strings,
//! numbers and paths survive. Comments are recovered from the text between tokens
//! (`trivia`) and printed beside the token they belong to (`print`).
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
    let first = format_once(file, text)?;
    let unsound = |reason: &str| FmtError::Unsound {
        reason: reason.to_owned(),
        span: Span::new(file, 0, 0),
    };
    // The safety net: the result parses, means the same, keeps the same comments in the
    // same places, and is stable.
    let Ok(second) = format_once(file, &first.text) else {
        return Err(unsound("produce text that does not parse"));
    };
    if second.ast != first.ast {
        return Err(unsound("change the meaning of the file"));
    }
    if second.comments != first.comments {
        return Err(unsound("lose or move a comment"));
    }
    if second.text != first.text {
        return Err(unsound("give a different result when run again"));
    }
    Ok(first.text)
}

/// One formatting pass, unchecked, with what the checks compare.
struct Pass {
    /// The formatted text.
    text: String,
    /// The input's AST in canonical form (no spans).
    ast: String,
    /// The input's comments: each with the number of tokens before it (commas aside: the
    /// style adds and drops trailing commas) and whether it trails code.
    comments: Vec<(String, usize, bool)>,
}

fn format_once(file: FileId, text: &str) -> Result<Pass, FmtError> {
    let tree = syntax::concrete::parse_concrete(file, text).map_err(FmtError::Syntax)?;
    check_depth(&tree)?;
    let trivia = Trivia::scan(file, text, tree.tokens.clone())
        .map_err(|span| FmtError::UnknownText { span })?;
    let comments = trivia
        .placements(text, |t| t != ",")
        .into_iter()
        .map(|(c, n, trailing)| (c.to_owned(), n, trailing))
        .collect();
    Ok(Pass {
        text: print::print(text, &tree, &trivia),
        ast: tree.ast.to_string(),
        comments,
    })
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
