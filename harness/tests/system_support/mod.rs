//! Test support for the real-system adapters: real binaries on loopback.
//!
//! Every test takes its own random block `127.<a>.<b>.0/24` (Linux routes all of
//! `127.0.0.0/8` to the loopback interface), so nodes keep their system's usual ports and
//! tests running in parallel never collide; the block is printed for a failing test. Nodes
//! run under the harness's own `LocalHost` (own process group, killed with the test
//! process) inside a [`Cluster`] guard that SIGKILLs them by exact pid however the test
//! ends, with their data and logs in a temporary directory.
//!
//! A missing binary fails the test with the package to install; it never passes.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nodes::api::NodeId;
use tokio::time::Instant;

use crate::host::{Host, NodeSpec, NodeState};
use crate::supervisor::LocalHost;
use crate::system::{System, Topology};

/// How long a cluster may take to come up or to recover.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// One operation's deadline.
pub const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// The absolute path of `program`, or a failed test naming the package that provides it.
pub fn require_program(program: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
        .unwrap_or_else(|| {
            panic!("`{program}` is not installed: this test needs the Debian package `{package}` (apt-get install {package})")
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `n` nodes at `127.<a>.<b>.1..=n` for a random block whose `ports` are all free.
pub fn loopback_topology(n: u32, ports: &[u16]) -> Topology {
    assert!((1..=250).contains(&n), "a /24 block holds up to 250 nodes");
    for _ in 0..100 {
        let (a, b) = (rand::random::<u8>() % 150 + 100, rand::random::<u8>());
        let ips: Vec<IpAddr> = (1..=n).map(|i| IpAddr::V4(Ipv4Addr::new(127, a, b, i as u8))).collect();
        let free = ips
            .iter()
            .all(|&ip| ports.iter().all(|&port| TcpListener::bind(SocketAddr::new(ip, port)).is_ok()));
        if free {
            eprintln!("nodes on loopback block 127.{a}.{b}.0/24");
            return Topology { nodes: (1..=n).zip(ips).collect() };
        }
    }
    panic!("no free loopback block for ports {ports:?} after 100 tries");
}

/// A running cluster of real nodes; dropping it kills every node it started.
pub struct Cluster {
    pub host: LocalHost,
    pub specs: BTreeMap<NodeId, NodeSpec>,
    /// Holds the data directories and logs; removed after the nodes are killed.
    pub run_dir: tempfile::TempDir,
}

impl Cluster {
    /// Specs for every node of `topology`, nothing started yet.
    pub fn new(system: &dyn System, topology: &Topology) -> Cluster {
        let run_dir = tempfile::tempdir().expect("temporary run directory");
        let specs = topology
            .nodes
            .keys()
            .map(|&id| (id, system.node_spec(id, run_dir.path()).expect("a node spec")))
            .collect();
        Cluster { host: LocalHost::new(), specs, run_dir }
    }

    pub fn start(&self, id: NodeId) {
        self.host.start(&self.specs[&id]).unwrap_or_else(|e| panic!("starting node {id}: {e:#}"));
    }

    pub fn start_all(&self) {
        for &id in self.specs.keys() {
            self.start(id);
        }
    }

    /// SIGKILL node `id` (its exact process group) and reap it.
    pub fn kill(&self, id: NodeId) {
        assert!(self.host.kill(id).unwrap(), "node {id} was alive");
        assert!(matches!(self.host.state(id), NodeState::Exited { .. }));
    }

    pub fn pid(&self, id: NodeId) -> u32 {
        match self.host.state(id) {
            NodeState::Running { pid } | NodeState::Paused { pid } => pid,
            other => panic!("node {id} is not alive: {other:?}{}", self.log_tail(id)),
        }
    }

    /// The end of a node's log, for failure messages.
    pub fn log_tail(&self, id: NodeId) -> String {
        let log = std::fs::read_to_string(&self.specs[&id].log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!("\n--- node {id} log (end) ---\n{}", lines[lines.len().saturating_sub(15)..].join("\n"))
    }

    /// Wait until every node answers its health probe.
    pub async fn wait_healthy(&self, system: &dyn System) {
        for &id in self.specs.keys() {
            self.wait_node_healthy(system, id).await;
        }
    }

    pub async fn wait_node_healthy(&self, system: &dyn System, id: NodeId) {
        let until = Instant::now() + DEADLINE;
        loop {
            if let NodeState::Exited { status, .. } = self.host.state(id) {
                panic!("node {id} exited before it was healthy ({status}){}", self.log_tail(id));
            }
            match system.health(id, Duration::from_secs(1)).await {
                Ok(()) => return,
                Err(e) if Instant::now() >= until => {
                    panic!("node {id} not healthy after {DEADLINE:?}: {e:#}{}", self.log_tail(id))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.host.kill_all();
    }
}

/// Poll `check` until it returns `Some`, or fail after [`DEADLINE`] saying `what`.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let until = Instant::now() + DEADLINE;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if Instant::now() >= until => panic!("{what}: not within {DEADLINE:?}; last: {last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
