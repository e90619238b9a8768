//! Deterministic generators of requests and policy sets, for benchmarks, tests and fuzz
//! seeds. The same seed always gives the same output.

use std::fmt::Write as _;

/// A small, fast, seeded pseudo-random generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % (n.max(1) as u64)).unwrap_or(0)
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// A random subset of `items`.
    pub fn subset<'a>(&mut self, items: &[&'a str]) -> Vec<&'a str> {
        items
            .iter()
            .copied()
            .filter(|_| self.below(2) == 0)
            .collect()
    }
}

const SECURITY: &[&str] = &[
    "System Administrator",
    "System Customizer",
    "Delegated Mailbox Approver",
    "Salesperson",
    "Basic User",
];
const DIRECTORY: &[&str] = &[
    "Global Administrator",
    "Exchange Administrator",
    "Power Platform Administrator",
];
const PRIVILEGES: &[&str] = &[
    "Approve Email Addresses for Users or Queues",
    "Write Mailbox",
];
const APPROVAL: &[&str] = &["empty", "pending_approval", "approved", "rejected"];
const TEST: &[&str] = &["not_run", "success", "failure"];
const OWNER: &[&str] = &["user", "queue", "forward"];
const SERVER: &[&str] = &[
    "exchange_online",
    "exchange_onpremises",
    "pop3_smtp",
    "imap_smtp",
];
const DELIVERY: &[&str] = &["server_side_sync", "outlook", "forward_mailbox", "none"];
const VERSIONS: &[&str] = &[
    "9.0.2.3034",
    "9.1.0.5804",
    "9.1.0.5805",
    "9.2.22104.00169",
    "9.2.22104.00170",
    "9.10.0.0",
];
/// The actions of the shipped schema.
pub const ACTIONS: &[&str] = &[
    "approve_mailbox",
    "reject_mailbox",
    "change_approval_settings",
    "assign_role",
    "sync_incoming_email",
    "sync_outgoing_email",
    "sync_appointments_contacts_tasks",
];

fn json_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(","))
}

/// One generated request for the shipped schema, as JSON pieces.
#[derive(Debug, Clone)]
pub struct GenRequest {
    /// The action.
    pub action: &'static str,
    /// Which of [`org_variants`] it uses.
    pub org: usize,
    /// `(slot, JSON object)` pairs.
    pub slots: Vec<(&'static str, String)>,
    /// `(param, JSON value)` pairs.
    pub params: Vec<(&'static str, String)>,
}

/// A JSON object from `(key, JSON value)` pairs.
fn object(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
    format!("{{{}}}", body.join(","))
}

/// The org objects requests are generated with (JSON). Like a real client, they leave out
/// what equals the schema default.
pub fn org_variants() -> Vec<String> {
    VERSIONS
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut fields = vec![("version", format!("{v:?}"))];
            if i == 0 {
                fields.push(("deployment", "\"onpremises\"".to_owned()));
            }
            if i % 2 == 1 {
                fields.push(("process_emails_only_for_approved_users", "false".to_owned()));
            }
            if i % 3 == 0 {
                fields.push((
                    "process_emails_only_for_approved_queues",
                    "false".to_owned(),
                ));
            }
            if i % 4 == 1 {
                fields.push(("require_privilege_to_self_approve", "true".to_owned()));
            }
            object(&fields)
        })
        .collect()
}

fn user(rng: &mut Rng, email: &str) -> String {
    let mut fields = vec![("security_roles", json_list(&rng.subset(SECURITY)))];
    let directory = rng.subset(DIRECTORY);
    if !directory.is_empty() {
        fields.push(("directory_roles", json_list(&directory)));
    }
    let privileges = rng.subset(PRIVILEGES);
    if !privileges.is_empty() {
        fields.push(("privileges", json_list(&privileges)));
    }
    match rng.below(3) {
        0 => fields.push(("upn", format!("{email:?}"))),
        1 => fields.push(("upn", format!("\"u{}@contoso.com\"", rng.below(100)))),
        _ => {}
    }
    object(&fields)
}

fn mailbox(rng: &mut Rng, email: &str) -> String {
    let mut fields = vec![
        ("owner_kind", format!("{:?}", rng.pick(OWNER))),
        ("email", format!("{email:?}")),
        ("approval", format!("{:?}", rng.pick(APPROVAL))),
        ("server", format!("{:?}", rng.pick(SERVER))),
    ];
    if rng.below(8) == 0 {
        fields.push(("profile_active", "false".to_owned()));
    }
    // Mostly the values that let sync happen, so both outcomes are common.
    for key in ["incoming", "outgoing", "act"] {
        let status = if rng.below(4) == 0 {
            rng.pick(TEST)
        } else {
            "success"
        };
        if status != "not_run" {
            fields.push((key, format!("{status:?}")));
        }
    }
    for key in ["incoming_delivery", "outgoing_delivery", "act_delivery"] {
        if rng.below(5) == 0 {
            let d = rng.pick(DELIVERY);
            if d != "server_side_sync" {
                fields.push((key, format!("{d:?}")));
            }
        }
    }
    object(&fields)
}

/// `n` requests over every action of the shipped schema.
pub fn requests(seed: u64, n: usize) -> Vec<GenRequest> {
    let mut rng = Rng::new(seed);
    let orgs = org_variants().len();
    (0..n)
        .map(|_| {
            let action = ACTIONS[rng.below(ACTIONS.len())];
            let email = format!("u{}@contoso.com", rng.below(100));
            let org = rng.below(orgs);
            let (slots, params) = match action {
                "approve_mailbox" | "reject_mailbox" => (
                    vec![
                        ("user", user(&mut rng, &email)),
                        ("mailbox", mailbox(&mut rng, &email)),
                    ],
                    vec![],
                ),
                "change_approval_settings" => (vec![("user", user(&mut rng, &email))], vec![]),
                "assign_role" => (
                    vec![
                        ("actor", user(&mut rng, &email)),
                        (
                            "assignee",
                            format!(r#"{{"kind":"{}"}}"#, rng.pick(&["user", "team"])),
                        ),
                    ],
                    vec![("role", format!("{:?}", rng.pick(SECURITY)))],
                ),
                _ => (vec![("mailbox", mailbox(&mut rng, &email))], vec![]),
            };
            GenRequest {
                action,
                org,
                slots,
                params,
            }
        })
        .collect()
}

impl GenRequest {
    /// The request as one batch line (no newline).
    pub fn to_json(&self, orgs: &[String]) -> String {
        let mut s = format!(r#"{{"action":"{}","org":{}"#, self.action, orgs[self.org]);
        for (k, v) in self.slots.iter().chain(&self.params) {
            let _ = write!(s, r#","{k}":{v}"#);
        }
        s.push('}');
        s
    }
}

/// A scenario file (YAML, written with JSON-style flow values) holding `reqs`, which must
/// all use org variant `org`. Entities are named `e1`, `e2`, ... in request order.
pub fn scenario_yaml(reqs: &[&GenRequest], org: &str) -> String {
    let mut users = String::new();
    let mut mailboxes = String::new();
    let mut principals = String::new();
    let mut requests = String::new();
    for (i, r) in reqs.iter().enumerate() {
        let _ = write!(requests, "  - {{\"action\": \"{}\"", r.action);
        for (j, (slot, obj)) in r.slots.iter().enumerate() {
            let id = format!("e{i}_{j}");
            let map = match *slot {
                "mailbox" => &mut mailboxes,
                "assignee" => &mut principals,
                _ => &mut users,
            };
            let _ = writeln!(map, "  {id}: {obj}");
            let _ = write!(requests, ", \"{slot}\": \"{id}\"");
        }
        for (p, v) in &r.params {
            let _ = write!(requests, ", \"{p}\": {v}");
        }
        requests.push_str("}\n");
    }
    let mut out = format!("description: generated\norg: {org}\n");
    for (key, body) in [
        ("users", users),
        ("mailboxes", mailboxes),
        ("principals", principals),
    ] {
        if !body.is_empty() {
            let _ = write!(out, "{key}:\n{body}");
        }
    }
    let _ = write!(out, "requests:\n{requests}");
    out
}

/// A generated policy set: `(schema.yaml, policy text)` with `rules` rules spread over
/// `actions` actions. Each rule tests an enum attribute for equality (`user.code == "cN"`,
/// a distinct member per rule), a set, an int and a version, so an index on `user.code`
/// can narrow the candidates to one rule.
pub fn policy_set(rules: usize, actions: usize) -> (String, String) {
    let actions = actions.max(1);
    let codes = rules.max(16);
    let mut schema = String::from("enums:\n  role: [r0, r1, r2, r3, r4, r5, r6, r7]\n  code: [");
    for i in 0..codes {
        if i > 0 {
            schema.push_str(", ");
        }
        let _ = write!(schema, "c{i}");
    }
    schema.push_str("]\nentities:\n  user:\n    plural: users\n    attributes:\n      roles: { type: \"set<role>\" }\n      level: { type: int, default: 0 }\n      code: { type: code }\ncontext:\n  name: env\n  attributes:\n    version: { type: version }\nactions:\n");
    for a in 0..actions {
        let _ = writeln!(schema, "  a{a}: {{ slots: {{ user: user }} }}");
    }
    let mut text = String::from("# generated\nlet recent = env.version >= \"9.1\"\n");
    for i in 0..rules {
        let effect = if i % 10 == 9 { "deny" } else { "allow" };
        let _ = writeln!(
            text,
            "rule r{i} {{\n  {effect} a{}\n  when user.code == \"c{i}\" and user.roles contains \"r{}\" and user.level >= {} and (recent or env.version >= \"8.{}\")\n  reason \"generated rule {i}\"\n}}",
            i % actions,
            i % 8,
            i % 10,
            i % 7
        );
    }
    (schema, text)
}

/// A request line for [`policy_set`]: action `a{action}`, `user.code == "c{code}"`.
pub fn policy_set_request(action: usize, code: usize) -> String {
    format!(
        r#"{{"action":"a{action}","env":{{"version":"9.2.1"}},"user":{{"roles":["r0","r1","r2","r3","r4","r5","r6","r7"],"level":9,"code":"c{code}"}}}}"#
    )
}

/// Security role names as long as the custom roles of a real tenant, which an export
/// lists next to the standard ones.
pub const LONG_ROLES: &[&str] = &[
    "Contoso EMEA Regional Mailbox Approval Delegate (Tier 2 Support)",
    "Contoso Customer Service Representative - Queue Supervisor",
    "Contoso Sales Operations Analyst with Extended Mailbox Access",
];

/// The shipped `schema.yaml` text with [`LONG_ROLES`] added to the `security_role` enum.
pub fn schema_with_long_roles(schema: &str) -> String {
    schema.replacen(
        "Salesperson, Basic User]",
        &format!("Salesperson, Basic User, {}]", LONG_ROLES.join(", ")),
        1,
    )
}

/// A line of [`requests`] as a real export writes it (for [`schema_with_long_roles`]): the
/// long custom roles listed with every user's security roles, and every mailbox attribute
/// written out, defaults included. Lines come out at about 550 bytes on average.
pub fn export_like(line: &str) -> String {
    let roles: Vec<String> = LONG_ROLES.iter().map(|r| format!("{r:?},")).collect();
    let mut s = line.replace(
        "\"security_roles\":[",
        &format!("\"security_roles\":[{}", roles.concat()),
    );
    s = s.replace(",]", "]");
    let mut defaults = String::new();
    for key in [
        "profile_active",
        "has_profile",
        "active",
        "enabled_incoming",
        "enabled_outgoing",
        "enabled_act",
        "primary_for_exchange_sync",
    ] {
        if !s.contains(&format!("\"{key}\"")) {
            let _ = write!(defaults, "\"{key}\":true,");
        }
    }
    if s.contains("\"mailbox\":{") {
        s = s.replacen("\"mailbox\":{", &format!("\"mailbox\":{{{defaults}"), 1);
    }
    s
}
