// Every `examples/*.tsk` must evaluate without error in the default mode.
//
// The examples are copied to a temporary directory first, so that an example that writes
// files (`@file.write`) or updates a companion file does not touch the repository; companion
// files and folders are copied along, so relative paths still resolve. What `print()` writes
// is collected and discarded. Warnings are allowed: an example may show a bare word.

mod support;

use std::fs;
use std::path::Path;

use tusk::Engine;

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).expect("the examples folder is readable") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        let file_type = entry.file_type().expect("a file type");
        if file_type.is_dir() {
            // `examples/embed` and the like are Rust crates: their `target/` is not needed.
            if entry.file_name() == "target" {
                continue;
            }
            fs::create_dir_all(&target).expect("the temporary directory is writable");
            copy_dir(&entry.path(), &target);
        } else if file_type.is_file() {
            fs::copy(entry.path(), &target).expect("examples can be copied");
        }
    }
}

/// Evaluates one example; the rendered errors on failure.
fn check(example: &Path, shown_as: &str) -> Result<(), String> {
    let mut engine = Engine::new();
    engine.on_print(|_| {});
    let source = fs::read_to_string(example).map_err(|error| format!("cannot read {shown_as}: {error}"))?;
    let directory = example.parent().expect("an example lives in a folder");
    match engine.eval_named(shown_as, &source, Some(directory)) {
        Ok(_) => Ok(()),
        Err(error) => {
            let rendered = engine.render(&error, false).replace(&directory.display().to_string(), "examples");
            Err(format!("{shown_as} failed:\n{rendered}"))
        }
    }
}

#[test]
fn every_example_evaluates_without_error() {
    let examples_dir = support::repo_root().join("examples");
    assert!(examples_dir.is_dir(), "no folder {}", examples_dir.display());
    let workdir = tempfile::tempdir().expect("a temporary directory");
    let directory = workdir.path().canonicalize().expect("the temporary directory exists");
    copy_dir(&examples_dir, &directory);

    let mut examples: Vec<_> = fs::read_dir(&directory)
        .expect("the copied examples are readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "tsk"))
        .collect();
    examples.sort();
    assert!(!examples.is_empty(), "examples/ holds no .tsk files");
    let failures: Vec<String> = examples
        .iter()
        .filter_map(|example| {
            let name = example.file_name().expect("a file name").to_string_lossy();
            check(example, &format!("examples/{name}")).err()
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} examples failed:\n\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n")
    );
}
