//! `mailgate serve`: the decision service ([`crate::serve`]).

use super::{Exit, PolicyArgs};
use crate::serve::{self, Config, Gate, LogTarget, ServeError, Server};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the real one is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8181")]
    addr: SocketAddr,
    /// Write a decision log (JSON Lines) to FILE, appending, or to standard output (`-`).
    #[arg(long, value_name = "FILE|-")]
    decision_log: Option<PathBuf>,
    /// Erase this input path (e.g. `user.upn`) from logged requests (repeatable).
    #[arg(long, value_name = "PATH")]
    log_mask: Vec<String>,
    /// Most bytes of decisions waiting for the log writer; past it, decisions are not
    /// logged (and counted in `mailgate_decision_log_dropped_total`).
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    log_queue_bytes: usize,
    /// Longest shutdown (requests in flight, then the decision log), in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    drain: u64,
    /// Most connections served at once; one more is answered 503 and closed (default:
    /// the open-files limit minus 64).
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Longest wait for a request's head, in seconds; also how long an idle keep-alive
    /// connection stays open.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    header_timeout: u64,
    /// Require `Authorization: Bearer T` on every endpoint but the health probes.
    #[arg(long, value_name = "T")]
    token: Option<String>,
    /// Runtime worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Largest `POST /v1/batch` body in bytes (larger ones get 413).
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    max_batch_bytes: usize,
    /// Longest time a request may take, in seconds (then 503).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,
    /// Most requests handled at once; more wait their turn within the timeout.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_concurrency: usize,
    /// A Dataverse export bundle (as for `mailgate audit`) whose audit the console shows.
    #[arg(long, value_name = "DIR")]
    bundle: Option<PathBuf>,
    /// What a policy set must pass to go live, at startup and on every reload: it always
    /// loads, reads the same twice one debounce apart and keeps every invariant;
    /// `scenarios` also needs every scenario of the folder's `scenarios/` to pass.
    #[arg(long, value_enum, value_name = "GATE", default_value_t = ReloadGate::Invariants)]
    reload_gate: ReloadGate,
    #[command(flatten)]
    policies: PolicyArgs,
}

/// `--reload-gate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReloadGate {
    /// Load, stability, every invariant.
    Invariants,
    /// As `invariants`, and every scenario passes.
    Scenarios,
}

/// Runs `serve`.
pub(crate) fn run(args: &ServeArgs) -> Exit {
    let origin = args.policies.origin();
    let mut config = Config::new(origin);
    config.addr = args.addr;
    config.decision_log = args.decision_log.as_ref().map(|p| {
        if p.as_os_str() == "-" {
            LogTarget::Stdout
        } else {
            LogTarget::File(p.clone())
        }
    });
    config.log_masks.clone_from(&args.log_mask);
    config.token.clone_from(&args.token);
    config.threads = args.threads;
    config.max_batch_bytes = args.max_batch_bytes;
    config.timeout = Duration::from_secs(args.timeout.max(1));
    config.max_concurrency = args.max_concurrency;
    config.log_queue_bytes = args.log_queue_bytes;
    config.drain = Duration::from_secs(args.drain);
    config.max_connections = args.max_connections;
    config.header_timeout = Duration::from_secs(args.header_timeout.max(1));
    config.bundle.clone_from(&args.bundle);
    config.reload_gate = match args.reload_gate {
        ReloadGate::Invariants => Gate::Invariants,
        ReloadGate::Scenarios => Gate::Scenarios,
    };
    let server = match Server::bind(config) {
        Ok(s) => s,
        Err(ServeError::Load(failure)) => {
            err!("{}", serve::render_failure(&failure));
            let n = failure.diagnostics.iter().filter(|d| d.is_error()).count();
            errln!(
                "error: the policy set has {n} error{}; not serving",
                if n == 1 { "" } else { "s" }
            );
            return Exit::Failure;
        }
        Err(e @ ServeError::Mask(_)) => {
            errln!("error: {e}");
            return Exit::Usage;
        }
        Err(ServeError::Refused(refusal)) => {
            for d in &refusal.diagnostics {
                errln!("error: {}", d.trim_end());
            }
            let n = refusal.diagnostics.len();
            errln!(
                "error: the policy set fails the reload gate ({}: {n} problem{}); not serving",
                refusal.reason.as_str(),
                if n == 1 { "" } else { "s" }
            );
            return Exit::Failure;
        }
        Err(e) => {
            errln!("error: {e}");
            return Exit::Failure;
        }
    };
    for w in &server.initial().warnings {
        errln!("{w}\n");
    }
    match server.local_addr() {
        Ok(addr) => errln!(
            "listening on {addr} (revision {})",
            server.initial().revision
        ),
        Err(e) => {
            errln!("error: {e}");
            return Exit::Failure;
        }
    }
    match server.run() {
        Ok(()) => Exit::Ok,
        Err(e) => {
            errln!("error: {e}");
            Exit::Failure
        }
    }
}
