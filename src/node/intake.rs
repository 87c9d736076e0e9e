//! The order in which the driver takes what is waiting for it: datagrams
//! first, and again between stream events. Probes and their acks travel as
//! datagrams and are timed (an ack later than the probe timeout starts an
//! indirect round, then a suspicion); bulk travels over WebSocket. A node
//! with a backlog of stream frames (a seed answering a burst of joins, every
//! process of a saturated host waiting its turn) answers the probes queued
//! behind that backlog first, instead of letting them time out.

use crossbeam_channel::Receiver;

/// One input taken by [`take_waiting`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Input<D, E> {
    Datagram(D),
    Stream(E),
}

/// Most inputs taken in one pass: the driver's timers (probe deadlines,
/// gossip rounds) run between passes even when inputs never stop coming.
pub(super) const MAX_PER_PASS: usize = 1_024;
/// Most datagrams taken in a row while a stream event waits: a flood of
/// datagrams (a burst, or someone sending garbage) slows the stream down,
/// never stops it.
pub(super) const MAX_DATAGRAMS_IN_A_ROW: usize = 64;

/// Takes what is waiting on `datagrams` and `events` (without blocking),
/// datagrams first and again before each stream event (at most
/// [`MAX_DATAGRAMS_IN_A_ROW`] before one), at most [`MAX_PER_PASS`] in
/// all; returns how many were taken.
pub(super) fn take_waiting<D, E>(
    datagrams: &Receiver<D>,
    events: &Receiver<E>,
    mut handle: impl FnMut(Input<D, E>),
) -> usize {
    let mut taken = 0;
    let mut in_a_row = 0;
    while taken < MAX_PER_PASS {
        let datagram = if in_a_row < MAX_DATAGRAMS_IN_A_ROW {
            datagrams.try_recv().ok()
        } else {
            None
        };
        if let Some(d) = datagram {
            handle(Input::Datagram(d));
            in_a_row += 1;
        } else if let Ok(e) = events.try_recv() {
            handle(Input::Stream(e));
            in_a_row = 0;
        } else if in_a_row >= MAX_DATAGRAMS_IN_A_ROW {
            // No stream event waits after all: datagrams again.
            in_a_row = 0;
            continue;
        } else {
            break;
        }
        taken += 1;
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::unbounded;

    #[test]
    fn datagrams_go_before_the_stream_backlog_and_between_its_events() {
        let (dtx, drx) = unbounded();
        let (etx, erx) = unbounded();
        for e in 1..=3 {
            etx.send(e).unwrap();
        }
        dtx.send(10).unwrap();
        let mut order = Vec::new();
        let n = take_waiting(&drx, &erx, |i| {
            // A datagram that arrives while the first stream event is
            // handled is taken before the second.
            if i == Input::Stream(1) {
                dtx.send(11).unwrap();
            }
            order.push(i);
        });
        assert_eq!(
            order,
            vec![
                Input::Datagram(10),
                Input::Stream(1),
                Input::Datagram(11),
                Input::Stream(2),
                Input::Stream(3),
            ]
        );
        assert_eq!(n, 5);
    }

    #[test]
    fn a_flood_of_datagrams_slows_the_stream_but_does_not_stop_it() {
        let (dtx, drx) = unbounded();
        let (etx, erx) = unbounded();
        for d in 0..500u32 {
            dtx.send(d).unwrap();
        }
        etx.send(1u32).unwrap();
        etx.send(2).unwrap();
        let mut order = Vec::new();
        let n = take_waiting(&drx, &erx, |i| order.push(i));
        assert_eq!(n, 502, "everything is taken in one pass");
        let at = |e| order.iter().position(|i| *i == Input::Stream(e)).unwrap();
        assert_eq!(at(1), MAX_DATAGRAMS_IN_A_ROW);
        assert_eq!(at(2), 2 * MAX_DATAGRAMS_IN_A_ROW + 1);
        // The datagrams keep their order around the stream events.
        let datagrams: Vec<u32> = order
            .iter()
            .filter_map(|i| match i {
                Input::Datagram(d) => Some(*d),
                Input::Stream(_) => None,
            })
            .collect();
        assert_eq!(datagrams, (0..500).collect::<Vec<_>>());
    }

    #[test]
    fn one_pass_ends_even_if_inputs_keep_coming() {
        let (dtx, drx) = unbounded();
        let (_etx, erx) = unbounded::<u32>();
        dtx.send(0u32).unwrap();
        let n = take_waiting(&drx, &erx, |_| {
            dtx.send(1).unwrap();
        });
        assert_eq!(n, MAX_PER_PASS);
        assert_eq!(drx.len(), 1, "the rest waits for the next pass");
    }
}
