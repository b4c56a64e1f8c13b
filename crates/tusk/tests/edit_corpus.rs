//! `tusk::edit` over every `.tsk` file of the repository that parses (the examples and the
//! end-to-end cases): formatting succeeds, changes nothing a second time and keeps the
//! document; setting every key the file writes leaves a file that parses and holds the value.

use std::path::{Path, PathBuf};

use tusk::SourceId;
use tusk::analysis::definitions;
use tusk::edit::{EditError, format, set};

fn tsk_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            tsk_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "tsk") {
            out.push(path);
        }
    }
}

/// The corpus: files that parse without errors (the rest are error cases).
fn corpus() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    tsk_files(&root.join("examples"), &mut files);
    tsk_files(&root.join("tests/cases"), &mut files);
    files.sort();
    let parsed: Vec<(PathBuf, String)> = files
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).ok()?;
            let parses = !matches!(format(&text, SourceId::default()), Err(EditError::Syntax(_)));
            parses.then_some((path, text))
        })
        .collect();
    assert!(parsed.len() > 50, "the corpus has only {} files", parsed.len());
    parsed
}

#[test]
fn formatting_is_stable_on_every_file() {
    for (path, text) in corpus() {
        let once = format(&text, SourceId::default()).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let twice = format(&once, SourceId::default()).unwrap();
        assert_eq!(once, twice, "{}: formatting twice changes it again", path.display());
    }
}

#[test]
fn setting_every_written_key_gives_a_valid_file_holding_it() {
    let mut edits = 0;
    for (path, text) in corpus() {
        for definition in definitions(&text).iter().take(25) {
            if definition.path.iter().any(|part| part.starts_with('$') || part.starts_with('[')) {
                continue;
            }
            let mut key_path = tusk::path::Path::new();
            for part in &definition.path {
                key_path.push_key(part);
            }
            match set(&text, SourceId::default(), &key_path, "12345") {
                Ok(edited) => {
                    assert!(
                        !matches!(format(&edited, SourceId::default()), Err(EditError::Syntax(_))),
                        "{}: setting `{key_path}` broke the file:\n{edited}",
                        path.display()
                    );
                    // The last definition of the path (the one that counts) has the new value.
                    let last = definitions(&edited)
                        .into_iter()
                        .rfind(|found| found.path == definition.path)
                        .unwrap_or_else(|| panic!("{}: `{key_path}` is gone after setting it", path.display()));
                    let after = edited[last.span.end as usize..].trim_start_matches([' ', ':', '=']);
                    assert!(after.starts_with("12345"), "{}: `{key_path}` is not 12345 in:\n{edited}", path.display());
                    edits += 1;
                }
                Err(EditError::Invalid(_)) => {}
                Err(EditError::Syntax(_)) => panic!("{}: a file that parses was refused", path.display()),
            }
        }
    }
    assert!(edits > 200, "only {edits} edits were made");
}
