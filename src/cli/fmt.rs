//! `mailgate fmt`: format policy files in place, or check that they are formatted.

use super::Exit;
use super::PolicyArgs;
use crate::diagnostics::{Diagnostic, render_all};
use crate::files::Found;
use crate::fmt::format_file;
use crate::policy_set::{self, Origin, RawFile};
use crate::source::SourceMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Arguments of `fmt`.
#[derive(Debug, clap::Args)]
pub struct FmtArgs {
    /// Policy files or folders (default: every policy file of the set); `-` formats
    /// standard input to standard output.
    #[arg(value_name = "FILE|DIR|-")]
    paths: Vec<PathBuf>,
    /// Write nothing; list the files that would change and exit 1 if there are any.
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    policies: PolicyArgs,
}

/// Runs `fmt`.
pub(crate) fn run(args: &FmtArgs) -> Exit {
    let mut ok = true;
    let mut files: Vec<Found> = Vec::new();
    if args.paths.is_empty() {
        match args.policies.origin() {
            Origin::Dir(dir) if dir.is_dir() => files = policy_files(&dir),
            Origin::Dir(dir) => {
                errln!("error: policy folder `{}` does not exist", dir.display());
                return Exit::Failure;
            }
            Origin::Embedded => {
                errln!(
                    "error: the built-in policy set cannot be formatted; name a folder with --policies"
                );
                return Exit::Failure;
            }
        }
    }
    for p in &args.paths {
        if p.as_os_str() == "-" {
            ok &= stdin(args.check);
        } else if p.is_dir() {
            files.extend(policy_files(p));
        } else {
            files.push(Found {
                path: p.clone(),
                accepted: Ok(p.clone()),
            });
        }
    }
    for found in &files {
        ok &= match &found.accepted {
            Ok(_) => file(&found.path, args.check),
            Err(e) => {
                let d = Diagnostic::file_error(e.clone(), found.path.display().to_string());
                err!("{}", render_all(&[d], &SourceMap::new()));
                false
            }
        };
    }
    if ok { Exit::Ok } else { Exit::Failure }
}

/// Every `*.policy` file under `dir`, in load order (refused entries included, to be
/// reported; see [`crate::files::walk`]).
fn policy_files(dir: &Path) -> Vec<Found> {
    crate::files::walk(dir, "policy folder", &|p| {
        p.extension().is_some_and(|e| e == "policy")
    })
}

/// Formats one file; `true` when it was fine (formatted, or formatted already).
fn file(path: &Path, check: bool) -> bool {
    let raw = policy_set::read_raw(path);
    let Some((sources, text)) = decode(raw) else {
        return false;
    };
    let formatted = match format_file(crate::source::FileId(0), &text) {
        Ok(f) => f,
        Err(e) => {
            err!("{}", render_all(&e.diagnostics(), &sources));
            return false;
        }
    };
    if formatted == text {
        return true;
    }
    if check {
        outln!("{}", path.display());
        return false;
    }
    match write_atomic(path, &formatted) {
        Ok(()) => true,
        Err(e) => {
            errln!("error: cannot write `{}`: {e}", path.display());
            false
        }
    }
}

/// Formats standard input to standard output (with `--check`, writes nothing).
fn stdin(check: bool) -> bool {
    let mut bytes = Vec::new();
    let limit = crate::limits::MAX_FILE_BYTES as u64 + 1;
    let read = std::io::stdin().lock().take(limit).read_to_end(&mut bytes);
    let raw = RawFile {
        name: "<stdin>".to_owned(),
        bytes: match read {
            Ok(_) if bytes.len() as u64 >= limit => Err(format!(
                "input is over the limit of {} bytes",
                crate::limits::MAX_FILE_BYTES
            )),
            Ok(_) => Ok(bytes),
            Err(e) => Err(format!("cannot read standard input: {e}")),
        },
    };
    let Some((sources, text)) = decode(raw) else {
        return false;
    };
    match format_file(crate::source::FileId(0), &text) {
        Ok(formatted) if check => {
            if formatted == text {
                true
            } else {
                outln!("<stdin>");
                false
            }
        }
        Ok(formatted) => {
            out!("{formatted}");
            true
        }
        Err(e) => {
            err!("{}", render_all(&e.diagnostics(), &sources));
            false
        }
    }
}

/// Decodes a file as UTF-8 into a fresh source map (its id is `FileId(0)`), printing the
/// error if it cannot be.
fn decode(raw: RawFile) -> Option<(SourceMap, String)> {
    let mut sources = SourceMap::new();
    match policy_set::decode(raw, &mut sources) {
        Ok(id) => {
            let text = sources.get(id).text.clone();
            Some((sources, text))
        }
        Err(d) => {
            let d: Diagnostic = *d;
            err!("{}", render_all(&[d], &sources));
            None
        }
    }
}

/// Replaces a file's contents through a temporary file in the same folder, so a reader
/// never sees half a file. The file keeps its permissions.
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.mailgate-fmt-{}", std::process::id()));
    let result = std::fs::write(&tmp, text)
        .and_then(|()| {
            if let Ok(meta) = std::fs::metadata(path) {
                std::fs::set_permissions(&tmp, meta.permissions())?;
            }
            Ok(())
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
