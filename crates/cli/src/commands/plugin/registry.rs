//! `tusk plugin pack`, `keygen`, `publish`, `yank`, `search`, `outdated`, `update`, and the forms of
//! `tusk plugin install` that record what they install in a lockfile: from a registry
//! (`NAME[@REQ]`), from the lockfile (no argument), and built from source (`--path`, `--git`,
//! `--crate`). The work is `tusk_plugin_registry`'s; this module reads the command line and
//! the user configuration, builds plugins with cargo and prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tusk_plugin_catalog::{Permissions, default_config_file};
use tusk_plugin_registry::install::{self, Staging};
use tusk_plugin_registry::settings::stamp_file;
use tusk_plugin_registry::source::Location;
use tusk_plugin_registry::{
    AutoUpdate, Compatibility, InstallOptions, LOCK_FILE, LibraryCheck, LibraryFacts, LockedPlugin, Lockfile, Registry,
    RegistrySettings, Scope, Unsigned, signing,
};

use crate::cli::{
    PluginInstallArgs, PluginKeygenArgs, PluginPackArgs, PluginPublishArgs, PluginScopeArgs, PluginSearchArgs,
    PluginUpdateArgs, PluginYankArgs,
};
use crate::commands::plugin::{Profile, fail, permissions_text, prepare, user_plugins_dir};
use crate::commands::{Context, Status};
use crate::output;

/// Reads libraries' info records through the plugin host (nothing is loaded).
struct HostCheck;

impl LibraryCheck for HostCheck {
    fn facts(&self, library: &Path) -> Result<LibraryFacts, String> {
        let info = tusk_plugin_host::read_info_record(library).map_err(|error| error.to_string())?;
        let end = info.target.iter().position(|&byte| byte == 0).unwrap_or(info.target.len());
        Ok(LibraryFacts {
            abi: (info.abi_major, info.abi_minor),
            target: String::from_utf8_lossy(&info.target[..end]).into_owned(),
        })
    }
}

/// The registry settings of the user configuration.
fn settings() -> Result<RegistrySettings, String> {
    match default_config_file() {
        Some(path) => RegistrySettings::load(&path).map_err(|error| error.to_string()),
        None => Ok(RegistrySettings::default()),
    }
}

/// The plugin folder and lockfile the command works on.
fn scope(args: &PluginScopeArgs) -> Result<Scope, String> {
    if args.user {
        let plugins_dir = user_plugins_dir().ok_or("cannot find the user's data folder: set HOME or XDG_DATA_HOME")?;
        let lock_path = plugins_dir.parent().map_or_else(|| PathBuf::from(LOCK_FILE), |dir| dir.join(LOCK_FILE));
        return Ok(Scope { plugins_dir, lock_path });
    }
    let project = args.project.clone().unwrap_or_else(|| PathBuf::from("."));
    let project = crate::commands::absolute(&project);
    Ok(Scope { plugins_dir: project.join("plugins"), lock_path: project.join(LOCK_FILE) })
}

fn compatibility() -> Compatibility {
    Compatibility::current(tusk_plugin_host::current_versions().tusk)
}

fn options<'a>(settings: &'a RegistrySettings, unsigned: Unsigned) -> InstallOptions<'a> {
    InstallOptions { trusted_keys: &settings.trusted_keys, unsigned, compatibility: compatibility(), check: &HostCheck }
}

/// `registry+LOCATION` sources are registries; the configured one of that location if any.
fn registry_for(settings: &RegistrySettings) -> impl Fn(&str) -> Option<Registry> + '_ {
    move |source: &str| settings.for_source(source)
}

fn error_status(error: impl std::fmt::Display) -> anyhow::Result<Status> {
    Ok(fail(&error.to_string()))
}

/// `tusk plugin install` in the forms that record a lockfile.
pub fn install(context: &Context, args: &PluginInstallArgs) -> anyhow::Result<Status> {
    let settings = match settings() {
        Ok(settings) => settings,
        Err(message) => return Ok(fail(&message)),
    };
    let scope = match scope(&args.registry.scope) {
        Ok(scope) => scope,
        Err(message) => return Ok(fail(&message)),
    };
    let profile = if args.debug { Profile::Debug } else { Profile::Release };
    if let Some(dir) = &args.path {
        return from_source(context, &scope, SourceSpec::Path(dir.clone()), profile);
    }
    if let Some(url) = &args.git {
        return from_source(context, &scope, SourceSpec::Git { url: url.clone(), rev: args.rev.clone() }, profile);
    }
    if let Some(spec) = &args.crate_name {
        return from_source(context, &scope, SourceSpec::Crate(spec.clone()), profile);
    }
    let options = options(&settings, if args.registry.allow_unsigned { Unsigned::Install } else { Unsigned::Refuse });
    let Some(spec) = &args.target else {
        return reproduce(context, &settings, &scope, &options, profile);
    };
    let (name, requirement) = match spec.split_once('@') {
        Some((name, requirement)) => match requirement.parse::<semver::VersionReq>() {
            Ok(requirement) => (name.to_string(), requirement),
            Err(error) => {
                return Ok(fail(&format!("invalid version requirement `{requirement}` in `{spec}`: {error}")));
            }
        },
        None => (spec.clone(), semver::VersionReq::STAR),
    };
    let registry = match settings.pick(args.registry.registry.as_deref()) {
        Ok(registry) => registry,
        Err(error) => return error_status(error),
    };
    match install::install(&registry, &[(name, requirement)], None, &scope, &options) {
        Ok(outcome) => {
            report_outcome(&registry, &scope, &outcome)?;
            Ok(Status::Success)
        }
        Err(error) => error_status(error),
    }
}

/// Prints what an installation or update changed.
fn report_outcome(registry: &Registry, scope: &Scope, outcome: &install::Outcome) -> anyhow::Result<()> {
    let mut text = String::new();
    for (locked, entry) in &outcome.installed {
        text.push_str(&format!(
            "installed {} {} from registry `{}` in {}\n",
            locked.name,
            locked.version,
            registry.name,
            scope.plugins_dir.join(&locked.name).display()
        ));
        let now =
            entry.as_ref().and_then(|entry| serde_json::from_value::<Permissions>(entry.permissions.clone()).ok());
        if let Some(permissions) = &now {
            text.push_str(&format!("  permissions: {}\n", permissions_text(permissions)));
        }
        let before = outcome
            .previous_permissions
            .get(&locked.name)
            .and_then(|value| serde_json::from_value::<Permissions>(value.clone()).ok());
        if let (Some(before), Some(now)) = (&before, &now)
            && before != now
        {
            text.push_str(&format!(
                "  warning: its permissions changed; the version it replaced asked for: {}\n",
                permissions_text(before)
            ));
        }
    }
    for locked in &outcome.unchanged {
        text.push_str(&format!("{} {} is already installed\n", locked.name, locked.version));
    }
    for note in &outcome.notes {
        text.push_str(&format!("warning: {note}\n"));
    }
    text.push_str(&format!("recorded in {}\n", scope.lock_path.display()));
    output::write_stdout(&text)?;
    Ok(())
}

/// `tusk plugin install` with no argument: exactly the locked set, registry packages and
/// plugins built from source alike, swapped in together.
fn reproduce(
    context: &Context,
    settings: &RegistrySettings,
    scope: &Scope,
    options: &InstallOptions<'_>,
    profile: Profile,
) -> anyhow::Result<Status> {
    if !scope.lock_path.is_file() {
        return Ok(fail(&format!(
            "there is no {} here: name a plugin to install (`tusk plugin install NAME`), or pass --project DIR",
            scope.lock_path.display()
        )));
    }
    let lock = match Lockfile::load(&scope.lock_path) {
        Ok(lock) => lock,
        Err(error) => return error_status(error),
    };
    let mut staging = match Staging::new(&scope.plugins_dir) {
        Ok(staging) => staging,
        Err(error) => return error_status(error),
    };
    let lookup = registry_for(settings);
    let from_source = match install::stage_locked(&lock, &scope.lock_path, &mut staging, &lookup, options) {
        Ok(from_source) => from_source,
        Err(error) => return error_status(error),
    };
    // Kept alive until the commit: the staged copies are made from their folders.
    let mut builds = Vec::new();
    for locked in &from_source {
        let spec = match SourceSpec::from_locked(&locked.source) {
            Ok(spec) => spec,
            Err(message) => return Ok(fail(&message)),
        };
        match build_source(context, &spec, profile) {
            Ok(built) => {
                if built.locked.checksum != locked.checksum {
                    return Ok(fail(&format!(
                        "checksum mismatch for {} {} from {}: tusk.lock has {}, the source now gives {}",
                        locked.name, locked.version, locked.source, locked.checksum, built.locked.checksum
                    )));
                }
                if let Err(error) = staging.stage_folder(&built.folder(), locked.clone()) {
                    return error_status(error);
                }
                builds.push(built);
            }
            Err(message) => return Ok(fail(&message)),
        }
    }
    let notes = std::mem::take(&mut staging.notes);
    match staging.commit(None) {
        Ok(installed) => {
            let mut text: String = installed
                .iter()
                .map(|locked| format!("installed {} {} ({})\n", locked.name, locked.version, locked.source))
                .collect();
            text.extend(notes.iter().map(|note| format!("warning: {note}\n")));
            text.push_str(&format!("{} plugins installed from {}\n", installed.len(), scope.lock_path.display()));
            output::write_stdout(&text)?;
            Ok(Status::Success)
        }
        Err(error) => error_status(error),
    }
}

/// Where a plugin's source comes from.
enum SourceSpec {
    Path(PathBuf),
    Git { url: String, rev: Option<String> },
    Crate(String),
}

impl SourceSpec {
    /// The spec of a lockfile source built from source (`path+DIR`, `git+URL#COMMIT`,
    /// `crate+NAME@VERSION`).
    fn from_locked(source: &str) -> Result<SourceSpec, String> {
        if let Some(dir) = source.strip_prefix("path+") {
            return Ok(SourceSpec::Path(PathBuf::from(dir)));
        }
        if let Some(rest) = source.strip_prefix("git+") {
            let (url, commit) =
                rest.rsplit_once('#').ok_or_else(|| format!("invalid source `{source}` in the lockfile"))?;
            return Ok(SourceSpec::Git { url: url.to_string(), rev: Some(commit.to_string()) });
        }
        if let Some(spec) = source.strip_prefix("crate+") {
            return Ok(SourceSpec::Crate(spec.to_string()));
        }
        Err(format!("unknown source `{source}` in the lockfile"))
    }
}

/// A plugin built from source, staged in a temporary folder.
struct Built {
    prepared: super::Prepared,
    locked: LockedPlugin,
    /// The clone or download the build was made from.
    _checkout: Option<tempfile::TempDir>,
}

impl Built {
    fn folder(&self) -> PathBuf {
        self.prepared.manifest.dir.clone()
    }
}

/// Fetches (git, crate) and builds a plugin crate, and describes it for the lockfile.
fn build_source(context: &Context, spec: &SourceSpec, profile: Profile) -> Result<Built, String> {
    let (dir, source, checkout) = match spec {
        SourceSpec::Path(dir) => {
            let canonical = dir.canonicalize().map_err(|error| format!("cannot read {}: {error}", dir.display()))?;
            let source = format!("path+{}", canonical.display());
            (canonical, source, None)
        }
        SourceSpec::Git { url, rev } => {
            let checkout = tempfile::Builder::new().prefix("tusk-git-").tempdir().map_err(|error| error.to_string())?;
            let dir = checkout.path().join("source");
            run_git(&["clone", "--quiet", url, &dir.display().to_string()], None)?;
            if let Some(rev) = rev {
                run_git(&["checkout", "--quiet", rev], Some(&dir))?;
            }
            let commit = run_git(&["rev-parse", "HEAD"], Some(&dir))?;
            (dir, format!("git+{url}#{}", commit.trim()), Some(checkout))
        }
        SourceSpec::Crate(spec) => {
            let checkout =
                tempfile::Builder::new().prefix("tusk-crate-").tempdir().map_err(|error| error.to_string())?;
            let (dir, source) = fetch_crate(spec, checkout.path())?;
            (dir, source, Some(checkout))
        }
    };
    let mut plain = context.plain_engine();
    let prepared = prepare(context, &mut plain, &dir, profile)
        .map_err(|_| format!("cannot build the plugin from {source} (the problems are above)"))?;
    // After the build: cargo may write the crate's Cargo.lock on its first build.
    let digest = install::source_digest(&dir).map_err(|error| error.to_string())?;
    let facts = HostCheck.facts(&prepared.manifest.library)?;
    let manifest = &prepared.manifest;
    let locked = LockedPlugin {
        name: manifest.name.clone(),
        version: manifest.version.to_string(),
        source,
        target: facts.target,
        checksum: format!("sha256:{digest}"),
        dependencies: manifest
            .dependencies
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "tusk" | "core" | "std"))
            .map(|(name, requirement)| format!("{name} {requirement}"))
            .collect(),
    };
    Ok(Built { prepared, locked, _checkout: checkout })
}

/// `--path`, `--git`, `--crate`: build, stage, swap in, record in the lockfile.
fn from_source(context: &Context, scope: &Scope, spec: SourceSpec, profile: Profile) -> anyhow::Result<Status> {
    let built = match build_source(context, &spec, profile) {
        Ok(built) => built,
        Err(message) => return Ok(fail(&message)),
    };
    let mut lock = match Lockfile::load(&scope.lock_path) {
        Ok(lock) => lock,
        Err(error) => return error_status(error),
    };
    let mut staging = match Staging::new(&scope.plugins_dir) {
        Ok(staging) => staging,
        Err(error) => return error_status(error),
    };
    if let Err(error) = staging.stage_folder(&built.folder(), built.locked.clone()) {
        return error_status(error);
    }
    lock.set(built.locked.clone());
    match staging.commit(Some((&scope.lock_path, &lock))) {
        Ok(_) => {
            let manifest = &built.prepared.manifest;
            output::write_stdout(&format!(
                "installed {} {} ({}) in {}\n  permissions: {}\nrecorded in {}\n",
                manifest.name,
                manifest.version,
                built.locked.source,
                scope.plugins_dir.join(&manifest.name).display(),
                permissions_text(&manifest.permissions),
                scope.lock_path.display()
            ))?;
            Ok(Status::Success)
        }
        Err(error) => error_status(error),
    }
}

/// Runs git; its standard output, or its error text.
fn run_git(args: &[&str], dir: Option<&Path>) -> Result<String, String> {
    let mut command = Command::new("git");
    command.args(args).stdin(Stdio::null());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let output = command.output().map_err(|error| format!("cannot run git: {error}"))?;
    if !output.status.success() {
        return Err(format!("git {} failed: {}", args[0], String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Downloads the crate `NAME[@VERSION]` through cargo (from cargo's default registry, or the
/// one cargo is configured to use) into `work`; returns its copied source folder and the
/// lockfile source `crate+NAME@VERSION`.
fn fetch_crate(spec: &str, work: &Path) -> Result<(PathBuf, String), String> {
    let (name, version) = spec.split_once('@').unwrap_or((spec, "*"));
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("invalid crate name `{name}`"));
    }
    let requirement = if version == "*" { "*".to_string() } else { format!("={version}") };
    let fetcher = work.join("fetch");
    std::fs::create_dir_all(&fetcher).map_err(|error| error.to_string())?;
    let manifest = format!(
        "[package]\nname = \"tusk-crate-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [lib]\npath = \"lib.rs\"\n\n[dependencies]\n{name} = {}\n\n[workspace]\n",
        toml_string(&requirement)
    );
    std::fs::write(fetcher.join("Cargo.toml"), manifest).map_err(|error| error.to_string())?;
    std::fs::write(fetcher.join("lib.rs"), "").map_err(|error| error.to_string())?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(fetcher.join("Cargo.toml"))
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if !output.status.success() {
        return Err(format!("cargo cannot fetch crate `{spec}`: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|error| error.to_string())?;
    let package = metadata["packages"]
        .as_array()
        .and_then(|packages| packages.iter().find(|package| package["name"] == name))
        .ok_or_else(|| format!("cargo found no crate `{name}`"))?;
    let source_manifest = package["manifest_path"].as_str().ok_or("cargo gave no manifest path")?;
    let found_version = package["version"].as_str().unwrap_or(version).to_string();
    let source_dir = Path::new(source_manifest).parent().ok_or("cargo gave no manifest folder")?;
    let copy = work.join("source");
    copy_tree(source_dir, &copy)?;
    Ok((copy, format!("crate+{name}@{found_version}")))
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// Copies a source tree (not `target`), so that building it leaves cargo's registry cache alone.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|error| format!("cannot create {}: {error}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|error| format!("cannot read {}: {error}", from.display()))? {
        let entry = entry.map_err(|error| error.to_string())?;
        let kind = entry.file_type().map_err(|error| error.to_string())?;
        let target = to.join(entry.file_name());
        if kind.is_dir() && entry.file_name() != "target" {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .map_err(|error| format!("cannot copy {}: {error}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// `tusk plugin pack [PATH]`.
pub fn pack(context: &Context, args: &PluginPackArgs) -> anyhow::Result<Status> {
    let profile = if args.debug { Profile::Debug } else { Profile::Release };
    let mut plain = context.plain_engine();
    let Ok(prepared) = prepare(context, &mut plain, &args.path, profile) else { return Ok(Status::ScriptError) };
    let (meta, archive) = match tusk_plugin_registry::package::pack_folder(&prepared.manifest.dir, &HostCheck) {
        Ok(packed) => packed,
        Err(error) => return error_status(error),
    };
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
    if let Err(error) = std::fs::create_dir_all(&out) {
        return Ok(fail(&format!("cannot create {}: {error}", out.display())));
    }
    let file = out.join(meta.file_name());
    if let Err(error) = std::fs::write(&file, &archive) {
        return Ok(fail(&format!("cannot write {}: {error}", file.display())));
    }
    let mut text = format!(
        "packed {} {} for {} (plugin ABI {}) into {}\n  sha256 {}, {} bytes\n",
        meta.name,
        meta.version,
        meta.target,
        meta.abi,
        file.display(),
        tusk_plugin_registry::sha256_hex(&archive),
        archive.len()
    );
    if let Some(key_file) = &args.sign {
        let key = match std::fs::read_to_string(key_file) {
            Ok(key) => key,
            Err(error) => return Ok(fail(&format!("cannot read {}: {error}", key_file.display()))),
        };
        let signature = match signing::sign(&archive, &key, &meta.file_name()) {
            Ok(signature) => signature,
            Err(error) => return error_status(error),
        };
        let signature_file = PathBuf::from(format!("{}.minisig", file.display()));
        if let Err(error) = std::fs::write(&signature_file, signature) {
            return Ok(fail(&format!("cannot write {}: {error}", signature_file.display())));
        }
        text.push_str(&format!("  signed: {}\n", signature_file.display()));
    }
    output::write_stdout(&text)?;
    Ok(Status::Success)
}

/// `tusk plugin keygen`.
pub fn keygen(args: &PluginKeygenArgs) -> anyhow::Result<Status> {
    let Some(dir) =
        args.out.clone().or_else(|| default_config_file().and_then(|file| file.parent().map(Path::to_path_buf)))
    else {
        return Ok(fail("cannot find the user's configuration folder: set HOME or XDG_CONFIG_HOME, or pass --out"));
    };
    let secret_file = dir.join("signing.key");
    let public_file = dir.join("signing.pub");
    for file in [&secret_file, &public_file] {
        if file.exists() {
            return Ok(fail(&format!("{} exists already; tusk does not overwrite keys", file.display())));
        }
    }
    let pair = match signing::generate_key_pair() {
        Ok(pair) => pair,
        Err(error) => return error_status(error),
    };
    if let Err(error) = std::fs::create_dir_all(&dir) {
        return Ok(fail(&format!("cannot create {}: {error}", dir.display())));
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&secret_file)
        .and_then(|mut file| std::io::Write::write_all(&mut file, pair.secret_file.as_bytes()))
        .and_then(|()| std::fs::write(&public_file, &pair.public_file));
    if let Err(error) = written {
        return Ok(fail(&format!("cannot write the key files in {}: {error}", dir.display())));
    }
    output::write_stdout(&format!(
        "key {} written:\n  secret: {} (sign with `tusk plugin pack --sign {}`; keep it private)\n  public: {}\n\
         to trust it, add to ~/.config/tusk/config.toml:\n  [registry]\n  trusted_keys = [\"{}\"]\n",
        pair.key_id,
        secret_file.display(),
        secret_file.display(),
        public_file.display(),
        pair.public_base64
    ))?;
    Ok(Status::Success)
}

/// `tusk plugin publish ARCHIVE --registry DIR`.
pub fn publish(args: &PluginPublishArgs) -> anyhow::Result<Status> {
    let settings = match settings() {
        Ok(settings) => settings,
        Err(message) => return Ok(fail(&message)),
    };
    let root = match folder_registry(&settings, args.registry.as_deref()) {
        Ok(root) => root,
        Err(message) => return Ok(fail(&message)),
    };
    let archive = match std::fs::read(&args.archive) {
        Ok(archive) => archive,
        Err(error) => return Ok(fail(&format!("cannot read {}: {error}", args.archive.display()))),
    };
    let signature_file = PathBuf::from(format!("{}.minisig", args.archive.display()));
    let signature = match std::fs::read_to_string(&signature_file) {
        Ok(signature) => Some(signature),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Ok(fail(&format!("cannot read {}: {error}", signature_file.display()))),
    };
    match tusk_plugin_registry::publish::publish(&root, &archive, signature.as_deref()) {
        Ok(entry) => {
            let signed = match &entry.key_id {
                Some(id) => format!("signed by key {id}"),
                None => "unsigned: installs need --allow-unsigned".to_string(),
            };
            output::write_stdout(&format!(
                "published {} {} for {} in {} ({signed})\n",
                entry.name,
                entry.vers,
                entry.target,
                root.display()
            ))?;
            Ok(Status::Success)
        }
        Err(error) => error_status(error),
    }
}

/// The folder of a registry that takes writes (publish, yank).
fn folder_registry(settings: &RegistrySettings, named: Option<&str>) -> Result<PathBuf, String> {
    let registry = settings.pick(named).map_err(|error| error.to_string())?;
    match &registry.location {
        Location::Folder(dir) => Ok(dir.clone()),
        Location::Http(_) => Err(format!(
            "registry `{}` is served over HTTP, which takes no uploads: publish and yank in the folder its server serves",
            registry.name
        )),
    }
}

/// `tusk plugin yank NAME@VERSION --registry DIR [--undo]`.
pub fn yank(args: &PluginYankArgs) -> anyhow::Result<Status> {
    let settings = match settings() {
        Ok(settings) => settings,
        Err(message) => return Ok(fail(&message)),
    };
    let Some((name, version)) = args.spec.split_once('@') else {
        return Ok(fail(&format!(
            "`{}` names no version: yank takes NAME@VERSION (for example greeter@1.2.0)",
            args.spec
        )));
    };
    let version = match version.parse::<semver::Version>() {
        Ok(version) => version,
        Err(error) => return Ok(fail(&format!("invalid version `{version}` in `{}`: {error}", args.spec))),
    };
    let root = match folder_registry(&settings, args.registry.as_deref()) {
        Ok(root) => root,
        Err(message) => return Ok(fail(&message)),
    };
    match tusk_plugin_registry::publish::yank(&root, name, &version, !args.undo) {
        Ok(outcome) => {
            let state = if args.undo { "not yanked" } else { "yanked" };
            let what = if outcome.changed { "is now" } else { "was already" };
            output::write_stdout(&format!(
                "{name} {version} ({}) {what} {state} in {}\n",
                outcome.targets.join(", "),
                root.display()
            ))?;
            Ok(Status::Success)
        }
        Err(error) => error_status(error),
    }
}

/// `tusk plugin search WORDS…`.
pub fn search(args: &PluginSearchArgs) -> anyhow::Result<Status> {
    let settings = match settings() {
        Ok(settings) => settings,
        Err(message) => return Ok(fail(&message)),
    };
    let registries = match &args.registry {
        Some(named) => match settings.pick(Some(named)) {
            Ok(registry) => vec![registry],
            Err(error) => return error_status(error),
        },
        None if settings.registries.is_empty() => return error_status(settings.pick(None).unwrap_err()),
        None => settings.registries.clone(),
    };
    let mut text = String::new();
    let mut status = Status::Success;
    for registry in &registries {
        match registry.search_list() {
            Ok(list) => {
                for entry in list.iter().filter(|entry| entry.matches(&args.words)) {
                    text.push_str(&format!(
                        "{} {} ({}): {}\n",
                        entry.name, entry.version, registry.name, entry.description
                    ));
                }
            }
            Err(error) => {
                output::write_stderr(&format!("Error: {error}\n"));
                status = Status::ScriptError;
            }
        }
    }
    if text.is_empty() && status == Status::Success {
        text = format!("no plugin matches `{}`\n", args.words.join(" "));
    }
    output::write_stdout(&text)?;
    Ok(status)
}

/// The registries the lockfile's plugins come from, each once.
fn locked_registries(settings: &RegistrySettings, lock: &Lockfile) -> Vec<Registry> {
    let mut registries: Vec<Registry> = Vec::new();
    for locked in &lock.plugins {
        if let Some(registry) = settings.for_source(&locked.source)
            && !registries.iter().any(|known| known.source_text() == registry.source_text())
        {
            registries.push(registry);
        }
    }
    registries
}

/// `tusk plugin outdated`.
pub fn outdated(args: &PluginScopeArgs) -> anyhow::Result<Status> {
    let (settings, scope) = match settings().and_then(|settings| Ok((settings, scope(args)?))) {
        Ok(pair) => pair,
        Err(message) => return Ok(fail(&message)),
    };
    let lock = match Lockfile::load(&scope.lock_path) {
        Ok(lock) => lock,
        Err(error) => return error_status(error),
    };
    let mut lines = Vec::new();
    for registry in locked_registries(&settings, &lock) {
        match install::outdated(&registry, &scope, &compatibility()) {
            Ok(found) => lines.extend(found),
            Err(error) => return error_status(error),
        }
    }
    if lines.is_empty() {
        output::write_stdout(&format!("every plugin in {} is up to date\n", scope.lock_path.display()))?;
        return Ok(Status::Success);
    }
    let mut text = format!("{:<20} {:<12} {:<12} {}\n", "plugin", "locked", "update to", "latest");
    for line in lines {
        text.push_str(&format!(
            "{:<20} {:<12} {:<12} {}\n",
            line.name,
            line.locked,
            line.compatible.as_deref().unwrap_or("-"),
            line.latest.as_deref().unwrap_or("-")
        ));
    }
    output::write_stdout(&text)?;
    Ok(Status::Success)
}

/// Where automatic updates keep their state: `~/.cache/tusk` (the stamps of the last checks
/// and the log of the checks started in the background).
fn auto_update_dir() -> Option<PathBuf> {
    tusk_plugin_catalog::default_index_file().and_then(|file| file.parent().map(Path::to_path_buf))
}

/// The log of the automatic update checks started in the background.
pub const AUTO_UPDATE_LOG: &str = "auto-update.log";

/// At the start of `tusk run`, `tusk run --watch` and `tusk repl`: when `auto_update` is on
/// and the check of the project's lockfile (in `project_dir`) or the user's is due, starts
/// `tusk plugin update --if-due` for it as a background process (its output appended to
/// `~/.cache/tusk/auto-update.log`) and returns at once. A running `--watch` or REPL then
/// picks an update up through hot reload. When it is not due this reads the configuration
/// file and, only if it mentions `auto_update`, one modification time per lockfile: no
/// network, nothing started.
pub fn start_auto_update_if_due(project_dir: &Path) {
    let Some(config_file) = default_config_file() else { return };
    let Ok(text) = std::fs::read_to_string(&config_file) else { return };
    if !text.contains("auto_update") {
        return;
    }
    // An invalid configuration is reported by the commands that use it, not here.
    let Ok(settings) = RegistrySettings::parse(&text, &config_file.display().to_string()) else { return };
    let Some(state_dir) = auto_update_dir() else { return };
    if !settings.auto_update.enabled {
        return;
    }
    let project = crate::commands::absolute(project_dir);
    let mut scopes: Vec<(PathBuf, Vec<std::ffi::OsString>)> =
        vec![(project.join(LOCK_FILE), vec!["--project".into(), project.clone().into_os_string()])];
    if let Some(user_lock) = user_plugins_dir().and_then(|dir| dir.parent().map(|parent| parent.join(LOCK_FILE))) {
        scopes.push((user_lock, vec!["--user".into()]));
    }
    for (lock_path, scope_args) in scopes {
        if !lock_path.is_file() || !settings.auto_update.due_now(&stamp_file(&state_dir, &lock_path)) {
            continue;
        }
        if let Err(error) = spawn_update(&state_dir, &lock_path, &scope_args) {
            output::write_stderr(&format!("warning: cannot start the automatic plugin update check: {error}\n"));
        }
    }
}

/// Starts `tusk plugin update --if-due SCOPE` in its own process group (a Ctrl-C meant for the
/// script does not cut an update in two), its output appended to the log; a thread reaps it.
fn spawn_update(state_dir: &Path, lock_path: &Path, scope_args: &[std::ffi::OsString]) -> std::io::Result<()> {
    std::fs::create_dir_all(state_dir)?;
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(state_dir.join(AUTO_UPDATE_LOG))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_secs());
    std::io::Write::write_all(
        &mut log,
        format!("auto_update: checking {} (unix time {now})\n", lock_path.display()).as_bytes(),
    )?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["plugin", "update", "--if-due"])
        .args(scope_args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn()?;
    std::thread::Builder::new().name("tusk-auto-update".into()).spawn(move || child.wait())?;
    Ok(())
}

/// `tusk plugin update [NAME…]`.
pub fn update(args: &PluginUpdateArgs) -> anyhow::Result<Status> {
    let (settings, scope) = match settings().and_then(|settings| Ok((settings, scope(&args.scope)?))) {
        Ok(pair) => pair,
        Err(message) => return Ok(fail(&message)),
    };
    if args.if_due {
        let stamp = auto_update_dir().map(|dir| stamp_file(&dir, &scope.lock_path));
        let due = match &stamp {
            Some(stamp) => settings.auto_update.due_now(stamp),
            None => settings.auto_update.enabled,
        };
        if !due {
            let why = if settings.auto_update.enabled { "the last check is recent" } else { "auto_update is off" };
            output::write_stdout(&format!("no update check: {why}\n"))?;
            return Ok(Status::Success);
        }
        if let Some(stamp) = &stamp
            && let Err(error) = AutoUpdate::record_check(stamp)
        {
            return error_status(error);
        }
    }
    let lock = match Lockfile::load(&scope.lock_path) {
        Ok(lock) => lock,
        Err(error) => return error_status(error),
    };
    for name in &args.names {
        if lock.plugin(name).is_none() {
            return Ok(fail(&format!("`{name}` is not in {}", scope.lock_path.display())));
        }
    }
    // `--if-due` never installs what is not signed by a trusted key (the flags conflict).
    let unsigned = match (args.if_due, args.allow_unsigned) {
        (true, _) => Unsigned::RefuseAutomatic,
        (false, true) => Unsigned::Install,
        (false, false) => Unsigned::Refuse,
    };
    let options = options(&settings, unsigned);
    let mut any = false;
    for registry in locked_registries(&settings, &lock) {
        match install::install(&registry, &[], Some(&args.names), &scope, &options) {
            Ok(outcome) => {
                any |= !outcome.installed.is_empty();
                let updated = install::Outcome { unchanged: Vec::new(), ..outcome };
                if !updated.installed.is_empty() {
                    report_outcome(&registry, &scope, &updated)?;
                }
            }
            Err(error) => return error_status(error),
        }
    }
    if !any {
        output::write_stdout(&format!("every plugin in {} is up to date\n", scope.lock_path.display()))?;
    }
    Ok(Status::Success)
}
