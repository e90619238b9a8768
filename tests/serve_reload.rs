//! `mailgate serve` kept safe while its policies change: the reload gate (a candidate set
//! goes live only when it loads, is stable across two reads and keeps every invariant),
//! a chaos test with an in-place writer, the watch surviving its folder being replaced,
//! and access control. Every test runs the real binary; every wait has a deadline.

use crate::serve::{
    DEADLINE, FREEZE, Server, expected_revision, http, policy_copy, samples, save_by_rename,
};
use crate::util::{copy_dir, mailgate, temp_dir};
use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// An on-premises System Administrator with the approval privilege approving a mailbox
/// whose address is already approved: DOMAIN says an approved address is approved once,
/// so `no-reapproval` denies it, although the approver would otherwise be allowed.
const PROBE: &str = r#"{"action":"approve_mailbox","org":{"deployment":"onpremises","version":"9.1"},"user":{"security_roles":["System Administrator"],"privileges":["Approve Email Addresses for Users or Queues"]},"mailbox":{"approval":"approved","server":"exchange_onpremises","owner_kind":"user"}}"#;

/// The first `n` lines of `text`, as `head -n N` writes them.
fn head(text: &str, n: usize) -> String {
    text.split_inclusive('\n').take(n).collect()
}

/// Rewrites `path` in place (same file, truncated, then written), as `>`, `scp` or
/// `rsync --inplace` do.
fn write_in_place(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
}

/// The value of one Prometheus sample (0 when it is absent).
fn metric(server: &Server, series: &str) -> f64 {
    samples(server.get("/metrics").text())
        .into_iter()
        .find(|(s, _)| s == series)
        .map_or(0.0, |(_, v)| v)
}

const REFUSED: &str = r#"mailgate_policy_reloads_total{result="refused"}"#;

/// Runs `mailgate serve ARGS` expecting it to exit by itself; kills it after the deadline.
fn serve_exit(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (code, stderr)
}

/// The issue's reproduction: `head -n 35 approval.policy > policies/approval.policy`
/// loads cleanly but drops `no-reapproval`. The gate refuses it (the invariant of the same
/// name fails), the last good set keeps denying, and the refusal shows in `/v1/status`,
/// the metrics and one stderr line.
#[test]
fn a_half_written_set_that_breaks_an_invariant_is_refused() {
    let dir = policy_copy("reload-gate");
    let dir_arg = dir.to_str().unwrap().to_owned();
    let server = Server::start(&["--policies", &dir_arg]);
    let good = server.revision();
    let probe = || server.post("/v1/decide", PROBE.as_bytes()).json();
    assert_eq!(probe()["rules"][0], "no-reapproval");
    assert_eq!(server.status()["last_reload"]["ok"], true);

    let approval = dir.join("approval.policy");
    let full = std::fs::read_to_string(&approval).unwrap();
    write_in_place(&approval, head(&full, 35).as_bytes());
    server.wait_status("the refused reload", |s| s["last_reload"]["ok"] == false);
    let s = server.status();
    assert_eq!(s["revision"], good.as_str(), "{s}");
    let last = &s["last_reload"];
    assert_eq!(last["reason"], "invariant_failed", "{s}");
    assert!(last["at"].as_str().unwrap().ends_with('Z'), "{s}");
    let diagnostics = last["diagnostics"].as_array().unwrap();
    let named = diagnostics.iter().find(|d| {
        let d = d.as_str().unwrap();
        d.contains("no-reapproval") && d.contains("counterexample")
    });
    assert!(named.is_some(), "{s}");
    // The counterexample is a request the truncated set allows.
    assert!(
        named.unwrap().as_str().unwrap().contains("\"approved\""),
        "{s}"
    );
    let d = probe();
    assert_eq!(d["decision"], "deny", "{d}");
    assert_eq!(d["revision"], good.as_str(), "{d}");
    assert!(metric(&server, REFUSED) >= 1.0);
    {
        let stderr = server.stderr.lock().unwrap();
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("refused")).collect();
        assert!(!lines.is_empty(), "{stderr}");
        assert!(
            lines
                .iter()
                .all(|l| l.contains("invariant_failed") && l.contains("no-reapproval")),
            "{stderr}"
        );
    }

    // A set that does not load is refused as load_failed.
    write_in_place(&approval, head(&full, 40).as_bytes());
    server.wait_status("load_failed", |s| {
        s["last_reload"]["reason"] == "load_failed"
    });
    let s = server.status();
    assert!(
        s["last_reload"]["diagnostics"][0]
            .as_str()
            .unwrap()
            .contains("approval.policy:"),
        "{s}"
    );
    assert_eq!(probe()["decision"], "deny");

    // The complete file goes live again.
    write_in_place(&approval, full.as_bytes());
    server.wait_status("the good set", |s| {
        s["last_reload"]["ok"] == true && s["revision"] == good.as_str()
    });
    assert!(server.status()["last_reload"].get("reason").is_none());

    // SIGHUP and POST /v1/reload go through the same gate.
    write_in_place(&approval, head(&full, 35).as_bytes());
    server.wait_status("the watch's refusal", |s| {
        s["last_reload"]["trigger"] == "watch" && s["last_reload"]["ok"] == false
    });
    let r = server.post("/v1/reload", b"");
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["reason"], "invariant_failed");
    let ok = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let start = Instant::now();
    while !server
        .stderr
        .lock()
        .unwrap()
        .lines()
        .any(|l| l.contains("(SIGHUP) refused (invariant_failed:"))
    {
        assert!(start.elapsed() < DEADLINE, "no refused SIGHUP reload");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(probe()["revision"], good.as_str());
    assert_eq!(server.terminate(), 0);
}

/// A writer that never stops long enough for two reads one debounce apart to agree gets
/// its set refused as unstable, even though every state it writes is a good set.
#[test]
fn a_folder_that_keeps_changing_is_refused_as_unstable() {
    let dir = policy_copy("reload-unstable");
    let dir_arg = dir.to_str().unwrap().to_owned();
    let server = Server::start(&["--policies", &dir_arg]);
    let file = dir.join("sync.policy");
    let text = std::fs::read_to_string(&file).unwrap();
    // Bounded: 3 s of writes, one every 20 ms.
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < Duration::from_secs(3) {
        i += 1;
        write_in_place(&file, format!("{text}# edit {i}\n").as_bytes());
        std::thread::sleep(Duration::from_millis(20));
    }
    let last = expected_revision(&dir);
    server.wait_status("the settled set", |s| s["revision"] == last.as_str());
    let stderr = server.stderr.lock().unwrap().clone();
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("refused") && l.contains("unstable")),
        "{stderr}"
    );
    assert!(metric(&server, REFUSED) >= 1.0);
    assert_eq!(server.terminate(), 0);
}

/// Startup with a set whose invariants fail exits 1 and names the invariant.
#[test]
fn startup_with_a_failing_invariant_exits_1_naming_it() {
    let dir = policy_copy("reload-startup");
    let approval = dir.join("approval.policy");
    let full = std::fs::read_to_string(&approval).unwrap();
    std::fs::write(&approval, head(&full, 35)).unwrap();
    let (code, stderr) = serve_exit(&["--policies", dir.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no-reapproval"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
}

/// `--reload-gate scenarios`: a set that keeps every invariant but breaks a scenario's
/// `expect` is refused (and cannot start); without the flag it goes live.
#[test]
fn the_scenario_gate_refuses_a_set_that_breaks_a_scenario() {
    let dir = policy_copy("reload-scenarios");
    let dir_arg = dir.to_str().unwrap().to_owned();
    let server = Server::start(&["--policies", &dir_arg, "--reload-gate", "scenarios"]);
    let good = server.revision();
    // Freezing the settings keeps every invariant, but the settings scenarios expect allow.
    save_by_rename(&dir.join("freeze.policy"), FREEZE);
    server.wait_status("the refused reload", |s| s["last_reload"]["ok"] == false);
    let s = server.status();
    assert_eq!(s["revision"], good.as_str());
    assert_eq!(s["last_reload"]["reason"], "invariant_failed", "{s}");
    let diagnostics = s["last_reload"]["diagnostics"].to_string();
    assert!(diagnostics.contains("approval-settings-"), "{s}");
    assert!(diagnostics.contains("expected allow"), "{s}");
    assert_eq!(server.terminate(), 0);

    // The same folder cannot start with the gate, and starts without it.
    let (code, stderr) = serve_exit(&["--policies", &dir_arg, "--reload-gate", "scenarios"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("expected allow"), "{stderr}");
    let server = Server::start(&["--policies", &dir_arg]);
    assert_eq!(server.revision(), expected_revision(&dir));
    assert_eq!(server.terminate(), 0);
}

/// The watch survives its folder being deleted and recreated, and being replaced by
/// `mv new policies`; `/v1/status` says whether it is watching.
#[test]
fn the_watch_survives_the_folder_being_replaced() {
    let root = temp_dir("reload-replace");
    let dir = root.join("policies");
    copy_dir(&crate::util::repo_path("policies"), &dir);
    let dir_arg = dir.to_str().unwrap().to_owned();
    let server = Server::start(&["--policies", &dir_arg]);
    let first = server.revision();
    assert_eq!(server.status()["watching"], true);

    // Deleted: the last good set keeps deciding, and nothing is watched.
    std::fs::remove_dir_all(&dir).unwrap();
    server.wait_status("the watch to notice", |s| s["watching"] == false);
    assert_eq!(server.revision(), first);

    // Recreated, with a new rule: seen.
    copy_dir(&crate::util::repo_path("policies"), &dir);
    std::fs::write(dir.join("freeze.policy"), FREEZE).unwrap();
    let frozen = expected_revision(&dir);
    server.wait_status("the recreated folder", |s| {
        s["watching"] == true && s["revision"] == frozen.as_str()
    });

    // Replaced: `mv policies old && mv new policies`.
    let new = root.join("new");
    copy_dir(&crate::util::repo_path("policies"), &new);
    std::fs::rename(&dir, root.join("old")).unwrap();
    std::fs::rename(&new, &dir).unwrap();
    server.wait_status("the replaced folder", |s| {
        s["watching"] == true && s["revision"] == first.as_str()
    });

    // And the replacement is watched: an edit in it is seen.
    save_by_rename(&dir.join("freeze.policy"), FREEZE);
    server.wait_status("an edit in the new folder", |s| {
        s["revision"] == frozen.as_str()
    });
    // Edits in the moved-away folder are not.
    std::fs::write(root.join("old/freeze.policy"), "# gone\n").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(server.revision(), frozen);
    assert_eq!(server.terminate(), 0);
}

/// A tiny deterministic generator (xorshift64*), seeded from the clock and printed, so a
/// failing run can be repeated with `MAILGATE_CHAOS_SEED`.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// The chaos test. A writer rewrites `approval.policy` in place, in random partial
/// states (prefixes cut anywhere or at a line end, like `head -n`, some left long enough to
/// be read twice, some completed), while a client decides the probe continuously. Every
/// answer must name a revision whose set passes `verify`, and give the decision the
/// complete files give.
#[test]
fn chaos_an_in_place_writer_never_changes_the_probe_decision() {
    let dir = policy_copy("reload-chaos");
    let dir_arg = dir.to_str().unwrap().to_owned();
    let approval = dir.join("approval.policy");
    let full = std::fs::read_to_string(&approval).unwrap();
    // Two complete versions, so the revision also moves between complete states.
    let complete = [full.clone(), format!("{full}# reviewed\n")];
    let server = Server::start(&["--policies", &dir_arg]);
    let mut states: HashMap<String, String> = HashMap::new();
    states.insert(server.revision(), full.clone());

    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
            // Bounded: at most this many requests.
            for _ in 0..200_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let d = http(addr, "POST", "/v1/decide", &[], PROBE.as_bytes()).json();
                let key = (
                    d["revision"].as_str().unwrap().to_owned(),
                    d["decision"].as_str().unwrap().to_owned(),
                    d["rules"].to_string(),
                );
                *seen.entry(key).or_default() += 1;
            }
            seen
        })
    };

    let seed = std::env::var("MAILGATE_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            (t.as_secs() << 30) ^ u64::from(t.subsec_nanos()) | 1
        });
    eprintln!("chaos seed: MAILGATE_CHAOS_SEED={seed}");
    let mut rng = Rng(seed);
    let write = |text: &str, states: &mut HashMap<String, String>| {
        write_in_place(&approval, text.as_bytes());
        states.insert(expected_revision(&dir), text.to_owned());
    };
    // First the issue's case, left in place well past the debounce; then random states.
    write(&head(&full, 35), &mut states);
    std::thread::sleep(Duration::from_millis(700));
    let start = Instant::now();
    let mut iterations = 0;
    while iterations < 200 && start.elapsed() < Duration::from_secs(4) {
        iterations += 1;
        let target = &complete[usize::from(rng.below(2) == 1)];
        let mut cut = usize::try_from(rng.below(target.len() as u64)).unwrap();
        if rng.below(2) == 0 {
            // At a line end, like `head -n`.
            cut = target[..cut].rfind('\n').map_or(0, |i| i + 1);
        }
        while !target.is_char_boundary(cut) {
            cut -= 1;
        }
        write(&target[..cut], &mut states);
        let pause = if rng.below(3) == 0 {
            250 + rng.below(300)
        } else {
            rng.below(40)
        };
        std::thread::sleep(Duration::from_millis(pause));
        if rng.below(2) == 0 {
            write(target, &mut states);
            // Some complete states last long enough to go live.
            std::thread::sleep(Duration::from_millis(rng.below(700)));
        }
    }
    write(&full, &mut states);
    let last = expected_revision(&dir);
    server.wait_status("the complete set", |s| s["revision"] == last.as_str());
    stop.store(true, Ordering::Relaxed);
    let answers = client.join().unwrap();
    eprintln!(
        "chaos: {iterations} writes, {} answers, {} revisions answered, {} refused reloads",
        answers.values().sum::<usize>(),
        answers
            .keys()
            .map(|k| &k.0)
            .collect::<std::collections::HashSet<_>>()
            .len(),
        metric(&server, REFUSED)
    );
    assert_eq!(server.terminate(), 0);

    // Every answer: the complete files' decision, from a set that passes verify.
    // Sorted, so an `allow` is the first reported.
    let mut sorted: Vec<_> = answers.iter().collect();
    sorted.sort_by_key(|((revision, decision, _), _)| (decision.clone(), revision.clone()));
    for ((revision, decision, rules), n) in sorted {
        assert_eq!(
            (decision.as_str(), rules.as_str()),
            ("deny", r#"["no-reapproval"]"#),
            "{n} answers of revision {revision} (seed {seed})"
        );
    }
    let check = temp_dir("reload-chaos-check").join("policies");
    for revision in answers
        .keys()
        .map(|k| &k.0)
        .collect::<std::collections::HashSet<_>>()
    {
        let text = states
            .get(revision)
            .unwrap_or_else(|| panic!("an answer named revision {revision}, never written"));
        let _ = std::fs::remove_dir_all(&check);
        copy_dir(&dir, &check);
        std::fs::write(check.join("approval.policy"), text).unwrap();
        assert_eq!(&expected_revision(&check), revision);
        let out = mailgate(&["verify", "--policies"]).arg(&check).run();
        assert_eq!(
            out.code, 0,
            "revision {revision} was served but fails verify (seed {seed}):\n{}",
            out.stdout
        );
    }
}

/// The HTTP/1.1 request `GET path` with the given `Authorization` header.
fn status_of(server: &Server, method: &str, path: &str, auth: Option<&str>) -> u16 {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
    http(server.addr, method, path, &headers, b"").status
}

/// With `--token`, everything but the two health probes and the console's page and
/// assets needs the token (unknown paths and the console's data, `/v1/schema`, included);
/// the scheme is case-insensitive. The page holds no data: it asks for the token, which a
/// browser cannot send when it opens a page.
#[test]
fn the_token_guards_every_endpoint_but_the_probes() {
    let server = Server::start(&["--policies", "policies", "--token", "s3cret"]);
    assert_eq!(status_of(&server, "GET", "/health/live", None), 200);
    assert_eq!(status_of(&server, "GET", "/health/ready", None), 200);
    for path in ["/", "/console.js", "/console.css"] {
        assert_eq!(status_of(&server, "GET", path, None), 200, "{path}");
    }
    for (method, path) in [
        ("GET", "/v1/schema"),
        ("GET", "/v1/scenarios"),
        ("GET", "/v1/graph/approve_mailbox.svg"),
        ("GET", "/v1/audit"),
        ("GET", "/v1/status"),
        ("GET", "/metrics"),
        ("POST", "/v1/decide"),
        ("POST", "/v1/batch"),
        ("POST", "/v1/reload"),
        ("GET", "/health/other"),
        ("GET", "/health/live/"),
        ("GET", "/nope"),
    ] {
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("Bearer"),
            Some("Basic s3cret"),
        ] {
            assert_eq!(
                status_of(&server, method, path, auth),
                401,
                "{method} {path} with {auth:?}"
            );
        }
    }
    for auth in [
        "Bearer s3cret",
        "bearer s3cret",
        "BEARER s3cret",
        "BeArEr  s3cret",
    ] {
        assert_eq!(
            status_of(&server, "GET", "/v1/status", Some(auth)),
            200,
            "{auth}"
        );
        assert_eq!(
            status_of(&server, "GET", "/metrics", Some(auth)),
            200,
            "{auth}"
        );
    }
    assert_eq!(server.terminate(), 0);
}

/// `POST /v1/reload` accepts a loopback peer written as an IPv4-mapped IPv6 address, as a
/// dual-stack listener sees an IPv4 client.
#[test]
fn reload_accepts_ipv4_mapped_loopback() {
    if std::net::TcpListener::bind("[::ffff:127.0.0.1]:0").is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no IPv6 on this machine"
        );
        eprintln!("skipped: this machine cannot bind an IPv4-mapped IPv6 address");
        return;
    }
    let server = Server::start_at("[::ffff:127.0.0.1]:0", &["--policies", "policies"]);
    assert!(server.addr.is_ipv6(), "{}", server.addr);
    // The client connects over IPv4; the server sees `::ffff:127.0.0.1`.
    let v4 = std::net::SocketAddr::from(([127, 0, 0, 1], server.addr.port()));
    let r = http(v4, "POST", "/v1/reload", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["ok"], true);
    assert_eq!(server.terminate(), 0);
}
