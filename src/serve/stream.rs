//! `POST /v1/batch`, streamed: lines are decided as they arrive and their records sent
//! as they are made, so transfer and decisions overlap and the server holds only a few
//! buffers of a batch, whatever the size of its body or of its answer.
//!
//! The lines are split, numbered and decided exactly as `eval --batch` does (the batch
//! module's reader: whole lines where they lie in the read buffer, a line that runs past
//! it read on its own, bounded by the line limit), so the output is byte for byte the
//! same.

use super::log::{DecisionLog, Event};
use super::metrics::{DecisionCounts, Outcome};
use super::snapshot::Snapshot;
use crate::batch::{LineDecider, decide_read_line, read_line};
use axum::body::Bytes;
use std::io::BufRead;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Size of the read buffer (smaller than the line limit, so a longer line always takes
/// the bounded `read_line` path).
pub(crate) const READ_BYTES: usize = 1 << 18;

/// Records are sent in pieces of about this size.
pub(crate) const SEND_BYTES: usize = 1 << 16;

/// How many lines are decided between two looks at the stop condition.
const CHECK_LINES: u64 = 1024;

/// Why a batch stopped before its end.
#[derive(Debug)]
pub(crate) enum Stopped {
    /// Reading the body failed (the client went away, or it was over the limit).
    Read(std::io::Error),
    /// Nobody takes the records any more.
    Gone,
    /// The deadline passed or the request was cancelled.
    Cancelled,
}

/// Where a batch's decisions are logged.
pub(crate) struct LogTo<'a> {
    pub(crate) log: &'a DecisionLog,
    pub(crate) revision: &'a Arc<str>,
    pub(crate) batch_id: &'a Arc<str>,
}

/// Decides every line of `input`, handing the records to `send` in pieces (it returns
/// false when nobody takes them any more), counting each decision by action and outcome,
/// and logging each line when `log` is given. `stop` is asked every few lines.
pub(crate) fn decide_stream<R: BufRead>(
    snap: &Snapshot,
    mut input: R,
    send: &mut dyn FnMut(Vec<u8>) -> bool,
    log: Option<&LogTo<'_>>,
    counts: &mut DecisionCounts,
    stop: &dyn Fn() -> bool,
) -> Result<(), Stopped> {
    let set = &snap.set;
    let mut d = LineDecider::with_tables(set, &snap.tables);
    let actions = &set.schema().actions;
    let invalid = actions.len();
    let mut by_action = vec![[0u64; 4]; invalid + 1];
    let mut out = Vec::with_capacity(2 * SEND_BYTES);
    let mut spill = Vec::new();
    let mut line_no = 0u64;
    let result = 'lines: loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            // The body has nothing more for now: what is decided goes out before waiting.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                if !out.is_empty() && !send(std::mem::take(&mut out)) {
                    break Err(Stopped::Gone);
                }
                continue;
            }
            Err(e) => break Err(Stopped::Read(e)),
        };
        if buf.is_empty() {
            break Ok(());
        }
        let mut used = 0;
        for end in memchr::memchr_iter(b'\n', buf) {
            let line = &buf[used..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            line_no += 1;
            let at = out.len();
            let start = log.map(|_| Instant::now());
            let ok = d.decide(line_no, line, &mut out);
            tally(&d, ok, &mut by_action, invalid);
            if let Some(l) = log {
                record(l, line, ok, line_no, &out[at..], start);
            }
            used = end + 1;
            if out.len() >= SEND_BYTES && !send(std::mem::take(&mut out)) {
                break 'lines Err(Stopped::Gone);
            }
            if line_no.is_multiple_of(CHECK_LINES) && stop() {
                break 'lines Err(Stopped::Cancelled);
            }
        }
        if used > 0 {
            input.consume(used);
            continue;
        }
        // A line that runs past the buffer (or the last one, without a newline).
        spill.clear();
        let too_long = match read_line(&mut input, &mut spill) {
            Ok(Some(t)) => t,
            Ok(None) => break Ok(()),
            Err(e) => break Err(Stopped::Read(e)),
        };
        line_no += 1;
        let at = out.len();
        let start = log.map(|_| Instant::now());
        let ok = decide_read_line(&mut d, line_no, &spill, too_long, &mut out);
        tally(&d, ok, &mut by_action, invalid);
        if let Some(l) = log {
            record(l, &spill, ok, line_no, &out[at..], start);
        }
        if stop() {
            break Err(Stopped::Cancelled);
        }
    };
    for (i, c) in by_action.iter().enumerate() {
        counts.add_counts(actions.get(i).map(|a| a.name.as_str()), *c);
    }
    match result {
        Ok(()) if out.is_empty() || send(out) => Ok(()),
        Ok(()) => Err(Stopped::Gone),
        Err(e) => Err(e),
    }
}

fn tally(d: &LineDecider<'_>, ok: bool, by_action: &mut [[u64; 4]], invalid: usize) {
    let (row, outcome) = if ok {
        (
            d.request().action as usize,
            Outcome::from_cause(d.decision().cause),
        )
    } else {
        (invalid, Outcome::InvalidRequest)
    };
    if let Some(c) = by_action.get_mut(row) {
        c[outcome as usize] += 1;
    }
}

/// Logs one line; `written` is its record with the newline.
fn record(
    l: &LogTo<'_>,
    line: &[u8],
    ok: bool,
    line_no: u64,
    written: &[u8],
    start: Option<Instant>,
) {
    let eval_ns = start.map_or(0, |s| {
        u64::try_from(s.elapsed().as_nanos()).unwrap_or(u64::MAX)
    });
    let record = written.strip_suffix(b"\n").unwrap_or(written).to_vec();
    l.log.send(Event {
        decision_id: uuid::Uuid::new_v4().to_string(),
        timestamp: SystemTime::now(),
        revision: l.revision.clone(),
        input: Bytes::copy_from_slice(line),
        valid: ok,
        record,
        eval_ns,
        batch: Some((l.batch_id.clone(), line_no)),
    });
}

/// A reader over the body's pieces as they arrive from the connection. A read takes as
/// many waiting pieces as fit. When none is waiting, it first answers `Interrupted` (so
/// the decider sends what it has before the wait), and waits on the next read.
pub(crate) struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
    error: Option<std::io::Error>,
    wait: bool,
}

impl ChannelReader {
    pub(crate) fn new(rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>) -> Self {
        ChannelReader {
            rx,
            current: Bytes::new(),
            error: None,
            wait: false,
        }
    }
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use tokio::sync::mpsc::error::TryRecvError;
        let mut n = 0;
        loop {
            if !self.current.is_empty() {
                let k = (buf.len() - n).min(self.current.len());
                buf[n..n + k].copy_from_slice(&self.current.split_to(k));
                n += k;
                if n == buf.len() {
                    return Ok(n);
                }
            }
            if let Some(e) = self.error.take() {
                if n > 0 {
                    self.error = Some(e);
                    return Ok(n);
                }
                return Err(e);
            }
            let next = match self.rx.try_recv() {
                Ok(piece) => Some(piece),
                Err(TryRecvError::Disconnected) => None,
                Err(TryRecvError::Empty) if n > 0 => return Ok(n),
                Err(TryRecvError::Empty) if !self.wait => {
                    self.wait = true;
                    return Err(std::io::ErrorKind::Interrupted.into());
                }
                Err(TryRecvError::Empty) => {
                    self.wait = false;
                    self.rx.blocking_recv()
                }
            };
            match next {
                Some(Ok(piece)) => self.current = piece,
                Some(Err(e)) => self.error = Some(e),
                None => return Ok(n),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_set::Origin;

    /// The records of `body` read through a buffer of `cap` bytes.
    fn stream(snap: &Snapshot, body: &[u8], cap: usize) -> (Vec<u8>, DecisionCounts) {
        let mut out = Vec::new();
        let mut counts = DecisionCounts::default();
        let input = std::io::BufReader::with_capacity(cap, body);
        decide_stream(
            snap,
            input,
            &mut |piece| {
                out.extend_from_slice(&piece);
                true
            },
            None,
            &mut counts,
            &|| false,
        )
        .unwrap();
        (out, counts)
    }

    #[test]
    fn records_equal_eval_batch_whatever_the_buffer() {
        let snap = super::super::snapshot::load(&Origin::Embedded).unwrap();
        let orgs = crate::generate::org_variants();
        let mut big = Vec::new();
        for (i, r) in crate::generate::requests(8, 3000).iter().enumerate() {
            match i % 500 {
                7 => big.extend_from_slice(b"{\"action\":\"nope\"}"),
                8 => {}
                _ => big.extend_from_slice(r.to_json(&orgs).as_bytes()),
            }
            big.extend_from_slice(if i % 3 == 0 { b"\r\n" } else { b"\n" });
        }
        big.extend_from_slice(b"{\"action\":");
        let mut huge = b"{}\n".to_vec();
        huge.extend(std::iter::repeat_n(
            b' ',
            crate::limits::MAX_BATCH_LINE_BYTES + 5,
        ));
        huge.extend_from_slice(b"\r\n{}");
        let bodies: [&[u8]; 7] = [
            b"",
            b"\n",
            b"{}\r\n\n[1]",
            b"\r",
            b"{\"action\":\"nope\"}\n{\"action\":\"sync_incoming_email\"}\n",
            &big,
            &huge,
        ];
        for body in bodies {
            let mut expected = Vec::new();
            crate::batch::run(&snap.set, body, &mut expected, 1).unwrap();
            let mut parallel = Vec::new();
            crate::batch::run(&snap.set, body, &mut parallel, 3).unwrap();
            assert_eq!(parallel, expected);
            for cap in [1, 7, 4096, READ_BYTES] {
                let (out, _) = stream(&snap, body, cap);
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&expected),
                    "buffer of {cap} bytes"
                );
            }
        }
        let (_, counts) = stream(&snap, &big, 4096);
        let total: u64 = counts.0.values().flatten().sum();
        assert_eq!(total, 3001);
    }

    #[test]
    fn a_stop_ends_the_batch_early() {
        let snap = super::super::snapshot::load(&Origin::Embedded).unwrap();
        let body = b"{}\n".repeat(10_000);
        let mut counts = DecisionCounts::default();
        let r = decide_stream(&snap, &body[..], &mut |_| true, None, &mut counts, &|| true);
        assert!(matches!(r, Err(Stopped::Cancelled)));
        let total: u64 = counts.0.values().flatten().sum();
        assert_eq!(total, CHECK_LINES);
    }
}
