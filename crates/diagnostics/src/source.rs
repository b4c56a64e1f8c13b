//! The table of loaded source texts that spans point into.

use std::sync::{Arc, OnceLock};

use crate::Location;

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u32);

/// One loaded source text with its display name.
#[derive(Debug)]
pub struct SourceFile {
    /// What diagnostics print for this file (a path, `<stdin>`, `<repl:3>`, ...).
    pub name: String,
    /// The text. Shared, because the evaluator keeps it for cross-file errors and the REPL.
    pub text: Arc<str>,
    /// Where each line starts, found on the first look-up: a file without diagnostics never
    /// needs it, and finding them costs a pass over the whole text.
    line_starts: OnceLock<Vec<u32>>,
}

impl SourceFile {
    fn new(name: String, text: Arc<str>) -> SourceFile {
        SourceFile { name, text, line_starts: OnceLock::new() }
    }

    fn line_starts(&self) -> &[u32] {
        self.line_starts.get_or_init(|| {
            let mut line_starts = vec![0];
            line_starts.extend(
                self.text.bytes().enumerate().filter(|(_, byte)| *byte == b'\n').map(|(offset, _)| offset as u32 + 1),
            );
            line_starts
        })
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let offset = offset.min(self.text.len() as u32);
        let line_starts = self.line_starts();
        let line = line_starts.partition_point(|start| *start <= offset) - 1;
        let line_start = line_starts[line] as usize;
        let end = (offset as usize).max(line_start);
        let column = self.text.get(line_start..end).map_or(end - line_start, |s| s.chars().count());
        (line + 1, column + 1)
    }
}

/// All source texts of one engine, addressed by [`SourceId`].
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<Arc<str>>) -> SourceId {
        let id = SourceId(self.files.len() as u32);
        self.files.push(SourceFile::new(name.into(), text.into()));
        id
    }

    /// The file with this id.
    ///
    /// # Panics
    /// When the id was not made by this map: that is a bug in the caller.
    pub fn get(&self, id: SourceId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// The file with this id, if this map made it.
    pub fn try_get(&self, id: SourceId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// `name:line:col` of a location, as the first line of every rendered diagnostic shows it.
    pub fn describe(&self, location: Location) -> String {
        match self.try_get(location.source) {
            Some(file) => {
                let (line, col) = file.line_col(location.span.start);
                format!("{}:{line}:{col}", file.name)
            }
            None => "<unknown>".to_string(),
        }
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no file was added.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_from_one() {
        let mut map = SourceMap::new();
        let id = map.add("a.tsk", "ab\ncé: 1\n");
        let file = map.get(id);
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(3), (2, 1));
        // 'é' is two bytes, so byte 6 is the third character of line 2.
        assert_eq!(file.line_col(6), (2, 3));
        assert_eq!(map.describe(Location::new(id, crate::Span::new(6, 7))), "a.tsk:2:3");
    }
}
