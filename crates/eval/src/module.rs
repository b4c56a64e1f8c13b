//! A module is one evaluated file (or REPL session): its slots, globals and document.
//! Closures keep their module alive, so a lambda handed to a plugin still sees the entries
//! it refers to after the file has finished evaluating (until the runtime is dropped, which
//! releases the module's values to break the cycle through those closures).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

use tusk_diagnostics::SourceId;

use crate::object::Object;
use crate::value::{Key, Value};

/// Runtime state of one file.
#[derive(Default)]
pub struct Module {
    /// Values of entries that names refer to; `None` until the entry has been evaluated.
    pub(crate) slots: RefCell<Vec<Option<Value>>>,
    /// Global variables (`$name`); `None` until defined.
    pub(crate) globals: RefCell<Vec<Option<Value>>>,
    /// Global names to their index, for `@variable` and dynamic `$name` lookups.
    pub(crate) global_names: RefCell<HashMap<Key, u32>>,
    /// Globals the host supplied for this run (an embedder's scope), read where the script
    /// defines no global of that name.
    pub(crate) host_globals: Option<Rc<Object>>,
    /// The document being built.
    pub(crate) document: RefCell<Object>,
    /// The section entries go into (empty: the top level).
    pub(crate) current_section: RefCell<Vec<Key>>,
    /// The slot the current section's object is stored in when it is left.
    pub(crate) current_section_slot: RefCell<Box<[Option<u32>]>>,
    /// The source this module came from (for cross-file errors).
    pub(crate) source: SourceId,
    /// The directory of the file, for relative paths of `@file` and cross-file operators.
    pub(crate) directory: Option<PathBuf>,
    /// Runtime warnings (compat mode's values that failed and became their text).
    pub(crate) warnings: RefCell<Vec<tusk_diagnostics::Diagnostic>>,
}

/// The state of a module at one moment (values are shared, not copied).
pub(crate) struct ModuleSnapshot {
    slots: Vec<Option<Value>>,
    globals: Vec<Option<Value>>,
    global_names: HashMap<Key, u32>,
    document: Object,
    current_section: Vec<Key>,
    current_section_slot: Box<[Option<u32>]>,
}

impl Module {
    pub(crate) fn new(source: SourceId, directory: Option<PathBuf>, host_globals: Option<Rc<Object>>) -> Module {
        Module { source, directory, host_globals, ..Module::default() }
    }

    pub(crate) fn ensure_slots(&self, slots: usize, globals: usize) {
        let mut slot_values = self.slots.borrow_mut();
        if slot_values.len() < slots {
            slot_values.resize(slots, None);
        }
        let mut global_values = self.globals.borrow_mut();
        if global_values.len() < globals {
            global_values.resize(globals, None);
        }
    }

    /// Drops every value the module holds, which breaks the cycles through the lambdas it
    /// defined (they hold the module). Called when the runtime that ran it goes away.
    pub(crate) fn release(&self) {
        // Taken out first and dropped after the borrows end: dropping a lambda may drop
        // another module, or this one's last other reference. The slots stay (empty), so a
        // lambda that outlives the runtime and runs elsewhere finds its names undefined.
        let slots: Vec<Option<Value>> = self.slots.borrow_mut().iter_mut().map(Option::take).collect();
        let globals: Vec<Option<Value>> = self.globals.borrow_mut().iter_mut().map(Option::take).collect();
        let document = std::mem::take(&mut *self.document.borrow_mut());
        drop((slots, globals, document));
    }

    /// Everything a REPL entry can change, to put back if the entry fails.
    pub(crate) fn snapshot(&self) -> ModuleSnapshot {
        ModuleSnapshot {
            slots: self.slots.borrow().clone(),
            globals: self.globals.borrow().clone(),
            global_names: self.global_names.borrow().clone(),
            document: self.document.borrow().clone(),
            current_section: self.current_section.borrow().clone(),
            current_section_slot: self.current_section_slot.borrow().clone(),
        }
    }

    /// Puts back what [`Module::snapshot`] saw.
    pub(crate) fn restore(&self, snapshot: ModuleSnapshot) {
        *self.slots.borrow_mut() = snapshot.slots;
        *self.globals.borrow_mut() = snapshot.globals;
        *self.global_names.borrow_mut() = snapshot.global_names;
        *self.document.borrow_mut() = snapshot.document;
        *self.current_section.borrow_mut() = snapshot.current_section;
        *self.current_section_slot.borrow_mut() = snapshot.current_section_slot;
    }

    /// The document as evaluated so far.
    pub fn document(&self) -> Object {
        self.document.borrow().clone()
    }

    /// The directory relative paths are resolved against.
    pub fn directory(&self) -> Option<&std::path::Path> {
        self.directory.as_deref()
    }

    /// A global variable by name: the script's own, else one the host supplied.
    pub fn global(&self, name: &str) -> Option<Value> {
        let own = self.global_names.borrow().get(name).copied();
        match own {
            Some(index) => self.globals.borrow().get(index as usize).cloned().flatten(),
            None => self.host_globals.as_ref()?.get(name).cloned(),
        }
    }

    /// Names of every global there is a value for (the script's and the host's), for hints.
    pub(crate) fn global_names(&self) -> Vec<Key> {
        let mut names: Vec<Key> = self.global_names.borrow().keys().cloned().collect();
        if let Some(host) = &self.host_globals {
            names.extend(host.keys().filter(|name| !names.contains(name)).cloned().collect::<Vec<_>>());
        }
        names.sort();
        names
    }

    /// Sets the global variable `$name` that the compiler gave `index`, and makes the name
    /// known, so that `@variable("name")` reads and writes the same variable as `$name`.
    pub(crate) fn define_global(&self, index: u32, name: &Key, value: Value) {
        self.global_names.borrow_mut().insert(name.clone(), index);
        self.globals.borrow_mut()[index as usize] = Some(value);
    }

    /// Sets a global variable by name, creating it if needed.
    pub fn set_global(&self, name: &str, value: Value) {
        let mut names = self.global_names.borrow_mut();
        let mut globals = self.globals.borrow_mut();
        let index = *names.entry(Key::new(name)).or_insert_with(|| {
            globals.push(None);
            (globals.len() - 1) as u32
        });
        if globals.len() <= index as usize {
            globals.resize(index as usize + 1, None);
        }
        globals[index as usize] = Some(value);
    }
}
