//! The validated, typed form of a policy set: every name resolved, every literal converted
//! to its type, every `let` expanded in place. Only [`super::validate`] builds it.

use crate::ast::{CmpOp, Effect, InvariantForm};
use crate::schema::{ActionId, Type};
use crate::source::Span;
use crate::value::Const;

/// A rule that passed validation.
#[derive(Debug, Clone)]
pub struct CheckedRule {
    /// Its id.
    pub id: String,
    /// `allow` or `deny`.
    pub effect: Effect,
    /// The actions it is about.
    pub actions: Vec<ActionId>,
    /// When it applies (`None`: always).
    pub condition: Option<TExpr>,
    /// Its reason.
    pub reason: Option<String>,
    /// Where its id is (decisions cite `file:line` of this).
    pub id_span: Span,
}

/// An invariant that passed validation: a claim about the decisions of its actions.
#[derive(Debug, Clone)]
pub struct CheckedInvariant {
    /// Its id.
    pub id: String,
    /// The actions it speaks about.
    pub actions: Vec<ActionId>,
    /// What it claims.
    pub form: InvariantForm,
    /// The condition of the claim.
    pub condition: TExpr,
    /// Why it must hold.
    pub reason: Option<String>,
    /// Where its id is.
    pub id_span: Span,
}

/// A typed condition.
#[derive(Debug, Clone)]
pub struct TExpr {
    /// What it is.
    pub kind: TKind,
    /// Its source.
    pub span: Span,
    /// Set on the root of an expanded `let`, so explanations can name it.
    pub let_name: Option<String>,
    /// Where the expression is written in its parent: its own span, except for the root
    /// of an expanded `let`, whose site is the name where it is used (lints point there).
    pub site: Span,
}

/// The kinds of typed condition.
#[derive(Debug, Clone)]
pub enum TKind {
    /// All of these.
    And(Vec<TExpr>),
    /// Any of these.
    Or(Vec<TExpr>),
    /// Not this.
    Not(Box<TExpr>),
    /// A boolean attribute or literal.
    Bool(Operand),
    /// `==` `!=` `<` `<=` `>` `>=` on two values of one type.
    Cmp {
        /// The operator (never `in` or `contains`).
        op: CmpOp,
        /// Left.
        lhs: Operand,
        /// Right.
        rhs: Operand,
    },
    /// A scalar (not an enum member) in a list of constants.
    InList {
        /// The value looked for.
        elem: Operand,
        /// The list.
        list: Vec<Const>,
    },
    /// An enum member in a set (`set contains x`, `x in set`, `x in [enum list]`).
    Member {
        /// The set.
        set: Operand,
        /// The member.
        elem: Operand,
    },
    /// `contains any` (`any == true`) or `contains all`.
    SetOp {
        /// Any or all.
        any: bool,
        /// The set on the left.
        set: Operand,
        /// The set on the right.
        other: Operand,
    },
}

/// A value in a condition.
#[derive(Debug, Clone)]
pub enum Operand {
    /// An attribute or parameter of the request.
    Path(PathRef),
    /// A constant.
    Const(Const, Type, Span),
}

impl Operand {
    /// The operand's type.
    pub fn ty(&self) -> Type {
        match self {
            Operand::Path(p) => p.ty,
            Operand::Const(_, ty, _) => *ty,
        }
    }

    /// The operand's source.
    pub fn span(&self) -> Span {
        match self {
            Operand::Path(p) => p.span,
            Operand::Const(_, _, s) => *s,
        }
    }
}

/// A resolved attribute path.
#[derive(Debug, Clone)]
pub struct PathRef {
    /// What it starts from.
    pub root: Root,
    /// Its type.
    pub ty: Type,
    /// Its source.
    pub span: Span,
}

/// The first segment of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// `SLOT.attr`: the attribute's index in the slot's entity type.
    Slot {
        /// Slot name.
        name: String,
        /// Attribute index.
        attr: usize,
    },
    /// `org.attr`.
    Context {
        /// Attribute index.
        attr: usize,
    },
    /// `request.param`.
    Param {
        /// Parameter name.
        name: String,
    },
}
