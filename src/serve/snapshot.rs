//! A loaded policy set as the service holds it: the compiled set and its revision.

use crate::compile::CompiledSet;
use crate::diagnostics::Diagnostic;
use crate::policy_set::{self, LoadFailure, Origin, RawFile};
use sha2::{Digest, Sha256};
use std::time::SystemTime;

/// One policy set that loaded cleanly, with what identifies it. Every request decides
/// and logs against one snapshot.
#[derive(Debug)]
pub struct Snapshot {
    /// The compiled set.
    pub set: CompiledSet,
    /// Its batch-line tables, built once.
    pub tables: crate::batch::LineTables,
    /// SHA-256 of the files it was loaded from (see [`revision`]), 64 hex digits.
    pub revision: std::sync::Arc<str>,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// How many `.policy` files it has.
    pub policy_files: usize,
    /// Warnings found while loading, rendered.
    pub warnings: Vec<String>,
}

/// The revision of a policy set: SHA-256 over its schema and policy files sorted by their
/// path relative to the policy folder (with `/` separators), each fed as the path's
/// bytes, a zero byte, the content's length as 8 bytes big-endian, and the content.
/// The same files give the same revision on every machine.
pub fn revision<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut files: Vec<(&str, &[u8])> = files.into_iter().collect();
    files.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut h = Sha256::new();
    for (path, bytes) in files {
        h.update(path.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    }
    let digest = h.finalize();
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 15)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `name` relative to the policy folder it was found in, with `/` separators.
fn relative(origin: &Origin, name: &str) -> String {
    let prefix = match origin {
        Origin::Dir(dir) => dir.display().to_string(),
        Origin::Embedded => "policies".to_owned(),
    };
    let rel = name.strip_prefix(prefix.as_str()).unwrap_or(name);
    rel.trim_start_matches(['/', '\\']).replace('\\', "/")
}

/// The revision of files as read.
fn revision_of(origin: &Origin, schema: &RawFile, policies: &[RawFile]) -> String {
    let names: Vec<String> = std::iter::once(schema)
        .chain(policies)
        .map(|f: &RawFile| relative(origin, &f.name))
        .collect();
    revision(
        std::iter::once(schema)
            .chain(policies)
            .zip(&names)
            .map(|(f, n)| (n.as_str(), f.bytes.as_deref().unwrap_or_default())),
    )
}

/// The revision of the files at `origin` now, without loading them (`None` when they
/// cannot be listed).
pub(crate) fn current_revision(origin: &Origin) -> Option<String> {
    let (schema, policies) = policy_set::policy_files(origin).ok()?;
    Some(revision_of(origin, &schema, &policies))
}

/// Reads, hashes and loads the policy set at `origin`. The revision covers exactly the
/// bytes that were compiled.
pub fn load(origin: &Origin) -> Result<Snapshot, LoadFailure> {
    let (schema, policies) = policy_set::policy_files(origin).map_err(|d| LoadFailure {
        sources: crate::source::SourceMap::new(),
        diagnostics: vec![*d],
    })?;
    let revision = revision_of(origin, &schema, &policies);
    let loaded = policy_set::load_files(schema, policies)?;
    let warnings = loaded
        .warnings
        .iter()
        .map(|d: &Diagnostic| d.render(loaded.set.sources()))
        .collect();
    Ok(Snapshot {
        tables: crate::batch::LineTables::new(&loaded.set),
        set: loaded.set,
        revision: revision.into(),
        loaded_at: SystemTime::now(),
        policy_files: loaded.policy_files,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_is_order_independent_and_content_sensitive() {
        let a = revision([("schema.yaml", b"x".as_slice()), ("a.policy", b"y")]);
        let b = revision([("a.policy", b"y".as_slice()), ("schema.yaml", b"x")]);
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        let c = revision([("schema.yaml", b"x".as_slice()), ("a.policy", b"z")]);
        assert_ne!(a, c);
        // Moving a byte from the path to the content changes the revision.
        let d = revision([("ab", b"c".as_slice())]);
        let e = revision([("a", b"bc".as_slice())]);
        assert_ne!(d, e);
    }

    #[test]
    fn revision_of_nothing_is_sha256_of_nothing() {
        assert_eq!(
            revision([]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn relative_names() {
        let dir = Origin::Dir(std::path::PathBuf::from("/tmp/p"));
        assert_eq!(relative(&dir, "/tmp/p/sub/x.policy"), "sub/x.policy");
        assert_eq!(
            relative(&Origin::Embedded, "policies/schema.yaml"),
            "schema.yaml"
        );
    }
}
