//! The decision log: one JSON object per decision, written by a thread of its own.
//!
//! A request hands the writer the raw input and the output record through a queue
//! bounded in bytes and never waits: when the queue is full the event is dropped and
//! counted. All JSON work (parsing the input, masking, composing the line) happens on
//! the writer thread, off the request path, and everything waiting is written with one
//! flush.
//!
//! Masking (`--log-mask PATH`) applies to every logged input:
//!
//! - a valid request, and an invalid one that is still JSON, lose the masked paths;
//! - input that is not JSON is logged as `{"input_bytes": N, "input_sha256": "..."}`;
//! - the error messages of an invalid request keep only the schema's own names between
//!   backticks, so no value the client sent (masked or not) is echoed into the log.

use super::metrics::Metrics;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Instant, SystemTime};

/// Bytes that may wait for the writer by default (`--log-queue-bytes`).
pub(crate) const DEFAULT_QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// One decision to log.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) decision_id: uuid::Uuid,
    pub(crate) timestamp: SystemTime,
    pub(crate) revision: Arc<str>,
    /// The request as received, then the output record (one JSON object): one buffer,
    /// taken from [`DecisionLog::buffer`], so that an event costs no allocation once the
    /// log has warmed up, and nothing is freed on a thread other than the one that
    /// allocated it.
    data: Vec<u8>,
    /// Where the input ends and the record begins in `data`.
    input_len: usize,
    /// Whether the request was valid.
    pub(crate) valid: bool,
    pub(crate) eval_ns: u64,
    /// For a line of a batch: the batch's id and the line number.
    pub(crate) batch: Option<(Arc<str>, u64)>,
}

/// What goes into an [`Event`] besides its input and record.
#[derive(Debug)]
pub(crate) struct EventHead {
    pub(crate) decision_id: uuid::Uuid,
    pub(crate) timestamp: SystemTime,
    pub(crate) revision: Arc<str>,
    pub(crate) valid: bool,
    pub(crate) eval_ns: u64,
    pub(crate) batch: Option<(Arc<str>, u64)>,
}

impl Event {
    /// The event of `head`, holding copies of `input` and of the record (the
    /// concatenation of `record`) in `buf` (cleared first; from [`DecisionLog::buffer`]).
    pub(crate) fn new(head: EventHead, input: &[u8], record: &[&[u8]], mut buf: Vec<u8>) -> Event {
        buf.clear();
        buf.reserve(input.len() + record.iter().map(|r| r.len()).sum::<usize>());
        buf.extend_from_slice(input);
        for part in record {
            buf.extend_from_slice(part);
        }
        Event {
            decision_id: head.decision_id,
            timestamp: head.timestamp,
            revision: head.revision,
            data: buf,
            input_len: input.len(),
            valid: head.valid,
            eval_ns: head.eval_ns,
            batch: head.batch,
        }
    }

    /// The request as received.
    fn input(&self) -> &[u8] {
        self.data.get(..self.input_len).unwrap_or_default()
    }

    /// The output record.
    fn record(&self) -> &[u8] {
        self.data.get(self.input_len..).unwrap_or_default()
    }

    /// What the event holds in memory while it waits, roughly.
    fn cost(&self) -> usize {
        std::mem::size_of::<Event>() + self.data.capacity()
    }
}

/// The masks and what the writer needs to apply them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Masks {
    /// Each path, split at dots (`user.upn` → `["user", "upn"]`).
    paths: Vec<Vec<String>>,
    /// The schema's own names (attributes, entities, slots, actions, enums and their
    /// members, type names): the only text kept between backticks in a logged error.
    names: HashSet<String>,
}

/// A `--log-mask` path that is not an input path of the schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`--log-mask {path}`: no request has an input path `{path}`{}", help.as_ref().map(|h| format!("; did you mean `{h}`?")).unwrap_or_default())]
pub struct UnknownMask {
    /// The path as given.
    pub path: String,
    /// A close path, if there is one.
    pub help: Option<String>,
}

impl Masks {
    /// Checks every path against the input paths of `set` (an attribute path such as
    /// `user.upn`, or a whole entity such as `user`).
    pub(crate) fn new(
        set: &crate::compile::CompiledSet,
        paths: &[String],
    ) -> Result<Masks, UnknownMask> {
        let schema = set.schema();
        let mut known: Vec<String> = Vec::new();
        for a in 0..schema.actions.len() {
            let Ok(id) = crate::schema::ActionId::try_from(a) else {
                continue;
            };
            for p in &set.layout(id).paths {
                if let Some((head, _)) = p.split_once('.')
                    && !known.iter().any(|k| k == head)
                {
                    known.push(head.to_owned());
                }
                if !known.contains(p) {
                    known.push(p.clone());
                }
            }
        }
        for p in paths {
            if !known.contains(p) {
                let help = crate::diagnostics::did_you_mean(p, known.iter().map(String::as_str))
                    .and_then(|h| {
                        h.strip_prefix("did you mean `")
                            .and_then(|h| h.strip_suffix("`?"))
                            .map(str::to_owned)
                    });
                return Err(UnknownMask {
                    path: p.clone(),
                    help,
                });
            }
        }
        let mut names = HashSet::new();
        for e in &schema.entities {
            names.insert(e.name.clone());
            names.extend(e.plural.clone());
            for a in &e.attrs {
                names.insert(a.name.clone());
                names.insert(schema.type_name(a.ty));
            }
        }
        for e in &schema.enums {
            names.insert(e.name.clone());
            names.extend(e.values.iter().cloned());
        }
        for a in &schema.actions {
            names.insert(a.name.clone());
            names.extend(a.slots.iter().map(|s| s.name.clone()));
            for p in &a.params {
                names.insert(p.name.clone());
                names.insert(schema.type_name(p.ty));
            }
        }
        for t in [
            "string", "bool", "int", "integer", "object", "array", "null", "action", "request",
        ] {
            names.insert(t.to_owned());
        }
        Ok(Masks {
            paths: paths
                .iter()
                .map(|m| m.split('.').map(str::to_owned).collect())
                .collect(),
            names,
        })
    }

    fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}

/// The queue between the requests and the writer.
#[derive(Debug, Default)]
struct Queue {
    events: VecDeque<Event>,
    bytes: usize,
    /// Buffers the writer is done with, for [`DecisionLog::buffer`] to hand out again.
    spare: Vec<Vec<u8>>,
    /// The capacity of `spare`'s buffers, together (at most [`SPARE_BYTES`]).
    spare_bytes: usize,
    stop: bool,
    /// The writer is waiting for an event: the next `send` wakes it. While it works or
    /// gathers, nobody signals it, so a busy log costs the requests no system call.
    writer_idle: bool,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    capacity: usize,
    /// Events the writer has taken but not yet flushed.
    unflushed: std::sync::atomic::AtomicUsize,
    /// Set by the writer thread when it has written everything and returned.
    done: Mutex<bool>,
    finished: Condvar,
}

/// Most bytes of spare buffers kept for reuse (beyond `--log-queue-bytes`).
const SPARE_BYTES: usize = 1 << 20;

/// A buffer larger than this is freed rather than kept for reuse.
const SPARE_BUFFER: usize = 64 * 1024;

/// The writer side, shared by all requests.
#[derive(Debug)]
pub(crate) struct DecisionLog {
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
}

impl DecisionLog {
    /// Starts the writer thread on `out`, with at most `capacity` bytes waiting.
    pub(crate) fn start(
        out: Box<dyn Write + Send>,
        masks: Masks,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            capacity: capacity.max(1),
            unflushed: std::sync::atomic::AtomicUsize::new(0),
            done: Mutex::new(false),
            finished: Condvar::new(),
        });
        let thread_shared = shared.clone();
        let thread_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("decision-log".to_owned())
            .spawn(move || {
                writer(&thread_shared, out, &masks, &thread_metrics);
                if let Ok(mut d) = thread_shared.done.lock() {
                    *d = true;
                }
                thread_shared.finished.notify_all();
            })?;
        Ok(DecisionLog { shared, metrics })
    }

    /// A buffer for the next [`Event`]: one the writer is done with, or a new one.
    pub(crate) fn buffer(&self) -> Vec<u8> {
        self.shared
            .queue
            .lock()
            .ok()
            .and_then(|mut q| {
                let b = q.spare.pop()?;
                q.spare_bytes = q.spare_bytes.saturating_sub(b.capacity());
                Some(b)
            })
            .unwrap_or_default()
    }

    /// Queues an event without waiting; counts it as dropped if it does not fit.
    pub(crate) fn send(&self, event: Event) {
        let cost = event.cost();
        let mut wake = false;
        let queued = self.shared.queue.lock().is_ok_and(|mut q| {
            if q.stop || q.bytes + cost > self.shared.capacity {
                return false;
            }
            q.bytes += cost;
            q.events.push_back(event);
            wake = std::mem::take(&mut q.writer_idle);
            true
        });
        if wake {
            self.shared.ready.notify_one();
        }
        if !queued {
            self.metrics.log_dropped.inc();
            self.metrics.log.ok.store(false, Ordering::Relaxed);
        }
    }

    /// Writes everything queued, flushes, and stops the writer, waiting at most until
    /// `deadline`. Past it (a stalled sink), the events still queued count as dropped and
    /// the writer is left behind.
    pub(crate) fn close(&self, deadline: Instant) {
        if let Ok(mut q) = self.shared.queue.lock() {
            q.stop = true;
        }
        self.shared.ready.notify_all();
        let Ok(mut done) = self.shared.done.lock() else {
            return;
        };
        while !*done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.shared.finished.wait_timeout(done, left) {
                Ok((d, _)) => done = d,
                Err(_) => return,
            }
        }
        if !*done {
            drop(done);
            let queued = self.shared.queue.lock().map_or(0, |mut q| {
                let n = q.events.len();
                q.events.clear();
                q.bytes = 0;
                n
            });
            let left = queued + self.shared.unflushed.load(Ordering::Relaxed);
            self.metrics
                .log_dropped
                .inc_by(u64::try_from(left).unwrap_or(u64::MAX));
            super::note(&format!(
                "mailgate: the decision log did not drain before the deadline; {left} queued decision{} dropped",
                if left == 1 { "" } else { "s" }
            ));
        }
    }
}

/// Whether the log's writes have been succeeding, and how many failed.
#[derive(Debug)]
pub(crate) struct LogHealth {
    pub(crate) ok: AtomicBool,
    pub(crate) write_errors: prometheus_client::metrics::counter::Counter,
}

impl Default for LogHealth {
    fn default() -> Self {
        LogHealth {
            ok: AtomicBool::new(true),
            write_errors: prometheus_client::metrics::counter::Counter::default(),
        }
    }
}

/// How many events the writer takes from the queue at once.
const BATCH: usize = 4096;

/// How long the writer lets events gather once the first one has arrived.
const GATHER: std::time::Duration = std::time::Duration::from_millis(5);

fn writer(shared: &Shared, out: Box<dyn Write + Send>, masks: &Masks, metrics: &Metrics) {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    let mut line = Vec::with_capacity(1024);
    let mut batch: Vec<Event> = Vec::with_capacity(BATCH);
    // Buffers of written events, handed back to the requests at the next lock.
    let mut done: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut reported = false;
    let fail = |e: &std::io::Error, reported: &mut bool| {
        metrics.log.write_errors.inc();
        metrics.log.ok.store(false, Ordering::Relaxed);
        if !*reported {
            *reported = true;
            super::note(&format!("mailgate: cannot write the decision log: {e}"));
        }
    };
    loop {
        // Waits for the first event, then lets more gather for `GATHER` (unless a batch is
        // already full or the log is closing), so the writer wakes, composes and writes
        // a few hundred times a second at most, not once per decision.
        let gather = {
            let Ok(mut q) = shared.queue.lock() else {
                return;
            };
            while q.events.is_empty() && !q.stop {
                q.writer_idle = true;
                q = match shared.ready.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
            q.writer_idle = false;
            !q.stop && q.events.len() < BATCH
        };
        if gather {
            std::thread::sleep(GATHER);
        }
        let stop = {
            let Ok(mut q) = shared.queue.lock() else {
                return;
            };
            for b in done.drain(..) {
                if b.capacity() <= SPARE_BUFFER && q.spare_bytes + b.capacity() <= SPARE_BYTES {
                    q.spare_bytes += b.capacity();
                    q.spare.push(b);
                }
            }
            let n = q.events.len().min(BATCH);
            batch.extend(q.events.drain(..n));
            shared.unflushed.fetch_add(n, Ordering::Relaxed);
            let freed: usize = batch.iter().map(Event::cost).sum();
            q.bytes = q.bytes.saturating_sub(freed);
            q.stop && q.events.is_empty()
        };
        let mut failed = false;
        for e in batch.drain(..) {
            line.clear();
            compose(&e, masks, &mut line);
            if let Err(err) = out.write_all(&line) {
                failed = true;
                fail(&err, &mut reported);
            }
            let mut data = e.data;
            data.clear();
            done.push(data);
        }
        let flushed = out.flush();
        shared.unflushed.store(0, Ordering::Relaxed);
        match flushed {
            Ok(()) if !failed => metrics.log.ok.store(true, Ordering::Relaxed),
            Ok(()) => {}
            Err(err) => fail(&err, &mut reported),
        }
        if stop {
            return;
        }
    }
}

#[derive(Serialize)]
struct Line<'a> {
    decision_id: &'a str,
    timestamp: String,
    revision: &'a str,
    action: Value,
    input: Input<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    erased: Vec<String>,
    result: LogResult<'a>,
    eval_ns: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch: Option<BatchRef<'a>>,
}

/// The logged input.
#[derive(Serialize)]
#[serde(untagged)]
enum Input<'a> {
    /// As received (valid JSON on one line, nothing to mask).
    Raw(&'a RawValue),
    /// Parsed (and masked).
    Value(Value),
    /// An invalid request, unmasked: as received, as a string.
    Text(String),
    /// Not JSON, under masks: its size and digest only.
    Digest {
        input_bytes: usize,
        input_sha256: String,
    },
}

#[derive(Serialize)]
struct BatchRef<'a> {
    id: &'a str,
    line: u64,
}

#[derive(Serialize, serde::Deserialize, Default)]
struct LogResult<'a> {
    #[serde(borrow)]
    decision: Option<&'a RawValue>,
    #[serde(borrow)]
    cause: Option<&'a RawValue>,
    #[serde(borrow)]
    rules: Option<&'a RawValue>,
    #[serde(borrow)]
    reasons: Option<&'a RawValue>,
    #[serde(borrow)]
    errors: Option<&'a RawValue>,
}

/// The record's `errors`, with every backtick-quoted span that is not one of the
/// schema's names replaced by `…`.
fn scrub_errors(errors: Option<&RawValue>, masks: &Masks) -> Value {
    let list: Vec<String> = errors
        .and_then(|e| serde_json::from_str(e.get()).ok())
        .unwrap_or_default();
    Value::Array(
        list.into_iter()
            .map(|m| Value::String(scrub(&m, &masks.names)))
            .collect(),
    )
}

/// `m` with the content of each `` `...` `` span kept only when it is in `names`.
fn scrub(m: &str, names: &HashSet<String>) -> String {
    let mut out = String::with_capacity(m.len());
    let mut parts = m.split('`');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    let mut inside = true;
    for p in parts {
        out.push('`');
        if inside && !names.contains(p) {
            out.push('…');
        } else {
            out.push_str(p);
        }
        inside = !inside;
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Composes one log line (with its newline) for `e`.
fn compose(e: &Event, masks: &Masks, out: &mut Vec<u8>) {
    if !(masks.is_empty() && e.valid && splice(e, out)) {
        out.clear();
        compose_parsed(e, masks, out);
    }
}

/// The common case, composed without reading the input or the record again: a valid
/// request on one line, no masks, and a record as [`crate::batch`] writes it
/// (`{"line":N,` then the result's members, and no `counterfactuals`). The input is
/// spliced in as received: a request the batch reader accepted is one JSON object (its
/// fast reader accepts a strict subset of what `serde_json` accepts, and otherwise
/// `serde_json` has read it). Gives `false`, having written nothing, when the event is
/// not of that kind; [`compose_parsed`] then composes the same line by parsing both.
fn splice(e: &Event, out: &mut Vec<u8>) -> bool {
    let input = e.input();
    let record = e.record();
    let Some(result) = result_members(record) else {
        return false;
    };
    if memchr::memchr2(b'\n', b'\r', input).is_some() {
        return false;
    }
    let Some(action) = leading_action(input) else {
        return false;
    };
    out.extend_from_slice(b"{\"decision_id\":\"");
    out.extend_from_slice(
        e.decision_id
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer())
            .as_bytes(),
    );
    out.extend_from_slice(b"\",\"timestamp\":\"");
    let _ = write!(out, "{}", humantime::format_rfc3339_micros(e.timestamp));
    out.extend_from_slice(b"\",\"revision\":");
    let _ = serde_json::to_writer(&mut *out, &*e.revision);
    out.extend_from_slice(b",\"action\":\"");
    out.extend_from_slice(action);
    out.extend_from_slice(b"\",\"input\":");
    // Trailing spaces are left out, as `serde_json` leaves them out of a raw value.
    out.extend_from_slice(input.trim_ascii_end());
    out.extend_from_slice(b",\"result\":{");
    out.extend_from_slice(result);
    out.extend_from_slice(b",\"eval_ns\":");
    out.extend_from_slice(itoa::Buffer::new().format(e.eval_ns).as_bytes());
    if let Some((id, line)) = &e.batch {
        out.extend_from_slice(b",\"batch\":{\"id\":");
        let _ = serde_json::to_writer(&mut *out, &**id);
        out.extend_from_slice(b",\"line\":");
        out.extend_from_slice(itoa::Buffer::new().format(*line).as_bytes());
        out.push(b'}');
    }
    out.extend_from_slice(b"}\n");
    true
}

/// The members of a decision record after its `"line"` (with the closing brace): of
/// `{"line":12,"decision":...,"errors":[]}`, `"decision":...,"errors":[]}`. `None` for
/// a record of another shape, or one with `counterfactuals` (which the log leaves out);
/// a key can be found by its bytes, since a quote inside a JSON string is escaped.
fn result_members(record: &[u8]) -> Option<&[u8]> {
    let rest = record.strip_prefix(b"{\"line\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let members = rest.get(digits..)?.strip_prefix(b",")?;
    if digits == 0
        || !members.starts_with(b"\"decision\":")
        || !members.ends_with(b"]}")
        || memchr::memmem::find(members, b",\"counterfactuals\":").is_some()
        || memchr::memmem::find(members, b",\"error\":").is_some()
    {
        return None;
    }
    Some(members)
}

/// The action of a request written as writers usually write it, `{"action":"NAME",`
/// with no escape in the name (so it is logged byte for byte as `serde_json` would
/// write it).
fn leading_action(input: &[u8]) -> Option<&[u8]> {
    let rest = input.strip_prefix(b"{\"action\":\"")?;
    let end = memchr::memchr(b'"', rest)?;
    let name = rest.get(..end)?;
    (!name.contains(&b'\\')).then_some(name)
}

/// Composes one log line (with its newline) for `e` by parsing its input and record.
fn compose_parsed(e: &Event, masks: &Masks, out: &mut Vec<u8>) {
    let input_bytes = e.input();
    let mut result: LogResult<'_> = serde_json::from_slice(e.record()).unwrap_or_default();
    let one_line = !input_bytes.iter().any(|&b| b == b'\n' || b == b'\r');
    let mut erased = Vec::new();
    let mut action = Value::Null;
    let mut scrubbed = None;
    let input = if masks.is_empty() {
        if !e.valid {
            // Logged as received, as a string: replaying it is refused again.
            Input::Text(String::from_utf8_lossy(input_bytes).into_owned())
        } else if let (true, Ok(raw)) = (one_line, serde_json::from_slice::<&RawValue>(input_bytes))
        {
            action = action_of(raw);
            Input::Raw(raw)
        } else {
            let v: Value = serde_json::from_slice(input_bytes).unwrap_or(Value::Null);
            action = v.get("action").cloned().unwrap_or(Value::Null);
            Input::Value(v)
        }
    } else {
        match serde_json::from_slice::<Value>(input_bytes) {
            Ok(mut v) => {
                if e.valid {
                    action = v.get("action").cloned().unwrap_or(Value::Null);
                }
                erased = erase(&mut v, &masks.paths);
                Input::Value(v)
            }
            Err(_) => Input::Digest {
                input_bytes: input_bytes.len(),
                input_sha256: sha256_hex(input_bytes),
            },
        }
    };
    if !masks.is_empty() && !e.valid {
        scrubbed = Some(scrub_errors(result.errors, masks));
        result.errors = None;
    }
    let scrubbed_raw = scrubbed
        .as_ref()
        .and_then(|v| serde_json::value::to_raw_value(v).ok());
    if let Some(raw) = &scrubbed_raw {
        result.errors = Some(raw);
    }
    let mut id = uuid::Uuid::encode_buffer();
    let line = Line {
        decision_id: e.decision_id.hyphenated().encode_lower(&mut id),
        timestamp: humantime::format_rfc3339_micros(e.timestamp).to_string(),
        revision: &e.revision,
        action,
        input,
        erased,
        result,
        eval_ns: e.eval_ns,
        batch: e
            .batch
            .as_ref()
            .map(|(id, line)| BatchRef { id, line: *line }),
    };
    if serde_json::to_writer(&mut *out, &line).is_ok() {
        out.push(b'\n');
    } else {
        out.clear();
    }
}

/// The `action` member of a request object, read without building a tree.
fn action_of(raw: &RawValue) -> Value {
    #[derive(serde::Deserialize)]
    struct A<'a> {
        #[serde(borrow)]
        action: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_str::<A<'_>>(raw.get())
        .ok()
        .and_then(|a| a.action)
        .map_or(Value::Null, |a| Value::String(a.into_owned()))
}

/// `/name` as a JSON pointer token.
fn pointer_token(name: &str) -> String {
    format!("/{}", name.replace('~', "~0").replace('/', "~1"))
}

/// Removes the value at each mask path (`user.upn`) from `input`; returns the JSON
/// pointers (`/user/upn`) of what was removed.
pub(crate) fn erase(input: &mut Value, masks: &[Vec<String>]) -> Vec<String> {
    let mut erased = Vec::new();
    for path in masks {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let parent: String = parents.iter().map(|p| pointer_token(p)).collect();
        if input
            .pointer_mut(&parent)
            .and_then(Value::as_object_mut)
            .and_then(|o| o.remove(last.as_str()))
            .is_some()
        {
            erased.push(format!("{parent}{}", pointer_token(last)));
        }
    }
    erased
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    /// A sink whose writes wait while the test holds its lock.
    struct Stall(Arc<Mutex<()>>);

    impl Write for Stall {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let _held = self.0.lock();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn masks(m: &[&str]) -> Masks {
        let snap = super::super::snapshot::load(&crate::policy_set::Origin::Embedded).unwrap();
        let paths: Vec<String> = m.iter().map(|s| (*s).to_owned()).collect();
        Masks::new(&snap.set, &paths).unwrap()
    }

    const ID: uuid::Uuid = uuid::Uuid::from_u128(0x313d_64a8_323e_4e79_bfa8_9d3a_03a5_5945);

    fn event(input: &[u8], valid: bool, record: &[u8]) -> Event {
        let head = EventHead {
            decision_id: ID,
            timestamp: SystemTime::UNIX_EPOCH,
            revision: Arc::from("rev"),
            valid,
            eval_ns: 7,
            batch: None,
        };
        Event::new(head, input, &[record], Vec::new())
    }

    #[test]
    fn erase_removes_present_paths_only() {
        let mut v: Value =
            serde_json::from_str(r#"{"user":{"upn":"a@b","roles":[]},"org":{}}"#).unwrap();
        let erased = erase(
            &mut v,
            &masks(&["user.upn", "org.version", "mailbox.email"]).paths,
        );
        assert_eq!(erased, vec!["/user/upn"]);
        assert_eq!(v.to_string(), r#"{"org":{},"user":{"roles":[]}}"#);
    }

    #[test]
    fn unknown_mask_paths_are_refused_with_a_suggestion() {
        let snap = super::super::snapshot::load(&crate::policy_set::Origin::Embedded).unwrap();
        let err = Masks::new(&snap.set, &["user.upm".to_owned()]).unwrap_err();
        assert_eq!(err.help.as_deref(), Some("user.upn"));
        assert!(Masks::new(&snap.set, &["user".to_owned(), "org.version".to_owned()]).is_ok());
    }

    #[test]
    fn compose_keeps_result_fields_and_masks_input() {
        let e = event(
            br#"{"action":"a","user":{"upn":"x"}}"#,
            true,
            br#"{"line":1,"decision":"deny","cause":"no_rule_allows","rules":[],"reasons":[],"errors":[]}"#,
        );
        let mut out = Vec::new();
        compose(&e, &masks(&["user.upn"]), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            concat!(
                r#"{"decision_id":"313d64a8-323e-4e79-bfa8-9d3a03a55945","timestamp":"1970-01-01T00:00:00.000000Z","revision":"rev","action":"a","#,
                r#""input":{"action":"a","user":{}},"erased":["/user/upn"],"#,
                r#""result":{"decision":"deny","cause":"no_rule_allows","rules":[],"reasons":[],"errors":[]},"eval_ns":7}"#,
                "\n"
            )
        );
    }

    #[test]
    fn without_masks_a_valid_input_is_logged_as_received() {
        let e = event(
            br#"{"action":"a", "user":{"upn":"x"}}"#,
            true,
            br#"{"line":1,"decision":"allow","cause":"allowed","rules":["r"],"reasons":[],"errors":[]}"#,
        );
        let mut out = Vec::new();
        compose(&e, &Masks::default(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(r#""action":"a","input":{"action":"a", "user":{"upn":"x"}},"#),
            "{text}"
        );
    }

    /// The spliced line of the common case is byte for byte the line composed by
    /// parsing the input and the record: over generated requests of every action (valid
    /// and invalid), in a batch and alone, with trailing spaces, escapes and line breaks.
    #[test]
    fn the_spliced_line_is_the_parsed_line() {
        let snap = super::super::snapshot::load(&crate::policy_set::Origin::Embedded).unwrap();
        let orgs = crate::generate::org_variants();
        let mut d = crate::batch::LineDecider::with_tables(&snap.set, &snap.tables);
        let mut spliced = 0;
        for (i, r) in crate::generate::requests(11, 400).iter().enumerate() {
            let json = r.to_json(&orgs);
            let variants = [
                json.clone(),
                format!("{json}  \t"),
                json.replacen(r#""action":"#, r#""action" : "#, 1),
                json.replacen('{', "{ ", 1),
                json.replacen(r#"{"action":""#, r#"{"action":"\u0061"#, 1),
                json.replacen(',', ",\n", 1),
                format!(r#"{{"org":{{}},{}"#, &json[1..]),
            ];
            for (v, line) in variants.iter().enumerate() {
                let mut record = Vec::new();
                let valid = d.decide(1 + i as u64, line.as_bytes(), &mut record);
                let record = record.strip_suffix(b"\n").unwrap();
                let mut e = event(line.as_bytes(), valid, record);
                e.eval_ns = i as u64 * 977;
                if v % 2 == 1 {
                    e.batch = Some((Arc::from("b\"1"), i as u64 + 1));
                }
                let mut fast = Vec::new();
                let was_spliced = valid && splice(&e, &mut fast);
                if !was_spliced {
                    assert!(fast.is_empty());
                    continue;
                }
                spliced += 1;
                let mut parsed = Vec::new();
                compose_parsed(&e, &Masks::default(), &mut parsed);
                assert_eq!(
                    String::from_utf8(fast).unwrap(),
                    String::from_utf8(parsed).unwrap(),
                    "{line}"
                );
            }
        }
        // The plain lines and those with trailing spaces take the spliced path; a space
        // in the leading `{"action":"`, an escaped action, a line break or the action
        // not first never do.
        assert_eq!(spliced, 800);
    }

    #[test]
    fn records_of_another_shape_are_not_spliced() {
        for record in [
            r#"{"line":1,"decision":"allow","cause":"allowed","rules":[],"reasons":[],"errors":[],"counterfactuals":{"options":[]}}"#,
            r#"{"line":1,"decision":"deny","cause":"invalid_request","rules":[],"reasons":[],"errors":["x"],"error":"x"}"#,
            r#"{"line":,"decision":"allow","cause":"allowed","rules":[],"reasons":[],"errors":[]}"#,
            r#"{"decision":"allow","cause":"allowed","rules":[],"reasons":[],"errors":[]}"#,
            "",
        ] {
            assert_eq!(result_members(record.as_bytes()), None, "{record}");
        }
        assert_eq!(
            result_members(br#"{"line":12,"decision":"allow","errors":[]}"#),
            Some(br#""decision":"allow","errors":[]}"#.as_slice())
        );
    }

    #[test]
    fn invalid_and_unparseable_inputs_are_masked() {
        let snap = super::super::snapshot::load(&crate::policy_set::Origin::Embedded).unwrap();
        let m = masks(&["user.upn"]);
        for line in [
            r#"{"action":"change_approval_settings","org":{"version":"9.1"},"user":{"upn":"dana@contoso.com","security_rolez":[]}}"#,
            r#"{"action":"change_approval_settings","org":{"version":"9.1"},"user":{"upn":["dana@contoso.com"],"security_roles":[]}}"#,
            r#"{"action":"change_approval_settings","user":{"upn":"dana@contoso.com"#,
        ] {
            let mut record = Vec::new();
            let mut d = crate::batch::LineDecider::with_tables(&snap.set, &snap.tables);
            assert!(!d.decide(1, line.as_bytes(), &mut record));
            let mut out = Vec::new();
            compose(&event(line.as_bytes(), false, &record), &m, &mut out);
            let text = String::from_utf8(out).unwrap();
            assert!(!text.contains("dana"), "{text}");
            assert!(text.contains("invalid_request"), "{text}");
        }
        let mut out = Vec::new();
        compose(&event(b"{\"user\":", false, b"{}"), &m, &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["input"],
            serde_json::json!({"input_bytes": 8, "input_sha256": sha256_hex(b"{\"user\":")})
        );
    }

    #[test]
    fn scrub_keeps_schema_names_only() {
        let names: HashSet<String> = ["user".to_owned(), "security_role".to_owned()].into();
        assert_eq!(
            scrub("`x@y` is not a `security_role` (in `user`)", &names),
            "`…` is not a `security_role` (in `user`)"
        );
        assert_eq!(scrub("odd ` count", &names), "odd `…");
    }

    /// A stalled sink: `close` returns by its deadline and counts what was left.
    #[test]
    fn close_returns_by_the_deadline_when_the_sink_stalls() {
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let metrics = Arc::new(Metrics::default());
        let log = DecisionLog::start(
            Box::new(Stall(gate.clone())),
            Masks::default(),
            1 << 20,
            metrics.clone(),
        )
        .unwrap();
        for _ in 0..100 {
            log.send(event(b"{}", true, b"{}"));
        }
        let start = Instant::now();
        log.close(Instant::now() + Duration::from_millis(200));
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(metrics.log_dropped.get() > 0);
        drop(held);
    }

    /// The queue holds at most its capacity in bytes; the rest is dropped and counted.
    #[test]
    fn the_queue_is_bounded_in_bytes() {
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let metrics = Arc::new(Metrics::default());
        let log = DecisionLog::start(
            Box::new(Stall(gate.clone())),
            Masks::default(),
            64 * 1024,
            metrics.clone(),
        )
        .unwrap();
        let big = vec![b' '; 4096];
        for _ in 0..100 {
            log.send(event(&big, true, b"{}"));
        }
        assert!(log.shared.queue.lock().unwrap().bytes <= 64 * 1024);
        assert!(metrics.log_dropped.get() >= 80);
        drop(held);
        log.close(Instant::now() + Duration::from_secs(10));
    }

    /// Arbitrary bytes around a secret at `user.upn`: whatever the request looks like
    /// (valid, invalid, cut short, not JSON), the secret never reaches the log line.
    fn request_bytes() -> impl Strategy<Value = (Vec<u8>, String)> {
        let secret = "[A-Za-z0-9]{6,12}".prop_map(|s| format!("Zq{s}"));
        let roles = prop::sample::select(vec![
            "[]",
            r#"["Basic User"]"#,
            r#"["SECRET"]"#,
            "5",
            r#""x""#,
        ]);
        let key = prop::sample::select(vec![
            "security_roles",
            "security_rolez",
            "upn",
            "directory_roles",
        ]);
        let action = prop::sample::select(vec![
            "change_approval_settings",
            "approve_mailbox",
            "nope",
            "SECRET",
        ]);
        let cut = any::<prop::sample::Index>();
        let junk = prop::collection::vec(any::<u8>(), 0..8);
        (secret, roles, key, action, cut, any::<bool>(), junk, any::<u8>()).prop_map(
            |(secret, roles, key, action, cut, truncate, junk, shape)| {
                let roles = roles.replace("SECRET", &secret);
                let action = action.replace("SECRET", &secret);
                let upn = match shape % 4 {
                    0 => format!(r#""{secret}""#),
                    1 => format!(r#"["{secret}"]"#),
                    2 => format!(r#"{{"v":"{secret}"}}"#),
                    _ => format!(r#""{secret}\u0041""#),
                };
                let text = format!(
                    r#"{{"action":"{action}","org":{{"version":"9.1"}},"user":{{"upn":{upn},"{key}":{roles}}}}}"#
                );
                let mut bytes = text.into_bytes();
                if truncate {
                    let at = cut.index(bytes.len() + 1);
                    bytes.truncate(at);
                    bytes.extend_from_slice(&junk);
                }
                (bytes, secret)
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn a_masked_value_never_reaches_the_log((bytes, secret) in request_bytes()) {
            let snap = super::super::snapshot::load(&crate::policy_set::Origin::Embedded).unwrap();
            let m = masks(&["user.upn"]);
            let mut record = Vec::new();
            let mut d = crate::batch::LineDecider::with_tables(&snap.set, &snap.tables);
            let valid = d.decide(1, &bytes, &mut record);
            // The secret may stand elsewhere too (an action, a role): those are not masked.
            let text = String::from_utf8_lossy(&bytes);
            let elsewhere = text.matches(secret.as_str()).count() > 1;
            let mut out = Vec::new();
            compose(&event(&bytes, valid, &record), &m, &mut out);
            let line = String::from_utf8(out).unwrap();
            prop_assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
            if !elsewhere {
                prop_assert!(!line.contains(secret.as_str()), "{}", line);
            }
        }
    }
}
