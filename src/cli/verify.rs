//! `mailgate verify`: prove each invariant of the policy set for every request.

use super::inputs::load_policies;
use super::{Exit, Format, PolicyArgs};
use crate::analysis::{Analyzer, InvariantOutcome};

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    policies: PolicyArgs,
}

fn text(o: &InvariantOutcome) -> String {
    if o.holds {
        return format!("✓ {} holds\n", o.invariant);
    }
    let mut s = format!("✗ {} does not hold ({}:{})\n", o.invariant, o.file, o.line);
    if let Some(reason) = &o.reason {
        s.push_str(&format!("    claim: {reason}\n"));
    }
    if let Some(c) = &o.counterexample {
        s.push_str(&format!("    counterexample: {c}\n"));
    }
    if let Some(d) = &o.decision {
        s.push_str(&format!("    decided: {d}\n"));
    }
    s
}

/// Runs `verify`.
pub(crate) fn run(args: &VerifyArgs) -> Exit {
    let Some(set) = load_policies(&args.policies.origin()) else {
        return Exit::Failure;
    };
    let outcomes = match Analyzer::new(&set).verify() {
        Ok(o) => o,
        Err(e) => {
            errln!("error: {e}");
            return Exit::Failure;
        }
    };
    let fail = outcomes.iter().filter(|o| !o.holds).count();
    let hold = outcomes.len() - fail;
    for o in &outcomes {
        match args.format {
            Format::Text => out!("{}", text(o)),
            Format::Json => outln!("{}", serde_json::to_string(o).unwrap_or_default()),
        }
    }
    match args.format {
        Format::Text => outln!("{hold} hold, {fail} fail"),
        Format::Json => {
            #[derive(serde::Serialize)]
            #[allow(clippy::struct_field_names, reason = "the JSON keys")]
            struct Summary {
                summary: &'static str,
                hold: usize,
                fail: usize,
            }
            let s = Summary {
                summary: if fail == 0 { "ok" } else { "failed" },
                hold,
                fail,
            };
            outln!("{}", serde_json::to_string(&s).unwrap_or_default());
        }
    }
    if fail == 0 { Exit::Ok } else { Exit::Failure }
}
