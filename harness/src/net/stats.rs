//! Traffic counts per directed link, as a network reports them (`net.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A snapshot of one link's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStats {
    /// Connections the sender opened through this link.
    pub connections: u64,
    /// Onward connections that could not be opened (the receiver was down).
    pub connect_failures: u64,
    /// Protocol frames the sender wrote, whatever their fate. The first frame of each
    /// connection (the handshake) is not counted. In byte mode: 0.
    pub frames: u64,
    /// Bytes the sender wrote, handshakes included.
    pub bytes: u64,
    /// Frames written to the receiver, duplicates included, handshakes not.
    pub delivered: u64,
    /// Frames discarded, by a cut or by the loss probability.
    pub dropped: u64,
    /// Frames (byte mode: chunks) given a non-zero delay.
    pub delayed: u64,
    /// Frames delivered a second time.
    pub duplicated: u64,
    /// Frames delivered after a frame that was sent later.
    pub reordered: u64,
    /// Connections closed because the sender's framing was invalid.
    pub malformed: u64,
}

/// Every link's snapshot, keyed `"from->to"`, plus the sum.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetStats {
    pub links: BTreeMap<String, LinkStats>,
    pub total: LinkStats,
}

impl LinkStats {
    fn add(&mut self, other: &LinkStats) {
        self.connections += other.connections;
        self.connect_failures += other.connect_failures;
        self.frames += other.frames;
        self.bytes += other.bytes;
        self.delivered += other.delivered;
        self.dropped += other.dropped;
        self.delayed += other.delayed;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.malformed += other.malformed;
    }
}

impl NetStats {
    pub fn from_links(links: BTreeMap<String, LinkStats>) -> NetStats {
        let mut total = LinkStats::default();
        for stats in links.values() {
            total.add(stats);
        }
        NetStats { links, total }
    }
}
