//! `mailgate eval --batch FILE|-`: stream JSON Lines through [`crate::batch::run`].

use super::{Exit, WhyNot};
use crate::batch;
use crate::compile::CompiledSet;
use std::io::BufReader;
use std::path::Path;

/// Runs a batch from a file or standard input (`-`) to standard output.
pub(crate) fn run(
    set: &CompiledSet,
    input: &Path,
    threads: Option<usize>,
    why_not: Option<&WhyNot<'_>>,
) -> Exit {
    let why_not = why_not.map(|w| batch::WhyNot {
        analyzer: w.analyzer,
        options: &w.options,
    });
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
        .max(1);
    let stdout = std::io::stdout();
    let out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let result = if input == Path::new("-") {
        let stdin = std::io::stdin();
        batch::run_with(
            set,
            BufReader::with_capacity(1 << 16, stdin.lock()),
            out,
            threads,
            why_not,
        )
    } else {
        match std::fs::File::open(input) {
            Ok(f) => batch::run_with(
                set,
                BufReader::with_capacity(1 << 16, f),
                out,
                threads,
                why_not,
            ),
            Err(e) => {
                errln!("error: cannot read `{}`: {e}", input.display());
                return Exit::Failure;
            }
        }
    };
    match result {
        Ok(stats) if stats.bad == 0 => Exit::Ok,
        Ok(stats) => {
            errln!(
                "error: {} of {} lines were not valid requests (see their error records)",
                stats.bad,
                stats.lines
            );
            Exit::Failure
        }
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Ok,
        Err(e) => {
            errln!("error: batch failed: {e}");
            Exit::Failure
        }
    }
}
