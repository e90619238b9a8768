//! The HTTP API: routes, handlers, one middleware for concurrency, timeouts and latency
//! metrics, and one outermost layer for authentication, so every route needs the token
//! unless it is one of the two health probes.

use super::log::{DecisionLog, Event, EventHead};
use super::metrics::{DecisionCounts, Metrics, Outcome};
use super::snapshot::Snapshot;
use crate::analysis::{AnalysisError, Analyzer, WhyNotOptions, WhyNotResult};
use crate::batch::LineDecider;
use crate::limits::MAX_BATCH_LINE_BYTES;
use crate::policy_set::Origin;
use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Largest body of `POST /v1/decide`: one batch line.
pub(crate) const MAX_DECIDE_BYTES: usize = MAX_BATCH_LINE_BYTES;

/// Most why-not options one request may ask for (`max_options`): each one is a search.
pub(crate) const MAX_WHY_NOT_OPTIONS: usize = 20;

/// The outcome of the last reload.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LastReload {
    pub(crate) at: String,
    pub(crate) ok: bool,
    /// Why a reload was refused (`load_failed`, `unstable`, `invariant_failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<&'static str>,
    pub(crate) trigger: &'static str,
    pub(crate) revision: String,
    pub(crate) diagnostics: Vec<String>,
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) active: ArcSwap<Snapshot>,
    pub(crate) origin: Origin,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) log: Option<DecisionLog>,
    pub(crate) token: Option<String>,
    /// Whether the policy folder is watched now (`None`: nothing to watch).
    pub(crate) watching: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// What a reloaded set must pass.
    pub(crate) gate: super::Gate,
    pub(crate) reload_lock: tokio::sync::Mutex<()>,
    pub(crate) last_reload: std::sync::Mutex<LastReload>,
    pub(crate) limit: tokio::sync::Semaphore,
    pub(crate) timeout: Duration,
    /// The batch worker pool: one permit per thread a batch may decide on.
    pub(crate) batch_pool: Arc<tokio::sync::Semaphore>,
    /// Largest `POST /v1/batch` body.
    pub(crate) max_batch_bytes: usize,
    /// `--bundle DIR`: the export the console's audit view reads.
    pub(crate) bundle: Option<std::path::PathBuf>,
}

impl App {
    /// The active snapshot and its revision, read together.
    fn snapshot(&self) -> (Arc<Snapshot>, Arc<str>) {
        let snap = self.active.load_full();
        let rev = snap.revision.clone();
        (snap, rev)
    }
}

/// The router.
pub(crate) fn router(app: Arc<App>, max_batch_bytes: usize) -> Router {
    Router::new()
        .route(
            "/v1/decide",
            post(decide).layer(DefaultBodyLimit::max(MAX_DECIDE_BYTES)),
        )
        .route(
            "/v1/batch",
            post(batch).layer(DefaultBodyLimit::max(max_batch_bytes)),
        )
        .route("/v1/status", get(status))
        .route("/v1/reload", post(reload))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .merge(super::console::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        // Outermost: every route above, and the fallback, needs the token.
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            authenticate,
        ))
        .with_state(app)
}

fn json_response(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// An error answer. Its body says `"decision":"deny"`, so a client that reads only the
/// body still denies.
fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({"decision": "deny", "error": message});
    json_response(status, body.to_string().into_bytes(), "application/json")
}

fn handler_label(path: &str) -> &'static str {
    match path {
        "/v1/decide" => "/v1/decide",
        "/v1/batch" => "/v1/batch",
        "/v1/status" => "/v1/status",
        "/v1/reload" => "/v1/reload",
        "/health/live" => "/health/live",
        "/health/ready" => "/health/ready",
        "/metrics" => "/metrics",
        p => super::console::handler_label(p).unwrap_or("other"),
    }
}

fn method_label(m: &axum::http::Method) -> &'static str {
    match *m {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::HEAD => "HEAD",
        _ => "other",
    }
}

/// Compares two secrets in constant time (`subtle`). Both are hashed first, so the time
/// does not depend on their lengths either.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    use sha2::Digest as _;
    use subtle::ConstantTimeEq as _;
    sha2::Sha256::digest(a)
        .ct_eq(&sha2::Sha256::digest(b))
        .into()
}

/// The token of an `Authorization: Bearer TOKEN` header; the scheme is matched
/// case-insensitively (RFC 9110, section 11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Whether `ip` is loopback, also when written as an IPv4-mapped IPv6 address
/// (`::ffff:127.0.0.1`, as a dual-stack listener sees an IPv4 client).
pub(crate) fn is_loopback(ip: std::net::IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The paths open without the token.
fn is_probe(path: &str) -> bool {
    path == "/health/live" || path == "/health/ready"
}

/// Authentication, the outermost layer: with `--token`, every request but the two health
/// probes needs `Authorization: Bearer TOKEN`. Routes get it by being in the router.
async fn authenticate(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let Some(token) = &app.token else {
        return next.run(req).await;
    };
    // The probes, and the console's page and assets (no data; a browser cannot send a
    // bearer header when it opens a page, so the page asks for the token instead).
    if is_probe(req.uri().path()) || super::console::is_public(req.uri().path()) {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    if given.is_some_and(|g| same_secret(g.as_bytes(), token.as_bytes())) {
        return next.run(req).await;
    }
    let start = Instant::now();
    let mut r = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    app.metrics.request(
        handler_label(req.uri().path()),
        method_label(req.method()),
        r.status().as_u16(),
        start.elapsed(),
    );
    r
}

/// When the guard answers 503: work a handler hands to a thread (why-not) stops then.
#[derive(Debug, Clone, Copy)]
struct Deadline(Instant);

/// The concurrency limit, the timeout, and the latency histogram.
async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let handler = handler_label(req.uri().path());
    let method = method_label(req.method());
    let response = {
        let deadline = Instant::now() + app.timeout;
        let mut req = req;
        req.extensions_mut().insert(Deadline(deadline));
        let work = async {
            let Ok(_permit) = app.limit.acquire().await else {
                return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
            };
            next.run(req).await
        };
        match tokio::time::timeout(app.timeout, work).await {
            Ok(r) => r,
            Err(_) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the request took longer than the timeout",
            ),
        }
    };
    app.metrics
        .request(handler, method, response.status().as_u16(), start.elapsed());
    response
}

/// `?explain=true`, `?why_not=true` (with `max_options=N`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DecideQuery {
    #[serde(default)]
    explain: bool,
    #[serde(default)]
    why_not: bool,
    max_options: Option<usize>,
}

fn new_id() -> uuid::Uuid {
    uuid::Uuid::new_v4()
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The record of a request refused before it was read (too large, unreadable).
fn refused_record(message: &str, decision_id: &str, revision: &str) -> Vec<u8> {
    let body = serde_json::json!({
        "line": 1, "decision": "deny", "cause": "invalid_request", "rules": [],
        "reasons": [], "errors": [message], "error": message,
        "decision_id": decision_id, "revision": revision,
    });
    body.to_string().into_bytes()
}

#[allow(
    clippy::too_many_lines,
    reason = "one request, read to answered, with its options"
)]
async fn decide(
    State(app): State<Arc<App>>,
    deadline: Option<axum::Extension<Deadline>>,
    query: Result<Query<DecideQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (snap, revision) = app.snapshot();
    let decision_id = new_id();
    let mut id_text = uuid::Uuid::encode_buffer();
    let id_text: &str = decision_id.hyphenated().encode_lower(&mut id_text);
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let status = e.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("request body is over the limit of {MAX_DECIDE_BYTES} bytes")
            } else {
                e.body_text()
            };
            app.metrics.decision(None, Outcome::InvalidRequest);
            let record = refused_record(&message, id_text, &revision);
            return json_response(status, record, "application/json");
        }
    };
    let Ok(Query(query)) = query else {
        return error(StatusCode::BAD_REQUEST, "invalid query string");
    };
    if query.max_options.is_some_and(|n| n > MAX_WHY_NOT_OPTIONS) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("max_options is at most {MAX_WHY_NOT_OPTIONS}"),
        );
    }
    let set = &snap.set;
    let mut decider = LineDecider::with_tables(set, &snap.tables);
    let mut out = Vec::with_capacity(512);
    let start = Instant::now();
    let ok = decider.decide(1, &body, &mut out);
    let eval_ns = nanos(start.elapsed());
    // `{...}\n` → `{...` so the extra fields can follow.
    out.truncate(out.len().saturating_sub(2));
    let record_end = out.len();
    let action = ok.then(|| set.schema().action(decider.request().action).name.as_str());
    let outcome = if ok {
        Outcome::from_cause(decider.decision().cause)
    } else {
        Outcome::InvalidRequest
    };
    app.metrics.decision(action, outcome);
    out.extend_from_slice(b",\"decision_id\":\"");
    out.extend_from_slice(id_text.as_bytes());
    out.extend_from_slice(b"\",\"revision\":\"");
    out.extend_from_slice(revision.as_bytes());
    out.push(b'"');
    if ok && query.explain {
        out.extend_from_slice(b",\"explanation\":");
        let e = crate::report::explanation_json(set, &set.explain(decider.request()));
        let _ = serde_json::to_writer(&mut out, &e);
    }
    if ok && query.why_not {
        let options = WhyNotOptions {
            max_options: query
                .max_options
                .unwrap_or(WhyNotOptions::default().max_options),
            hold: Vec::new(),
        };
        // On a thread of its own, so the guard's timeout can answer 503 while it runs;
        // the analysis stops at the same deadline (within one diagram operation), and
        // the request holds its concurrency permit until then.
        let deadline = deadline.map_or_else(|| Instant::now() + app.timeout, |d| d.0.0);
        let request = decider.request().clone();
        let task_snap = snap.clone();
        let found = tokio::task::spawn_blocking(move || {
            Analyzer::until(&task_snap.set, deadline).counterfactuals(&request, &options)
        })
        .await;
        let result = match found {
            Ok(Err(AnalysisError::Cancelled)) => {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the request took longer than the timeout",
                );
            }
            Ok(r) => WhyNotResult::from(r),
            Err(_) => {
                return error(StatusCode::INTERNAL_SERVER_ERROR, "the analysis failed");
            }
        };
        out.extend_from_slice(b",\"counterfactuals\":");
        let _ = serde_json::to_writer(&mut out, &result);
    }
    out.push(b'}');
    if let Some(log) = &app.log {
        let head = EventHead {
            decision_id,
            timestamp: SystemTime::now(),
            revision,
            valid: ok,
            eval_ns,
            batch: None,
        };
        // Copies (into a recycled buffer): holding the body itself would keep hyper's
        // read buffer from being reused until the writer gets to it.
        let record: [&[u8]; 2] = [&out[..record_end], b"}"];
        log.send(Event::new(head, &body, &record, log.buffer()));
    }
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    json_response(status, out, "application/json")
}

/// `POST /v1/batch`, streamed (see [`super::stream`]): the answer starts at once and its
/// records follow as the lines arrive. A body declared over `--max-batch-bytes` is
/// refused with 413 before anything is read; one that turns out larger, or that is still
/// being read or answered at the timeout, has its answer cut off (the connection is
/// aborted, so the client sees an incomplete answer, never a short one that looks whole).
/// Each batch takes one thread of a pool of `--threads` for as long as it runs, and a
/// large one (or one of unknown length) also the threads that are free when it starts.
#[allow(
    clippy::too_many_lines,
    reason = "one streamed request, read to written"
)]
async fn batch(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Response {
    use super::stream::{
        CHUNK_BYTES, ChannelReader, LogTo, READ_BYTES, Stopped, decide_stream,
        decide_stream_parallel,
    };
    use futures_util::StreamExt as _;
    let limit = app.max_batch_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body is over the batch limit (--max-batch-bytes)",
        );
    }
    // Waiting for a thread of the pool counts against the timeout (the guard's).
    let Ok(slot) = app.batch_pool.clone().acquire_owned().await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    // A batch that may span a few chunks also takes the threads of the pool that are
    // free now (never waiting for them), and decides its chunks on all of them.
    let mut more = Vec::new();
    if declared.is_none_or(|n| n > 2 * CHUNK_BYTES as u64) {
        while let Ok(p) = app.batch_pool.clone().try_acquire_owned() {
            more.push(p);
        }
    }
    let deadline = tokio::time::Instant::now() + app.timeout;
    let (snap, revision) = app.snapshot();
    let batch_id: Arc<str> = Arc::from(new_id().to_string());

    // The body, piece by piece, to the deciding thread. The first piece is awaited here,
    // before the answer's head is sent: polling the body is what makes hyper send
    // `100 Continue` to a client that asked for it (curl does, for bodies over 1 MiB);
    // a head sent first would leave such a client waiting out its own timeout.
    let mut data = body.into_data_stream();
    let mut first = Some(tokio::time::timeout_at(deadline, data.next()).await);
    let (in_tx, in_rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::spawn(async move {
        let mut total = 0usize;
        loop {
            let next = match first.take() {
                Some(piece) => piece,
                None => tokio::time::timeout_at(deadline, data.next()).await,
            };
            let piece = match next {
                Ok(None) => break,
                Ok(Some(Ok(b))) => {
                    total = total.saturating_add(b.len());
                    if total > limit {
                        Err(std::io::Error::other("the body is over --max-batch-bytes"))
                    } else {
                        Ok(b)
                    }
                }
                Ok(Some(Err(e))) => Err(std::io::Error::other(e)),
                Err(_) => Err(std::io::Error::other(
                    "the request took longer than the timeout",
                )),
            };
            let end = piece.is_err();
            if in_tx.send(piece).await.is_err() || end {
                break;
            }
        }
    });

    // The records, piece by piece, to the connection.
    let (out_tx, out_rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    let task_app = app.clone();
    let task_rev = revision.clone();
    let task_id = batch_id.clone();
    let runtime = tokio::runtime::Handle::current();
    let std_deadline = deadline.into_std();
    tokio::task::spawn_blocking(move || {
        let _slots = (slot, &more);
        let input = std::io::BufReader::with_capacity(READ_BYTES, ChannelReader::new(in_rx));
        let log = task_app.log.as_ref().map(|log| LogTo {
            log,
            revision: &task_rev,
            batch_id: &task_id,
        });
        // Waits for room while the client reads, until the deadline.
        let mut send = |piece: Vec<u8>| {
            let item = Ok(Bytes::from(piece));
            matches!(
                runtime.block_on(tokio::time::timeout_at(deadline, out_tx.send(item))),
                Ok(Ok(()))
            )
        };
        let stop = || Instant::now() >= std_deadline;
        let mut counts = DecisionCounts::default();
        let result = if more.is_empty() {
            decide_stream(&snap, input, &mut send, log.as_ref(), &mut counts, &stop)
        } else {
            let threads = 1 + more.len();
            decide_stream_parallel(
                &snap,
                input,
                &mut send,
                log.as_ref(),
                &mut counts,
                &stop,
                threads,
            )
        };
        task_app.metrics.merge(&counts);
        let why = match result {
            Ok(()) | Err(Stopped::Gone) => return,
            Err(Stopped::Read(e)) => e.to_string(),
            Err(Stopped::Cancelled) => "the request took longer than the timeout".to_owned(),
        };
        // Ends the answer with an error: the connection is aborted mid-body.
        let _ = out_tx.try_send(Err(std::io::Error::other(why)));
    });
    let records = futures_util::stream::unfold(out_rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut r = Response::new(axum::body::Body::from_stream(records));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    for (name, value) in [
        ("x-mailgate-revision", &*revision),
        ("x-mailgate-batch-id", &*batch_id),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            r.headers_mut().insert(name, v);
        }
    }
    r
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// The body of `GET /v1/status`.
pub(crate) fn status_json(app: &App) -> serde_json::Value {
    let (snap, _) = app.snapshot();
    let last = app.last_reload.lock().map(|l| l.clone()).ok();
    serde_json::json!({
        "revision": &*snap.revision,
        "loaded_at": rfc3339(snap.loaded_at),
        "files": snap.policy_files,
        "rules": snap.set.rules().len(),
        "actions": snap.set.schema().actions.len(),
        "source": match &app.origin {
            Origin::Dir(d) => d.display().to_string(),
            Origin::Embedded => "built-in".to_owned(),
        },
        "last_reload": last,
        // No log is a log that is fine; with one, false after a failed write or a
        // dropped decision, until the next successful flush.
        "log_ok": app.log.is_none()
            || app.metrics.log.ok.load(std::sync::atomic::Ordering::Relaxed),
        "watching": app
            .watching
            .as_ref()
            .is_some_and(|w| w.load(std::sync::atomic::Ordering::Relaxed)),
    })
}

async fn status(State(app): State<Arc<App>>) -> Response {
    let body = status_json(&app).to_string().into_bytes();
    json_response(StatusCode::OK, body, "application/json")
}

async fn reload(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if !is_loopback(peer.ip()) {
        return error(
            StatusCode::FORBIDDEN,
            "reload is only accepted from the loopback interface",
        );
    }
    let last = super::reload(&app, "http").await;
    let status = if last.ok {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let body = serde_json::to_vec(&last).unwrap_or_default();
    json_response(status, body, "application/json")
}

async fn live() -> Response {
    json_response(
        StatusCode::OK,
        br#"{"status":"alive"}"#.to_vec(),
        "application/json",
    )
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    // The service never runs without a valid set, and a failed reload keeps the last
    // good one: once listening, it is ready.
    let (_, revision) = app.snapshot();
    let body = serde_json::json!({"status": "ready", "revision": &*revision});
    json_response(
        StatusCode::OK,
        body.to_string().into_bytes(),
        "application/json",
    )
}

/// `GET /metrics`: the `OpenMetrics` text, labelled as such when the scraper asks for it (as
/// Prometheus does), and as the Prometheus text format otherwise (whose parsers read the
/// same lines; `# EOF` is a comment there).
async fn metrics(State(app): State<Arc<App>>, headers: axum::http::HeaderMap) -> Response {
    let (_, revision) = app.snapshot();
    let text = app.metrics.render(&revision);
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let content_type = if openmetrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    json_response(StatusCode::OK, text.into_bytes(), content_type)
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such endpoint")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_content_and_length() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer t"), Some("t"));
        assert_eq!(bearer("bearer t"), Some("t"));
        assert_eq!(bearer("BEARER  t "), Some("t"));
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Basic t"), None);
        assert_eq!(bearer("Bearert"), None);
    }

    #[test]
    fn ipv4_mapped_loopback_is_loopback() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(is_loopback(ip("127.0.0.1")));
        assert!(is_loopback(ip("::1")));
        assert!(is_loopback(ip("::ffff:127.0.0.1")));
        assert!(is_loopback(ip("::ffff:127.1.2.3")));
        assert!(!is_loopback(ip("::ffff:10.0.0.1")));
        assert!(!is_loopback(ip("10.0.0.1")));
    }
}
