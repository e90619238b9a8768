//! Resolving command-line inputs: the policy set and scenario files, with their errors
//! printed once, here.

use crate::compile::CompiledSet;
use crate::diagnostics::{DEFAULT_MAX_ERRORS, Diagnostic, render_all, render_limited};
use crate::policy_set::{self, Loaded, Origin, RawFile};
use crate::scenario::{self, Scenario};
use crate::source::{FileId, SourceMap};
use std::path::PathBuf;

/// Loads the policy set, printing warnings; on failure prints the diagnostics (the first
/// [`DEFAULT_MAX_ERRORS`] errors, then a count) and a count line ending in `consequence`.
pub(crate) fn load_policy_set(origin: &Origin, consequence: &str) -> Option<Loaded> {
    load_policy_set_limited(origin, consequence, DEFAULT_MAX_ERRORS)
}

/// [`load_policy_set`], printing at most `max_errors` errors before `… and N more errors`.
pub(crate) fn load_policy_set_limited(
    origin: &Origin,
    consequence: &str,
    max_errors: usize,
) -> Option<Loaded> {
    match policy_set::load(origin) {
        Ok(loaded) => {
            err!("{}", render_all(&loaded.warnings, loaded.set.sources()));
            Some(loaded)
        }
        Err(failure) => {
            err!(
                "{}",
                render_limited(&failure.diagnostics, &failure.sources, max_errors)
            );
            let n = failure.diagnostics.iter().filter(|d| d.is_error()).count();
            errln!(
                "error: the policy set has {n} error{}; {consequence}",
                if n == 1 { "" } else { "s" }
            );
            None
        }
    }
}

/// Loads the policy set for deciding (see [`load_policy_set`]).
pub(crate) fn load_policies(origin: &Origin) -> Option<CompiledSet> {
    load_policy_set(origin, "no decision was made").map(|l| l.set)
}

/// The scenario files named on the command line (folders are searched for `*.yaml` and
/// `*.yml` at any depth, in sorted order, leaving out `schema.yaml`), or the policy set's
/// own `scenarios/`.
pub(crate) fn scenario_files(paths: &[PathBuf], origin: &Origin) -> Vec<RawFile> {
    if paths.is_empty() {
        return policy_set::scenario_files(origin);
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            // A policy folder's own `schema.yaml` and `dataverse-mapping.yaml` are not
            // scenarios.
            out.extend(policy_set::walk(p, "scenario folder", &|f| {
                f.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| e == "yaml" || e == "yml")
                    && f.file_name()
                        .is_some_and(|n| n != "schema.yaml" && n != "dataverse-mapping.yaml")
            }));
        } else {
            out.push(policy_set::read_raw(p));
        }
    }
    out
}

/// One scenario file: loaded, or its diagnostics.
pub(crate) struct LoadedScenario {
    pub(crate) file: FileId,
    pub(crate) result: Result<Scenario, Vec<Diagnostic>>,
}

/// Decodes and loads scenario files against `set`. Sources go into `sources`.
pub(crate) fn load_scenarios(
    raws: Vec<RawFile>,
    set: &CompiledSet,
    sources: &mut SourceMap,
) -> Vec<LoadedScenario> {
    raws.into_iter()
        .map(|raw| {
            let name = raw.name.clone();
            match policy_set::decode(raw, sources) {
                Ok(id) => LoadedScenario {
                    file: id,
                    result: scenario::load(id, sources.get(id), set).map_err(|errs| {
                        errs.iter()
                            .map(scenario::ScenarioError::to_diagnostic)
                            .collect()
                    }),
                },
                Err(d) => {
                    let id = sources.add(crate::source::SourceFile::new(name, ""));
                    LoadedScenario {
                        file: id,
                        result: Err(vec![*d]),
                    }
                }
            }
        })
        .collect()
}
