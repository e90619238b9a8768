//! The console of `mailgate serve`: its JSON endpoints over plain HTTP, and the page itself
//! driven in headless Chromium (`tests/browser/console.mjs`).

use crate::util::{copy_dir, mailgate, repo_path, temp_dir};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);

/// A running `mailgate serve --addr 127.0.0.1:0 ARGS...`, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .current_dir(repo_path(""))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start mailgate serve");
        let (tx, rx) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("listening on ") {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(DEADLINE)
            .expect("mailgate serve did not start listening");
        Server {
            child,
            addr: addr.parse().unwrap(),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `GET path` → (status, content type, body).
    fn get(&self, path: &str, token: Option<&str>) -> (u16, String, Vec<u8>) {
        let mut s = TcpStream::connect_timeout(&self.addr, DEADLINE).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{auth}\r\n",
            self.addr
        )
        .unwrap();
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).to_string();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let ty = head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("content-type")
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_default();
        (status, ty, raw[split + 4..].to_vec())
    }

    fn json(&self, path: &str) -> serde_json::Value {
        let (status, _, body) = self.get(path, None);
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Each action's rule ids, from `mailgate coverage --format json` (not from the graph).
fn rules_by_action(policies: &Path) -> BTreeMap<String, Vec<String>> {
    let out = mailgate(&["coverage", "--format", "json", "--policies"])
        .arg(policies)
        .run();
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in out.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let (Some(rule), Some(actions)) = (v["rule"].as_str(), v["actions"].as_array()) else {
            continue;
        };
        for a in actions {
            map.entry(a.as_str().unwrap().to_owned())
                .or_default()
                .push(rule.to_owned());
        }
    }
    assert!(!map.is_empty(), "coverage listed no rules:\n{}", out.stdout);
    map
}

#[test]
fn the_page_and_its_assets_come_from_the_binary_and_need_no_token() {
    let s = Server::start(&["--token", "s3cret"]);
    for (path, ty) in [
        ("/", "text/html"),
        ("/console.js", "text/javascript"),
        ("/console.css", "text/css"),
    ] {
        let (status, content_type, body) = s.get(path, None);
        assert_eq!(status, 200, "{path}");
        assert!(content_type.starts_with(ty), "{path}: {content_type}");
        let text = String::from_utf8(body).unwrap();
        // No external assets: nothing is fetched from another origin.
        for bad in ["http://", "https://", "//cdn", "url(http"] {
            assert!(!text.contains(bad), "{path} refers to {bad}");
        }
    }
    // The data needs the token.
    for path in [
        "/v1/schema",
        "/v1/scenarios",
        "/v1/graph/approve_mailbox.svg",
    ] {
        assert_eq!(s.get(path, None).0, 401, "{path} without the token");
        assert_eq!(s.get(path, Some("s3cret")).0, 200, "{path} with the token");
    }
}

#[test]
fn schema_graph_scenarios_and_audit_endpoints() {
    let s = Server::start(&["--bundle", "tests/fixtures/audit/contoso"]);
    // The schema, in the schema's order, with types, defaults and `fixed`.
    let schema = s.json("/v1/schema");
    assert_eq!(schema["context"]["name"], "org");
    let version = schema["context"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "version")
        .unwrap();
    assert_eq!(version["kind"], "version");
    assert_eq!(version["fixed"], true);
    assert_eq!(version["required"], true);
    let user = schema["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "user")
        .unwrap();
    let roles = &user["attributes"][1];
    assert_eq!(roles["name"], "directory_roles");
    assert_eq!(roles["type"], "set<directory_role>");
    assert_eq!(roles["default"], serde_json::json!([]));
    let actions: Vec<&str> = schema["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(actions[0], "approve_mailbox");
    assert_eq!(schema["audit"], true);

    // Every rule id of each action appears as text in its graph.
    for (action, rules) in rules_by_action(&repo_path("policies")) {
        let (status, ty, body) = s.get(&format!("/v1/graph/{action}.svg"), None);
        assert_eq!(status, 200);
        assert_eq!(ty, "image/svg+xml");
        let svg = String::from_utf8(body).unwrap();
        assert!(svg.starts_with(&format!("<svg data-graph=\"{action}\"")));
        for r in rules {
            assert!(
                svg.contains(&format!(">{r}")) || svg.contains(&format!(": {r}")),
                "{action}: {r}"
            );
        }
    }
    assert_eq!(s.get("/v1/graph/nope.svg", None).0, 404);

    // The scenarios: as many passing requests as `mailgate test` counts, and each row's
    // decision is what /v1/decide says for its line.
    let sc = s.json("/v1/scenarios");
    let test = mailgate(&["test"]).run();
    let summary = test.stdout.lines().last().unwrap().to_owned();
    assert_eq!(
        summary,
        format!("{} passed, {} failed", sc["passed"], sc["failed"])
    );
    assert_eq!(sc["failed"], 0);
    let rows = sc["requests"].as_array().unwrap();
    let mut body = String::new();
    for r in rows {
        body.push_str(&r["line"].to_string());
        body.push('\n');
    }
    let batch = mailgate(&["eval", "--batch", "-"]).stdin(body).run();
    for (r, out) in rows.iter().zip(batch.stdout.lines()) {
        let out: serde_json::Value = serde_json::from_str(out).unwrap();
        assert_eq!(r["decision"], out["decision"], "{r}");
        assert_eq!(r["rules"], out["rules"], "{r}");
    }

    // The audit of the bundle, with a request for each mailbox's sync actions.
    let audit = s.json("/v1/audit");
    let records = audit["records"].as_array().unwrap();
    let mailboxes: Vec<_> = records
        .iter()
        .filter(|r| r.get("mailbox").is_some())
        .collect();
    assert!(!mailboxes.is_empty());
    for m in mailboxes {
        let id = m["id"].as_str().unwrap();
        let reqs = &audit["requests"][id];
        assert_eq!(reqs.as_object().unwrap().len(), 3, "{id}");
    }
    let plain = Server::start(&[]);
    assert_eq!(plain.get("/v1/audit", None).0, 404);
    assert_eq!(plain.json("/v1/schema")["audit"], false);
}

/// Whether the browser tests can run here; outside CI a missing tool skips them.
fn browser_tools() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let chromium =
        std::env::var("MAILGATE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let missing: Vec<&str> = [("node", node), ("chromium", Path::new(&chromium).exists())]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| n)
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(!ci, "CI=true but {} is missing", missing.join(" and "));
    println!("skipped: {} not installed", missing.join(" and "));
    false
}

#[test]
fn browser_drives_the_console() {
    if !browser_tools() {
        return;
    }
    let browser_dir = repo_path("tests/browser");
    if !browser_dir.join("node_modules/playwright-core").exists() {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&browser_dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "npm ci in tests/browser failed");
    }
    let tmp = temp_dir("console-browser");
    let policies = tmp.join("policies");
    copy_dir(&repo_path("policies"), &policies);
    let rules = tmp.join("rules.json");
    std::fs::write(
        &rules,
        serde_json::to_string(&rules_by_action(&policies)).unwrap(),
    )
    .unwrap();
    let policies_arg = policies.display().to_string();
    let s = Server::start(&[
        "--policies",
        &policies_arg,
        "--bundle",
        "tests/fixtures/audit/contoso",
    ]);
    let t = Server::start(&["--token", "s3cret"]);
    let mut cmd = Command::new("node");
    cmd.arg("console.mjs")
        .current_dir(&browser_dir)
        .env("MAILGATE_URL", s.url())
        .env("MAILGATE_POLICY_DIR", &policies)
        .env("MAILGATE_RULES", &rules)
        .env("MAILGATE_TOKEN_URL", t.url())
        .env("MAILGATE_TOKEN", "s3cret");
    if let Ok(dir) = std::env::var("MAILGATE_SCREENSHOTS") {
        cmd.env("MAILGATE_SCREENSHOTS", dir);
    }
    let out = cmd.output().expect("cannot run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    assert!(
        out.status.success(),
        "console.mjs failed:\n{stdout}\n{stderr}"
    );
    // Every check ran.
    assert!(stdout.contains("ok   no console errors"), "{stdout}");
}
