//! Installation that completes or changes nothing.
//!
//! Every plugin of one command is downloaded, checked (checksum, signature, package contents,
//! manifest, and the library's own info record against what the index claims) and unpacked
//! into a dot folder beside its destination (discovery skips dot folders) before anything is
//! replaced. Then the plugins are put into place one after the other (a new plugin's staged
//! folder renamed into place; an installed plugin's files each renamed over the old ones inside
//! its folder, which stays, so that hot reload keeps watching it), the previous files kept
//! aside until the lockfile is written; a failure at any point puts them back. Staged folders
//! left by a failure are removed when the [`Staging`] is dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use semver::VersionReq;
use tusk_diagnostics::SourceMap;

use crate::error::RegistryError;
use crate::index::IndexEntry;
use crate::lockfile::{LockedPlugin, Lockfile};
use crate::package;
pub use crate::resolve::Compatibility;
use crate::signing::{self, TrustedKey};
use crate::source::Registry;

/// Where a command installs: a plugin folder and the lockfile that describes it.
#[derive(Clone, Debug)]
pub struct Scope {
    /// The plugin folder (`PROJECT/plugins`, or the user's plugin folder).
    pub plugins_dir: PathBuf,
    /// Its lockfile (`PROJECT/tusk.lock`).
    pub lock_path: PathBuf,
}

/// What a library's info record says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryFacts {
    /// Its plugin ABI `(major, minor)`.
    pub abi: (u32, u32),
    /// Its target (`x86_64-linux`).
    pub target: String,
}

/// Reads a library's info record without loading it (the plugin host does; this crate opens
/// no library).
pub trait LibraryCheck {
    /// The facts of the library at `library`, or why it is not a plugin library.
    fn facts(&self, library: &Path) -> Result<LibraryFacts, String>;
}

/// How packages are checked.
pub struct InstallOptions<'a> {
    /// The keys whose signatures are accepted.
    pub trusted_keys: &'a [TrustedKey],
    /// What becomes of packages that are unsigned or signed by keys that are not trusted (a
    /// signature that does not verify is refused all the same).
    pub unsigned: Unsigned,
    /// What this tusk runs.
    pub compatibility: Compatibility,
    /// Reads libraries' info records.
    pub check: &'a dyn LibraryCheck,
}

/// What an install does with a package that is unsigned, or signed by a key that is not
/// trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsigned {
    /// Installs it, with a note (`--allow-unsigned`).
    Install,
    /// Refuses it, saying that `--allow-unsigned` would install it.
    Refuse,
    /// Refuses it without that offer: automatic updates (`tusk plugin update --if-due`) never
    /// install such packages, whatever the flags.
    RefuseAutomatic,
}

impl Unsigned {
    /// What a refusal adds to the reason.
    fn refusal_help(self) -> &'static str {
        match self {
            Unsigned::RefuseAutomatic => {
                "automatic updates install only packages signed by a trusted key; run `tusk plugin update --allow-unsigned` to install it by hand"
            }
            Unsigned::Install | Unsigned::Refuse => "pass --allow-unsigned to install it anyway",
        }
    }
}

/// The name of the file a `source` is recorded in, inside an installed plugin folder.
pub const RECORD_FILE: &str = ".tusk-install.toml";

/// One staged plugin.
#[derive(Debug)]
struct StagedPlugin {
    folder: PathBuf,
    locked: LockedPlugin,
}

/// Plugin folders staged beside their destinations in one plugin folder, for one commit.
#[derive(Debug)]
pub struct Staging {
    plugins_dir: PathBuf,
    staged: Vec<StagedPlugin>,
    /// Whether this staging created the plugin folder: a failure then removes it again.
    created_plugins_dir: bool,
    /// Warnings for the user (an unsigned package installed with the flag).
    pub notes: Vec<String>,
}

impl Drop for Staging {
    fn drop(&mut self) {
        for staged in &self.staged {
            let _ = std::fs::remove_dir_all(&staged.folder);
        }
        if self.created_plugins_dir {
            // Only succeeds while it is empty: after a commit it holds the plugins.
            let _ = std::fs::remove_dir(&self.plugins_dir);
        }
    }
}

impl Staging {
    /// Staging in `plugins_dir` (created if missing).
    pub fn new(plugins_dir: &Path) -> Result<Staging, RegistryError> {
        let created_plugins_dir = !plugins_dir.is_dir();
        std::fs::create_dir_all(plugins_dir)
            .map_err(|error| RegistryError::io(format!("cannot create {}", plugins_dir.display()), error))?;
        Ok(Staging {
            plugins_dir: plugins_dir.to_path_buf(),
            staged: Vec::new(),
            created_plugins_dir,
            notes: Vec::new(),
        })
    }

    /// The plugins staged so far.
    pub fn staged(&self) -> impl Iterator<Item = &LockedPlugin> {
        self.staged.iter().map(|staged| &staged.locked)
    }

    fn new_folder(&self, name: &str) -> PathBuf {
        self.plugins_dir.join(format!(".{name}.installing-{}-{}", std::process::id(), self.staged.len()))
    }

    /// Checks the package `archive` of `entry` from `registry` and stages it. `dependencies`
    /// are the chosen versions of its dependencies (`name version`), for the lockfile.
    pub fn stage_package(
        &mut self,
        registry: &Registry,
        entry: &IndexEntry,
        archive: &[u8],
        dependencies: Vec<String>,
        options: &InstallOptions<'_>,
    ) -> Result<(), RegistryError> {
        crate::check_name(&entry.name)?;
        crate::source::check_checksum(archive, &entry.cksum, &entry.file)?;
        let file_name = package::file_name(&entry.name, &entry.vers, &entry.target);
        if !entry.file.ends_with(&format!("/{file_name}")) {
            return Err(RegistryError::Index {
                message: format!("the index entry of {} points at {}, not at {file_name}", entry.label(), entry.file),
            });
        }
        match &entry.signature {
            None if options.unsigned == Unsigned::Install => {
                self.notes.push(format!("{file_name} is not signed (installed because of --allow-unsigned)"));
            }
            None => {
                return Err(RegistryError::Untrusted {
                    message: format!("package {file_name} is not signed; {}", options.unsigned.refusal_help()),
                });
            }
            Some(signature) => match signing::verify(archive, signature, options.trusted_keys, &file_name) {
                Ok(_) => {}
                Err(RegistryError::Untrusted { message }) if options.unsigned == Unsigned::Install => {
                    self.notes.push(format!("{message} (installed because of --allow-unsigned)"));
                }
                Err(RegistryError::Untrusted { message }) => {
                    return Err(RegistryError::Untrusted {
                        message: format!("{message}; {}", options.unsigned.refusal_help()),
                    });
                }
                Err(error) => return Err(error),
            },
        }
        let folder = self.new_folder(&entry.name);
        let locked = LockedPlugin {
            name: entry.name.clone(),
            version: entry.vers.to_string(),
            source: registry.source_text(),
            target: entry.target.clone(),
            checksum: format!("sha256:{}", entry.cksum),
            dependencies,
        };
        // Registered before unpacking, so that a failure below removes the folder on drop.
        self.staged.push(StagedPlugin { folder: folder.clone(), locked });
        let meta = package::unpack(archive, &file_name, &folder)?;
        let lie = |what: &str, claimed: String, found: String| RegistryError::Index {
            message: format!(
                "the index entry of {} lies about its {what}: it says {claimed}, the package says {found}",
                entry.label()
            ),
        };
        if meta.name != entry.name || meta.version != entry.vers {
            return Err(lie("identity", entry.label(), format!("{} {}", meta.name, meta.version)));
        }
        if meta.target != entry.target {
            return Err(lie("target", entry.target.clone(), meta.target));
        }
        if meta.deps_text() != entry_deps_text(entry) {
            return Err(lie("dependencies", entry_deps_text(entry), meta.deps_text()));
        }
        check_manifest(&folder, &meta.name, &meta.version, &file_name)?;
        let facts = options
            .check
            .facts(&folder.join(&meta.library))
            .map_err(|message| RegistryError::CorruptPackage { file: file_name.clone(), message })?;
        let library_abi = format!("{}.{}", facts.abi.0, facts.abi.1);
        if library_abi != entry.abi {
            return Err(RegistryError::Index {
                message: format!(
                    "the index entry of {} lies about its ABI: it says {}, the library speaks {library_abi}",
                    entry.label(),
                    entry.abi
                ),
            });
        }
        if facts.target != entry.target {
            return Err(RegistryError::Index {
                message: format!(
                    "the index entry of {} lies about its target: it says {}, the library is built for {}",
                    entry.label(),
                    entry.target,
                    facts.target
                ),
            });
        }
        if let Some(problem) = options.compatibility.problem(entry) {
            return Err(RegistryError::Resolve { message: format!("{} cannot run here: {problem}", entry.label()) });
        }
        write_record(&folder, &registry.source_text())
    }

    /// Stages a copy of the plugin folder `from` (a plugin built from source), recorded as
    /// `locked`.
    pub fn stage_folder(&mut self, from: &Path, locked: LockedPlugin) -> Result<(), RegistryError> {
        crate::check_name(&locked.name)?;
        let folder = self.new_folder(&locked.name);
        let source = locked.source.clone();
        self.staged.push(StagedPlugin { folder: folder.clone(), locked });
        copy_dir(from, &folder)?;
        write_record(&folder, &source)
    }

    /// Puts every staged folder into place and then writes `lock` to `lock_path` (if given).
    /// On any failure the previous folders are put back and the lockfile is untouched.
    ///
    /// Each plugin is put in place by [`put_in_place`] (an installed plugin keeps its folder,
    /// its files replaced inside it), the previous files kept aside until the lockfile is
    /// written.
    pub fn commit(mut self, lock: Option<(&Path, &Lockfile)>) -> Result<Vec<LockedPlugin>, RegistryError> {
        let staged = std::mem::take(&mut self.staged);
        let mut swapped: Vec<Placed> = Vec::new();
        let mut result = Ok(());
        for plugin in &staged {
            match put_in_place(&plugin.folder, &self.plugins_dir.join(&plugin.locked.name)) {
                Ok(placed) => swapped.push(placed),
                Err(error) => {
                    result = Err(error);
                    break;
                }
            }
        }
        if result.is_ok()
            && let Some((path, lock)) = lock
        {
            result = lock.save(path);
        }
        if let Err(error) = result {
            for placed in swapped.into_iter().rev() {
                placed.undo();
            }
            for plugin in &staged {
                let _ = std::fs::remove_dir_all(&plugin.folder);
            }
            return Err(error);
        }
        for placed in swapped {
            placed.finish();
        }
        for plugin in &staged {
            // Emptied by the replacement (or renamed away, then this does nothing).
            let _ = std::fs::remove_dir_all(&plugin.folder);
        }
        Ok(staged.into_iter().map(|plugin| plugin.locked).collect())
    }
}

/// Puts the plugin folder `staged` in place as `destination`, so that hot reload keeps
/// following it: renamed there when nothing is installed; otherwise the installed folder stays
/// and the staged entries are renamed over its entries, one rename each (a reader sees the old
/// file or the new one, never a part; the manifest last), the old entries kept aside in a dot
/// folder beside it. A folder renamed away would take a watch on it along (the running process
/// would miss every later update), hence no swap of whole folders.
///
/// On failure everything done is undone. Otherwise the [`Placed`] result is
/// [finished](Placed::finish) (what was kept aside is removed) or [undone](Placed::undo) (it
/// is put back), when what depends on it (a lockfile) is known to be written or not. `staged`
/// is emptied or renamed away; the caller removes what is left of it.
pub fn put_in_place(staged: &Path, destination: &Path) -> Result<Placed, RegistryError> {
    static PLACED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    if !destination.is_dir() {
        if destination.exists() || destination.is_symlink() {
            return Err(RegistryError::io(
                format!("cannot install into {}", destination.display()),
                std::io::Error::new(std::io::ErrorKind::AlreadyExists, "a file is in the way"),
            ));
        }
        std::fs::rename(staged, destination).map_err(|error| {
            RegistryError::io(format!("cannot move the plugin into {}", destination.display()), error)
        })?;
        return Ok(Placed(Swapped::Fresh(destination.to_path_buf())));
    }
    let name = destination.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let number = PLACED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let aside = destination.with_file_name(format!(".{name}.replaced-{}-{number}", std::process::id()));
    let mut replacement = Replacement { destination: destination.to_path_buf(), aside, journal: Vec::new() };
    match replacement.run(staged) {
        Ok(()) => Ok(Placed(Swapped::Replaced(replacement))),
        Err(error) => {
            replacement.undo();
            Err(error)
        }
    }
}

/// A plugin folder [`put_in_place`] filled, until it is finished or undone.
pub struct Placed(Swapped);

impl Placed {
    /// Keeps the new plugin: removes the old entries kept aside.
    pub fn finish(self) {
        if let Swapped::Replaced(replacement) = self.0 {
            let _ = std::fs::remove_dir_all(&replacement.aside);
        }
    }

    /// Puts the previous plugin back (removes a plugin that was not installed before).
    pub fn undo(self) {
        match self.0 {
            Swapped::Fresh(destination) => {
                let _ = std::fs::remove_dir_all(&destination);
            }
            Swapped::Replaced(replacement) => replacement.undo(),
        }
    }
}

/// What [`put_in_place`] did.
enum Swapped {
    /// A new folder (undone by removing it).
    Fresh(PathBuf),
    /// An installed folder whose entries were replaced.
    Replaced(Replacement),
}

/// One step of a [`Replacement`], in the order done.
enum Step {
    /// The old entry of this name was put aside (a hard link for a file, so that it stays in
    /// place until the new one is renamed over it; a move for a folder).
    Aside(std::ffi::OsString),
    /// The new entry of this name was renamed into the plugin folder.
    In(std::ffi::OsString),
}

/// The entries of an installed plugin folder replaced by those of a staged one, with a
/// journal that undoes it.
struct Replacement {
    destination: PathBuf,
    aside: PathBuf,
    journal: Vec<Step>,
}

impl Replacement {
    fn run(&mut self, staged: &Path) -> Result<(), RegistryError> {
        let io = |action: String| move |error| RegistryError::io(action, error);
        std::fs::create_dir(&self.aside).map_err(io(format!("cannot create {}", self.aside.display())))?;
        let names = |dir: &Path| -> Result<Vec<std::ffi::OsString>, RegistryError> {
            let mut names = std::fs::read_dir(dir)
                .map_err(io(format!("cannot read {}", dir.display())))?
                .map(|entry| entry.map(|entry| entry.file_name()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(io(format!("cannot read {}", dir.display())))?;
            // The manifest last: a watcher that reloads on it finds the new library in place.
            names.sort_by_key(|name| (name == tusk_plugin_catalog::MANIFEST_FILE, name.clone()));
            Ok(names)
        };
        let new_names = names(staged)?;
        for name in &new_names {
            let old = self.destination.join(name);
            let kept = self.aside.join(name);
            if let Ok(meta) = std::fs::symlink_metadata(&old) {
                let moved = if meta.is_file() {
                    std::fs::hard_link(&old, &kept).or_else(|_| std::fs::copy(&old, &kept).map(|_| ()))
                } else {
                    std::fs::rename(&old, &kept)
                };
                moved.map_err(io(format!("cannot move {} aside", old.display())))?;
                self.journal.push(Step::Aside(name.clone()));
            }
            std::fs::rename(staged.join(name), &old).map_err(io(format!("cannot move the new {}", old.display())))?;
            self.journal.push(Step::In(name.clone()));
        }
        for name in names(&self.destination)? {
            if !new_names.contains(&name) {
                let old = self.destination.join(&name);
                std::fs::rename(&old, self.aside.join(&name))
                    .map_err(io(format!("cannot move {} aside", old.display())))?;
                self.journal.push(Step::Aside(name));
            }
        }
        Ok(())
    }

    /// Puts the old entries back, newest step first, and removes what is left aside.
    fn undo(self) {
        for step in self.journal.iter().rev() {
            match step {
                Step::In(name) => {
                    let path = self.destination.join(name);
                    let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir_all(&path));
                }
                Step::Aside(name) => {
                    let _ = std::fs::rename(self.aside.join(name), self.destination.join(name));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.aside);
    }
}

impl package::PackageMeta {
    fn deps_text(&self) -> String {
        self.dependencies
            .iter()
            .map(|(name, requirement)| format!("{name} {requirement}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn entry_deps_text(entry: &IndexEntry) -> String {
    entry.deps.iter().map(|(name, requirement)| format!("{name} {requirement}")).collect::<Vec<_>>().join(", ")
}

/// Validates the unpacked manifest and checks it is the package's.
fn check_manifest(folder: &Path, name: &str, version: &semver::Version, file_name: &str) -> Result<(), RegistryError> {
    let mut sources = SourceMap::new();
    let manifest = tusk_plugin_catalog::load_manifest(folder, &mut sources).map_err(|diagnostics| {
        RegistryError::CorruptPackage {
            file: file_name.to_string(),
            message: format!(
                "its plugin.toml is invalid: {}",
                diagnostics.iter().map(|diagnostic| diagnostic.message.as_str()).collect::<Vec<_>>().join("; ")
            ),
        }
    })?;
    if manifest.name != name || &manifest.version != version {
        return Err(RegistryError::CorruptPackage {
            file: file_name.to_string(),
            message: format!(
                "its plugin.toml is {} {}, its metadata {name} {version}",
                manifest.name, manifest.version
            ),
        });
    }
    Ok(())
}

fn write_record(folder: &Path, source: &str) -> Result<(), RegistryError> {
    let record = format!("source = {}\n", toml::Value::String(source.to_string()));
    std::fs::write(folder.join(RECORD_FILE), record)
        .map_err(|error| RegistryError::io(format!("cannot write {}", folder.join(RECORD_FILE).display()), error))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), RegistryError> {
    std::fs::create_dir_all(to).map_err(|error| RegistryError::io(format!("cannot create {}", to.display()), error))?;
    let entries =
        std::fs::read_dir(from).map_err(|error| RegistryError::io(format!("cannot read {}", from.display()), error))?;
    for entry in entries {
        let entry = entry.map_err(|error| RegistryError::io(format!("cannot read {}", from.display()), error))?;
        let target = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(|error| RegistryError::io(format!("cannot read {}", entry.path().display()), error))?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .map_err(|error| RegistryError::io(format!("cannot copy {}", entry.path().display()), error))?;
        }
    }
    Ok(())
}

/// What an installation changed.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Plugins installed or replaced, with their index entries (for their permissions).
    pub installed: Vec<(LockedPlugin, Option<IndexEntry>)>,
    /// Plugins already installed at the chosen version.
    pub unchanged: Vec<LockedPlugin>,
    /// Warnings.
    pub notes: Vec<String>,
    /// The declared permissions of the versions that were replaced, by plugin name, so that
    /// an update can show what changed.
    pub previous_permissions: HashMap<String, serde_json::Value>,
}

/// The `[permissions]` of the plugin installed in `folder`, if one is.
fn installed_permissions(folder: &Path) -> Option<serde_json::Value> {
    if !folder.join(tusk_plugin_catalog::MANIFEST_FILE).is_file() {
        return None;
    }
    let manifest = tusk_plugin_catalog::load_manifest(folder, &mut SourceMap::new()).ok()?;
    serde_json::to_value(&manifest.permissions).ok()
}

/// Resolves `requests` (with the lockfile's requirements on plugins of the same registry)
/// against `registry`, installs what changed into `scope` and rewrites its lockfile.
/// `update`: `None` keeps every locked version that still fits; `Some(names)` lets those
/// (every plugin when empty) move to the newest version their requirements allow.
pub fn install(
    registry: &Registry,
    requests: &[(String, VersionReq)],
    update: Option<&[String]>,
    scope: &Scope,
    options: &InstallOptions<'_>,
) -> Result<Outcome, RegistryError> {
    let mut lock = Lockfile::load(&scope.lock_path)?;
    let source = registry.source_text();
    let mut roots: Vec<(String, VersionReq)> = Vec::new();
    for (name, requirement) in &lock.requirements {
        let from_here = lock.plugin(name).is_none_or(|locked| locked.source == source);
        if from_here && !requests.iter().any(|(requested, _)| requested == name) {
            let requirement = requirement.parse().map_err(|error| RegistryError::Lock {
                message: format!("{}: requirement `{requirement}` of {name}: {error}", scope.lock_path.display()),
            })?;
            roots.push((name.clone(), requirement));
        }
    }
    roots.extend(requests.iter().cloned());
    let mut preferred = HashMap::new();
    for locked in lock.plugins.iter().filter(|locked| locked.source == source) {
        let moving = match update {
            None => requests.iter().any(|(name, _)| name == &locked.name),
            Some(names) => names.is_empty() || names.contains(&locked.name),
        };
        if !moving && let Ok(version) = locked.version.parse() {
            preferred.insert(locked.name.clone(), version);
        }
    }
    let chosen =
        crate::resolve::resolve(&roots, &mut |name| registry.entries(name), &options.compatibility, &preferred)?;
    let versions: HashMap<&str, String> =
        chosen.iter().map(|entry| (entry.name.as_str(), entry.vers.to_string())).collect();
    let mut staging = Staging::new(&scope.plugins_dir)?;
    let mut outcome = Outcome::default();
    let mut entries = HashMap::new();
    for entry in &chosen {
        let dependencies: Vec<String> = entry
            .deps
            .keys()
            .map(|name| format!("{name} {}", versions.get(name.as_str()).cloned().unwrap_or_default()))
            .collect();
        let checksum = format!("sha256:{}", entry.cksum);
        if let Some(locked) = lock.plugin(&entry.name)
            && locked.source == source
            && locked.checksum == checksum
            && scope.plugins_dir.join(&entry.name).join(tusk_plugin_catalog::MANIFEST_FILE).is_file()
        {
            outcome.unchanged.push(locked.clone());
            continue;
        }
        let archive = registry.download(entry)?;
        staging.stage_package(registry, entry, &archive, dependencies, options)?;
        if let Some(previous) = installed_permissions(&scope.plugins_dir.join(&entry.name)) {
            outcome.previous_permissions.insert(entry.name.clone(), previous);
        }
        entries.insert(entry.name.clone(), entry.clone());
    }
    for (name, requirement) in requests {
        // A request without a requirement is recorded as "this major version" (as `cargo add`
        // does), so that `update` does not cross a breaking change unasked.
        let recorded = match chosen.iter().find(|entry| &entry.name == name) {
            Some(entry) if *requirement == VersionReq::STAR => format!("^{}", entry.vers),
            _ => requirement.to_string(),
        };
        lock.requirements.insert(name.clone(), recorded);
    }
    let staged: Vec<LockedPlugin> = staging.staged().cloned().collect();
    for locked in staged {
        lock.set(locked);
    }
    outcome.notes = std::mem::take(&mut staging.notes);
    let installed = staging.commit(Some((&scope.lock_path, &lock)))?;
    outcome.installed = installed
        .into_iter()
        .map(|locked| {
            let entry = entries.remove(&locked.name);
            (locked, entry)
        })
        .collect();
    Ok(outcome)
}

/// Stages exactly the lockfile's registry plugins: each version from the registry it was
/// installed from, with the locked checksum. `registry_for` maps a lockfile source to its
/// registry (`None`: built from source); those plugins are returned for the caller to build
/// and stage.
pub fn stage_locked(
    lock: &Lockfile,
    lock_path: &Path,
    staging: &mut Staging,
    registry_for: &dyn Fn(&str) -> Option<Registry>,
    options: &InstallOptions<'_>,
) -> Result<Vec<LockedPlugin>, RegistryError> {
    let mut from_source = Vec::new();
    for locked in &lock.plugins {
        let Some(registry) = registry_for(&locked.source) else {
            from_source.push(locked.clone());
            continue;
        };
        let entry = registry
            .entries(&locked.name)?
            .into_iter()
            .find(|entry| entry.vers.to_string() == locked.version && entry.target == locked.target)
            .ok_or_else(|| RegistryError::Lock {
                message: format!(
                    "{} {} for {} (locked in {}) is not in registry `{}` any more",
                    locked.name,
                    locked.version,
                    locked.target,
                    lock_path.display(),
                    registry.name
                ),
            })?;
        let checksum = format!("sha256:{}", entry.cksum);
        if checksum != locked.checksum {
            return Err(RegistryError::ChecksumMismatch {
                file: format!("{} {} (locked in {})", locked.name, locked.version, lock_path.display()),
                expected: locked.checksum.trim_start_matches("sha256:").to_string(),
                found: entry.cksum,
            });
        }
        if entry.yanked {
            staging.notes.push(format!(
                "{} {} is yanked in registry `{}`; installed because {} locks it",
                locked.name,
                locked.version,
                registry.name,
                lock_path.display()
            ));
        }
        let archive = registry.download(&entry)?;
        staging.stage_package(&registry, &entry, &archive, locked.dependencies.clone(), options)?;
    }
    Ok(from_source)
}

/// Installs exactly the lockfile's registry plugins into `scope` ([`stage_locked`]); fails
/// when the lockfile also has plugins built from source (the tusk command builds those).
pub fn reproduce(
    scope: &Scope,
    registry_for: &dyn Fn(&str) -> Option<Registry>,
    options: &InstallOptions<'_>,
) -> Result<(Vec<LockedPlugin>, Vec<String>), RegistryError> {
    if !scope.lock_path.is_file() {
        return Err(RegistryError::Lock {
            message: format!("there is no {} to install from", scope.lock_path.display()),
        });
    }
    let lock = Lockfile::load(&scope.lock_path)?;
    let mut staging = Staging::new(&scope.plugins_dir)?;
    let from_source = stage_locked(&lock, &scope.lock_path, &mut staging, registry_for, options)?;
    if let Some(first) = from_source.first() {
        return Err(RegistryError::Lock {
            message: format!("{} comes from {}, which is not a registry", first.name, first.source),
        });
    }
    let notes = std::mem::take(&mut staging.notes);
    Ok((staging.commit(None)?, notes))
}

/// A digest of the source tree at `dir`: every file's path and SHA-256, in path order, except
/// under `target` and dot folders (build output, `.git`). Plugins built from source are locked
/// with it, since two builds of one source rarely give the same bytes.
pub fn source_digest(dir: &Path) -> Result<String, RegistryError> {
    fn walk(root: &Path, dir: &Path, lines: &mut Vec<String>) -> Result<(), RegistryError> {
        let entries = std::fs::read_dir(dir)
            .map_err(|error| RegistryError::io(format!("cannot read {}", dir.display()), error))?;
        for entry in entries {
            let entry = entry.map_err(|error| RegistryError::io(format!("cannot read {}", dir.display()), error))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|error| RegistryError::io(format!("cannot read {}", path.display()), error))?;
            if kind.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    walk(root, &path, lines)?;
                }
            } else if kind.is_file() {
                let bytes = std::fs::read(&path)
                    .map_err(|error| RegistryError::io(format!("cannot read {}", path.display()), error))?;
                let relative = path.strip_prefix(root).unwrap_or(&path).display().to_string();
                lines.push(format!("{relative}\0{}\n", crate::sha256_hex(&bytes)));
            }
        }
        Ok(())
    }
    let mut lines = Vec::new();
    walk(dir, dir, &mut lines)?;
    lines.sort();
    Ok(crate::sha256_hex(lines.concat().as_bytes()))
}

/// One line of `tusk plugin outdated`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outdated {
    /// The plugin.
    pub name: String,
    /// The locked version.
    pub locked: String,
    /// The newest version within the lockfile's requirement (what `update` would install).
    pub compatible: Option<String>,
    /// The newest version this tusk can run, whatever the requirement.
    pub latest: Option<String>,
}

/// The lockfile's plugins from `registry` that have newer versions: what `update` would
/// install (the newest versions every requirement allows, resolved together), and the newest
/// this tusk can run.
pub fn outdated(
    registry: &Registry,
    scope: &Scope,
    compatibility: &Compatibility,
) -> Result<Vec<Outdated>, RegistryError> {
    let lock = Lockfile::load(&scope.lock_path)?;
    let source = registry.source_text();
    let mut roots = Vec::new();
    for (name, requirement) in &lock.requirements {
        if lock.plugin(name).is_some_and(|locked| locked.source == source) {
            let requirement: VersionReq = requirement.parse().map_err(|error| RegistryError::Lock {
                message: format!("{}: requirement `{requirement}` of {name}: {error}", scope.lock_path.display()),
            })?;
            roots.push((name.clone(), requirement));
        }
    }
    let mut known: HashMap<String, Vec<IndexEntry>> = HashMap::new();
    let mut lookup = |name: &str| -> Result<Vec<IndexEntry>, RegistryError> {
        if let Some(entries) = known.get(name) {
            return Ok(entries.clone());
        }
        let entries = registry.entries(name)?;
        known.insert(name.to_string(), entries.clone());
        Ok(entries)
    };
    let resolved = crate::resolve::resolve(&roots, &mut lookup, compatibility, &HashMap::new())?;
    let mut lines = Vec::new();
    for locked in lock.plugins.iter().filter(|locked| locked.source == source) {
        let Ok(current) = locked.version.parse::<semver::Version>() else { continue };
        let compatible = resolved
            .iter()
            .find(|entry| entry.name == locked.name && entry.vers > current)
            .map(|entry| entry.vers.to_string());
        let latest = lookup(&locked.name)?
            .into_iter()
            .filter(|entry| !entry.yanked && compatibility.problem(entry).is_none() && entry.vers > current)
            .map(|entry| entry.vers)
            .max()
            .map(|version| version.to_string());
        if latest.is_some() {
            lines.push(Outdated { name: locked.name.clone(), locked: locked.version.clone(), compatible, latest });
        }
    }
    Ok(lines)
}
