//! Lowering: pest pairs → typed AST with spans.
//!
//! One `lower_<rule>` function per grammar rule with an AST meaning. Operator precedence
//! lives in the single [`PRATT`] table below. `unreachable!` is used only for shapes the
//! grammar rules out, and names the rule it was lowering.

use super::error::SyntaxError;
use super::expected;
use super::grammar::Rule;
use crate::ast::{
    CmpOp, Effect, Expr, ExprKind, Ident, InvariantDecl, InvariantForm, Item, LetDecl, Literal,
    RuleDecl,
};
use crate::source::{FileId, Span};
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::sync::LazyLock;

/// Operator precedence, loosest first: `or`, `and`, `not`, comparison.
static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::op_or, Assoc::Left))
        .op(Op::infix(Rule::op_and, Assoc::Left))
        .op(Op::prefix(Rule::op_not))
        .op(Op::infix(Rule::op_eq, Assoc::Left)
            | Op::infix(Rule::op_ne, Assoc::Left)
            | Op::infix(Rule::op_lt, Assoc::Left)
            | Op::infix(Rule::op_le, Assoc::Left)
            | Op::infix(Rule::op_gt, Assoc::Left)
            | Op::infix(Rule::op_ge, Assoc::Left)
            | Op::infix(Rule::op_in, Assoc::Left)
            | Op::infix(Rule::op_contains, Assoc::Left)
            | Op::infix(Rule::op_contains_any, Assoc::Left)
            | Op::infix(Rule::op_contains_all, Assoc::Left))
});

struct Lowerer {
    file: FileId,
    offset: usize,
}

impl Lowerer {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, self.offset + s.start(), self.offset + s.end())
    }

    fn ident(&self, pair: &Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_owned(),
            span: self.span(pair),
        }
    }
}

/// Lowers the pairs of `Rule::file`, collecting every error.
pub(crate) fn lower_file(
    file: FileId,
    offset: usize,
    mut pairs: Pairs<'_, Rule>,
) -> Result<Vec<Item>, Vec<SyntaxError>> {
    let l = Lowerer { file, offset };
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let Some(top) = pairs.next() else {
        return Ok(items);
    };
    for pair in top.into_inner() {
        let item = match pair.as_rule() {
            Rule::let_decl => lower_let(&l, pair).map(Item::Let),
            Rule::rule_decl => lower_rule(&l, pair).map(Item::Rule),
            Rule::invariant_decl => lower_invariant(&l, pair).map(Item::Invariant),
            Rule::EOI => continue,
            r => unreachable!("lower_file: unexpected {r:?}"),
        };
        match item {
            Ok(item) => items.push(item),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(items)
    } else {
        Err(errors)
    }
}

fn lower_let(l: &Lowerer, pair: Pair<'_, Rule>) -> Result<LetDecl, SyntaxError> {
    let mut name = None;
    let mut body = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::let_name => name = Some(l.ident(&p)),
            Rule::expr => body = Some(lower_expr(l, p)?),
            Rule::assign | Rule::kw_let => {}
            r => unreachable!("lower_let: unexpected {r:?}"),
        }
    }
    match (name, body) {
        (Some(name), Some(body)) => Ok(LetDecl { name, body }),
        _ => unreachable!("lower_let: missing name or body"),
    }
}

fn lower_rule(l: &Lowerer, pair: Pair<'_, Rule>) -> Result<RuleDecl, SyntaxError> {
    let span = l.span(&pair);
    let mut id = None;
    let mut effect = Effect::Allow;
    let mut actions = Vec::new();
    let mut condition = None;
    let mut reason = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::rule_id => id = Some(l.ident(&p)),
            Rule::effect => {
                effect = if p.as_str() == "deny" {
                    Effect::Deny
                } else {
                    Effect::Allow
                };
            }
            Rule::action_list => {
                actions = p
                    .into_inner()
                    .filter(|a| a.as_rule() == Rule::action_name)
                    .map(|a| l.ident(&a))
                    .collect();
            }
            Rule::when_clause => {
                if let Some(e) = p.into_inner().find(|e| e.as_rule() == Rule::expr) {
                    condition = Some(lower_expr(l, e)?);
                }
            }
            Rule::reason_clause => {
                if let Some(s) = p.into_inner().find(|s| s.as_rule() == Rule::string) {
                    reason = Some(lower_string(l, &s)?);
                }
            }
            Rule::lbrace | Rule::rbrace | Rule::kw_rule => {}
            r => unreachable!("lower_rule: unexpected {r:?}"),
        }
    }
    let Some(id) = id else {
        unreachable!("lower_rule: missing id")
    };
    Ok(RuleDecl {
        id,
        effect,
        actions,
        condition,
        reason,
        span,
    })
}

fn lower_invariant(l: &Lowerer, pair: Pair<'_, Rule>) -> Result<InvariantDecl, SyntaxError> {
    let span = l.span(&pair);
    let mut id = None;
    let mut actions = Vec::new();
    let mut form = None;
    let mut condition = None;
    let mut reason = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::rule_id => id = Some(l.ident(&p)),
            Rule::action_list => {
                actions = p
                    .into_inner()
                    .filter(|a| a.as_rule() == Rule::action_name)
                    .map(|a| l.ident(&a))
                    .collect();
            }
            Rule::form_allow_only_when => form = Some((InvariantForm::AllowOnlyWhen, l.span(&p))),
            Rule::form_allow_when => form = Some((InvariantForm::AllowWhen, l.span(&p))),
            Rule::form_deny_when => form = Some((InvariantForm::DenyWhen, l.span(&p))),
            Rule::expr => condition = Some(lower_expr(l, p)?),
            Rule::reason_clause => {
                if let Some(s) = p.into_inner().find(|s| s.as_rule() == Rule::string) {
                    reason = Some(lower_string(l, &s)?);
                }
            }
            Rule::lbrace | Rule::rbrace | Rule::kw_invariant | Rule::kw_on => {}
            r => unreachable!("lower_invariant: unexpected {r:?}"),
        }
    }
    let (Some(id), Some((form, form_span)), Some(condition)) = (id, form, condition) else {
        unreachable!("lower_invariant: missing id, form or condition")
    };
    Ok(InvariantDecl {
        id,
        actions,
        form,
        form_span,
        condition,
        reason,
        span,
    })
}

fn lower_expr(l: &Lowerer, pair: Pair<'_, Rule>) -> Result<Expr, SyntaxError> {
    // INVARIANT: `check_nesting` bounded runs of `not` before pest ran.
    PRATT
        .map_primary(|p| lower_term(l, p))
        .map_prefix(|op, rhs| {
            let rhs = rhs?;
            Ok(Expr {
                span: l.span(&op).join(rhs.span),
                kind: ExprKind::Not(Box::new(rhs)),
            })
        })
        .map_infix(|lhs, op, rhs| {
            let (lhs, rhs) = (lhs?, rhs?);
            let span = lhs.span.join(rhs.span);
            let kind = match op.as_rule() {
                Rule::op_and => ExprKind::And(flatten(lhs, rhs, true)),
                Rule::op_or => ExprKind::Or(flatten(lhs, rhs, false)),
                r => ExprKind::Compare {
                    op: cmp_op(r),
                    op_span: l.span(&op),
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
            };
            Ok(Expr { kind, span })
        })
        .parse(pair.into_inner())
}

/// `a and (b and c)` becomes one `And` of three, so long chains stay shallow. The left
/// side's list is reused, so a chain of n terms is lowered in O(n), not O(n²).
fn flatten(lhs: Expr, rhs: Expr, and: bool) -> Vec<Expr> {
    let mut out = match lhs.kind {
        ExprKind::And(xs) if and => xs,
        ExprKind::Or(xs) if !and => xs,
        kind => vec![Expr {
            kind,
            span: lhs.span,
        }],
    };
    match rhs.kind {
        ExprKind::And(xs) if and => out.extend(xs),
        ExprKind::Or(xs) if !and => out.extend(xs),
        kind => out.push(Expr {
            kind,
            span: rhs.span,
        }),
    }
    out
}

fn cmp_op(rule: Rule) -> CmpOp {
    match rule {
        Rule::op_eq => CmpOp::Eq,
        Rule::op_ne => CmpOp::Ne,
        Rule::op_lt => CmpOp::Lt,
        Rule::op_le => CmpOp::Le,
        Rule::op_gt => CmpOp::Gt,
        Rule::op_ge => CmpOp::Ge,
        Rule::op_in => CmpOp::In,
        Rule::op_contains => CmpOp::Contains,
        Rule::op_contains_any => CmpOp::ContainsAny,
        Rule::op_contains_all => CmpOp::ContainsAll,
        r => unreachable!("cmp_op: unexpected {r:?}"),
    }
}

fn lower_term(l: &Lowerer, pair: Pair<'_, Rule>) -> Result<Expr, SyntaxError> {
    let span = l.span(&pair);
    let kind = match pair.as_rule() {
        Rule::paren => {
            let inner = pair
                .into_inner()
                .find(|p| p.as_rule() == Rule::expr)
                .map(|p| lower_expr(l, p));
            match inner {
                Some(e) => e?.kind,
                None => unreachable!("lower_term: empty paren"),
            }
        }
        Rule::list => {
            let mut items = Vec::new();
            for p in pair.into_inner() {
                if matches!(p.as_rule(), Rule::string | Rule::int | Rule::boolean) {
                    let s = l.span(&p);
                    items.push((lower_literal(l, &p)?, s));
                }
            }
            ExprKind::List(items)
        }
        Rule::string | Rule::int | Rule::boolean => ExprKind::Literal(lower_literal(l, &pair)?),
        Rule::path => {
            // The path is atomic (no inner pairs): split it at its dots.
            let mut start = span.start as usize;
            let segments = pair
                .as_str()
                .split('.')
                .map(|seg| {
                    let ident = Ident {
                        name: seg.to_owned(),
                        span: Span::new(l.file, start, start + seg.len()),
                    };
                    start += seg.len() + 1;
                    ident
                })
                .collect();
            ExprKind::Path(segments)
        }
        Rule::name => ExprKind::Name(pair.as_str().to_owned()),
        r => unreachable!("lower_term: unexpected {r:?}"),
    };
    Ok(Expr { kind, span })
}

fn lower_literal(l: &Lowerer, pair: &Pair<'_, Rule>) -> Result<Literal, SyntaxError> {
    Ok(match pair.as_rule() {
        Rule::string => Literal::Str(lower_string(l, pair)?),
        Rule::int => {
            let text = pair.as_str();
            Literal::Int(text.parse().map_err(|_| SyntaxError::IntOutOfRange {
                text: text.to_owned(),
                span: l.span(pair),
            })?)
        }
        Rule::boolean => Literal::Bool(pair.as_str() == "true"),
        r => unreachable!("lower_literal: unexpected {r:?}"),
    })
}

fn lower_string(l: &Lowerer, pair: &Pair<'_, Rule>) -> Result<String, SyntaxError> {
    let span = l.span(pair);
    let raw = pair.as_str();
    let inner = raw
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(raw);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some((_, '"')) => out.push('"'),
            Some((_, '\\')) => out.push('\\'),
            Some((_, 'n')) => out.push('\n'),
            Some((_, 't')) => out.push('\t'),
            other => {
                let esc_len = 1 + other.map_or(0, |(_, c)| c.len_utf8());
                let start = span.start as usize + 1 + i;
                return Err(SyntaxError::BadEscape {
                    text: inner.get(i..i + esc_len).unwrap_or("\\").to_owned(),
                    span: Span::new(span.file, start, start + esc_len),
                });
            }
        }
    }
    Ok(out)
}

/// Converts pest's error into a [`SyntaxError`] that speaks in words.
/// `whole` is the file's full text and the parsed chunk starts at byte `offset` of it.
pub(crate) fn pest_error(
    file: FileId,
    whole: &str,
    offset: usize,
    e: &pest::error::Error<Rule>,
) -> SyntaxError {
    let pos = match e.location {
        InputLocation::Pos(p) | InputLocation::Span((p, _)) => p,
    };
    let expected = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut labels: Vec<&str> = Vec::new();
            for r in positives {
                if let Some(label) = expected::label(*r)
                    && !labels.contains(&label)
                {
                    labels.push(label);
                }
            }
            join_or(&labels)
        }
        ErrorVariant::CustomError { message } => message.clone(),
    };
    let (found, len) = describe_token(whole, offset + pos);
    SyntaxError::Unexpected {
        expected,
        found,
        span: Span::new(file, offset + pos, offset + pos + len),
    }
}

fn join_or(labels: &[&str]) -> String {
    match labels {
        [] => "something else".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// What sits at `pos`, in words, and its length in bytes.
fn describe_token(text: &str, pos: usize) -> (String, usize) {
    let rest = text.get(pos..).unwrap_or("");
    let Some(c) = rest.chars().next() else {
        return ("end of file".to_owned(), 0);
    };
    if c.is_alphanumeric() || c == '_' {
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        (format!("`{}`", &rest[..len]), len)
    } else if c == '"' {
        // A string that does not close on its line is the likely cause of the error.
        let line = rest.find('\n').unwrap_or(rest.len());
        let mut escaped = false;
        let closed = rest[1..line].chars().any(|ch| {
            let close = ch == '"' && !escaped;
            escaped = ch == '\\' && !escaped;
            close
        });
        if closed {
            ("a string".to_owned(), 1)
        } else {
            (
                "a string that is not closed on its line".to_owned(),
                rest[..line].trim_end().len(),
            )
        }
    } else if c == '\n' || c == '\r' {
        ("end of line".to_owned(), 0)
    } else {
        (format!("`{c}`"), c.len_utf8())
    }
}
