//! The fast reader of batch lines: a strict subset of JSON, read straight from the bytes.
//!
//! Batch lines are small objects of a known shape, and `serde_json` spends most of a line's
//! time on generality it does not need there (escapes, floats, arbitrary values). This
//! reader understands only what well-formed batch lines contain: objects, arrays, strings
//! without escapes or control characters, `true`, `false` and integers without a fraction
//! or an exponent. It drives the very same serde visitors as `serde_json` does, so the
//! meaning of a line cannot differ between the two.
//!
//! Anything outside that subset, and every error, makes it give up with [`Bail`]; the line
//! is then read again by `serde_json`, whose verdict and message are the ones reported. So
//! the one property this reader must have is: **whatever it accepts, `serde_json` accepts
//! too, with the same tokens**. It holds by construction (each accepted form is plain JSON
//! read the way `serde_json` reads it), and it is checked by a property test and by the
//! `batch_line` fuzz target, which compare the records of both readers.
//!
//! The line has been checked to be UTF-8 before it gets here. Nothing recurses on the
//! input: nesting follows the schema-driven visitors, which ask for at most an object of
//! entity objects holding arrays of strings, and anything else is refused.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// This reader gave up: the line is read again by `serde_json`.
#[derive(Debug)]
pub(super) struct Bail;

impl fmt::Display for Bail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not in the fast subset")
    }
}

impl std::error::Error for Bail {}

impl de::Error for Bail {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Bail
    }
}

type Result<T> = std::result::Result<T, Bail>;

/// Reads one line (already checked to be UTF-8).
pub(super) struct Reader<'de> {
    text: &'de str,
    pos: usize,
}

impl<'de> Reader<'de> {
    pub(super) fn new(text: &'de str) -> Self {
        Reader { text, pos: 0 }
    }

    /// After the top-level value: only whitespace may remain.
    pub(super) fn end(&mut self) -> Result<()> {
        self.skip_ws();
        if self.pos == self.text.len() {
            Ok(())
        } else {
            Err(Bail)
        }
    }

    fn bytes(&self) -> &'de [u8] {
        self.text.as_bytes()
    }

    fn skip_ws(&mut self) {
        let b = self.bytes();
        while let Some(&c) = b.get(self.pos) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes().get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> Result<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// A string without escapes or control characters, borrowed from the line.
    fn string(&mut self) -> Result<&'de str> {
        self.eat(b'"')?;
        let start = self.pos;
        let len = string_len(self.bytes().get(start..).ok_or(Bail)?).ok_or(Bail)?;
        self.pos = start + len + 1;
        // The quotes are ASCII, so both ends are on character boundaries.
        self.text.get(start..start + len).ok_or(Bail)
    }

    fn literal(&mut self, word: &[u8]) -> Result<()> {
        self.skip_ws();
        let end = self.pos + word.len();
        if self.bytes().get(self.pos..end) == Some(word) {
            self.pos = end;
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// An integer as `serde_json` reads it: no leading zeros, no fraction, no exponent.
    /// Returns whether it had a minus sign, and its magnitude.
    fn integer(&mut self) -> Result<(bool, u64)> {
        self.skip_ws();
        let b = self.bytes();
        let negative = b.get(self.pos) == Some(&b'-');
        let start = self.pos + usize::from(negative);
        let mut i = start;
        let mut value: u64 = 0;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c - b'0')))
                .ok_or(Bail)?;
            i += 1;
        }
        let digits = i - start;
        // No digits, a leading zero before more digits, or a fraction or exponent: leave
        // it to `serde_json` (which reads the last two as floats).
        if digits == 0
            || (digits > 1 && b[start] == b'0')
            || matches!(b.get(i), Some(b'.' | b'e' | b'E'))
        {
            return Err(Bail);
        }
        self.pos = i;
        Ok((negative, value))
    }
}

/// The length of a string's body up to its closing quote, or `None` if it holds a
/// backslash (an escape, left to `serde_json`) or a raw control character (which JSON
/// forbids), or is not closed.
///
/// Eight bytes at a time (a word-at-a-time scan): strings in batch lines are short, and a
/// vectorised search costs more to set up than this costs to run.
fn string_len(body: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    /// The high bit of each byte of `v` that is below `n` (n <= 128); only the lowest
    /// flagged byte is certain, which is the one used.
    fn below(v: u64, n: u8) -> u64 {
        v.wrapping_sub(ONES * u64::from(n)) & !v & HIGH
    }
    let mut words = body.chunks_exact(8);
    let mut len = 0;
    for word in &mut words {
        let v = u64::from_le_bytes(word.try_into().ok()?);
        let hits = below(v ^ (ONES * u64::from(b'"')), 1)
            | below(v ^ (ONES * u64::from(b'\\')), 1)
            | below(v, 0x20);
        if hits != 0 {
            // The lowest flagged byte is the first quote, backslash or control character.
            let i = (hits.trailing_zeros() / 8) as usize;
            return (word.get(i) == Some(&b'"')).then_some(len + i);
        }
        len += 8;
    }
    for (i, &c) in words.remainder().iter().enumerate() {
        if c == b'"' {
            return Some(len + i);
        }
        if c < 0x20 || c == b'\\' {
            return None;
        }
    }
    None
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = Bail;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(Bail)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek() {
            Some(b't') => {
                self.literal(b"true")?;
                visitor.visit_bool(true)
            }
            Some(b'f') => {
                self.literal(b"false")?;
                visitor.visit_bool(false)
            }
            _ => Err(Bail),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.integer()? {
            // `serde_json` hands non-negative integers over as `u64`,
            (false, v) => visitor.visit_u64(v),
            // negative ones as `i64` (and `-0` as a float, which is left to it).
            (true, v) if v > 0 => {
                let v = i64::try_from(v).map_err(|_| Bail)?;
                visitor.visit_i64(-v)
            }
            (true, _) => Err(Bail),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let s = self.string()?;
        visitor.visit_borrowed_str(s)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.eat(b'[')?;
        let value = visitor.visit_seq(Items {
            reader: self,
            first: true,
        })?;
        Ok(value)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.eat(b'{')?;
        let value = visitor.visit_map(Members {
            reader: self,
            first: true,
        })?;
        Ok(value)
    }

    /// Only a string can be skipped (the `action` member's value).
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.string()?;
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf option unit
        unit_struct newtype_struct tuple tuple_struct struct enum
    }
}

/// The members of an object; the closing brace is consumed when they run out.
struct Members<'r, 'de> {
    reader: &'r mut Reader<'de>,
    first: bool,
}

impl<'de> MapAccess<'de> for Members<'_, 'de> {
    type Error = Bail;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.reader.peek() {
            Some(b'}') => {
                self.reader.pos += 1;
                return Ok(None);
            }
            Some(b',') if !self.first => self.reader.pos += 1,
            Some(b'"') if self.first => {}
            _ => return Err(Bail),
        }
        self.first = false;
        let key = self.reader.string()?;
        self.reader.eat(b':')?;
        seed.deserialize(de::value::BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(&mut *self.reader)
    }
}

/// The items of an array; the closing bracket is consumed when they run out.
struct Items<'r, 'de> {
    reader: &'r mut Reader<'de>,
    first: bool,
}

impl<'de> SeqAccess<'de> for Items<'_, 'de> {
    type Error = Bail;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        match self.reader.peek() {
            Some(b']') => {
                self.reader.pos += 1;
                return Ok(None);
            }
            Some(b',') if !self.first => self.reader.pos += 1,
            Some(_) if self.first => {}
            _ => return Err(Bail),
        }
        self.first = false;
        seed.deserialize(&mut *self.reader).map(Some)
    }
}
