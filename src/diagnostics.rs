//! Diagnostics: what every layer's errors become before a user sees them.
//!
//! Each layer keeps its own typed error enum (see the `error.rs` files); each of those
//! converts into a [`Diagnostic`], which holds a message, a primary span, optional secondary
//! labels (for example the first definition of a duplicate rule), and a separate `help`
//! line. Only this module renders them, with `annotate-snippets` (the renderer rustc uses),
//! so every error shows `file:line:column`, the source line and a caret under the span.

use crate::source::{SourceMap, Span};
use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The input cannot be used.
    Error,
    /// The input can be used, but something looks wrong.
    Warning,
}

/// A labelled span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say under the caret (may be empty).
    pub text: String,
}

/// One message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The headline: lowercase, no trailing period, user text in backticks.
    pub message: String,
    /// The main place, if the problem has one.
    pub primary: Option<Label>,
    /// Related places.
    pub secondary: Vec<Label>,
    /// Advice, such as a did-you-mean.
    pub help: Option<String>,
    /// The file the problem is in when there is no span (I/O errors).
    pub file: Option<String>,
    /// A code for the kind of problem (the lints' `never-matches`, ...), shown as
    /// `warning[CODE]`.
    pub code: Option<String>,
    /// Notes shown after the source (`= note: ...`).
    pub notes: Vec<String>,
    /// A machine-applicable fix: replace this span with this text (the editor offers it
    /// as a quick fix; `redundant-condition` removes the operand).
    pub fix: Option<(Span, String)>,
}

impl Diagnostic {
    /// An error at a span.
    pub fn error(message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            primary: Some(Label {
                span,
                text: label.into(),
            }),
            secondary: Vec::new(),
            help: None,
            file: None,
            code: None,
            notes: Vec::new(),
            fix: None,
        }
    }

    /// An error about a whole file, with no position (for example, it cannot be read).
    pub fn file_error(message: impl Into<String>, file: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            help: None,
            file: Some(file.into()),
            code: None,
            notes: Vec::new(),
            fix: None,
        }
    }

    /// Turns this into a warning.
    #[must_use]
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// Adds a help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a help line if there is one.
    #[must_use]
    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Adds a secondary label.
    #[must_use]
    pub fn with_label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:column` of the primary span, or the file name alone.
    pub fn location(&self, sources: &SourceMap) -> String {
        match (&self.primary, &self.file) {
            (Some(label), _) => {
                let file = sources.get(label.span.file);
                let (line, col) = file.line_col(label.span.start as usize);
                format!("{}:{line}:{col}", file.name)
            }
            (None, Some(file)) => file.clone(),
            (None, None) => String::new(),
        }
    }

    /// Renders the diagnostic as rustc does: headline, location, source line, caret, help.
    pub fn render(&self, sources: &SourceMap) -> String {
        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let mut title = level.primary_title(self.message.as_str());
        if let Some(code) = &self.code {
            title = title.id(code.as_str());
        }
        let mut group = Group::with_title(title);
        let mut fixes = Vec::new();
        if let Some(label) = &self.primary {
            group = snippet(group, sources, label, AnnotationKind::Primary, &mut fixes);
        } else if let Some(file) = &self.file {
            group = group.element(annotate_snippets::Origin::path(file.as_str()));
        }
        for label in &self.secondary {
            group = snippet(group, sources, label, AnnotationKind::Context, &mut fixes);
        }
        for note in &self.notes {
            group = group.element(Level::NOTE.message(note.as_str()));
        }
        let mut report: Vec<Group<'_>> = vec![group];
        if let Some(help) = &self.help {
            report.push(Group::with_title(
                Level::HELP.secondary_title(help.as_str()),
            ));
        }
        let mut out = Renderer::plain().render(&report);
        // A window of a long line is located by the renderer within the window: put the
        // real column back.
        for (shown, real) in fixes {
            out = out.replacen(&shown, &real, 1);
        }
        out
    }
}

/// Source shown around a span on a long line: this many bytes either side of it.
const WINDOW_CONTEXT: usize = 80;

/// Longest part of a span that is underlined; a longer span is underlined from its start.
const WINDOW_SPAN: usize = 240;

/// Adds the source of `label` to `group`: the lines the span covers, or, when those are
/// longer than a window, only a window around the span's start, so that rendering a
/// diagnostic costs the size of its window, not of its line (a 1.7 MB line with 100,000
/// errors on it would otherwise cost each error the whole line). For a window, `fixes`
/// gets the location the renderer will print and the real `file:line:column`.
fn snippet<'a>(
    group: Group<'a>,
    sources: &'a SourceMap,
    label: &'a Label,
    kind: AnnotationKind,
    fixes: &mut Vec<(String, String)>,
) -> Group<'a> {
    let file = sources.get(label.span.file);
    let text = file.text.as_str();
    let bytes = text.as_bytes();
    let mut range = label.span.range();
    range.end = range.end.min(text.len());
    range.start = range.start.min(range.end);
    // Hand the renderer only the lines the span covers: it scans all the source it is
    // given, so giving it the whole file made N diagnostics in one file cost O(N × size).
    // A span at the very end, after a final newline, is shown at the end of the last line.
    let anchor = if range.start == text.len() && text.ends_with('\n') {
        range.start - 1
    } else {
        range.start
    };
    // The search for the line's ends is bounded too, so a long line costs nothing here.
    let reach = 2 * WINDOW_CONTEXT + WINDOW_SPAN;
    let first = bytes[anchor.saturating_sub(reach)..anchor]
        .iter()
        .rposition(|&b| b == b'\n')
        .map(|i| anchor.saturating_sub(reach) + i + 1);
    let last = bytes[range.end..(range.end + reach).min(text.len())]
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| range.end + i + 1)
        .or((range.end + reach >= text.len()).then_some(text.len()));
    let first = first.or((anchor <= reach).then_some(0));
    if let (Some(first), Some(last)) = (first, last) {
        return group.element(
            Snippet::source(text.get(first..last).unwrap_or(""))
                .line_start(file.line(first))
                .path(file.name.as_str())
                .fold(true)
                .annotation(
                    kind.span(range.start - first..range.end - first)
                        .label(label.text.as_str()),
                ),
        );
    }
    // A long line: a window around the start of the span, on character boundaries and
    // within its line, with the location given separately.
    let floor = |mut i: usize| {
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let line_start = |i: usize| {
        bytes[i.saturating_sub(WINDOW_CONTEXT)..i]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(i.saturating_sub(WINDOW_CONTEXT), |p| {
                i.saturating_sub(WINDOW_CONTEXT) + p + 1
            })
    };
    let start = floor(line_start(range.start));
    let span_end = floor(range.end.min(range.start + WINDOW_SPAN)).max(range.start);
    let after = (span_end + WINDOW_CONTEXT).min(text.len());
    let end = floor(
        bytes[span_end..after]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(after, |p| span_end + p),
    );
    let (line, column) = file.line_col(range.start);
    let shown = text
        .get(start..range.start)
        .map_or(0, |t| t.chars().count())
        + 1;
    let name = &file.name;
    fixes.push((
        format!("{name}:{line}:{shown}\n"),
        format!("{name}:{line}:{column}\n"),
    ));
    group.element(
        Snippet::source(text.get(start..end).unwrap_or(""))
            .line_start(line)
            .path(name.as_str())
            .fold(true)
            .annotation(
                kind.span(range.start - start..span_end - start)
                    .label(label.text.as_str()),
            ),
    )
}

/// Renders many diagnostics, separated by blank lines.
pub fn render_all(diags: &[Diagnostic], sources: &SourceMap) -> String {
    render_limited(diags, sources, usize::MAX)
}

/// How many errors the command line prints before it only counts the rest.
pub const DEFAULT_MAX_ERRORS: usize = 100;

/// Renders diagnostics until `max_errors` errors have been rendered, then one line for the
/// rest: `… and N more errors` (warnings after that point are counted in words too).
pub fn render_limited(diags: &[Diagnostic], sources: &SourceMap, max_errors: usize) -> String {
    let mut out = String::new();
    let mut errors = 0;
    let mut rest = diags.iter();
    for d in rest.by_ref() {
        if d.is_error() {
            if errors == max_errors {
                let (more_errors, more_warnings) =
                    rest.fold(
                        (1, 0),
                        |(e, w), d| {
                            if d.is_error() { (e + 1, w) } else { (e, w + 1) }
                        },
                    );
                let plural = |n: usize, what: &str| {
                    format!("{n} more {what}{}", if n == 1 { "" } else { "s" })
                };
                out.push_str("… and ");
                out.push_str(&plural(more_errors, "error"));
                if more_warnings > 0 {
                    out.push_str(" and ");
                    out.push_str(&plural(more_warnings, "warning"));
                }
                out.push_str("\n\n");
                break;
            }
            errors += 1;
        }
        out.push_str(&d.render(sources));
        out.push_str("\n\n");
    }
    out
}

/// The indefinite article for a name, written before it: "an" before a vowel (an
/// `approval_status`), "a" otherwise (a `bool`).
pub fn a(name: &str) -> &'static str {
    match name.trim_start_matches(['`', '"']).chars().next() {
        Some(c) if "aeiouAEIOU".contains(c) => "an",
        _ => "a",
    }
}

/// The closest candidate to `name`, if one is close enough to be a likely typo (of the
/// first [`MAX_SUGGESTION_CANDIDATES`](crate::limits::MAX_SUGGESTION_CANDIDATES); among
/// equally close ones, the one that sorts first).
///
/// Case differences count as near-misses, so `system administrator` suggests
/// `System Administrator`.
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    use crate::limits::{MAX_SUGGESTION_CANDIDATES, MAX_SUGGESTION_NAME_CHARS};
    // Each suggestion costs a bounded amount of work, so a file with many unknown names
    // stays linear in its size: long names get no suggestion, only the first candidates
    // are compared, and a candidate whose length alone rules it out is skipped.
    let len = name.chars().count();
    if len > MAX_SUGGESTION_NAME_CHARS {
        return None;
    }
    let lower = name.to_lowercase();
    let name_bag = Bag::of(&lower);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates.into_iter().take(MAX_SUGGESTION_CANDIDATES) {
        let c_len = c.chars().count();
        let limit = (len.max(c_len) / 3).max(1);
        if len.abs_diff(c_len) > limit || name_bag.distance(&Bag::of(c)) > limit {
            continue;
        }
        // Optimal string alignment: edits and adjacent swaps, without the per-call hash map
        // of the unrestricted Damerau-Levenshtein distance (a typo is rarely more).
        let d = strsim::osa_distance(&lower, &c.to_lowercase());
        // Ties go to the name that sorts first, so a suggestion never depends on the
        // order the caller's map happens to iterate in.
        if d <= limit && best.is_none_or(|(bd, bc)| (d, c) < (bd, bc)) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

/// The letters of a name, lower-cased and counted in 32 buckets: a cheap lower bound on
/// the edit distance between two names, so most candidates are ruled out without one.
///
/// Each insertion, deletion or substitution changes the difference between two bags by at
/// most one, and a swap of neighbours not at all; sharing buckets only hides differences.
/// So [`Bag::distance`] never exceeds the optimal-string-alignment distance.
struct Bag([i32; 32]);

impl Bag {
    fn of(s: &str) -> Self {
        let mut counts = [0; 32];
        for c in s.chars().flat_map(char::to_lowercase) {
            counts[c as usize % 32] += 1;
        }
        Bag(counts)
    }

    /// The larger of what `self` has that `other` lacks, and the reverse.
    fn distance(&self, other: &Bag) -> usize {
        let (mut more, mut fewer) = (0, 0);
        for (a, b) in self.0.iter().zip(&other.0) {
            let d = a - b;
            if d > 0 {
                more += d;
            } else {
                fewer -= d;
            }
        }
        usize::try_from(more.max(fewer)).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bag_distance_never_exceeds_the_edit_distance() {
        let names = [
            "approve_mailbox",
            "aprove_mailbox",
            "approve_mialbox",
            "System Administrator",
            "system administrator",
            "Sytem Administrator",
            "l123",
            "m123",
            "l4567",
            "",
            "a",
            "ü",
            "Ü",
            "ab",
            "ba",
            "Delegated Mailbox Approver",
            "exchange_online",
        ];
        for a in names {
            for b in names {
                let (la, lb) = (a.to_lowercase(), b.to_lowercase());
                assert!(
                    Bag::of(a).distance(&Bag::of(b)) <= strsim::osa_distance(&la, &lb),
                    "{a} / {b}"
                );
            }
        }
    }

    #[test]
    fn a_tie_goes_to_the_name_that_sorts_first_in_any_order() {
        for names in [
            ["l2", "l3", "l1x"],
            ["l3", "l1x", "l2"],
            ["l1x", "l3", "l2"],
        ] {
            assert_eq!(
                did_you_mean("l1", names).as_deref(),
                Some("did you mean `l1x`?"),
                "{names:?}"
            );
        }
    }

    #[test]
    fn suggests_close_names_only() {
        let roles = ["System Administrator", "Basic User"];
        assert_eq!(
            did_you_mean("Sytem Administrator", roles).as_deref(),
            Some("did you mean `System Administrator`?")
        );
        assert_eq!(
            did_you_mean("system administrator", roles).as_deref(),
            Some("did you mean `System Administrator`?")
        );
        assert_eq!(did_you_mean("Salesperson", roles), None);
    }
}
