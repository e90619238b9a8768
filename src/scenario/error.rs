//! Errors of the scenario layer.

use crate::diagnostics::Diagnostic;
use crate::schema::ValueError;
use crate::source::Span;
use crate::yaml::{ShapeError, YamlError};

/// A problem in a scenario file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScenarioError {
    /// Not valid YAML, or over a YAML budget.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// Valid YAML of the wrong shape (unknown key, missing key, wrong kind).
    #[error("{}{error}", prefix(*request))]
    Shape {
        /// The request it is in (1-based), if any.
        request: Option<usize>,
        /// What is wrong.
        error: ShapeError,
    },
    /// An entity attribute or parameter value that does not fit its type.
    #[error("{}invalid value for `{name}`: {error}", prefix(*request))]
    BadValue {
        /// The request it is in, if any.
        request: Option<usize>,
        /// The attribute or parameter.
        name: String,
        /// Why.
        error: ValueError,
        /// Where.
        span: Span,
    },
    /// An attribute the entity type does not have.
    #[error("`{entity}` has no attribute `{attr}`")]
    UnknownAttribute {
        /// The entity type.
        entity: String,
        /// The attribute.
        attr: String,
        /// A close attribute.
        help: Option<String>,
        /// Where.
        span: Span,
    },
    /// A required attribute (no schema default) is absent.
    #[error("{what} is missing required attribute `{attr}`")]
    MissingAttribute {
        /// For example ``user `dana` ``.
        what: String,
        /// The attribute.
        attr: String,
        /// The entity.
        span: Span,
    },
    /// A request names an action the schema does not have.
    #[error("request {request}: unknown action `{name}`")]
    UnknownAction {
        /// The request.
        request: usize,
        /// The name.
        name: String,
        /// A close action.
        help: Option<String>,
        /// Where.
        span: Span,
    },
    /// A request fills a slot with an id no entity map defines.
    #[error("request {request}: unknown {entity} `{id}`")]
    UnknownId {
        /// The request.
        request: usize,
        /// The entity type.
        entity: String,
        /// The id.
        id: String,
        /// A close id.
        help: Option<String>,
        /// Where.
        span: Span,
    },
    /// A request fills a slot with an entity whose definition has errors.
    #[error("request {request}: {entity} `{id}` has errors, so this request cannot be decided")]
    InvalidEntity {
        /// The request.
        request: usize,
        /// The entity type.
        entity: String,
        /// The id.
        id: String,
        /// Where.
        span: Span,
    },
    /// `expect` is not `allow` or `deny`.
    #[error("request {request}: `expect` must be `allow` or `deny`, found `{found}`")]
    BadExpect {
        /// The request.
        request: usize,
        /// What was there.
        found: String,
        /// Where.
        span: Span,
    },
    /// Too many requests in one file.
    #[error("the scenario has {count} requests, over the limit of {limit}")]
    TooManyRequests {
        /// How many.
        count: usize,
        /// The limit.
        limit: usize,
        /// Where.
        span: Span,
    },
}

fn prefix(request: Option<usize>) -> String {
    request.map_or_else(String::new, |r| format!("request {r}: "))
}

impl ScenarioError {
    /// Where the error is.
    pub fn span(&self) -> Span {
        match self {
            ScenarioError::Yaml(e) => e.span,
            ScenarioError::Shape { error, .. } => error.span(),
            ScenarioError::BadValue { span, .. }
            | ScenarioError::UnknownAttribute { span, .. }
            | ScenarioError::MissingAttribute { span, .. }
            | ScenarioError::UnknownAction { span, .. }
            | ScenarioError::UnknownId { span, .. }
            | ScenarioError::InvalidEntity { span, .. }
            | ScenarioError::BadExpect { span, .. }
            | ScenarioError::TooManyRequests { span, .. } => *span,
        }
    }

    /// Converts to a diagnostic.
    pub fn to_diagnostic(&self) -> Diagnostic {
        let d = Diagnostic::error(self.to_string(), self.span(), "");
        match self {
            ScenarioError::Shape { error, .. } => {
                let inner = error.to_diagnostic();
                Diagnostic {
                    message: self.to_string(),
                    ..inner
                }
            }
            ScenarioError::BadValue { error, .. } => d.with_help_opt(error.help()),
            ScenarioError::UnknownAttribute { help, .. }
            | ScenarioError::UnknownAction { help, .. }
            | ScenarioError::UnknownId { help, .. } => d.with_help_opt(help.clone()),
            _ => d,
        }
    }
}
