//! Errors of the audit layer: the mapping file, the export bundle, and the requests built
//! from it. Each names the file, and the line and column where there is one.

/// Why an audit could not run. Every error fails the whole audit: a bundle that cannot be
/// read is never turned into decisions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// A file of the bundle is missing, unreadable or over the size limit.
    #[error("{file}: {message}")]
    File {
        /// The file, as a path.
        file: String,
        /// What is wrong with it.
        message: String,
    },
    /// Something at a position in a bundle file: invalid JSON, a missing column, a value
    /// of the wrong type, an option value the mapping does not know.
    #[error("{file}:{line}:{column}: {message}")]
    At {
        /// The file, as a path.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The mapping file (`dataverse-mapping.yaml`) has errors; rendered diagnostics.
    #[error("{0}")]
    Mapping(String),
    /// A command-line value is wrong (`--server PROFILEID=TYPE`).
    #[error("{0}")]
    Usage(String),
    /// A request built from the bundle does not fit the policy set's schema (the mapping
    /// and the schema disagree).
    #[error("the request built for {what} does not fit the schema: {message}")]
    Request {
        /// Which record and action.
        what: String,
        /// What the request builder said.
        message: String,
    },
}
