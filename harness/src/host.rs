//! Where nodes run: the small interface the supervisor and the nemesis drive.
//!
//! A host knows how to start a node from its [`NodeSpec`], kill it with SIGKILL, pause and
//! resume it, wipe its data directory, and where its log and addresses are. The first
//! implementation runs local processes (`supervisor::LocalHost`); a network-namespace host
//! or an SSH host (the same binary as an agent on a remote machine) would implement the same
//! trait, so nothing above it changes.
//!
//! Every operation is idempotent in effect and reports whether it *took effect*: killing a
//! node that is already dead returns `Ok(false)`, not an error. The nemesis records that
//! answer in the history, so a fault that did nothing is never mistaken for one that did.
//! Errors are reserved for the host itself failing (a spawn that could not happen, a
//! directory that could not be removed).

use std::ffi::OsString;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use nodes::api::{NodeId, Status};
use serde::{Deserialize, Serialize};

/// The two addresses a node listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddrs {
    /// Where the node accepts peer connections (the proxy connects onward to this).
    pub peer_listen: SocketAddr,
    /// Where the node serves the client HTTP API (`/health`, `/status`, `/kv/...`).
    pub client: SocketAddr,
}

/// Everything needed to (re)start one node. Restarting uses the same spec, so the same
/// data directory and the same log file (appended to, so earlier lives stay readable),
/// and the same argv unless `rejoin_argv` says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub id: NodeId,
    /// The program and its arguments; `argv[0]` is the program. Never run through a shell.
    pub argv: Vec<OsString>,
    /// The argv of every start after the first, where it must differ: a member whose
    /// first start bootstraps the cluster must, started again, join the cluster it is
    /// already in, even on a data directory `lose-disk` wiped. `None`: `argv` every time.
    pub rejoin_argv: Option<Vec<OsString>>,
    pub data_dir: PathBuf,
    /// Receives the node's stdout and stderr.
    pub log_path: PathBuf,
    pub addrs: NodeAddrs,
}

/// What a host knows about one node's process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeState {
    /// Never started on this host.
    NotStarted,
    Running {
        pid: u32,
    },
    /// Stopped with SIGSTOP; alive but not scheduled.
    Paused {
        pid: u32,
    },
    /// Dead: killed by us or exited on its own; `status` says how, for people, and `code`
    /// is the exit code where the process exited on its own and the host can tell.
    Exited {
        status: String,
        code: Option<i32>,
    },
}

impl NodeState {
    /// Whether a process exists (running or paused).
    pub fn is_alive(&self) -> bool {
        matches!(self, NodeState::Running { .. } | NodeState::Paused { .. })
    }
}

/// Start, kill, pause, resume and wipe nodes; report their logs and addresses.
///
/// All methods take `&self`: a host is shared by the run loop and the nemesis.
pub trait Host: Send + Sync {
    /// Start a node from its spec. An error if a process for `spec.id` is still alive.
    fn start(&self, spec: &NodeSpec) -> anyhow::Result<()>;
    /// SIGKILL the node's process group. `Ok(false)` if no process was alive.
    fn kill(&self, id: NodeId) -> anyhow::Result<bool>;
    /// SIGSTOP the node. `Ok(false)` if it is not running or already paused.
    fn pause(&self, id: NodeId) -> anyhow::Result<bool>;
    /// SIGCONT the node. `Ok(false)` if it was not paused.
    fn resume(&self, id: NodeId) -> anyhow::Result<bool>;
    /// Delete the node's data directory and recreate it empty. An error while it is alive.
    fn wipe(&self, id: NodeId) -> anyhow::Result<()>;
    fn state(&self, id: NodeId) -> NodeState;
    /// A local path holding the node's log (a remote host would fetch it first).
    fn log_path(&self, id: NodeId) -> Option<PathBuf>;
    fn addresses(&self, id: NodeId) -> Option<NodeAddrs>;
    /// SIGKILL every node this host started. Best effort; never fails, never blocks long.
    fn kill_all(&self);
}

/// A boxed future, so the traits that return one stay object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Asks a node, over the network, whether it is up and what it claims to be. The built-in
/// nodes answer `/health` and `/status`; a real system answers in its own protocol (its
/// adapter implements this). Health and roles never come from a node's log.
pub trait Probe: Send + Sync {
    /// `Ok` when the node serves clients (it need not lead).
    fn health(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<()>>;
    /// The role and term the node claims now.
    fn status(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<Status>>;
}

/// An operator's actions on a system that does not fail over by itself (Redis without
/// Sentinel): what a person or a sentinel would do. The nemesis's `failover` fault uses it.
/// Systems that elect their own leaders keep the defaults, which refuse.
pub trait Operator: Send + Sync {
    /// The system's name, for errors.
    fn system_name(&self) -> &'static str;
    /// Make `id` a primary that accepts writes (`REPLICAOF NO ONE`).
    fn promote(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<()>> {
        let _ = timeout;
        let name = self.system_name();
        Box::pin(async move { anyhow::bail!("{name} has no operator failover (node {id})") })
    }
    /// Make `id` replicate from `primary`.
    fn follow(&self, id: NodeId, primary: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<()>> {
        let _ = timeout;
        let name = self.system_name();
        Box::pin(async move { anyhow::bail!("{name} has no operator failover (node {id} to {primary})") })
    }
    /// Whether node `id` may lose its disk (`lose-disk`), asked before the node is killed:
    /// an error says why not, and the fault is recorded as not taken. The default allows it
    /// (faultline's own nodes, etcd and Redis start again from an empty directory).
    fn check_lose_disk(&self, id: NodeId) -> anyhow::Result<()> {
        let _ = id;
        Ok(())
    }
    /// Make the cluster ready to take back node `id`, whose disk `lose-disk` wiped, before
    /// it starts again, within `timeout`: what an operator does for a member whose disk was
    /// replaced. The default does nothing (faultline's own nodes and Redis start from an
    /// empty directory as they are).
    fn readmit(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<()>> {
        let _ = (id, timeout);
        Box::pin(async { Ok(()) })
    }
}

/// One change to a node's clock, as the clock nemesis asks for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClockChange {
    /// Move the node's clock by this many milliseconds (negative: back).
    Jump { ms: i64 },
    /// Run the node's clock at this multiple of real time.
    Rate { rate: f64 },
    /// Back to real time.
    Reset,
}

/// Skews a node's clock: how the `clock` fault reaches a system. The built-in nodes take
/// the change over `POST /admin/clock`; a system that cannot be skewed (etcd, Redis,
/// ZooKeeper: each adapter says why in [`Clocks::clock_refusal`]) refuses with the reason,
/// so the fault is recorded as not taken.
pub trait Clocks: Send + Sync {
    /// Why this system's clocks cannot be skewed; `None` where [`Clocks::skew_clock`] can.
    fn clock_refusal(&self) -> Option<&'static str> {
        None
    }

    /// Apply `change` to node `id`'s clock. The default refuses, with the system's reason.
    fn skew_clock(
        &self,
        id: NodeId,
        change: ClockChange,
        timeout: Duration,
    ) -> BoxFuture<'_, anyhow::Result<()>> {
        let _ = (change, timeout);
        let reason = self.clock_refusal().unwrap_or("this system's adapter cannot skew a clock");
        Box::pin(async move { anyhow::bail!("{reason} (node {id})") })
    }
}
