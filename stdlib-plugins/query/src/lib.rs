//! The `query` plugin (being written).
