//! `audit --format html`: one self-contained HTML5 document (docs/audit.md, "The HTML report").
//!
//! Everything is inline (style, script, the chart as SVG) and the only links are
//! fragments; a Content-Security-Policy forbids loading anything else. Without script
//! every row and detail is in the document and shown; the script only filters the mailbox
//! table (`data-filter`, `data-blocked-only`), pages it (500 rows at a time) and folds the
//! details. For 100,000 mailboxes to stay usable, a long list of users is written once
//! and linked (`Lists`), and mailboxes alike share one block of details (`Groups`).

use super::write::{Decided, Summary, WORKLOADS, describe, escape_controls, reasons_of, user_name};
use super::{Auditor, Bundle, SYNC_ACTIONS, SyncClass, UserList};
use crate::analysis::WhyNotOption;
use rustc_hash::FxHashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::rc::Rc;

/// Text as HTML: `&`, `<`, `>`, `"` and `'` escaped, control characters shown as `\x1b`.
fn esc(text: &str) -> String {
    let text = escape_controls(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root{--ok:#1a7f37;--bad:#b42318;--warn:#9a6700;--line:#d0d7de;--muted:#57606a;--bg:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#1f2328}
h1{font-size:22px;margin:8px 0 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
nav a{margin-right:14px}.muted{color:var(--muted)}
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin-top:12px}
.tile{border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:150px;background:var(--bg)}
.tile b{display:block;font-size:24px}.tile.bad b{color:var(--bad)}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--bg);position:sticky;top:0}
td[data-decision=allow]{color:var(--ok)}td[data-decision=deny]{color:var(--bad);font-weight:600}
.controls{display:flex;gap:16px;align-items:center;margin:8px 0}
.controls input[type=search]{padding:6px 8px;min-width:320px;border:1px solid var(--line);border-radius:6px}
details{border:1px solid var(--line);border-radius:8px;padding:6px 12px;margin:8px 0}
summary{cursor:pointer;font-weight:600}
details[data-fold]{content-visibility:auto;contain-intrinsic-size:auto 40px}
.warn{color:var(--warn)}.who{color:var(--muted)}
ol.plan li{margin:2px 0}
svg text{font:12px system-ui,sans-serif;fill:#1f2328}
"#;

const SCRIPT: &str = r"
(function(){
  var rows=Array.prototype.slice.call(document.querySelectorAll('tr[data-mailbox-id]'));
  var filter=document.querySelector('input[data-filter]');
  var blockedOnly=document.querySelector('input[data-blocked-only]');
  var more=document.querySelector('button[data-more]');
  var count=document.querySelector('[data-count]');
  var PAGE=500,limit=PAGE;
  var text=rows.map(function(r){return r.textContent.toLowerCase();});
  function apply(){
    var q=filter.value.trim().toLowerCase(),only=blockedOnly.checked,match=0;
    for(var i=0;i<rows.length;i++){
      var ok=(!only||rows[i].getAttribute('data-blocked')==='true')&&(q===''||text[i].indexOf(q)>=0);
      if(ok){match++;}
      rows[i].hidden=!(ok&&match<=limit);
    }
    count.textContent=Math.min(match,limit)+' of '+match+' matching mailboxes shown ('+rows.length+' in all)';
    more.hidden=match<=limit;
  }
  filter.addEventListener('input',function(){limit=PAGE;apply();});
  blockedOnly.addEventListener('change',function(){limit=PAGE;apply();});
  more.addEventListener('click',function(){limit+=PAGE;apply();});
  function fold(){
    var folds=document.querySelectorAll('details[data-fold]');
    for(var i=0;i<folds.length;i++){folds[i].open=false;}
  }
  if(document.readyState==='loading'){document.addEventListener('DOMContentLoaded',fold);}else{fold();}
  apply();
})();
";

/// A list of users longer than this is written once, in the "Who can do it" section, and
/// referenced from every step and mailbox that has it: at 20,000 users a list can name
/// hundreds, and repeating it per mailbox made the report gigabytes.
const LONG_LIST: usize = 10;

/// The report, written a section at a time (the mailbox table and the details a row at
/// a time).
pub(super) fn report<W: Write>(
    auditor: &Auditor<'_>,
    held: &[Decided],
    users: &[(usize, &str, &str)],
    can_approve: &[u64],
    summary: &Summary,
    w: &mut W,
) -> std::io::Result<()> {
    let bundle = auditor.bundle;
    let mut out = String::with_capacity(1 << 16);
    let org = if bundle.org_name.is_empty() {
        "the organization"
    } else {
        bundle.org_name.as_str()
    };
    let blocked = held
        .iter()
        .filter(|d| super::write::blocked(&auditor.class(d.class).sync))
        .count();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>mailgate audit of {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(org)
    );
    let _ = write!(
        out,
        "<header><h1>Audit of {}</h1><p class=\"muted\">version {}, {} deployment; made by mailgate audit</p>\n\
<nav><a href=\"#summary\">Summary</a><a href=\"#chart\">Blocked by reason</a><a href=\"#mailboxes\">Mailboxes</a><a href=\"#details\">What to do</a><a href=\"#users\">Users</a><a href=\"#data-warnings\">Data warnings</a></nav></header>\n",
        esc(org),
        esc(&bundle.version),
        esc(&bundle.deployment)
    );
    // Summary tiles.
    out.push_str("<section id=\"summary\"><h2>Summary</h2><div class=\"tiles\">\n");
    let tile = |out: &mut String, class: &str, n: usize, label: &str| {
        let _ = writeln!(
            out,
            "<div class=\"tile{class}\" data-tile=\"{}\"><b>{n}</b>{}</div>",
            esc(label),
            esc(label)
        );
    };
    tile(&mut out, "", summary.mailboxes, "mailboxes");
    tile(
        &mut out,
        if blocked > 0 { " bad" } else { "" },
        blocked,
        "mailboxes with a blocked workload",
    );
    for (action, workload) in SYNC_ACTIONS.iter().zip(WORKLOADS) {
        let n = summary.blocked.get(*action).copied().unwrap_or(0);
        tile(
            &mut out,
            if n > 0 { " bad" } else { "" },
            n,
            &format!("blocked for {workload}"),
        );
    }
    tile(&mut out, "", summary.users, "users");
    tile(&mut out, "", summary.warnings.len(), "data warnings");
    out.push_str("</div></section>\n");
    chart(&mut out, summary);
    let groups = Groups::new(auditor, held);
    mailbox_table(&mut out, w, auditor, held, &groups)?;
    let mut lists = Lists::default();
    details(&mut out, w, auditor, held, &groups, &mut lists)?;
    lists.section(&mut out, w, bundle)?;
    users_table(&mut out, bundle, users, can_approve);
    out.push_str("<section id=\"data-warnings\"><h2>Data warnings</h2>\n");
    if summary.warnings.is_empty() {
        out.push_str("<p class=\"muted\">None.</p>\n");
    } else {
        out.push_str("<ul>\n");
        for w in &summary.warnings {
            let _ = writeln!(out, "<li class=\"warn\">{}</li>", esc(w));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
    out.push_str("</body>\n</html>\n");
    w.write_all(out.as_bytes())
}

/// Writes `out` once it holds a good buffer's worth.
fn spill<W: Write>(out: &mut String, w: &mut W) -> std::io::Result<()> {
    if out.len() >= 1 << 16 {
        w.write_all(out.as_bytes())?;
        out.clear();
    }
    Ok(())
}

/// The long lists of users, each written once and numbered in order of first use. A
/// list that differs from a numbered one in a few users (a mailbox's own user, who may
/// or may not approve it) is shown as that list with or without them.
#[derive(Default)]
struct Lists {
    /// How each long list seen is shown.
    shown: FxHashMap<UserList, String>,
    /// The numbered lists, in order.
    order: Vec<UserList>,
}

/// Most users a list may differ by to be shown as another list with or without them.
const NEAR: usize = 3;

impl Lists {
    /// The users as people read them: the names of a short list, or a link to a long one.
    fn names(&mut self, bundle: &Bundle, users: &UserList) -> String {
        let name = |u: u32| user_name(bundle, u);
        if users.len() <= LONG_LIST {
            let names: Vec<&str> = users.iter().map(|&u| name(u)).collect();
            return esc(&names.join(", "));
        }
        if let Some(shown) = self.shown.get(users) {
            return shown.clone();
        }
        // The most recent numbered lists only: a list alike is usually one of the few the
        // export has, and the search must not grow with the number of lists.
        let skip = self.order.len().saturating_sub(64);
        let near = self.order.iter().enumerate().skip(skip).find_map(|(i, l)| {
            (l.len().abs_diff(users.len()) <= NEAR)
                .then(|| difference(l, users))
                .flatten()
                .map(|d| (i + 1, d))
        });
        let shown = match near {
            Some((n, (without, with))) => {
                let mut s = format!("{} users: <a href=\"#who-{n}\">list {n}</a>", users.len());
                for (word, set) in [("without", without), ("and", with)] {
                    if !set.is_empty() {
                        let names: Vec<&str> = set.iter().map(|&u| name(u)).collect();
                        let _ = write!(s, " {word} {}", esc(&names.join(", ")));
                    }
                }
                s
            }
            None => {
                self.order.push(users.clone());
                let n = self.order.len();
                format!("{} users: <a href=\"#who-{n}\">list {n}</a>", users.len())
            }
        };
        self.shown.insert(users.clone(), shown.clone());
        shown
    }

    fn section<W: Write>(
        &self,
        out: &mut String,
        w: &mut W,
        bundle: &Bundle,
    ) -> std::io::Result<()> {
        if self.order.is_empty() {
            return Ok(());
        }
        out.push_str("<section id=\"who-lists\"><h2>Who can do it: the long lists</h2>\n");
        for (i, users) in self.order.iter().enumerate() {
            let _ = write!(
                out,
                "<details id=\"who-{}\" data-fold open><summary>List {}: {} users</summary><p>",
                i + 1,
                i + 1,
                users.len()
            );
            for (k, &u) in users.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                out.push_str(&esc(user_name(bundle, u)));
            }
            out.push_str("</p></details>\n");
            spill(out, w)?;
        }
        out.push_str("</section>\n");
        Ok(())
    }
}
/// Blocked mailboxes by reason, as horizontal bars.
fn chart(out: &mut String, summary: &Summary) {
    out.push_str("<section id=\"chart\"><h2>Blocked mailboxes by reason</h2>\n");
    let mut reasons: Vec<(&String, &usize)> = summary.by_reason.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    if reasons.is_empty() {
        out.push_str("<p class=\"muted\">No mailbox is blocked.</p></section>\n");
        return;
    }
    let max = reasons.first().map_or(1, |r| *r.1).max(1);
    let row = 40usize;
    let width = 1100usize;
    let height = reasons.len() * row + 8;
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"Blocked mailboxes by reason\">"
    );
    for (i, (reason, n)) in reasons.iter().enumerate() {
        let y = i * row;
        let w = (**n * 900 / max).max(2);
        let _ = writeln!(
            out,
            "<g data-reason=\"{r}\"><title>{r}: {n}</title><text x=\"0\" y=\"{}\">{r}</text><rect x=\"0\" y=\"{}\" width=\"{w}\" height=\"14\" rx=\"3\" fill=\"#b42318\"></rect><text x=\"{}\" y=\"{}\">{n}</text></g>",
            y + 13,
            y + 18,
            w + 6,
            y + 30,
            r = esc(reason),
        );
    }
    out.push_str("</svg></section>\n");
}

fn mailbox_table<W: Write>(
    out: &mut String,
    w: &mut W,
    auditor: &Auditor<'_>,
    held: &[Decided],
    groups: &Groups,
) -> std::io::Result<()> {
    let bundle = auditor.bundle;
    out.push_str(
        "<section id=\"mailboxes\"><h2>Mailboxes</h2>\n<div class=\"controls\">\
<input type=\"search\" data-filter placeholder=\"Filter by name, address, reason…\" aria-label=\"Filter mailboxes\">\
<label><input type=\"checkbox\" data-blocked-only> blocked only</label><span class=\"muted\" data-count></span></div>\n\
<table><thead><tr><th>Mailbox</th><th>Address</th><th>Kind</th>",
    );
    for w in WORKLOADS {
        let _ = write!(out, "<th>{}</th>", esc(w));
    }
    out.push_str("<th>Reasons</th></tr></thead>\n<tbody>\n");
    for (i, d) in held.iter().enumerate() {
        let m = &bundle.mailboxes[d.index];
        let class = auditor.class(d.class);
        let _ = write!(
            out,
            "<tr data-mailbox-id=\"{}\" data-blocked=\"{}\"><td><a href=\"#d-{}\">{}</a></td><td>{}</td><td>{}</td>",
            esc(&m.id),
            super::write::blocked(&class.sync),
            groups.anchor(held, i),
            esc(&m.name),
            esc(&m.email),
            esc(m.owner_kind.as_deref().unwrap_or("unknown"))
        );
        for (s, action) in class.sync.iter().zip(SYNC_ACTIONS) {
            let decision = s.report.decision;
            let _ = write!(
                out,
                "<td data-action=\"{action}\" data-decision=\"{decision}\">{}</td>",
                if decision == "allow" {
                    "syncs"
                } else {
                    "blocked"
                }
            );
        }
        let _ = writeln!(out, "<td>{}</td></tr>", esc(&class.reasons.join("; ")));
        spill(out, w)?;
    }
    out.push_str("</tbody></table>\n<p><button type=\"button\" data-more hidden>Show more</button></p></section>\n");
    // The script right after the table: filtering and paging work while the rest of a
    // large report is still loading (it folds the details once they are all there).
    let _ = writeln!(out, "<script>{SCRIPT}</script>");
    Ok(())
}

fn plan_list(
    out: &mut String,
    bundle: &Bundle,
    class: &SyncClass,
    d: &Decided,
    shared: Option<&(Vec<Option<Own>>, Own)>,
    plan: &WhyNotOption,
    lists: &mut Lists,
) {
    out.push_str("<ol class=\"plan\">");
    for (i, step) in plan.steps.iter().enumerate() {
        let action = step
            .action
            .as_ref()
            .map(|a| format!(" data-action=\"{}\"", esc(a)))
            .unwrap_or_default();
        let changes: Vec<String> = step
            .changes
            .iter()
            .filter_map(|&c| plan.changes.get(c).map(crate::analysis::Change::describe))
            .collect();
        let who = match step
            .action
            .as_ref()
            .and_then(|a| class.actions.iter().position(|x| x == a))
        {
            Some(k) => match (d.who.get(k), shared.map(|s| s.0.get(k))) {
                (Some(Some(users)), shared) => {
                    let shared = shared.flatten().and_then(Option::as_ref);
                    match users_text(lists, bundle, users, shared) {
                        None => "(can do it: nobody in this export)".to_owned(),
                        Some(names) => format!("(can do it: {names})"),
                    }
                }
                _ => String::new(),
            },
            None => String::new(),
        };
        let _ = write!(
            out,
            "<li data-step=\"{}\"{action}>{} <span class=\"who\">{who}</span> <code class=\"muted\">[{}]</code></li>",
            i + 1,
            esc(&step.text),
            esc(&changes.join(" and "))
        );
    }
    out.push_str("</ol>");
}

/// The mailboxes whose details are the same but for their names: same sync decisions,
/// same warnings, and the same lists of users once each mailbox's own users (those whose
/// UPN is its email, who may approve their own mailbox) are set aside. Each group's
/// details are written once, so an export of 100,000 mailboxes has a few hundred blocks
/// of "what to do", not 100,000.
struct Groups {
    /// Per group: its mailboxes (indices into the held mailboxes), in export order.
    members: Vec<Vec<usize>>,
    /// Per group: its lists without the mailboxes' own users, and whether the mailboxes'
    /// own users are in them: per action of the plans, then the approvers.
    lists: Vec<(Vec<Option<Own>>, Own)>,
    /// Per held mailbox: its group.
    of: Vec<usize>,
}

/// A list of users without the mailbox's own users, and whether they are in it.
type Own = (UserList, bool);

type GroupKey<'a> = (
    u32,
    Vec<Option<Own>>,
    Own,
    &'a Option<Rc<str>>,
    &'a [String],
);

impl Groups {
    fn new(auditor: &Auditor<'_>, held: &[Decided]) -> Self {
        let bundle = auditor.bundle;
        let mut index: FxHashMap<GroupKey<'_>, usize> = FxHashMap::default();
        let mut members: Vec<Vec<usize>> = Vec::new();
        let mut lists = Vec::new();
        let mut of = Vec::with_capacity(held.len());
        // Classes by what they decide (an auditor that reuses nothing has a class per
        // mailbox, alike or not).
        let mut same: FxHashMap<String, u32> = FxHashMap::default();
        let mut canonical: FxHashMap<u32, u32> = FxHashMap::default();
        for (i, d) in held.iter().enumerate() {
            let m = &bundle.mailboxes[d.index];
            let class = *canonical.entry(d.class).or_insert_with(|| {
                *same
                    .entry(format!("{:?}", auditor.class(d.class)))
                    .or_insert(d.class)
            });
            let own = auditor.own_users(m);
            let split = |l: &UserList| -> Own {
                if own.iter().any(|u| l.binary_search(u).is_ok()) {
                    let rest: Vec<u32> = l.iter().copied().filter(|u| !own.contains(u)).collect();
                    (UserList::from(rest), true)
                } else {
                    (l.clone(), false)
                }
            };
            let who: Vec<Option<Own>> = d.who.iter().map(|w| w.as_ref().map(split)).collect();
            let key = (
                class,
                who,
                split(&d.approvers),
                &d.nobody,
                m.warnings.as_slice(),
            );
            let next = members.len();
            let g = *index.entry(key.clone()).or_insert(next);
            if g == next {
                members.push(Vec::new());
                lists.push((key.1, key.2));
            }
            members[g].push(i);
            of.push(g);
        }
        Groups { members, lists, of }
    }

    /// The id of the details of the group of held mailbox `i`: `d-` and the export index
    /// of its first mailbox.
    fn anchor(&self, held: &[Decided], i: usize) -> usize {
        held[self.members[self.of[i]][0]].index
    }
}

/// Who can do something, as a report shows it, or `None` when nobody can: the names of
/// a mailbox's own list, or for a group the list shared and each mailbox's own user.
fn users_text(
    lists: &mut Lists,
    bundle: &Bundle,
    mine: &UserList,
    shared: Option<&Own>,
) -> Option<String> {
    match shared {
        None => (!mine.is_empty()).then(|| lists.names(bundle, mine)),
        Some((rest, own)) => match (rest.is_empty(), own) {
            (true, false) => None,
            (true, true) => Some("each mailbox's own user".to_owned()),
            (false, false) => Some(lists.names(bundle, rest)),
            (false, true) => Some(format!(
                "{}, and each mailbox's own user",
                lists.names(bundle, rest)
            )),
        },
    }
}

fn details<W: Write>(
    out: &mut String,
    w: &mut W,
    auditor: &Auditor<'_>,
    held: &[Decided],
    groups: &Groups,
    lists: &mut Lists,
) -> std::io::Result<()> {
    let bundle = auditor.bundle;
    out.push_str("<section id=\"details\"><h2>What to do, per mailbox</h2>\n");
    for (g, group) in groups.members.iter().enumerate() {
        let d = &held[group[0]];
        // A group of one shows its own lists; a larger group the lists it shares.
        let shared = (group.len() > 1).then(|| &groups.lists[g]);
        let m = &bundle.mailboxes[d.index];
        let class = auditor.class(d.class);
        let blocked = super::write::blocked(&class.sync);
        let ids: Vec<String> = group
            .iter()
            .map(|&i| esc(&bundle.mailboxes[held[i].index].id))
            .collect();
        let what = if group.len() == 1 {
            esc(&describe(m))
        } else {
            format!("{} mailboxes alike", group.len())
        };
        let _ = writeln!(
            out,
            "<details id=\"d-{}\" data-details-for=\"{}\" data-fold open><summary>{what}{}</summary>",
            d.index,
            ids.join(" "),
            if blocked {
                " — blocked"
            } else {
                " — syncs"
            }
        );
        if group.len() > 1 {
            out.push_str("<ul class=\"members\">");
            for &i in group {
                let _ = write!(
                    out,
                    "<li>{}</li>",
                    esc(&describe(&bundle.mailboxes[held[i].index]))
                );
                spill(out, w)?;
            }
            out.push_str("</ul>\n");
        }
        for (i, s) in class.sync.iter().enumerate() {
            if s.report.decision == "allow" {
                let _ = writeln!(out, "<p>{}: syncs</p>", esc(WORKLOADS[i]));
                continue;
            }
            let _ = write!(out, "<h4>{}: blocked</h4><ul>", esc(WORKLOADS[i]));
            for r in reasons_of(s, SYNC_ACTIONS[i]) {
                let _ = write!(out, "<li>{}</li>", esc(&r));
            }
            out.push_str("</ul>");
            let plans = s.plans.as_deref().unwrap_or_default();
            match plans.first() {
                Some(p) if p.warning().is_none() => {
                    out.push_str("<p>To fix:</p>");
                    plan_list(out, bundle, class, d, shared, p, lists);
                }
                Some(_) => out.push_str("<p>To fix: no plan without a warning.</p>"),
                None => match &s.hint {
                    Some(h) => {
                        let _ = write!(out, "<p>What to do: {}</p>", esc(h));
                    }
                    None => out.push_str(
                        "<p>To fix: nothing (no change to what may change would allow it).</p>",
                    ),
                },
            }
            if let Some(p) = plans.iter().find(|p| p.warning().is_some()) {
                let _ = write!(
                    out,
                    "<p class=\"warn\">Not recommended ({}):</p>",
                    esc(p.warning().unwrap_or_default())
                );
                plan_list(out, bundle, class, d, shared, p, lists);
            }
            for e in &s.report.errors {
                let _ = write!(out, "<p class=\"warn\">error: {}</p>", esc(e));
            }
            out.push('\n');
        }
        let approvers = users_text(lists, bundle, &d.approvers, shared.map(|s| &s.1))
            .unwrap_or_else(|| {
                esc(&match &d.nobody {
                    Some(why) => format!("nobody: {why}"),
                    None => "nobody in this export".to_owned(),
                })
            });
        let _ = writeln!(out, "<p>Who can approve it: {approvers}</p>");
        for w in &m.warnings {
            let _ = writeln!(out, "<p class=\"warn\">warning: {}</p>", esc(w));
        }
        out.push_str("</details>\n");
        spill(out, w)?;
    }
    out.push_str("</section>\n");
    Ok(())
}

fn users_table(
    out: &mut String,
    bundle: &Bundle,
    users: &[(usize, &str, &str)],
    can_approve: &[u64],
) {
    out.push_str(
        "<section id=\"users\"><h2>Users</h2>\n<table><thead><tr><th>User</th><th>May approve</th>\
<th>May change the approval settings</th><th>May assign Delegated Mailbox Approver</th><th>Notes</th></tr></thead>\n<tbody>\n",
    );
    let yes = |d: &str| if d == "allow" { "yes" } else { "no" };
    for &(i, settings, assign) in users {
        let u = &bundle.users[i];
        let name = user_name(bundle, u32::try_from(i).unwrap_or(u32::MAX));
        let mut notes: Vec<String> = u
            .team_roles
            .iter()
            .map(|r| format!("through a team: {r}"))
            .collect();
        notes.extend(u.warnings.iter().map(|w| format!("warning: {w}")));
        let _ = writeln!(
            out,
            "<tr data-user=\"{}\"><td>{}</td><td>{} of {} mailboxes</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            esc(name),
            can_approve.get(i).copied().unwrap_or(0),
            bundle.mailboxes.len(),
            yes(settings),
            yes(assign),
            esc(&notes.join("; "))
        );
    }
    out.push_str("</tbody></table></section>\n");
}

/// The users of `from` not in `to`, and of `to` not in `from` (both sorted), if they are
/// [`NEAR`] or fewer in all.
fn difference(from: &[u32], to: &[u32]) -> Option<(Vec<u32>, Vec<u32>)> {
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let (mut i, mut k) = (0, 0);
    while i < from.len() || k < to.len() {
        match (from.get(i), to.get(k)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                k += 1;
            }
            (Some(&a), Some(&b)) if a < b => {
                without.push(a);
                i += 1;
            }
            (Some(&a), None) => {
                without.push(a);
                i += 1;
            }
            (_, Some(&b)) => {
                with.push(b);
                k += 1;
            }
            (None, None) => break,
        }
        if without.len() + with.len() > NEAR {
            return None;
        }
    }
    Some((without, with))
}
