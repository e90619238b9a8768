//! Name resolution: attribute paths, the slots and parameters of an item's actions.
//!
//! A slot or parameter must exist, with one type, in every action of the rule or invariant
//! that uses it. Each name is resolved once per item (the outcome is cached), and the
//! schema's indexes bound the work: an action list is only walked while it can still
//! contain every action that has the name.

use super::{Checker, Env, Operand, PathRef, Root, ValidationError};
use crate::diagnostics::did_you_mean;
use crate::schema::{ActionId, EntityId, Type};
use crate::source::Span;
use rustc_hash::FxHashSet;

/// How a slot or parameter name resolved in the current item.
#[derive(Debug, Clone)]
pub(super) enum Resolved<T> {
    /// One type in every action.
    Found(T),
    /// Two actions give it different types.
    Conflict(T, T),
    /// This action of the item lacks it (others have it).
    Lacking(ActionId),
    /// No action of the item, nor any other, has it.
    Unknown,
}

/// Most slot names listed in the help of an unknown path root.
const ROOTS_SHOWN: usize = 20;
/// Most (action, slot) pairs looked at to build that help.
const ROOTS_SCANNED: usize = 2_000;

impl Checker<'_> {
    pub(super) fn path(&mut self, segs: &[crate::ast::Ident], span: Span) -> Option<Operand> {
        let [root, attr] = segs else {
            let path: Vec<&str> = segs.iter().map(|s| s.name.as_str()).collect();
            self.error(ValidationError::BadPath {
                path: path.join("."),
                span,
            });
            return None;
        };
        let schema = self.schema;
        let entity = if root.name == schema.context_name() {
            schema.context
        } else if root.name == "request" {
            let ty = self.param(&attr.name, attr.span)?;
            return Some(Operand::Path(PathRef {
                root: Root::Param {
                    name: attr.name.clone(),
                },
                ty,
                span,
            }));
        } else {
            self.slot(&root.name, root.span)?
        };
        let def = schema.entity(entity);
        let Some(index) = def.attr(&attr.name) else {
            self.error(ValidationError::UnknownAttribute {
                entity: def.name.clone(),
                attr: attr.name.clone(),
                help: def.suggest_attr(&attr.name),
                span: attr.span,
            });
            return None;
        };
        let root = if entity == schema.context {
            Root::Context { attr: index }
        } else {
            Root::Slot {
                name: root.name.clone(),
                attr: index,
            }
        };
        Some(Operand::Path(PathRef {
            root,
            ty: def.attrs[index].ty,
            span,
        }))
    }

    /// The entity type of slot `name` in every action of the current item.
    fn slot(&mut self, name: &str, span: Span) -> Option<EntityId> {
        let schema = self.schema;
        let outcome = match &self.env {
            // With no known action, a slot of any action will do.
            Env::Any => match schema.any_slot(name) {
                Some((e, _)) => Resolved::Found(e),
                None => Resolved::Unknown,
            },
            Env::Actions(actions) => {
                if let Some(r) = self.slot_cache.get(name) {
                    r.clone()
                } else {
                    let have = schema.any_slot(name).map_or(0, |(_, n)| n);
                    let r = resolve(actions, have, |a| {
                        schema.action(a).slot(name).map(|s| s.entity)
                    });
                    self.slot_cache.insert(name.to_owned(), r.clone());
                    r
                }
            }
        };
        match outcome {
            Resolved::Found(e) => Some(e),
            Resolved::Conflict(first, second) => {
                self.error(ValidationError::SlotTypeConflict {
                    name: name.to_owned(),
                    first: schema.entity(first).name.clone(),
                    second: schema.entity(second).name.clone(),
                    span,
                });
                None
            }
            Resolved::Lacking(a) => {
                self.error(ValidationError::SlotNotInAction {
                    what: "slot",
                    name: name.to_owned(),
                    action: schema.action(a).name.clone(),
                    span,
                });
                None
            }
            Resolved::Unknown => {
                self.unknown_root(name, span);
                None
            }
        }
    }

    fn unknown_root(&mut self, name: &str, span: Span) {
        let schema = self.schema;
        let mut roots: Vec<&str> = vec![schema.context_name(), "request"];
        let mut seen: FxHashSet<&str> = roots.iter().copied().collect();
        let in_item: Vec<ActionId> = match &self.env {
            Env::Actions(a) => a.iter().copied().take(ROOTS_SCANNED).collect(),
            Env::Any => (0..schema.actions.len())
                .take(ROOTS_SCANNED)
                .filter_map(|i| ActionId::try_from(i).ok())
                .collect(),
        };
        let pairs = in_item
            .iter()
            .flat_map(|&a| schema.action(a).slots.iter())
            .take(ROOTS_SCANNED);
        for s in pairs {
            if seen.insert(&s.name) {
                roots.push(&s.name);
            }
        }
        let help = did_you_mean(name, roots.iter().copied()).or_else(|| {
            let mut list = roots
                .iter()
                .take(ROOTS_SHOWN)
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", ");
            if roots.len() > ROOTS_SHOWN {
                list.push_str(&format!(" and {} more", roots.len() - ROOTS_SHOWN));
            }
            Some(format!("paths start with {list}"))
        });
        self.error(ValidationError::UnknownRoot {
            name: name.to_owned(),
            help,
            span,
        });
    }

    /// The type of parameter `name` in every action of the current item.
    fn param(&mut self, name: &str, span: Span) -> Option<Type> {
        let schema = self.schema;
        let outcome = match &self.env {
            Env::Any => match schema.any_param(name) {
                Some((_, true, _)) => Resolved::Conflict(Type::Bool, Type::Bool),
                Some((ty, false, _)) => Resolved::Found(ty),
                None => Resolved::Unknown,
            },
            Env::Actions(actions) => {
                if let Some(r) = self.param_cache.get(name) {
                    r.clone()
                } else {
                    let have = schema.any_param(name).map_or(0, |(.., n)| n);
                    let r = resolve(actions, have, |a| {
                        schema.action(a).param(name).map(|p| p.ty)
                    });
                    self.param_cache.insert(name.to_owned(), r.clone());
                    r
                }
            }
        };
        match outcome {
            Resolved::Found(ty) => Some(ty),
            Resolved::Conflict(..) => {
                self.error(ValidationError::TypeMismatch {
                    message: format!(
                        "parameter `{name}` has different types in the rule's actions"
                    ),
                    help: None,
                    span,
                });
                None
            }
            Resolved::Lacking(a) => {
                self.error(ValidationError::SlotNotInAction {
                    what: "parameter",
                    name: name.to_owned(),
                    action: schema.action(a).name.clone(),
                    span,
                });
                None
            }
            Resolved::Unknown => {
                let params = schema
                    .actions
                    .iter()
                    .flat_map(|a| a.params.iter().map(|p| p.name.as_str()));
                self.error(ValidationError::UnknownAttribute {
                    entity: "request".to_owned(),
                    attr: name.to_owned(),
                    help: did_you_mean(name, params),
                    span,
                });
                None
            }
        }
    }

    /// The path as written (`mailbox.email`), rebuilt from its resolved form.
    pub(super) fn path_text(&self, p: &PathRef) -> String {
        let schema = self.schema;
        match &p.root {
            Root::Slot { name, attr } => {
                let entity = match self.slot_cache.get(name.as_str()) {
                    Some(Resolved::Found(e)) => Some(*e),
                    _ => schema.any_slot(name).map(|(e, _)| e),
                };
                match entity.and_then(|e| schema.entity(e).attrs.get(*attr)) {
                    Some(a) => format!("{name}.{}", a.name),
                    None => name.clone(),
                }
            }
            Root::Context { attr } => {
                let ctx = schema.context();
                match ctx.attrs.get(*attr) {
                    Some(a) => format!("{}.{}", ctx.name, a.name),
                    None => ctx.name.clone(),
                }
            }
            Root::Param { name } => format!("request.{name}"),
        }
    }
}

/// Resolves a name in every one of `actions` (distinct), given that `have` actions of the
/// whole schema have it. Walks the actions in order until a conflict or a lacking action;
/// when fewer actions have the name than the item lists, one of the first `have + 1`
/// lacks it, so the walk is never longer than the number of actions that have the name.
fn resolve<T: Copy + PartialEq>(
    actions: &[ActionId],
    have: usize,
    lookup: impl Fn(ActionId) -> Option<T>,
) -> Resolved<T> {
    if have == 0 {
        return Resolved::Unknown;
    }
    let mut found: Option<T> = None;
    for &a in actions {
        match (lookup(a), found) {
            (Some(t), Some(f)) if t != f => return Resolved::Conflict(f, t),
            (Some(t), _) => found = Some(t),
            (None, _) => return Resolved::Lacking(a),
        }
    }
    found.map_or(Resolved::Unknown, Resolved::Found)
}
