//! Scenario YAML → [`Scenario`], checked against a compiled policy set's schema.

use super::{Scenario, ScenarioError, ScenarioRequest};
use crate::ast::Effect;
use crate::compile::CompiledSet;
use crate::diagnostics::did_you_mean;
use crate::limits::MAX_SCENARIO_REQUESTS;
use crate::schema::{EntityDef, EntityId, Schema};
use crate::source::{FileId, SourceFile};
use crate::value::Const;
use crate::yaml::{self, Fields, Node, ShapeError};
use std::collections::HashMap;

/// An entity's attribute values, defaults filled in.
type Instance = Vec<Const>;

/// Loads a scenario file against `set`'s schema, reporting every error.
pub fn load(
    file: FileId,
    source: &SourceFile,
    set: &CompiledSet,
) -> Result<Scenario, Vec<ScenarioError>> {
    let root = yaml::parse(file, &source.text).map_err(|e| vec![ScenarioError::Yaml(e)])?;
    let schema = set.schema();
    let shape = |request, error| ScenarioError::Shape { request, error };
    let mut fields =
        Fields::new(file, &root, "a scenario map").map_err(|e| vec![shape(None, e)])?;
    let mut errors = Vec::new();
    let l = Loader {
        file,
        source,
        schema,
    };

    let description = match fields.take("description") {
        None => None,
        Some(n) => match yaml::string(file, n, "a description") {
            Ok(s) => Some(s.to_owned()),
            Err(e) => {
                errors.push(shape(None, e));
                None
            }
        },
    };

    // The context: a map of attributes (absent: all defaults, if the schema has them).
    let ctx_def = schema.context();
    let ctx_node = fields.take(&ctx_def.name);
    let context = l.instance(
        ctx_def,
        &format!("`{}`", ctx_def.name),
        ctx_node,
        root.span(file),
        &mut errors,
    );

    // One map per entity type, keyed by its plural.
    // `None` for an id whose definition has errors: requests naming it cannot be decided,
    // but the id is not unknown either.
    let mut instances: Vec<HashMap<&str, Option<Instance>>> =
        vec![HashMap::new(); schema.entities.len()];
    for (eid, def) in schema.entities.iter().enumerate() {
        let Some(plural) = &def.plural else { continue };
        let Some(map) = fields.take(plural) else {
            continue;
        };
        let entries = match Fields::new(file, map, &format!("a map of {plural} by id")) {
            Ok(f) => f.rest(),
            Err(e) => {
                errors.push(shape(None, e));
                continue;
            }
        };
        for (id, key, body) in entries {
            let what = format!("{} `{id}`", def.name);
            let inst = l.instance(def, &what, Some(body), key.span(file), &mut errors);
            instances[eid].insert(id, inst);
        }
    }

    let requests_node = fields.require("requests", " in the scenario");
    let mut allowed: Vec<&str> = vec!["description", &ctx_def.name, "requests"];
    allowed.extend(schema.entities.iter().filter_map(|e| e.plural.as_deref()));
    errors.extend(fields.finish(&allowed).into_iter().map(|e| shape(None, e)));

    let mut requests = Vec::new();
    match requests_node
        .and_then(|n| yaml::list(file, n, "a list of requests").map(|items| (n, items)))
    {
        Ok((n, items)) => {
            if items.len() > MAX_SCENARIO_REQUESTS {
                errors.push(ScenarioError::TooManyRequests {
                    count: items.len(),
                    limit: MAX_SCENARIO_REQUESTS,
                    span: n.span(file),
                });
            } else {
                for (i, item) in items.iter().enumerate() {
                    if let Some(r) =
                        l.request(i + 1, item, set, context.as_ref(), &instances, &mut errors)
                    {
                        requests.push(r);
                    }
                }
            }
        }
        Err(e) => errors.push(shape(None, e)),
    }
    if errors.is_empty() {
        Ok(Scenario {
            description,
            requests,
        })
    } else {
        Err(errors)
    }
}

struct Loader<'a> {
    file: FileId,
    source: &'a SourceFile,
    schema: &'a Schema,
}

impl Loader<'_> {
    /// An entity's attributes: given values checked, defaults filled, required ones
    /// present.
    fn instance(
        &self,
        def: &EntityDef,
        what: &str,
        node: Option<&Node>,
        span: crate::source::Span,
        errors: &mut Vec<ScenarioError>,
    ) -> Option<Instance> {
        let mut given: HashMap<&str, &Node> = HashMap::new();
        let mut ok = true;
        if let Some(node) = node {
            match Fields::new(self.file, node, &format!("a map of attributes for {what}")) {
                Ok(f) => {
                    for (k, kn, v) in f.rest() {
                        if def.attr(k).is_some() {
                            given.insert(k, v);
                        } else {
                            ok = false;
                            errors.push(ScenarioError::UnknownAttribute {
                                entity: def.name.clone(),
                                attr: k.to_owned(),
                                help: def.suggest_attr(k),
                                span: kn.span(self.file),
                            });
                        }
                    }
                }
                Err(e) => {
                    errors.push(ScenarioError::Shape {
                        request: None,
                        error: e,
                    });
                    return None;
                }
            }
        }
        let span = node.map_or(span, |n| n.span(self.file));
        let mut out = Vec::with_capacity(def.attrs.len());
        for attr in &def.attrs {
            let value = match given.get(attr.name.as_str()) {
                Some(v) => match self.schema.const_from_yaml(attr.ty, v, self.source) {
                    Ok(c) => Some(c),
                    Err(error) => {
                        errors.push(ScenarioError::BadValue {
                            request: None,
                            name: attr.name.clone(),
                            error,
                            span: self
                                .schema
                                .bad_part(attr.ty, v, self.source)
                                .span(self.file),
                        });
                        None
                    }
                },
                None => {
                    if attr.default.is_none() {
                        errors.push(ScenarioError::MissingAttribute {
                            what: what.to_owned(),
                            attr: attr.name.clone(),
                            span,
                        });
                    }
                    attr.default.clone()
                }
            };
            match value {
                Some(c) => out.push(c),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn request(
        &self,
        index: usize,
        node: &Node,
        set: &CompiledSet,
        context: Option<&Instance>,
        instances: &[HashMap<&str, Option<Instance>>],
        errors: &mut Vec<ScenarioError>,
    ) -> Option<ScenarioRequest> {
        let shape = |error: ShapeError| ScenarioError::Shape {
            request: Some(index),
            error,
        };
        let mut f = match Fields::new(self.file, node, "a request map") {
            Ok(f) => f,
            Err(e) => {
                errors.push(shape(e));
                return None;
            }
        };
        let action_node = match f.require("action", "") {
            Ok(n) => n,
            Err(e) => {
                errors.push(shape(e));
                return None;
            }
        };
        let name = match yaml::string(self.file, action_node, "an action name") {
            Ok(s) => s,
            Err(e) => {
                errors.push(shape(e));
                return None;
            }
        };
        let Some(action_id) = self.schema.action_id(name) else {
            errors.push(ScenarioError::UnknownAction {
                request: index,
                name: name.to_owned(),
                help: self.schema.suggest_action(name),
                span: action_node.span(self.file),
            });
            return None;
        };
        let action = self.schema.action(action_id);
        let mut ok = true;
        let mut request = set.new_request(action_id);
        let layout = set.layout(action_id).clone();
        let mut summary = action.name.clone();
        if let Some(ctx) = context {
            for (i, c) in ctx.iter().enumerate() {
                request.values[i] = set.to_value(&mut request, c);
            }
        } else {
            ok = false;
        }
        for (si, slot) in action.slots.iter().enumerate() {
            let node = match f.require(&slot.name, &format!(" (action `{}` needs it)", action.name))
            {
                Ok(n) => n,
                Err(e) => {
                    errors.push(shape(e));
                    ok = false;
                    continue;
                }
            };
            let Some(id) = node.scalar_text(self.source) else {
                errors.push(shape(yaml::expect(self.file, node, "an entity id")));
                ok = false;
                continue;
            };
            let entity: EntityId = slot.entity;
            let def = self.schema.entity(entity);
            let Some(Some(inst)) = instances[entity as usize].get(id) else {
                ok = false;
                if instances[entity as usize].contains_key(id) {
                    errors.push(ScenarioError::InvalidEntity {
                        request: index,
                        entity: def.name.clone(),
                        id: id.to_owned(),
                        span: node.span(self.file),
                    });
                    continue;
                }
                let known = &instances[entity as usize];
                errors.push(ScenarioError::UnknownId {
                    request: index,
                    entity: def.name.clone(),
                    id: id.to_owned(),
                    help: did_you_mean(id, known.keys().copied()).or_else(|| {
                        Some(format!(
                            "define it under `{}:`",
                            def.plural.as_deref().unwrap_or("?")
                        ))
                    }),
                    span: node.span(self.file),
                });
                continue;
            };
            summary.push_str(&format!(" {}={id}", slot.name));
            let base = layout.slots[si] as usize;
            for (ai, c) in inst.iter().enumerate() {
                request.values[base + ai] = set.to_value(&mut request, c);
            }
        }
        for (pi, param) in action.params.iter().enumerate() {
            let node = match f.require(
                &param.name,
                &format!(" (action `{}` needs it)", action.name),
            ) {
                Ok(n) => n,
                Err(e) => {
                    errors.push(shape(e));
                    ok = false;
                    continue;
                }
            };
            match self.schema.const_from_yaml(param.ty, node, self.source) {
                Ok(c) => {
                    summary.push_str(&format!(
                        " {}={}",
                        param.name,
                        self.schema.display_const(param.ty, &c)
                    ));
                    request.values[layout.params as usize + pi] = set.to_value(&mut request, &c);
                }
                Err(error) => {
                    errors.push(ScenarioError::BadValue {
                        request: Some(index),
                        name: param.name.clone(),
                        error,
                        span: self
                            .schema
                            .bad_part(param.ty, node, self.source)
                            .span(self.file),
                    });
                    ok = false;
                }
            }
        }
        let expect = match f.take("expect") {
            None => None,
            Some(n) => match n.scalar_text(self.source) {
                Some("allow") => Some(Effect::Allow),
                Some("deny") => Some(Effect::Deny),
                other => {
                    errors.push(ScenarioError::BadExpect {
                        request: index,
                        found: other.unwrap_or(n.kind()).to_owned(),
                        span: n.span(self.file),
                    });
                    ok = false;
                    None
                }
            },
        };
        let mut allowed: Vec<&str> = vec!["action"];
        allowed.extend(action.slots.iter().map(|s| s.name.as_str()));
        allowed.extend(action.params.iter().map(|p| p.name.as_str()));
        allowed.push("expect");
        let extra = f.finish(&allowed);
        ok &= extra.is_empty();
        errors.extend(extra.into_iter().map(shape));
        ok.then(|| ScenarioRequest {
            index,
            span: node.span(self.file),
            request,
            expect,
            summary,
        })
    }
}
