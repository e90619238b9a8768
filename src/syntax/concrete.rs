//! The concrete syntax tree: every token of a file with its span, parentheses and commas
//! kept. The formatter prints from it, so it never rewrites what the user wrote (strings,
//! numbers and paths are printed from their source text) and never drops grouping
//! parentheses, which the AST flattens away.
//!
//! Operator precedence comes from the same Pratt table as the AST (`lower.rs`).

use super::grammar::{PolicyParser, Rule};
use super::lower::{PRATT, cmp_op};
use super::{Parsed, SyntaxError, parse};
use crate::ast::CmpOp;
use crate::source::{FileId, Span};
use pest::Parser as _;
use pest::iterators::Pair;

/// A parsed file as tokens and trees.
#[derive(Debug, Clone)]
pub struct ConcreteFile {
    /// The items in source order.
    pub items: Vec<ConcreteItem>,
    /// Every token of the file in source order (the leaves of `items`).
    pub tokens: Vec<Span>,
    /// The same file as an AST (what [`parse`] gives).
    pub ast: crate::ast::PolicyFile,
}

/// A top-level item.
#[derive(Debug, Clone)]
pub enum ConcreteItem {
    /// `let NAME = EXPR`: the three tokens before the body, and the body.
    Let {
        /// `let`, the name and `=`.
        head: Vec<Span>,
        /// The value.
        body: ConcreteExpr,
    },
    /// A braced item, `rule ID { ... }` or `invariant ID { ... }`: the tokens before `{`,
    /// `{`, one clause per line, `}`.
    Block {
        /// The tokens before `{` (`rule` or `invariant`, and the id).
        head: Vec<Span>,
        /// `{`
        open: Span,
        /// The clauses, in source order.
        clauses: Vec<Clause>,
        /// `}`
        close: Span,
    },
}

/// One clause of a braced item: leading keyword tokens and what follows them.
#[derive(Debug, Clone)]
pub struct Clause {
    /// The keyword tokens (`allow`, `when`, `reason`, `on`, `allow only when`, ...). A
    /// keyword of several words is one token and may hold any whitespace between them.
    pub head: Vec<Span>,
    /// What follows.
    pub body: ClauseBody,
}

/// What follows a clause's keywords.
#[derive(Debug, Clone)]
pub enum ClauseBody {
    /// Names separated by commas (`approve_mailbox, reject_mailbox`): the names and the
    /// commas between them.
    Names(Vec<Span>, Vec<Span>),
    /// A condition.
    Expr(ConcreteExpr),
    /// One token, such as the reason string.
    Token(Span),
}

/// An expression with all its tokens.
#[derive(Debug, Clone)]
pub enum ConcreteExpr {
    /// `a and b and ...` or `a or b or ...` (one operator; parenthesised operands are not
    /// merged into the chain).
    Chain {
        /// `true` for `and`, `false` for `or`.
        and: bool,
        /// The operands (two or more).
        operands: Vec<ConcreteExpr>,
        /// The operator tokens (one fewer than the operands).
        ops: Vec<Span>,
    },
    /// `not x`
    Not {
        /// The `not` token.
        op: Span,
        /// The operand.
        operand: Box<ConcreteExpr>,
    },
    /// `lhs OP rhs`
    Compare {
        /// The operator.
        op: CmpOp,
        /// Its token (`contains any` may hold any whitespace between its words).
        op_span: Span,
        /// Left operand.
        lhs: Box<ConcreteExpr>,
        /// Right operand.
        rhs: Box<ConcreteExpr>,
    },
    /// `( inner )`
    Paren {
        /// `(`
        open: Span,
        /// What is inside.
        inner: Box<ConcreteExpr>,
        /// `)`
        close: Span,
    },
    /// `[a, b, c]`, with an optional trailing comma.
    List {
        /// `[`
        open: Span,
        /// The literals.
        items: Vec<Span>,
        /// The commas, including a trailing one.
        commas: Vec<Span>,
        /// `]`
        close: Span,
    },
    /// A path, name, string, number or boolean: one token.
    Atom(Span),
}

/// The concrete tree of one file, or its syntax errors (the same errors [`parse`] reports).
pub fn parse_concrete(file: FileId, text: &str) -> Result<ConcreteFile, Vec<SyntaxError>> {
    let Parsed { errors, file: ast } = parse(file, text);
    if !errors.is_empty() {
        return Err(errors);
    }
    let pairs = PolicyParser::parse(Rule::file, text)
        .map_err(|e| vec![super::lower::pest_error(file, text, 0, &e)])?;
    let mut b = Builder {
        file,
        tokens: Vec::new(),
    };
    let mut items = Vec::new();
    for top in pairs {
        for pair in top.into_inner() {
            match pair.as_rule() {
                Rule::EOI => {}
                Rule::let_decl => items.push(b.let_decl(pair)?),
                Rule::rule_decl | Rule::invariant_decl => items.push(b.block(pair)?),
                _ => return Err(vec![unsupported(&b, &pair)]),
            }
        }
    }
    b.tokens.sort_by_key(|s| s.start);
    Ok(ConcreteFile {
        items,
        tokens: b.tokens,
        ast,
    })
}

/// A grammar rule this module does not know: the grammar grew and this module was not
/// updated. Reported as an error, never a panic.
fn unsupported(b: &Builder, pair: &Pair<'_, Rule>) -> SyntaxError {
    SyntaxError::Unexpected {
        expected: "a construct the formatter knows".to_owned(),
        found: format!("`{:?}`", pair.as_rule()),
        span: b.span(pair),
    }
}

/// A shape the grammar rules out (the grammar and this module disagree).
fn malformed(span: Span, expected: &str) -> SyntaxError {
    SyntaxError::Unexpected {
        expected: expected.to_owned(),
        found: "a shape the formatter does not know".to_owned(),
        span,
    }
}

struct Builder {
    file: FileId,
    tokens: Vec<Span>,
}

type Built<T> = Result<T, Vec<SyntaxError>>;

impl Builder {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start(), s.end())
    }

    /// Records a leaf token and returns its span.
    fn token(&mut self, pair: &Pair<'_, Rule>) -> Span {
        let s = self.span(pair);
        self.tokens.push(s);
        s
    }

    fn let_decl(&mut self, pair: Pair<'_, Rule>) -> Built<ConcreteItem> {
        let whole = self.span(&pair);
        let mut head = Vec::new();
        let mut body = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::kw_let | Rule::let_name | Rule::assign => head.push(self.token(&p)),
                Rule::expr => body = Some(self.expr(p)?),
                _ => return Err(vec![unsupported(self, &p)]),
            }
        }
        match body {
            Some(body) => Ok(ConcreteItem::Let { head, body }),
            None => Err(vec![malformed(whole, "a value")]),
        }
    }

    fn block(&mut self, pair: Pair<'_, Rule>) -> Built<ConcreteItem> {
        let whole = self.span(&pair);
        let mut head = Vec::new();
        let mut open = None;
        let mut close = None;
        let mut clauses: Vec<Clause> = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::kw_rule | Rule::kw_invariant | Rule::rule_id => head.push(self.token(&p)),
                Rule::lbrace => open = Some(self.token(&p)),
                Rule::rbrace => close = Some(self.token(&p)),
                // `allow`/`deny` of a rule and `on` of an invariant: a list of actions follows.
                Rule::effect | Rule::kw_on => clauses.push(Clause {
                    head: vec![self.token(&p)],
                    body: ClauseBody::Names(Vec::new(), Vec::new()),
                }),
                // `allow only when` and the like: a condition follows.
                Rule::form_allow_only_when | Rule::form_allow_when | Rule::form_deny_when => {
                    clauses.push(Clause {
                        head: vec![self.token(&p)],
                        body: ClauseBody::Names(Vec::new(), Vec::new()),
                    });
                }
                Rule::expr => {
                    let at = self.span(&p);
                    let e = self.expr(p)?;
                    match clauses.last_mut() {
                        Some(c) if matches!(&c.body, ClauseBody::Names(n, _) if n.is_empty()) => {
                            c.body = ClauseBody::Expr(e);
                        }
                        _ => return Err(vec![malformed(at, "an invariant form")]),
                    }
                }
                Rule::action_list => {
                    let at = self.span(&p);
                    let (names, commas) = self.names(p)?;
                    match clauses.last_mut() {
                        Some(Clause {
                            body: ClauseBody::Names(n, c),
                            ..
                        }) if n.is_empty() => {
                            *n = names;
                            *c = commas;
                        }
                        _ => return Err(vec![malformed(at, "`allow`, `deny` or `on`")]),
                    }
                }
                Rule::when_clause | Rule::reason_clause => clauses.push(self.clause(p)?),
                _ => return Err(vec![unsupported(self, &p)]),
            }
        }
        match (open, close) {
            (Some(open), Some(close)) => Ok(ConcreteItem::Block {
                head,
                open,
                clauses,
                close,
            }),
            _ => Err(vec![malformed(whole, "`{` and `}`")]),
        }
    }

    /// A clause: keyword tokens, then an expression or one token.
    fn clause(&mut self, pair: Pair<'_, Rule>) -> Built<Clause> {
        let whole = self.span(&pair);
        let mut head = Vec::new();
        let mut body = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::kw_when | Rule::kw_reason => head.push(self.token(&p)),
                Rule::expr => body = Some(ClauseBody::Expr(self.expr(p)?)),
                Rule::string => body = Some(ClauseBody::Token(self.token(&p))),
                _ => return Err(vec![unsupported(self, &p)]),
            }
        }
        match body {
            Some(body) => Ok(Clause { head, body }),
            None => Err(vec![malformed(whole, "a condition or string")]),
        }
    }

    fn names(&mut self, pair: Pair<'_, Rule>) -> Built<(Vec<Span>, Vec<Span>)> {
        let mut names = Vec::new();
        let mut commas = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::action_name => names.push(self.token(&p)),
                Rule::comma => commas.push(self.token(&p)),
                _ => return Err(vec![unsupported(self, &p)]),
            }
        }
        Ok((names, commas))
    }

    fn expr(&mut self, pair: Pair<'_, Rule>) -> Built<ConcreteExpr> {
        // The Pratt closures cannot all borrow `self` mutably: collect tokens in a cell.
        let this = std::cell::RefCell::new(&mut *self);
        PRATT
            .map_primary(|p| this.borrow_mut().term(p))
            .map_prefix(|op, rhs| {
                Ok(ConcreteExpr::Not {
                    op: this.borrow_mut().token(&op),
                    operand: Box::new(rhs?),
                })
            })
            .map_infix(|lhs, op, rhs| {
                let (lhs, rhs) = (lhs?, rhs?);
                let op_span = this.borrow_mut().token(&op);
                Ok(match op.as_rule() {
                    Rule::op_and | Rule::op_or => {
                        let and = op.as_rule() == Rule::op_and;
                        match lhs {
                            ConcreteExpr::Chain {
                                and: lhs_and,
                                mut operands,
                                mut ops,
                            } if lhs_and == and => {
                                operands.push(rhs);
                                ops.push(op_span);
                                ConcreteExpr::Chain { and, operands, ops }
                            }
                            lhs => ConcreteExpr::Chain {
                                and,
                                operands: vec![lhs, rhs],
                                ops: vec![op_span],
                            },
                        }
                    }
                    r => ConcreteExpr::Compare {
                        op: cmp_op(r),
                        op_span,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                })
            })
            .parse(pair.into_inner())
    }

    fn term(&mut self, pair: Pair<'_, Rule>) -> Built<ConcreteExpr> {
        match pair.as_rule() {
            Rule::paren => {
                let whole = self.span(&pair);
                let mut open = None;
                let mut inner = None;
                let mut close = None;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::lparen => open = Some(self.token(&p)),
                        Rule::rparen => close = Some(self.token(&p)),
                        Rule::expr => inner = Some(self.expr(p)?),
                        _ => return Err(vec![unsupported(self, &p)]),
                    }
                }
                match (open, inner, close) {
                    (Some(open), Some(inner), Some(close)) => Ok(ConcreteExpr::Paren {
                        open,
                        inner: Box::new(inner),
                        close,
                    }),
                    _ => Err(vec![malformed(whole, "`(`, a condition and `)`")]),
                }
            }
            Rule::list => {
                let whole = self.span(&pair);
                let mut open = None;
                let mut close = None;
                let mut items = Vec::new();
                let mut commas = Vec::new();
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::lbracket => open = Some(self.token(&p)),
                        Rule::rbracket => close = Some(self.token(&p)),
                        Rule::comma => commas.push(self.token(&p)),
                        Rule::string | Rule::int | Rule::boolean => items.push(self.token(&p)),
                        _ => return Err(vec![unsupported(self, &p)]),
                    }
                }
                match (open, close) {
                    (Some(open), Some(close)) => Ok(ConcreteExpr::List {
                        open,
                        items,
                        commas,
                        close,
                    }),
                    _ => Err(vec![malformed(whole, "`[` and `]`")]),
                }
            }
            Rule::path | Rule::name | Rule::string | Rule::int | Rule::boolean => {
                Ok(ConcreteExpr::Atom(self.token(&pair)))
            }
            _ => Err(vec![unsupported(self, &pair)]),
        }
    }
}
