//! `eval --batch`: JSON Lines in, JSON Lines out (docs/cli.md, "eval --batch").
//!
//! Each input line is one self-contained request: `action`, the context object (`org`),
//! each slot as an inline object of attributes and each parameter as a value. Each line
//! produces exactly one output line, in input order:
//!
//! ```json
//! {"line":1,"decision":"allow","cause":"allowed","rules":["..."],"reasons":["..."],"errors":[]}
//! ```
//!
//! A line that is not a valid request (invalid JSON, unknown action or key, missing slot
//! or parameter, wrong type, unknown enum value, too long, too deep) gets an error record,
//! `"decision":"deny","cause":"invalid_request"` with an `error` message, and the run goes
//! on. An attribute a line leaves out takes its schema default; without one it is missing
//! at run time and the decision fails closed, with the error in `errors`.
//!
//! Speed: a strict fast reader for plain JSON (`fast`) reads a line in one pass straight
//! into the request's value array, looking names up in tables built once per set; it
//! leaves anything else, and every error, to the `serde_json` reader (`parse`), whose
//! records are the reference. Rule ids and reasons are pre-escaped JSON, and all buffers
//! are reused. One thread decides each line where it lies in the input's buffer (a line
//! that runs past the buffer is read on its own, bounded by the line limit). With more
//! than one thread, chunks of lines are decided in parallel and written in order; memory
//! stays bounded by the number of chunks in flight.

mod error;
mod fast;
mod parse;

pub use error::BatchError;

use crate::analysis::{Analyzer, WhyNotOptions, WhyNotResult};
use crate::compile::CompiledSet;
use crate::eval::{Cause, Decision, Request};
use crate::limits::MAX_BATCH_LINE_BYTES;
use std::io::{BufRead, Write};

/// Counts of a batch run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Input lines read.
    pub lines: u64,
    /// Lines that were not a valid request (each got an error record).
    pub bad: u64,
}

/// Counterfactuals in batch records (`eval --batch --why-not`): each record gets a
/// `"counterfactuals"` member.
#[derive(Debug, Clone, Copy)]
pub struct WhyNot<'a> {
    /// The analyzer of the set being decided.
    pub analyzer: &'a Analyzer<'a>,
    /// Its options.
    pub options: &'a WhyNotOptions,
}

/// What a [`LineDecider`] needs to know about a compiled set (name lookups, rule ids and
/// reasons as JSON), built once per set so that deciders can be made cheaply.
#[derive(Debug, Clone)]
pub struct LineTables {
    names: parse::Names,
    /// `"rule-id"` for each rule, JSON-escaped.
    ids: Vec<String>,
    /// `"reason"` for each rule (empty if it has none), JSON-escaped.
    reasons: Vec<String>,
}

impl LineTables {
    /// The tables of `set`.
    pub fn new(set: &CompiledSet) -> Self {
        let json = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
        LineTables {
            names: parse::Names::new(set),
            ids: set.rules().iter().map(|r| json(&r.id)).collect(),
            reasons: set
                .rules()
                .iter()
                .map(|r| r.reason.as_deref().map(json).unwrap_or_default())
                .collect(),
        }
    }
}

/// Decides single batch lines, reusing its buffers between calls.
#[derive(Debug)]
pub struct LineDecider<'a> {
    set: &'a CompiledSet,
    tables: std::borrow::Cow<'a, LineTables>,
    why_not: Option<WhyNot<'a>>,
    parser: parse::Parser<'a>,
    request: Request,
    decision: Decision,
}

impl<'a> LineDecider<'a> {
    /// A decider for `set`.
    pub fn new(set: &'a CompiledSet) -> Self {
        Self::build(set, std::borrow::Cow::Owned(LineTables::new(set)))
    }

    /// A decider for `set` that borrows tables built once for it (with
    /// [`LineTables::new`] on the same set), so making one costs almost nothing.
    pub fn with_tables(set: &'a CompiledSet, tables: &'a LineTables) -> Self {
        Self::build(set, std::borrow::Cow::Borrowed(tables))
    }

    fn build(set: &'a CompiledSet, tables: std::borrow::Cow<'a, LineTables>) -> Self {
        LineDecider {
            set,
            tables,
            why_not: None,
            parser: parse::Parser::new(set),
            request: Request::default(),
            decision: Decision::default(),
        }
    }

    /// A decider whose records also carry counterfactuals.
    pub fn with_why_not(set: &'a CompiledSet, why_not: WhyNot<'a>) -> Self {
        let mut d = LineDecider::new(set);
        d.why_not = Some(why_not);
        d
    }

    /// Decides one input line (without its newline) and appends exactly one JSON object
    /// and a newline to `out`. Returns `false` if the line was not a valid request (the
    /// record is then an error record whose decision is `deny`).
    pub fn decide(&mut self, line_no: u64, line: &[u8], out: &mut Vec<u8>) -> bool {
        if line.len() > MAX_BATCH_LINE_BYTES {
            write_error(
                out,
                line_no,
                &BatchError::TooLong {
                    limit: MAX_BATCH_LINE_BYTES,
                },
            );
            return false;
        }
        match self
            .parser
            .parse(&self.tables.names, line, &mut self.request)
        {
            Ok(()) => {
                self.set.evaluate_into(&self.request, &mut self.decision);
                self.write_decision(line_no, out);
                true
            }
            Err(e) => {
                write_error(out, line_no, &e);
                false
            }
        }
    }

    /// Reads every line with `serde_json` alone, never with the fast reader that normally
    /// reads well-formed lines first. The records are the same either way (that is the
    /// fast reader's contract); this exists so that tests and fuzzing can check it.
    #[must_use]
    pub fn reference_reader(mut self) -> Self {
        self.parser.fast = false;
        self
    }

    /// The request of the last line that [`LineDecider::decide`] accepted (meaningless
    /// after a line it refused).
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The decision of the last line that [`LineDecider::decide`] accepted.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    fn write_decision(&self, line_no: u64, out: &mut Vec<u8>) {
        let d = &self.decision;
        out.extend_from_slice(b"{\"line\":");
        out.extend_from_slice(itoa(line_no, &mut [0u8; 20]));
        out.extend_from_slice(match d.cause {
            Cause::Allowed => {
                b",\"decision\":\"allow\",\"cause\":\"allowed\",\"rules\":[".as_slice()
            }
            Cause::DeniedByRule => {
                b",\"decision\":\"deny\",\"cause\":\"denied_by_rule\",\"rules\":["
            }
            Cause::NoRuleAllows => {
                b",\"decision\":\"deny\",\"cause\":\"no_rule_allows\",\"rules\":["
            }
        });
        for (i, &r) in d.rules.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(self.tables.ids[r as usize].as_bytes());
        }
        out.extend_from_slice(b"],\"reasons\":[");
        let mut first = true;
        for &r in &d.rules {
            let reason = &self.tables.reasons[r as usize];
            if !reason.is_empty() {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(reason.as_bytes());
            }
        }
        out.extend_from_slice(b"],\"errors\":[");
        if !d.errors.is_empty() {
            let report = crate::report::DecisionReport::new(self.set, &self.request, d);
            for (i, e) in report.errors.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, e);
            }
        }
        out.push(b']');
        if let Some(w) = &self.why_not {
            out.extend_from_slice(b",\"counterfactuals\":");
            let value = WhyNotResult::from(w.analyzer.counterfactuals(&self.request, w.options));
            let _ = serde_json::to_writer(&mut *out, &value);
        }
        out.extend_from_slice(b"}\n");
    }
}

fn write_error(out: &mut Vec<u8>, line_no: u64, error: &BatchError) {
    let msg = error.to_string();
    out.extend_from_slice(b"{\"line\":");
    out.extend_from_slice(itoa(line_no, &mut [0u8; 20]));
    out.extend_from_slice(
        b",\"decision\":\"deny\",\"cause\":\"invalid_request\",\"rules\":[],\"reasons\":[],\"errors\":[",
    );
    let _ = serde_json::to_writer(&mut *out, &msg);
    out.extend_from_slice(b"],\"error\":");
    let _ = serde_json::to_writer(&mut *out, &msg);
    out.extend_from_slice(b"}\n");
}

fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + u8::try_from(n % 10).unwrap_or(0);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// The input's buffered bytes (`fill_buf`), or `None` when the read was interrupted (the
/// caller tries again).
fn fill<R: BufRead>(input: &mut R) -> std::io::Result<Option<&[u8]>> {
    match input.fill_buf() {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(None),
        Err(e) => Err(e),
    }
}

/// Appends one line (without its newline) to `buf`. Past [`MAX_BATCH_LINE_BYTES`] the
/// rest of the line is skipped rather than stored, so memory stays bounded; the returned
/// flag says the line was too long (and `buf` is then left as it was). Returns `None` at
/// end of input.
pub(crate) fn read_line<R: BufRead>(
    input: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    let start = buf.len();
    let mut too_long = false;
    let mut any = false;
    loop {
        let Some(chunk) = fill(input)? else { continue };
        if chunk.is_empty() {
            return Ok(any.then_some(too_long));
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() - start + take > MAX_BATCH_LINE_BYTES {
                too_long = true;
                buf.truncate(start);
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        input.consume(if done { take + 1 } else { take });
        if done {
            if !too_long && buf.len() > start && buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(too_long));
        }
    }
}

/// Most lines per chunk handed to a worker thread (small enough that the chunks in
/// flight stay in the cores' caches: 256 and 2,048 measured the same).
const CHUNK_LINES: usize = 256;

/// A chunk stops taking lines once it holds this many bytes, so that it holds at most
/// this plus one line, however long its lines are.
const CHUNK_BYTES: usize = 1 << 20;

/// Records are written out in pieces of about this size.
const OUT_BYTES: usize = 1 << 16;

/// A chunk of input lines: their bytes back to back (newlines may stay between them), and
/// where each starts and ends.
#[derive(Default)]
struct Chunk {
    first_line: u64,
    data: Vec<u8>,
    /// Each line's start and end in `data` (without its newline and `\r`), and whether it
    /// was too long (its bytes skipped).
    lines: Vec<(usize, usize, bool)>,
}

fn decide_chunk(d: &mut LineDecider<'_>, chunk: &Chunk, out: &mut Vec<u8>) -> u64 {
    let mut bad = 0;
    for (i, &(start, end, too_long)) in chunk.lines.iter().enumerate() {
        let line_no = chunk.first_line + i as u64;
        let line = chunk.data.get(start..end).unwrap_or_default();
        bad += u64::from(!decide_read_line(d, line_no, line, too_long, out));
    }
    bad
}

/// Decides a line as [`read_line`] left it: `too_long` means its bytes were skipped, so it
/// gets the over-the-limit error record. Returns whether it was a valid request.
pub(crate) fn decide_read_line(
    d: &mut LineDecider<'_>,
    line_no: u64,
    line: &[u8],
    too_long: bool,
    out: &mut Vec<u8>,
) -> bool {
    if too_long {
        write_error(
            out,
            line_no,
            &BatchError::TooLong {
                limit: MAX_BATCH_LINE_BYTES,
            },
        );
        return false;
    }
    d.decide(line_no, line, out)
}

/// Reads the next chunk into `chunk`, reusing its buffers. The whole lines that the
/// input's buffer holds are copied as one block (their newlines with them), so the thread
/// that feeds the workers does one copy per buffer, not one per line; a line that runs
/// past the buffer, or past [`MAX_BATCH_LINE_BYTES`], is read on its own by [`read_line`].
fn refill_chunk<R: BufRead>(
    input: &mut R,
    next_line: u64,
    chunk: &mut Chunk,
) -> std::io::Result<()> {
    chunk.first_line = next_line;
    chunk.data.clear();
    chunk.lines.clear();
    while chunk.lines.len() < CHUNK_LINES && chunk.data.len() < CHUNK_BYTES {
        let Some(buf) = fill(input)? else { continue };
        if buf.is_empty() {
            break;
        }
        let base = chunk.data.len();
        let mut used = 0;
        for end in memchr::memchr_iter(b'\n', buf) {
            if end - used > MAX_BATCH_LINE_BYTES {
                break;
            }
            let line = &buf[used..end];
            let len = line.strip_suffix(b"\r").unwrap_or(line).len();
            chunk.lines.push((base + used, base + used + len, false));
            used = end + 1;
            if chunk.lines.len() == CHUNK_LINES || base + used >= CHUNK_BYTES {
                break;
            }
        }
        if used > 0 {
            chunk.data.extend_from_slice(&buf[..used]);
            input.consume(used);
            continue;
        }
        let start = chunk.data.len();
        match read_line(input, &mut chunk.data)? {
            None => break,
            Some(too_long) => chunk.lines.push((start, chunk.data.len(), too_long)),
        }
    }
    Ok(())
}

/// Decides the lines of `input` where they lie in its buffer, numbering them from
/// `first_line`, until `max_lines` are decided or `out` holds `max_out` bytes; a line that
/// runs past the buffer (or the last one, without a newline) is read into `long`, bounded
/// by the line limit. Returns how many lines were decided, and how many were bad; no
/// lines means the input has ended.
fn decide_in_place<R: BufRead>(
    input: &mut R,
    d: &mut LineDecider<'_>,
    first_line: u64,
    max_lines: usize,
    max_out: usize,
    out: &mut Vec<u8>,
    long: &mut Vec<u8>,
) -> std::io::Result<(u64, u64)> {
    let mut lines = 0u64;
    let mut bad = 0u64;
    let mut left = max_lines;
    while left > 0 && out.len() < max_out {
        let Some(buf) = fill(input)? else { continue };
        if buf.is_empty() {
            break;
        }
        let mut used = 0;
        for end in memchr::memchr_iter(b'\n', buf) {
            let line = &buf[used..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            bad += u64::from(!d.decide(first_line + lines, line, out));
            lines += 1;
            left -= 1;
            used = end + 1;
            if left == 0 || out.len() >= max_out {
                break;
            }
        }
        if used > 0 {
            input.consume(used);
            continue;
        }
        long.clear();
        let Some(too_long) = read_line(input, long)? else {
            break;
        };
        bad += u64::from(!decide_read_line(
            d,
            first_line + lines,
            long,
            too_long,
            out,
        ));
        lines += 1;
        left -= 1;
    }
    Ok((lines, bad))
}

/// Decides every line of `input` and writes one record per line to `output`, in order,
/// on `threads` threads: the calling thread and `threads - 1` workers (1: no other
/// thread at all).
pub fn run<R: BufRead, W: Write>(
    set: &CompiledSet,
    input: R,
    output: W,
    threads: usize,
) -> std::io::Result<BatchStats> {
    run_with(set, input, output, threads, None)
}

/// [`run`], with counterfactuals in every decision record when `why_not` is given.
pub fn run_with<R: BufRead, W: Write>(
    set: &CompiledSet,
    mut input: R,
    mut output: W,
    threads: usize,
    why_not: Option<WhyNot<'_>>,
) -> std::io::Result<BatchStats> {
    let mut stats = BatchStats::default();
    // Every thread's decider borrows the same tables, built once.
    let tables = LineTables::new(set);
    let new_decider = || {
        let mut d = LineDecider::with_tables(set, &tables);
        d.why_not = why_not;
        d
    };
    if threads <= 1 {
        let mut d = new_decider();
        let mut out = Vec::with_capacity(2 * OUT_BYTES);
        let mut long = Vec::new();
        loop {
            let (lines, bad) = decide_in_place(
                &mut input,
                &mut d,
                stats.lines + 1,
                usize::MAX,
                OUT_BYTES,
                &mut out,
                &mut long,
            )?;
            stats.lines += lines;
            stats.bad += bad;
            output.write_all(&out)?;
            out.clear();
            if lines == 0 {
                break;
            }
        }
        output.flush()?;
        return Ok(stats);
    }
    run_parallel(input, output, threads, &mut stats, new_decider)?;
    Ok(stats)
}

/// The threaded run: the calling thread reads chunks of lines and writes their records in
/// order. It copies a chunk out for the `threads - 1` workers while they have fewer than
/// [`QUEUED_PER_WORKER`] + 1 chunks each in hand, and otherwise decides the next lines
/// itself, where they lie in the input's buffer (no copy). So `threads` threads decide,
/// with no thread that only moves bytes.
fn run_parallel<'s, R: BufRead, W: Write>(
    mut input: R,
    mut output: W,
    threads: usize,
    stats: &mut BatchStats,
    new_decider: impl Fn() -> LineDecider<'s>,
) -> std::io::Result<()> {
    use std::collections::BTreeMap;
    use std::sync::{Mutex, mpsc};
    let workers = threads.saturating_sub(1).max(1);
    let queued = workers * QUEUED_PER_WORKER;
    // A job: its sequence number, the chunk, and a buffer for its records. Both buffers
    // come back with the result and are used again, so that the run allocates (and the
    // system maps fresh pages) only for the first few chunks.
    let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Chunk, Vec<u8>)>(queued);
    let work_rx = Mutex::new(work_rx);
    let (done_tx, done_rx) = mpsc::channel::<(u64, Chunk, Vec<u8>, u64)>();
    std::thread::scope(|scope| -> std::io::Result<()> {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let work_rx = &work_rx;
            let mut d = new_decider();
            scope.spawn(move || {
                loop {
                    let job = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, chunk, mut out)) = job else {
                        return;
                    };
                    out.clear();
                    let bad = decide_chunk(&mut d, &chunk, &mut out);
                    if done_tx.send((seq, chunk, out, bad)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut d = new_decider();
        let mut read = 0u64;
        let mut written = 0u64;
        // Chunks handed to the workers and not yet taken back (queued, being decided, or
        // decided and waiting in `done_rx`).
        let mut with_workers = 0usize;
        let mut pending: BTreeMap<u64, (Chunk, Vec<u8>, u64)> = BTreeMap::new();
        let mut spare: Vec<(Chunk, Vec<u8>)> = Vec::new();
        let mut long = Vec::new();
        let mut eof = false;
        let mut result = Ok(());
        loop {
            if !eof && pending.len() <= MAX_PENDING {
                let (mut chunk, mut out) = spare.pop().unwrap_or_default();
                out.clear();
                let seq = read;
                if with_workers < queued + workers {
                    // A worker is likely to take it soon: copy the lines for it.
                    match refill_chunk(&mut input, stats.lines + 1, &mut chunk) {
                        Err(e) => {
                            result = Err(e);
                            eof = true;
                        }
                        Ok(()) if chunk.lines.is_empty() => eof = true,
                        Ok(()) => {
                            stats.lines += chunk.lines.len() as u64;
                            read += 1;
                            match work_tx.try_send((seq, chunk, out)) {
                                Ok(()) => with_workers += 1,
                                // The queue is full after all (the count above includes
                                // chunks done but not yet taken back), or no worker is
                                // left (one panicked): decide it here.
                                Err(
                                    mpsc::TrySendError::Full((_, chunk, mut out))
                                    | mpsc::TrySendError::Disconnected((_, chunk, mut out)),
                                ) => {
                                    let bad = decide_chunk(&mut d, &chunk, &mut out);
                                    pending.insert(seq, (chunk, out, bad));
                                }
                            }
                        }
                    }
                } else {
                    // The workers have enough waiting: decide the next lines here, where
                    // they lie in the input's buffer (no copy).
                    chunk.lines.clear();
                    match decide_in_place(
                        &mut input,
                        &mut d,
                        stats.lines + 1,
                        CHUNK_LINES,
                        usize::MAX,
                        &mut out,
                        &mut long,
                    ) {
                        Err(e) => {
                            result = Err(e);
                            eof = true;
                        }
                        Ok((0, _)) => eof = true,
                        Ok((lines, bad)) => {
                            stats.lines += lines;
                            read += 1;
                            pending.insert(seq, (chunk, out, bad));
                        }
                    }
                }
            }
            // Take back what the workers finished; wait for them only when there is
            // nothing else to do (the input is done, or too much is waiting its turn).
            let must_wait = (eof || pending.len() > MAX_PENDING) && !pending.contains_key(&written);
            if must_wait && with_workers > 0 {
                let Ok(done) = done_rx.recv() else { break };
                with_workers -= 1;
                pending.insert(done.0, (done.1, done.2, done.3));
            }
            while let Ok(done) = done_rx.try_recv() {
                with_workers -= 1;
                pending.insert(done.0, (done.1, done.2, done.3));
            }
            while let Some((chunk, out, bad)) = pending.remove(&written) {
                stats.bad += bad;
                if result.is_ok() {
                    result = output.write_all(&out);
                }
                spare.push((chunk, out));
                written += 1;
            }
            // A failed write (a closed pipe) ends the run: read nothing more.
            eof |= result.is_err();
            if eof && written == read {
                break;
            }
            if eof && with_workers == 0 {
                // Every chunk read was decided here or by a worker and written above.
                break;
            }
        }
        drop(work_tx);
        result?;
        output.flush()
    })
}

/// Chunks each worker may have waiting for it.
const QUEUED_PER_WORKER: usize = 2;

/// Decided chunks that may wait for an earlier one before the reading thread stops
/// reading and waits (bounds memory when a worker falls behind).
const MAX_PENDING: usize = 8;

/// Parses one request in the batch line format (a JSON object with `action`, the context
/// object, one inline object per slot and each parameter) into a [`Request`] for `set`.
/// This is the easiest way to build requests when embedding mailgate.
///
/// ```
/// let loaded = mailgate::policy_set::load(&mailgate::policy_set::Origin::Embedded).unwrap();
/// let set = &loaded.set;
/// let req = mailgate::batch::parse_request(set, br#"{"action":"change_approval_settings",
///     "org":{"deployment":"onpremises","version":"9.1"},
///     "user":{"security_roles":["System Administrator"],
///             "privileges":["Approve Email Addresses for Users or Queues"]}}"#).unwrap();
/// assert_eq!(set.evaluate(&req).effect, mailgate::ast::Effect::Allow);
/// ```
pub fn parse_request(set: &CompiledSet, json: &[u8]) -> Result<Request, BatchError> {
    let mut req = Request::default();
    parse::Parser::new(set).parse(&parse::Names::new(set), json, &mut req)?;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itoa_writes_decimal() {
        assert_eq!(itoa(0, &mut [0; 20]), b"0");
        assert_eq!(itoa(1_234_567, &mut [0; 20]), b"1234567");
        assert_eq!(itoa(u64::MAX, &mut [0; 20]), b"18446744073709551615");
    }

    #[test]
    fn read_line_bounds_memory_and_strips_crlf() {
        let long = vec![b'x'; MAX_BATCH_LINE_BYTES + 10];
        let mut input = Vec::new();
        input.extend_from_slice(b"a\r\n");
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\nlast");
        let mut r = std::io::BufReader::with_capacity(1024, input.as_slice());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf).unwrap(), Some(false));
        assert_eq!(buf, b"a");
        // A line over the limit leaves the buffer as it was.
        assert_eq!(read_line(&mut r, &mut buf).unwrap(), Some(true));
        assert_eq!(buf, b"a");
        buf.clear();
        assert_eq!(read_line(&mut r, &mut buf).unwrap(), Some(false));
        assert_eq!(buf, b"last");
        assert_eq!(read_line(&mut r, &mut buf).unwrap(), None);
    }
}
