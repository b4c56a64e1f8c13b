//! Well-known folders (user config, data and cache), lexical path normalisation and the
//! `${script_dir}` and `${home}` variables of permission patterns.
//!
//! Environment lookups happen only in the `default_*` functions; everything else takes its
//! inputs as arguments so that tests never depend on the machine.

use std::path::{Component, Path, PathBuf};

/// Variables a permission pattern may start with.
///
/// There is deliberately no `${plugin_dir}`: a plugin folder must never be writable by the
/// plugin (a plugin could plant code the loader reads), and read and write share one list.
pub(crate) const PATH_VARIABLES: [&str; 2] = ["script_dir", "home"];

/// The user's home folder (`HOME`, or `USERPROFILE` on Windows).
pub(crate) fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
}

/// `$XDG_<kind>_HOME`, else `~/<fallback>`.
fn xdg_dir(variable: &str, fallback: &str) -> Option<PathBuf> {
    match std::env::var_os(variable) {
        // The XDG spec says relative values are invalid and must be ignored.
        Some(dir) if Path::new(&dir).is_absolute() => Some(PathBuf::from(dir)),
        _ => home_dir().map(|home| home.join(fallback)),
    }
}

/// `~/.config/tusk/config.toml` (or under `$XDG_CONFIG_HOME`): the user's tusk configuration,
/// whose `[plugins.NAME]` tables configure plugins.
pub fn default_config_file() -> Option<PathBuf> {
    xdg_dir("XDG_CONFIG_HOME", ".config").map(|dir| dir.join("tusk").join("config.toml"))
}

/// `~/.config/tusk/grants.toml` (or under `$XDG_CONFIG_HOME`): per-plugin permission grants.
pub fn default_grants_file() -> Option<PathBuf> {
    xdg_dir("XDG_CONFIG_HOME", ".config").map(|dir| dir.join("tusk").join("grants.toml"))
}

/// `~/.cache/tusk/plugin-index.bin` (or under `$XDG_CACHE_HOME`): the discovery index.
pub fn default_index_file() -> Option<PathBuf> {
    xdg_dir("XDG_CACHE_HOME", ".cache").map(|dir| dir.join("tusk").join("plugin-index.bin"))
}

/// `~/.local/share/tusk/plugins` (or under `$XDG_DATA_HOME`): plugins installed for the user.
pub(crate) fn user_plugins_dir() -> Option<PathBuf> {
    xdg_dir("XDG_DATA_HOME", ".local/share").map(|dir| dir.join("tusk").join("plugins"))
}

/// Removes `.` and resolves `..` without touching the file system; `..` never climbs above the
/// root, so `/a/../../etc` is `/etc`, not something outside the tree.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut normalized = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(normalized.components().next_back(), Some(Component::Normal(_))) {
                    normalized.pop();
                }
            }
            other => normalized.push(other),
        }
    }
    normalized
}

/// Resolves symbolic links in the longest existing prefix of an absolute, normalised `path`
/// and appends the rest, so that a link inside a granted folder cannot lead outside it, also
/// for files that do not exist yet. A link whose target does not exist (yet) is followed too:
/// writing through it would create its target, wherever that is.
pub(crate) fn resolve_links(path: &Path) -> PathBuf {
    resolve_links_within(path, MAX_LINKS)
}

/// How many dangling links one resolution follows before it gives up (the kernel's limit).
const MAX_LINKS: u32 = 40;

fn resolve_links_within(path: &Path, links_left: u32) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(canonical) = existing.canonicalize() {
            let mut resolved = canonical;
            resolved.extend(rest.iter().rev());
            return resolved;
        }
        if links_left > 0
            && let Ok(target) = std::fs::read_link(&existing)
        {
            // A dangling link: resolve what it points at (relative to its folder), then the
            // rest of the path below it.
            let mut followed = existing.parent().map(Path::to_path_buf).unwrap_or_default();
            followed.push(target);
            followed.extend(rest.iter().rev());
            return resolve_links_within(&normalize(&followed), links_left - 1);
        }
        match (existing.file_name().map(|name| name.to_os_string()), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// `~/x` for paths under the home folder, the path itself otherwise (for messages).
pub(crate) fn display_path(path: &Path, home: Option<&Path>) -> String {
    match home.and_then(|home| path.strip_prefix(home).ok()) {
        Some(rest) if rest.as_os_str().is_empty() => "~".to_string(),
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

/// Values for `${script_dir}` and `${home}`.
#[derive(Clone, Debug, Default)]
pub(crate) struct PathVariables {
    pub(crate) script_dir: Option<PathBuf>,
    pub(crate) home: Option<PathBuf>,
}

/// Why a pattern could not be expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ExpandError {
    /// `${nope}/x`
    Unknown(String),
    /// `${script_dir}` where no script directory is known.
    Unset(String),
    /// `${script_dir` without the closing brace.
    Unclosed,
}

/// Replaces `${name}` occurrences in `pattern`.
pub(crate) fn expand(pattern: &str, variables: &PathVariables) -> Result<String, ExpandError> {
    let mut expanded = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        expanded.push_str(&rest[..start]);
        let Some(length) = rest[start + 2..].find('}') else {
            return Err(ExpandError::Unclosed);
        };
        let name = &rest[start + 2..start + 2 + length];
        let value = match name {
            "script_dir" => &variables.script_dir,
            "home" => &variables.home,
            _ => return Err(ExpandError::Unknown(name.to_string())),
        };
        let Some(value) = value else {
            return Err(ExpandError::Unset(name.to_string()));
        };
        expanded.push_str(&value.to_string_lossy());
        rest = &rest[start + 3 + length..];
    }
    expanded.push_str(rest);
    Ok(expanded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_never_climbs_above_the_root() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/a/../../etc/passwd")), PathBuf::from("/etc/passwd"));
    }

    #[test]
    fn variables_expand_or_explain() {
        let variables = PathVariables { script_dir: Some(PathBuf::from("/srv/app")), ..PathVariables::default() };
        assert_eq!(expand("${script_dir}/logs", &variables), Ok("/srv/app/logs".to_string()));
        assert_eq!(expand("/tmp/x", &variables), Ok("/tmp/x".to_string()));
        assert_eq!(expand("${nope}/x", &variables), Err(ExpandError::Unknown("nope".to_string())));
        assert_eq!(expand("${home}/x", &variables), Err(ExpandError::Unset("home".to_string())));
        assert_eq!(expand("${home", &variables), Err(ExpandError::Unclosed));
    }

    #[test]
    fn resolve_links_keeps_missing_tails() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        assert_eq!(resolve_links(&root.join("new/file.txt")), root.join("new/file.txt"));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/", root.join("escape")).unwrap();
            assert_eq!(resolve_links(&root.join("escape/etc/x")), PathBuf::from("/etc/x"));
            // Dangling links are followed to where writing through them would create a file,
            // relative ones from their own folder; a loop of links ends.
            std::fs::create_dir(root.join("inside")).unwrap();
            std::os::unix::fs::symlink(root.join("outside/new.txt"), root.join("inside/absolute")).unwrap();
            std::os::unix::fs::symlink("../outside/other.txt", root.join("inside/relative")).unwrap();
            assert_eq!(resolve_links(&root.join("inside/absolute")), root.join("outside/new.txt"));
            assert_eq!(resolve_links(&root.join("inside/relative")), root.join("outside/other.txt"));
            std::os::unix::fs::symlink(root.join("inside/loop"), root.join("inside/loop")).unwrap();
            assert_eq!(resolve_links(&root.join("inside/loop")), root.join("inside/loop"));
        }
    }

    #[test]
    fn home_prefix_displays_as_tilde() {
        let home = Path::new("/home/ann");
        assert_eq!(
            display_path(Path::new("/home/ann/.config/tusk/grants.toml"), Some(home)),
            "~/.config/tusk/grants.toml"
        );
        assert_eq!(display_path(Path::new("/etc/x"), Some(home)), "/etc/x");
    }
}
