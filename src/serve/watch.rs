//! The watch of the policy folder, which survives the folder being deleted and recreated
//! or replaced (`mv new policies`).
//!
//! The folder is watched recursively, and its parent non-recursively. An event about the
//! folder itself (deleted, moved away, created, moved in) marks the watch for re-arming:
//! before the next reload, the reload task drops the watcher and arms a new one on
//! whatever folder now has the name, so the reload that follows reads a folder that is
//! already watched and no later change is missed. While there is no folder, nothing is
//! watched (`"watching": false`) and the last good set keeps deciding.

use super::ServeError;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// How often the folder is looked for while it is not watched (in case the parent
/// could not be watched, or an event was lost).
pub(crate) const LOOK_AGAIN: std::time::Duration = std::time::Duration::from_secs(1);

/// The watch of one policy folder.
#[derive(Debug)]
pub(crate) struct Watch {
    dir: PathBuf,
    tx: tokio::sync::mpsc::Sender<&'static str>,
    rearm: Arc<AtomicBool>,
    watching: Arc<AtomicBool>,
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
}

/// Whether a file event can change the policy set. Reading a file (the reload itself
/// opens every file) must not trigger another reload.
fn changes_files(kind: notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write))
        | EventKind::Any
        | EventKind::Create(_)
        | EventKind::Modify(_)
        | EventKind::Remove(_)
        | EventKind::Other => true,
        EventKind::Access(_) => false,
    }
}

impl Watch {
    /// Starts watching `dir` (which exists) and its parent. Every change asks for a reload
    /// on `tx`; the reload task debounces.
    pub(crate) fn start(
        dir: &Path,
        tx: tokio::sync::mpsc::Sender<&'static str>,
    ) -> Result<Watch, ServeError> {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let watch = Watch {
            dir,
            tx,
            rearm: Arc::new(AtomicBool::new(false)),
            watching: Arc::new(AtomicBool::new(false)),
            watcher: Mutex::new(None),
        };
        watch.arm().map_err(|e| ServeError::Watch {
            path: watch.dir.clone(),
            message: e.to_string(),
        })?;
        Ok(watch)
    }

    /// Whether the folder is being watched now.
    pub(crate) fn watching(&self) -> bool {
        self.watching.load(Ordering::Relaxed)
    }

    /// The flag behind [`Watch::watching`], for `/v1/status`.
    pub(crate) fn watching_flag(&self) -> Arc<AtomicBool> {
        self.watching.clone()
    }

    /// Whether the folder is not watched but exists again: then the caller asks for a
    /// reload, which re-arms first.
    pub(crate) fn lost_and_found(&self) -> bool {
        if !self.watching() && self.dir.is_dir() {
            self.rearm.store(true, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// Re-arms the watch if an event about the folder itself asked for it. Called before
    /// each reload, so the folder a reload reads is already watched.
    pub(crate) fn rearm_if_needed(&self) {
        if self.rearm.swap(false, Ordering::Relaxed)
            && let Err(e) = self.arm()
        {
            super::note(&format!(
                "mailgate: cannot watch `{}` for changes: {e}",
                self.dir.display()
            ));
        }
    }

    /// Drops the current watcher and arms a new one: the parent (non-recursive, when it
    /// can be watched) and the folder (recursive, when it exists). An error means the
    /// folder exists but could not be watched.
    fn arm(&self) -> Result<(), notify::Error> {
        use notify::Watcher as _;
        let Ok(mut slot) = self.watcher.lock() else {
            return Ok(());
        };
        // The old watcher goes first, so a folder moved away is no longer followed.
        *slot = None;
        self.watching.store(false, Ordering::Relaxed);
        let dir = self.dir.clone();
        let tx = self.tx.clone();
        let rearm = self.rearm.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                match event {
                    Ok(e) => {
                        if !changes_files(e.kind) || !e.paths.iter().any(|p| p.starts_with(&dir)) {
                            // A sibling in the parent folder, or a read.
                            return;
                        }
                        if e.paths.iter().any(|p| p == &dir) {
                            rearm.store(true, Ordering::Relaxed);
                        }
                    }
                    // On a watcher error, re-arm and reload: the folder may have changed
                    // unseen.
                    Err(_) => rearm.store(true, Ordering::Relaxed),
                }
                // A full channel means a reload is already pending; it will see this.
                let _ = tx.try_send("watch");
            })?;
        if let Some(parent) = self.dir.parent() {
            // Without the parent, a replaced folder is still found by `lost_and_found`.
            let _ = watcher.watch(parent, notify::RecursiveMode::NonRecursive);
        }
        let result = if self.dir.is_dir() {
            watcher
                .watch(&self.dir, notify::RecursiveMode::Recursive)
                .map(|()| self.watching.store(true, Ordering::Relaxed))
        } else {
            Ok(())
        };
        *slot = Some(watcher);
        result
    }
}
