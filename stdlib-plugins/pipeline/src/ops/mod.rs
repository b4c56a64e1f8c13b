//! One operator or function per file; `lib.rs` registers each of them.

pub(crate) mod create_pipeline;
pub(crate) mod execute_pipeline;
pub(crate) mod pipeline;
pub(crate) mod pipeline_run;
