//! The decision-diagram backend, behind a small trait so the crate that provides it stays
//! replaceable (only this file names it).
//!
//! The backend is `biodivine-lib-bdd`: reduced ordered BDDs that own their memory (no
//! shared manager, so a built diagram can be read from many threads), with apply
//! operations that stop at a node limit, and node-level access for the minimum-cost path.

use biodivine_lib_bdd::{Bdd, BddPointer, BddValuation, BddVariable, BddVariableSet, op_function};

/// An operation produced a diagram larger than the node budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OverBudget;

/// What the analysis needs from a decision-diagram library.
pub(crate) trait Backend: Sized {
    /// A boolean function over the backend's variables.
    type Dd: Clone + std::fmt::Debug + Send + Sync;

    /// A backend with `vars` variables, numbered from 0 (0 is tested first) and a node
    /// budget per diagram.
    fn new(vars: u16, budget: usize) -> Self;
    /// The constant function.
    fn constant(&self, value: bool) -> Self::Dd;
    /// `var == value`.
    fn literal(&self, var: u16, value: bool) -> Self::Dd;
    /// Conjunction, within the budget.
    fn and(&self, a: &Self::Dd, b: &Self::Dd) -> Result<Self::Dd, OverBudget>;
    /// Disjunction, within the budget.
    fn or(&self, a: &Self::Dd, b: &Self::Dd) -> Result<Self::Dd, OverBudget>;
    /// Negation (never larger than its input).
    fn not(&self, a: &Self::Dd) -> Self::Dd;
    /// `exists vars . a and b`, within the budget.
    fn and_exists(&self, a: &Self::Dd, b: &Self::Dd, vars: &[u16]) -> Result<Self::Dd, OverBudget>;
    /// `a` with `var` fixed to `value` (never larger than `a`).
    fn restrict(&self, a: &Self::Dd, var: u16, value: bool) -> Self::Dd;
    /// Whether no assignment satisfies `a`.
    fn is_false(&self, a: &Self::Dd) -> bool;
    /// Number of nodes.
    fn nodes(&self, a: &Self::Dd) -> usize;
    /// Some full assignment satisfying `a`, or `None` if `a` is unsatisfiable.
    fn witness(&self, a: &Self::Dd) -> Option<Vec<bool>>;
    /// The value of `a` under a full assignment (indexed by variable).
    fn eval(&self, a: &Self::Dd, assignment: &[bool]) -> bool;
    /// A satisfying assignment of least total cost, where `cost(var, value)` is what
    /// giving `var` that value costs and a variable the path does not test takes the
    /// value of `default`. Ties go to `prefer(var)` first, in variable order. `None` if
    /// `a` is unsatisfiable.
    fn min_cost(
        &self,
        a: &Self::Dd,
        cost: &dyn Fn(u16, bool) -> u32,
        prefer: &dyn Fn(u16) -> bool,
        default: &[bool],
    ) -> Option<(u32, Vec<bool>)>;
}

/// `biodivine-lib-bdd`.
#[derive(Debug, Clone)]
pub(crate) struct Biodivine {
    vars: BddVariableSet,
    budget: usize,
    /// Past this instant every budgeted operation fails (a cancelled analysis stops
    /// at its next operation; the caller turns the failure into `Cancelled`).
    deadline: Option<std::time::Instant>,
}

impl Biodivine {
    /// The same backend, with every budgeted operation failing past `deadline`.
    pub(crate) fn until(mut self, deadline: Option<std::time::Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    fn check(&self) -> Result<(), OverBudget> {
        match self.deadline {
            Some(d) if std::time::Instant::now() >= d => Err(OverBudget),
            _ => Ok(()),
        }
    }
}

fn var(v: u16) -> BddVariable {
    BddVariable::from_index(usize::from(v))
}

impl Backend for Biodivine {
    type Dd = Bdd;

    fn new(vars: u16, budget: usize) -> Self {
        Biodivine {
            vars: BddVariableSet::new_anonymous(vars),
            budget,
            deadline: None,
        }
    }

    fn constant(&self, value: bool) -> Bdd {
        if value {
            self.vars.mk_true()
        } else {
            self.vars.mk_false()
        }
    }

    fn literal(&self, v: u16, value: bool) -> Bdd {
        self.vars.mk_literal(var(v), value)
    }

    fn and(&self, a: &Bdd, b: &Bdd) -> Result<Bdd, OverBudget> {
        self.check()?;
        Bdd::binary_op_with_limit(self.budget, a, b, op_function::and).ok_or(OverBudget)
    }

    fn or(&self, a: &Bdd, b: &Bdd) -> Result<Bdd, OverBudget> {
        self.check()?;
        Bdd::binary_op_with_limit(self.budget, a, b, op_function::or).ok_or(OverBudget)
    }

    fn not(&self, a: &Bdd) -> Bdd {
        a.not()
    }

    fn and_exists(&self, a: &Bdd, b: &Bdd, vars: &[u16]) -> Result<Bdd, OverBudget> {
        self.check()?;
        // Every step stops at the budget: the product, then one variable at a time
        // (`exists v . f` = `f[v:=0] or f[v:=1]`).
        // The library's fused `binary_op_with_exists` has no limit, so a product far
        // past the budget would be built before its size could be checked.
        let mut r = self.and(a, b)?;
        let support = r.support_set();
        for &v in vars {
            if support.contains(&var(v)) {
                self.check()?;
                // `f or f-with-v-flipped`, fused, within the budget.
                r = Bdd::fused_binary_flip_op_with_limit(
                    self.budget,
                    (&r, None),
                    (&r, Some(var(v))),
                    None,
                    op_function::or,
                )
                .ok_or(OverBudget)?;
            }
        }
        Ok(r)
    }

    fn restrict(&self, a: &Bdd, v: u16, value: bool) -> Bdd {
        a.var_restrict(var(v), value)
    }

    fn is_false(&self, a: &Bdd) -> bool {
        a.is_false()
    }

    fn nodes(&self, a: &Bdd) -> usize {
        a.size()
    }

    fn witness(&self, a: &Bdd) -> Option<Vec<bool>> {
        a.sat_witness().map(BddValuation::into_vector)
    }

    fn eval(&self, a: &Bdd, assignment: &[bool]) -> bool {
        a.eval_in(&BddValuation::new(assignment.to_vec()))
    }

    fn min_cost(
        &self,
        a: &Bdd,
        cost: &dyn Fn(u16, bool) -> u32,
        prefer: &dyn Fn(u16) -> bool,
        default: &[bool],
    ) -> Option<(u32, Vec<bool>)> {
        if a.is_false() {
            return None;
        }
        let n = a.size();
        // Nodes are stored children first: one bottom-up pass computes the cheapest way
        // from every node to the `true` terminal. Variables a path skips take their
        // default value, so their cost counts along the edge that skips them.
        let nvars = usize::from(self.vars.num_vars());
        let level = |p: BddPointer| -> usize {
            if p.is_terminal() {
                nvars
            } else {
                a.var_of(p).to_index()
            }
        };
        // Prefix sums of the cost of each variable at its default value.
        let mut pre = Vec::with_capacity(nvars + 1);
        pre.push(0u64);
        for v in 0..nvars {
            let v16 = u16::try_from(v).unwrap_or(u16::MAX);
            let c = u64::from(cost(v16, default.get(v).copied().unwrap_or(false)));
            pre.push(pre[v] + c);
        }
        let gap =
            |from: usize, to: usize| -> u64 { pre[to.min(nvars)] - pre[from.min(to).min(nvars)] };
        let inf = u64::MAX / 4;
        let mut best = vec![inf; n];
        if n > 1 {
            best[1] = 0;
        }
        for i in 2..n {
            let p = BddPointer::from_index(i);
            let v = a.var_of(p).to_index();
            let v16 = u16::try_from(v).unwrap_or(u16::MAX);
            let (lo, hi) = (a.low_link_of(p), a.high_link_of(p));
            let via = |child: BddPointer, value: bool| -> u64 {
                let b = best[child.to_index()];
                if b >= inf {
                    return inf;
                }
                b + u64::from(cost(v16, value)) + gap(v + 1, level(child))
            };
            best[i] = via(lo, false).min(via(hi, true));
        }
        let root = a.root_pointer();
        let total = best[root.to_index()] + gap(0, level(root));
        let mut out: Vec<bool> = (0..nvars)
            .map(|v| default.get(v).copied().unwrap_or(false))
            .collect();
        let mut p = root;
        while !p.is_terminal() {
            let v = a.var_of(p).to_index();
            let v16 = u16::try_from(v).unwrap_or(u16::MAX);
            let (lo, hi) = (a.low_link_of(p), a.high_link_of(p));
            let via = |child: BddPointer, value: bool| -> u64 {
                let b = best[child.to_index()];
                if b >= inf {
                    return inf;
                }
                b + u64::from(cost(v16, value)) + gap(v + 1, level(child))
            };
            let (l, h) = (via(lo, false), via(hi, true));
            let take_high = h < l || (h == l && prefer(v16));
            out[v] = take_high;
            p = if take_high { hi } else { lo };
        }
        Some((u32::try_from(total).unwrap_or(u32::MAX), out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_cost_counts_skipped_variables() {
        let b = Biodivine::new(3, 1000);
        // x0 or x2; defaults all false; each true costs 1.
        let f = b
            .or(&b.literal(0, true), &b.literal(2, true))
            .unwrap_or_else(|_| b.constant(false));
        let cost = |_: u16, v: bool| u32::from(v);
        let (c, a) = b.min_cost(&f, &cost, &|_| true, &[false; 3]).unwrap();
        assert_eq!(c, 1);
        assert!(a[0] && !a[1] && !a[2]);
        // Preferring false picks x2 instead.
        let (c, a) = b.min_cost(&f, &cost, &|_| false, &[false; 3]).unwrap();
        assert_eq!(c, 1);
        assert!(!a[0] && !a[1] && a[2]);
        assert!(
            b.min_cost(&b.constant(false), &cost, &|_| true, &[false; 3])
                .is_none()
        );
    }

    /// `v[from] and ... and v[to - 1]`: a chain of `to - from` decision nodes.
    fn chain(b: &Biodivine, from: u16, to: u16) -> Bdd {
        (from..to).fold(b.constant(true), |f, v| {
            b.and(&f, &b.literal(v, true)).unwrap()
        })
    }

    #[test]
    fn and_exists_stops_at_the_budget_inside_the_product() {
        // Each side has 20 decision nodes and the answer (`exists all . a and b`) is the
        // constant true, but the product in between has 40: a budget of 30 must stop
        // there rather than build it and check only the small answer.
        let all: Vec<u16> = (0..40).collect();
        let wide = Biodivine::new(40, 1_000);
        let (a, b) = (chain(&wide, 0, 20), chain(&wide, 20, 40));
        assert_eq!(wide.nodes(&a), 22);
        assert_eq!(wide.nodes(&wide.and(&a, &b).unwrap()), 42);
        let answer = wide.and_exists(&a, &b, &all).unwrap();
        assert!(wide.eval(&answer, &[false; 40]));
        let tight = Biodivine::new(40, 30);
        assert_eq!(tight.and_exists(&a, &b, &all), Err(OverBudget));
        // At exactly the product's size it fits.
        let exact = Biodivine::new(40, 42);
        assert!(exact.and_exists(&a, &b, &all).is_ok());
    }

    #[test]
    fn budget_is_enforced() {
        let b = Biodivine::new(40, 8);
        let mut f = b.constant(true);
        let mut over = false;
        for i in 0..20u16 {
            let x = b
                .or(&b.literal(i, true), &b.literal(i + 20, true))
                .unwrap_or_else(|_| b.constant(true));
            match b.and(&f, &x) {
                Ok(g) => f = g,
                Err(OverBudget) => {
                    over = true;
                    break;
                }
            }
        }
        assert!(over);
    }
}
