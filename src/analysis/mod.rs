//! Exact analysis of a compiled policy set: questions about every schema-valid request,
//! answered on decision diagrams rather than by sampling.
//!
//! The decision hot path never touches this module. [`Analyzer`] builds, once per action
//! and on first use, a model of the action (`model`): a finite abstraction of its
//! requests that is exact for the policy language, and the action's decision compiled to a
//! decision diagram over it, from the same compiled conditions the evaluator runs.
//!
//! The first question it answers is why-not ([`Analyzer::counterfactuals`]): the
//! subset-minimal sets of changes to a request that flip its decision. Every answer is
//! decoded to a concrete request and decided again by [`CompiledSet::evaluate`] before
//! it is returned; a disagreement is an [`AnalysisError::Disagreement`], never a silent
//! answer. [`Analyzer::verify`] proves invariants; [`diff()`] compares two sets compiled
//! against one schema, over one abstraction built from the literals of both.
//!
//! ```
//! use mailgate::analysis::{Analyzer, WhyNotOptions};
//! let loaded = mailgate::policy_set::load(&mailgate::policy_set::Origin::Embedded).unwrap();
//! let set = &loaded.set;
//! let req = mailgate::batch::parse_request(set, br#"{"action":"approve_mailbox",
//!     "org":{"version":"9.2.22104.00170"},
//!     "user":{"security_roles":["System Administrator"],
//!             "privileges":["Approve Email Addresses for Users or Queues"]},
//!     "mailbox":{"owner_kind":"queue","email":"support@contoso.com",
//!                "approval":"pending_approval","server":"exchange_online"}}"#).unwrap();
//! let analyzer = Analyzer::new(set);
//! let cf = analyzer.counterfactuals(&req, &WhyNotOptions::default()).unwrap();
//! assert!(cf.complete);
//! // Three one-change options, in schema order: `security_roles` comes before `directory_roles`.
//! let first: Vec<String> = cf.options.iter().map(|o| o.changes[0].describe()).collect();
//! assert_eq!(first, [
//!     r#"add "Delegated Mailbox Approver" to user.security_roles"#,
//!     r#"add "Global Administrator" to user.directory_roles"#,
//!     r#"add "Exchange Administrator" to user.directory_roles"#,
//! ]);
//! ```

mod dd;
mod diff;
pub mod lint;
mod model;
mod verify;
mod whynot;

use crate::compile::CompiledSet;
use crate::eval::Request;
use crate::schema::ActionId;
use model::ActionModel;
use serde::Serialize;
use std::sync::OnceLock;

pub use diff::{ActionDiff, DiffOptions, FlipClass, SideDecision, Verdict, diff, replay};
pub use verify::{InvariantOutcome, ShownDecision, batch_line};
pub use whynot::{Change, ChangeOp, Counterfactuals, Step, WhyNotOption};

/// Errors of the analysis layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisError {
    /// A diagram grew past the node budget.
    #[error(
        "analysis of action `{action}` needs more than {budget} decision-diagram nodes (the budget, `MAX_ANALYSIS_NODES` in src/limits.rs)"
    )]
    Budget {
        /// The action.
        action: String,
        /// The budget.
        budget: usize,
    },
    /// More boolean variables than the diagram library can number.
    #[error("analysis of action `{action}` needs more than 65535 boolean variables")]
    TooManyVariables {
        /// The action.
        action: String,
    },
    /// The rules use something the abstraction does not model.
    #[error("analysis of action `{action}` is not available: {what}")]
    Unsupported {
        /// The action.
        action: String,
        /// What.
        what: String,
    },
    /// The request lacks a value its action's rules read (analysis covers complete,
    /// schema-valid requests).
    #[error(
        "the request has no value for `{path}`; analysis covers only complete requests (schema defaults filled)"
    )]
    IncompleteRequest {
        /// The path.
        path: String,
    },
    /// The diagram and the evaluator disagree: a bug in mailgate.
    #[error(
        "internal error: the analysis and the evaluator disagree ({detail}); please report this"
    )]
    Disagreement {
        /// What disagreed.
        detail: String,
    },
    /// The two sets of a `diff` were not compiled against one schema.
    #[error("the two policy sets do not share one schema: {detail}")]
    DifferentSchemas {
        /// What differs.
        detail: String,
    },
    /// The analysis ran past its deadline and was stopped (no partial answer).
    #[error("the analysis was stopped at its deadline")]
    Cancelled,
    /// `--hold` names no attribute path of any action.
    #[error("`--hold {path}`: no action has an attribute `{path}`{}", help.as_ref().map(|h| format!("; did you mean `{h}`?")).unwrap_or_default())]
    UnknownPath {
        /// The path.
        path: String,
        /// A close path.
        help: Option<String>,
    },
}

/// The `"counterfactuals"` member of a JSON decision record: the counterfactuals, or
/// `{"error": "..."}` when they could not be computed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum WhyNotResult {
    /// Computed.
    Found(Counterfactuals),
    /// Not computed, and why.
    Failed {
        /// The error message.
        error: String,
    },
}

impl From<Result<Counterfactuals, AnalysisError>> for WhyNotResult {
    fn from(r: Result<Counterfactuals, AnalysisError>) -> Self {
        match r {
            Ok(c) => WhyNotResult::Found(c),
            Err(e) => WhyNotResult::Failed {
                error: e.to_string(),
            },
        }
    }
}

/// Options of why-not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhyNotOptions {
    /// Most options to return (the list is then marked incomplete if more exist).
    pub max_options: usize,
    /// Paths (`user.privileges`) never changed, in addition to parameters and the
    /// schema's `fixed: true` attributes.
    pub hold: Vec<String>,
}

impl Default for WhyNotOptions {
    fn default() -> Self {
        WhyNotOptions {
            max_options: 5,
            hold: Vec::new(),
        }
    }
}

/// The analysis of one compiled set: one model per action, built on first use and
/// shared (it is `Sync`, so batch worker threads share one).
#[derive(Debug)]
pub struct Analyzer<'a> {
    set: &'a CompiledSet,
    models: Vec<OnceLock<Result<ActionModel, AnalysisError>>>,
    /// Past this instant the analysis stops with [`AnalysisError::Cancelled`].
    deadline: Option<std::time::Instant>,
}

impl<'a> Analyzer<'a> {
    /// An analyzer for `set` (builds nothing yet).
    pub fn new(set: &'a CompiledSet) -> Self {
        Analyzer {
            set,
            models: (0..set.schema().actions.len())
                .map(|_| OnceLock::new())
                .collect(),
            deadline: None,
        }
    }

    /// An analyzer for `set` that stops at `deadline`: building a model and finding
    /// counterfactuals check it at every decision-diagram operation, and work past it
    /// ends in [`AnalysisError::Cancelled`], never in a partial answer.
    pub fn until(set: &'a CompiledSet, deadline: std::time::Instant) -> Self {
        Analyzer {
            deadline: Some(deadline),
            ..Analyzer::new(set)
        }
    }

    /// `Cancelled` in place of an error of work that ran past the deadline (its
    /// operations fail then, whatever error they turn into).
    fn past_deadline<T>(&self, r: Result<T, AnalysisError>) -> Result<T, AnalysisError> {
        match (r, self.deadline) {
            (Err(_), Some(d)) if std::time::Instant::now() >= d => Err(AnalysisError::Cancelled),
            (r, _) => r,
        }
    }

    /// The set analysed.
    pub fn set(&self) -> &'a CompiledSet {
        self.set
    }

    pub(crate) fn model(&self, action: ActionId) -> Result<&ActionModel, AnalysisError> {
        let Some(cell) = self.models.get(action as usize) else {
            return Err(AnalysisError::Disagreement {
                detail: format!("no action #{action}"),
            });
        };
        let built = cell
            .get_or_init(|| ActionModel::build_until(self.set, action, self.deadline))
            .as_ref()
            .map_err(Clone::clone);
        self.past_deadline(built)
    }

    /// Checks that every `--hold` path is an attribute path of some action.
    pub fn check_paths(&self, paths: &[String]) -> Result<(), AnalysisError> {
        let all: Vec<&str> = (0..self.set.schema().actions.len())
            .filter_map(|a| ActionId::try_from(a).ok())
            .flat_map(|a| self.set.layout(a).paths.iter().map(String::as_str))
            .collect();
        for p in paths {
            if !all.contains(&p.as_str()) {
                return Err(AnalysisError::UnknownPath {
                    path: p.clone(),
                    help: crate::diagnostics::did_you_mean(p, all.iter().copied()),
                });
            }
        }
        Ok(())
    }

    /// The subset-minimal sets of changes that flip the decision of `request` (deny to
    /// allow, or allow to deny), smallest first, each replayed through the evaluator.
    pub fn counterfactuals(
        &self,
        request: &Request,
        options: &WhyNotOptions,
    ) -> Result<Counterfactuals, AnalysisError> {
        let model = self.model(request.action)?;
        self.past_deadline(whynot::counterfactuals(self.set, model, request, options))
    }

    /// Whether the decision diagram of the request's action allows `request` (for
    /// checking the diagram against the evaluator).
    pub fn diagram_allows(&self, request: &Request) -> Result<bool, AnalysisError> {
        use dd::Backend as _;
        let model = self.model(request.action)?;
        let bits = model.encode(self.set, request)?;
        Ok(model.backend.eval(&model.allow, &bits))
    }

    /// Node counts of the action's diagrams: (validity, allow, deny).
    pub fn diagram_sizes(&self, action: ActionId) -> Result<(usize, usize, usize), AnalysisError> {
        use dd::Backend as _;
        let m = self.model(action)?;
        Ok((
            m.backend.nodes(&m.valid),
            m.backend.nodes(&m.allow),
            m.backend.nodes(&m.deny),
        ))
    }
}

impl CompiledSet {
    /// [`Analyzer::counterfactuals`] with a throwaway analyzer (builds the action's
    /// diagram each call; keep an [`Analyzer`] to reuse it).
    pub fn counterfactuals(
        &self,
        request: &Request,
        options: &WhyNotOptions,
    ) -> Result<Counterfactuals, AnalysisError> {
        Analyzer::new(self).counterfactuals(request, options)
    }
}
