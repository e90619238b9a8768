//! Reading the export bundle's JSON: Web API responses (`{"value": [...]}`), paged files
//! (a JSON array of such responses), and single objects. Rows are kept as borrowed raw
//! JSON, so every value knows its byte position and every error names the file, line and
//! column. `@odata` and `@OData.Community.Display.V1.FormattedValue` annotations are just
//! other keys: nothing reads them except the lookup type (`lookuplogicalname`).

use super::error::AuditError;
use crate::limits::MAX_BUNDLE_FILE_BYTES;
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Where the bundle's files are.
#[derive(Debug, Clone)]
pub enum BundleSource {
    /// A folder (what the export scripts write).
    Dir(PathBuf),
    /// Files in memory by relative path (tests, fuzzing, embedding).
    Memory(BTreeMap<String, String>),
}

impl BundleSource {
    /// The name a file is shown by.
    pub(crate) fn name(&self, rel: &str) -> String {
        match self {
            BundleSource::Dir(dir) => dir.join(rel).display().to_string(),
            BundleSource::Memory(_) => rel.to_owned(),
        }
    }
}

/// Most keys in one JSON object of the bundle (a row with its annotations has a few
/// dozen).
const MAX_KEYS: usize = 4_096;

/// One file of the bundle, read whole.
#[derive(Debug)]
pub(crate) struct BundleFile {
    /// The path as shown to users.
    pub(crate) name: String,
    text: String,
}

/// A JSON object of a bundle file: its raw text and its keys in order.
#[derive(Debug)]
pub(crate) struct Row<'a> {
    pub(crate) raw: &'a RawValue,
    fields: Vec<(String, &'a RawValue)>,
}

impl<'a> Row<'a> {
    /// The raw value of `key`, if the object has it.
    pub(crate) fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

/// The kind of a raw JSON value, for "expected an integer, found a string".
fn kind(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "a list",
        _ => "a number",
    }
}

impl BundleFile {
    /// Reads `rel` from the bundle: a missing file is an error that names it.
    pub(crate) fn read(src: &BundleSource, rel: &str) -> Result<Self, AuditError> {
        Self::read_optional(src, rel)?.ok_or_else(|| AuditError::File {
            file: src.name(rel),
            message: "file is missing from the bundle".to_owned(),
        })
    }

    /// Reads `rel` from the bundle, or `None` if there is no such file.
    pub(crate) fn read_optional(src: &BundleSource, rel: &str) -> Result<Option<Self>, AuditError> {
        let dir = match src {
            BundleSource::Dir(dir) => dir,
            BundleSource::Memory(files) => {
                return Ok(files.get(rel).map(|text| BundleFile {
                    name: src.name(rel),
                    text: text.strip_prefix('\u{feff}').unwrap_or(text).to_owned(),
                }));
            }
        };
        let path = dir.join(rel);
        let name = path.display().to_string();
        let err = |message: String| AuditError::File {
            file: name.clone(),
            message,
        };
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(format!("cannot read file: {e}"))),
        };
        if !meta.is_file() {
            return Err(err("not a file".to_owned()));
        }
        if meta.len() > MAX_BUNDLE_FILE_BYTES as u64 {
            return Err(err(format!(
                "file is {} bytes, over the limit of {MAX_BUNDLE_FILE_BYTES} bytes for one bundle file (export it in pages)",
                meta.len()
            )));
        }
        let bytes = std::fs::read(&path).map_err(|e| err(format!("cannot read file: {e}")))?;
        // The file may have grown between the two calls: check again.
        if bytes.len() > MAX_BUNDLE_FILE_BYTES {
            return Err(err(format!(
                "file is over the limit of {MAX_BUNDLE_FILE_BYTES} bytes for one bundle file"
            )));
        }
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
                let f = BundleFile { name, text: prefix };
                return Err(f.error_at(valid, "file is not valid UTF-8 (invalid byte here)"));
            }
        };
        // A UTF-8 byte order mark is allowed (Windows PowerShell 5 writes one).
        let text = match text.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_owned(),
            None => text,
        };
        Ok(Some(BundleFile { name, text }))
    }

    /// An error at a byte offset.
    fn error_at(&self, offset: usize, message: impl Into<String>) -> AuditError {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        AuditError::At {
            file: self.name.clone(),
            line,
            column,
            message: message.into(),
        }
    }

    /// An error at a raw value of this file.
    pub(crate) fn error(&self, at: &RawValue, message: impl Into<String>) -> AuditError {
        let offset = (at.get().as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        self.error_at(if offset > self.text.len() { 0 } else { offset }, message)
    }

    fn json_error(&self, e: &serde_json::Error) -> AuditError {
        AuditError::At {
            file: self.name.clone(),
            line: e.line().max(1),
            column: e.column().max(1),
            message: format!("invalid JSON: {}", strip_position(e)),
        }
    }

    /// The whole file as one JSON object (`version.json`, a privileges response).
    pub(crate) fn object(&self) -> Result<Row<'_>, AuditError> {
        let raw: &RawValue = serde_json::from_str(&self.text).map_err(|e| self.json_error(&e))?;
        self.row(raw, "the file")
    }

    /// The rows of a Web API response, or of a JSON array of responses (a paged export),
    /// in order.
    pub(crate) fn rows(&self) -> Result<Vec<Row<'_>>, AuditError> {
        let raw: &RawValue = serde_json::from_str(&self.text).map_err(|e| self.json_error(&e))?;
        let pages = if raw.get().starts_with('[') {
            self.list(raw, "the file")?
        } else {
            vec![raw]
        };
        let mut rows = Vec::new();
        let mut last_link = None;
        for page in pages {
            let page = self.row(page, "a page")?;
            let Some(value) = page.get("value") else {
                return Err(self.error(
                    page.raw,
                    "expected a Web API response with a `value` list (or a list of them)",
                ));
            };
            for r in self.list(value, "`value`")? {
                rows.push(self.row(r, "each row of `value`")?);
            }
            last_link = page.get("@odata.nextLink");
        }
        // The last page still links a next one: pages are missing, and every count made
        // from this file would be silently wrong.
        if let Some(link) = last_link {
            let what = std::path::Path::new(&self.name)
                .file_stem()
                .map(|s| s.to_string_lossy().replace('-', " "))
                .unwrap_or_default();
            return Err(self.error(
                link,
                format!(
                    "the export of {what} is incomplete: a next page is linked but missing (follow `@odata.nextLink` until a page has none)"
                ),
            ));
        }
        Ok(rows)
    }

    /// The value of `column` in `row` if it is a GUID, else an error at it: values that
    /// name files of the bundle (`privileges/<systemuserid>.json`) must never be a path.
    pub(crate) fn guid(&self, row: &Row<'_>, column: &str) -> Result<String, AuditError> {
        let id = self.required_string(row, column)?;
        let is_guid = id.len() == 36
            && id.bytes().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_hexdigit(),
            });
        if is_guid {
            return Ok(id);
        }
        let at = row.get(column).unwrap_or(row.raw);
        Err(self.error(
            at,
            format!(
                "`{column}` must be a GUID (like 6f1c3a9e-0000-0000-0000-000000000001), found {}",
                serde_json::to_string(&id).unwrap_or_default()
            ),
        ))
    }

    /// `raw` as a JSON object.
    pub(crate) fn row<'a>(&'a self, raw: &'a RawValue, what: &str) -> Result<Row<'a>, AuditError> {
        if !raw.get().starts_with('{') {
            return Err(self.error(
                raw,
                format!("expected {what} to be an object, found {}", kind(raw)),
            ));
        }
        let fields: Fields<'a> =
            serde_json::from_str(raw.get()).map_err(|e| self.error(raw, strip_position(&e)))?;
        Ok(Row {
            raw,
            fields: fields.0,
        })
    }

    /// `raw` as a JSON array of raw values.
    pub(crate) fn list<'a>(
        &'a self,
        raw: &'a RawValue,
        what: &str,
    ) -> Result<Vec<&'a RawValue>, AuditError> {
        if !raw.get().starts_with('[') {
            return Err(self.error(
                raw,
                format!("expected {what} to be a list, found {}", kind(raw)),
            ));
        }
        serde_json::from_str(raw.get()).map_err(|e| self.error(raw, strip_position(&e)))
    }

    /// The value of a column the export must have.
    pub(crate) fn column<'a>(
        &self,
        row: &Row<'a>,
        column: &str,
    ) -> Result<&'a RawValue, AuditError> {
        row.get(column).ok_or_else(|| {
            self.error(
                row.raw,
                format!(
                    "missing column `{column}` in this record (add it to the export's `$select`)"
                ),
            )
        })
    }

    /// An integer (an option value), or `None` for null.
    pub(crate) fn int(&self, raw: &RawValue, column: &str) -> Result<Option<i64>, AuditError> {
        match raw.get() {
            "null" => Ok(None),
            s if kind(raw) == "a number" => s.parse::<i64>().map(Some).map_err(|_| {
                self.error(raw, format!("column `{column}` should be an integer option value, found `{s}`"))
            }),
            _ => Err(self.error(
                raw,
                format!("column `{column}` should be an integer option value, found {} (labels are never read)", kind(raw)),
            )),
        }
    }

    /// A boolean, or `None` for null.
    pub(crate) fn bool(&self, raw: &RawValue, column: &str) -> Result<Option<bool>, AuditError> {
        match raw.get() {
            "null" => Ok(None),
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(self.error(
                raw,
                format!(
                    "column `{column}` should be true or false, found {}",
                    kind(raw)
                ),
            )),
        }
    }

    /// A string, or `None` for null.
    pub(crate) fn string(
        &self,
        raw: &RawValue,
        column: &str,
    ) -> Result<Option<String>, AuditError> {
        if raw.get() == "null" {
            return Ok(None);
        }
        if kind(raw) != "a string" {
            return Err(self.error(
                raw,
                format!("column `{column}` should be a string, found {}", kind(raw)),
            ));
        }
        serde_json::from_str(raw.get())
            .map(Some)
            .map_err(|e| self.error(raw, strip_position(&e)))
    }

    /// A string column that must be present and not null.
    pub(crate) fn required_string(
        &self,
        row: &Row<'_>,
        column: &str,
    ) -> Result<String, AuditError> {
        let raw = self.column(row, column)?;
        self.string(raw, column)?
            .ok_or_else(|| self.error(raw, format!("column `{column}` is empty (null)")))
    }

    /// An optional string column: absent or null is `None`.
    pub(crate) fn opt_string(
        &self,
        row: &Row<'_>,
        column: &str,
    ) -> Result<Option<String>, AuditError> {
        match row.get(column) {
            Some(raw) => self.string(raw, column),
            None => Ok(None),
        }
    }
}

/// `serde_json`'s message without its " at line L column C" (the error carries its own
/// position).
fn strip_position(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    msg.find(" at line ")
        .map_or(msg.clone(), |i| msg[..i].to_owned())
}

/// An object's keys and raw values, in order; a duplicate key is an error.
struct Fields<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'a>, A::Error> {
                let mut fields: Vec<(String, &'a RawValue)> = Vec::new();
                // Small objects are checked for duplicates by scanning, large ones by
                // hashing, so a hostile object cannot make this quadratic.
                let mut seen: Option<rustc_hash::FxHashSet<String>> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let value: &'de RawValue = map.next_value()?;
                    if fields.len() >= MAX_KEYS {
                        return Err(de::Error::custom(format!(
                            "an object has more than the limit of {MAX_KEYS} keys"
                        )));
                    }
                    let duplicate = match &mut seen {
                        Some(set) => !set.insert(key.clone()),
                        None if fields.len() < 32 => fields.iter().any(|(k, _)| *k == key),
                        None => {
                            let mut set: rustc_hash::FxHashSet<String> =
                                fields.iter().map(|(k, _)| k.clone()).collect();
                            let dup = !set.insert(key.clone());
                            seen = Some(set);
                            dup
                        }
                    };
                    if duplicate {
                        return Err(de::Error::custom(format!("duplicate key `{key}`")));
                    }
                    fields.push((key, value));
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}
