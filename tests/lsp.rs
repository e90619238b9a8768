//! `mailgate lsp` end to end: the real binary, spoken to over stdio with JSON-RPC frames,
//! as an editor does. Every read has a timeout, so a server that hangs fails the test.

use crate::util::{copy_dir, mailgate, repo_path, temp_dir};
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// How long to wait for any one message.
const WAIT: Duration = Duration::from_secs(20);

/// A client connected to a running `mailgate lsp`.
struct Client {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    next_id: i64,
}

impl Client {
    fn start(dir: &Path) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .arg("lsp")
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start mailgate lsp");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, messages) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut len = None;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = v.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; len.expect("a Content-Length header")];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                let msg: Value = serde_json::from_slice(&body).expect("the server sent JSON");
                if tx.send(msg).is_err() {
                    return;
                }
            }
        });
        Client {
            child,
            stdin,
            messages,
            next_id: 0,
        }
    }

    fn send_raw(&mut self, body: &[u8]) {
        write!(self.stdin, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
        self.stdin.write_all(body).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: &Value) {
        let msg = json!({ "jsonrpc": "2.0", "method": method, "params": params });
        self.send_raw(msg.to_string().as_bytes());
    }

    /// Sends a request and waits for its response (other messages are skipped).
    fn request(&mut self, method: &str, params: &Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        self.send_raw(msg.to_string().as_bytes());
        self.wait_for(|m| m["id"] == id && m.get("method").is_none())
    }

    /// The next message that satisfies `want`.
    fn wait_for(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(m) if want(&m) => return m,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no expected message within {WAIT:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("the server closed its output"),
            }
        }
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        let m = self.wait_for(|m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        });
        m["params"]["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits for the process to end; its exit code.
    fn exit_code(mut self) -> i32 {
        drop(self.stdin);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().expect("mailgate lsp was killed by a signal");
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("mailgate lsp did not exit within {WAIT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The UTF-16 position of the first `needle` in `text`, plus `delta` characters.
fn position(text: &str, needle: &str, delta: usize) -> Value {
    let at = text.find(needle).expect("needle in text");
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..at].matches('\n').count();
    let col = text[line_start..at].encode_utf16().count() + delta;
    json!({ "line": line, "character": col })
}

/// Applies one LSP edit (UTF-16 columns, single line) to `text`.
fn apply(text: &str, edit: &Value) -> String {
    let line = usize::try_from(edit["range"]["start"]["line"].as_u64().unwrap()).unwrap();
    let to_byte = |pos: &Value| {
        let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
        let mut units = 0;
        for (i, c) in text[start..].char_indices() {
            if units >= usize::try_from(pos["character"].as_u64().unwrap()).unwrap() {
                return start + i;
            }
            units += c.len_utf16();
        }
        text.len()
    };
    let (a, b) = (
        to_byte(&edit["range"]["start"]),
        to_byte(&edit["range"]["end"]),
    );
    format!(
        "{}{}{}",
        &text[..a],
        edit["newText"].as_str().unwrap(),
        &text[b..]
    )
}

const TYPO: &str = "# Zoë's rule 😀\nrule e2e { allow approve_mailbox when user.upn == \"é😀\" and user.security_roles contains \"System Adminstrator\" reason \"🎉 done\" }\n";

#[test]
fn lsp_session_diagnostics_fix_hover_definition_completion_and_exit() {
    let dir = temp_dir("lsp-session");
    copy_dir(&repo_path("policies"), &dir);
    let dir = dir.canonicalize().unwrap();
    let mut c = Client::start(&dir);

    let init = c.request(
        "initialize",
        &json!({ "processId": null, "capabilities": {}, "rootUri": uri(&dir) }),
    );
    let caps = &init["result"]["capabilities"];
    assert_eq!(caps["positionEncoding"], "utf-16");
    assert_eq!(caps["hoverProvider"], true);
    c.notify("initialized", &json!({}));
    // The files on disk are loaded at once: the shipped set is clean.
    assert_eq!(
        c.diagnostics(&uri(&dir.join("approval.policy"))),
        Vec::<Value>::new()
    );

    // Open an unsaved file with a misspelled role, after non-ASCII text on the same line.
    let file = dir.join("editor.policy");
    let doc = uri(&file);
    c.notify(
        "textDocument/didOpen",
        &json!({ "textDocument": { "uri": doc, "languageId": "mailgate", "version": 1, "text": TYPO } }),
    );
    let diags = c.diagnostics(&doc);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    let d = &diags[0];
    assert_eq!(
        d["message"],
        "`System Adminstrator` is not a `security_role`\nhelp: did you mean `System Administrator`?"
    );
    assert_eq!(d["severity"], 1);
    // The column counts UTF-16 units: the emoji before it counts twice.
    let start = position(TYPO, "\"System Adminstrator\"", 0);
    let line2 = TYPO.lines().nth(1).unwrap();
    let prefix = &line2[..line2.find("\"System").unwrap()];
    assert_ne!(prefix.encode_utf16().count(), prefix.chars().count());
    assert_eq!(d["range"]["start"], start);
    assert_eq!(
        d["range"]["end"],
        position(
            TYPO,
            "\"System Adminstrator\"",
            "\"System Adminstrator\"".len()
        )
    );

    // The same file on disk gives the same diagnostic from `mailgate check`.
    std::fs::write(&file, TYPO).unwrap();
    let check = mailgate(&["check", "--format", "json", "--policies"])
        .arg(&dir)
        .run();
    check.code(1);
    let first: Value = serde_json::from_str(check.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(
        format!(
            "{}\nhelp: {}",
            first["message"].as_str().unwrap(),
            first["help"].as_str().unwrap()
        ),
        d["message"].as_str().unwrap()
    );
    assert_eq!(
        first["span"]["line"].as_u64().unwrap(),
        start["line"].as_u64().unwrap() + 1
    );

    // The did-you-mean is a quick fix; applying it clears the diagnostic.
    let actions = c.request(
        "textDocument/codeAction",
        &json!({ "textDocument": { "uri": doc }, "range": d["range"], "context": { "diagnostics": [d] } }),
    );
    let action = &actions["result"][0];
    assert_eq!(action["kind"], "quickfix");
    let edit = &action["edit"]["changes"][&doc][0];
    assert_eq!(edit["newText"], "\"System Administrator\"");
    let fixed = apply(TYPO, edit);
    assert!(
        fixed.contains("contains \"System Administrator\" reason \"🎉 done\""),
        "{fixed}"
    );
    c.notify(
        "textDocument/didChange",
        &json!({ "textDocument": { "uri": doc, "version": 2 }, "contentChanges": [{ "text": fixed }] }),
    );
    assert_eq!(c.diagnostics(&doc), Vec::<Value>::new());

    // Hover on an attribute after the emoji: its type and the enum's members.
    let hover = c.request(
        "textDocument/hover",
        &json!({ "textDocument": { "uri": doc }, "position": position(&fixed, "security_roles", 3) }),
    );
    let text = hover["result"]["contents"]["value"].as_str().unwrap();
    assert!(text.contains("`set<security_role>`"), "{text}");
    assert!(text.contains("`Delegated Mailbox Approver`"), "{text}");
    assert_eq!(
        hover["result"]["range"]["start"],
        position(&fixed, "security_roles", 0)
    );

    // Definition of `user.upn`: its line in schema.yaml.
    let def = c.request(
        "textDocument/definition",
        &json!({ "textDocument": { "uri": doc }, "position": position(&fixed, "upn", 1) }),
    );
    assert_eq!(def["result"]["uri"], uri(&dir.join("schema.yaml")));
    let schema = std::fs::read_to_string(dir.join("schema.yaml")).unwrap();
    let upn_line = schema
        .lines()
        .position(|l| l.trim_start().starts_with("upn:"))
        .unwrap();
    assert_eq!(def["result"]["range"]["start"]["line"], upn_line);

    // Formatting: one edit for the whole document, with exactly `mailgate fmt`'s output.
    let formatting = c.request(
        "textDocument/formatting",
        &json!({ "textDocument": { "uri": doc }, "options": { "tabSize": 4, "insertSpaces": true } }),
    );
    let edits = formatting["result"].as_array().unwrap();
    assert_eq!(edits.len(), 1, "{formatting}");
    assert_eq!(
        edits[0]["range"]["start"],
        json!({ "line": 0, "character": 0 })
    );
    assert_eq!(
        edits[0]["range"]["end"],
        json!({ "line": 2, "character": 0 })
    );
    let fmt = mailgate(&["fmt", "-"]).stdin(fixed.as_str()).run();
    fmt.code(0);
    assert_eq!(edits[0]["newText"].as_str().unwrap(), fmt.stdout);
    assert_ne!(fmt.stdout, fixed);

    // Completion while typing an unfinished rule: `mailbox.` offers the mailbox's attributes.
    let typing = format!("{fixed}rule more {{ allow approve_mailbox when mailbox.");
    c.notify(
        "textDocument/didChange",
        &json!({ "textDocument": { "uri": doc, "version": 3 }, "contentChanges": [{ "text": typing }] }),
    );
    let end = json!({ "line": typing.lines().count() - 1, "character": typing.lines().last().unwrap().encode_utf16().count() });
    let items = c.request(
        "textDocument/completion",
        &json!({ "textDocument": { "uri": doc }, "position": end }),
    );
    let labels: Vec<&str> = items["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"approval") && labels.contains(&"email"),
        "{labels:?}"
    );
    assert!(!labels.contains(&"security_roles"), "{labels:?}");
    // A file that does not parse is not formatted.
    let formatting = c.request(
        "textDocument/formatting",
        &json!({ "textDocument": { "uri": doc }, "options": { "tabSize": 4, "insertSpaces": true } }),
    );
    assert_eq!(formatting["result"], Value::Null);

    // An open schema.yaml is checked too; closing it goes back to the file on disk.
    let schema_uri = uri(&dir.join("schema.yaml"));
    let broken = schema.replacen(
        "type: \"set<security_role>\"",
        "type: \"set<security_rol>\"",
        1,
    );
    assert_ne!(broken, schema);
    c.notify(
        "textDocument/didOpen",
        &json!({ "textDocument": { "uri": schema_uri, "languageId": "yaml", "version": 1, "text": broken } }),
    );
    let diags = c.diagnostics(&schema_uri);
    assert!(!diags.is_empty());
    assert!(
        diags[0]["message"]
            .as_str()
            .unwrap()
            .contains("security_rol"),
        "{diags:#?}"
    );
    c.notify(
        "textDocument/didClose",
        &json!({ "textDocument": { "uri": schema_uri } }),
    );
    assert_eq!(c.diagnostics(&schema_uri), Vec::<Value>::new());

    // Unknown methods and invalid JSON get errors, and the session goes on.
    let unknown = c.request("mailgate/nothing", &json!({}));
    assert_eq!(unknown["error"]["code"], -32601);
    c.send_raw(b"{not json");
    let parse_error = c.wait_for(|m| m["id"].is_null() && m.get("error").is_some());
    assert_eq!(parse_error["error"]["code"], -32700);

    let shutdown = c.request("shutdown", &Value::Null);
    assert_eq!(shutdown["result"], Value::Null);
    c.notify("exit", &Value::Null);
    assert_eq!(c.exit_code(), 0);
}

#[test]
fn lsp_ends_cleanly_on_exit_without_shutdown_and_on_broken_framing() {
    let dir = temp_dir("lsp-exit");
    let mut c = Client::start(&dir);
    let init = c.request(
        "initialize",
        &json!({ "processId": null, "capabilities": {} }),
    );
    assert!(init["result"]["capabilities"].is_object());
    c.notify("exit", &Value::Null);
    assert_eq!(c.exit_code(), 1);

    // Framing the server cannot recover from: it stops, with exit code 1 and no panic.
    for input in [
        &b"Content-Length: lots\r\n\r\n{}"[..],
        b"Content-Length: 99999999999999\r\n\r\n",
        b"no header at all\n",
        b"Content-Length: 10\r\n\r\n{}",
        &[0xff, 0xfe, 0x00, b'\r', b'\n', b'\r', b'\n'][..],
    ] {
        mailgate(&["lsp"])
            .dir(&dir)
            .stdin_bytes(input)
            .run()
            .code(1);
    }
    // Requests before `initialize`, and messages for documents never opened.
    let script = [
        json!({ "jsonrpc": "2.0", "id": 1, "method": "textDocument/hover", "params": {} }),
        json!({ "jsonrpc": "2.0", "id": 2, "method": "initialize", "params": { "capabilities": {} } }),
        json!({ "jsonrpc": "2.0", "method": "textDocument/didChange", "params": { "textDocument": { "uri": "file:///nowhere/x.policy", "version": 1 }, "contentChanges": [{ "text": "rule" }] } }),
        json!({ "jsonrpc": "2.0", "id": 3, "method": "textDocument/hover", "params": { "textDocument": { "uri": "file:///nowhere/x.policy" }, "position": { "line": 0, "character": 0 } } }),
        json!({ "jsonrpc": "2.0", "id": 4, "method": "textDocument/hover", "params": { "wrong": true } }),
        json!({ "jsonrpc": "2.0", "id": 5, "method": "shutdown" }),
        json!({ "jsonrpc": "2.0", "method": "exit" }),
    ];
    let mut input = Vec::new();
    for m in script {
        let body = m.to_string();
        input.extend_from_slice(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    }
    let out = mailgate(&["lsp"]).dir(&dir).stdin_bytes(&input).run();
    out.code(0);
    assert!(out.stdout.contains(r#""code":-32002"#), "{}", out.stdout); // not initialized
    assert!(
        out.stdout
            .contains(r#""id":3,"jsonrpc":"2.0","result":null"#),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(r#""code":-32602"#), "{}", out.stdout); // invalid params
}

const REDUNDANT: &str = "# Zoë 😀\nrule e2e-redundant {\n  deny approve_mailbox\n  when mailbox.approval == \"rejected\" and mailbox.approval != \"pending_approval\"\n  reason \"the address was rejected\"\n}\n";

/// The lints are warnings with their code and related information; a redundant operand
/// has a quick fix that removes it, and applying it clears the warning.
#[test]
fn lsp_publishes_lints_with_codes_and_removes_a_redundant_condition() {
    let dir = temp_dir("lsp-lints");
    copy_dir(&repo_path("policies"), &dir);
    let dir = dir.canonicalize().unwrap();
    let mut c = Client::start(&dir);
    c.request(
        "initialize",
        &json!({ "processId": null, "capabilities": {}, "rootUri": uri(&dir) }),
    );
    c.notify("initialized", &json!({}));
    let file = dir.join("editor.policy");
    let doc = uri(&file);
    c.notify(
        "textDocument/didOpen",
        &json!({ "textDocument": { "uri": doc, "languageId": "mailgate", "version": 1, "text": REDUNDANT } }),
    );
    let diags = c.diagnostics(&doc);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    let d = &diags[0];
    assert_eq!(d["severity"], 2, "a warning");
    assert_eq!(d["code"], "redundant-condition");
    assert_eq!(
        d["range"]["start"],
        position(REDUNDANT, "mailbox.approval != ", 0)
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("note: removing it changes no decision of `approve_mailbox`"),
        "{d:#?}"
    );
    let actions = c.request(
        "textDocument/codeAction",
        &json!({ "textDocument": { "uri": doc }, "range": d["range"], "context": { "diagnostics": [d] } }),
    );
    let action = &actions["result"][0];
    assert_eq!(action["kind"], "quickfix");
    assert_eq!(action["title"], "Remove the redundant condition");
    let edit = &action["edit"]["changes"][&doc][0];
    let fixed = apply(REDUNDANT, edit);
    assert!(
        fixed.contains("  when mailbox.approval == \"rejected\"\n  reason"),
        "{fixed}"
    );
    c.notify(
        "textDocument/didChange",
        &json!({ "textDocument": { "uri": doc, "version": 2 }, "contentChanges": [{ "text": fixed }] }),
    );
    assert_eq!(c.diagnostics(&doc), Vec::<Value>::new());

    // A subsumed rule names the other rule as related information.
    let subsumed = "rule e2e-subsumed {\n  allow approve_mailbox\n  when org.deployment == \"onpremises\" and is_system_administrator and has_approval_privilege and mailbox.server == \"exchange_online\"\n}\n";
    c.notify(
        "textDocument/didChange",
        &json!({ "textDocument": { "uri": doc, "version": 3 }, "contentChanges": [{ "text": subsumed }] }),
    );
    let diags = c.diagnostics(&doc);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0]["code"], "subsumed");
    let related = &diags[0]["relatedInformation"][0];
    assert_eq!(
        related["location"]["uri"],
        uri(&dir.join("approval.policy"))
    );
    assert_eq!(related["location"]["range"]["start"]["line"], 29);
    c.request("shutdown", &json!(null));
    c.notify("exit", &json!(null));
    assert_eq!(c.exit_code(), 0);
}

/// A scenario on the shipped schema whose second request expects the wrong decision.
const SCENARIO: &str = "org: { deployment: online, version: 9.2.22104.00170 }
users:
  alice: { security_roles: [Basic User], upn: alice@contoso.com, privileges: [Write Mailbox] }
mailboxes:
  mine: { owner_kind: user, email: alice@contoso.com, approval: pending_approval,
          server: exchange_online }
requests:
  - { action: approve_mailbox, user: alice, mailbox: mine, expect: allow }
  - { action: reject_mailbox, user: alice, mailbox: mine, expect: allow }
";

/// The real binary with a scenario file: inlay hints, the error of a disagreeing `expect`,
/// and after a policy edit the refresh request, answered as a client answers it.
#[test]
fn lsp_decides_an_open_scenario_and_asks_for_fresh_hints_after_a_policy_edit() {
    let dir = temp_dir("lsp-scenario");
    copy_dir(&repo_path("policies"), &dir);
    let dir = dir.canonicalize().unwrap();
    let mut c = Client::start(&dir);
    let caps = json!({ "workspace": { "inlayHint": { "refreshSupport": true } } });
    let init = c.request(
        "initialize",
        &json!({ "processId": null, "capabilities": caps, "rootUri": uri(&dir) }),
    );
    assert_eq!(
        init["result"]["capabilities"]["inlayHintProvider"],
        json!(true)
    );
    c.notify("initialized", &json!({}));
    let file = dir.join("scenarios/editor.yaml");
    let doc = uri(&file);
    c.notify(
        "textDocument/didOpen",
        &json!({ "textDocument": { "uri": doc, "languageId": "yaml", "version": 1, "text": SCENARIO } }),
    );
    let diags = c.diagnostics(&doc);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0]["severity"], 1);
    assert_eq!(diags[0]["range"]["start"]["line"], 8);
    let range =
        json!({ "start": { "line": 0, "character": 0 }, "end": { "line": 9, "character": 0 } });
    let hints = c.request(
        "textDocument/inlayHint",
        &json!({ "textDocument": { "uri": doc }, "range": range }),
    );
    let labels: Vec<&Value> = hints["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["label"])
        .collect();
    assert_eq!(
        labels,
        [
            &json!("allow"),
            &json!("deny: no rule allows reject_mailbox")
        ]
    );

    // A policy buffer that denies alice: the server asks for the hints again.
    let policy = uri(&dir.join("leave.policy"));
    c.notify(
        "textDocument/didOpen",
        &json!({ "textDocument": { "uri": policy, "languageId": "mailgate", "version": 1, "text": "rule leave { deny approve_mailbox when user.upn == \"alice@contoso.com\" reason \"alice is on leave\" }\n" } }),
    );
    let refresh = c.wait_for(|m| m["method"] == "workspace/inlayHint/refresh");
    c.send_raw(
        json!({ "jsonrpc": "2.0", "id": refresh["id"], "result": null })
            .to_string()
            .as_bytes(),
    );
    let hints = c.request(
        "textDocument/inlayHint",
        &json!({ "textDocument": { "uri": doc }, "range": range }),
    );
    assert_eq!(hints["result"][0]["label"], "deny: alice is on leave");
    c.request("shutdown", &json!(null));
    c.notify("exit", &json!(null));
    assert_eq!(c.exit_code(), 0);
}
