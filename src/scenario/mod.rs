//! Scenarios: YAML files of entities and requests with expected decisions (docs/scenarios.md).
//!
//! Loading is strict and schema-driven: the top-level keys are `description`, the
//! context's name, each entity type's `plural`, and `requests`; every attribute is checked
//! against its type; defaults fill only what the schema gives a default. Every problem is
//! reported with its line, and with the request it is in.

mod error;
mod load;

pub use error::ScenarioError;
pub use load::load;

use crate::ast::Effect;
use crate::eval::Request;
use crate::source::Span;

/// A loaded scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its `description`.
    pub description: Option<String>,
    /// Its requests, in file order.
    pub requests: Vec<ScenarioRequest>,
}

/// One request of a scenario.
#[derive(Debug, Clone)]
pub struct ScenarioRequest {
    /// 1-based position in the file.
    pub index: usize,
    /// Where it is.
    pub span: Span,
    /// What to decide.
    pub request: Request,
    /// The expected effect, if given.
    pub expect: Option<Effect>,
    /// `approve_mailbox user=dana mailbox=support`.
    pub summary: String,
}
