//! `mailgate diff OLD NEW`:
//!
//! - edits with known answers on copies of the shipped set: a removed disjunct, a version
//!   gate moved by a few builds, a pure refactor, a new allow rule, a redundant
//!   condition, `!=` rewritten as `in`; every witness is decided again by both sets here;
//! - brute force on a small schema: every combination of values that realises every
//!   class, decided by both sets, against the diff's verdicts, for hand-written and
//!   random rule sets; the `when` texts, loaded back as policy conditions, must describe
//!   the requests that flip exactly;
//! - the command line: text (snapshot), JSON shape, scenario replay, exit codes, and a
//!   name the old set uses that the new schema lacks.

use mailgate::analysis::{ActionDiff, DiffOptions, Verdict, diff};
use mailgate::ast::Effect;
use mailgate::compile::CompiledSet;
use mailgate::eval::Request;
use mailgate::policy_set::{Origin, load, load_with_schema};
use mailgate::value::{EnumSet, Value};
use mailgate::version::Version;
use std::path::{Path, PathBuf};

use crate::util::{self, mailgate};

/// A copy of the shipped set in a fresh temp folder, with `edit` applied to it.
fn edited_copy(name: &str, edit: &dyn Fn(&Path)) -> PathBuf {
    let dir = util::temp_dir(name);
    util::copy_dir(&util::repo_path("policies"), &dir);
    edit(&dir);
    dir
}

/// Replaces `from` (which must occur) with `to` in `file` of `dir`.
fn replace(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\r\n", "\n");
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// Loads OLD (against NEW's schema) and NEW.
fn load_pair(old: &Path, new: &Path) -> (CompiledSet, CompiledSet) {
    let new_origin = Origin::Dir(new.to_path_buf());
    let n = load(&new_origin)
        .unwrap_or_else(|_| panic!("{} loads", new.display()))
        .set;
    let o = load_with_schema(&Origin::Dir(old.to_path_buf()), &new_origin)
        .unwrap_or_else(|_| panic!("{} loads", old.display()))
        .set;
    (o, n)
}

/// Diffs the shipped set against `new`, replaying every witness through both sets.
fn diff_shipped_with(new: &Path) -> Vec<ActionDiff> {
    let (old, new) = load_pair(&util::repo_path("policies"), new);
    let diffs = diff(&old, &new, &DiffOptions::default()).unwrap();
    replay_witnesses(&old, &new, &diffs);
    diffs
}

/// Every witness is decided by both sets as its class says, and flips the right way.
fn replay_witnesses(old: &CompiledSet, new: &CompiledSet, diffs: &[ActionDiff]) {
    for d in diffs {
        for (classes, before, after) in [(&d.gained, "deny", "allow"), (&d.lost, "allow", "deny")] {
            for c in classes {
                let line = c.witness.to_string();
                let o =
                    old.evaluate(&mailgate::batch::parse_request(old, line.as_bytes()).unwrap());
                let n =
                    new.evaluate(&mailgate::batch::parse_request(new, line.as_bytes()).unwrap());
                assert_eq!(o.effect.as_str(), before, "{line}");
                assert_eq!(n.effect.as_str(), after, "{line}");
                assert!(o.errors.is_empty() && n.errors.is_empty(), "{line}");
                let ids = |s: &CompiledSet, rules: &[u32]| -> Vec<String> {
                    rules
                        .iter()
                        .map(|&r| s.get_rule(r).unwrap().id.clone())
                        .collect()
                };
                assert_eq!(ids(old, &o.rules), c.old.rules, "{line}");
                assert_eq!(ids(new, &n.rules), c.new.rules, "{line}");
                assert!(!c.when.is_empty());
            }
        }
    }
}

fn verdicts(diffs: &[ActionDiff]) -> Vec<(&str, Verdict)> {
    diffs
        .iter()
        .map(|d| (d.action.as_str(), d.verdict))
        .collect()
}

/// The verdicts when only `changed` actions change, with `verdict`.
fn only(changed: &[&str], verdict: Verdict) -> Vec<(&'static str, Verdict)> {
    // The shipped schema's actions, in schema order.
    mailgate::generate::ACTIONS
        .iter()
        .copied()
        .map(|a| {
            (
                a,
                if changed.contains(&a) {
                    verdict
                } else {
                    Verdict::Equivalent
                },
            )
        })
        .collect()
}

const APPROVERS: &[&str] = &[
    "approve_mailbox",
    "reject_mailbox",
    "change_approval_settings",
];

#[test]
fn the_shipped_set_is_equivalent_to_itself() {
    let p = util::repo_path("policies");
    let (old, new) = load_pair(&p, &p);
    let diffs = diff(&old, &new, &DiffOptions::default()).unwrap();
    assert_eq!(verdicts(&diffs), only(&[], Verdict::Equivalent));
}

#[test]
fn removing_the_delegated_approver_disjunct_loses_access() {
    let dir = edited_copy("diff-removed-disjunct", &|d| {
        replace(
            d,
            "approvers.policy",
            "\n         or (delegation_available and is_system_administrator and is_delegated_approver))",
            ")",
        );
    });
    let diffs = diff_shipped_with(&dir);
    assert_eq!(verdicts(&diffs), only(APPROVERS, Verdict::LessPermissive));
    // What is lost needs the Delegated Mailbox Approver role, on Exchange Online, from the
    // version that introduced it, and no Exchange rights (which would still allow it).
    for d in &diffs[..3] {
        for c in &d.lost {
            let w = &c.witness;
            assert!(
                w["user"]["security_roles"]
                    .as_array()
                    .unwrap()
                    .contains(&serde_json::json!("Delegated Mailbox Approver")),
                "{w}"
            );
            assert!(w["user"].get("directory_roles").is_none(), "{w}");
            let v = Version::parse(w["org"]["version"].as_str().unwrap()).unwrap();
            assert!(v >= Version::parse("9.2.22104.00170").unwrap(), "{w}");
            assert_eq!(c.old.rules.len(), 1);
            assert!(c.new.rules.is_empty());
        }
    }
}

#[test]
fn a_version_gate_moved_by_five_builds_loses_access_only_in_those_builds() {
    let dir = edited_copy("diff-version-gate", &|d| {
        replace(
            d,
            "approvers.policy",
            r#"org.version >= "9.2.22104.00170""#,
            r#"org.version >= "9.2.22104.00175""#,
        );
    });
    let diffs = diff_shipped_with(&dir);
    assert_eq!(verdicts(&diffs), only(APPROVERS, Verdict::LessPermissive));
    let (lo, hi) = (
        Version::parse("9.2.22104.00170").unwrap(),
        Version::parse("9.2.22104.00175").unwrap(),
    );
    for d in &diffs[..3] {
        assert!(!d.lost.is_empty());
        for c in &d.lost {
            let v = Version::parse(c.witness["org"]["version"].as_str().unwrap()).unwrap();
            assert!(lo <= v && v < hi, "{}", c.witness);
            for w in &c.when {
                assert!(
                    w.contains(
                        r#"org.version >= "9.2.22104.00170" and org.version < "9.2.22104.00175""#
                    ),
                    "{w}"
                );
            }
        }
    }
}

#[test]
fn a_renamed_let_and_reordered_and_moved_rules_are_equivalent() {
    let dir = edited_copy("diff-refactor", &|d| {
        for f in [
            "approvers.policy",
            "approval.policy",
            "approval-settings.policy",
            "self-approval.policy",
            "invariants.policy",
        ] {
            let path = d.join(f);
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(
                &path,
                text.replace("is_system_administrator", "is_sysadmin"),
            )
            .unwrap();
        }
        // The rules of approval.policy in reverse order.
        let path = d.join("approval.policy");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\r\n", "\n");
        let mut blocks: Vec<&str> = text.split("\nrule ").collect();
        let head = blocks.remove(0);
        blocks.reverse();
        let body: Vec<String> = blocks
            .iter()
            .map(|b| format!("rule {}", b.trim_end()))
            .collect();
        // The first of them (no-reapproval) moves to a file of its own.
        let (moved, rest) = body.split_first().unwrap();
        std::fs::write(&path, format!("{head}\n{}\n", rest.join("\n\n"))).unwrap();
        std::fs::write(d.join("zz-moved.policy"), format!("{moved}\n")).unwrap();
    });
    let text = std::fs::read_to_string(dir.join("approval.policy")).unwrap();
    assert!(!text.contains("rule no-reapproval"));
    assert!(
        text.find("rule approve-onpremises-deployment") < text.find("rule approve-exchange-online")
    );
    let moved = std::fs::read_to_string(dir.join("zz-moved.policy")).unwrap();
    assert!(moved.starts_with("rule no-reapproval"), "{moved}");
    let diffs = diff_shipped_with(&dir);
    assert_eq!(verdicts(&diffs), only(&[], Verdict::Equivalent));
}

#[test]
fn a_new_allow_rule_gains_access() {
    let dir = edited_copy("diff-new-rule", &|d| {
        std::fs::write(
            d.join("power-platform.policy"),
            r#"rule power-platform-approves {
  allow approve_mailbox
  when user.directory_roles contains "Power Platform Administrator" and has_approval_privilege
}
"#,
        )
        .unwrap();
    });
    let diffs = diff_shipped_with(&dir);
    assert_eq!(
        verdicts(&diffs),
        only(&["approve_mailbox"], Verdict::MorePermissive)
    );
    for c in &diffs[0].gained {
        assert_eq!(c.new.rules, ["power-platform-approves"]);
        // Never an approved mailbox: the deny rule still holds.
        assert_ne!(c.witness["mailbox"]["approval"], "approved");
    }
}

#[test]
fn a_condition_a_deny_rule_already_guarantees_is_equivalent() {
    // no-reapproval denies approve_mailbox for an approved mailbox, so requiring a
    // mailbox that is not approved in an approve_mailbox-only rule changes nothing.
    let dir = edited_copy("diff-redundant", &|d| {
        replace(
            d,
            "self-approval.policy",
            r#"when mailbox.owner_kind == "user""#,
            r#"when mailbox.owner_kind == "user" and mailbox.approval != "approved""#,
        );
    });
    let diffs = diff_shipped_with(&dir);
    assert_eq!(verdicts(&diffs), only(&[], Verdict::Equivalent));
}

#[test]
fn not_equal_rewritten_as_in_the_other_members_is_equivalent() {
    let dir = edited_copy("diff-ne-as-in", &|d| {
        replace(
            d,
            "approval.policy",
            r#"mailbox.server != "exchange_online""#,
            r#"mailbox.server in ["exchange_onpremises", "pop3_smtp", "imap_smtp"]"#,
        );
    });
    let diffs = diff_shipped_with(&dir);
    assert_eq!(verdicts(&diffs), only(&[], Verdict::Equivalent));
    // A member left out is a real change: imap_smtp mailboxes lose the rule.
    let dir = edited_copy("diff-ne-as-in-short", &|d| {
        replace(
            d,
            "approval.policy",
            r#"mailbox.server != "exchange_online""#,
            r#"mailbox.server in ["exchange_onpremises", "pop3_smtp"]"#,
        );
    });
    let diffs = diff_shipped_with(&dir);
    assert_eq!(
        verdicts(&diffs),
        only(
            &["approve_mailbox", "reject_mailbox"],
            Verdict::LessPermissive
        )
    );
    for c in &diffs[0].lost {
        assert_eq!(c.witness["mailbox"]["server"], "imap_smtp");
    }
}

// ---- brute force on a small schema ---------------------------------------------------

const SCHEMA: &str = r#"
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
      tier: { type: tier }
context:
  name: org
  attributes:
    app: { type: version }
    locked: { type: bool, default: false }
actions:
  edit: { slots: { user: user, doc: doc } }
  view: { slots: { user: user, doc: doc } }
"#;

const OLD: &str = r#"
rule owner-edits { allow edit when user.name == doc.owner and user.name != "" }
rule admins { allow edit, view when user.roles contains "admin" and user.level >= 3 }
rule pro-viewers { allow view when doc.tier == "pro" and org.app >= "2.1" }
rule locked { deny edit when org.locked and not (user.roles contains any ["admin", "editor"]) }
rule banned { deny edit, view when user.name in ["mallory", "eve"] }
"#;

// Changes: the admin level moves from 3 to 5 (loses level 3 and 4), editors may edit pro
// documents (gains), "eve" is no longer banned (gains), viewers need app 2.0 instead of
// 2.1 (gains on view) and `free` documents are never viewed by non-admins (no change: the
// rule never allowed them).
const NEW: &str = r#"
rule owner-edits { allow edit when user.name == doc.owner and user.name != "" }
rule admins { allow edit, view when user.roles contains "admin" and user.level >= 5 }
rule editors { allow edit when user.roles contains "editor" and doc.tier == "pro" }
rule pro-viewers { allow view when doc.tier != "free" and org.app >= "2.0" }
rule locked { deny edit when org.locked and not (user.roles contains any ["admin", "editor"]) }
rule banned { deny edit, view when user.name == "mallory" }
"#;

/// Every combination of values that realises every class of both sets' literals.
/// With `summaries` (sets that allow exactly what the `when` texts of the gained, and of
/// the lost, classes describe), also checks those texts against every combination.
fn brute_force(
    old: &CompiledSet,
    new: &CompiledSet,
    action: &str,
    summaries: Option<(&CompiledSet, &CompiledSet)>,
) -> (bool, bool) {
    let texts = ["", "mallory", "eve", "p", "q"];
    let levels = [0i64, 3, 4, 5, 6];
    let apps = ["1.0", "2.0", "2.0.1", "2.0.5", "2.0.7", "2.1", "3"];
    let (mut gained, mut lost) = (false, false);
    let build = |set: &CompiledSet, c: &[usize]| -> Request {
        let a = set
            .schema()
            .actions
            .iter()
            .position(|x| x.name == action)
            .unwrap();
        let mut r = set.new_request(u16::try_from(a).unwrap());
        let layout = set.get_layout(r.action).unwrap().clone();
        let at = |p: &str| layout.paths.iter().position(|x| x == p).unwrap();
        let name = Value::Str(set.intern(&mut r, texts[c[0]]));
        let owner = Value::Str(set.intern(&mut r, texts[c[1]]));
        r.values[at("user.name")] = name;
        r.values[at("doc.owner")] = owner;
        r.values[at("user.level")] = Value::Int(levels[c[2]]);
        r.values[at("org.app")] = Value::Version(Version::parse(apps[c[3]]).unwrap());
        r.values[at("user.roles")] = Value::Set(EnumSet(c[4] as u128));
        r.values[at("doc.tier")] = Value::Enum(u16::try_from(c[5]).unwrap());
        r.values[at("org.locked")] = Value::Bool(c[6] == 1);
        r
    };
    let sizes = [texts.len(), texts.len(), levels.len(), apps.len(), 8, 2, 2];
    let mut c = vec![0usize; sizes.len()];
    'all: loop {
        let o = old.evaluate(&build(old, &c));
        let n = new.evaluate(&build(new, &c));
        assert!(o.errors.is_empty() && n.errors.is_empty());
        let g = o.effect == Effect::Deny && n.effect == Effect::Allow;
        let l = o.effect == Effect::Allow && n.effect == Effect::Deny;
        gained |= g;
        lost |= l;
        if let Some((gs, ls)) = summaries {
            let described = |s: &CompiledSet| s.evaluate(&build(s, &c)).effect == Effect::Allow;
            assert_eq!(described(gs), g, "gained, {action}, values {c:?}");
            assert_eq!(described(ls), l, "lost, {action}, values {c:?}");
        }
        let mut k = 0;
        loop {
            if k == c.len() {
                break 'all;
            }
            c[k] += 1;
            if c[k] < sizes[k] {
                break;
            }
            c[k] = 0;
            k += 1;
        }
    }
    (gained, lost)
}

/// Two sets that allow, per action, what the `when` texts of every gained (first) and
/// every lost (second) class describe: the texts must be policy-language conditions that,
/// together, describe each flip set exactly.
fn summaries(diffs: &[ActionDiff]) -> (CompiledSet, CompiledSet) {
    let text = |classes: &dyn Fn(&ActionDiff) -> &Vec<mailgate::analysis::FlipClass>| {
        let mut out = String::new();
        for d in diffs {
            let whens: Vec<String> = classes(d)
                .iter()
                .flat_map(|c| {
                    assert!(!c.when_truncated);
                    c.when.iter().map(|w| format!("({w})"))
                })
                .collect();
            if !whens.is_empty() {
                out.push_str(&format!(
                    "rule w-{} {{ allow {} when {} }}\n",
                    d.action,
                    d.action,
                    whens.join(" or ")
                ));
            }
        }
        util::load_ok(SCHEMA, &[("w.policy", &out)]).set
    };
    for d in diffs {
        assert!(!d.gained_truncated && !d.lost_truncated);
    }
    (text(&|d| &d.gained), text(&|d| &d.lost))
}

/// Caps high enough that the small schema's summaries are never cut.
const UNCAPPED: DiffOptions = DiffOptions {
    max_classes: 1_000,
    max_conditions: 1_000,
};

fn verdict_of(gained: bool, lost: bool) -> Verdict {
    match (gained, lost) {
        (false, false) => Verdict::Equivalent,
        (true, false) => Verdict::MorePermissive,
        (false, true) => Verdict::LessPermissive,
        (true, true) => Verdict::Incomparable,
    }
}

#[test]
fn verdicts_match_brute_force_on_a_small_schema() {
    let more = format!(
        "{OLD}rule editors {{ allow edit when user.roles contains \"editor\" and doc.tier == \"pro\" }}\n"
    );
    // A broad new rule: its class reads best as "unless an old rule already allowed it".
    let broad = format!("{OLD}rule all-pro {{ allow view when doc.tier == \"pro\" }}\n");
    let pairs = [
        (OLD, NEW),
        (NEW, OLD),
        (OLD, OLD),
        (OLD, more.as_str()),
        (more.as_str(), OLD),
        (OLD, broad.as_str()),
    ];
    let mut seen = Vec::new();
    let mut with_exceptions = 0;
    for (o, n) in pairs {
        let old = util::load_ok(SCHEMA, &[("p.policy", o)]).set;
        let new = util::load_ok(SCHEMA, &[("p.policy", n)]).set;
        let diffs = diff(&old, &new, &UNCAPPED).unwrap();
        replay_witnesses(&old, &new, &diffs);
        let (gs, ls) = summaries(&diffs);
        for d in &diffs {
            let (g, l) = brute_force(&old, &new, &d.action, Some((&gs, &ls)));
            assert_eq!(d.verdict, verdict_of(g, l), "{}", d.action);
            assert_eq!(!d.gained.is_empty(), g, "{}", d.action);
            assert_eq!(!d.lost.is_empty(), l, "{}", d.action);
            seen.push(d.verdict);
            with_exceptions += d
                .gained
                .iter()
                .chain(&d.lost)
                .filter(|c| !c.unless.is_empty())
                .count();
        }
    }
    // Both forms of summary are checked above.
    assert!(with_exceptions > 0);
    // The cases are not all trivial.
    assert!(seen.contains(&Verdict::Incomparable));
    assert!(seen.contains(&Verdict::MorePermissive));
    assert!(seen.contains(&Verdict::LessPermissive));
    assert!(seen.contains(&Verdict::Equivalent));
}

/// Conditions the random rules are made of: every literal is realised by the brute
/// force's value pools, and so is every class between them.
const ATOMS: &[&str] = &[
    "user.name == doc.owner",
    r#"user.name != """#,
    r#"user.name == "mallory""#,
    r#"user.name in ["eve", "p"]"#,
    "user.level >= 3",
    "user.level < 5",
    "user.level == 4",
    r#"org.app >= "2.0""#,
    r#"org.app < "2.1""#,
    r#"org.app == "2.0.5""#,
    r#"user.roles contains "admin""#,
    r#"user.roles contains any ["editor", "viewer"]"#,
    r#"user.roles contains all ["admin", "editor"]"#,
    r#"doc.tier == "pro""#,
    "org.locked",
];

/// A policy text from picks: up to four rules, each one to three atoms.
fn random_policy(picks: &[u64]) -> String {
    let mut it = picks.iter().copied();
    let mut next = |n: u64| it.next().unwrap_or(0) % n;
    let rules = 1 + next(4);
    let mut text = String::new();
    for i in 0..rules {
        let effect = if next(4) == 0 { "deny" } else { "allow" };
        let actions = ["edit", "view", "edit, view"][usize::try_from(next(3)).unwrap()];
        let atoms = 1 + next(3);
        let mut cond = String::new();
        for k in 0..atoms {
            if k > 0 {
                cond.push_str(if next(2) == 0 { " and " } else { " or " });
            }
            if next(4) == 0 {
                cond.push_str("not ");
            }
            cond.push('(');
            cond.push_str(ATOMS[usize::try_from(next(ATOMS.len() as u64)).unwrap()]);
            cond.push(')');
        }
        text.push_str(&format!("rule r{i} {{ {effect} {actions} when {cond} }}\n"));
    }
    text
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..proptest::prelude::ProptestConfig::default() })]

    #[test]
    fn verdicts_of_random_rule_sets_match_brute_force(
        a in proptest::collection::vec(proptest::prelude::any::<u64>(), 40),
        b in proptest::collection::vec(proptest::prelude::any::<u64>(), 40),
        shared in proptest::prelude::any::<bool>(),
    ) {
        let old_text = random_policy(&a);
        // Half the time NEW is OLD plus or minus a little (a rule more), so that
        // equivalent and one-sided verdicts come up, not only incomparable ones.
        let new_text = if shared {
            format!("{old_text}{}", random_policy(&b).lines().next().unwrap_or("").replace("rule r0", "rule extra"))
        } else {
            random_policy(&b)
        };
        let old = util::load_ok(SCHEMA, &[("p.policy", &old_text)]).set;
        let new = util::load_ok(SCHEMA, &[("p.policy", &new_text)]).set;
        let diffs = diff(&old, &new, &UNCAPPED);
        proptest::prop_assert!(diffs.is_ok(), "{:?}\nOLD:\n{}\nNEW:\n{}", diffs, old_text, new_text);
        let diffs = diffs.unwrap();
        replay_witnesses(&old, &new, &diffs);
        let (gs, ls) = summaries(&diffs);
        for d in &diffs {
            let (g, l) = brute_force(&old, &new, &d.action, Some((&gs, &ls)));
            proptest::prop_assert_eq!(d.verdict, verdict_of(g, l), "{}\nOLD:\n{}\nNEW:\n{}", d.action, old_text, new_text);
        }
    }
}

#[test]
fn class_caps_cut_the_list_never_the_verdict() {
    let old = util::load_ok(SCHEMA, &[("p.policy", OLD)]).set;
    let new = util::load_ok(SCHEMA, &[("p.policy", NEW)]).set;
    let full = diff(&old, &new, &DiffOptions::default()).unwrap();
    let capped = diff(
        &old,
        &new,
        &DiffOptions {
            max_classes: 1,
            max_conditions: 1,
        },
    )
    .unwrap();
    let edit = &full[0];
    assert!(edit.gained.len() > 1, "{edit:#?}");
    assert_eq!(verdicts(&full), verdicts(&capped));
    assert_eq!(capped[0].gained.len(), 1);
    assert!(capped[0].gained_truncated);
    assert!(!edit.gained_truncated);
    assert_eq!(capped[0].gained[0].witness, edit.gained[0].witness);
}

// ---- the command line ----------------------------------------------------------------

/// A folder holding `old` (the shipped set) and `new` (edited), for stable paths.
fn old_and_new(name: &str, edit: &dyn Fn(&Path)) -> PathBuf {
    let dir = util::temp_dir(name);
    util::copy_dir(&util::repo_path("policies"), &dir.join("old"));
    util::copy_dir(&util::repo_path("policies"), &dir.join("new"));
    edit(&dir.join("new"));
    dir
}

fn moved_gate(d: &Path) {
    replace(
        d,
        "approvers.policy",
        r#"org.version >= "9.2.22104.00170""#,
        r#"org.version >= "9.2.22104.00175""#,
    );
}

#[test]
fn text_output_of_a_moved_version_gate() {
    let dir = old_and_new("diff-cli-text", &moved_gate);
    let out = mailgate(&["diff", "old", "new"]).dir(&dir).run();
    out.code(0);
    assert!(
        out.stdout
            .ends_with("summary: changed (3 of 7 actions changed)\n"),
        "{}",
        out.stdout
    );
    util::settings().bind(|| insta::assert_snapshot!("cli_diff_version_gate", out.stdout));
}

#[test]
fn text_output_of_a_new_allow_rule_lists_what_already_allowed_it_as_exceptions() {
    let dir = old_and_new("diff-cli-new-rule", &|d| {
        std::fs::write(
            d.join("power-platform.policy"),
            "rule power-platform-approves {\n  allow approve_mailbox\n  when user.directory_roles contains \"Power Platform Administrator\" and has_approval_privilege\n}\n",
        )
        .unwrap();
    });
    let out = mailgate(&["diff", "old", "new"]).dir(&dir).run();
    out.code(0);
    assert!(out.stdout.contains("unless any one of:"), "{}", out.stdout);
    util::settings().bind(|| insta::assert_snapshot!("cli_diff_new_rule", out.stdout));
}

#[test]
fn json_output_and_scenario_changes() {
    let dir = old_and_new("diff-cli-json", &moved_gate);
    let out = mailgate(&[
        "diff",
        "old",
        "new",
        "--format",
        "json",
        "--scenarios",
        "new/scenarios",
    ])
    .dir(&dir)
    .run();
    out.code(0);
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 9);
    for l in &lines[..7] {
        let keys: Vec<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["action", "gained", "lost", "verdict"], "{l}");
    }
    assert_eq!(lines[0]["action"], "approve_mailbox");
    assert_eq!(lines[0]["verdict"], "less_permissive");
    assert_eq!(lines[3]["verdict"], "equivalent");
    let class = &lines[0]["lost"][0];
    let keys: Vec<&str> = class
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["new", "old", "when", "witness"]);
    assert_eq!(
        class["old"],
        serde_json::json!({"decision": "allow", "cause": "allowed", "rules": ["approve-exchange-online"]})
    );
    assert_eq!(
        class["new"],
        serde_json::json!({"decision": "deny", "cause": "no_rule_allows", "rules": []})
    );
    assert!(class["when"][0].as_str().unwrap().contains("org.version"));
    // The witness replays through `eval --batch` of both sets as it is.
    for (set, decision) in [("old", "allow"), ("new", "deny")] {
        let replay = mailgate(&["eval", "--batch", "-", "--policies", set])
            .dir(&dir)
            .stdin(format!("{}\n", class["witness"]))
            .run();
        replay.code(0);
        let d: serde_json::Value = serde_json::from_str(replay.stdout.trim()).unwrap();
        assert_eq!(d["decision"], decision);
    }
    // The scenarios of the shipped set with a Delegated Mailbox Approver at
    // 9.2.22104.00170 are allowed before the edit and denied after it.
    let changes = lines[7]["scenario_changes"].as_array().unwrap();
    assert!(!changes.is_empty());
    for c in changes {
        assert_eq!(c["old"]["decision"], "allow", "{c}");
        assert_eq!(c["new"]["decision"], "deny", "{c}");
        assert!(c["file"].as_str().unwrap().starts_with("new/scenarios/"));
        assert!(c["line"].as_u64().unwrap() > 0);
    }
    assert_eq!(
        lines[8],
        serde_json::json!({"summary": "changed", "actions_changed": 3})
    );
}

#[test]
fn exit_codes() {
    let dir = old_and_new("diff-cli-exit", &moved_gate);
    mailgate(&["diff", "old", "new"]).dir(&dir).run().code(0);
    mailgate(&["diff", "old", "new", "--exit-code"])
        .dir(&dir)
        .run()
        .code(1);
    let same = mailgate(&["diff", "old", "old", "--exit-code", "--format", "json"])
        .dir(&dir)
        .run();
    same.code(0);
    assert!(
        same.stdout
            .ends_with("{\"summary\":\"equivalent\",\"actions_changed\":0}\n"),
        "{}",
        same.stdout
    );
    // Usage errors.
    mailgate(&["diff", "old"]).dir(&dir).run().code(2);
    mailgate(&["diff", "old", "new", "--format", "yaml"])
        .dir(&dir)
        .run()
        .code(2);
    // OLD's `schema.yaml` is never read, so OLD need not have one; NEW must.
    std::fs::remove_file(dir.join("old/schema.yaml")).unwrap();
    mailgate(&["diff", "old", "new", "--exit-code"])
        .dir(&dir)
        .run()
        .code(1);
    let out = mailgate(&["diff", "new", "old"]).dir(&dir).run();
    out.code(1);
    assert!(
        out.stderr.contains("no `schema.yaml` in the policy folder"),
        "{}",
        out.stderr
    );
    // A folder that does not exist.
    let out = mailgate(&["diff", "missing", "new"]).dir(&dir).run();
    out.code(1);
    assert!(
        out.stderr.contains("policy folder does not exist"),
        "{}",
        out.stderr
    );
    let out = mailgate(&["diff", "old", "missing"]).dir(&dir).run();
    out.code(1);
    assert!(
        out.stderr.contains("policy folder does not exist"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_name_the_old_set_uses_and_the_new_schema_lacks_is_an_error_at_its_line() {
    let dir = old_and_new("diff-cli-unknown-name", &|_| {});
    std::fs::write(
        dir.join("old/legacy.policy"),
        "# An attribute the new schema does not have.\nrule legacy {\n  allow approve_mailbox\n  when mailbox.legacy_approved\n}\n",
    )
    .unwrap();
    let out = mailgate(&["diff", "old", "new"]).dir(&dir).run();
    out.code(1);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.stderr.contains("old/legacy.policy:4:"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("legacy_approved"), "{}", out.stderr);
    assert!(
        out.stderr.contains("the old policy set has 1 error"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_generated_set_of_200_rules_is_compared_or_refused_by_the_budget() {
    let (schema, text) = mailgate::generate::policy_set(200, 8);
    // Every rule's own version gate moves from 8.k to 9.3.k.
    let edited = text.replace(r#"env.version >= "8."#, r#"env.version >= "9.3."#);
    let old = util::load_ok(&schema, &[("gen.policy", &text)]).set;
    let new = util::load_ok(&schema, &[("gen.policy", &edited)]).set;
    match diff(&old, &new, &DiffOptions::default()) {
        Ok(diffs) => {
            replay_witnesses(&old, &new, &diffs);
            assert_eq!(diffs.len(), 8);
            // A rule held from 8.k on (`recent`, 9.1 on, adds nothing); now from 9.1 on:
            // every allow rule loses the versions from 8.k to 9.1. Deny rules shrink too,
            // but each denies a code no allow rule allows, so nothing is gained.
            for d in &diffs {
                assert_eq!(d.verdict, Verdict::LessPermissive, "{}", d.action);
            }
        }
        Err(e) => assert!(
            matches!(e, mailgate::analysis::AnalysisError::Budget { .. }),
            "{e}"
        ),
    }
}

#[test]
fn sets_compiled_against_different_schemas_are_refused() {
    let other = SCHEMA.replace(
        "level: { type: int, default: 0 }",
        "level: { type: int, default: 1 }",
    );
    let old = util::load_ok(&other, &[("p.policy", OLD)]).set;
    let new = util::load_ok(SCHEMA, &[("p.policy", OLD)]).set;
    let e = diff(&old, &new, &DiffOptions::default()).unwrap_err();
    assert!(
        matches!(
            e,
            mailgate::analysis::AnalysisError::DifferentSchemas { .. }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("defaults of action `edit`"), "{e}");
}

#[test]
fn a_string_only_the_old_set_mentions_is_written_into_witnesses() {
    // "mallory" is no literal of NEW: the witness of what is lost must still carry it
    // (and not, say, the default empty name, whose request-local id is the same number).
    let old_text = r#"rule r0 { allow view when user.name == "mallory" }"#;
    let new_text = r#"rule r0 { allow view when org.app >= "2.0" or user.level < 5 }"#;
    let old = util::load_ok(SCHEMA, &[("p.policy", old_text)]).set;
    let new = util::load_ok(SCHEMA, &[("p.policy", new_text)]).set;
    let diffs = diff(&old, &new, &DiffOptions::default()).unwrap();
    replay_witnesses(&old, &new, &diffs);
    let view = &diffs[1];
    assert_eq!(view.verdict, Verdict::Incomparable);
    assert_eq!(view.lost[0].witness["user"]["name"], "mallory");
    assert_eq!(
        view.lost[0].when,
        [r#"org.app < "2.0" and user.name == "mallory" and user.level >= 5"#]
    );
}
