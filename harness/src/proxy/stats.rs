//! The proxy's live traffic counters per directed link, and their snapshot.
//!
//! Counters are atomics updated on the data path; a snapshot reads each one once, so the
//! figures of a live proxy are individually exact but not a single instant's cut.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::net::LinkStats;

/// Live counters of one link.
#[derive(Debug, Default)]
pub(crate) struct LinkCounters {
    pub connections: AtomicU64,
    pub open_connections: AtomicU64,
    pub connect_failures: AtomicU64,
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
    pub delivered: AtomicU64,
    pub dropped: AtomicU64,
    pub delayed: AtomicU64,
    pub duplicated: AtomicU64,
    pub reordered: AtomicU64,
    pub malformed: AtomicU64,
}

impl LinkCounters {
    pub fn snapshot(&self) -> LinkStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LinkStats {
            connections: get(&self.connections),
            connect_failures: get(&self.connect_failures),
            frames: get(&self.frames),
            bytes: get(&self.bytes),
            delivered: get(&self.delivered),
            dropped: get(&self.dropped),
            delayed: get(&self.delayed),
            duplicated: get(&self.duplicated),
            reordered: get(&self.reordered),
            malformed: get(&self.malformed),
        }
    }
}

/// Add one to a counter.
pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}
