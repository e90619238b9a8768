//! The abstract syntax tree of policy files.
//!
//! Plain data produced by [`crate::syntax`]: no names are resolved and no types are known
//! yet; that is [`crate::validate`]'s job. Every node carries the [`Span`] it came from.

mod display;

use crate::source::{FileId, Span};

/// One parsed policy file.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    /// The file this came from.
    pub file: FileId,
    /// `let`, `rule` and `invariant` items in source order.
    pub items: Vec<Item>,
}

/// A top-level item.
#[derive(Debug, Clone)]
pub enum Item {
    /// `let NAME = EXPR`
    Let(LetDecl),
    /// `rule ID { ... }`
    Rule(RuleDecl),
    /// `invariant ID { ... }`
    Invariant(InvariantDecl),
}

/// A name with its position.
#[derive(Debug, Clone)]
pub struct Ident {
    /// The text.
    pub name: String,
    /// Where it is.
    pub span: Span,
}

/// `let NAME = EXPR`
#[derive(Debug, Clone)]
pub struct LetDecl {
    /// The name being defined.
    pub name: Ident,
    /// What it stands for.
    pub body: Expr,
}

/// Whether a rule grants or refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// `allow`
    Allow,
    /// `deny`
    Deny,
}

impl Effect {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }
}

/// `rule ID { EFFECT ACTIONS [when EXPR] [reason "..."] }`
#[derive(Debug, Clone)]
pub struct RuleDecl {
    /// The rule's unique id.
    pub id: Ident,
    /// `allow` or `deny`.
    pub effect: Effect,
    /// The actions the rule is about.
    pub actions: Vec<Ident>,
    /// When the rule applies; `None` means always.
    pub condition: Option<Expr>,
    /// The explanation shown with decisions.
    pub reason: Option<String>,
    /// The whole rule.
    pub span: Span,
}

/// What an invariant claims about the decisions of its actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvariantForm {
    /// `allow only when E`: every allowed request satisfies `E`.
    AllowOnlyWhen,
    /// `allow when E`: every request that satisfies `E` is allowed.
    AllowWhen,
    /// `deny when E`: every request that satisfies `E` is denied.
    DenyWhen,
}

impl InvariantForm {
    /// The form as written.
    pub fn as_str(self) -> &'static str {
        match self {
            InvariantForm::AllowOnlyWhen => "allow only when",
            InvariantForm::AllowWhen => "allow when",
            InvariantForm::DenyWhen => "deny when",
        }
    }
}

/// `invariant ID { on ACTIONS FORM EXPR [reason "..."] }`: a property of the policy set that
/// `mailgate verify` proves for every request. Invariants never take part in a decision.
#[derive(Debug, Clone)]
pub struct InvariantDecl {
    /// The invariant's unique id (among invariants).
    pub id: Ident,
    /// The actions whose decisions it speaks about.
    pub actions: Vec<Ident>,
    /// What it claims.
    pub form: InvariantForm,
    /// Where the form's words are.
    pub form_span: Span,
    /// The condition `E` of the form.
    pub condition: Expr,
    /// Why it must hold (shown when it does not).
    pub reason: Option<String>,
    /// The whole invariant.
    pub span: Span,
}

/// An expression node.
#[derive(Debug, Clone)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is.
    pub span: Span,
}

/// The kinds of expression.
#[derive(Debug, Clone)]
pub enum ExprKind {
    /// `a and b and ...` (flattened).
    And(Vec<Expr>),
    /// `a or b or ...` (flattened).
    Or(Vec<Expr>),
    /// `not a`
    Not(Box<Expr>),
    /// A comparison or membership test.
    Compare {
        /// The operator.
        op: CmpOp,
        /// Where the operator is.
        op_span: Span,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `root.attr` (two or more segments).
    Path(Vec<Ident>),
    /// A reference to a `let`.
    Name(String),
    /// A literal.
    Literal(Literal),
    /// `[lit, ...]`
    List(Vec<(Literal, Span)>),
}

/// A literal value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// `"text"`
    Str(String),
    /// `42`
    Int(i64),
    /// `true` / `false`
    Bool(bool),
}

/// Comparison and membership operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `in`
    In,
    /// `contains`
    Contains,
    /// `contains any`
    ContainsAny,
    /// `contains all`
    ContainsAll,
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::In => "in",
            CmpOp::Contains => "contains",
            CmpOp::ContainsAny => "contains any",
            CmpOp::ContainsAll => "contains all",
        }
    }
}
