//! Systems under test: what the run loop needs to know about the software it tests.
//!
//! A [`System`] is an adapter: how to configure and start one node (its [`NodeSpec`]: argv,
//! data directory, log), whether a node is up, what role it claims, how each workload's
//! operation becomes a call to it and how its answer becomes `ok`, `fail` or `info`, and
//! (where the system has such a thing) the operator's failover actions. Adding a system is
//! one file implementing this trait.
//!
//! The built-in protocols are a system too ([`builtin`]): their nodes speak faultline's own
//! HTTP API. Real systems (`etcd`, `redis`, `zookeeper`) run one node per network namespace; every node
//! has its own IP address and the system's usual ports.
//!
//! Classification follows Jepsen: an answer that proves the operation did not happen is
//! `fail`; anything that leaves it possible (a timeout, a broken connection, an error the
//! system does not document as definite) is `info`; a request that could not be sent is
//! `fail`.

pub mod builtin;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use nodes::api::NodeId;
use workloads::{Op, WorkloadName};

pub mod etcd;
pub mod outcome;
pub mod redis;
pub mod resp;
pub mod version;
pub mod zookeeper;

pub use crate::host::BoxFuture;
use crate::host::{Clocks, NodeSpec, Operator, Probe};
use outcome::Completion;

/// Which system a run tests: faultline's own nodes (running `--protocol`), or a real one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SystemName {
    Faultline,
    Etcd,
    Redis,
    ZooKeeper,
}

impl SystemName {
    pub const ALL: [SystemName; 4] =
        [SystemName::Faultline, SystemName::Etcd, SystemName::Redis, SystemName::ZooKeeper];

    pub fn as_str(self) -> &'static str {
        match self {
            SystemName::Faultline => "faultline",
            SystemName::Etcd => "etcd",
            SystemName::Redis => "redis",
            SystemName::ZooKeeper => "zookeeper",
        }
    }

    /// Whether nodes are faultline's own (behind the proxy) rather than a real system's
    /// (one network namespace each).
    pub fn is_builtin(self) -> bool {
        self == SystemName::Faultline
    }

    /// The workloads the system's adapter has a client for.
    pub fn workloads(self) -> &'static [WorkloadName] {
        match self {
            SystemName::Faultline => &WorkloadName::ALL,
            SystemName::Etcd => &[WorkloadName::Register, WorkloadName::Queue],
            SystemName::Redis => {
                &[WorkloadName::Register, WorkloadName::Set, WorkloadName::Counter, WorkloadName::Queue]
            }
            SystemName::ZooKeeper => &[WorkloadName::Register, WorkloadName::Queue],
        }
    }

    /// Whether the system has an operator failover (the `failover` fault).
    pub fn has_operator(self) -> bool {
        self == SystemName::Redis
    }
}

impl std::fmt::Display for SystemName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SystemName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SystemName::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| format!("unknown system {s:?}; known: faultline, etcd, redis, zookeeper"))
    }
}

/// Every node's own address, as the run's network gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub nodes: BTreeMap<NodeId, IpAddr>,
}

/// One system under test, bound to one cluster (it knows every node's address). Its
/// [`Probe`] half answers health and role (the supervisor and the nemesis use it); its
/// [`Operator`] half carries the operator's failover actions where the system has them; its
/// [`Clocks`] half skews a node's clock where that is possible.
pub trait System: Probe + Operator + Clocks {
    /// The name on the command line (`--system etcd`).
    fn name(&self) -> &'static str;
    /// The system's version, as its binary reports it, for `run.json`.
    fn version(&self) -> String;
    /// The workloads this adapter has a client for.
    fn workloads(&self) -> &'static [WorkloadName];
    /// How to start node `id`: argv (never a shell), data directory and log file under
    /// `run_dir`, addresses. The same spec restarts it on the same data. An adapter may
    /// write the node's configuration file under `run_dir` here.
    fn node_spec(&self, id: NodeId, run_dir: &Path) -> anyhow::Result<NodeSpec>;
    /// The files [`System::node_spec`] wrote under `run_dir` for node `id` (its
    /// configuration, its identity), which a host that does not share this machine's file
    /// system must be given before the node first starts. None by default.
    fn node_files(&self, id: NodeId, run_dir: &Path) -> Vec<std::path::PathBuf> {
        let _ = (id, run_dir);
        Vec::new()
    }
    /// Perform one workload operation on `node` within `timeout` and classify the answer.
    /// Never panics; every failure is a `fail` or `info` completion with its error.
    fn invoke<'a>(&'a self, node: NodeId, op: &'a Op, timeout: Duration) -> BoxFuture<'a, Completion>;
}
