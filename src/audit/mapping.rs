//! The Dataverse mapping (`dataverse-mapping.yaml` beside the schema): which export column
//! and option value becomes which schema attribute and enum member. Loaded strictly
//! against the schema, like the schema itself: every problem is reported with its line
//! and column, all at once.

use crate::diagnostics::{Diagnostic, render_all};
use crate::policy_set::{self, Origin, RawFile};
use crate::schema::{EntityDef, Schema, Type};
use crate::source::{FileId, SourceMap};
use crate::yaml::{self, Fields, Node, Value};
use rustc_hash::FxHashMap;

/// The mapping file's name, beside `schema.yaml`.
pub const MAPPING_FILE: &str = "dataverse-mapping.yaml";

/// The shipped mapping, for the built-in policy set.
const EMBEDDED: &str = include_str!("../../policies/dataverse-mapping.yaml");

/// What a cell becomes: an enum member's name, or a boolean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An enum member (by name; the schema has checked it).
    Member(String),
    /// A boolean.
    Bool(bool),
}

/// One attribute read from one column.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    /// The schema attribute.
    pub attr: String,
    /// The export column (logical name).
    pub column: String,
    /// Option value → target; `None` for a bool attribute read as a JSON boolean.
    pub values: Option<FxHashMap<i64, Target>>,
    /// The column may be absent from the export.
    pub optional: bool,
}

/// How a profile's `servertype` becomes a server type.
#[derive(Debug, Clone)]
pub enum ServerRule {
    /// This server type.
    Fixed(String),
    /// Decided by the credential retrieval column.
    ByCredentials,
}

/// The whole mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Mailbox attributes read from mailbox columns.
    pub mailbox: Vec<ColumnMap>,
    /// Context attributes read from organization columns.
    pub org: Vec<ColumnMap>,
    /// Context attributes read from `orgdborgsettings` elements: (attribute, element).
    pub org_settings: Vec<(String, String)>,
    /// The profile column that gives the server type.
    pub server_column: String,
    /// `servertype` value → rule.
    pub server_values: FxHashMap<i64, ServerRule>,
    /// The credential column for [`ServerRule::ByCredentials`].
    pub credential_column: String,
    /// Credential value → server type.
    pub credential_values: FxHashMap<i64, String>,
    /// The server type for any other credential value.
    pub credential_otherwise: String,
    /// The profile's active flag.
    pub profile_active: ColumnMap,
    /// `owner_kind` member of a forward mailbox.
    pub forward_kind: String,
    /// Regarding record type (`systemuser`, `queue`) → `owner_kind` member.
    pub regarding_kinds: FxHashMap<String, String>,
    /// Role template id (lowercase) → security role.
    pub role_templates: FxHashMap<String, String>,
    /// Role name → security role.
    pub role_names: FxHashMap<String, String>,
    /// Directory role template id (lowercase) → directory role.
    pub directory_roles: FxHashMap<String, String>,
    /// Privilege name → privilege.
    pub privileges: FxHashMap<String, String>,
    /// The mapping's own `approval` values, for the user and queue copies of the status.
    pub approval_values: FxHashMap<i64, Target>,
}

/// Reads the mapping of a policy set (the folder's `dataverse-mapping.yaml`, or the
/// built-in one) and checks it against `schema`. Errors come back rendered.
pub fn load(origin: &Origin, schema: &Schema) -> Result<Mapping, String> {
    let raw = match origin {
        Origin::Dir(dir) => {
            let path = dir.join(MAPPING_FILE);
            if !path.is_file() {
                return Err(format!(
                    "error: no `{MAPPING_FILE}` in the policy folder `{}`: mailgate audit needs it to read an export",
                    dir.display()
                ));
            }
            policy_set::read_raw(&path)
        }
        Origin::Embedded => RawFile {
            name: format!("policies/{MAPPING_FILE}"),
            bytes: Ok(EMBEDDED.as_bytes().to_vec()),
        },
    };
    let mut sources = SourceMap::new();
    let id = policy_set::decode(raw, &mut sources).map_err(|d| render_all(&[*d], &sources))?;
    let mut loader = Loader {
        file: id,
        schema,
        diags: Vec::new(),
    };
    let text = sources.get(id).text.clone();
    let mapping = match yaml::parse(id, &text) {
        Ok(node) => loader.mapping(&node),
        Err(e) => {
            loader
                .diags
                .push(Diagnostic::error(e.message.clone(), e.span, ""));
            None
        }
    };
    match mapping {
        Some(m) if loader.diags.is_empty() => Ok(m),
        _ => Err(render_all(&loader.diags, &sources)),
    }
}

struct Loader<'s> {
    file: FileId,
    schema: &'s Schema,
    diags: Vec<Diagnostic>,
}

impl Loader<'_> {
    fn err(&mut self, node: &Node, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(message, node.span(self.file), ""));
    }

    fn shape(&mut self, e: &yaml::ShapeError) {
        self.diags.push(e.to_diagnostic());
    }

    fn fields<'n>(&mut self, node: &'n Node, what: &str) -> Option<Fields<'n>> {
        match Fields::new(self.file, node, what) {
            Ok(f) => Some(f),
            Err(e) => {
                self.shape(&e);
                None
            }
        }
    }

    fn finish(&mut self, f: Fields<'_>, allowed: &[&str]) {
        for e in f.finish(allowed) {
            self.shape(&e);
        }
    }

    fn require<'n>(&mut self, f: &mut Fields<'n>, key: &str, ctx: &str) -> Option<&'n Node> {
        match f.require(key, ctx) {
            Ok(n) => Some(n),
            Err(e) => {
                self.shape(&e);
                None
            }
        }
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match yaml::string(self.file, node, what) {
            Ok(s) => Some(s.to_owned()),
            Err(e) => {
                self.shape(&e);
                None
            }
        }
    }

    /// `{ KEY: VALUE }` with text keys (ids and names), in source order.
    fn string_map(&mut self, node: &Node, what: &str) -> Vec<(String, Node, Node)> {
        let Value::Map(entries) = &node.value else {
            let e = yaml::expect(self.file, node, what);
            self.shape(&e);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            if let Some(key) = self.string(k, "a text key") {
                out.push((key, k.clone(), v.clone()));
            }
        }
        out
    }

    /// A member of the enum of `attr` (an attribute of `entity` of enum type).
    fn member(&mut self, enum_ty: Type, node: &Node) -> Option<String> {
        let (Type::Enum(e) | Type::Set(e)) = enum_ty else {
            return None;
        };
        let text = self.string(node, "an enum member")?;
        match self.schema.enum_member(e, &text) {
            Ok(_) => Some(text),
            Err(err) => {
                self.diags.push(
                    Diagnostic::error(err.to_string(), node.span(self.file), "")
                        .with_help_opt(err.help()),
                );
                None
            }
        }
    }

    fn attr_type(&mut self, entity: &EntityDef, key: &Node, name: &str) -> Option<Type> {
        if let Some(i) = entity.attr(name) {
            return Some(entity.attrs[i].ty);
        }
        let help = entity.suggest_attr(name);
        self.diags.push(
            Diagnostic::error(
                format!(
                    "`{name}` is not an attribute of `{}` in the schema",
                    entity.name
                ),
                key.span(self.file),
                "",
            )
            .with_help_opt(help),
        );
        None
    }

    fn mapping(&mut self, node: &Node) -> Option<Mapping> {
        const KEYS: &[&str] = &[
            "mailbox",
            "server_profile",
            "owner_kind",
            "org",
            "org_settings",
            "security_roles",
            "directory_roles",
            "privileges",
        ];
        let mut f = self.fields(node, "a map of mapping sections")?;
        let schema = self.schema;
        let mailbox_entity = schema
            .entities
            .iter()
            .find(|e| e.name == "mailbox")
            .cloned();
        let Some(mailbox_entity) = mailbox_entity else {
            self.err(
                node,
                "the schema has no `mailbox` entity, which the audit reads",
            );
            return None;
        };
        let user_entity = schema.entities.iter().find(|e| e.name == "user").cloned();
        let Some(user_entity) = user_entity else {
            self.err(
                node,
                "the schema has no `user` entity, which the audit reads",
            );
            return None;
        };
        let org_entity = schema.context().clone();
        let mailbox_n = self.require(&mut f, "mailbox", "");
        let server_n = self.require(&mut f, "server_profile", "");
        let owner_n = self.require(&mut f, "owner_kind", "");
        let org_n = self.require(&mut f, "org", "");
        let settings_n = f.take("org_settings");
        let roles_n = self.require(&mut f, "security_roles", "");
        let dir_n = self.require(&mut f, "directory_roles", "");
        let priv_n = self.require(&mut f, "privileges", "");
        self.finish(f, KEYS);

        let mailbox = mailbox_n
            .map(|n| self.column_maps(n, &mailbox_entity))
            .unwrap_or_default();
        let org = org_n
            .map(|n| self.column_maps(n, &org_entity))
            .unwrap_or_default();
        let mut org_settings = Vec::new();
        if let Some(n) = settings_n {
            for (attr, k, v) in self.string_map(n, "a map of attribute: element") {
                if let Some(ty) = self.attr_type(&org_entity, &k, &attr)
                    && ty != Type::Bool
                {
                    self.err(
                        &k,
                        format!("`{attr}` must be a bool attribute to come from an org setting"),
                    );
                }
                if let Some(el) = self.string(&v, "an element name") {
                    org_settings.push((attr, el));
                }
            }
        }
        for required in [
            "owner_kind",
            "email",
            "server",
            "has_profile",
            "profile_active",
        ] {
            if mailbox_entity.attr(required).is_none() {
                self.err(node, format!("the schema's `mailbox` has no `{required}` attribute, which the audit fills"));
            }
        }
        for required in ["security_roles", "directory_roles", "privileges", "upn"] {
            if user_entity.attr(required).is_none() {
                self.err(
                    node,
                    format!(
                        "the schema's `user` has no `{required}` attribute, which the audit fills"
                    ),
                );
            }
        }
        let ty = |e: &EntityDef, a: &str| e.attr(a).map(|i| e.attrs[i].ty);
        let server_ty = ty(&mailbox_entity, "server")?;
        let owner_ty = ty(&mailbox_entity, "owner_kind")?;
        let server = self.server_profile(server_n?, server_ty, &mailbox_entity);
        let (forward_kind, regarding_kinds) = self.owner_kind(owner_n?, owner_ty)?;
        let (role_templates, role_names) =
            self.security_roles(roles_n?, ty(&user_entity, "security_roles")?);
        let directory_roles = self.name_map(dir_n?, ty(&user_entity, "directory_roles")?, true);
        let privileges = self.name_map(priv_n?, ty(&user_entity, "privileges")?, false);
        let (
            server_column,
            server_values,
            credential_column,
            credential_values,
            credential_otherwise,
            profile_active,
        ) = server?;
        let approval_values = mailbox
            .iter()
            .find(|m| m.attr == "approval")
            .and_then(|m| m.values.clone())
            .unwrap_or_default();
        if !self.diags.is_empty() {
            return None;
        }
        Some(Mapping {
            mailbox,
            org,
            org_settings,
            server_column,
            server_values,
            credential_column,
            credential_values,
            credential_otherwise,
            profile_active,
            forward_kind,
            regarding_kinds,
            role_templates,
            role_names,
            directory_roles,
            privileges,
            approval_values,
        })
    }

    fn column_maps(&mut self, node: &Node, entity: &EntityDef) -> Vec<ColumnMap> {
        let mut out = Vec::new();
        for (attr, k, v) in self.string_map(node, "a map of attribute: { column, values }") {
            let Some(ty) = self.attr_type(entity, &k, &attr) else {
                continue;
            };
            if let Some(m) = self.column_map(&attr, ty, &v) {
                out.push(m);
            }
        }
        out
    }

    fn column_map(&mut self, attr: &str, ty: Type, node: &Node) -> Option<ColumnMap> {
        let mut f = self.fields(node, "a map with `column` and `values`")?;
        let column = self.require(&mut f, "column", "");
        let values = f.take("values");
        let optional = f.take("optional");
        self.finish(f, &["column", "values", "optional"]);
        let column = self.string(column?, "a column name")?;
        let optional = match optional.map(|n| &n.value) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.err(optional?, "`optional` must be true or false");
                false
            }
        };
        let values = match (ty, values) {
            (Type::Enum(_) | Type::Bool, Some(v)) => Some(self.values(v, ty)?),
            (Type::Enum(_), None) => {
                self.err(
                    node,
                    format!("`{attr}` is an enum: list its option `values`"),
                );
                return None;
            }
            (Type::Bool, None) => None,
            (other, _) => {
                let name = self.schema.type_name(other);
                self.err(
                    node,
                    format!(
                        "`{attr}` is of type `{name}`; a column maps to an enum or a bool attribute"
                    ),
                );
                return None;
            }
        };
        Some(ColumnMap {
            attr: attr.to_owned(),
            column,
            values,
            optional,
        })
    }

    /// `{ INT: member-or-bool }`.
    fn values(&mut self, node: &Node, ty: Type) -> Option<FxHashMap<i64, Target>> {
        let Value::Map(entries) = &node.value else {
            let e = yaml::expect(self.file, node, "a map of option value: member");
            self.shape(&e);
            return None;
        };
        let mut out = FxHashMap::default();
        for (k, v) in entries {
            let Value::Int(i) = k.value else {
                self.err(
                    k,
                    format!("expected an integer option value, found {}", k.kind()),
                );
                continue;
            };
            let target = match (ty, &v.value) {
                (Type::Bool, Value::Bool(b)) => Target::Bool(*b),
                (Type::Bool, _) => {
                    self.err(v, "expected true or false");
                    continue;
                }
                _ => match self.member(ty, v) {
                    Some(m) => Target::Member(m),
                    None => continue,
                },
            };
            if out.insert(i, target).is_some() {
                self.err(k, format!("option value {i} is listed twice"));
            }
        }
        Some(out)
    }

    #[allow(
        clippy::type_complexity,
        reason = "a private tuple of the section's parts"
    )]
    fn server_profile(
        &mut self,
        node: &Node,
        server_ty: Type,
        mailbox: &EntityDef,
    ) -> Option<(
        String,
        FxHashMap<i64, ServerRule>,
        String,
        FxHashMap<i64, String>,
        String,
        ColumnMap,
    )> {
        let mut f = self.fields(
            node,
            "a map with `server`, `by_credentials` and `profile_active`",
        )?;
        let server = self.require(&mut f, "server", "");
        let creds = self.require(&mut f, "by_credentials", "");
        let active = self.require(&mut f, "profile_active", "");
        self.finish(f, &["server", "by_credentials", "profile_active"]);
        // server: { column, values: { INT: member | by_credentials } }
        let mut sf = self.fields(server?, "a map with `column` and `values`")?;
        let scol = self.require(&mut sf, "column", "");
        let svals = self.require(&mut sf, "values", "");
        self.finish(sf, &["column", "values"]);
        let server_column = self.string(scol?, "a column name")?;
        let mut server_values = FxHashMap::default();
        if let Some(Value::Map(entries)) = svals.map(|n| &n.value) {
            for (k, v) in entries {
                let Value::Int(i) = k.value else {
                    self.err(
                        k,
                        format!("expected an integer option value, found {}", k.kind()),
                    );
                    continue;
                };
                let rule = if matches!(&v.value, Value::Str(s) if s == "by_credentials") {
                    ServerRule::ByCredentials
                } else {
                    match self.member(server_ty, v) {
                        Some(m) => ServerRule::Fixed(m),
                        None => continue,
                    }
                };
                server_values.insert(i, rule);
            }
        } else if let Some(n) = svals {
            self.err(n, "expected a map of option value: server type");
        }
        let mut cf = self.fields(creds?, "a map with `column`, `values` and `otherwise`")?;
        let ccol = self.require(&mut cf, "column", "");
        let cvals = self.require(&mut cf, "values", "");
        let cother = self.require(&mut cf, "otherwise", "");
        self.finish(cf, &["column", "values", "otherwise"]);
        let credential_column = self.string(ccol?, "a column name")?;
        let credential_values = self
            .values(cvals?, server_ty)?
            .into_iter()
            .filter_map(|(k, t)| match t {
                Target::Member(m) => Some((k, m)),
                Target::Bool(_) => None,
            })
            .collect();
        let credential_otherwise = self.member(server_ty, cother?)?;
        let active_ty = mailbox
            .attr("profile_active")
            .map(|i| mailbox.attrs[i].ty)?;
        let profile_active = self.column_map("profile_active", active_ty, active?)?;
        Some((
            server_column,
            server_values,
            credential_column,
            credential_values,
            credential_otherwise,
            profile_active,
        ))
    }

    fn owner_kind(
        &mut self,
        node: &Node,
        owner_ty: Type,
    ) -> Option<(String, FxHashMap<String, String>)> {
        let mut f = self.fields(node, "a map with `forward` and `regarding`")?;
        let fwd = self.require(&mut f, "forward", "");
        let reg = self.require(&mut f, "regarding", "");
        self.finish(f, &["forward", "regarding"]);
        let forward = self.member(owner_ty, fwd?);
        let mut kinds = FxHashMap::default();
        for (table, _, v) in self.string_map(reg?, "a map of table: owner kind") {
            if let Some(m) = self.member(owner_ty, &v) {
                kinds.insert(table, m);
            }
        }
        Some((forward?, kinds))
    }

    fn security_roles(
        &mut self,
        node: &Node,
        ty: Type,
    ) -> (FxHashMap<String, String>, FxHashMap<String, String>) {
        let Some(mut f) = self.fields(node, "a map with `template_ids` and `names`") else {
            return Default::default();
        };
        let t = f.take("template_ids");
        let n = self.require(&mut f, "names", "");
        self.finish(f, &["template_ids", "names"]);
        let templates = t.map(|t| self.name_map(t, ty, true)).unwrap_or_default();
        let names = n.map(|n| self.name_map(n, ty, false)).unwrap_or_default();
        (templates, names)
    }

    /// `{ name-or-id: member }`; ids are compared in lowercase.
    fn name_map(&mut self, node: &Node, ty: Type, lowercase: bool) -> FxHashMap<String, String> {
        let mut out = FxHashMap::default();
        for (key, k, v) in self.string_map(node, "a map of name: member") {
            let key = if lowercase { key.to_lowercase() } else { key };
            if let Some(m) = self.member(ty, &v)
                && out.insert(key.clone(), m).is_some()
            {
                self.err(&k, format!("`{key}` is listed twice"));
            }
        }
        out
    }
}
