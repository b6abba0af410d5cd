//! What the kernel is told: nft rulesets and netem settings, as pure functions of the
//! topology, the grudge and the link faults.
//!
//! Each node's namespace has one table, `inet faultline`, with one input chain and named
//! counters; the chain is flushed and refilled in one `nft -f` transaction, so a new
//! partition replaces the old one in that namespace atomically, never rule by rule, and
//! the counters keep counting across changes.
//!
//! The chain, in order: loopback is accepted (a node talking to itself is never cut); IPv6
//! is dropped (nodes have IPv4 addresses only, and an IPv6 link-local path would bypass
//! every cut); then, per other node, its packets are counted and either dropped because
//! this node holds a grudge against it (a cut is enforced by the receiver, so `i -> j` is
//! cut in `j`'s namespace only: one-way cuts are exactly one way) or dropped with the loss
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
use anyhow::Context;

use crate::net::{Grudge, LinkFaults, LinkStats};

/// Loss probabilities are applied in steps of one in a million.
pub const LOSS_SCALE: u32 = 1_000_000;

/// The table of node `me`'s namespace as first created: a pair of named counters per
/// other node (`seen_<id>`: packets that arrived from it; `dropped_<id>`: those dropped by
/// a cut or by loss) and the empty input chain. Named counters outlive every rewrite of the
/// chain, so they count over the whole run.
pub fn node_table(me: NodeId, addrs: &BTreeMap<NodeId, Ipv4Addr>) -> String {
    node_table_named(NODE_TABLE, me, addrs)
}

/// [`node_table`] under another table name (an SSH host's table carries the run's tag,
/// since the host is shared).
pub fn node_table_named(table: &str, me: NodeId, addrs: &BTreeMap<NodeId, Ipv4Addr>) -> String {
    let mut counters = String::new();
    for &from in addrs.keys().filter(|&&id| id != me) {
        let _ = writeln!(counters, "\tcounter {SEEN}{from} {{ }}\n\tcounter {DROPPED}{from} {{ }}");
    }
    format!(
        "table inet {table} {{\n{counters}\tchain input {{\n\t\ttype filter hook input priority filter - 10; policy accept;\n\t}}\n}}\n"
    )
}

/// Counter name prefixes (see [`node_table`]).
pub const SEEN: &str = "seen_";
pub const DROPPED: &str = "dropped_";

/// The input chain of node `me`'s namespace for `grudge` and loss `drop`, as one
/// transaction that flushes the chain and adds every rule.
pub fn node_rules(me: NodeId, addrs: &BTreeMap<NodeId, Ipv4Addr>, grudge: &Grudge, drop: f64) -> String {
    node_rules_named(NODE_TABLE, me, addrs, grudge, drop)
}

/// [`node_rules`] for the table named `table`.
pub fn node_rules_named(
    table: &str,
    me: NodeId,
    addrs: &BTreeMap<NodeId, Ipv4Addr>,
    grudge: &Grudge,
    drop: f64,
) -> String {
    let mut script = format!("flush chain inet {table} input\n");
    let mut rule = |text: String| {
        let _ = writeln!(script, "add rule inet {table} input {text}");
    };
    rule("iifname \"lo\" accept".into());
    rule("meta nfproto ipv6 drop".into());
    let threshold = loss_threshold(drop);
    for (&from, addr) in addrs.iter().filter(|&(&id, _)| id != me) {
        rule(format!("ip saddr {addr} counter name \"{SEEN}{from}\""));
        if grudge.is_cut(from, me) {
            rule(format!("ip saddr {addr} counter name \"{DROPPED}{from}\" drop"));
        } else if threshold >= LOSS_SCALE {
            // nft compares with values of the generator's range only, so certain loss has
            // no draw at all.
            rule(format!("ip saddr {addr} counter name \"{DROPPED}{from}\" drop"));
        } else if threshold > 0 {
            rule(format!(
                "ip saddr {addr} numgen random mod {LOSS_SCALE} < {threshold} counter name \"{DROPPED}{from}\" drop"
            ));
        }
    }
    script
}

/// Per sending node, the packets counted in one namespace (`nft -j list counters` output):
/// arrived (`frames`, `bytes`), `dropped`, and `delivered` (the difference).
pub fn link_stats(counters_json: &str) -> anyhow::Result<BTreeMap<NodeId, LinkStats>> {
    let value: serde_json::Value = serde_json::from_str(counters_json).context("reading `nft -j` output")?;
    let mut seen: BTreeMap<NodeId, (u64, u64)> = BTreeMap::new();
    let mut dropped: BTreeMap<NodeId, u64> = BTreeMap::new();
    for item in value["nftables"].as_array().into_iter().flatten() {
        let counter = &item["counter"];
        let (Some(name), Some(packets)) = (counter["name"].as_str(), counter["packets"].as_u64()) else {
            continue;
        };
        let bytes = counter["bytes"].as_u64().unwrap_or(0);
        if let Some(id) = name.strip_prefix(SEEN).and_then(|i| i.parse().ok()) {
            seen.insert(id, (packets, bytes));
        } else if let Some(id) = name.strip_prefix(DROPPED).and_then(|i| i.parse().ok()) {
            dropped.insert(id, packets);
        }
    }
    Ok(seen
        .into_iter()
        .map(|(id, (packets, bytes))| {
            let lost = dropped.get(&id).copied().unwrap_or(0);
            let stats = LinkStats {
                frames: packets,
                bytes,
                dropped: lost,
                delivered: packets.saturating_sub(lost),
                ..LinkStats::default()
            };
            (id, stats)
        })
        .collect())
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
        let at2 = node_rules(2, &addrs(), &g, 0.0);
        let at1 = node_rules(1, &addrs(), &g, 0.0);
        assert!(at2.starts_with("flush chain inet faultline input\n"), "{at2}");
        assert!(at2.contains("input ip saddr 10.213.7.2 counter name \"dropped_1\" drop\n"), "{at2}");
        assert!(at2.contains("input ip saddr 10.213.7.4 counter name \"seen_3\"\n"), "{at2}");
        assert!(!at2.contains("dropped_3"), "{at2}");
        assert!(!at1.contains("dropped_"), "node 1 drops nothing from nodes: {at1}");
        assert!(!at2.contains("numgen"));
        let table = node_table(2, &addrs());
        assert!(table.contains("counter seen_1 { }") && table.contains("counter dropped_3 { }"), "{table}");
        assert!(!table.contains("seen_2"), "{table}");
    }

    #[test]
    fn loss_matches_other_nodes_only() {
        let at1 = node_rules(1, &addrs(), &Grudge::none(), 1.0);
        assert!(at1.contains("input ip saddr 10.213.7.3 counter name \"dropped_2\" drop\n"), "{at1}");
        assert!(at1.contains("input ip saddr 10.213.7.4 counter name \"dropped_3\" drop\n"), "{at1}");
        let at1 = node_rules(1, &addrs(), &Grudge::none(), 0.5);
        assert!(
            at1.contains(
                "ip saddr 10.213.7.3 numgen random mod 1000000 < 500000 counter name \"dropped_2\" drop"
            ),
            "{at1}"
        );
        assert!(!at1.contains("10.213.7.1 "), "the bridge address is never matched: {at1}");
        assert_eq!(loss_threshold(0.0), 0);
        assert_eq!(loss_threshold(1e-12), 1);
        assert_eq!(loss_threshold(0.25), 250_000);
    }

    #[test]
    fn counters_become_link_stats() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
            {"counter": {"family": "inet", "name": "seen_1", "table": "faultline", "packets": 10, "bytes": 600}},
            {"counter": {"family": "inet", "name": "dropped_1", "table": "faultline", "packets": 4, "bytes": 240}},
            {"counter": {"family": "inet", "name": "seen_3", "table": "faultline", "packets": 2, "bytes": 80}}]}"#;
        let stats = link_stats(json).unwrap();
        assert_eq!(
            stats[&1],
            LinkStats { frames: 10, bytes: 600, dropped: 4, delivered: 6, ..LinkStats::default() }
        );
        assert_eq!(stats[&3].delivered, 2);
        assert!(link_stats("nope").is_err());
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
