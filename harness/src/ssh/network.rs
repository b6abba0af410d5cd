//! [`SshNetwork`]: cuts and loss between SSH hosts, as nftables rules on each receiving
//! host, in a table named after the run's tag.
//!
//! The rules are the network-namespace backend's (`netns::rules`: per other node a packet
//! counter, and a drop for a cut or with the loss probability), in the table
//! `inet faultline_ssh_<tag>`, replaced in one `nft -f` transaction per host; every host
//! is changed at once, each over its own channel. Two differences from namespaces: a real
//! host keeps its IPv6 traffic (the namespace rule that drops all IPv6 is left out; nodes
//! talk over the IPv4 addresses the cuts match), and there is no netem, so delay,
//! duplication and reordering are refused with the reason.
//!
//! [`Network::shutdown`] is the run's last act on its hosts: it kills any node group left,
//! removes every run directory of the run's tag and the run's table (see
//! `scripts::remove`). Everything the run made on a host goes with it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::bail;
use nodes::api::NodeId;

use super::layout;
use super::scripts;
use super::session::Remotes;
use crate::net::{Grudge, LinkFaults, NetStats, Network};
use crate::netns::{rules, RunTag};

/// One run's rules on its hosts.
pub struct SshNetwork {
    remotes: Arc<Remotes>,
    tag: RunTag,
    addrs: BTreeMap<NodeId, Ipv4Addr>,
    faults: Mutex<(Grudge, LinkFaults)>,
    shut_down: Mutex<bool>,
}

/// An nft script fed to `nft -f -` by a here-document.
fn nft_script(rules: &str) -> String {
    format!("nft -f - <<'FAULTLINE_NFT'\n{rules}FAULTLINE_NFT\n")
}

impl SshNetwork {
    /// Check every host can take the rules (root, `nft`) and create the run's table on
    /// each; an error names the host.
    pub fn create(
        remotes: Arc<Remotes>,
        tag: RunTag,
        addrs: BTreeMap<NodeId, Ipv4Addr>,
    ) -> anyhow::Result<SshNetwork> {
        let network = SshNetwork {
            remotes,
            tag,
            addrs,
            faults: Mutex::new(Default::default()),
            shut_down: Mutex::new(false),
        };
        let table = layout::table(&network.tag);
        let results = network.remotes.run_everywhere(|id| {
            let script = rules::node_table_named(&table, id, &network.addrs) + &network.rules(id, &Grudge::none(), 0.0);
            format!(
                "[ \"$(id -u)\" = 0 ] || {{ echo 'must log in as root (the user is not)' >&2; exit 1; }}\n\
                 command -v nft >/dev/null || {{ echo 'has no nft (Debian package nftables)' >&2; exit 1; }}\n{}",
                nft_script(&script)
            )
        });
        for (id, result) in results {
            let out = result?;
            if !out.success {
                bail!(
                    "node {id}'s host cannot take the run's rules: {}",
                    crate::netns::command::one_line(&out.stderr)
                );
            }
        }
        Ok(network)
    }

    /// Node `me`'s input chain, without the namespace's blanket IPv6 drop.
    fn rules(&self, me: NodeId, grudge: &Grudge, drop: f64) -> String {
        rules::node_rules_named(&layout::table(&self.tag), me, &self.addrs, grudge, drop)
            .lines()
            .filter(|l| !l.ends_with("meta nfproto ipv6 drop"))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    fn apply(&self, grudge: &Grudge, drop: f64) -> anyhow::Result<()> {
        let results = self.remotes.run_everywhere(|id| nft_script(&self.rules(id, grudge, drop)));
        let mut first_error = None;
        for (id, result) in results {
            match result {
                Ok(out) if out.success => {}
                Ok(out) => {
                    first_error.get_or_insert(anyhow::anyhow!(
                        "setting the rules of node {id}: {}",
                        crate::netns::command::one_line(&out.stderr)
                    ));
                }
                Err(e) => {
                    first_error.get_or_insert(e.context(format!("setting the rules of node {id}")));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn lock(&self) -> MutexGuard<'_, (Grudge, LinkFaults)> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Network for SshNetwork {
    fn set_grudge(&self, grudge: Grudge) -> anyhow::Result<()> {
        grudge.check_nodes(|node| self.addrs.contains_key(&node))?;
        let mut faults = self.lock();
        if let Err(e) = self.apply(&grudge, faults.1.drop) {
            // Put back what was in force (best effort): a host that took the new rules
            // must not keep them while the record says the fault did not happen.
            let _ = self.apply(&faults.0, faults.1.drop);
            return Err(e);
        }
        faults.0 = grudge;
        Ok(())
    }

    fn grudge(&self) -> Grudge {
        self.lock().0.clone()
    }

    fn set_all_link_faults(&self, link: LinkFaults) -> anyhow::Result<()> {
        link.validate().map_err(anyhow::Error::msg)?;
        if rules::needs_netem(&link) {
            bail!(
                "{} not available over SSH: only partitions and loss (drop) are applied on the hosts",
                rules::netem_parts(&link).join(", ")
            );
        }
        let mut faults = self.lock();
        if let Err(e) = self.apply(&faults.0, link.drop) {
            let _ = self.apply(&faults.0, faults.1.drop);
            return Err(e);
        }
        faults.1 = link;
        Ok(())
    }

    fn clear_link_faults(&self) -> anyhow::Result<()> {
        self.set_all_link_faults(LinkFaults::default())
    }

    fn has_link_faults(&self) -> bool {
        !self.lock().1.is_none()
    }

    /// Packets per directed link, from each receiver's counters (see the netns backend).
    fn stats(&self) -> Option<NetStats> {
        let table = layout::table(&self.tag);
        let results = self.remotes.run_everywhere(|_| format!("nft -j list counters table inet {}\n", table));
        let mut links = BTreeMap::new();
        for (to, result) in results {
            let out = result.ok().filter(|o| o.success)?;
            for (from, stats) in rules::link_stats(&out.stdout).ok()? {
                links.insert(format!("{from}->{to}"), stats);
            }
        }
        Some(NetStats::from_links(links))
    }

    fn shutdown(&self) {
        let mut done = self.shut_down.lock().unwrap_or_else(|p| p.into_inner());
        if *done {
            return;
        }
        let base = std::path::Path::new(layout::BASE);
        let mut ok = true;
        let results = self.remotes.run_everywhere(|id| {
            scripts::remove(base, scripts::Scope::Node(&self.tag, id), layout::TABLE_PREFIX)
        });
        for (id, result) in results {
            match result {
                Ok(out) if out.success => {}
                Ok(out) => {
                    ok = false;
                    eprintln!(
                        "faultline: error: cleaning node {id}'s host: {}",
                        crate::netns::command::one_line(&out.stderr)
                    );
                }
                Err(e) => {
                    ok = false;
                    eprintln!("faultline: error: cleaning node {id}'s host: {e:#}");
                }
            }
        }
        if ok {
            *done = true;
        } else {
            eprintln!("faultline: `faultline cleanup --ssh HOSTS_FILE --tag {}` retries", self.tag);
        }
    }
}

impl Drop for SshNetwork {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nft_script_is_a_quoted_here_document() {
        let script = nft_script("flush chain inet t input\n");
        assert_eq!(script, "nft -f - <<'FAULTLINE_NFT'\nflush chain inet t input\nFAULTLINE_NFT\n");
    }
}
