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
    assert_eq!(s.enum_def(0).name, "security_role");
}
