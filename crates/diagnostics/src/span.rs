//! Byte-range spans and file-qualified locations.

use crate::SourceId;

/// A half-open byte range `start..end` into one source text.
///
/// `u32` offsets keep tokens and AST nodes small; sources larger than 4 GiB are refused when
/// they are added to the [`crate::SourceMap`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The span `start..end`.
    pub const fn new(start: u32, end: u32) -> Span {
        Span { start, end }
    }

    /// A span from `usize` offsets, saturating at `u32::MAX`.
    pub fn from_range(range: std::ops::Range<usize>) -> Span {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Span { start: clamp(range.start), end: clamp(range.end) }
    }

    /// An empty span at `offset`.
    pub const fn point(offset: u32) -> Span {
        Span { start: offset, end: offset }
    }

    /// The smallest span covering both.
    pub fn cover(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    /// The range as `usize`, for slicing.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// Length in bytes.
    pub fn len(self) -> u32 {
        self.end - self.start
    }

    /// True when the span covers no bytes.
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// A span in a particular source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file.
    pub source: SourceId,
    /// The bytes in it.
    pub span: Span,
}

impl Location {
    /// `span` in `source`.
    pub const fn new(source: SourceId, span: Span) -> Location {
        Location { source, span }
    }
}
