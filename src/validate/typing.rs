//! Typing: operands, literals against the type of the other side, and every operator.

use super::{Checker, Operand, Raw, TKind, ValidationError};
use crate::ast::{CmpOp, Expr, ExprKind, Literal};
use crate::diagnostics::{a, did_you_mean};
use crate::schema::Type;
use crate::source::Span;
use crate::value::{Const, EnumSet};

impl<'a> Checker<'a> {
    fn type_name(&self, ty: Type) -> String {
        self.schema.type_name(ty)
    }

    /// Checks `e` as a value.
    pub(super) fn operand(&mut self, e: &'a Expr, rule: &str) -> Option<Raw<'a>> {
        match &e.kind {
            ExprKind::Path(segs) => self.path(segs, e.span).map(Raw::Op),
            ExprKind::Literal(l) => Some(Raw::Lit(l, e.span)),
            ExprKind::List(items) => Some(Raw::List(items, e.span)),
            ExprKind::Name(n) => {
                // A value `let` (a path, literal or list) is used as a value; a condition
                // `let` may stand where a boolean value is expected.
                self.expand_let(n, e.span, rule, |c, body| match body.kind {
                    ExprKind::Path(_)
                    | ExprKind::Literal(_)
                    | ExprKind::List(_)
                    | ExprKind::Name(_) => c.operand(body, rule),
                    _ => {
                        c.error(ValidationError::TypeMismatch {
                            message: format!("`{n}` is a condition, not a value"),
                            help: None,
                            span: e.span,
                        });
                        None
                    }
                })
            }
            _ => {
                self.error(ValidationError::TypeMismatch {
                    message: "expected a value, found a condition".to_owned(),
                    help: Some("put parentheses around the comparison".to_owned()),
                    span: e.span,
                });
                None
            }
        }
    }

    pub(super) fn describe(&self, raw: &Raw) -> String {
        match raw {
            Raw::Op(Operand::Path(p)) => {
                let ty = self.type_name(p.ty);
                format!("`{}`, {} `{ty}`", self.path_text(p), a(&ty))
            }
            Raw::Op(Operand::Const(_, ty, _)) => {
                let ty = self.type_name(*ty);
                format!("{} `{ty}`", a(&ty))
            }
            Raw::Lit(Literal::Str(_), _) => "a string".to_owned(),
            Raw::Lit(Literal::Int(_), _) => "a number".to_owned(),
            Raw::Lit(Literal::Bool(_), _) => "a boolean".to_owned(),
            Raw::List(..) => "a list".to_owned(),
        }
    }

    fn mismatch(&mut self, message: String, span: Span) {
        self.error(ValidationError::TypeMismatch {
            message,
            help: None,
            span,
        });
    }

    /// Converts a literal to a constant of `ty`.
    fn lit(&mut self, lit: &Literal, span: Span, ty: Type) -> Option<Const> {
        match (ty, lit) {
            (Type::Bool, Literal::Bool(b)) => Some(Const::Bool(*b)),
            (Type::Int, Literal::Int(i)) => Some(Const::Int(*i)),
            (Type::String, Literal::Str(s)) => Some(Const::Str(s.clone())),
            (Type::Version, Literal::Str(s)) => match crate::version::Version::parse(s) {
                Ok(v) => Some(Const::Version(v)),
                Err(e) => {
                    self.error(ValidationError::BadVersion {
                        text: s.clone(),
                        reason: e.to_string(),
                        span,
                    });
                    None
                }
            },
            (Type::Enum(en), Literal::Str(s)) => match self.schema.enum_def(en).lookup(s) {
                Some(i) => Some(Const::Enum(i)),
                None => {
                    let def = self.schema.enum_def(en);
                    self.error(ValidationError::UnknownEnumValue {
                        value: s.clone(),
                        enum_name: def.name.clone(),
                        help: did_you_mean(s, def.values.iter().map(String::as_str)),
                        span,
                    });
                    None
                }
            },
            _ => {
                let found = self.describe(&Raw::Lit(lit, span));
                self.mismatch(
                    format!(
                        "expected {} `{}` value, found {found}",
                        a(&self.type_name(ty)),
                        self.type_name(ty)
                    ),
                    span,
                );
                None
            }
        }
    }

    /// Converts a list literal to an enum set.
    fn enum_list(
        &mut self,
        items: &[(Literal, Span)],
        e: crate::schema::EnumId,
    ) -> Option<EnumSet> {
        let mut set = EnumSet::default();
        let mut ok = true;
        for (l, s) in items {
            match self.lit(l, *s, Type::Enum(e)) {
                Some(Const::Enum(i)) => set.insert(i),
                _ => ok = false,
            }
        }
        ok.then_some(set)
    }

    /// Resolves one side against the other's type.
    fn typed_pair(
        &mut self,
        l: Raw,
        r: Raw,
        op: CmpOp,
        op_span: Span,
    ) -> Option<(Operand, Operand)> {
        match (l, r) {
            (Raw::Op(a), Raw::Op(b)) => {
                if a.ty() == b.ty() {
                    Some((a, b))
                } else {
                    let (da, db) = (
                        self.describe(&Raw::Op(a.clone())),
                        self.describe(&Raw::Op(b.clone())),
                    );
                    self.mismatch(
                        format!("`{}` compares {da} with {db}", op.as_str()),
                        op_span,
                    );
                    None
                }
            }
            (Raw::Op(a), Raw::Lit(lit, s)) => {
                let c = self.lit(lit, s, a.ty())?;
                let ty = a.ty();
                Some((a, Operand::Const(c, ty, s)))
            }
            (Raw::Lit(lit, s), Raw::Op(b)) => {
                let c = self.lit(lit, s, b.ty())?;
                let ty = b.ty();
                Some((Operand::Const(c, ty, s), b))
            }
            (Raw::Lit(..), Raw::Lit(..)) => {
                self.mismatch(
                    format!(
                        "`{}` compares two literals; one side must be an attribute",
                        op.as_str()
                    ),
                    op_span,
                );
                None
            }
            (Raw::List(_, s), _) | (_, Raw::List(_, s)) => {
                self.error(ValidationError::TypeMismatch {
                    message: format!("`{}` cannot compare with a list", op.as_str()),
                    help: Some("use `in [...]` to test membership in a list".to_owned()),
                    span: s,
                });
                None
            }
        }
    }

    pub(super) fn compare(
        &mut self,
        op: CmpOp,
        op_span: Span,
        l: Raw<'a>,
        r: Raw<'a>,
    ) -> Option<TKind> {
        match op {
            CmpOp::Eq | CmpOp::Ne => {
                let (lhs, rhs) = self.typed_pair(l, r, op, op_span)?;
                Some(TKind::Cmp { op, lhs, rhs })
            }
            CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
                let (lhs, rhs) = self.typed_pair(l, r, op, op_span)?;
                if matches!(lhs.ty(), Type::Int | Type::Version) {
                    Some(TKind::Cmp { op, lhs, rhs })
                } else {
                    let d = self.describe(&Raw::Op(lhs));
                    self.error(ValidationError::TypeMismatch {
                        message: format!("`{}` needs numbers or versions, found {d}", op.as_str()),
                        help: None,
                        span: op_span,
                    });
                    None
                }
            }
            CmpOp::In => match r {
                Raw::List(items, _) => match l {
                    Raw::Op(elem) => match elem.ty() {
                        Type::Enum(e)
                            if self.schema.enum_def(e).values.len() <= EnumSet::CAPACITY =>
                        {
                            let set = self.enum_list(items, e)?;
                            Some(TKind::Member {
                                set: Operand::Const(Const::Set(set), Type::Set(e), op_span),
                                elem,
                            })
                        }
                        Type::Set(_) => {
                            let d = self.describe(&Raw::Op(elem));
                            self.error(ValidationError::TypeMismatch {
                                message: format!(
                                    "`in` needs a single value on the left, found {d}"
                                ),
                                help: Some(
                                    "use `contains any` or `contains all` to compare sets"
                                        .to_owned(),
                                ),
                                span: op_span,
                            });
                            None
                        }
                        ty => {
                            let mut list = Vec::new();
                            let mut ok = true;
                            for (lit, s) in items {
                                match self.lit(lit, *s, ty) {
                                    Some(c) => list.push(c),
                                    None => ok = false,
                                }
                            }
                            ok.then_some(TKind::InList { elem, list })
                        }
                    },
                    _ => {
                        self.mismatch("`in` needs an attribute on the left".to_owned(), op_span);
                        None
                    }
                },
                Raw::Op(set) => {
                    let Type::Set(e) = set.ty() else {
                        let d = self.describe(&Raw::Op(set));
                        self.mismatch(
                            format!("`in` needs a list or a set on the right, found {d}"),
                            op_span,
                        );
                        return None;
                    };
                    let elem = self.member(l, e, op_span)?;
                    Some(TKind::Member { set, elem })
                }
                Raw::Lit(..) => {
                    self.mismatch(
                        "`in` needs a list or a set on the right".to_owned(),
                        op_span,
                    );
                    None
                }
            },
            CmpOp::Contains | CmpOp::ContainsAny | CmpOp::ContainsAll => {
                let set = match l {
                    Raw::Op(op_) if matches!(op_.ty(), Type::Set(_)) => op_,
                    other => {
                        let d = self.describe(&other);
                        self.error(ValidationError::TypeMismatch {
                            message: format!("`{}` needs a set on the left, found {d}", op.as_str()),
                            help: Some("`contains` tests membership in a `set<...>` attribute; use `==` for single values".to_owned()),
                            span: op_span,
                        });
                        return None;
                    }
                };
                let Type::Set(e) = set.ty() else {
                    return None;
                };
                if op == CmpOp::Contains {
                    let elem = self.member(r, e, op_span)?;
                    return Some(TKind::Member { set, elem });
                }
                let other = match r {
                    Raw::List(items, s) => {
                        Operand::Const(Const::Set(self.enum_list(items, e)?), Type::Set(e), s)
                    }
                    Raw::Op(o) if o.ty() == Type::Set(e) => o,
                    other => {
                        let d = self.describe(&other);
                        self.mismatch(
                            format!(
                                "`{}` needs a list or a set of `{}` on the right, found {d}",
                                op.as_str(),
                                self.schema.enum_def(e).name
                            ),
                            op_span,
                        );
                        return None;
                    }
                };
                Some(TKind::SetOp {
                    any: op == CmpOp::ContainsAny,
                    set,
                    other,
                })
            }
        }
    }

    /// A member of enum `e`, from a literal or an enum-typed attribute.
    fn member(&mut self, raw: Raw<'a>, e: crate::schema::EnumId, op_span: Span) -> Option<Operand> {
        match raw {
            Raw::Lit(lit, s) => {
                let c = self.lit(lit, s, Type::Enum(e))?;
                Some(Operand::Const(c, Type::Enum(e), s))
            }
            Raw::Op(o) if o.ty() == Type::Enum(e) => Some(o),
            other => {
                let d = self.describe(&other);
                self.mismatch(
                    format!(
                        "expected {} `{}` value, found {d}",
                        a(&self.schema.enum_def(e).name),
                        self.schema.enum_def(e).name
                    ),
                    op_span,
                );
                None
            }
        }
    }
}
