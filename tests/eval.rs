//! Decision semantics through the library, on a tiny schema of its own: default deny,
//! deny overrides, fail closed, three-valued logic, determinism and every operator. Also
//! checks that explanations agree with decisions on every shipped scenario request.

use crate::util;
use mailgate::ast::Effect;
use mailgate::compile::CompiledSet;
use mailgate::eval::{Cause, Decision, EvalError, Request, Tri};
use mailgate::policy_set::{self, Origin};
use mailgate::report::DecisionReport;
use mailgate::schema::Type;
use mailgate::source::{SourceFile, SourceMap};
use mailgate::value::{Const, EnumSet};

const SCHEMA: &str = r#"
enums:
  color: [red, green, blue]
  tier: [bronze, silver, gold]
entities:
  user:
    plural: users
    attributes:
      colors: { type: "set<color>", default: [] }
      level: { type: int }
      name: { type: string }
      active: { type: bool }
      tier: { type: tier }
  doc:
    plural: docs
    attributes:
      owner: { type: string }
      color: { type: color }
context:
  name: env
  attributes:
    version: { type: version }
    open: { type: bool, default: true }
actions:
  read: { slots: { user: user, doc: doc } }
  write: { slots: { user: user, doc: doc }, params: { tier: tier } }
"#;

/// A value for a request path, written as a test reads it.
#[derive(Clone, Copy)]
enum V<'a> {
    Bool(bool),
    Int(i64),
    /// A string, an enum member or a version, typed by the path.
    Text(&'a str),
    Set(&'a [&'a str]),
}

fn set_of(policies: &str) -> CompiledSet {
    util::load_ok(SCHEMA, &[("test.policy", policies)]).set
}

/// A request for `action` with schema defaults, then `values` set by path; every other
/// value stays missing.
fn request(set: &CompiledSet, action: &str, values: &[(&str, V<'_>)]) -> Request {
    let action = set.schema().action_id(action).expect("unknown action");
    let mut r = set.new_request(action);
    for &(path, v) in values {
        let layout = set.get_layout(action).unwrap();
        let i = layout
            .paths
            .iter()
            .position(|p| p == path)
            .unwrap_or_else(|| panic!("no value `{path}` in {:?}", layout.paths));
        let ty = layout.types[i];
        let c = match (v, ty) {
            (V::Bool(b), _) => Const::Bool(b),
            (V::Int(n), _) => Const::Int(n),
            (V::Text(t), ty) => set.schema().const_from_text(ty, t).unwrap(),
            (V::Set(items), Type::Set(e)) => {
                let mut s = EnumSet::default();
                for item in items {
                    s.insert(set.schema().enum_member(e, item).unwrap());
                }
                Const::Set(s)
            }
            (V::Set(_), _) => panic!("`{path}` is not a set"),
        };
        r.values[i] = set.to_value(&mut r, &c);
    }
    r
}

/// A request for `read` with every value of the user and the doc filled in.
fn full_read(set: &CompiledSet) -> Request {
    request(
        set,
        "read",
        &[
            ("env.version", V::Text("9.2.22104.00170")),
            ("user.colors", V::Set(&["red", "green"])),
            ("user.level", V::Int(3)),
            ("user.name", V::Text("alice")),
            ("user.active", V::Bool(true)),
            ("user.tier", V::Text("silver")),
            ("doc.owner", V::Text("alice")),
            ("doc.color", V::Text("blue")),
        ],
    )
}

fn rule_ids(set: &CompiledSet, d: &Decision) -> Vec<String> {
    d.rules
        .iter()
        .map(|&r| set.get_rule(r).unwrap().id.clone())
        .collect()
}

/// Whether `condition` holds for the full `read` request (and that it had no error).
fn holds(condition: &str) -> bool {
    let set = set_of(&format!("rule c {{ allow read when {condition} }}"));
    let d = set.evaluate(&full_read(&set));
    assert!(d.errors.is_empty(), "`{condition}`: {:?}", d.errors);
    d.effect == Effect::Allow
}

#[test]
fn default_deny_when_no_rule_allows() {
    let set = set_of(
        "rule w { allow write }\nrule r { allow read when user.level > 10 }\n\
         rule d { deny write when user.level > 10 reason \"too high\" }",
    );
    let d = set.evaluate(&full_read(&set));
    assert_eq!(d.effect, Effect::Deny);
    assert_eq!(d.cause, Cause::NoRuleAllows);
    assert!(d.rules.is_empty());
    assert!(d.errors.is_empty());
    let r = full_read(&set);
    let report = DecisionReport::new(&set, &r, &d);
    assert_eq!(report.cause, "no_rule_allows");
    assert_eq!(
        report.render_text(&set, &r),
        "  denied by default: no rule allows read\n"
    );
}

#[test]
fn default_deny_with_no_policies_at_all() {
    let set = util::load_ok(SCHEMA, &[]).set;
    let d = set.evaluate(&full_read(&set));
    assert_eq!(d.effect, Effect::Deny);
    assert_eq!(d.cause, Cause::NoRuleAllows);
    assert!(d.rules.is_empty());
}

#[test]
fn deny_overrides_allow_and_lists_only_the_deny_rules() {
    let set = set_of(
        r#"
rule allow-all { allow read reason "everyone reads" }
rule allow-active { allow read when user.active }
rule deny-blue { deny read when doc.color == "blue" reason "blue docs are secret" }
rule deny-never { deny read when doc.color == "red" reason "red docs" }
rule deny-level { deny read, write when user.level >= 3 }
"#,
    );
    let r = full_read(&set);
    let d = set.evaluate(&r);
    assert_eq!(d.effect, Effect::Deny);
    assert_eq!(d.cause, Cause::DeniedByRule);
    assert_eq!(rule_ids(&set, &d), ["deny-blue", "deny-level"]);
    assert!(d.errors.is_empty());
    let report = DecisionReport::new(&set, &r, &d);
    assert_eq!(report.cause, "denied_by_rule");
    assert_eq!(report.reasons, ["blue docs are secret"]);
    assert_eq!(report.locations, ["test.policy:4", "test.policy:6"]);
    assert_eq!(
        report.render_text(&set, &r),
        "  denied by rule deny-blue (test.policy:4): blue docs are secret\n  \
         denied by rule deny-level (test.policy:6)\n"
    );
}

#[test]
fn allow_lists_every_matching_allow_rule_in_load_order() {
    let set = set_of(
        r#"
rule b-second { allow read when user.active reason "active" }
rule a-first { allow read reason "everyone" }
rule c-never { allow read when user.level > 100 }
"#,
    );
    let d = set.evaluate(&full_read(&set));
    assert_eq!(d.effect, Effect::Allow);
    assert_eq!(d.cause, Cause::Allowed);
    assert_eq!(rule_ids(&set, &d), ["b-second", "a-first"]);
}

#[test]
fn fail_closed_a_missing_value_never_allows() {
    let set = set_of("rule needs-level { allow read when user.level > 1 }");
    let action = set.schema().action_id("read").unwrap();
    let r = set.new_request(action);
    let d = set.evaluate(&r);
    assert_eq!(d.effect, Effect::Deny);
    assert_eq!(d.cause, Cause::NoRuleAllows);
    assert!(d.rules.is_empty());
    assert_eq!(d.errors.len(), 1);
    let EvalError::Rule { rule, value } = d.errors[0] else {
        panic!("expected a rule error, got {:?}", d.errors[0]);
    };
    assert_eq!(set.get_rule(rule).unwrap().id, "needs-level");
    assert_eq!(set.value_path(action, value.unwrap()), "user.level");
    let report = DecisionReport::new(&set, &r, &d);
    assert_eq!(
        report.errors,
        [
            "rule `needs-level` could not be evaluated (`user.level` has no value); it does not count as matched"
        ]
    );

    // `not <missing>` is not `true`: negation cannot turn an error into an allow.
    let set = set_of("rule not-active { allow read when not user.active }");
    let d = set.evaluate(&set.new_request(set.schema().action_id("read").unwrap()));
    assert_eq!(d.effect, Effect::Deny);
    assert_eq!(d.errors.len(), 1);
}

#[test]
fn fail_closed_a_missing_value_makes_a_deny_rule_match() {
    let set = set_of(
        "rule allow-all { allow read }\n\
         rule deny-low { deny read when user.level < 1 reason \"level too low\" }",
    );
    let r = set.new_request(set.schema().action_id("read").unwrap());
    let d = set.evaluate(&r);
    assert_eq!(d.effect, Effect::Deny);
    assert_eq!(d.cause, Cause::DeniedByRule);
    assert_eq!(rule_ids(&set, &d), ["deny-low"]);
    assert_eq!(d.errors.len(), 1);
    let report = DecisionReport::new(&set, &r, &d);
    assert_eq!(
        report.errors,
        [
            "rule `deny-low` could not be evaluated (`user.level` has no value); it counts as matched"
        ]
    );
    // With the value present and the condition false, the allow rule wins.
    let full = full_read(&set);
    assert_eq!(set.evaluate(&full).effect, Effect::Allow);
}

#[test]
fn schema_defaults_fill_new_requests() {
    // `env.open` has a default (true) and `user.colors` defaults to the empty set.
    let set = set_of(
        "rule r { allow read when env.open and not (user.colors contains any [\"red\", \"green\", \"blue\"]) }",
    );
    let d = set.evaluate(&set.new_request(set.schema().action_id("read").unwrap()));
    assert_eq!(d.effect, Effect::Allow, "{d:?}");
    assert!(d.errors.is_empty());
}

#[test]
fn kleene_logic_with_missing_values() {
    let only = |values: &[(&str, V<'_>)], policy: &str| {
        let set = set_of(policy);
        let d = set.evaluate(&request(&set, "read", values));
        (d.effect, d.errors.len())
    };
    let inactive = [("user.active", V::Bool(false))];
    let active = [("user.active", V::Bool(true))];
    // false and <missing> = false: no error, the rule simply does not match.
    assert_eq!(
        only(
            &inactive,
            "rule r { allow read when user.active and user.level > 1 }"
        ),
        (Effect::Deny, 0)
    );
    assert_eq!(
        only(
            &inactive,
            "rule a { allow read }\nrule d { deny read when user.level > 1 and user.active reason \"x\" }"
        ),
        (Effect::Allow, 0),
        "a deny rule that is false whatever the missing value is does not match"
    );
    // true or <missing> = true.
    assert_eq!(
        only(
            &active,
            "rule r { allow read when user.level > 1 or user.active }"
        ),
        (Effect::Allow, 0)
    );
    // true and <missing> and false or <missing> are errors: the allow rule does not match.
    assert_eq!(
        only(
            &active,
            "rule r { allow read when user.active and user.level > 1 }"
        ),
        (Effect::Deny, 1)
    );
    assert_eq!(
        only(
            &inactive,
            "rule r { allow read when user.active or user.level > 1 }"
        ),
        (Effect::Deny, 1)
    );
    // not (false and <missing>) = true.
    assert_eq!(
        only(
            &inactive,
            "rule r { allow read when not (user.active and user.level > 1) }"
        ),
        (Effect::Allow, 0)
    );
}

#[test]
fn decisions_are_deterministic() {
    let text = "rule a { allow read when user.active }\n\
                rule b { allow read when user.name == doc.owner }\n\
                rule c { deny read when user.level > 5 reason \"high\" }";
    let set1 = set_of(text);
    let set2 = set_of(text);
    let r1 = full_read(&set1);
    let r2 = full_read(&set2);
    let d1 = set1.evaluate(&r1);
    for _ in 0..100 {
        assert_eq!(set1.evaluate(&r1), d1);
    }
    let d2 = set2.evaluate(&r2);
    assert_eq!(d1, d2);
    assert_eq!(
        DecisionReport::new(&set1, &r1, &d1),
        DecisionReport::new(&set2, &r2, &d2)
    );
    // Reusing an output buffer gives the same decision.
    let mut out = Decision::default();
    set1.evaluate_into(&set1.new_request(r1.action), &mut out);
    set1.evaluate_into(&r1, &mut out);
    assert_eq!(out, d1);
}

#[test]
fn version_comparisons_are_numeric_part_by_part() {
    // env.version is 9.2.22104.00170
    for (condition, expected) in [
        (r#"env.version >= "9.1.0.5805""#, true),
        (r#"env.version > "9.1.0.5805""#, true),
        (r#"env.version < "9.1.0.5805""#, false),
        (r#"env.version >= "9.2.22104.00170""#, true),
        (r#"env.version >= "9.2.22104.170""#, true),
        (r#"env.version == "9.2.22104.170""#, true),
        (r#"env.version > "9.2.22104.00170""#, false),
        (r#"env.version <= "9.2.22104.00170""#, true),
        (r#"env.version < "9.2.22104.00171""#, true),
        (r#"env.version < "10""#, true),
        (r#"env.version > "9.10""#, false),
        (r#"env.version > "9.2.9999""#, true),
        (r#"env.version != "9.2.22104.00170""#, false),
        (r#"env.version == "9.2.22104.00170.0""#, true),
    ] {
        assert_eq!(holds(condition), expected, "{condition}");
    }
}

#[test]
fn int_comparisons() {
    // user.level is 3
    for (condition, expected) in [
        ("user.level == 3", true),
        ("user.level != 3", false),
        ("user.level < 3", false),
        ("user.level <= 3", true),
        ("user.level > 2", true),
        ("user.level >= 4", false),
        ("user.level > -1", true),
        ("user.level in [1, 2, 3]", true),
        ("user.level in [-3, 4]", false),
        ("user.level in []", false),
    ] {
        assert_eq!(holds(condition), expected, "{condition}");
    }
}

#[test]
fn enum_string_and_bool_comparisons() {
    for (condition, expected) in [
        (r#"doc.color == "blue""#, true),
        (r#"doc.color != "blue""#, false),
        (r#""blue" == doc.color"#, true),
        (r#"doc.color in ["red", "blue"]"#, true),
        (r#"doc.color in ["red", "green"]"#, false),
        (r#"user.tier in ["silver"]"#, true),
        (r#"user.name == "alice""#, true),
        (r#"user.name != "alice""#, false),
        (r#"user.name in ["bob", "alice"]"#, true),
        (r#"user.name in ["bob", "Alice"]"#, false),
        ("user.active", true),
        ("user.active == true", true),
        ("user.active != true", false),
        ("not user.active", false),
        ("env.open and user.active", true),
    ] {
        assert_eq!(holds(condition), expected, "{condition}");
    }
}

#[test]
fn set_operators() {
    // user.colors is [red, green]
    for (condition, expected) in [
        (r#"user.colors contains "red""#, true),
        (r#"user.colors contains "blue""#, false),
        (r#"user.colors contains any ["blue", "green"]"#, true),
        (r#"user.colors contains any ["blue"]"#, false),
        ("user.colors contains any []", false),
        (r#"user.colors contains all ["red", "green"]"#, true),
        (r#"user.colors contains all ["green"]"#, true),
        (r#"user.colors contains all ["red", "blue"]"#, false),
        ("user.colors contains all []", true),
        (r#"not (user.colors contains "blue")"#, true),
    ] {
        assert_eq!(holds(condition), expected, "{condition}");
    }
}

#[test]
fn path_to_path_comparison() {
    let set = set_of("rule own { allow read when user.name == doc.owner }");
    let with = |name: &str, owner: &str| {
        let r = request(
            &set,
            "read",
            &[("user.name", V::Text(name)), ("doc.owner", V::Text(owner))],
        );
        set.evaluate(&r).effect
    };
    // Neither string appears in any policy: they are compared by value all the same.
    assert_eq!(
        with("alice@contoso.com", "alice@contoso.com"),
        Effect::Allow
    );
    assert_eq!(with("alice@contoso.com", "bob@contoso.com"), Effect::Deny);
    assert_eq!(with("", ""), Effect::Allow);
    assert_eq!(with("Alice", "alice"), Effect::Deny);

    // Two enums of different types cannot be compared: that is a validation error.
    let diags = util::load_err(
        SCHEMA,
        &[(
            "t.policy",
            "rule r { allow read when user.tier == doc.color }",
        )],
    );
    assert!(diags.contains("`==` compares `user.tier`"), "{diags}");
}

#[test]
fn path_to_path_comparison_of_enums_and_ints() {
    let set = set_of(
        "rule r { allow write when user.tier == request.tier and user.level == user.level }",
    );
    let with = |tier: &str| {
        let r = request(
            &set,
            "write",
            &[
                ("user.tier", V::Text("gold")),
                ("user.level", V::Int(1)),
                ("request.tier", V::Text(tier)),
            ],
        );
        set.evaluate(&r).effect
    };
    assert_eq!(with("gold"), Effect::Allow);
    assert_eq!(with("silver"), Effect::Deny);
}

#[test]
fn parameters_are_read_from_the_request() {
    let set = set_of(
        "rule gold { allow write when request.tier == \"gold\" }\n\
         rule not-bronze { deny write when request.tier == \"bronze\" reason \"bronze is read-only\" }",
    );
    let effect =
        |tier: &str| set.evaluate(&request(&set, "write", &[("request.tier", V::Text(tier))]));
    assert_eq!(effect("gold").effect, Effect::Allow);
    assert_eq!(effect("silver").cause, Cause::NoRuleAllows);
    assert_eq!(effect("bronze").cause, Cause::DeniedByRule);
}

#[test]
fn lets_are_expanded_where_they_are_used() {
    let set = set_of(
        "let senior = user.level >= 3\nlet trusted = senior and user.active\n\
         rule r { allow read when trusted and not blue }\nlet blue = doc.color == \"blue\"",
    );
    let r = full_read(&set);
    assert_eq!(set.evaluate(&r).effect, Effect::Deny); // the doc is blue
    let r = request(
        &set,
        "read",
        &[
            ("user.level", V::Int(3)),
            ("user.active", V::Bool(true)),
            ("doc.color", V::Text("red")),
        ],
    );
    assert_eq!(set.evaluate(&r).effect, Effect::Allow);
}

#[test]
fn explanation_shows_rules_and_actual_values() {
    let set = set_of(
        "rule deny-blue { deny read when doc.color == \"blue\" reason \"blue\" }\n\
         rule colors { allow read when user.colors contains \"blue\" }",
    );
    let r = full_read(&set);
    let e = set.explain(&r);
    assert_eq!(e.rules.len(), 2);
    assert_eq!(set.get_rule(e.rules[0].rule).unwrap().id, "deny-blue");
    assert_eq!(e.rules[0].result, Tri::True);
    assert_eq!(e.rules[1].result, Tri::False);
    assert_eq!(e.rules[1].steps[0].values, ["user.colors = [red, green]"]);
    let text = set.render_explanation(&e);
    assert!(
        text.contains("deny rule deny-blue (test.policy:1): matched"),
        "{text}"
    );
    assert!(
        text.contains("allow rule colors (test.policy:2): not matched"),
        "{text}"
    );
    assert!(
        text.contains("user.colors contains \"blue\"    [user.colors = [red, green]]"),
        "{text}"
    );
}

/// The rules an explanation says decided, as the decision would list them.
fn decided_by(set: &CompiledSet, e: &mailgate::eval::Explanation) -> (Effect, Vec<String>) {
    let matched = |effect: Effect| -> Vec<String> {
        e.rules
            .iter()
            .filter(|t| set.get_rule(t.rule).unwrap().effect == effect)
            .filter(|t| match t.result {
                Tri::True => true,
                Tri::False => false,
                Tri::Error(_) => effect == Effect::Deny,
            })
            .map(|t| set.get_rule(t.rule).unwrap().id.clone())
            .collect()
    };
    let deny = matched(Effect::Deny);
    if !deny.is_empty() {
        return (Effect::Deny, deny);
    }
    let allow = matched(Effect::Allow);
    if allow.is_empty() {
        (Effect::Deny, Vec::new())
    } else {
        (Effect::Allow, allow)
    }
}

#[test]
fn explain_agrees_with_evaluate_on_every_shipped_scenario_request() {
    let loaded = policy_set::load(&Origin::Dir(util::repo_path("policies"))).unwrap();
    let set = &loaded.set;
    let mut sources = SourceMap::new();
    let mut checked = 0;
    for raw in policy_set::scenario_files(&Origin::Dir(util::repo_path("policies"))) {
        let text = String::from_utf8(raw.bytes.unwrap()).unwrap();
        let id = sources.add(SourceFile::new(raw.name.clone(), text));
        let scenario = mailgate::scenario::load(id, sources.get(id), set)
            .unwrap_or_else(|e| panic!("{}: {e:?}", raw.name));
        for r in &scenario.requests {
            let d = set.evaluate(&r.request);
            let e = set.explain(&r.request);
            let (effect, rules) = decided_by(set, &e);
            let what = format!("{} request {} ({})", raw.name, r.index, r.summary);
            assert_eq!(d.effect, effect, "{what}");
            assert_eq!(rule_ids(set, &d), rules, "{what}");
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        crate::util::requests(&crate::util::shipped_scenario_files())
    );
}

// Found by review: string ids and enum indexes are local to the compiled set that built a
// request. A request built by set A, where "alice" is string 0, was decided by set B, where
// string 0 is "bob", and B allowed it.
#[test]
fn a_request_is_decided_only_by_the_set_that_built_it() {
    let a = set_of(r#"rule r { allow read when doc.owner == "alice" }"#);
    let b = set_of(r#"rule r { allow read when doc.owner == "bob" }"#);
    let from_a = request(&a, "read", &[("doc.owner", V::Text("alice"))]);
    assert_eq!(a.evaluate(&from_a).effect, Effect::Allow);

    let d = b.evaluate(&from_a);
    assert_eq!(d.effect, Effect::Deny);
    assert_eq!(d.cause, Cause::NoRuleAllows);
    assert!(d.rules.is_empty());
    assert_eq!(d.errors, [EvalError::ForeignRequest]);
    assert!(b.explain(&from_a).rules.is_empty());
    let report = DecisionReport::new(&b, &from_a, &d);
    assert_eq!(
        report.errors,
        ["the request was built by another policy set; it is not decided"]
    );

    // The same policies loaded twice are two sets: still refused.
    let a2 = set_of(r#"rule r { allow read when doc.owner == "alice" }"#);
    assert_eq!(a2.evaluate(&from_a).errors, [EvalError::ForeignRequest]);

    // A request that no set built is refused too.
    let d = a.evaluate(&Request::default());
    assert_eq!(d.effect, Effect::Deny);
    assert_eq!(d.errors, [EvalError::ForeignRequest]);
}

/// The public lookups by index answer `None` for an index the set did not hand out, where
/// they used to index out of bounds and panic.
#[test]
fn foreign_rule_and_action_ids_are_none_not_a_panic() {
    let set = set_of("rule r { allow read }\n");
    assert_eq!(set.get_rule(0).unwrap().id, "r");
    assert!(set.get_rule(1).is_none());
    assert!(set.get_rule(u32::MAX).is_none());
    let actions = u16::try_from(set.schema().actions.len()).unwrap();
    assert!(set.get_layout(actions - 1).is_some());
    assert!(set.get_layout(actions).is_none());
    assert!(set.rule_count(u16::MAX).is_none());
}
