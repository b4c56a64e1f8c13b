//! A debounced file watcher: notify (inotify on Linux) reports changes to the files it was
//! asked about, and a small thread waits until a file has been quiet for the debounce time
//! before it hands the change on.
//!
//! The watcher never touches the interpreter: it only queues paths and raises a flag. The
//! interpreter thread drains the queue at points where no plugin call can be cut in two
//! (before a plugin call, between REPL lines, in `tusk run --watch`'s loop), which is what
//! makes a swap "between calls".

use std::collections::{BTreeSet, HashSet};
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
/// still seen) and reports each change once it has settled.
pub struct Watcher {
    notify: notify::RecommendedWatcher,
    shared: Arc<Shared>,
    files: Arc<Mutex<HashSet<PathBuf>>>,
    folders: HashSet<PathBuf>,
}

impl Watcher {
    /// A watcher that reports a file once it has been quiet for `debounce`.
    pub fn new(debounce: Duration) -> Result<Watcher, WatchError> {
        let shared = Arc::new(Shared::default());
        let files: Arc<Mutex<HashSet<PathBuf>>> = Arc::default();
        let (sender, receiver) = mpsc::channel::<PathBuf>();
        let wanted = files.clone();
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
            let wanted = lock(&wanted);
            for path in event.paths {
                if wanted.contains(&path) {
                    let _ = sender.send(path);
                }
            }
        })
        .map_err(|error| WatchError::Os { path: String::new(), message: error.to_string() })?;
        let settle = shared.clone();
        std::thread::Builder::new()
            .name("tusk-watch-debounce".into())
            .spawn(move || debounce_loop(&receiver, &settle, debounce))
            .map_err(|error| WatchError::Os { path: String::new(), message: error.to_string() })?;
        Ok(Watcher { notify, shared, files, folders: HashSet::new() })
    }

    /// Starts reporting changes to `file` (which need not exist yet).
    pub fn watch(&mut self, file: &Path) -> Result<(), WatchError> {
        let file = normalize(file);
        let folder = file.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        if !self.folders.contains(&folder) {
            self.notify
                .watch(&folder, RecursiveMode::NonRecursive)
                .map_err(|error| WatchError::Os { path: folder.display().to_string(), message: error.to_string() })?;
            self.folders.insert(folder);
        }
        lock(&self.files).insert(file);
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

/// Collects paths until none has arrived for `debounce`, then publishes them. Ends when the
/// watcher (and with it the sender) is dropped.
fn debounce_loop(receiver: &mpsc::Receiver<PathBuf>, shared: &Shared, debounce: Duration) {
    let mut batch = BTreeSet::new();
    while let Ok(first) = receiver.recv() {
        batch.insert(first);
        loop {
            match receiver.recv_timeout(debounce) {
                Ok(path) => {
                    batch.insert(path);
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        let mut settled = lock(&shared.settled);
        settled.paths.append(&mut batch);
        settled.since.get_or_insert_with(Instant::now);
        shared.pending.store(true, Ordering::Release);
        shared.ready.notify_all();
    }
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
