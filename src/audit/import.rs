//! The importer: an export bundle (Dataverse Web API responses and a Microsoft Graph role
//! assignment list) → the org, users and mailboxes in the schema's vocabulary, each as
//! typed attribute values ([`Attrs`]) from which the audit builds its requests, with
//! warnings about the data.

use super::error::AuditError;
use super::json::{BundleFile, BundleSource, Row};
use super::mapping::{ColumnMap, Mapping, ServerRule, Target};
use crate::engine::Arg;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// An entity's attribute values, by attribute name, in the order the importer found them.
/// The audit builds its requests from them through [`crate::RequestBuilder`];
/// [`Attrs::json`] writes the same values as the members of a batch line's object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs {
    values: Vec<(String, Arg)>,
    /// [`Attrs::json`], kept: it is also the attributes' identity (a class key).
    json: String,
}

impl Attrs {
    /// Appends `name` = `value`.
    pub fn push(&mut self, name: &str, value: Arg) {
        if !self.json.is_empty() {
            self.json.push(',');
        }
        let _ = write!(self.json, "{}:", json_str(name));
        match &value {
            Arg::Bool(b) => {
                let _ = write!(self.json, "{b}");
            }
            Arg::Int(i) => {
                let _ = write!(self.json, "{i}");
            }
            Arg::Text(t) => self.json.push_str(&json_str(t)),
            Arg::List(items) => {
                let items: Vec<String> = items.iter().map(|s| json_str(s)).collect();
                let _ = write!(self.json, "[{}]", items.join(","));
            }
        }
        self.values.push((name.to_owned(), value));
    }

    /// The values, by attribute name.
    pub fn values(&self) -> &[(String, Arg)] {
        &self.values
    }

    /// The values as JSON object members, without braces (`"a":true,"b":"x"`).
    pub fn json(&self) -> &str {
        &self.json
    }
}

/// How to read the bundle.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `org.deployment` (the export has no column for it).
    pub deployment: String,
    /// `--server PROFILEID=TYPE` overrides, profile id in lowercase.
    pub servers: FxHashMap<String, String>,
}

/// A user of the org.
#[derive(Debug, Clone)]
pub struct User {
    /// `systemuserid`.
    pub id: String,
    /// `domainname` (the UPN) as exported.
    pub upn: String,
    /// The UPN in lowercase, as the requests carry it.
    pub upn_key: String,
    /// The user's attributes except `upn`.
    pub attrs: Attrs,
    /// Security roles that come only through a team: `role (team T)`.
    pub team_roles: Vec<String>,
    /// Data warnings about this user.
    pub warnings: Vec<String>,
}

/// The server profile of a mailbox.
#[derive(Debug, Clone)]
pub struct Profile {
    /// `emailserverprofileid`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The server type, if known.
    pub server: Option<String>,
    /// How the type was found: the columns and values, or the override.
    pub evidence: String,
    /// `statecode` Active.
    pub active: bool,
}

/// A mailbox of the org.
#[derive(Debug, Clone)]
pub struct Mailbox {
    /// `mailboxid`.
    pub id: String,
    /// `name`.
    pub name: String,
    /// `emailaddress` as exported.
    pub email: String,
    /// The address in lowercase, as the requests carry it.
    pub email_key: String,
    /// `owner_kind`, if known.
    pub owner_kind: Option<String>,
    /// The mailbox's attributes except `email`.
    pub attrs: Attrs,
    /// Its server profile (`None`: no profile).
    pub profile: Option<Profile>,
    /// Data warnings about this mailbox.
    pub warnings: Vec<String>,
}

/// A whole export, read.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The organization's name.
    pub org_name: String,
    /// `RetrieveVersion()`.
    pub version: String,
    /// `org.deployment`.
    pub deployment: String,
    /// The context of every request (`deployment`, `version` and the mapped columns).
    pub org: Attrs,
    /// Users, in export order.
    pub users: Vec<User>,
    /// Mailboxes, in export order.
    pub mailboxes: Vec<Mailbox>,
    /// Warnings about the bundle as a whole (missing optional columns, unknown roles).
    pub warnings: Vec<String>,
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// The lookup type of `_X_value` (`systemuser`, `queue`, `team`), from its annotation.
fn lookup_type(
    file: &BundleFile,
    row: &Row<'_>,
    lookup: &str,
) -> Result<Option<String>, AuditError> {
    let key = format!("{lookup}@Microsoft.Dynamics.CRM.lookuplogicalname");
    file.opt_string(row, &key)
}

struct Ctx<'m> {
    mapping: &'m Mapping,
    opts: &'m ImportOptions,
    warnings: Vec<String>,
    /// Optional columns already reported missing: (file, column).
    missing: FxHashSet<(String, String)>,
}

impl Ctx<'_> {
    fn missing_optional(&mut self, file: &BundleFile, column: &str, effect: &str) {
        if self.missing.insert((file.name.clone(), column.to_owned())) {
            self.warnings.push(format!(
                "{} has no column `{column}` (older versions lack it); {effect}",
                file.name
            ));
        }
    }

    /// Appends `"attr":value` for each column map to `out`; notes nulls in `warnings`.
    fn columns(
        &mut self,
        file: &BundleFile,
        row: &Row<'_>,
        maps: &[ColumnMap],
        out: &mut Attrs,
        warnings: &mut Vec<String>,
    ) -> Result<(), AuditError> {
        for m in maps {
            let Some(raw) = row.get(&m.column) else {
                if m.optional {
                    self.missing_optional(
                        file,
                        &m.column,
                        &format!("`{}` takes its schema default", m.attr),
                    );
                    continue;
                }
                return Err(file.column(row, &m.column).err().unwrap_or_else(|| {
                    AuditError::File {
                        file: file.name.clone(),
                        message: format!("missing column `{}`", m.column),
                    }
                }));
            };
            let value = match &m.values {
                None => file.bool(raw, &m.column)?.map(Target::Bool),
                Some(values) => match file.int(raw, &m.column)? {
                    None => None,
                    Some(i) => Some(values.get(&i).cloned().ok_or_else(|| {
                        let mut known: Vec<i64> = values.keys().copied().collect();
                        known.sort_unstable();
                        let known: Vec<String> = known.iter().map(i64::to_string).collect();
                        file.error(
                            raw,
                            format!(
                                "option value {i} of column `{}` is not in the mapping (known: {}); add it to `{}` in {}",
                                m.column,
                                known.join(", "),
                                m.attr,
                                super::mapping::MAPPING_FILE
                            ),
                        )
                    })?),
                },
            };
            match value {
                Some(Target::Bool(b)) => out.push(&m.attr, Arg::Bool(b)),
                Some(Target::Member(s)) => out.push(&m.attr, Arg::Text(s)),
                None => warnings.push(format!(
                    "column `{}` is empty: `{}` takes its schema default, or is missing and fails closed",
                    m.column, m.attr
                )),
            }
        }
        Ok(())
    }
}

/// Reads the bundle in `dir`.
pub fn import(
    dir: &BundleSource,
    mapping: &Mapping,
    opts: &ImportOptions,
) -> Result<Bundle, AuditError> {
    if let BundleSource::Dir(d) = dir
        && !d.is_dir()
    {
        return Err(AuditError::File {
            file: d.display().to_string(),
            message: "the bundle folder does not exist".to_owned(),
        });
    }
    let mut cx = Ctx {
        mapping,
        opts,
        warnings: Vec::new(),
        missing: FxHashSet::default(),
    };
    let (org_name, org) = read_org(dir, &mut cx)?;
    let version_file = BundleFile::read(dir, "version.json")?;
    let vrow = version_file.object()?;
    let version = version_file.required_string(&vrow, "Version")?;
    if crate::version::Version::parse(&version).is_err() {
        return Err(version_file.error(
            version_file.column(&vrow, "Version")?,
            format!("`Version` is not a version: {version:?}"),
        ));
    }
    let mut context = Attrs::default();
    context.push("deployment", Arg::Text(opts.deployment.clone()));
    context.push("version", Arg::Text(version.clone()));
    for (name, value) in org.values {
        context.push(&name, value);
    }
    let org = context;
    let (users, teams) = read_users(dir, &mut cx)?;
    let mailboxes = read_mailboxes(dir, &mut cx, &users, &teams)?;
    Ok(Bundle {
        org_name,
        version,
        deployment: opts.deployment.clone(),
        org,
        users: users.list,
        mailboxes,
        warnings: cx.warnings,
    })
}

fn read_org(dir: &BundleSource, cx: &mut Ctx<'_>) -> Result<(String, Attrs), AuditError> {
    let file = BundleFile::read(dir, "organizations.json")?;
    let rows = file.rows()?;
    let Some(row) = rows.first() else {
        return Err(AuditError::File {
            file: file.name.clone(),
            message: "no organization row in `value`".to_owned(),
        });
    };
    if rows.len() > 1 {
        cx.warnings.push(format!(
            "{} has {} rows; the first is used",
            file.name,
            rows.len()
        ));
    }
    let name = file.opt_string(row, "name")?.unwrap_or_default();
    let mut out = Attrs::default();
    let mut warnings = Vec::new();
    let maps = cx.mapping.org.clone();
    cx.columns(&file, row, &maps, &mut out, &mut warnings)?;
    cx.warnings
        .extend(warnings.into_iter().map(|w| format!("organization: {w}")));
    if !cx.mapping.org_settings.is_empty() {
        let raw = file.column(row, "orgdborgsettings")?;
        let xml = file.string(raw, "orgdborgsettings")?.unwrap_or_default();
        for (attr, element) in &cx.mapping.org_settings {
            if let Some(text) = xml_element(&xml, element) {
                out.push(attr, Arg::Bool(text.trim().eq_ignore_ascii_case("true")));
            }
        }
    }
    Ok((name, out))
}

/// The text of the first `<element>` in an `orgdborgsettings` blob, names compared
/// without regard to case (exports hold both `<OrgSettings>` and `<orgSettings>`).
fn xml_element<'a>(xml: &'a str, element: &str) -> Option<&'a str> {
    let lower = xml.to_ascii_lowercase();
    let open = format!("<{}>", element.to_ascii_lowercase());
    let start = lower.find(&open)? + open.len();
    let end = start + lower.get(start..)?.find('<')?;
    xml.get(start..end)
}

struct Users {
    list: Vec<User>,
    /// systemuserid (lowercase) → index.
    by_id: FxHashMap<String, usize>,
    /// systemuser `emailrouteraccessapproval`, when exported.
    approval: FxHashMap<String, Target>,
}

struct Team {
    name: String,
    roles: Vec<String>,
}

/// Resolves a role row to a schema role: template id first, then name.
fn role_of(
    file: &BundleFile,
    row: &Row<'_>,
    mapping: &Mapping,
    unknown: &mut BTreeMap<String, usize>,
) -> Result<Option<String>, AuditError> {
    let template = file.opt_string(row, "_roletemplateid_value")?;
    if let Some(r) = template.and_then(|t| mapping.role_templates.get(&t.to_lowercase())) {
        return Ok(Some(r.clone()));
    }
    let name = file.opt_string(row, "name")?.unwrap_or_default();
    if let Some(r) = mapping.role_names.get(&name) {
        return Ok(Some(r.clone()));
    }
    *unknown.entry(name).or_default() += 1;
    Ok(None)
}

fn expanded<'a>(
    file: &'a BundleFile,
    row: &Row<'a>,
    nav: &str,
) -> Result<Vec<Row<'a>>, AuditError> {
    let raw = file.column(row, nav)?;
    if raw.get() == "null" {
        return Ok(Vec::new());
    }
    file.list(raw, &format!("`{nav}`"))?
        .into_iter()
        .map(|r| file.row(r, &format!("each entry of `{nav}`")))
        .collect()
}

#[allow(clippy::too_many_lines, reason = "one pass over the user-side files")]
fn read_users(
    dir: &BundleSource,
    cx: &mut Ctx<'_>,
) -> Result<(Users, FxHashMap<String, usize>), AuditError> {
    let mapping = cx.mapping;
    let mut unknown_roles: BTreeMap<String, usize> = BTreeMap::new();
    // Teams: their roles and members.
    let tfile = BundleFile::read(dir, "teams.json")?;
    let mut teams: Vec<Team> = Vec::new();
    let mut team_ids: FxHashMap<String, usize> = FxHashMap::default();
    let mut member_teams: FxHashMap<String, Vec<usize>> = FxHashMap::default();
    for row in tfile.rows()? {
        let id = tfile.required_string(&row, "teamid")?.to_lowercase();
        let name = tfile
            .opt_string(&row, "name")?
            .unwrap_or_else(|| id.clone());
        let mut roles = Vec::new();
        for r in expanded(&tfile, &row, "teamroles_association")? {
            if let Some(role) = role_of(&tfile, &r, mapping, &mut unknown_roles)? {
                roles.push(role);
            }
        }
        let t = teams.len();
        for m in expanded(&tfile, &row, "teammembership_association")? {
            let uid = tfile.required_string(&m, "systemuserid")?.to_lowercase();
            member_teams.entry(uid).or_default().push(t);
        }
        team_ids.insert(id, t);
        teams.push(Team { name, roles });
    }

    // Directory roles from Graph, by principal id.
    let dfile = BundleFile::read(dir, "directory-roles.json")?;
    let mut directory: FxHashMap<String, Vec<String>> = FxHashMap::default();
    let mut principals = FxHashSet::default();
    for row in dfile.rows()? {
        let principal = dfile.required_string(&row, "principalId")?.to_lowercase();
        let role = dfile
            .required_string(&row, "roleDefinitionId")?
            .to_lowercase();
        if let Some(r) = mapping.directory_roles.get(&role) {
            principals.insert(principal.clone());
            directory.entry(principal).or_default().push(r.clone());
        }
    }

    let ufile = BundleFile::read(dir, "systemusers.json")?;
    let mut users = Vec::new();
    let mut by_id = FxHashMap::default();
    let mut approval = FxHashMap::default();
    let mut matched_principals = FxHashSet::default();
    for row in ufile.rows()? {
        let id = ufile.guid(&row, "systemuserid")?;
        let key = id.to_lowercase();
        let upn = ufile
            .string(ufile.column(&row, "domainname")?, "domainname")?
            .unwrap_or_default();
        let object_id = ufile
            .string(
                ufile.column(&row, "azureactivedirectoryobjectid")?,
                "azureactivedirectoryobjectid",
            )?
            .map(|s| s.to_lowercase());
        let mut warnings = Vec::new();
        // Security roles: direct, then through teams.
        let mut direct: Vec<String> = Vec::new();
        for r in expanded(&ufile, &row, "systemuserroles_association")? {
            if let Some(role) = role_of(&ufile, &r, mapping, &mut unknown_roles)?
                && !direct.contains(&role)
            {
                direct.push(role);
            }
        }
        let mut my_teams: Vec<usize> = member_teams.get(&key).cloned().unwrap_or_default();
        if let Some(raw) = row.get("teammembership_association")
            && raw.get() != "null"
        {
            for t in ufile.list(raw, "`teammembership_association`")? {
                let t = ufile.row(t, "each entry of `teammembership_association`")?;
                let tid = ufile.required_string(&t, "teamid")?.to_lowercase();
                if let Some(&i) = team_ids.get(&tid) {
                    my_teams.push(i);
                }
            }
        }
        my_teams.sort_unstable();
        my_teams.dedup();
        let mut roles = direct.clone();
        let mut team_roles = Vec::new();
        for &t in &my_teams {
            for role in &teams[t].roles {
                if !direct.contains(role) {
                    team_roles.push(format!("{role} (team {})", teams[t].name));
                    if !roles.contains(role) {
                        roles.push(role.clone());
                    }
                }
            }
        }
        for r in &roles {
            if !direct.contains(r) {
                warnings.push(format!(
                    "role `{r}` comes only through a team; it counts here, but whether Dynamics honours it for mailbox approval is not documented"
                ));
            }
        }
        // Directory roles.
        let mut dir_roles: Vec<String> = Vec::new();
        if let Some(o) = &object_id
            && let Some(rs) = directory.get(o)
        {
            matched_principals.insert(o.clone());
            dir_roles.clone_from(rs);
        }
        dir_roles.sort();
        dir_roles.dedup();
        // Effective privileges (RetrieveUserSetOfPrivilegesByNames).
        let pfile = BundleFile::read(dir, &format!("privileges/{id}.json"))?;
        let prow = pfile.object()?;
        let mut privileges: Vec<String> = Vec::new();
        for p in pfile.list(pfile.column(&prow, "RolePrivileges")?, "`RolePrivileges`")? {
            let p = pfile.row(p, "each entry of `RolePrivileges`")?;
            let name = pfile.required_string(&p, "PrivilegeName")?;
            if let Some(m) = mapping.privileges.get(&name)
                && !privileges.contains(m)
            {
                privileges.push(m.clone());
            }
        }
        if let Some(raw) = row.get("emailrouteraccessapproval")
            && let Some(i) = ufile.int(raw, "emailrouteraccessapproval")?
            && let Some(t) = mapping.approval_values.get(&i)
        {
            approval.insert(key.clone(), t.clone());
        }
        let mut attrs = Attrs::default();
        attrs.push("security_roles", Arg::List(roles));
        attrs.push("directory_roles", Arg::List(dir_roles));
        attrs.push("privileges", Arg::List(privileges));
        by_id.insert(key, users.len());
        users.push(User {
            id,
            upn_key: upn.to_lowercase(),
            upn,
            attrs,
            team_roles,
            warnings,
        });
    }
    if !unknown_roles.is_empty() {
        let names: Vec<String> = unknown_roles
            .iter()
            .map(|(n, c)| format!("{n} ({c})"))
            .collect();
        cx.warnings.push(format!(
            "security roles not in the schema are ignored: {}",
            names.join(", ")
        ));
    }
    let unmatched = principals.len() - matched_principals.len().min(principals.len());
    if unmatched > 0 {
        cx.warnings.push(format!(
            "{unmatched} principal(s) hold Global, Exchange or Power Platform Administrator but are not users of this export (groups, service principals or unlicensed users); their members are not counted"
        ));
    }
    Ok((
        Users {
            list: users,
            by_id,
            approval,
        },
        team_ids,
    ))
}

fn profile_of(file: &BundleFile, row: &Row<'_>, cx: &mut Ctx<'_>) -> Result<Profile, AuditError> {
    let m = cx.mapping;
    let id = file.required_string(row, "emailserverprofileid")?;
    let name = file.opt_string(row, "name")?.unwrap_or_else(|| id.clone());
    let active_raw = file.column(row, &m.profile_active.column)?;
    let active = match (
        file.int(active_raw, &m.profile_active.column)?,
        &m.profile_active.values,
    ) {
        (Some(i), Some(values)) => match values.get(&i) {
            Some(Target::Bool(b)) => *b,
            _ => {
                return Err(file.error(
                    active_raw,
                    format!(
                        "option value {i} of column `{}` is not in the mapping",
                        m.profile_active.column
                    ),
                ));
            }
        },
        _ => false,
    };
    if let Some(t) = cx.opts.servers.get(&id.to_lowercase()) {
        return Ok(Profile {
            id,
            name,
            server: Some(t.clone()),
            evidence: "--server override".to_owned(),
            active,
        });
    }
    let raw = file.column(row, &m.server_column)?;
    let Some(st) = file.int(raw, &m.server_column)? else {
        return Ok(Profile {
            id,
            name,
            server: None,
            evidence: format!("`{}` is empty", m.server_column),
            active,
        });
    };
    let (server, evidence) = match m.server_values.get(&st) {
        Some(ServerRule::Fixed(t)) => (t.clone(), format!("{} {st}", m.server_column)),
        Some(ServerRule::ByCredentials) => {
            let craw = file.column(row, &m.credential_column)?;
            let c = file.int(craw, &m.credential_column)?;
            let t = c
                .and_then(|c| m.credential_values.get(&c))
                .unwrap_or(&m.credential_otherwise)
                .clone();
            let c = c.map_or_else(|| "empty".to_owned(), |c| c.to_string());
            (
                t,
                format!("{} {st} with {} {c}", m.server_column, m.credential_column),
            )
        }
        None => {
            let mut known: Vec<i64> = m.server_values.keys().copied().collect();
            known.sort_unstable();
            let known: Vec<String> = known.iter().map(i64::to_string).collect();
            return Err(file.error(
                raw,
                format!(
                    "option value {st} of column `{}` is not in the mapping (known: {}); add it to `server_profile.server` in {}, or pass --server {id}=TYPE",
                    m.server_column,
                    known.join(", "),
                    super::mapping::MAPPING_FILE
                ),
            ));
        }
    };
    Ok(Profile {
        id,
        name,
        server: Some(server),
        evidence,
        active,
    })
}

#[allow(clippy::too_many_lines, reason = "one pass over the mailbox rows")]
fn read_mailboxes(
    dir: &BundleSource,
    cx: &mut Ctx<'_>,
    users: &Users,
    team_ids: &FxHashMap<String, usize>,
) -> Result<Vec<Mailbox>, AuditError> {
    // Profiles from emailserverprofiles.json, when the export has it.
    let mut profiles: FxHashMap<String, Profile> = FxHashMap::default();
    if let Some(pf) = BundleFile::read_optional(dir, "emailserverprofiles.json")? {
        for row in pf.rows()? {
            let p = profile_of(&pf, &row, cx)?;
            profiles.insert(p.id.to_lowercase(), p);
        }
    }
    // Queue copies of the approval status, when the export has queues.json.
    let mut queue_approval: FxHashMap<String, Target> = FxHashMap::default();
    if let Some(qf) = BundleFile::read_optional(dir, "queues.json")? {
        for row in qf.rows()? {
            let id = qf.required_string(&row, "queueid")?.to_lowercase();
            if let Some(raw) = row.get("emailrouteraccessapproval")
                && let Some(i) = qf.int(raw, "emailrouteraccessapproval")?
                && let Some(t) = cx.mapping.approval_values.get(&i)
            {
                queue_approval.insert(id, t.clone());
            }
        }
    }
    let file = BundleFile::read(dir, "mailboxes.json")?;
    let mapping = cx.mapping;
    let maps = mapping.mailbox.clone();
    let mut out = Vec::new();
    for row in file.rows()? {
        let mut warnings = Vec::new();
        let id = file.required_string(&row, "mailboxid")?;
        let email = file.string(file.column(&row, "emailaddress")?, "emailaddress")?;
        let email = email.unwrap_or_else(|| {
            warnings.push("the mailbox has no email address".to_owned());
            String::new()
        });
        let name = file
            .opt_string(&row, "name")?
            .unwrap_or_else(|| email.clone());
        // Whose mailbox.
        let forward = file.bool(file.column(&row, "isforwardmailbox")?, "isforwardmailbox")?;
        let regarding = file.string(
            file.column(&row, "_regardingobjectid_value")?,
            "_regardingobjectid_value",
        )?;
        let owner_kind = if forward == Some(true) {
            Some(mapping.forward_kind.clone())
        } else if let Some(reg) = &regarding {
            let ty = match lookup_type(&file, &row, "_regardingobjectid_value")? {
                Some(t) => Some(t),
                None => file.opt_string(&row, "regardingobjecttypecode")?,
            };
            let ty = ty.or_else(|| {
                users
                    .by_id
                    .contains_key(&reg.to_lowercase())
                    .then(|| "systemuser".to_owned())
            });
            match ty.as_deref().and_then(|t| mapping.regarding_kinds.get(t)) {
                Some(k) => Some(k.clone()),
                None => {
                    warnings.push(format!(
                        "cannot tell whose mailbox this is (regarding record type {}); export with `Prefer: odata.include-annotations=\"*\"`",
                        ty.as_deref().unwrap_or("unknown")
                    ));
                    None
                }
            }
        } else {
            warnings.push(
                "the mailbox has no regarding user or queue and is not a forward mailbox"
                    .to_owned(),
            );
            None
        };
        // Server profile: expanded, or by id from emailserverprofiles.json.
        let profile = match row.get("emailserverprofile").filter(|r| r.get() != "null") {
            Some(raw) => {
                let prow = file.row(raw, "`emailserverprofile`")?;
                Some(profile_of(&file, &prow, cx)?)
            }
            None => {
                let praw = file.column(&row, "_emailserverprofile_value")?;
                match file.string(praw, "_emailserverprofile_value")? {
                    None => None,
                    Some(pid) => match profiles.get(&pid.to_lowercase()) {
                        Some(p) => Some(p.clone()),
                        None => {
                            return Err(file.error(
                                praw,
                                format!("the mailbox's server profile {pid} is neither expanded (`$expand=emailserverprofile`) nor in emailserverprofiles.json"),
                            ));
                        }
                    },
                }
            }
        };
        let mut attrs = Attrs::default();
        if let Some(k) = &owner_kind {
            attrs.push("owner_kind", Arg::Text(k.clone()));
        }
        match &profile {
            None => {
                attrs.push("has_profile", Arg::Bool(false));
                attrs.push("profile_active", Arg::Bool(false));
                warnings.push("no email server profile: every workload is blocked until one is assigned (the server type, and so who may approve, is unknown)".to_owned());
            }
            Some(p) => {
                attrs.push("has_profile", Arg::Bool(true));
                attrs.push("profile_active", Arg::Bool(p.active));
                if let Some(s) = &p.server {
                    attrs.push("server", Arg::Text(s.clone()));
                }
                if !p.active {
                    warnings.push(format!(
                        "the email server profile `{}` is inactive (the profile exists: activate it, or assign an active one)",
                        p.name
                    ));
                }
            }
        }
        cx.columns(&file, &row, &maps, &mut attrs, &mut warnings)?;
        // The three places approval is recorded.
        let mailbox_approval = match (
            row.get("emailrouteraccessapproval"),
            &mapping.approval_values,
        ) {
            (Some(raw), values) => file
                .int(raw, "emailrouteraccessapproval")?
                .and_then(|i| values.get(&i).cloned()),
            _ => None,
        };
        if let (Some(reg), Some(mine)) = (&regarding, &mailbox_approval) {
            let other = users
                .approval
                .get(&reg.to_lowercase())
                .map(|t| ("user", t))
                .or_else(|| {
                    queue_approval
                        .get(&reg.to_lowercase())
                        .map(|t| ("queue", t))
                });
            if let Some((kind, t)) = other
                && t != mine
            {
                warnings.push(format!(
                        "approval is recorded differently: the mailbox says {}, its {kind} record says {}",
                        target_text(mine),
                        target_text(t)
                    ));
            }
        }
        match row.get("isemailaddressapprovedbyo365admin") {
            None => cx.missing_optional(
                &file,
                "isemailaddressapprovedbyo365admin",
                "the Microsoft 365 administrator approval flag is not compared",
            ),
            Some(raw) => {
                let flag = file.bool(raw, "isemailaddressapprovedbyo365admin")?;
                let exo =
                    profile.as_ref().and_then(|p| p.server.as_deref()) == Some("exchange_online");
                let approved = mailbox_approval == Some(Target::Member("approved".to_owned()));
                if exo && flag.is_some() && flag != Some(approved) {
                    warnings.push(format!(
                        "approval is recorded differently: the mailbox says {}, but isemailaddressapprovedbyo365admin is {} (approved through the API, or approved before the address changed?)",
                        mailbox_approval.as_ref().map_or("nothing", target_text),
                        flag.unwrap_or(false)
                    ));
                }
            }
        }
        if row.get("_emailaddressapprovedby_value").is_none() {
            cx.missing_optional(&file, "emailaddressapprovedby", "who approved is not shown");
        }
        // A queue mailbox owned by a team.
        if owner_kind.as_deref() == Some("queue") {
            let owner = file.opt_string(&row, "_ownerid_value")?;
            let owner_type = lookup_type(&file, &row, "_ownerid_value")?;
            let team = owner_type.as_deref() == Some("team")
                || owner
                    .as_ref()
                    .is_some_and(|o| team_ids.contains_key(&o.to_lowercase()));
            if team {
                warnings.push("the queue's mailbox is owned by a team: Test & Enable needs the team to hold a role with mailbox privileges (error 8005E259)".to_owned());
            }
        }
        out.push(Mailbox {
            id,
            name,
            email_key: email.to_lowercase(),
            email,
            owner_kind,
            attrs,
            profile,
            warnings,
        });
    }
    Ok(out)
}

fn target_text(t: &Target) -> &str {
    match t {
        Target::Member(m) => m,
        Target::Bool(true) => "true",
        Target::Bool(false) => "false",
    }
}
