//! `let`s: the definitions, their cycles and sizes, and their expansion where they are
//! used (one routine for conditions and values).

use super::{Checker, ValidationError, ValidationWarning};
use crate::ast::{Expr, ExprKind, LetDecl};
use crate::diagnostics::did_you_mean;
use crate::limits::{MAX_EXPANDED_DEPTH, MAX_EXPANDED_NODES};
use crate::source::Span;
use std::collections::HashMap;

/// What validation knows about one `let`.
pub(super) struct LetInfo<'a> {
    pub(super) decl: &'a LetDecl,
    /// In a cycle or too large: its uses are not checked again.
    pub(super) poisoned: bool,
    /// Some rule or invariant expands it.
    pub(super) used: bool,
    /// Its size and depth once expanded.
    pub(super) size: usize,
    pub(super) depth: usize,
}

impl<'a> Checker<'a> {
    pub(super) fn check_let_cycles(&mut self, order: &[&'a LetDecl]) {
        // Iterative DFS (let chains may be long); post-order gives an order in which every
        // let's references are measured before the let itself.
        let mut state: HashMap<&str, u8> = HashMap::new();
        let mut post: Vec<&'a LetDecl> = Vec::new();
        for root in order {
            if state.contains_key(root.name.name.as_str()) {
                continue;
            }
            let mut stack: Vec<(&'a LetDecl, Vec<&'a str>, usize)> = vec![(
                root,
                names_in(&root.body).into_iter().map(|(n, _)| n).collect(),
                0,
            )];
            state.insert(&root.name.name, 1);
            while let Some((_, deps, i)) = stack.last_mut() {
                if let Some(dep) = deps.get(*i).copied() {
                    *i += 1;
                    let Some(info) = self.lets.get(dep) else {
                        continue;
                    };
                    let dep_decl = info.decl;
                    match state.get(dep) {
                        None => {
                            state.insert(dep, 1);
                            stack.push((
                                dep_decl,
                                names_in(&dep_decl.body)
                                    .into_iter()
                                    .map(|(n, _)| n)
                                    .collect(),
                                0,
                            ));
                        }
                        Some(1) => {
                            let start = stack
                                .iter()
                                .position(|(d, ..)| d.name.name == dep)
                                .unwrap_or(0);
                            let mut names: Vec<&str> = stack[start..]
                                .iter()
                                .map(|(d, ..)| d.name.name.as_str())
                                .collect();
                            names.push(dep);
                            let span = stack[start].0.name.span;
                            for n in &names {
                                if let Some(info) = self.lets.get_mut(n) {
                                    info.poisoned = true;
                                }
                            }
                            self.error(ValidationError::CyclicLet {
                                cycle: names.join(" -> "),
                                span,
                            });
                        }
                        _ => {}
                    }
                } else {
                    let Some((d, ..)) = stack.pop() else { break };
                    state.insert(&d.name.name, 2);
                    post.push(d);
                }
            }
        }
        for decl in post {
            let (size, depth) = self.measure(&decl.body);
            let too_big = self.too_large(size, depth, decl.name.span);
            if let Some(info) = self.lets.get_mut(decl.name.name.as_str()) {
                info.size = size;
                info.depth = depth;
                info.poisoned |= too_big;
            }
        }
    }

    pub(super) fn too_large(&mut self, size: usize, depth: usize, span: Span) -> bool {
        if depth > MAX_EXPANDED_DEPTH {
            self.error(ValidationError::TooLarge {
                what: "nesting depth",
                size: depth,
                limit: MAX_EXPANDED_DEPTH,
                span,
            });
            true
        } else if size > MAX_EXPANDED_NODES {
            self.error(ValidationError::TooLarge {
                what: "node count",
                size,
                limit: MAX_EXPANDED_NODES,
                span,
            });
            true
        } else {
            false
        }
    }

    /// Size and depth of an expression with `let`s expanded (lets already measured).
    pub(super) fn measure(&self, e: &Expr) -> (usize, usize) {
        match &e.kind {
            ExprKind::And(xs) | ExprKind::Or(xs) => {
                let mut size = 1usize;
                let mut depth = 0;
                for x in xs {
                    let (s, d) = self.measure(x);
                    size = size.saturating_add(s);
                    depth = depth.max(d);
                }
                (size, depth + 1)
            }
            ExprKind::Not(x) => {
                let (s, d) = self.measure(x);
                (s.saturating_add(1), d + 1)
            }
            ExprKind::Compare { lhs, rhs, .. } => {
                let (s1, d1) = self.measure(lhs);
                let (s2, d2) = self.measure(rhs);
                (s1.saturating_add(s2).saturating_add(1), d1.max(d2) + 1)
            }
            ExprKind::Name(n) => self
                .lets
                .get(n.as_str())
                .map_or((1, 1), |l| (l.size.max(1), l.depth + 1)),
            ExprKind::List(items) => (items.len() + 1, 1),
            ExprKind::Path(_) | ExprKind::Literal(_) => (1, 1),
        }
    }

    /// Expands `let name` where it is used, at `span`, inside `owner` ("rule `x`"):
    /// marks it used, labels errors inside it with the place of use, and lets `check`
    /// type its body in the context of that use. This is the one place a `let` is
    /// expanded, whether it stands for a condition or a value.
    pub(super) fn expand_let<T>(
        &mut self,
        name: &str,
        span: Span,
        owner: &str,
        check: impl FnOnce(&mut Self, &'a Expr) -> Option<T>,
    ) -> Option<T> {
        let Some(info) = self.lets.get_mut(name) else {
            let help = did_you_mean(name, self.lets.keys().copied());
            self.error(ValidationError::UnknownLet {
                name: name.to_owned(),
                help,
                span,
            });
            return None;
        };
        info.used = true;
        if info.poisoned {
            return None;
        }
        let decl: &'a LetDecl = info.decl;
        let outer = self.use_site.is_none();
        if outer && !owner.is_empty() {
            self.use_site = Some((owner.to_owned(), span));
        }
        let out = check(self, &decl.body);
        if outer {
            self.use_site = None;
        }
        out
    }

    /// `let`s no rule or invariant uses: a warning each. Their bodies are not typed, since
    /// a `let` is typed only where it is used (typing it against some unrelated action
    /// could report an error that no use has); the `let` names they mention must exist.
    pub(super) fn check_unused_lets(&mut self, order: &[&'a LetDecl]) {
        for l in order {
            let Some(info) = self.lets.get(l.name.name.as_str()) else {
                continue;
            };
            if info.used || info.poisoned {
                continue;
            }
            for (name, span) in names_in(&l.body) {
                if !self.lets.contains_key(name) {
                    let help = did_you_mean(name, self.lets.keys().copied());
                    self.error(ValidationError::UnknownLet {
                        name: name.to_owned(),
                        help,
                        span,
                    });
                }
            }
            self.warnings.push(ValidationWarning::UnusedLet {
                name: l.name.name.clone(),
                span: l.name.span,
            });
        }
    }
}

/// The `let` names an expression refers to, with where.
fn names_in(e: &Expr) -> Vec<(&str, Span)> {
    let mut out = Vec::new();
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match &e.kind {
            ExprKind::And(xs) | ExprKind::Or(xs) => stack.extend(xs.iter().rev()),
            ExprKind::Not(x) => stack.push(x),
            ExprKind::Compare { lhs, rhs, .. } => {
                stack.push(rhs);
                stack.push(lhs);
            }
            ExprKind::Name(n) => out.push((n.as_str(), e.span)),
            ExprKind::Path(_) | ExprKind::Literal(_) | ExprKind::List(_) => {}
        }
    }
    out
}
