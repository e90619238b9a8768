//! Errors of the batch layer: why one input line is not a valid request.

/// Why a batch line is not a valid request. Each becomes the `error` of the line's
/// record; the run goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The line is longer than the limit (its bytes were skipped, not stored).
    #[error("line is over the limit of {limit} bytes")]
    TooLong {
        /// The limit.
        limit: usize,
    },
    /// The line is not UTF-8.
    #[error("line is not valid UTF-8 (byte {byte})")]
    NotUtf8 {
        /// 1-based position of the first bad byte.
        byte: usize,
    },
    /// Objects and arrays nested deeper than the limit.
    #[error("JSON nesting is deeper than the limit of {limit} levels (column {column})")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// 1-based column of the opening bracket over the limit.
        column: usize,
    },
    /// The line is valid JSON but not an object.
    #[error("a request must be a JSON object")]
    NotAnObject,
    /// No top-level `action` key.
    #[error("missing key `action`")]
    MissingAction,
    /// `action` is not a string.
    #[error("`action` must be a string")]
    ActionNotAString,
    /// An action the schema does not have.
    #[error("unknown action `{name}`{}", help_suffix(.help.as_deref()))]
    UnknownAction {
        /// The name.
        name: String,
        /// A close action.
        help: Option<String>,
    },
    /// A slot of the action is absent.
    #[error("missing slot `{slot}` (action `{action}` needs it)")]
    MissingSlot {
        /// The slot.
        slot: String,
        /// The action.
        action: String,
    },
    /// A parameter of the action is absent.
    #[error("missing parameter `{param}` (action `{action}` needs it)")]
    MissingParam {
        /// The parameter.
        param: String,
        /// The action.
        action: String,
    },
    /// Invalid JSON, or JSON that does not fit the schema (unknown key or attribute,
    /// duplicate key, wrong type, unknown enum member, bad version), as found while
    /// reading the line in one pass; the message says which and where.
    #[error("{0}")]
    Json(String),
}

fn help_suffix(help: Option<&str>) -> String {
    help.map(|h| format!("; {h}")).unwrap_or_default()
}
