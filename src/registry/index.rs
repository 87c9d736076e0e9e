//! The capability index: (kind, name) -> node ids. A lookup costs in
//! proportion to the number of results, not the number of peers.

use std::collections::{HashMap, HashSet};

use foldhash::fast::RandomState;

use crate::model::{Capabilities, CapabilityKind, NodeId};

type IdSet = HashSet<NodeId, RandomState>;

#[derive(Default)]
pub(crate) struct CapabilityIndex {
    by_kind: [HashMap<Box<str>, IdSet, RandomState>; 4],
}

fn slot(kind: CapabilityKind) -> usize {
    kind as usize
}

impl CapabilityIndex {
    /// Node ids offering `name` of `kind`.
    pub fn get(&self, kind: CapabilityKind, name: &str) -> Option<&IdSet> {
        self.by_kind[slot(kind)].get(name)
    }

    /// Adds every capability of `caps` for `id`.
    pub fn insert_all(&mut self, id: &NodeId, caps: &Capabilities) {
        for (kind, cap) in caps.iter() {
            self.insert(kind, cap.name(), id);
        }
    }

    /// Removes every capability of `caps` for `id`.
    pub fn remove_all(&mut self, id: &NodeId, caps: &Capabilities) {
        for (kind, cap) in caps.iter() {
            self.remove(kind, cap.name(), id);
        }
    }

    /// Moves `id` from the names of `old` to those of `new`, touching only
    /// what differs.
    pub fn replace(&mut self, id: &NodeId, old: &Capabilities, new: &Capabilities) {
        for kind in CapabilityKind::ALL {
            let (o, n) = (old.of(kind), new.of(kind));
            if o == n {
                continue;
            }
            for cap in o {
                if !new.contains(kind, cap.name()) {
                    self.remove(kind, cap.name(), id);
                }
            }
            for cap in n {
                if !old.contains(kind, cap.name()) {
                    self.insert(kind, cap.name(), id);
                }
            }
        }
    }

    fn insert(&mut self, kind: CapabilityKind, name: &str, id: &NodeId) {
        let map = &mut self.by_kind[slot(kind)];
        match map.get_mut(name) {
            Some(set) => {
                set.insert(id.clone());
            }
            None => {
                let mut set = IdSet::default();
                set.insert(id.clone());
                map.insert(name.into(), set);
            }
        }
    }

    fn remove(&mut self, kind: CapabilityKind, name: &str, id: &NodeId) {
        let map = &mut self.by_kind[slot(kind)];
        if let Some(set) = map.get_mut(name) {
            set.remove(id.as_str());
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
