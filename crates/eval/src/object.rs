//! `Object`: an insertion-ordered map from strings to values.
//!
//! Small objects (the common case: records, config blocks) are a plain vector searched
//! linearly, which is both smaller and faster than hashing for a handful of keys; past
//! [`INDEX_THRESHOLD`] entries a hash index of positions is added.

use std::cell::Cell;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::value::{Key, Value};

const INDEX_THRESHOLD: usize = 8;

fn hash_key(key: &str) -> u64 {
    // A fixed seed: one hasher serves every object, so objects carry no hasher state.
    foldhash::fast::FixedState::with_seed(0x7475_736b).hash_one(key)
}

/// An ordered map with string keys.
#[derive(Clone, Default)]
pub struct Object {
    entries: Vec<(Key, Value)>,
    index: Option<HashTable<u32>>,
}

impl Object {
    /// An empty object.
    pub fn new() -> Object {
        Object::default()
    }

    /// An empty object with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Object {
        Object { entries: Vec::with_capacity(capacity), index: None }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            None => self.entries.iter().position(|(k, _)| k.as_str() == key),
            Some(index) => {
                index.find(hash_key(key), |&i| self.entries[i as usize].0.as_str() == key).map(|&i| i as usize)
            }
        }
    }

    /// Where `key` is. A small object compares whole keys: two short keys compare in a few
    /// word-sized steps, where a `str` comparison calls `memcmp`.
    #[inline]
    fn position_of_key(&self, key: &Key) -> Option<usize> {
        match &self.index {
            None => self.entries.iter().position(|(k, _)| k == key),
            Some(_) => self.position(key),
        }
    }

    /// The value under `key`.
    #[inline]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// [`Object::get`] with the key as a `Key` (the interpreter's keys are), found faster.
    #[inline]
    pub(crate) fn get_key(&self, key: &Key) -> Option<&Value> {
        self.position_of_key(key).map(|i| &self.entries[i].1)
    }

    /// [`Object::get_key`] that looks at position `hint` first and leaves there where the key
    /// was found: a member read at one place in the code mostly meets objects of one layout.
    #[inline(always)]
    pub(crate) fn get_key_hinted(&self, key: &Key, hint: &Cell<u32>) -> Option<&Value> {
        if let Some((found, value)) = self.entries.get(hint.get() as usize)
            && found == key
        {
            return Some(value);
        }
        self.get_key_missed(key, hint)
    }

    /// [`Object::get_key_hinted`] when the key is not at the hint (out of line: the hit is
    /// inlined where members are read).
    #[inline(never)]
    fn get_key_missed(&self, key: &Key, hint: &Cell<u32>) -> Option<&Value> {
        let position = self.position_of_key(key)?;
        hint.set(position as u32);
        Some(&self.entries[position].1)
    }

    /// The value under `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.position(key).map(move |i| &mut self.entries[i].1)
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key`: a new key goes last, an existing one keeps its place. Returns the old value.
    pub fn insert(&mut self, key: Key, value: Value) -> Option<Value> {
        if let Some(i) = self.position_of_key(&key) {
            return Some(std::mem::replace(&mut self.entries[i].1, value));
        }
        self.push_new(key, value);
        None
    }

    /// Adds `key`, which the object does not have yet (the caller knows it: an object
    /// literal's key that no earlier entry has), without looking for it first.
    pub(crate) fn push_new(&mut self, key: Key, value: Value) {
        debug_assert!(!self.contains_key(&key), "push_new of a key the object has");
        let position = self.entries.len() as u32;
        if let Some(index) = &mut self.index {
            let entries = &self.entries;
            index.insert_unique(hash_key(&key), position, |&i| hash_key(&entries[i as usize].0));
        }
        self.entries.push((key, value));
        if self.index.is_none() && self.entries.len() > INDEX_THRESHOLD {
            self.rebuild_index();
        }
    }

    /// An object of `entries` in their order, or `None` when a key repeats. The keys are
    /// compared once, all together (pairwise in a small object, through the hash index it
    /// needs anyway in a big one), instead of by one search per [`Object::insert`].
    pub fn from_unique_entries(entries: Vec<(Key, Value)>) -> Option<Object> {
        if entries.len() <= INDEX_THRESHOLD {
            // A key's length and first and last bytes tell most keys apart in one comparison
            // of integers; whole keys are compared only where those agree.
            let mut marks = [0u32; INDEX_THRESHOLD];
            for (i, (key, _)) in entries.iter().enumerate() {
                let bytes = key.as_bytes();
                let (first, last) = (bytes.first().copied().unwrap_or(0), bytes.last().copied().unwrap_or(0));
                let mark = (bytes.len() as u32) << 16 | u32::from(first) << 8 | u32::from(last);
                if marks[..i]
                    .iter()
                    .zip(&entries[..i])
                    .any(|(&earlier_mark, (earlier, _))| earlier_mark == mark && earlier == key)
                {
                    return None;
                }
                marks[i] = mark;
            }
            return Some(Object { entries, index: None });
        }
        let mut index = HashTable::with_capacity(entries.len());
        for (i, (key, _)) in entries.iter().enumerate() {
            let hash = hash_key(key);
            if index.find(hash, |&j: &u32| entries[j as usize].0 == *key).is_some() {
                return None;
            }
            index.insert_unique(hash, i as u32, |&j| hash_key(&entries[j as usize].0));
        }
        Some(Object { entries, index: Some(index) })
    }

    /// Removes `key`, keeping the order of the others.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position(key)?;
        let (_, value) = self.entries.remove(i);
        if self.index.is_some() {
            self.rebuild_index();
        }
        Some(value)
    }

    fn rebuild_index(&mut self) {
        let mut index = HashTable::with_capacity(self.entries.len());
        for (i, (key, _)) in self.entries.iter().enumerate() {
            let entries = &self.entries;
            index.insert_unique(hash_key(key), i as u32, |&j| hash_key(&entries[j as usize].0));
        }
        self.index = Some(index);
    }

    /// Entries in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Key, &Value)> + DoubleEndedIterator {
        self.entries.iter().map(|(key, value)| (key, value))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &Key> {
        self.entries.iter().map(|(key, _)| key)
    }

    /// Values in order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Value> {
        self.entries.iter().map(|(_, value)| value)
    }

    /// Drops the entries in order, scalar values without the drop glue (see `Value`'s `Drop`).
    pub(crate) fn discard_entries(&mut self) {
        self.index = None;
        for (key, value) in self.entries.drain(..) {
            drop(key);
            value.discard();
        }
    }

    /// Values in order, to change in place (the object's keys and index stay as they are).
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        self.entries.iter_mut().map(|(_, value)| value)
    }

    /// Equal keys with deeply equal values, in any order.
    pub fn deep_eq(&self, other: &Object) -> bool {
        self.len() == other.len()
            && self.iter().all(|(key, value)| other.get(key).is_some_and(|other_value| value.deep_eq(other_value)))
    }
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FromIterator<(Key, Value)> for Object {
    fn from_iter<T: IntoIterator<Item = (Key, Value)>>(iter: T) -> Object {
        let mut object = Object::new();
        for (key, value) in iter {
            object.insert(key, value);
        }
        object
    }
}

impl IntoIterator for Object {
    type Item = (Key, Value);
    type IntoIter = std::vec::IntoIter<(Key, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_unique_entries_refuses_a_repeated_key_at_every_size() {
        // Both ways of checking (pairwise, and through the index past the threshold), with the
        // repeat at the start, in the middle and at the end.
        for size in [2, 3, INDEX_THRESHOLD, INDEX_THRESHOLD + 1, 40] {
            let keys: Vec<Key> = (0..size).map(|i| Key::from(format!("key{i}"))).collect();
            let entries = |keys: &[Key]| keys.iter().cloned().zip((0..).map(Value::Int)).collect::<Vec<_>>();
            let object = Object::from_unique_entries(entries(&keys)).expect("distinct keys");
            assert_eq!(object.len(), size);
            assert!(object.keys().eq(keys.iter()));
            for (i, key) in keys.iter().enumerate() {
                assert_eq!(object.get(key).and_then(Value::as_int), Some(i as i64));
            }
            for (at, from) in [(1, 0), (size / 2, size / 2 - 1), (size - 1, 0), (size - 1, size - 2)] {
                let mut repeated = keys.clone();
                repeated[at] = keys[from].clone();
                assert!(Object::from_unique_entries(entries(&repeated)).is_none(), "{size} keys, {at} = {from}");
            }
        }
        assert!(Object::from_unique_entries(Vec::new()).is_some_and(|object| object.is_empty()));
        // Keys of the same length, first and last byte are still told apart, and found equal
        // only when they are.
        let alike = ["axb", "ayb", "azb", "", "a", "ab"].map(|key| (Key::new(key), Value::Null)).to_vec();
        assert_eq!(Object::from_unique_entries(alike.clone()).map(|object| object.len()), Some(6));
        let mut repeated = alike;
        repeated.push((Key::new("ayb"), Value::Null));
        assert!(Object::from_unique_entries(repeated).is_none());
    }

    #[test]
    fn keeps_order_and_finds_keys_past_the_index_threshold() {
        let mut object = Object::new();
        for i in 0..20 {
            object.insert(Key::from(format!("k{i}")), Value::Int(i));
        }
        object.insert(Key::new("k3"), Value::Int(33));
        assert_eq!(object.len(), 20);
        assert_eq!(object.get("k3").and_then(Value::as_int), Some(33));
        assert_eq!(object.get("k19").and_then(Value::as_int), Some(19));
        assert_eq!(object.keys().nth(3).map(|k| k.as_str()), Some("k3"));
        object.remove("k0");
        assert_eq!(object.get("k19").and_then(Value::as_int), Some(19));
        assert!(object.get("k0").is_none());
    }
}
