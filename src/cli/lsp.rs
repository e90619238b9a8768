//! `mailgate lsp`: the language server on standard input and output (see [`crate::lsp`]).

use super::Exit;
use std::path::PathBuf;

/// Arguments of `lsp`.
#[derive(Debug, clap::Args)]
pub struct LspArgs {
    /// The policy folder for files that have no `schema.yaml` in a folder above them
    /// (files under a folder with one use that folder).
    #[arg(long, value_name = "DIR")]
    policies: Option<PathBuf>,
    /// Accepted for editors that pass it; standard input and output are always used.
    #[arg(long, hide = true)]
    stdio: bool,
}

/// Runs `lsp` until the client says `exit`: exit code 0 after `shutdown`, 1 otherwise.
pub(crate) fn run(args: &LspArgs) -> Exit {
    let options = crate::lsp::Options {
        policies: args.policies.clone(),
    };
    match crate::lsp::serve_stdio(&options) {
        Ok(crate::lsp::Ending::Clean) => Exit::Ok,
        Ok(crate::lsp::Ending::Abrupt) => Exit::Failure,
        Err(e) => {
            errln!("mailgate: {e}");
            Exit::Failure
        }
    }
}
