//! Errors of the validation layer: policies checked against the schema.

use crate::diagnostics::Diagnostic;
use crate::source::Span;

/// A problem found while checking policies against the schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// A rule names an action the schema does not have.
    #[error("unknown action `{name}`")]
    UnknownAction {
        /// The name.
        name: String,
        /// A close action.
        help: Option<String>,
        /// Where.
        span: Span,
    },
    /// A path's first segment is not a slot, the context or `request`.
    #[error("unknown slot `{name}`")]
    UnknownRoot {
        /// The name.
        name: String,
        /// A close name, or the list of valid roots.
        help: Option<String>,
        /// Where.
        span: Span,
    },
    /// A slot (or parameter) that some of the rule's actions lack.
    #[error("{what} `{name}` is not available for action `{action}`")]
    SlotNotInAction {
        /// `slot` or `parameter`.
        what: &'static str,
        /// The slot.
        name: String,
        /// The action that lacks it.
        action: String,
        /// Where.
        span: Span,
    },
    /// A slot that is a different entity type in different actions of one rule.
    #[error(
        "slot `{name}` is a `{first}` in one of the rule's actions and a `{second}` in another"
    )]
    SlotTypeConflict {
        /// The slot.
        name: String,
        /// One entity type.
        first: String,
        /// The other.
        second: String,
        /// Where.
        span: Span,
    },
    /// An attribute the entity type does not have.
    #[error("`{entity}` has no attribute `{attr}`")]
    UnknownAttribute {
        /// The entity type (or context).
        entity: String,
        /// The attribute.
        attr: String,
        /// A close attribute.
        help: Option<String>,
        /// Where.
        span: Span,
    },
    /// A path with other than two segments.
    #[error("`{path}` is not an attribute path")]
    BadPath {
        /// The path.
        path: String,
        /// Where.
        span: Span,
    },
    /// A string that is not a member of the enum it is compared with.
    #[error("`{value}` is not a `{enum_name}`")]
    UnknownEnumValue {
        /// The literal.
        value: String,
        /// The enum.
        enum_name: String,
        /// A close member.
        help: Option<String>,
        /// Where.
        span: Span,
    },
    /// A string that is not a valid version where a version is expected.
    #[error("`{text}` is not a valid version")]
    BadVersion {
        /// The literal.
        text: String,
        /// Why.
        reason: String,
        /// Where.
        span: Span,
    },
    /// Operands or operators of the wrong type.
    #[error("{message}")]
    TypeMismatch {
        /// What is wrong, in words.
        message: String,
        /// Advice.
        help: Option<String>,
        /// Where.
        span: Span,
    },
    /// A name that no `let` defines.
    #[error("unknown name `{name}`")]
    UnknownLet {
        /// The name.
        name: String,
        /// A close `let`.
        help: Option<String>,
        /// Where.
        span: Span,
    },
    /// `let`s that refer to each other in a circle.
    #[error("`let` definitions refer to each other in a cycle: {cycle}")]
    CyclicLet {
        /// `a -> b -> a`.
        cycle: String,
        /// The first `let` of the cycle.
        span: Span,
    },
    /// Two `let`s with one name.
    #[error("`let {name}` is defined twice")]
    DuplicateLet {
        /// The name.
        name: String,
        /// The second definition.
        span: Span,
        /// The first.
        first: Span,
    },
    /// Two rules with one id.
    #[error("duplicate rule id `{id}`")]
    DuplicateRule {
        /// The id.
        id: String,
        /// The second rule.
        span: Span,
        /// The first.
        first: Span,
    },
    /// Two invariants with one id.
    #[error("duplicate invariant id `{id}`")]
    DuplicateInvariant {
        /// The id.
        id: String,
        /// The second invariant.
        span: Span,
        /// The first.
        first: Span,
    },
    /// A rule that lists an action twice.
    #[error("action `{name}` is listed twice")]
    DuplicateAction {
        /// The action.
        name: String,
        /// Where.
        span: Span,
    },
    /// A condition that is too large or too deep once `let`s are expanded.
    #[error("{what} is {size} after expanding `let`s, over the limit of {limit}")]
    TooLarge {
        /// `nesting depth` or `node count`.
        what: &'static str,
        /// The measure.
        size: usize,
        /// The limit.
        limit: usize,
        /// Where.
        span: Span,
    },
    /// More rules than the limit.
    #[error("the policy set has {count} rules, over the limit of {limit}")]
    TooManyRules {
        /// How many.
        count: usize,
        /// The limit.
        limit: usize,
        /// The first rule over the limit.
        span: Span,
    },
}

impl ValidationError {
    /// Where the error is.
    pub fn span(&self) -> Span {
        match self {
            ValidationError::UnknownAction { span, .. }
            | ValidationError::UnknownRoot { span, .. }
            | ValidationError::SlotNotInAction { span, .. }
            | ValidationError::SlotTypeConflict { span, .. }
            | ValidationError::UnknownAttribute { span, .. }
            | ValidationError::BadPath { span, .. }
            | ValidationError::UnknownEnumValue { span, .. }
            | ValidationError::BadVersion { span, .. }
            | ValidationError::TypeMismatch { span, .. }
            | ValidationError::UnknownLet { span, .. }
            | ValidationError::CyclicLet { span, .. }
            | ValidationError::DuplicateLet { span, .. }
            | ValidationError::DuplicateRule { span, .. }
            | ValidationError::DuplicateInvariant { span, .. }
            | ValidationError::DuplicateAction { span, .. }
            | ValidationError::TooLarge { span, .. }
            | ValidationError::TooManyRules { span, .. } => *span,
        }
    }

    /// Converts to a diagnostic.
    pub fn to_diagnostic(&self) -> Diagnostic {
        let d = Diagnostic::error(self.to_string(), self.span(), "");
        match self {
            ValidationError::UnknownAction { help, .. }
            | ValidationError::UnknownRoot { help, .. }
            | ValidationError::UnknownAttribute { help, .. }
            | ValidationError::UnknownEnumValue { help, .. }
            | ValidationError::TypeMismatch { help, .. }
            | ValidationError::UnknownLet { help, .. } => d.with_help_opt(help.clone()),
            ValidationError::BadVersion { reason, .. } => d.with_help(reason.clone()),
            ValidationError::DuplicateLet { first, .. }
            | ValidationError::DuplicateRule { first, .. }
            | ValidationError::DuplicateInvariant { first, .. } => {
                d.with_label(*first, "first defined here")
            }
            ValidationError::SlotNotInAction { what, .. } => d.with_help(format!(
                "a rule may only use a {what} that every one of its actions has"
            )),
            _ => d,
        }
    }
}
