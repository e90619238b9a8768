//! The generated export of `benches/audit.rs` and `examples/audit_bundle.rs`: a seeded
//! bundle of N mailboxes and M users in the shape the export scripts write.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Teams in the export.
const TEAMS: usize = 50;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn id(prefix: u32, n: usize) -> String {
    format!("{prefix:08x}-0000-4000-8000-{n:012}")
}

/// A bundle of `mailboxes` mailboxes and `users` users, paged by 5,000 rows like the
/// Web API pages them, with `FormattedValue` labels on every option column.
pub(crate) fn bundle(mailboxes: usize, users: usize) -> BTreeMap<String, String> {
    let mut r = Lcg(20_261_130);
    let mut files = BTreeMap::new();
    files.insert(
        "organizations.json".to_owned(),
        r#"{"value":[{"name":"Generated","requireapprovalforuseremail":true,"requireapprovalforqueueemail":true,"orgdborgsettings":"<OrgSettings></OrgSettings>"}]}"#.to_owned(),
    );
    files.insert(
        "version.json".to_owned(),
        r#"{"Version":"9.2.24094.00213"}"#.to_owned(),
    );
    let roles = [
        (
            "System Administrator",
            "627090ff-40a3-4053-8790-584edc5be201",
        ),
        ("Delegated Mailbox Approver", ""),
        ("Salesperson", ""),
        ("Basic User", ""),
        ("Environment Maker", ""),
    ];
    let role = |i: usize| {
        let (n, t) = roles[i];
        if t.is_empty() {
            format!(r#"{{"name":"{n}","_roletemplateid_value":null}}"#)
        } else {
            format!(r#"{{"name":"{n}","_roletemplateid_value":"{t}"}}"#)
        }
    };
    // Teams: each with one role and members.
    let mut teams = String::from(r#"{"value":["#);
    for t in 0..TEAMS {
        if t > 0 {
            teams.push(',');
        }
        let members: Vec<String> = (0..20)
            .map(|k| {
                format!(
                    r#"{{"systemuserid":"{}"}}"#,
                    id(0x51, (t * 397 + k * 13) % users)
                )
            })
            .collect();
        let _ = write!(
            teams,
            r#"{{"teamid":"{}","name":"Team {t}","teamtype":0,"teamroles_association":[{}],"teammembership_association":[{}]}}"#,
            id(0x7e, t),
            role(if t == 0 { 0 } else { 3 }),
            members.join(",")
        );
    }
    teams.push_str("]}");
    files.insert("teams.json".to_owned(), teams);
    // Users, paged.
    let mut pages = Vec::new();
    let mut page = String::new();
    let mut graph = Vec::new();
    for u in 0..users {
        let kind = r.next(100);
        let (rs, privs): (Vec<usize>, &str) = match kind {
            0 => (
                vec![0],
                r#"[{"PrivilegeName":"prvApproveRejectEmailAddress"},{"PrivilegeName":"prvWriteMailbox"}]"#,
            ),
            1 => (
                vec![0, 1],
                r#"[{"PrivilegeName":"prvApproveRejectEmailAddress"},{"PrivilegeName":"prvWriteMailbox"}]"#,
            ),
            2..=40 => (vec![2, 3], r#"[{"PrivilegeName":"prvWriteMailbox"}]"#),
            _ => (vec![3, 4], "[]"),
        };
        if kind == 0 && u % 2 == 0 {
            graph.push(format!(
                r#"{{"principalId":"{}","roleDefinitionId":"62e90394-69f5-4237-9190-012177145e10"}}"#,
                id(0xaa, u)
            ));
        }
        files.insert(
            format!("privileges/{}.json", id(0x51, u)),
            format!(r#"{{"RolePrivileges":{privs}}}"#),
        );
        if !page.is_empty() {
            page.push(',');
        }
        let rs: Vec<String> = rs.into_iter().map(role).collect();
        let _ = write!(
            page,
            r#"{{"systemuserid":"{}","domainname":"user{u}@contoso.com","azureactivedirectoryobjectid":"{}","emailrouteraccessapproval@OData.Community.Display.V1.FormattedValue":"Approved","emailrouteraccessapproval":1,"systemuserroles_association":[{}]}}"#,
            id(0x51, u),
            id(0xaa, u),
            rs.join(",")
        );
        // A full page links the next one, unless it is the last (an export whose last page
        // links another is incomplete, and refused).
        if (u + 1) % 5_000 == 0 && u + 1 < users {
            pages.push(format!(r#"{{"value":[{page}],"@odata.nextLink":"next"}}"#));
            page.clear();
        }
    }
    if !page.is_empty() {
        pages.push(format!(r#"{{"value":[{page}]}}"#));
    }
    files.insert(
        "systemusers.json".to_owned(),
        format!("[{}]", pages.join(",")),
    );
    files.insert(
        "directory-roles.json".to_owned(),
        format!(r#"{{"value":[{}]}}"#, graph.join(",")),
    );
    // Profiles.
    let profiles = [(0, 2, 0), (0, 1, 0), (1, 1, 0), (4, 0, 0), (3, 2, 1)];
    let profile = |p: usize| {
        let (st, cr, sc) = profiles[p];
        format!(
            r#"{{"emailserverprofileid":"{}","name":"Profile {p}","servertype@OData.Community.Display.V1.FormattedValue":"Exchange","servertype":{st},"incomingcredentialretrieval":{cr},"statecode":{sc}}}"#,
            id(0xe5, p)
        )
    };
    // Mailboxes, paged, with the profile expanded.
    let mut pages = Vec::new();
    let mut page = String::new();
    for m in 0..mailboxes {
        let queue = r.next(10) == 0;
        let owner = m % users;
        let p = match r.next(20) {
            0 => None,
            1 => Some(4),
            2 => Some(2),
            3 => Some(3),
            4..=6 => Some(1),
            _ => Some(0),
        };
        let approval = [1, 1, 1, 2, 0, 3][usize::try_from(r.next(6)).unwrap()];
        let st = |r: &mut Lcg| [1, 1, 1, 1, 2, 0][usize::try_from(r.next(6)).unwrap()];
        let (inc, out, act) = (st(&mut r), st(&mut r), st(&mut r));
        let (reg, kind) = if queue {
            (id(0x40, m), "queue")
        } else {
            (id(0x51, owner), "systemuser")
        };
        if !page.is_empty() {
            page.push(',');
        }
        let _ = write!(
            page,
            r#"{{"mailboxid":"{}","name":"Mailbox {m}","emailaddress":"{}","emailrouteraccessapproval@OData.Community.Display.V1.FormattedValue":"Approved","emailrouteraccessapproval":{approval},"isemailaddressapprovedbyo365admin":{},"isforwardmailbox":false,"incomingemaildeliverymethod":2,"outgoingemaildeliverymethod":2,"actdeliverymethod":1,"incomingemailstatus@OData.Community.Display.V1.FormattedValue":"Success","incomingemailstatus":{inc},"outgoingemailstatus":{out},"actstatus":{act},"enabledforincomingemail":true,"enabledforoutgoingemail":{},"enabledforact":true,"orgmarkedasprimaryforexchangesync":true,"statecode":0,"_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"{kind}","_regardingobjectid_value":"{reg}","_ownerid_value":"{}","_emailserverprofile_value":{},"emailserverprofile":{}}}"#,
            id(0x3b, m),
            if queue {
                format!("queue{m}@contoso.com")
            } else {
                format!("user{owner}@contoso.com")
            },
            approval == 1,
            r.next(50) != 0,
            id(0x51, owner),
            p.map_or("null".to_owned(), |p| format!("\"{}\"", id(0xe5, p))),
            p.map_or("null".to_owned(), profile),
        );
        if (m + 1) % 5_000 == 0 && m + 1 < mailboxes {
            pages.push(format!(r#"{{"value":[{page}],"@odata.nextLink":"next"}}"#));
            page.clear();
        }
    }
    if !page.is_empty() {
        pages.push(format!(r#"{{"value":[{page}]}}"#));
    }
    files.insert(
        "mailboxes.json".to_owned(),
        format!("[{}]", pages.join(",")),
    );
    files
}
