//! Dependency resolution: which plugins to load, in which order, for a set of requested ones.
//!
//! Each plugin's `[dependencies]` are semver requirements on other plugins and on the host
//! (`tusk`, `core`, `std`). The result lists dependencies before their dependents, so loading
//! and `init` go front to back and shutdown goes back to front. Every problem is reported with
//! the chain of plugins that led to it.

use std::collections::HashMap;
use std::fmt;

use semver::{Version, VersionReq};
use tusk_diagnostics::{Diagnostic, closest_name};

use crate::discovery::{Catalog, DiscoveredPlugin};

/// The versions of what the host itself provides, for `tusk`, `core` and `std` requirements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostVersions {
    /// The interpreter.
    pub tusk: Version,
    /// The built-in core operator set.
    pub core: Version,
    /// The built-in std function set.
    pub std: Version,
}

impl HostVersions {
    fn get(&self, component: &str) -> Option<&Version> {
        match component {
            "tusk" => Some(&self.tusk),
            "core" => Some(&self.core),
            "std" => Some(&self.std),
            _ => None,
        }
    }
}

/// Why a set of plugins cannot be loaded. `chain` fields list the plugins from the requested
/// one down to the one whose requirement failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResolveError {
    /// A requested plugin is not installed: requesting `loging` when only `logging` exists.
    NotInstalled {
        /// The requested name.
        name: String,
        /// An installed plugin with a close name.
        suggestion: Option<String>,
    },
    /// A dependency is not installed: `a` has `b = "^1"` and there is no `b`.
    MissingDependency {
        /// Requested plugin … dependent plugin.
        chain: Vec<String>,
        /// The missing plugin.
        dependency: String,
        /// What the dependent asked for.
        requirement: VersionReq,
    },
    /// A dependency's installed version does not match: `b` has `c = "^2.0"`, c 1.4.0 is there.
    VersionMismatch {
        /// Requested plugin … dependent plugin.
        chain: Vec<String>,
        /// The dependency.
        dependency: String,
        /// What the dependent asked for.
        requirement: VersionReq,
        /// What is installed.
        found: Version,
    },
    /// The host does not match: `a` has `tusk = ">=2"` and this is tusk 0.1.0.
    HostMismatch {
        /// Requested plugin … dependent plugin.
        chain: Vec<String>,
        /// `tusk`, `core` or `std`.
        component: String,
        /// What the plugin asked for.
        requirement: VersionReq,
        /// What the host has.
        found: Version,
    },
    /// Plugins that depend on each other in a circle: `a` needs `b` and `b` needs `a`.
    Cycle {
        /// The plugins around the circle, the first repeated at the end.
        cycle: Vec<String>,
    },
}

/// `` (a -> b -> c)`` after a message when the chain has more than the plugin itself.
fn through(chain: &[String], last: &str) -> String {
    if chain.len() < 2 {
        return String::new();
    }
    format!(" ({} -> {last})", chain.join(" -> "))
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::NotInstalled { name, .. } => write!(f, "plugin `{name}` is not installed"),
            ResolveError::MissingDependency { chain, dependency, requirement } => {
                let dependent = chain.last().map_or("", String::as_str);
                write!(
                    f,
                    "`{dependent}` needs `{dependency}` {requirement}, but no plugin `{dependency}` is installed{}",
                    through(chain, dependency)
                )
            }
            ResolveError::VersionMismatch { chain, dependency, requirement, found } => {
                let dependent = chain.last().map_or("", String::as_str);
                write!(
                    f,
                    "`{dependent}` needs `{dependency}` {requirement}, but {dependency} {found} is installed{}",
                    through(chain, dependency)
                )
            }
            ResolveError::HostMismatch { chain, component, requirement, found } => {
                let dependent = chain.last().map_or("", String::as_str);
                let host = match component.as_str() {
                    "tusk" => format!("this is tusk {found}"),
                    other => format!("the built-in {other} set is {found}"),
                };
                write!(f, "`{dependent}` needs {component} {requirement}, but {host}{}", through(chain, component))
            }
            ResolveError::Cycle { cycle } => write!(f, "dependency cycle: {}", cycle.join(" -> ")),
        }
    }
}

impl std::error::Error for ResolveError {}

impl ResolveError {
    /// The error as a diagnostic (no location: the index holds no manifest text).
    pub fn to_diagnostic(&self) -> Diagnostic {
        let (code, help) = match self {
            ResolveError::NotInstalled { suggestion: Some(suggestion), .. } => {
                ("X030", format!("did you mean `{suggestion}`?"))
            }
            ResolveError::NotInstalled { .. } => (
                "X030",
                "install it into a plugin folder (TUSK_PLUGIN_PATH, ./plugins or ~/.local/share/tusk/plugins)"
                    .to_string(),
            ),
            ResolveError::MissingDependency { dependency, requirement, .. } => {
                ("X031", format!("install plugin `{dependency}` in a version matching {requirement}"))
            }
            ResolveError::VersionMismatch { chain, dependency, requirement, found } => (
                "X032",
                format!(
                    "install a version of `{dependency}` matching {requirement}, or a version of `{}` that works with {dependency} {found}",
                    chain.last().map_or("", String::as_str)
                ),
            ),
            ResolveError::HostMismatch { chain, component, requirement, .. } => (
                "X033",
                format!(
                    "use a version of `{}` made for this {component}, or a {component} matching {requirement}",
                    chain.last().map_or("", String::as_str)
                ),
            ),
            ResolveError::Cycle { .. } => (
                "X034",
                "plugins cannot depend on each other in a circle; remove one of these dependencies".to_string(),
            ),
        };
        Diagnostic::error(self.to_string()).with_code(code).with_help(help)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Visiting,
    Done,
    Failed,
}

struct Resolver<'c> {
    catalog: &'c Catalog,
    host: &'c HostVersions,
    states: HashMap<&'c str, State>,
    stack: Vec<&'c str>,
    order: Vec<&'c DiscoveredPlugin>,
    errors: Vec<ResolveError>,
}

impl<'c> Resolver<'c> {
    fn chain(&self) -> Vec<String> {
        self.stack.iter().map(|name| name.to_string()).collect()
    }

    /// Depth-first, dependencies in name order, so the result is deterministic. Returns whether
    /// `plugin` and everything below it can be loaded.
    fn visit(&mut self, plugin: &'c DiscoveredPlugin) -> bool {
        let name = plugin.name();
        match self.states.get(name) {
            Some(State::Done) => return true,
            Some(State::Failed) => return false,
            Some(State::Visiting) => {
                let start = self.stack.iter().position(|entry| *entry == name).unwrap_or(0);
                let mut cycle: Vec<String> = self.stack[start..].iter().map(|entry| entry.to_string()).collect();
                cycle.push(name.to_string());
                self.errors.push(ResolveError::Cycle { cycle });
                return false;
            }
            None => {}
        }
        self.states.insert(name, State::Visiting);
        self.stack.push(name);
        let mut ok = true;
        for (dependency, requirement) in &plugin.manifest().dependencies {
            if let Some(found) = self.host.get(dependency) {
                if !requirement.matches(found) {
                    self.errors.push(ResolveError::HostMismatch {
                        chain: self.chain(),
                        component: dependency.clone(),
                        requirement: requirement.clone(),
                        found: found.clone(),
                    });
                    ok = false;
                }
                continue;
            }
            match self.catalog.plugin(dependency) {
                None => {
                    self.errors.push(ResolveError::MissingDependency {
                        chain: self.chain(),
                        dependency: dependency.clone(),
                        requirement: requirement.clone(),
                    });
                    ok = false;
                }
                Some(installed) if !requirement.matches(&installed.manifest().version) => {
                    self.errors.push(ResolveError::VersionMismatch {
                        chain: self.chain(),
                        dependency: dependency.clone(),
                        requirement: requirement.clone(),
                        found: installed.manifest().version.clone(),
                    });
                    ok = false;
                }
                Some(installed) => ok &= self.visit(installed),
            }
        }
        self.stack.pop();
        self.states.insert(name, if ok { State::Done } else { State::Failed });
        if ok {
            self.order.push(plugin);
        }
        ok
    }
}

/// The plugins to load for `requested`, dependencies first (shut down in reverse order), or
/// every problem found. Only plugins of `catalog` (installed and valid) take part.
pub fn resolve<'c>(
    catalog: &'c Catalog,
    requested: &[&str],
    host: &'c HostVersions,
) -> Result<Vec<&'c DiscoveredPlugin>, Vec<ResolveError>> {
    let mut resolver =
        Resolver { catalog, host, states: HashMap::new(), stack: Vec::new(), order: Vec::new(), errors: Vec::new() };
    for name in requested {
        match catalog.plugin(name) {
            Some(plugin) => {
                resolver.visit(plugin);
            }
            None => resolver.errors.push(ResolveError::NotInstalled {
                name: name.to_string(),
                suggestion: closest_name(name, catalog.plugins.iter().map(DiscoveredPlugin::name)).map(str::to_string),
            }),
        }
    }
    if resolver.errors.is_empty() { Ok(resolver.order) } else { Err(resolver.errors) }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use super::*;
    use crate::discovery::Origin;
    use crate::manifest::{ExecutionMode, Manifest, Permissions};

    fn plugin(name: &str, version: &str, dependencies: &[(&str, &str)]) -> DiscoveredPlugin {
        let dir = PathBuf::from(format!("/plugins/{name}"));
        DiscoveredPlugin::new(
            Manifest {
                name: name.to_string(),
                version: Version::parse(version).unwrap(),
                description: String::new(),
                author: String::new(),
                license: String::new(),
                repository: String::new(),
                library: dir.join("lib.so"),
                dir,
                abi: (1, 0),
                mode: ExecutionMode::Sandboxed,
                first_party: false,
                hot_reload: true,
                dependencies: dependencies
                    .iter()
                    .map(|(name, requirement)| (name.to_string(), VersionReq::parse(requirement).unwrap()))
                    .collect(),
                operators: Vec::new(),
                functions: Vec::new(),
                types: Vec::new(),
                permissions: Permissions::default(),
                config_schema: None,
                examples: Vec::new(),
            },
            Origin::User,
        )
    }

    fn host() -> HostVersions {
        HostVersions { tusk: Version::new(0, 1, 0), core: Version::new(0, 1, 0), std: Version::new(0, 1, 2) }
    }

    fn order(catalog: &Catalog, requested: &[&str]) -> Result<Vec<String>, Vec<String>> {
        let host = host();
        resolve(catalog, requested, &host)
            .map(|plugins| plugins.iter().map(|plugin| plugin.name().to_string()).collect())
            .map_err(|errors| errors.iter().map(ToString::to_string).collect())
    }

    fn catalog(plugins: Vec<DiscoveredPlugin>) -> Catalog {
        Catalog::new(plugins, &HashMap::new())
    }

    #[test]
    fn dependencies_come_first() {
        let catalog = catalog(vec![
            plugin("app", "1.0.0", &[("http", "^1"), ("logging", "^0.1"), ("tusk", ">=0.1, <1")]),
            plugin("http", "1.3.0", &[("logging", "^0.1"), ("core", "^0.1")]),
            plugin("logging", "0.1.4", &[("std", "~0.1.2")]),
            plugin("unused", "1.0.0", &[]),
        ]);
        assert_eq!(order(&catalog, &["app"]), Ok(vec!["logging".into(), "http".into(), "app".into()]));
        assert_eq!(
            order(&catalog, &["logging", "app", "logging"]),
            Ok(vec!["logging".into(), "http".into(), "app".into()])
        );
        assert_eq!(order(&catalog, &[]), Ok(vec![]));
    }

    #[test]
    fn version_mismatch_names_both_versions_and_the_chain() {
        let catalog = catalog(vec![
            plugin("a", "1.0.0", &[("b", "^1")]),
            plugin("b", "1.0.0", &[("c", "^2.0")]),
            plugin("c", "1.4.0", &[]),
        ]);
        assert_eq!(order(&catalog, &["b"]), Err(vec!["`b` needs `c` ^2.0, but c 1.4.0 is installed".into()]));
        assert_eq!(
            order(&catalog, &["a"]),
            Err(vec!["`b` needs `c` ^2.0, but c 1.4.0 is installed (a -> b -> c)".into()])
        );
        let host = host();
        let diagnostic = resolve(&catalog, &["b"], &host).unwrap_err()[0].to_diagnostic();
        assert_eq!(diagnostic.code, Some("X032"));
        assert_eq!(
            diagnostic.help.as_deref(),
            Some("install a version of `c` matching ^2.0, or a version of `b` that works with c 1.4.0")
        );
    }

    #[test]
    fn missing_dependency_and_unknown_request() {
        let catalog = catalog(vec![plugin("a", "1.0.0", &[("b", "^1")]), plugin("logging", "1.0.0", &[])]);
        assert_eq!(
            order(&catalog, &["a", "loging"]),
            Err(vec![
                "`a` needs `b` ^1, but no plugin `b` is installed".into(),
                "plugin `loging` is not installed".into()
            ])
        );
        let host = host();
        let errors = resolve(&catalog, &["loging"], &host).unwrap_err();
        assert_eq!(errors[0].to_diagnostic().help.as_deref(), Some("did you mean `logging`?"));
        assert_eq!(errors[0].to_diagnostic().code, Some("X030"));
    }

    #[test]
    fn host_requirements_use_the_given_versions() {
        let catalog = catalog(vec![
            plugin("a", "1.0.0", &[("tusk", ">=2")]),
            plugin("b", "1.0.0", &[("core", "^0.2"), ("std", "^0.1")]),
            plugin("c", "1.0.0", &[("b", "*")]),
        ]);
        assert_eq!(
            order(&catalog, &["a", "c"]),
            Err(vec![
                "`a` needs tusk >=2, but this is tusk 0.1.0".into(),
                "`b` needs core ^0.2, but the built-in core set is 0.1.0 (c -> b -> core)".into()
            ])
        );
    }

    #[test]
    fn cycles_print_the_circle_once() {
        let catalog = catalog(vec![
            plugin("a", "1.0.0", &[("b", "*")]),
            plugin("b", "1.0.0", &[("c", "*")]),
            plugin("c", "1.0.0", &[("a", "*")]),
            plugin("d", "1.0.0", &[("b", "*")]),
        ]);
        assert_eq!(order(&catalog, &["a", "b", "d"]), Err(vec!["dependency cycle: a -> b -> c -> a".into()]));
        assert_eq!(order(&catalog, &["d"]), Err(vec!["dependency cycle: b -> c -> a -> b".into()]));
        let host = host();
        assert_eq!(resolve(&catalog, &["a"], &host).unwrap_err()[0].to_diagnostic().code, Some("X034"));
    }

    #[test]
    fn failures_below_do_not_load_dependents() {
        let catalog = catalog(vec![
            plugin("top", "1.0.0", &[("mid", "^1"), ("ok", "^1")]),
            plugin("mid", "1.0.0", &[("gone", "^1")]),
            plugin("ok", "1.0.0", &[]),
        ]);
        let host = host();
        let errors = resolve(&catalog, &["top"], &host).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "`mid` needs `gone` ^1, but no plugin `gone` is installed (top -> mid -> gone)"
        );
    }
}
