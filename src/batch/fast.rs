//! The fast reader of batch lines: a strict subset of JSON, read straight from the bytes
//! into the request.
//!
//! Batch lines are small objects of a known shape. This reader understands only what
//! well-formed batch lines contain: one object of entity objects, arrays of strings,
//! strings without escapes or control characters, `true`, `false` and integers without a
//! fraction or an exponent; and only the keys, values and members the schema knows, each
//! key at most once. First one pass over the line ([`Scratch::scan`], 16 bytes at a time
//! with portable SIMD) marks every quote and rules out backslashes, control characters
//! (so the only whitespace left is the space) and text that is not UTF-8; every string
//! then ends at the next quote. Then it writes each value into its place in the request
//! as it goes, looking names up in tables built once per set ([`Tables`]).
//!
//! Anything else, and every error (including a missing slot or parameter), makes it give
//! up with [`Bail`]; the line is then read again from the start by the `serde_json`
//! reader (`parse`), whose verdict and message are the ones reported. So the one property
//! this reader must have is: **whatever it accepts, the `serde_json` reader accepts too,
//! with the very same request**. It holds by construction (each accepted form is plain
//! JSON, and each value is converted as the `serde_json` reader's visitors convert it),
//! and it is checked by a property test and by the `batch_line` fuzz target, which compare
//! the records and the requests of both readers.
//!
//! Nothing here recurses, and every loop moves forward through the line.

#![allow(
    clippy::inline_always,
    reason = "the small helpers of the per-token path must be inlined (measured with callgrind)"
)]

use crate::compile::CompiledSet;
use crate::eval::Request;
use crate::schema::{ActionId, EntityId, Type};
use crate::value::{EnumSet, Value};
use crate::version::Version;
use rustc_hash::FxHashMap;

/// This reader gave up: the line is read again by `serde_json`.
#[derive(Debug)]
pub(super) struct Bail;

type Result<T> = std::result::Result<T, Bail>;

/// A name packed for a quick comparison: its length and its first and last eight bytes
/// (zero-padded when shorter). Two names of up to 16 bytes are equal exactly when their
/// packs are; longer ones are compared in full after their packs match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed {
    len: usize,
    head: u64,
    tail: u64,
}

/// Names up to this long are decided by their [`Packed`] form alone.
const PACKED_EXACT: usize = 16;

/// Eight bytes of `b` from `at` as a little-endian word, zero-padded past its end.
#[inline]
fn word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    match b.get(at..at + 8) {
        Some(s) => w.copy_from_slice(s),
        None => {
            let rest = b.get(at..).unwrap_or_default();
            w[..rest.len()].copy_from_slice(rest);
        }
    }
    u64::from_le_bytes(w)
}

/// Eight bytes of `b` from `at` as a little-endian word, if there are eight.
#[inline(always)]
fn load(b: &[u8], at: usize) -> Option<u64> {
    let w: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(w))
}

impl Packed {
    /// The name `b[start..start + len]`; bytes of `b` after it may be read but do not count.
    #[inline(always)]
    fn at(b: &[u8], start: usize, len: usize) -> Packed {
        let head = load(b, start).unwrap_or_else(|| word(b, start));
        let head = if len >= 8 {
            head
        } else {
            head & ((1u64 << (8 * len)) - 1)
        };
        let tail = if len > 8 {
            load(b, start + len - 8).unwrap_or_else(|| word(b, start + len - 8))
        } else {
            0
        };
        Packed { len, head, tail }
    }

    fn of(name: &[u8]) -> Packed {
        Packed::at(name, 0, name.len())
    }

    #[inline(always)]
    fn hash(self) -> usize {
        let x = (self.head ^ self.tail.rotate_left(29) ^ self.len as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // The high half of the product mixes every input bit; the table takes its low bits.
        (x >> 32) as usize
    }
}

/// One name of a [`NameTable`].
#[derive(Debug, Clone)]
struct Entry<T> {
    key: Packed,
    /// The whole name, compared only when it is longer than [`PACKED_EXACT`].
    name: Box<[u8]>,
    value: T,
}

/// A small open-addressing table from names to values, built once per set: a lookup is
/// one hash of the packed name and, almost always, one comparison.
#[derive(Debug, Clone)]
struct NameTable<T> {
    slots: Vec<Option<Entry<T>>>,
    mask: usize,
}

impl<T: Copy> NameTable<T> {
    /// A table of `names`; where a name comes twice, the first one counts.
    fn new<'n>(names: impl IntoIterator<Item = (&'n str, T)>) -> Self {
        let names: Vec<(&str, T)> = names.into_iter().collect();
        // At most half full, so a probe always ends at an empty slot.
        let size = (names.len() * 2).max(1).next_power_of_two();
        let mut t = NameTable {
            slots: vec![None; size],
            mask: size - 1,
        };
        for (name, value) in names {
            let key = Packed::of(name.as_bytes());
            if t.get(key, name.as_bytes(), 0).is_some() {
                continue;
            }
            let mut i = key.hash() & t.mask;
            while t.slots[i].is_some() {
                i = (i + 1) & t.mask;
            }
            t.slots[i] = Some(Entry {
                key,
                name: name.as_bytes().into(),
                value,
            });
        }
        t
    }

    /// The value of the name `line[start..]` whose packed form is `key` (so the name is
    /// `key.len` bytes long).
    #[inline(always)]
    fn get(&self, key: Packed, line: &[u8], start: usize) -> Option<T> {
        let mut i = key.hash() & self.mask;
        loop {
            let e = self.slots.get(i)?.as_ref()?;
            if e.key == key && (key.len <= PACKED_EXACT || same_middle(&e.name, line, start)) {
                return Some(e.value);
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// Whether `line[start..]` holds `name` in the bytes between the first and the last eight,
/// for a name longer than [`PACKED_EXACT`] whose packed forms matched (so its first and
/// last eight bytes are known to be equal), eight bytes at a time.
#[inline]
fn same_middle(name: &[u8], line: &[u8], start: usize) -> bool {
    let mut i = 8;
    while i + 8 < name.len() {
        if load(name, i) != load(line, start + i) {
            return false;
        }
        i += 8;
    }
    true
}

/// What a top-level key of a line is, for one action.
#[derive(Debug, Clone, Copy)]
enum TopKey {
    Action,
    Context,
    Slot(usize),
    Param(usize),
}

/// The name tables of one compiled set, built once and shared by every reader.
#[derive(Debug, Clone)]
pub(super) struct Tables {
    actions: NameTable<ActionId>,
    /// Per action: its top-level keys.
    tops: Vec<NameTable<TopKey>>,
    /// Per entity type: attribute name → (index, type).
    attrs: Vec<NameTable<(usize, Type)>>,
    /// Per enum: member name → index.
    members: Vec<NameTable<u16>>,
}

impl Tables {
    /// The tables of `set`. `actions` and `attrs` are the `serde_json` reader's own maps,
    /// so both readers resolve every name the same way.
    pub(super) fn new(
        set: &CompiledSet,
        actions: &FxHashMap<String, ActionId>,
        attrs: &[FxHashMap<String, usize>],
    ) -> Self {
        let schema = set.schema();
        let ctx = schema.context();
        let tops = schema
            .actions
            .iter()
            .map(|def| {
                // The order in which the `serde_json` reader tries a key.
                NameTable::new(
                    [
                        ("action", TopKey::Action),
                        (ctx.name.as_str(), TopKey::Context),
                    ]
                    .into_iter()
                    .chain(
                        def.slots
                            .iter()
                            .enumerate()
                            .map(|(i, s)| (s.name.as_str(), TopKey::Slot(i))),
                    )
                    .chain(
                        def.params
                            .iter()
                            .enumerate()
                            .map(|(i, p)| (p.name.as_str(), TopKey::Param(i))),
                    ),
                )
            })
            .collect();
        let attrs = schema
            .entities
            .iter()
            .zip(attrs)
            .map(|(e, map)| {
                NameTable::new(
                    map.iter()
                        .filter_map(|(name, &i)| Some((name.as_str(), (i, e.attrs.get(i)?.ty)))),
                )
            })
            .collect();
        let members = schema
            .enums
            .iter()
            .map(|en| {
                NameTable::new(
                    en.values
                        .iter()
                        .filter_map(|m| Some((m.as_str(), en.lookup(m)?))),
                )
            })
            .collect();
        Tables {
            actions: NameTable::new(actions.iter().map(|(name, &a)| (name.as_str(), a))),
            tops,
            attrs,
            members,
        }
    }

    /// The action named `name`.
    pub(super) fn action(&self, name: &[u8]) -> Option<ActionId> {
        self.actions.get(Packed::of(name), name, 0)
    }
}

/// Version texts read lately and their values, in sets of two chosen by the text's hash
/// (the newer first): the lines of a batch come from few organizations, so version texts
/// repeat.
#[derive(Debug, Default)]
struct VersionCache([[Option<(Packed, Version)>; 2]; VersionCache::SETS]);

impl VersionCache {
    const SETS: usize = 32;

    #[inline]
    fn get(&self, key: Packed) -> Option<Version> {
        let set = self.0.get(key.hash() % Self::SETS)?;
        set.iter()
            .flatten()
            .find(|(k, _)| *k == key && key.len <= PACKED_EXACT)
            .map(|&(_, v)| v)
    }

    fn put(&mut self, key: Packed, v: Version) {
        if key.len <= PACKED_EXACT
            && let Some(set) = self.0.get_mut(key.hash() % Self::SETS)
        {
            set[1] = set[0];
            set[0] = Some((key, v));
        }
    }
}

/// A reader's buffers, kept from line to line.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// One bit per byte of the line: set where it is a quote.
    quotes: Vec<u64>,
    versions: VersionCache,
}

impl Scratch {
    /// Finds the quotes of `line`, sixteen bytes at a time. Gives up on a line with a
    /// backslash (an escape) or a control character anywhere (so every string ends at
    /// the next quote, and the only whitespace is the space), or with text that is not
    /// UTF-8.
    pub(super) fn scan(&mut self, line: &[u8]) -> Result<()> {
        self.quotes.clear();
        self.quotes.reserve(line.len() / 64 + 1);
        let mut flags = 0u32;
        let mut blocks = line.chunks_exact(64);
        for block in &mut blocks {
            let (quotes, f) = scan_block(block);
            self.quotes.push(quotes);
            flags |= f;
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            // Padded with spaces, which are neither quotes nor anything that gives up.
            let mut block = [b' '; 64];
            block[..rest.len()].copy_from_slice(rest);
            let (quotes, f) = scan_block(&block);
            self.quotes.push(quotes);
            flags |= f;
        }
        if flags & BAD != 0 || (flags & HIGH != 0 && std::str::from_utf8(line).is_err()) {
            return Err(Bail);
        }
        Ok(())
    }

    /// The action of a line that starts as writers usually start it,
    /// `{"action":"NAME"`, after [`Scratch::scan`] of that line.
    pub(super) fn leading_action<'l>(&self, line: &'l [u8]) -> Option<&'l [u8]> {
        const PREFIX: &[u8] = br#"{"action":""#;
        if !line.starts_with(PREFIX) {
            return None;
        }
        let end = next_quote(&self.quotes, PREFIX.len())?;
        line.get(PREFIX.len()..end)
    }
}

/// [`scan_block`] found a backslash or a control character.
const BAD: u32 = 1;
/// [`scan_block`] found a byte above 0x7f.
const HIGH: u32 = 2;

/// The quote bits of 64 bytes (bit `i` for byte `i`), and [`BAD`] and [`HIGH`].
#[inline(always)]
fn scan_block(block: &[u8]) -> (u64, u32) {
    use wide::u8x16;
    let mut quotes = 0u64;
    let mut bad = 0u32;
    let mut high = 0u32;
    for (i, part) in block.chunks_exact(16).enumerate() {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(part);
        let v = u8x16::new(bytes);
        let quote = v.simd_eq(u8x16::splat(b'"')).to_bitmask();
        let backslash = v.simd_eq(u8x16::splat(b'\\'));
        let control = v.min(u8x16::splat(0x1f)).simd_eq(v);
        bad |= (backslash | control).to_bitmask();
        high |= v.to_bitmask();
        quotes |= u64::from(quote) << (16 * i);
    }
    (
        quotes,
        (u32::from(bad != 0) * BAD) | (u32::from(high != 0) * HIGH),
    )
}

/// The first quote at or after `from`, in the quote bits of a line.
#[inline(always)]
fn next_quote(quotes: &[u64], from: usize) -> Option<usize> {
    let mut w = from / 64;
    let mut bits = quotes.get(w)? & (!0u64 << (from % 64));
    while bits == 0 {
        w += 1;
        bits = *quotes.get(w)?;
    }
    Some(w * 64 + bits.trailing_zeros() as usize)
}

/// Reads `line`, a request for `action`, into `req` (already reset to the action's
/// defaults), marking in `seen` each value, slot and parameter it sets (laid out as the
/// `serde_json` reader lays them out: values, then slots, then `action`, then the
/// context). `scratch` has just scanned `line`.
pub(super) fn read(
    tables: &Tables,
    set: &CompiledSet,
    action: ActionId,
    line: &[u8],
    req: &mut Request,
    seen: &mut [bool],
    scratch: &mut Scratch,
) -> Result<()> {
    let schema = set.schema();
    let def = schema.action(action);
    let layout = set.layout(action);
    let tops = tables.tops.get(usize::from(action)).ok_or(Bail)?;
    let n = layout.len as usize;
    let action_flag = n + def.slots.len();
    let mut r = Reader {
        b: line,
        pos: 0,
        quotes: &scratch.quotes,
        tables,
        set,
        req,
        seen,
        versions: &mut scratch.versions,
    };
    r.eat(b'{')?;
    if !r.close(b'}') {
        loop {
            let (start, _, key) = r.string()?;
            r.eat(b':')?;
            match tops.get(key, line, start).ok_or(Bail)? {
                TopKey::Action => {
                    r.flag(action_flag)?;
                    r.string()?;
                }
                TopKey::Context => {
                    r.flag(action_flag + 1)?;
                    r.entity(schema.context, 0)?;
                }
                TopKey::Slot(i) => {
                    r.flag(n + i)?;
                    let slot = def.slots.get(i).ok_or(Bail)?;
                    let base = *layout.slots.get(i).ok_or(Bail)?;
                    r.entity(slot.entity, base as usize)?;
                }
                TopKey::Param(i) => {
                    let index = layout.params as usize + i;
                    r.flag(index)?;
                    r.value(def.params.get(i).ok_or(Bail)?.ty, index)?;
                }
            }
            if !r.more(b'}')? {
                break;
            }
        }
    }
    r.ws();
    if r.pos != line.len() {
        return Err(Bail);
    }
    Ok(())
}

struct Reader<'r, 'a> {
    b: &'r [u8],
    pos: usize,
    /// The line's quote bits.
    quotes: &'r [u64],
    tables: &'r Tables,
    set: &'a CompiledSet,
    req: &'r mut Request,
    seen: &'r mut [bool],
    versions: &'r mut VersionCache,
}

impl Reader<'_, '_> {
    /// Skips spaces (the only whitespace a scanned line can have).
    #[inline(always)]
    fn ws(&mut self) {
        if self.b.get(self.pos) == Some(&b' ') {
            self.skip_ws();
        }
    }

    #[cold]
    fn skip_ws(&mut self) {
        // The only whitespace a scanned line can have.
        while self.b.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    #[inline(always)]
    fn eat(&mut self, c: u8) -> Result<()> {
        if self.b.get(self.pos) == Some(&c) {
            self.pos += 1;
            Ok(())
        } else {
            self.eat_after_spaces(c)
        }
    }

    #[cold]
    fn eat_after_spaces(&mut self, c: u8) -> Result<()> {
        self.skip_ws();
        if self.b.get(self.pos) == Some(&c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// Right after an opening bracket: consumes `close` if the container is empty.
    #[inline(always)]
    fn close(&mut self, close: u8) -> bool {
        self.ws();
        let empty = self.b.get(self.pos) == Some(&close);
        self.pos += usize::from(empty);
        empty
    }

    /// After a member or item: `,` (more follow) or `close` (the end).
    #[inline(always)]
    fn more(&mut self, close: u8) -> Result<bool> {
        self.ws();
        match self.b.get(self.pos) {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(&c) if c == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(Bail),
        }
    }

    /// Marks flag `i` as seen; a second time is a duplicate key.
    #[inline]
    fn flag(&mut self, i: usize) -> Result<()> {
        let f = self.seen.get_mut(i).ok_or(Bail)?;
        if std::mem::replace(f, true) {
            return Err(Bail);
        }
        Ok(())
    }

    /// A string: where its body starts and ends, and its packed form. The line has no
    /// backslash and no control character (see [`Scratch::scan`]), so a string ends at
    /// the next quote.
    #[inline(always)]
    fn string(&mut self) -> Result<(usize, usize, Packed)> {
        self.eat(b'"')?;
        let start = self.pos;
        let end = next_quote(self.quotes, start).ok_or(Bail)?;
        self.pos = end + 1;
        Ok((start, end, Packed::at(self.b, start, end - start)))
    }

    /// An inline entity object of type `entity`, whose first value is at `base`.
    fn entity(&mut self, entity: EntityId, base: usize) -> Result<()> {
        let attrs = self.tables.attrs.get(usize::from(entity)).ok_or(Bail)?;
        self.eat(b'{')?;
        if self.close(b'}') {
            return Ok(());
        }
        loop {
            let (start, _, key) = self.string()?;
            self.eat(b':')?;
            let (ai, ty) = attrs.get(key, self.b, start).ok_or(Bail)?;
            self.flag(base + ai)?;
            self.value(ty, base + ai)?;
            if !self.more(b'}')? {
                return Ok(());
            }
        }
    }

    /// One value of type `ty`, written to value `index` of the request.
    #[inline(always)]
    fn value(&mut self, ty: Type, index: usize) -> Result<()> {
        let v = match ty {
            Type::Bool => Value::Bool(self.boolean()?),
            Type::Int => Value::Int(self.integer()?),
            Type::String => {
                let (start, end, _) = self.string()?;
                let text = std::str::from_utf8(&self.b[start..end]).map_err(|_| Bail)?;
                Value::Str(self.set.intern(self.req, text))
            }
            Type::Version => Value::Version(self.version()?),
            Type::Enum(en) => Value::Enum(self.member(en)?),
            Type::Set(en) => {
                self.eat(b'[')?;
                let mut s = EnumSet::default();
                if !self.close(b']') {
                    loop {
                        s.insert(self.member(en)?);
                        if !self.more(b']')? {
                            break;
                        }
                    }
                }
                Value::Set(s)
            }
        };
        *self.req.values.get_mut(index).ok_or(Bail)? = v;
        Ok(())
    }

    /// A string naming a member of enum `en`.
    #[inline(always)]
    fn member(&mut self, en: u16) -> Result<u16> {
        let (start, _, key) = self.string()?;
        let table = self.tables.members.get(usize::from(en)).ok_or(Bail)?;
        table.get(key, self.b, start).ok_or(Bail)
    }

    fn version(&mut self) -> Result<Version> {
        let (start, end, key) = self.string()?;
        if let Some(v) = self.versions.get(key) {
            return Ok(v);
        }
        let text = std::str::from_utf8(&self.b[start..end]).map_err(|_| Bail)?;
        let v = Version::parse(text).map_err(|_| Bail)?;
        self.versions.put(key, v);
        Ok(v)
    }

    fn boolean(&mut self) -> Result<bool> {
        self.ws();
        let rest = self.b.get(self.pos..).unwrap_or_default();
        if rest.starts_with(b"true") {
            self.pos += 4;
            Ok(true)
        } else if rest.starts_with(b"false") {
            self.pos += 5;
            Ok(false)
        } else {
            Err(Bail)
        }
    }

    /// An integer as `serde_json` reads it and the `serde_json` reader takes it: no
    /// leading zeros, no fraction, no exponent, no `-0`, within `i64` (and not
    /// `i64::MIN`, which is left to `serde_json`).
    fn integer(&mut self) -> Result<i64> {
        self.ws();
        let b = self.b;
        let negative = b.get(self.pos) == Some(&b'-');
        let start = self.pos + usize::from(negative);
        let mut i = start;
        let mut value: i64 = 0;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(i64::from(c - b'0')))
                .ok_or(Bail)?;
            i += 1;
        }
        let digits = i - start;
        if digits == 0
            || (digits > 1 && b[start] == b'0')
            || matches!(b.get(i), Some(b'.' | b'e' | b'E'))
            || (negative && value == 0)
        {
            return Err(Bail);
        }
        self.pos = i;
        Ok(if negative { -value } else { value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_names_are_equal_exactly_when_the_names_are() {
        let names = [
            "",
            "a",
            "ab",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
            "abcdefghijklmnop",
            "bcdefgh",
        ];
        for x in names {
            for y in names {
                assert_eq!(Packed::of(x.as_bytes()) == Packed::of(y.as_bytes()), x == y);
            }
        }
        // Bytes after the name do not count.
        assert_eq!(Packed::at(b"abc\"}", 0, 3), Packed::of(b"abc"));
        assert_eq!(
            Packed::at(b"xabcdefghij\"", 1, 10),
            Packed::of(b"abcdefghij")
        );
    }

    /// The scan marks exactly the quotes, and gives up exactly on lines with a backslash,
    /// a control character or text that is not UTF-8, for lines of every length around
    /// the 16- and 64-byte steps.
    #[test]
    fn scan_marks_quotes_and_gives_up_on_what_it_must() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet: &[u8] = b"\"\"ab{}:, \\\t\x01\x1f\x7f\xc3\xa9\xff";
        let mut scratch = Scratch::default();
        for len in 0..200 {
            for _ in 0..20 {
                let line: Vec<u8> = (0..len)
                    .map(|_| {
                        let r = next();
                        // Mostly plain letters, so that many lines pass.
                        if r % 8 == 0 {
                            alphabet[(r >> 8) as usize % alphabet.len()]
                        } else {
                            b'a' + u8::try_from((r >> 8) % 26).unwrap_or(0)
                        }
                    })
                    .collect();
                let passes = !line.iter().any(|&c| c == b'\\' || c < 0x20)
                    && std::str::from_utf8(&line).is_ok();
                assert_eq!(scratch.scan(&line).is_ok(), passes, "{line:?}");
                if passes {
                    let found: Vec<usize> = (0..len)
                        .filter(|&i| scratch.quotes[i / 64] >> (i % 64) & 1 == 1)
                        .collect();
                    let quotes: Vec<usize> = (0..len).filter(|&i| line[i] == b'"').collect();
                    assert_eq!(found, quotes, "{line:?}");
                    // No bit past the end of the line.
                    assert_eq!(next_quote(&scratch.quotes, len), None);
                }
            }
        }
    }

    #[test]
    fn name_tables_find_every_name_and_nothing_else() {
        let long = "a name longer than sixteen bytes";
        let names: Vec<String> = (0..300).map(|i| format!("n{i}")).collect();
        let t = NameTable::new(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_str(), i))
                .chain([(long, 1000), ("n5", 2000)]),
        );
        let get = |name: &[u8]| t.get(Packed::of(name), name, 0);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(get(n.as_bytes()), Some(i));
        }
        assert_eq!(get(long.as_bytes()), Some(1000));
        // Within a line, after other bytes.
        let line = format!("xx\"{long}\"}}");
        assert_eq!(
            t.get(Packed::of(long.as_bytes()), line.as_bytes(), 3),
            Some(1000)
        );
        // Any other byte in the middle: same length, head and tail, another name.
        for at in 0..long.len() {
            let mut other = long.as_bytes().to_vec();
            other[at] = b'#';
            assert_eq!(get(&other), None, "{}", String::from_utf8_lossy(&other));
        }
        assert_eq!(get(b"n300"), None);
        let empty: NameTable<u8> = NameTable::new([]);
        assert_eq!(empty.get(Packed::of(b""), b"", 0), None);
    }
}
