//! The printer: the concrete tree and its comments → formatted text.
//!
//! One fixed style. Each construct is printed on one line when it fits in [`WIDTH`]
//! columns and holds no comment; otherwise it breaks in one way only:
//!
//! - an `and`/`or` chain puts each further operand on its own line, the operator first and
//!   right-aligned so that the operands line up (the column after `  when `);
//! - a list puts each item on its own line with a trailing comma.
//!
//! A comment forces a line break where it is: own-line comments stay on their own line
//! before their token, trailing comments stay at the end of their token's line.

use super::trivia::{Comment, Trivia};
use crate::source::Span;
use crate::syntax::concrete::{Clause, ClauseBody, ConcreteExpr, ConcreteFile, ConcreteItem};

/// The line width the printer aims for. Strings are never split, so a line can be longer.
pub(crate) const WIDTH: usize = 100;

/// Indentation of the clauses of a `rule { ... }`.
const CLAUSE_INDENT: usize = 2;

/// The operand column of a top-level condition: just after `  when `. Further operands of a
/// broken top-level chain start here, in rules and `let`s alike.
const TOP_COLUMN: usize = 7;

/// Extra indentation of a chain nested in another without parentheses, and of a line
/// broken only because of a comment.
const NEST: usize = 4;

/// An expression with its flat width measured once.
struct Node<'t> {
    kind: Kind<'t>,
    /// Its width on one line, or `None` when it holds a comment and so cannot be flat.
    flat: Option<usize>,
    first: Span,
    last: Span,
}

enum Kind<'t> {
    Chain {
        and: bool,
        operands: Vec<Node<'t>>,
        ops: &'t [Span],
    },
    Not {
        op: Span,
        operand: Box<Node<'t>>,
    },
    Compare {
        op: &'static str,
        lhs: Box<Node<'t>>,
        rhs: Box<Node<'t>>,
        op_span: Span,
    },
    Paren {
        open: Span,
        inner: Box<Node<'t>>,
        close: Span,
    },
    List {
        open: Span,
        items: &'t [Span],
        commas: &'t [Span],
        close: Span,
    },
    Atom(Span),
}

/// Prints a whole file.
pub(crate) fn print(text: &str, tree: &ConcreteFile, trivia: &Trivia<'_>) -> String {
    let mut p = Printer {
        text,
        trivia,
        out: String::with_capacity(text.len() + text.len() / 8),
        col: 0,
        line_start: true,
        pending_newline: false,
        after_open: false,
        leading_done: None,
        cont: NEST,
    };
    for (i, item) in tree.items.iter().enumerate() {
        if i > 0 {
            p.newline(0);
        }
        p.item(item);
    }
    p.pending_newline = false;
    for c in &trivia.eof {
        if !p.out.is_empty() {
            p.newline(0);
        }
        p.comment(c);
    }
    let trimmed = p.out.trim_end().len();
    p.out.truncate(trimmed);
    if !p.out.is_empty() {
        p.out.push('\n');
    }
    p.out
}

struct Printer<'s, 't> {
    text: &'s str,
    trivia: &'t Trivia<'s>,
    out: String,
    /// The current column, in characters.
    col: usize,
    /// Nothing but indentation has been written on the current line.
    line_start: bool,
    /// A trailing comment ended the line: the next token starts a new one.
    pending_newline: bool,
    /// The last thing written opens a block, a parenthesis or a list.
    after_open: bool,
    /// The token whose leading comments were already written.
    leading_done: Option<u32>,
    /// Where a line broken only because of a comment continues.
    cont: usize,
}

fn width(s: &str) -> usize {
    s.chars().count()
}

impl<'s> Printer<'s, '_> {
    fn src(&self, span: Span) -> &'s str {
        self.text.get(span.range()).unwrap_or("")
    }

    /// A token's text as printed: strings exactly as written; in anything else (the
    /// keywords of several words, such as `allow only when`) each run of whitespace becomes
    /// one space.
    fn token_text(&self, span: Span) -> std::borrow::Cow<'s, str> {
        let text = self.src(span);
        if text.starts_with('"') || !text.contains(char::is_whitespace) {
            return text.into();
        }
        text.split_whitespace().collect::<Vec<_>>().join(" ").into()
    }

    /// Ends the line and indents the next one.
    fn newline(&mut self, indent: usize) {
        let trimmed = self.out.trim_end_matches(' ').len();
        self.out.truncate(trimmed);
        self.out.push('\n');
        self.out.extend(std::iter::repeat_n(' ', indent));
        self.col = indent;
        self.line_start = true;
        self.pending_newline = false;
    }

    /// Puts an empty line before the current (still empty) line, unless the line before
    /// opens a block or there is one already or this is the start of the file.
    fn blank_line(&mut self) {
        let before = self.out.trim_end_matches(' ');
        let indent = self.out.len() - before.len();
        let body = before.trim_end_matches('\n');
        if body.is_empty() || before.ends_with("\n\n") || self.after_open {
            return;
        }
        self.out.truncate(before.len());
        self.out.push('\n');
        self.out.extend(std::iter::repeat_n(' ', indent));
    }

    fn write(&mut self, s: &str) {
        self.after_open = matches!(s, "{" | "(" | "[");
        self.out.push_str(s);
        self.col += width(s);
        self.line_start = false;
    }

    fn space(&mut self) {
        if !self.line_start && !self.pending_newline {
            self.write(" ");
        }
    }

    fn comment(&mut self, c: &Comment<'_>) {
        if c.blank_before {
            self.blank_line();
        }
        self.write(c.text);
    }

    /// Writes the leading comments of `span`, each on its own line at `indent`, and leaves
    /// the cursor at the start of a line indented by `after`.
    fn leading(&mut self, span: Span, indent: usize, after: usize) {
        let Some(t) = self.trivia.get(span) else {
            return;
        };
        if self.leading_done == Some(span.start) {
            return;
        }
        self.leading_done = Some(span.start);
        if self.pending_newline || !self.line_start {
            self.newline(indent);
        } else if self.col != indent {
            self.newline_in_place(indent);
        }
        for c in &t.leading {
            self.comment(c);
            self.newline(indent);
        }
        if t.blank_before {
            self.blank_line();
        }
        if after != indent {
            self.newline_in_place(after);
        }
    }

    /// Re-indents the current, empty line.
    fn newline_in_place(&mut self, indent: usize) {
        let trimmed = self.out.trim_end_matches(' ').len();
        self.out.truncate(trimmed);
        self.out.extend(std::iter::repeat_n(' ', indent));
        self.col = indent;
    }

    /// Writes a token as `text`, with its comments. `blank` keeps a blank line written
    /// before it (item and clause starts).
    fn tok_as(&mut self, span: Span, text: &str, blank: bool) {
        self.before_token(span, blank);
        self.write(text);
        self.trailing(span);
    }

    /// What comes before a token: its leading comments (on their own lines), the line break
    /// a trailing comment before it needs, and a blank line if `blank` and one was written.
    fn before_token(&mut self, span: Span, blank: bool) {
        let trivia = self.trivia;
        let t = trivia.get(span);
        if t.is_some_and(|t| !t.leading.is_empty()) && self.leading_done != Some(span.start) {
            let indent = if self.line_start && !self.pending_newline {
                self.col
            } else {
                self.cont
            };
            self.leading(span, indent, indent);
        } else {
            if self.pending_newline {
                self.newline(self.cont);
            }
            if blank && self.line_start && t.is_some_and(|t| t.blank_before) {
                self.blank_line();
            }
        }
    }

    fn trailing(&mut self, span: Span) {
        let trivia = self.trivia;
        if let Some(c) = trivia.get(span).and_then(|t| t.trailing.as_ref()) {
            self.write(" ");
            self.write(c.text);
            self.pending_newline = true;
        }
    }

    fn tok(&mut self, span: Span) {
        let text = self.token_text(span);
        self.tok_as(span, &text, false);
    }

    fn item(&mut self, item: &ConcreteItem) {
        self.cont = NEST;
        match item {
            ConcreteItem::Let { head, body } => {
                for (i, &t) in head.iter().enumerate() {
                    if i == 0 {
                        let text = self.token_text(t);
                        self.tok_as(t, &text, true);
                    } else {
                        self.space();
                        self.tok(t);
                    }
                }
                self.let_body(body);
            }
            ConcreteItem::Block {
                head,
                open,
                clauses,
                close,
            } => {
                for (i, &t) in head.iter().enumerate() {
                    if i == 0 {
                        let text = self.token_text(t);
                        self.tok_as(t, &text, true);
                    } else {
                        self.space();
                        self.tok(t);
                    }
                }
                self.space();
                self.tok(*open);
                for clause in clauses {
                    self.newline(CLAUSE_INDENT);
                    self.clause(clause);
                }
                self.newline(0);
                if self.trivia.has_leading(*close) {
                    self.leading(*close, CLAUSE_INDENT, 0);
                }
                self.cont = NEST;
                let text = self.src(*close);
                self.tok_as(*close, text, false);
            }
        }
    }

    fn clause(&mut self, clause: &Clause) {
        self.cont = CLAUSE_INDENT + NEST;
        for (i, &t) in clause.head.iter().enumerate() {
            if i == 0 {
                let text = self.token_text(t);
                self.tok_as(t, &text, true);
            } else {
                self.space();
                self.tok(t);
            }
        }
        match &clause.body {
            ClauseBody::Names(names, commas) => {
                self.space();
                for (i, &n) in names.iter().enumerate() {
                    self.tok(n);
                    if let Some(&c) = commas.get(i) {
                        self.tok(c);
                        self.space();
                    }
                }
            }
            // The operands of a broken condition continue at the column after `  when `,
            // whatever the clause's keywords (`allow only when` too), to keep lines short.
            ClauseBody::Expr(e) => self.body(e, TOP_COLUMN),
            ClauseBody::Token(t) => {
                self.space();
                self.tok(*t);
            }
        }
    }

    /// The value of a `let` or the condition of a clause, after its keyword.
    fn body(&mut self, e: &ConcreteExpr, base: usize) {
        let node = self.measure(e);
        self.cont = base;
        self.space();
        self.expr(&node, base, 0);
    }

    /// The value of a `let`. When it does not fit on the `let` line, a list breaks there
    /// (its items indented under `let`); a chain keeps its first operand on the line if that
    /// fits, or else starts on the next line at the operand column; anything else moves to
    /// the next line, indented by [`NEST`], if it fits there.
    fn let_body(&mut self, e: &ConcreteExpr) {
        let node = self.measure(e);
        let chain = matches!(node.kind, Kind::Chain { .. });
        let column = if chain { TOP_COLUMN } else { NEST };
        self.cont = column;
        self.space();
        if self.fits(&node, 0).is_some() {
            self.expr(&node, column, 0);
            return;
        }
        let stays = match &node.kind {
            Kind::List { .. } => {
                self.expr(&node, 0, 0);
                return;
            }
            Kind::Chain { operands, .. } => {
                operands.first().is_some_and(|o| self.fits(o, 0).is_some())
            }
            // A value that does not fit on the next line either breaks here, inside.
            _ => node.flat.is_none_or(|w| column + w > WIDTH),
        };
        if stays && !chain {
            self.expr(&node, 0, 0);
            return;
        }
        if !stays && !self.pending_newline {
            self.newline(column);
        }
        self.expr(&node, column, 0);
    }

    /// Measures an expression bottom-up: each node's flat width is computed once.
    fn measure<'t>(&self, e: &'t ConcreteExpr) -> Node<'t> {
        let tr = self.trivia;
        // A comment inside a node (not before its first token or after its last) keeps it
        // from being printed flat.
        let inner_ok = |first: &[Span], last: &[Span]| {
            first.iter().all(|&s| !tr.has_leading(s)) && last.iter().all(|&s| !tr.has_trailing(s))
        };
        match e {
            ConcreteExpr::Atom(s) => Node {
                kind: Kind::Atom(*s),
                flat: Some(width(self.src(*s))),
                first: *s,
                last: *s,
            },
            ConcreteExpr::List {
                open,
                items,
                commas,
                close,
            } => {
                let mut firsts: Vec<Span> = items
                    .iter()
                    .copied()
                    .chain(commas.iter().copied())
                    .collect();
                firsts.push(*close);
                let mut lasts: Vec<Span> = items
                    .iter()
                    .copied()
                    .chain(commas.iter().copied())
                    .collect();
                lasts.push(*open);
                let flat = inner_ok(&firsts, &lasts).then(|| {
                    2 + items.iter().map(|&s| width(self.src(s))).sum::<usize>()
                        + 2 * items.len().saturating_sub(1)
                });
                Node {
                    kind: Kind::List {
                        open: *open,
                        items,
                        commas,
                        close: *close,
                    },
                    flat,
                    first: *open,
                    last: *close,
                }
            }
            ConcreteExpr::Paren { open, inner, close } => {
                let inner = self.measure(inner);
                let flat = inner
                    .flat
                    .filter(|_| inner_ok(&[inner.first, *close], &[*open, inner.last]))
                    .map(|w| w + 2);
                Node {
                    flat,
                    first: *open,
                    last: *close,
                    kind: Kind::Paren {
                        open: *open,
                        inner: Box::new(inner),
                        close: *close,
                    },
                }
            }
            ConcreteExpr::Not { op, operand } => {
                let operand = self.measure(operand);
                let flat = operand
                    .flat
                    .filter(|_| inner_ok(&[operand.first], &[*op]))
                    .map(|w| w + 4);
                Node {
                    flat,
                    first: *op,
                    last: operand.last,
                    kind: Kind::Not {
                        op: *op,
                        operand: Box::new(operand),
                    },
                }
            }
            ConcreteExpr::Compare {
                op,
                op_span,
                lhs,
                rhs,
            } => {
                let (lhs, rhs) = (self.measure(lhs), self.measure(rhs));
                let op = op.as_str();
                let flat = match (lhs.flat, rhs.flat) {
                    (Some(l), Some(r))
                        if inner_ok(&[*op_span, rhs.first], &[lhs.last, *op_span]) =>
                    {
                        Some(l + r + width(op) + 2)
                    }
                    _ => None,
                };
                Node {
                    flat,
                    first: lhs.first,
                    last: rhs.last,
                    kind: Kind::Compare {
                        op,
                        op_span: *op_span,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                }
            }
            ConcreteExpr::Chain { and, operands, ops } => {
                let operands: Vec<Node<'t>> = operands.iter().map(|o| self.measure(o)).collect();
                let op_width = if *and { 3 } else { 2 };
                let mut flat = Some(op_width * ops.len() + 2 * ops.len());
                for (i, o) in operands.iter().enumerate() {
                    let ok = (i == 0 || !tr.has_leading(o.first))
                        && (i + 1 == operands.len() || !tr.has_trailing(o.last));
                    flat = match (flat, o.flat) {
                        (Some(f), Some(w)) if ok => Some(f + w),
                        _ => None,
                    };
                }
                if !inner_ok(ops, ops) {
                    flat = None;
                }
                let first = operands.first().map_or(Span::default(), |o| o.first);
                let last = operands.last().map_or(Span::default(), |o| o.last);
                Node {
                    kind: Kind::Chain {
                        and: *and,
                        operands,
                        ops,
                    },
                    flat,
                    first,
                    last,
                }
            }
        }
    }

    /// Whether `n` fits flat from the cursor, with `suffix` more columns after it.
    fn fits(&self, n: &Node<'_>, suffix: usize) -> Option<usize> {
        n.flat
            .filter(|w| self.col + w + suffix <= WIDTH && !self.pending_newline)
    }

    /// Prints `n`. `base` is the operand column of the chain it belongs to; `suffix` is the
    /// width of what follows it on its line (closing parentheses). A comment before its
    /// first token breaks the line to `self.cont`, set by the caller; a comment inside it
    /// breaks to `base + NEST`.
    fn expr(&mut self, n: &Node<'_>, base: usize, suffix: usize) {
        let inner = base + NEST;
        match &n.kind {
            Kind::Atom(s) => self.tok(*s),
            Kind::Chain { and, operands, ops } => {
                let op_text = if *and { "and" } else { "or" };
                let broken = self.fits(n, suffix).is_none();
                let last = operands.len().saturating_sub(1);
                for (i, o) in operands.iter().enumerate() {
                    if i > 0
                        && let Some(&op) = ops.get(i - 1)
                    {
                        self.cont = base;
                        if broken {
                            self.newline(base.saturating_sub(op_text.len() + 1));
                            self.tok_as(op, op_text, true);
                            self.write_space_to(base);
                        } else {
                            self.space();
                            self.tok_as(op, op_text, false);
                            self.space();
                        }
                    }
                    self.cont = base;
                    let o_suffix = if i == last { suffix } else { 0 };
                    if matches!(o.kind, Kind::Chain { .. }) {
                        self.expr(o, inner, o_suffix);
                    } else {
                        self.expr(o, base, o_suffix);
                    }
                }
            }
            Kind::Not { op, operand } => {
                self.tok(*op);
                self.cont = inner;
                self.space();
                self.expr(operand, base, suffix);
            }
            Kind::Compare {
                op,
                op_span,
                lhs,
                rhs,
            } => {
                let lhs_suffix = width(op) + 2 + rhs.flat.unwrap_or(0) + suffix;
                self.expr(lhs, base, lhs_suffix);
                self.cont = inner;
                self.space();
                self.tok_as(*op_span, op, false);
                self.space();
                self.cont = inner;
                self.expr(rhs, base, suffix);
            }
            Kind::Paren {
                open,
                inner: body,
                close,
            } => {
                self.tok(*open);
                let body_base = if self.pending_newline {
                    inner.max(TOP_COLUMN)
                } else {
                    self.col
                };
                self.cont = body_base;
                // A chain inside parentheses continues one step in from the `(`: its
                // operators start under the first operand.
                let body_base = if matches!(body.kind, Kind::Chain { .. }) {
                    body_base + NEST
                } else {
                    body_base.max(NEST)
                };
                self.expr(body, body_base, suffix + 1);
                self.cont = inner;
                self.tok(*close);
            }
            Kind::List {
                open,
                items,
                commas,
                close,
            } => {
                if self.fits(n, suffix).is_some() {
                    self.tok(*open);
                    for (i, &item) in items.iter().enumerate() {
                        if i > 0 {
                            self.write(", ");
                        }
                        self.tok(item);
                    }
                    // A trailing comma (it holds no comment, or the list would not be flat)
                    // is dropped.
                    self.tok_trivia_only(commas.get(items.len()).copied());
                    self.tok(*close);
                } else {
                    self.tok(*open);
                    for (i, &item) in items.iter().enumerate() {
                        self.newline(base + 2);
                        self.cont = base + 2 + NEST;
                        let text = self.src(item);
                        self.tok_no_trailing(item, text);
                        match commas.get(i) {
                            Some(&c) => {
                                self.trailing(item);
                                self.tok(c);
                            }
                            None => {
                                self.write(",");
                                self.trailing(item);
                            }
                        }
                    }
                    self.newline(base);
                    if self.trivia.has_leading(*close) {
                        self.leading(*close, base + 2, base);
                    }
                    self.cont = inner;
                    self.tok(*close);
                }
            }
        }
    }

    /// Pads with spaces to `column` (at least one space).
    fn write_space_to(&mut self, column: usize) {
        if self.pending_newline {
            return;
        }
        let n = column.saturating_sub(self.col).max(1);
        self.write(&" ".repeat(n));
    }

    /// A token that is not printed (a trailing comma of a flat list): it never has comments
    /// here, but any it had would be kept.
    fn tok_trivia_only(&mut self, span: Option<Span>) {
        if let Some(s) = span
            && (self.trivia.has_leading(s) || self.trivia.has_trailing(s))
        {
            self.tok(s);
        }
    }

    /// Like [`Printer::tok_as`], leaving the trailing comment to the caller.
    fn tok_no_trailing(&mut self, span: Span, text: &str) {
        self.before_token(span, false);
        self.write(text);
    }
}
