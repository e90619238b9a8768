//! Requests: one action and the flat array of values its rules read.

use crate::compile::CompiledSet;
use crate::schema::{ActionId, Type};
use crate::value::{Const, StrId, Value};

/// A request to decide: an action and its values laid out as
/// [`crate::compile::Layout`] says (context attributes, each slot's attributes, parameters).
///
/// A request belongs to the compiled set that built it ([`CompiledSet::new_request`]):
/// string ids and enum indexes mean something only in that set, so another set refuses
/// to decide it (the decision is a deny with [`crate::eval::EvalError::ForeignRequest`]).
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The compiled set that built it (0: none).
    pub(crate) set: u64,
    /// The action.
    pub action: ActionId,
    /// The values; [`Value::Missing`] where the request has none.
    pub values: Vec<Value>,
    /// Strings of this request that no policy mentions (ids from
    /// [`CompiledSet::policy_string_count`] up), kept in one reusable buffer.
    strings: StringArena,
}

/// Request-local strings, back to back in one buffer, so that a reused request interns
/// without allocating. Equal strings get one id: a short list is searched, a longer one
/// goes through a hash of the text (so a request with many strings stays linear).
#[derive(Debug, Clone, Default)]
struct StringArena {
    text: String,
    /// End offset of each string in `text`.
    ends: Vec<usize>,
    /// Hash of a string → its position, once there are more than [`Self::SCAN`].
    by_hash: rustc_hash::FxHashMap<u64, usize>,
    /// A keyed hash (`SipHash` with random keys), so that no input can be made of
    /// colliding strings.
    hasher: std::collections::hash_map::RandomState,
}

impl StringArena {
    /// Up to this many strings, a search is cheaper than hashing.
    const SCAN: usize = 8;

    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.by_hash.clear();
    }

    fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    fn hash(&self, s: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(s)
    }

    fn position_or_push(&mut self, s: &str) -> usize {
        let n = self.ends.len();
        if n <= Self::SCAN {
            if let Some(i) = (0..n).find(|&i| self.get(i) == Some(s)) {
                return i;
            }
            if n == Self::SCAN {
                // Switch to the hash: index what is there.
                for i in 0..n {
                    let h = self.hash(self.get(i).unwrap_or(""));
                    self.by_hash.entry(h).or_insert(i);
                }
            }
        } else {
            let h = self.hash(s);
            match self.by_hash.get(&h) {
                Some(&i) if self.get(i) == Some(s) => return i,
                // A hash collision with another string: fall back to a search.
                Some(_) => {
                    if let Some(i) = (0..n).find(|&i| self.get(i) == Some(s)) {
                        return i;
                    }
                }
                None => {}
            }
        }
        self.text.push_str(s);
        self.ends.push(self.text.len());
        let i = self.ends.len() - 1;
        if i >= Self::SCAN {
            let h = self.hash(s);
            self.by_hash.entry(h).or_insert(i);
        }
        i
    }
}

impl CompiledSet {
    /// A request for `action` with every schema default filled in and every other value
    /// missing.
    pub fn new_request(&self, action: ActionId) -> Request {
        let mut r = Request::default();
        self.reset_request(&mut r, action);
        r
    }

    /// Resets `r` to a fresh request for `action`, keeping its buffers.
    pub fn reset_request(&self, r: &mut Request, action: ActionId) {
        r.set = self.id;
        r.action = action;
        r.values.clear();
        r.strings.clear();
        if let Some(plan) = self.plans.get(action as usize) {
            r.values.extend_from_slice(&plan.layout.defaults);
        }
    }

    /// The id of string `s` for this request: a policy string's id if a policy mentions
    /// it, otherwise a request-local id.
    pub fn intern(&self, r: &mut Request, s: &str) -> StrId {
        if let Some(&i) = self.strings.get(s) {
            return StrId(i);
        }
        let base = self.policy_string_count();
        let pos = r.strings.position_or_push(s);
        StrId(base + u32::try_from(pos).unwrap_or(u32::MAX - base))
    }

    /// Converts a typed constant to a runtime value for `r`.
    pub fn to_value(&self, r: &mut Request, c: &Const) -> Value {
        c.to_value(|s| self.intern(r, s))
    }

    /// Renders value `index` of `r` for people: `[System Administrator]`, `"a@b.com"`.
    pub fn display_value(&self, r: &Request, index: u32) -> String {
        let Some(layout) = self.plans.get(r.action as usize).map(|p| &p.layout) else {
            return "?".to_owned();
        };
        let ty = layout
            .types
            .get(index as usize)
            .copied()
            .unwrap_or(Type::Bool);
        match r.values.get(index as usize).copied().unwrap_or_default() {
            Value::Missing => "(missing)".to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Str(id) => format!("{:?}", self.string(r, id)),
            Value::Version(v) => v.to_string(),
            Value::Enum(e) => match ty {
                Type::Enum(en) => self.schema.member_name(en, e).to_owned(),
                _ => e.to_string(),
            },
            Value::Set(s) => match ty {
                Type::Set(en) => self.schema.display_set(en, s),
                _ => format!("{:#x}", s.0),
            },
        }
    }

    /// The text of string `id` in request `r`.
    pub fn string<'a>(&'a self, r: &'a Request, id: StrId) -> &'a str {
        let base = self.policy_string_count();
        if id.0 < base {
            self.string_names
                .get(id.0 as usize)
                .map_or("?", String::as_str)
        } else {
            r.strings.get((id.0 - base) as usize).unwrap_or("?")
        }
    }

    /// The path of value `index` of an action (`user.upn`).
    pub fn value_path(&self, action: ActionId, index: u32) -> &str {
        self.plans
            .get(action as usize)
            .and_then(|p| p.layout.paths.get(index as usize))
            .map_or("the request", String::as_str)
    }
}
