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
        if let Some(label) = &self.primary {
            group = group.element(snippet(sources, label, AnnotationKind::Primary));
        } else if let Some(file) = &self.file {
            group = group.element(annotate_snippets::Origin::path(file.as_str()));
        }
        for label in &self.secondary {
            group = group.element(snippet(sources, label, AnnotationKind::Context));
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
        Renderer::plain().render(&report)
    }
}

fn snippet<'a>(
    sources: &'a SourceMap,
    label: &'a Label,
    kind: AnnotationKind,
) -> Snippet<'a, annotate_snippets::Annotation<'a>> {
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
    let first = bytes[..anchor]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let last = bytes[range.end..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| range.end + i + 1);
    Snippet::source(text.get(first..last).unwrap_or(""))
        .line_start(file.line(first))
        .path(file.name.as_str())
        .fold(true)
        .annotation(
            kind.span(range.start - first..range.end - first)
                .label(label.text.as_str()),
        )
}

/// Renders many diagnostics, separated by blank lines, followed by a count line
/// (`error: 3 errors in 2 files`) when there are errors.
pub fn render_all(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let mut out = String::new();
    for d in diags {
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

/// The closest candidate to `name`, if one is close enough to be a likely typo.
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
    let mut best: Option<(usize, &str)> = None;
    for c in candidates.into_iter().take(MAX_SUGGESTION_CANDIDATES) {
        let c_len = c.chars().count();
        let limit = (len.max(c_len) / 3).max(1);
        if len.abs_diff(c_len) > limit {
            continue;
        }
        let d = strsim::damerau_levenshtein(&lower, &c.to_lowercase());
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
