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

use std::time::Duration;

use crate::proxy::{Grudge, Hold, Link, LinkFaults, NetStats, Proxy};

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
    /// Keep (not drop) every frame sent on `links` for `duration`, then deliver them all,
    /// shuffled by `shuffle_seed` if one is given. A backend that cannot keep messages
    /// says so.
    fn hold(&self, links: &[Link], duration: Duration, shuffle_seed: Option<u64>) -> anyhow::Result<()> {
        let _ = (links, duration, shuffle_seed);
        Err(anyhow::anyhow!(
            "this network cannot keep messages and deliver them late: the kernel's rules can drop \
             or delay packets, not hold a link's traffic and release it at once"
        ))
    }
    /// Stop keeping new frames (frames kept leave at their time).
    fn clear_holds(&self) -> anyhow::Result<()> {
        Ok(())
    }
    /// Whether some link is keeping frames now.
    fn has_holds(&self) -> bool {
        false
    }
    /// Traffic counters, where the backend counts messages (the proxy counts frames).
    fn stats(&self) -> Option<NetStats>;
    /// Undo everything this network set up. Idempotent; best effort; never blocks long.
    fn shutdown(&self);
}

impl Network for Proxy {
    fn set_grudge(&self, grudge: Grudge) -> anyhow::Result<()> {
        Proxy::set_grudge(self, grudge);
        Ok(())
    }

    fn grudge(&self) -> Grudge {
        Proxy::grudge(self)
    }

    fn set_all_link_faults(&self, faults: LinkFaults) -> anyhow::Result<()> {
        Proxy::set_all_link_faults(self, faults)
    }

    fn clear_link_faults(&self) -> anyhow::Result<()> {
        Proxy::clear_link_faults(self);
        Ok(())
    }

    fn has_link_faults(&self) -> bool {
        self.links().into_iter().any(|l| !self.link_faults(l).is_none())
    }

    fn hold(&self, links: &[Link], duration: Duration, shuffle_seed: Option<u64>) -> anyhow::Result<()> {
        let until = tokio::time::Instant::now() + duration;
        Proxy::hold(self, links, Hold { until, shuffle_seed })
    }

    fn clear_holds(&self) -> anyhow::Result<()> {
        Proxy::clear_holds(self);
        Ok(())
    }

    fn has_holds(&self) -> bool {
        Proxy::has_holds(self)
    }

    fn stats(&self) -> Option<NetStats> {
        Some(Proxy::stats(self))
    }

    fn shutdown(&self) {
        Proxy::shutdown(self)
    }
}
