//! The analysis core and why-not:
//!
//! - property: for random complete requests, the decision diagram decides what the
//!   evaluator decides;
//! - property: every option flips the decision when applied, and no proper subset of its
//!   changes does;
//! - brute force on small schemas (the lending-library fixture and one with ints,
//!   strings, versions, a set and a three-way string equality): enumerate a value space
//!   rich enough to realise every class, and compare the complete list of minimal options;
//! - answers derived from docs/permission-model.md for the shipped set.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use mailgate::analysis::{Analyzer, ChangeOp, Counterfactuals, WhyNotOptions};
use mailgate::ast::Effect;
use mailgate::compile::CompiledSet;
use mailgate::eval::Request;
use mailgate::policy_set::{Origin, load};
use mailgate::schema::Type;
use mailgate::value::{EnumSet, Value};
use mailgate::version::Version;
use proptest::prelude::*;

use crate::util;

static SHIPPED: LazyLock<CompiledSet> = LazyLock::new(|| {
    load(&Origin::Dir(util::repo_path("policies")))
        .unwrap_or_else(|_| panic!("the shipped set loads"))
        .set
});

/// One analyzer for the shipped set, so each action's diagram is built once.
static ANALYZER: LazyLock<Analyzer<'static>> = LazyLock::new(|| Analyzer::new(&SHIPPED));

fn req(set: &CompiledSet, line: &str) -> Request {
    mailgate::batch::parse_request(set, line.as_bytes()).unwrap()
}

fn all_options(max: usize) -> WhyNotOptions {
    WhyNotOptions {
        max_options: max,
        hold: Vec::new(),
    }
}

/// A unit of change: a path, and the member for a set.
type Unit = (String, Option<String>);

fn option_units(cf: &Counterfactuals) -> BTreeSet<BTreeSet<Unit>> {
    cf.options
        .iter()
        .map(|o| {
            o.changes
                .iter()
                .map(|c| match c.op {
                    ChangeOp::Add | ChangeOp::Remove => {
                        (c.path.clone(), Some(c.value.as_str().unwrap().to_owned()))
                    }
                    ChangeOp::Set => (c.path.clone(), None),
                })
                .collect()
        })
        .collect()
}

/// The index of `path` in the request's layout.
fn index_of(set: &CompiledSet, r: &Request, path: &str) -> usize {
    set.get_layout(r.action)
        .unwrap()
        .paths
        .iter()
        .position(|p| p == path)
        .unwrap_or_else(|| panic!("no path {path}"))
}

/// Applies one change to a request.
fn apply(set: &CompiledSet, r: &mut Request, c: &mailgate::analysis::Change) {
    let i = index_of(set, r, &c.path);
    let ty = set.get_layout(r.action).unwrap().types[i];
    let v = match (c.op, ty) {
        (ChangeOp::Add | ChangeOp::Remove, Type::Set(e)) => {
            let m = set
                .schema()
                .enum_member(e, c.value.as_str().unwrap())
                .unwrap();
            let Value::Set(mut s) = r.values[i] else {
                panic!("not a set")
            };
            if c.op == ChangeOp::Add {
                s.insert(m);
            } else {
                s.0 &= !(1u128 << m);
            }
            Value::Set(s)
        }
        (ChangeOp::Set, Type::Bool) => Value::Bool(c.value.as_bool().unwrap()),
        (ChangeOp::Set, Type::Int) => Value::Int(c.value.as_i64().unwrap()),
        (ChangeOp::Set, Type::String) => Value::Str(set.intern(r, c.value.as_str().unwrap())),
        (ChangeOp::Set, ty) => {
            let k = set
                .schema()
                .const_from_text(ty, c.value.as_str().unwrap())
                .unwrap();
            set.to_value(r, &k)
        }
        other => panic!("unexpected change {other:?}"),
    };
    r.values[i] = v;
}

// ---- docs/permission-model.md answers on the shipped set ------------------------------------------------

const SA_PRIV: &str = r#""security_roles":["System Administrator"],"privileges":["Approve Email Addresses for Users or Queues"]"#;
const QUEUE_EXO: &str = r#""mailbox":{"owner_kind":"queue","email":"support@contoso.com","approval":"pending_approval","server":"exchange_online"}"#;

fn describe(cf: &Counterfactuals) -> Vec<String> {
    cf.options
        .iter()
        .map(|o| {
            o.changes
                .iter()
                .map(mailgate::analysis::Change::describe)
                .collect::<Vec<_>>()
                .join(" and ")
        })
        .collect()
}

#[test]
fn a_system_administrator_without_exchange_rights_needs_one_role() {
    let set = &*SHIPPED;
    let a = Analyzer::new(set);
    // Before 9.2.22104.00170 (from 9.1.0.5805 on): Global or Exchange Administrator.
    let before = req(
        set,
        &format!(
            r#"{{"action":"approve_mailbox","org":{{"version":"9.1.0.5805"}},"user":{{{SA_PRIV}}},{QUEUE_EXO}}}"#
        ),
    );
    let cf = a.counterfactuals(&before, &all_options(50)).unwrap();
    assert!(cf.complete);
    assert_eq!(
        describe(&cf),
        [
            r#"add "Global Administrator" to user.directory_roles"#,
            r#"add "Exchange Administrator" to user.directory_roles"#,
        ]
    );
    // From 9.2.22104.00170: also the Delegated Mailbox Approver role.
    let after = req(
        set,
        &format!(
            r#"{{"action":"approve_mailbox","org":{{"version":"9.2.22104.00170"}},"user":{{{SA_PRIV}}},{QUEUE_EXO}}}"#
        ),
    );
    let cf = a.counterfactuals(&after, &all_options(50)).unwrap();
    assert!(cf.complete);
    assert_eq!(
        describe(&cf),
        [
            r#"add "Delegated Mailbox Approver" to user.security_roles"#,
            r#"add "Global Administrator" to user.directory_roles"#,
            r#"add "Exchange Administrator" to user.directory_roles"#,
        ]
    );
    for o in &cf.options {
        assert_eq!(o.decision, "allow");
        assert_eq!(o.rules, ["approve-exchange-online"]);
    }
}

#[test]
fn a_salesperson_needs_the_role_the_privilege_and_exchange_rights() {
    let set = &*SHIPPED;
    let r = req(
        set,
        &format!(
            r#"{{"action":"approve_mailbox","org":{{"version":"9.2.22104.00170"}},"user":{{"security_roles":["Salesperson"]}},{QUEUE_EXO}}}"#
        ),
    );
    let cf = set.counterfactuals(&r, &all_options(50)).unwrap();
    assert!(cf.complete);
    // System Administrator + the privilege + one of three ways to Exchange rights; a
    // queue mailbox rules out self-approval.
    let units = option_units(&cf);
    assert_eq!(units.len(), 3);
    for o in &units {
        assert_eq!(o.len(), 3);
        assert!(o.contains(&(
            "user.security_roles".into(),
            Some("System Administrator".into())
        )));
        assert!(o.contains(&(
            "user.privileges".into(),
            Some("Approve Email Addresses for Users or Queues".into())
        )));
    }
}

#[test]
fn a_failed_test_and_a_pending_address_need_two_changes() {
    let set = &*SHIPPED;
    let r = req(
        set,
        r#"{"action":"sync_incoming_email","org":{"version":"9.2.22104.00170"},"mailbox":{"owner_kind":"queue","email":"support@contoso.com","approval":"pending_approval","server":"exchange_online","incoming":"failure"}}"#,
    );
    let cf = set.counterfactuals(&r, &all_options(50)).unwrap();
    assert!(cf.complete);
    assert_eq!(
        describe(&cf),
        // Approving costs 1, the org-wide switch 10: approving comes first.
        [
            r#"set mailbox.approval to "approved" and set mailbox.incoming to "success""#,
            r#"set org.process_emails_only_for_approved_queues to false and set mailbox.incoming to "success""#,
        ]
    );
    // Holding the org setting leaves one way.
    let held = WhyNotOptions {
        max_options: 50,
        hold: vec!["org.process_emails_only_for_approved_queues".into()],
    };
    let cf = set.counterfactuals(&r, &held).unwrap();
    assert_eq!(cf.options.len(), 1);
    // A cap of one cuts the list: not complete.
    let cf = set.counterfactuals(&r, &all_options(1)).unwrap();
    assert_eq!(cf.options.len(), 1);
    assert!(!cf.complete);
}

#[test]
fn fixed_attributes_are_never_changed() {
    let set = &*SHIPPED;
    // A team can never get the Delegated Mailbox Approver role, and the principal's kind
    // is fixed: nothing that may change allows it.
    let r = req(
        set,
        r#"{"action":"assign_role","org":{"version":"9.2.22104.00170"},"actor":{"security_roles":["System Administrator"],"directory_roles":["Global Administrator"]},"assignee":{"kind":"team"},"role":"Delegated Mailbox Approver"}"#,
    );
    let cf = set.counterfactuals(&r, &all_options(50)).unwrap();
    assert!(cf.complete);
    assert!(cf.options.is_empty());
    assert_eq!(cf.target, Effect::Allow);
}

#[test]
fn allowed_requests_get_what_would_deny_them() {
    let set = &*SHIPPED;
    let r = req(
        set,
        &format!(
            r#"{{"action":"approve_mailbox","org":{{"version":"9.2.22104.00170"}},"user":{{"security_roles":["System Administrator"],"directory_roles":["Exchange Administrator"],"privileges":["Approve Email Addresses for Users or Queues"]}},{QUEUE_EXO}}}"#
        ),
    );
    let cf = set.counterfactuals(&r, &all_options(50)).unwrap();
    assert!(cf.complete);
    assert_eq!(cf.target, Effect::Deny);
    let d = describe(&cf);
    assert!(d.contains(&r#"remove "Exchange Administrator" from user.directory_roles"#.to_owned()));
    assert!(d.contains(&r#"set mailbox.approval to "approved""#.to_owned()));
}

#[test]
fn hold_paths_are_checked() {
    let a = Analyzer::new(&SHIPPED);
    assert!(a.check_paths(&["user.privileges".into()]).is_ok());
    let e = a.check_paths(&["user.privilege".into()]).unwrap_err();
    assert!(
        e.to_string().contains("did you mean `user.privileges`"),
        "{e}"
    );
}

#[test]
fn requests_missing_a_required_value_are_outside_the_analysis() {
    let set = &*SHIPPED;
    let r = set.new_request(set.schema().action_id("sync_incoming_email").unwrap());
    let e = set.counterfactuals(&r, &all_options(5)).unwrap_err();
    assert!(e.to_string().contains("has no value for"), "{e}");
}

// ---- random requests ------------------------------------------------------------------

/// Versions near the shipped gates, and far from them.
const VERSIONS: &[&str] = &[
    "8.2",
    "9.1.0.5804",
    "9.1.0.5805",
    "9.1.0.5806",
    "9.2.22104.169",
    "9.2.22104.00170",
    "9.2.22104.171",
    "9.2.23000",
    "10",
];
const STRINGS: &[&str] = &["", "a@contoso.com", "b@contoso.com", "support@contoso.com"];

/// A complete request for action `action` from random numbers.
fn random_request(set: &CompiledSet, action: usize, picks: &[u64]) -> Request {
    let action = u16::try_from(action % set.schema().actions.len()).unwrap();
    let mut r = set.new_request(action);
    let types = set.get_layout(action).unwrap().types.clone();
    for (i, ty) in types.into_iter().enumerate() {
        let p = picks.get(i).copied().unwrap_or(0);
        let small = (p % 1000) as usize;
        r.values[i] = match ty {
            Type::Bool => Value::Bool(p % 2 == 0),
            Type::Int => Value::Int(i64::try_from(p % 11).unwrap() - 5),
            Type::String => Value::Str(set.intern(&mut r, STRINGS[small % STRINGS.len()])),
            Type::Version => {
                Value::Version(Version::parse(VERSIONS[small % VERSIONS.len()]).unwrap())
            }
            Type::Enum(e) => {
                let n = set.schema().get_enum_def(e).unwrap().values.len();
                Value::Enum(u16::try_from(small % n).unwrap())
            }
            Type::Set(e) => {
                let n = set.schema().get_enum_def(e).unwrap().values.len();
                Value::Set(EnumSet(u128::from(p) & ((1u128 << n) - 1)))
            }
        };
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_diagram_decides_what_the_evaluator_decides(
        action in 0usize..16,
        picks in prop::collection::vec(any::<u64>(), 40),
        small in prop::collection::vec(0u64..4, 40),
        use_small in any::<bool>(),
    ) {
        let set = &*SHIPPED;
        let a = &*ANALYZER;
        let r = random_request(set, action, if use_small { &small } else { &picks });
        let allowed = set.evaluate(&r).effect == Effect::Allow;
        prop_assert_eq!(a.diagram_allows(&r).unwrap(), allowed);
    }

    #[test]
    fn every_option_flips_and_no_proper_subset_does(
        action in 0usize..16,
        picks in prop::collection::vec(any::<u64>(), 40),
        small in prop::collection::vec(0u64..4, 40),
        use_small in any::<bool>(),
    ) {
        let set = &*SHIPPED;
        let r = random_request(set, action, if use_small { &small } else { &picks });
        let before = set.evaluate(&r).effect;
        let cf = ANALYZER.counterfactuals(&r, &all_options(8)).unwrap();
        let mut sizes = Vec::new();
        for o in &cf.options {
            sizes.push((o.cost, o.changes.len()));
            let n = o.changes.len();
            for mask in 1u32..(1 << n) {
                let mut x = r.clone();
                for (i, c) in o.changes.iter().enumerate() {
                    if mask & (1 << i) != 0 {
                        apply(set, &mut x, c);
                    }
                }
                let after = set.evaluate(&x).effect;
                if mask == (1 << n) - 1 {
                    prop_assert_ne!(after, before, "option {:?} does not flip", o);
                    prop_assert_eq!(after.as_str(), o.decision);
                } else {
                    prop_assert_eq!(after, before, "a proper subset of {:?} flips", o);
                }
            }
        }
        // Cheapest first, then smallest.
        prop_assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{:?}", sizes);
    }
}

// ---- brute force on small schemas ----------------------------------------------------

/// Every request obtained from `r` by giving each listed path every value of its pool;
/// returns the minimal sets of units whose change flips `r`'s decision.
fn brute_force(
    set: &CompiledSet,
    r: &Request,
    pools: &[(&str, Vec<Value>)],
) -> BTreeSet<BTreeSet<Unit>> {
    let before = set.evaluate(r).effect;
    let layout = set.get_layout(r.action).unwrap();
    let idx: Vec<usize> = pools.iter().map(|(p, _)| index_of(set, r, p)).collect();
    let mut family: Vec<BTreeSet<Unit>> = Vec::new();
    let mut counter = vec![0usize; pools.len()];
    loop {
        let mut w = r.clone();
        for (k, &i) in idx.iter().enumerate() {
            w.values[i] = pools[k].1[counter[k]];
        }
        if set.evaluate(&w).effect != before {
            let mut d = BTreeSet::new();
            for &i in &idx {
                let (old, new) = (r.values[i], w.values[i]);
                let path = layout.paths[i].clone();
                match (layout.types[i], old, new) {
                    (Type::Set(e), Value::Set(a), Value::Set(b)) => {
                        for m in EnumSet(a.0 ^ b.0).iter() {
                            d.insert((
                                path.clone(),
                                Some(set.schema().member_name(e, m).to_owned()),
                            ));
                        }
                    }
                    (Type::String, Value::Str(a), Value::Str(b)) => {
                        if set.string(r, a) != set.string(&w, b) {
                            d.insert((path, None));
                        }
                    }
                    _ => {
                        if old != new {
                            d.insert((path, None));
                        }
                    }
                }
            }
            family.push(d);
        }
        // Next combination.
        let mut k = 0;
        loop {
            if k == counter.len() {
                let minimal: BTreeSet<BTreeSet<Unit>> = family
                    .iter()
                    .filter(|s| !family.iter().any(|t| t.len() < s.len() && t.is_subset(s)))
                    .cloned()
                    .collect();
                return minimal;
            }
            counter[k] += 1;
            if counter[k] < pools[k].1.len() {
                break;
            }
            counter[k] = 0;
            k += 1;
        }
    }
}

fn strings(set: &CompiledSet, r: &mut Request, xs: &[&str]) -> Vec<Value> {
    xs.iter().map(|s| Value::Str(set.intern(r, s))).collect()
}

fn ints(xs: &[i64]) -> Vec<Value> {
    xs.iter().map(|&i| Value::Int(i)).collect()
}

fn versions(xs: &[&str]) -> Vec<Value> {
    xs.iter()
        .map(|v| Value::Version(Version::parse(v).unwrap()))
        .collect()
}

fn enums(n: u16) -> Vec<Value> {
    (0..n).map(Value::Enum).collect()
}

fn bools() -> Vec<Value> {
    vec![Value::Bool(false), Value::Bool(true)]
}

fn sets(n: u16) -> Vec<Value> {
    (0..(1u128 << n)).map(|m| Value::Set(EnumSet(m))).collect()
}

/// Builds the value pools of a brute force (interning strings into the request).
type Pools<'a> = dyn Fn(&CompiledSet, &mut Request) -> Vec<(&'static str, Vec<Value>)> + 'a;

/// Checks the analysis against brute force for `r`.
fn compare_with_brute_force(set: &CompiledSet, mut r: Request, pools: &Pools<'_>) {
    let pools = pools(set, &mut r);
    let expected = brute_force(set, &r, &pools);
    let cf = set.counterfactuals(&r, &all_options(10_000)).unwrap();
    assert!(cf.complete);
    assert_eq!(option_units(&cf), expected, "request {:?}", r.values);
}

#[test]
fn lending_library_renewals_match_brute_force() {
    let loaded = load(&Origin::Dir(util::repo_path("tests/fixtures/other-domain")))
        .unwrap_or_else(|_| panic!("fixture loads"));
    let set = &loaded.set;
    let texts = ["", "A-1", "S-9", "Z-3"];
    let pools = |set: &CompiledSet, r: &mut Request| {
        vec![
            ("member.card", strings(set, r, &texts)),
            ("member.membership", enums(4)),
            ("member.fines_cents", ints(&[0, 999, 1000, 1001])),
            ("member.blocked", bools()),
            ("book.genre", enums(5)),
            ("book.state", enums(4)),
            ("book.reserved_for", strings(set, r, &texts)),
            (
                "library.system_version",
                versions(&["2.9.7", "2.10", "2.11"]),
            ),
        ]
    };
    // Requests from the same pools: every combination of a few varied attributes.
    let mut n = 0;
    for weeks in [3, 9] {
        for (card, reserved) in [("A-1", ""), ("A-1", "S-9"), ("A-1", "A-1"), ("", "")] {
            for state in ["on_loan", "on_shelf", "lost"] {
                for (fines, version) in [(0, "2.10"), (1001, "2.9.7")] {
                    let line = format!(
                        r#"{{"action":"renew","library":{{"system_version":"{version}"}},"member":{{"card":"{card}","membership":"standard","age":30,"fines_cents":{fines}}},"book":{{"genre":"history","state":"{state}","branch":"central","reserved_for":"{reserved}"}},"weeks":{weeks}}}"#
                    );
                    compare_with_brute_force(set, req(set, &line), &pools);
                    n += 1;
                }
            }
        }
    }
    assert_eq!(n, 48);
}

const SMALL_SCHEMA: &str = r#"
enums:
  role: [admin, editor, viewer]
  tier: [free, pro]
entities:
  user:
    plural: users
    attributes:
      roles: { type: "set<role>", default: [] }
      name: { type: string }
      level: { type: int, default: 0 }
  doc:
    plural: docs
    attributes:
      owner: { type: string }
      editor: { type: string, default: "" }
      tier: { type: tier }
context:
  name: org
  attributes:
    app: { type: version }
    locked: { type: bool, default: false }
actions:
  edit: { slots: { user: user, doc: doc } }
"#;

const SMALL_POLICY: &str = r#"
rule owner-edits { allow edit when user.name == doc.owner and user.name != "" }
rule editor-edits { allow edit when user.name == doc.editor and doc.owner != doc.editor and doc.tier == "pro" and org.app >= "2.1" }
rule admins { allow edit when user.roles contains "admin" and user.level >= 3 }
rule locked { deny edit when org.locked and not (user.roles contains any ["admin", "editor"]) }
rule old-app { deny edit when org.app < "1.5" and user.level < 10 }
rule banned { deny edit when user.name in ["mallory", "eve"] }
"#;

#[test]
fn ints_strings_versions_and_a_three_way_equality_match_brute_force() {
    let loaded = util::load_ok(SMALL_SCHEMA, &[("small.policy", SMALL_POLICY)]);
    let set = &loaded.set;
    let texts = ["", "mallory", "p", "q", "s"];
    let pools = |set: &CompiledSet, r: &mut Request| {
        vec![
            ("user.name", strings(set, r, &texts)),
            ("doc.owner", strings(set, r, &texts)),
            ("doc.editor", strings(set, r, &texts)),
            ("user.level", ints(&[0, 3, 5, 10, 11])),
            ("org.app", versions(&["1.0", "1.5", "2.0", "2.1", "3"])),
            ("user.roles", sets(3)),
            ("doc.tier", enums(2)),
            ("org.locked", bools()),
        ]
    };
    let cases = [
        ("p", "q", "p", 0, "2.1", "[]", "pro", false),
        ("p", "q", "s", 0, "2.1", "[]", "pro", false),
        ("p", "p", "p", 0, "1.0", "[]", "free", true),
        ("", "", "", 3, "2.0", r#"["admin"]"#, "free", false),
        (
            "mallory",
            "mallory",
            "q",
            11,
            "3",
            r#"["editor"]"#,
            "pro",
            true,
        ),
        ("q", "p", "q", 10, "1.5", r#"["viewer"]"#, "pro", false),
        (
            "s",
            "s",
            "",
            5,
            "1.0",
            r#"["admin","viewer"]"#,
            "free",
            true,
        ),
    ];
    for (name, owner, editor, level, app, roles, tier, locked) in cases {
        let line = format!(
            r#"{{"action":"edit","org":{{"app":"{app}","locked":{locked}}},"user":{{"name":"{name}","level":{level},"roles":{roles}}},"doc":{{"owner":"{owner}","editor":"{editor}","tier":"{tier}"}}}}"#
        );
        compare_with_brute_force(set, req(set, &line), &pools);
    }
}

/// The small schema with costs: the org's lock and a user's name cost 10, each role 3,
/// the level 2.
fn weighted_schema() -> String {
    SMALL_SCHEMA
        .replace("name: { type: string }", "name: { type: string, cost: 10 }")
        .replace(
            r#"roles: { type: "set<role>", default: [] }"#,
            r#"roles: { type: "set<role>", default: [], cost: 3 }"#,
        )
        .replace(
            "level: { type: int, default: 0 }",
            "level: { type: int, default: 0, cost: 2 }",
        )
        .replace(
            "locked: { type: bool, default: false }",
            r#"locked: { type: bool, default: false, cost: 10, fix: { false: { step: "Unlock the org", warning: "everyone may edit" } } }"#,
        )
}

#[test]
fn weighted_options_come_cheapest_first_and_match_brute_force() {
    let schema = weighted_schema();
    let loaded = util::load_ok(&schema, &[("small.policy", SMALL_POLICY)]);
    let set = &loaded.set;
    let weight = |u: &Unit| -> u64 {
        match u.0.as_str() {
            "user.roles" => 3,
            "user.level" => 2,
            "org.locked" | "user.name" => 10,
            _ => 1,
        }
    };
    let texts = ["", "mallory", "p", "q", "s"];
    let pools = |set: &CompiledSet, r: &mut Request| {
        vec![
            ("user.name", strings(set, r, &texts)),
            ("doc.owner", strings(set, r, &texts)),
            ("doc.editor", strings(set, r, &texts)),
            ("user.level", ints(&[0, 3, 5, 10, 11])),
            ("org.app", versions(&["1.0", "1.5", "2.0", "2.1", "3"])),
            ("user.roles", sets(3)),
            ("doc.tier", enums(2)),
            ("org.locked", bools()),
        ]
    };
    let cases = [
        ("p", "q", "s", 0, "2.1", "[]", "pro", true),
        ("s", "s", "", 5, "1.0", r#"["viewer"]"#, "free", true),
        ("", "", "", 3, "2.0", r#"["admin"]"#, "free", true),
        ("q", "p", "q", 10, "1.5", r#"["viewer"]"#, "pro", false),
        ("p", "q", "", 0, "2.1", "[]", "free", false),
    ];
    let mut saw_cheaper_but_larger = false;
    for (name, owner, editor, level, app, roles, tier, locked) in cases {
        let line = format!(
            r#"{{"action":"edit","org":{{"app":"{app}","locked":{locked}}},"user":{{"name":"{name}","level":{level},"roles":{roles}}},"doc":{{"owner":"{owner}","editor":"{editor}","tier":"{tier}"}}}}"#
        );
        let mut r = req(set, &line);
        let pools = pools(set, &mut r);
        let expected = brute_force(set, &r, &pools);
        let cf = set.counterfactuals(&r, &all_options(10_000)).unwrap();
        assert!(cf.complete);
        assert_eq!(option_units(&cf), expected, "request {line}");
        // Each option's cost is the sum of its units' weights, and the list is ordered
        // by (cost, size): exactly the brute force's options sorted that way.
        let got: Vec<(u64, usize)> = cf
            .options
            .iter()
            .map(|o| (o.cost, o.changes.len()))
            .collect();
        let mut want: Vec<(u64, usize)> = expected
            .iter()
            .map(|s| (s.iter().map(weight).sum(), s.len()))
            .collect();
        want.sort_unstable();
        assert_eq!(got, want, "request {line}");
        for w in got.windows(2) {
            if w[0].0 < w[1].0 && w[0].1 > w[1].1 {
                saw_cheaper_but_larger = true;
            }
        }
        // A cap keeps the cheapest.
        let capped = set.counterfactuals(&r, &all_options(2)).unwrap();
        let n = want.len().min(2);
        assert_eq!(
            capped
                .options
                .iter()
                .map(|o| (o.cost, o.changes.len()))
                .collect::<Vec<_>>(),
            want[..n].to_vec()
        );
        assert_eq!(capped.complete, want.len() <= 2);
        // Steps: the lock's fix text and warning, others generated.
        for o in &cf.options {
            let covered: usize = o.steps.iter().map(|s| s.changes.len()).sum();
            assert_eq!(covered, o.changes.len());
            for s in &o.steps {
                for &i in &s.changes {
                    let c = &o.changes[i];
                    if c.path == "org.locked" {
                        assert_eq!(s.text, "Unlock the org");
                        assert_eq!(s.warning.as_deref(), Some("everyone may edit"));
                        assert!(
                            o.describe()
                                .ends_with("(not recommended: everyone may edit)")
                        );
                    } else {
                        assert_eq!(s.text, c.describe());
                    }
                }
            }
        }
    }
    assert!(
        saw_cheaper_but_larger,
        "some case should put a cheaper option with more changes before a costly one"
    );
}

#[test]
fn comparing_two_int_paths_is_reported_not_guessed() {
    let loaded = load(&Origin::Dir(util::repo_path("tests/fixtures/other-domain")))
        .unwrap_or_else(|_| panic!("fixture loads"));
    let set = &loaded.set;
    let r = req(
        set,
        r#"{"action":"borrow","library":{"system_version":"2.10"},"member":{"card":"A-1","membership":"standard","age":30},"book":{"genre":"history","state":"on_shelf","branch":"central"}}"#,
    );
    let e = set.counterfactuals(&r, &all_options(5)).unwrap_err();
    let e = e.to_string();
    assert!(
        e.contains("action `borrow`") && e.contains("compares two int paths"),
        "{e}"
    );
}

// ---- the command line -------------------------------------------------------------------

#[test]
fn eval_why_not_text_and_json() {
    use util::mailgate;
    let files = [
        "tests/fixtures/why-not/before-delegation.yaml",
        "tests/fixtures/why-not/after-delegation.yaml",
    ];
    let out = mailgate(&["eval", "--why-not", files[0], files[1]]).run();
    out.code(0);
    assert!(
        out.stdout.contains(
            "  would be allowed with any one of:\n    - Assign the user the Global Administrator role in the Microsoft 365 admin center (Roles > Role assignments) [add \"Global Administrator\" to user.directory_roles]"
        ),
        "{}",
        out.stdout
    );
    util::settings().bind(|| insta::assert_snapshot!("cli_eval_why_not_text", out.transcript()));

    let out = mailgate(&["eval", "--why-not", "--format", "json", files[0], files[1]]).run();
    out.code(0);
    for line in out.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let cf = &v["counterfactuals"];
        assert_eq!(cf["complete"], true, "{line}");
        assert!(
            cf["options"].as_array().is_some_and(|o| !o.is_empty()),
            "{line}"
        );
    }
    util::settings().bind(|| insta::assert_snapshot!("cli_eval_why_not_json", out.transcript()));

    // Without --why-not a text denial shows its first option on one line; JSON has none.
    let out = mailgate(&["eval", files[0]]).run();
    assert!(
        out.stdout.contains("  would be allowed with: Assign the user the Global Administrator role in the Microsoft 365 admin center (Roles > Role assignments) [add \"Global Administrator\" to user.directory_roles] (then allowed by approve-exchange-online) (--why-not lists every option)\n"),
        "{}",
        out.stdout
    );
    let out = mailgate(&["eval", "--format", "json", files[0]]).run();
    assert!(!out.stdout.contains("counterfactuals"));
}

#[test]
fn eval_batch_why_not_with_hold_and_a_cap() {
    use util::mailgate;
    let line = r#"{"action":"sync_incoming_email","org":{"version":"9.2.22104.00170"},"mailbox":{"owner_kind":"queue","email":"support@contoso.com","approval":"pending_approval","server":"exchange_online","incoming":"failure"}}"#;
    let out = mailgate(&["eval", "--batch", "-", "--why-not"])
        .stdin(format!("{line}\n{line}\nnot json\n"))
        .run();
    out.code(1);
    let records: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3);
    assert_eq!(
        records[0]["counterfactuals"]["options"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(records[0]["counterfactuals"], records[1]["counterfactuals"]);
    assert!(records[2].get("counterfactuals").is_none());
    // Approving (cost 1) comes before the org-wide switch (cost 10).
    assert_eq!(
        records[0]["counterfactuals"]["options"][0]["changes"][0],
        serde_json::json!({"path": "mailbox.approval", "op": "set", "value": "approved"})
    );

    let out = mailgate(&[
        "eval",
        "--batch",
        "-",
        "--why-not",
        "--hold",
        "mailbox.approval",
        "--max-options",
        "1",
    ])
    .stdin(format!("{line}\n"))
    .run();
    out.code(0);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["counterfactuals"]["options"].as_array().unwrap().len(), 1);
    assert_eq!(v["counterfactuals"]["complete"], true);
    let out = mailgate(&[
        "eval",
        "--batch",
        "-",
        "--why-not",
        "--hold",
        "mailbox.aproval",
    ])
    .stdin(format!("{line}\n"))
    .run();
    out.code(1);
    assert!(
        out.stderr.contains("did you mean `mailbox.approval`"),
        "{}",
        out.stderr
    );
}

// ---- verify ---------------------------------------------------------------------------

const SMALL_INVARIANTS: &[(&str, &str, &str)] = &[
    // (id, form, condition)
    (
        "owners-or-admins",
        "allow only when",
        r#"user.name == doc.owner or user.roles contains "admin" or user.name == doc.editor"#,
    ),
    ("banned-never", "deny when", r#"user.name == "mallory""#),
    (
        "old-apps-need-level",
        "deny when",
        r#"org.app < "1.5" and user.level < 10"#,
    ),
    ("old-apps-always-denied", "deny when", r#"org.app < "1.5""#),
    (
        "pro-editors-allowed",
        "allow when",
        r#"user.name == doc.editor and doc.owner != doc.editor and doc.tier == "pro" and org.app >= "2.1" and not org.locked and user.name != "mallory" and user.name != "eve""#,
    ),
    (
        "pro-editors-allowed-sloppy",
        "allow when",
        r#"user.name == doc.editor and doc.tier == "pro" and org.app >= "2.1""#,
    ),
    ("level-three-admins", "allow only when", "user.level >= 3"),
];

#[test]
fn verify_matches_exhaustive_checking_on_a_small_schema() {
    let mut invariants = String::new();
    for (id, form, cond) in SMALL_INVARIANTS {
        invariants.push_str(&format!("invariant {id} {{ on edit {form} {cond} }}\n"));
    }
    let loaded = util::load_ok(
        SMALL_SCHEMA,
        &[("small.policy", SMALL_POLICY), ("inv.policy", &invariants)],
    );
    let set = &loaded.set;
    let outcomes = Analyzer::new(set).verify().unwrap();
    assert_eq!(outcomes.len(), SMALL_INVARIANTS.len());
    // Each condition on its own, as the only allow rule of a set: deciding it evaluates it.
    let conditions: Vec<CompiledSet> = SMALL_INVARIANTS
        .iter()
        .map(|(_, _, cond)| {
            util::load_ok(
                SMALL_SCHEMA,
                &[("c.policy", &format!("rule c {{ allow edit when {cond} }}"))],
            )
            .set
        })
        .collect();
    let base = req(
        set,
        r#"{"action":"edit","org":{"app":"1.0"},"user":{"name":"p"},"doc":{"owner":"q","tier":"free"}}"#,
    );
    let texts = ["", "mallory", "p", "q", "s"];
    let mut r = base.clone();
    let pools = [
        ("user.name", strings(set, &mut r, &texts)),
        ("doc.owner", strings(set, &mut r, &texts)),
        ("doc.editor", strings(set, &mut r, &texts)),
        ("user.level", ints(&[0, 3, 5, 10, 11])),
        ("org.app", versions(&["1.0", "1.5", "2.0", "2.1", "3"])),
        ("user.roles", sets(3)),
        ("doc.tier", enums(2)),
        ("org.locked", bools()),
    ];
    let idx: Vec<usize> = pools.iter().map(|(p, _)| index_of(set, &r, p)).collect();
    let mut violated = vec![false; SMALL_INVARIANTS.len()];
    let mut counter = vec![0usize; pools.len()];
    'all: loop {
        let mut w = r.clone();
        for (k, &i) in idx.iter().enumerate() {
            w.values[i] = pools[k].1[counter[k]];
        }
        let allowed = set.evaluate(&w).effect == Effect::Allow;
        for (n, (_, form, _)) in SMALL_INVARIANTS.iter().enumerate() {
            // The same request in the condition's set (strings by text).
            let line = mailgate::analysis::batch_line(set, &w).to_string();
            let p = conditions[n].evaluate(&req(&conditions[n], &line)).effect == Effect::Allow;
            violated[n] |= match *form {
                "allow only when" => allowed && !p,
                "allow when" => p && !allowed,
                _ => p && allowed,
            };
        }
        let mut k = 0;
        loop {
            if k == counter.len() {
                break 'all;
            }
            counter[k] += 1;
            if counter[k] < pools[k].1.len() {
                break;
            }
            counter[k] = 0;
            k += 1;
        }
    }
    for (n, o) in outcomes.iter().enumerate() {
        assert_eq!(o.holds, !violated[n], "{}", o.invariant);
        // Every counterexample is a batch line the evaluator decides as shown.
        if let Some(line) = &o.counterexample {
            let d = set.evaluate(&req(set, &line.to_string()));
            assert_eq!(o.decision.as_ref().unwrap().decision, d.effect.as_str());
        }
    }
    let holds: Vec<bool> = outcomes.iter().map(|o| o.holds).collect();
    assert_eq!(holds, [true, true, true, false, true, false, false]);
}

#[test]
fn verify_proves_the_shipped_invariants_and_reports_broken_ones() {
    use util::mailgate;
    let out = mailgate(&["verify"]).run();
    out.code(0);
    assert!(out.stdout.ends_with("12 hold, 0 fail\n"), "{}", out.stdout);

    let dir = util::temp_dir("verify-broken");
    util::copy_dir(&util::repo_path("policies"), &dir);
    std::fs::write(
        dir.join("wrong.policy"),
        r#"# Wrong claims, to show counterexamples.
invariant approvers-are-system-administrators {
  on approve_mailbox, reject_mailbox
  allow only when user.security_roles contains "System Administrator"
  reason "every approver is a System Administrator"
}

invariant queues-always-sync-once-tested {
  on sync_incoming_email
  allow when mailbox.owner_kind == "queue" and mailbox.incoming == "success"
}
"#,
    )
    .unwrap();
    let out = mailgate(&["verify", "--policies"]).arg(&dir).run();
    out.code(1);
    let text = out.stdout.replace(&dir.display().to_string(), "POLICIES");
    assert!(text.ends_with("12 hold, 2 fail\n"), "{text}");
    util::settings().bind(|| insta::assert_snapshot!("cli_verify_broken", text));

    let out = mailgate(&["verify", "--format", "json", "--policies"])
        .arg(&dir)
        .run();
    out.code(1);
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 15);
    assert_eq!(
        lines[14],
        serde_json::json!({"summary": "failed", "hold": 12, "fail": 2})
    );
    let broken = &lines[12];
    assert_eq!(broken["holds"], false);
    assert_eq!(broken["decision"]["decision"], "allow");
    // The counterexample replays through eval --batch as it is.
    let replay = mailgate(&["eval", "--batch", "-", "--policies"])
        .arg(&dir)
        .stdin(format!("{}\n", broken["counterexample"]))
        .run();
    replay.code(0);
    let d: serde_json::Value = serde_json::from_str(replay.stdout.trim()).unwrap();
    assert_eq!(d["decision"], "allow");
    assert_eq!(d["rules"], broken["decision"]["rules"]);
}

#[test]
fn generated_sets_are_analysed_or_refused_by_the_budget() {
    let (schema, text) = mailgate::generate::policy_set(200, 8);
    let loaded = util::load_ok(&schema, &[("gen.policy", &text)]);
    let set = &loaded.set;
    let a = Analyzer::new(set);
    for action in 0..8u16 {
        match a.diagram_sizes(action) {
            Ok((valid, allow, deny)) => assert!(valid > 0 && allow > 0 && deny > 0),
            Err(e) => assert!(
                matches!(e, mailgate::analysis::AnalysisError::Budget { .. }),
                "{e}"
            ),
        }
    }
    let r = req(set, &mailgate::generate::policy_set_request(3, 11));
    let cf = a.counterfactuals(&r, &all_options(3)).unwrap();
    assert_eq!(set.evaluate(&r).effect, Effect::Allow);
    assert!(!cf.options.is_empty());
    for o in &cf.options {
        assert_eq!(o.decision, "deny");
    }
}
