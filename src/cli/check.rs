//! `mailgate check`: parse and validate; print every diagnostic or a one-line summary.

use super::{Exit, PolicyArgs};
use crate::diagnostics::render_all;
use crate::policy_set;

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    policies: PolicyArgs,
}

/// Runs `check`.
pub(crate) fn run(args: &CheckArgs) -> Exit {
    let origin = args.policies.origin();
    match policy_set::load(&origin) {
        Ok(loaded) => {
            err!("{}", render_all(&loaded.warnings, loaded.set.sources()));
            let set = &loaded.set;
            outln!(
                "ok: {} policy files, {} rules, {} actions",
                loaded.policy_files,
                set.rules().len(),
                set.schema().actions.len()
            );
            Exit::Ok
        }
        Err(failure) => {
            err!("{}", render_all(&failure.diagnostics, &failure.sources));
            let errors = failure.diagnostics.iter().filter(|d| d.is_error()).count();
            errln!(
                "error: {errors} error{} found; the policy set cannot be used",
                if errors == 1 { "" } else { "s" }
            );
            Exit::Failure
        }
    }
}
