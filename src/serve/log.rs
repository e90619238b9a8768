//! The decision log: one JSON object per decision, written by a thread of its own.
//!
//! A request hands the writer the raw input and the output record through a bounded
//! channel and never waits: when the channel is full the event is dropped and counted.
//! All JSON work (parsing the input, masking, composing the line) happens on the writer
//! thread, off the request path.

use super::metrics::Metrics;
use axum::body::Bytes;
use serde::Serialize;
use serde_json::Value;
use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Events that may wait for the writer; past this, events are dropped.
pub(crate) const DEFAULT_CAPACITY: usize = 65_536;

/// One decision to log.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) decision_id: String,
    pub(crate) timestamp: SystemTime,
    pub(crate) revision: Arc<str>,
    /// The request as received.
    pub(crate) input: Bytes,
    /// Whether the request was valid (else `input` is logged as a string).
    pub(crate) valid: bool,
    /// The output record, one JSON object.
    pub(crate) record: Vec<u8>,
    pub(crate) eval_ns: u64,
    /// For a line of a batch: the batch's id and the line number.
    pub(crate) batch: Option<(Arc<str>, u64)>,
}

enum Msg {
    Event(Box<Event>),
    Stop,
}

/// The writer side, shared by all requests.
#[derive(Debug)]
pub(crate) struct DecisionLog {
    tx: SyncSender<Msg>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl DecisionLog {
    /// Starts the writer thread on `out`.
    pub(crate) fn start(
        out: Box<dyn Write + Send>,
        masks: &[String],
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity.max(1));
        let masks: Vec<Vec<String>> = masks
            .iter()
            .map(|m| m.split('.').map(str::to_owned).collect())
            .collect();
        let thread = std::thread::Builder::new()
            .name("decision-log".to_owned())
            .spawn(move || writer(&rx, out, &masks))?;
        Ok(DecisionLog {
            tx,
            thread: Mutex::new(Some(thread)),
            metrics,
        })
    }

    /// Queues an event without waiting; counts it as dropped if the writer is behind.
    pub(crate) fn send(&self, event: Event) {
        match self.tx.try_send(Msg::Event(Box::new(event))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.metrics
                    .log_dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// Writes everything queued, flushes, and stops the writer.
    pub(crate) fn close(&self) {
        let _ = self.tx.send(Msg::Stop);
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

fn writer(rx: &Receiver<Msg>, out: Box<dyn Write + Send>, masks: &[Vec<String>]) {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    let mut line = Vec::with_capacity(1024);
    let mut failed = false;
    let write = |out: &mut std::io::BufWriter<_>, bytes: &[u8], failed: &mut bool| {
        if let Err(e) = out.write_all(bytes)
            && !*failed
        {
            *failed = true;
            let _ = writeln!(
                std::io::stderr().lock(),
                "mailgate: cannot write the decision log: {e}"
            );
        }
    };
    while let Ok(msg) = rx.recv() {
        let mut next = Some(msg);
        // Write everything that is waiting, then flush once.
        while let Some(msg) = next.take() {
            match msg {
                Msg::Event(e) => {
                    line.clear();
                    compose(&e, masks, &mut line);
                    write(&mut out, &line, &mut failed);
                }
                Msg::Stop => {
                    let _ = out.flush();
                    return;
                }
            }
            next = rx.try_recv().ok();
        }
        if out.flush().is_err() && !failed {
            failed = true;
            let _ = writeln!(
                std::io::stderr().lock(),
                "mailgate: cannot flush the decision log"
            );
        }
    }
    let _ = out.flush();
}

#[derive(Serialize)]
struct Line<'a> {
    decision_id: &'a str,
    timestamp: String,
    revision: &'a str,
    action: Value,
    input: Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    erased: Vec<String>,
    result: LogResult,
    eval_ns: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch: Option<BatchRef<'a>>,
}

#[derive(Serialize)]
struct BatchRef<'a> {
    id: &'a str,
    line: u64,
}

#[derive(Serialize)]
struct LogResult {
    decision: Value,
    cause: Value,
    rules: Value,
    reasons: Value,
    errors: Value,
}

/// Composes one log line (with its newline) for `e`.
fn compose(e: &Event, masks: &[Vec<String>], out: &mut Vec<u8>) {
    let mut record: serde_json::Map<String, Value> =
        serde_json::from_slice(&e.record).unwrap_or_default();
    let mut take = |k: &str| record.remove(k).unwrap_or(Value::Null);
    let result = LogResult {
        decision: take("decision"),
        cause: take("cause"),
        rules: take("rules"),
        reasons: take("reasons"),
        errors: take("errors"),
    };
    let (input, action, erased) = if e.valid {
        let mut input: Value = serde_json::from_slice(&e.input).unwrap_or(Value::Null);
        let action = input.get("action").cloned().unwrap_or(Value::Null);
        let erased = erase(&mut input, masks);
        (input, action, erased)
    } else {
        // Logged as received, as a string: replaying it is refused again.
        let text = String::from_utf8_lossy(&e.input).into_owned();
        (Value::String(text), Value::Null, Vec::new())
    };
    let line = Line {
        decision_id: &e.decision_id,
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

    fn masks(m: &[&str]) -> Vec<Vec<String>> {
        m.iter()
            .map(|m| m.split('.').map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn erase_removes_present_paths_only() {
        let mut v: Value =
            serde_json::from_str(r#"{"user":{"upn":"a@b","roles":[]},"org":{}}"#).unwrap();
        let erased = erase(&mut v, &masks(&["user.upn", "org.version", "x.y"]));
        assert_eq!(erased, vec!["/user/upn"]);
        assert_eq!(v.to_string(), r#"{"org":{},"user":{"roles":[]}}"#);
    }

    #[test]
    fn compose_keeps_result_fields_and_masks_input() {
        let e = Event {
            decision_id: "id".to_owned(),
            timestamp: SystemTime::UNIX_EPOCH,
            revision: Arc::from("rev"),
            input: Bytes::from_static(br#"{"action":"a","user":{"upn":"x"}}"#),
            valid: true,
            record: br#"{"line":1,"decision":"deny","cause":"no_rule_allows","rules":[],"reasons":[],"errors":[]}"#.to_vec(),
            eval_ns: 7,
            batch: None,
        };
        let mut out = Vec::new();
        compose(&e, &masks(&["user.upn"]), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            concat!(
                r#"{"decision_id":"id","timestamp":"1970-01-01T00:00:00.000000Z","revision":"rev","action":"a","#,
                r#""input":{"action":"a","user":{}},"erased":["/user/upn"],"#,
                r#""result":{"decision":"deny","cause":"no_rule_allows","rules":[],"reasons":[],"errors":[]},"eval_ns":7}"#,
                "\n"
            )
        );
    }
}
