//! Loopback load benchmark of `mailgate serve` (run with `cargo bench --bench serve_load`).
//!
//! Starts the release binary with `--threads 1` pinned to one core (`taskset`, when there
//! are at least two cores), pins this load generator to another core, then:
//!
//! 1. sends a fixed number of `POST /v1/decide` requests (generated batch lines) over
//!    keep-alive connections from one tokio thread, and reports requests/s and the p50
//!    and p99 latency (closed loop: each connection sends its next request when the last
//!    answer arrived);
//! 2. stops that server, starts another with `--threads 2` and no pinning (a batch
//!    streams: its body is cut into ordered chunks of whole lines, decided on every free
//!    pool thread and written back in order, while the runtime threads move the bytes),
//!    posts a large JSON Lines body to `POST /v1/batch` a few times, sending while
//!    reading the answer, and reports lines/s (median).
//!
//! Sizes: `MAILGATE_LOAD_REQUESTS` (default 100000), `MAILGATE_LOAD_CONNECTIONS` (32),
//! `MAILGATE_LOAD_BATCH_LINES` (200000). `MAILGATE_LOAD_BIN` runs another `mailgate`
//! binary (to compare builds side by side; `MAILGATE_LOAD_POLICIES` gives it the policy
//! folder of its own commit), and `MAILGATE_LOAD_SERVE_ARGS` adds arguments to both
//! servers (for example `--decision-log /tmp/log.jsonl`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    reason = "a benchmark fails loudly and prints rates"
)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that is not ours skips the run.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"serve_load".contains(a.as_str()))
    {
        return;
    }
    let requests = env_usize("MAILGATE_LOAD_REQUESTS", 100_000);
    let connections = env_usize("MAILGATE_LOAD_CONNECTIONS", 32);
    let batch_lines = env_usize("MAILGATE_LOAD_BATCH_LINES", 200_000);

    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let pin = cores >= 2 && Command::new("taskset").arg("-V").output().is_ok();
    let (mut child, addr) = start_server(pin, "1");
    if pin && let Some(core) = core_affinity::get_core_ids().and_then(|c| c.get(1).copied()) {
        core_affinity::set_for_current(core);
    }
    println!(
        "serve_load: server {} with --threads 1; load generator {}; {cores} cores",
        if pin { "pinned to core 0" } else { "unpinned" },
        if pin { "pinned to core 1" } else { "unpinned" },
    );

    let orgs = mailgate::generate::org_variants();
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        mailgate::generate::requests(3, 1024)
            .iter()
            .map(|r| r.to_json(&orgs).into_bytes())
            .collect(),
    );
    let pid = child.id();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Warm up, then measure.
        decide_load(addr, &bodies, requests / 10, connections).await;
        let cpu = cpu_seconds(pid);
        let (took, mut latencies, errors) =
            decide_load(addr, &bodies, requests, connections).await;
        let cpu = cpu_seconds(pid) - cpu;
        latencies.sort_unstable();
        let pct = |per_mille: usize| {
            let i = (latencies.len() - 1) * per_mille / 1000;
            latencies[i].as_secs_f64() * 1e3
        };
        println!(
            "serve_load: /v1/decide {requests} requests over {connections} connections: {:.0} requests/s, p50 {:.3} ms, p99 {:.3} ms, {errors} non-200",
            requests as f64 / took.as_secs_f64(),
            pct(500),
            pct(990),
        );
        println!(
            "serve_load: /v1/decide server CPU time {cpu:.2} s: {:.0} requests per server CPU-second",
            requests as f64 / cpu
        );

        // The batch phase gets its own server, on both cores: one batch is cut into parts
        // decided at once (the load generator, mostly copying bytes, stays on core 1).
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
        let (batch_child, addr) = start_server(false, "2");
        child = batch_child;
        let pid = child.id();
        println!("serve_load: /v1/batch against a new server with --threads 2, unpinned");
        let mut body = Vec::new();
        for r in mailgate::generate::requests(5, batch_lines) {
            body.extend_from_slice(r.to_json(&orgs).as_bytes());
            body.push(b'\n');
        }
        let mut rates = Vec::new();
        let cpu = cpu_seconds(pid);
        for _ in 0..5 {
            let start = Instant::now();
            let (status, out) = post(addr, "/v1/batch", &body).await;
            let took = start.elapsed();
            assert_eq!(status, 200);
            assert_eq!(
                memchr::memchr_iter(b'\n', &out).count(),
                batch_lines,
                "one record per line"
            );
            rates.push(batch_lines as f64 / took.as_secs_f64());
        }
        let cpu = cpu_seconds(pid) - cpu;
        rates.sort_by(f64::total_cmp);
        println!(
            "serve_load: /v1/batch {batch_lines} lines ({} MB) per post: {:.0} lines/s (median of 5; min {:.0}, max {:.0})",
            body.len() / 1_000_000,
            rates[2],
            rates[0],
            rates[4],
        );
        println!(
            "serve_load: /v1/batch server CPU time {cpu:.2} s: {:.0} lines per server CPU-second",
            (5 * batch_lines) as f64 / cpu
        );
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Starts the release binary on a free port with `--threads threads`, pinned to core 0
/// when `pin`; returns it and its address.
fn start_server(pin: bool, threads: &str) -> (std::process::Child, SocketAddr) {
    let exe = std::env::var("MAILGATE_LOAD_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_mailgate").to_owned());
    let exe = exe.as_str();
    let extra = std::env::var("MAILGATE_LOAD_SERVE_ARGS").unwrap_or_default();
    let policies = std::env::var("MAILGATE_LOAD_POLICIES")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/policies").to_owned());
    let policies = policies.as_str();
    let serve_args = [
        "serve",
        "--threads",
        threads,
        "--addr",
        "127.0.0.1:0",
        "--max-batch-bytes",
        "1073741824",
        "--policies",
        policies,
    ];
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", exe]);
        c
    } else {
        Command::new(exe)
    };
    let mut child = cmd
        .args(serve_args)
        .args(extra.split_whitespace())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start mailgate serve");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr: SocketAddr = loop {
        let line = lines.next().expect("serve exited").unwrap();
        if let Some(rest) = line.strip_prefix("listening on ") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

/// User plus system CPU time of process `pid` so far, in seconds (Linux; 0 elsewhere).
/// On a busy machine, requests per CPU-second says what one core would do alone.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15: indices 11 and 12 here; 100 ticks a second.
    (ticks(11) + ticks(12)) / 100.0
}

/// Sends `total` decide requests over `connections` keep-alive connections; returns the
/// wall time, every latency and the count of non-200 answers.
async fn decide_load(
    addr: SocketAddr,
    bodies: &Arc<Vec<Vec<u8>>>,
    total: usize,
    connections: usize,
) -> (Duration, Vec<Duration>, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let next = next.clone();
        let bodies = bodies.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await;
            let mut latencies = Vec::new();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                let status = conn.request("/v1/decide", &bodies[i % bodies.len()]).await;
                latencies.push(t.elapsed());
                errors += usize::from(status != 200);
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::with_capacity(total);
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    (start.elapsed(), all, errors)
}

/// A keep-alive HTTP/1.1 connection that reads `Content-Length` answers.
struct Conn {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
    req: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: Vec::with_capacity(1 << 16),
            req: Vec::with_capacity(4096),
        }
    }

    async fn request(&mut self, path: &str, body: &[u8]) -> u16 {
        self.req.clear();
        self.req.extend_from_slice(
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        self.req.extend_from_slice(body);
        self.stream.write_all(&self.req).await.unwrap();
        self.read_response().await.0
    }

    async fn read_response(&mut self) -> (u16, Vec<u8>) {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end]).unwrap().to_owned();
                let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
                let len: Option<usize> = head.lines().find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                });
                let Some(len) = len else {
                    // Chunked (a streamed `/v1/batch`): read to the last chunk.
                    let body = self.read_chunked(end + 4).await;
                    return (status, body);
                };
                let total = end + 4 + len;
                while self.buf.len() < total {
                    self.fill().await;
                }
                let body = self.buf[end + 4..total].to_vec();
                self.buf.drain(..total);
                return (status, body);
            }
            self.fill().await;
        }
    }

    /// The payload of the chunked body that starts at `self.buf[at..]`.
    async fn read_chunked(&mut self, mut at: usize) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let eol = loop {
                if let Some(i) = self.buf[at..].windows(2).position(|w| w == b"\r\n") {
                    break at + i;
                }
                self.fill().await;
            };
            let size = std::str::from_utf8(&self.buf[at..eol]).unwrap();
            let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
            while self.buf.len() < eol + 2 + size + 2 {
                self.fill().await;
            }
            body.extend_from_slice(&self.buf[eol + 2..eol + 2 + size]);
            at = eol + 2 + size + 2;
            if size == 0 {
                self.buf.drain(..at);
                return body;
            }
            // Keeps the buffer small: what was read is dropped.
            self.buf.drain(..at);
            at = 0;
        }
    }

    async fn fill(&mut self) {
        self.buf.reserve(65536);
        let n = self.stream.read_buf(&mut self.buf).await.unwrap();
        assert!(n > 0, "connection closed");
    }
}

/// One POST on a fresh connection; returns the status and body.
async fn post(addr: SocketAddr, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut conn = Conn::open(addr).await;
    conn.req.clear();
    conn.req.extend_from_slice(
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    conn.stream.write_all(&conn.req).await.unwrap();
    // Sent while the answer is read: a streamed batch answers as lines arrive.
    let (mut reader, mut writer) = conn.stream.into_split();
    let body = body.to_vec();
    let send = tokio::spawn(async move {
        writer.write_all(&body).await.unwrap();
        writer
    });
    let mut buf = std::mem::take(&mut conn.buf);
    let mut conn_reader = ReadHalfConn {
        reader: &mut reader,
        buf: &mut buf,
    };
    let answer = conn_reader.read_response().await;
    drop(send.await.unwrap());
    answer
}

/// The read half of a connection, reading one answer (what [`Conn`] reads).
struct ReadHalfConn<'a> {
    reader: &'a mut tokio::net::tcp::OwnedReadHalf,
    buf: &'a mut Vec<u8>,
}

impl ReadHalfConn<'_> {
    async fn read_response(&mut self) -> (u16, Vec<u8>) {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end]).unwrap().to_owned();
                let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
                let len: Option<usize> = head.lines().find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                });
                let mut at = end + 4;
                if let Some(len) = len {
                    while self.buf.len() < at + len {
                        self.fill().await;
                    }
                    return (status, self.buf[at..at + len].to_vec());
                }
                let mut body = Vec::new();
                loop {
                    let eol = loop {
                        if let Some(i) = self.buf[at..].windows(2).position(|w| w == b"\r\n") {
                            break at + i;
                        }
                        self.fill().await;
                    };
                    let size = std::str::from_utf8(&self.buf[at..eol]).unwrap();
                    let size =
                        usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
                    while self.buf.len() < eol + 2 + size + 2 {
                        self.fill().await;
                    }
                    body.extend_from_slice(&self.buf[eol + 2..eol + 2 + size]);
                    self.buf.drain(..eol + 2 + size + 2);
                    at = 0;
                    if size == 0 {
                        return (status, body);
                    }
                }
            }
            self.fill().await;
        }
    }

    async fn fill(&mut self) {
        self.buf.reserve(65536);
        let n = self.reader.read_buf(self.buf).await.unwrap();
        assert!(n > 0, "connection closed");
    }
}
