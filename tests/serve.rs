//! `mailgate serve` end to end: the real binary on a free loopback port, a plain HTTP/1.1
//! client, hot reload on a temporary policy folder, the decision log and its replay,
//! metrics, limits and shutdown. Every wait polls with a bounded deadline.

use crate::util::{copy_dir, mailgate, repo_path, temp_dir};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest any single wait may take (the machine may be busy building).
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// A running `mailgate serve`.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `mailgate serve --addr 127.0.0.1:0 ARGS...` and waits for its
    /// `listening on` line.
    pub(crate) fn start(args: &[&str]) -> Server {
        Server::start_under(&[], "127.0.0.1:0", args)
    }

    /// Starts `mailgate serve --addr ADDR ARGS...`.
    pub(crate) fn start_at(addr: &str, args: &[&str]) -> Server {
        Server::start_under(&[], addr, args)
    }

    /// Starts `mailgate serve --addr ADDR ARGS...` under a wrapper command
    /// (`prlimit --nofile=256 --`), if any.
    pub(crate) fn start_under(wrapper: &[&str], addr: &str, args: &[&str]) -> Server {
        let bin = env!("CARGO_BIN_EXE_mailgate");
        let (program, pre) = match wrapper.split_first() {
            Some((w, rest)) => (*w, [rest, &[bin]].concat()),
            None => (bin, Vec::new()),
        };
        let mut child = Command::new(program)
            .args(pre)
            .args(["serve", "--addr", addr])
            .args(args)
            .current_dir(repo_path(""))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start mailgate serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("listening on ") {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_owned();
                    let _ = tx.send(addr);
                }
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let Ok(addr) = rx.recv_timeout(DEADLINE) else {
            let _ = child.kill();
            panic!(
                "mailgate serve did not start listening:\n{}",
                stderr.lock().unwrap()
            );
        };
        Server {
            child,
            addr: addr.parse().unwrap(),
            stderr,
        }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn get(&self, path: &str) -> Response {
        http(self.addr, "GET", path, &[], b"")
    }

    pub(crate) fn post(&self, path: &str, body: &[u8]) -> Response {
        http(self.addr, "POST", path, &[], body)
    }

    pub(crate) fn status(&self) -> serde_json::Value {
        self.get("/v1/status").json()
    }

    pub(crate) fn revision(&self) -> String {
        self.status()["revision"].as_str().unwrap().to_owned()
    }

    /// Polls `/v1/status` until `done` holds, within the deadline.
    pub(crate) fn wait_status(&self, what: &str, done: impl Fn(&serde_json::Value) -> bool) {
        let start = Instant::now();
        loop {
            let s = self.status();
            if done(&s) {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}; last status {s}\n--- stderr\n{}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and returns the exit code, within the deadline.
    pub(crate) fn terminate(mut self) -> i32 {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM failed");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status
                    .code()
                    .expect("mailgate serve was killed by a signal");
            }
            assert!(
                start.elapsed() < DEADLINE,
                "mailgate serve did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub(crate) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut s = TcpStream::connect_timeout(&addr, DEADLINE).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.set_write_timeout(Some(DEADLINE)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The body is sent while the answer is read: `/v1/batch` answers as lines arrive, and
    // the server may answer (413) before reading all of a large body.
    let mut w = s.try_clone().unwrap();
    let body = body.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&body);
    });
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    writer.join().unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(&raw)));
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = &raw[split + 4..];
    Response {
        status,
        headers,
        body: if chunked {
            dechunk(body)
        } else {
            body.to_vec()
        },
    }
}

/// The payload of a `Transfer-Encoding: chunked` body (panics on a cut-off one: the
/// server aborted the answer).
pub(crate) fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a cut-off chunked body");
        let size = std::str::from_utf8(&raw[..eol]).unwrap();
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        raw = &raw[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// The revision as documented: SHA-256 over the schema and policy files sorted by
/// relative path, each as path, a zero byte, 8-byte big-endian length, content.
pub(crate) fn expected_revision(dir: &Path) -> String {
    let mut files = Vec::new();
    collect(dir, dir, &mut files);
    files.sort();
    let mut h = Sha256::new();
    for (rel, bytes) in files {
        h.update(rel.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(&bytes);
    }
    h.finalize().iter().fold(String::new(), |mut s, b| {
        s.push_str(&format!("{b:02x}"));
        s
    })
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(root, &p, out);
        } else {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel == "schema.yaml" || rel.ends_with(".policy") {
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
}

/// Writes a file the way editors that save by rename do: a temporary file, then a rename
/// over the target.
pub(crate) fn save_by_rename(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A fresh copy of the shipped policies.
pub(crate) fn policy_copy(name: &str) -> PathBuf {
    let dir = temp_dir(name).join("policies");
    copy_dir(&repo_path("policies"), &dir);
    dir
}

/// An on-premises System Administrator with the approval privilege may change the
/// approval settings (DOMAIN: on-premises approval needs both).
pub(crate) const SETTINGS_ALLOWED: &str = r#"{"action":"change_approval_settings","org":{"deployment":"onpremises","version":"9.1"},"user":{"security_roles":["System Administrator"],"privileges":["Approve Email Addresses for Users or Queues"]}}"#;

/// Without the privilege, no rule allows it.
const SETTINGS_DENIED: &str = r#"{"action":"change_approval_settings","org":{"deployment":"onpremises","version":"9.1"},"user":{"security_roles":["Salesperson"]}}"#;

pub(crate) const FREEZE: &str = "rule freeze-settings {\n  deny change_approval_settings\n  reason \"settings are frozen\"\n}\n";

fn generated_lines(n: usize) -> Vec<String> {
    let orgs = mailgate::generate::org_variants();
    let mut lines: Vec<String> = mailgate::generate::requests(7, n)
        .iter()
        .map(|r| r.to_json(&orgs))
        .collect();
    lines.push(SETTINGS_ALLOWED.to_owned());
    lines.push(SETTINGS_DENIED.to_owned());
    lines.push(r#"{"action":"approve_mailbx"}"#.to_owned());
    lines.push("not json".to_owned());
    lines.push(r#"{"action":"change_approval_settings","org":{"version":"9.1"}}"#.to_owned());
    lines
}

fn without(mut v: serde_json::Value, keys: &[&str]) -> serde_json::Value {
    for k in keys {
        v.as_object_mut().unwrap().remove(*k);
    }
    v
}

#[test]
fn decide_and_batch_give_the_records_of_eval_batch() {
    let server = Server::start(&["--policies", "policies"]);
    let lines = generated_lines(300);
    let input = lines.join("\n") + "\n";
    let expected = mailgate(&["eval", "--batch", "-", "--policies", "policies"])
        .stdin(input.clone())
        .run();
    let expected_lines: Vec<&str> = expected.stdout.lines().collect();
    assert_eq!(expected_lines.len(), lines.len());

    // The batch endpoint answers byte for byte as eval --batch does.
    let batch = server.post("/v1/batch", input.as_bytes());
    assert_eq!(batch.status, 200);
    assert_eq!(batch.text(), expected.stdout);
    let revision = server.revision();
    assert_eq!(batch.header("x-mailgate-revision"), Some(revision.as_str()));
    assert_eq!(revision, expected_revision(&repo_path("policies")));

    // Each line alone through /v1/decide gets the same record, plus an id and the revision.
    let mut ids = std::collections::HashSet::new();
    for (line, want) in lines.iter().zip(&expected_lines) {
        let r = server.post("/v1/decide", line.as_bytes());
        let got = r.json();
        let want: serde_json::Value = serde_json::from_str(want).unwrap();
        let invalid = want["cause"] == "invalid_request";
        assert_eq!(r.status, if invalid { 400 } else { 200 }, "{line}");
        assert_eq!(got["revision"], revision.as_str());
        assert!(ids.insert(got["decision_id"].as_str().unwrap().to_owned()));
        assert_eq!(
            without(got, &["line", "decision_id", "revision"]),
            without(want, &["line"]),
            "{line}"
        );
    }

    // Decisions as the domain says, not only as eval --batch says.
    let allowed = server
        .post("/v1/decide", SETTINGS_ALLOWED.as_bytes())
        .json();
    assert_eq!(allowed["decision"], "allow");
    assert_eq!(allowed["rules"][0], "change-settings-onpremises");
    let denied = server.post("/v1/decide", SETTINGS_DENIED.as_bytes()).json();
    assert_eq!(denied["decision"], "deny");
    assert_eq!(denied["cause"], "no_rule_allows");

    // An invalid request is a 400 whose body still denies.
    let bad = server.post("/v1/decide", br#"{"action":"approve_mailbx"}"#);
    assert_eq!(bad.status, 400);
    let bad = bad.json();
    assert_eq!(bad["decision"], "deny");
    assert_eq!(bad["cause"], "invalid_request");
    assert!(bad["error"].as_str().unwrap().contains("approve_mailbox"));

    // ?explain=true adds every rule of the action with its conditions.
    let explained = server
        .post("/v1/decide?explain=true", SETTINGS_DENIED.as_bytes())
        .json();
    let rules = explained["explanation"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .any(|r| r["rule"] == "change-settings-onpremises"
                && r["result"] == "false"
                && !r["steps"].as_array().unwrap().is_empty())
    );

    // ?why_not=true adds the counterfactuals: the privilege alone does not suffice for a
    // Salesperson on-premises, the System Administrator role is needed too.
    let why = server
        .post("/v1/decide?why_not=true", SETTINGS_DENIED.as_bytes())
        .json();
    assert_eq!(why["decision"], "deny");
    let options = why["counterfactuals"]["options"].as_array().unwrap();
    assert!(!options.is_empty(), "{why}");
    assert!(options.iter().all(|o| o["decision"] == "allow"), "{why}");
    let with_admin = options.iter().any(|o| {
        o["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"] == "user.security_roles" && c["value"] == "System Administrator")
    });
    assert!(with_admin, "{why}");

    assert_eq!(server.terminate(), 0);
}

#[test]
fn limits_auth_and_probes() {
    let server = Server::start(&[
        "--policies",
        "policies",
        "--max-batch-bytes",
        "1000",
        "--token",
        "s3cret",
    ]);
    let auth = [("Authorization", "Bearer s3cret")];
    // Probes are open; everything else needs the token.
    assert_eq!(server.get("/health/live").status, 200);
    assert_eq!(server.get("/health/ready").status, 200);
    let r = server.post("/v1/decide", SETTINGS_ALLOWED.as_bytes());
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["decision"], "deny");
    let wrong = [("Authorization", "Bearer s3cret2")];
    let r = http(
        server.addr,
        "POST",
        "/v1/decide",
        &wrong,
        SETTINGS_ALLOWED.as_bytes(),
    );
    assert_eq!(r.status, 401);
    assert_eq!(http(server.addr, "GET", "/metrics", &[], b"").status, 401);
    let r = http(
        server.addr,
        "POST",
        "/v1/decide",
        &auth,
        SETTINGS_ALLOWED.as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["decision"], "allow");

    // Over 1 MiB for /v1/decide: 413, with a denying body.
    let big = vec![b' '; 1024 * 1024 + 1];
    let r = http(server.addr, "POST", "/v1/decide", &auth, &big);
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["decision"], "deny");
    // Over --max-batch-bytes for /v1/batch: 413; under it: 200.
    let lines = format!("{SETTINGS_ALLOWED}\n").repeat(10);
    let r = http(server.addr, "POST", "/v1/batch", &auth, lines.as_bytes());
    assert_eq!(r.status, 413);
    let r = http(
        server.addr,
        "POST",
        "/v1/batch",
        &auth,
        format!("{SETTINGS_ALLOWED}\n").as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(http(server.addr, "GET", "/nope", &auth, b"").status, 404);
    assert_eq!(
        http(server.addr, "GET", "/v1/decide", &auth, b"").status,
        405
    );
    assert_eq!(server.terminate(), 0);
}

#[test]
fn hot_reload_follows_renames_deletes_schema_edits_and_keeps_the_last_good_set() {
    let dir = policy_copy("serve-reload");
    let dir_arg = dir.to_str().unwrap().to_owned();
    let server = Server::start(&["--policies", &dir_arg]);
    let decide = || {
        server
            .post("/v1/decide", SETTINGS_ALLOWED.as_bytes())
            .json()
    };
    let first = server.revision();
    assert_eq!(first, expected_revision(&dir));
    assert_eq!(decide()["decision"], "allow");

    // 1. A new file saved by rename: the explicit deny wins.
    save_by_rename(&dir.join("freeze.policy"), FREEZE);
    let frozen = expected_revision(&dir);
    server.wait_status("the freeze", |s| s["revision"] == frozen.as_str());
    let d = decide();
    assert_eq!(d["decision"], "deny");
    assert_eq!(d["cause"], "denied_by_rule");
    assert_eq!(d["rules"][0], "freeze-settings");
    assert_eq!(d["revision"], frozen.as_str());

    // 2. A broken edit is refused: the last good set keeps deciding.
    save_by_rename(
        &dir.join("freeze.policy"),
        "rule freeze-settings {\n  deny change_approval_settings\n  when user.no_such_attribute\n}\n",
    );
    server.wait_status("the refused reload", |s| s["last_reload"]["ok"] == false);
    let s = server.status();
    assert_eq!(s["revision"], frozen.as_str());
    let diagnostics = s["last_reload"]["diagnostics"].as_array().unwrap();
    assert!(
        diagnostics
            .iter()
            .any(|d| d.as_str().unwrap().contains("freeze.policy:3")),
        "{diagnostics:?}"
    );
    assert_eq!(decide()["decision"], "deny");
    assert_eq!(decide()["revision"], frozen.as_str());
    // One save may reach the watch as more than one debounced batch: at least one refusal.
    let metrics = server.get("/metrics").text().to_owned();
    let failures = samples(&metrics)
        .into_iter()
        .find(|(s, _)| s == r#"mailgate_policy_reloads_total{result="refused"}"#)
        .unwrap()
        .1;
    assert!(failures >= 1.0, "{metrics}");
    assert!(server.stderr.lock().unwrap().contains("refused"));

    // 3. A deleted file is picked up.
    std::fs::remove_file(dir.join("freeze.policy")).unwrap();
    server.wait_status("the deletion", |s| s["revision"] == first.as_str());
    assert_eq!(server.status()["last_reload"]["ok"], true);
    assert_eq!(decide()["decision"], "allow");

    // 4. A schema edit: a new action becomes decidable (before: an unknown action).
    let line = r#"{"action":"archive_mailbox","user":{"security_roles":[]}}"#;
    assert_eq!(server.post("/v1/decide", line.as_bytes()).status, 400);
    let schema = std::fs::read_to_string(dir.join("schema.yaml")).unwrap();
    let schema = schema.replace(
        "actions:\n",
        "actions:\n  archive_mailbox: { slots: { user: user } }\n",
    );
    save_by_rename(&dir.join("schema.yaml"), &schema);
    let edited = expected_revision(&dir);
    server.wait_status("the schema edit", |s| s["revision"] == edited.as_str());
    let r = server.post("/v1/decide", line.as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["cause"], "no_rule_allows");

    // POST /v1/reload from loopback reloads on demand.
    let r = server.post("/v1/reload", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["revision"], edited.as_str());
    assert_eq!(server.terminate(), 0);
}

#[test]
fn every_response_decides_with_the_revision_it_names() {
    let dir = policy_copy("serve-atomic");
    let dir_arg = dir.to_str().unwrap().to_owned();
    let server = Server::start(&["--policies", &dir_arg]);
    let plain = expected_revision(&dir);
    std::fs::write(dir.join("freeze.policy"), FREEZE).unwrap();
    let frozen = expected_revision(&dir);
    std::fs::remove_file(dir.join("freeze.policy")).unwrap();
    assert_ne!(plain, frozen);
    let addr = server.addr;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (plain, frozen, stop) = (plain.clone(), frozen.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = [0usize; 2];
                // Bounded: at most this many requests per client.
                for _ in 0..20_000 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let d =
                        http(addr, "POST", "/v1/decide", &[], SETTINGS_ALLOWED.as_bytes()).json();
                    let rev = d["revision"].as_str().unwrap();
                    if rev == plain {
                        assert_eq!(d["decision"], "allow", "{d}");
                        seen[0] += 1;
                    } else if rev == frozen {
                        assert_eq!(d["decision"], "deny", "{d}");
                        assert_eq!(d["rules"][0], "freeze-settings", "{d}");
                        seen[1] += 1;
                    } else {
                        panic!("unknown revision in {d}");
                    }
                }
                seen
            })
        })
        .collect();
    for i in 0..8 {
        let target = if i % 2 == 0 {
            save_by_rename(&dir.join("freeze.policy"), FREEZE);
            &frozen
        } else {
            std::fs::remove_file(dir.join("freeze.policy")).unwrap();
            &plain
        };
        server.wait_status("a flip", |s| s["revision"] == target.as_str());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = [0usize; 2];
    for c in clients {
        let seen = c.join().unwrap();
        total[0] += seen[0];
        total[1] += seen[1];
    }
    assert!(
        total[0] > 0 && total[1] > 0,
        "both revisions decided: {total:?}"
    );
    assert_eq!(server.terminate(), 0);
}

#[test]
fn decision_log_replays_through_eval_batch() {
    let dir = temp_dir("serve-log");
    let log = dir.join("decisions.jsonl");
    let log_arg = log.to_str().unwrap().to_owned();
    let server = Server::start(&["--policies", "policies", "--decision-log", &log_arg]);
    let revision = server.revision();
    let lines = generated_lines(100);
    for line in &lines[..50] {
        server.post("/v1/decide", line.as_bytes());
    }
    let batch = server.post("/v1/batch", (lines[50..].join("\n") + "\n").as_bytes());
    assert_eq!(batch.status, 200);
    let batch_id = batch.header("x-mailgate-batch-id").unwrap().to_owned();
    // Shutdown flushes the log.
    assert_eq!(server.terminate(), 0);

    let text = std::fs::read_to_string(&log).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), lines.len());
    let mut replay = String::new();
    let mut results = Vec::new();
    for e in &events {
        assert_eq!(e["revision"], revision.as_str());
        assert!(e["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(e["eval_ns"].is_u64());
        assert_eq!(e["decision_id"].as_str().unwrap().len(), 36);
        if e["result"]["cause"] == "invalid_request" {
            // Refused requests are logged as received, as a string.
            assert!(e["input"].is_string());
            continue;
        }
        assert_eq!(e["action"], e["input"]["action"]);
        replay.push_str(&e["input"].to_string());
        replay.push('\n');
        results.push(e["result"].clone());
    }
    assert!(
        events
            .iter()
            .filter(|e| e["batch"]["id"] == batch_id.as_str())
            .count()
            == lines.len() - 50
    );
    let out = mailgate(&["eval", "--batch", "-", "--policies", "policies"])
        .stdin(replay)
        .run();
    let replayed: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| without(serde_json::from_str(l).unwrap(), &["line"]))
        .collect();
    assert_eq!(replayed.len(), results.len());
    assert!(results.len() > 90);
    for (got, want) in replayed.iter().zip(&results) {
        assert_eq!(got, want);
    }
}

#[test]
fn log_masks_erase_input_paths() {
    let dir = temp_dir("serve-mask");
    let log = dir.join("decisions.jsonl");
    let log_arg = log.to_str().unwrap().to_owned();
    let server = Server::start(&[
        "--policies",
        "policies",
        "--decision-log",
        &log_arg,
        "--log-mask",
        "user.upn",
    ]);
    let line = r#"{"action":"change_approval_settings","org":{"version":"9.1"},"user":{"upn":"dana@contoso.com","security_roles":[]}}"#;
    assert_eq!(server.post("/v1/decide", line.as_bytes()).status, 200);
    // The typo case: an invalid request is masked too.
    let typo = line.replace("security_roles", "security_rolez");
    assert_eq!(server.post("/v1/decide", typo.as_bytes()).status, 400);
    assert_eq!(server.terminate(), 0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(!text.contains("dana@contoso.com"), "{text}");
    let e: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(e["erased"], serde_json::json!(["/user/upn"]));
    assert_eq!(
        e["input"]["user"],
        serde_json::json!({"security_roles": []})
    );
}

/// Parses the Prometheus text format: every sample line is `name{labels} value`.
pub(crate) fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            let value = if value == "+Inf" {
                f64::INFINITY
            } else {
                value.parse().unwrap_or_else(|_| panic!("bad value in {l}"))
            };
            let name_end = series.find('{').unwrap_or(series.len());
            let name = &series[..name_end];
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "bad name in {l}"
            );
            if name_end < series.len() {
                assert!(series.ends_with('}'), "bad labels in {l}");
            }
            (series.to_owned(), value)
        })
        .collect()
}

#[test]
fn metrics_count_what_was_served() {
    let server = Server::start(&["--policies", "policies"]);
    for _ in 0..3 {
        server.post("/v1/decide", SETTINGS_ALLOWED.as_bytes());
    }
    server.post("/v1/decide", SETTINGS_DENIED.as_bytes());
    server.post("/v1/decide", b"{}");
    server.post(
        "/v1/batch",
        format!("{SETTINGS_ALLOWED}\n{SETTINGS_ALLOWED}\n").as_bytes(),
    );
    let r = server.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let samples = samples(r.text());
    let value = |series: &str| {
        samples
            .iter()
            .find(|(s, _)| s == series)
            .map_or_else(|| panic!("no {series} in\n{}", r.text()), |(_, v)| *v)
    };
    assert!((value(r#"mailgate_decisions_total{action="change_approval_settings",decision="allow",cause="allowed"}"#) - 5.0).abs() < 1e-9);
    assert!((value(r#"mailgate_decisions_total{action="change_approval_settings",decision="deny",cause="no_rule_allows"}"#) - 1.0).abs() < 1e-9);
    assert!(
        (value(r#"mailgate_decisions_total{action="-",decision="deny",cause="invalid_request"}"#)
            - 1.0)
            .abs()
            < 1e-9
    );
    let revision = server.revision();
    assert!(
        (value(&format!("mailgate_policy_info{{revision=\"{revision}\"}}")) - 1.0).abs() < 1e-9
    );
    assert!(value(r#"mailgate_policy_reloads_total{result="refused"}"#).abs() < 1e-9);
    assert!(value("mailgate_decision_log_dropped_total").abs() < 1e-9);
    // The decide histogram: cumulative buckets ending in the count.
    let labels = r#",handler="/v1/decide",method="POST",code="200"}"#;
    let buckets: Vec<f64> = samples
        .iter()
        .filter(|(s, _)| {
            s.starts_with("mailgate_http_request_duration_seconds_bucket{le=")
                && s.ends_with(labels)
        })
        .map(|(_, v)| *v)
        .collect();
    assert!(buckets.len() > 5);
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]));
    assert!((buckets[buckets.len() - 1] - 4.0).abs() < 1e-9);
    assert!((value(r#"mailgate_http_request_duration_seconds_count{handler="/v1/decide",method="POST",code="200"}"#) - 4.0).abs() < 1e-9);
    // A scraper that asks for OpenMetrics (as Prometheus does) gets it, labelled so.
    let r = http(
        server.addr,
        "GET",
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
        b"",
    );
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    assert!(r.text().ends_with("# EOF\n"));
    assert_eq!(server.terminate(), 0);
}

#[test]
fn startup_with_an_invalid_set_exits_1_with_its_diagnostics() {
    let dir = policy_copy("serve-invalid");
    std::fs::write(dir.join("broken.policy"), "rule x {\n  allow nope\n}\n").unwrap();
    let out = mailgate(&["serve", "--addr", "127.0.0.1:0", "--policies"])
        .arg(&dir)
        .run();
    out.code(1);
    assert!(out.stderr.contains("broken.policy:2"), "{}", out.stderr);
    assert!(!out.stderr.contains("listening on"));
}

/// A SIGTERM sent the moment `listening on` appears is a clean shutdown (exit 0): the
/// handlers are installed before the address is bound and the line printed. Repeated,
/// since the window it closes was a few milliseconds wide.
#[test]
fn sigterm_right_after_listening_on_exits_0() {
    for _ in 0..10 {
        let server = Server::start(&["--policies", "policies"]);
        assert_eq!(server.terminate(), 0);
    }
}
