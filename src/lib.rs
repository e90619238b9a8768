//! mailgate: the Dynamics 365 mailbox-approval permission model as data.
//!
//! **Embedding starts at [`Engine`]**: load a policy set from a folder, from texts or the
//! set built into mailgate; decide a request given as an `eval --batch` JSON line or built
//! in code; explain a decision. [`LoadFailure`] is a `std::error::Error` whose `Display`
//! is every diagnostic, as `mailgate check` prints it.
//!
//! ```
//! let engine = mailgate::Engine::builtin()?;
//! let request = engine.request("sync_incoming_email")?.build(); // required values missing
//! assert!(!engine.decide(&request).is_allowed());                // so it fails closed
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The command line lives behind the default feature `cli` (clap); a library user can turn
//! it off with `default-features = false`.
//!
//! # Advanced: the pipeline
//!
//! The other modules are the pipeline [`Engine`] is built on. They are public for tools,
//! tests, benchmarks and fuzz targets, and their API may change between versions. One type
//! per stage:
//!
//! ```text
//! policy text ──syntax::parse──▶ ast::PolicyFile ─┐
//! schema.yaml ──schema::load──▶ schema::Schema ───┴─▶ validate::validate ─▶ ValidatedSet
//! ValidatedSet ──compile::compile──▶ CompiledSet
//! CompiledSet + eval::Request ──CompiledSet::evaluate──▶ eval::Decision
//! scenario.yaml ──scenario::load──▶ Scenario (requests with expectations)
//! ```
//!
//! pest is used only in [`syntax`], YAML only in [`yaml`] (read by the schema and scenario
//! loaders), JSON only in [`batch`] and the CLI's output, clap only in `cli`.
//!
//! ```
//! let loaded = mailgate::policy_set::load(&mailgate::policy_set::Origin::Embedded).unwrap();
//! let set = &loaded.set;
//! let action = set.schema().action_id("sync_incoming_email").unwrap();
//! let request = set.new_request(action); // required values missing: fails closed
//! let decision = set.evaluate(&request);
//! assert_eq!(decision.effect, mailgate::ast::Effect::Deny);
//! ```

mod engine;

pub use engine::{Arg, Engine, RequestBuilder, RequestError, Verdict};
pub use policy_set::LoadFailure;

pub mod analysis;
pub mod ast;
pub mod audit;
pub mod batch;
#[cfg(feature = "cli")]
pub mod cli;
pub mod compile;
pub mod coverage;
pub mod diagnostics;
pub mod eval;
pub mod files;
pub mod fmt;
pub mod generate;
pub mod graph;
pub mod limits;
#[cfg(feature = "lsp")]
pub mod lsp;
pub mod policy_set;
pub mod report;
pub mod scenario;
pub mod schema;
#[cfg(feature = "serve")]
pub mod serve;
pub mod source;
pub mod syntax;
pub mod validate;
pub mod value;
pub mod version;
pub mod yaml;

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The Rust examples of docs/embedding.md, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/embedding.md")]
struct EmbeddingDoctests;
