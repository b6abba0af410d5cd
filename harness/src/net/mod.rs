//! The network between a run's nodes, as the nemesis drives it.
//!
//! Two implementations: the fault proxy (`crate::proxy`), which sits on every link between
//! nodes that can be given a different address per peer (the built-in protocols), and the
//! network-namespace backend (`crate::netns`), which cuts links with firewall rules inside
//! each node's own network namespace (real systems, whose members cannot be pointed at a
//! proxy). The nemesis, the schedule and the checkers are the same for both.
//!
//! A backend that cannot do what a fault asks (delay without netem, say) returns an error
//! saying what is not available; the nemesis records the fault as not taken effect. It
//! never pretends.
//!
//! The types both backends speak (grudges, link faults, traffic counts) live here, so
//! neither backend depends on the other.

mod faults;
mod grudge;
mod stats;

pub use faults::LinkFaults;
pub use grudge::Grudge;
pub use stats::{LinkStats, NetStats};

/// Cuts and link faults between the nodes of one run.
pub trait Network: Send + Sync {
    /// Replace the partition in force by `grudge` (the empty grudge heals).
    fn set_grudge(&self, grudge: Grudge) -> anyhow::Result<()>;
    /// The partition in force.
    fn grudge(&self) -> Grudge;
    /// Remove every cut.
    fn heal(&self) -> anyhow::Result<()> {
        self.set_grudge(Grudge::none())
    }
    /// Put `faults` on every directed link between nodes. An error, and nothing changed,
    /// when the backend cannot apply some part of them.
    fn set_all_link_faults(&self, faults: LinkFaults) -> anyhow::Result<()>;
    /// Remove every link fault.
    fn clear_link_faults(&self) -> anyhow::Result<()>;
    /// Whether any link fault is in force.
    fn has_link_faults(&self) -> bool;
    /// Traffic counters, where the backend counts messages (the proxy counts frames).
    fn stats(&self) -> Option<NetStats>;
    /// Undo everything this network set up. Idempotent; best effort; never blocks long.
    fn shutdown(&self);
}
