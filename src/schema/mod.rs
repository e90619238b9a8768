//! The schema: the vocabulary policies and requests may use.
//!
//! The engine knows nothing about mailboxes. Enums, entity types with typed attributes,
//! the context entity (`org`) and the actions with their slots and parameters all come
//! from `schema.yaml`, loaded by [`load`]. A new role, attribute or action is a schema
//! edit, never a code change.

mod error;
mod fix;
mod load;

pub use error::{SchemaError, ValueError};
pub use fix::{FixEntry, FixOp};
pub use load::load;

use crate::diagnostics::did_you_mean;
use crate::source::Span;
use crate::value::{Const, EnumSet};
use crate::version::Version;
use rustc_hash::FxHashMap;
use std::fmt;

/// Index of an enum in [`Schema::enums`].
pub type EnumId = u16;
/// Index of an entity type in [`Schema::entities`].
pub type EntityId = u16;
/// Index of an action in [`Schema::actions`].
pub type ActionId = u16;

/// An attribute's or parameter's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// `bool`
    Bool,
    /// `int`
    Int,
    /// `string`
    String,
    /// `version`: dotted numbers compared part by part.
    Version,
    /// A member of the named enum.
    Enum(EnumId),
    /// `set<ENUM>`
    Set(EnumId),
}

/// A named set of values.
#[derive(Debug, Clone)]
pub struct EnumDef {
    /// Its name.
    pub name: String,
    /// Its members, in declaration order (the order of [`EnumSet`] bits).
    pub values: Vec<String>,
    index: rustc_hash::FxHashMap<String, u16>,
}

impl EnumDef {
    /// The index of a member.
    pub fn lookup(&self, value: &str) -> Option<u16> {
        self.index.get(value).copied()
    }
}

/// An attribute of an entity type.
#[derive(Debug, Clone)]
pub struct AttrDef {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Its default; `None` means required.
    pub default: Option<Const>,
    /// `fixed: true`: what-would-change-the-decision answers never change it (an
    /// administrator cannot change it to fix a request, e.g. the org's version).
    pub fixed: bool,
    /// What one change to it costs (`cost: N`, default 1); for a set, each member added
    /// or removed costs this much.
    pub cost: u32,
    /// The steps that make its changes, in an administrator's words (`fix:`).
    pub fix: Vec<FixEntry>,
}

impl AttrDef {
    /// The fix entry for a change (`value` as the change shows it), if the schema has one.
    pub fn fix_for(&self, op: FixOp, value: &serde_json::Value) -> Option<&FixEntry> {
        self.fix.iter().find(|f| f.op == op && f.value == *value)
    }
}

/// An entity type (or the context).
#[derive(Debug, Clone)]
pub struct EntityDef {
    /// Its name (`user`; for the context, its `name`, `org`).
    pub name: String,
    /// The scenario key of its map (`users`); `None` for the context.
    pub plural: Option<String>,
    /// Its attributes, in declaration order.
    pub attrs: Vec<AttrDef>,
    /// Attribute name → index in `attrs`.
    attr_index: FxHashMap<String, usize>,
}

impl EntityDef {
    /// An entity type with these attributes (a later duplicate name is not indexed).
    pub fn new(name: String, plural: Option<String>, attrs: Vec<AttrDef>) -> Self {
        let mut def = EntityDef {
            name,
            plural,
            attrs: Vec::new(),
            attr_index: FxHashMap::default(),
        };
        def.set_attrs(attrs);
        def
    }

    fn set_attrs(&mut self, attrs: Vec<AttrDef>) {
        self.attr_index.clear();
        for (i, a) in attrs.iter().enumerate() {
            self.attr_index.entry(a.name.clone()).or_insert(i);
        }
        self.attrs = attrs;
    }

    /// The index of an attribute.
    pub fn attr(&self, name: &str) -> Option<usize> {
        self.attr_index.get(name).copied()
    }

    /// A did-you-mean for an unknown attribute name.
    pub fn suggest_attr(&self, name: &str) -> Option<String> {
        did_you_mean(name, self.attrs.iter().map(|a| a.name.as_str()))
    }
}

/// A named slot of an action, filled by an entity.
#[derive(Debug, Clone)]
pub struct SlotDef {
    /// Its name (`user`).
    pub name: String,
    /// The entity type that fills it.
    pub entity: EntityId,
}

/// A typed parameter of an action.
#[derive(Debug, Clone)]
pub struct ParamDef {
    /// Its name (`role`).
    pub name: String,
    /// Its type.
    pub ty: Type,
}

/// An action requests can ask about.
#[derive(Debug, Clone)]
pub struct ActionDef {
    /// Its name.
    pub name: String,
    /// Its slots, in declaration order.
    pub slots: Vec<SlotDef>,
    /// Its parameters, in declaration order.
    pub params: Vec<ParamDef>,
    /// Slot or parameter name → its index in `slots` or `params`.
    index: FxHashMap<String, SlotOrParam>,
}

/// Where a name of an action points.
#[derive(Debug, Clone, Copy)]
enum SlotOrParam {
    Slot(usize),
    Param(usize),
}

impl ActionDef {
    /// An action with no slots or parameters yet.
    pub fn new(name: String) -> Self {
        ActionDef {
            name,
            slots: Vec::new(),
            params: Vec::new(),
            index: FxHashMap::default(),
        }
    }

    /// Adds a slot; `false` (and nothing added) when the name is already a slot or a
    /// parameter.
    pub fn add_slot(&mut self, slot: SlotDef) -> bool {
        if self.has(&slot.name) {
            return false;
        }
        self.index
            .insert(slot.name.clone(), SlotOrParam::Slot(self.slots.len()));
        self.slots.push(slot);
        true
    }

    /// Adds a parameter; `false` (and nothing added) when the name is already a slot or a
    /// parameter.
    pub fn add_param(&mut self, param: ParamDef) -> bool {
        if self.has(&param.name) {
            return false;
        }
        self.index
            .insert(param.name.clone(), SlotOrParam::Param(self.params.len()));
        self.params.push(param);
        true
    }

    /// Whether `name` is a slot or a parameter of this action.
    pub fn has(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The position of slot `name` in `slots`.
    pub fn slot_position(&self, name: &str) -> Option<usize> {
        match self.index.get(name) {
            Some(SlotOrParam::Slot(i)) => Some(*i),
            _ => None,
        }
    }

    /// The position of parameter `name` in `params`.
    pub fn param_position(&self, name: &str) -> Option<usize> {
        match self.index.get(name) {
            Some(SlotOrParam::Param(i)) => Some(*i),
            _ => None,
        }
    }

    /// The slot with this name.
    pub fn slot(&self, name: &str) -> Option<&SlotDef> {
        match self.index.get(name) {
            Some(SlotOrParam::Slot(i)) => self.slots.get(*i),
            _ => None,
        }
    }

    /// The parameter with this name.
    pub fn param(&self, name: &str) -> Option<&ParamDef> {
        match self.index.get(name) {
            Some(SlotOrParam::Param(i)) => self.params.get(*i),
            _ => None,
        }
    }
}

/// A loaded, self-consistent schema.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Enums.
    pub enums: Vec<EnumDef>,
    /// Entity types; the context is one of them.
    pub entities: Vec<EntityDef>,
    /// Which entity is the context.
    pub context: EntityId,
    /// Actions.
    pub actions: Vec<ActionDef>,
    /// Where the schema's file starts (for errors about the schema as a whole).
    pub span: Span,
    /// Names → ids, so that every lookup is a hash probe, never a scan.
    names: Names,
}

/// The name indexes of a [`Schema`].
#[derive(Debug, Clone, Default)]
struct Names {
    enums: FxHashMap<String, EnumId>,
    entities: FxHashMap<String, EntityId>,
    plurals: FxHashMap<String, EntityId>,
    actions: FxHashMap<String, ActionId>,
    /// Slot name → the entity type of the first action that has it, and how many
    /// actions have it.
    slots: FxHashMap<String, (EntityId, usize)>,
    /// Parameter name → its type in the first action that has it, whether another
    /// action gives it a different type, and how many actions have it.
    params: FxHashMap<String, (Type, bool, usize)>,
}

impl Schema {
    /// The context entity (`org`).
    pub fn context(&self) -> &EntityDef {
        &self.entities[self.context as usize]
    }

    /// The context's name (`org`).
    pub fn context_name(&self) -> &str {
        &self.context().name
    }

    /// An entity type by id, or `None` for an id this schema did not hand out.
    pub fn get_entity(&self, id: EntityId) -> Option<&EntityDef> {
        self.entities.get(usize::from(id))
    }

    /// An entity type by an id taken from this schema (crate-internal: callers outside
    /// use [`Schema::get_entity`], which cannot panic on a foreign id).
    pub(crate) fn entity(&self, id: EntityId) -> &EntityDef {
        &self.entities[id as usize]
    }

    /// An action by name.
    pub fn action_id(&self, name: &str) -> Option<ActionId> {
        self.names.actions.get(name).copied()
    }

    /// An enum by name.
    pub fn enum_id(&self, name: &str) -> Option<EnumId> {
        self.names.enums.get(name).copied()
    }

    /// An entity type (not the context) by name.
    pub fn entity_id(&self, name: &str) -> Option<EntityId> {
        self.names.entities.get(name).copied()
    }

    /// The entity type of slot `name` in the first action that has such a slot, and how
    /// many actions have it.
    pub fn any_slot(&self, name: &str) -> Option<(EntityId, usize)> {
        self.names.slots.get(name).copied()
    }

    /// The type of parameter `name` in the first action that has it, whether some other
    /// action gives it a different type, and how many actions have it.
    pub fn any_param(&self, name: &str) -> Option<(Type, bool, usize)> {
        self.names.params.get(name).copied()
    }

    /// An action by id, or `None` for an id this schema did not hand out.
    pub fn get_action(&self, id: ActionId) -> Option<&ActionDef> {
        self.actions.get(usize::from(id))
    }

    /// An action by an id taken from this schema (crate-internal: callers outside use
    /// [`Schema::get_action`], which cannot panic on a foreign id).
    pub(crate) fn action(&self, id: ActionId) -> &ActionDef {
        &self.actions[id as usize]
    }

    /// A did-you-mean for an unknown action.
    pub fn suggest_action(&self, name: &str) -> Option<String> {
        did_you_mean(name, self.actions.iter().map(|a| a.name.as_str()))
    }

    /// An enum by id, or `None` for an id this schema did not hand out.
    pub fn get_enum_def(&self, id: EnumId) -> Option<&EnumDef> {
        self.enums.get(usize::from(id))
    }

    /// An enum by an id taken from this schema (crate-internal: callers outside use
    /// [`Schema::get_enum_def`], which cannot panic on a foreign id).
    pub(crate) fn enum_def(&self, id: EnumId) -> &EnumDef {
        &self.enums[id as usize]
    }

    /// The entity type whose scenario key is `plural`.
    pub fn entity_by_plural(&self, plural: &str) -> Option<EntityId> {
        self.names.plurals.get(plural).copied()
    }

    /// A type as written in the schema: `set<security_role>`.
    pub fn type_name(&self, ty: Type) -> String {
        match ty {
            Type::Bool => "bool".to_owned(),
            Type::Int => "int".to_owned(),
            Type::String => "string".to_owned(),
            Type::Version => "version".to_owned(),
            Type::Enum(e) => self.enum_def(e).name.clone(),
            Type::Set(e) => format!("set<{}>", self.enum_def(e).name),
        }
    }

    /// Converts the text of a scalar (an enum member, a version or a string) to a typed
    /// constant of `ty`.
    pub fn const_from_text(&self, ty: Type, text: &str) -> Result<Const, ValueError> {
        match ty {
            Type::String => Ok(Const::Str(text.to_owned())),
            Type::Version => {
                Version::parse(text)
                    .map(Const::Version)
                    .map_err(|e| ValueError::BadVersion {
                        text: text.to_owned(),
                        reason: e.to_string(),
                    })
            }
            Type::Enum(e) => self.enum_member(e, text).map(Const::Enum),
            Type::Bool | Type::Int | Type::Set(_) => Err(ValueError::WrongType {
                expected: self.type_name(ty),
                found: "a string".to_owned(),
            }),
        }
    }

    /// The index of `text` in enum `e`, or an error with a did-you-mean.
    pub fn enum_member(&self, e: EnumId, text: &str) -> Result<u16, ValueError> {
        let def = self.enum_def(e);
        def.lookup(text).ok_or_else(|| ValueError::NotInEnum {
            value: text.to_owned(),
            enum_name: def.name.clone(),
            help: did_you_mean(text, def.values.iter().map(String::as_str)),
        })
    }

    /// Renders a constant for people: `[System Administrator, Basic User]`.
    pub fn display_const(&self, ty: Type, c: &Const) -> String {
        match (ty, c) {
            (_, Const::Bool(b)) => b.to_string(),
            (_, Const::Int(i)) => i.to_string(),
            (_, Const::Str(s)) => format!("{s:?}"),
            (_, Const::Version(v)) => v.to_string(),
            (Type::Enum(e), Const::Enum(i)) => self.member_name(e, *i).to_owned(),
            (Type::Set(e), Const::Set(s)) => self.display_set(e, *s),
            (_, Const::Enum(i)) => format!("#{i}"),
            (_, Const::Set(s)) => format!("{:#x}", s.0),
        }
    }

    /// `[A, B]` for a set of members of enum `e`.
    pub fn display_set(&self, e: EnumId, s: EnumSet) -> String {
        let names: Vec<&str> = s.iter().map(|i| self.member_name(e, i)).collect();
        format!("[{}]", names.join(", "))
    }

    /// The name of member `i` of enum `e`.
    pub fn member_name(&self, e: EnumId, i: u16) -> &str {
        self.enum_def(e)
            .values
            .get(i as usize)
            .map_or("?", String::as_str)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}
