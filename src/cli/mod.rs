//! The command line (clap). The only module that knows about clap; it loads inputs,
//! calls the library, prints, and maps outcomes to exit codes.

/// `print!` that does not panic when stdout is closed (`mailgate test | head -1`).
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($t)*);
    }};
}

/// `println!` that does not panic when stdout is closed.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

/// `eprint!` that does not panic when stderr is closed.
macro_rules! err {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr().lock(), $($t)*);
    }};
}

/// `eprintln!` that does not panic when stderr is closed.
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($t)*);
    }};
}

mod audit;
mod batch;
mod check;
mod coverage;
mod diff;
mod eval;
mod fmt;
mod graph;
mod inputs;
#[cfg(feature = "lsp")]
mod lsp;
#[cfg(feature = "serve")]
mod serve;
mod test;
mod verify;

/// Why-not settings of a run: the analyzer, its options, and whether the full list was
/// asked for (`--why-not` or `--explain`) or only the one-line hint of a text denial.
pub(crate) struct WhyNot<'a> {
    pub(crate) analyzer: &'a crate::analysis::Analyzer<'a>,
    pub(crate) options: crate::analysis::WhyNotOptions,
    pub(crate) full: bool,
}

use std::path::PathBuf;
use std::process::ExitCode;

/// mailgate: decide who may approve a Dynamics 365 mailbox, from policies written as text.
#[derive(Debug, clap::Parser)]
#[command(name = "mailgate", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Parse and validate the schema and policies, and print every problem.
    Check(check::CheckArgs),
    /// Decide every request of scenario files (or a JSON Lines batch).
    Eval(eval::EvalArgs),
    /// Decide scenario requests and compare with their `expect`.
    Test(test::TestArgs),
    /// Format policy files in the one house style (or check that they are).
    Fmt(fmt::FmtArgs),
    /// Speak the Language Server Protocol on standard input and output (for editors).
    #[cfg(feature = "lsp")]
    Lsp(lsp::LspArgs),
    /// Audit an org exported from Dataverse and Microsoft Graph (see scripts/).
    Audit(audit::AuditArgs),
    /// Report which rules and conditions the scenario requests exercise.
    Coverage(coverage::CoverageArgs),
    /// Draw how an action is decided, as a Mermaid or DOT flowchart.
    Graph(graph::GraphArgs),
    /// Prove each invariant of the policy set for every request.
    Verify(verify::VerifyArgs),
    /// Compare how two versions of a policy set decide every request.
    Diff(diff::DiffArgs),
    /// Serve decisions over HTTP, reloading the policies when they change.
    #[cfg(feature = "serve")]
    Serve(serve::ServeArgs),
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Readable text.
    Text,
    /// JSON Lines: one object per decision.
    Json,
}

/// `--policies DIR`, shared by every command.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// The policy folder (default: ./policies if it exists, else the built-in set).
    #[arg(long, value_name = "DIR")]
    pub policies: Option<PathBuf>,
}

impl PolicyArgs {
    /// Where the policies come from, saying so on stderr when it is the built-in set.
    pub(crate) fn origin(&self) -> crate::policy_set::Origin {
        use crate::policy_set::Origin;
        match &self.policies {
            Some(dir) => Origin::Dir(dir.clone()),
            None if std::path::Path::new("policies").is_dir() => {
                Origin::Dir(PathBuf::from("policies"))
            }
            None => {
                errln!(
                    "mailgate: no ./policies folder here; using the policy set built into mailgate"
                );
                Origin::Embedded
            }
        }
    }
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything was fine.
    Ok,
    /// Invalid input, or a test failed.
    Failure,
    /// The command line itself was wrong (as clap reports it).
    Usage,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        match e {
            Exit::Ok => ExitCode::SUCCESS,
            Exit::Failure => ExitCode::from(1),
            Exit::Usage => ExitCode::from(2),
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let exit = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Fmt(args) => fmt::run(&args),
        #[cfg(feature = "lsp")]
        Command::Lsp(args) => lsp::run(&args),
        Command::Audit(args) => audit::run(&args),
        Command::Coverage(args) => coverage::run(&args),
        Command::Graph(args) => graph::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Diff(args) => diff::run(&args),
        #[cfg(feature = "serve")]
        Command::Serve(args) => serve::run(&args),
    };
    exit.into()
}
