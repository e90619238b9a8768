//! `mailgate serve`: decisions over HTTP, with hot reload, a decision log and metrics.
//!
//! Above the pipeline: requests are decided by the batch layer's [`LineDecider`], so
//! `POST /v1/decide` and `POST /v1/batch` answer exactly as `eval --batch` does.
//!
//! - **One snapshot per request.** The active [`Snapshot`] sits in an `ArcSwap`; a request
//!   takes it once and parses, decides and logs with it, so no request ever sees two sets.
//! - **Reloads** come from a debounced, recursive watch of the policy folder (which
//!   survives the folder being replaced, see `watch`), SIGHUP and `POST /v1/reload`
//!   (loopback only). They run one at a time, and every one passes the `gate`: a set goes
//!   live whole only if it loads, reads the same twice one debounce apart and keeps every
//!   invariant; otherwise it is refused and the last good set keeps deciding.
//! - **The decision log** is written by a thread of its own behind a bounded channel; a
//!   decision never waits for it (events that do not fit are dropped and counted).
//!
//! [`LineDecider`]: crate::batch::LineDecider

mod conn;
mod console;
mod gate;
mod http;
mod log;
mod metrics;
mod snapshot;
mod stream;
mod watch;

pub use gate::{Gate, Reason, Refusal};
pub use log::UnknownMask;
pub use snapshot::{Snapshot, load, revision};

use crate::diagnostics::render_all;
use crate::policy_set::Origin;
use arc_swap::ArcSwap;
use http::{App, LastReload};
use metrics::Metrics;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Errors that stop the service.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The policy set did not load (render its diagnostics with [`render_failure`]).
    #[error("the policy set has errors")]
    Load(Box<crate::policy_set::LoadFailure>),
    /// The policy set loaded but did not pass the gate (an invariant or, under
    /// `--reload-gate scenarios`, a scenario fails).
    #[error("the policy set did not pass the gate ({})", .0.reason.as_str())]
    Refused(Refusal),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The decision log could not be opened.
    #[error("cannot open the decision log `{path}`: {source}")]
    Log {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The policy folder could not be watched.
    #[error("cannot watch `{path}` for changes: {message}")]
    Watch {
        /// The folder.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A `--log-mask` path is not an input path of the schema.
    #[error(transparent)]
    Mask(#[from] UnknownMask),
    /// The runtime or the server failed.
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Where the decision log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard output.
    Stdout,
    /// A file, appended to.
    File(PathBuf),
}

/// How to run the service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the policies come from (a folder is watched for changes).
    pub origin: Origin,
    /// The address to listen on.
    pub addr: SocketAddr,
    /// The decision log, if any.
    pub decision_log: Option<LogTarget>,
    /// Input paths erased from logged requests (`user.upn`).
    pub log_masks: Vec<String>,
    /// Bearer token every endpoint but the health probes requires.
    pub token: Option<String>,
    /// Runtime worker threads (default: one per core).
    pub threads: Option<usize>,
    /// Largest `POST /v1/batch` body, in bytes.
    pub max_batch_bytes: usize,
    /// Longest time a request may take, waiting included.
    pub timeout: Duration,
    /// Most requests handled at once (more wait for a turn, within the timeout).
    pub max_concurrency: usize,
    /// How long shutdown waits for requests in flight and the decision log.
    pub drain: Duration,
    /// Most bytes of decisions waiting for the log writer (more are dropped, counted).
    pub log_queue_bytes: usize,
    /// Most connections served at once (default: the open-files limit minus headroom).
    pub max_connections: Option<usize>,
    /// Longest wait for a request head, also on an idle keep-alive connection.
    pub header_timeout: Duration,
    /// An export bundle (`--bundle DIR`) whose audit the console shows.
    pub bundle: Option<PathBuf>,
    /// What a policy set must pass to go live (at startup and on every reload).
    pub reload_gate: Gate,
}

impl Config {
    /// The defaults for `origin`: loopback port 8181, no log, no token.
    pub fn new(origin: Origin) -> Self {
        Config {
            origin,
            addr: SocketAddr::from(([127, 0, 0, 1], 8181)),
            decision_log: None,
            log_masks: Vec::new(),
            token: None,
            threads: None,
            max_batch_bytes: 64 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            max_concurrency: 1024,
            drain: Duration::from_secs(10),
            log_queue_bytes: log::DEFAULT_QUEUE_BYTES,
            max_connections: None,
            header_timeout: Duration::from_secs(10),
            bundle: None,
            reload_gate: Gate::default(),
        }
    }
}

/// Writes one line to standard error (never panics when it is closed).
fn note(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// A bound, not yet running service.
#[derive(Debug)]
pub struct Server {
    runtime: tokio::runtime::Runtime,
    parts: Parts,
}

/// The shutdown signals, listened for from [`Server::bind`] on: a SIGTERM that arrives
/// before the service runs (just after `listening on` is printed) starts a clean
/// shutdown instead of killing the process.
#[derive(Debug)]
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers (needs the runtime entered).
    fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
                hup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }
}

/// What the service runs with, apart from its runtime.
#[derive(Debug)]
struct Parts {
    signals: Signals,
    listener: std::net::TcpListener,
    config: Config,
    initial: Snapshot,
    masks: log::Masks,
    watch: Option<watch::Watch>,
    triggers: (
        tokio::sync::mpsc::Sender<&'static str>,
        tokio::sync::mpsc::Receiver<&'static str>,
    ),
}

impl Server {
    /// Starts watching the policy folder, loads the policy set (so a change made after
    /// this call returns is never missed), checks it with the gate (every invariant, and
    /// the scenarios under [`Gate::Scenarios`]) and binds the address.
    pub fn bind(config: Config) -> Result<Server, ServeError> {
        let mut rt = tokio::runtime::Builder::new_multi_thread();
        if let Some(n) = config.threads {
            rt.worker_threads(n.max(1));
        }
        let runtime = rt.enable_all().build()?;
        // Before anything is bound or printed (see [`Signals`]).
        let signals = {
            let _entered = runtime.enter();
            Signals::install()?
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<&'static str>(1);
        let watch = match &config.origin {
            Origin::Dir(dir) if dir.is_dir() => Some(watch::Watch::start(dir, tx.clone())?),
            _ => None,
        };
        let initial = load(&config.origin).map_err(|f| ServeError::Load(Box::new(f)))?;
        let masks = log::Masks::new(&initial.set, &config.log_masks)?;
        gate::check(&config.origin, &initial, config.reload_gate).map_err(ServeError::Refused)?;
        let listener =
            std::net::TcpListener::bind(config.addr).map_err(|source| ServeError::Bind {
                addr: config.addr,
                source,
            })?;
        listener.set_nonblocking(true)?;
        Ok(Server {
            runtime,
            parts: Parts {
                signals,
                listener,
                config,
                initial,
                masks,
                watch,
                triggers: (tx, rx),
            },
        })
    }

    /// The policy set the service starts with.
    pub fn initial(&self) -> &Snapshot {
        &self.parts.initial
    }

    /// The address actually bound (its port when the configured one was 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.parts.listener.local_addr()
    }

    /// Serves until SIGTERM or ctrl-c, then drains requests in flight, flushes the
    /// decision log and returns.
    pub fn run(self) -> Result<(), ServeError> {
        self.runtime.block_on(self.parts.serve())
    }
}

impl Parts {
    #[allow(
        clippy::too_many_lines,
        reason = "the service's start, run and shutdown in order"
    )]
    async fn serve(self) -> Result<(), ServeError> {
        let Parts {
            signals,
            listener,
            config,
            initial,
            masks,
            watch,
            triggers: (tx, mut rx),
        } = self;
        let metrics = Arc::new(Metrics::default());
        let log = match &config.decision_log {
            None => None,
            Some(target) => {
                let out: Box<dyn std::io::Write + Send> = match target {
                    LogTarget::Stdout => Box::new(std::io::stdout()),
                    LogTarget::File(path) => {
                        Box::new(private_append(path).map_err(|source| ServeError::Log {
                            path: path.clone(),
                            source,
                        })?)
                    }
                };
                Some(log::DecisionLog::start(
                    out,
                    masks,
                    config.log_queue_bytes,
                    metrics.clone(),
                )?)
            }
        };
        metrics
            .last_reload_success
            .set(i64::try_from(unix_secs(initial.loaded_at)).unwrap_or(i64::MAX));
        let last = LastReload {
            at: now_rfc3339(),
            ok: true,
            reason: None,
            trigger: "startup",
            revision: initial.revision.to_string(),
            diagnostics: initial.warnings.clone(),
        };
        let app = Arc::new(App {
            active: ArcSwap::from_pointee(initial),
            origin: config.origin.clone(),
            metrics,
            log,
            token: config.token.clone(),
            watching: watch.as_ref().map(watch::Watch::watching_flag),
            gate: config.reload_gate,
            reload_lock: tokio::sync::Mutex::new(()),
            last_reload: std::sync::Mutex::new(last),
            limit: tokio::sync::Semaphore::new(config.max_concurrency.max(1)),
            timeout: config.timeout,
            batch_pool: Arc::new(tokio::sync::Semaphore::new(
                config
                    .threads
                    .unwrap_or_else(|| {
                        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
                    })
                    .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
            )),
            max_batch_bytes: config.max_batch_bytes,
            bundle: config.bundle.clone(),
        });

        // Reload triggers: the folder watch and SIGHUP feed one task.
        #[cfg(unix)]
        {
            let tx = tx.clone();
            let mut hup = signals.hup;
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    let _ = tx.try_send("SIGHUP");
                }
            });
        }
        let watch = watch.map(Arc::new);
        if let Some(watch) = &watch {
            // While the folder is gone, look for it now and then (its parent's events
            // normally say when it is back).
            let (watch, tx) = (watch.clone(), tx.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(watch::LOOK_AGAIN).await;
                    if watch.lost_and_found() {
                        let _ = tx.try_send("watch");
                    }
                }
            });
        }
        drop(tx);
        {
            let app = app.clone();
            tokio::spawn(async move {
                while let Some(trigger) = rx.recv().await {
                    if trigger == "watch" {
                        settle(&mut rx).await;
                    }
                    if let Some(watch) = &watch {
                        watch.rearm_if_needed();
                    }
                    reload(&app, trigger).await;
                }
            });
        }

        let listener = tokio::net::TcpListener::from_std(listener)?;
        let router = http::router(app.clone(), config.max_batch_bytes);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        // When shutdown began: the log gets what is left of the drain time.
        let stopping = Arc::new(std::sync::OnceLock::new());
        let stopping_at = stopping.clone();
        let limits = conn::ConnLimits {
            max_connections: config
                .max_connections
                .unwrap_or_else(conn::default_max_connections),
            header_timeout: config.header_timeout,
        };
        #[cfg(unix)]
        let (term, int) = (signals.term, signals.int);
        #[cfg(not(unix))]
        let _ = signals;
        let server = conn::serve(listener, router, limits, async move {
            #[cfg(unix)]
            shutdown_signal(term, int).await;
            #[cfg(not(unix))]
            shutdown_signal().await;
            let _ = stopping_at.set(std::time::Instant::now());
            note("mailgate: shutting down; finishing requests in flight");
            let _ = stop_tx.send(());
        });
        let drain = config.drain;
        let result = tokio::select! {
            () = server => Ok(()),
            () = async move {
                if stop_rx.await.is_ok() {
                    tokio::time::sleep(drain).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => {
                note("mailgate: requests still in flight after the drain timeout; stopping anyway");
                Ok(())
            }
        };
        app.limit.close();
        if let Some(log) = &app.log {
            let from = stopping
                .get()
                .copied()
                .unwrap_or_else(std::time::Instant::now);
            log.close(from + drain);
        }
        result
    }
}

/// Opens `path` for appending, creating it readable and writable by its owner only
/// (decisions name people).
fn private_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// SIGTERM or SIGINT, on the handlers installed at bind.
#[cfg(unix)]
async fn shutdown_signal(
    mut term: tokio::signal::unix::Signal,
    mut int: tokio::signal::unix::Signal,
) {
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

#[cfg(not(unix))]
async fn shutdown_signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// How long the watch waits for a folder to fall quiet before reloading.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Longest a stream of changes can postpone a reload.
const DEBOUNCE_MAX: Duration = Duration::from_secs(2);

/// Waits until the folder has been quiet for [`DEBOUNCE`] (at most [`DEBOUNCE_MAX`]), so
/// an editor's write-then-rename or a `git checkout` becomes one reload.
async fn settle(rx: &mut tokio::sync::mpsc::Receiver<&'static str>) {
    let deadline = tokio::time::Instant::now() + DEBOUNCE_MAX;
    while let Ok(Some(_)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
        if tokio::time::Instant::now() >= deadline {
            break;
        }
    }
}

/// Loads the policy set again and swaps it in if it passes the gate: it loads, its
/// revision is the same when read again one [`DEBOUNCE`] later, and it passes
/// [`gate::check`]. One reload runs at a time; the outcome is kept for `/v1/status`.
async fn reload(app: &Arc<App>, trigger: &'static str) -> LastReload {
    let _one_at_a_time = app.reload_lock.lock().await;
    let current = app.active.load_full().revision.clone();
    let last = match candidate(app).await {
        Ok(snap) => {
            app.metrics.reloads_ok.inc();
            app.metrics
                .last_reload_success
                .set(i64::try_from(unix_secs(snap.loaded_at)).unwrap_or(i64::MAX));
            let last = LastReload {
                at: now_rfc3339(),
                ok: true,
                reason: None,
                trigger,
                revision: snap.revision.to_string(),
                diagnostics: snap.warnings.clone(),
            };
            if snap.revision != current {
                note(&format!(
                    "mailgate: reloaded policies ({trigger}): revision {}",
                    snap.revision
                ));
                if !snap.warnings.is_empty() {
                    note(snap.warnings.join("\n\n").trim_end());
                }
                app.active.store(Arc::new(snap));
            }
            last
        }
        Err(refusal) => {
            app.metrics.reloads_failed.inc();
            note(&format!(
                "mailgate: policy reload ({trigger}) refused ({}; see /v1/status); still serving revision {current}",
                refusal.summary()
            ));
            LastReload {
                at: now_rfc3339(),
                ok: false,
                reason: Some(refusal.reason.as_str()),
                trigger,
                revision: current.to_string(),
                diagnostics: refusal.diagnostics,
            }
        }
    };
    if let Ok(mut l) = app.last_reload.lock() {
        *l = last.clone();
    }
    last
}

/// Reads the policy set and puts it through the gate.
async fn candidate(app: &Arc<App>) -> Result<Snapshot, Refusal> {
    let origin = app.origin.clone();
    let snap = tokio::task::spawn_blocking(move || {
        load(&origin).map_err(|f| Refusal {
            reason: Reason::LoadFailed,
            diagnostics: f
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.render(&f.sources))
                .collect(),
        })
    })
    .await
    .unwrap_or_else(|_| Err(failed_task()))?;
    // A writer still at work (`scp`, `rsync --inplace`, a multi-file copy) shows as files
    // that change between two reads one debounce apart.
    if let Origin::Dir(_) = &app.origin {
        tokio::time::sleep(DEBOUNCE).await;
        let origin = app.origin.clone();
        let again = tokio::task::spawn_blocking(move || snapshot::current_revision(&origin))
            .await
            .ok()
            .flatten();
        if again.as_deref() != Some(&*snap.revision) {
            return Err(Refusal {
                reason: Reason::Unstable,
                diagnostics: vec![format!(
                    "the policy files changed while they were read: revision {} and, {} ms later, {}",
                    snap.revision,
                    DEBOUNCE.as_millis(),
                    again.as_deref().unwrap_or("unreadable")
                )],
            });
        }
    }
    let (origin, gate) = (app.origin.clone(), app.gate);
    tokio::task::spawn_blocking(move || gate::check(&origin, &snap, gate).map(|()| snap))
        .await
        .unwrap_or_else(|_| Err(failed_task()))
}

fn failed_task() -> Refusal {
    Refusal {
        reason: Reason::LoadFailed,
        diagnostics: vec!["error: the reload task failed".to_owned()],
    }
}

/// Renders a failed load for the terminal (used at startup).
pub fn render_failure(failure: &crate::policy_set::LoadFailure) -> String {
    render_all(&failure.diagnostics, &failure.sources)
}
