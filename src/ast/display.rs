//! A canonical, compact printer for the AST, used by parser snapshots.
//!
//! Operators are fully parenthesised so a snapshot shows exactly how precedence was
//! resolved: `a or b and not c` prints as `(or a (and b (not c)))`.

use super::{Expr, ExprKind, Item, Literal, PolicyFile};
use std::fmt;

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => write!(f, "{s:?}"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::And(xs) | ExprKind::Or(xs) => {
                let op = if matches!(self.kind, ExprKind::And(_)) {
                    "and"
                } else {
                    "or"
                };
                write!(f, "({op}")?;
                for x in xs {
                    write!(f, " {x}")?;
                }
                write!(f, ")")
            }
            ExprKind::Not(x) => write!(f, "(not {x})"),
            ExprKind::Compare { op, lhs, rhs, .. } => {
                write!(f, "({} {lhs} {rhs})", op.as_str())
            }
            ExprKind::Path(segs) => {
                let names: Vec<&str> = segs.iter().map(|s| s.name.as_str()).collect();
                write!(f, "{}", names.join("."))
            }
            ExprKind::Name(n) => write!(f, "${n}"),
            ExprKind::Literal(l) => write!(f, "{l}"),
            ExprKind::List(items) => {
                let items: Vec<String> = items.iter().map(|(l, _)| l.to_string()).collect();
                write!(f, "[{}]", items.join(", "))
            }
        }
    }
}

impl fmt::Display for PolicyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for item in &self.items {
            match item {
                Item::Let(l) => writeln!(f, "let {} = {}", l.name.name, l.body)?,
                Item::Rule(r) => {
                    let actions: Vec<&str> = r.actions.iter().map(|a| a.name.as_str()).collect();
                    write!(
                        f,
                        "rule {} {} [{}]",
                        r.id.name,
                        r.effect.as_str(),
                        actions.join(", ")
                    )?;
                    if let Some(c) = &r.condition {
                        write!(f, " when {c}")?;
                    }
                    if let Some(reason) = &r.reason {
                        write!(f, " reason {reason:?}")?;
                    }
                    writeln!(f)?;
                }
                Item::Invariant(inv) => {
                    let actions: Vec<&str> = inv.actions.iter().map(|a| a.name.as_str()).collect();
                    write!(
                        f,
                        "invariant {} on [{}] {} {}",
                        inv.id.name,
                        actions.join(", "),
                        inv.form.as_str(),
                        inv.condition
                    )?;
                    if let Some(reason) = &inv.reason {
                        write!(f, " reason {reason:?}")?;
                    }
                    writeln!(f)?;
                }
            }
        }
        Ok(())
    }
}
