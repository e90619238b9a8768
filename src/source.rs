//! Source text and positions.
//!
//! Every file mailgate reads (schema, policies, scenarios) is kept whole in a
//! [`SourceMap`] so that any later stage can point back into it. Positions are stored as
//! byte ranges ([`Span`]) tagged with the file they belong to; line and column are computed
//! only when a diagnostic is rendered.

use std::fmt;

/// Identifies one file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// The file the range belongs to.
    pub file: FileId,
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// A span of `start..end` in `file`.
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        // INVARIANT: files are limited to far less than 4 GiB before they are stored
        // (see `limits::MAX_FILE_BYTES`), so offsets fit in u32.
        Span {
            file,
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    /// The smallest span covering both `self` and `other` (same file).
    #[must_use]
    pub fn join(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// The byte range as `usize`s.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// One file's name and full text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown to users, usually the path as given.
    pub name: String,
    /// The full text.
    pub text: String,
    /// Byte offsets at which each line starts.
    line_starts: Vec<usize>,
    /// How many characters start before each multiple of [`CHECKPOINT`] bytes, so that a
    /// column costs at most [`CHECKPOINT`] bytes of counting however long its line is.
    chars_before: Vec<usize>,
}

/// The distance, in bytes, between the character counts kept for columns.
const CHECKPOINT: usize = 1024;

/// Whether a byte starts a character (is not a UTF-8 continuation byte).
fn starts_char(b: u8) -> bool {
    b & 0xC0 != 0x80
}

/// Byte offsets at which the lines of `text` start. A line ends at a line feed, and at a
/// carriage return not followed by one (as editors and terminals show it; policy text
/// refuses such a lone carriage return, and this way its error points where it is seen).
pub fn line_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = vec![0];
    starts.extend(
        memchr::memchr2_iter(b'\n', b'\r', bytes)
            .filter(|&i| bytes[i] == b'\n' || bytes.get(i + 1) != Some(&b'\n'))
            .map(|i| i + 1),
    );
    starts
}

impl SourceFile {
    /// A file with the given display name and text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = line_starts(&text);
        let mut chars_before = Vec::with_capacity(text.len() / CHECKPOINT + 1);
        let mut count = 0;
        for chunk in text.as_bytes().chunks(CHECKPOINT) {
            chars_before.push(count);
            count += chunk.iter().filter(|&&b| starts_char(b)).count();
        }
        chars_before.push(count);
        SourceFile {
            name: name.into(),
            text,
            line_starts,
            chars_before,
        }
    }

    /// How many characters start before byte `offset` (at most [`CHECKPOINT`] bytes of
    /// counting).
    fn chars_to(&self, offset: usize) -> usize {
        let k = offset / CHECKPOINT;
        let base = self.chars_before.get(k).copied().unwrap_or(0);
        let from = (k * CHECKPOINT).min(self.text.len());
        let to = offset.min(self.text.len());
        base + self.text.as_bytes()[from..to]
            .iter()
            .filter(|&&b| starts_char(b))
            .count()
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0).min(offset);
        let col = self.chars_to(offset) - self.chars_to(start);
        (line + 1, col + 1)
    }

    /// 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        self.line_col(offset).0
    }

    /// The source text of a span, or `""` if it is out of range.
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }
}

/// All files of one run, addressed by [`FileId`].
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        SourceMap::default()
    }

    /// Stores a file and returns its id.
    pub fn add(&mut self, file: SourceFile) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push(file);
        id
    }

    /// The file with this id.
    ///
    /// Ids only come from [`SourceMap::add`] on the same map; an unknown id yields an
    /// empty placeholder rather than a panic.
    pub fn get(&self, id: FileId) -> &SourceFile {
        static EMPTY: std::sync::OnceLock<SourceFile> = std::sync::OnceLock::new();
        self.files
            .get(id.0 as usize)
            .unwrap_or_else(|| EMPTY.get_or_init(|| SourceFile::new("<unknown>", "")))
    }

    /// Every file with its id, in the order they were added.
    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(u32::try_from(i).unwrap_or(u32::MAX)), f))
    }

    /// The text of a span.
    pub fn slice(&self, span: Span) -> &str {
        self.get(span.file).slice(span)
    }

    /// `file:line` of a span, as shown in decisions.
    pub fn location(&self, span: Span) -> Location<'_> {
        let file = self.get(span.file);
        let (line, column) = file.line_col(span.start as usize);
        Location {
            file: &file.name,
            line,
            column,
        }
    }
}

/// A rendered position: file name, 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location<'a> {
    /// The file's display name.
    pub file: &'a str,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let f = SourceFile::new("a", "ab\ncé d\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        // 'é' is two bytes: the space after it is column 3.
        assert_eq!(f.line_col(6), (2, 3));
        assert_eq!(f.line_col(999), (3, 1));
    }

    #[test]
    fn columns_on_a_long_line_count_characters_past_every_checkpoint() {
        let text = format!("{}é{}x", "a".repeat(3000), "b".repeat(3000));
        let f = SourceFile::new("a", text.clone());
        let x = text.len() - 1;
        assert_eq!(f.line_col(x), (1, text.chars().count()));
        assert_eq!(f.line_col(3002), (1, 3002));
    }

    #[test]
    fn a_lone_carriage_return_ends_a_line_and_crlf_is_one_break() {
        let f = SourceFile::new("a", "a\rb\r\nc\nd");
        assert_eq!(f.line_col(2), (2, 1));
        assert_eq!(f.line_col(5), (3, 1));
        assert_eq!(f.line_col(7), (4, 1));
    }
}
