//! The pest parser generated from `grammar/policy.pest`.

#![expect(
    missing_docs,
    reason = "pest_derive generates the `Rule` enum from the grammar"
)]

/// The generated parser. Only `syntax` uses it.
#[derive(pest_derive::Parser)]
#[grammar = "../grammar/policy.pest"]
pub(crate) struct PolicyParser;
