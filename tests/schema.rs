//! Schema errors: each fixture under `tests/fixtures/schema/err/` is a broken
//! `schema.yaml`; its snapshot is every diagnostic a user sees, in one run.

use crate::util;
use mailgate::diagnostics::{Diagnostic, render_all};
use mailgate::schema;
use mailgate::source::{SourceFile, SourceMap};

fn render(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap().replace("\r\n", "\n");
    let name = path
        .strip_prefix(util::repo())
        .unwrap_or(path)
        .display()
        .to_string();
    let mut sources = SourceMap::new();
    let id = sources.add(SourceFile::new(name, text));
    let errors = schema::load(id, sources.get(id)).expect_err("the fixture should not load");
    let diags: Vec<Diagnostic> = errors
        .iter()
        .map(schema::SchemaError::to_diagnostic)
        .collect();
    render_all(&diags, &sources)
}

#[test]
fn schema_errors() {
    util::settings().bind(|| {
        insta::glob!("fixtures/schema/err/*.yaml", |path| {
            insta::assert_snapshot!("schema_err", render(path));
        });
    });
}

#[test]
fn the_shipped_schema_loads() {
    let text = util::shipped_schema();
    let mut sources = SourceMap::new();
    let id = sources.add(SourceFile::new("policies/schema.yaml", text));
    let s = schema::load(id, sources.get(id)).unwrap();
    assert_eq!(s.actions.len(), 7);
    assert_eq!(s.context_name(), "org");
    assert_eq!(s.get_enum_def(0).unwrap().name, "security_role");
}

#[test]
fn the_shipped_schema_gives_every_changeable_attribute_a_step() {
    let text = util::shipped_schema();
    let mut sources = SourceMap::new();
    let id = sources.add(SourceFile::new("policies/schema.yaml", text));
    let s = schema::load(id, sources.get(id)).unwrap();
    for e in &s.entities {
        for a in &e.attrs {
            if a.fixed {
                continue;
            }
            assert!(!a.fix.is_empty(), "{}.{} has no fix step", e.name, a.name);
            for f in &a.fix {
                assert!(!f.step.is_empty());
                if let Some(action) = &f.action {
                    assert!(s.action_id(action).is_some(), "{action}");
                }
            }
        }
    }
    // The org-wide approval switches cost 10 and warn.
    let org = s.context();
    for name in [
        "process_emails_only_for_approved_users",
        "process_emails_only_for_approved_queues",
    ] {
        let a = &org.attrs[org.attr(name).unwrap()];
        assert_eq!(a.cost, 10, "{name}");
        let off = a
            .fix_for(schema::FixOp::Set, &serde_json::Value::Bool(false))
            .unwrap();
        assert!(off.warning.as_deref().unwrap().contains("every"), "{name}");
    }
    // Approving is done by approve_mailbox; mailbox attributes cost 1.
    let mailbox = s.get_entity(s.entity_id("mailbox").unwrap()).unwrap();
    let approval = &mailbox.attrs[mailbox.attr("approval").unwrap()];
    assert_eq!(approval.cost, 1);
    let approve = approval
        .fix_for(schema::FixOp::Set, &serde_json::json!("approved"))
        .unwrap();
    assert_eq!(approve.action.as_deref(), Some("approve_mailbox"));
}
