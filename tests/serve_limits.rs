//! `mailgate serve` as an operator runs it in production: the decision log keeps
//! masked values out of every line, is private, bounded and never holds shutdown past
//! its deadline; limits bound the work. Each test runs the real binary.

use crate::serve::{DEADLINE, Server, samples};
use crate::util::{repo_path, temp_dir};
use sha2::{Digest, Sha256};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "dana@contoso.com";

/// The value of the sample `series` in the `/metrics` text (0 when absent).
fn metric(server: &Server, series: &str) -> Option<f64> {
    samples(server.get("/metrics").text())
        .into_iter()
        .find(|(s, _)| s == series)
        .map(|(_, v)| v)
}

/// Polls `done` until it holds, within the deadline.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn log_masks_cover_invalid_and_unparseable_requests() {
    let dir = temp_dir("serve-limits-mask");
    let log = dir.join("decisions.jsonl");
    let server = Server::start(&[
        "--policies",
        "policies",
        "--decision-log",
        log.to_str().unwrap(),
        "--log-mask",
        "user.upn",
    ]);
    let valid = format!(
        r#"{{"action":"change_approval_settings","org":{{"version":"9.1"}},"user":{{"upn":"{SECRET}","security_roles":[]}}}}"#
    );
    let typo = valid.replace("security_roles", "security_rolez");
    let wrong_type = valid.replace(&format!("\"{SECRET}\""), &format!("[\"{SECRET}\"]"));
    let cut = &valid[..valid.find(".com").unwrap()];
    assert_eq!(server.post("/v1/decide", valid.as_bytes()).status, 200);
    for bad in [typo.as_str(), wrong_type.as_str(), cut] {
        assert_eq!(
            server.post("/v1/decide", bad.as_bytes()).status,
            400,
            "{bad}"
        );
    }
    // A batch logs each line: an unparseable one among them.
    let batch = format!("{valid}\n{cut}\n");
    assert_eq!(server.post("/v1/batch", batch.as_bytes()).status, 200);
    assert_eq!(server.terminate(), 0);

    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 6, "{text}");
    assert!(
        !text.contains("dana"),
        "a masked value reached the log:\n{text}"
    );
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The typo: parsed, masked, still refused.
    assert_eq!(events[1]["erased"], serde_json::json!(["/user/upn"]));
    assert_eq!(
        events[1]["input"]["user"],
        serde_json::json!({"security_rolez": []})
    );
    assert_eq!(events[1]["result"]["cause"], "invalid_request");
    // Not JSON: its size and digest only.
    let digest = Sha256::digest(cut.as_bytes())
        .iter()
        .fold(String::new(), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        });
    let want = serde_json::json!({"input_bytes": cut.len(), "input_sha256": digest});
    assert_eq!(events[3]["input"], want);
    assert_eq!(events[5]["input"], want);
}

#[test]
fn an_unknown_log_mask_exits_2_with_a_suggestion() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(["serve", "--addr", "127.0.0.1:0", "--policies", "policies"])
        .args(["--log-mask", "user.upm"])
        .current_dir(repo_path(""))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started with an unknown --log-mask path");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("user.upm") && err.contains("did you mean `user.upn`?"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn the_log_file_is_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("serve-limits-private");
    let log = dir.join("decisions.jsonl");
    let server = Server::start(&[
        "--policies",
        "policies",
        "--decision-log",
        log.to_str().unwrap(),
    ]);
    // Once it answers, its signal handlers are in place.
    assert_eq!(server.get("/health/live").status, 200);
    assert_eq!(server.terminate(), 0);
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
}

/// `/dev/full` takes the file open but fails every write: the failures are counted and
/// `/v1/status` says the log is not fine; deciding goes on.
#[cfg(target_os = "linux")]
#[test]
fn log_write_failures_are_counted_and_reported() {
    let server = Server::start(&["--policies", "policies", "--decision-log", "/dev/full"]);
    assert_eq!(
        metric(&server, "mailgate_decision_log_write_errors_total"),
        Some(0.0)
    );
    assert_eq!(server.status()["log_ok"], true);
    let line = r#"{"action":"change_approval_settings","org":{"version":"9.1"},"user":{"security_roles":[]}}"#;
    assert_eq!(server.post("/v1/decide", line.as_bytes()).status, 200);
    wait_for("a counted write error", || {
        metric(&server, "mailgate_decision_log_write_errors_total").unwrap_or(0.0) >= 1.0
    });
    assert_eq!(server.status()["log_ok"], false);
    assert_eq!(server.post("/v1/decide", line.as_bytes()).status, 200);
    assert_eq!(server.terminate(), 0);
}

/// The log goes to a FIFO that is open but never read: the writer stalls once the pipe
/// is full. The queue (bounded in bytes) then drops and counts decisions, and SIGTERM
/// still exits 0 within the drain deadline.
#[cfg(target_os = "linux")]
#[test]
fn sigterm_exits_within_the_drain_deadline_when_the_log_stalls() {
    let dir = temp_dir("serve-limits-fifo");
    let fifo = dir.join("log.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        assert!(std::env::var("CI").is_err(), "mkfifo is missing");
        eprintln!("skipped: mkfifo is missing");
        return;
    }
    // Opens the read end (the server's open for writing waits for it) and never reads.
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::File::open(reader_path).unwrap());
    let server = Server::start(&[
        "--policies",
        "policies",
        "--decision-log",
        fifo.to_str().unwrap(),
        "--log-queue-bytes",
        "200000",
        "--drain",
        "2",
    ]);
    let _held = reader.join().unwrap();
    let line = r#"{"action":"change_approval_settings","org":{"version":"9.1"},"user":{"security_roles":[]}}"#;
    let body = format!("{line}\n").repeat(5000);
    assert_eq!(server.post("/v1/batch", body.as_bytes()).status, 200);
    wait_for("dropped decisions", || {
        metric(&server, "mailgate_decision_log_dropped_total").unwrap_or(0.0) > 0.0
    });
    assert_eq!(server.status()["log_ok"], false);
    let pid = server.child.id().to_string();
    let start = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut server = server;
    let code = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s.code();
        }
        assert!(
            start.elapsed() < Duration::from_secs(2 + 8),
            "serve did not exit within the drain deadline (2 s) with a stalled log"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0), "{}", server.stderr.lock().unwrap());
    let stderr = server.stderr.lock().unwrap().clone();
    assert!(stderr.contains("did not drain"), "{stderr}");
}

#[test]
fn why_not_max_options_is_capped() {
    let server = Server::start(&["--policies", "policies"]);
    let line = r#"{"action":"change_approval_settings","org":{"version":"9.1"},"user":{"security_roles":[]}}"#;
    let ok = server.post("/v1/decide?why_not=true&max_options=3", line.as_bytes());
    assert_eq!(ok.status, 200, "{}", ok.text());
    let over = server.post(
        "/v1/decide?why_not=true&max_options=100000",
        line.as_bytes(),
    );
    assert_eq!(over.status, 400, "{}", over.text());
    assert_eq!(over.json()["decision"], "deny");
    assert!(
        over.text().contains("max_options is at most"),
        "{}",
        over.text()
    );
}

const DECIDE_LINE: &str =
    r#"{"action":"change_approval_settings","org":{"version":"9.1"},"user":{"security_roles":[]}}"#;

/// Sends a whole request, shuts the write side, and reads the answer's status line.
fn half_closed_request(addr: std::net::SocketAddr) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, DEADLINE).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!(
        "POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{DECIDE_LINE}",
        DECIDE_LINE.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    s.shutdown(std::net::Shutdown::Write).ok()?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let head = String::from_utf8_lossy(&raw);
    head.split(' ').nth(1)?.parse().ok()
}

#[test]
fn a_half_closed_client_gets_its_answer() {
    let server = Server::start(&["--policies", "policies"]);
    let answered = (0..200)
        .filter(|_| half_closed_request(server.addr) == Some(200))
        .count();
    assert_eq!(
        answered, 200,
        "only {answered} of 200 half-closed requests were answered"
    );
}

/// A client that sends part of a request head is cut off after `--header-timeout`.
#[test]
fn a_half_sent_head_is_closed_after_the_header_timeout() {
    use std::io::{Read, Write};
    let server = Server::start(&["--policies", "policies", "--header-timeout", "1"]);
    let mut s = std::net::TcpStream::connect_timeout(&server.addr, DEADLINE).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let read = s.read_to_end(&mut buf);
    assert!(
        !matches!(&read, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "the connection was still open after 20 s: {read:?}"
    );
}

/// With 256 descriptors and 1,000 clients holding half-sent heads, a new client is
/// answered within the header timeout plus 2 s (retrying a refused connection).
#[cfg(target_os = "linux")]
#[test]
fn a_new_client_is_served_while_1000_clients_hold_half_sent_heads() {
    use std::io::{Read, Write};
    let have = Command::new("prlimit")
        .arg("--version")
        .stdout(Stdio::null())
        .status();
    if !have.is_ok_and(|s| s.success()) {
        assert!(std::env::var("CI").is_err(), "prlimit is missing");
        eprintln!("skipped: prlimit is missing");
        return;
    }
    let header_timeout = 2;
    let server = Server::start_under(
        &["prlimit", "--nofile=256:256", "--"],
        "127.0.0.1:0",
        &[
            "--policies",
            "policies",
            "--header-timeout",
            &header_timeout.to_string(),
        ],
    );
    let mut held = Vec::new();
    for _ in 0..1000 {
        if let Ok(mut s) =
            std::net::TcpStream::connect_timeout(&server.addr, Duration::from_secs(1))
        {
            let _ = s.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n");
            held.push(s);
        }
    }
    let start = Instant::now();
    let limit = Duration::from_secs(header_timeout + 2);
    let probe = |addr| -> Option<String> {
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        s.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        Some(String::from_utf8_lossy(&raw).into_owned())
    };
    loop {
        let answer = probe(server.addr);
        if answer
            .as_deref()
            .is_some_and(|a| a.starts_with("HTTP/1.1 200"))
        {
            break;
        }
        assert!(
            start.elapsed() < limit,
            "no /health/live answer within {limit:?}; last: {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(held);
    assert_eq!(server.terminate(), 0);
}

/// The server's peak resident memory in KiB (`VmHWM`).
#[cfg(target_os = "linux")]
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// 500 KB of empty lines make some 75 MB of error records. Streamed, the server holds a
/// few buffers of it, not the body and the whole answer; and the answer is byte for byte
/// `eval --batch`'s.
#[cfg(target_os = "linux")]
#[test]
fn a_batch_streams_in_bounded_memory_with_the_records_of_eval_batch() {
    let server = Server::start(&["--policies", "policies"]);
    // Warm up, then measure the growth of the peak.
    assert_eq!(server.post("/v1/batch", b"{}\n").status, 200);
    let before = peak_rss_kib(server.child.id());
    let body = vec![b'\n'; 500_000];
    let r = server.post("/v1/batch", &body);
    assert_eq!(r.status, 200);
    let grew = peak_rss_kib(server.child.id()).saturating_sub(before);
    let mut eval = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(["eval", "--policies", "policies", "--batch", "-"])
        .current_dir(repo_path(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = eval.stdin.take().unwrap();
    let feed = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &body));
    let expected = eval.wait_with_output().unwrap().stdout;
    feed.join().unwrap().unwrap();
    assert!(expected.len() > 50_000_000, "{} bytes", expected.len());
    assert!(
        r.body == expected,
        "the streamed records differ from eval --batch's"
    );
    assert!(
        grew < 40 * 1024,
        "the server's peak memory grew by {grew} KiB for a {} byte answer",
        expected.len()
    );
    assert_eq!(server.terminate(), 0);
}

/// Sends `data` as one chunk of a chunked request body.
fn chunk(s: &mut std::net::TcpStream, data: &[u8]) {
    use std::io::Write;
    s.write_all(format!("{:x}\r\n", data.len()).as_bytes())
        .unwrap();
    s.write_all(data).unwrap();
    s.write_all(b"\r\n").unwrap();
}

/// The first record comes back while the rest of the body has not been sent.
#[test]
fn batch_records_arrive_while_the_body_is_still_being_sent() {
    use std::io::{Read, Write};
    let server = Server::start(&["--policies", "policies"]);
    let mut s = std::net::TcpStream::connect_timeout(&server.addr, DEADLINE).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    chunk(&mut s, format!("{DECIDE_LINE}\n").as_bytes());
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\"line\":1,") {
        let n = s
            .read(&mut buf)
            .expect("no record before the end of the body");
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    chunk(&mut s, format!("{DECIDE_LINE}\n").as_bytes());
    s.write_all(b"0\r\n\r\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let _ = s.read_to_end(&mut got);
    assert!(String::from_utf8_lossy(&got).contains("\"line\":2,"));
}

/// The sum of `mailgate_decisions_total`.
fn decisions_total(server: &Server) -> f64 {
    samples(server.get("/metrics").text())
        .into_iter()
        .filter(|(s, _)| s.starts_with("mailgate_decisions_total"))
        .map(|(_, v)| v)
        .sum()
}

/// A batch still being sent at `--timeout` is cut off, and deciding stops with it.
#[test]
fn a_batch_past_the_timeout_stops_deciding() {
    use std::io::{Read, Write};
    let server = Server::start(&["--policies", "policies", "--timeout", "1"]);
    let mut s = std::net::TcpStream::connect_timeout(&server.addr, DEADLINE).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let piece = format!("{DECIDE_LINE}\n").repeat(100);
    let start = Instant::now();
    // Keeps sending for 3 s, well past the 1 s timeout (the server may stop reading).
    while start.elapsed() < Duration::from_secs(3) {
        let sent = s.write_all(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes());
        if sent.is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let decided = decisions_total(&server);
    assert!(
        decided > 0.0,
        "nothing was decided while the body streamed in"
    );
    std::thread::sleep(Duration::from_secs(1));
    let later = decisions_total(&server);
    assert!(
        (later - decided).abs() < 0.5,
        "deciding went on after the timeout: {decided} then {later}"
    );
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "the answer looks complete: {text}"
    );
}

/// A policy folder whose why-not analysis takes seconds: one rule over `n` pairs
/// `xs contains tI and ys contains tI`, whose diagram (all of `xs` before `ys`) has
/// about 2^n nodes. Use 17: it stays under the node budget and takes 8 s in a release
/// build (11 s in the test profile); 18 pairs exceed the budget, which is reported in
/// about a second, so on a fast machine the answer would beat a 1 s timeout.
fn slow_why_not_policies(name: &str, n: usize) -> std::path::PathBuf {
    let dir = temp_dir(name);
    let things: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    let schema = format!(
        "enums:\n  thing: [{}]\nentities:\n  user:\n    plural: users\n    attributes:\n      xs: {{ type: \"set<thing>\", default: [] }}\n      ys: {{ type: \"set<thing>\", default: [] }}\ncontext:\n  name: org\n  attributes:\n    locked: {{ type: bool, default: false }}\nactions:\n  act: {{ slots: {{ user: user }} }}\n",
        things.join(", ")
    );
    let pairs: Vec<String> = things
        .iter()
        .map(|t| format!("(user.xs contains \"{t}\" and user.ys contains \"{t}\")"))
        .collect();
    let policy = format!(
        "rule pairs {{\n  allow act\n  when {}\n  reason \"a pair\"\n}}\n",
        pairs.join(" or ")
    );
    std::fs::write(dir.join("schema.yaml"), schema).unwrap();
    std::fs::write(dir.join("pairs.policy"), policy).unwrap();
    dir
}

/// The CPU time (user + system) the process has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the `(comm)` field: state is field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A why-not analysis past `--timeout` is answered 503 at the timeout (not when the
/// analysis ends), and the analysis stops within a second: the server's CPU time stops
/// growing.
#[test]
fn a_why_not_past_the_timeout_is_503_and_stops() {
    let dir = slow_why_not_policies("why-not-timeout", 17);
    let policies = dir.to_str().unwrap();
    let server = Server::start(&["--policies", policies, "--timeout", "1"]);
    let line = r#"{"action":"act","user":{"xs":[],"ys":[]}}"#;
    let start = Instant::now();
    let r = server.post("/v1/decide?why_not=true&max_options=20", line.as_bytes());
    let took = start.elapsed();
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["decision"], "deny");
    assert!(took < Duration::from_secs(5), "the 503 came after {took:?}");
    std::thread::sleep(Duration::from_secs(1));
    let before = cpu_ticks(server.pid());
    std::thread::sleep(Duration::from_secs(1));
    let after = cpu_ticks(server.pid());
    // 100 ticks a second: a running analysis would add about 100 in that second.
    assert!(
        after - before < 20,
        "the analysis went on after its 503: {before} then {after} ticks"
    );
    // The same analysis within the timeout is answered whole.
    let small = slow_why_not_policies("why-not-quick", 4);
    let small = Server::start(&["--policies", small.to_str().unwrap(), "--timeout", "1"]);
    let ok = small.post("/v1/decide?why_not=true&max_options=20", line.as_bytes());
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["counterfactuals"]["complete"], true);
}

/// With `--max-concurrency 1`, a why-not analysis holds the one permit until its 503 at
/// the timeout: a decide sent while it runs waits until then.
#[test]
fn a_why_not_counts_against_max_concurrency() {
    let dir = slow_why_not_policies("why-not-concurrency", 17);
    let policies = dir.to_str().unwrap().to_owned();
    let server = Server::start(&[
        "--policies",
        &policies,
        "--timeout",
        "1",
        "--max-concurrency",
        "1",
    ]);
    let addr = server.addr;
    let line = r#"{"action":"act","user":{"xs":[],"ys":[]}}"#;
    let slow = std::thread::spawn(move || {
        crate::serve::http(
            addr,
            "POST",
            "/v1/decide?why_not=true&max_options=20",
            &[],
            line.as_bytes(),
        )
        .status
    });
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let plain = server.post("/v1/decide", line.as_bytes());
    let waited = start.elapsed();
    assert_eq!(slow.join().unwrap(), 503);
    assert!(
        waited > Duration::from_millis(500),
        "a decide ran beside the why-not (after {waited:?}): {}",
        plain.text()
    );
}

/// A client that sends `Expect: 100-continue` (curl does for bodies over 1 MiB) is told to go
/// on before the answer starts, so it never waits out its own timeout (curl's is 1 s).
#[test]
fn a_batch_client_that_expects_100_continue_gets_it_first() {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let server = Server::start(&["--policies", "policies"]);
    let line = b"{\"action\":\"approve_mailbx\"}\n";
    let body: Vec<u8> = line.repeat(40_000);
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert_eq!(
        status.trim_end(),
        "HTTP/1.1 100 Continue",
        "the server answered before asking for the body"
    );
    let mut blank = String::new();
    reader.read_line(&mut blank).unwrap();
    s.write_all(&body).unwrap();
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        rest.starts_with("HTTP/1.1 200"),
        "{}",
        &rest[..rest.len().min(200)]
    );
    assert_eq!(
        rest.matches("\"cause\":\"invalid_request\"").count(),
        40_000
    );
    assert_eq!(server.terminate(), 0);
}
