//! What the host and the runner read from a plugin's descriptor alike: its identity and the
//! symbols its `init` registered, copied out of the plugin's memory at once.

use std::ffi::c_void;

use tusk_plugin_abi::{PluginDescriptor, StrRef, SymbolInfo, status};
use tusk_plugin_wire::Symbol;

use crate::text_of;

/// A symbol's dispatch handle, valid until the plugin's `shutdown`.
#[derive(Clone, Copy, Debug)]
pub struct SymbolHandle(*const c_void);

impl SymbolHandle {
    /// The handle, as the descriptor's `call` takes it.
    pub fn as_ptr(self) -> *const c_void {
        self.0
    }
}

/// What `init` registered for one symbol, copied out of the plugin.
#[derive(Debug)]
pub struct RegisteredSymbol {
    /// How the plugin is told which symbol a call is for.
    pub handle: SymbolHandle,
    /// Its description (as a sandboxed plugin's runner sends it to the host).
    pub symbol: Symbol,
}

/// The plugin's name and version as its `name()` and `version()` return them.
///
/// # Safety
///
/// `descriptor` is a loaded plugin's (its functions may be called).
pub unsafe fn identity(descriptor: &PluginDescriptor) -> (String, String) {
    let mut name = StrRef::EMPTY;
    let mut version = StrRef::EMPTY;
    // SAFETY: the caller's contract; valid out-pointers; the texts are copied at once, while
    // the plugin keeps them (until `shutdown`).
    unsafe {
        (descriptor.identity)(&mut name, &mut version);
        (text_of(name), text_of(version))
    }
}

/// What `init` registered, by index (`None` where the plugin describes no symbol).
///
/// # Safety
///
/// `descriptor` is a loaded plugin's whose `init` succeeded and which has not shut down.
pub unsafe fn symbols(descriptor: &PluginDescriptor) -> Vec<Option<RegisteredSymbol>> {
    // SAFETY: the caller's contract.
    let count = unsafe { (descriptor.symbol_count)() };
    (0..count)
        .map(|index| {
            let mut info = SymbolInfo::EMPTY;
            // SAFETY: `index` is below the count; `info` is a valid out-pointer.
            if unsafe { (descriptor.symbol_info)(index, &mut info) } != status::OK {
                return None;
            }
            // SAFETY: the plugin describes its texts (and `example_count` examples), valid until
            // `shutdown`; they are copied at once.
            unsafe {
                let examples = if info.examples.is_null() {
                    Vec::new()
                } else {
                    std::slice::from_raw_parts(info.examples, info.example_count)
                        .iter()
                        .map(|text| text_of(*text))
                        .collect()
                };
                let symbol = Symbol {
                    index,
                    name: text_of(info.name),
                    kind: info.kind,
                    side_effects: info.side_effects != 0,
                    lazy_arguments: info.lazy_arguments,
                    signature: text_of(info.signature),
                    summary: text_of(info.summary),
                    examples,
                };
                Some(RegisteredSymbol { handle: SymbolHandle(info.handle), symbol })
            }
        })
        .collect()
}
