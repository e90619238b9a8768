//! The `mailgate` command line. Everything happens in [`mailgate::cli`].

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    mailgate::cli::run(mailgate::cli::Cli::parse())
}
