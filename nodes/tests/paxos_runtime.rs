//! Paxos on the real runtime: three nodes in this process on 127.0.0.1, each with its own
//! write-ahead log in a temporary directory. A leader is elected, writes and reads go
//! through it, followers point at it, and after every node stops and starts again on the
//! same data directories the acknowledged write is still there (recovered from the
//! acceptors' logs by the next leader's phase 1).

mod runtime_common;

use std::collections::BTreeMap;
use std::time::Duration;

use nodes::api::{NodeId, Role, Status};
use nodes::protocols::paxos::Paxos;
use nodes::runtime::{serve, Listeners};
use runtime_common::{client, json, settings, wait_for};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(20);

struct PaxosNode {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl PaxosNode {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().expect("the node stopped cleanly");
    }
}

impl Drop for PaxosNode {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Start every node on the given addresses (peer, client) and data directories.
async fn start(
    addrs: &BTreeMap<NodeId, (String, String)>,
    dirs: &BTreeMap<NodeId, tempfile::TempDir>,
) -> BTreeMap<NodeId, PaxosNode> {
    let mut nodes = BTreeMap::new();
    for (&id, (peer, client)) in addrs {
        let listeners = Listeners { peer: rebind(peer).await, client: rebind(client).await };
        let peers = addrs.iter().filter(|(&p, _)| p != id).map(|(&p, (addr, _))| (p, addr.clone())).collect();
        let mut s = settings(id, peers, dirs[&id].path());
        s.options.heartbeat_ms = 20;
        s.options.election_timeout_min_ms = 150;
        s.options.election_timeout_max_ms = 300;
        s.request_timeout_ms = 2_000;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve::<Paxos>(s, listeners, async move {
            let _ = stopped.await;
        }));
        nodes.insert(id, PaxosNode { base: format!("http://{client}"), stop: Some(stop), task: Some(task) });
    }
    nodes
}

/// Bind an address a stopped node held; its sockets may take a moment to close.
async fn rebind(addr: &str) -> TcpListener {
    wait_for(&format!("{addr} to be free"), WAIT, || async { TcpListener::bind(addr).await.ok() }).await
}

async fn leader(http: &reqwest::Client, nodes: &BTreeMap<NodeId, PaxosNode>) -> NodeId {
    wait_for("a paxos leader", WAIT, || async {
        for (&id, node) in nodes {
            let Ok(response) = http.get(format!("{}/status", node.base)).send().await else { continue };
            let Ok(status) = response.json::<Status>().await else { continue };
            if status.role == Role::Leader && status.protocol == "paxos" {
                return Some(id);
            }
        }
        None
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_elects_serves_and_keeps_acknowledged_writes_across_a_full_restart() {
    let mut addrs = BTreeMap::new();
    let mut dirs = BTreeMap::new();
    for id in 1..=3u32 {
        // Reserve two free ports, then release them for the nodes to bind.
        let peer = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().to_string();
        let client_addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().to_string();
        addrs.insert(id, (peer, client_addr));
        dirs.insert(id, tempfile::tempdir().unwrap());
    }
    let http = client();
    let nodes = start(&addrs, &dirs).await;
    let l = leader(&http, &nodes).await;

    let put = http.put(format!("{}/kv/x", nodes[&l].base)).json(&serde_json::json!({"value": 42})).send();
    let (code, body) = json(put.await.unwrap()).await;
    assert_eq!(code, 200, "write at the leader: {body}");
    let (code, body) = json(http.get(format!("{}/kv/x", nodes[&l].base)).send().await.unwrap()).await;
    assert_eq!((code, body), (200, serde_json::json!({"value": 42})));

    let follower = *nodes.keys().find(|&&id| id != l).unwrap();
    let (code, body) = json(http.get(format!("{}/kv/x", nodes[&follower].base)).send().await.unwrap()).await;
    assert_eq!(code, 421, "a follower served a read: {body}");
    assert_eq!(body["error"]["code"], "not_leader");

    for (_, node) in nodes {
        node.stop().await;
    }
    let nodes = start(&addrs, &dirs).await;
    let l = leader(&http, &nodes).await;
    let read = wait_for("the write to survive the restart", WAIT, || async {
        let response = http.get(format!("{}/kv/x", nodes[&l].base)).send().await.ok()?;
        let (code, body) = json(response).await;
        (code == 200).then_some(body)
    })
    .await;
    assert_eq!(read, serde_json::json!({"value": 42}));
    for (_, node) in nodes {
        node.stop().await;
    }
}
