//! Event metadata for field names known only at run time.
//!
//! `tracing` describes an event by `'static` metadata (a callsite) whose field names are fixed
//! when the callsite is written, while `@log` takes any object as fields. So the plugin makes
//! one callsite per distinct (level, field names) shape, leaks it (tracing requires `'static`
//! metadata, and the plugin's image is never unloaded), and reuses it for every later event of
//! that shape. The number of shapes is capped: past the cap an event's fields travel as one
//! `fields` field holding their JSON text, so a script that invents names forever cannot grow
//! memory forever.
//!
//! The callsites are deliberately not registered in tracing's callsite registry: the plugin
//! asks its own dispatcher `enabled` on every event, so no interest needs caching, and the
//! registry is process-global state of this library's copy of tracing, which would outlive
//! the plugin.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use tracing::callsite::{Callsite, Identifier};
use tracing::field::FieldSet;
use tracing::metadata::Kind;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata};

/// Distinct field-name shapes kept per process before events fall back to one `fields` field.
pub(crate) const MAX_SHAPES: usize = 1024;
/// The target every event carries (`tusk:` in text lines, `"target":"tusk"` in JSON).
pub(crate) const TARGET: &str = "tusk";
/// The field that holds all fields as JSON text once the shape cap is reached.
pub(crate) const OVERFLOW_FIELD: &str = "fields";

/// A callsite made at run time.
struct DynamicCallsite {
    metadata: OnceLock<Metadata<'static>>,
}

impl Callsite for DynamicCallsite {
    fn set_interest(&self, _interest: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        self.metadata.get().expect("the metadata is set right after the callsite is made")
    }
}

type Shape = (Level, Vec<String>);

/// The leaked callsites by shape. The metadata they hold is `'static` by tracing's contract,
/// so the cache that makes it reusable lives as long: a static of this plugin image,
/// bounded by [`MAX_SHAPES`].
fn cache() -> &'static Mutex<HashMap<Shape, &'static Metadata<'static>>> {
    static CACHE: OnceLock<Mutex<HashMap<Shape, &'static Metadata<'static>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The metadata of an event at `level` whose fields are `message` followed by `names`, or
/// `None` when the shape cap is reached (the caller then uses [`OVERFLOW_FIELD`]).
pub(crate) fn metadata(level: Level, names: &[&str]) -> Option<&'static Metadata<'static>> {
    let mut cache = cache().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let key: Shape = (level, names.iter().map(|name| name.to_string()).collect());
    if let Some(metadata) = cache.get(&key) {
        return Some(metadata);
    }
    // The overflow shapes themselves are always allowed, so the fallback never fails.
    let is_overflow_shape = names == [OVERFLOW_FIELD];
    if cache.len() >= MAX_SHAPES && !is_overflow_shape {
        return None;
    }
    let metadata = make(level, names);
    cache.insert(key, metadata);
    Some(metadata)
}

fn make(level: Level, names: &[&str]) -> &'static Metadata<'static> {
    let callsite: &'static DynamicCallsite = Box::leak(Box::new(DynamicCallsite { metadata: OnceLock::new() }));
    let all_names: Vec<&'static str> = std::iter::once("message")
        .chain(names.iter().map(|name| &*Box::leak(name.to_string().into_boxed_str())))
        .collect();
    let fields = FieldSet::new(Box::leak(all_names.into_boxed_slice()), Identifier(callsite));
    let metadata = Metadata::new("@log", TARGET, level, None, None, None, fields, Kind::EVENT);
    callsite.metadata.get_or_init(|| metadata)
}
