//! Systems under test: what the run loop needs to know about the software it tests.
//!
//! A [`System`] is an adapter: how to configure and start one node (its [`NodeSpec`]: argv,
//! data directory, log), whether a node is up, what role it claims, how each workload's
//! operation becomes a call to it and how its answer becomes `ok`, `fail` or `info`, and
//! (where the system has such a thing) the operator's failover actions. Adding a system is
//! one file implementing this trait.
//!
//! The built-in protocols are a system too ([`builtin`]): their nodes speak faultline's own
//! HTTP API. Real systems (`etcd`, `redis`) run one node per network namespace; every node
//! has its own IP address and the system's usual ports.
//!
//! Classification follows Jepsen: an answer that proves the operation did not happen is
//! `fail`; anything that leaves it possible (a timeout, a broken connection, an error the
//! system does not document as definite) is `info`; a request that could not be sent is
//! `fail`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use nodes::api::NodeId;
use workloads::{Op, WorkloadName};

pub mod etcd;
pub mod redis;
pub mod resp;
pub mod version;

pub use crate::host::BoxFuture;
use crate::host::{NodeSpec, Probe};
use crate::run::outcome::Completion;

/// Every node's own address, as the run's network gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub nodes: BTreeMap<NodeId, IpAddr>,
}

/// One system under test, bound to one cluster (it knows every node's address). Its
/// [`Probe`] half answers health and role; the supervisor and the nemesis use that.
pub trait System: Probe {
    /// The name on the command line (`--system etcd`).
    fn name(&self) -> &'static str;
    /// The system's version, as its binary reports it, for `run.json`.
    fn version(&self) -> String;
    /// The workloads this adapter has a client for.
    fn workloads(&self) -> &'static [WorkloadName];
    /// How to start node `id`: argv (never a shell), data directory and log file under
    /// `run_dir`, addresses. The same spec restarts it on the same data.
    fn node_spec(&self, id: NodeId, run_dir: &Path) -> NodeSpec;
    /// Perform one workload operation on `node` within `timeout` and classify the answer.
    /// Never panics; every failure is a `fail` or `info` completion with its error.
    fn invoke<'a>(&'a self, node: NodeId, op: &'a Op, timeout: Duration) -> BoxFuture<'a, Completion>;
    /// Make `id` a primary that accepts writes (`REPLICAOF NO ONE`). Systems that elect
    /// their leaders themselves do not support it.
    fn promote(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<()>> {
        let _ = timeout;
        let name = self.name();
        Box::pin(async move { anyhow::bail!("{name} has no operator failover (node {id})") })
    }
    /// Make `id` replicate from `primary`.
    fn follow(&self, id: NodeId, primary: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<()>> {
        let _ = timeout;
        let name = self.name();
        Box::pin(async move { anyhow::bail!("{name} has no operator failover (node {id} to {primary})") })
    }
}
