//! The network-namespace backend's network: addresses and reachability, partitions both
//! ways and one way, total loss, netem refused where the kernel lacks it, and that
//! shutdown and drop leave nothing behind (checked by exact name).
//!
//! Needs root, `ip` and `nft`: without them every test fails saying so. Traffic stays on
//! the run's own namespaces and bridge.

mod netns_support;

use faultline::{host, net, netns};

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use net::Network;
use net::{Grudge, LinkFaults};
use netns::{NetnsNetwork, RunTag};
use netns_support::*;

fn v4(net: &NetnsNetwork, id: u32) -> Ipv4Addr {
    match net.topology().nodes[&id] {
        IpAddr::V4(a) => a,
        IpAddr::V6(other) => panic!("node {id} has a non-IPv4 address {other}"),
    }
}

fn addr(listener: &std::net::TcpListener) -> SocketAddr {
    listener.local_addr().unwrap()
}

#[test]
fn nodes_reach_each_other_and_the_controller_reaches_both() {
    let (_cleaner, net) = network(&[1, 2]);
    let (a1, a2) = (v4(&net, 1), v4(&net, 2));
    let subnet = net.subnet();
    let prefix = subnet.trim_end_matches("0/24");
    assert!(
        subnet.starts_with("10.213.")
            && a1.to_string().starts_with(prefix)
            && a2.to_string().starts_with(prefix)
    );
    assert_eq!(net.controller_addr().octets()[3], 1);
    let (ns1, ns2) = (net.namespace(1).unwrap().to_string(), net.namespace(2).unwrap().to_string());
    assert_eq!(ns1, format!("faultline-{}-1", net.tag()));

    // The address sits on eth0 inside the namespace, and the only route is the run's /24.
    let shown = std::process::Command::new("ip")
        .args(["-n", &ns1, "-4", "-o", "addr", "show", "dev", "eth0"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&shown.stdout).contains(&format!("{a1}/24")), "{shown:?}");
    let routes = std::process::Command::new("ip").args(["-n", &ns1, "-4", "route"]).output().unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout).trim().to_string();
    assert_eq!(routes.lines().count(), 1, "only the run's /24 is routed: {routes}");
    assert!(routes.starts_with(&subnet), "{routes}");

    let l1 = listen_in(Some(&ns1), a1);
    let l2 = listen_in(Some(&ns2), a2);
    assert!(tcp_reaches(Some(&ns1), addr(&l2)), "node 1 reaches node 2");
    assert!(tcp_reaches(Some(&ns2), addr(&l1)), "node 2 reaches node 1");
    assert!(tcp_reaches(None, addr(&l1)), "the controller reaches node 1");
    assert!(tcp_reaches(None, addr(&l2)), "the controller reaches node 2");
    let stats = net.stats().expect("counters are readable");
    assert_eq!(stats.links.keys().cloned().collect::<Vec<_>>(), ["1->2", "2->1"]);
    assert!(stats.links["1->2"].delivered > 0, "{stats:?}");
    assert_eq!(stats.total.dropped, 0, "{stats:?}");
}

#[test]
fn concurrent_runs_get_their_own_subnets_and_names() {
    let (_c1, first) = network(&[1, 2]);
    let (_c2, second) = network(&[1, 2]);
    assert_ne!(first.subnet(), second.subnet());
    assert_ne!(first.namespace(1), second.namespace(1));
    let taken = RunTag::new(first.tag().as_str()).unwrap();
    let err = NetnsNetwork::create(taken, &[1]).err().expect("a tag in use is refused");
    assert!(format!("{err:#}").contains("in use"), "{err:#}");
    assert!(
        first.namespace(1).is_some_and(teardown_exists),
        "the refused create did not touch the first run"
    );
}

fn teardown_exists(ns: &str) -> bool {
    netns::teardown::namespace_exists(ns)
}

#[test]
fn a_partition_cuts_both_ways_and_heal_restores_it() {
    let (_cleaner, net) = network(&[1, 2, 3]);
    let ns: Vec<String> = (1..=3).map(|i| net.namespace(i).unwrap().to_string()).collect();
    let l: Vec<_> = (1..=3).map(|i| listen_in(Some(&ns[i as usize - 1]), v4(&net, i))).collect();
    assert!(tcp_reaches(Some(&ns[0]), addr(&l[1])));

    let grudge = Grudge::complete(&[vec![1], vec![2, 3]]);
    net.set_grudge(grudge.clone()).unwrap();
    assert_eq!(net.grudge(), grudge);
    assert!(tcp_blocked(Some(&ns[0]), addr(&l[1])), "1 -> 2 cut");
    assert!(tcp_blocked(Some(&ns[1]), addr(&l[0])), "2 -> 1 cut");
    assert!(tcp_blocked(Some(&ns[2]), addr(&l[0])), "3 -> 1 cut");
    assert!(tcp_reaches(Some(&ns[1]), addr(&l[2])), "2 and 3 on the same side keep talking");
    for listener in &l {
        assert!(tcp_reaches(None, addr(listener)), "the controller reaches every node during a partition");
    }

    let during = net.stats().unwrap();
    assert!(during.links["1->2"].dropped > 0, "the cut dropped packets: {during:?}");
    assert!(during.links["2->1"].dropped > 0, "{during:?}");
    assert_eq!(during.links["3->2"].dropped, 0, "{during:?}");

    net.heal().unwrap();
    assert!(net.grudge().is_empty());
    let after = net.stats().unwrap();
    assert!(
        after.links["1->2"].dropped >= during.links["1->2"].dropped,
        "counters survive a change: {after:?}"
    );
    assert!(tcp_reaches(Some(&ns[0]), addr(&l[1])), "healed 1 -> 2");
    assert!(tcp_reaches(Some(&ns[1]), addr(&l[0])), "healed 2 -> 1");
}

#[test]
fn a_one_way_cut_blocks_exactly_one_direction() {
    let (_cleaner, net) = network(&[1, 2]);
    let (ns1, ns2) = (net.namespace(1).unwrap().to_string(), net.namespace(2).unwrap().to_string());
    let (a1, a2) = (v4(&net, 1), v4(&net, 2));
    let mut grudge = Grudge::none();
    grudge.cut(1, 2); // node 2 drops what node 1 sends
    net.set_grudge(grudge).unwrap();
    assert!(!udp_delivers(Some(&ns1), Some(&ns2), a2, BLOCK_WAIT), "1 -> 2 is cut");
    assert!(udp_delivers(Some(&ns2), Some(&ns1), a1, REACH_DEADLINE), "2 -> 1 still flows");
    assert!(udp_delivers(None, Some(&ns2), a2, REACH_DEADLINE), "the controller still reaches node 2");
    net.heal().unwrap();
    assert!(udp_delivers(Some(&ns1), Some(&ns2), a2, REACH_DEADLINE), "healed 1 -> 2");
}

#[test]
fn total_loss_drops_node_traffic_but_not_the_controllers() {
    let (_cleaner, net) = network(&[1, 2]);
    let (ns1, ns2) = (net.namespace(1).unwrap().to_string(), net.namespace(2).unwrap().to_string());
    let (a1, a2) = (v4(&net, 1), v4(&net, 2));
    assert!(!net.has_link_faults());
    net.set_all_link_faults(LinkFaults { drop: 1.0, ..LinkFaults::default() }).unwrap();
    assert!(net.has_link_faults());
    assert!(!udp_delivers(Some(&ns1), Some(&ns2), a2, BLOCK_WAIT), "1 -> 2 all lost");
    assert!(!udp_delivers(Some(&ns2), Some(&ns1), a1, BLOCK_WAIT), "2 -> 1 all lost");
    assert!(udp_delivers(None, Some(&ns1), a1, REACH_DEADLINE), "controller -> 1 untouched");
    assert!(
        udp_delivers(Some(&ns1), None, net.controller_addr(), REACH_DEADLINE),
        "1 -> controller untouched"
    );
    net.set_all_link_faults(LinkFaults { drop: 0.5, ..LinkFaults::default() }).unwrap();
    assert!(nft_rules(&ns1).contains("numgen random mod 1000000 < 500000"), "partial loss is a random draw");
    net.clear_link_faults().unwrap();
    assert!(!net.has_link_faults());
    assert!(!nft_rules(&ns1).contains("numgen"));
    assert!(udp_delivers(Some(&ns1), Some(&ns2), a2, REACH_DEADLINE), "loss cleared");
}

#[test]
fn netem_faults_are_refused_without_netem_and_change_nothing() {
    let (_cleaner, net) = network(&[1, 2]);
    let ns1 = net.namespace(1).unwrap().to_string();
    let rules_before = nft_rules(&ns1);
    let faults = LinkFaults { drop: 0.5, delay_ms: 20, ..LinkFaults::default() };
    if net.netem_available() {
        net.set_all_link_faults(faults).unwrap();
        let qdiscs = std::process::Command::new("tc")
            .args(["-n", &ns1, "qdisc", "show", "dev", "eth0"])
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&qdiscs.stdout).contains("netem"), "{qdiscs:?}");
        net.clear_link_faults().unwrap();
    } else {
        let err = net.set_all_link_faults(faults).unwrap_err().to_string();
        assert!(
            err.starts_with("latency is not available on this host: the kernel has no netem (sch_netem)"),
            "{err}"
        );
        assert!(!net.has_link_faults(), "nothing changed");
        assert_eq!(nft_rules(&ns1), rules_before, "the loss part was not applied either");
        let err = net
            .set_all_link_faults(LinkFaults { duplicate: 0.1, reorder: 0.1, ..LinkFaults::default() })
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("duplication, reordering are not available"), "{err}");
    }
    let err = net.set_all_link_faults(LinkFaults { drop: 2.0, ..LinkFaults::default() }).unwrap_err();
    assert!(err.to_string().contains("drop probability"), "{err}");
    let mut bad = Grudge::none();
    bad.cut(1, 9);
    assert!(net.set_grudge(bad).unwrap_err().to_string().contains("node 9"));
    assert!(net.grudge().is_empty());
}

fn nft_rules(ns: &str) -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "nft", "list", "ruleset"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn shutdown_and_drop_remove_every_object() {
    let (_cleaner, net) = network(&[1, 2, 3]);
    let tag = net.tag().clone();
    assert!(netns::state::record_path(&tag).exists(), "the run is recorded while it lives");
    assert!(netns::teardown::guard_table_exists(&tag.guard_table()).unwrap());
    net.set_grudge(Grudge::complete(&[vec![1], vec![2, 3]])).unwrap();
    net.shutdown();
    assert_nothing_left(&tag, &[1, 2, 3]);
    net.shutdown();
    drop(net);
    assert_nothing_left(&tag, &[1, 2, 3]);

    let (_cleaner, net) = network(&[1]);
    let tag = net.tag().clone();
    drop(net);
    assert_nothing_left(&tag, &[1]);
}
