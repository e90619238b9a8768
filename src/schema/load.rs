//! `schema.yaml` → [`Schema`], strictly: unknown keys, unknown types, duplicate names and
//! bad defaults are all errors, and all of them are reported together.

use super::{
    ActionDef, ActionId, AttrDef, EntityDef, EntityId, EnumDef, EnumId, Names, ParamDef, Schema,
    SchemaError, SlotDef, Type, ValueError,
};
use crate::diagnostics::did_you_mean;
use crate::source::{FileId, SourceFile, Span};
use crate::value::{Const, EnumSet};
use crate::yaml::{self, Fields, Node, Value};
use rustc_hash::FxHashSet;

/// Names that cannot be a slot, parameter or context name, because a policy path's first
/// segment would become ambiguous.
const RESERVED_ROOT: &str = "request";

use crate::syntax::KEYWORDS;

/// An error if policies could not write `name` (an action, attribute, slot, parameter or
/// enum name): it must be an identifier (letters, digits and `_`, not starting with a
/// digit) and not a keyword.
fn check_writable(what: &'static str, name: &str, span: Span) -> Result<(), SchemaError> {
    let mut chars = name.chars();
    let ident = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    let why = if !ident {
        "policies name it as an identifier: ASCII letters, digits and `_`, not starting with a digit"
    } else if KEYWORDS.contains(&name) {
        "it is a keyword of the policy language"
    } else {
        return Ok(());
    };
    Err(SchemaError::Unwritable {
        what,
        name: name.escape_debug().to_string(),
        why,
        span,
    })
}

/// An error if policies could not write the enum member `name` as a string: it must not
/// be empty and may hold no control or invisible characters (which policy text refuses).
fn check_member(name: &str, span: Span) -> Result<(), SchemaError> {
    let invisible = |c: char| {
        c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
    };
    let why = if name.is_empty() {
        "an empty member cannot be told apart from a missing value"
    } else if name.chars().any(invisible) {
        "policies write members as strings, and policy text refuses control and invisible characters"
    } else {
        return Ok(());
    };
    Err(SchemaError::Unwritable {
        what: "enum member",
        name: name.escape_debug().to_string(),
        why,
        span,
    })
}

/// Scenario request keys besides slots and parameters: no slot or parameter may be one.
const SCENARIO_KEYS: [&str; 2] = ["action", "expect"];

/// Most members of an enum (members are 16-bit indexes). Enums used in `set<...>` are
/// limited further, to `EnumSet::CAPACITY` (128) members, since sets are bit sets of that
/// size (checked in `parse_type`).
const MAX_ENUM_VALUES: usize = u16::MAX as usize;

/// Most enums, entity types (with the context) or actions: their ids are 16-bit.
const MAX_IDS: usize = u16::MAX as usize;

fn too_many(what: &'static str, span: Span) -> SchemaError {
    SchemaError::TooMany {
        what,
        limit: MAX_IDS,
        span,
    }
}

/// Loads a schema from its YAML text.
pub fn load(file: FileId, source: &SourceFile) -> Result<Schema, Vec<SchemaError>> {
    let root = yaml::parse(file, &source.text).map_err(|e| vec![SchemaError::Yaml(e)])?;
    let mut errors: Vec<SchemaError> = Vec::new();
    let mut fields = Fields::new(
        file,
        &root,
        "a map with `enums`, `entities`, `context` and `actions`",
    )
    .map_err(|e| vec![SchemaError::Shape(e)])?;
    let enums_node = fields.take("enums");
    let entities_node = fields.take("entities");
    let context_node = fields.require("context", " in the schema");
    let actions_node = fields.require("actions", " in the schema");
    errors.extend(
        fields
            .finish(&["enums", "entities", "context", "actions"])
            .into_iter()
            .map(SchemaError::Shape),
    );

    let mut schema = Schema {
        enums: Vec::new(),
        entities: Vec::new(),
        context: 0,
        actions: Vec::new(),
        span: Span::new(file, 0, 0),
        names: Names::default(),
    };
    let l = Loader { file, source };
    if let Some(n) = enums_node {
        l.load_enums(n, &mut schema, &mut errors);
    }

    // Entity names first, so that types and slots can refer to any of them.
    let mut entity_nodes = Vec::new();
    if let Some(n) = entities_node {
        match Fields::new(file, n, "a map of entity types") {
            Ok(f) => {
                for (name, key, body) in f.rest() {
                    if schema.names.entities.contains_key(name) {
                        errors.push(dup("entity type", name, key.span(file)));
                        continue;
                    }
                    // One id is kept for the context.
                    let Some(id) = EntityId::try_from(schema.entities.len())
                        .ok()
                        .filter(|&id| id < EntityId::MAX)
                    else {
                        errors.push(too_many("entity types", key.span(file)));
                        break;
                    };
                    schema.names.entities.insert(name.to_owned(), id);
                    schema
                        .entities
                        .push(EntityDef::new(name.to_owned(), None, Vec::new()));
                    entity_nodes.push(body);
                }
            }
            Err(e) => errors.push(e.into()),
        }
    }
    for (i, body) in entity_nodes.into_iter().enumerate() {
        l.load_entity(i, body, &mut schema, &mut errors);
    }
    // Without a context, actions are still checked, only not against its name.
    let context_name = match context_node {
        Ok(n) => l.load_context(n, &mut schema, &mut errors),
        Err(e) => {
            errors.push(e.into());
            None
        }
    };
    match actions_node {
        Ok(n) => l.load_actions(n, context_name.as_deref(), &mut schema, &mut errors),
        Err(e) => errors.push(e.into()),
    }
    for action in &schema.actions {
        for slot in &action.slots {
            let e = schema
                .names
                .slots
                .entry(slot.name.clone())
                .or_insert((slot.entity, 0));
            e.1 += 1;
        }
        for param in &action.params {
            let e = schema
                .names
                .params
                .entry(param.name.clone())
                .or_insert((param.ty, false, 0));
            e.1 |= e.0 != param.ty;
            e.2 += 1;
        }
    }
    super::fix::check_actions(&schema, &mut errors);
    if errors.is_empty() {
        Ok(schema)
    } else {
        Err(errors)
    }
}

fn dup(what: &'static str, name: &str, span: Span) -> SchemaError {
    SchemaError::Duplicate {
        what,
        name: name.to_owned(),
        span,
    }
}

struct Loader<'a> {
    file: FileId,
    source: &'a SourceFile,
}

impl Loader<'_> {
    fn load_enums(&self, node: &Node, schema: &mut Schema, errors: &mut Vec<SchemaError>) {
        let fields = match Fields::new(self.file, node, "a map of enums") {
            Ok(f) => f,
            Err(e) => return errors.push(e.into()),
        };
        for (name, key, body) in fields.rest() {
            if schema.names.enums.contains_key(name) {
                errors.push(dup("enum", name, key.span(self.file)));
                continue;
            }
            if let Err(e) = check_writable("enum", name, key.span(self.file)) {
                errors.push(e);
            }
            let Ok(id) = EnumId::try_from(schema.enums.len()) else {
                errors.push(too_many("enums", key.span(self.file)));
                break;
            };
            let items = match yaml::list(self.file, body, "a list of values") {
                Ok(items) => items,
                Err(e) => {
                    errors.push(e.into());
                    continue;
                }
            };
            if items.len() > MAX_ENUM_VALUES {
                errors.push(SchemaError::EnumTooLarge {
                    name: name.to_owned(),
                    count: items.len(),
                    limit: MAX_ENUM_VALUES,
                    span: key.span(self.file),
                });
                continue;
            }
            let mut values = Vec::new();
            let mut index = rustc_hash::FxHashMap::default();
            for item in items {
                let Some(text) = item.scalar_text(self.source) else {
                    errors.push(yaml::expect(self.file, item, "a value name").into());
                    continue;
                };
                if index.contains_key(text) {
                    errors.push(dup("enum value", text, item.span(self.file)));
                    continue;
                }
                if let Err(e) = check_member(text, item.span(self.file)) {
                    errors.push(e);
                }
                index.insert(
                    text.to_owned(),
                    u16::try_from(values.len()).unwrap_or(u16::MAX),
                );
                values.push(text.to_owned());
            }
            schema.names.enums.insert(name.to_owned(), id);
            schema.enums.push(EnumDef {
                name: name.to_owned(),
                values,
                index,
            });
        }
    }

    fn parse_type(&self, schema: &Schema, node: &Node) -> Result<Type, SchemaError> {
        let text = yaml::string(self.file, node, "a type name")?;
        let span = node.span(self.file);
        let find_enum = |name: &str| schema.enum_id(name);
        let builtin = ["bool", "int", "string", "version"];
        let unknown = |name: &str| {
            let candidates = builtin
                .iter()
                .copied()
                .chain(schema.enums.iter().map(|e| e.name.as_str()));
            SchemaError::UnknownType {
                name: name.to_owned(),
                help: did_you_mean(name, candidates),
                span,
            }
        };
        match text {
            "bool" => Ok(Type::Bool),
            "int" => Ok(Type::Int),
            "string" => Ok(Type::String),
            "version" => Ok(Type::Version),
            _ => {
                if let Some(inner) = text.strip_prefix("set<").and_then(|t| t.strip_suffix('>')) {
                    let inner = inner.trim();
                    let e = find_enum(inner).ok_or_else(|| unknown(inner))?;
                    let count = schema.enum_def(e).values.len();
                    if count > EnumSet::CAPACITY {
                        return Err(SchemaError::EnumTooLarge {
                            name: format!("{inner}` (used in `{text}`"),
                            count,
                            limit: EnumSet::CAPACITY,
                            span,
                        });
                    }
                    Ok(Type::Set(e))
                } else {
                    find_enum(text).map(Type::Enum).ok_or_else(|| unknown(text))
                }
            }
        }
    }

    fn load_attrs(
        &self,
        node: &Node,
        schema: &Schema,
        errors: &mut Vec<SchemaError>,
    ) -> Vec<AttrDef> {
        let mut attrs: Vec<AttrDef> = Vec::new();
        let mut seen: FxHashSet<&str> = FxHashSet::default();
        let fields = match Fields::new(self.file, node, "a map of attributes") {
            Ok(f) => f,
            Err(e) => {
                errors.push(e.into());
                return attrs;
            }
        };
        for (name, key, body) in fields.rest() {
            if !seen.insert(name) {
                errors.push(dup("attribute", name, key.span(self.file)));
                continue;
            }
            if let Err(e) = check_writable("attribute", name, key.span(self.file)) {
                errors.push(e);
            }
            let mut f = match Fields::new(
                self.file,
                body,
                "a map with `type`, `default`, `fixed`, `cost` and `fix`",
            ) {
                Ok(f) => f,
                Err(e) => {
                    errors.push(e.into());
                    continue;
                }
            };
            let ty_node = f.require("type", &format!(" for attribute `{name}`"));
            let default_node = f.take("default");
            let fixed_node = f.take("fixed");
            let cost = super::fix::load_cost(self.file, f.take("cost"), errors);
            let fix_node = f.take("fix");
            errors.extend(
                f.finish(&["type", "default", "fixed", "cost", "fix"])
                    .into_iter()
                    .map(Into::into),
            );
            let fixed = match fixed_node {
                None => false,
                Some(n) => match schema.const_from_yaml(Type::Bool, n, self.source) {
                    Ok(Const::Bool(b)) => b,
                    Ok(_) => false,
                    Err(error) => {
                        errors.push(SchemaError::BadFixed {
                            error,
                            span: n.span(self.file),
                        });
                        false
                    }
                },
            };
            let ty = match ty_node
                .map_err(SchemaError::from)
                .and_then(|n| self.parse_type(schema, n))
            {
                Ok(ty) => ty,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let default = match default_node {
                None => None,
                Some(d) => match schema.const_from_yaml(ty, d, self.source) {
                    Ok(c) => Some(c),
                    Err(error) => {
                        errors.push(SchemaError::BadDefault {
                            error,
                            span: schema.bad_part(ty, d, self.source).span(self.file),
                        });
                        continue;
                    }
                },
            };
            let fix = fix_node.map_or_else(Vec::new, |n| {
                super::fix::load_fix(self.file, self.source, schema, ty, n, errors)
            });
            attrs.push(AttrDef {
                name: name.to_owned(),
                ty,
                default,
                fixed,
                cost,
                fix,
            });
        }
        attrs
    }

    fn load_entity(
        &self,
        index: usize,
        body: &Node,
        schema: &mut Schema,
        errors: &mut Vec<SchemaError>,
    ) {
        let mut f = match Fields::new(self.file, body, "a map with `plural` and `attributes`") {
            Ok(f) => f,
            Err(e) => return errors.push(e.into()),
        };
        let name = schema.entities[index].name.clone();
        let plural = f.require("plural", &format!(" for entity type `{name}`"));
        let attrs = f.take("attributes");
        errors.extend(
            f.finish(&["plural", "attributes"])
                .into_iter()
                .map(Into::into),
        );
        match plural.map_err(SchemaError::from).and_then(|p| {
            yaml::string(self.file, p, "a name")
                .map(|s| (s, p))
                .map_err(Into::into)
        }) {
            Ok((p, pn)) => {
                if ["description", "requests"].contains(&p) {
                    errors.push(SchemaError::Reserved {
                        what: "plural",
                        name: p.to_owned(),
                        why: "scenarios use this key for something else",
                        span: pn.span(self.file),
                    });
                } else if schema.names.plurals.contains_key(p) {
                    errors.push(dup("plural", p, pn.span(self.file)));
                } else {
                    if let Ok(id) = EntityId::try_from(index) {
                        schema.names.plurals.insert(p.to_owned(), id);
                    }
                    schema.entities[index].plural = Some(p.to_owned());
                }
            }
            Err(e) => errors.push(e),
        }
        if let Some(a) = attrs {
            let attrs = self.load_attrs(a, schema, errors);
            schema.entities[index].set_attrs(attrs);
        }
    }

    /// Loads the context and returns its name, or `None` when it is not a map.
    fn load_context(
        &self,
        node: &Node,
        schema: &mut Schema,
        errors: &mut Vec<SchemaError>,
    ) -> Option<String> {
        let mut f = match Fields::new(self.file, node, "a map with `name` and `attributes`") {
            Ok(f) => f,
            Err(e) => {
                errors.push(e.into());
                return None;
            }
        };
        let name = f.require("name", " for the context");
        let attrs = f.take("attributes");
        errors.extend(
            f.finish(&["name", "attributes"])
                .into_iter()
                .map(Into::into),
        );
        let name = match name.map_err(SchemaError::from).and_then(|n| {
            yaml::string(self.file, n, "a name")
                .map(|s| (s, n))
                .map_err(Into::into)
        }) {
            Ok((s, n)) => {
                let reserved = [RESERVED_ROOT, "description", "requests"];
                if reserved.contains(&s) || schema.names.plurals.contains_key(s) {
                    errors.push(SchemaError::Reserved {
                        what: "context name",
                        name: s.to_owned(),
                        why: "it is already a scenario key or a path root",
                        span: n.span(self.file),
                    });
                }
                s.to_owned()
            }
            Err(e) => {
                errors.push(e);
                "org".to_owned()
            }
        };
        let attrs = match attrs {
            Some(a) => self.load_attrs(a, schema, errors),
            None => Vec::new(),
        };
        // The entity loop keeps one id free for the context.
        schema.context = EntityId::try_from(schema.entities.len()).unwrap_or(EntityId::MAX);
        schema
            .entities
            .push(EntityDef::new(name.clone(), None, attrs));
        Some(name)
    }

    fn load_actions(
        &self,
        node: &Node,
        context_name: Option<&str>,
        schema: &mut Schema,
        errors: &mut Vec<SchemaError>,
    ) {
        let fields = match Fields::new(self.file, node, "a map of actions") {
            Ok(f) => f,
            Err(e) => return errors.push(e.into()),
        };
        for (name, key, body) in fields.rest() {
            if schema.names.actions.contains_key(name) {
                errors.push(dup("action", name, key.span(self.file)));
                continue;
            }
            if let Err(e) = check_writable("action", name, key.span(self.file)) {
                errors.push(e);
            }
            let Ok(id) = ActionId::try_from(schema.actions.len()) else {
                errors.push(too_many("actions", key.span(self.file)));
                break;
            };
            let mut f = match Fields::new(self.file, body, "a map with `slots` and `params`") {
                Ok(f) => f,
                Err(e) => {
                    errors.push(e.into());
                    continue;
                }
            };
            let slots_node = f.require("slots", &format!(" for action `{name}`"));
            let params_node = f.take("params");
            errors.extend(f.finish(&["slots", "params"]).into_iter().map(Into::into));
            let mut action = ActionDef::new(name.to_owned());
            let check_root =
                |n: &str, span: Span, action: &ActionDef, errors: &mut Vec<SchemaError>| {
                    if let Err(e) = check_writable("slot or parameter", n, span) {
                        errors.push(e);
                        false
                    } else if SCENARIO_KEYS.contains(&n) {
                        errors.push(SchemaError::Reserved {
                            what: "slot or parameter name",
                            name: n.to_owned(),
                            why: "scenario requests use this key for something else",
                            span,
                        });
                        false
                    } else if n == RESERVED_ROOT || Some(n) == context_name {
                        errors.push(SchemaError::Reserved {
                            what: "slot or parameter name",
                            name: n.to_owned(),
                            why: "policies use it as the root of a path",
                            span,
                        });
                        false
                    } else if action.has(n) {
                        errors.push(dup("slot or parameter", n, span));
                        false
                    } else {
                        true
                    }
                };
            match slots_node.map_err(SchemaError::from).and_then(|n| {
                Fields::new(self.file, n, "a map of slot names to entity types").map_err(Into::into)
            }) {
                Ok(slots) => {
                    for (slot, sk, sv) in slots.rest() {
                        if !check_root(slot, sk.span(self.file), &action, errors) {
                            continue;
                        }
                        let entity = match yaml::string(self.file, sv, "an entity type") {
                            Ok(e) => e,
                            Err(e) => {
                                errors.push(e.into());
                                continue;
                            }
                        };
                        let found = schema
                            .entity_id(entity)
                            .filter(|&id| schema.entity(id).plural.is_some());
                        match found {
                            Some(id) => {
                                action.add_slot(SlotDef {
                                    name: slot.to_owned(),
                                    entity: id,
                                });
                            }
                            None => errors.push(SchemaError::UnknownEntity {
                                name: entity.to_owned(),
                                help: did_you_mean(
                                    entity,
                                    schema
                                        .entities
                                        .iter()
                                        .filter(|e| e.plural.is_some())
                                        .map(|e| e.name.as_str()),
                                ),
                                span: sv.span(self.file),
                            }),
                        }
                    }
                }
                Err(e) => errors.push(e),
            }
            if let Some(p) = params_node {
                match Fields::new(self.file, p, "a map of parameter names to types") {
                    Ok(params) => {
                        for (param, pk, pv) in params.rest() {
                            if !check_root(param, pk.span(self.file), &action, errors) {
                                continue;
                            }
                            match self.parse_type(schema, pv) {
                                Ok(ty) => {
                                    action.add_param(ParamDef {
                                        name: param.to_owned(),
                                        ty,
                                    });
                                }
                                Err(e) => errors.push(e),
                            }
                        }
                    }
                    Err(e) => errors.push(e.into()),
                }
            }
            schema.names.actions.insert(name.to_owned(), id);
            schema.actions.push(action);
        }
    }
}

impl Schema {
    /// The part of `node` that [`Schema::const_from_yaml`] rejects, for the caret: the
    /// first bad member of a list, otherwise the node itself.
    pub fn bad_part<'n>(&self, ty: Type, node: &'n Node, source: &SourceFile) -> &'n Node {
        if let (Type::Set(e), Value::Seq(items)) = (ty, &node.value) {
            for item in items {
                match item.scalar_text(source) {
                    Some(text) if self.enum_member(e, text).is_ok() => {}
                    _ => return item,
                }
            }
        }
        node
    }

    /// Converts a YAML node to a constant of type `ty` (schema defaults and scenario
    /// values): booleans and integers must be YAML booleans and integers; enum members,
    /// versions and strings are read from the scalar's text; sets are lists.
    pub fn const_from_yaml(
        &self,
        ty: Type,
        node: &Node,
        source: &SourceFile,
    ) -> Result<Const, ValueError> {
        let wrong = || ValueError::WrongType {
            expected: self.type_name(ty),
            found: node.kind().to_owned(),
        };
        match (ty, &node.value) {
            (Type::Bool, Value::Bool(b)) => Ok(Const::Bool(*b)),
            (Type::Int, Value::Int(i)) => Ok(Const::Int(*i)),
            (Type::Set(e), Value::Seq(items)) => {
                let mut set = EnumSet::default();
                for item in items {
                    let text = item.scalar_text(source).ok_or_else(wrong)?;
                    set.insert(self.enum_member(e, text)?);
                }
                Ok(Const::Set(set))
            }
            (Type::String, Value::Str(s)) => Ok(Const::Str(s.clone())),
            (
                Type::Version | Type::Enum(_),
                Value::Str(_) | Value::Int(_) | Value::Float | Value::Bool(_),
            ) => {
                let text = node.scalar_text(source).ok_or_else(wrong)?;
                self.const_from_text(ty, text)
            }
            _ => Err(wrong()),
        }
    }
}
