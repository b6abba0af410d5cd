//! `NetnsHost`: nodes run inside their own namespaces, answer the controller on their
//! address, and are killed, paused and resumed like local nodes; a network's shutdown
//! kills whatever is still running in its namespaces.
//!
//! Nodes are fake nodes served by this test executable (see `netns_support`). Needs root,
//! `ip` and `nft`: without them every test fails saying so.

mod netns_support;

use faultline::{host, net, netns};

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use host::{Host, NodeAddrs, NodeSpec, NodeState};
use net::Grudge;
use net::Network;
use netns::{NetnsHost, NetnsNetwork};
use netns_support::*;

const ENTRY: &str = "fake_roles_entry";
const PORT: u16 = 7000;
const DEADLINE: Duration = Duration::from_secs(20);

/// Entry point of the fake roles; as a plain test, checks the process probes.
#[test]
fn fake_roles_entry() {
    run_role_if_asked(ENTRY);
    assert!(process_alive(std::process::id()));
    assert!(!process_alive(u32::MAX));
}

fn node_addr(net: &NetnsNetwork, id: u32) -> SocketAddr {
    SocketAddr::new(net.topology().nodes[&id], PORT)
}

fn spec(net: &NetnsNetwork, run_dir: &Path, id: u32) -> NodeSpec {
    let addr = node_addr(net, id);
    NodeSpec {
        id,
        argv: role_argv(ENTRY, "node", &[id.to_string(), addr.to_string()]),
        rejoin_argv: None,
        data_dir: run_dir.join("data").join(id.to_string()),
        log_path: run_dir.join("nodes").join(format!("{id}.log")),
        addrs: NodeAddrs { peer_listen: addr, client: addr },
    }
}

fn pid(host: &NetnsHost, id: u32) -> u32 {
    match host.state(id) {
        NodeState::Running { pid } | NodeState::Paused { pid } => pid,
        other => panic!("node {id} is not alive: {other:?}"),
    }
}

/// Connect from `from` (None: the controller) to node `id` and read its greeting.
fn ask(net: &NetnsNetwork, from: Option<&str>, id: u32, timeout: Duration) -> std::io::Result<String> {
    let mut stream = tcp_connect(from, node_addr(net, id), timeout)?;
    greeting(&mut stream, timeout)
}

fn ask_until_answered(net: &NetnsNetwork, from: Option<&str>, id: u32) -> String {
    let mut answer = String::new();
    wait_until(&format!("node {id} to answer"), DEADLINE, || {
        match ask(net, from, id, Duration::from_millis(500)) {
            Ok(text) => {
                answer = text;
                true
            }
            Err(_) => false,
        }
    });
    answer
}

#[test]
fn nodes_run_inside_their_namespaces_and_answer_the_controller() {
    let (_cleaner, net) = network(&[1, 2]);
    let run_dir = tempfile::tempdir().unwrap();
    let host = net.host();
    for id in [1, 2] {
        host.start(&spec(&net, run_dir.path(), id)).unwrap();
    }
    assert!(host.start(&spec(&net, run_dir.path(), 1)).is_err(), "a live node is not started twice");
    assert_eq!(ask_until_answered(&net, None, 1), "node 1", "the controller reaches node 1");
    assert_eq!(ask_until_answered(&net, None, 2), "node 2", "the controller reaches node 2");
    for id in [1, 2] {
        let ns = Path::new("/run/netns").join(net.namespace(id).unwrap());
        let node_ns = std::fs::metadata(format!("/proc/{}/ns/net", pid(&host, id))).unwrap();
        assert_eq!(node_ns.ino(), std::fs::metadata(ns).unwrap().ino(), "node {id} runs in its namespace");
        assert_eq!(host.addresses(id).unwrap().client, node_addr(&net, id));
    }
    let ns1 = net.namespace(1).unwrap().to_string();
    assert_eq!(ask_until_answered(&net, Some(&ns1), 2), "node 2", "node 1 reaches node 2");

    net.set_grudge(Grudge::complete(&[vec![1], vec![2]])).unwrap();
    assert!(tcp_blocked(Some(&ns1), node_addr(&net, 2)), "partitioned");
    assert_eq!(ask(&net, None, 2, DEADLINE).unwrap(), "node 2", "the controller still reaches node 2");

    let log = std::fs::read_to_string(run_dir.path().join("nodes/1.log")).unwrap();
    assert!(log.contains("ip") && log.contains("netns") && log.contains(&ns1), "{log}");
    assert!(log.contains(&format!("fake node 1 on {}", node_addr(&net, 1))), "{log}");

    let pids = [pid(&host, 1), pid(&host, 2)];
    host.kill_all();
    for pid in pids {
        assert!(!process_alive(pid), "kill_all kills {pid}");
    }
}

#[test]
fn kill_pause_and_resume_through_the_host() {
    let (_cleaner, net) = network(&[1]);
    let run_dir = tempfile::tempdir().unwrap();
    let host = net.host();
    host.start(&spec(&net, run_dir.path(), 1)).unwrap();
    assert_eq!(ask_until_answered(&net, None, 1), "node 1");
    let first = pid(&host, 1);

    assert!(host.pause(1).unwrap(), "pause takes effect");
    assert!(!host.pause(1).unwrap(), "a paused node is not paused again");
    assert_eq!(host.state(1), NodeState::Paused { pid: first });
    wait_until("the stopped state", DEADLINE, || process_state(first) == Some('T'));
    assert!(ask(&net, None, 1, Duration::from_millis(500)).is_err(), "a paused node answers nothing");
    assert!(host.resume(1).unwrap());
    assert!(!host.resume(1).unwrap(), "a running node is not resumed");
    assert_eq!(ask_until_answered(&net, None, 1), "node 1", "answers again after resume");

    assert!(host.kill(1).unwrap(), "kill of a live node takes effect");
    assert!(!process_alive(first), "kill -9 reaps the exact pid");
    assert!(matches!(host.state(1), NodeState::Exited { .. }));
    assert!(!host.kill(1).unwrap(), "kill of a dead node does not take effect");

    host.start(&spec(&net, run_dir.path(), 1)).unwrap();
    assert_eq!(ask_until_answered(&net, None, 1), "node 1", "restarted in its namespace");
    assert_ne!(pid(&host, 1), first);
    assert!(
        host.start(&NodeSpec { id: 9, ..spec(&net, run_dir.path(), 1) }).is_err(),
        "no namespace for node 9"
    );
}

#[test]
fn shutdown_kills_what_still_runs_in_the_namespaces() {
    let (_cleaner, net) = network(&[1, 2]);
    let tag = net.tag().clone();
    let run_dir = tempfile::tempdir().unwrap();
    let host = net.host();
    for id in [1, 2] {
        host.start(&spec(&net, run_dir.path(), id)).unwrap();
    }
    assert_eq!(ask_until_answered(&net, None, 2), "node 2");
    let pids = [pid(&host, 1), pid(&host, 2)];
    net.shutdown();
    for pid in pids {
        assert!(!process_alive(pid), "shutdown killed {pid}");
    }
    assert_nothing_left(&tag, &[1, 2]);
    host.kill_all();
    assert!(matches!(host.state(1), NodeState::Exited { .. }), "the host reaped its node");
}
