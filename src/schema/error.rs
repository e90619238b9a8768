//! Errors of the schema layer.

use crate::diagnostics::Diagnostic;
use crate::source::Span;
use crate::yaml::{ShapeError, YamlError};

/// A value that does not fit its declared type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Not a member of the enum.
    #[error("`{value}` is not {} `{enum_name}`", crate::diagnostics::a(.enum_name))]
    NotInEnum {
        /// The text given.
        value: String,
        /// The enum.
        enum_name: String,
        /// A close member, if any.
        help: Option<String>,
    },
    /// Not a valid version.
    #[error("`{text}` is not a valid version: {reason}")]
    BadVersion {
        /// The text given.
        text: String,
        /// Why.
        reason: String,
    },
    /// The wrong kind of value.
    #[error("expected {} `{expected}` value, found {found}", crate::diagnostics::a(.expected))]
    WrongType {
        /// The declared type.
        expected: String,
        /// What was given.
        found: String,
    },
}

impl ValueError {
    /// The did-you-mean, if any.
    pub fn help(&self) -> Option<String> {
        match self {
            ValueError::NotInEnum { help, .. } => help.clone(),
            _ => None,
        }
    }
}

/// A problem in `schema.yaml`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SchemaError {
    /// Not valid YAML, or over a YAML budget.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// Valid YAML of the wrong shape.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// A type name that is neither built in nor an enum.
    #[error("unknown type `{name}`")]
    UnknownType {
        /// The name.
        name: String,
        /// A close name.
        help: Option<String>,
        /// Where.
        span: Span,
    },
    /// A slot names an entity type that does not exist.
    #[error("unknown entity type `{name}`")]
    UnknownEntity {
        /// The name.
        name: String,
        /// A close name.
        help: Option<String>,
        /// Where.
        span: Span,
    },
    /// Two things with one name.
    #[error("duplicate {what} `{name}`")]
    Duplicate {
        /// What kind of thing.
        what: &'static str,
        /// The name.
        name: String,
        /// The second one.
        span: Span,
    },
    /// A name that would be ambiguous in policies or scenarios.
    #[error("{what} `{name}` is reserved")]
    Reserved {
        /// What kind of thing.
        what: &'static str,
        /// The name.
        name: String,
        /// Why.
        why: &'static str,
        /// Where.
        span: Span,
    },
    /// A name that policies could not write (not an identifier, a keyword, or a member
    /// with characters a string cannot hold).
    #[error("{what} `{name}` cannot be written in a policy")]
    Unwritable {
        /// What kind of thing.
        what: &'static str,
        /// The name (control characters escaped).
        name: String,
        /// Why.
        why: &'static str,
        /// Where.
        span: Span,
    },
    /// A default that does not fit its attribute's type.
    #[error("invalid default: {error}")]
    BadDefault {
        /// Why.
        error: ValueError,
        /// Where.
        span: Span,
    },
    /// A `fixed` flag that is not `true` or `false`.
    #[error("invalid `fixed`: {error}")]
    BadFixed {
        /// Why.
        error: ValueError,
        /// Where.
        span: Span,
    },
    /// A `cost` that is not a positive integer.
    #[error("invalid `cost`: expected a positive integer, found {found}")]
    BadCost {
        /// What was given.
        found: String,
        /// Where.
        span: Span,
    },
    /// A `fix` key that is no value (or no member, or not `add`/`remove`) of the attribute.
    #[error("invalid `fix` key `{found}`: expected {expected}")]
    BadFixKey {
        /// The key given.
        found: String,
        /// What it may be.
        expected: String,
        /// A close name.
        help: Option<String>,
        /// Where.
        span: Span,
    },
    /// A fix step names an action the schema does not declare.
    #[error("unknown action `{name}` in a fix step")]
    UnknownAction {
        /// The name.
        name: String,
        /// A close name.
        help: Option<String>,
        /// Where.
        span: Span,
    },
    /// An enum with too many members for a bit set.
    #[error("enum `{name}` has {count} values, more than the limit of {limit}")]
    EnumTooLarge {
        /// The enum.
        name: String,
        /// How many.
        count: usize,
        /// The limit.
        limit: usize,
        /// Where.
        span: Span,
    },
    /// More enums, entity types or actions than their 16-bit ids can number.
    #[error("the schema has more than {limit} {what}")]
    TooMany {
        /// What kind of thing (plural).
        what: &'static str,
        /// The limit.
        limit: usize,
        /// Where the first one over the limit is.
        span: Span,
    },
}

impl SchemaError {
    /// Converts to a diagnostic.
    pub fn to_diagnostic(&self) -> Diagnostic {
        match self {
            SchemaError::Yaml(e) => Diagnostic::error(e.to_string(), e.span, ""),
            SchemaError::Shape(e) => e.to_diagnostic(),
            SchemaError::UnknownType { help, span, .. }
            | SchemaError::UnknownEntity { help, span, .. }
            | SchemaError::BadFixKey { help, span, .. }
            | SchemaError::UnknownAction { help, span, .. } => {
                Diagnostic::error(self.to_string(), *span, "").with_help_opt(help.clone())
            }
            SchemaError::Reserved { why, span, .. } | SchemaError::Unwritable { why, span, .. } => {
                Diagnostic::error(self.to_string(), *span, "").with_help(*why)
            }
            SchemaError::BadDefault { error, span } | SchemaError::BadFixed { error, span } => {
                Diagnostic::error(self.to_string(), *span, "").with_help_opt(error.help())
            }
            SchemaError::Duplicate { span, .. }
            | SchemaError::BadCost { span, .. }
            | SchemaError::EnumTooLarge { span, .. }
            | SchemaError::TooMany { span, .. } => Diagnostic::error(self.to_string(), *span, ""),
        }
    }
}
