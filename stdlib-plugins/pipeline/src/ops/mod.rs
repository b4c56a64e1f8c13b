//! One operator per file; `lib.rs` registers each of them.

pub(crate) mod pipeline;
pub(crate) mod pipeline_run;
