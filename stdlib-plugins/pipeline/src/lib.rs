//! The `pipeline` plugin: `@pipeline(stage, data, fn[, init])`, `@pipeline.run(data, stages)`
//! and the functions `create_pipeline(stages)` and `execute_pipeline(pipeline, data)`, data
//! pipelines whose stage functions are script lambdas called back through the host.
//!
//! Data is walked once and never copied: arrays item by item through host handles, ranges as
//! plain integers (a range of a million items allocates nothing), objects entry by entry.

mod error;
mod ops;
mod parallel;
mod stages;

use tusk_plugin_sdk::{PluginContext, PluginError, TuskPlugin, export_plugin};

/// The plugin. It keeps no state: every call is independent.
#[derive(Default)]
pub struct PipelinePlugin;

impl TuskPlugin for PipelinePlugin {
    fn name(&self) -> &str {
        "pipeline"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError> {
        // Every operator and function of the plugin: not in this list means not registered
        // (and the manifest's [capabilities] must list exactly these).
        context.register_operator(ops::pipeline::Pipeline)?;
        context.register_operator(ops::pipeline_run::PipelineRun)?;
        context.register_function_with(
            "create_pipeline",
            ops::create_pipeline::doc(),
            ops::create_pipeline::execute,
        )?;
        context.register_function_with(
            "execute_pipeline",
            ops::execute_pipeline::doc(),
            ops::execute_pipeline::execute,
        )?;
        Ok(())
    }
}

export_plugin!(PipelinePlugin);
