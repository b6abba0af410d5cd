//! Connections to the run's hosts: one OpenSSH control master per host (the `openssh`
//! crate, process multiplexing), every command a new channel on it, and uploads with `scp`
//! through the same control socket.
//!
//! The [`crate::host::Host`] and [`crate::net::Network`] traits are synchronous and are
//! called from the run's async tasks, while `openssh` is async; so [`Remotes`] owns a small
//! runtime of its own, and [`Remotes::block`] runs a future there and waits for it on a
//! plain channel, with a deadline. That works from any thread, inside the run's runtime or
//! outside it (a destructor), and one slow host never stalls the run's own workers beyond
//! the deadline.
//!
//! Host keys: with `--ssh-known-hosts FILE` every host must be in FILE (strict checking:
//! the lab writes one for its generated key); without it, a host seen for the first time
//! is added to the user's own known_hosts and a changed key is refused (`accept-new`).
//! Authentication is by key only: `--ssh-key`, or whatever the agent and the user's ssh
//! configuration offer.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use nodes::api::NodeId;
use openssh::{KnownHosts, Session, SessionBuilder};

use super::hosts::SshTarget;
use super::quote::quote;

/// How long connecting to one host may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one remote command may take (they are short scripts; a start waits at most
/// 10 s for its pid file).
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(20);
/// How long checking every control connection may take.
pub const CHECK_DEADLINE: Duration = Duration::from_secs(5);
/// How long one upload may take.
pub const UPLOAD_DEADLINE: Duration = Duration::from_secs(120);
/// Keep-alive interval of the control masters: a host that stops answering is declared
/// lost after three missed intervals.
const ALIVE_INTERVAL: Duration = Duration::from_secs(2);

/// How to reach the hosts.
#[derive(Debug, Clone, Default)]
pub struct SshOptions {
    /// The private key (`--ssh-key`); `None`: the agent's keys and the ssh configuration's.
    pub key: Option<PathBuf>,
    /// A known_hosts file that must list every host (`--ssh-known-hosts`).
    pub known_hosts: Option<PathBuf>,
}

/// What a remote command said.
#[derive(Debug, Clone)]
pub struct RemoteOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// One host's connection.
pub struct Remote {
    pub target: SshTarget,
    session: Arc<Session>,
}

impl Remote {
    /// `node N (user@host)`, for errors.
    pub fn name(&self) -> String {
        format!("node {} ({})", self.target.line.id, self.target.line.destination())
    }
}

/// Every host of a run, connected.
pub struct Remotes {
    runtime: Option<tokio::runtime::Runtime>,
    hosts: BTreeMap<NodeId, Arc<Remote>>,
}

impl Remotes {
    /// Connect to every host at once; an error names the first host (in id order) that
    /// could not be reached, and closes the connections that were made.
    pub fn connect(targets: &[SshTarget], options: &SshOptions) -> anyhow::Result<Remotes> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("faultline-ssh")
            .enable_all()
            .build()
            .context("starting the SSH runtime")?;
        let mut remotes = Remotes { runtime: Some(runtime), hosts: BTreeMap::new() };
        let mut attempts = Vec::new();
        for target in targets {
            let target = target.clone();
            let options = options.clone();
            attempts.push(async move {
                let result = connect_one(&target, &options).await;
                (target, result)
            });
        }
        let results = remotes.block(CONNECT_TIMEOUT + Duration::from_secs(5), async move {
            Ok(futures_join_all(attempts).await)
        })?;
        let mut first_error = None;
        let mut results: Vec<_> = results;
        results.sort_by_key(|(target, _)| target.line.id);
        for (target, result) in results {
            match result {
                Ok(session) => {
                    remotes
                        .hosts
                        .insert(target.line.id, Arc::new(Remote { target, session: Arc::new(session) }));
                }
                Err(e) => {
                    let line = &target.line;
                    first_error.get_or_insert(anyhow!(
                        "cannot reach node {} ({}): {e:#}",
                        line.id,
                        line.destination()
                    ));
                }
            }
        }
        if let Some(missing) = targets.iter().find(|t| !remotes.hosts.contains_key(&t.line.id)) {
            first_error.get_or_insert(anyhow!(
                "cannot reach node {} ({}): no answer",
                missing.line.id,
                missing.line.destination()
            ));
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(remotes),
        }
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.hosts.keys().copied().collect()
    }

    pub fn get(&self, id: NodeId) -> anyhow::Result<&Arc<Remote>> {
        self.hosts.get(&id).ok_or_else(|| anyhow!("node {id} has no SSH host in this run"))
    }

    /// Run `future` on the SSH runtime and wait for it, at most `deadline`.
    pub fn block<T: Send + 'static>(
        &self,
        deadline: Duration,
        future: impl Future<Output = anyhow::Result<T>> + Send + 'static,
    ) -> anyhow::Result<T> {
        let runtime = self.runtime.as_ref().ok_or_else(|| anyhow!("the SSH connections are closed"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        let task = runtime.spawn(async move {
            let result = tokio::time::timeout(deadline, future).await;
            let _ = tx.send(result);
        });
        match rx.recv() {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => bail!("no answer within {deadline:?}"),
            Err(_) => {
                task.abort();
                bail!("the SSH runtime stopped")
            }
        }
    }

    /// Run `script` on node `id`'s host.
    pub fn run(&self, id: NodeId, script: &str) -> anyhow::Result<RemoteOutput> {
        let remote = self.get(id)?.clone();
        let name = remote.name();
        let script = script.to_string();
        self.block(COMMAND_DEADLINE, async move { run_script(&remote, &script).await })
            .with_context(|| format!("on {name}"))
    }

    /// Like [`Remotes::run`], but a failed script is an error quoting its stderr; its stdout.
    pub fn run_ok(&self, id: NodeId, script: &str) -> anyhow::Result<String> {
        let out = self.run(id, script)?;
        if !out.success {
            bail!("on {}: {}", self.get(id)?.name(), crate::netns::command::one_line(&out.stderr));
        }
        Ok(out.stdout)
    }

    /// Run a script on every host at once (`script(id)`); each host's result.
    pub fn run_everywhere(
        &self,
        script: impl Fn(NodeId) -> String,
    ) -> BTreeMap<NodeId, anyhow::Result<RemoteOutput>> {
        let jobs: Vec<_> = self
            .hosts
            .iter()
            .map(|(&id, remote)| {
                let remote = remote.clone();
                let script = script(id);
                async move {
                    (id, run_script(&remote, &script).await.with_context(|| format!("on {}", remote.name())))
                }
            })
            .collect();
        match self.block(COMMAND_DEADLINE, async move { Ok(futures_join_all(jobs).await) }) {
            Ok(results) => results.into_iter().collect(),
            Err(e) => {
                let why = format!("{e:#}");
                self.hosts.keys().map(|&id| (id, Err(anyhow!("{why}")))).collect()
            }
        }
    }

    /// Whether each host's control connection is still up (`ssh -O check`). A host that
    /// stops answering loses its master after three missed keep-alives.
    pub fn check_all(&self) -> BTreeMap<NodeId, anyhow::Result<()>> {
        let jobs: Vec<_> = self
            .hosts
            .iter()
            .map(|(&id, remote)| {
                let remote = remote.clone();
                async move { (id, remote.session.check().await.map_err(anyhow::Error::from)) }
            })
            .collect();
        match self.block(CHECK_DEADLINE, async move { Ok(futures_join_all(jobs).await) }) {
            Ok(results) => results.into_iter().collect(),
            Err(e) => {
                let why = format!("{e:#}");
                self.hosts.keys().map(|&id| (id, Err(anyhow!("{why}")))).collect()
            }
        }
    }

    /// Copy the local file `local` to `remote` on node `id`'s host (`scp` through the host's
    /// control socket), creating the remote directory first and keeping the file's mode.
    pub fn upload(&self, id: NodeId, local: &Path, remote_path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = remote_path.parent() {
            self.run_ok(id, &format!("mkdir -p {}", quote(&dir.display().to_string())))?;
        }
        let remote = self.get(id)?.clone();
        let what = format!("uploading {} to {}", local.display(), remote.name());
        let local = local.to_path_buf();
        let remote_path = remote_path.to_path_buf();
        self.block(UPLOAD_DEADLINE, async move {
            let target = &remote.target;
            let ctl = remote.session.control_socket().to_path_buf();
            let out = tokio::process::Command::new("scp")
                .arg("-q")
                .arg("-p")
                .args(["-o", "BatchMode=yes", "-o", "ControlMaster=no"])
                .arg("-o")
                .arg(format!("ControlPath={}", ctl.display()))
                .args(["-P", &target.line.port.to_string()])
                .arg(&local)
                .arg(format!("{}@{}:{}", target.line.user, target.addr, remote_path.display()))
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output()
                .await
                .context("running scp")?;
            if !out.status.success() {
                bail!(
                    "scp failed: {}",
                    crate::netns::command::one_line(&String::from_utf8_lossy(&out.stderr))
                );
            }
            Ok(())
        })
        .context(what)
    }
}

impl Drop for Remotes {
    fn drop(&mut self) {
        // Close every control master (each is an `ssh` process of ours), then stop the
        // runtime without blocking: this may run inside another runtime.
        let hosts = std::mem::take(&mut self.hosts);
        let closing = async move {
            for (_, remote) in hosts {
                if let Ok(remote) = Arc::try_unwrap(remote) {
                    if let Ok(session) = Arc::try_unwrap(remote.session) {
                        let _ = session.close().await;
                    }
                }
            }
            Ok(())
        };
        let _ = self.block(Duration::from_secs(5), closing);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn connect_one(target: &SshTarget, options: &SshOptions) -> anyhow::Result<Session> {
    let mut builder = SessionBuilder::default();
    builder
        .user(target.line.user.clone())
        .port(target.line.port)
        .connect_timeout(CONNECT_TIMEOUT)
        .server_alive_interval(ALIVE_INTERVAL)
        .control_directory(std::env::temp_dir());
    if let Some(key) = &options.key {
        builder.keyfile(key);
    }
    match &options.known_hosts {
        Some(file) => {
            builder.known_hosts_check(KnownHosts::Strict).user_known_hosts_file(file);
        }
        None => {
            builder.known_hosts_check(KnownHosts::Add);
        }
    }
    Ok(builder.connect(target.addr.to_string()).await?)
}

async fn run_script(remote: &Remote, script: &str) -> anyhow::Result<RemoteOutput> {
    let out = remote.session.clone().arc_raw_command(script).output().await?;
    Ok(RemoteOutput {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Await every future concurrently; their outputs in the order they finished. A future
/// whose task was cancelled (the runtime stopping) has no output.
async fn futures_join_all<F: Future + Send + 'static>(futures: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for future in futures {
        set.spawn(future);
    }
    let mut out = Vec::new();
    while let Some(done) = set.join_next().await {
        match done {
            Ok(value) => out.push(value),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
    out
}
