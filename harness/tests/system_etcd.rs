//! The etcd adapter against a real three-member etcd on loopback: one leader, linearizable
//! and serializable reads, cas both ways, a missing key, a killed member refusing while the
//! majority keeps writing, and a restart on the same data rejoining the cluster.
//!
//! Needs `/usr/bin/etcd` (Debian `etcd-server`); without it every test here fails.

mod system_support;

use faultline::{host, supervisor, system};

use checkers::EventType;
use nodes::api::{NodeId, Role};
use serde_json::{json, Value};
use workloads::{Op, WorkloadName};

use host::Probe;
use system::etcd::{Etcd, EtcdOptions, CLIENT_PORT, PEER_PORT};
use system::System;
use system_support::*;

fn etcd(topology: &system::Topology, serializable_reads: bool) -> Etcd {
    let program = require_program("etcd", "etcd-server");
    Etcd::new(topology.clone(), EtcdOptions { serializable_reads, program, ..EtcdOptions::default() })
        .unwrap()
}

async fn started(members: u32) -> (system::Topology, Etcd, Cluster) {
    let topology = loopback_topology(members, &[CLIENT_PORT, PEER_PORT]);
    let etcd = etcd(&topology, false);
    let cluster = Cluster::new(&etcd, &topology);
    cluster.start_all();
    cluster.wait_healthy(&etcd).await;
    (topology, etcd, cluster)
}

/// Wait until every live member in `live` names the same single leader in the same term.
async fn one_leader(etcd: &Etcd, live: &[NodeId]) -> NodeId {
    wait_for("one leader that every live member agrees on", || async {
        let mut statuses = Vec::new();
        for &id in live {
            statuses.push(etcd.status(id, OP_TIMEOUT).await.map_err(|e| format!("{e:#}"))?);
        }
        let leaders: Vec<NodeId> = statuses.iter().filter(|s| s.role == Role::Leader).map(|s| s.id).collect();
        let [leader] = leaders[..] else { return Err(format!("leaders {leaders:?}")) };
        let term = statuses.iter().find(|s| s.id == leader).unwrap().term;
        if statuses.iter().all(|s| s.leader == Some(leader) && s.term == term && term > 0) {
            Ok(leader)
        } else {
            Err(format!("statuses {statuses:?}"))
        }
    })
    .await
}

async fn ok(etcd: &Etcd, node: NodeId, op: Op) -> Value {
    let c = etcd.invoke(node, &op, OP_TIMEOUT).await;
    assert_eq!(c.kind, EventType::Ok, "{op:?} on node {node}: {c:?}");
    c.value
}

fn read(key: &str) -> Op {
    Op::Read { key: key.into() }
}

#[tokio::test]
async fn three_members_elect_one_leader_and_serve_a_linearizable_register() {
    let (topology, etcd, cluster) = started(3).await;
    let leader = one_leader(&etcd, &[1, 2, 3]).await;
    assert_eq!(etcd.workloads(), &[WorkloadName::Register, WorkloadName::Queue]);
    let version = etcd.version();
    assert!(version.starts_with("3."), "version {version:?}");

    // Writes and reads on any member; followers forward to the leader.
    let follower = [1, 2, 3].into_iter().find(|&n| n != leader).unwrap();
    assert_eq!(ok(&etcd, follower, read("r1")).await, Value::Null, "a missing key reads null");
    assert_eq!(ok(&etcd, follower, Op::Write { key: "r1".into(), value: 3 }).await, json!(3));
    for node in [1, 2, 3] {
        assert_eq!(ok(&etcd, node, read("r1")).await, json!(3), "linearizable read on node {node}");
    }

    assert_eq!(ok(&etcd, leader, Op::Cas { key: "r1".into(), from: 3, to: 4 }).await, json!([3, 4]));
    let missed = etcd.invoke(follower, &Op::Cas { key: "r1".into(), from: 3, to: 5 }, OP_TIMEOUT).await;
    assert_eq!((missed.kind, missed.value), (EventType::Fail, json!([3, 5])), "{:?}", missed.error);
    assert!(missed.error.unwrap().starts_with("precondition_failed"));
    let absent = etcd.invoke(leader, &Op::Cas { key: "r9".into(), from: 0, to: 1 }, OP_TIMEOUT).await;
    assert_eq!(absent.kind, EventType::Fail, "cas on an absent key does not match");
    assert_eq!(ok(&etcd, follower, read("r1")).await, json!(4));
    assert_eq!(ok(&etcd, follower, read("r9")).await, Value::Null, "the failed cas wrote nothing");

    // Serializable reads answer from each member's own state; they converge on 4.
    let serializable = etcd_with(&topology, true);
    for node in [1, 2, 3] {
        wait_for("a serializable read of the last write", || async {
            let c = serializable.invoke(node, &read("r1"), OP_TIMEOUT).await;
            (c.kind == EventType::Ok && c.value == json!(4)).then_some(()).ok_or(format!("{c:?}"))
        })
        .await;
    }

    // Operations the adapter has no client for are refused without being sent.
    let c = etcd.invoke(1, &Op::Add { key: "s".into(), element: 1 }, OP_TIMEOUT).await;
    assert_eq!(c.kind, EventType::Fail);
    drop(cluster);
}

fn etcd_with(topology: &system::Topology, serializable_reads: bool) -> Etcd {
    etcd(topology, serializable_reads)
}

#[tokio::test]
async fn a_killed_member_refuses_the_majority_writes_on_and_a_restart_rejoins() {
    let (_topology, etcd, cluster) = started(3).await;
    let leader = one_leader(&etcd, &[1, 2, 3]).await;
    let pid = cluster.pid(leader);
    cluster.kill(leader);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "pid {pid} is gone");

    let dead = etcd.invoke(leader, &Op::Write { key: "r1".into(), value: 1 }, OP_TIMEOUT).await;
    assert_eq!(dead.kind, EventType::Fail, "a refused connection never sent the write: {dead:?}");
    assert!(dead.error.as_deref().unwrap().starts_with("not sent"), "{dead:?}");
    let dead_read = etcd.invoke(leader, &read("r1"), OP_TIMEOUT).await;
    assert_eq!(dead_read.kind, EventType::Fail);
    assert!(etcd.health(leader, OP_TIMEOUT).await.is_err());
    assert!(etcd.status(leader, OP_TIMEOUT).await.is_err());

    let live: Vec<NodeId> = [1, 2, 3].into_iter().filter(|&n| n != leader).collect();
    let new_leader = one_leader(&etcd, &live).await;
    assert_ne!(new_leader, leader);
    // Writes during the election may time out (info); one must succeed once a leader is up.
    let mut value = 10;
    wait_for("a write on the surviving majority", || {
        value += 1;
        let op = Op::Write { key: "r1".into(), value };
        let etcd = &etcd;
        let node = live[1];
        async move {
            let c = etcd.invoke(node, &op, OP_TIMEOUT).await;
            (c.kind == EventType::Ok).then_some(()).ok_or(format!("{c:?}"))
        }
    })
    .await;
    let written = json!(value);
    assert_eq!(ok(&etcd, live[0], read("r1")).await, written);

    // Same spec, same data directory: the member rejoins and catches up.
    cluster.start(leader);
    cluster.wait_node_healthy(&etcd, leader).await;
    assert_eq!(ok(&etcd, leader, read("r1")).await, written, "the restarted member sees the write");
    assert_eq!(one_leader(&etcd, &[1, 2, 3]).await, new_leader, "it rejoins as a follower");
    let log = std::fs::read_to_string(&cluster.specs[&leader].log_path).unwrap();
    assert!(log.contains("restarting member"), "etcd reused its data directory{}", cluster.log_tail(leader));
}

#[tokio::test]
async fn a_leader_without_a_quorum_steps_down_and_its_writes_are_indeterminate() {
    let (topology, etcd, cluster) = started(3).await;
    let leader = one_leader(&etcd, &[1, 2, 3]).await;
    for other in [1, 2, 3].into_iter().filter(|&n| n != leader) {
        cluster.kill(other);
    }
    // etcd's leaders check their quorum: alone, it steps down and knows no leader.
    wait_for("the lone member to step down", || async {
        let s = etcd.status(leader, OP_TIMEOUT).await.map_err(|e| format!("{e:#}"))?;
        (s.role == Role::Follower && s.leader.is_none()).then_some(()).ok_or(format!("{s:?}"))
    })
    .await;
    assert!(etcd.health(leader, OP_TIMEOUT).await.is_err(), "no quorum, not healthy");

    // The write cannot commit now, but nothing proves it never will: info, never fail.
    let short = std::time::Duration::from_millis(1500);
    let c = etcd.invoke(leader, &Op::Write { key: "r1".into(), value: 1 }, short).await;
    assert_eq!((c.kind, c.error.as_deref()), (EventType::Info, Some("timeout")), "{c:?}");
    let c = etcd.invoke(leader, &Op::Cas { key: "r1".into(), from: 1, to: 2 }, short).await;
    assert_eq!(c.kind, EventType::Info, "{c:?}");
    // A linearizable read needs the quorum too; it changes nothing, so it fails.
    let c = etcd.invoke(leader, &read("r1"), short).await;
    assert_eq!(c.kind, EventType::Fail, "{c:?}");
    // A serializable read answers from the member's own state at once.
    let serializable = etcd_with(&topology, true);
    let c = serializable.invoke(leader, &read("r1"), short).await;
    assert_eq!((c.kind, &c.value), (EventType::Ok, &Value::Null), "{c:?}");
}
