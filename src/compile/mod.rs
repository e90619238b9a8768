//! Compilation: [`ValidatedSet`] → [`CompiledSet`], the form built for deciding.
//!
//! - Each action gets its own plan, so a decision only looks at the rules of its action.
//! - A request is a flat array of [`Value`]s; every attribute path becomes an index into
//!   it (context attributes first, then each slot's attributes, then parameters).
//! - String literals are interned, enum members are small integers and enum sets are bit
//!   sets, so deciding needs no string comparison and no allocation.
//! - Within an action, rules whose condition requires an enum attribute to equal a value
//!   (`mailbox.server == "exchange_online"`, or `in [...]`) are indexed by that attribute,
//!   so a request only visits the rules that can match it.
//! - Conditions become a flat arena of `Node`s.
//! - An action's rules made of enum, set and bool tests are also held in normal form over
//!   a bitset of the tests they share, so a decision evaluates each test once (`bits`).

mod bits;

pub(crate) use bits::{ActionBits, AtomBits};

use crate::ast::{CmpOp, Effect};
use crate::schema::{ActionId, Schema, Type};
use crate::source::{SourceMap, Span};
use crate::validate::{Operand, Root, TExpr, TKind, ValidatedSet};
use crate::value::{Const, StrId, Value};
use std::collections::HashMap;

/// An operand: a request value or a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opnd {
    /// Index into the request's values (see [`Layout`]).
    Value(u32),
    /// Index into the constants.
    Const(u32),
}

/// The relation a comparison node tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relation {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A compiled condition node. Children are ranges of [`CompiledSet::kids`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Node {
    Const(bool),
    And(u32, u32),
    Or(u32, u32),
    Not(u32),
    Bool(Opnd),
    Cmp(Relation, Opnd, Opnd),
    InList(Opnd, u32, u32),
    Member {
        set: Opnd,
        elem: Opnd,
    },
    SetAny(Opnd, Opnd),
    SetAll(Opnd, Opnd),
    // Specialised forms of the commonest tests, with their constant inline. `value_at`
    // is the index of the request value they read:
    /// `value == member` (`eq`) or `value != member` on an enum value.
    EnumIs {
        value_at: u32,
        member: u16,
        eq: bool,
    },
    /// `value contains member` on a set value.
    HasMember {
        value_at: u32,
        member: u16,
    },
    /// `value in [...]` on an enum value; `members` is the index of the constant set of
    /// members listed.
    InMask {
        value_at: u32,
        members: u32,
    },
}

/// Source information for a node (used only by explanations).
#[derive(Debug, Clone)]
pub(crate) struct NodeMeta {
    pub(crate) span: Span,
    pub(crate) let_name: Option<String>,
    /// Where the node is written in its parent (a `let`'s use site for its root).
    pub(crate) site: Span,
}

/// What a decision says about a rule.
#[derive(Debug, Clone)]
pub struct RuleInfo {
    /// Its id.
    pub id: String,
    /// Its effect.
    pub effect: Effect,
    /// Its reason, if it has one.
    pub reason: Option<String>,
    /// The file it is in.
    pub file: String,
    /// The line its id is on.
    pub line: usize,
}

/// An invariant, its condition compiled once per action it speaks about. Decisions never
/// read it; `mailgate verify` does.
#[derive(Debug, Clone)]
pub struct CompiledInvariant {
    /// Its id.
    pub id: String,
    /// What it claims.
    pub form: crate::ast::InvariantForm,
    /// Each action, with the root node of the condition compiled for it.
    pub actions: Vec<(ActionId, u32)>,
    /// Its reason.
    pub reason: Option<String>,
    /// The file it is in.
    pub file: String,
    /// The line its id is on.
    pub line: usize,
}

/// Where each part of a request lives in its flat value array.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Offset of each slot's first attribute, in the action's slot order.
    pub slots: Vec<u32>,
    /// Offset of the first parameter.
    pub params: u32,
    /// Total number of values.
    pub len: u32,
    /// The type of each value.
    pub types: Vec<Type>,
    /// The path of each value, as a policy writes it (`user.upn`, `request.role`).
    pub paths: Vec<String>,
    /// The schema default of each value (`Value::Missing` where there is none).
    pub defaults: Vec<Value>,
}

/// One compiled rule within an action's plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CRule {
    pub(crate) rule: u32,
    /// Root node, or `None` for a rule without a condition.
    pub(crate) root: Option<u32>,
}

/// Rules of one effect for one action, with an optional index.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuleList {
    pub(crate) rules: Vec<CRule>,
    /// Positions `0..rules.len()`.
    pub(crate) all: Vec<u32>,
    pub(crate) index: Option<EnumIndex>,
}

/// Rules bucketed by the value of one enum attribute.
#[derive(Debug, Clone)]
pub(crate) struct EnumIndex {
    /// The request value the index is keyed on.
    pub(crate) value_at: u32,
    /// `(member, list)` for every member some rule requires, sorted by member.
    pub(crate) keys: Vec<(u16, u32)>,
    /// Rule positions (in rule order) per list; list 0 holds the rules that do not
    /// constrain the attribute, used for members no rule names.
    pub(crate) lists: Vec<Vec<u32>>,
}

impl RuleList {
    /// The positions of rules that can match a request.
    #[inline]
    pub(crate) fn candidates(&self, values: &[Value]) -> &[u32] {
        if let Some(ix) = &self.index
            && let Some(Value::Enum(v)) = values.get(ix.value_at as usize)
        {
            let list = match ix.keys.binary_search_by_key(v, |k| k.0) {
                Ok(i) => ix.keys[i].1,
                Err(_) => 0,
            };
            return &ix.lists[list as usize];
        }
        &self.all
    }
}

/// The plan for one action.
#[derive(Debug, Clone)]
pub(crate) struct ActionPlan {
    pub(crate) layout: Layout,
    pub(crate) deny: RuleList,
    pub(crate) allow: RuleList,
    /// The rules in normal form over a bitset of shared tests (see [`bits`]).
    pub(crate) bits: Option<ActionBits>,
}

/// A policy set compiled for deciding.
#[derive(Debug, Clone)]
pub struct CompiledSet {
    /// This set's identity: every request it builds carries it (never 0).
    pub(crate) id: u64,
    pub(crate) schema: Schema,
    pub(crate) rules: Vec<RuleInfo>,
    pub(crate) invariants: Vec<CompiledInvariant>,
    pub(crate) plans: Vec<ActionPlan>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) meta: Vec<NodeMeta>,
    pub(crate) kids: Vec<u32>,
    pub(crate) consts: Vec<Value>,
    pub(crate) strings: rustc_hash::FxHashMap<String, u32>,
    pub(crate) string_names: Vec<String>,
    pub(crate) sources: SourceMap,
}

impl CompiledSet {
    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Facts about rule `i` (as found in [`crate::eval::Decision::rules`]), or `None` for
    /// an index this set did not hand out.
    pub fn get_rule(&self, i: u32) -> Option<&RuleInfo> {
        self.rules.get(usize::try_from(i).ok()?)
    }

    /// Facts about a rule by an index taken from this set's own decisions (crate-internal:
    /// callers outside use [`CompiledSet::get_rule`], which cannot panic on a foreign index).
    pub(crate) fn rule(&self, i: u32) -> &RuleInfo {
        &self.rules[i as usize]
    }

    /// All rules, in load order.
    pub fn rules(&self) -> &[RuleInfo] {
        &self.rules
    }

    /// All invariants, in load order.
    pub fn invariants(&self) -> &[CompiledInvariant] {
        &self.invariants
    }

    /// The value layout of an action's requests, or `None` for an id this set's schema did
    /// not hand out.
    pub fn get_layout(&self, action: ActionId) -> Option<&Layout> {
        self.plans.get(usize::from(action)).map(|p| &p.layout)
    }

    /// The value layout of an action by an id taken from this set's schema (crate-internal:
    /// callers outside use [`CompiledSet::get_layout`], which cannot panic on a foreign id).
    pub(crate) fn layout(&self, action: ActionId) -> &Layout {
        &self.plans[action as usize].layout
    }

    /// The source files the policies came from.
    pub fn sources(&self) -> &SourceMap {
        &self.sources
    }

    /// Number of policy rules that apply to `action`, or `None` for an id this set's schema
    /// did not hand out.
    pub fn rule_count(&self, action: ActionId) -> Option<usize> {
        let p = self.plans.get(usize::from(action))?;
        Some(p.deny.rules.len() + p.allow.rules.len())
    }

    /// The id of a string that appears in the policies, if it does.
    pub fn policy_string(&self, s: &str) -> Option<StrId> {
        self.strings.get(s).map(|&i| StrId(i))
    }

    /// Number of strings interned from the policies (request-only strings get ids above).
    pub fn policy_string_count(&self) -> u32 {
        u32::try_from(self.string_names.len()).unwrap_or(u32::MAX)
    }
}

/// Builds the layout of every action from the schema.
pub fn layouts(schema: &Schema) -> Vec<Layout> {
    schema
        .actions
        .iter()
        .map(|a| {
            let ctx = schema.context();
            let mut types: Vec<Type> = ctx.attrs.iter().map(|x| x.ty).collect();
            let mut paths: Vec<String> = ctx
                .attrs
                .iter()
                .map(|x| format!("{}.{}", ctx.name, x.name))
                .collect();
            let mut slots = Vec::with_capacity(a.slots.len());
            for s in &a.slots {
                slots.push(idx(types.len()));
                let def = schema.entity(s.entity);
                types.extend(def.attrs.iter().map(|x| x.ty));
                paths.extend(def.attrs.iter().map(|x| format!("{}.{}", s.name, x.name)));
            }
            let params = idx(types.len());
            types.extend(a.params.iter().map(|p| p.ty));
            paths.extend(a.params.iter().map(|p| format!("request.{}", p.name)));
            Layout {
                slots,
                params,
                len: idx(types.len()),
                types,
                paths,
                defaults: Vec::new(),
            }
        })
        .collect()
}

/// The next compiled set's identity. Each compiled set gets its own, so a request cannot
/// be decided by a set other than the one that built it (see [`crate::eval::Request`]).
static NEXT_SET_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A set that could not be compiled: the error and the path it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileFailure {
    /// What is wrong.
    pub error: CompileError,
    /// Where.
    pub span: Span,
}

/// Compiles a validated set. `sources` is kept for explanations.
///
/// # Errors
///
/// A path that names no value of its action (validation rules this out; a set built
/// against another schema is refused instead of reading index 0).
pub fn compile(set: &ValidatedSet, sources: SourceMap) -> Result<CompiledSet, CompileFailure> {
    let schema = set.schema().clone();
    let layouts = layouts(&schema);
    let mut c = Compiler {
        nodes: Vec::new(),
        meta: Vec::new(),
        kids: Vec::new(),
        consts: Vec::new(),
        const_ix: rustc_hash::FxHashMap::default(),
        strings: rustc_hash::FxHashMap::default(),
        string_names: Vec::new(),
        error: None,
    };
    let mut layouts = layouts;
    for (a, layout) in layouts.iter_mut().enumerate() {
        let action = schema.action(ActionId::try_from(a).unwrap_or(ActionId::MAX));
        let mut defaults: Vec<Value> = Vec::with_capacity(layout.len as usize);
        let ctx = schema.context();
        let attrs = ctx.attrs.iter().chain(
            action
                .slots
                .iter()
                .flat_map(|s| schema.entity(s.entity).attrs.iter()),
        );
        for attr in attrs {
            defaults.push(attr.default.as_ref().map_or(Value::Missing, |d| c.value(d)));
        }
        defaults.extend(action.params.iter().map(|_| Value::Missing));
        layout.defaults = defaults;
    }
    let mut plans: Vec<ActionPlan> = layouts
        .into_iter()
        .map(|layout| ActionPlan {
            layout,
            deny: RuleList::default(),
            allow: RuleList::default(),
            bits: None,
        })
        .collect();
    let mut rules = Vec::with_capacity(set.rules().len());
    for (i, rule) in set.rules().iter().enumerate() {
        let ri = u32::try_from(i).unwrap_or(u32::MAX);
        let loc = sources.location(rule.id_span);
        rules.push(RuleInfo {
            id: rule.id.clone(),
            effect: rule.effect,
            reason: rule.reason.clone(),
            file: loc.file.to_owned(),
            line: loc.line,
        });
        for &a in &rule.actions {
            let root = rule
                .condition
                .as_ref()
                .map(|cond| c.expr(cond, &schema, a, &plans[a as usize].layout));
            let plan = &mut plans[a as usize];
            let list = match rule.effect {
                Effect::Allow => &mut plan.allow,
                Effect::Deny => &mut plan.deny,
            };
            list.rules.push(CRule { rule: ri, root });
        }
    }
    let mut invariants = Vec::with_capacity(set.invariants().len());
    for inv in set.invariants() {
        let loc = sources.location(inv.id_span);
        let actions = inv
            .actions
            .iter()
            .map(|&a| {
                (
                    a,
                    c.expr(&inv.condition, &schema, a, &plans[a as usize].layout),
                )
            })
            .collect();
        invariants.push(CompiledInvariant {
            id: inv.id.clone(),
            form: inv.form,
            actions,
            reason: inv.reason.clone(),
            file: loc.file.to_owned(),
            line: loc.line,
        });
    }
    for plan in &mut plans {
        let ActionPlan {
            layout,
            deny,
            allow,
            bits,
        } = plan;
        for list in [&mut *deny, &mut *allow] {
            list.all = (0..u32::try_from(list.rules.len()).unwrap_or(u32::MAX)).collect();
            list.index = c.build_index(list, &layout.types);
        }
        *bits = ActionBits::build(&c.nodes, &c.kids, &c.consts, &deny.rules, &allow.rules);
    }
    if let Some((error, span)) = c.error {
        return Err(CompileFailure { error, span });
    }
    Ok(CompiledSet {
        id: NEXT_SET_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        schema,
        rules,
        invariants,
        plans,
        nodes: c.nodes,
        meta: c.meta,
        kids: c.kids,
        consts: c.consts,
        strings: c.strings,
        string_names: c.string_names,
        sources,
    })
}

struct Compiler {
    nodes: Vec<Node>,
    meta: Vec<NodeMeta>,
    kids: Vec<u32>,
    consts: Vec<Value>,
    const_ix: rustc_hash::FxHashMap<Value, u32>,
    strings: rustc_hash::FxHashMap<String, u32>,
    string_names: Vec<String>,
    /// The first path that named no value, with its source.
    error: Option<(CompileError, Span)>,
}

fn idx(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Compiler {
    fn push(&mut self, node: Node, e: &TExpr) -> u32 {
        self.nodes.push(node);
        self.meta.push(NodeMeta {
            span: e.span,
            let_name: e.let_name.clone(),
            site: e.site,
        });
        idx(self.nodes.len() - 1)
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = idx(self.string_names.len());
        self.strings.insert(s.to_owned(), i);
        self.string_names.push(s.to_owned());
        i
    }

    fn value(&mut self, c: &Const) -> Value {
        c.to_value(|s| StrId(self.intern(s)))
    }

    fn constant(&mut self, c: &Const) -> u32 {
        let v = self.value(c);
        if let Some(&i) = self.const_ix.get(&v) {
            return i;
        }
        let i = idx(self.consts.len());
        self.consts.push(v);
        self.const_ix.insert(v, i);
        i
    }

    fn operand(&mut self, o: &Operand, schema: &Schema, action: ActionId, layout: &Layout) -> Opnd {
        match o {
            Operand::Const(c, ..) => Opnd::Const(self.constant(c)),
            Operand::Path(p) => match path_index(&p.root, schema, action, layout) {
                Ok(i) => Opnd::Value(i),
                Err(e) => {
                    // Fail closed: remember the first error; `compile` returns it, so
                    // this placeholder is never evaluated.
                    self.error.get_or_insert((e, p.span));
                    Opnd::Value(0)
                }
            },
        }
    }

    fn expr(&mut self, e: &TExpr, schema: &Schema, action: ActionId, layout: &Layout) -> u32 {
        let op = |c: &mut Self, o: &Operand| c.operand(o, schema, action, layout);
        let node = match &e.kind {
            TKind::And(xs) | TKind::Or(xs) => {
                let children: Vec<u32> = xs
                    .iter()
                    .map(|x| self.expr(x, schema, action, layout))
                    .collect();
                let start = idx(self.kids.len());
                self.kids.extend(children);
                let end = idx(self.kids.len());
                if matches!(e.kind, TKind::And(_)) {
                    Node::And(start, end)
                } else {
                    Node::Or(start, end)
                }
            }
            TKind::Not(x) => Node::Not(self.expr(x, schema, action, layout)),
            TKind::Bool(Operand::Const(Const::Bool(b), ..)) => Node::Const(*b),
            TKind::Bool(o) => Node::Bool(op(self, o)),
            TKind::Cmp { op: cmp, lhs, rhs } => {
                let ord = match cmp {
                    CmpOp::Eq => Relation::Eq,
                    CmpOp::Ne => Relation::Ne,
                    CmpOp::Lt => Relation::Lt,
                    CmpOp::Le => Relation::Le,
                    CmpOp::Gt => Relation::Gt,
                    _ => Relation::Ge,
                };
                Node::Cmp(ord, op(self, lhs), op(self, rhs))
            }
            TKind::InList { elem, list } => {
                let a = op(self, elem);
                let values: Vec<u32> = list.iter().map(|c| self.constant(c)).collect();
                let start = idx(self.kids.len());
                self.kids.extend(values);
                Node::InList(a, start, idx(self.kids.len()))
            }
            TKind::Member { set, elem } => Node::Member {
                set: op(self, set),
                elem: op(self, elem),
            },
            TKind::SetOp { any, set, other } => {
                let (a, b) = (op(self, set), op(self, other));
                if *any {
                    Node::SetAny(a, b)
                } else {
                    Node::SetAll(a, b)
                }
            }
        };
        let node = self.specialise(node);
        self.push(node, e)
    }

    /// The specialised form of a node, where it has one.
    fn specialise(&self, node: Node) -> Node {
        let enum_const = |c: u32| match self.consts[c as usize] {
            Value::Enum(m) => Some(m),
            _ => None,
        };
        match node {
            Node::Cmp(
                op @ (Relation::Eq | Relation::Ne),
                Opnd::Value(value_at),
                Opnd::Const(c),
            )
            | Node::Cmp(
                op @ (Relation::Eq | Relation::Ne),
                Opnd::Const(c),
                Opnd::Value(value_at),
            ) => match enum_const(c) {
                Some(member) => Node::EnumIs {
                    value_at,
                    member,
                    eq: op == Relation::Eq,
                },
                None => node,
            },
            Node::Member {
                set: Opnd::Value(value_at),
                elem: Opnd::Const(c),
            } => match enum_const(c) {
                Some(member) => Node::HasMember { value_at, member },
                None => node,
            },
            Node::Member {
                set: Opnd::Const(members),
                elem: Opnd::Value(value_at),
            } if matches!(self.consts[members as usize], Value::Set(_)) => {
                Node::InMask { value_at, members }
            }
            _ => node,
        }
    }

    /// Finds the enum attribute most rules of the list require a value of, and buckets
    /// the rules by it. Indexing never changes a decision: a rule is left out of a bucket
    /// only when one of its top-level `and` terms is false for every request in it, and
    /// a false term makes the whole `and` false even if another term has an error.
    fn build_index(&self, list: &RuleList, types: &[Type]) -> Option<EnumIndex> {
        if list.rules.len() < 4 {
            return None;
        }
        let constraints: Vec<Vec<(u32, Vec<u16>)>> = list
            .rules
            .iter()
            .map(|r| {
                r.root
                    .map(|root| self.constraints(root))
                    .unwrap_or_default()
            })
            .collect();
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for cs in &constraints {
            let mut seen = Vec::new();
            for (value_at, _) in cs {
                if !seen.contains(value_at) {
                    seen.push(*value_at);
                    *counts.entry(*value_at).or_default() += 1;
                }
            }
        }
        let (&value_at, &count) = counts
            .iter()
            .max_by_key(|(s, n)| (**n, std::cmp::Reverse(**s)))?;
        if count < 2 || !matches!(types.get(value_at as usize), Some(Type::Enum(_))) {
            return None;
        }
        // For each rule: the members it allows (sorted), or `None` if it does not care.
        let mut unconstrained = Vec::new();
        let mut by_member: std::collections::BTreeMap<u16, Vec<u32>> =
            std::collections::BTreeMap::new();
        for (pos, cs) in constraints.iter().enumerate() {
            let mut allowed: Option<Vec<u16>> = None;
            for (s, members) in cs {
                if *s == value_at {
                    // Both sorted: intersect in one pass.
                    allowed = Some(match allowed {
                        None => members.clone(),
                        Some(prev) => intersect_sorted(&prev, members),
                    });
                }
            }
            match allowed {
                None => unconstrained.push(idx(pos)),
                Some(members) => {
                    for m in members {
                        by_member.entry(m).or_default().push(idx(pos));
                    }
                }
            }
        }
        // Every bucket repeats the unconstrained rules; an index that would be much larger
        // than the rule list is not worth it (and would grow quadratically).
        let size: usize = by_member
            .values()
            .map(|c| c.len() + unconstrained.len())
            .sum();
        if size > 8 * list.rules.len() + 4096 {
            return None;
        }
        let mut keys = Vec::with_capacity(by_member.len());
        let mut lists = vec![unconstrained.clone()];
        for (member, constrained) in by_member {
            let mut merged: Vec<u32> = constrained.iter().chain(&unconstrained).copied().collect();
            merged.sort_unstable();
            merged.dedup();
            keys.push((member, idx(lists.len())));
            lists.push(merged);
        }
        Some(EnumIndex {
            value_at,
            keys,
            lists,
        })
    }

    /// Top-level `and` terms of the form `value_at == member` or `value_at in [members]`, as the
    /// members each allows (sorted).
    fn constraints(&self, root: u32) -> Vec<(u32, Vec<u16>)> {
        let terms: &[u32] = match self.nodes[root as usize] {
            Node::And(s, e) => &self.kids[s as usize..e as usize],
            _ => std::slice::from_ref(&root),
        };
        terms
            .iter()
            .filter_map(|&t| match self.nodes[t as usize] {
                Node::Cmp(Relation::Eq, Opnd::Value(s), Opnd::Const(c))
                | Node::Cmp(Relation::Eq, Opnd::Const(c), Opnd::Value(s)) => {
                    match self.consts[c as usize] {
                        Value::Enum(v) => Some((s, vec![v])),
                        _ => None,
                    }
                }
                Node::EnumIs {
                    value_at,
                    member,
                    eq: true,
                } => Some((value_at, vec![member])),
                Node::Member {
                    set: Opnd::Const(c),
                    elem: Opnd::Value(s),
                }
                | Node::InMask {
                    value_at: s,
                    members: c,
                } => match self.consts[c as usize] {
                    Value::Set(set) => Some((s, set.iter().collect())),
                    _ => None,
                },
                Node::InList(Opnd::Value(s), start, end) => {
                    let mut members = Vec::new();
                    for &c in &self.kids[start as usize..end as usize] {
                        match self.consts[c as usize] {
                            Value::Enum(v) => members.push(v),
                            _ => return None,
                        }
                    }
                    members.sort_unstable();
                    members.dedup();
                    Some((s, members))
                }
                _ => None,
            })
            .collect()
    }
}

/// The members both sorted lists hold, sorted.
fn intersect_sorted(a: &[u16], b: &[u16]) -> Vec<u16> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Why a validated set could not be compiled. Validation rules all of these out; the
/// compiler still fails closed on them instead of reading some other value (index 0).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// An action id the schema did not hand out.
    #[error("action id {0} is not in the schema")]
    UnknownAction(ActionId),
    /// A path through a slot the action does not have.
    #[error("`{name}` is not a slot of action `{action}`")]
    UnknownSlot {
        /// The action.
        action: String,
        /// The slot name.
        name: String,
    },
    /// A path to a parameter the action does not have.
    #[error("`{name}` is not a parameter of action `{action}`")]
    UnknownParam {
        /// The action.
        action: String,
        /// The parameter name.
        name: String,
    },
}

/// The index in an action's value array of a path, or why there is none.
///
/// # Errors
///
/// A foreign action id, or a slot or parameter the action does not have.
pub(crate) fn path_index(
    root: &Root,
    schema: &Schema,
    action: ActionId,
    layout: &Layout,
) -> Result<u32, CompileError> {
    let def = schema
        .get_action(action)
        .ok_or(CompileError::UnknownAction(action))?;
    match root {
        Root::Context { attr } => Ok(idx(*attr)),
        Root::Slot { name, attr } => {
            let base = def
                .slot_position(name)
                .and_then(|pos| layout.slots.get(pos).copied())
                .ok_or_else(|| CompileError::UnknownSlot {
                    action: def.name.clone(),
                    name: name.clone(),
                })?;
            Ok(base + idx(*attr))
        }
        Root::Param { name } => {
            let pos = def
                .param_position(name)
                .ok_or_else(|| CompileError::UnknownParam {
                    action: def.name.clone(),
                    name: name.clone(),
                })?;
            Ok(layout.params + idx(pos))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{CompileError, layouts, path_index};
    use crate::schema::ActionId;
    use crate::validate::Root;

    fn schema() -> crate::schema::Schema {
        let loaded = crate::policy_set::load_texts(include_str!("../../policies/schema.yaml"), &[])
            .unwrap_or_else(|f| panic!("schema loads: {:?}", f.diagnostics));
        loaded.set.schema().clone()
    }

    #[test]
    fn a_foreign_action_id_is_an_error_not_index_0() {
        let schema = schema();
        let layouts = layouts(&schema);
        let foreign = ActionId::try_from(layouts.len()).unwrap();
        assert!(schema.get_action(foreign).is_none());
        assert_eq!(
            path_index(&Root::Context { attr: 0 }, &schema, foreign, &layouts[0]),
            Err(CompileError::UnknownAction(foreign))
        );
        assert!(schema.get_action(ActionId::MAX).is_none());
        assert!(schema.get_entity(u16::MAX).is_none());
        assert!(schema.get_enum_def(u16::MAX).is_none());
    }

    #[test]
    fn an_unknown_slot_or_parameter_is_an_error_not_index_0() {
        let schema = schema();
        let layouts = layouts(&schema);
        let slot = Root::Slot {
            name: "no_such_slot".to_owned(),
            attr: 0,
        };
        assert!(matches!(
            path_index(&slot, &schema, 0, &layouts[0]),
            Err(CompileError::UnknownSlot { .. })
        ));
        let param = Root::Param {
            name: "no_such_param".to_owned(),
        };
        assert!(matches!(
            path_index(&param, &schema, 0, &layouts[0]),
            Err(CompileError::UnknownParam { .. })
        ));
    }
}
