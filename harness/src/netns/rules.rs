//! What the kernel is told: nft rulesets and netem settings, as pure functions of the
//! topology, the grudge and the link faults.
//!
//! Each node's namespace has one table, `inet faultline`, with one input chain; the whole
//! table is rewritten in one `nft -f` transaction (declare, delete, declare anew), so a new
//! partition replaces the old one in that namespace atomically, never rule by rule.
//!
//! The chain, in order: loopback is accepted (a node talking to itself is never cut); IPv6
//! is dropped (nodes have IPv4 addresses only, and an IPv6 link-local path would bypass
//! every cut); packets from each node this node holds a grudge against are dropped (a cut
//! is enforced by the receiver, so `i -> j` is cut in `j`'s namespace only: one-way cuts
//! are exactly one way); and packets from the other nodes are dropped with the loss
//! probability, drawn by `numgen random` per packet. Only node addresses are matched, so
//! the controller (the bridge address) always reaches every node.
//!
//! The guard table in the root namespace drops everything routed between the run's bridge
//! and any other interface, so nothing from the run's namespaces leaves the machine even
//! where IP forwarding is on; bridged traffic (bridge to bridge) is untouched.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::Ipv4Addr;

use nodes::api::NodeId;

use super::names::{RunTag, NODE_TABLE};
use crate::proxy::{Grudge, LinkFaults};

/// Loss probabilities are applied in steps of one in a million.
pub const LOSS_SCALE: u32 = 1_000_000;

/// The ruleset of node `me`'s namespace.
pub fn node_ruleset(me: NodeId, addrs: &BTreeMap<NodeId, Ipv4Addr>, grudge: &Grudge, drop: f64) -> String {
    let mut chain = String::new();
    chain.push_str("\t\tiifname \"lo\" accept\n");
    chain.push_str("\t\tmeta nfproto ipv6 drop\n");
    let cut: Vec<String> = addrs
        .iter()
        .filter(|&(&from, _)| from != me && grudge.is_cut(from, me))
        .map(|(_, a)| a.to_string())
        .collect();
    if !cut.is_empty() {
        let _ = writeln!(chain, "\t\tip saddr {{ {} }} counter drop", cut.join(", "));
    }
    let threshold = loss_threshold(drop);
    let others: Vec<String> = addrs.iter().filter(|&(&id, _)| id != me).map(|(_, a)| a.to_string()).collect();
    if threshold > 0 && !others.is_empty() {
        // nft compares with values of the generator's range only, so certain loss has no
        // draw at all.
        let draw = if threshold >= LOSS_SCALE {
            String::new()
        } else {
            format!("numgen random mod {LOSS_SCALE} < {threshold} ")
        };
        let _ = writeln!(chain, "\t\tip saddr {{ {} }} {draw}counter drop", others.join(", "));
    }
    format!(
        "table inet {NODE_TABLE}\ndelete table inet {NODE_TABLE}\ntable inet {NODE_TABLE} {{\n\tchain input {{\n\t\ttype filter hook input priority filter - 10; policy accept;\n{chain}\t}}\n}}\n"
    )
}

/// How many of [`LOSS_SCALE`] packets are dropped: 0 exactly for 0, all for 1, and at least
/// one for any positive probability.
pub fn loss_threshold(drop: f64) -> u32 {
    if drop <= 0.0 {
        0
    } else {
        ((drop.min(1.0) * f64::from(LOSS_SCALE)).round() as u32).max(1)
    }
}

/// The root namespace's guard table for a run.
pub fn guard_ruleset(tag: &RunTag) -> String {
    let table = tag.guard_table();
    let bridge = tag.bridge();
    format!(
        "table inet {table} {{\n\tchain forward {{\n\t\ttype filter hook forward priority filter - 10; policy accept;\n\t\tiifname \"{bridge}\" oifname != \"{bridge}\" drop\n\t\toifname \"{bridge}\" iifname != \"{bridge}\" drop\n\t}}\n}}\n"
    )
}

/// Whether `faults` asks for anything beyond loss (which needs netem).
pub fn needs_netem(faults: &LinkFaults) -> bool {
    faults.delay_ms > 0 || faults.jitter_ms > 0 || faults.duplicate > 0.0 || faults.reorder > 0.0
}

/// The parts of `faults` that need netem, by name, for an error message.
pub fn netem_parts(faults: &LinkFaults) -> Vec<&'static str> {
    let mut parts = Vec::new();
    if faults.delay_ms > 0 || faults.jitter_ms > 0 {
        parts.push("latency");
    }
    if faults.duplicate > 0.0 {
        parts.push("duplication");
    }
    if faults.reorder > 0.0 {
        parts.push("reordering");
    }
    parts
}

/// The netem arguments (after `netem`) for `faults`; loss stays with nft. netem reorders
/// only delayed packets, so reordering without a delay uses 1 ms.
pub fn netem_args(faults: &LinkFaults) -> Vec<String> {
    let mut args = Vec::new();
    let delay = if faults.reorder > 0.0 { faults.delay_ms.max(1) } else { faults.delay_ms };
    if delay > 0 || faults.jitter_ms > 0 {
        args.extend(["delay".to_string(), format!("{delay}ms")]);
        if faults.jitter_ms > 0 {
            args.push(format!("{}ms", faults.jitter_ms));
        }
    }
    if faults.duplicate > 0.0 {
        args.extend(["duplicate".to_string(), percent(faults.duplicate)]);
    }
    if faults.reorder > 0.0 {
        args.extend(["reorder".to_string(), percent(faults.reorder)]);
    }
    args
}

fn percent(p: f64) -> String {
    format!("{:.4}%", p * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> BTreeMap<NodeId, Ipv4Addr> {
        (1..=3).map(|i| (i, Ipv4Addr::new(10, 213, 7, i as u8 + 1))).collect()
    }

    #[test]
    fn the_receiver_enforces_the_grudge_one_way() {
        let mut g = Grudge::none();
        g.cut(1, 2);
        let at2 = node_ruleset(2, &addrs(), &g, 0.0);
        let at1 = node_ruleset(1, &addrs(), &g, 0.0);
        assert!(at2.contains("ip saddr { 10.213.7.2 } counter drop"), "{at2}");
        assert!(!at1.contains("saddr"), "{at1}");
        assert!(at2.starts_with("table inet faultline\ndelete table inet faultline\n"));
        assert!(!at2.contains("numgen"));
    }

    #[test]
    fn loss_matches_other_nodes_only() {
        let at1 = node_ruleset(1, &addrs(), &Grudge::none(), 1.0);
        assert!(at1.contains("ip saddr { 10.213.7.3, 10.213.7.4 } counter drop"), "{at1}");
        let at1 = node_ruleset(1, &addrs(), &Grudge::none(), 0.5);
        assert!(
            at1.contains(
                "ip saddr { 10.213.7.3, 10.213.7.4 } numgen random mod 1000000 < 500000 counter drop"
            ),
            "{at1}"
        );
        assert!(!at1.contains("10.213.7.1 "), "the bridge address is never matched: {at1}");
        assert_eq!(loss_threshold(0.0), 0);
        assert_eq!(loss_threshold(1e-12), 1);
        assert_eq!(loss_threshold(0.25), 250_000);
    }

    #[test]
    fn guard_and_netem_text() {
        let tag = RunTag::new("ab").unwrap();
        let guard = guard_ruleset(&tag);
        assert!(guard.contains("table inet faultline_ab"));
        assert!(guard.contains("iifname \"fl-ab\" oifname != \"fl-ab\" drop"));
        let f = LinkFaults { delay_ms: 20, jitter_ms: 5, duplicate: 0.5, ..LinkFaults::default() };
        assert!(needs_netem(&f));
        assert!(!needs_netem(&LinkFaults { drop: 0.5, ..LinkFaults::default() }));
        assert_eq!(netem_args(&f), ["delay", "20ms", "5ms", "duplicate", "50.0000%"]);
        assert_eq!(
            netem_args(&LinkFaults { reorder: 0.1, ..LinkFaults::default() }),
            ["delay", "1ms", "reorder", "10.0000%"]
        );
        assert_eq!(netem_parts(&f), ["latency", "duplication"]);
    }
}
