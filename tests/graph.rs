//! `mailgate graph`: the picture is the policy. A walk over the same graph the renderers
//! draw reaches the engine's decision and first determining rule for every shipped
//! scenario request and thousands of generated ones; the output stays within Mermaid's
//! default limits; snapshots of `approve_mailbox` in both formats are reviewed; the
//! docs/analysis.md's diagram is the binary's output.

use crate::util::{self, mailgate};
use mailgate::compile::CompiledSet;
use mailgate::eval::Request;
use mailgate::graph::{Graph, GraphError, MERMAID_MAX_EDGES, MERMAID_MAX_TEXT};
use mailgate::policy_set::{self, Origin};
use mailgate::source::{SourceFile, SourceMap};

fn shipped() -> CompiledSet {
    policy_set::load(&Origin::Dir(util::repo_path("policies")))
        .unwrap()
        .set
}

/// Walks the request's graph and compares with the engine; returns a message on mismatch.
fn check_walk(set: &CompiledSet, graphs: &[Graph], request: &Request, what: &str) {
    let d = set.evaluate(request);
    let w = graphs[request.action as usize].walk(set, request);
    assert_eq!(w.effect, d.effect, "{what}");
    assert_eq!(w.cause, d.cause, "{what}");
    assert_eq!(w.rule, d.rules.first().copied(), "{what}");
}

fn all_graphs(set: &CompiledSet) -> Vec<Graph> {
    (0..set.schema().actions.len())
        .map(|a| Graph::of(set, u16::try_from(a).unwrap()))
        .collect()
}

#[test]
fn walking_the_graph_decides_every_shipped_scenario_request_like_the_engine() {
    let set = shipped();
    let graphs = all_graphs(&set);
    let mut sources = SourceMap::new();
    let mut checked = 0;
    for raw in policy_set::scenario_files(&Origin::Dir(util::repo_path("policies"))) {
        let text = String::from_utf8(raw.bytes.unwrap()).unwrap();
        let id = sources.add(SourceFile::new(raw.name.clone(), text));
        let scenario = mailgate::scenario::load(id, sources.get(id), &set).unwrap();
        for r in &scenario.requests {
            check_walk(
                &set,
                &graphs,
                &r.request,
                &format!("{} request {} ({})", raw.name, r.index, r.summary),
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        crate::util::requests(&crate::util::shipped_scenario_files())
    );
}

#[test]
fn walking_the_graph_agrees_with_the_engine_on_generated_requests() {
    let set = shipped();
    let graphs = all_graphs(&set);
    let orgs = mailgate::generate::org_variants();
    for (i, r) in mailgate::generate::requests(7, 5_000).iter().enumerate() {
        let line = r.to_json(&orgs);
        let request = mailgate::batch::parse_request(&set, line.as_bytes()).unwrap();
        check_walk(&set, &graphs, &request, &format!("generated {i}: {line}"));
    }
}

#[test]
fn walking_fails_closed_like_the_engine_when_a_value_is_missing() {
    let set = policy_set::load(&Origin::Dir(util::repo_path("tests/fixtures/coverage")))
        .unwrap()
        .set;
    let graphs = all_graphs(&set);
    for line in [
        // take-red: color is an error and big holds; the allow must not be reached.
        r#"{"action":"take","org":{},"thing":{"size":20}}"#,
        // closed: `not org.open` with `open` given as null (missing) makes the deny match.
        r#"{"action":"drop","org":{"open":null},"thing":{"color":"red"}}"#,
        r#"{"action":"take","org":{"open":false},"thing":{"color":"red","size":20}}"#,
        r#"{"action":"take","org":{},"thing":{"color":"red","size":20}}"#,
    ] {
        let Ok(request) = mailgate::batch::parse_request(&set, line.as_bytes()) else {
            continue;
        };
        check_walk(&set, &graphs, &request, line);
    }
    // The first line is a default deny with an error, not an allow.
    let request =
        mailgate::batch::parse_request(&set, br#"{"action":"take","org":{},"thing":{"size":20}}"#)
            .unwrap();
    let w = graphs[request.action as usize].walk(&set, &request);
    assert_eq!(w.effect, mailgate::ast::Effect::Deny);
    assert_eq!(w.rule, None);
}

#[test]
fn every_shipped_action_fits_mermaids_default_limits() {
    let set = shipped();
    for a in &set.schema().actions {
        let g = Graph::new(&set, &a.name).unwrap();
        let text = g.to_mermaid(&set);
        let links = text.lines().filter(|l| l.contains("-->")).count();
        assert_eq!(links, g.edges.len(), "{}", a.name);
        assert!(links <= MERMAID_MAX_EDGES, "{}: {links} edges", a.name);
        assert!(
            text.chars().count() <= MERMAID_MAX_TEXT,
            "{}: {} characters",
            a.name,
            text.chars().count()
        );
        // Labels carry no raw quote, `<` or `>`: every label is `"..."` with entities inside.
        for line in text.lines() {
            if let Some(start) = line.find("[\"").or_else(|| line.find("{\"")) {
                let inner = &line[start + 2..line.rfind('"').unwrap()];
                assert!(
                    !inner.contains('"') && !inner.replace("<br/>", "").contains(['<', '>']),
                    "{}: unescaped label in {line}",
                    a.name
                );
            }
        }
        // Each test has exactly one true and one false edge.
        let dot = g.to_dot(&set);
        assert_eq!(
            dot.matches('{').count(),
            dot.matches('}').count(),
            "{}",
            a.name
        );
        assert_eq!(
            dot.matches("[label=\"true\"]").count(),
            dot.matches("[label=\"false\"]").count()
        );
    }
}

#[test]
fn lets_appear_by_name_with_their_definitions() {
    let set = shipped();
    let g = Graph::new(&set, "approve_mailbox").unwrap();
    let mermaid = g.to_mermaid(&set);
    assert!(
        mermaid.contains("{\"exchange_online_approver\"}"),
        "{mermaid}"
    );
    // The definition, and those of the lets it uses, are listed.
    for name in [
        "exchange_online_approver = has_approval_privilege and",
        "since_service_update_60 = org.version #gt;= #quot;9.1.0.5805#quot;",
        "is_delegated_approver = user.security_roles contains",
    ] {
        assert!(mermaid.contains(name), "missing {name}:\n{mermaid}");
    }
    let dot = g.to_dot(&set);
    assert!(
        dot.contains("tooltip=\"exchange_online_approver = "),
        "{dot}"
    );
}

#[test]
fn approve_mailbox_in_both_formats() {
    let mermaid = mailgate(&["graph", "approve_mailbox"]).run();
    mermaid.code(0);
    assert_eq!(mermaid.stderr, "");
    let dot = mailgate(&["graph", "approve_mailbox", "--format", "dot"]).run();
    dot.code(0);
    util::settings().bind(|| {
        insta::assert_snapshot!("graph_approve_mailbox_mermaid", mermaid.stdout);
        insta::assert_snapshot!("graph_approve_mailbox_dot", dot.stdout);
    });
}

#[test]
fn an_unknown_action_gets_a_did_you_mean_and_exit_1() {
    let out = mailgate(&["graph", "aprove_mailbox"]).run();
    out.code(1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: unknown action `aprove_mailbox`\nhelp: did you mean `approve_mailbox`?\n"
    );
    let set = shipped();
    assert_eq!(
        Graph::new(&set, "zzz"),
        Err(GraphError::UnknownAction {
            name: "zzz".into(),
            help: None
        })
    );
}

#[test]
fn the_readme_shows_the_current_approve_mailbox_graph() {
    let out = mailgate(&["graph", "approve_mailbox"]).run();
    let readme = util::read("docs/analysis.md");
    let start = readme
        .find("```mermaid\n")
        .expect("docs/analysis.md has a ```mermaid block")
        + "```mermaid\n".len();
    let len = readme[start..].find("```").unwrap();
    assert_eq!(
        &readme[start..start + len],
        out.stdout,
        "regenerate the docs/analysis.md block with `mailgate graph approve_mailbox`"
    );
}

#[test]
fn a_graph_over_mermaids_limits_warns_and_suggests_dot() {
    // 100 rules of 4 tests each on one action: 800 true/false edges.
    let (schema, policy) = mailgate::generate::policy_set(100, 1);
    let dir = util::temp_dir("graph-big");
    std::fs::write(dir.join("schema.yaml"), schema).unwrap();
    std::fs::write(dir.join("generated.policy"), policy).unwrap();
    let out = mailgate(&["graph", "a0", "--policies"]).arg(&dir).run();
    out.code(0);
    assert!(
        out.stderr.starts_with("warning: this graph has 801 edges")
            && out.stderr.contains("try `--format dot`"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.starts_with("flowchart TB\n"));
    let dot = mailgate(&["graph", "a0", "--format", "dot", "--policies"])
        .arg(&dir)
        .run();
    dot.code(0);
    assert_eq!(dot.stderr, "");
    assert_eq!(dot.stdout.matches(" -> ").count(), 801);
}

/// Graphviz accepts the DOT of every shipped action (checked when `dot` is installed;
/// Debian's `graphviz` package provides it).
#[test]
fn graphviz_renders_every_shipped_action_when_installed() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    if Command::new("dot").arg("-V").output().is_err() {
        eprintln!("graphviz is not installed: DOT output not rendered");
        return;
    }
    let set = shipped();
    for a in &set.schema().actions {
        let text = Graph::new(&set, &a.name).unwrap().to_dot(&set);
        let mut child = Command::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}: {}",
            a.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
