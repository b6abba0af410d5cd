//! The supervisor: starts a cluster's nodes, watches their health, and carries out the
//! process faults (kill -9 and restart, pause and resume, lose a node's disk).
//!
//! It drives nodes only through a [`Host`], so running them elsewhere (a network namespace
//! each) is a new host, not a new supervisor. Health and status come from a [`Probe`] that
//! asks each node over the network (the built-in nodes' `/health` and `/status`, see
//! [`HttpProbe`]; a real system's own protocol), never from its log. Every wait has a deadline; a node that does not become
//! healthy in time is an error that carries the tail of its log, because that is where the
//! reason is.
//!
//! Invariant: no node process outlives the harness. See `spawn` (process groups and the
//! parent-death signal), `signals` (Ctrl-C, SIGTERM, panics) and [`Supervisor::shutdown`],
//! which also runs on drop.

pub mod command;
pub mod local;
pub mod ports;
pub mod probe;
pub mod signals;
pub mod spawn;

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use nodes::api::{NodeId, Status};

pub use command::NodeCommand;
pub use local::LocalHost;
pub use ports::allocate_addrs;
pub use probe::HttpProbe;
pub use signals::{install_panic_hook, kill_all_nodes, on_forced_exit, Termination, TerminationSignal};

use crate::host::{Host, NodeSpec, NodeState, Probe};

/// A node exited at start because an address it was told to listen on was in use: another
/// process took the port between its choice and the node's bind. The cluster may choose
/// new ports and start again ([`crate::run::cluster`] does).
#[derive(Debug)]
pub struct AddressTaken {
    /// The whole error, the end of the node's log included.
    pub message: String,
}

impl std::fmt::Display for AddressTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AddressTaken {}

/// How often a health wait polls.
const HEALTH_POLL: Duration = Duration::from_millis(20);
/// Timeout of one `/health` request.
const HEALTH_REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
/// Bytes of a node's log quoted in a start error.
const LOG_TAIL_BYTES: u64 = 2048;

/// A cluster's nodes on one host.
pub struct Supervisor {
    host: Arc<dyn Host>,
    specs: BTreeMap<NodeId, NodeSpec>,
    probe: Arc<dyn Probe>,
    /// How many times each node was started, so that samples can tell one life from the
    /// next (a commit index may fall across a restart, never within one life).
    starts: BTreeMap<NodeId, AtomicU32>,
}

impl Supervisor {
    /// A supervisor of faultline's own nodes, probed over their HTTP API.
    pub fn new(host: Arc<dyn Host>, specs: Vec<NodeSpec>) -> Supervisor {
        let clients = specs.iter().map(|s| (s.id, s.addrs.client)).collect();
        Supervisor::with_probe(host, specs, Arc::new(HttpProbe::new(clients)))
    }

    /// A supervisor whose nodes are probed by `probe` (a real system's adapter).
    pub fn with_probe(host: Arc<dyn Host>, specs: Vec<NodeSpec>, probe: Arc<dyn Probe>) -> Supervisor {
        let starts = specs.iter().map(|s| (s.id, AtomicU32::new(0))).collect();
        let specs = specs.into_iter().map(|s| (s.id, s)).collect();
        Supervisor { host, specs, probe, starts }
    }

    /// How this supervisor asks nodes for health and role.
    pub fn probe(&self) -> &Arc<dyn Probe> {
        &self.probe
    }

    pub fn node_ids(&self) -> Vec<NodeId> {
        self.specs.keys().copied().collect()
    }

    pub fn spec(&self, id: NodeId) -> Option<&NodeSpec> {
        self.specs.get(&id)
    }

    pub fn host(&self) -> &Arc<dyn Host> {
        &self.host
    }

    pub fn state(&self, id: NodeId) -> NodeState {
        self.host.state(id)
    }

    /// Start every node, then wait until each answers `/health`, all within `deadline`.
    pub async fn start_all(&self, deadline: Duration) -> anyhow::Result<()> {
        for &id in self.specs.keys() {
            self.start(id)?;
        }
        let until = Instant::now() + deadline;
        for &id in self.specs.keys() {
            self.wait_healthy(id, until.saturating_duration_since(Instant::now())).await?;
        }
        Ok(())
    }

    /// Start one node from its spec (same data directory every time; from the second
    /// start on, the spec's `rejoin_argv` where it has one).
    pub fn start(&self, id: NodeId) -> anyhow::Result<()> {
        let spec = self.known(id)?;
        // Counted before the process exists: a sample whose question went out after this
        // line may already see the new life.
        let earlier = self.starts.get(&id).map_or(0, |starts| starts.fetch_add(1, Ordering::SeqCst));
        match &spec.rejoin_argv {
            Some(rejoin) if earlier > 0 => {
                self.host.start(&NodeSpec { argv: rejoin.clone(), rejoin_argv: None, ..spec.clone() })
            }
            _ => self.host.start(spec),
        }
    }

    /// How many times node `id` was started by this supervisor (0 for an unknown node).
    pub fn starts(&self, id: NodeId) -> u32 {
        self.starts.get(&id).map_or(0, |s| s.load(Ordering::SeqCst))
    }

    /// Wait until node `id` is healthy by its probe. Fails early if the process exits; the
    /// error quotes the end of its log.
    pub async fn wait_healthy(&self, id: NodeId, deadline: Duration) -> anyhow::Result<()> {
        self.known(id)?;
        let until = Instant::now() + deadline;
        loop {
            if let NodeState::Exited { status, code } = self.host.state(id) {
                let message =
                    format!("node {id} exited before it was healthy ({status}){}", self.log_tail(id));
                if code == Some(i32::from(nodes::runtime::EXIT_ADDRESS_IN_USE)) {
                    return Err(AddressTaken { message }.into());
                }
                bail!(message);
            }
            let answer = self.probe.health(id, HEALTH_REQUEST_TIMEOUT).await;
            let Err(error) = answer else { return Ok(()) };
            if Instant::now() >= until {
                bail!("node {id} not healthy within {deadline:?} ({error:#}){}", self.log_tail(id));
            }
            tokio::time::sleep(HEALTH_POLL).await;
        }
    }

    /// kill -9. `Ok(false)` if the node was not alive.
    pub fn kill(&self, id: NodeId) -> anyhow::Result<bool> {
        self.known(id)?;
        self.host.kill(id)
    }

    /// Start a dead node again on the same data directory and wait for `/health`.
    /// `Ok(false)` if it was alive already (nothing done).
    pub async fn restart(&self, id: NodeId, health_deadline: Duration) -> anyhow::Result<bool> {
        if self.host.state(id).is_alive() {
            return Ok(false);
        }
        self.start(id)?;
        self.wait_healthy(id, health_deadline).await?;
        Ok(true)
    }

    pub fn pause(&self, id: NodeId) -> anyhow::Result<bool> {
        self.known(id)?;
        self.host.pause(id)
    }

    pub fn resume(&self, id: NodeId) -> anyhow::Result<bool> {
        self.known(id)?;
        self.host.resume(id)
    }

    /// Kill the node (if alive) and wipe its data directory; the node stays down until
    /// [`restart`](Self::restart). `Ok(false)` if it was already dead (the wipe still
    /// happens: the disk is lost either way).
    pub fn lose_disk(&self, id: NodeId) -> anyhow::Result<bool> {
        self.known(id)?;
        let was_alive = self.host.kill(id)?;
        self.host.wipe(id)?;
        Ok(was_alive)
    }

    /// The role and term one node claims, by its probe.
    pub async fn status(&self, id: NodeId, timeout: Duration) -> anyhow::Result<Status> {
        self.known(id)?;
        self.probe.status(id, timeout).await
    }

    /// Kill every node. Idempotent; also runs on drop.
    pub fn shutdown(&self) {
        self.host.kill_all();
    }

    fn known(&self, id: NodeId) -> anyhow::Result<&NodeSpec> {
        self.specs.get(&id).ok_or_else(|| anyhow!("node {id} is not part of this cluster"))
    }

    /// The end of a node's log, formatted to follow an error message.
    fn log_tail(&self, id: NodeId) -> String {
        let Some(path) = self.host.log_path(id) else { return String::new() };
        match read_tail(&path, LOG_TAIL_BYTES) {
            Ok(tail) if !tail.trim().is_empty() => {
                format!("; end of {}:\n{}", path.display(), tail.trim_end())
            }
            _ => String::new(),
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn read_tail(path: &Path, bytes: u64) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(bytes)))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
