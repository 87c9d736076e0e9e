//! The capability index: (kind, name) -> slots of node ids. A lookup costs in
//! proportion to the number of results, not the number of peers.
//!
//! The index also interns names: every peer's capability name is pointed at
//! the index's own copy, so a name offered by many peers is stored once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use foldhash::fast::RandomState;

use crate::model::{Capabilities, CapabilityKind};

/// Slots (see `slots.rs`) of the peers offering one name.
type IdSet = HashSet<u32, RandomState>;

#[derive(Default)]
pub(crate) struct CapabilityIndex {
    by_kind: [HashMap<Arc<str>, IdSet, RandomState>; 4],
}

fn slot(kind: CapabilityKind) -> usize {
    kind as usize
}

impl CapabilityIndex {
    /// Node ids offering `name` of `kind`.
    pub fn get(&self, kind: CapabilityKind, name: &str) -> Option<&IdSet> {
        self.by_kind[slot(kind)].get(name)
    }

    /// Adds every capability of `caps` for `id`, interning the names.
    pub fn insert_all(&mut self, id: u32, caps: &mut Capabilities) {
        for kind in CapabilityKind::ALL {
            for cap in caps.of_mut(kind) {
                let shared = self.insert(kind, cap.shared_name(), id);
                cap.share_name(shared);
            }
        }
    }

    /// Removes every capability of `caps` for `id`.
    pub fn remove_all(&mut self, id: u32, caps: &Capabilities) {
        for (kind, cap) in caps.iter() {
            self.remove(kind, cap.name(), id);
        }
    }

    /// Moves `id` from the names of `old` to those of `new`, interning the
    /// new names.
    pub fn replace(&mut self, id: u32, old: &Capabilities, new: &mut Capabilities) {
        for kind in CapabilityKind::ALL {
            for cap in old.of(kind) {
                if !new.contains(kind, cap.name()) {
                    self.remove(kind, cap.name(), id);
                }
            }
            for cap in new.of_mut(kind) {
                let shared = self.insert(kind, cap.shared_name(), id);
                cap.share_name(shared);
            }
        }
    }

    /// Adds `id` under `name` and returns the index's copy of the name.
    fn insert(&mut self, kind: CapabilityKind, name: &Arc<str>, id: u32) -> Arc<str> {
        let map = &mut self.by_kind[slot(kind)];
        if let Some((key, set)) = map.get_key_value(&**name) {
            let key = Arc::clone(key);
            if !set.contains(&id) {
                map.get_mut(&*key).expect("just found").insert(id);
            }
            return key;
        }
        let mut set = IdSet::default();
        set.insert(id);
        map.insert(Arc::clone(name), set);
        Arc::clone(name)
    }

    fn remove(&mut self, kind: CapabilityKind, name: &str, id: u32) {
        let map = &mut self.by_kind[slot(kind)];
        if let Some(set) = map.get_mut(name) {
            set.remove(&id);
            if set.is_empty() {
                map.remove(name);
            }
        }
    }

    /// Number of distinct (kind, name) keys.
    #[cfg(test)]
    pub fn keys(&self) -> usize {
        self.by_kind.iter().map(HashMap::len).sum()
    }
}
