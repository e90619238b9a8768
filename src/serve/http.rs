//! The HTTP API: routes, handlers, one middleware for concurrency, timeouts and latency
//! metrics, and one outermost layer for authentication, so every route needs the token
//! unless it is one of the two health probes.

use super::log::{DecisionLog, Event};
use super::metrics::{DecisionCounts, Metrics, Outcome};
use super::snapshot::Snapshot;
use crate::analysis::{Analyzer, WhyNotOptions, WhyNotResult};
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
    /// Threads that decide the lines of one large batch (the runtime's worker count).
    pub(crate) batch_threads: usize,
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

/// The concurrency limit, the timeout, and the latency histogram.
async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let handler = handler_label(req.uri().path());
    let method = method_label(req.method());
    let response = {
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

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
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

async fn decide(
    State(app): State<Arc<App>>,
    query: Result<Query<DecideQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (snap, revision) = app.snapshot();
    let decision_id = new_id();
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
            let record = refused_record(&message, &decision_id, &revision);
            return json_response(status, record, "application/json");
        }
    };
    let Ok(Query(query)) = query else {
        return error(StatusCode::BAD_REQUEST, "invalid query string");
    };
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
    out.extend_from_slice(decision_id.as_bytes());
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
        let analyzer = Analyzer::new(set);
        let result = WhyNotResult::from(analyzer.counterfactuals(decider.request(), &options));
        out.extend_from_slice(b",\"counterfactuals\":");
        let _ = serde_json::to_writer(&mut out, &result);
    }
    out.push(b'}');
    if let Some(log) = &app.log {
        let mut record = out[..record_end].to_vec();
        record.push(b'}');
        log.send(Event {
            decision_id,
            timestamp: SystemTime::now(),
            revision,
            input: body,
            valid: ok,
            record,
            eval_ns,
            batch: None,
        });
    }
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    json_response(status, out, "application/json")
}

/// Bodies smaller than this are decided on one thread.
const PARALLEL_BATCH_BYTES: usize = 1 << 20;

/// Decides every line of `body` exactly as `eval --batch` does (same line splitting,
/// same records, in order), logging each line when a log is on.
///
/// A large body without a decision log is cut at line ends into `threads` parts that are
/// decided at once, and their records joined in order. With a log, one thread decides
/// every line, so the log lists a batch in line order.
fn decide_batch(
    snap: &Snapshot,
    revision: &Arc<str>,
    body: &Bytes,
    log: Option<&DecisionLog>,
    batch_id: &Arc<str>,
    counts: &mut DecisionCounts,
    threads: usize,
) -> Vec<u8> {
    if threads <= 1 || log.is_some() || body.len() < PARALLEL_BATCH_BYTES {
        let job = Lines {
            snap,
            revision,
            body,
            log,
            batch_id,
        };
        return job.decide(0..body.len(), 1, counts);
    }
    // Part boundaries just after a newline, so no line is split.
    let mut bounds = vec![0];
    for k in 1..threads {
        let from = (body.len() * k / threads).max(bounds.last().copied().unwrap_or(0));
        let cut = memchr::memchr(b'\n', body.get(from..).unwrap_or_default())
            .map_or(body.len(), |i| from + i + 1);
        bounds.push(cut);
    }
    bounds.push(body.len());
    // The number of each part's first line.
    let mut first = Vec::with_capacity(threads);
    let mut line_no = 1u64;
    for w in bounds.windows(2) {
        first.push(line_no);
        line_no += memchr::memchr_iter(b'\n', &body[w[0]..w[1]]).count() as u64;
    }
    let parts: Vec<(Vec<u8>, DecisionCounts)> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .windows(2)
            .zip(&first)
            .map(|(w, &first)| {
                let range = w[0]..w[1];
                scope.spawn(move || {
                    let job = Lines {
                        snap,
                        revision,
                        body,
                        log: None,
                        batch_id,
                    };
                    let mut counts = DecisionCounts::default();
                    let out = job.decide(range, first, &mut counts);
                    (out, counts)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    // The first part's records are kept in place; the others are appended to them.
    let total: usize = parts.iter().map(|(o, _)| o.len()).sum();
    let mut out = Vec::new();
    for (o, c) in parts {
        if out.is_empty() {
            out = o;
            out.reserve(total - out.len());
        } else {
            out.extend_from_slice(&o);
        }
        counts.absorb(c);
    }
    out
}

/// The lines of one batch body, and where their decisions are logged.
struct Lines<'a> {
    snap: &'a Snapshot,
    revision: &'a Arc<str>,
    body: &'a Bytes,
    log: Option<&'a DecisionLog>,
    batch_id: &'a Arc<str>,
}

impl Lines<'_> {
    /// Decides the lines of `body[range]`, the first of which is line `first_line`.
    fn decide(
        &self,
        range: std::ops::Range<usize>,
        first_line: u64,
        counts: &mut DecisionCounts,
    ) -> Vec<u8> {
        let Lines {
            snap,
            revision,
            body,
            log,
            batch_id,
        } = *self;
        let set = &snap.set;
        let mut decider = LineDecider::with_tables(set, &snap.tables);
        let part = body.get(range.clone()).unwrap_or_default();
        let mut out = Vec::with_capacity(part.len() + part.len() / 2);
        let mut rest: &[u8] = part;
        let mut line_no = first_line - 1;
        // Counted per action index here, and by name once at the end.
        let actions = &set.schema().actions;
        let invalid = actions.len();
        let mut by_action = vec![[0u64; 4]; invalid + 1];
        while !rest.is_empty() {
            let (mut line, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            rest = next;
            line_no += 1;
            // The batch reader strips a `\r` only from lines within the limit.
            if line.len() <= MAX_BATCH_LINE_BYTES
                && let Some(l) = line.strip_suffix(b"\r")
            {
                line = l;
            }
            let at = out.len();
            // The clock is read only for the decision log, which records it.
            let start = log.map(|_| Instant::now());
            let ok = decider.decide(line_no, line, &mut out);
            let eval_ns = start.map_or(0, |s| nanos(s.elapsed()));
            let (row, outcome) = if ok {
                (
                    decider.request().action as usize,
                    Outcome::from_cause(decider.decision().cause),
                )
            } else {
                (invalid, Outcome::InvalidRequest)
            };
            if let Some(c) = by_action.get_mut(row) {
                c[outcome as usize] += 1;
            }
            if let Some(log) = log {
                let end = out.len().saturating_sub(1);
                let offset = line.as_ptr() as usize - body.as_ptr() as usize;
                log.send(Event {
                    decision_id: new_id(),
                    timestamp: SystemTime::now(),
                    revision: revision.clone(),
                    input: body.slice(offset..offset + line.len()),
                    valid: ok,
                    record: out[at..end].to_vec(),
                    eval_ns,
                    batch: Some((batch_id.clone(), line_no)),
                });
            }
        }
        for (i, c) in by_action.iter().enumerate() {
            counts.add_counts(actions.get(i).map(|a| a.name.as_str()), *c);
        }
        out
    }
}

async fn batch(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let status = e.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "request body is over the batch limit (--max-batch-bytes)".to_owned()
            } else {
                e.body_text()
            };
            return error(status, &message);
        }
    };
    let (snap, revision) = app.snapshot();
    let batch_id: Arc<str> = Arc::from(new_id());
    let task_app = app.clone();
    let task_rev = revision.clone();
    let task_id = batch_id.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut counts = DecisionCounts::default();
        let out = decide_batch(
            &snap,
            &task_rev,
            &body,
            task_app.log.as_ref(),
            &task_id,
            &mut counts,
            task_app.batch_threads,
        );
        task_app.metrics.merge(&counts);
        out
    })
    .await;
    match result {
        Ok(out) => {
            let mut r = json_response(StatusCode::OK, out, "application/x-ndjson");
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
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "the batch failed"),
    }
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

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let (_, revision) = app.snapshot();
    let text = app.metrics.render(&revision);
    json_response(
        StatusCode::OK,
        text.into_bytes(),
        "text/plain; version=0.0.4; charset=utf-8",
    )
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

    #[test]
    fn batch_splits_lines_like_eval_batch() {
        let snap = super::super::snapshot::load(&Origin::Embedded).unwrap();
        let rev: Arc<str> = Arc::from("r");
        let id: Arc<str> = Arc::from("b");
        let mut counts = DecisionCounts::default();
        let mut run = |body: &'static [u8]| {
            let out = decide_batch(
                &snap,
                &rev,
                &Bytes::from_static(body),
                None,
                &id,
                &mut counts,
                1,
            );
            let mut expected = Vec::new();
            crate::batch::run(&snap.set, body, &mut expected, 1).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        };
        run(b"");
        run(b"\n");
        run(b"{}\r\n\n[1]");
        run(b"{\"action\":\"nope\"}\n{\"action\":\"sync_incoming_email\"}\n");
    }

    /// A body large enough to be cut into parts gives the records of one thread, in
    /// order and numbered alike, and the same counts, whatever the number of parts.
    #[test]
    fn a_large_batch_decided_in_parts_equals_one_thread() {
        let snap = super::super::snapshot::load(&Origin::Embedded).unwrap();
        let rev: Arc<str> = Arc::from("r");
        let id: Arc<str> = Arc::from("b");
        let orgs = crate::generate::org_variants();
        let mut body = Vec::new();
        for (i, r) in crate::generate::requests(8, 4000).iter().enumerate() {
            // Some bad lines, empty lines and CRLF endings among them.
            match i % 500 {
                7 => body.extend_from_slice(b"{\"action\":\"nope\"}"),
                8 => {}
                _ => body.extend_from_slice(r.to_json(&orgs).as_bytes()),
            }
            body.extend_from_slice(if i % 3 == 0 { b"\r\n" } else { b"\n" });
        }
        body.extend_from_slice(b"{\"action\":");
        let body = Bytes::from(body);
        assert!(body.len() > PARALLEL_BATCH_BYTES);
        let decide = |threads| {
            let mut counts = DecisionCounts::default();
            let out = decide_batch(&snap, &rev, &body, None, &id, &mut counts, threads);
            (String::from_utf8(out).unwrap(), counts.0)
        };
        let one = decide(1);
        assert_eq!(one.0.lines().count(), 4001);
        for threads in [2, 3, 7] {
            assert_eq!(decide(threads), one, "{threads} threads");
        }
    }
}
