//! `mailgate audit` at scale: deciding once per class of mailbox, sharing the user lists
//! and grouping the HTML details change no report, every `who` names exactly the users
//! allowed the step, and the work grows with the distinct mailboxes, not with all of them.
//! On the export generator of `benches/audit.rs` (seeded, every approval and test status,
//! users who may approve their own mailbox) and on the hand-written fixture.

use crate::util;
use mailgate::audit::{self, Auditor, Bundle, BundleSource, Format, ImportOptions, SYNC_ACTIONS};
use mailgate::compile::CompiledSet;
use mailgate::policy_set::{self, Origin};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};

#[path = "../benches/support/audit_bundle.rs"]
#[allow(dead_code, reason = "shared with the benchmark")]
mod audit_bundle;

const FORMATS: [Format; 4] = [Format::Text, Format::Json, Format::Csv, Format::Html];

fn policies() -> (Origin, CompiledSet) {
    let origin = Origin::Dir(util::repo_path("policies"));
    let set = policy_set::load(&origin).unwrap().set;
    (origin, set)
}

fn import(origin: &Origin, set: &CompiledSet, source: &BundleSource) -> Bundle {
    let opts = ImportOptions {
        deployment: "online".to_owned(),
        ..ImportOptions::default()
    };
    audit::import_bundle(source, origin, set, &opts).unwrap()
}

fn generated(origin: &Origin, set: &CompiledSet, mailboxes: usize, users: usize) -> Bundle {
    import(
        origin,
        set,
        &BundleSource::Memory(audit_bundle::bundle(mailboxes, users)),
    )
}

fn report(auditor: &mut Auditor<'_>, format: Format) -> String {
    let mut out = Vec::new();
    audit::write_report_with(auditor, format, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The first line where `a` and `b` differ, for a readable failure.
fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            let at = x.bytes().zip(y.bytes()).take_while(|(p, q)| p == q).count();
            let from = at.saturating_sub(80);
            return format!(
                "line {}: {:?}\n   vs {:?}",
                i + 1,
                x.get(from..(at + 120).min(x.len())).unwrap_or(x),
                y.get(from..(at + 120).min(y.len())).unwrap_or(y)
            );
        }
    }
    format!("{} vs {} lines", a.lines().count(), b.lines().count())
}

/// Every format's report is the same whether mailboxes alike share what was decided for
/// the first of them or every mailbox is decided afresh.
#[test]
fn reusing_what_mailboxes_alike_share_changes_no_report() {
    let (origin, set) = policies();
    let fixture = import(
        &origin,
        &set,
        &BundleSource::Dir(util::repo_path("tests/fixtures/audit/contoso")),
    );
    // 700 users: about 30 may approve, so lists are long enough for the HTML to list
    // them once; owners' mailboxes make some users their own mailbox's approver.
    let generated = generated(&origin, &set, 250, 700);
    for (name, bundle) in [("contoso", &fixture), ("generated", &generated)] {
        for format in FORMATS {
            let shared = report(&mut Auditor::new(&set, bundle), format);
            let afresh = report(&mut Auditor::without_memo(&set, bundle), format);
            assert!(
                shared == afresh,
                "{name}, {format:?}: {}",
                first_difference(&shared, &afresh)
            );
        }
    }
}

/// Each user's name in a report: the UPN, or the id without one.
fn names(bundle: &Bundle, allowed: impl Fn(usize) -> bool) -> Vec<String> {
    (0..bundle.users.len())
        .filter(|&i| allowed(i))
        .map(|i| {
            let u = &bundle.users[i];
            if u.upn.is_empty() {
                u.id.clone()
            } else {
                u.upn.clone()
            }
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// The JSON report's approvers and every plan step's `who` are the users for whom the
/// step's action, decided on its own request (no class, no sharing), is allowed.
#[test]
fn every_who_is_every_user_allowed_the_step_decided_one_by_one() {
    let (origin, set) = policies();
    let bundle = generated(&origin, &set, 120, 700);
    let json = report(&mut Auditor::new(&set, &bundle), Format::Json);
    let records: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let auditor = Auditor::new(&set, &bundle);
    let allowed = |r: &mailgate::eval::Request| auditor.decide(r, false).report.decision == "allow";
    let settings = names(&bundle, |i| {
        allowed(&auditor.user_requests(&bundle.users[i]).unwrap()[0])
    });
    let (mut steps, mut own) = (0, 0);
    for (m, rec) in bundle.mailboxes.iter().zip(&records) {
        assert_eq!(rec["id"], m.id.as_str());
        let approve = names(&bundle, |i| {
            allowed(&auditor.approve_request(&bundle.users[i], m).unwrap())
        });
        let approvers: Vec<String> = approve.clone();
        // The approvers list UPNs (the generated users all have one).
        assert_eq!(strings(&rec["approvers"]), approvers, "{}", m.name);
        if approve.iter().any(|n| n.eq_ignore_ascii_case(&m.email_key)) {
            own += 1;
        }
        for a in SYNC_ACTIONS {
            let Some(plans) = rec["sync"][a]["plans"].as_array() else {
                continue;
            };
            for step in plans.iter().flat_map(|p| p["steps"].as_array().unwrap()) {
                let want = match step["action"].as_str() {
                    None => continue,
                    Some("approve_mailbox") => &approve,
                    Some("change_approval_settings") => &settings,
                    Some(other) => panic!("a step with action {other}"),
                };
                assert_eq!(&strings(&step["who"]), want, "{} {a}", m.name);
                steps += 1;
            }
        }
    }
    // The bundle exercises what it must: steps with who, and owners who may approve their
    // own mailbox.
    assert!(steps > 100, "{steps} steps with an action");
    assert!(own > 5, "{own} mailboxes their owner may approve");
}

/// The users an HTML `(can do it: ...)` or "Who can approve it:" text names, with a long
/// list resolved from the "Who can do it" section, and "each mailbox's own user" as
/// `own`.
fn html_users(text: &str, lists: &[Vec<String>], own: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut text = text.to_owned();
    if let Some(rest) = text.strip_suffix(", and each mailbox's own user") {
        out.insert(own.to_owned());
        text = rest.to_owned();
    }
    if text == "each mailbox's own user" {
        out.insert(own.to_owned());
        return out;
    }
    if text.starts_with("nobody") {
        return out;
    }
    if let Some(at) = text.find("<a href=\"#who-") {
        let from = at + 14;
        let n: usize = text[from..text[from..].find('"').unwrap() + from]
            .parse()
            .unwrap();
        let mut set: BTreeSet<String> = lists[n - 1].iter().cloned().collect();
        let tail = &text[text.find("</a>").unwrap() + 4..];
        let (without, with) = match tail.split_once(" and ") {
            Some((w, a)) => (w, a),
            None => (tail, ""),
        };
        for n in without
            .trim()
            .strip_prefix("without ")
            .unwrap_or("")
            .split(", ")
        {
            if !n.is_empty() {
                assert!(set.remove(n), "{n} not in the list");
            }
        }
        for n in with.split(", ").filter(|n| !n.is_empty()) {
            set.insert(n.to_owned());
        }
        out.extend(set);
        return out;
    }
    out.extend(text.split(", ").map(str::to_owned));
    out
}

/// The HTML report of a generated export names, for every mailbox, exactly the users the
/// JSON report names: in the steps of its plans and as its approvers, whether its details
/// are its own or shared with mailboxes alike, and whether a list is written out or is a
/// long list written once.
#[test]
fn the_html_details_name_the_same_users_as_the_json_report() {
    let (origin, set) = policies();
    let bundle = generated(&origin, &set, 300, 700);
    let html = report(&mut Auditor::new(&set, &bundle), Format::Html);
    let json = report(&mut Auditor::new(&set, &bundle), Format::Json);
    // The long lists, by number.
    let mut lists: Vec<Vec<String>> = Vec::new();
    for (i, _) in html.match_indices("<details id=\"who-") {
        let p = html[i..].find("<p>").unwrap() + i + 3;
        let end = html[p..].find("</p>").unwrap() + p;
        lists.push(html[p..end].split(", ").map(str::to_owned).collect());
    }
    assert!(!lists.is_empty(), "no long list");
    let mut shared = 0;
    for line in json.lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        let Some(id) = rec["id"].as_str().filter(|_| rec.get("mailbox").is_some()) else {
            continue;
        };
        let email = rec["email"].as_str().unwrap().to_owned();
        // Its details: the block whose data-details-for lists its id.
        let at = html
            .match_indices("<details id=\"d-")
            .map(|(i, _)| i)
            .find(|&i| {
                let head = &html[i..html[i..].find('>').unwrap() + i];
                let ids = head.split("data-details-for=\"").nth(1).unwrap();
                ids[..ids.find('"').unwrap()].split(' ').any(|x| x == id)
            })
            .unwrap_or_else(|| panic!("no details for {id}"));
        let block = &html[at..html[at..].find("</details>").unwrap() + at];
        if block.contains("mailboxes alike") {
            shared += 1;
        }
        // The steps shown: per blocked workload, the first plan without a warning and
        // the first with one.
        let mut want: Vec<BTreeSet<String>> = Vec::new();
        for a in SYNC_ACTIONS {
            let Some(plans) = rec["sync"][a]["plans"].as_array() else {
                continue;
            };
            let warned = |p: &&Value| {
                p["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s.get("warning").is_some())
            };
            let first = plans.first().filter(|p| !warned(p));
            for p in first.into_iter().chain(plans.iter().find(warned)) {
                for s in p["steps"].as_array().unwrap() {
                    if let Some(who) = s.get("who") {
                        want.push(strings(who).into_iter().collect());
                    }
                }
            }
        }
        let got: Vec<BTreeSet<String>> = block
            .match_indices("(can do it: ")
            .map(|(i, _)| {
                let from = i + 12;
                let end = block[from..].find(")</span>").unwrap() + from;
                html_users(&block[from..end], &lists, &email)
            })
            .collect();
        assert_eq!(got, want, "mailbox {id}");
        let from = block.find("Who can approve it: ").unwrap() + 20;
        let end = block[from..].find("</p>").unwrap() + from;
        let approvers: BTreeSet<String> = strings(&rec["approvers"]).into_iter().collect();
        assert_eq!(
            html_users(&block[from..end], &lists, &email),
            approvers,
            "approvers of {id}"
        );
    }
    assert!(shared > 100, "only {shared} mailboxes share their details");
}

/// Sync decisions and their why-not searches are made once per class of mailbox (its
/// attributes: the generated emails are no policy strings); decided afresh, once per
/// mailbox. And four times the mailboxes cost at most eight times the decisions.
#[test]
fn sync_decisions_are_made_once_per_class_of_mailbox() {
    let (origin, set) = policies();
    let mut decisions = Vec::new();
    for n in [200, 800] {
        let bundle = generated(&origin, &set, n, 300);
        let classes: HashSet<&str> = bundle.mailboxes.iter().map(|m| m.attrs.json()).collect();
        let mut auditor = Auditor::new(&set, &bundle);
        report(&mut auditor, Format::Json);
        let work = auditor.work();
        assert_eq!(work.sync_classes, classes.len() as u64, "{n} mailboxes");
        assert!(work.why_not <= 3 * classes.len() as u64, "{work:?}");
        let mut afresh = Auditor::without_memo(&set, &bundle);
        report(&mut afresh, Format::Json);
        assert_eq!(afresh.work().sync_classes, n as u64);
        assert!(
            afresh.work().why_not > work.why_not,
            "{:?} vs {work:?}",
            afresh.work()
        );
        decisions.push(work.decisions);
    }
    assert!(
        decisions[1] <= 8 * decisions[0],
        "decisions for 200 and 800 mailboxes: {decisions:?}"
    );
}
