//! The integration test crate: one binary, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod batch;
mod cli;
mod domain;
mod eval;
mod fmt;
mod hostile;
#[cfg(feature = "lsp")]
mod lsp;
mod props;
mod scenarios;
mod schema;
mod syntax;
mod util;
mod validate;
