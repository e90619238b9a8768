//! The pest parser generated from `grammar/policy.pest`.

/// The generated parser. Only `syntax` uses it.
#[derive(pest_derive::Parser)]
#[grammar = "../grammar/policy.pest"]
pub(crate) struct PolicyParser;
