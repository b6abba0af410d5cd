//! The network-namespace backend: each node its own host, cut with nftables.
//!
//! Real systems cannot be pointed at a per-link proxy (a member has one address for every
//! peer), so here each node gets what Jepsen gives it: a machine of its own. For one run,
//! [`NetnsNetwork::create`] makes a Linux bridge in the root namespace and, per node, a
//! network namespace joined to the bridge by a veth pair (`eth0` inside), with an IPv4
//! address on a private /24 the run picks (see `subnet`). The bridge holds the controller's
//! address on that /24, so the harness reaches every node directly; cuts act between nodes
//! only, never between the controller and a node (clients keep talking to the node on
//! their side of a partition, as in Jepsen).
//!
//! Faults ([`Network`]): a partition (grudge) and packet loss are nft rules in each
//! receiving node's namespace (see `rules`), replaced atomically per namespace; their
//! counters give per-link packet statistics. Delay, jitter, duplication and reordering
//! need the kernel's netem qdisc; where it is missing (probed at creation), asking for them
//! is an error that says so and changes nothing.
//!
//! Lifetime: every object is named after the run's [`RunTag`] (see `names`) and recorded
//! in `/run/faultline/<tag>.json` before it is created (see `state`). [`Network::shutdown`]
//! (also run on drop) kills every process left in the run's namespaces and removes every
//! object; `faultline cleanup` removes what a crashed run left (see `teardown`). Nothing
//! leaves the machine: namespaces have no route but their /24, and a guard table in the
//! root namespace drops anything routed between the bridge and another interface.
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables); `tc` only for netem.

pub mod command;
pub mod host;
pub mod names;
pub mod rules;
pub mod state;
pub mod subnet;
pub mod teardown;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Mutex, MutexGuard};

use anyhow::{bail, Context};
use nodes::api::NodeId;

pub use host::NetnsHost;
pub use names::RunTag;

use command::{on_path, run_ok, run_tool};
use names::{NODE_IFACE, NODE_TABLE};
use state::{HostLock, NodeRecord, RunRecord};
use subnet::{Ipv4Net, Subnet};

use crate::net::Network;
use crate::net::{Grudge, LinkFaults, NetStats};
use crate::system::Topology;

/// One run's bridge, namespaces and rules.
pub struct NetnsNetwork {
    tag: RunTag,
    subnet: Subnet,
    nodes: BTreeMap<NodeId, NodeNet>,
    netem: bool,
    faults: Mutex<Faults>,
    /// Whether shutdown has run; held while it runs so a second call waits for the first.
    shut_down: Mutex<bool>,
}

#[derive(Debug, Clone)]
struct NodeNet {
    namespace: String,
    veth: String,
    addr: Ipv4Addr,
}

/// The faults in force.
#[derive(Debug, Clone, Default)]
struct Faults {
    grudge: Grudge,
    link: LinkFaults,
    /// Whether netem qdiscs are installed (so clearing must remove them).
    netem_installed: bool,
}

/// Checks that this process can build namespaces: root, `ip` and `nft`.
#[allow(unsafe_code, reason = "geteuid(2)")]
pub fn preflight() -> anyhow::Result<()> {
    // SAFETY: geteuid(2) has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        bail!("the network-namespace backend needs root (running as uid {euid})");
    }
    for (tool, package) in [("ip", "iproute2"), ("nft", "nftables")] {
        if !on_path(tool) {
            bail!("the network-namespace backend needs `{tool}` on PATH (Debian package {package})");
        }
    }
    Ok(())
}

impl NetnsNetwork {
    /// Build the network of run `tag` for nodes `ids`. On any failure, whatever was built
    /// is removed again before the error returns.
    pub fn create(tag: RunTag, ids: &[NodeId]) -> anyhow::Result<NetnsNetwork> {
        preflight()?;
        let ids: BTreeSet<NodeId> = ids.iter().copied().collect();
        if ids.is_empty() {
            bail!("a network needs at least one node");
        }
        if ids.len() > subnet::MAX_NODES {
            bail!("at most {} nodes per network, got {}", subnet::MAX_NODES, ids.len());
        }
        for &id in &ids {
            tag.check_node_id(id)?;
        }

        let lock = HostLock::acquire()?;
        let records = state::list_records()?;
        if records.contains_key(&tag) || teardown::discover_all()?.contains_key(&tag) {
            bail!(
                "run tag {tag} is in use on this host (by a live run, or left by a crashed one: \
                 `faultline cleanup --tag {tag}` removes it)"
            );
        }
        let mut taken: Vec<Ipv4Net> = host_networks()?.into_iter().collect();
        taken.extend(
            records
                .values()
                .filter_map(|r| r.as_ref().ok())
                .filter_map(|r| Subnet::parse(&r.subnet))
                .map(|s| s.net()),
        );
        let Some(subnet) = subnet::choose(&tag, &taken) else {
            bail!("no free /24 left in {}.{}.0.0/16 on this host", subnet::POOL[0], subnet::POOL[1]);
        };
        let nodes: BTreeMap<NodeId, NodeNet> = ids
            .iter()
            .enumerate()
            .map(|(k, &id)| {
                (id, NodeNet { namespace: tag.namespace(id), veth: tag.veth(id), addr: subnet.node_addr(k) })
            })
            .collect();
        let (owner_pid, owner_start) = state::this_owner()?;
        state::write_record(&RunRecord {
            tag: tag.to_string(),
            owner_pid,
            owner_start,
            subnet: subnet.to_string(),
            bridge: tag.bridge(),
            guard_table: tag.guard_table(),
            nodes: nodes
                .iter()
                .map(|(&id, n)| {
                    (
                        id,
                        NodeRecord {
                            namespace: n.namespace.clone(),
                            veth: n.veth.clone(),
                            addr: n.addr.to_string(),
                        },
                    )
                })
                .collect(),
        })?;
        register(&tag);
        // From here on, dropping `network` removes whatever exists.
        let mut network = NetnsNetwork {
            tag,
            subnet,
            nodes,
            netem: false,
            faults: Mutex::new(Faults::default()),
            shut_down: Mutex::new(false),
        };
        network.build_bridge().with_context(|| format!("building the bridge of run {}", network.tag))?;
        drop(lock);
        for id in ids {
            network.build_node(id).with_context(|| format!("building the namespace of node {id}"))?;
        }
        network.netem = network.probe_netem();
        Ok(network)
    }

    pub fn tag(&self) -> &RunTag {
        &self.tag
    }

    /// Every node's address.
    pub fn topology(&self) -> Topology {
        Topology { nodes: self.nodes.iter().map(|(&id, n)| (id, IpAddr::V4(n.addr))).collect() }
    }

    /// The controller's address on the run's /24 (the bridge's).
    pub fn controller_addr(&self) -> Ipv4Addr {
        self.subnet.bridge_addr()
    }

    /// `10.213.x.0/24`.
    pub fn subnet(&self) -> String {
        self.subnet.to_string()
    }

    /// Node `id`'s namespace.
    pub fn namespace(&self, id: NodeId) -> Option<&str> {
        self.nodes.get(&id).map(|n| n.namespace.as_str())
    }

    /// Every node's namespace.
    pub fn namespaces(&self) -> BTreeMap<NodeId, String> {
        self.nodes.iter().map(|(&id, n)| (id, n.namespace.clone())).collect()
    }

    /// Whether delay, jitter, duplication and reordering can be applied (netem exists).
    pub fn netem_available(&self) -> bool {
        self.netem
    }

    /// Let the network outlive this value and this process (the SSH lab keeps its
    /// namespaces until `faultline lab down`): dropping it no longer removes anything, and
    /// the run's record names `owner_pid` (a process started by `owner_start`, see
    /// [`state::start_time`]) as its owner, so `faultline cleanup` spares it while that
    /// process lives.
    pub fn detach(self, owner_pid: u32, owner_start: u64) -> anyhow::Result<()> {
        let mut record = state::list_records()?
            .remove(&self.tag)
            .ok_or_else(|| anyhow::anyhow!("run {} has no record", self.tag))??;
        record.owner_pid = owner_pid;
        record.owner_start = owner_start;
        state::write_record(&record)?;
        *self.shut_down.lock().unwrap_or_else(|p| p.into_inner()) = true;
        unregister(&self.tag);
        Ok(())
    }

    /// A host that runs each node in its namespace.
    pub fn host(&self) -> NetnsHost {
        NetnsHost::new(self.namespaces())
    }

    fn build_bridge(&self) -> anyhow::Result<()> {
        let bridge = self.tag.bridge();
        // The guard comes first, so no packet is ever routed off the bridge.
        run_ok("nft", &["-f", "-"], Some(&rules::guard_ruleset(&self.tag)))?;
        run_ok("ip", &["link", "add", &bridge, "type", "bridge"], None)?;
        // No IPv6 link-local address: the run's traffic is IPv4 only.
        run_ok("ip", &["link", "set", &bridge, "addrgenmode", "none"], None)?;
        let addr = format!("{}/24", self.subnet.bridge_addr());
        run_ok("ip", &["addr", "add", &addr, "dev", &bridge], None)?;
        run_ok("ip", &["link", "set", &bridge, "up"], None)?;
        Ok(())
    }

    fn build_node(&self, id: NodeId) -> anyhow::Result<()> {
        let node = &self.nodes[&id];
        let (ns, veth) = (node.namespace.as_str(), node.veth.as_str());
        run_ok("ip", &["netns", "add", ns], None)?;
        run_ok("ip", &["link", "add", veth, "type", "veth", "peer", "name", NODE_IFACE, "netns", ns], None)?;
        run_ok("ip", &["link", "set", veth, "addrgenmode", "none"], None)?;
        run_ok("ip", &["link", "set", veth, "master", &self.tag.bridge()], None)?;
        run_ok("ip", &["link", "set", veth, "up"], None)?;
        let addr = format!("{}/24", node.addr);
        run_ok("ip", &["-n", ns, "link", "set", "lo", "up"], None)?;
        run_ok("ip", &["-n", ns, "link", "set", NODE_IFACE, "addrgenmode", "none"], None)?;
        run_ok("ip", &["-n", ns, "addr", "add", &addr, "dev", NODE_IFACE], None)?;
        run_ok("ip", &["-n", ns, "link", "set", NODE_IFACE, "up"], None)?;
        let addrs = self.addrs();
        let script = rules::node_table(id, &addrs) + &rules::node_rules(id, &addrs, &Grudge::none(), 0.0);
        run_ok("ip", &["netns", "exec", ns, "nft", "-f", "-"], Some(&script))
            .with_context(|| format!("creating the {NODE_TABLE} table of node {id}"))?;
        Ok(())
    }

    /// Whether this kernel has netem: try it on the first namespace's loopback.
    fn probe_netem(&self) -> bool {
        let Some(node) = self.nodes.values().next() else { return false };
        if !on_path("tc") {
            return false;
        }
        let ns = node.namespace.as_str();
        let added =
            run_tool("tc", &["-n", ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "0ms"], None)
                .is_ok_and(|o| o.success);
        if added {
            let _ = run_tool("tc", &["-n", ns, "qdisc", "del", "dev", "lo", "root"], None);
        }
        added
    }

    fn addrs(&self) -> BTreeMap<NodeId, Ipv4Addr> {
        self.nodes.iter().map(|(&id, n)| (id, n.addr)).collect()
    }

    /// Replace node `id`'s ruleset (one nft transaction).
    fn apply_rules(&self, id: NodeId, grudge: &Grudge, drop: f64) -> anyhow::Result<()> {
        let ns = &self.nodes[&id].namespace;
        let script = rules::node_rules(id, &self.addrs(), grudge, drop);
        run_ok("ip", &["netns", "exec", ns, "nft", "-f", "-"], Some(&script))
            .with_context(|| format!("setting the {NODE_TABLE} table of node {id}"))?;
        Ok(())
    }

    /// Apply `grudge` and `drop` to every namespace; if one fails, put back `previous` on
    /// every namespace (best effort) and return the error.
    fn apply_everywhere(&self, grudge: &Grudge, drop: f64, previous: &Faults) -> anyhow::Result<()> {
        for &id in self.nodes.keys() {
            if let Err(e) = self.apply_rules(id, grudge, drop) {
                for &other in self.nodes.keys() {
                    let _ = self.apply_rules(other, &previous.grudge, previous.link.drop);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// netem on every node's `eth0` for traffic to the other nodes (never the controller).
    fn install_netem(&self, faults: &LinkFaults) -> anyhow::Result<()> {
        let netem = rules::netem_args(faults);
        for (&id, node) in &self.nodes {
            let ns = node.namespace.as_str();
            let _ = run_tool("tc", &["-n", ns, "qdisc", "del", "dev", NODE_IFACE, "root"], None);
            let mut prio = vec![
                "-n", ns, "qdisc", "add", "dev", NODE_IFACE, "root", "handle", "1:", "prio", "bands", "3",
                "priomap",
            ];
            prio.extend(["0"; 16]);
            run_ok("tc", &prio, None)?;
            let mut qdisc =
                vec!["-n", ns, "qdisc", "add", "dev", NODE_IFACE, "parent", "1:3", "handle", "30:", "netem"];
            qdisc.extend(netem.iter().map(String::as_str));
            run_ok("tc", &qdisc, None)?;
            for (&other, peer) in &self.nodes {
                if other == id {
                    continue;
                }
                let dst = format!("{}/32", peer.addr);
                run_ok(
                    "tc",
                    &[
                        "-n", ns, "filter", "add", "dev", NODE_IFACE, "parent", "1:", "protocol", "ip",
                        "prio", "1", "u32", "match", "ip", "dst", &dst, "flowid", "1:3",
                    ],
                    None,
                )?;
            }
        }
        Ok(())
    }

    fn remove_netem(&self) -> anyhow::Result<()> {
        let mut first_error = None;
        for node in self.nodes.values() {
            let out =
                run_tool("tc", &["-n", &node.namespace, "qdisc", "del", "dev", NODE_IFACE, "root"], None);
            if let Err(e) = out {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn lock_faults(&self) -> MutexGuard<'_, Faults> {
        // Every update is a single assignment after the kernel accepted it.
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Network for NetnsNetwork {
    fn set_grudge(&self, grudge: Grudge) -> anyhow::Result<()> {
        grudge.check_nodes(|node| self.nodes.contains_key(&node))?;
        let mut faults = self.lock_faults();
        self.apply_everywhere(&grudge, faults.link.drop, &faults)?;
        faults.grudge = grudge;
        Ok(())
    }

    fn grudge(&self) -> Grudge {
        self.lock_faults().grudge.clone()
    }

    fn set_all_link_faults(&self, link: LinkFaults) -> anyhow::Result<()> {
        link.validate().map_err(anyhow::Error::msg)?;
        if rules::needs_netem(&link) && !self.netem {
            let parts = rules::netem_parts(&link).join(", ");
            let verb = if rules::netem_parts(&link).len() == 1 { "is" } else { "are" };
            bail!(
                "{parts} {verb} not available on this host: the kernel has no netem (sch_netem); \
                 only partitions and loss (drop) are"
            );
        }
        let mut faults = self.lock_faults();
        self.apply_everywhere(&faults.grudge, link.drop, &faults)?;
        let mut updated = Faults { link, ..faults.clone() };
        if rules::needs_netem(&link) {
            if let Err(e) = self.install_netem(&link) {
                // Put back what was in force before this call.
                let _ = self.remove_netem();
                let _ = self.apply_everywhere(&faults.grudge, faults.link.drop, &faults);
                if faults.netem_installed {
                    let _ = self.install_netem(&faults.link);
                }
                return Err(e.context("installing netem"));
            }
            updated.netem_installed = true;
        } else if faults.netem_installed {
            self.remove_netem()?;
            updated.netem_installed = false;
        }
        *faults = updated;
        Ok(())
    }

    fn clear_link_faults(&self) -> anyhow::Result<()> {
        self.set_all_link_faults(LinkFaults::default())
    }

    fn has_link_faults(&self) -> bool {
        !self.lock_faults().link.is_none()
    }

    /// Packets per directed link, counted by the receiver's nft counters: `frames` and
    /// `bytes` are the packets (and their bytes) that arrived from the sender, `dropped`
    /// those a cut or loss discarded, `delivered` the rest. Packets, not protocol frames;
    /// the other fields are 0. `None` if a namespace could not be read.
    fn stats(&self) -> Option<NetStats> {
        let mut links = BTreeMap::new();
        for (&to, node) in &self.nodes {
            let json = run_ok(
                "ip",
                &[
                    "netns",
                    "exec",
                    &node.namespace,
                    "nft",
                    "-j",
                    "list",
                    "counters",
                    "table",
                    "inet",
                    NODE_TABLE,
                ],
                None,
            )
            .ok()?;
            for (from, stats) in rules::link_stats(&json).ok()? {
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
        let record = state::list_records().ok().and_then(|mut r| r.remove(&self.tag)).and_then(Result::ok);
        let result = teardown::discover(&self.tag, record.as_ref())
            .and_then(|objects| teardown::remove(&self.tag, &objects, false, &mut |_| {}));
        match result {
            Ok(()) => {
                *done = true;
                unregister(&self.tag);
            }
            Err(e) => eprintln!("faultline: error: {e:#} (`faultline cleanup --tag {}` retries)", self.tag),
        }
    }
}

impl Drop for NetnsNetwork {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Tags of the networks this process created and has not shut down yet.
static LIVE: Mutex<BTreeSet<RunTag>> = Mutex::new(BTreeSet::new());

fn live() -> MutexGuard<'static, BTreeSet<RunTag>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

fn register(tag: &RunTag) {
    live().insert(tag.clone());
}

fn unregister(tag: &RunTag) {
    live().remove(tag);
}

/// Remove every network this process created and has not shut down, for exit paths that
/// will not run destructors (a forced exit after a second Ctrl-C). Best effort; errors go
/// to stderr. Not for a signal handler: it runs `ip` and `nft`.
pub fn shutdown_all() {
    let tags: Vec<RunTag> = live().iter().cloned().collect();
    for tag in tags {
        match teardown::cleanup_tag(&tag, false, &mut |_| {}) {
            Ok(()) => unregister(&tag),
            Err(e) => eprintln!("faultline: error: {e:#} (`faultline cleanup --tag {tag}` retries)"),
        }
    }
}

/// Every IPv4 network on the host: addresses and routes of every table.
fn host_networks() -> anyhow::Result<BTreeSet<Ipv4Net>> {
    let addrs = run_ok("ip", &["-j", "-4", "addr"], None)?;
    let routes = run_ok("ip", &["-j", "-4", "route", "show", "table", "all"], None)?;
    subnet::parse_taken(&addrs, &routes)
}
