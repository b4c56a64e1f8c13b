//! The `std` plugin: the language's built-in functions. Collection functions take the
//! collection first; ranges are iterated without being materialised.

mod bytes;
mod collections;
mod misc;
mod numbers;
mod text;

use crate::registry::{Plugin, Registrar, RegistryError};

/// The built-in functions.
pub struct Std;

impl Plugin for Std {
    fn name(&self) -> &str {
        "std"
    }

    fn register(&self, registrar: &mut Registrar<'_>) -> Result<(), RegistryError> {
        // Not in this list means not registered.
        for spec in collections::specs()
            .into_iter()
            .chain(numbers::specs())
            .chain(text::specs())
            .chain(misc::specs())
            .chain(bytes::specs())
        {
            registrar.add(spec)?;
        }
        Ok(())
    }
}
