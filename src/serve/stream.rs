//! `POST /v1/batch`, streamed: lines are decided as they arrive and their records sent
//! as they are made, so transfer and decisions overlap and the server holds only a few
//! buffers of a batch, whatever the size of its body or of its answer.
//!
//! The lines are split, numbered and decided exactly as `eval --batch` does (the batch
//! module's reader: whole lines where they lie in the read buffer, a line that runs past
//! it read on its own, bounded by the line limit), so the output is byte for byte the
//! same.

use super::log::{DecisionLog, Event, EventHead};
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
    l.log.send(event(l, line, ok, line_no, written, start));
}

/// The log event of one line; `written` is its record with the newline.
fn event(
    l: &LogTo<'_>,
    line: &[u8],
    ok: bool,
    line_no: u64,
    written: &[u8],
    start: Option<Instant>,
) -> Event {
    let eval_ns = start.map_or(0, |s| {
        u64::try_from(s.elapsed().as_nanos()).unwrap_or(u64::MAX)
    });
    let record = written.strip_suffix(b"\n").unwrap_or(written);
    let head = EventHead {
        decision_id: uuid::Uuid::new_v4(),
        timestamp: SystemTime::now(),
        revision: l.revision.clone(),
        valid: ok,
        eval_ns,
        batch: Some((l.batch_id.clone(), line_no)),
    };
    Event::new(head, line, &[record], l.log.buffer())
}

/// Bytes of whole lines a chunk of a batch decided in parallel holds (one line longer
/// than the read buffer makes a chunk of its own, bounded by the line limit).
pub(crate) const CHUNK_BYTES: usize = READ_BYTES;

/// At most this many lines make a chunk, so that the records of a chunk stay small too
/// (an empty line makes an error record of some 150 bytes).
const CHUNK_LINES: u64 = 2048;

/// Chunks in flight per deciding thread: read ahead, being decided, or decided and
/// waiting for their turn to be sent. Memory stays within a few chunks per thread.
const CHUNKS_PER_THREAD: usize = 2;

/// Whole lines of a batch, each with its newline, and at most one last line without
/// (read on its own: it ran past the read buffer, or ended the body).
#[derive(Default)]
struct Chunk {
    first_line: u64,
    /// How many lines it holds.
    lines: u64,
    data: Vec<u8>,
    /// The last line has no newline; `Some(true)`: it was over the line limit, skipped.
    last: Option<bool>,
}

/// A decided chunk: its records, its log events, and its decisions counted.
struct Decided {
    out: Vec<u8>,
    events: Vec<Event>,
    by_action: Vec<[u64; 4]>,
}

/// Decides the lines of `chunk` into `out`, in order, exactly as [`decide_stream`] does.
fn decide_chunk(
    d: &mut LineDecider<'_>,
    chunk: &Chunk,
    log: Option<&LogTo<'_>>,
    invalid: usize,
) -> Decided {
    let mut done = Decided {
        out: Vec::with_capacity(chunk.data.len()),
        events: Vec::new(),
        by_action: vec![[0u64; 4]; invalid + 1],
    };
    let mut line_no = chunk.first_line;
    let mut used = 0;
    let mut one = |line: &[u8], too_long: bool, line_no: u64, done: &mut Decided| {
        let at = done.out.len();
        let start = log.map(|_| Instant::now());
        let ok = decide_read_line(d, line_no, line, too_long, &mut done.out);
        tally(d, ok, &mut done.by_action, invalid);
        if let Some(l) = log {
            done.events
                .push(event(l, line, ok, line_no, &done.out[at..], start));
        }
    };
    for end in memchr::memchr_iter(b'\n', &chunk.data) {
        let line = &chunk.data[used..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        one(line, false, line_no, &mut done);
        line_no += 1;
        used = end + 1;
    }
    if let Some(too_long) = chunk.last {
        one(&chunk.data[used..], too_long, line_no, &mut done);
    }
    done
}

/// What reading the next chunk found.
enum Filled {
    /// A chunk (maybe empty) and more may follow.
    More,
    /// The body has nothing more for now: decided records should go out before waiting.
    Waiting,
    /// The end of the body.
    End,
}

/// Fills `chunk` with the next whole lines of `input`, up to [`CHUNK_BYTES`].
fn fill_chunk<R: BufRead>(input: &mut R, chunk: &mut Chunk) -> std::io::Result<Filled> {
    chunk.data.clear();
    chunk.last = None;
    chunk.lines = 0;
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(Filled::Waiting),
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(Filled::End);
        }
        let room = CHUNK_BYTES.saturating_sub(chunk.data.len()).min(buf.len());
        let mut end = None;
        for i in memchr::memchr_iter(b'\n', &buf[..room]) {
            end = Some(i);
            chunk.lines += 1;
            if chunk.lines == CHUNK_LINES {
                break;
            }
        }
        if let Some(i) = end {
            chunk.data.extend_from_slice(&buf[..=i]);
            input.consume(i + 1);
            if chunk.lines == CHUNK_LINES || chunk.data.len() + READ_BYTES / 4 > CHUNK_BYTES {
                return Ok(Filled::More);
            }
            continue;
        }
        if !chunk.data.is_empty() {
            return Ok(Filled::More);
        }
        // A line that runs past the buffer (or the last one, without a newline).
        return Ok(match read_line(input, &mut chunk.data)? {
            Some(too_long) => {
                chunk.last = Some(too_long);
                chunk.lines = 1;
                Filled::More
            }
            None => Filled::End,
        });
    }
}

/// [`decide_stream`] on `threads` threads: this thread reads the body in chunks of whole
/// lines and sends their records in order, while the others decide the chunks. At most
/// [`CHUNKS_PER_THREAD`] chunks per deciding thread are in flight. The records (and the
/// log events, in line order) are the same as [`decide_stream`]'s.
#[allow(
    clippy::too_many_lines,
    reason = "one reader-writer loop; its parts share the in-flight bookkeeping"
)]
pub(crate) fn decide_stream_parallel<R: BufRead>(
    snap: &Snapshot,
    mut input: R,
    send: &mut dyn FnMut(Vec<u8>) -> bool,
    log: Option<&LogTo<'_>>,
    counts: &mut DecisionCounts,
    stop: &dyn Fn() -> bool,
    threads: usize,
) -> Result<(), Stopped> {
    use std::collections::BTreeMap;
    use std::sync::{Mutex, mpsc};
    let set = &snap.set;
    let actions = &set.schema().actions;
    let invalid = actions.len();
    let mut by_action = vec![[0u64; 4]; invalid + 1];
    let threads = threads.max(1);
    let in_flight = (threads * CHUNKS_PER_THREAD) as u64;
    let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Chunk)>(threads * CHUNKS_PER_THREAD);
    let work_rx = Mutex::new(work_rx);
    let (done_tx, done_rx) =
        mpsc::sync_channel::<(u64, Chunk, Decided)>(threads * CHUNKS_PER_THREAD);
    let result = std::thread::scope(|scope| {
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let work_rx = &work_rx;
            scope.spawn(move || {
                let mut d = LineDecider::with_tables(set, &snap.tables);
                loop {
                    let job = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, chunk)) = job else { return };
                    let decided = decide_chunk(&mut d, &chunk, log, invalid);
                    if done_tx.send((seq, chunk, decided)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut dispatched = 0u64;
        let mut next_line = 1u64;
        let mut eof = false;
        let mut result = Ok(());
        let mut order = InOrder {
            pending: BTreeMap::new(),
            spare: Vec::new(),
            by_action: &mut by_action,
            written: 0,
        };
        while !eof || order.written < dispatched {
            while !eof && result.is_ok() && dispatched - order.written < in_flight {
                if stop() {
                    result = Err(Stopped::Cancelled);
                    break;
                }
                let mut chunk = order.spare.pop().unwrap_or_default();
                let filled = fill_chunk(&mut input, &mut chunk);
                let waiting = matches!(filled, Ok(Filled::Waiting));
                match filled {
                    Ok(Filled::End) => eof = true,
                    Err(e) => {
                        result = Err(Stopped::Read(e));
                        eof = true;
                    }
                    Ok(Filled::More | Filled::Waiting) => {}
                }
                let lines = chunk.lines;
                if lines == 0 {
                    order.spare.push(chunk);
                } else {
                    chunk.first_line = next_line;
                    next_line += lines;
                    if work_tx.send((dispatched, chunk)).is_err() {
                        eof = true;
                        break;
                    }
                    dispatched += 1;
                }
                if waiting {
                    // What is decided goes out before waiting for more of the body.
                    while order.written < dispatched {
                        if !order.take(&done_rx, send, log, &mut result) {
                            break;
                        }
                    }
                }
            }
            if result.is_err() {
                eof = true;
            }
            if order.written == dispatched || !order.take(&done_rx, send, log, &mut result) {
                break;
            }
        }
        drop(work_tx);
        // Whatever is still in flight is dropped with the channel.
        result
    });
    for (i, c) in by_action.iter().enumerate() {
        counts.add_counts(actions.get(i).map(|a| a.name.as_str()), *c);
    }
    result
}

/// The decided chunks of a parallel batch, dispatched in their order.
struct InOrder<'b> {
    pending: std::collections::BTreeMap<u64, (Chunk, Decided)>,
    spare: Vec<Chunk>,
    by_action: &'b mut [[u64; 4]],
    written: u64,
}

impl InOrder<'_> {
    /// Takes one decided chunk back and sends (and logs) every chunk whose turn it is,
    /// while `result` is still fine. False when no deciding thread is left.
    fn take(
        &mut self,
        done: &std::sync::mpsc::Receiver<(u64, Chunk, Decided)>,
        send: &mut dyn FnMut(Vec<u8>) -> bool,
        log: Option<&LogTo<'_>>,
        result: &mut Result<(), Stopped>,
    ) -> bool {
        let Ok((seq, chunk, decided)) = done.recv() else {
            return false;
        };
        self.pending.insert(seq, (chunk, decided));
        while let Some((chunk, decided)) = self.pending.remove(&self.written) {
            for (all, c) in self.by_action.iter_mut().zip(&decided.by_action) {
                for (a, n) in all.iter_mut().zip(c) {
                    *a += n;
                }
            }
            if result.is_ok() {
                if let Some(l) = log {
                    for e in decided.events {
                        l.log.send(e);
                    }
                }
                if !decided.out.is_empty() && !send(decided.out) {
                    *result = Err(Stopped::Gone);
                }
            }
            self.spare.push(chunk);
            self.written += 1;
        }
        true
    }
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

    /// [`stream`], decided in chunks on `threads` threads.
    fn stream_parallel(
        snap: &Snapshot,
        body: &[u8],
        cap: usize,
        threads: usize,
    ) -> (Vec<u8>, DecisionCounts) {
        let mut out = Vec::new();
        let mut counts = DecisionCounts::default();
        let input = std::io::BufReader::with_capacity(cap, body);
        decide_stream_parallel(
            snap,
            input,
            &mut |piece| {
                out.extend_from_slice(&piece);
                true
            },
            None,
            &mut counts,
            &|| false,
            threads,
        )
        .unwrap();
        (out, counts)
    }

    /// Several chunks (by bytes and by lines), with bad, empty, unterminated and
    /// over-the-limit lines on both sides of their boundaries.
    #[test]
    fn chunks_decided_in_parallel_equal_eval_batch() {
        let snap = super::super::snapshot::load(&Origin::Embedded).unwrap();
        let orgs = crate::generate::org_variants();
        let lines: Vec<String> = crate::generate::requests(5, 400)
            .iter()
            .map(|r| r.to_json(&orgs))
            .collect();
        let mut body = Vec::new();
        let mut i = 0;
        // Past a few chunks of bytes, with a bad line every few lines.
        while body.len() < 3 * CHUNK_BYTES + 1000 {
            match i % 97 {
                3 => body.extend_from_slice(b"{\"action\":\"nope\"}"),
                4 => body.extend_from_slice(b"[1,"),
                _ => body.extend_from_slice(lines[i % lines.len()].as_bytes()),
            }
            body.extend_from_slice(if i % 5 == 0 { b"\r\n" } else { b"\n" });
            i += 1;
        }
        // A run of empty lines longer than a chunk's line count.
        body.extend(std::iter::repeat_n(
            b'\n',
            3 * usize::try_from(CHUNK_LINES).unwrap() + 7,
        ));
        // A line over the limit between good ones, then an unterminated bad one.
        body.extend_from_slice(lines[0].as_bytes());
        body.extend_from_slice(b"\n");
        body.extend(std::iter::repeat_n(
            b'x',
            crate::limits::MAX_BATCH_LINE_BYTES + 3,
        ));
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(lines[1].as_bytes());
        body.extend_from_slice(b"\n{\"action\":");
        let mut expected = Vec::new();
        let stats = crate::batch::run(&snap.set, &body[..], &mut expected, 1).unwrap();
        assert!(stats.bad > 3 * CHUNK_LINES, "{stats:?}");
        for threads in [1, 2, 3] {
            for cap in [4096, 100_000, READ_BYTES] {
                let (out, counts) = stream_parallel(&snap, &body, cap, threads);
                assert!(
                    out == expected,
                    "{threads} threads, a buffer of {cap} bytes: the records differ"
                );
                let total: u64 = counts.0.values().flatten().sum();
                assert_eq!(total, stats.lines);
            }
        }
        for body in [&b""[..], b"\n", b"{}\r\n\n[1]", b"\r"] {
            let mut expected = Vec::new();
            crate::batch::run(&snap.set, body, &mut expected, 1).unwrap();
            assert_eq!(stream_parallel(&snap, body, READ_BYTES, 2).0, expected);
        }
    }

    #[test]
    fn a_stop_ends_a_parallel_batch_early() {
        let snap = super::super::snapshot::load(&Origin::Embedded).unwrap();
        let body = b"{}\n".repeat(10_000);
        let mut counts = DecisionCounts::default();
        let asked = std::cell::Cell::new(0);
        let stop = || {
            asked.set(asked.get() + 1);
            asked.get() > 2
        };
        let r =
            decide_stream_parallel(&snap, &body[..], &mut |_| true, None, &mut counts, &stop, 2);
        assert!(matches!(r, Err(Stopped::Cancelled)));
        let total: u64 = counts.0.values().flatten().sum();
        assert_eq!(total, 2 * CHUNK_LINES);
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
