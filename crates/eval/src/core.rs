//! The `core` plugin: the language's built-in operators (`@env`, `@date`, `@file`, `@json`,
//! `@cache`, `@if`, `@variable` and the cross-file `@stem.tsk.get` / `.set`). It registers
//! through the same [`Plugin`] trait as every other plugin.

mod cache;
pub(crate) mod cross_file;
mod date;
mod env;
mod file;
pub(crate) mod json;
mod logic;
mod timers;

use crate::registry::{Plugin, Registrar, RegistryError};

/// The built-in operators.
#[derive(Default)]
pub struct Core;

impl Plugin for Core {
    fn name(&self) -> &str {
        "core"
    }

    fn register(&self, registrar: &mut Registrar<'_>) -> Result<(), RegistryError> {
        // Not in this list means not registered.
        registrar.add(env::env())?;
        registrar.add(date::date())?;
        registrar.add(file::file())?;
        registrar.add(file::file_read())?;
        registrar.add(file::file_exists())?;
        registrar.add(file::file_write())?;
        registrar.add(json::json())?;
        registrar.add(json::json_parse())?;
        registrar.add(cache::cache())?;
        registrar.add(logic::if_operator())?;
        registrar.add(logic::variable())?;
        registrar.add(cross_file::get())?;
        registrar.add(cross_file::set())?;
        registrar.add(timers::every())?;
        registrar.add(timers::after())?;
        registrar.add(timers::cancel())?;
        Ok(())
    }
}
