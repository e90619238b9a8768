//! The integration test crate: one binary, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod analysis;
mod audit;
mod batch;
mod cli;
mod coverage;
mod domain;
mod eval;
mod graph;
mod hostile;
mod props;
mod scenarios;
mod schema;
mod syntax;
mod util;
mod validate;
