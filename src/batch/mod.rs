//! `eval --batch`: JSON Lines in, JSON Lines out (SPEC §5).
//!
//! (Being implemented: see `LineDecider` for the contract.)

use crate::compile::CompiledSet;

/// Counts of a batch run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Input lines read (blank lines included).
    pub lines: u64,
    /// Lines that were not a valid request (each got an error record).
    pub bad: u64,
}

/// Decides single batch lines, reusing its buffers between calls.
#[derive(Debug)]
pub struct LineDecider<'a> {
    set: &'a CompiledSet,
}

impl<'a> LineDecider<'a> {
    /// A decider for `set`.
    pub fn new(set: &'a CompiledSet) -> Self {
        LineDecider { set }
    }

    /// Decides one input line (without its newline) and appends exactly one JSON object
    /// and a newline to `out`. Returns `false` if the line was not a valid request (the
    /// record is then an error record whose decision is `deny`).
    pub fn decide(&mut self, line_no: u64, line: &[u8], out: &mut Vec<u8>) -> bool {
        let _ = (self.set, line);
        out.extend_from_slice(
            format!("{{\"line\":{line_no},\"decision\":\"deny\",\"cause\":\"invalid_request\",\"rules\":[],\"reasons\":[],\"errors\":[\"not implemented\"],\"error\":\"not implemented\"}}\n").as_bytes(),
        );
        false
    }
}

/// Decides every line of `input` and writes one record per line to `output`, in order.
pub fn run<R: std::io::BufRead + Send, W: std::io::Write>(
    set: &CompiledSet,
    input: R,
    mut output: W,
    threads: usize,
) -> std::io::Result<BatchStats> {
    let _ = threads;
    let mut d = LineDecider::new(set);
    let mut stats = BatchStats::default();
    let mut buf = Vec::new();
    for line in input.split(b'\n') {
        let line = line?;
        stats.lines += 1;
        buf.clear();
        if !d.decide(stats.lines, &line, &mut buf) {
            stats.bad += 1;
        }
        output.write_all(&buf)?;
    }
    output.flush()?;
    Ok(stats)
}
