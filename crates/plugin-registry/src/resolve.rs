//! Choosing versions from a registry for a set of requirements, the plugins' own dependencies
//! included, resolved together: every plugin gets the newest version that satisfies every
//! requirement on it and that this tusk can run (ABI, target, tusk version), never a yanked
//! one unless it is the locked version. Two requirements that no version satisfies together are an error naming both
//! (`conflict_resolution: "error"`); there is no backtracking into older versions of the
//! plugins that made them.

use std::collections::{BTreeMap, HashMap};

use semver::{Version, VersionReq};

use crate::error::RegistryError;
use crate::index::IndexEntry;

/// What this tusk can run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compatibility {
    /// Its target (`x86_64-linux`), as plugin info records spell it.
    pub target: String,
    /// The plugin ABI major it loads.
    pub abi_major: u32,
    /// The newest plugin ABI minor it provides.
    pub abi_minor: u32,
    /// Its own version.
    pub tusk: Version,
}

impl Compatibility {
    /// This build of tusk.
    pub fn current(tusk: Version) -> Compatibility {
        Compatibility {
            target: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
            abi_major: tusk_plugin_abi::ABI_MAJOR,
            abi_minor: tusk_plugin_abi::ABI_MINOR,
            tusk,
        }
    }

    /// Why this tusk cannot run `entry`, if it cannot.
    pub fn problem(&self, entry: &IndexEntry) -> Option<String> {
        if entry.target != self.target {
            return Some(format!("built for {}, this is {}", entry.target, self.target));
        }
        match entry.abi_version() {
            Some((major, minor)) if major == self.abi_major && minor <= self.abi_minor => {}
            Some(_) | None => {
                return Some(format!(
                    "plugin ABI {}, this tusk loads {}.0 to {}.{}",
                    entry.abi, self.abi_major, self.abi_major, self.abi_minor
                ));
            }
        }
        if let Some(requirement) = &entry.tusk
            && !requirement.matches(&self.tusk)
        {
            return Some(format!("needs tusk {requirement}, this is tusk {}", self.tusk));
        }
        None
    }
}

/// A requirement and who made it: `you` or `app 1.0.0`.
#[derive(Clone, Debug)]
struct Demand {
    requirement: VersionReq,
    by: String,
}

impl Demand {
    fn describe(&self, name: &str) -> String {
        if self.by == "you" {
            format!("you asked for {name} {}", self.requirement)
        } else {
            format!("{} needs {name} {}", self.by, self.requirement)
        }
    }
}

/// Picks versions for `requests` (name and requirement) and their dependencies. `entries`
/// gives a plugin's builds (from the registry); `preferred` versions (what is locked) are kept
/// when they still satisfy every requirement, so installing one plugin does not update others.
/// The result is sorted by name.
pub fn resolve(
    requests: &[(String, VersionReq)],
    entries: &mut dyn FnMut(&str) -> Result<Vec<IndexEntry>, RegistryError>,
    compatibility: &Compatibility,
    preferred: &HashMap<String, Version>,
) -> Result<Vec<IndexEntry>, RegistryError> {
    let mut known: HashMap<String, Vec<IndexEntry>> = HashMap::new();
    let mut chosen: BTreeMap<String, IndexEntry> = BTreeMap::new();
    // Each round recomputes the demands from the requests and the current choices, then
    // re-chooses; it ends when no choice changes. A choice only changes when a new demand
    // appears, and versions only move down under more demands, so this ends; the bound is a
    // guard against a registry crafted to make it loop.
    for _ in 0..256 {
        let mut demands: BTreeMap<String, Vec<Demand>> = BTreeMap::new();
        for (name, requirement) in requests {
            crate::check_name(name)?;
            demands
                .entry(name.clone())
                .or_default()
                .push(Demand { requirement: requirement.clone(), by: "you".into() });
        }
        for entry in chosen.values() {
            for (dependency, requirement) in &entry.deps {
                demands
                    .entry(dependency.clone())
                    .or_default()
                    .push(Demand { requirement: requirement.clone(), by: entry.label() });
            }
        }
        let mut next: BTreeMap<String, IndexEntry> = BTreeMap::new();
        for (name, wanted) in &demands {
            if !known.contains_key(name) {
                known.insert(name.clone(), entries(name)?);
            }
            let builds = &known[name];
            next.insert(name.clone(), choose(name, builds, wanted, compatibility, preferred.get(name))?);
        }
        if next == chosen {
            return Ok(chosen.into_values().collect());
        }
        chosen = next;
    }
    Err(RegistryError::Resolve { message: "the dependencies do not settle on one set of versions".to_string() })
}

/// The newest compatible, not yanked build of `name` that satisfies every demand (the
/// preferred version if it does), or an error that says why there is none.
fn choose(
    name: &str,
    builds: &[IndexEntry],
    demands: &[Demand],
    compatibility: &Compatibility,
    preferred: Option<&Version>,
) -> Result<IndexEntry, RegistryError> {
    let fail = |message: String| Err(RegistryError::Resolve { message });
    if builds.is_empty() {
        return fail(format!("no plugin named `{name}` in the registry ({})", demands_text(name, demands)));
    }
    // A yanked version is only kept where it is locked (cargo does the same): the lockfile
    // still reproduces, and nothing new moves onto it.
    let usable: Vec<&IndexEntry> = builds
        .iter()
        .filter(|entry| (!entry.yanked || Some(&entry.vers) == preferred) && compatibility.problem(entry).is_none())
        .collect();
    let fits = |entry: &&IndexEntry| demands.iter().all(|demand| demand.requirement.matches(&entry.vers));
    let candidates: Vec<&IndexEntry> = usable.iter().copied().filter(fits).collect();
    let best = candidates
        .iter()
        .find(|entry| Some(&entry.vers) == preferred)
        .or_else(|| candidates.iter().max_by(|a, b| a.vers.cmp(&b.vers)));
    if let Some(best) = best {
        return Ok((*best).clone());
    }
    // No build fits: say which requirements conflict, or why the matching builds are unusable.
    for (index, first) in demands.iter().enumerate() {
        for second in &demands[index + 1..] {
            let both = usable
                .iter()
                .any(|entry| first.requirement.matches(&entry.vers) && second.requirement.matches(&entry.vers));
            let each = usable.iter().any(|entry| first.requirement.matches(&entry.vers))
                && usable.iter().any(|entry| second.requirement.matches(&entry.vers));
            if each && !both {
                return fail(format!(
                    "conflicting requirements on `{name}`: {} and {}; no version satisfies both (available: {})",
                    first.describe(name),
                    second.describe(name),
                    versions_text(&usable)
                ));
            }
        }
    }
    for demand in demands {
        if usable.iter().any(|entry| demand.requirement.matches(&entry.vers)) {
            continue;
        }
        let unusable: Vec<String> = builds
            .iter()
            .filter(|entry| demand.requirement.matches(&entry.vers))
            .map(|entry| match (entry.yanked, compatibility.problem(entry)) {
                (true, _) => format!("{} {} (yanked)", entry.vers, entry.target),
                (false, Some(problem)) => format!("{} ({problem})", entry.vers),
                (false, None) => entry.vers.to_string(),
            })
            .collect();
        return fail(if unusable.is_empty() {
            format!(
                "no version of `{name}` matches {}: {} (available: {})",
                demand.requirement,
                demand.describe(name),
                versions_text(&usable)
            )
        } else {
            format!(
                "no usable version of `{name}` matches {} ({}): {}",
                demand.requirement,
                demand.describe(name),
                unusable.join(", ")
            )
        });
    }
    fail(format!("no version of `{name}` satisfies all of: {}", demands_text(name, demands)))
}

fn demands_text(name: &str, demands: &[Demand]) -> String {
    demands.iter().map(|demand| demand.describe(name)).collect::<Vec<_>>().join("; ")
}

fn versions_text(entries: &[&IndexEntry]) -> String {
    let mut versions: Vec<&Version> = entries.iter().map(|entry| &entry.vers).collect();
    versions.sort();
    versions.dedup();
    if versions.is_empty() {
        return "none".to_string();
    }
    versions.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, version: &str, deps: &[(&str, &str)]) -> IndexEntry {
        IndexEntry {
            v: 1,
            name: name.into(),
            vers: version.parse().unwrap(),
            target: "x86_64-linux".into(),
            abi: "1.2".into(),
            tusk: None,
            deps: deps.iter().map(|(n, r)| (n.to_string(), r.parse().unwrap())).collect(),
            cksum: String::new(),
            size: 0,
            file: String::new(),
            description: String::new(),
            permissions: serde_json::Value::Null,
            key_id: None,
            signature: None,
            yanked: false,
        }
    }

    fn compatibility() -> Compatibility {
        Compatibility { target: "x86_64-linux".into(), abi_major: 1, abi_minor: 2, tusk: Version::new(0, 1, 0) }
    }

    fn run(registry: &[IndexEntry], requests: &[(&str, &str)]) -> Result<Vec<String>, String> {
        let requests: Vec<(String, VersionReq)> =
            requests.iter().map(|(n, r)| (n.to_string(), r.parse().unwrap())).collect();
        let mut lookup =
            |name: &str| Ok(registry.iter().filter(|entry| entry.name == name).cloned().collect::<Vec<_>>());
        resolve(&requests, &mut lookup, &compatibility(), &HashMap::new())
            .map(|chosen| chosen.iter().map(IndexEntry::label).collect())
            .map_err(|error| error.to_string())
    }

    #[test]
    fn newest_matching_versions_with_dependencies() {
        let registry = [
            entry("app", "1.0.0", &[("base", "^1.1")]),
            entry("app", "2.0.0", &[("base", "^2")]),
            entry("base", "1.0.0", &[]),
            entry("base", "1.4.0", &[]),
            entry("base", "2.0.0", &[]),
        ];
        assert_eq!(run(&registry, &[("app", "^1")]).unwrap(), ["app 1.0.0", "base 1.4.0"]);
        assert_eq!(run(&registry, &[("app", "*")]).unwrap(), ["app 2.0.0", "base 2.0.0"]);
        // Requirements on one plugin from the user and a dependency are met together.
        assert_eq!(
            run(&registry, &[("app", "^1"), ("base", "<1.3")]).unwrap_err(),
            "conflicting requirements on `base`: you asked for base <1.3 and app 1.0.0 needs base ^1.1; no version satisfies both (available: 1.0.0, 1.4.0, 2.0.0)"
        );
    }

    #[test]
    fn conflicts_name_both_requirements() {
        let registry = [
            entry("a", "1.0.0", &[("c", "^1")]),
            entry("b", "1.0.0", &[("c", "^2")]),
            entry("c", "1.0.0", &[]),
            entry("c", "2.0.0", &[]),
        ];
        assert_eq!(
            run(&registry, &[("a", "*"), ("b", "*")]).unwrap_err(),
            "conflicting requirements on `c`: a 1.0.0 needs c ^1 and b 1.0.0 needs c ^2; no version satisfies both (available: 1.0.0, 2.0.0)"
        );
    }

    #[test]
    fn yanked_and_incompatible_builds_are_never_chosen() {
        let mut yanked = entry("p", "1.1.0", &[]);
        yanked.yanked = true;
        let mut other_abi = entry("p", "1.2.0", &[]);
        other_abi.abi = "2.0".into();
        let mut newer_tusk = entry("p", "1.3.0", &[]);
        newer_tusk.tusk = Some(">=9".parse().unwrap());
        let registry = [entry("p", "1.0.0", &[]), yanked, other_abi, newer_tusk];
        assert_eq!(run(&registry, &[("p", "^1")]).unwrap(), ["p 1.0.0"]);
        assert_eq!(
            run(&registry, &[("p", ">=1.2")]).unwrap_err(),
            "no usable version of `p` matches >=1.2 (you asked for p >=1.2): 1.2.0 (plugin ABI 2.0, this tusk loads 1.0 to 1.2), 1.3.0 (needs tusk >=9, this is tusk 0.1.0)"
        );
        // Yanked, but locked: kept; not locked: skipped, and named as yanked when nothing else fits.
        let lookup_in = |registry: &[IndexEntry]| {
            let registry = registry.to_vec();
            move |name: &str| Ok(registry.iter().filter(|entry| entry.name == name).cloned().collect::<Vec<_>>())
        };
        let locked = HashMap::from([("p".to_string(), Version::new(1, 1, 0))]);
        let chosen =
            resolve(&[("p".into(), "^1".parse().unwrap())], &mut lookup_in(&registry), &compatibility(), &locked)
                .unwrap();
        assert_eq!(chosen[0].label(), "p 1.1.0");
        assert_eq!(
            run(&registry, &[("p", "=1.1.0")]).unwrap_err(),
            "no usable version of `p` matches =1.1.0 (you asked for p =1.1.0): 1.1.0 x86_64-linux (yanked)"
        );
        assert_eq!(
            run(&registry, &[("q", "*")]).unwrap_err(),
            "no plugin named `q` in the registry (you asked for q *)"
        );
    }
}
