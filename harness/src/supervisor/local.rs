//! [`LocalHost`]: nodes as child processes of the harness on this machine.
//!
//! Each node's stdout and stderr go to its log file, opened for append so that the lines of
//! every life of a node (start, kill, restart) stay in one file, each life introduced by a
//! `# faultline:` line. Children are reaped here and nowhere else; a dead child's process
//! group is unregistered only after it was reaped, so the kill-everything path never
//! signals a recycled pid.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use anyhow::{bail, Context};
use nodes::api::NodeId;

use super::spawn;
use crate::host::{Host, NodeAddrs, NodeSpec, NodeState};

/// Runs nodes as local processes.
#[derive(Default)]
pub struct LocalHost {
    nodes: Mutex<BTreeMap<NodeId, Slot>>,
}

struct Slot {
    spec: NodeSpec,
    child: Option<Child>,
    paused: bool,
    /// How the last life ended, once it was reaped: for people, and its exit code.
    last_exit: Option<(String, Option<i32>)>,
}

impl LocalHost {
    pub fn new() -> LocalHost {
        LocalHost::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<NodeId, Slot>> {
        // A panic while holding the lock leaves the table consistent (every update is a
        // single assignment), so a poisoned lock is still usable.
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Slot {
    /// Reap the child if it has exited; returns whether a process is alive.
    fn refresh(&mut self) -> bool {
        let Some(child) = self.child.as_mut() else { return false };
        match child.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                self.reaped(status.to_string(), status.code());
                false
            }
            Err(e) => {
                self.reaped(format!("unknown ({e})"), None);
                false
            }
        }
    }

    fn reaped(&mut self, status: String, code: Option<i32>) {
        if let Some(child) = self.child.take() {
            spawn::unregister_group(child.id() as i32);
        }
        self.paused = false;
        self.last_exit = Some((status, code));
    }
}

impl Host for LocalHost {
    fn start(&self, spec: &NodeSpec) -> anyhow::Result<()> {
        let mut nodes = self.lock();
        if let Some(slot) = nodes.get_mut(&spec.id) {
            if slot.refresh() {
                bail!("node {} is already running", spec.id);
            }
        }
        let Some((program, args)) = spec.argv.split_first() else {
            bail!("node {}: empty argv", spec.id);
        };
        std::fs::create_dir_all(&spec.data_dir)
            .with_context(|| format!("creating data directory {}", spec.data_dir.display()))?;
        if let Some(parent) = spec.log_path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating log directory {}", parent.display()))?;
        }
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log_path)
            .with_context(|| format!("opening log {}", spec.log_path.display()))?;
        writeln!(log, "# faultline: starting node {}: {:?}", spec.id, spec.argv)
            .with_context(|| format!("writing log {}", spec.log_path.display()))?;
        let stderr = log.try_clone().context("duplicating the log file handle")?;
        let mut command = Command::new(program);
        command.args(args).stdin(Stdio::null()).stdout(log).stderr(stderr);
        let child = spawn::spawn_node(command)
            .with_context(|| format!("starting node {} ({})", spec.id, program.to_string_lossy()))?;
        nodes
            .insert(spec.id, Slot { spec: spec.clone(), child: Some(child), paused: false, last_exit: None });
        Ok(())
    }

    fn kill(&self, id: NodeId) -> anyhow::Result<bool> {
        let mut nodes = self.lock();
        let Some(slot) = nodes.get_mut(&id) else { return Ok(false) };
        if !slot.refresh() {
            return Ok(false);
        }
        let child = slot.child.as_mut().expect("refresh() said a child is alive");
        let pgid = child.id() as i32;
        spawn::signal_group(pgid, libc::SIGKILL).with_context(|| format!("killing node {id}"))?;
        let status = child.wait().with_context(|| format!("reaping node {id}"))?;
        slot.reaped(format!("killed by the harness ({status})"), None);
        Ok(true)
    }

    fn pause(&self, id: NodeId) -> anyhow::Result<bool> {
        let mut nodes = self.lock();
        let Some(slot) = nodes.get_mut(&id) else { return Ok(false) };
        if !slot.refresh() || slot.paused {
            return Ok(false);
        }
        let pgid = slot.child.as_ref().expect("alive").id() as i32;
        let done = spawn::signal_group(pgid, libc::SIGSTOP).with_context(|| format!("pausing node {id}"))?;
        slot.paused = done;
        Ok(done)
    }

    fn resume(&self, id: NodeId) -> anyhow::Result<bool> {
        let mut nodes = self.lock();
        let Some(slot) = nodes.get_mut(&id) else { return Ok(false) };
        if !slot.refresh() || !slot.paused {
            return Ok(false);
        }
        let pgid = slot.child.as_ref().expect("alive").id() as i32;
        let done = spawn::signal_group(pgid, libc::SIGCONT).with_context(|| format!("resuming node {id}"))?;
        slot.paused = false;
        Ok(done)
    }

    fn wipe(&self, id: NodeId) -> anyhow::Result<()> {
        let mut nodes = self.lock();
        let Some(slot) = nodes.get_mut(&id) else { bail!("node {id} is unknown to this host") };
        if slot.refresh() {
            bail!("node {id} is alive; kill it before wiping its data");
        }
        let dir = &slot.spec.data_dir;
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", dir.display())),
        }
        std::fs::create_dir_all(dir).with_context(|| format!("recreating {}", dir.display()))?;
        Ok(())
    }

    fn state(&self, id: NodeId) -> NodeState {
        let mut nodes = self.lock();
        let Some(slot) = nodes.get_mut(&id) else { return NodeState::NotStarted };
        if slot.refresh() {
            let pid = slot.child.as_ref().expect("alive").id();
            if slot.paused {
                NodeState::Paused { pid }
            } else {
                NodeState::Running { pid }
            }
        } else {
            let (status, code) = slot.last_exit.clone().unwrap_or_default();
            NodeState::Exited { status, code }
        }
    }

    fn log_path(&self, id: NodeId) -> Option<PathBuf> {
        self.lock().get(&id).map(|slot| slot.spec.log_path.clone())
    }

    fn addresses(&self, id: NodeId) -> Option<NodeAddrs> {
        self.lock().get(&id).map(|slot| slot.spec.addrs)
    }

    fn kill_all(&self) {
        let mut nodes = self.lock();
        for slot in nodes.values_mut() {
            if let Some(child) = slot.child.as_mut() {
                let _ = spawn::signal_group(child.id() as i32, libc::SIGKILL);
                let status = child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                slot.reaped(format!("killed by the harness ({status})"), None);
            }
        }
    }
}

impl Drop for LocalHost {
    fn drop(&mut self) {
        self.kill_all();
    }
}
