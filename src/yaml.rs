//! YAML reading, shared by the schema and scenario loaders. The only module that knows
//! about serde-saphyr.
//!
//! YAML is read into a small spanned tree ([`Node`]) under resource budgets (depth,
//! aliases, nodes, size), and the loaders then convert that tree strictly, so that every
//! unknown key, wrong type or unknown name is reported with the line and column of the
//! offending node. Plain scalars keep their source text, so `version: 9.10` is read as the
//! text `9.10`, not as the float `9.1`.

use crate::limits::{MAX_FILE_BYTES, MAX_YAML_ALIASES, MAX_YAML_DEPTH, MAX_YAML_NODES};
use crate::source::{FileId, SourceFile, Span};
use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A YAML node with its byte range in the source.
#[derive(Debug, Clone)]
pub struct Node {
    /// What it holds.
    pub value: Value,
    /// Byte range (without the file id, which the caller knows).
    start: u32,
    end: u32,
}

/// The kinds of YAML node.
#[derive(Debug, Clone)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number with a fraction or exponent; the source text is kept in the span.
    Float,
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The node's span in `file`.
    pub fn span(&self, file: FileId) -> Span {
        Span::new(file, self.start as usize, self.end as usize)
    }

    /// A short name for the node's kind, for "expected a map, found a list" messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }

    /// The scalar as text: strings as they are, numbers and booleans as written in the
    /// source (so `9.10` stays `9.10`). `None` for null, lists and maps.
    pub fn scalar_text<'a>(&'a self, source: &'a SourceFile) -> Option<&'a str> {
        match &self.value {
            Value::Str(s) => Some(s),
            Value::Bool(_) | Value::Int(_) | Value::Float => source
                .text
                .get(self.start as usize..self.end as usize)
                .map(str::trim),
            _ => None,
        }
    }
}

/// A YAML document that could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// What went wrong, from the YAML reader.
    pub message: String,
    /// Where, when known (else the start of the file).
    pub span: Span,
}

/// Reads one YAML document into a [`Node`] tree, within the budgets in [`crate::limits`].
pub fn parse(file: FileId, text: &str) -> Result<Node, YamlError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(YamlError {
            message: format!(
                "file is {} bytes, over the limit of {MAX_FILE_BYTES} bytes",
                text.len()
            ),
            span: Span::new(file, 0, 0),
        });
    }
    if let Some((offset, c)) = text
        .char_indices()
        .find(|&(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{85}'))
    {
        // The YAML reader rejects these too, but without a position; say where it is.
        return Err(YamlError {
            message: format!(
                "invalid YAML: control character U+{:04X} is not allowed",
                u32::from(c)
            ),
            span: Span::new(file, offset, offset + c.len_utf8()),
        });
    }
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_YAML_DEPTH;
    budget.max_aliases = MAX_YAML_ALIASES;
    budget.max_nodes = MAX_YAML_NODES;
    // Events include the ends of lists and maps: leave room so that the node limit, which
    // the README documents, is the one that is reached.
    budget.max_events = MAX_YAML_NODES.saturating_mul(3);
    budget.max_recorded_anchor_events = MAX_YAML_NODES;
    budget.max_documents = 1;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.with_snippet = false;
    let node: Result<Spanned, _> = serde_saphyr::from_str_with_options(text, options);
    match node {
        Ok(n) => Ok(n.0),
        Err(e) => {
            // Syntax errors carry a line and column but no byte offset.
            let offset = e
                .location()
                .and_then(|l| {
                    l.span()
                        .byte_offset()
                        .and_then(|o| usize::try_from(o).ok())
                        .or_else(|| offset_of(text, l.line(), l.column()))
                })
                .unwrap_or(0)
                .min(text.len());
            Err(YamlError {
                message: budget_message(&e).unwrap_or_else(|| clean_message(&e.to_string())),
                span: Span::new(file, offset, offset),
            })
        }
    }
}

/// The byte offset of 1-based `line` and `column` (in characters), if the text has them.
fn offset_of(text: &str, line: u64, column: u64) -> Option<usize> {
    let line = usize::try_from(line).ok()?.checked_sub(1)?;
    let column = usize::try_from(column).ok()?.saturating_sub(1);
    let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
    let rest = text.get(start..)?;
    let in_line = rest
        .char_indices()
        .take_while(|&(_, c)| c != '\n')
        .nth(column)
        .map_or_else(|| rest.find('\n').unwrap_or(rest.len()), |(i, _)| i);
    Some(start + in_line)
}

/// A message that names the limit, for errors that come from one of our YAML budgets.
fn budget_message(e: &serde_saphyr::Error) -> Option<String> {
    use serde_saphyr::budget::BudgetBreach;
    let mut e = e;
    while let serde_saphyr::Error::WithSnippet { error, .. }
    | serde_saphyr::Error::AliasError { error, .. } = e
    {
        e = error;
    }
    let serde_saphyr::Error::Budget { breach, .. } = e else {
        // The scanner's own guard against deeply nested `[`/`{`, hit before our budget.
        return e
            .to_string()
            .contains("recursion limit exceeded")
            .then(|| format!("YAML is nested deeper than the limit of {MAX_YAML_DEPTH} levels"));
    };
    Some(match breach {
        BudgetBreach::Depth { .. } => {
            format!("YAML is nested deeper than the limit of {MAX_YAML_DEPTH} levels")
        }
        BudgetBreach::Aliases { .. } | BudgetBreach::AliasAnchorRatio { .. } => {
            format!("YAML uses more than the limit of {MAX_YAML_ALIASES} aliases (`*name`)")
        }
        BudgetBreach::Nodes { .. }
        | BudgetBreach::Events { .. }
        | BudgetBreach::RecordedAnchorEvents { .. } => format!(
            "YAML has more than the limit of {MAX_YAML_NODES} nodes (aliases count once per use)"
        ),
        BudgetBreach::Documents { .. } => {
            "a file holds one YAML document; found a second `---`".to_owned()
        }
        other => format!("YAML is over a size limit: {other:?}"),
    })
}

/// serde-saphyr appends " at line L column C" to some messages; our diagnostics show the
/// position themselves.
fn clean_message(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or(msg);
    let cut = first.find(" at line ").map_or(first, |i| &first[..i]);
    let mut s = cut.trim().trim_end_matches('.').to_owned();
    if let Some(c) = s.get(..1) {
        let lower = c.to_lowercase();
        s.replace_range(..1, &lower);
    }
    if s.is_empty() {
        "invalid YAML".to_owned()
    } else {
        format!("invalid YAML: {s}")
    }
}

/// A node deserialized together with its location.
struct Spanned(Node);

impl<'de> Deserialize<'de> for Spanned {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = serde_saphyr::Spanned::<Inner>::deserialize(d)?;
        let span = s.referenced.span();
        let start = span.byte_offset().unwrap_or(0);
        let len = span.byte_len().unwrap_or(0);
        let start = u32::try_from(start).unwrap_or(u32::MAX);
        let end = start.saturating_add(u32::try_from(len).unwrap_or(0));
        Ok(Spanned(Node {
            value: s.value.0,
            start,
            end,
        }))
    }
}

struct Inner(Value);

impl<'de> Deserialize<'de> for Inner {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(InnerVisitor)
    }
}

struct InnerVisitor;

impl<'de> Visitor<'de> for InnerVisitor {
    type Value = Inner;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E>(self) -> Result<Inner, E> {
        Ok(Inner(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Inner, E> {
        Ok(Inner(Value::Null))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Inner, E> {
        Ok(Inner(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Inner, E> {
        Ok(Inner(Value::Int(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Inner, E> {
        Ok(Inner(i64::try_from(v).map_or(Value::Float, Value::Int)))
    }
    fn visit_i128<E>(self, _: i128) -> Result<Inner, E> {
        Ok(Inner(Value::Float))
    }
    fn visit_u128<E>(self, _: u128) -> Result<Inner, E> {
        Ok(Inner(Value::Float))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Inner, E> {
        Ok(Inner(Value::Float))
    }
    fn visit_str<E>(self, v: &str) -> Result<Inner, E> {
        Ok(Inner(Value::Str(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Inner, E> {
        Ok(Inner(Value::Str(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Inner, A::Error> {
        let mut items = Vec::new();
        while let Some(Spanned(n)) = seq.next_element::<Spanned>()? {
            items.push(n);
        }
        Ok(Inner(Value::Seq(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Inner, A::Error> {
        let mut entries = Vec::new();
        while let Some(Spanned(k)) = map.next_key::<Spanned>()? {
            let Spanned(v) = map.next_value::<Spanned>()?;
            entries.push((k, v));
        }
        Ok(Inner(Value::Map(entries)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_spans_and_number_text() {
        let text = "a: 9.10\nb: [x, 2]\n";
        let src = SourceFile::new("t.yaml", text);
        let n = parse(FileId(0), text).unwrap();
        let Value::Map(entries) = &n.value else {
            panic!("not a map")
        };
        assert_eq!(entries[0].1.scalar_text(&src), Some("9.10"));
        let b = &entries[1].1;
        assert_eq!(src.line_col(b.start as usize).0, 2);
    }

    #[test]
    fn alias_bomb_is_an_error() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..30 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(parse(FileId(0), &text).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let text = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse(FileId(0), &text).is_err());
    }
}

/// A YAML tree that does not have the shape a loader expects.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ShapeError {
    /// A key the format does not have.
    #[error("unknown key `{key}`")]
    UnknownKey {
        /// The key.
        key: String,
        /// The keys allowed here.
        allowed: String,
        /// A close allowed key, if any.
        help: Option<String>,
        /// Where.
        span: Span,
    },
    /// A required key is absent.
    #[error("missing key `{key}`{context}")]
    MissingKey {
        /// The key.
        key: String,
        /// ` in ...` to say where.
        context: String,
        /// The map that lacks it.
        span: Span,
    },
    /// A node of the wrong kind.
    #[error("expected {expected}, found {found}")]
    WrongKind {
        /// What was expected.
        expected: String,
        /// What was found.
        found: &'static str,
        /// Where.
        span: Span,
    },
}

impl ShapeError {
    /// Where the problem is.
    pub fn span(&self) -> Span {
        match self {
            ShapeError::UnknownKey { span, .. }
            | ShapeError::MissingKey { span, .. }
            | ShapeError::WrongKind { span, .. } => *span,
        }
    }

    /// Converts to a diagnostic.
    pub fn to_diagnostic(&self) -> crate::diagnostics::Diagnostic {
        let d = crate::diagnostics::Diagnostic::error(self.to_string(), self.span(), "");
        match self {
            ShapeError::UnknownKey { allowed, help, .. } => d.with_help(match help {
                Some(h) => h.clone(),
                None => format!("allowed keys here: {allowed}"),
            }),
            _ => d,
        }
    }
}

/// Strict access to a YAML map: take the known keys, then [`Fields::finish`] reports every
/// key nobody took.
pub struct Fields<'a> {
    file: FileId,
    entries: Vec<(&'a str, &'a Node, &'a Node, bool)>,
    /// Key → index of its first entry, so that taking a key is a probe, not a scan.
    index: rustc_hash::FxHashMap<&'a str, usize>,
    span: Span,
}

impl<'a> Fields<'a> {
    /// Opens `node` as a map, or fails with "expected {what}".
    pub fn new(file: FileId, node: &'a Node, what: &str) -> Result<Self, ShapeError> {
        let Value::Map(entries) = &node.value else {
            return Err(expect(file, node, what));
        };
        let mut out = Vec::with_capacity(entries.len());
        let mut index = rustc_hash::FxHashMap::default();
        index.reserve(entries.len());
        for (k, v) in entries {
            let Value::Str(key) = &k.value else {
                return Err(expect(file, k, "a text key"));
            };
            index.entry(key.as_str()).or_insert(out.len());
            out.push((key.as_str(), k, v, false));
        }
        Ok(Fields {
            file,
            entries: out,
            index,
            span: node.span(file),
        })
    }

    /// The value of `key`, if present.
    pub fn take(&mut self, key: &str) -> Option<&'a Node> {
        let i = *self.index.get(key)?;
        let (_, _, v, used) = self.entries.get_mut(i)?;
        *used = true;
        Some(*v)
    }

    /// The value of `key`, or a [`ShapeError::MissingKey`].
    pub fn require(&mut self, key: &str, context: &str) -> Result<&'a Node, ShapeError> {
        self.take(key).ok_or_else(|| ShapeError::MissingKey {
            key: key.to_owned(),
            context: context.to_owned(),
            span: Span::new(
                self.span.file,
                self.span.start as usize,
                self.span.start as usize,
            ),
        })
    }

    /// Every key not taken, as errors.
    pub fn finish(self, allowed: &[&str]) -> Vec<ShapeError> {
        // At most a screenful of names, so that each error stays small.
        const SHOWN: usize = 20;
        let mut unknown = self.entries.iter().filter(|(.., used)| !used).peekable();
        if unknown.peek().is_none() {
            return Vec::new();
        }
        // Built once, not once per unknown key.
        let mut allowed_text = allowed
            .iter()
            .take(SHOWN)
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        if allowed.len() > SHOWN {
            allowed_text.push_str(&format!(" and {} more", allowed.len() - SHOWN));
        }
        unknown
            .map(|(k, kn, ..)| ShapeError::UnknownKey {
                key: (*k).to_owned(),
                allowed: allowed_text.clone(),
                help: crate::diagnostics::did_you_mean(k, allowed.iter().copied()),
                span: kn.span(self.file),
            })
            .collect()
    }

    /// The remaining (untaken) entries, for maps whose keys are names (ids, attributes).
    pub fn rest(self) -> Vec<(&'a str, &'a Node, &'a Node)> {
        self.entries
            .into_iter()
            .filter(|(.., used)| !used)
            .map(|(k, kn, v, _)| (k, kn, v))
            .collect()
    }
}

/// "expected {what}, found {kind}" at `node`.
pub fn expect(file: FileId, node: &Node, what: &str) -> ShapeError {
    ShapeError::WrongKind {
        expected: what.to_owned(),
        found: node.kind(),
        span: node.span(file),
    }
}

/// The node as a string, or a [`ShapeError::WrongKind`].
pub fn string<'a>(file: FileId, node: &'a Node, what: &str) -> Result<&'a str, ShapeError> {
    match &node.value {
        Value::Str(s) => Ok(s),
        _ => Err(expect(file, node, what)),
    }
}

/// The node as a list, or a [`ShapeError::WrongKind`].
pub fn list<'a>(file: FileId, node: &'a Node, what: &str) -> Result<&'a [Node], ShapeError> {
    match &node.value {
        Value::Seq(items) => Ok(items),
        _ => Err(expect(file, node, what)),
    }
}
