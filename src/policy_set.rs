//! Loading a policy set: find the files, read and decode them, parse, validate against the
//! schema, compile. Every problem in every file is collected; a set with any error is
//! never compiled, so it can never be used for a decision.

use crate::compile::{self, CompiledSet};
use crate::diagnostics::Diagnostic;
use crate::files;
use crate::limits::MAX_FILE_BYTES;
use crate::schema;
use crate::source::{SourceFile, SourceMap};
use crate::syntax;
use crate::validate;
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// Where a policy set comes from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A folder with `schema.yaml` and `*.policy` files at any depth.
    Dir(PathBuf),
    /// The set shipped in the repository, built into the binary.
    Embedded,
}

/// A file of a policy set, read but not yet decoded.
#[derive(Debug, Clone)]
pub struct RawFile {
    /// The name shown to users.
    pub name: String,
    /// The bytes, or the reason they could not be read.
    pub bytes: Result<Vec<u8>, String>,
}

/// A policy set that loaded without errors.
#[derive(Debug)]
pub struct Loaded {
    /// The compiled set, ready to decide.
    pub set: CompiledSet,
    /// The validated form the set was compiled from (rules and invariants, typed), for
    /// analyses that reason about every request rather than decide one.
    pub validated: crate::validate::ValidatedSet,
    /// Warnings found on the way.
    pub warnings: Vec<Diagnostic>,
    /// How many `.policy` files there were.
    pub policy_files: usize,
}

/// A policy set that did not load: every diagnostic, and the sources to render them.
#[derive(Debug)]
pub struct LoadFailure {
    /// The files that were read.
    pub sources: SourceMap,
    /// Errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
}

/// The files of a scenario folder: the policy set's own `scenarios/`.
pub fn scenario_files(origin: &Origin) -> Vec<RawFile> {
    match origin {
        Origin::Dir(dir) => walk(&dir.join("scenarios"), "scenario folder", &|p| {
            has_ext(p, &["yaml", "yml"])
        }),
        Origin::Embedded => embedded::FILES
            .iter()
            .filter(|(name, _)| name.starts_with("scenarios/"))
            .map(|(name, bytes)| RawFile {
                name: format!("policies/{name}"),
                bytes: Ok(bytes.to_vec()),
            })
            .collect(),
    }
}

fn has_ext(p: &Path, exts: &[&str]) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.contains(&e))
}

/// Every file under `dir` (any depth) that `keep` accepts, read, in load order (see
/// [`files::walk`]: hidden entries skipped, each file once, nothing read from an entry
/// that links outside `dir` or is not a regular file). `what` names the folder in errors.
pub fn walk(dir: &Path, what: &str, keep: &dyn Fn(&Path) -> bool) -> Vec<RawFile> {
    files::walk(dir, what, keep)
        .into_iter()
        .map(|f| match f.accepted {
            Ok(_) => read_raw(&f.path),
            Err(e) => RawFile {
                name: f.path.display().to_string(),
                bytes: Err(e),
            },
        })
        .collect()
}

/// Reads a file of at most [`MAX_FILE_BYTES`] bytes (see [`files::read_bounded`]).
pub fn read_raw(path: &Path) -> RawFile {
    RawFile {
        name: path.display().to_string(),
        bytes: files::read_bounded(path, MAX_FILE_BYTES),
    }
}

/// Decodes a file as UTF-8. Invalid UTF-8 is an error that points at the first bad byte;
/// it is never replaced.
pub fn decode(
    raw: RawFile,
    sources: &mut SourceMap,
) -> Result<crate::source::FileId, Box<Diagnostic>> {
    let bytes = raw
        .bytes
        .map_err(|e| Box::new(Diagnostic::file_error(e, raw.name.clone())))?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(sources.add(SourceFile::new(raw.name, text))),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let prefix = String::from_utf8_lossy(&bytes[..valid]).into_owned();
            let id = sources.add(SourceFile::new(raw.name, prefix));
            Err(Box::new(
                Diagnostic::error(
                    "file is not valid UTF-8",
                    crate::source::Span::new(id, valid, valid),
                    "invalid byte here",
                )
                .with_help("policy, schema and scenario files must be UTF-8 text"),
            ))
        }
    }
}

/// The raw files of a policy set: `schema.yaml` first, then `*.policy` in sorted path
/// order.
pub fn policy_files(origin: &Origin) -> Result<(RawFile, Vec<RawFile>), Box<Diagnostic>> {
    match origin {
        Origin::Dir(dir) => {
            if !dir.is_dir() {
                return Err(Box::new(Diagnostic::file_error(
                    "policy folder does not exist",
                    dir.display().to_string(),
                )));
            }
            let schema_path = dir.join("schema.yaml");
            if std::fs::symlink_metadata(&schema_path).is_err() {
                return Err(Box::new(Diagnostic::file_error(
                    "no `schema.yaml` in the policy folder",
                    dir.display().to_string(),
                )));
            }
            let schema = match std::fs::canonicalize(dir)
                .map_err(|e| format!("cannot read folder: {e}"))
                .and_then(|root| files::check_inside(&root, &schema_path, "policy folder"))
            {
                Ok(_) => read_raw(&schema_path),
                Err(e) => RawFile {
                    name: schema_path.display().to_string(),
                    bytes: Err(e),
                },
            };
            Ok((schema, dir_policies(dir)))
        }
        Origin::Embedded => {
            let raw = |(name, bytes): &(&str, &[u8])| RawFile {
                name: format!("policies/{name}"),
                bytes: Ok(bytes.to_vec()),
            };
            let schema = embedded::FILES
                .iter()
                .find(|(n, _)| *n == "schema.yaml")
                .map(raw)
                .ok_or_else(|| {
                    Box::new(Diagnostic::file_error(
                        "the built-in policy set has no schema",
                        "policies",
                    ))
                })?;
            let mut policies: Vec<RawFile> = embedded::FILES
                .iter()
                .filter(|(n, _)| n.ends_with(".policy"))
                .map(raw)
                .collect();
            policies.sort_by(|a, b| files::load_order(&a.name, &b.name));
            Ok((schema, policies))
        }
    }
}

/// Loads, validates and compiles a policy set.
pub fn load(origin: &Origin) -> Result<Loaded, LoadFailure> {
    let mut sources = SourceMap::new();
    let (schema_raw, policy_raws) = policy_files(origin).map_err(|d| LoadFailure {
        sources: SourceMap::new(),
        diagnostics: vec![*d],
    })?;
    let result = load_raw(schema_raw, policy_raws, &mut sources);
    finish(result, sources)
}

/// Loads the policies of `policies` against the schema of `schema_of` (for comparing
/// two versions of a set over one schema): a name the policies use that the schema
/// lacks is an ordinary validation error at its `file:line`.
pub fn load_with_schema(policies: &Origin, schema_of: &Origin) -> Result<Loaded, LoadFailure> {
    let fail = |d: Box<Diagnostic>| LoadFailure {
        sources: SourceMap::new(),
        diagnostics: vec![*d],
    };
    let (schema_raw, _) = policy_files(schema_of).map_err(fail)?;
    // The policies' own folder needs no `schema.yaml`: it would not be read.
    let policy_raws = match policies {
        Origin::Dir(dir) if !dir.is_dir() => {
            return Err(fail(Box::new(Diagnostic::file_error(
                "policy folder does not exist",
                dir.display().to_string(),
            ))));
        }
        Origin::Dir(dir) => dir_policies(dir),
        Origin::Embedded => policy_files(policies).map_err(fail)?.1,
    };
    load_files(schema_raw, policy_raws)
}

/// The `.policy` files under `dir`, in load order.
fn dir_policies(dir: &Path) -> Vec<RawFile> {
    walk(dir, "policy folder", &|p| has_ext(p, &["policy"]))
}

/// Compiles a validated set, or packages the diagnostics of a failed one.
fn finish(
    result: Result<Validated, Vec<Diagnostic>>,
    sources: SourceMap,
) -> Result<Loaded, LoadFailure> {
    match result {
        Ok((validated, warnings, policy_files)) => {
            let set = match compile::compile(&validated, sources.clone()) {
                Ok(set) => set,
                Err(failure) => {
                    return Err(LoadFailure {
                        sources,
                        diagnostics: vec![Diagnostic::error(
                            failure.error.to_string(),
                            failure.span,
                            "names no value of this action",
                        )],
                    });
                }
            };
            Ok(Loaded {
                set,
                validated,
                warnings,
                policy_files,
            })
        }
        Err(diagnostics) => Err(LoadFailure {
            sources,
            diagnostics,
        }),
    }
}

/// Loads a policy set from files already read (for example by [`policy_files`]): so a
/// caller can hash exactly the bytes it loads (`serve`), or replace some texts with the
/// buffers open in an editor (`lsp`).
pub fn load_files(schema: RawFile, policies: Vec<RawFile>) -> Result<Loaded, LoadFailure> {
    let mut sources = SourceMap::new();
    let result = load_raw(schema, policies, &mut sources);
    finish(result, sources)
}

/// Loads a policy set from texts in memory (for tests, fuzzing and embedding).
pub fn load_texts(schema: &str, policies: &[(&str, &str)]) -> Result<Loaded, LoadFailure> {
    let mut sources = SourceMap::new();
    let schema_raw = RawFile {
        name: "schema.yaml".to_owned(),
        bytes: Ok(schema.as_bytes().to_vec()),
    };
    let raws = policies
        .iter()
        .map(|(n, t)| RawFile {
            name: (*n).to_owned(),
            bytes: Ok(t.as_bytes().to_vec()),
        })
        .collect();
    let result = load_raw(schema_raw, raws, &mut sources);
    finish(result, sources)
}

type Validated = (validate::ValidatedSet, Vec<Diagnostic>, usize);

fn load_raw(
    schema_raw: RawFile,
    policy_raws: Vec<RawFile>,
    sources: &mut SourceMap,
) -> Result<Validated, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let schema = match decode(schema_raw, sources) {
        Ok(id) => match schema::load(id, sources.get(id)) {
            Ok(s) => Some(s),
            Err(errs) => {
                diags.extend(errs.iter().map(schema::SchemaError::to_diagnostic));
                None
            }
        },
        Err(d) => {
            diags.push(*d);
            None
        }
    };
    let policy_files = policy_raws.len();
    let mut parsed = Vec::new();
    let mut syntax_errors = false;
    for raw in policy_raws {
        match decode(raw, sources) {
            Ok(id) => {
                let p = syntax::parse(id, &sources.get(id).text);
                syntax_errors |= !p.errors.is_empty();
                diags.extend(p.errors.iter().map(Diagnostic::from));
                parsed.push(p.file);
            }
            Err(d) => {
                diags.push(*d);
                syntax_errors = true;
            }
        }
    }
    let Some(schema) = schema else {
        return Err(diags);
    };
    let (validated, mut vdiags) = validate::validate(schema, &parsed, syntax_errors);
    diags.append(&mut vdiags);
    if policy_files == 0 {
        diags.push(
            Diagnostic::file_error(
                "no `.policy` files: every request will be denied",
                "policies",
            )
            .warning(),
        );
    }
    match validated {
        Some(v) if !diags.iter().any(Diagnostic::is_error) => Ok((v, diags, policy_files)),
        _ => Err(diags),
    }
}
