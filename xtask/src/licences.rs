//! The licences of the third-party crates compiled into what is shipped.

use std::collections::BTreeMap;
use std::path::Path;

use crate::layout;
use crate::workspace::Workspace;

/// Writes `path`: a table of every third-party crate in the normal dependencies of `shipped`
/// (package names) with its licence expression, then each distinct licence text found in those
/// crates' folders (`LICENSE*`, `LICENCE*`, `COPYING*`, `NOTICE*`) with the crates it comes
/// from.
pub fn write(workspace: &Workspace, shipped: &[&str], path: &Path) -> Result<(), String> {
    let mut table = String::new();
    let mut texts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut packages = workspace.closure(shipped);
    packages.retain(|package| package.source.is_some());
    packages.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    for package in &packages {
        let crate_name = format!("{} {}", package.name, package.version);
        let licence = package.license.as_deref().unwrap_or("see its licence files");
        table.push_str(&format!("| {} | {} | {licence} |\n", package.name, package.version));
        let mut files: Vec<_> = std::fs::read_dir(&package.dir)
            .map_err(|error| format!("cannot read {}: {error}", package.dir.display()))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|file| {
                let name = file.file_name().map(|name| name.to_string_lossy().to_uppercase()).unwrap_or_default();
                file.is_file()
                    && ["LICENSE", "LICENCE", "COPYING", "NOTICE"].iter().any(|prefix| name.starts_with(prefix))
            })
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if !text.trim().is_empty() {
                texts.entry(text.trim().to_string()).or_default().push(crate_name.clone());
            }
        }
    }
    let mut document = String::from(
        "# Third-party licences\n\nThe crates compiled into `tusk`, `tusk-plugin-runner` and the standard plugins, \
         with their licences.\n\n| crate | version | licence |\n|---|---|---|\n",
    );
    document.push_str(&table);
    document.push_str("\n## Licence texts\n");
    for (text, crates) in texts {
        document.push_str(&format!("\n### {}\n\n```text\n{text}\n```\n", crates.join(", ")));
    }
    layout::write(path, &document)
}
