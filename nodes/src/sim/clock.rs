//! Per-node clocks in the simulator, and clock skew as a fault.
//!
//! Each incarnation of a node reads `virtual time + a random offset` (protocols may rely
//! only on differences). [`Sim::skew_clock`] changes one node's clock as `POST
//! /admin/clock` does on a real node ([`ClockChange`]): a rate (a node running fast or
//! slow), a jump, or a reset to its natural clock. As there, the clock never goes
//! backwards (a backward jump holds it still), and the node's pending timers follow it: a
//! fast clock fires them sooner, a forward jump fires at once those that became due.

use serde_json::json;

use super::recording;
use super::simulator::{Scheduled, Sim};
use crate::api::NodeId;
use crate::protocol::Protocol;
use crate::runtime::clock::ClockChange;

/// One incarnation's clock: `raw(t) = base + (t - anchor) * rate`, read as
/// `max(raw, every earlier reading)`.
#[derive(Debug, Clone)]
pub(super) struct NodeClock {
    /// The natural offset from virtual time (restored by a reset).
    offset_ms: u64,
    anchor_ms: u64,
    base_ms: i64,
    rate: f64,
    floor_ms: u64,
}

impl NodeClock {
    pub(super) fn started(now_ms: u64, offset_ms: u64) -> Self {
        let natural = now_ms + offset_ms;
        NodeClock { offset_ms, anchor_ms: now_ms, base_ms: natural as i64, rate: 1.0, floor_ms: natural }
    }

    fn raw(&self, now_ms: u64) -> i64 {
        let elapsed = now_ms.saturating_sub(self.anchor_ms);
        // Exact integer arithmetic at rate 1, so unskewed runs are unchanged.
        let advanced = if self.rate == 1.0 { elapsed as i64 } else { (elapsed as f64 * self.rate) as i64 };
        self.base_ms + advanced
    }

    /// The node's time at virtual `now_ms`, never below an earlier reading.
    pub(super) fn read(&mut self, now_ms: u64) -> u64 {
        self.floor_ms = self.floor_ms.max(self.raw(now_ms).max(0) as u64);
        self.floor_ms
    }

    /// Virtual milliseconds from `now_ms` until the node's clock reaches `deadline_ms`.
    pub(super) fn virtual_delay(&self, now_ms: u64, deadline_ms: u64) -> u64 {
        let ahead = deadline_ms as i64 - self.raw(now_ms);
        if ahead <= 0 {
            0
        } else if self.rate == 1.0 {
            ahead as u64
        } else {
            (ahead as f64 / self.rate).ceil() as u64
        }
    }

    fn apply(&mut self, now_ms: u64, change: ClockChange) {
        let raw = self.raw(now_ms);
        self.anchor_ms = now_ms;
        match change {
            ClockChange::Jump { ms } => self.base_ms = raw + ms,
            ClockChange::Rate { rate } => {
                assert!(rate > 0.0 && rate.is_finite(), "clock rate {rate} must be positive");
                self.base_ms = raw;
                self.rate = rate;
            }
            ClockChange::Reset => {
                self.base_ms = (now_ms + self.offset_ms) as i64;
                self.rate = 1.0;
            }
        }
    }
}

impl<P: Protocol> Sim<P> {
    /// Skew node `id`'s clock (see the module documentation); its pending timers are
    /// re-planned on the new clock. A down node's next incarnation starts unskewed.
    pub fn skew_clock(&mut self, id: NodeId, change: ClockChange) {
        let now = self.now_ms;
        let Some(node) = self.nodes.get_mut(&id) else {
            panic!("seed {}: clock skew of unknown node {id}", self.seed)
        };
        if node.state.is_none() {
            return;
        }
        let label = match change {
            ClockChange::Jump { ms } => json!({"node": id, "jump_ms": ms}),
            ClockChange::Rate { rate } => json!({"node": id, "rate": rate}),
            ClockChange::Reset => json!({"node": id, "reset": true}),
        };
        self.events.push(recording::nemesis(now, "clock", label));
        node.clock.apply(now, change);
        let pending: Vec<(P::Timer, u64)> =
            node.timer_deadlines.iter().map(|(timer, &deadline)| (timer.clone(), deadline)).collect();
        for (timer, deadline) in pending {
            let generation = self.seq;
            let node = self.nodes.get_mut(&id).expect("known node");
            node.timers.insert(timer.clone(), generation);
            let delay = node.clock.virtual_delay(now, deadline);
            self.schedule(delay, Scheduled::Timer { node: id, timer, generation });
        }
    }

    /// Node `id`'s clock now, as its protocol would read it (`None` while it is down).
    pub fn clock_of(&mut self, id: NodeId) -> Option<u64> {
        let now = self.now_ms;
        let node = self.nodes.get_mut(&id)?;
        node.state.as_ref()?;
        Some(node.clock.read(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_clock_scales_jumps_and_never_goes_back() {
        let mut clock = NodeClock::started(100, 1_000);
        assert_eq!(clock.read(150), 1_150);
        assert_eq!(clock.virtual_delay(150, 1_200), 50);
        clock.apply(150, ClockChange::Rate { rate: 2.0 });
        assert_eq!(clock.read(200), 1_250);
        assert_eq!(clock.virtual_delay(200, 1_350), 50);
        clock.apply(200, ClockChange::Jump { ms: -500 });
        assert_eq!(clock.read(300), 1_250, "held still after a backward jump");
        clock.apply(300, ClockChange::Reset);
        assert_eq!(clock.read(300), 1_300);
    }
}
