//! A debounced file watcher: notify (inotify on Linux) reports changes to the files it was
//! asked about, and a small thread waits until a file has been quiet for the debounce time
//! before it hands the change on.
//!
//! The watcher never touches the interpreter: it only queues paths and raises a flag. The
//! interpreter thread drains the queue at points where no plugin call can be cut in two
//! (before a plugin call, between REPL lines, in `tusk run --watch`'s loop), which is what
//! makes a swap "between calls".
//!
//! A plugin folder replaced by a rename (a tool that swaps whole folders) takes an inotify
//! watch along: the watch follows the old folder. So the watcher also watches each folder's
//! parent, and when an event names a watched folder itself it looks at the folder again: a new
//! inode is watched afresh and its watched files are reported as changed (they were written
//! elsewhere, so no event of theirs was seen).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher as _};

/// The default quiet time before a change counts: long enough for a linker or `cp` to finish
/// writing a library, short enough not to be noticed.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(50);

/// Why a file cannot be watched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// The operating system refused (no inotify, too many watches, a missing folder).
    #[error("cannot watch {path}: {message}")]
    Os {
        /// The folder that was to be watched.
        path: String,
        /// What notify reported.
        message: String,
    },
    /// Watching needs the plugin host (`Engine::enable_plugins` first).
    #[error("plugins are not enabled, so there is nothing to reload")]
    NoPlugins,
}

/// What the notify thread and the debounce thread share with the interpreter thread.
#[derive(Default)]
struct Shared {
    /// Files whose changes have settled, waiting for the interpreter to take them.
    settled: Mutex<Settled>,
    /// Signalled when `settled` gains paths.
    ready: Condvar,
    /// True while `settled` holds paths: one relaxed load is all a plugin call pays.
    pending: Arc<AtomicBool>,
}

#[derive(Default)]
struct Settled {
    paths: BTreeSet<PathBuf>,
    /// When the oldest unclaimed batch settled (the start of the swap latency).
    since: Option<Instant>,
}

/// Debounced changes taken from a [`Watcher`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// The files that changed, each once.
    pub paths: Vec<PathBuf>,
    /// When the first of them settled (quiet for the debounce time).
    pub settled_at: Option<Instant>,
}

/// Watches individual files (through their folders, so that a file replaced by a rename is
/// still seen, and the folders' parents, so that a folder replaced by a rename is followed) and
/// reports each change once it has settled.
pub struct Watcher {
    shared: Arc<Shared>,
    watched: Arc<Watched>,
}

/// What the notify callback, the debounce thread and [`Watcher::watch`] share.
struct Watched {
    /// The notify watcher: the debounce thread watches a replaced folder again through it.
    /// Never locked by the notify callback (which runs on notify's thread, which `watch` waits
    /// for).
    notify: Mutex<Option<notify::RecommendedWatcher>>,
    /// The files reported.
    files: Mutex<HashSet<PathBuf>>,
    /// The watched folders, with the identity (device, inode) of the folder watched.
    folders: Mutex<HashMap<PathBuf, Option<(u64, u64)>>>,
    /// The folders' parents watched (for a folder renamed into place).
    parents: Mutex<HashSet<PathBuf>>,
}

/// What the notify callback hands to the debounce thread.
enum Noticed {
    /// A watched file changed.
    File(PathBuf),
    /// An event named a watched folder itself: it may have been replaced. True when the event
    /// was a removal (notify then drops its watch of the path).
    Folder(PathBuf, bool),
}

impl Watcher {
    /// A watcher that reports a file once it has been quiet for `debounce`.
    pub fn new(debounce: Duration) -> Result<Watcher, WatchError> {
        let shared = Arc::new(Shared::default());
        let watched = Arc::new(Watched {
            notify: Mutex::new(None),
            files: Mutex::default(),
            folders: Mutex::default(),
            parents: Mutex::default(),
        });
        let (sender, receiver) = mpsc::channel::<Noticed>();
        let seen = watched.clone();
        let notify = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
            let Ok(event) = result else { return };
            // Reading a library (which the reload itself does, to hash and copy it) must not
            // count as a change, or every reload would schedule the next one.
            let writes = matches!(
                event.kind,
                EventKind::Create(_)
                    | EventKind::Modify(_)
                    | EventKind::Remove(_)
                    | EventKind::Access(AccessKind::Close(AccessMode::Write))
            );
            if !writes {
                return;
            }
            let removal = matches!(event.kind, EventKind::Remove(_));
            let files = lock(&seen.files);
            let folders = lock(&seen.folders);
            for path in event.paths {
                if files.contains(&path) {
                    let _ = sender.send(Noticed::File(path));
                } else if folders.contains_key(&path) {
                    let _ = sender.send(Noticed::Folder(path, removal));
                }
            }
        })
        .map_err(|error| WatchError::Os { path: String::new(), message: error.to_string() })?;
        *lock(&watched.notify) = Some(notify);
        let settle = shared.clone();
        let follow = watched.clone();
        std::thread::Builder::new()
            .name("tusk-watch-debounce".into())
            .spawn(move || debounce_loop(&receiver, &settle, &follow, debounce))
            .map_err(|error| WatchError::Os { path: String::new(), message: error.to_string() })?;
        Ok(Watcher { shared, watched })
    }

    /// Starts reporting changes to `file` (which need not exist yet).
    pub fn watch(&mut self, file: &Path) -> Result<(), WatchError> {
        let file = normalize(file);
        let folder = file.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        if !lock(&self.watched.folders).contains_key(&folder) {
            let mut notify = lock(&self.watched.notify);
            let Some(notify) = notify.as_mut() else { return Ok(()) };
            notify
                .watch(&folder, RecursiveMode::NonRecursive)
                .map_err(|error| WatchError::Os { path: folder.display().to_string(), message: error.to_string() })?;
            // Without the parent (the file system's root, a folder that cannot be read) only a
            // replaced folder is missed: changes inside it are still seen.
            if let Some(parent) = folder.parent() {
                let mut parents = lock(&self.watched.parents);
                if !parents.contains(parent) && notify.watch(parent, RecursiveMode::NonRecursive).is_ok() {
                    parents.insert(parent.to_path_buf());
                }
            }
            let found = identity(&folder);
            lock(&self.watched.folders).insert(folder.clone(), found);
        }
        lock(&self.watched.files).insert(file);
        Ok(())
    }

    /// True when settled changes wait to be taken (cheap: one atomic load).
    pub fn has_changes(&self) -> bool {
        self.shared.pending.load(Ordering::Acquire)
    }

    /// The flag behind [`Watcher::has_changes`], for code that checks it without the watcher.
    pub fn pending_flag(&self) -> Arc<AtomicBool> {
        self.shared.pending.clone()
    }

    /// Takes the settled changes (empty when there are none).
    pub fn take(&self) -> Changes {
        let mut settled = lock(&self.shared.settled);
        self.shared.pending.store(false, Ordering::Release);
        Changes { paths: std::mem::take(&mut settled.paths).into_iter().collect(), settled_at: settled.since.take() }
    }

    /// Waits until changes have settled or `timeout` passed (`None`: no limit); true when
    /// there are changes to take.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|timeout| Instant::now() + timeout);
        let mut settled = lock(&self.shared.settled);
        while settled.paths.is_empty() {
            match deadline {
                None => settled = self.shared.ready.wait(settled).unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    settled = self
                        .shared
                        .ready
                        .wait_timeout(settled, left)
                        .map(|(guard, _)| guard)
                        .unwrap_or_else(|poisoned| poisoned.into_inner().0);
                }
            }
        }
        true
    }
}

impl Drop for Watcher {
    /// Drops the notify watcher, whose callback holds the debounce thread's sender: the thread
    /// ends.
    fn drop(&mut self) {
        let notify = lock(&self.watched.notify).take();
        drop(notify);
    }
}

/// Collects paths until none has arrived for `debounce`, then publishes them. Ends when the
/// watcher (and with it the sender) is dropped.
fn debounce_loop(receiver: &mpsc::Receiver<Noticed>, shared: &Shared, watched: &Watched, debounce: Duration) {
    let mut batch = BTreeSet::new();
    let take = |noticed: Noticed, batch: &mut BTreeSet<PathBuf>| match noticed {
        Noticed::File(path) => {
            batch.insert(path);
        }
        Noticed::Folder(folder, removal) => batch.extend(follow(watched, &folder, removal)),
    };
    while let Ok(first) = receiver.recv() {
        take(first, &mut batch);
        loop {
            match receiver.recv_timeout(debounce) {
                Ok(noticed) => take(noticed, &mut batch),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        if batch.is_empty() {
            continue;
        }
        let mut settled = lock(&shared.settled);
        settled.paths.append(&mut batch);
        settled.since.get_or_insert_with(Instant::now);
        shared.pending.store(true, Ordering::Release);
        shared.ready.notify_all();
    }
}

/// Looks at a watched folder that an event named: when a folder of another identity is in its
/// place now, watches it afresh and returns its watched files (changed, unseen). After a
/// `removal` it watches the folder again even when it is the same, because notify drops the
/// watch of a path when the folder once watched there (renamed away meanwhile) is deleted.
fn follow(watched: &Watched, folder: &Path, removal: bool) -> Vec<PathBuf> {
    let Some(now) = identity(folder) else { return Vec::new() };
    let known = lock(&watched.folders).get(folder).copied().flatten();
    if known == Some(now) && !removal {
        return Vec::new();
    }
    {
        let mut notify = lock(&watched.notify);
        let Some(notify) = notify.as_mut() else { return Vec::new() };
        let _ = notify.unwatch(folder);
        if notify.watch(folder, RecursiveMode::NonRecursive).is_err() {
            return Vec::new();
        }
    }
    lock(&watched.folders).insert(folder.to_path_buf(), Some(now));
    if known == Some(now) {
        return Vec::new();
    }
    lock(&watched.files).iter().filter(|file| file.parent() == Some(folder)).cloned().collect()
}

/// The device and inode of `folder`, if it is a folder.
#[cfg(unix)]
fn identity(folder: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(folder).ok().filter(std::fs::Metadata::is_dir)?;
    Some((metadata.dev(), metadata.ino()))
}

#[cfg(not(unix))]
fn identity(folder: &Path) -> Option<(u64, u64)> {
    folder.is_dir().then_some((0, 0))
}

/// The path as notify will report it: the canonical folder joined with the file name.
pub(crate) fn normalize(file: &Path) -> PathBuf {
    let folder = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let folder = std::fs::canonicalize(&folder).unwrap_or(folder);
    match file.file_name() {
        Some(name) => folder.join(name),
        None => folder,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits (at most a minute: a loaded machine) for settled changes and takes them.
    fn changes(watcher: &Watcher) -> Vec<PathBuf> {
        assert!(watcher.wait(Some(Duration::from_secs(60))), "the watcher saw no change");
        watcher.take().paths
    }

    #[test]
    fn a_folder_replaced_by_a_rename_is_followed() {
        let root = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(root.path()).unwrap();
        let folder = root.join("plugin");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("plugin.toml"), "version 1").unwrap();
        std::fs::write(folder.join("notes.txt"), "not watched").unwrap();
        let mut watcher = Watcher::new(Duration::from_millis(20)).unwrap();
        watcher.watch(&folder.join("plugin.toml")).unwrap();

        // A change inside the folder.
        std::fs::write(folder.join("plugin.toml"), "version 2").unwrap();
        assert_eq!(changes(&watcher), vec![folder.join("plugin.toml")]);

        // The folder swapped whole: the new one is filled elsewhere, so no event of its files
        // reaches the old watch; the swap itself is reported as a change of the watched file.
        let staged = root.join(".plugin.new");
        std::fs::create_dir(&staged).unwrap();
        std::fs::write(staged.join("plugin.toml"), "version 3").unwrap();
        std::fs::rename(&folder, root.join(".plugin.old")).unwrap();
        std::fs::rename(&staged, &folder).unwrap();
        assert_eq!(changes(&watcher), vec![folder.join("plugin.toml")]);

        // The old folder deleted (notify then drops its watch of the path) and a change in the
        // new folder: seen, so the new folder is watched.
        std::fs::remove_dir_all(root.join(".plugin.old")).unwrap();
        while watcher.wait(Some(Duration::from_millis(500))) {
            watcher.take();
        }
        std::fs::write(folder.join("plugin.toml"), "version 4").unwrap();
        assert_eq!(changes(&watcher), vec![folder.join("plugin.toml")]);
        assert_eq!(std::fs::read_to_string(folder.join("plugin.toml")).unwrap(), "version 4");
    }
}
