//! One batch line → a [`Request`]. The fast reader (`fast`) tries first; a line it gives up
//! on is read here by `serde_json`, in a single serde pass over the bytes with no
//! intermediate JSON tree, and this reader's verdict and message are the ones reported. A
//! pre-scan finds the top-level `action` first (JSON objects are unordered), so every
//! other key can be written straight into its place in the action's value array.

use super::BatchError;
use super::fast;
use crate::compile::CompiledSet;
use crate::diagnostics::did_you_mean;
use crate::eval::Request;
use crate::limits::MAX_JSON_DEPTH;
use crate::schema::{ActionId, EntityDef, Type};
use crate::value::{EnumSet, Value};
use crate::version::Version;
use rustc_hash::FxHashMap;
use serde::de::{self, DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Name lookups for one compiled set, built once and shared by parsers.
#[derive(Debug, Clone)]
pub(super) struct Names {
    actions: FxHashMap<String, ActionId>,
    /// For each entity type: attribute name → index.
    attrs: Vec<FxHashMap<String, usize>>,
    /// The same names, and enum members, for the fast reader.
    fast: fast::Tables,
}

impl Names {
    pub(super) fn new(set: &CompiledSet) -> Self {
        let actions = set
            .schema()
            .actions
            .iter()
            .enumerate()
            .filter_map(|(i, a)| Some((a.name.clone(), ActionId::try_from(i).ok()?)))
            .collect();
        let attrs = set
            .schema()
            .entities
            .iter()
            .map(|e| {
                e.attrs
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (a.name.clone(), i))
                    .collect()
            })
            .collect::<Vec<_>>();
        let fast = fast::Tables::new(set, &actions, &attrs);
        Names {
            actions,
            attrs,
            fast,
        }
    }
}

/// Parses batch lines for one compiled set.
#[derive(Debug)]
pub(super) struct Parser<'a> {
    set: &'a CompiledSet,
    /// Which values (and, after them, which slots and parameters) a line has set.
    seen: Vec<bool>,
    /// Try the fast reader first (see `fast`); off only to test it against `serde_json`.
    pub(super) fast: bool,
    /// The fast reader's buffers.
    scratch: fast::Scratch,
}

impl<'a> Parser<'a> {
    pub(super) fn new(set: &'a CompiledSet) -> Self {
        Parser {
            set,
            seen: Vec::new(),
            fast: true,
            scratch: fast::Scratch::default(),
        }
    }

    /// Resets `req` to `action`'s defaults and forgets which keys were seen.
    fn start(&mut self, req: &mut Request, action: ActionId, flags: usize) {
        self.set.reset_request(req, action);
        self.seen.clear();
        self.seen.resize(flags, false);
    }

    /// Fills `req` from `line`, or says what is wrong with it.
    pub(super) fn parse(
        &mut self,
        names: &Names,
        line: &[u8],
        req: &mut Request,
    ) -> Result<(), BatchError> {
        // Nesting is measured only when a line fails: no accepted line can be deep (every
        // value's type is fixed by the schema), and a deep one should say so.
        self.parse_unchecked(names, line, req)
            .map_err(|e| check_depth(line).err().unwrap_or(e))
    }

    /// The fast reader (see `fast`), if it takes the whole line: `req` then holds the
    /// request, every slot and parameter included.
    fn parse_fast(
        &mut self,
        names: &Names,
        line: &[u8],
        req: &mut Request,
    ) -> Result<(), fast::Bail> {
        self.scratch.scan(line)?;
        let action = match self.scratch.leading_action(line) {
            Some(name) => names.fast.action(name),
            None => {
                let name = find_action(line).ok().flatten().ok_or(fast::Bail)?;
                names.fast.action(name.as_bytes())
            }
        }
        .ok_or(fast::Bail)?;
        let set = self.set;
        let def = set.schema().action(action);
        let layout = set.layout(action);
        let n = layout.len as usize;
        self.start(req, action, n + def.slots.len() + 2);
        fast::read(
            &names.fast,
            set,
            action,
            line,
            req,
            &mut self.seen,
            &mut self.scratch,
        )?;
        // A missing slot or parameter is left to the other reader, to report.
        let slots = &self.seen[n..n + def.slots.len()];
        let params = &self.seen[layout.params as usize..][..def.params.len()];
        if slots.iter().chain(params).all(|&s| s) {
            Ok(())
        } else {
            Err(fast::Bail)
        }
    }

    fn parse_unchecked(
        &mut self,
        names: &Names,
        line: &[u8],
        req: &mut Request,
    ) -> Result<(), BatchError> {
        if self.fast && self.parse_fast(names, line, req).is_ok() {
            return Ok(());
        }
        // Validate UTF-8 once for the whole line, so the JSON reader need not per string.
        let line = std::str::from_utf8(line).map_err(|e| BatchError::NotUtf8 {
            byte: e.valid_up_to() + 1,
        })?;
        if line.trim_start().as_bytes().first() != Some(&b'{') {
            serde_json::from_str::<IgnoredAny>(line).map_err(|e| clean(&e))?;
            return Err(BatchError::NotAnObject);
        }
        let Some(name) = find_action(line.as_bytes())? else {
            // Say what is wrong with the JSON first, if anything is.
            serde_json::from_str::<IgnoredAny>(line).map_err(|e| clean(&e))?;
            return Err(BatchError::MissingAction);
        };
        let Some(&action) = names.actions.get(name.as_ref()) else {
            return Err(BatchError::UnknownAction {
                help: did_you_mean(&name, names.actions.keys().map(String::as_str)),
                name: name.into_owned(),
            });
        };
        let set = self.set;
        let def = set.schema().action(action);
        let layout = set.layout(action);
        let n = layout.len as usize;
        self.start(req, action, n + def.slots.len() + 2);
        let mut de = serde_json::Deserializer::from_str(line);
        let top = Top {
            set,
            action,
            attrs: &names.attrs,
            req,
            seen: &mut self.seen,
        };
        de::Deserializer::deserialize_map(&mut de, top).map_err(|e| clean(&e))?;
        de.end().map_err(|e| clean(&e))?;
        for (i, slot) in def.slots.iter().enumerate() {
            if !self.seen[n + i] {
                return Err(BatchError::MissingSlot {
                    slot: slot.name.clone(),
                    action: def.name.clone(),
                });
            }
        }
        for (i, p) in def.params.iter().enumerate() {
            if !self.seen[layout.params as usize + i] {
                return Err(BatchError::MissingParam {
                    param: p.name.clone(),
                    action: def.name.clone(),
                });
            }
        }
        Ok(())
    }
}

/// `serde_json` says "at line 1 column N"; within a batch the line is known already.
fn clean(e: &serde_json::Error) -> BatchError {
    let msg = e.to_string();
    let msg = match msg.find(" at line ") {
        Some(i) => format!("{} (column {})", &msg[..i], e.column()),
        None => msg,
    };
    BatchError::Json(if e.is_syntax() || e.is_eof() {
        format!("invalid JSON: {msg}")
    } else {
        msg
    })
}

/// Finds the top-level `"action": "NAME"` without parsing the rest, and rejects nesting
/// deeper than [`MAX_JSON_DEPTH`]. Returns `None` if there is no such key.
fn find_action(line: &[u8]) -> Result<Option<Cow<'_, str>>, BatchError> {
    // Fast path: `{"action":"NAME"` first, as writers usually put it.
    let trimmed = line.trim_ascii_start();
    if let Some(rest) = trimmed.strip_prefix(br#"{"action":""#)
        && let Some(end) = memchr::memchr2(b'"', b'\\', rest)
        && rest[end] == b'"'
        && let Ok(name) = std::str::from_utf8(&rest[..end])
    {
        return Ok(Some(Cow::Borrowed(name)));
    }
    // Slow path: walk the top-level object for its `action` key.
    let mut depth = 0usize;
    let mut i = 0;
    let mut expect_key = false;
    let mut found = None;
    while i < line.len() {
        match line[i] {
            b'{' | b'[' => {
                depth += 1;
                expect_key = line[i] == b'{' && depth == 1;
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' => expect_key = depth == 1,
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < line.len() && line[i] != b'"' {
                    if line[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                let end = i.min(line.len());
                if depth == 1 && expect_key && found.is_none() && &line[start..end] == b"action" {
                    found = Some(action_value(line, i + 1));
                }
                expect_key = false;
            }
            _ => {}
        }
        i += 1;
    }
    found.transpose()
}

/// Rejects nesting deeper than [`MAX_JSON_DEPTH`], skipping over strings.
fn check_depth(line: &[u8]) -> Result<(), BatchError> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(BatchError::TooDeep {
                        limit: MAX_JSON_DEPTH,
                        column: i + 1,
                    });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                // Jump to the closing quote, stepping over escapes.
                loop {
                    let rest = line.get(i + 1..).unwrap_or_default();
                    match memchr::memchr2(b'"', b'\\', rest) {
                        Some(j) if line[i + 1 + j] == b'\\' => i += j + 2,
                        Some(j) => {
                            i += j + 1;
                            break;
                        }
                        None => return Ok(()),
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The string value after `"action"` (at `pos`, just past the key's closing quote).
fn action_value(line: &[u8], pos: usize) -> Result<Cow<'_, str>, BatchError> {
    let rest = line.get(pos..).unwrap_or_default();
    let colon = rest.iter().position(|b| !b.is_ascii_whitespace());
    let after = match colon {
        Some(c) if rest[c] == b':' => &rest[c + 1..],
        _ => {
            return Err(BatchError::Json(
                "invalid JSON after key `action`".to_owned(),
            ));
        }
    };
    let mut de = serde_json::Deserializer::from_slice(after);
    let v: Cow<'_, str> = match Key::deserialize_from(&mut de) {
        Ok(k) => k.0,
        Err(_) => return Err(BatchError::ActionNotAString),
    };
    Ok(v)
}

/// A map key or string value, borrowed when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Key<'de> {
    fn deserialize_from<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

/// The top-level object of a line.
struct Top<'p, 'a> {
    set: &'a CompiledSet,
    action: ActionId,
    attrs: &'p [FxHashMap<String, usize>],
    req: &'p mut Request,
    seen: &'p mut Vec<bool>,
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let schema = self.set.schema();
        let def = schema.action(self.action);
        let layout = self.set.layout(self.action);
        let n = layout.len as usize;
        let ctx = schema.context();
        let action_flag = n + def.slots.len();
        let ctx_flag = action_flag + 1;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let key = key.as_ref();
            if key == "action" {
                if std::mem::replace(&mut self.seen[action_flag], true) {
                    return Err(A::Error::custom("duplicate key `action`"));
                }
                map.next_value::<IgnoredAny>()?;
            } else if key == ctx.name {
                if std::mem::replace(&mut self.seen[ctx_flag], true) {
                    return Err(A::Error::custom(format!("duplicate key `{key}`")));
                }
                map.next_value_seed(Entity {
                    set: self.set,
                    attrs: &self.attrs[schema.context as usize],
                    def: ctx,
                    what: &ctx.name,
                    base: 0,
                    req: &mut *self.req,
                    seen: &mut *self.seen,
                })?;
            } else if let Some(si) = def.slots.iter().position(|s| s.name == key) {
                if std::mem::replace(&mut self.seen[n + si], true) {
                    return Err(A::Error::custom(format!("duplicate key `{key}`")));
                }
                let slot = &def.slots[si];
                map.next_value_seed(Entity {
                    set: self.set,
                    attrs: &self.attrs[slot.entity as usize],
                    def: schema.entity(slot.entity),
                    what: &slot.name,
                    base: layout.slots[si] as usize,
                    req: &mut *self.req,
                    seen: &mut *self.seen,
                })?;
            } else if let Some(pi) = def.params.iter().position(|p| p.name == key) {
                let index = layout.params as usize + pi;
                if std::mem::replace(&mut self.seen[index], true) {
                    return Err(A::Error::custom(format!("duplicate key `{key}`")));
                }
                map.next_value_seed(ValueSeed {
                    set: self.set,
                    ty: def.params[pi].ty,
                    name: &def.params[pi].name,
                    index,
                    req: &mut *self.req,
                })?;
            } else {
                let allowed = ["action", ctx.name.as_str()]
                    .into_iter()
                    .chain(def.slots.iter().map(|s| s.name.as_str()))
                    .chain(def.params.iter().map(|p| p.name.as_str()));
                let help = did_you_mean(key, allowed)
                    .map(|h| format!("; {h}"))
                    .unwrap_or_default();
                return Err(A::Error::custom(format!(
                    "unknown key `{key}` for action `{}`{help}",
                    def.name
                )));
            }
        }
        Ok(())
    }
}

/// An inline entity object: attribute name → value.
struct Entity<'p, 'a> {
    set: &'a CompiledSet,
    attrs: &'p FxHashMap<String, usize>,
    def: &'a EntityDef,
    what: &'a str,
    base: usize,
    req: &'p mut Request,
    seen: &'p mut Vec<bool>,
}

impl<'de> DeserializeSeed<'de> for Entity<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Entity<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object of `{}` attributes", self.what)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let Some(&ai) = self.attrs.get(key.as_ref()) else {
                let help = self
                    .def
                    .suggest_attr(&key)
                    .map(|h| format!("; {h}"))
                    .unwrap_or_default();
                return Err(A::Error::custom(format!(
                    "`{}` has no attribute `{key}`{help}",
                    self.what
                )));
            };
            let index = self.base + ai;
            if std::mem::replace(&mut self.seen[index], true) {
                return Err(A::Error::custom(format!(
                    "duplicate attribute `{}.{key}`",
                    self.what
                )));
            }
            map.next_value_seed(ValueSeed {
                set: self.set,
                ty: self.def.attrs[ai].ty,
                name: &self.def.attrs[ai].name,
                index,
                req: &mut *self.req,
            })?;
        }
        Ok(())
    }
}

/// One typed value, written straight into the request.
struct ValueSeed<'p, 'a> {
    set: &'a CompiledSet,
    ty: Type,
    name: &'a str,
    index: usize,
    req: &'p mut Request,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.ty {
            Type::Bool => d.deserialize_bool(self),
            Type::Int => d.deserialize_i64(self),
            Type::Set(_) => d.deserialize_seq(self),
            Type::String | Type::Version | Type::Enum(_) => d.deserialize_str(self),
        }
    }
}

impl ValueSeed<'_, '_> {
    fn put(self, v: Value) {
        if let Some(slot) = self.req.values.get_mut(self.index) {
            *slot = v;
        }
    }

    fn type_name(&self) -> String {
        self.set.schema().type_name(self.ty)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ty = self.type_name();
        write!(
            f,
            "{} `{ty}` value for `{}`",
            crate::diagnostics::a(&ty),
            self.name
        )
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        if self.ty != Type::Bool {
            return Err(E::invalid_type(de::Unexpected::Bool(v), &self));
        }
        self.put(Value::Bool(v));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        if self.ty != Type::Int {
            return Err(E::invalid_type(de::Unexpected::Signed(v), &self));
        }
        self.put(Value::Int(v));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        match i64::try_from(v) {
            Ok(i) => self.visit_i64(i),
            Err(_) => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let value = match self.ty {
            Type::String => Value::Str(self.set.intern(self.req, v)),
            Type::Version => Value::Version(Version::parse(v).map_err(|e| {
                E::custom(format!(
                    "`{v}` is not a valid version for `{}`: {e}",
                    self.name
                ))
            })?),
            Type::Enum(en) => Value::Enum(self.set.schema().enum_member(en, v).map_err(|e| {
                let help = e.help().map(|h| format!("; {h}")).unwrap_or_default();
                E::custom(format!("{e} (for `{}`){help}", self.name))
            })?),
            Type::Bool | Type::Int | Type::Set(_) => {
                return Err(E::invalid_type(de::Unexpected::Str(v), &self));
            }
        };
        self.put(value);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Type::Set(en) = self.ty else {
            return Err(A::Error::invalid_type(de::Unexpected::Seq, &self));
        };
        let mut set = EnumSet::default();
        while let Some(Key(item)) = seq.next_element::<Key<'de>>()? {
            let m = self.set.schema().enum_member(en, &item).map_err(|e| {
                let help = e.help().map(|h| format!("; {h}")).unwrap_or_default();
                A::Error::custom(format!("{e} (in `{}`){help}", self.name))
            })?;
            set.insert(m);
        }
        self.put(Value::Set(set));
        Ok(())
    }
}
