//! [`SshHost`]: each node a process on its own machine, driven over SSH.
//!
//! Per node, the host keeps a run directory named after the run's tag (see `layout`).
//! Paths in a node's spec that lie under the local run directory (its data directory, its
//! log, any argument naming them) are moved under the remote run directory; a spec whose
//! program is the one given to [`SshHost::new`] as `upload` (faultline's own node) gets
//! that program uploaded first (always: a host that happens to share this machine's file
//! system is not assumed to), any other program (`etcd`, `redis-server`, `java`) is the
//! host's own. The files a system writes for a node before it starts (redis.conf, zoo.cfg,
//! myid: see [`SshHost::with_files`]) are uploaded the same way to the same place under
//! the remote run directory, with the local run paths they name rebased, before the
//! node's first start only: a restart finds them as the node left them (Redis's failover
//! rewrites its file there).
//!
//! The node runs under `setsid` with its process group id in a pid file, so kill, pause and
//! resume signal the whole group (see `scripts`). The state [`Host::state`] reports is what
//! this host last did or saw (a node that dies on its own is seen when it is next
//! signalled, and by its health probe, not here). [`Host::log_path`] fetches the remote log
//! into the local path first, so the supervisor quotes a fresh tail. [`Host::kill_all`]
//! kills every node and fetches every log; removing the run directories is the network's
//! shutdown (`network`), the last thing a run does on its hosts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{bail, Context};
use nodes::api::NodeId;

use super::layout;
use super::quote::{quote, quote_os};
use super::scripts;
use super::session::Remotes;
use crate::host::{Host, NodeAddrs, NodeSpec, NodeState};
use crate::netns::RunTag;

/// Runs nodes on SSH hosts.
pub struct SshHost {
    remotes: Arc<Remotes>,
    tag: RunTag,
    local_run_dir: PathBuf,
    upload: Option<PathBuf>,
    /// Per node, the local files under the local run directory to give it before it starts.
    files: BTreeMap<NodeId, Vec<PathBuf>>,
    nodes: Mutex<BTreeMap<NodeId, Slot>>,
    /// Set by the first [`Host::kill_all`]: the run is over on this host, its logs are
    /// fetched, and the network's shutdown may remove the run directories; later calls
    /// must neither start a node nor fetch (and so blank) a log.
    finished: std::sync::atomic::AtomicBool,
}

struct Slot {
    spec: NodeSpec,
    state: NodeState,
    uploaded: bool,
}

impl SshHost {
    /// A host for run `tag` whose local files live under `local_run_dir`; specs whose
    /// program is `upload` run an uploaded copy of it.
    pub fn new(remotes: Arc<Remotes>, tag: RunTag, local_run_dir: &Path, upload: Option<PathBuf>) -> SshHost {
        SshHost {
            remotes,
            tag,
            local_run_dir: local_run_dir.to_path_buf(),
            upload,
            files: BTreeMap::new(),
            nodes: Mutex::new(BTreeMap::new()),
            finished: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Also upload `files[id]` (paths under the local run directory) before node `id`'s
    /// first start.
    pub fn with_files(mut self, files: BTreeMap<NodeId, Vec<PathBuf>>) -> SshHost {
        self.files = files;
        self
    }

    /// Copy node `id`'s files to their places under its remote run directory, each with
    /// the local run paths in its text rebased.
    fn upload_files(&self, id: NodeId) -> anyhow::Result<()> {
        for (k, local) in self.files.get(&id).map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
            if !local.starts_with(&self.local_run_dir) {
                bail!("node {id}: {} is not under the run directory", local.display());
            }
            let bytes = std::fs::read(local).with_context(|| format!("reading {}", local.display()))?;
            let bytes = match String::from_utf8(bytes) {
                Ok(text) => {
                    layout::rebase_text(&text, &self.local_run_dir, &self.remote_dir(id)).into_bytes()
                }
                Err(e) => e.into_bytes(),
            };
            // The rebased copy is staged next to nothing of the run's: in the temporary
            // directory, named after this process, the run and the node, removed at once.
            let staged = std::env::temp_dir().join(format!(
                "faultline-upload-{}-{}-{id}-{k}",
                std::process::id(),
                self.tag
            ));
            std::fs::write(&staged, &bytes).with_context(|| format!("staging {}", staged.display()))?;
            let sent = self.remotes.upload(id, &staged, &self.remote_path(id, local));
            let _ = std::fs::remove_file(&staged);
            sent?;
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<NodeId, Slot>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remote_dir(&self, id: NodeId) -> PathBuf {
        layout::run_dir(&self.tag, id)
    }

    fn remote_path(&self, id: NodeId, local: &Path) -> PathBuf {
        layout::rebase(local, &self.local_run_dir, &self.remote_dir(id))
    }

    /// The spec's argv as quoted words for the remote shell.
    fn remote_argv(&self, spec: &NodeSpec) -> anyhow::Result<Vec<String>> {
        let remote_dir = self.remote_dir(spec.id);
        let mut words = Vec::with_capacity(spec.argv.len());
        for (k, arg) in spec.argv.iter().enumerate() {
            if k == 0 && self.upload.as_deref().is_some_and(|p| p.as_os_str() == arg) {
                words.push(quote(&layout::program(&self.tag, spec.id).display().to_string()));
                continue;
            }
            let text = arg.to_str().with_context(|| format!("argument {arg:?} is not UTF-8"))?;
            let rebased = layout::rebase_arg(text, &self.local_run_dir, &remote_dir);
            words.push(quote_os(std::ffi::OsStr::new(&rebased))?);
        }
        Ok(words)
    }

    /// Signal node `id`'s group; whether it was alive.
    fn signal(&self, id: NodeId, signal: &str) -> anyhow::Result<bool> {
        let script = scripts::signal(&layout::pid_file(&self.tag, id), signal);
        let out = self.remotes.run_ok(id, &script)?;
        match out.trim() {
            "yes" => Ok(true),
            "no" => Ok(false),
            other => bail!("node {id}: unexpected answer {other:?} to SIG{signal}"),
        }
    }

    /// Copy node `id`'s remote log over its local log file.
    fn fetch_log(&self, id: NodeId, local: &Path) -> anyhow::Result<()> {
        let remote = self.remote_path(id, local);
        let text = self.remotes.run_ok(id, &scripts::cat(&remote))?;
        if let Some(dir) = local.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(local, text).with_context(|| format!("writing {}", local.display()))
    }
}

impl Host for SshHost {
    fn start(&self, spec: &NodeSpec) -> anyhow::Result<()> {
        if spec.argv.is_empty() {
            bail!("node {}: empty argv", spec.id);
        }
        if self.finished.load(std::sync::atomic::Ordering::SeqCst) {
            bail!("node {}: the run is over on its host", spec.id);
        }
        let mut nodes = self.lock();
        let uploaded = nodes.get(&spec.id).is_some_and(|s| s.uploaded);
        if !uploaded {
            self.upload_files(spec.id)?;
        }
        if let Some(program) = self.upload.as_deref().filter(|p| p.as_os_str() == spec.argv[0]) {
            if !uploaded {
                self.remotes.upload(spec.id, program, &layout::program(&self.tag, spec.id))?;
            }
        }
        let argv = self.remote_argv(spec)?;
        let script = scripts::start(
            &layout::pid_file(&self.tag, spec.id),
            &self.remote_path(spec.id, &spec.log_path),
            &self.remote_path(spec.id, &spec.data_dir),
            &argv,
        );
        let out = self.remotes.run_ok(spec.id, &script)?;
        let mut words = out.split_whitespace();
        let pid = match (words.next(), words.next().and_then(|p| p.parse::<u32>().ok())) {
            (Some("started"), Some(pid)) => pid,
            (Some("running"), Some(pid)) => {
                bail!("node {} is already running (process group {pid})", spec.id)
            }
            _ => bail!("node {}: unexpected answer {:?} to start", spec.id, out.trim()),
        };
        nodes.insert(spec.id, Slot { spec: spec.clone(), state: NodeState::Running { pid }, uploaded: true });
        Ok(())
    }

    fn kill(&self, id: NodeId) -> anyhow::Result<bool> {
        let killed = self.signal(id, "KILL")?;
        if let Some(slot) = self.lock().get_mut(&id) {
            slot.state = NodeState::Exited { status: "killed by SIGKILL".into(), code: None };
        }
        Ok(killed)
    }

    fn pause(&self, id: NodeId) -> anyhow::Result<bool> {
        let NodeState::Running { pid } = self.state(id) else { return Ok(false) };
        let stopped = self.signal(id, "STOP")?;
        if let Some(slot) = self.lock().get_mut(&id) {
            slot.state = if stopped {
                NodeState::Paused { pid }
            } else {
                NodeState::Exited { status: "gone".into(), code: None }
            };
        }
        Ok(stopped)
    }

    fn resume(&self, id: NodeId) -> anyhow::Result<bool> {
        let NodeState::Paused { pid } = self.state(id) else { return Ok(false) };
        let continued = self.signal(id, "CONT")?;
        if let Some(slot) = self.lock().get_mut(&id) {
            slot.state = if continued {
                NodeState::Running { pid }
            } else {
                NodeState::Exited { status: "gone".into(), code: None }
            };
        }
        Ok(continued)
    }

    fn wipe(&self, id: NodeId) -> anyhow::Result<()> {
        let data_dir = {
            let nodes = self.lock();
            let Some(slot) = nodes.get(&id) else { bail!("node {id} was never started on this host") };
            if slot.state.is_alive() {
                bail!("node {id} is alive; kill it before wiping its data");
            }
            slot.spec.data_dir.clone()
        };
        self.remotes.run_ok(id, &scripts::wipe(&self.remote_path(id, &data_dir)))?;
        Ok(())
    }

    fn state(&self, id: NodeId) -> NodeState {
        self.lock().get(&id).map_or(NodeState::NotStarted, |s| s.state.clone())
    }

    fn log_path(&self, id: NodeId) -> Option<PathBuf> {
        let local = self.lock().get(&id)?.spec.log_path.clone();
        if self.finished.load(std::sync::atomic::Ordering::SeqCst) {
            return Some(local);
        }
        if let Err(e) = self.fetch_log(id, &local) {
            eprintln!("faultline: fetching the log of node {id}: {e:#}");
        }
        Some(local)
    }

    fn addresses(&self, id: NodeId) -> Option<NodeAddrs> {
        self.lock().get(&id).map(|s| s.spec.addrs)
    }

    fn kill_all(&self) {
        if self.finished.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let pid_files: BTreeMap<NodeId, PathBuf> =
            self.lock().keys().map(|&id| (id, layout::pid_file(&self.tag, id))).collect();
        if pid_files.is_empty() {
            return;
        }
        let results = self.remotes.run_everywhere(|id| match pid_files.get(&id) {
            Some(pid_file) => scripts::signal(pid_file, "KILL"),
            None => "true".into(),
        });
        for (id, result) in results {
            if let Err(e) = result {
                eprintln!("faultline: killing node {id}: {e:#}");
            }
        }
        let logs: Vec<(NodeId, PathBuf)> = {
            let mut nodes = self.lock();
            for slot in nodes.values_mut() {
                if slot.state.is_alive() {
                    slot.state = NodeState::Exited { status: "killed by SIGKILL".into(), code: None };
                }
            }
            nodes.iter().map(|(&id, s)| (id, s.spec.log_path.clone())).collect()
        };
        for (id, local) in logs {
            if let Err(e) = self.fetch_log(id, &local) {
                eprintln!("faultline: fetching the log of node {id}: {e:#}");
            }
        }
    }
}
