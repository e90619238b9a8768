//! `diff`: how two policy sets decide differently, for every schema-valid request.
//!
//! Both sets are compiled against one schema and modelled per action over one
//! abstraction (the classes of each attribute come from the literals of both sets), so
//! their decisions are two diagrams over the same variables. Then
//!
//! - `gained = New and not Old` (deny → allow) and `lost = Old and not New` (allow →
//!   deny), over valid requests;
//! - the verdict: both empty `equivalent`, only gains `more_permissive`, only losses
//!   `less_permissive`, both `incomparable`. It is exact: no class cap changes it.
//!
//! Each flip region is split into classes by cause: the rules that decide a request in
//! the old set and in the new one (every matching rule of the winning effect, as the
//! evaluator reports them). The class of a request is found from the request closest to
//! the schema defaults that is still unexplained; that request is the class's witness.
//! It is decided again by both evaluators (the new set directly, the old one from its
//! batch line) before it is shown; a disagreement with the diagrams is an internal error.
//! Each class is summarised as a cover of multi-valued cubes: a cube is a conjunction of
//! conditions on attributes (`org.version >= "9.2.22104.00170" and user.security_roles
//! contains "System Administrator"`), grown from one request of the class one attribute
//! at a time while it stays inside the class (invalid encodings count as don't-cares).

use super::AnalysisError;
use super::dd::Backend as _;
use super::model::{ActionModel, Dd, Dom, SideDds};
use super::verify::{ShownDecision, batch_line, closest};
use crate::ast::Effect;
use crate::compile::CompiledSet;
use crate::eval::{Cause, Decision, Request};
use crate::schema::{ActionId, Type};
use crate::value::Value;
use serde::Serialize;

/// Caps on what `diff` lists (the verdicts are exact whatever the caps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffOptions {
    /// Most classes listed per action and direction.
    pub max_classes: usize,
    /// Most cubes (alternative conditions) in the summary of one class.
    pub max_conditions: usize,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            max_classes: 10,
            max_conditions: 8,
        }
    }
}

/// How an action's decisions changed from the old set to the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// No request changes decision.
    Equivalent,
    /// Some requests go from deny to allow, none the other way.
    MorePermissive,
    /// Some requests go from allow to deny, none the other way.
    LessPermissive,
    /// Both.
    Incomparable,
}

impl Verdict {
    /// `equivalent`, `more_permissive`, `less_permissive` or `incomparable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Equivalent => "equivalent",
            Verdict::MorePermissive => "more_permissive",
            Verdict::LessPermissive => "less_permissive",
            Verdict::Incomparable => "incomparable",
        }
    }
}

/// A decision of one of the two sets, as `diff` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SideDecision {
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// `allowed`, `denied_by_rule` or `no_rule_allows`.
    pub cause: &'static str,
    /// The determining rules (every matching rule of the winning effect).
    pub rules: Vec<String>,
    /// `file:line` of each determining rule.
    #[serde(skip)]
    pub locations: Vec<String>,
}

impl SideDecision {
    /// How `set` decided, in `diff`'s terms.
    pub fn of(set: &CompiledSet, d: &Decision) -> Self {
        let shown = ShownDecision::of(set, d);
        SideDecision {
            decision: shown.decision,
            cause: shown.cause,
            rules: shown.rules,
            locations: shown.locations,
        }
    }

    /// `allow by r1 (file:line), r2 (file:line)`, `deny by r (file:line)` or
    /// `deny (no rule allows it)`.
    pub fn describe(&self) -> String {
        if self.rules.is_empty() {
            return format!("{} (no rule allows it)", self.decision);
        }
        let by: Vec<String> = self
            .rules
            .iter()
            .zip(&self.locations)
            .map(|(r, l)| format!("{r} ({l})"))
            .collect();
        format!("{} by {}", self.decision, by.join(", "))
    }
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "the signature serde's skip_serializing_if calls"
)]
fn is_false(b: &bool) -> bool {
    !*b
}

/// One class of requests that change decision, with one cause.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlipClass {
    /// The class as alternatives: each entry is a conjunction of conditions on
    /// attributes, and a request is in the class when it satisfies any entry.
    pub when: Vec<String>,
    /// The request of the class closest to the schema defaults, as a batch line object.
    pub witness: serde_json::Value,
    /// How the old set decides the class.
    pub old: SideDecision,
    /// How the new set decides it.
    pub new: SideDecision,
    /// `when` was cut at [`DiffOptions::max_conditions`] entries.
    #[serde(skip_serializing_if = "is_false")]
    pub when_truncated: bool,
    /// The conditions of each alternative (one per attribute), for text output.
    #[serde(skip)]
    pub conditions: Vec<Vec<String>>,
    /// Exceptions: a request of an alternative is in the class unless it satisfies one
    /// of these (each a list of conditions). `when` writes them into every entry as
    /// `and not (...)`.
    #[serde(skip)]
    pub unless: Vec<Vec<String>>,
}

impl FlipClass {
    /// The class as text lines, without indentation: both decisions, the conditions
    /// (those common to every alternative first, once), then the witness.
    pub fn text_lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!("old: {}", self.old.describe()),
            format!("new: {}", self.new.describe()),
        ];
        let common: Vec<&String> = match self.conditions.first() {
            Some(first) if self.conditions.len() > 1 => first
                .iter()
                .filter(|c| self.conditions.iter().all(|cube| cube.contains(c)))
                .collect(),
            Some(first) => first.iter().collect(),
            None => Vec::new(),
        };
        for (i, c) in common.iter().enumerate() {
            lines.push(format!("{} {c}", if i == 0 { "when" } else { " and" }));
        }
        if self.conditions.len() > 1 || self.when_truncated {
            lines.push(if common.is_empty() {
                "when any one of:".to_owned()
            } else {
                " and any one of:".to_owned()
            });
            for cube in &self.conditions {
                let rest: Vec<&str> = cube
                    .iter()
                    .filter(|c| !common.contains(c))
                    .map(String::as_str)
                    .collect();
                let rest = if rest.is_empty() {
                    "every request".to_owned()
                } else {
                    rest.join(" and ")
                };
                lines.push(format!("  - {rest}"));
            }
            if self.when_truncated {
                lines.push("  - ... (more alternatives not shown)".to_owned());
            }
        } else if common.is_empty() {
            lines.push("when every request".to_owned());
        }
        if !self.unless.is_empty() {
            lines.push("unless any one of:".to_owned());
            for u in &self.unless {
                lines.push(format!("  - {}", joined(u)));
            }
        }
        lines.push(format!("e.g. {}", self.witness));
        lines
    }
}

/// The diff of one action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionDiff {
    /// The action.
    pub action: String,
    /// The verdict (exact).
    pub verdict: Verdict,
    /// Classes that go from deny to allow.
    pub gained: Vec<FlipClass>,
    /// Classes that go from allow to deny.
    pub lost: Vec<FlipClass>,
    /// More gained classes exist than [`DiffOptions::max_classes`].
    #[serde(skip_serializing_if = "is_false")]
    pub gained_truncated: bool,
    /// More lost classes exist than [`DiffOptions::max_classes`].
    #[serde(skip_serializing_if = "is_false")]
    pub lost_truncated: bool,
}

/// Compares how `old` and `new` decide every schema-valid request of every action, in
/// schema order. Both sets must be compiled against the same schema (load the old
/// policies with the new set's schema).
pub fn diff(
    old: &CompiledSet,
    new: &CompiledSet,
    opts: &DiffOptions,
) -> Result<Vec<ActionDiff>, AnalysisError> {
    same_schema(old, new)?;
    (0..new.schema().actions.len())
        .filter_map(|a| ActionId::try_from(a).ok())
        .map(|a| diff_action(old, new, a, opts))
        .collect()
}

/// How the two sets decide one request of a scenario, when their decisions differ:
/// `(old, new)`. `old_req` and `new_req` are the same request loaded for each set.
pub fn replay(
    old: &CompiledSet,
    new: &CompiledSet,
    old_req: &Request,
    new_req: &Request,
) -> Option<(SideDecision, SideDecision)> {
    let (o, n) = (old.evaluate(old_req), new.evaluate(new_req));
    (o.effect != n.effect).then(|| (SideDecision::of(old, &o), SideDecision::of(new, &n)))
}

fn mismatch(detail: String) -> AnalysisError {
    AnalysisError::DifferentSchemas { detail }
}

/// Both sets have the same actions, value layouts and enum members.
fn same_schema(old: &CompiledSet, new: &CompiledSet) -> Result<(), AnalysisError> {
    let (so, sn) = (old.schema(), new.schema());
    if so.actions.len() != sn.actions.len() {
        return Err(mismatch("they have different actions".to_owned()));
    }
    for a in 0..sn.actions.len() {
        let Ok(id) = ActionId::try_from(a) else {
            continue;
        };
        let (Some(lo), Some(ln)) = (old.get_layout(id), new.get_layout(id)) else {
            return Err(mismatch("they have different actions".to_owned()));
        };
        let name = &sn.action(id).name;
        if so.action(id).name != *name || lo.paths != ln.paths || lo.types != ln.types {
            return Err(mismatch(format!("action `{name}` differs")));
        }
        // String defaults by text: ids mean something only in their own set.
        let text = |set: &CompiledSet, v: &Value| match v {
            Value::Str(id) => Err(set.string_names.get(id.0 as usize).cloned()),
            other => Ok(*other),
        };
        let same = lo.defaults.len() == ln.defaults.len()
            && lo
                .defaults
                .iter()
                .zip(&ln.defaults)
                .all(|(a, b)| text(old, a) == text(new, b));
        if !same {
            return Err(mismatch(format!("the defaults of action `{name}` differ")));
        }
        for ty in &ln.types {
            if let Type::Enum(e) | Type::Set(e) = ty
                && so.enum_def(*e).values != sn.enum_def(*e).values
            {
                return Err(mismatch(format!("enum `{}` differs", sn.enum_def(*e).name)));
            }
        }
    }
    Ok(())
}

fn diff_action(
    old: &CompiledSet,
    new: &CompiledSet,
    action: ActionId,
    opts: &DiffOptions,
) -> Result<ActionDiff, AnalysisError> {
    let name = new.schema().action(action).name.clone();
    let (m, sides) = ActionModel::build_with(new, &[old], action)?;
    let (Some(nd), Some(od)) = (sides.first(), sides.get(1)) else {
        return Err(internal(format!("no diagrams for `{name}`")));
    };
    let b = &m.backend;
    let over = |_| AnalysisError::Budget {
        action: name.clone(),
        budget: crate::limits::MAX_ANALYSIS_NODES,
    };
    let gained = b.and(&nd.allow, &b.not(&od.allow)).map_err(over)?;
    let lost = b.and(&od.allow, &b.not(&nd.allow)).map_err(over)?;
    let verdict = match (b.is_false(&gained), b.is_false(&lost)) {
        (true, true) => Verdict::Equivalent,
        (false, true) => Verdict::MorePermissive,
        (true, false) => Verdict::LessPermissive,
        (false, false) => Verdict::Incomparable,
    };
    let ctx = Ctx {
        old,
        new,
        m: &m,
        old_dds: od,
        new_dds: nd,
        name: &name,
        opts,
    };
    let (gained, gained_truncated) = ctx.classes(&gained, Effect::Allow)?;
    let (lost, lost_truncated) = ctx.classes(&lost, Effect::Deny)?;
    Ok(ActionDiff {
        action: name.clone(),
        verdict,
        gained,
        lost,
        gained_truncated,
        lost_truncated,
    })
}

fn internal(detail: String) -> AnalysisError {
    AnalysisError::Disagreement { detail }
}

struct Ctx<'a> {
    old: &'a CompiledSet,
    new: &'a CompiledSet,
    m: &'a ActionModel,
    old_dds: &'a SideDds,
    new_dds: &'a SideDds,
    name: &'a str,
    opts: &'a DiffOptions,
}

impl Ctx<'_> {
    fn over(&self) -> impl Fn(super::dd::OverBudget) -> AnalysisError + '_ {
        |_| AnalysisError::Budget {
            action: self.name.to_owned(),
            budget: crate::limits::MAX_ANALYSIS_NODES,
        }
    }

    /// The classes of `flip` (requests the new set decides `target`, the old one the
    /// other way), by cause, closest to the defaults first.
    fn classes(&self, flip: &Dd, target: Effect) -> Result<(Vec<FlipClass>, bool), AnalysisError> {
        let b = &self.m.backend;
        let mut rem = flip.clone();
        let mut out = Vec::new();
        while !b.is_false(&rem) {
            if out.len() >= self.opts.max_classes {
                return Ok((out, true));
            }
            let Some((req, w)) = closest(self.new, self.m, &rem)? else {
                break;
            };
            let dn = self.new.evaluate(&req);
            let line = batch_line(self.new, &req);
            let old_req = crate::batch::parse_request(self.old, line.to_string().as_bytes())
                .map_err(|e| {
                    internal(format!(
                        "a `{}` witness does not load into the old set: {e}",
                        self.name
                    ))
                })?;
            let dold = self.old.evaluate(&old_req);
            let flips = dn.effect == target && dold.effect != target;
            if !flips || !dn.errors.is_empty() || !dold.errors.is_empty() {
                return Err(internal(format!(
                    "a `{}` witness of a change to {} is decided {} by the old set and {} by the new one",
                    self.name,
                    target.as_str(),
                    dold.effect.as_str(),
                    dn.effect.as_str()
                )));
            }
            let region = b
                .and(
                    &self.region(self.old_dds, &dold)?,
                    &self.region(self.new_dds, &dn)?,
                )
                .map_err(self.over())?;
            let class = b.and(flip, &region).map_err(self.over())?;
            if !b.eval(&class, &w) {
                return Err(internal(format!(
                    "a `{}` witness is outside the class of its own decisions",
                    self.name
                )));
            }
            let (allowing, d_allow) = if target == Effect::Allow {
                (self.new_dds, &dn)
            } else {
                (self.old_dds, &dold)
            };
            let (conditions, unless, when_truncated) = self.summary(&class, allowing, d_allow)?;
            let when = conditions
                .iter()
                .map(|c| {
                    let mut w = joined(c);
                    for u in &unless {
                        w.push_str(&format!(" and not ({})", joined(u)));
                    }
                    w
                })
                .collect();
            out.push(FlipClass {
                when,
                witness: line,
                old: SideDecision::of(self.old, &dold),
                new: SideDecision::of(self.new, &dn),
                when_truncated,
                conditions,
                unless,
            });
            rem = b.and(&rem, &b.not(&class)).map_err(self.over())?;
        }
        Ok((out, false))
    }

    /// The summary of a class: alternatives, exceptions ("unless"), and whether the
    /// alternatives were cut. Either the class's own cover, or, when that is long or
    /// cut, the cover of what the allowing side's rules require (`core`: its determining
    /// rules match and no deny rule does) minus a cover of the exceptions (requests of
    /// the core outside the class, widened freely outside the core), whichever is
    /// shorter and complete. Both forms describe the class exactly.
    #[allow(
        clippy::type_complexity,
        reason = "three plain parts, named where they are used"
    )]
    fn summary(
        &self,
        class: &Dd,
        allowing: &SideDds,
        d: &Decision,
    ) -> Result<(Vec<Vec<String>>, Vec<Vec<String>>, bool), AnalysisError> {
        let b = &self.m.backend;
        let (direct, cut) = self.cover(class)?;
        if direct.len() <= 2 && !cut {
            return Ok((direct, Vec::new(), false));
        }
        let mut core = b
            .and(&self.m.valid, &b.not(&allowing.deny_any))
            .map_err(self.over())?;
        for (rule, e, cond) in &allowing.rules {
            if *e == Effect::Allow && d.rules.contains(rule) {
                core = b.and(&core, cond).map_err(self.over())?;
            }
        }
        let exceptions = b.and(&core, &b.not(class)).map_err(self.over())?;
        if b.is_false(&exceptions) {
            return Ok((direct, Vec::new(), cut));
        }
        let (main, main_cut) = self.cover(&core)?;
        let (unless, unless_cut) = self.cover_avoiding(&exceptions, class)?;
        let shorter = main.len() + unless.len() < direct.len() || cut;
        if main_cut || unless_cut || !shorter {
            return Ok((direct, Vec::new(), cut));
        }
        Ok((main, unless, false))
    }

    /// The valid requests a set decides as `d` says (the same effect, cause and rules).
    fn region(&self, side: &SideDds, d: &Decision) -> Result<Dd, AnalysisError> {
        let b = &self.m.backend;
        let over = self.over();
        let (mut acc, effect) = match d.cause {
            Cause::Allowed => (
                b.and(&self.m.valid, &b.not(&side.deny_any))
                    .map_err(&over)?,
                Effect::Allow,
            ),
            Cause::DeniedByRule => (self.m.valid.clone(), Effect::Deny),
            Cause::NoRuleAllows => {
                let none = b.not(&b.or(&side.deny_any, &side.allow_any).map_err(&over)?);
                return b.and(&self.m.valid, &none).map_err(over);
            }
        };
        for (rule, e, cond) in &side.rules {
            if *e != effect {
                continue;
            }
            acc = if d.rules.contains(rule) {
                b.and(&acc, cond)
            } else {
                b.and(&acc, &b.not(cond))
            }
            .map_err(&over)?;
        }
        Ok(acc)
    }

    /// A cover of `class` by cubes, as text: each cube grown from the request of the
    /// class not yet covered that is closest to the defaults.
    fn cover(&self, class: &Dd) -> Result<(Vec<Vec<String>>, bool), AnalysisError> {
        let b = &self.m.backend;
        self.cover_avoiding(class, &b.not(class))
    }

    /// A cover of `target` by cubes that meet no valid request of `avoid`.
    fn cover_avoiding(
        &self,
        target: &Dd,
        avoid: &Dd,
    ) -> Result<(Vec<Vec<String>>, bool), AnalysisError> {
        let b = &self.m.backend;
        let dims = dims(self.m);
        let bad = b.and(&self.m.valid, avoid).map_err(self.over())?;
        let mut rem = target.clone();
        let mut out = Vec::new();
        while !b.is_false(&rem) {
            if out.len() >= self.opts.max_conditions {
                return Ok((out, true));
            }
            let Some((_, w)) = closest(self.new, self.m, &rem)? else {
                break;
            };
            let mut cube: Vec<Vec<bool>> = dims
                .iter()
                .map(|d| {
                    let mut v = vec![false; d.values()];
                    v[d.value_in(&w)] = true;
                    v
                })
                .collect();
            // The cube stays inside the class while `rest and value and bad` is empty
            // for each value it allows of a dimension (`rest`: the other dimensions), so
            // each value of a dimension is tested on its own against `rest and bad`.
            for i in 0..dims.len() {
                let saved = std::mem::replace(&mut cube[i], vec![true; dims[i].values()]);
                let rest_bad = b
                    .and(&self.cube_dd(&dims, &cube)?, &bad)
                    .map_err(self.over())?;
                if b.is_false(&rest_bad) {
                    continue;
                }
                cube[i] = saved;
                for v in 0..cube[i].len() {
                    if cube[i][v] {
                        continue;
                    }
                    let (var, val) = dims[i].literal(v);
                    cube[i][v] = b.is_false(&b.restrict(&rest_bad, var, val));
                }
            }
            out.push(self.describe(&dims, &cube));
            let dd = self.cube_dd(&dims, &cube)?;
            rem = b.and(&rem, &b.not(&dd)).map_err(self.over())?;
        }
        Ok((out, false))
    }

    fn cube_dd(&self, dims: &[DimVar], cube: &[Vec<bool>]) -> Result<Dd, AnalysisError> {
        let b = &self.m.backend;
        let mut acc = b.constant(true);
        for (d, allowed) in dims.iter().zip(cube) {
            if allowed.iter().all(|&x| x) {
                continue;
            }
            let mut any = b.constant(false);
            for (v, _) in allowed.iter().enumerate().filter(|(_, x)| **x) {
                let (var, val) = d.literal(v);
                any = b.or(&any, &b.literal(var, val)).map_err(self.over())?;
            }
            acc = b.and(&acc, &any).map_err(self.over())?;
        }
        Ok(acc)
    }

    /// A cube as conditions in the policy language, one per attribute, in schema order.
    fn describe(&self, dims: &[DimVar], cube: &[Vec<bool>]) -> Vec<String> {
        let set = self.new;
        let layout = set.layout(self.m.action);
        let mut parts: Vec<String> = Vec::new();
        let mut k = 0;
        while k < dims.len() {
            let d = &dims[k];
            match d.what {
                What::Members(attr) => {
                    // Every member bit of one set attribute.
                    let a = &self.m.attrs[attr];
                    let path = &layout.paths[a.index as usize];
                    let mut has = Vec::new();
                    let mut lacks = Vec::new();
                    while k < dims.len() && dims[k].what == What::Members(attr) {
                        let name = match (a.ty, dims[k].member) {
                            (Type::Set(e), Some(mb)) => {
                                format!("{:?}", set.schema().member_name(e, mb))
                            }
                            _ => "?".to_owned(),
                        };
                        match (cube[k][0], cube[k][1]) {
                            (false, true) => has.push(name),
                            (true, false) => lacks.push(name),
                            _ => {}
                        }
                        k += 1;
                    }
                    match has.len() {
                        0 => {}
                        1 => parts.push(format!("{path} contains {}", has[0])),
                        _ => parts.push(format!("{path} contains all [{}]", has.join(", "))),
                    }
                    match lacks.len() {
                        0 => {}
                        1 => parts.push(format!("not {path} contains {}", lacks[0])),
                        _ => parts.push(format!("not {path} contains any [{}]", lacks.join(", "))),
                    }
                    continue;
                }
                What::Attr(attr) => {
                    if let Some(t) = self.attr_text(attr, &cube[k]) {
                        parts.push(t);
                    }
                }
                What::Eq(e) => {
                    let e = &self.m.eqs[e];
                    let pa = &layout.paths[self.m.attrs[e.a].index as usize];
                    let pb = &layout.paths[self.m.attrs[e.b].index as usize];
                    match (cube[k][0], cube[k][1]) {
                        (false, true) => parts.push(format!("{pa} == {pb}")),
                        (true, false) => parts.push(format!("{pa} != {pb}")),
                        _ => {}
                    }
                }
            }
            k += 1;
        }
        parts
    }

    /// The condition a bool, enum, string, int or version attribute's allowed classes
    /// make (`None`: every class allowed).
    fn attr_text(&self, attr: usize, allowed: &[bool]) -> Option<String> {
        if allowed.iter().all(|&x| x) {
            return None;
        }
        let set = self.new;
        let a = &self.m.attrs[attr];
        let path = &set.layout(self.m.action).paths[a.index as usize];
        match &a.dom {
            Dom::Bool { .. } => Some(if allowed[1] {
                path.clone()
            } else {
                format!("not {path}")
            }),
            Dom::Set { .. } => None,
            Dom::OneHot { reps, gap, .. } => {
                let show = |i: usize| -> String {
                    match (a.ty, reps[i]) {
                        (Type::Enum(e), Some(Value::Enum(mb))) => {
                            format!("{:?}", set.schema().member_name(e, mb))
                        }
                        (_, Some(Value::Str(id))) => format!("{:?}", self.m.string_text(set, id)),
                        (_, Some(Value::Int(n))) => n.to_string(),
                        (_, Some(Value::Version(v))) => format!("\"{v}\""),
                        _ => "?".to_owned(),
                    }
                };
                let yes: Vec<usize> = (0..allowed.len()).filter(|&i| allowed[i]).collect();
                let no: Vec<usize> = (0..allowed.len()).filter(|&i| !allowed[i]).collect();
                let list =
                    |xs: &[usize]| xs.iter().map(|&i| show(i)).collect::<Vec<_>>().join(", ");
                match a.ty {
                    Type::Int | Type::Version => {
                        if no.len() == 1 && !gap[no[0]] {
                            return Some(format!("{path} != {}", show(no[0])));
                        }
                        Some(ranges(path, &yes, gap, &show))
                    }
                    _ => {
                        // Strings: the last class is "any other string", never listed.
                        let other = (a.ty == Type::String).then(|| reps.len() - 1);
                        let positive = other.is_none_or(|o| !allowed[o]);
                        let use_yes = positive && (other.is_some() || yes.len() <= no.len());
                        if use_yes {
                            Some(if yes.len() == 1 {
                                format!("{path} == {}", show(yes[0]))
                            } else {
                                format!("{path} in [{}]", list(&yes))
                            })
                        } else if no.len() == 1 {
                            Some(format!("{path} != {}", show(no[0])))
                        } else {
                            Some(format!("not {path} in [{}]", list(&no)))
                        }
                    }
                }
            }
        }
    }
}

/// A cube's conditions as one conjunction (`true`: every request).
fn joined(conditions: &[String]) -> String {
    if conditions.is_empty() {
        "true".to_owned()
    } else {
        conditions.join(" and ")
    }
}

/// Ordered classes `yes` (ascending) as ranges: `path >= "9.1.0.5805"`,
/// `path > 3 and path < 7`, `(path == 1 or path >= 5)`.
fn ranges(path: &str, yes: &[usize], gap: &[bool], show: &dyn Fn(usize) -> String) -> String {
    let last = gap.len() - 1;
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &i in yes {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == i => *end = i,
            _ => runs.push((i, i)),
        }
    }
    let texts: Vec<String> = runs
        .iter()
        .map(|&(i, j)| {
            if i == j && !gap[i] {
                return format!("{path} == {}", show(i));
            }
            let lower = (i > 0).then(|| {
                if gap[i] {
                    format!("{path} > {}", show(i - 1))
                } else {
                    format!("{path} >= {}", show(i))
                }
            });
            let upper = (j < last).then(|| {
                if gap[j] {
                    format!("{path} < {}", show(j + 1))
                } else {
                    format!("{path} <= {}", show(j))
                }
            });
            match (lower, upper) {
                (Some(l), Some(u)) => format!("{l} and {u}"),
                (Some(x), None) | (None, Some(x)) => x,
                (None, None) => format!("any {path}"),
            }
        })
        .collect();
    if texts.len() == 1 {
        texts.into_iter().next().unwrap_or_default()
    } else {
        format!("({})", texts.join(" or "))
    }
}

/// What a dimension of a cube is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    /// A bool, enum, string, int or version attribute (position in the model).
    Attr(usize),
    /// One member of a set attribute.
    Members(usize),
    /// An equality between two string paths (position in the model's `eqs`).
    Eq(usize),
}

/// One dimension of a cube: its variables (one two-valued variable, or one-hot).
#[derive(Debug, Clone)]
struct DimVar {
    what: What,
    member: Option<u16>,
    vars: Vec<u16>,
    one_hot: bool,
}

impl DimVar {
    fn values(&self) -> usize {
        if self.one_hot { self.vars.len() } else { 2 }
    }

    /// The value of this dimension in assignment `w`.
    fn value_in(&self, w: &[bool]) -> usize {
        if self.one_hot {
            self.vars
                .iter()
                .position(|v| w.get(usize::from(*v)).copied().unwrap_or(false))
                .unwrap_or(0)
        } else {
            usize::from(w.get(usize::from(self.vars[0])).copied().unwrap_or(false))
        }
    }

    /// The literal that says "this dimension has value `v`".
    fn literal(&self, v: usize) -> (u16, bool) {
        if self.one_hot {
            (self.vars[v], true)
        } else {
            (self.vars[0], v == 1)
        }
    }
}

fn dims(m: &ActionModel) -> Vec<DimVar> {
    let mut out = Vec::new();
    for (k, a) in m.attrs.iter().enumerate() {
        match &a.dom {
            Dom::Bool { var } => out.push(DimVar {
                what: What::Attr(k),
                member: None,
                vars: vec![*var],
                one_hot: false,
            }),
            Dom::OneHot { vars, .. } => out.push(DimVar {
                what: What::Attr(k),
                member: None,
                vars: vars.clone(),
                one_hot: true,
            }),
            Dom::Set { vars } => {
                for (i, v) in vars.iter().enumerate() {
                    out.push(DimVar {
                        what: What::Members(k),
                        member: u16::try_from(i).ok(),
                        vars: vec![*v],
                        one_hot: false,
                    });
                }
            }
        }
    }
    for (i, e) in m.eqs.iter().enumerate() {
        out.push(DimVar {
            what: What::Eq(i),
            member: None,
            vars: vec![e.var],
            one_hot: false,
        });
    }
    out
}
