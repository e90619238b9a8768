//! The integration test crate: one binary, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod analysis;
mod audit;
mod audit_scale;
mod batch;
mod cli;
#[cfg(feature = "serve")]
mod console;
mod coverage;
mod diff;
mod docs;
mod domain;
mod eval;
mod fmt;
mod graph;
mod hostile;
mod lints;
#[cfg(feature = "lsp")]
mod lsp;
#[cfg(feature = "lsp")]
mod nvim;
mod props;
mod scenarios;
mod schema;
#[cfg(feature = "serve")]
mod serve;
#[cfg(feature = "serve")]
mod serve_limits;
#[cfg(feature = "serve")]
mod serve_reload;
mod syntax;
mod util;
mod validate;
