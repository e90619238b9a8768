//! `mailgate check`: parse and validate; print every diagnostic or a one-line summary.

use super::inputs::load_policy_set;
use super::{Exit, PolicyArgs};

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    policies: PolicyArgs,
}

/// Runs `check`.
pub(crate) fn run(args: &CheckArgs) -> Exit {
    let Some(loaded) = load_policy_set(&args.policies.origin(), "it cannot be used") else {
        return Exit::Failure;
    };
    let set = &loaded.set;
    outln!(
        "ok: {} policy files, {} rules, {} actions",
        loaded.policy_files,
        set.rules().len(),
        set.schema().actions.len()
    );
    Exit::Ok
}
