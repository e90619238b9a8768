//! The console: `GET /` serves a browser front end (HTML, CSS and one ES module, all
//! compiled into the binary, no external assets), and the JSON it is built from:
//!
//! - `GET /v1/schema`: the loaded schema (forms are generated from it);
//! - `GET /v1/graph/ACTION.svg`: the action's decision flow, laid out by mailgate;
//! - `GET /v1/scenarios`: every scenario request of the served folder, decided;
//! - `GET /v1/audit`: the audit report of `--bundle DIR`, with each mailbox's requests.
//!
//! The page itself and its two assets are the only endpoints open without the token:
//! they hold no data, and a browser cannot send a bearer header when it opens a page.

use super::http::App;
use super::snapshot::Snapshot;
use crate::ast::Effect;
use crate::compile::CompiledSet;
use crate::policy_set::Origin;
use crate::schema::{AttrDef, EntityDef, FixOp, Schema, Type};
use crate::value::Const;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::Arc;

const INDEX_HTML: &str = include_str!("console/index.html");
const CONSOLE_JS: &str = include_str!("console/console.js");
const CONSOLE_CSS: &str = include_str!("console/console.css");

/// The console's routes.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(index))
        .route("/console.js", get(script))
        .route("/console.css", get(style))
        .route("/v1/schema", get(schema))
        .route("/v1/graph/{file}", get(graph))
        .route("/v1/scenarios", get(scenarios))
        .route("/v1/audit", get(audit))
}

/// Paths served without the token: the page and its assets, which hold no data.
pub(crate) fn is_public(path: &str) -> bool {
    matches!(path, "/" | "/console.js" | "/console.css")
}

/// The label of a console path for the latency metrics, if it is one.
pub(crate) fn handler_label(path: &str) -> Option<&'static str> {
    Some(match path {
        "/" => "/",
        "/console.js" => "/console.js",
        "/console.css" => "/console.css",
        "/v1/schema" => "/v1/schema",
        "/v1/scenarios" => "/v1/scenarios",
        "/v1/audit" => "/v1/audit",
        p if p.starts_with("/v1/graph/") => "/v1/graph",
        _ => return None,
    })
}

fn respond(status: StatusCode, body: impl Into<axum::body::Body>, ty: &'static str) -> Response {
    let mut r = (status, body.into()).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn json_ok(v: &Value) -> Response {
    respond(StatusCode::OK, v.to_string(), "application/json")
}

fn json_error(status: StatusCode, message: &str) -> Response {
    let body = json!({"decision": "deny", "error": message});
    respond(status, body.to_string(), "application/json")
}

async fn index() -> Response {
    let mut r = respond(StatusCode::OK, INDEX_HTML, "text/html; charset=utf-8");
    // Nothing leaves the binary: no script, style, font or image from elsewhere.
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    r
}

async fn script() -> Response {
    respond(StatusCode::OK, CONSOLE_JS, "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    respond(StatusCode::OK, CONSOLE_CSS, "text/css; charset=utf-8")
}

async fn schema(State(app): State<Arc<App>>) -> Response {
    let snap = app.active.load_full();
    let mut v = schema_json(snap.set.schema());
    if let Value::Object(m) = &mut v {
        m.insert("revision".into(), Value::String(snap.revision.to_string()));
        m.insert("audit".into(), Value::Bool(app.bundle.is_some()));
    }
    json_ok(&v)
}

async fn graph(State(app): State<Arc<App>>, Path(file): Path<String>) -> Response {
    let snap = app.active.load_full();
    let action = file.strip_suffix(".svg").unwrap_or(&file);
    let set = &snap.set;
    match crate::graph::Graph::new(set, action) {
        Ok(g) => {
            let svg = tokio::task::block_in_place(|| g.to_svg(set));
            respond(StatusCode::OK, svg, "image/svg+xml")
        }
        Err(e) => json_error(StatusCode::NOT_FOUND, &e.to_string()),
    }
}

async fn scenarios(State(app): State<Arc<App>>) -> Response {
    let snap = app.active.load_full();
    let origin = app.origin.clone();
    match tokio::task::spawn_blocking(move || scenarios_json(&snap, &origin)).await {
        Ok(v) => json_ok(&v),
        Err(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "the scenarios failed"),
    }
}

async fn audit(State(app): State<Arc<App>>) -> Response {
    let Some(dir) = app.bundle.clone() else {
        return json_error(
            StatusCode::NOT_FOUND,
            "no export bundle: start `mailgate serve --bundle DIR` to see its audit",
        );
    };
    let snap = app.active.load_full();
    let origin = app.origin.clone();
    match tokio::task::spawn_blocking(move || audit_json(&snap, &origin, &dir)).await {
        Ok(Ok(v)) => json_ok(&v),
        Ok(Err(message)) => json_error(StatusCode::UNPROCESSABLE_ENTITY, &message),
        Err(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "the audit failed"),
    }
}

/// A typed constant as JSON: sets as arrays of member names, versions as text.
fn const_json(schema: &Schema, ty: Type, c: &Const) -> Value {
    match (ty, c) {
        (_, Const::Bool(b)) => Value::Bool(*b),
        (_, Const::Int(i)) => json!(i),
        (_, Const::Str(s)) => Value::String(s.clone()),
        (_, Const::Version(v)) => Value::String(v.to_string()),
        (Type::Enum(e), Const::Enum(i)) => Value::String(schema.member_name(e, *i).to_owned()),
        (Type::Set(e), Const::Set(s)) => Value::Array(
            s.iter()
                .map(|i| Value::String(schema.member_name(e, i).to_owned()))
                .collect(),
        ),
        (_, Const::Enum(i)) => json!(i),
        (_, Const::Set(s)) => json!(s.0),
    }
}

/// A type as JSON: `{"type": "set<security_role>", "kind": "set", "enum": "security_role"}`.
fn type_fields(schema: &Schema, ty: Type, m: &mut serde_json::Map<String, Value>) {
    m.insert("type".into(), Value::String(schema.type_name(ty)));
    let (kind, e) = match ty {
        Type::Bool => ("bool", None),
        Type::Int => ("int", None),
        Type::String => ("string", None),
        Type::Version => ("version", None),
        Type::Enum(e) => ("enum", Some(e)),
        Type::Set(e) => ("set", Some(e)),
    };
    m.insert("kind".into(), Value::String(kind.to_owned()));
    if let Some(e) = e {
        m.insert(
            "enum".into(),
            Value::String(schema.enum_def(e).name.clone()),
        );
    }
}

fn attr_json(schema: &Schema, a: &AttrDef) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), Value::String(a.name.clone()));
    type_fields(schema, a.ty, &mut m);
    m.insert(
        "default".into(),
        a.default
            .as_ref()
            .map_or(Value::Null, |c| const_json(schema, a.ty, c)),
    );
    m.insert("required".into(), Value::Bool(a.default.is_none()));
    m.insert("fixed".into(), Value::Bool(a.fixed));
    // What changing the attribute costs, and how an administrator does it (one entry per
    // value set, or member added or removed), so the console can show steps and costs.
    m.insert("cost".into(), json!(a.cost));
    m.insert(
        "fix".into(),
        a.fix
            .iter()
            .map(|f| {
                let op = match f.op {
                    FixOp::Set => "set",
                    FixOp::Add => "add",
                    FixOp::Remove => "remove",
                };
                json!({"op": op, "value": f.value, "step": f.step, "action": f.action,
                       "warning": f.warning})
            })
            .collect(),
    );
    Value::Object(m)
}

fn entity_json(schema: &Schema, e: &EntityDef) -> Value {
    json!({
        "name": e.name,
        "plural": e.plural,
        "attributes": e.attrs.iter().map(|a| attr_json(schema, a)).collect::<Vec<_>>(),
    })
}

/// The schema as the console reads it. Lists keep the schema's order (forms show
/// attributes as the schema declares them).
pub(crate) fn schema_json(schema: &Schema) -> Value {
    let enums: Vec<Value> = schema
        .enums
        .iter()
        .map(|e| json!({"name": e.name, "values": e.values}))
        .collect();
    let context = schema.context();
    let entities: Vec<Value> = schema
        .entities
        .iter()
        .enumerate()
        .filter(|(i, _)| usize::from(schema.context) != *i)
        .map(|(_, e)| entity_json(schema, e))
        .collect();
    let actions: Vec<Value> = schema
        .actions
        .iter()
        .map(|a| {
            json!({
                "name": a.name,
                "slots": a.slots.iter().map(|s| json!({
                    "name": s.name,
                    "entity": schema.entity(s.entity).name,
                })).collect::<Vec<_>>(),
                "params": a.params.iter().map(|p| {
                    let mut m = serde_json::Map::new();
                    m.insert("name".into(), Value::String(p.name.clone()));
                    type_fields(schema, p.ty, &mut m);
                    Value::Object(m)
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "enums": enums,
        "entities": entities,
        "context": entity_json(schema, context),
        "actions": actions,
    })
}

/// `name` relative to the served folder, with `/` separators.
fn relative_name(origin: &Origin, name: &str) -> String {
    let prefix = match origin {
        Origin::Dir(dir) => dir.display().to_string(),
        Origin::Embedded => "policies".to_owned(),
    };
    let rel = name.strip_prefix(prefix.as_str()).unwrap_or(name);
    rel.trim_start_matches(['/', '\\']).replace('\\', "/")
}

fn effect_str(e: Effect) -> &'static str {
    match e {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
    }
}

/// Decides every scenario request of the served folder: one row per request (failing
/// ones first, then in file order), and one row per file that does not load.
pub(crate) fn scenarios_json(snap: &Snapshot, origin: &Origin) -> Value {
    let set: &CompiledSet = &snap.set;
    let mut sources = crate::source::SourceMap::new();
    let mut rows: Vec<(bool, Value)> = Vec::new();
    let mut errors = Vec::new();
    for raw in crate::policy_set::scenario_files(origin) {
        let file = relative_name(origin, &raw.name);
        let loaded = crate::policy_set::decode(raw, &mut sources).map_err(|d| vec![*d]);
        let scenario = loaded.and_then(|id| {
            crate::scenario::load(id, sources.get(id), set).map_err(|errs| {
                errs.iter()
                    .map(crate::scenario::ScenarioError::to_diagnostic)
                    .collect()
            })
        });
        match scenario {
            Ok(s) => {
                for r in &s.requests {
                    let d = set.evaluate(&r.request);
                    let decision = effect_str(d.effect);
                    let expect = r.expect.map(effect_str);
                    let failing = r.expect.is_some_and(|e| e != d.effect);
                    let rules: Vec<&str> =
                        d.rules.iter().map(|&i| set.rule(i).id.as_str()).collect();
                    let reasons: Vec<&str> = d
                        .rules
                        .iter()
                        .filter_map(|&i| set.rule(i).reason.as_deref())
                        .collect();
                    rows.push((
                        failing,
                        json!({
                            "file": file,
                            "request": r.index,
                            "summary": r.summary,
                            "expect": expect,
                            "decision": decision,
                            "pass": !failing,
                            "rules": rules,
                            "reasons": reasons,
                            "line": crate::analysis::batch_line(set, &r.request),
                        }),
                    ));
                }
            }
            Err(diags) => {
                errors.push(json!({
                    "file": file,
                    "error": crate::diagnostics::render_all(&diags, &sources),
                }));
            }
        }
    }
    // Stable: failing rows first, each group in file order.
    rows.sort_by_key(|(failing, _)| !failing);
    let failed = rows.iter().filter(|(f, _)| *f).count();
    json!({
        "revision": &*snap.revision,
        "passed": rows.len() - failed,
        "failed": failed,
        "requests": rows.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "errors": errors,
    })
}

/// The audit of `dir` with the active set: the JSON records of `mailgate audit --format
/// json`, and for each mailbox the batch line of each sync action.
fn audit_json(snap: &Snapshot, origin: &Origin, dir: &std::path::Path) -> Result<Value, String> {
    use crate::audit::{self, BundleSource, Format, ImportOptions};
    let set = &snap.set;
    let opts = ImportOptions {
        deployment: "online".to_owned(),
        ..ImportOptions::default()
    };
    let bundle = audit::import_bundle(&BundleSource::Dir(dir.to_path_buf()), origin, set, &opts)
        .map_err(|e| e.to_string().trim_end().to_owned())?;
    let mut out = Vec::new();
    audit::write_report(set, &bundle, Format::Json, &mut out).map_err(|e| e.to_string())?;
    let records: Vec<Value> = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect();
    let auditor = audit::Auditor::new(set, &bundle);
    let mut requests = serde_json::Map::new();
    for m in &bundle.mailboxes {
        let mut per = serde_json::Map::new();
        for a in crate::audit::SYNC_ACTIONS {
            let line = auditor.sync_line(m, a);
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                per.insert((*a).to_owned(), v);
            }
        }
        requests.insert(m.id.clone(), Value::Object(per));
    }
    Ok(json!({
        "bundle": dir.display().to_string(),
        "revision": &*snap.revision,
        "records": records,
        "requests": requests,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_json_lists_every_attribute_with_its_type_and_fixedness() {
        let snap = super::super::snapshot::load(&Origin::Embedded).unwrap();
        let v = schema_json(snap.set.schema());
        let mailbox = v["entities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "mailbox")
            .unwrap();
        let server = mailbox["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "server")
            .unwrap();
        assert_eq!(server["kind"], "enum");
        assert_eq!(server["enum"], "server_type");
        assert_eq!(server["fixed"], true);
        assert_eq!(v["context"]["name"], "org");
        let assign = v["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "assign_role")
            .unwrap();
        assert_eq!(assign["params"][0]["name"], "role");
        assert_eq!(assign["params"][0]["kind"], "enum");
    }

    #[test]
    fn schema_json_carries_costs_and_fix_steps() {
        let snap = super::super::snapshot::load(&Origin::Embedded).unwrap();
        let v = schema_json(snap.set.schema());
        let attr = |entity: &Value, name: &str| {
            entity["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == name)
                .unwrap()
                .clone()
        };
        let mailbox = v["entities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "mailbox")
            .unwrap()
            .clone();
        let approval = attr(&mailbox, "approval");
        assert_eq!(approval["cost"], 1);
        let approve = approval["fix"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["value"] == "approved")
            .unwrap()
            .clone();
        assert_eq!(approve["op"], "set");
        assert_eq!(approve["action"], "approve_mailbox");
        assert!(approve["warning"].is_null());
        let switch = attr(&v["context"], "process_emails_only_for_approved_users");
        assert_eq!(switch["cost"], 10);
        let off = switch["fix"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["value"] == false)
            .unwrap()
            .clone();
        assert!(off["warning"].as_str().unwrap().contains("every mailbox"));
    }

    #[test]
    fn console_assets_are_the_only_open_paths() {
        assert!(is_public("/"));
        assert!(is_public("/console.js"));
        assert!(!is_public("/v1/schema"));
        assert!(!is_public("/v1/scenarios"));
    }
}
