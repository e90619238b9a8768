//! Values: typed constants from schemas and policies, and the runtime values of requests.

use crate::version::Version;
use std::fmt;

/// A set of members of one enum, as a bit set (an enum has at most 128 members).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct EnumSet(pub u128);

impl EnumSet {
    /// Most members an enum may have.
    pub const CAPACITY: usize = 128;

    /// Whether member `i` is in the set.
    #[inline]
    pub fn contains(self, i: u16) -> bool {
        i < 128 && self.0 & (1u128 << i) != 0
    }

    /// Adds member `i` (ignored if out of range).
    pub fn insert(&mut self, i: u16) {
        if i < 128 {
            self.0 |= 1u128 << i;
        }
    }

    /// The members, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = u16> {
        (0..128u16).filter(move |&i| self.contains(i))
    }
}

/// An interned string: policy literals get the low ids, other request strings higher ones.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct StrId(pub u32);

/// A request value at run time. Strings are interned, enums are indexes, sets are bit
/// sets: nothing in here needs a string comparison or an allocation to decide.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Value {
    /// The request has no value here (evaluating it is an error, which fails closed).
    #[default]
    Missing,
    /// `bool`
    Bool(bool),
    /// `int`
    Int(i64),
    /// `string`
    Str(StrId),
    /// `version`
    Version(Version),
    /// A member of an enum.
    Enum(u16),
    /// `set<ENUM>`
    Set(EnumSet),
}

impl Const {
    /// The runtime value of this constant, with strings interned by `intern` (the one
    /// `Const` → `Value` conversion: compiling policies and building requests share it).
    pub fn to_value(&self, intern: impl FnOnce(&str) -> StrId) -> Value {
        match self {
            Const::Bool(b) => Value::Bool(*b),
            Const::Int(i) => Value::Int(*i),
            Const::Str(s) => Value::Str(intern(s)),
            Const::Version(v) => Value::Version(*v),
            Const::Enum(e) => Value::Enum(*e),
            Const::Set(s) => Value::Set(*s),
        }
    }
}

/// A typed constant, as written in a schema default or a policy literal.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Const {
    /// `bool`
    Bool(bool),
    /// `int`
    Int(i64),
    /// `string`
    Str(String),
    /// `version`
    Version(Version),
    /// A member of an enum.
    Enum(u16),
    /// `set<ENUM>`
    Set(EnumSet),
}

impl fmt::Display for StrId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::{Const, StrId, Value};

    #[test]
    fn to_value_interns_strings_and_copies_the_rest() {
        assert_eq!(Const::Int(7).to_value(|_| StrId(0)), Value::Int(7));
        assert_eq!(Const::Bool(true).to_value(|_| StrId(0)), Value::Bool(true));
        let v =
            Const::Str("a@b.com".to_owned()).to_value(|s| StrId(u32::try_from(s.len()).unwrap()));
        assert_eq!(v, Value::Str(StrId(7)));
    }
}
