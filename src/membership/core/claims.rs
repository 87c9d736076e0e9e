//! Signed liveness: what only a node may say about itself (that it is
//! alive at an incarnation, that it leaves) must carry its signature when
//! its id is key-derived (or the cluster requires signatures), and there a
//! third party's accusation may not run ahead of the incarnation the
//! accused itself announced. PROTOCOL.md, "Signed liveness".

use super::*;
use crate::identity::{must_sign, sign_claim, verify_claim, VerifyError};
use crate::membership::ClaimRefusal;
use crate::model::RecordSignature;
use crate::wire::MAX_INCARNATION;

/// How far a third party's `suspect`/`dead` claim may be above the highest
/// incarnation the accused itself announced (as known here): a claim that
/// answers a refutation may overtake the refutation itself.
pub(crate) const INCARNATION_TOLERANCE: u64 = 1;

/// A member's latest verified word about itself.
#[derive(Debug, Clone)]
pub(super) struct Word {
    incarnation: u64,
    liveness: Liveness,
    sig: RecordSignature,
}

impl Membership {
    /// Alive or left.
    pub(super) fn my_liveness(&self) -> Liveness {
        if self.leaving {
            Liveness::Left
        } else {
            Liveness::Alive
        }
    }

    /// Signs this node's current state again (after its incarnation or
    /// liveness changed). `alive` at incarnation 0 is every node's
    /// starting state and needs no signature.
    pub(super) fn resign(&mut self) {
        let needed = self.incarnation > 0 || self.leaving;
        self.my_sig = match &self.signer {
            Some(id) if needed => Some(sign_claim(id, self.my_liveness(), self.incarnation)),
            _ => None,
        };
    }

    /// This node's own claim about itself (`alive` or `leave`), signed.
    pub(super) fn own_claim(&self) -> StateClaim {
        let mut c = StateClaim::new(self.me.node_id.clone(), self.incarnation, self.me.version);
        c.sig = self.my_sig.clone();
        c
    }

    /// The signature of this node's current state, if it has one.
    pub fn own_claim_signature(&self) -> Option<&RecordSignature> {
        self.my_sig.as_ref()
    }

    /// Liveness claims refused so far (unsigned or forged self-claims,
    /// accusations ahead of the accused, incarnations above the limit).
    pub fn claims_refused(&self) -> u64 {
        self.claims_refused
    }

    pub(super) fn must_sign(&self, id: &NodeId) -> bool {
        must_sign(id.as_str(), self.config.require_signed_records)
    }

    /// Checks a claim about another member that would replace the state
    /// held (`new` is the claim's liveness as it would be taken: a digest's
    /// `dead` counts as `suspect`).
    pub(super) fn check_claim(
        &self,
        s: &MemberState,
        new: Liveness,
        attested: u64,
    ) -> Result<(), ClaimRefusal> {
        let incarnation = s.incarnation;
        if incarnation > MAX_INCARNATION {
            return Err(ClaimRefusal::AboveLimit { incarnation });
        }
        match new {
            Liveness::Alive | Liveness::Left => {
                if self.must_sign(&s.node_id) {
                    self.verify_self_claim(s)?;
                }
                Ok(())
            }
            Liveness::Suspect | Liveness::Dead => {
                if incarnation >= MAX_INCARNATION {
                    return Err(ClaimRefusal::AboveLimit { incarnation });
                }
                // Only where the accused signs its word is the incarnation
                // it announced known for sure; with hand-picked ids
                // (unsigned) a member that missed refutations holds an
                // older one, and a genuine suspicion runs ahead of it.
                let held = attested + INCARNATION_TOLERANCE;
                if self.must_sign(&s.node_id) && incarnation > held {
                    return Err(ClaimRefusal::AheadOfNode {
                        liveness: new,
                        incarnation,
                        held,
                    });
                }
                Ok(())
            }
        }
    }

    /// Checks that `s` (an `alive` or `left` claim) is signed by its
    /// subject.
    pub(super) fn verify_self_claim(&self, s: &MemberState) -> Result<(), ClaimRefusal> {
        let not_signed = |reason| ClaimRefusal::NotSigned {
            liveness: s.liveness,
            incarnation: s.incarnation,
            reason,
        };
        let sig = s.sig.as_ref().ok_or_else(|| {
            not_signed(VerifyError::MissingSignature {
                node_id: s.node_id.to_string(),
            })
        })?;
        verify_claim(s.node_id.as_str(), s.liveness, s.incarnation, sig).map_err(not_signed)
    }

    /// Remembers a member's verified word about itself, to pass it on
    /// with its state (digests, answers).
    pub(super) fn remember_word(&mut self, s: &MemberState) {
        if let (Some(sig), true) = (&s.sig, self.must_sign(&s.node_id)) {
            let w = Word {
                incarnation: s.incarnation,
                liveness: s.liveness,
                sig: sig.clone(),
            };
            self.words.insert(s.node_id.clone(), w);
        }
    }

    pub(super) fn forget_word(&mut self, id: &NodeId) {
        self.words.remove(id);
    }

    /// Whether this node holds `id`'s signed word of this `alive` or
    /// `left` state.
    pub(super) fn holds_word(&self, id: &NodeId, incarnation: u64, liveness: Liveness) -> bool {
        self.word_of(id, incarnation, liveness).is_some()
    }

    /// `id`'s signed word of this `alive` or `left` state, when held.
    fn word_of(&self, id: &NodeId, incarnation: u64, liveness: Liveness) -> Option<&Word> {
        if !matches!(liveness, Liveness::Alive | Liveness::Left) || self.words.is_empty() {
            return None;
        }
        self.words
            .get(id)
            .filter(|w| w.incarnation == incarnation && w.liveness == liveness)
    }

    /// `st` with its subject's signature, when it is an `alive` or `left`
    /// state this node holds the signed word of.
    pub(super) fn with_sig(&self, mut st: MemberState) -> MemberState {
        if st.sig.is_none() {
            if let Some(w) = self.word_of(&st.node_id, st.incarnation, st.liveness) {
                st.sig = Some(w.sig.clone());
            }
        }
        st
    }

    /// A member's last signed word as a state (for a restarted node, which
    /// learns from it which incarnation it had reached).
    pub(super) fn word_state(&self, id: &NodeId, version: u64) -> Option<MemberState> {
        let w = self.words.get(id)?;
        let mut st = MemberState::new(id.clone(), w.incarnation, w.liveness, version);
        st.sig = Some(w.sig.clone());
        Some(st)
    }

    /// Refuses a claim, counted. The sender's health drops only for a
    /// claim no honest node sends: an accusation about a third party ahead
    /// of what this node holds may come from a member that heard
    /// refutations this one missed.
    pub(super) fn refuse_claim(&mut self, node_id: &NodeId, from: &NodeId, reason: ClaimRefusal) {
        self.claims_refused += 1;
        let honest_possible =
            matches!(reason, ClaimRefusal::AheadOfNode { .. }) && *node_id != self.me.node_id;
        if !honest_possible {
            self.outcome(from, false);
        }
        self.event(MembershipEvent::ClaimRefused {
            node_id: node_id.clone(),
            from: from.clone(),
            reason,
        });
    }
}
