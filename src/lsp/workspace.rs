//! One policy set as the editor sees it: the files on disk with the open buffers in their
//! place, loaded by the same loader as `mailgate check`, plus what the editor features
//! need to answer questions (the schema, where each name is declared in `schema.yaml`, and
//! the parsed policy files).

use crate::ast::{InvariantDecl, Item, LetDecl, PolicyFile, RuleDecl};
use crate::compile::CompiledSet;
use crate::diagnostics::Diagnostic;
use crate::policy_set::{self, Origin, RawFile};
use crate::schema::{self, Schema};
use crate::source::{FileId, SourceMap, Span};
use crate::syntax;
use crate::yaml::{self, Node, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A loaded policy set (loaded even when it has errors).
#[derive(Debug)]
pub(crate) struct Analysis {
    /// The policy folder.
    pub(crate) root: PathBuf,
    /// Every file that was read, under its path.
    pub(crate) sources: SourceMap,
    /// What `mailgate check` reports for the set.
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// `schema.yaml`, when it could be read.
    pub(crate) schema_file: Option<FileId>,
    /// The schema, when it loaded.
    pub(crate) schema: Option<Schema>,
    /// Where names are declared in `schema.yaml`.
    pub(crate) index: SchemaIndex,
    /// The items of each policy file that parsed.
    pub(crate) policies: Vec<PolicyFile>,
    /// The compiled set, when the set loaded without errors (scenario files are decided
    /// with it).
    pub(crate) set: Option<CompiledSet>,
}

impl Analysis {
    /// Loads the set in `root`, with `overlay` (path → text of an open buffer) in place of
    /// the files on disk. Buffers under `root` that are not on disk yet join the set, where
    /// the folder walk would find them (not under a folder starting with `.`).
    pub(crate) fn load(root: &Path, overlay: &HashMap<PathBuf, String>) -> Analysis {
        let (diagnostics, sources, set) = match policy_set::policy_files(&Origin::Dir(root.into()))
        {
            Ok((schema_raw, mut policy_raws)) => {
                let schema_raw = apply(schema_raw, overlay);
                let mut seen: Vec<PathBuf> =
                    policy_raws.iter().map(|r| PathBuf::from(&r.name)).collect();
                policy_raws = policy_raws.into_iter().map(|r| apply(r, overlay)).collect();
                for (path, text) in overlay {
                    let is_policy = path.extension().is_some_and(|e| e == "policy");
                    if is_policy && crate::files::walk_reaches(root, path) && !seen.contains(path) {
                        seen.push(path.clone());
                        policy_raws.push(RawFile {
                            name: path.display().to_string(),
                            bytes: Ok(text.clone().into_bytes()),
                        });
                    }
                }
                policy_raws.sort_by(|a, b| crate::files::load_order(&a.name, &b.name));
                match policy_set::load_files(schema_raw, policy_raws) {
                    Ok(loaded) => {
                        // The lints, as `check` reports them.
                        let mut diags = loaded.warnings;
                        let report = crate::analysis::lint::lint(&loaded.set, &loaded.validated);
                        diags.extend(
                            report
                                .lints
                                .iter()
                                .map(crate::analysis::lint::Lint::to_diagnostic),
                        );
                        let sources = loaded.set.sources().clone();
                        (diags, sources, Some(loaded.set))
                    }
                    Err(failure) => (failure.diagnostics, failure.sources, None),
                }
            }
            Err(d) => (vec![*d], SourceMap::new(), None),
        };
        let schema_name = root.join("schema.yaml").display().to_string();
        let schema_file = sources
            .files()
            .find(|(_, f)| f.name == schema_name)
            .map(|(id, _)| id);
        let schema = schema_file.and_then(|id| schema::load(id, sources.get(id)).ok());
        let index = schema_file
            .map(|id| SchemaIndex::build(id, &sources.get(id).text))
            .unwrap_or_default();
        let policies = sources
            .files()
            .filter(|(id, _)| Some(*id) != schema_file)
            .map(|(id, f)| syntax::parse(id, &f.text).file)
            .collect();
        Analysis {
            root: root.to_path_buf(),
            sources,
            diagnostics,
            schema_file,
            schema,
            index,
            policies,
            set,
        }
    }

    /// Every `let` of the set.
    pub(crate) fn lets(&self) -> impl Iterator<Item = &LetDecl> {
        self.policies
            .iter()
            .flat_map(|p| &p.items)
            .filter_map(|i| match i {
                Item::Let(l) => Some(l),
                Item::Rule(_) | Item::Invariant(_) => None,
            })
    }

    /// Every rule of the set.
    pub(crate) fn rules(&self) -> impl Iterator<Item = &RuleDecl> {
        self.policies
            .iter()
            .flat_map(|p| &p.items)
            .filter_map(|i| match i {
                Item::Rule(r) => Some(r),
                Item::Let(_) | Item::Invariant(_) => None,
            })
    }

    /// Every invariant of the set.
    pub(crate) fn invariants(&self) -> impl Iterator<Item = &InvariantDecl> {
        self.policies
            .iter()
            .flat_map(|p| &p.items)
            .filter_map(|i| match i {
                Item::Invariant(v) => Some(v),
                Item::Let(_) | Item::Rule(_) => None,
            })
    }

    /// The invariant with id `id`.
    pub(crate) fn find_invariant(&self, id: &str) -> Option<&InvariantDecl> {
        self.invariants().find(|v| v.id.name == id)
    }

    /// The `let` called `name`.
    pub(crate) fn find_let(&self, name: &str) -> Option<&LetDecl> {
        self.lets().find(|l| l.name.name == name)
    }

    /// The rule with id `id`.
    pub(crate) fn find_rule(&self, id: &str) -> Option<&RuleDecl> {
        self.rules().find(|r| r.id.name == id)
    }
}

fn apply(raw: RawFile, overlay: &HashMap<PathBuf, String>) -> RawFile {
    match overlay.get(Path::new(&raw.name)) {
        Some(text) => RawFile {
            name: raw.name,
            bytes: Ok(text.clone().into_bytes()),
        },
        None => raw,
    }
}

/// Where each name is declared in `schema.yaml`: the span of its key (or, for an enum
/// member, of the member).
#[derive(Debug, Default)]
pub(crate) struct SchemaIndex {
    /// Enum name → its key and its members.
    pub(crate) enums: HashMap<String, (Span, Vec<(String, Span)>)>,
    /// Entity type (and the context, under its `name`) → its key and its attributes.
    pub(crate) entities: HashMap<String, (Span, HashMap<String, Span>)>,
    /// Action name → its key and its parameters.
    pub(crate) actions: HashMap<String, (Span, HashMap<String, Span>)>,
}

fn map(node: &Node) -> &[(Node, Node)] {
    match &node.value {
        Value::Map(entries) => entries,
        _ => &[],
    }
}

fn get<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    map(node)
        .iter()
        .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))
        .map(|(_, v)| v)
}

fn keys(file: FileId, node: Option<&Node>) -> HashMap<String, Span> {
    node.map(map)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, _)| match &k.value {
            Value::Str(s) => Some((s.clone(), k.span(file))),
            _ => None,
        })
        .collect()
}

impl SchemaIndex {
    /// Reads the positions from the schema's text (any part that does not have the
    /// expected shape is left out; the loader reports it).
    pub(crate) fn build(file: FileId, text: &str) -> SchemaIndex {
        let mut index = SchemaIndex::default();
        let Ok(root) = yaml::parse(file, text) else {
            return index;
        };
        for (k, v) in map(&root) {
            let Value::Str(section) = &k.value else {
                continue;
            };
            match section.as_str() {
                "enums" => {
                    for (name, body) in map(v) {
                        let Value::Str(name_text) = &name.value else {
                            continue;
                        };
                        let members = match &body.value {
                            Value::Seq(items) => items
                                .iter()
                                .filter_map(|m| match &m.value {
                                    Value::Str(s) => Some((s.clone(), m.span(file))),
                                    _ => None,
                                })
                                .collect(),
                            _ => Vec::new(),
                        };
                        index
                            .enums
                            .insert(name_text.clone(), (name.span(file), members));
                    }
                }
                "entities" => {
                    for (name, body) in map(v) {
                        if let Value::Str(n) = &name.value {
                            let attrs = keys(file, get(body, "attributes"));
                            index.entities.insert(n.clone(), (name.span(file), attrs));
                        }
                    }
                }
                "context" => {
                    if let Some(Value::Str(n)) = get(v, "name").map(|n| &n.value) {
                        let attrs = keys(file, get(v, "attributes"));
                        index.entities.insert(n.clone(), (k.span(file), attrs));
                    }
                }
                "actions" => {
                    for (name, body) in map(v) {
                        if let Value::Str(n) = &name.value {
                            let params = keys(file, get(body, "params"));
                            index.actions.insert(n.clone(), (name.span(file), params));
                        }
                    }
                }
                _ => {}
            }
        }
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_in_the_folder_order() {
        let root = std::env::temp_dir().join(format!("mailgate-lsp-order-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("a")).unwrap();
        let schema = include_str!("../../policies/schema.yaml");
        std::fs::write(root.join("schema.yaml"), schema).unwrap();
        std::fs::write(root.join("a.policy"), "").unwrap();
        std::fs::write(root.join("a/b.policy"), "").unwrap();
        let analysis = Analysis::load(&root, &HashMap::new());
        let names: Vec<String> = analysis
            .sources
            .files()
            .map(|(_, f)| f.name.clone())
            .collect();
        let _ = std::fs::remove_dir_all(&root);
        let expected: Vec<String> = ["schema.yaml", "a/b.policy", "a.policy"]
            .iter()
            .map(|n| root.join(n).display().to_string())
            .collect();
        assert_eq!(names, expected);
    }
}
