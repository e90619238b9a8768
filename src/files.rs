//! Finding and reading the files of a folder mailgate is pointed at, safely.
//!
//! Policy folders arrive in pull requests, Kubernetes `ConfigMap` volumes and copied trees,
//! so every folder mailgate walks (the policy set, scenarios, `fmt`, the language
//! server's workspace) goes through this one module:
//!
//! - entries whose name starts with `.` are skipped (a `ConfigMap` volume keeps its files in
//!   `..2026_12_05_13_00_00.000000001/` behind a `..data` link, and one link per key);
//! - a file is read only if its canonical path lies inside the canonical folder and it is
//!   a regular file; anything else is an error naming the entry and what it is, and
//!   nothing is read from it;
//! - two entries that resolve to the same file are read once (the first in load order);
//! - reads are bounded by the size limit with `take`, never by the size the file reports
//!   (`/proc` files, FIFOs and devices report 0);
//! - the files come back in one order everywhere: [`load_order`].

use std::cmp::Ordering;
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};

/// One file found by [`walk`]: its path as found, and whether it may be read.
#[derive(Debug, Clone)]
pub struct Found {
    /// The path under the walked folder, as the user would write it.
    pub path: PathBuf,
    /// `Ok` with the canonical path, or why the entry is refused.
    pub accepted: Result<PathBuf, String>,
}

/// The order files load in, everywhere (folders, the built-in set, the language server):
/// by path, component by component, so `a/b.policy` sorts with the other files of `a/`
/// whatever the bytes of the separator.
pub fn load_order(a: &str, b: &str) -> Ordering {
    Path::new(a).cmp(Path::new(b))
}

/// What a file that is not a regular file is, in words (`a FIFO`, `a device`).
fn kind(meta: &Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

/// Why `path` may not be read as a file of the folder `root` (canonical), or its canonical
/// path. `what` names the folder in the message (`policy folder`).
pub fn check_inside(root: &Path, path: &Path, what: &str) -> Result<PathBuf, String> {
    let canon = std::fs::canonicalize(path).map_err(|e| format!("cannot read file: {e}"))?;
    if !canon.starts_with(root) {
        return Err(format!(
            "links outside the {what} (to `{}`); nothing was read from it",
            canon.display()
        ));
    }
    let meta = std::fs::metadata(&canon).map_err(|e| format!("cannot read file: {e}"))?;
    if !meta.is_file() {
        return Err(format!("is {}; nothing was read from it", kind(&meta)));
    }
    Ok(canon)
}

/// Whether [`walk`] of `dir` would reach `path`: it lies under `dir` (compared as written,
/// as editors name open files) and no entry on the way, the file included, starts with
/// `.`. The language server holds unsaved buffers to this, so a buffer opened inside a
/// Kubernetes config map's `..data/` folder does not join the set twice.
pub fn walk_reaches(dir: &Path, path: &Path) -> bool {
    path.strip_prefix(dir).is_ok_and(|rel| {
        rel.components().all(|c| match c {
            std::path::Component::Normal(name) => !name.to_string_lossy().starts_with('.'),
            _ => false,
        })
    })
}

/// Every file under `dir` (any depth) whose path `keep` accepts, in [`load_order`], each
/// real file once. Entries starting with `.` are skipped; links to folders are not
/// followed (so a link loop cannot hang the walk); a kept entry that resolves outside
/// `dir`, or to something other than a regular file, comes back refused.
pub fn walk(dir: &Path, what: &str, keep: &dyn Fn(&Path) -> bool) -> Vec<Found> {
    let Ok(root) = std::fs::canonicalize(dir) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(_) if keep(&p) => paths.push(p),
                _ => {}
            }
        }
    }
    paths.sort();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for path in paths {
        let accepted = check_inside(&root, &path, what);
        if let Ok(canon) = &accepted
            && !seen.insert(canon.clone())
        {
            continue;
        }
        out.push(Found { path, accepted });
    }
    out
}

/// Reads a file of at most `limit` bytes. The file is opened without blocking and must be
/// a regular file once open (so a FIFO swapped in after a check cannot hang the read), and
/// at most `limit + 1` bytes are ever read (so `/dev/zero` cannot fill memory).
pub fn read_bounded(path: &Path, limit: usize) -> Result<Vec<u8>, String> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file: File = options
        .open(path)
        .map_err(|e| format!("cannot read file: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read file: {e}"))?;
    if !meta.is_file() {
        return Err(format!("is {}; nothing was read from it", kind(&meta)));
    }
    let mut bytes = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    file.take(cap)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read file: {e}"))?;
    if bytes.len() > limit {
        return Err(format!("file is over the limit of {limit} bytes"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_order_compares_components() {
        let mut names = vec!["a/b.policy", "a.policy", "a-b.policy"];
        names.sort_by(|a, b| load_order(a, b));
        assert_eq!(names, ["a/b.policy", "a-b.policy", "a.policy"]);
    }
}
