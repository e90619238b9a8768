//! The shipped scenarios: every request decides as its `expect` says (plain assertions with
//! a readable list of failures), and one decision snapshot per scenario file shows, for
//! each request, the decision, its cause and the rules, reasons and errors behind it.

use crate::util;
use mailgate::compile::CompiledSet;
use mailgate::policy_set::{self, Origin};
use mailgate::report::DecisionReport;
use mailgate::scenario::Scenario;
use mailgate::source::{SourceFile, SourceMap};
use std::fmt::Write as _;
use std::path::PathBuf;

/// The shipped policy set, loaded as the CLI loads it from the repository root, so rule
/// locations read `policies/approval.policy:8`.
fn shipped() -> CompiledSet {
    let origin = Origin::Dir(PathBuf::from("policies"));
    match policy_set::load(&origin) {
        Ok(loaded) => loaded.set,
        Err(f) => panic!(
            "{}",
            mailgate::diagnostics::render_all(&f.diagnostics, &f.sources)
        ),
    }
}

/// Loads one scenario file under the name `name`.
fn load_scenario(set: &CompiledSet, sources: &mut SourceMap, name: &str, text: String) -> Scenario {
    let id = sources.add(SourceFile::new(name, text));
    mailgate::scenario::load(id, sources.get(id), set).unwrap_or_else(|errs| {
        let diags: Vec<_> = errs
            .iter()
            .map(mailgate::scenario::ScenarioError::to_diagnostic)
            .collect();
        panic!(
            "{name} is not a valid scenario:\n{}",
            mailgate::diagnostics::render_all(&diags, sources)
        )
    })
}

#[test]
fn every_shipped_scenario_request_decides_as_expected() {
    let set = shipped();
    let mut sources = SourceMap::new();
    let files = policy_set::scenario_files(&Origin::Dir(PathBuf::from("policies")));
    assert_eq!(files.len(), 22, "the shipped scenario files");
    let (mut passed, mut failures) = (0, Vec::new());
    for raw in files {
        let text = String::from_utf8(raw.bytes.unwrap()).unwrap();
        let scenario = load_scenario(&set, &mut sources, &raw.name, text);
        assert!(
            !scenario.requests.is_empty(),
            "{} has no requests",
            raw.name
        );
        for r in &scenario.requests {
            let expect = r
                .expect
                .unwrap_or_else(|| panic!("{} request {} has no expect", raw.name, r.index));
            let d = set.evaluate(&r.request);
            if d.effect == expect {
                passed += 1;
            } else {
                let report = DecisionReport::new(&set, &r.request, &d);
                failures.push(format!(
                    "{}:{}: request {}: {}: expected {}, got {}\n{}",
                    raw.name,
                    sources.location(r.span).line,
                    r.index,
                    r.summary,
                    expect.as_str(),
                    report.decision,
                    report.render_text(&set, &r.request)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        passed,
        crate::util::expectations(&crate::util::shipped_scenario_files())
    );
}

/// One scenario's decisions as a reviewer reads them.
fn render_decisions(set: &CompiledSet, name: &str, text: String) -> String {
    let mut sources = SourceMap::new();
    let scenario = load_scenario(set, &mut sources, name, text);
    let mut out = String::new();
    if let Some(d) = &scenario.description {
        let _ = writeln!(out, "{}\n", d.trim());
    }
    for r in &scenario.requests {
        let d = set.evaluate(&r.request);
        let report = DecisionReport::new(set, &r.request, &d);
        let loc = sources.location(r.span);
        let cause = match report.cause {
            "allowed" => "allowed",
            "denied_by_rule" => "explicit deny",
            _ => "default deny",
        };
        let expect = match r.expect {
            Some(e) if e == d.effect => String::new(),
            Some(e) => format!(" (EXPECTED {})", e.as_str()),
            None => " (no expectation)".to_owned(),
        };
        let _ = writeln!(
            out,
            "{}: request {}: {}\n  -> {} ({cause}){expect}",
            loc, r.index, r.summary, report.decision
        );
        out.push_str(&report.render_text(set, &r.request));
        out.push('\n');
    }
    out
}

#[test]
fn scenario_decisions() {
    let set = shipped();
    util::settings().bind(|| {
        insta::glob!("../policies/scenarios", "*.yaml", |path| {
            let file = path.file_name().unwrap().to_string_lossy();
            let name = format!("policies/scenarios/{file}");
            let text = std::fs::read_to_string(path).unwrap().replace("\r\n", "\n");
            let rendered = render_decisions(&set, &name, text);
            assert!(!rendered.contains("(EXPECTED"), "{rendered}");
            insta::assert_snapshot!(rendered);
        });
    });
}

#[test]
fn the_embedded_set_decides_like_the_policies_folder() {
    let from_dir = shipped();
    let embedded = policy_set::load(&Origin::Embedded).unwrap().set;
    assert_eq!(from_dir.rules().len(), embedded.rules().len());
    let mut sources = SourceMap::new();
    for raw in policy_set::scenario_files(&Origin::Embedded) {
        let text = String::from_utf8(raw.bytes.unwrap()).unwrap();
        let on_disk = util::read(&raw.name);
        assert_eq!(text.replace("\r\n", "\n"), on_disk, "{} is stale", raw.name);
        let a = load_scenario(&from_dir, &mut sources, &raw.name, text.clone());
        let b = load_scenario(&embedded, &mut sources, &raw.name, text);
        for (x, y) in a.requests.iter().zip(&b.requests) {
            let (dx, dy) = (from_dir.evaluate(&x.request), embedded.evaluate(&y.request));
            assert_eq!(
                DecisionReport::new(&from_dir, &x.request, &dx),
                DecisionReport::new(&embedded, &y.request, &dy),
                "{} request {}",
                raw.name,
                x.index
            );
        }
    }
}
