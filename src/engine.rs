//! The embedding facade: one type, [`Engine`], to load a policy set and decide with it.
//!
//! ```
//! use mailgate::Engine;
//!
//! let engine = Engine::builtin()?;
//! // A request as one `eval --batch` line.
//! let line = br#"{"action":"sync_incoming_email","org":{"version":"9.2.22104.00170"},
//!     "mailbox":{"owner_kind":"queue","email":"support@contoso.com",
//!                "approval":"approved","server":"exchange_online","incoming":"success"}}"#;
//! let decision = engine.decide_json(line)?;
//! assert!(decision.is_allowed());
//!
//! // The same kind of question, built in code.
//! let request = engine
//!     .request("approve_mailbox")?
//!     .set("org.version", "9.2.22104.00170")?
//!     .set("user.security_roles", ["System Administrator", "Delegated Mailbox Approver"])?
//!     .set("user.privileges", ["Approve Email Addresses for Users or Queues"])?
//!     .set("mailbox.owner_kind", "user")?
//!     .set("mailbox.email", "dana@contoso.com")?
//!     .set("mailbox.approval", "pending_approval")?
//!     .set("mailbox.server", "exchange_online")?
//!     .build();
//! let decision = engine.decide(&request);
//! assert!(decision.is_allowed());
//! assert_eq!(decision.rules(), ["approve-exchange-online"]);
//! println!("{}", engine.explain(&request));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Everything else in the crate is the pipeline this type is built on (see the crate
//! documentation); it is public for tools, tests and benchmarks, and may change.

use crate::ast::Effect;
use crate::batch::{self, BatchError};
use crate::compile::CompiledSet;
use crate::diagnostics::{Diagnostic, did_you_mean, render_all};
use crate::eval::{Decision, Request};
use crate::policy_set::{self, LoadFailure, Origin};
use crate::report::DecisionReport;
use crate::schema::{Type, ValueError};
use crate::value::{Const, EnumSet};
use std::path::Path;

/// A loaded policy set, ready to decide.
#[derive(Debug)]
pub struct Engine {
    set: CompiledSet,
    warnings: Vec<Diagnostic>,
}

impl Engine {
    /// Loads the policy set in `dir` (`schema.yaml` and `*.policy` files at any depth).
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Self, LoadFailure> {
        Self::from_origin(&Origin::Dir(dir.as_ref().to_path_buf()))
    }

    /// Loads the policy set built into mailgate (the repository's `policies/`).
    pub fn builtin() -> Result<Self, LoadFailure> {
        Self::from_origin(&Origin::Embedded)
    }

    /// Loads a policy set from texts in memory: a schema and `(name, text)` policy files.
    pub fn from_texts(schema: &str, policies: &[(&str, &str)]) -> Result<Self, LoadFailure> {
        policy_set::load_texts(schema, policies).map(Self::from_loaded)
    }

    fn from_origin(origin: &Origin) -> Result<Self, LoadFailure> {
        policy_set::load(origin).map(Self::from_loaded)
    }

    fn from_loaded(loaded: policy_set::Loaded) -> Self {
        Engine {
            set: loaded.set,
            warnings: loaded.warnings,
        }
    }

    /// Warnings found while loading (a set with warnings still decides).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The warnings rendered as `mailgate check` prints them.
    pub fn render_warnings(&self) -> String {
        render_all(&self.warnings, self.set.sources())
    }

    /// Decides one request written as an `eval --batch` line (JSON). A line that is not a
    /// valid request is an error, never a decision.
    pub fn decide_json(&self, json: &[u8]) -> Result<Verdict, BatchError> {
        let request = batch::parse_request(&self.set, json)?;
        Ok(self.decide(&request))
    }

    /// Starts a request for `action`; every value starts at its schema default, or
    /// missing (a missing value fails closed).
    pub fn request(&self, action: &str) -> Result<RequestBuilder<'_>, RequestError> {
        RequestBuilder::new(&self.set, action)
    }

    /// Decides a request built by [`Engine::request`] (or parsed by [`Engine::parse_json`]).
    pub fn decide(&self, request: &Request) -> Verdict {
        let decision = self.set.evaluate(request);
        let report = DecisionReport::new(&self.set, request, &decision);
        Verdict { decision, report }
    }

    /// Parses an `eval --batch` line into a request without deciding it.
    pub fn parse_json(&self, json: &[u8]) -> Result<Request, BatchError> {
        batch::parse_request(&self.set, json)
    }

    /// The trace `mailgate eval --explain` prints: every rule of the request's action,
    /// whether it matched, and every condition with the values it read.
    pub fn explain(&self, request: &Request) -> String {
        self.set.render_explanation(&self.set.explain(request))
    }

    /// The compiled set, for the advanced API (`evaluate_into` without allocation,
    /// structured explanations, layouts).
    pub fn compiled(&self) -> &CompiledSet {
        &self.set
    }
}

/// A decision, in words.
#[derive(Debug, Clone)]
pub struct Verdict {
    decision: Decision,
    report: DecisionReport,
}

impl Verdict {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        self.decision.effect == Effect::Allow
    }

    /// `allow` or `deny`.
    pub fn effect(&self) -> Effect {
        self.decision.effect
    }

    /// `allowed`, `denied_by_rule` or `no_rule_allows`.
    pub fn cause(&self) -> &'static str {
        self.report.cause
    }

    /// The ids of the determining rules (none for a default deny).
    pub fn rules(&self) -> &[String] {
        &self.report.rules
    }

    /// The determining rules' reasons.
    pub fn reasons(&self) -> &[String] {
        &self.report.reasons
    }

    /// What could not be evaluated, in words (each made the decision fail closed).
    pub fn errors(&self) -> &[String] {
        &self.report.errors
    }

    /// The decision in numbers (rule indexes, error kinds).
    pub fn decision(&self) -> &Decision {
        &self.decision
    }
}

/// A request being built, value by value, with the types the schema gives.
#[derive(Debug)]
pub struct RequestBuilder<'a> {
    set: &'a CompiledSet,
    request: Request,
}

/// A value for [`RequestBuilder::set`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string, an enum member or a version, read as the attribute's type says.
    Text(String),
    /// The members of a set.
    List(Vec<String>),
}

impl From<bool> for Arg {
    fn from(b: bool) -> Self {
        Arg::Bool(b)
    }
}

impl From<i64> for Arg {
    fn from(i: i64) -> Self {
        Arg::Int(i)
    }
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Text(s.to_owned())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Text(s)
    }
}

impl<const N: usize> From<[&str; N]> for Arg {
    fn from(items: [&str; N]) -> Self {
        Arg::List(items.iter().map(|s| (*s).to_owned()).collect())
    }
}

impl From<&[&str]> for Arg {
    fn from(items: &[&str]) -> Self {
        Arg::List(items.iter().map(|s| (*s).to_owned()).collect())
    }
}

impl From<Vec<String>> for Arg {
    fn from(items: Vec<String>) -> Self {
        Arg::List(items)
    }
}

/// A request that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The schema has no such action.
    #[error("unknown action `{name}`")]
    UnknownAction {
        /// The name given.
        name: String,
        /// A close name.
        help: Option<String>,
    },
    /// The action's requests have no such value.
    #[error("`{action}` requests have no value `{path}`")]
    UnknownPath {
        /// The action.
        action: String,
        /// The path given.
        path: String,
        /// A close path.
        help: Option<String>,
    },
    /// The value does not fit the path's type.
    #[error("invalid value for `{path}`: {error}")]
    BadValue {
        /// The path.
        path: String,
        /// Why.
        error: ValueError,
    },
}

impl<'a> RequestBuilder<'a> {
    /// Starts a request for `action` of a compiled set (what [`Engine::request`] does,
    /// for code that holds the compiled set rather than the engine).
    pub fn new(set: &'a CompiledSet, action: &str) -> Result<Self, RequestError> {
        let schema = set.schema();
        let id = schema
            .action_id(action)
            .ok_or_else(|| RequestError::UnknownAction {
                name: action.to_owned(),
                help: schema.suggest_action(action),
            })?;
        Ok(RequestBuilder {
            set,
            request: set.new_request(id),
        })
    }

    /// Sets each `(attribute, value)` of `values` under `prefix` (`mailbox`, `org`): the
    /// same as [`RequestBuilder::set`] with `prefix.attribute`.
    pub fn set_all<'v>(
        mut self,
        prefix: &str,
        values: impl IntoIterator<Item = &'v (String, Arg)>,
    ) -> Result<Self, RequestError> {
        let mut path = String::with_capacity(prefix.len() + 24);
        for (name, value) in values {
            path.clear();
            path.push_str(prefix);
            path.push('.');
            path.push_str(name);
            self = self.set(&path, value.clone())?;
        }
        Ok(self)
    }

    /// Sets the value at `path` (`user.security_roles`, `org.version`, `request.role`).
    pub fn set(mut self, path: &str, value: impl Into<Arg>) -> Result<Self, RequestError> {
        let set = self.set;
        let schema = set.schema();
        let action = self.request.action;
        let layout = set.layout(action);
        let Some(i) = layout.paths.iter().position(|p| p == path) else {
            return Err(RequestError::UnknownPath {
                action: schema.action(action).name.clone(),
                path: path.to_owned(),
                help: did_you_mean(path, layout.paths.iter().map(String::as_str)),
            });
        };
        let ty = layout.types[i];
        let bad = |error| RequestError::BadValue {
            path: path.to_owned(),
            error,
        };
        let wrong = |found: &str| {
            bad(ValueError::WrongType {
                expected: schema.type_name(ty),
                found: found.to_owned(),
            })
        };
        let c = match (value.into(), ty) {
            (Arg::Bool(b), Type::Bool) => Const::Bool(b),
            (Arg::Int(n), Type::Int) => Const::Int(n),
            (Arg::Text(t), Type::String | Type::Version | Type::Enum(_)) => {
                schema.const_from_text(ty, &t).map_err(bad)?
            }
            (Arg::List(items), Type::Set(e)) => {
                let mut s = EnumSet::default();
                for item in &items {
                    s.insert(schema.enum_member(e, item).map_err(bad)?);
                }
                Const::Set(s)
            }
            (Arg::Bool(_), _) => return Err(wrong("a boolean")),
            (Arg::Int(_), _) => return Err(wrong("a number")),
            (Arg::Text(_), _) => return Err(wrong("a string")),
            (Arg::List(_), _) => return Err(wrong("a list")),
        };
        let v = set.to_value(&mut self.request, &c);
        self.request.values[i] = v;
        Ok(self)
    }

    /// The finished request.
    pub fn build(self) -> Request {
        self.request
    }
}

impl std::fmt::Display for LoadFailure {
    /// Every diagnostic, rendered as `mailgate check` prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let errors = self.diagnostics.iter().filter(|d| d.is_error()).count();
        write!(
            f,
            "{}the policy set has {errors} error{}; it cannot be used",
            render_all(&self.diagnostics, &self.sources),
            if errors == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for LoadFailure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_an_error_with_every_diagnostic() {
        let failure = Engine::from_texts(
            "context: { name: org }\nactions: { a: { slots: {} } }\n",
            &[("a.policy", "rule r { allow b }")],
        )
        .unwrap_err();
        let text = failure.to_string();
        assert!(text.contains("unknown action `b`"), "{text}");
        assert!(text.contains("a.policy:1:"), "{text}");
        assert!(text.ends_with("the policy set has 1 error; it cannot be used"));
        let _: &dyn std::error::Error = &failure;
    }

    #[test]
    fn typed_requests_check_paths_and_types() {
        let engine = Engine::builtin().unwrap();
        let r = engine.request("approve_mailbx").unwrap_err();
        assert_eq!(r.to_string(), "unknown action `approve_mailbx`");
        let b = engine.request("approve_mailbox").unwrap();
        let e = b.set("user.upm", "x").unwrap_err();
        assert_eq!(
            e,
            RequestError::UnknownPath {
                action: "approve_mailbox".to_owned(),
                path: "user.upm".to_owned(),
                help: Some("did you mean `user.upn`?".to_owned()),
            }
        );
        let b = engine.request("approve_mailbox").unwrap();
        let e = b.set("mailbox.server", "exchange").unwrap_err();
        assert!(e.to_string().contains("is not a `server_type`"), "{e}");
        let b = engine.request("approve_mailbox").unwrap();
        let e = b.set("mailbox.profile_active", "yes").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value for `mailbox.profile_active`: expected a `bool` value, found a string"
        );
        // Nothing set: required values are missing, and the decision fails closed.
        let request = engine.request("approve_mailbox").unwrap().build();
        let v = engine.decide(&request);
        assert!(!v.is_allowed());
        assert!(!v.errors().is_empty());
    }
}
