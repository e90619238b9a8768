//! Property tests: the parser, validator and evaluator never panic on any input,
//! and the decision semantics fail closed.
//!
//! - random and mutated policy text never panics loading (parse, validate, compile) or
//!   rendering the diagnostics;
//! - random requests (values of the right type, of the wrong type, or missing) never panic
//!   the evaluator or the explainer;
//! - adding a deny rule never turns a deny into an allow;
//! - removing an allow rule never turns a deny into an allow;
//! - an evaluation error never yields an allow: a request with missing values is allowed
//!   only if the full request is allowed too, in the library and through batch lines;
//! - decisions are deterministic, byte for byte;
//! - a batch gives the same records on one thread and on several, with any buffer size.
//!
//! The base set is the shipped one (`policies/`); generated rules and requests use the
//! shipped schema. Case counts follow `PROPTEST_CASES` (CI sets 256).

use std::fmt::Write as _;
use std::sync::LazyLock;

use mailgate::ast::Effect;
use mailgate::batch::LineDecider;
use mailgate::compile::CompiledSet;
use mailgate::eval::{EvalError, Request};
use mailgate::policy_set::load_texts;
use mailgate::schema::Type;
use mailgate::value::{EnumSet, StrId, Value};
use mailgate::version::Version;
use proptest::prelude::*;
use proptest::sample::Index;

/// The shipped schema and policy files (name, text), in sorted order.
static SHIPPED: LazyLock<(String, Vec<(String, String)>)> = LazyLock::new(|| {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let schema = std::fs::read_to_string(dir.join("schema.yaml")).unwrap();
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "policy"))
        .map(|p| {
            let name = format!("policies/{}", p.file_name().unwrap().to_string_lossy());
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty());
    (schema, files)
});

static SET: LazyLock<CompiledSet> = LazyLock::new(|| load(&[]));

/// The shipped set plus `extra` files; panics if it does not load.
fn load(extra: &[(&str, &str)]) -> CompiledSet {
    let (schema, files) = &*SHIPPED;
    let mut all: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    all.extend_from_slice(extra);
    match load_texts(schema, &all) {
        Ok(l) => l.set,
        Err(f) => {
            let text: String = f.diagnostics.iter().map(|d| d.render(&f.sources)).collect();
            panic!("the set does not load:\n{text}");
        }
    }
}

/// Loads possibly broken texts: never panics, and a failure has at least one error, and
/// every diagnostic renders.
fn load_anything(files: &[(&str, &str)]) {
    let (schema, _) = &*SHIPPED;
    match load_texts(schema, files) {
        Ok(l) => {
            // A set that loads decides every action.
            for a in 0..l.set.schema().actions.len() {
                let a = u16::try_from(a).unwrap();
                let _ = l.set.evaluate(&l.set.new_request(a));
            }
        }
        Err(f) => {
            assert!(
                f.diagnostics
                    .iter()
                    .any(mailgate::diagnostics::Diagnostic::is_error)
            );
            for d in &f.diagnostics {
                let _ = d.render(&f.sources);
                let _ = d.location(&f.sources);
            }
        }
    }
}

// ---- text generators -------------------------------------------------------------------

/// Pieces of policy text, valid and not, to build or splice in.
const TOKENS: &[&str] = &[
    "rule",
    "let",
    "allow",
    "deny",
    "when",
    "reason",
    "and",
    "or",
    "not",
    "in",
    "contains",
    "contains any",
    "contains all",
    "true",
    "false",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    ".",
    "\"",
    "\\",
    "#",
    "\n",
    " ",
    "\t",
    "\r",
    "-",
    "0",
    "-1",
    "99999999999999999999",
    "\"9.1.0.5805\"",
    "\"9..1\"",
    "\"System Administrator\"",
    "\"Sytem Administrator\"",
    "\"approved\"",
    "\"\\q\"",
    "\"\\\"\"",
    "user",
    "mailbox",
    "org",
    "request",
    "actor",
    "assignee",
    "user.security_roles",
    "user.upn",
    "mailbox.email",
    "mailbox.approval",
    "mailbox.server",
    "org.version",
    "org.deployment",
    "request.role",
    "assignee.kind",
    "user.nope",
    "a.b.c",
    "approve_mailbox",
    "reject_mailbox",
    "assign_role",
    "sync_incoming_email",
    "nope_action",
    "x",
    "x1",
    "is_system_administrator",
    "has_approval_privilege",
    "é",
    "\u{202e}",
    "\0",
    "\u{7f}",
    "🦀",
];

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(TOKENS).prop_map(str::to_owned),
        1 => "[a-z_][a-z0-9_-]{0,8}",
        1 => any::<char>().prop_map(String::from),
    ]
}

/// One edit of a text: at a position (as a fraction of the length), delete some bytes,
/// insert a token, or replace some bytes with a token.
#[derive(Debug, Clone)]
enum Edit {
    Delete(Index, usize),
    Insert(Index, String),
    Replace(Index, usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), 1usize..40).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<Index>(), token()).prop_map(|(i, t)| Edit::Insert(i, t)),
        (any::<Index>(), 1usize..10, token()).prop_map(|(i, n, t)| Edit::Replace(i, n, t)),
    ]
}

/// Applies `e` at a character boundary.
fn apply(text: &mut String, e: &Edit) {
    let at = |i: &Index, text: &str| {
        let mut p = i.index(text.len() + 1);
        while !text.is_char_boundary(p) {
            p -= 1;
        }
        p
    };
    let end_at = |start: usize, n: usize, text: &str| {
        let mut p = (start + n).min(text.len());
        while !text.is_char_boundary(p) {
            p += 1;
        }
        p
    };
    match e {
        Edit::Delete(i, n) => {
            let s = at(i, text);
            let end = end_at(s, *n, text);
            text.replace_range(s..end, "");
        }
        Edit::Insert(i, t) => {
            let s = at(i, text);
            text.insert_str(s, t);
        }
        Edit::Replace(i, n, t) => {
            let s = at(i, text);
            let end = end_at(s, *n, text);
            text.replace_range(s..end, t);
        }
    }
}

// ---- condition generators ------------------------------------------------------------------

/// Conditions valid for `approve_mailbox, reject_mailbox` (slots `user` and `mailbox`).
const ATOMS: &[&str] = &[
    "user.security_roles contains \"System Administrator\"",
    "user.security_roles contains any [\"Delegated Mailbox Approver\", \"Basic User\"]",
    "user.directory_roles contains all [\"Global Administrator\"]",
    "user.privileges contains \"Approve Email Addresses for Users or Queues\"",
    "user.upn == mailbox.email",
    "user.upn == \"a@contoso.com\"",
    "mailbox.approval == \"approved\"",
    "mailbox.approval in [\"pending_approval\", \"rejected\"]",
    "mailbox.server != \"exchange_online\"",
    "mailbox.owner_kind == \"queue\"",
    "mailbox.profile_active",
    "org.version >= \"9.1.0.5805\"",
    "org.version < \"9.2.22104.00170\"",
    "org.deployment == \"onpremises\"",
    "org.require_privilege_to_self_approve",
    "is_system_administrator",
    "has_approval_privilege",
    "true",
    "false",
];

/// A random condition over [`ATOMS`] with `and`, `or`, `not` and parentheses.
fn condition() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(ATOMS).prop_map(str::to_owned);
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|v| format!("({})", v.join(" and "))),
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|v| format!("({})", v.join(" or "))),
            inner.prop_map(|c| format!("not ({c})")),
        ]
    })
}

// ---- request generators --------------------------------------------------------------------

/// How to fill one value of a request.
#[derive(Debug, Clone, Copy)]
enum Fill {
    /// A value of the value's own type, from these random bits.
    Right(u64, u64),
    /// A value of another type.
    Wrong(u8, u64),
    /// No value.
    Missing,
    /// The schema default (missing where there is none).
    Default,
}

fn fill() -> impl Strategy<Value = Fill> {
    prop_oneof![
        4 => (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Fill::Right(a, b)),
        // Small bits pick the first members of enums and sets (`System Administrator`,
        // `exchange_online`, ...), so that rules match and allows are common.
        4 => (0u64..4).prop_map(|a| Fill::Right(a, 0)),
        1 => (any::<u8>(), any::<u64>()).prop_map(|(a, b)| Fill::Wrong(a, b)),
        1 => Just(Fill::Missing),
        2 => Just(Fill::Default),
    ]
}

/// Fills for a whole request: independent ones, or mostly one small value everywhere, which
/// makes the many conditions of an allow rule hold together far more often.
fn fills() -> impl Strategy<Value = Vec<Fill>> {
    prop_oneof![
        prop::collection::vec(fill(), 0..40),
        (
            prop::collection::vec(fill(), 40),
            0u64..4,
            prop::collection::vec(prop::bool::weighted(0.8), 40),
        )
            .prop_map(|(random, a, keep)| {
                random
                    .into_iter()
                    .zip(keep)
                    .map(|(f, k)| if k { Fill::Right(a, 0) } else { f })
                    .collect()
            }),
    ]
}

fn version(bits: u64) -> Version {
    let parts = [9, bits % 3, (bits >> 8) % 30_000, (bits >> 24) % 7_000];
    let text = format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], parts[3]);
    Version::parse(&text).unwrap()
}

/// A value of type `ty` from random bits, drawing strings from the policies' own strings
/// (so that comparisons sometimes hold) or from a few others.
fn right_value(set: &CompiledSet, r: &mut Request, ty: Type, a: u64, b: u64) -> Value {
    let members = |e| set.schema().get_enum_def(e).unwrap().values.len() as u64;
    match ty {
        Type::Bool => Value::Bool(a.is_multiple_of(2)),
        Type::Int => Value::Int(i64::from_ne_bytes(a.to_ne_bytes()) % 1000),
        Type::String => {
            // Strings are chosen by their text, never by id: the same fill must mean the
            // same string in every policy set, and sets number their strings differently.
            // See: a CI run where a generated deny rule added a policy string, the ids
            // shifted, and the "same" request compared different strings.
            let base = &*SET;
            let n = u64::from(base.policy_string_count());
            let text = if n > 0 && !a.is_multiple_of(3) {
                base.string(&Request::default(), StrId(u32::try_from(b % n).unwrap()))
                    .to_owned()
            } else {
                ["a@contoso.com", "", "b@contoso.com", "é"][usize::try_from(b % 4).unwrap()]
                    .to_owned()
            };
            Value::Str(set.intern(r, &text))
        }
        Type::Version => Value::Version(version(a)),
        Type::Enum(e) => Value::Enum(u16::try_from(a % members(e)).unwrap()),
        Type::Set(e) => {
            let n = members(e);
            let mask = if n >= 128 {
                u128::MAX
            } else {
                (1u128 << n) - 1
            };
            Value::Set(EnumSet((u128::from(a) | (u128::from(b) << 64)) & mask))
        }
    }
}

/// A value of some type other than `ty`, or an out-of-range one.
fn wrong_value(ty: Type, which: u8, bits: u64) -> Value {
    let candidates = [
        Value::Bool(bits.is_multiple_of(2)),
        Value::Int(i64::from_ne_bytes(bits.to_ne_bytes())),
        // An id no set has: ids of real strings differ between sets, so they would make
        // the "same" request differ too.
        Value::Str(StrId(u32::MAX - u32::try_from(bits % 1_000).unwrap())),
        Value::Version(version(bits)),
        Value::Enum(u16::try_from(bits % 70_000 % 65_536).unwrap()),
        Value::Set(EnumSet(u128::from(bits) << 64 | u128::from(bits))),
    ];
    let own = match ty {
        Type::Bool => 0,
        Type::Int => 1,
        Type::String => 2,
        Type::Version => 3,
        Type::Enum(_) => 4,
        Type::Set(_) => 5,
    };
    let mut i = usize::from(which) % candidates.len();
    if i == own && which.is_multiple_of(2) {
        i = (i + 1) % candidates.len();
    }
    candidates[i]
}

/// A request for action `action % actions` with every value filled as `fills` say.
fn request(set: &CompiledSet, action: usize, fills: &[Fill]) -> Request {
    let actions = set.schema().actions.len();
    let action = u16::try_from(action % actions).unwrap();
    let mut r = set.new_request(action);
    let types = set.get_layout(action).unwrap().types.clone();
    for (i, ty) in types.into_iter().enumerate() {
        let f = fills.get(i).copied().unwrap_or(Fill::Default);
        let v = match f {
            Fill::Right(a, b) => right_value(set, &mut r, ty, a, b),
            Fill::Wrong(w, bits) => wrong_value(ty, w, bits),
            Fill::Missing => Value::Missing,
            Fill::Default => continue,
        };
        r.values[i] = v;
    }
    r
}

/// The decision of the reference evaluator, which walks every condition.
fn reference(set: &CompiledSet, r: &Request) -> mailgate::eval::Decision {
    let mut d = mailgate::eval::Decision::default();
    set.evaluate_reference_into(r, &mut d);
    d
}

/// Only values of the right type or defaults (no errors from wrong types).
fn well_typed(fills: &[Fill]) -> Vec<Fill> {
    fills
        .iter()
        .map(|f| match f {
            Fill::Wrong(..) => Fill::Default,
            other => *other,
        })
        .collect()
}

/// The text of the rule that starts at `start` (`rule ID {` ... the closing `}`),
/// as a byte range; braces inside strings and comments do not count.
fn rule_extent(text: &str, start: usize) -> std::ops::Range<usize> {
    let bytes = text.as_bytes();
    let mut i = start;
    let mut in_str = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'#' if !in_str => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'}' if !in_str => return start..i + 1,
            _ => {}
        }
        i += 1;
    }
    start..bytes.len()
}

/// Every `allow` rule of the shipped files: (file index, byte range of the rule).
static ALLOW_RULES: LazyLock<Vec<(usize, std::ops::Range<usize>)>> = LazyLock::new(|| {
    let mut out = Vec::new();
    for (fi, (_, text)) in SHIPPED.1.iter().enumerate() {
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            if line.starts_with("rule ") {
                let range = rule_extent(text, offset);
                let body = &text[range.clone()];
                let effect = body
                    .split_whitespace()
                    .find(|w| *w == "allow" || *w == "deny");
                if effect == Some("allow") {
                    out.push((fi, range));
                }
            }
            offset += line.len();
        }
    }
    assert!(out.len() >= 5, "found {} allow rules", out.len());
    out
});

/// A batch line for `r`, with the attributes in `drop` (value indexes) left out.
fn batch_line(set: &CompiledSet, r: &Request, drop: &[usize]) -> String {
    let schema = set.schema();
    let layout = set.get_layout(r.action).unwrap();
    let action = schema.get_action(r.action).unwrap();
    let mut objects: Vec<(String, Vec<String>)> = Vec::new();
    let mut params: Vec<String> = Vec::new();
    for (i, path) in layout.paths.iter().enumerate() {
        if drop.contains(&i) || r.values[i] == Value::Missing {
            continue;
        }
        let (root, attr) = path.split_once('.').unwrap();
        let json = json_value(set, r, i);
        if root == "request" {
            params.push(format!("\"{attr}\":{json}"));
        } else {
            let pos = match objects.iter().position(|(n, _)| n == root) {
                Some(p) => p,
                None => {
                    objects.push((root.to_owned(), Vec::new()));
                    objects.len() - 1
                }
            };
            objects[pos].1.push(format!("\"{attr}\":{json}"));
        }
    }
    // Every slot is present, even when all its attributes were dropped.
    for slot in &action.slots {
        if !objects.iter().any(|(n, _)| *n == slot.name) {
            objects.push((slot.name.clone(), Vec::new()));
        }
    }
    let mut line = format!("{{\"action\":\"{}\"", action.name);
    for (name, attrs) in objects {
        write!(line, ",\"{name}\":{{{}}}", attrs.join(",")).unwrap();
    }
    for p in params {
        write!(line, ",{p}").unwrap();
    }
    line.push('}');
    line
}

fn json_value(set: &CompiledSet, r: &Request, i: usize) -> String {
    let schema = set.schema();
    let ty = set.get_layout(r.action).unwrap().types[i];
    match (r.values[i], ty) {
        (Value::Bool(b), _) => b.to_string(),
        (Value::Int(n), _) => n.to_string(),
        (Value::Str(id), _) => serde_json::to_string(set.string(r, id)).unwrap(),
        (Value::Version(v), _) => format!("\"{v}\""),
        (Value::Enum(m), Type::Enum(e)) => serde_json::to_string(schema.member_name(e, m)).unwrap(),
        (Value::Set(s), Type::Set(e)) => {
            let names: Vec<String> = s
                .iter()
                .map(|m| serde_json::to_string(schema.member_name(e, m)).unwrap())
                .collect();
            format!("[{}]", names.join(","))
        }
        (v, t) => panic!("value {v:?} is not a {t:?}"),
    }
}

fn decide_line(set: &CompiledSet, line: &str) -> (bool, serde_json::Value, Vec<u8>) {
    let mut out = Vec::new();
    let ok = LineDecider::new(set).decide(1, line.as_bytes(), &mut out);
    assert_eq!(
        String::from_utf8_lossy(&out).matches('\n').count(),
        1,
        "one line out: {}",
        String::from_utf8_lossy(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    (ok, v, out)
}

/// A fill means the same string in every set, even when the sets number their strings
/// differently (a set with an extra rule interns its extra literals). Regression: a CI run
/// of `adding_a_deny_rule_never_turns_a_deny_into_an_allow` compared two requests whose
/// strings differed, because strings were picked by id.
#[test]
fn a_fill_means_the_same_string_in_every_set() {
    let base = &*SET;
    let with = load(&[(
        "zz-extra.policy",
        "rule extra { deny approve_mailbox when user.upn == \"new@contoso.com\" reason \"r\" }",
    )]);
    assert_ne!(base.policy_string_count(), with.policy_string_count());
    for b in 0..64 {
        let mut r1 = Request::default();
        let mut r2 = Request::default();
        let v1 = right_value(base, &mut r1, Type::String, 1, b);
        let v2 = right_value(&with, &mut r2, Type::String, 1, b);
        let (Value::Str(s1), Value::Str(s2)) = (v1, v2) else {
            panic!("not strings: {v1:?} {v2:?}")
        };
        assert_eq!(base.string(&r1, s1), with.string(&r2, s2), "fill (1, {b})");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_policies_never_panic(
        file in any::<Index>(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let files = &SHIPPED.1;
        let (name, text) = &files[file.index(files.len())];
        let mut text = text.clone();
        for e in &edits {
            apply(&mut text, e);
        }
        // The mutated file alone, and next to the others (its lets are used there).
        load_anything(&[(name, &text)]);
        let mut all: Vec<(&str, &str)> = files
            .iter()
            .filter(|(n, _)| n != name)
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        all.push((name, &text));
        load_anything(&all);
    }

    #[test]
    fn random_policy_text_never_panics(
        tokens in prop::collection::vec(token(), 0..80),
        raw in ".{0,200}",
    ) {
        load_anything(&[("random.policy", &tokens.join(" "))]);
        load_anything(&[("random.policy", &tokens.concat())]);
        load_anything(&[("raw.policy", &raw)]);
    }

    #[test]
    fn random_requests_never_panic(
        action in any::<usize>(),
        fills in fills(),
    ) {
        let set = &*SET;
        let r = request(set, action, &fills);
        let d = set.evaluate(&r);
        if d.effect == Effect::Allow {
            prop_assert!(!d.rules.is_empty());
        }
        let e = set.explain(&r);
        let _ = set.render_explanation(&e);
        for i in 0..r.values.len() {
            let _ = set.display_value(&r, u32::try_from(i).unwrap());
        }
    }

    #[test]
    fn shipped_decisions_equal_the_reference_evaluator(
        action in any::<usize>(),
        fills in fills(),
    ) {
        // The bitset pass (`compile::bits`) against walking every condition.
        let set = &*SET;
        let r = request(set, action, &fills);
        prop_assert_eq!(set.evaluate(&r), reference(set, &r));
    }

    #[test]
    fn bitset_rules_decide_as_the_reference_evaluator(
        rules in prop::collection::vec((condition(), any::<bool>()), 1..6),
        requests in prop::collection::vec((0usize..2, fills()), 1..12),
    ) {
        // Random deny and allow rules, with `and`, `or`, `not`, constants and lets over
        // enum, set and bool tests (the bitset's atoms) and other tests (walked).
        let mut extra = String::new();
        for (i, (cond, deny)) in rules.iter().enumerate() {
            let effect = if *deny { "deny" } else { "allow" };
            let _ = writeln!(
                extra,
                "rule generated-{i} {{ {effect} approve_mailbox, reject_mailbox when {cond} reason \"generated\" }}"
            );
        }
        let set = load(&[("zz-generated.policy", &extra)]);
        let approve = set.schema().action_id("approve_mailbox").unwrap();
        for (a, fills) in &requests {
            let r = request(&set, usize::from(approve) + a, fills);
            prop_assert_eq!(set.evaluate(&r), reference(&set, &r), "{}", extra);
        }
    }

    #[test]
    fn requests_of_the_wrong_shape_are_denied(
        action in any::<u16>(),
        len in 0usize..80,
    ) {
        // An action that does not exist, or values that do not fit its layout.
        let set = &*SET;
        let mut r = set.new_request(0);
        r.action = action;
        r.values = vec![Value::Bool(true); len];
        let d = set.evaluate(&r);
        let fits = usize::from(action) < set.schema().actions.len()
            && len == set.get_layout(action).unwrap().len as usize;
        if !fits {
            prop_assert_eq!(d.effect, Effect::Deny);
            prop_assert!(!d.errors.is_empty());
        }
    }

    #[test]
    fn adding_a_deny_rule_never_turns_a_deny_into_an_allow(
        cond in condition(),
        both in any::<bool>(),
        requests in prop::collection::vec((0usize..2, fills()), 1..12),
    ) {
        let actions = if both { "approve_mailbox, reject_mailbox" } else { "approve_mailbox" };
        let extra = format!("rule generated-deny {{ deny {actions} when {cond} reason \"generated\" }}\n");
        let with = load(&[("zz-generated.policy", &extra)]);
        let base = &*SET;
        let approve = base.schema().action_id("approve_mailbox").unwrap();
        for (a, fills) in &requests {
            let action = usize::from(approve) + a;
            let before = base.evaluate(&request(base, action, fills));
            let after = with.evaluate(&request(&with, action, fills));
            if after.effect == Effect::Allow {
                prop_assert_eq!(before.effect, Effect::Allow, "{}", extra);
            }
        }
    }

    #[test]
    fn removing_an_allow_rule_never_turns_a_deny_into_an_allow(
        which in any::<Index>(),
        requests in prop::collection::vec((any::<usize>(), fills()), 1..16),
    ) {
        let rules = &*ALLOW_RULES;
        let (fi, range) = &rules[which.index(rules.len())];
        let (schema, files) = &*SHIPPED;
        let mut texts: Vec<(String, String)> = files.clone();
        let removed = texts[*fi].1[range.clone()].to_owned();
        texts[*fi].1.replace_range(range.clone(), "");
        let refs: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        let without = match load_texts(schema, &refs) {
            Ok(l) => l.set,
            Err(f) => panic!("removing {removed} broke the set: {:?}", f.diagnostics),
        };
        prop_assert_eq!(without.rules().len() + 1, SET.rules().len());
        for (action, fills) in &requests {
            let before = SET.evaluate(&request(&SET, *action, fills));
            let after = without.evaluate(&request(&without, *action, fills));
            if after.effect == Effect::Allow {
                prop_assert_eq!(before.effect, Effect::Allow, "removed {}", removed);
            }
        }
    }

    #[test]
    fn missing_values_never_yield_an_allow_the_full_request_does_not_have(
        action in any::<usize>(),
        fills in fills(),
        holes in prop::collection::vec(any::<Index>(), 1..6),
    ) {
        let set = &*SET;
        let fills = well_typed(&fills);
        let full = request(set, action, &fills);
        let mut partial = full.clone();
        for h in &holes {
            let i = h.index(partial.values.len());
            partial.values[i] = Value::Missing;
        }
        let dp = set.evaluate(&partial);
        let df = set.evaluate(&full);
        if dp.effect == Effect::Allow {
            prop_assert_eq!(df.effect, Effect::Allow);
        }
        // Every error is reported, and an allow is never made of a rule that errored.
        for e in &dp.errors {
            match *e {
                EvalError::Rule { rule, .. } => {
                    prop_assert!(!(dp.effect == Effect::Allow && dp.rules.contains(&rule)));
                }
                EvalError::ForeignRequest | EvalError::Misfit => {
                    prop_assert_eq!(dp.effect, Effect::Deny);
                }
            }
        }
    }

    #[test]
    fn batch_lines_lacking_attributes_fail_closed(
        action in any::<usize>(),
        fills in prop::collection::vec(
            prop_oneof![
                3 => (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Fill::Right(a, b)),
                1 => Just(Fill::Default),
            ],
            0..40,
        ),
        holes in prop::collection::vec(any::<Index>(), 1..4),
    ) {
        let set = &*SET;
        let mut full = request(set, action, &fills);
        let layout = set.get_layout(full.action).unwrap().clone();
        // The full request has every value.
        for (i, &ty) in layout.types.iter().enumerate() {
            if full.values[i] == Value::Missing {
                let bits = u64::try_from(i).unwrap();
                full.values[i] = right_value(set, &mut full, ty, bits, bits);
            }
        }
        // Leave out attributes that have no default: they are then missing at run time.
        // (A missing parameter or slot is a bad line instead: see tests/hostile.rs.)
        let required: Vec<usize> = (0..full.values.len())
            .filter(|&i| layout.defaults[i] == Value::Missing && !layout.paths[i].starts_with("request."))
            .collect();
        let drop: Vec<usize> = if required.is_empty() {
            Vec::new()
        } else {
            holes.iter().map(|h| required[h.index(required.len())]).collect()
        };
        let full_line = batch_line(set, &full, &[]);
        let partial_line = batch_line(set, &full, &drop);
        let (ok_full, rec_full, _) = decide_line(set, &full_line);
        let (ok_partial, rec_partial, _) = decide_line(set, &partial_line);
        prop_assert!(ok_full, "{}: {}", full_line, rec_full);
        // A missing attribute is a run-time error, not a bad line.
        prop_assert!(ok_partial, "{}: {}", partial_line, rec_partial);
        // The batch decides as the library does.
        let lib = set.evaluate(&full);
        let lib_effect = if lib.effect == Effect::Allow { "allow" } else { "deny" };
        prop_assert_eq!(rec_full["decision"].as_str(), Some(lib_effect), "{}", full_line);
        if rec_partial["decision"] == "allow" {
            prop_assert_eq!(&rec_full["decision"], "allow", "{}", partial_line);
        }
        if rec_partial["decision"] != rec_full["decision"] {
            // The change can only come from an evaluation error, and it is reported.
            prop_assert!(
                !rec_partial["errors"].as_array().unwrap().is_empty(),
                "{}: {}", partial_line, rec_partial
            );
        }
    }

    #[test]
    fn decisions_are_deterministic(
        action in any::<usize>(),
        fills in fills(),
    ) {
        // Two sets loaded separately, the same request twice each: identical decisions.
        let other = load(&[]);
        let r1 = request(&SET, action, &fills);
        let r2 = request(&other, action, &fills);
        let d = SET.evaluate(&r1);
        prop_assert_eq!(&d, &SET.evaluate(&r1));
        prop_assert_eq!(&d, &other.evaluate(&r2));
        // And through batch lines, byte for byte.
        let well = request(&SET, action, &well_typed(&fills));
        let line = batch_line(&SET, &well, &[]);
        let (_, _, out1) = decide_line(&SET, &line);
        let (_, _, out2) = decide_line(&other, &line);
        let mut d = LineDecider::new(&SET);
        let mut out3 = Vec::new();
        d.decide(1, line.as_bytes(), &mut out3);
        d.decide(1, b"garbage", &mut Vec::new());
        let mut out4 = Vec::new();
        d.decide(1, line.as_bytes(), &mut out4);
        prop_assert_eq!(&out1, &out2);
        prop_assert_eq!(&out1, &out3);
        prop_assert_eq!(&out1, &out4);
    }

    #[test]
    fn random_batch_lines_never_panic_and_bad_lines_are_denied(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        edits in prop::collection::vec(edit(), 0..6),
    ) {
        let set = &*SET;
        let line: Vec<u8> = bytes.into_iter().filter(|&b| b != b'\n').collect();
        let (ok, rec, _) = decide_line(set, &String::from_utf8_lossy(&line));
        if !ok {
            prop_assert_eq!(&rec["decision"], "deny");
        }
        let mut out = Vec::new();
        let ok = LineDecider::new(set).decide(1, &line, &mut out);
        let rec: serde_json::Value = serde_json::from_slice(&out).unwrap();
        if !ok {
            prop_assert_eq!(&rec["decision"], "deny");
            prop_assert_eq!(&rec["cause"], "invalid_request");
        }
        // Mutations of a good line.
        let approve = set.schema().action_id("approve_mailbox").unwrap();
        let good = request(set, usize::from(approve), &[Fill::Right(1, 2); 40]);
        let mut text = batch_line(set, &good, &[]);
        for e in &edits {
            apply(&mut text, e);
        }
        let text = text.replace('\n', " ");
        let (ok, rec, _) = decide_line(set, &text);
        if !ok {
            prop_assert_eq!(&rec["decision"], "deny", "{}", text);
            prop_assert_eq!(&rec["cause"], "invalid_request");
        }
    }
}

/// One line of a random batch: a generated request, a cut or mangled one, junk, an empty
/// line, or a line over the limit; ended by `\n` or `\r\n`.
fn batch_piece() -> impl Strategy<Value = Vec<u8>> {
    let orgs = mailgate::generate::org_variants();
    let lines: Vec<String> = mailgate::generate::requests(21, 64)
        .iter()
        .map(|r| r.to_json(&orgs))
        .collect();
    let line = prop::sample::select(lines);
    prop_oneof![
        60 => line.clone().prop_map(String::into_bytes),
        20 => (line, any::<Index>()).prop_map(|(l, at)| l.as_bytes()[..at.index(l.len())].to_vec()),
        10 => prop::collection::vec(any::<u8>(), 0..40),
        10 => Just(Vec::new()),
        1 => Just(vec![b'x'; mailgate::limits::MAX_BATCH_LINE_BYTES + 1]),
    ]
    .prop_flat_map(|l| (Just(l), any::<bool>()))
    .prop_map(|(mut l, crlf)| {
        l.retain(|&b| b != b'\n');
        l.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        l
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any batch gives the same records and counts on one thread and on several, whatever
    /// the reader's buffer size: the threaded run copies chunks for its workers and
    /// decides other lines in place, and a line can be cut by the buffer anywhere.
    #[test]
    fn threads_and_buffer_sizes_never_change_a_batch(
        pieces in prop::collection::vec(batch_piece(), 0..800),
        last_without_newline in any::<bool>(),
        capacity in prop::sample::select(vec![1usize, 13, 700, 8192, 1 << 20]),
        threads in 2usize..5,
    ) {
        let set = &*SET;
        let mut input: Vec<u8> = pieces.concat();
        if last_without_newline && input.ends_with(b"\n") {
            input.pop();
        }
        let mut one = Vec::new();
        let s1 = mailgate::batch::run(set, input.as_slice(), &mut one, 1).unwrap();
        let reader = std::io::BufReader::with_capacity(capacity, input.as_slice());
        let mut many = Vec::new();
        let s = mailgate::batch::run(set, reader, &mut many, threads).unwrap();
        prop_assert_eq!(s1, s);
        prop_assert!(one == many, "{} threads, a buffer of {} bytes", threads, capacity);
    }
}
