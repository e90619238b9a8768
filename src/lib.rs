//! mailgate: the Dynamics 365 mailbox-approval permission model as data.
//!
//! The pipeline, one type per stage:
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
//! loaders), JSON only in [`batch`] and the CLI's output, clap only in [`cli`].
//!
//! ```
//! let loaded = mailgate::policy_set::load(&mailgate::policy_set::Origin::Embedded).unwrap();
//! let set = &loaded.set;
//! let action = set.schema().action_id("sync_incoming_email").unwrap();
//! let request = set.new_request(action); // required values missing: fails closed
//! let decision = set.evaluate(&request);
//! assert_eq!(decision.effect, mailgate::ast::Effect::Deny);
//! ```

pub mod analysis;
pub mod ast;
pub mod audit;
pub mod batch;
pub mod cli;
pub mod compile;
pub mod coverage;
pub mod diagnostics;
pub mod eval;
pub mod generate;
pub mod graph;
pub mod limits;
pub mod policy_set;
pub mod report;
pub mod scenario;
pub mod schema;
pub mod source;
pub mod syntax;
pub mod validate;
pub mod value;
pub mod version;
pub mod yaml;
