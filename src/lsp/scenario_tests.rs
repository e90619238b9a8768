//! In-process tests of scenario files in the server: the server is driven message by
//! message, as the event loop drives it, on the shipped policy set with unsaved buffers
//! (nothing is written to `policies/`).

use super::transport::Incoming;
use super::{Options, Server, text::path_to_uri};
use lsp_server::{Message, Notification, Request, RequestId};
use serde_json::{Value, json};
use std::path::PathBuf;

fn root() -> PathBuf {
    super::canonical(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies"))
}

/// A scenario on the shipped schema: alice may approve her own mailbox (self-approval),
/// she may not reject it (no rule allows rejecting), and request 3 expects the wrong
/// decision.
const SCENARIO: &str = "description: editor test
org: { deployment: online, version: 9.2.22104.00170 }
users:
  alice: { security_roles: [Basic User], upn: alice@contoso.com, privileges: [Write Mailbox] }
mailboxes:
  mine: { owner_kind: user, email: alice@contoso.com, approval: pending_approval,
          server: exchange_online }
requests:
  - { action: approve_mailbox, user: alice, mailbox: mine, expect: allow }
  - { action: reject_mailbox, user: alice, mailbox: mine, expect: deny }
  - action: reject_mailbox
    user: alice
    mailbox: mine
    expect: allow
";

struct Session {
    server: Server,
    next: i32,
}

impl Session {
    /// An initialized server; `refresh`: whether the client takes inlay hint refreshes.
    fn start(refresh: bool) -> Session {
        let mut s = Session {
            server: Server::new(&Options::default()),
            next: 0,
        };
        let caps = json!({ "workspace": { "inlayHint": { "refreshSupport": refresh } } });
        let r = s.request(
            "initialize",
            json!({ "processId": null, "capabilities": caps, "rootUri": uri("") }),
        );
        assert!(r.get("result").is_some(), "{r:#}");
        s.notify("initialized", json!({}));
        s.server.refresh();
        s.server.outbox.clear();
        s
    }

    fn notify(&mut self, method: &str, params: Value) {
        let n = Notification::new(method.to_owned(), params);
        assert!(
            self.server
                .incoming(Incoming::Message(Message::Notification(n)))
                .is_none()
        );
    }

    /// The response to a request (the messages before it stay in the outbox).
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = RequestId::from(self.next);
        let r = Request::new(id, method.to_owned(), params);
        self.server.incoming(Incoming::Message(Message::Request(r)));
        let at = self
            .server
            .outbox
            .iter()
            .rposition(|m| m["id"] == self.next && m.get("method").is_none())
            .expect("a response");
        self.server.outbox.remove(at)
    }

    /// What the event loop does once the input is drained; returns everything sent.
    fn settle(&mut self) -> Vec<Value> {
        self.server.refresh();
        std::mem::take(&mut self.server.outbox)
    }

    fn open(&mut self, name: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri(name), "languageId": "yaml", "version": 1, "text": text } }),
        );
    }

    fn change(&mut self, name: &str, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri(name), "version": 2 }, "contentChanges": [{ "text": text }] }),
        );
    }

    /// `(line, label)` of each inlay hint of the file.
    fn hints(&mut self, name: &str) -> Vec<(u64, String)> {
        let r = self.request(
            "textDocument/inlayHint",
            json!({ "textDocument": { "uri": uri(name) }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 1000, "character": 0 } } }),
        );
        r["result"]
            .as_array()
            .expect("a list of hints")
            .iter()
            .map(|h| {
                (
                    h["position"]["line"].as_u64().unwrap(),
                    h["label"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

/// The `file://` URI of `name` under the shipped policy folder (`""`: the folder).
fn uri(name: &str) -> String {
    let path = if name.is_empty() {
        root()
    } else {
        root().join(name)
    };
    path_to_uri(&path).unwrap().as_str().to_owned()
}

/// The diagnostics published for `name` among `sent` (the last list).
fn diagnostics(sent: &[Value], name: &str) -> Option<Vec<Value>> {
    sent.iter()
        .rev()
        .find(|m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri(name)
        })
        .map(|m| m["params"]["diagnostics"].as_array().unwrap().clone())
}

const FILE: &str = "scenarios/zz-editor.yaml";

#[test]
fn each_request_gets_its_decision_and_a_disagreement_is_an_error_on_its_line() {
    let mut s = Session::start(false);
    s.open(FILE, SCENARIO);
    let sent = s.settle();
    // Request 3 (block style, line 11) expects allow; `reject_mailbox` has no rule.
    let d = diagnostics(&sent, FILE).expect("the scenario's diagnostics");
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0]["severity"], 1, "an error");
    assert_eq!(
        d[0]["message"],
        "request 3: expected allow, but the decision is deny: no rule allows reject_mailbox"
    );
    assert_eq!(
        d[0]["range"],
        json!({ "start": { "line": 10, "character": 4 }, "end": { "line": 10, "character": 26 } })
    );
    assert_eq!(
        s.hints(FILE),
        vec![
            (8, "allow".to_owned()),
            (9, "deny: no rule allows reject_mailbox".to_owned()),
            (10, "deny: no rule allows reject_mailbox".to_owned()),
        ]
    );
    // The hint of a one-line request sits right after it.
    let r = s.request(
        "textDocument/inlayHint",
        json!({ "textDocument": { "uri": uri(FILE) }, "range": { "start": { "line": 8, "character": 0 }, "end": { "line": 8, "character": 0 } } }),
    );
    let hint = &r["result"][0];
    assert_eq!(hint["position"], json!({ "line": 8, "character": 74 }));
    assert!(
        hint["tooltip"]
            .as_str()
            .unwrap()
            .contains("allowed by rule self-approve-own-mailbox"),
        "{hint:#}"
    );
    // Policy files get no hints.
    s.open("zz-editor.policy", "");
    s.settle();
    assert_eq!(s.hints("zz-editor.policy"), vec![]);

    // Fixing the expectation clears the error.
    s.change(FILE, &SCENARIO.replace("expect: allow\n", "expect: deny\n"));
    let sent = s.settle();
    assert_eq!(diagnostics(&sent, FILE), Some(vec![]));
}

#[test]
fn a_code_action_adds_the_first_why_not_option_as_a_comment() {
    let mut s = Session::start(false);
    s.open(FILE, SCENARIO);
    let sent = s.settle();
    let d = diagnostics(&sent, FILE).unwrap();
    let r = s.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri(FILE) }, "range": d[0]["range"], "context": { "diagnostics": d } }),
    );
    let actions = r["result"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{r:#}");
    let a = &actions[0];
    assert_eq!(a["title"], "Add the first why-not option as a comment");
    assert_eq!(a["kind"], "quickfix");
    assert_eq!(a["diagnostics"], json!(d));
    let edit = &a["edit"]["changes"][uri(FILE)][0];
    // Inserted at the start of the request's line, with its indentation.
    assert_eq!(
        edit["range"],
        json!({ "start": { "line": 10, "character": 0 }, "end": { "line": 10, "character": 0 } })
    );
    // The cheapest way to be allowed to reject: an admin role (see `eval --why-not`).
    let text = edit["newText"].as_str().unwrap();
    assert!(
        text.starts_with("  # would be allowed with: Grant the user the System Administrator"),
        "{text}"
    );
    assert!(
        text.ends_with("(then allowed by approve-exchange-online)\n"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1);

    // The comment in place: it parses, nothing else changes, and it is not offered twice.
    let lines: Vec<&str> = SCENARIO.lines().collect();
    let commented = format!(
        "{}\n{text}{}\n",
        lines[..10].join("\n"),
        lines[10..].join("\n")
    );
    s.change(FILE, &commented);
    let sent = s.settle();
    let d = diagnostics(&sent, FILE).unwrap();
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0]["range"]["start"]["line"], 11);
    let r = s.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri(FILE) }, "range": d[0]["range"], "context": { "diagnostics": d } }),
    );
    assert_eq!(r["result"], json!([]));

    // An allowed request: the option that denies it.
    let r = s.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri(FILE) }, "range": { "start": { "line": 8, "character": 3 }, "end": { "line": 8, "character": 3 } }, "context": { "diagnostics": [] } }),
    );
    let text = r["result"][0]["edit"]["changes"][uri(FILE)][0]["newText"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.starts_with("  # would be denied with: "), "{text}");
}

#[test]
fn editing_a_policy_decides_the_open_scenarios_again() {
    let mut s = Session::start(true);
    s.open(FILE, SCENARIO);
    s.settle();
    assert_eq!(s.hints(FILE)[0].1, "allow");
    // An unsaved policy buffer that denies alice's own mailbox.
    s.open(
        "zz-editor.policy",
        "rule e2e-leave {\n  deny approve_mailbox\n  when user.upn == \"alice@contoso.com\"\n  reason \"alice is on leave\"\n}\n",
    );
    let sent = s.settle();
    let d = diagnostics(&sent, FILE).expect("the scenario is decided again");
    let messages: Vec<&str> = d.iter().map(|d| d["message"].as_str().unwrap()).collect();
    assert_eq!(
        messages,
        [
            "request 1: expected allow, but the decision is deny: alice is on leave",
            "request 3: expected allow, but the decision is deny: no rule allows reject_mailbox",
        ]
    );
    assert_eq!(s.hints(FILE)[0].1, "deny: alice is on leave");
    // The client said it takes refreshes: it is asked to fetch the hints again.
    let refresh: Vec<&Value> = sent
        .iter()
        .filter(|m| m["method"] == "workspace/inlayHint/refresh")
        .collect();
    assert_eq!(refresh.len(), 1, "{sent:#?}");
    assert!(refresh[0].get("id").is_some());

    // Editing only the scenario asks for no refresh (the client asks for its own hints).
    s.change(FILE, SCENARIO);
    let sent = s.settle();
    assert!(
        !sent
            .iter()
            .any(|m| m["method"] == "workspace/inlayHint/refresh")
    );

    // A policy set with errors decides nothing, and says so.
    s.change("zz-editor.policy", "rule broken {");
    let sent = s.settle();
    let d = diagnostics(&sent, FILE).unwrap();
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0]["severity"], 2);
    assert!(
        d[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("the requests are not decided: the policy set has errors"),
        "{d:#?}"
    );
    assert_eq!(s.hints(FILE), vec![]);
}

#[test]
fn a_client_without_refresh_support_is_not_sent_refreshes() {
    let mut s = Session::start(false);
    s.open(FILE, SCENARIO);
    s.settle();
    s.open("zz-editor.policy", "");
    let sent = s.settle();
    assert!(diagnostics(&sent, FILE).is_some());
    assert!(
        !sent
            .iter()
            .any(|m| m["method"] == "workspace/inlayHint/refresh")
    );
}

#[test]
fn bad_scenario_yaml_is_a_diagnostic_not_a_crash() {
    let mut s = Session::start(false);
    let cases = [
        ("requests: [ {", "invalid YAML: unclosed bracket"),
        ("- just\n- a list\n", "expected a scenario map"),
        (
            "requests:\n  - { action: approve_mailbox, user: nobody, mailbox: x }\n",
            "request 1: unknown user `nobody`",
        ),
        ("\u{feff}\t\0", ""),
        ("", ""),
    ];
    s.open(FILE, "");
    s.settle();
    for (text, needle) in cases {
        s.change(FILE, text);
        let sent = s.settle();
        let d = diagnostics(&sent, FILE).unwrap();
        assert!(!d.is_empty(), "{text:?}");
        assert!(d.iter().all(|d| d["severity"] == 1), "{text:?}: {d:#?}");
        assert!(
            d.iter()
                .any(|d| d["message"].as_str().unwrap().contains(needle)),
            "{text:?}: {d:#?}"
        );
        assert_eq!(s.hints(FILE), vec![], "{text:?}");
    }
}

#[test]
fn closing_a_scenario_clears_its_diagnostics_and_only_scenarios_folders_count() {
    let mut s = Session::start(false);
    s.open(FILE, "requests: [ {");
    s.settle();
    s.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": uri(FILE) } }),
    );
    let sent = s.settle();
    assert_eq!(diagnostics(&sent, FILE), Some(vec![]));
    // A YAML file outside `scenarios/`, or under a hidden folder in it (which `mailgate
    // test` does not read), is not a scenario.
    for name in ["notes.yaml", "scenarios/.old/zz-editor.yaml"] {
        s.open(name, SCENARIO);
        let sent = s.settle();
        assert_eq!(diagnostics(&sent, name), None, "{name}");
        assert_eq!(s.hints(name), vec![], "{name}");
    }
}

#[test]
fn a_line_of_many_requests_offers_a_bounded_number_of_actions() {
    let mut s = Session::start(false);
    let one = "{ action: reject_mailbox, user: alice, mailbox: mine }";
    let many = vec![one; 100].join(", ");
    let head = &SCENARIO[..SCENARIO.find("requests:").unwrap()];
    s.open(FILE, &format!("{head}requests: [{many}]\n"));
    s.settle();
    assert_eq!(s.hints(FILE).len(), 100);
    let r = s.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri(FILE) }, "range": { "start": { "line": 7, "character": 0 }, "end": { "line": 7, "character": 0 } }, "context": { "diagnostics": [] } }),
    );
    assert_eq!(
        r["result"].as_array().unwrap().len(),
        super::scenarios::MAX_WHY_NOT_ACTIONS
    );
}

#[test]
fn a_misspelled_id_in_a_scenario_has_its_did_you_mean_as_a_quick_fix() {
    let mut s = Session::start(false);
    let typo = SCENARIO.replace(
        "{ action: approve_mailbox, user: alice,",
        "{ action: approve_mailbox, user: alicee,",
    );
    s.open(FILE, &typo);
    let sent = s.settle();
    let d = diagnostics(&sent, FILE).unwrap();
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(
        d[0]["range"],
        json!({ "start": { "line": 8, "character": 37 }, "end": { "line": 8, "character": 43 } })
    );
    let r = s.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri(FILE) }, "range": d[0]["range"], "context": { "diagnostics": d } }),
    );
    let a = &r["result"][0];
    assert_eq!(a["title"], "Replace with `alice`", "{r:#}");
    assert_eq!(
        a["edit"]["changes"][uri(FILE)][0]["newText"],
        "alice",
        "{r:#}"
    );
}

#[test]
fn a_hint_is_one_line_whatever_the_reason_holds() {
    let mut s = Session::start(false);
    s.open(
        "zz-editor.policy",
        "rule e2e-leave {\n  deny approve_mailbox\n  when true\n  reason \"on\\nleave\"\n}\n",
    );
    s.open(FILE, SCENARIO);
    s.settle();
    assert_eq!(s.hints(FILE)[0].1, "deny: on leave");
}
