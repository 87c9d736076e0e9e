//! Slot numbers: a small integer per listed peer, so the capability index can
//! hold 4-byte slots instead of 16-byte node ids. A slot is reused after its
//! peer is removed, so a reader that maps slots back to peers re-checks what
//! it finds.

use crate::model::NodeId;

#[derive(Default)]
pub(crate) struct SlotTable {
    ids: Vec<Option<NodeId>>,
    free: Vec<u32>,
}

impl SlotTable {
    /// A slot for `id`.
    pub fn alloc(&mut self, id: NodeId) -> u32 {
        match self.free.pop() {
            Some(s) => {
                self.ids[s as usize] = Some(id);
                s
            }
            None => {
                self.ids.push(Some(id));
                u32::try_from(self.ids.len() - 1).expect("fewer than 2^32 peers")
            }
        }
    }

    /// Frees a slot for reuse.
    pub fn release(&mut self, slot: u32) {
        if let Some(entry) = self.ids.get_mut(slot as usize) {
            if entry.take().is_some() {
                self.free.push(slot);
            }
        }
    }

    /// The node id in a slot.
    pub fn id(&self, slot: u32) -> Option<&NodeId> {
        self.ids.get(slot as usize)?.as_ref()
    }
}
