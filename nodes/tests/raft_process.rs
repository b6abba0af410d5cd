//! Raft in real `faultline-node` processes on loopback: a 3-node cluster elects a leader,
//! serves writes and ReadIndex reads over HTTP, survives kill -9 of its leader, and the
//! killed node recovers its write-ahead log and catches up after a restart.

use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_faultline-node");
const LIMIT: Duration = Duration::from_secs(30);
const IDS: [u32; 3] = [1, 2, 3];

/// A running node, killed by its own pid when dropped.
struct Node {
    child: Child,
    base: String,
}

/// Reserve a loopback port for a peer listener (the OS picks one; it is free again at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start(id: u32, peer_ports: &[u16; 3], dir: &Path) -> Node {
    let data_dir = dir.join(format!("node{id}"));
    let stderr_log = dir.join(format!("node{id}.log"));
    let mut command = Command::new(BIN);
    command
        .args(["--protocol", "raft", "--id", &id.to_string()])
        .args(["--peer-listen", &format!("127.0.0.1:{}", peer_ports[id as usize - 1])])
        .args(["--client-listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .args([
            "--election-timeout-min-ms",
            "150",
            "--election-timeout-max-ms",
            "300",
            "--heartbeat-ms",
            "30",
        ]);
    for peer in IDS.iter().filter(|&&p| p != id) {
        command.args(["--peer", &format!("{peer}=127.0.0.1:{}", peer_ports[*peer as usize - 1])]);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn faultline-node");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(LIMIT, lines.next_line())
        .await
        .expect("a ready line in time")
        .unwrap()
        .unwrap_or_else(|| {
            panic!("node {id} never got ready: {}", std::fs::read_to_string(&stderr_log).unwrap())
        });
    let ready: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(ready["ready"]["protocol"], "raft", "{line}");
    Node { child, base: format!("http://{}", ready["ready"]["client_listen"].as_str().unwrap()) }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(3)).build().unwrap()
}

async fn status(node: &Node) -> Option<Value> {
    http().get(format!("{}/status", node.base)).send().await.ok()?.json().await.ok()
}

/// Poll until exactly one of `nodes` (by index) reports itself leader; returns its index.
async fn await_leader(nodes: &[Option<Node>]) -> usize {
    let deadline = Instant::now() + LIMIT;
    loop {
        let mut leaders = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let Some(node) = node else { continue };
            if let Some(s) = status(node).await {
                if s["role"] == "leader" {
                    leaders.push(i);
                }
            }
        }
        if let [one] = leaders.as_slice() {
            return *one;
        }
        assert!(Instant::now() < deadline, "no single leader within {LIMIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_cluster_survives_killing_its_leader_and_the_victim_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let mut nodes = Vec::new();
    for id in IDS {
        nodes.push(Some(start(id, &ports, dir.path()).await));
    }
    let leader = await_leader(&nodes).await;
    let base = nodes[leader].as_ref().unwrap().base.clone();
    for value in 1..=5 {
        let answer =
            http().put(format!("{base}/kv/x")).json(&json!({ "value": value })).send().await.unwrap();
        assert!(answer.status().is_success(), "write {value}: {}", answer.text().await.unwrap());
    }
    let read: Value = http().get(format!("{base}/kv/x")).send().await.unwrap().json().await.unwrap();
    assert_eq!(read, json!({ "value": 5 }));
    // A follower refuses with a definite not_leader and a hint.
    let follower = (leader + 1) % 3;
    let refused = http()
        .put(format!("{}/kv/x", nodes[follower].as_ref().unwrap().base))
        .json(&json!({ "value": 9 }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 421);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_leader");
    assert_eq!(body["error"]["leader"], json!(leader as u32 + 1));

    // kill -9 the leader; the other two elect a new one that still holds every write.
    let mut victim = nodes[leader].take().unwrap();
    victim.child.start_kill().unwrap();
    victim.child.wait().await.unwrap();
    let new_leader = await_leader(&nodes).await;
    let new_base = nodes[new_leader].as_ref().unwrap().base.clone();
    let read: Value = http().get(format!("{new_base}/kv/x")).send().await.unwrap().json().await.unwrap();
    assert_eq!(read, json!({ "value": 5 }));
    let answer = http().put(format!("{new_base}/kv/x")).json(&json!({ "value": 6 })).send().await.unwrap();
    assert!(answer.status().is_success());

    // The victim restarts on its data directory and catches up with the new leader.
    nodes[leader] = Some(start(leader as u32 + 1, &ports, dir.path()).await);
    let target = status(nodes[new_leader].as_ref().unwrap()).await.unwrap()["commit_index"].as_u64().unwrap();
    let deadline = Instant::now() + LIMIT;
    loop {
        let applied = status(nodes[leader].as_ref().unwrap()).await.and_then(|s| s["applied_index"].as_u64());
        if applied.is_some_and(|a| a >= target) {
            break;
        }
        assert!(Instant::now() < deadline, "the restarted node never caught up to {target}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for node in nodes.iter_mut().flatten() {
        node.child.start_kill().unwrap();
        node.child.wait().await.unwrap();
    }
}
