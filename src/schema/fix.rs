//! `cost` and `fix` of an attribute: what a change to it costs, and the step that makes
//! it, in an administrator's words (docs/schema.md, "Costs and steps").
//!
//! ```yaml
//! approval:
//!   type: approval_status
//!   fix:
//!     approved: { step: "Approve the email address", action: approve_mailbox }
//! directory_roles:
//!   type: "set<directory_role>"
//!   fix:
//!     add:
//!       Exchange Administrator: { step: "Assign the Exchange Administrator role" }
//! ```

use super::{Schema, SchemaError, Type};
use crate::diagnostics::did_you_mean;
use crate::source::{FileId, SourceFile, Span};
use crate::yaml::{self, Fields, Node, Value};

/// What a fix entry's change does to the attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixOp {
    /// Give the attribute this value.
    Set,
    /// Add this member to the set.
    Add,
    /// Remove this member from the set.
    Remove,
}

/// One entry of an attribute's `fix`: the step that makes one change.
#[derive(Debug, Clone, PartialEq)]
pub struct FixEntry {
    /// What the change does.
    pub op: FixOp,
    /// The value set, or the member added or removed, as a change shows it
    /// (`"approved"`, `false`, `"Exchange Administrator"`).
    pub value: serde_json::Value,
    /// The step, in the administrator's words.
    pub step: String,
    /// The action of the schema that performs the step, if any.
    pub action: Option<String>,
    /// Where `action` is written (checked once the actions are loaded).
    pub action_span: Span,
    /// Why the step is not recommended, if it is not.
    pub warning: Option<String>,
}

/// Reads `cost` (a positive integer; 1 when absent).
pub(super) fn load_cost(file: FileId, node: Option<&Node>, errors: &mut Vec<SchemaError>) -> u32 {
    let Some(n) = node else { return 1 };
    match &n.value {
        Value::Int(i) if *i >= 1 => u32::try_from(*i).unwrap_or_else(|_| {
            errors.push(SchemaError::BadCost {
                found: i.to_string(),
                span: n.span(file),
            });
            1
        }),
        Value::Int(i) => {
            errors.push(SchemaError::BadCost {
                found: i.to_string(),
                span: n.span(file),
            });
            1
        }
        _ => {
            errors.push(SchemaError::BadCost {
                found: n.kind().to_owned(),
                span: n.span(file),
            });
            1
        }
    }
}

/// Reads `fix` of an attribute of type `ty`.
pub(super) fn load_fix(
    file: FileId,
    source: &SourceFile,
    schema: &Schema,
    ty: Type,
    node: &Node,
    errors: &mut Vec<SchemaError>,
) -> Vec<FixEntry> {
    let mut out = Vec::new();
    let Value::Map(entries) = &node.value else {
        errors.push(yaml::expect(file, node, "a map of values to steps").into());
        return out;
    };
    match ty {
        Type::Set(e) => {
            for (k, v) in entries {
                let op = match k.scalar_text(source) {
                    Some("add") => FixOp::Add,
                    Some("remove") => FixOp::Remove,
                    other => {
                        let text = other.unwrap_or("").to_owned();
                        errors.push(SchemaError::BadFixKey {
                            help: did_you_mean(&text, ["add", "remove"]),
                            found: text,
                            expected: "`add` or `remove` (a set changes one member at a time)"
                                .to_owned(),
                            span: k.span(file),
                        });
                        continue;
                    }
                };
                let Value::Map(members) = &v.value else {
                    errors.push(yaml::expect(file, v, "a map of members to steps").into());
                    continue;
                };
                for (mk, mv) in members {
                    let text = mk.scalar_text(source).unwrap_or("");
                    match schema.enum_member(e, text) {
                        Ok(_) => {
                            if let Some(f) = load_entry(file, op, text.into(), mv, errors) {
                                out.push(f);
                            }
                        }
                        Err(error) => errors.push(SchemaError::BadFixKey {
                            found: text.to_owned(),
                            expected: format!("a member of `{}`", schema.enum_def(e).name),
                            help: error.help(),
                            span: mk.span(file),
                        }),
                    }
                }
            }
        }
        _ => {
            for (k, v) in entries {
                let text = k.scalar_text(source).unwrap_or("");
                let value = match (ty, &k.value) {
                    (Type::Bool, Value::Bool(b)) => Some(serde_json::Value::Bool(*b)),
                    (Type::Int, Value::Int(i)) => Some(serde_json::Value::from(*i)),
                    (Type::Bool | Type::Int, _) => None,
                    _ => schema
                        .const_from_text(ty, text)
                        .ok()
                        .map(|c| match c {
                            crate::value::Const::Version(v) => v.to_string(),
                            _ => text.to_owned(),
                        })
                        .map(serde_json::Value::String),
                };
                let Some(value) = value else {
                    let help = match ty {
                        Type::Enum(e) => schema.enum_member(e, text).err().and_then(|e| e.help()),
                        Type::Bool => did_you_mean(text, ["true", "false"]),
                        _ => None,
                    };
                    errors.push(SchemaError::BadFixKey {
                        found: text.to_owned(),
                        expected: format!("a value of type `{}`", schema.type_name(ty)),
                        help,
                        span: k.span(file),
                    });
                    continue;
                };
                if let Some(f) = load_entry(file, FixOp::Set, value, v, errors) {
                    out.push(f);
                }
            }
        }
    }
    out
}

fn load_entry(
    file: FileId,
    op: FixOp,
    value: serde_json::Value,
    node: &Node,
    errors: &mut Vec<SchemaError>,
) -> Option<FixEntry> {
    let mut f = match Fields::new(file, node, "a map with `step`, `action` and `warning`") {
        Ok(f) => f,
        Err(e) => {
            errors.push(e.into());
            return None;
        }
    };
    let step = f.require("step", " for a fix");
    let action = f.take("action");
    let warning = f.take("warning");
    errors.extend(
        f.finish(&["step", "action", "warning"])
            .into_iter()
            .map(Into::into),
    );
    let mut text = |n: &Node, what: &str| match yaml::string(file, n, what) {
        Ok(s) => Some(s.to_owned()),
        Err(e) => {
            errors.push(e.into());
            None
        }
    };
    let step = match step {
        Ok(n) => text(n, "the step in words")?,
        Err(e) => {
            errors.push(e.into());
            return None;
        }
    };
    let action_span = action.map_or(node.span(file), |n| n.span(file));
    let action = action.and_then(|n| text(n, "an action name"));
    let warning = warning.and_then(|n| text(n, "a warning in words"));
    Some(FixEntry {
        op,
        value,
        step,
        action,
        action_span,
        warning,
    })
}

/// Every `action` of every fix names an action of the schema.
pub(super) fn check_actions(schema: &Schema, errors: &mut Vec<SchemaError>) {
    for entity in &schema.entities {
        for a in &entity.attrs {
            for f in &a.fix {
                if let Some(name) = &f.action
                    && schema.action_id(name).is_none()
                {
                    errors.push(SchemaError::UnknownAction {
                        name: name.clone(),
                        help: schema.suggest_action(name),
                        span: f.action_span,
                    });
                }
            }
        }
    }
}
