//! The finite abstraction of one action's requests, and the action's decision compiled to a
//! decision diagram over it.
//!
//! Every attribute a rule of the action reads becomes a few boolean variables:
//!
//! - `bool`: one variable;
//! - an enum: one variable per member, exactly one of them true;
//! - `set<ENUM>`: one membership variable per member;
//! - `string`: one variable per literal the rules compare it with (after joining the
//!   literals of every attribute it is compared with by `==`), plus "any other string",
//!   exactly one true; each pair of string paths compared with each other gets an
//!   "equal" variable, tied to the classes (and, for three or more paths, transitive);
//! - `int` and `version`: one variable per class of the partition that the literals
//!   induce (each literal on its own, the non-empty gaps between them, below the first
//!   and above the last), exactly one true.
//!
//! Every class has a concrete representative that the evaluator's own types accept, and
//! every test of a rule is constant on every class, so the diagram decides exactly what
//! the evaluator decides for every schema-valid request. The diagram is compiled from the
//! same compiled conditions the evaluator runs (`crate::compile`), so the two cannot
//! drift. Each attribute (and each member of a set attribute) also gets a "changed"
//! variable just before its own variables; only why-not uses those.

use super::AnalysisError;
use super::dd::{Backend, Biodivine, OverBudget};
use crate::ast::Effect;
use crate::compile::{CompiledSet, Node, Opnd, Relation};
use crate::eval::{Request, compare};
use crate::schema::{ActionId, Type};
use crate::value::{StrId, Value};
use crate::version::Version;

pub(crate) type B = Biodivine;
pub(crate) type Dd = <Biodivine as Backend>::Dd;

/// How one attribute is encoded.
#[derive(Debug, Clone)]
pub(crate) enum Dom {
    /// One variable.
    Bool { var: u16 },
    /// Exactly one of `vars` is true; `reps[i]` is class `i`'s representative (`None`:
    /// "any string that is not a literal").
    OneHot {
        vars: Vec<u16>,
        reps: Vec<Option<Value>>,
        /// Per class: it stands for a range of values (a gap between literals), not
        /// one literal.
        gap: Vec<bool>,
    },
    /// Membership bits, one per enum member.
    Set { vars: Vec<u16> },
}

/// One attribute (or parameter) the action's rules read.
#[derive(Debug, Clone)]
pub(crate) struct Attr {
    /// Index in the action's value layout.
    pub(crate) index: u32,
    /// Its type.
    pub(crate) ty: Type,
    /// Its encoding.
    pub(crate) dom: Dom,
    /// `changed` variables: one per attribute, or one per member for sets; empty for
    /// parameters (never changed).
    pub(crate) changed: Vec<u16>,
    /// A parameter, or `fixed: true` in the schema.
    pub(crate) fixed: bool,
}

/// "These two string paths are equal".
#[derive(Debug, Clone, Copy)]
pub(crate) struct EqAtom {
    pub(crate) a: usize,
    pub(crate) b: usize,
    pub(crate) var: u16,
}

/// The analysis model of one action.
#[derive(Debug, Clone)]
pub(crate) struct ActionModel {
    pub(crate) action: ActionId,
    pub(crate) backend: B,
    pub(crate) vars: u16,
    pub(crate) attrs: Vec<Attr>,
    pub(crate) eqs: Vec<EqAtom>,
    /// Every variable that is not a `changed` variable.
    pub(crate) value_vars: Vec<u16>,
    /// The consistency constraints (one class per attribute, equalities that fit).
    pub(crate) valid: Dd,
    /// Valid requests the action allows.
    pub(crate) allow: Dd,
    /// Valid requests the action denies.
    pub(crate) deny: Dd,
    /// The invariants about this action: (index in the set's invariants, root node of
    /// the condition compiled for this action, valid requests satisfying it).
    pub(crate) invariants: Vec<(usize, u32, Dd)>,
    /// String literals of the other sets modelled with this one that none of its own
    /// policies mentions: string id `u32::MAX - i` of the model is `extra_strings[i]`
    /// (from the top, so that no id of a request's own strings can be mistaken for one).
    pub(crate) extra_strings: Vec<String>,
}

/// One set's decision of an action, compiled over a model shared with other sets.
#[derive(Debug, Clone)]
pub(crate) struct SideDds {
    /// Valid requests the set allows.
    pub(crate) allow: Dd,
    /// Valid requests some allow rule matches.
    pub(crate) allow_any: Dd,
    /// Valid requests some deny rule matches.
    pub(crate) deny_any: Dd,
    /// Each rule of the action: (rule index in its set, effect, valid requests its
    /// condition holds for).
    pub(crate) rules: Vec<(u32, Effect, Dd)>,
}

struct Collect {
    /// Per layout index: read by a rule.
    used: Vec<bool>,
    /// Per layout index: literals compared with it (strings, ints, versions).
    lits: Vec<Vec<Value>>,
    /// String paths compared with each other.
    pairs: Vec<(u32, u32)>,
}

fn budget_err(action: &str) -> impl Fn(OverBudget) -> AnalysisError + '_ {
    move |_| AnalysisError::Budget {
        action: action.to_owned(),
        budget: crate::limits::MAX_ANALYSIS_NODES,
    }
}

impl ActionModel {
    /// Builds the model of `action`; past `deadline`, building, and every later
    /// operation on the model's diagrams, fails (see [`Biodivine::until`]).
    pub(crate) fn build_until(
        set: &CompiledSet,
        action: ActionId,
        deadline: Option<std::time::Instant>,
    ) -> Result<Self, AnalysisError> {
        Self::build_inner(set, &[], action, deadline).map(|(m, _)| m)
    }

    /// Builds the model of `action` over one abstraction for `set` and `others` (sets
    /// compiled against the same schema): the classes of each attribute come from the
    /// literals of all of them. The model's own diagrams (`allow`, `deny`, the
    /// invariants) are `set`'s; the second result holds each set's decision and rules,
    /// `set` first, then `others` in order.
    pub(crate) fn build_with(
        set: &CompiledSet,
        others: &[&CompiledSet],
        action: ActionId,
    ) -> Result<(Self, Vec<SideDds>), AnalysisError> {
        Self::build_inner(set, others, action, None)
    }

    fn build_inner(
        set: &CompiledSet,
        others: &[&CompiledSet],
        action: ActionId,
        deadline: Option<std::time::Instant>,
    ) -> Result<(Self, Vec<SideDds>), AnalysisError> {
        let plan = &set.plans[action as usize];
        let layout = &plan.layout;
        let name = set.schema().action(action).name.clone();
        let sides: Vec<&CompiledSet> = std::iter::once(set).chain(others.iter().copied()).collect();
        let roots_of = |s: &CompiledSet| -> Vec<(u32, Effect, Option<u32>)> {
            let p = &s.plans[action as usize];
            p.deny
                .rules
                .iter()
                .map(|r| (r.rule, Effect::Deny, r.root))
                .chain(
                    p.allow
                        .rules
                        .iter()
                        .map(|r| (r.rule, Effect::Allow, r.root)),
                )
                .collect()
        };
        // Each set's string ids, mapped into `set`'s: its own policy strings, then the
        // strings only the others mention.
        let mut extra_strings: Vec<String> = Vec::new();
        let mut extra_ids: rustc_hash::FxHashMap<String, u32> = rustc_hash::FxHashMap::default();
        let mut str_maps: Vec<Vec<u32>> = Vec::new();
        for (k, s) in sides.iter().enumerate() {
            if k == 0 {
                str_maps.push(Vec::new());
                continue;
            }
            let map = s
                .string_names
                .iter()
                .map(|t| match set.policy_string(t) {
                    Some(id) => id.0,
                    None => *extra_ids.entry(t.clone()).or_insert_with(|| {
                        extra_strings.push(t.clone());
                        let i = u32::try_from(extra_strings.len() - 1).unwrap_or(u32::MAX);
                        u32::MAX - i
                    }),
                })
                .collect();
            str_maps.push(map);
        }
        let n = layout.len as usize;
        let mut c = Collect {
            used: vec![false; n],
            lits: vec![Vec::new(); n],
            pairs: Vec::new(),
        };
        let inv_roots: Vec<(usize, u32)> = set
            .invariants()
            .iter()
            .enumerate()
            .flat_map(|(i, inv)| {
                inv.actions
                    .iter()
                    .filter(|(a, _)| *a == action)
                    .map(move |(_, root)| (i, *root))
            })
            .collect();
        for (k, s) in sides.iter().enumerate() {
            for (_, _, root) in roots_of(s) {
                if let Some(root) = root {
                    collect(s, root, layout, &mut c, &name, &str_maps[k])?;
                }
            }
        }
        for &(_, root) in &inv_roots {
            collect(set, root, layout, &mut c, &name, &[])?;
        }
        // String equality components share their literals.
        let mut parent: Vec<usize> = (0..n).collect();
        for &(a, b) in &c.pairs {
            let (ra, rb) = (find(&mut parent, a as usize), find(&mut parent, b as usize));
            if ra != rb {
                parent[ra.max(rb)] = ra.min(rb);
            }
        }
        let mut comp_lits: Vec<Vec<Value>> = vec![Vec::new(); n];
        for i in 0..n {
            let r = find(&mut parent, i);
            let l = std::mem::take(&mut c.lits[i]);
            comp_lits[r].extend(l);
        }
        // Allocate variables in layout (schema) order; each attribute's `changed`
        // variables come just before its own.
        let fixed_of = fixed_flags(set, action);
        let mut next: u32 = 0;
        let mut alloc = |k: usize| -> Result<Vec<u16>, AnalysisError> {
            let start = next;
            next += u32::try_from(k).unwrap_or(u32::MAX);
            if next > u32::from(u16::MAX) {
                return Err(AnalysisError::TooManyVariables {
                    action: name.clone(),
                });
            }
            Ok((start..next)
                .map(|v| u16::try_from(v).unwrap_or(u16::MAX))
                .collect())
        };
        let mut attrs: Vec<Attr> = Vec::new();
        let mut eqs: Vec<EqAtom> = Vec::new();
        let mut attr_of: Vec<Option<usize>> = vec![None; n];
        let mut value_vars: Vec<u16> = Vec::new();
        for i in 0..n {
            if !c.used[i] {
                continue;
            }
            let ty = layout.types[i];
            let is_param = i >= layout.params as usize;
            let fixed = is_param || fixed_of.get(i).copied().unwrap_or(false);
            let (changed, dom) = match ty {
                Type::Bool => {
                    let ch = if is_param { Vec::new() } else { alloc(1)? };
                    let v = alloc(1)?;
                    (ch, Dom::Bool { var: v[0] })
                }
                Type::Set(e) => {
                    let k = set.schema().enum_def(e).values.len();
                    let mut ch = Vec::new();
                    let mut vars = Vec::new();
                    for _ in 0..k {
                        if !is_param {
                            ch.extend(alloc(1)?);
                        }
                        vars.extend(alloc(1)?);
                    }
                    (ch, Dom::Set { vars })
                }
                Type::Enum(e) => {
                    let k = set.schema().enum_def(e).values.len();
                    let ch = if is_param { Vec::new() } else { alloc(1)? };
                    let reps: Vec<Option<Value>> = (0..k)
                        .map(|m| Some(Value::Enum(u16::try_from(m).unwrap_or(u16::MAX))))
                        .collect();
                    let vars = alloc(reps.len())?;
                    let gap = vec![false; reps.len()];
                    (ch, Dom::OneHot { vars, reps, gap })
                }
                Type::String => {
                    let root = find(&mut parent, i);
                    let mut reps: Vec<Option<Value>> = Vec::new();
                    for l in &comp_lits[root] {
                        if !reps.contains(&Some(*l)) {
                            reps.push(Some(*l));
                        }
                    }
                    reps.push(None);
                    let ch = if is_param { Vec::new() } else { alloc(1)? };
                    let vars = alloc(reps.len())?;
                    let mut gap = vec![false; reps.len()];
                    if let Some(g) = gap.last_mut() {
                        *g = true;
                    }
                    (ch, Dom::OneHot { vars, reps, gap })
                }
                Type::Int | Type::Version => {
                    let classes = ordered_classes(&comp_lits[i], ty);
                    let ch = if is_param { Vec::new() } else { alloc(1)? };
                    let vars = alloc(classes.len())?;
                    (
                        ch,
                        Dom::OneHot {
                            vars,
                            reps: classes.iter().map(|c| Some(c.0)).collect(),
                            gap: classes.iter().map(|c| c.1).collect(),
                        },
                    )
                }
            };
            match &dom {
                Dom::Bool { var } => value_vars.push(*var),
                Dom::OneHot { vars, .. } | Dom::Set { vars } => value_vars.extend(vars),
            }
            attr_of[i] = Some(attrs.len());
            attrs.push(Attr {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                ty,
                dom,
                changed,
                fixed,
            });
            // Equality atoms between this string path and earlier ones of its component.
            if ty == Type::String {
                let root = find(&mut parent, i);
                for (j, aj) in attr_of.iter().enumerate().take(i) {
                    if let Some(aj) = *aj
                        && layout.types[j] == Type::String
                        && find(&mut parent, j) == root
                    {
                        let v = alloc(1)?[0];
                        value_vars.push(v);
                        eqs.push(EqAtom {
                            a: aj,
                            b: attrs.len() - 1,
                            var: v,
                        });
                    }
                }
            }
        }
        let vars = u16::try_from(next).unwrap_or(u16::MAX);
        let backend = B::new(vars, crate::limits::MAX_ANALYSIS_NODES).until(deadline);
        let mut m = ActionModel {
            action,
            valid: backend.constant(true),
            allow: backend.constant(false),
            deny: backend.constant(true),
            invariants: Vec::new(),
            backend,
            vars,
            attrs,
            eqs,
            value_vars,
            extra_strings,
        };
        let err = budget_err(&name);
        m.valid = m.validity().map_err(&err)?;
        let mut attr_at = vec![usize::MAX; n];
        for (k, a) in m.attrs.iter().enumerate() {
            attr_at[a.index as usize] = k;
        }
        let keep_rules = !others.is_empty();
        let mut out = Vec::new();
        for (k, s) in sides.iter().enumerate() {
            let mut allow_any = m.backend.constant(false);
            let mut deny_any = m.backend.constant(false);
            let mut rules = Vec::new();
            for (rule, effect, root) in roots_of(s) {
                let cond = match root {
                    None => m.backend.constant(true),
                    Some(r) => m.node(s, r, &attr_at, &str_maps[k]).map_err(&err)?,
                };
                let cond = m.backend.and(&cond, &m.valid).map_err(&err)?;
                match effect {
                    Effect::Allow => allow_any = m.backend.or(&allow_any, &cond).map_err(&err)?,
                    Effect::Deny => deny_any = m.backend.or(&deny_any, &cond).map_err(&err)?,
                }
                if keep_rules {
                    rules.push((rule, effect, cond));
                }
            }
            let not_deny = m.backend.not(&deny_any);
            let allowed = m.backend.and(&allow_any, &not_deny).map_err(&err)?;
            out.push(SideDds {
                allow: allowed,
                allow_any,
                deny_any,
                rules,
            });
        }
        m.allow = out[0].allow.clone();
        let not_allow = m.backend.not(&m.allow);
        m.deny = m.backend.and(&m.valid, &not_allow).map_err(&err)?;
        for (i, root) in inv_roots {
            let cond = m.node(set, root, &attr_at, &[]).map_err(&err)?;
            let cond = m.backend.and(&cond, &m.valid).map_err(&err)?;
            m.invariants.push((i, root, cond));
        }
        Ok((m, out))
    }

    /// The text of string id `id` of this model (`set` is the set it was built for).
    pub(crate) fn string_text<'a>(&'a self, set: &'a CompiledSet, id: StrId) -> &'a str {
        let base = set.policy_string_count();
        if id.0 < base {
            set.string_names
                .get(id.0 as usize)
                .map_or("?", String::as_str)
        } else {
            self.extra_strings
                .get((u32::MAX - id.0) as usize)
                .map_or("?", String::as_str)
        }
    }

    /// Per value of the action's layout, the index of its attribute in `attrs`
    /// (`usize::MAX` for values no rule reads): what [`Self::node`] takes.
    pub(crate) fn attr_at(&self, set: &CompiledSet) -> Vec<usize> {
        let n = set.plans[self.action as usize].layout.len as usize;
        let mut at = vec![usize::MAX; n];
        for (k, a) in self.attrs.iter().enumerate() {
            if let Some(slot) = at.get_mut(a.index as usize) {
                *slot = k;
            }
        }
        at
    }

    fn lit(&self, v: u16, value: bool) -> Dd {
        self.backend.literal(v, value)
    }

    fn and_all(&self, xs: impl IntoIterator<Item = Dd>) -> Result<Dd, OverBudget> {
        let mut acc = self.backend.constant(true);
        for x in xs {
            acc = self.backend.and(&acc, &x)?;
        }
        Ok(acc)
    }

    fn or_all(&self, xs: impl IntoIterator<Item = Dd>) -> Result<Dd, OverBudget> {
        let mut acc = self.backend.constant(false);
        for x in xs {
            acc = self.backend.or(&acc, &x)?;
        }
        Ok(acc)
    }

    /// Exactly one of `vars`.
    fn exactly_one(&self, vars: &[u16]) -> Result<Dd, OverBudget> {
        // Built from the last variable up: `rest[i]` = exactly one of vars[i..], and
        // `none[i]` = none of vars[i..].
        let mut one = self.backend.constant(false);
        let mut none = self.backend.constant(true);
        for &v in vars.iter().rev() {
            let on = self.backend.and(&self.lit(v, true), &none)?;
            let off = self.backend.and(&self.lit(v, false), &one)?;
            one = self.backend.or(&on, &off)?;
            none = self.backend.and(&self.lit(v, false), &none)?;
        }
        Ok(one)
    }

    fn validity(&self) -> Result<Dd, OverBudget> {
        let mut v = self.backend.constant(true);
        for a in &self.attrs {
            if let Dom::OneHot { vars, .. } = &a.dom {
                v = self.backend.and(&v, &self.exactly_one(vars)?)?;
            }
        }
        for e in &self.eqs {
            let (Dom::OneHot { vars: va, reps, .. }, Dom::OneHot { vars: vb, .. }) =
                (&self.attrs[e.a].dom, &self.attrs[e.b].dom)
            else {
                continue;
            };
            // Both share one class list (their component's literals, then "other").
            let other = reps.len() - 1;
            let same_literal = self.or_all((0..other).map(|k| {
                self.backend
                    .and(&self.lit(va[k], true), &self.lit(vb[k], true))
                    .unwrap_or_else(|_| self.backend.constant(false))
            }))?;
            let both_other = self
                .backend
                .and(&self.lit(va[other], true), &self.lit(vb[other], true))?;
            // eq <-> same literal, unless both are "other" (then eq is free).
            let eq = self.lit(e.var, true);
            let ne = self.lit(e.var, false);
            let c1 = self.backend.or(
                &self
                    .backend
                    .not(&self.backend.and(&eq, &self.backend.not(&same_literal))?),
                &both_other,
            )?;
            let c2 = self.backend.or(&self.backend.not(&same_literal), &eq)?;
            let _ = ne;
            v = self.and_all([v, c1, c2])?;
        }
        // Transitivity among the equality atoms of a component.
        for x in &self.eqs {
            for y in &self.eqs {
                for z in &self.eqs {
                    // x = (p, q), y = (q, r) (either orientation), z = (p, r).
                    let ends = |e: &EqAtom| [e.a, e.b];
                    let shared = ends(x).into_iter().find(|k| ends(y).contains(k));
                    let Some(q) = shared else { continue };
                    if x.var == y.var {
                        continue;
                    }
                    let p = if x.a == q { x.b } else { x.a };
                    let r = if y.a == q { y.b } else { y.a };
                    if p == r || !((z.a == p && z.b == r) || (z.a == r && z.b == p)) {
                        continue;
                    }
                    let both = self
                        .backend
                        .and(&self.lit(x.var, true), &self.lit(y.var, true))?;
                    let imp = self
                        .backend
                        .or(&self.backend.not(&both), &self.lit(z.var, true))?;
                    v = self.backend.and(&v, &imp)?;
                }
            }
        }
        Ok(v)
    }

    /// The bits of an operand as a function of the class of attribute `k`: a closure
    /// that gives, per class representative, whether `test` holds.
    fn classes_where(
        &self,
        k: usize,
        test: &dyn Fn(Option<&Value>) -> bool,
    ) -> Result<Dd, OverBudget> {
        match &self.attrs[k].dom {
            Dom::OneHot { vars, reps, .. } => self.or_all(
                vars.iter()
                    .zip(reps)
                    .filter(|(_, r)| test(r.as_ref()))
                    .map(|(v, _)| self.lit(*v, true)),
            ),
            Dom::Bool { var } => {
                let t = test(Some(&Value::Bool(true)));
                let f = test(Some(&Value::Bool(false)));
                Ok(match (t, f) {
                    (true, true) => self.backend.constant(true),
                    (false, false) => self.backend.constant(false),
                    (true, false) => self.lit(*var, true),
                    (false, true) => self.lit(*var, false),
                })
            }
            Dom::Set { .. } => Ok(self.backend.constant(false)),
        }
    }

    /// Membership bit `m` of a set operand (a variable or a constant).
    fn member_bit(&self, set: &CompiledSet, o: Opnd, m: u16, attr_at: &[usize]) -> Dd {
        match o {
            Opnd::Const(c) => match set.consts[c as usize] {
                Value::Set(s) => self.backend.constant(s.contains(m)),
                _ => self.backend.constant(false),
            },
            Opnd::Value(s) => match attr_at.get(s as usize).and_then(|&k| self.attrs.get(k)) {
                Some(Attr {
                    dom: Dom::Set { vars },
                    ..
                }) => vars
                    .get(m as usize)
                    .map_or_else(|| self.backend.constant(false), |v| self.lit(*v, true)),
                _ => self.backend.constant(false),
            },
        }
    }

    /// Enum operand `o` equals member `m`.
    fn enum_is(&self, set: &CompiledSet, o: Opnd, m: u16, attr_at: &[usize]) -> Dd {
        match o {
            Opnd::Const(c) => self
                .backend
                .constant(set.consts[c as usize] == Value::Enum(m)),
            Opnd::Value(s) => match attr_at.get(s as usize).and_then(|&k| self.attrs.get(k)) {
                Some(Attr {
                    dom: Dom::OneHot { vars, .. },
                    ..
                }) => vars
                    .get(m as usize)
                    .map_or_else(|| self.backend.constant(false), |v| self.lit(*v, true)),
                _ => self.backend.constant(false),
            },
        }
    }

    fn enum_size(set: &CompiledSet, ty: Type) -> u16 {
        match ty {
            Type::Enum(e) | Type::Set(e) => {
                u16::try_from(set.schema().enum_def(e).values.len()).unwrap_or(0)
            }
            _ => 0,
        }
    }

    fn opnd_type(&self, set: &CompiledSet, o: Opnd) -> Type {
        match o {
            Opnd::Value(s) => set.plans[self.action as usize].layout.types[s as usize],
            Opnd::Const(_) => Type::Bool,
        }
    }

    /// Compiles condition node `n`.
    #[allow(
        clippy::too_many_lines,
        reason = "one arm per node kind of the compiled form"
    )]
    pub(crate) fn node(
        &self,
        set: &CompiledSet,
        n: u32,
        attr_at: &[usize],
        strs: &[u32],
    ) -> Result<Dd, OverBudget> {
        let b = &self.backend;
        let node = set.nodes[n as usize];
        let slot_attr = |o: Opnd| match o {
            Opnd::Value(s) => attr_at
                .get(s as usize)
                .copied()
                .filter(|&k| k != usize::MAX),
            Opnd::Const(_) => None,
        };
        let konst = |o: Opnd| match o {
            Opnd::Const(c) => Some(translate(set.consts[c as usize], strs)),
            Opnd::Value(_) => None,
        };
        Ok(match node {
            Node::Const(v) => b.constant(v),
            Node::And(s, e) => {
                let mut acc = b.constant(true);
                for &k in &set.kids[s as usize..e as usize] {
                    acc = b.and(&acc, &self.node(set, k, attr_at, strs)?)?;
                }
                acc
            }
            Node::Or(s, e) => {
                let mut acc = b.constant(false);
                for &k in &set.kids[s as usize..e as usize] {
                    acc = b.or(&acc, &self.node(set, k, attr_at, strs)?)?;
                }
                acc
            }
            Node::Not(k) => b.not(&self.node(set, k, attr_at, strs)?),
            Node::EnumIs {
                value_at: slot,
                member,
                eq,
            } => {
                let x = self.enum_is(set, Opnd::Value(slot), member, attr_at);
                if eq { x } else { b.not(&x) }
            }
            Node::HasMember {
                value_at: slot,
                member,
            } => self.member_bit(set, Opnd::Value(slot), member, attr_at),
            Node::InMask {
                value_at: slot,
                members: mask,
            } => {
                let Value::Set(m) = set.consts[mask as usize] else {
                    return Ok(b.constant(false));
                };
                self.or_all(
                    m.iter()
                        .map(|i| self.enum_is(set, Opnd::Value(slot), i, attr_at)),
                )?
            }
            Node::Bool(o) => match (slot_attr(o), konst(o)) {
                (Some(k), _) => self.classes_where(k, &|r| r == Some(&Value::Bool(true)))?,
                (None, Some(Value::Bool(v))) => b.constant(v),
                _ => b.constant(false),
            },
            Node::Cmp(op, x, y) => match (slot_attr(x), slot_attr(y)) {
                (Some(k), None) => {
                    let Some(c) = konst(y) else {
                        return Ok(b.constant(false));
                    };
                    self.cmp_const(set, k, op, &c, false)?
                }
                (None, Some(k)) => {
                    let Some(c) = konst(x) else {
                        return Ok(b.constant(false));
                    };
                    self.cmp_const(set, k, op, &c, true)?
                }
                (Some(ka), Some(kb)) => {
                    let eq = self.paths_equal(set, ka, kb, x)?;
                    match op {
                        Relation::Eq => eq,
                        Relation::Ne => b.not(&eq),
                        // Rejected when the model was built.
                        _ => b.constant(false),
                    }
                }
                (None, None) => match (konst(x), konst(y)) {
                    (Some(p), Some(q)) => b.constant(compare(op, &p, &q) == Some(true)),
                    _ => b.constant(false),
                },
            },
            Node::InList(x, s, e) => {
                let list: Vec<Value> = set.kids[s as usize..e as usize]
                    .iter()
                    .map(|&c| translate(set.consts[c as usize], strs))
                    .collect();
                match (slot_attr(x), konst(x)) {
                    (Some(k), _) => {
                        self.classes_where(k, &|r| r.is_some_and(|v| list.contains(v)))?
                    }
                    (None, Some(v)) => b.constant(list.contains(&v)),
                    _ => b.constant(false),
                }
            }
            Node::Member { set: so, elem } => {
                let ty = match so {
                    Opnd::Value(_) => self.opnd_type(set, so),
                    Opnd::Const(_) => self.opnd_type(set, elem),
                };
                let k = Self::enum_size(set, ty);
                self.or_all((0..k).map(|m| {
                    b.and(
                        &self.member_bit(set, so, m, attr_at),
                        &self.enum_is(set, elem, m, attr_at),
                    )
                    .unwrap_or_else(|_| b.constant(false))
                }))?
            }
            Node::SetAny(x, y) | Node::SetAll(x, y) => {
                let ty = match x {
                    Opnd::Value(_) => self.opnd_type(set, x),
                    Opnd::Const(_) => self.opnd_type(set, y),
                };
                let k = Self::enum_size(set, ty);
                let any = matches!(node, Node::SetAny(..));
                let mut acc = b.constant(!any);
                for m in 0..k {
                    let (xm, ym) = (
                        self.member_bit(set, x, m, attr_at),
                        self.member_bit(set, y, m, attr_at),
                    );
                    if any {
                        acc = b.or(&acc, &b.and(&xm, &ym)?)?;
                    } else {
                        acc = b.and(&acc, &b.or(&b.not(&ym), &xm)?)?;
                    }
                }
                acc
            }
        })
    }

    /// `attribute k  op  c` (or `c op attribute` when `flipped`).
    fn cmp_const(
        &self,
        set: &CompiledSet,
        k: usize,
        op: Relation,
        c: &Value,
        flipped: bool,
    ) -> Result<Dd, OverBudget> {
        let b = &self.backend;
        if let Dom::Set { vars } = &self.attrs[k].dom {
            // Set equality with a constant: every membership bit fixed.
            let Value::Set(s) = c else {
                return Ok(b.constant(false));
            };
            let mut acc = b.constant(true);
            for (m, v) in vars.iter().enumerate() {
                let bit = self.lit(*v, s.contains(u16::try_from(m).unwrap_or(u16::MAX)));
                acc = b.and(&acc, &bit)?;
            }
            let _ = set;
            return Ok(if op == Relation::Ne { b.not(&acc) } else { acc });
        }
        self.classes_where(k, &|r| match r {
            Some(v) => {
                let res = if flipped {
                    compare(op, c, v)
                } else {
                    compare(op, v, c)
                };
                res == Some(true)
            }
            // "Any other string" equals no literal.
            None => op == Relation::Ne,
        })
    }

    /// Paths `a` and `b` (attributes of one type) are equal.
    fn paths_equal(
        &self,
        set: &CompiledSet,
        ka: usize,
        kb: usize,
        x: Opnd,
    ) -> Result<Dd, OverBudget> {
        let b = &self.backend;
        let _ = x;
        match (&self.attrs[ka].dom, &self.attrs[kb].dom) {
            (Dom::Bool { var: va }, Dom::Bool { var: vb }) => {
                let both = b.and(&self.lit(*va, true), &self.lit(*vb, true))?;
                let neither = b.and(&self.lit(*va, false), &self.lit(*vb, false))?;
                b.or(&both, &neither)
            }
            (Dom::Set { vars: va }, Dom::Set { vars: vb }) => {
                let mut acc = b.constant(true);
                for (x, y) in va.iter().zip(vb) {
                    let both = b.and(&self.lit(*x, true), &self.lit(*y, true))?;
                    let neither = b.and(&self.lit(*x, false), &self.lit(*y, false))?;
                    acc = b.and(&acc, &b.or(&both, &neither)?)?;
                }
                Ok(acc)
            }
            (Dom::OneHot { vars: va, .. }, Dom::OneHot { vars: vb, .. })
                if self.attrs[ka].ty == Type::String =>
            {
                let _ = (va, vb, set);
                match self
                    .eqs
                    .iter()
                    .find(|e| (e.a == ka && e.b == kb) || (e.a == kb && e.b == ka))
                {
                    Some(e) => Ok(self.lit(e.var, true)),
                    None => Ok(b.constant(false)),
                }
            }
            (Dom::OneHot { vars: va, .. }, Dom::OneHot { vars: vb, .. }) => {
                // Enums: the same member.
                self.or_all(va.iter().zip(vb).map(|(x, y)| {
                    b.and(&self.lit(*x, true), &self.lit(*y, true))
                        .unwrap_or_else(|_| b.constant(false))
                }))
            }
            _ => Ok(b.constant(false)),
        }
    }

    /// The class index of value `v` of attribute `k` (for one-hot attributes).
    pub(crate) fn class_of(&self, k: usize, v: &Value) -> Option<usize> {
        let Dom::OneHot { reps, gap, .. } = &self.attrs[k].dom else {
            return None;
        };
        match (self.attrs[k].ty, v) {
            (Type::Enum(_), Value::Enum(m)) => Some(*m as usize).filter(|&m| m < reps.len()),
            (Type::String, Value::Str(_)) => Some(
                reps.iter()
                    .position(|r| r.as_ref() == Some(v))
                    .unwrap_or(reps.len() - 1),
            ),
            (Type::Int | Type::Version, _) => Some(ordered_class_of(reps, gap, v)),
            _ => None,
        }
    }

    /// The encoding of a complete request (every `changed` variable false).
    pub(crate) fn encode(
        &self,
        set: &CompiledSet,
        r: &Request,
    ) -> Result<Vec<bool>, AnalysisError> {
        let mut bits = vec![false; usize::from(self.vars)];
        for (k, a) in self.attrs.iter().enumerate() {
            let v = r.values.get(a.index as usize).copied().unwrap_or_default();
            let missing = || AnalysisError::IncompleteRequest {
                path: set.value_path(self.action, a.index).to_owned(),
            };
            match (&a.dom, v) {
                (_, Value::Missing) => return Err(missing()),
                (Dom::Bool { var }, Value::Bool(x)) => bits[usize::from(*var)] = x,
                (Dom::Set { vars }, Value::Set(s)) => {
                    for (m, var) in vars.iter().enumerate() {
                        bits[usize::from(*var)] = s.contains(u16::try_from(m).unwrap_or(u16::MAX));
                    }
                }
                (Dom::OneHot { vars, reps, .. }, Value::Str(id))
                    if !self.extra_strings.is_empty() =>
                {
                    // By text: the request's own strings may equal another set's literal.
                    let text = set.string(r, id);
                    let cls = reps
                        .iter()
                        .position(|rep| {
                            matches!(rep, Some(Value::Str(l)) if self.string_text(set, *l) == text)
                        })
                        .unwrap_or(reps.len() - 1);
                    bits[usize::from(vars[cls])] = true;
                }
                (Dom::OneHot { vars, .. }, v) => {
                    let cls = self.class_of(k, &v).ok_or_else(missing)?;
                    bits[usize::from(vars[cls])] = true;
                }
                _ => return Err(missing()),
            }
        }
        for e in &self.eqs {
            let (x, y) = (
                r.values.get(self.attrs[e.a].index as usize),
                r.values.get(self.attrs[e.b].index as usize),
            );
            bits[usize::from(e.var)] =
                matches!((x, y), (Some(Value::Str(p)), Some(Value::Str(q))) if p == q);
        }
        Ok(bits)
    }
}

/// A constant of a set, with its string id mapped into the model's ids by `strs` (empty:
/// the model's own set).
fn translate(v: Value, strs: &[u32]) -> Value {
    match v {
        Value::Str(id) => match strs.get(id.0 as usize) {
            Some(&m) => Value::Str(StrId(m)),
            None => v,
        },
        other => other,
    }
}

/// The representative of `x`'s union-find class, halving paths on the way.
fn find(p: &mut [usize], mut x: usize) -> usize {
    while p[x] != x {
        p[x] = p[p[x]];
        x = p[x];
    }
    x
}

/// The schema's `fixed` flag of each value of an action's layout.
fn fixed_flags(set: &CompiledSet, action: ActionId) -> Vec<bool> {
    let schema = set.schema();
    let def = schema.action(action);
    schema
        .context()
        .attrs
        .iter()
        .chain(
            def.slots
                .iter()
                .flat_map(|s| schema.entity(s.entity).attrs.iter()),
        )
        .map(|a| a.fixed)
        .collect()
}

/// Walks a condition: which values it reads, which literals it compares them with, which
/// string paths it compares with each other.
fn collect(
    set: &CompiledSet,
    n: u32,
    layout: &crate::compile::Layout,
    c: &mut Collect,
    action: &str,
    strs: &[u32],
) -> Result<(), AnalysisError> {
    let mut stack = vec![n];
    while let Some(n) = stack.pop() {
        let node = set.nodes[n as usize];
        let mut mark = |o: Opnd| {
            if let Opnd::Value(s) = o
                && let Some(u) = c.used.get_mut(s as usize)
            {
                *u = true;
            }
        };
        match node {
            Node::Const(_) => {}
            Node::And(s, e) | Node::Or(s, e) => stack.extend(&set.kids[s as usize..e as usize]),
            Node::Not(k) => stack.push(k),
            Node::EnumIs { value_at: slot, .. }
            | Node::HasMember { value_at: slot, .. }
            | Node::InMask { value_at: slot, .. } => {
                mark(Opnd::Value(slot));
            }
            Node::Bool(o) => mark(o),
            Node::Member { set: a, elem: b } | Node::SetAny(a, b) | Node::SetAll(a, b) => {
                mark(a);
                mark(b);
            }
            Node::InList(a, s, e) => {
                mark(a);
                if let Opnd::Value(slot) = a {
                    let ty = layout.types[slot as usize];
                    if matches!(ty, Type::String | Type::Int | Type::Version) {
                        for &k in &set.kids[s as usize..e as usize] {
                            c.lits[slot as usize].push(translate(set.consts[k as usize], strs));
                        }
                    }
                }
            }
            Node::Cmp(op, a, b) => {
                mark(a);
                mark(b);
                match (a, b) {
                    (Opnd::Value(s), Opnd::Const(k)) | (Opnd::Const(k), Opnd::Value(s)) => {
                        let ty = layout.types[s as usize];
                        if matches!(ty, Type::String | Type::Int | Type::Version) {
                            c.lits[s as usize].push(translate(set.consts[k as usize], strs));
                        }
                    }
                    (Opnd::Value(x), Opnd::Value(y)) => {
                        let ty = layout.types[x as usize];
                        match ty {
                            Type::String if matches!(op, Relation::Eq | Relation::Ne) => {
                                c.pairs.push((x, y));
                            }
                            Type::Int | Type::Version | Type::String => {
                                return Err(AnalysisError::Unsupported {
                                    action: action.to_owned(),
                                    what: format!(
                                        "`{} {} {}` compares two {} paths; analysis models only literals and equality of strings between paths",
                                        layout.paths[x as usize],
                                        ord_str(op),
                                        layout.paths[y as usize],
                                        if ty == Type::String {
                                            "string"
                                        } else if ty == Type::Int {
                                            "int"
                                        } else {
                                            "version"
                                        },
                                    ),
                                });
                            }
                            _ => {}
                        }
                    }
                    (Opnd::Const(_), Opnd::Const(_)) => {}
                }
            }
        }
    }
    Ok(())
}

fn ord_str(op: Relation) -> &'static str {
    match op {
        Relation::Eq => "==",
        Relation::Ne => "!=",
        Relation::Lt => "<",
        Relation::Le => "<=",
        Relation::Gt => ">",
        Relation::Ge => ">=",
    }
}

/// The next and previous value of an int or a version, if there is one.
fn step(v: &Value, up: bool) -> Option<Value> {
    match v {
        Value::Int(i) => (if up {
            i.checked_add(1)
        } else {
            i.checked_sub(1)
        })
        .map(Value::Int),
        Value::Version(ver) => {
            let mut p = ver.parts();
            let last = p.len() - 1;
            let mut i = last;
            loop {
                if up {
                    if p[i] < u32::MAX {
                        p[i] += 1;
                        break;
                    }
                    p[i] = 0;
                } else {
                    if p[i] > 0 {
                        p[i] -= 1;
                        break;
                    }
                    p[i] = u32::MAX;
                }
                if i == 0 {
                    return None;
                }
                i -= 1;
            }
            // Through the evaluator's own parser, so the representative is a value it
            // accepts.
            Version::parse(&version_text(&p)).ok().map(Value::Version)
        }
        _ => None,
    }
}

/// Version parts as text, without trailing zero parts (missing parts count as 0), so a
/// representative reads `9.2.22104.174` rather than `9.2.22104.174.0.0`.
fn version_text(p: &[u32]) -> String {
    let keep = p
        .iter()
        .rposition(|&x| x != 0)
        .map_or(1, |i| i + 1)
        .max(2)
        .min(p.len());
    let text: Vec<String> = p[..keep].iter().map(u32::to_string).collect();
    text.join(".")
}

/// The classes of an int or version attribute compared with `lits`, ascending: each
/// literal, and one representative of every non-empty gap (flagged `true`).
fn ordered_classes(lits: &[Value], ty: Type) -> Vec<(Value, bool)> {
    let mut ls: Vec<Value> = lits
        .iter()
        .copied()
        .filter(|v| {
            matches!(
                (ty, v),
                (Type::Int, Value::Int(_)) | (Type::Version, Value::Version(_))
            )
        })
        .collect();
    ls.sort_by(cmp_values);
    ls.dedup();
    if ls.is_empty() {
        return vec![(
            match ty {
                Type::Int => Value::Int(0),
                _ => Value::Version(Version::default()),
            },
            true,
        )];
    }
    let mut out = Vec::new();
    if let Some(below) = between(None, Some(&ls[0])) {
        out.push((below, true));
    }
    for (i, l) in ls.iter().enumerate() {
        out.push((*l, false));
        if let Some(up) = between(Some(l), ls.get(i + 1)) {
            out.push((up, true));
        }
    }
    out
}

/// A value strictly between `lo` and `hi` (either may be open), readable where possible:
/// for versions, `9.1.0.5804` below `9.1.0.5805` rather than `9.1.0.5804.4294967295.4294967295`.
fn between(lo: Option<&Value>, hi: Option<&Value>) -> Option<Value> {
    use std::cmp::Ordering::{Greater, Less};
    let inside = |v: &Value| {
        lo.is_none_or(|l| cmp_values(v, l) == Greater)
            && hi.is_none_or(|h| cmp_values(v, h) == Less)
    };
    let mut candidates: Vec<Value> = Vec::new();
    let tweak = |v: &Value, up: bool, extra: bool| -> Option<Value> {
        let Value::Version(ver) = v else { return None };
        let mut p = ver.parts();
        let last = p.iter().rposition(|&x| x != 0).unwrap_or(0);
        if extra {
            let slot = p.get_mut(last + 1)?;
            *slot = 1;
        } else if up {
            p[last] = p[last].checked_add(1)?;
        } else {
            p[last] = p[last].checked_sub(1)?;
        }
        Version::parse(&version_text(&p)).ok().map(Value::Version)
    };
    if let Some(h) = hi {
        candidates.extend(tweak(h, false, false));
    }
    if let Some(l) = lo {
        candidates.extend(tweak(l, true, false));
        candidates.extend(tweak(l, false, true));
        candidates.extend(step(l, true));
    }
    if let Some(h) = hi {
        candidates.extend(step(h, false));
    }
    candidates.into_iter().find(inside)
}

fn cmp_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Version(x), Value::Version(y)) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    }
}

/// The class of `v` among ordered classes (ascending representatives; `gap[i]`: class `i`
/// is a range between literals).
fn ordered_class_of(reps: &[Option<Value>], gap: &[bool], v: &Value) -> usize {
    use std::cmp::Ordering;
    let Some(i) = reps.iter().rposition(|r| {
        r.as_ref()
            .is_some_and(|r| cmp_values(r, v) != Ordering::Greater)
    }) else {
        // Below every representative: the class below the first literal.
        return 0;
    };
    if !gap[i]
        && reps[i]
            .as_ref()
            .is_some_and(|r| cmp_values(r, v) == Ordering::Less)
    {
        // Strictly above literal `i`: the gap after it (non-empty, since `v` is in it).
        return (i + 1).min(reps.len() - 1);
    }
    i
}
