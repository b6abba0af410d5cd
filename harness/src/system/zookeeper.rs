//! ZooKeeper: a replicated tree of znodes ordered by ZAB, tested through its own binary
//! protocol with the `zookeeper-client` crate.
//!
//! Each node is one server of a static ensemble, started from Debian's `zookeeper` package
//! as `java -cp /usr/share/java/zookeeper.jar ... QuorumPeerMain <run>/nodes/<id>.zoo.cfg`
//! (argv, never a shell). The configuration lists every server's address with its quorum
//! (2888) and election (3888) ports, binds the client port (2181) to the node's own
//! address, whitelists the `srvr`, `stat`, `mntr` and `ruok` four-letter words and turns
//! the admin web server off. The server's `myid` is written into its data directory
//! (`<run>/data/<id>`), where ZooKeeper insists on finding it. A server with a replaced
//! disk does not start until an operator provisions its `myid` again, so every start after
//! a server's first does that first, when the file is gone (`lose-disk`): its
//! [`NodeSpec::rejoin_argv`] is `/bin/sh` with a fixed script ([`PROVISION_MYID`]) that
//! writes the file if it is missing and then runs the server, the path, the id and the
//! server's argv passed as arguments, never as script text. The server then joins the
//! ensemble with an empty log and no memory of what it acknowledged. The JVM heap is
//! capped ([`ZkOptions::heap_mb`]) so that five servers fit on a small machine.
//!
//! Clients: one session per node, connected to that node's server only, so an operation
//! sent to node `n` is served by `n`'s server (ZooKeeper's clients normally roam the
//! ensemble). A session that expires is replaced by a new one on the next operation.
//!
//! The register workload keeps one persistent znode per key (`/faultline-<key>`, value as
//! decimal text):
//! - `read`: `getData`, answered by the connected server from its own state. ZooKeeper
//!   promises sequential consistency, not linearizability: a server behind the leader (or
//!   an old leader that has not noticed it was cut off) serves what it has. With
//!   [`ZkOptions::sync_reads`] (`--zk-sync-reads`) each read first sends `sync`, which
//!   makes the server catch up with the leader before the read is answered. An absent
//!   znode reads `null`.
//! - `write`: `setData` without a version; when the znode does not exist yet, `create`
//!   (and `setData` again if another client created it in between).
//! - `cas`: `getData`, compare with `from`, then `setData` with the version read. The
//!   leader checks the version when it orders the write, so the write happens only if
//!   nothing changed the znode since the read.
//!
//! The queue workload is ZooKeeper's queue recipe, the queue a persistent znode
//! (`/faultline-<key>`) and each element a child of it named after the element
//! (`e-<element>`, non-negative elements zero-padded so that names sort as numbers):
//! - `enqueue`: `create` the element's child (and the queue's znode first, if absent). An
//!   element already queued is refused (`NodeExists`), never merged into one copy.
//! - `dequeue`: `getChildren` (after a `sync` with [`ZkOptions::sync_reads`]), then
//!   `delete` of the first child in order. The leader orders the deletes, so one dequeue
//!   gets each child; a child another dequeue deleted first (`NoNode`) sends this one to the
//!   next. No children, or no queue znode yet: the dequeue answers null. Only the delete
//!   takes an element, so a dequeue is `info` only when a delete's answer is lost.
//!
//! Classification ([`write_outcome`], pure): reads change nothing, so any read that did not
//! produce a value is `fail`. A write or cas step is `fail` only when ZooKeeper's answer
//! proves it did not happen: `BadVersion`, `NoNode`, `NodeExists` and the errors a server
//! raises before a request enters the pipeline (bad arguments, no authorisation,
//! throttling, read-only server, unimplemented). A connection loss, a session that expired
//! or closed while the request was out, an operation timeout or an unreadable answer leave
//! it possible: `info`. An operation that never had a session to go out on is `fail`.
//!
//! Roles come from the `srvr` four-letter word on the client port: `Mode: leader` or
//! `follower`, and the epoch as the high 32 bits of `Zxid` (a new leader's zxid starts at
//! `epoch << 32`). A server that has no quorum answers that it is not serving requests,
//! which is also what [`Probe::health`] reports.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context};
use checkers::EventType;
use nodes::api::{NodeId, Role, Status};
use results::RunDir;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use workloads::{Op, WorkloadName};
use zookeeper_client as zk;

use super::outcome::Completion;
use super::{BoxFuture, System, SystemName, Topology};
use crate::host::{Clocks, NodeAddrs, NodeSpec, Operator, Probe};

/// The port servers serve clients (and the four-letter words) on.
pub const CLIENT_PORT: u16 = 2181;
/// The port followers connect to the leader on.
pub const QUORUM_PORT: u16 = 2888;
/// The port servers elect a leader on.
pub const ELECTION_PORT: u16 = 3888;
/// The Debian package that provides the server.
pub const PACKAGE: &str = "zookeeper";
/// The largest four-letter-word answer we read; `srvr` is a few hundred bytes.
const MAX_WORD_ANSWER: u64 = 64 * 1024;
/// How many times a write retries `setData`/`create` when the znode appears or vanishes
/// between the two (no client deletes znodes, so one retry suffices; this is the limit).
const WRITE_ATTEMPTS: usize = 3;

/// How to run and use the ensemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkOptions {
    /// Send `sync` before every read, so reads see every write the leader committed.
    pub sync_reads: bool,
    /// The Java launcher (looked up in `PATH` when bare).
    pub java: PathBuf,
    /// Where Debian installs the jars (`zookeeper.jar` names its dependencies itself).
    pub jar_dir: PathBuf,
    /// The JVM's maximum heap, in MiB.
    pub heap_mb: u32,
    /// ZooKeeper's `tickTime`, the unit of its other timeouts.
    pub tick_ms: u32,
    /// Ticks a follower may take to connect and sync to a new leader (`initLimit`).
    pub init_limit: u32,
    /// Ticks a follower may fall behind before it is dropped (`syncLimit`); also how long an
    /// isolated leader keeps leading.
    pub sync_limit: u32,
    /// The client session timeout asked for (the server clamps it to 2..20 ticks).
    pub session_timeout: Duration,
}

impl Default for ZkOptions {
    fn default() -> Self {
        ZkOptions {
            sync_reads: false,
            java: PathBuf::from("java"),
            jar_dir: PathBuf::from("/usr/share/java"),
            heap_mb: 256,
            tick_ms: 500,
            init_limit: 10,
            sync_limit: 4,
            session_timeout: Duration::from_secs(4),
        }
    }
}

impl ZkOptions {
    fn server_jar(&self) -> PathBuf {
        self.jar_dir.join("zookeeper.jar")
    }
}

/// A ZooKeeper ensemble: one server per node of the topology.
pub struct ZooKeeper {
    topology: Topology,
    options: ZkOptions,
    /// The session of each node's client, made on first use and replaced once it ends.
    sessions: Mutex<BTreeMap<NodeId, zk::Client>>,
}

impl ZooKeeper {
    pub fn new(topology: Topology, options: ZkOptions) -> ZooKeeper {
        ZooKeeper { topology, options, sessions: Mutex::new(BTreeMap::new()) }
    }

    fn client_addr(&self, id: NodeId) -> Option<SocketAddr> {
        self.topology.nodes.get(&id).map(|&ip| SocketAddr::new(ip, CLIENT_PORT))
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, BTreeMap<NodeId, zk::Client>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A live session to `node`'s server, opening one if there is none, by `deadline`.
    /// An error means nothing could be sent.
    async fn session(&self, node: NodeId, deadline: Instant) -> Result<zk::Client, String> {
        if let Some(client) = self.lock_sessions().get(&node) {
            if !client.state().is_terminated() {
                return Ok(client.clone());
            }
        }
        let Some(addr) = self.client_addr(node) else {
            return Err(format!("no node {node} in the topology"));
        };
        let cluster = addr.to_string();
        let connecting = zk::Client::connector()
            .with_session_timeout(self.options.session_timeout)
            .with_fail_eagerly()
            .connect(&cluster);
        let client = match tokio::time::timeout_at(deadline, connecting).await {
            Err(_) => return Err(format!("no session with {addr} before the deadline")),
            Ok(Err(e)) => return Err(format!("no session with {addr}: {e}")),
            Ok(Ok(client)) => client,
        };
        let mut sessions = self.lock_sessions();
        match sessions.get(&node) {
            // Another operation opened one meanwhile: share it, and let ours close.
            Some(existing) if !existing.state().is_terminated() => Ok(existing.clone()),
            _ => {
                sessions.insert(node, client.clone());
                Ok(client)
            }
        }
    }

    async fn read(&self, client: &zk::Client, op: &Op, key: &str, deadline: Instant) -> Completion {
        let path = znode(key);
        if self.options.sync_reads {
            match within(deadline, client.sync(&path)).await {
                Call::Done(()) => {}
                other => return ended(EventType::Fail, op, format!("sync: {}", other.describe())),
            }
        }
        read_outcome(op, within(deadline, client.get_data(&path)).await)
    }

    async fn write(
        &self,
        client: &zk::Client,
        op: &Op,
        key: &str,
        value: i64,
        deadline: Instant,
    ) -> Completion {
        let path = znode(key);
        let data = value.to_string().into_bytes();
        for _ in 0..WRITE_ATTEMPTS {
            match within(deadline, client.set_data(&path, &data, None)).await {
                Call::Failed(zk::Error::NoNode) => {}
                other => return write_outcome(op, other),
            }
            let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            match within(deadline, client.create(&path, &data, &options)).await {
                Call::Failed(zk::Error::NodeExists) => {}
                other => return write_outcome(op, other),
            }
        }
        ended(EventType::Fail, op, format!("the znode {path} kept appearing and vanishing"))
    }

    async fn cas(
        &self,
        client: &zk::Client,
        op: &Op,
        key: &str,
        from: i64,
        to: i64,
        deadline: Instant,
    ) -> Completion {
        let path = znode(key);
        let version = match within(deadline, client.get_data(&path)).await {
            Call::Done((data, stat)) => match parse_value(&data) {
                Ok(found) if found == from => stat.version,
                Ok(found) => {
                    return ended(EventType::Fail, op, format!("precondition_failed: the value is {found}"))
                }
                Err(e) => return ended(EventType::Fail, op, format!("not sent: unreadable value: {e}")),
            },
            Call::Failed(zk::Error::NoNode) => {
                return ended(EventType::Fail, op, "precondition_failed: the znode does not exist".into())
            }
            other => return ended(EventType::Fail, op, format!("not sent: reading: {}", other.describe())),
        };
        let written =
            within(deadline, client.set_data(&path, to.to_string().as_bytes(), Some(version))).await;
        match written {
            Call::Failed(zk::Error::BadVersion) => {
                ended(EventType::Fail, op, "precondition_failed: the znode changed since it was read".into())
            }
            other => write_outcome(op, other),
        }
    }

    async fn enqueue(
        &self,
        client: &zk::Client,
        op: &Op,
        queue: &str,
        element: i64,
        deadline: Instant,
    ) -> Completion {
        let parent = znode(queue);
        let child = element_znode(queue, element);
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        for _ in 0..WRITE_ATTEMPTS {
            match within(deadline, client.create(&child, element.to_string().as_bytes(), &options)).await {
                // The queue's znode is not there yet: make it, then the element.
                Call::Failed(zk::Error::NoNode) => {}
                Call::Failed(zk::Error::NodeExists) => {
                    return ended(
                        EventType::Fail,
                        op,
                        "precondition_failed: the element is queued already".into(),
                    )
                }
                other => return write_outcome(op, other),
            }
            match within(deadline, client.create(&parent, b"", &options)).await {
                Call::Done(_) | Call::Failed(zk::Error::NodeExists) => {}
                other => {
                    return ended(
                        EventType::Fail,
                        op,
                        format!("not sent: the queue's znode: {}", other.describe()),
                    )
                }
            }
        }
        ended(EventType::Fail, op, format!("the queue's znode {parent} kept vanishing"))
    }

    async fn dequeue(&self, client: &zk::Client, op: &Op, queue: &str, deadline: Instant) -> Completion {
        let parent = znode(queue);
        loop {
            if self.options.sync_reads {
                match within(deadline, client.sync(&parent)).await {
                    Call::Done(()) | Call::Failed(zk::Error::NoNode) => {}
                    other => return ended(EventType::Fail, op, format!("sync: {}", other.describe())),
                }
            }
            let mut children = match within(deadline, client.list_children(&parent)).await {
                Call::Done(children) => children,
                Call::Failed(zk::Error::NoNode) => Vec::new(),
                other => return ended(EventType::Fail, op, format!("listing: {}", other.describe())),
            };
            if children.is_empty() {
                return Completion {
                    kind: EventType::Ok,
                    value: Value::Null,
                    error: None,
                    leader_hint: None,
                };
            }
            children.sort_unstable();
            for name in &children {
                let Some(element) = element_of(name) else {
                    return ended(
                        EventType::Fail,
                        op,
                        format!("not sent: {name:?} is not an element's znode"),
                    );
                };
                let deleted = within(deadline, client.delete(&format!("{parent}/{name}"), None)).await;
                if let Some(completion) = take_outcome(op, element, deleted) {
                    return completion;
                }
            }
            // Every child listed was taken by others first: list again.
        }
    }
}

impl Operator for ZooKeeper {
    fn system_name(&self) -> &'static str {
        "zookeeper"
    }
}

/// The script of a server's later starts: `$1` is the `myid` path, `$2` the id, the rest
/// the server's argv. Writes `myid` only where it is missing, so a server that kept its
/// disk starts exactly as before.
pub const PROVISION_MYID: &str = r#"[ -e "$1" ] || printf '%s\n' "$2" > "$1" || exit 1; shift 2; exec "$@""#;

/// `argv` run by [`PROVISION_MYID`] for server `id` whose `myid` lives at `myid`.
fn provisioning(myid: &Path, id: NodeId, argv: &[OsString]) -> Vec<OsString> {
    let mut wrapped: Vec<OsString> = vec![
        "/bin/sh".into(),
        "-c".into(),
        PROVISION_MYID.into(),
        "zookeeper-provision".into(),
        myid.into(),
        id.to_string().into(),
    ];
    wrapped.extend(argv.iter().cloned());
    wrapped
}

/// Why a clock fault is not offered on ZooKeeper; said at run start and in each not-taken
/// record.
pub const ZK_CLOCK_REASON: &str = "ZooKeeper's clock is not skewed: the JVM times its sessions and elections with \
     the monotonic clock, which libfaketime would have to fake for the whole JVM (its GC and JIT threads too)";

/// Refuses with [`ZK_CLOCK_REASON`], so clock faults are recorded as not taken.
impl Clocks for ZooKeeper {
    fn clock_refusal(&self) -> Option<&'static str> {
        Some(ZK_CLOCK_REASON)
    }
}

impl System for ZooKeeper {
    fn name(&self) -> &'static str {
        "zookeeper"
    }

    fn version(&self) -> String {
        jar_version(&self.options.server_jar())
    }

    fn workloads(&self) -> &'static [WorkloadName] {
        SystemName::ZooKeeper.workloads()
    }

    fn node_spec(&self, id: NodeId, run_dir: &Path) -> anyhow::Result<NodeSpec> {
        let Some(&ip) = self.topology.nodes.get(&id) else {
            bail!("zookeeper: node {id} is not in the topology");
        };
        let o = &self.options;
        let jar = o.server_jar();
        if !jar.is_file() {
            bail!(
                "zookeeper: {} is missing; install the Debian package `{PACKAGE}` (apt-get install {PACKAGE})",
                jar.display()
            );
        }
        let data_dir = RunDir::node_data_at(run_dir, id);
        std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let [config, myid] = zk_files(id, run_dir);
        results::write_atomically(&myid, format!("{id}\n").as_bytes())?;
        let nodes_dir = RunDir::nodes_dir_at(run_dir);
        std::fs::create_dir_all(&nodes_dir).with_context(|| format!("creating {}", nodes_dir.display()))?;
        results::write_atomically(&config, zoo_cfg(id, &self.topology, &data_dir, o).as_bytes())?;
        let mut classpath = OsString::from(jar.as_os_str());
        let logger = o.jar_dir.join("slf4j-simple.jar");
        if logger.is_file() {
            classpath.push(":");
            classpath.push(&logger);
        }
        let argv: Vec<OsString> = vec![
            o.java.clone().into(),
            format!("-Xmx{}m", o.heap_mb).into(),
            "-Xms32m".into(),
            // One GC thread and the quick compiler: small and fast to start.
            "-XX:+UseSerialGC".into(),
            "-XX:TieredStopAtLevel=1".into(),
            // No shared-memory statistics file in /tmp/hsperfdata_<user>: a JVM that is
            // killed (as the nemesis kills nodes) leaves its file behind.
            "-XX:-UsePerfData".into(),
            "-Djava.net.preferIPv4Stack=true".into(),
            // Give up on an unreachable peer's election port quickly (default 5 s).
            "-Dzookeeper.cnxTimeout=1000".into(),
            "-Dorg.slf4j.simpleLogger.showDateTime=true".into(),
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS".into(),
            "-cp".into(),
            classpath,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain".into(),
            config.into(),
        ];
        let rejoin_argv = Some(provisioning(&myid, id, &argv));
        Ok(NodeSpec {
            id,
            argv,
            rejoin_argv,
            data_dir,
            log_path: RunDir::node_log_at(run_dir, id),
            addrs: NodeAddrs {
                peer_listen: SocketAddr::new(ip, QUORUM_PORT),
                client: SocketAddr::new(ip, CLIENT_PORT),
            },
        })
    }

    /// The configuration (naming the data directory, which a host rebases) and `myid`.
    fn node_files(&self, id: NodeId, run_dir: &Path) -> Vec<PathBuf> {
        zk_files(id, run_dir).into()
    }

    fn invoke<'a>(&'a self, node: NodeId, op: &'a Op, timeout: Duration) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            let deadline = Instant::now() + timeout;
            let unsupported =
                || ended(EventType::Fail, op, format!("not sent: zookeeper has no client for {op:?}"));
            if !matches!(
                op,
                Op::Read { .. } | Op::Write { .. } | Op::Cas { .. } | Op::Enqueue { .. } | Op::Dequeue { .. }
            ) {
                return unsupported();
            }
            let client = match self.session(node, deadline).await {
                Ok(client) => client,
                Err(e) => return ended(EventType::Fail, op, format!("not sent: {e}")),
            };
            match op {
                Op::Read { key } => self.read(&client, op, key, deadline).await,
                Op::Write { key, value } => self.write(&client, op, key, *value, deadline).await,
                Op::Cas { key, from, to } => self.cas(&client, op, key, *from, *to, deadline).await,
                Op::Enqueue { key, element } => self.enqueue(&client, op, key, *element, deadline).await,
                Op::Dequeue { key } => self.dequeue(&client, op, key, deadline).await,
                _ => unsupported(),
            }
        })
    }
}

impl Probe for ZooKeeper {
    /// `srvr` answers with a mode only while the server has a quorum and serves clients.
    fn health(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            self.srvr(id, timeout).await?;
            Ok(())
        })
    }

    fn status(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<Status>> {
        Box::pin(async move {
            let srvr = self.srvr(id, timeout).await?;
            let leading = srvr.mode.is_leading();
            Ok(Status {
                id,
                protocol: "zab".to_string(),
                role: if leading { Role::Leader } else { Role::Follower },
                term: srvr.epoch(),
                // `srvr` does not say who leads; only a leader names itself.
                leader: leading.then_some(id),
                commit_index: srvr.zxid,
                applied_index: srvr.zxid,
            })
        })
    }
}

impl ZooKeeper {
    /// Ask node `id`'s server `srvr` and parse the answer.
    async fn srvr(&self, id: NodeId, timeout: Duration) -> anyhow::Result<Srvr> {
        let Some(addr) = self.client_addr(id) else { bail!("no node {id} in the topology") };
        let text = four_letter_word(addr, "srvr", timeout)
            .await
            .with_context(|| format!("zookeeper node {id} ({addr}) srvr"))?;
        parse_srvr(&text).map_err(|e| anyhow::anyhow!("zookeeper node {id} ({addr}): {e}"))
    }
}

/// Send a four-letter word to `addr` and read the answer until the server closes, within
/// `timeout` and at most [`MAX_WORD_ANSWER`] bytes.
async fn four_letter_word(addr: SocketAddr, word: &str, timeout: Duration) -> anyhow::Result<String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(word.as_bytes()).await?;
        let mut answer = Vec::new();
        (&mut stream).take(MAX_WORD_ANSWER).read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => bail!("no answer within {timeout:?}"),
        Ok(Err(e)) => Err(e.into()),
        Ok(Ok(answer)) => Ok(String::from_utf8_lossy(&answer).into_owned()),
    }
}

/// A server's mode, as `srvr` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Leader,
    Follower,
    Observer,
    /// A single server, no ensemble: it orders its own writes.
    Standalone,
    /// Cut off from the quorum but serving reads (only with read-only mode enabled).
    ReadOnly,
}

impl Mode {
    fn is_leading(self) -> bool {
        matches!(self, Mode::Leader | Mode::Standalone)
    }
}

/// What `srvr` says about a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Srvr {
    pub mode: Mode,
    /// The last transaction id the server has seen: `(epoch << 32) | counter`.
    pub zxid: u64,
}

impl Srvr {
    /// The ZAB epoch: the zxid's high 32 bits.
    pub fn epoch(&self) -> u64 {
        self.zxid >> 32
    }
}

/// Parse a `srvr` answer. A server without a quorum says it is not serving requests.
pub fn parse_srvr(text: &str) -> Result<Srvr, String> {
    if text.contains("not currently serving requests") {
        return Err("not serving requests (no quorum)".to_string());
    }
    let field = |name: &str| {
        text.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).ok_or_else(|| {
            let first = text.lines().next().unwrap_or_default();
            format!("no {name:?} in the srvr answer (first line {first:?})")
        })
    };
    let mode = match field("Mode:")? {
        "leader" => Mode::Leader,
        "follower" => Mode::Follower,
        "observer" => Mode::Observer,
        "standalone" => Mode::Standalone,
        "read-only" => Mode::ReadOnly,
        other => return Err(format!("unknown mode {other:?}")),
    };
    let zxid_text = field("Zxid:")?;
    let zxid = zxid_text
        .strip_prefix("0x")
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or_else(|| format!("zxid {zxid_text:?} is not hexadecimal"))?;
    Ok(Srvr { mode, zxid })
}

/// Node `id`'s `zoo.cfg`: the whole ensemble, each server on its own address.
pub fn zoo_cfg(id: NodeId, topology: &Topology, data_dir: &Path, o: &ZkOptions) -> String {
    let mut text = String::new();
    let mut line = |l: String| {
        text.push_str(&l);
        text.push('\n');
    };
    line(format!("tickTime={}", o.tick_ms));
    line(format!("initLimit={}", o.init_limit));
    line(format!("syncLimit={}", o.sync_limit));
    line(format!("dataDir={}", data_dir.display()));
    line(format!("clientPort={CLIENT_PORT}"));
    if let Some(ip) = topology.nodes.get(&id) {
        line(format!("clientPortAddress={ip}"));
    }
    line("maxClientCnxns=0".into());
    line("4lw.commands.whitelist=srvr,stat,mntr,ruok".into());
    line("admin.enableServer=false".into());
    let mut servers = String::new();
    for (n, ip) in &topology.nodes {
        let _ = writeln!(servers, "server.{n}={ip}:{QUORUM_PORT}:{ELECTION_PORT}");
    }
    text.push_str(&servers);
    text
}

/// Node `id`'s files: `<run>/nodes/<id>.zoo.cfg` and `<run>/data/<id>/myid`.
fn zk_files(id: NodeId, run_dir: &Path) -> [PathBuf; 2] {
    [
        RunDir::nodes_dir_at(run_dir).join(format!("{id}.zoo.cfg")),
        RunDir::node_data_at(run_dir, id).join("myid"),
    ]
}

/// The znode of a register key, or of a queue.
fn znode(key: &str) -> String {
    format!("/faultline-{key}")
}

/// The znode of `element` in `queue`: non-negative elements zero-padded, so that names
/// sort in the elements' order.
fn element_znode(queue: &str, element: i64) -> String {
    if element >= 0 {
        format!("{}/e-{element:020}", znode(queue))
    } else {
        format!("{}/e-{element}", znode(queue))
    }
}

/// The element a queue's child is named after.
fn element_of(name: &str) -> Option<i64> {
    name.strip_prefix("e-")?.parse().ok()
}

/// How the delete of a queue's child ends a dequeue: `ok` with the element when it was
/// deleted, `None` when another dequeue deleted it first (try the next child), and
/// otherwise as a write ends (`info` unless ZooKeeper's answer proves nothing happened;
/// a timeout also ends the dequeue).
pub fn take_outcome(op: &Op, element: i64, call: Call<()>) -> Option<Completion> {
    match call {
        Call::Done(()) => {
            Some(Completion { kind: EventType::Ok, value: json!(element), error: None, leader_hint: None })
        }
        Call::Failed(zk::Error::NoNode) => None,
        other => Some(write_outcome(op, other)),
    }
}

/// How one call to a server ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Call<T> {
    Done(T),
    /// ZooKeeper (or the client, for a lost connection or session) answered an error.
    Failed(zk::Error),
    /// No answer before the operation's deadline.
    TimedOut,
}

impl<T> Call<T> {
    fn describe(&self) -> String {
        match self {
            Call::Done(_) => "done".to_string(),
            Call::Failed(e) => format!("{e} ({e:?})"),
            Call::TimedOut => "timeout".to_string(),
        }
    }
}

/// Await a call until `deadline`.
async fn within<T>(
    deadline: Instant,
    call: impl std::future::Future<Output = Result<T, zk::Error>>,
) -> Call<T> {
    match tokio::time::timeout_at(deadline, call).await {
        Err(_) => Call::TimedOut,
        Ok(Ok(value)) => Call::Done(value),
        Ok(Err(e)) => Call::Failed(e),
    }
}

/// Errors that prove a write did not happen: the server refused it before ordering it, or
/// the leader rejected it when ordering it (a version or existence check).
pub fn definite(error: &zk::Error) -> bool {
    use zk::Error::*;
    matches!(
        error,
        NoNode
            | NodeExists
            | BadVersion
            | NoAuth
            | InvalidAcl
            | BadArguments(_)
            | NoChildrenForEphemerals
            | NotEmpty
            | NotReadOnly
            | QuotaExceeded
            | Throttled
            | MarshallingError
            | Unimplemented
    )
}

/// How the last step of a write or cas ended becomes its completion.
pub fn write_outcome<T>(op: &Op, call: Call<T>) -> Completion {
    match call {
        Call::Done(_) => {
            Completion { kind: EventType::Ok, value: op.invoke_value(), error: None, leader_hint: None }
        }
        Call::Failed(e) if definite(&e) => ended(EventType::Fail, op, format!("{e} ({e:?})")),
        other => ended(EventType::Info, op, other.describe()),
    }
}

/// How a `getData` answer becomes a read's completion: a value, `null` for an absent
/// znode, and `fail` for anything else (a read changes nothing).
pub fn read_outcome(op: &Op, call: Call<(Vec<u8>, zk::Stat)>) -> Completion {
    match call {
        Call::Done((data, _)) => match parse_value(&data) {
            Ok(v) => Completion { kind: EventType::Ok, value: json!(v), error: None, leader_hint: None },
            Err(e) => ended(EventType::Fail, op, format!("unreadable value: {e}")),
        },
        Call::Failed(zk::Error::NoNode) => {
            Completion { kind: EventType::Ok, value: Value::Null, error: None, leader_hint: None }
        }
        other => ended(EventType::Fail, op, other.describe()),
    }
}

fn parse_value(data: &[u8]) -> Result<i64, String> {
    let text = std::str::from_utf8(data).map_err(|_| format!("{data:?} is not text"))?;
    text.parse().map_err(|_| format!("{text:?} is not an integer"))
}

/// A completion that is not `ok`: it carries the invocation's value.
fn ended(kind: EventType, op: &Op, error: String) -> Completion {
    Completion { kind, value: op.invoke_value(), error: Some(error), leader_hint: None }
}

/// The server's version, from the versioned name Debian gives the jar beside
/// `zookeeper.jar` (`zookeeper-3.8.0.jar`, a link to it, or the jar a link points to); a
/// line saying why when there is none.
fn jar_version(jar: &Path) -> String {
    let real = match std::fs::canonicalize(jar) {
        Ok(real) => real,
        Err(e) => return format!("unknown ({}: {e})", jar.display()),
    };
    let name_of = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if let Some(version) = parse_jar_version(&name_of(&real)) {
        return version;
    }
    let dir = jar.parent().unwrap_or(Path::new("."));
    let siblings = std::fs::read_dir(dir).into_iter().flatten().flatten().take(10_000);
    siblings
        .map(|entry| entry.path())
        .filter(|p| std::fs::canonicalize(p).is_ok_and(|r| r == real))
        .find_map(|p| parse_jar_version(&name_of(&p)))
        .unwrap_or_else(|| format!("unknown (no versioned name for {})", jar.display()))
}

fn parse_jar_version(file_name: &str) -> Option<String> {
    let version = file_name.strip_prefix("zookeeper-")?.strip_suffix(".jar")?;
    version.starts_with(|c: char| c.is_ascii_digit()).then(|| version.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn topology(n: u32) -> Topology {
        Topology { nodes: (1..=n).map(|i| (i, IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8)))).collect() }
    }

    /// A znode's stat with every field zero but its data version.
    fn stat(version: i32) -> zk::Stat {
        zk::Stat {
            czxid: 0,
            mzxid: 0,
            pzxid: 0,
            ctime: 0,
            mtime: 0,
            version,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 0,
            num_children: 0,
        }
    }

    #[test]
    fn the_configuration_lists_the_ensemble_with_both_ports() {
        let cfg = zoo_cfg(2, &topology(3), Path::new("/run/data/2"), &ZkOptions::default());
        let lines: Vec<&str> = cfg.lines().collect();
        for expected in [
            "dataDir=/run/data/2",
            "clientPort=2181",
            "clientPortAddress=10.0.0.2",
            "4lw.commands.whitelist=srvr,stat,mntr,ruok",
            "admin.enableServer=false",
            "server.1=10.0.0.1:2888:3888",
            "server.2=10.0.0.2:2888:3888",
            "server.3=10.0.0.3:2888:3888",
            "tickTime=500",
        ] {
            assert!(lines.contains(&expected), "{expected:?} missing from\n{cfg}");
        }
    }

    #[test]
    fn the_spec_writes_myid_and_the_configuration_and_runs_java() {
        let dir = tempfile::tempdir().unwrap();
        let jars = dir.path().join("jars");
        std::fs::create_dir_all(&jars).unwrap();
        std::fs::write(jars.join("zookeeper.jar"), b"").unwrap();
        let zk = ZooKeeper::new(topology(3), ZkOptions { jar_dir: jars.clone(), ..ZkOptions::default() });
        let run = dir.path().join("run");
        let spec = zk.node_spec(3, &run).unwrap();
        assert_eq!(std::fs::read_to_string(run.join("data/3/myid")).unwrap(), "3\n");
        let cfg = std::fs::read_to_string(run.join("nodes/3.zoo.cfg")).unwrap();
        assert!(cfg.contains("clientPortAddress=10.0.0.3"), "{cfg}");
        let argv: Vec<String> = spec.argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(argv[0], "java");
        assert!(argv.contains(&"-Xmx256m".to_string()), "{argv:?}");
        assert!(argv.contains(&"-XX:-UsePerfData".to_string()), "a killed JVM leaves no file in /tmp");
        assert_eq!(argv[argv.len() - 2], "org.apache.zookeeper.server.quorum.QuorumPeerMain");
        assert_eq!(argv[argv.len() - 1], run.join("nodes/3.zoo.cfg").to_string_lossy());
        assert_eq!(spec.data_dir, run.join("data/3"));
        assert_eq!(spec.log_path, run.join("nodes/3.log"));
        assert_eq!(spec.addrs.client.to_string(), "10.0.0.3:2181");
        let rejoin = spec.rejoin_argv.as_ref().expect("later starts provision myid");
        assert_eq!(rejoin[..3], ["/bin/sh", "-c", PROVISION_MYID]);
        assert_eq!(rejoin[4], run.join("data/3/myid").as_os_str());
        assert_eq!(rejoin[5], "3");
        assert_eq!(rejoin[6..], spec.argv[..], "then the server, as at its first start");

        let missing = ZooKeeper::new(
            topology(3),
            ZkOptions { jar_dir: dir.path().join("none"), ..ZkOptions::default() },
        );
        let e = missing.node_spec(1, &run).unwrap_err().to_string();
        assert!(e.contains("apt-get install zookeeper"), "{e}");
        assert!(zk.node_spec(9, &run).is_err(), "a node outside the topology");
    }

    /// A later start writes a missing `myid` and then runs the server's own argv, with
    /// arguments no shell ever reads as script; a `myid` that is there is left as it is.
    #[test]
    fn a_later_start_provisions_a_lost_myid_and_then_runs_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let myid = dir.path().join("data dir; $(touch pwned)").join("myid");
        std::fs::create_dir_all(myid.parent().unwrap()).unwrap();
        let server: Vec<OsString> = vec!["/bin/cat".into(), myid.clone().into()];
        let run = |argv: Vec<OsString>| {
            let out = std::process::Command::new(&argv[0])
                .args(&argv[1..])
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(run(provisioning(&myid, 3, &server)), "3\n", "written, then the server ran");
        std::fs::write(&myid, "kept\n").unwrap();
        assert_eq!(run(provisioning(&myid, 3, &server)), "kept\n", "an existing myid is not touched");
        assert!(!dir.path().join("pwned").exists());
    }

    #[test]
    fn srvr_gives_the_mode_and_the_epoch() {
        let leader = "Zookeeper version: 3.8.0-x, built on 2024-12-29\nLatency min/avg/max: 0/0.0/0\n\
                      Received: 1\nSent: 0\nConnections: 1\nOutstanding: 0\nZxid: 0x300000007\n\
                      Mode: leader\nNode count: 5\n";
        let s = parse_srvr(leader).unwrap();
        assert_eq!(s, Srvr { mode: Mode::Leader, zxid: 0x3_0000_0007 });
        assert_eq!(s.epoch(), 3);
        let follower = parse_srvr("Zxid: 0x0\nMode: follower\n").unwrap();
        assert_eq!((follower.mode, follower.epoch()), (Mode::Follower, 0));
        assert!(parse_srvr("This ZooKeeper instance is not currently serving requests\n")
            .unwrap_err()
            .contains("no quorum"));
        assert!(parse_srvr("Zxid: 0x1\n").unwrap_err().contains("Mode:"));
        assert!(parse_srvr("Zxid: 12\nMode: leader\n").unwrap_err().contains("hexadecimal"));
        assert!(parse_srvr("Zxid: 0x1\nMode: boss\n").unwrap_err().contains("boss"));
        assert!(parse_srvr("srvr is not executed because it is not in the whitelist.\n").is_err());
    }

    #[test]
    fn reads_give_the_value_or_null_and_otherwise_fail() {
        let read = Op::Read { key: "r1".into() };
        let c = read_outcome(&read, Call::Done((b"12".to_vec(), stat(3))));
        assert_eq!((c.kind, c.value), (EventType::Ok, json!(12)));
        let c = read_outcome(&read, Call::Failed(zk::Error::NoNode));
        assert_eq!((c.kind, c.value), (EventType::Ok, Value::Null));
        for call in [
            Call::Done((b"twelve".to_vec(), stat(1))),
            Call::Failed(zk::Error::ConnectionLoss),
            Call::Failed(zk::Error::SessionExpired),
            Call::TimedOut,
        ] {
            assert_eq!(read_outcome(&read, call.clone()).kind, EventType::Fail, "{call:?}");
        }
    }

    #[test]
    fn queue_elements_are_children_named_to_sort_as_numbers() {
        assert_eq!(element_znode("q", 42), "/faultline-q/e-00000000000000000042");
        assert_eq!(element_znode("q", -3), "/faultline-q/e--3");
        assert_eq!(element_of("e-00000000000000000042"), Some(42));
        assert_eq!(element_of("e--3"), Some(-3));
        assert_eq!(element_of("x-1"), None);
        assert_eq!(element_of("e-x"), None);
        let mut names = ["e-00000000000000000010".to_string(), "e-00000000000000000009".to_string()];
        names.sort_unstable();
        assert_eq!(element_of(&names[0]), Some(9), "children sort in the elements' order");
    }

    #[test]
    fn a_dequeue_takes_what_it_deleted_and_moves_on_from_what_others_took() {
        let dequeue = Op::Dequeue { key: "q".into() };
        let c = take_outcome(&dequeue, 7, Call::Done(())).unwrap();
        assert_eq!((c.kind, c.value), (EventType::Ok, json!(7)));
        assert_eq!(take_outcome(&dequeue, 7, Call::Failed(zk::Error::NoNode)), None, "taken first: next");
        let lost = take_outcome(&dequeue, 7, Call::Failed(zk::Error::ConnectionLoss)).unwrap();
        assert_eq!((lost.kind, lost.value), (EventType::Info, Value::Null), "the delete may have happened");
        assert_eq!(take_outcome(&dequeue, 7, Call::TimedOut).unwrap().kind, EventType::Info);
        assert_eq!(
            take_outcome(&dequeue, 7, Call::Failed(zk::Error::NotReadOnly)).unwrap().kind,
            EventType::Fail
        );
    }

    #[test]
    fn a_write_fails_only_on_errors_that_prove_it_did_not_happen() {
        let write = Op::Write { key: "r1".into(), value: 3 };
        let c = write_outcome(&write, Call::Done(stat(1)));
        assert_eq!((c.kind, c.value), (EventType::Ok, json!(3)));
        for definite in
            [zk::Error::BadVersion, zk::Error::NoNode, zk::Error::NodeExists, zk::Error::Throttled]
        {
            let c = write_outcome::<()>(&write, Call::Failed(definite.clone()));
            assert_eq!((c.kind, c.value), (EventType::Fail, json!(3)), "{definite:?}");
        }
        for uncertain in [
            Call::Failed(zk::Error::ConnectionLoss),
            Call::Failed(zk::Error::SessionExpired),
            Call::Failed(zk::Error::ClientClosed),
            Call::Failed(zk::Error::Timeout),
            Call::Failed(zk::Error::UnexpectedError("garbled".into())),
            Call::TimedOut,
        ] {
            let c = write_outcome::<()>(&write, uncertain.clone());
            assert_eq!(c.kind, EventType::Info, "{uncertain:?}");
            assert!(c.error.is_some());
        }
        let cas = Op::Cas { key: "r1".into(), from: 1, to: 2 };
        assert_eq!(write_outcome(&cas, Call::Done(stat(2))).value, json!([1, 2]));
    }

    #[test]
    fn the_version_comes_from_the_jar_name() {
        assert_eq!(parse_jar_version("zookeeper-3.8.0.jar"), Some("3.8.0".into()));
        assert_eq!(parse_jar_version("zookeeper.jar"), None);
        assert_eq!(parse_jar_version("zookeeper-jute-3.8.0.jar"), None);
        assert!(jar_version(Path::new("/nonexistent/zookeeper.jar")).starts_with("unknown"));
        let dir = tempfile::tempdir().unwrap();
        let jar = dir.path().join("zookeeper.jar");
        std::fs::write(&jar, b"").unwrap();
        assert!(jar_version(&jar).starts_with("unknown (no versioned name"), "{}", jar_version(&jar));
        std::os::unix::fs::symlink("zookeeper.jar", dir.path().join("zookeeper-3.8.0.jar")).unwrap();
        std::os::unix::fs::symlink("zookeeper.jar", dir.path().join("zookeeper-jute-3.8.0.jar")).unwrap();
        assert_eq!(jar_version(&jar), "3.8.0", "the link beside the jar names its version");
    }

    #[tokio::test]
    async fn operations_without_a_server_are_not_sent_and_fail() {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 213, 47, 9));
        assert!(
            std::net::TcpStream::connect((ip, CLIENT_PORT)).is_err(),
            "nothing may listen on {ip}:{CLIENT_PORT} for this test"
        );
        let zk = ZooKeeper::new(Topology { nodes: [(1, ip)].into() }, ZkOptions::default());
        let write = Op::Write { key: "r1".into(), value: 1 };
        let c = zk.invoke(1, &write, Duration::from_secs(2)).await;
        assert_eq!(c.kind, EventType::Fail, "{c:?}");
        assert!(c.error.unwrap().starts_with("not sent"));
        let c = zk.invoke(1, &Op::Add { key: "s".into(), element: 1 }, Duration::from_secs(1)).await;
        assert_eq!(c.kind, EventType::Fail);
        assert!(zk.health(1, Duration::from_secs(1)).await.is_err());
        assert!(zk.status(2, Duration::from_secs(1)).await.is_err(), "a node outside the topology");
    }
}
