//! The values a plugin holds, addressed by `(generation << 32) | index` handles: a stale
//! handle (its value released, the slot reused) is detected by its generation instead of
//! aliasing the new value.

/// A value given to a plugin, with its reference count.
pub struct Slot<T> {
    /// The value.
    pub value: T,
    /// When it was given (the in-process host's outermost call; the runner does not use it).
    pub epoch: u64,
    references: u32,
    generation: u32,
}

/// The values a plugin holds.
pub struct HandleTable<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

impl<T> Default for HandleTable<T> {
    fn default() -> Self {
        HandleTable { slots: Vec::new(), free: Vec::new() }
    }
}

impl<T: Default> HandleTable<T> {
    /// Stores `value` with one reference and returns its handle.
    pub fn insert(&mut self, value: T, epoch: u64) -> u64 {
        match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.value = value;
                slot.references = 1;
                slot.epoch = epoch;
                (u64::from(slot.generation) << 32) | u64::from(index)
            }
            None => {
                self.slots.push(Slot { value, references: 1, generation: 0, epoch });
                (self.slots.len() - 1) as u64
            }
        }
    }

    /// The live slot `handle` names (`None` for a released or never given handle).
    pub fn slot(&self, handle: u64) -> Option<&Slot<T>> {
        let slot = self.slots.get((handle & 0xffff_ffff) as usize)?;
        (slot.generation == (handle >> 32) as u32 && slot.references > 0).then_some(slot)
    }

    fn slot_mut(&mut self, handle: u64) -> Option<&mut Slot<T>> {
        let slot = self.slots.get_mut((handle & 0xffff_ffff) as usize)?;
        (slot.generation == (handle >> 32) as u32 && slot.references > 0).then_some(slot)
    }

    /// Sets when the value `handle` names counts as given.
    pub fn set_epoch(&mut self, handle: u64, epoch: u64) {
        if let Some(slot) = self.slot_mut(handle) {
            slot.epoch = epoch;
        }
    }

    /// The value `handle` names.
    pub fn get(&self, handle: u64) -> Option<&T> {
        self.slot(handle).map(|slot| &slot.value)
    }

    /// Adds a reference. A plugin that retains one value four billion times keeps it forever
    /// rather than wrapping the count and freeing it under the other references.
    pub fn retain(&mut self, handle: u64) {
        if let Some(slot) = self.slot_mut(handle) {
            slot.references = slot.references.saturating_add(1);
        }
    }

    /// Drops one reference; returns the value when it was the last, for the caller to drop
    /// after releasing its borrow of the table (dropping a plugin object calls the plugin,
    /// which may release more handles).
    pub fn release(&mut self, handle: u64) -> Option<T> {
        let slot = self.slot_mut(handle)?;
        slot.references -= 1;
        if slot.references > 0 {
            return None;
        }
        slot.generation = slot.generation.wrapping_add(1);
        let value = std::mem::take(&mut slot.value);
        self.free.push((handle & 0xffff_ffff) as u32);
        Some(value)
    }

    /// How many values the plugin holds.
    pub fn live(&self) -> usize {
        self.slots.iter().filter(|slot| slot.references > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_released_handle_is_stale_even_after_its_slot_is_reused() {
        let mut table = HandleTable::default();
        let first = table.insert("a".to_string(), 0);
        assert_eq!(table.release(first).as_deref(), Some("a"));
        let second = table.insert("b".to_string(), 0);
        assert_eq!(first & 0xffff_ffff, second & 0xffff_ffff, "the slot is reused");
        assert_eq!(table.get(first), None);
        assert_eq!(table.get(second).map(String::as_str), Some("b"));
        assert_eq!(table.release(first), None, "a stale release does nothing");
        assert_eq!(table.live(), 1);
    }

    #[test]
    fn the_value_goes_with_the_last_reference() {
        let mut table = HandleTable::default();
        let handle = table.insert(7u32, 3);
        table.retain(handle);
        assert_eq!(table.slot(handle).map(|slot| slot.epoch), Some(3));
        assert_eq!(table.release(handle), None);
        assert_eq!(table.get(handle), Some(&7));
        assert_eq!(table.release(handle), Some(7));
        assert_eq!(table.live(), 0);
    }
}
