//! Counterfactuals: the subset-minimal sets of changes that flip a decision.
//!
//! A *unit* is what one change touches: an attribute, or one member of a `set<...>`
//! attribute. Each unit has a `changed` variable. For a request `r`, the diagram
//!
//! ```text
//! F = exists values . Target and (for every unit: changed or keeps r's value)
//! ```
//!
//! holds exactly the sets of units whose change can flip the decision (`Target` is the
//! allowed or the denied requests). Its subset-minimal members are the options. They come
//! out cheapest first: a least-cost path through `F`, preferring earlier units on ties, is
//! a cheapest member not yet found, and is minimal once every superset of the options
//! already found is removed from `F` (every weight is positive, so a proper subset would
//! be cheaper). A changed unit weighs `cost × (units + 1) + 1`, where `cost` is its
//! attribute's `cost` in the schema: the total orders by cost first and by size second,
//! exactly. When `F` becomes empty, the list is complete.
//!
//! Each option also reads as steps: the schema's `fix` text for each change, or a
//! generated `set PATH to VALUE` where it has none.

use super::AnalysisError;
use super::dd::Backend as _;
use super::model::{ActionModel, Dd, Dom};
use crate::ast::Effect;
use crate::compile::CompiledSet;
use crate::eval::{Decision, Request};
use crate::value::Value;
use serde::Serialize;

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    /// Add one member to a set.
    Add,
    /// Remove one member from a set.
    Remove,
    /// Give an attribute another value.
    Set,
}

/// One change to a request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The attribute (`user.directory_roles`).
    pub path: String,
    /// Add, remove or set.
    pub op: ChangeOp,
    /// The member added or removed, or the new value (a concrete value of the
    /// attribute's type that realises the needed class).
    pub value: serde_json::Value,
}

impl Change {
    /// The change in words: `add "Exchange Administrator" to user.directory_roles`.
    pub fn describe(&self) -> String {
        let v = match &self.value {
            serde_json::Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        match self.op {
            ChangeOp::Add => format!("add {v} to {}", self.path),
            ChangeOp::Remove => format!("remove {v} from {}", self.path),
            ChangeOp::Set => format!("set {} to {v}", self.path),
        }
    }
}

/// One step of an option, in an administrator's words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// What to do: the schema's `fix` text, or a generated `set PATH to VALUE`.
    pub text: String,
    /// The option's changes this step makes (indexes into its `changes`).
    pub changes: Vec<usize>,
    /// The action of the schema that performs the step, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Why the step is not recommended, if it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Who may perform `action` (filled in by `audit`, which knows the users).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub who: Option<Vec<String>>,
}

/// One way to flip a decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhyNotOption {
    /// The changes, all needed (no proper subset flips the decision).
    pub changes: Vec<Change>,
    /// The decision after the changes (`allow` or `deny`), as the evaluator decided it.
    pub decision: &'static str,
    /// The rules determining that decision.
    pub rules: Vec<String>,
    /// The total cost of the changes (each its attribute's `cost`).
    pub cost: u64,
    /// The changes as steps, in the order of the changes.
    pub steps: Vec<Step>,
}

impl WhyNotOption {
    /// The option on one line: the steps, each with its changes in brackets (a generated
    /// step is its change, shown once), then the decision, and a warning if a step has one:
    /// `Assign the role [add "X" to user.directory_roles] (then allowed by rule-id)`.
    pub fn describe(&self) -> String {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| {
                let changes: Vec<String> = s
                    .changes
                    .iter()
                    .filter_map(|&i| self.changes.get(i).map(Change::describe))
                    .collect();
                let changes = changes.join(" and ");
                // A generated step is its changes: no need to say them twice.
                if changes == s.text {
                    changes
                } else {
                    format!("{} [{changes}]", s.text)
                }
            })
            .collect();
        let then = match (self.decision, self.rules.is_empty()) {
            ("allow", _) => format!("allowed by {}", self.rules.join(", ")),
            (_, true) => "denied: no rule allows it".to_owned(),
            _ => format!("denied by {}", self.rules.join(", ")),
        };
        let mut line = format!("{} (then {then})", steps.join("; "));
        if let Some(w) = self.warning() {
            line.push_str(&format!(" (not recommended: {w})"));
        }
        line
    }

    /// The first warning of its steps, if any.
    pub fn warning(&self) -> Option<&str> {
        self.steps.iter().find_map(|s| s.warning.as_deref())
    }
}

/// The counterfactuals of one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Counterfactuals {
    /// Whether `options` holds every minimal option (false only when the cap cut it).
    pub complete: bool,
    /// The options, cheapest first, then smallest, then in schema order.
    pub options: Vec<WhyNotOption>,
    /// The decision the options lead to (`allow` for a denied request).
    #[serde(skip)]
    pub target: Effect,
}

impl Counterfactuals {
    /// Text lines (without indentation): a header, then one `- ...` line per option.
    pub fn text_lines(&self) -> Vec<String> {
        let verb = match self.target {
            Effect::Allow => "allowed",
            Effect::Deny => "denied",
        };
        if self.options.is_empty() {
            return vec![format!(
                "would be {verb} with: nothing (no change to the attributes that may change would make it {verb})"
            )];
        }
        let mut lines = vec![format!("would be {verb} with any one of:")];
        lines.extend(self.options.iter().map(|o| format!("- {}", o.describe())));
        if !self.complete {
            lines.push("- ... (more options exist: raise --max-options)".to_owned());
        }
        lines
    }

    /// The first option on one line, for a denial shown without `--why-not`.
    pub fn first_line(&self) -> String {
        let verb = match self.target {
            Effect::Allow => "allowed",
            Effect::Deny => "denied",
        };
        match self.options.first() {
            None => format!("no change to the attributes that may change would make it {verb}"),
            Some(o) if self.options.len() == 1 && self.complete => {
                format!("would be {verb} with: {}", o.describe())
            }
            Some(o) => format!(
                "would be {verb} with: {} (--why-not lists every option)",
                o.describe()
            ),
        }
    }
}

/// A unit of change: attribute `attr` (a position in the model), or one member of it.
#[derive(Debug, Clone, Copy)]
struct Unit {
    attr: usize,
    member: Option<usize>,
    changed: u16,
}

/// The schema attribute of each value of an action's layout (the context's attributes,
/// then each slot's); `None` past them (parameters).
fn attr_defs(set: &CompiledSet, action: crate::schema::ActionId) -> Vec<&crate::schema::AttrDef> {
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
        .collect()
}

fn units(m: &ActionModel) -> Vec<Unit> {
    let mut out = Vec::new();
    for (k, a) in m.attrs.iter().enumerate() {
        match &a.dom {
            Dom::Set { .. } => {
                for (i, &c) in a.changed.iter().enumerate() {
                    out.push(Unit {
                        attr: k,
                        member: Some(i),
                        changed: c,
                    });
                }
            }
            _ => {
                if let Some(&c) = a.changed.first() {
                    out.push(Unit {
                        attr: k,
                        member: None,
                        changed: c,
                    });
                }
            }
        }
    }
    out
}

fn internal(detail: String) -> AnalysisError {
    AnalysisError::Disagreement { detail }
}

/// Computes the counterfactuals of `r`.
pub(super) fn counterfactuals(
    set: &CompiledSet,
    m: &ActionModel,
    r: &Request,
    opts: &super::WhyNotOptions,
) -> Result<Counterfactuals, AnalysisError> {
    let b = &m.backend;
    let action_name = &set.schema().action(m.action).name;
    let over = |_| AnalysisError::Budget {
        action: action_name.clone(),
        budget: crate::limits::MAX_ANALYSIS_NODES,
    };
    let enc = m.encode(set, r)?;
    let decision = set.evaluate(r);
    let allowed = decision.effect == Effect::Allow;
    if b.eval(&m.allow, &enc) != allowed {
        return Err(internal(format!(
            "the evaluator decides {} for this `{action_name}` request, the diagram does not",
            decision.effect.as_str()
        )));
    }
    let (target, target_effect) = if allowed {
        (&m.deny, Effect::Deny)
    } else {
        (&m.allow, Effect::Allow)
    };
    let layout = set.layout(m.action);
    let held: Vec<bool> = m
        .attrs
        .iter()
        .map(|a| {
            a.fixed
                || opts
                    .hold
                    .iter()
                    .any(|h| *h == layout.paths[a.index as usize])
        })
        .collect();
    // Each unit either changes or keeps r's value; held units keep it.
    let mut keep = b.constant(true);
    let lit = |v: u16, x: bool| b.literal(v, x);
    for (k, a) in m.attrs.iter().enumerate() {
        let pairs: Vec<(Option<u16>, Dd)> = match &a.dom {
            Dom::Bool { var } => vec![(
                a.changed.first().copied(),
                lit(*var, enc[usize::from(*var)]),
            )],
            Dom::OneHot { vars, .. } => {
                let cur = vars
                    .iter()
                    .find(|v| enc[usize::from(**v)])
                    .copied()
                    .unwrap_or(0);
                vec![(a.changed.first().copied(), lit(cur, true))]
            }
            Dom::Set { vars } => vars
                .iter()
                .enumerate()
                .map(|(i, v)| (a.changed.get(i).copied(), lit(*v, enc[usize::from(*v)])))
                .collect(),
        };
        for (c, same) in pairs {
            let clause = match c {
                Some(c) if !held[k] => b.or(&lit(c, true), &same).map_err(over)?,
                Some(c) => b.and(&lit(c, false), &same).map_err(over)?,
                None => same,
            };
            keep = b.and(&keep, &clause).map_err(over)?;
        }
    }
    for e in &m.eqs {
        let mut clause = lit(e.var, enc[usize::from(e.var)]);
        for side in [e.a, e.b] {
            if let Some(&c) = m.attrs[side].changed.first() {
                clause = b.or(&clause, &lit(c, true)).map_err(over)?;
            }
        }
        keep = b.and(&keep, &clause).map_err(over)?;
    }
    let all_units = units(m);
    let mut f = b.and_exists(target, &keep, &m.value_vars).map_err(over)?;
    // The requests reachable from `r` that reach the target: shared by every witness.
    let reach = b.and(target, &keep).map_err(over)?;
    let nvars = usize::from(m.vars);
    let mut is_unit = vec![false; nvars];
    for u in &all_units {
        is_unit[usize::from(u.changed)] = true;
    }
    // Weights: cost × (units + 1) + 1, so that the total orders by cost, then by size.
    let defs = attr_defs(set, m.action);
    let cost_of = |u: &Unit| -> u32 {
        defs.get(m.attrs[u.attr].index as usize)
            .map_or(1, |d| d.cost)
    };
    let scale = u32::try_from(all_units.len() + 1).unwrap_or(u32::MAX);
    let mut weight = vec![0u32; nvars];
    for u in &all_units {
        weight[usize::from(u.changed)] = cost_of(u).saturating_mul(scale).saturating_add(1);
    }
    let unit_cost = |v: u16, x: bool| if x { weight[usize::from(v)] } else { 0 };
    let mut options = Vec::new();
    let complete = loop {
        if b.is_false(&f) {
            break true;
        }
        let Some((_, pick)) = b.min_cost(&f, &unit_cost, &|_| true, &vec![false; nvars]) else {
            break true;
        };
        if options.len() >= opts.max_options {
            break false;
        }
        let chosen: Vec<Unit> = all_units
            .iter()
            .filter(|u| pick[usize::from(u.changed)])
            .copied()
            .collect();
        if chosen.is_empty() {
            return Err(internal(format!(
                "the diagram says this `{action_name}` request is already {}",
                target_effect.as_str()
            )));
        }
        let mut option = witness(set, m, r, &enc, &reach, &all_units, &chosen, target_effect)?;
        option.cost = chosen.iter().map(|u| u64::from(cost_of(u))).sum();
        option.steps = steps(&defs, &layout.paths, &option.changes);
        options.push(option);
        // Remove every superset of this option.
        let mut cube = b.constant(true);
        for u in &chosen {
            cube = b.and(&cube, &lit(u.changed, true)).map_err(over)?;
        }
        f = b.and(&f, &b.not(&cube)).map_err(over)?;
    };
    Ok(Counterfactuals {
        complete,
        options,
        target: target_effect,
    })
}

/// The steps of an option: each change's `fix` entry, or a generated one; changes with
/// the same step share it.
fn steps(defs: &[&crate::schema::AttrDef], paths: &[String], changes: &[Change]) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        let op = match c.op {
            ChangeOp::Add => crate::schema::FixOp::Add,
            ChangeOp::Remove => crate::schema::FixOp::Remove,
            ChangeOp::Set => crate::schema::FixOp::Set,
        };
        let fix = paths
            .iter()
            .position(|p| *p == c.path)
            .and_then(|k| defs.get(k))
            .and_then(|d| d.fix_for(op, &c.value));
        let (text, action, warning) = match fix {
            Some(f) => (f.step.clone(), f.action.clone(), f.warning.clone()),
            None => (c.describe(), None, None),
        };
        if let Some(s) = out
            .iter_mut()
            .find(|s| s.text == text && s.action == action && s.warning == warning)
        {
            s.changes.push(i);
        } else {
            out.push(Step {
                text,
                changes: vec![i],
                action,
                warning,
                who: None,
            });
        }
    }
    out
}

/// A concrete request for option `chosen`, decided again by the evaluator.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site, all state of one search"
)]
fn witness(
    set: &CompiledSet,
    m: &ActionModel,
    r: &Request,
    enc: &[bool],
    reach: &Dd,
    all_units: &[Unit],
    chosen: &[Unit],
    target_effect: Effect,
) -> Result<WhyNotOption, AnalysisError> {
    let b = &m.backend;
    let action_name = &set.schema().action(m.action).name;
    let over = |_| AnalysisError::Budget {
        action: action_name.clone(),
        budget: crate::limits::MAX_ANALYSIS_NODES,
    };
    // Fix every `changed` variable on a small cube first, then restrict `reach` once.
    let mut cube = b.constant(true);
    let mut default = enc.to_vec();
    for u in all_units {
        let on = chosen.iter().any(|c| c.changed == u.changed);
        cube = b.and(&cube, &b.literal(u.changed, on)).map_err(over)?;
        default[usize::from(u.changed)] = on;
    }
    let g = b.and(reach, &cube).map_err(over)?;
    let cost = |v: u16, x: bool| u32::from(enc.get(usize::from(v)).copied() != Some(x));
    let prefer = |_: u16| true;
    let Some((_, w)) = b.min_cost(&g, &cost, &prefer, &default) else {
        return Err(internal(format!(
            "an option for this `{action_name}` request has no witness"
        )));
    };
    let layout = set.layout(m.action);
    let mut req = r.clone();
    let mut changes = Vec::new();
    let mut pending_strings: Vec<(usize, usize)> = Vec::new(); // (attr, position in changes)
    for u in chosen {
        let a = &m.attrs[u.attr];
        let path = layout.paths[a.index as usize].clone();
        let slot = a.index as usize;
        match (&a.dom, u.member) {
            (Dom::Set { vars }, Some(i)) => {
                let on = w[usize::from(vars[i])];
                let mut s = match req.values[slot] {
                    Value::Set(s) => s,
                    _ => crate::value::EnumSet::default(),
                };
                let member = u16::try_from(i).unwrap_or(u16::MAX);
                if on {
                    s.insert(member);
                } else {
                    s.0 &= !(1u128 << member);
                }
                req.values[slot] = Value::Set(s);
                let name = match a.ty {
                    crate::schema::Type::Set(e) => set.schema().member_name(e, member).to_owned(),
                    _ => member.to_string(),
                };
                changes.push(Change {
                    path,
                    op: if on { ChangeOp::Add } else { ChangeOp::Remove },
                    value: serde_json::Value::String(name),
                });
            }
            (Dom::Bool { var }, _) => {
                let x = w[usize::from(*var)];
                req.values[slot] = Value::Bool(x);
                changes.push(Change {
                    path,
                    op: ChangeOp::Set,
                    value: serde_json::Value::Bool(x),
                });
            }
            (Dom::OneHot { vars, reps, .. }, _) => {
                let cls = vars.iter().position(|v| w[usize::from(*v)]).unwrap_or(0);
                match reps.get(cls).copied().flatten() {
                    Some(v) => {
                        req.values[slot] = v;
                        changes.push(Change {
                            path,
                            op: ChangeOp::Set,
                            value: json_value(set, &req, a.ty, v),
                        });
                    }
                    None => {
                        pending_strings.push((u.attr, changes.len()));
                        changes.push(Change {
                            path,
                            op: ChangeOp::Set,
                            value: serde_json::Value::Null,
                        });
                    }
                }
            }
            (Dom::Set { .. }, None) => {}
        }
    }
    // Strings outside every literal: equal to a partner the witness makes them equal to,
    // else a fresh value no policy and no other attribute uses.
    let mut resolved: Vec<(usize, String)> = Vec::new();
    for &(k, pos) in &pending_strings {
        let mut text: Option<String> = None;
        for e in &m.eqs {
            if !w[usize::from(e.var)] || (e.a != k && e.b != k) {
                continue;
            }
            let partner = if e.a == k { e.b } else { e.a };
            if let Some((_, t)) = resolved.iter().find(|(p, _)| *p == partner) {
                text = Some(t.clone());
            } else if !chosen.iter().any(|u| u.attr == partner)
                && let Value::Str(id) = r.values[m.attrs[partner].index as usize]
            {
                text = Some(set.string(r, id).to_owned());
            }
            if text.is_some() {
                break;
            }
        }
        let text = match text {
            Some(t) => t,
            None => fresh_string(set, m, &req),
        };
        let id = set.intern(&mut req, &text);
        req.values[m.attrs[k].index as usize] = Value::Str(id);
        changes[pos].value = serde_json::Value::String(text.clone());
        resolved.push((k, text));
    }
    let d: Decision = set.evaluate(&req);
    if d.effect != target_effect {
        return Err(internal(format!(
            "changing this `{action_name}` request by [{}] should make it {}, but the evaluator decides {}",
            changes
                .iter()
                .map(Change::describe)
                .collect::<Vec<_>>()
                .join("; "),
            target_effect.as_str(),
            d.effect.as_str()
        )));
    }
    Ok(WhyNotOption {
        changes,
        decision: d.effect.as_str(),
        rules: d.rules.iter().map(|&i| set.rule(i).id.clone()).collect(),
        cost: 0,
        steps: Vec::new(),
    })
}

/// `other-1`, `other-2`, ...: the first that is no policy literal of the model and no
/// string value of the request.
fn fresh_string(set: &CompiledSet, m: &ActionModel, req: &Request) -> String {
    let taken = |t: &str| {
        set.policy_string(t).is_some()
            || m.attrs.iter().any(|a| {
                matches!(req.values.get(a.index as usize), Some(Value::Str(id)) if set.string(req, *id) == t)
            })
    };
    let mut n = 1u32;
    loop {
        let t = format!("other-{n}");
        if !taken(&t) {
            return t;
        }
        n += 1;
    }
}

pub(super) fn json_value(
    set: &CompiledSet,
    req: &Request,
    ty: crate::schema::Type,
    v: Value,
) -> serde_json::Value {
    match v {
        Value::Bool(x) => serde_json::Value::Bool(x),
        Value::Int(i) => serde_json::Value::from(i),
        Value::Str(id) => serde_json::Value::String(set.string(req, id).to_owned()),
        Value::Version(ver) => serde_json::Value::String(ver.to_string()),
        Value::Enum(e) => match ty {
            crate::schema::Type::Enum(en) => {
                serde_json::Value::String(set.schema().member_name(en, e).to_owned())
            }
            _ => serde_json::Value::from(e),
        },
        Value::Set(s) => match ty {
            crate::schema::Type::Set(en) => serde_json::Value::Array(
                s.iter()
                    .map(|i| serde_json::Value::String(set.schema().member_name(en, i).to_owned()))
                    .collect(),
            ),
            _ => serde_json::Value::Null,
        },
        Value::Missing => serde_json::Value::Null,
    }
}
