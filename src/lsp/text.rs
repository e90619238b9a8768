//! Positions and file names as the protocol sees them.
//!
//! mailgate keeps byte offsets; the protocol speaks of lines and columns counted in UTF-16
//! code units (the default, and the only encoding VS Code supports) or in UTF-8 bytes
//! when the client offers that. [`LineIndex`] converts between the two for one text.
//! Documents are named by `file://` URIs; [`uri_to_path`] and [`path_to_uri`] convert.

use lsp_types::{Position, Range, Uri};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

/// How columns are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// UTF-16 code units (the protocol's default).
    Utf16,
    /// UTF-8 bytes (when the client offers `utf-8`).
    Utf8,
}

/// Line starts of one text, for offset ↔ position conversion.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// The index of `text`: lines end where `mailgate check` ends them (a line feed, or a
    /// carriage return not followed by one, as the protocol says), so a position agrees
    /// with the `line:column` of the same diagnostic on the command line.
    pub(crate) fn new(text: &str) -> Self {
        LineIndex {
            starts: crate::source::line_starts(text),
        }
    }

    /// The protocol position of a byte offset (clamped to the text, and moved back to a
    /// character boundary).
    pub(crate) fn position(&self, text: &str, offset: usize, enc: Encoding) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let before = text.get(start..offset).unwrap_or("");
        let character = match enc {
            Encoding::Utf16 => before.encode_utf16().count(),
            Encoding::Utf8 => before.len(),
        };
        Position {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            character: u32::try_from(character).unwrap_or(u32::MAX),
        }
    }

    /// The protocol range of a byte range.
    pub(crate) fn range(&self, text: &str, range: std::ops::Range<usize>, enc: Encoding) -> Range {
        Range {
            start: self.position(text, range.start, enc),
            end: self.position(text, range.end, enc),
        }
    }

    /// The byte offset of a protocol position. A line past the end is the end of the
    /// text; a column past the end of its line is the end of the line; a column inside a
    /// character (half of a surrogate pair) is the start of that character.
    pub(crate) fn offset(&self, text: &str, pos: Position, enc: Encoding) -> usize {
        let Some(&start) = self.starts.get(pos.line as usize) else {
            return text.len();
        };
        let end = self
            .starts
            .get(pos.line as usize + 1)
            .map_or(text.len(), |&e| e.saturating_sub(1));
        let line = text.get(start..end).unwrap_or("");
        let line = line.strip_suffix('\r').unwrap_or(line);
        let want = pos.character as usize;
        let mut units = 0;
        for (i, c) in line.char_indices() {
            let w = match enc {
                Encoding::Utf16 => c.len_utf16(),
                Encoding::Utf8 => c.len_utf8(),
            };
            if units + w > want {
                return start + i;
            }
            units += w;
        }
        start + line.len()
    }
}

/// Characters escaped in a `file://` URI path: everything but unreserved characters and
/// `/` (and `:` for Windows drive letters).
const PATH_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The local path of a `file://` URI, or `None` for other schemes and remote hosts.
pub(crate) fn uri_to_path(uri: &Uri) -> Option<PathBuf> {
    let s = uri.as_str();
    let rest = s
        .strip_prefix("file://")
        .or_else(|| s.strip_prefix("FILE://"))?;
    let (host, path) = rest.split_at(rest.find('/')?);
    if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let decoded = percent_decode_str(path).decode_utf8().ok()?;
    // `/C:/x` is `C:/x` on Windows.
    let decoded: &str = if cfg!(windows) && decoded.as_bytes().get(2) == Some(&b':') {
        decoded.get(1..).unwrap_or(&decoded)
    } else {
        &decoded
    };
    Some(PathBuf::from(decoded))
}

/// The `file://` URI of a path.
pub(crate) fn path_to_uri(path: &Path) -> Option<Uri> {
    let text = path.to_str()?.replace('\\', "/");
    let slash = if text.starts_with('/') { "" } else { "/" };
    let encoded = utf8_percent_encode(&text, PATH_ESCAPES).to_string();
    Uri::from_str(&format!("file://{slash}{encoded}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_count_surrogate_pairs() {
        // '😀' is 4 bytes and 2 UTF-16 units; 'é' is 2 bytes and 1 unit.
        let text = "# é😀\nlet x = 1\n";
        let idx = LineIndex::new(text);
        let after_emoji = "# é😀".len();
        assert_eq!(
            idx.position(text, after_emoji, Encoding::Utf16),
            Position::new(0, 5)
        );
        assert_eq!(
            idx.position(text, after_emoji, Encoding::Utf8),
            Position::new(0, 8)
        );
        assert_eq!(
            idx.offset(text, Position::new(0, 5), Encoding::Utf16),
            after_emoji
        );
        // Half-way through the surrogate pair: the start of the emoji.
        assert_eq!(
            idx.offset(text, Position::new(0, 4), Encoding::Utf16),
            "# é".len()
        );
        assert_eq!(
            idx.offset(text, Position::new(1, 4), Encoding::Utf16),
            text.find('x').unwrap_or(0)
        );
        // Past the end of a line, past the last line.
        assert_eq!(
            idx.offset(text, Position::new(0, 99), Encoding::Utf16),
            after_emoji
        );
        assert_eq!(
            idx.offset(text, Position::new(9, 0), Encoding::Utf16),
            text.len()
        );
        assert_eq!(
            idx.position(text, 999, Encoding::Utf16),
            Position::new(2, 0)
        );
    }

    #[test]
    fn a_lone_carriage_return_ends_a_line_as_on_the_command_line() {
        let text = "# note\rrule r { allow approve_mailbox }\r\nx";
        let idx = LineIndex::new(text);
        let rule = text.find("rule").unwrap_or(0);
        assert_eq!(
            idx.position(text, rule, Encoding::Utf16),
            Position::new(1, 0)
        );
        let file = crate::source::SourceFile::new("a", text);
        assert_eq!(file.line_col(rule), (2, 1));
        let x = text.len() - 1;
        assert_eq!(idx.position(text, x, Encoding::Utf16), Position::new(2, 0));
        assert_eq!(file.line_col(x), (3, 1));
        assert_eq!(idx.offset(text, Position::new(0, 99), Encoding::Utf16), 6);
    }

    #[test]
    fn file_uris_round_trip() {
        let p = Path::new("/tmp/my policies/a#b.policy");
        let uri = path_to_uri(p);
        assert_eq!(
            uri.as_ref().map(|u| u.as_str()),
            Some("file:///tmp/my%20policies/a%23b.policy")
        );
        assert_eq!(uri.as_ref().and_then(uri_to_path), Some(p.to_path_buf()));
        let remote = Uri::from_str("file://server/x.policy").ok();
        assert_eq!(remote.as_ref().and_then(uri_to_path), None);
        let other = Uri::from_str("untitled:Untitled-1").ok();
        assert_eq!(other.as_ref().and_then(uri_to_path), None);
    }
}
