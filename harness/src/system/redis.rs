//! Redis: one primary and asynchronous replicas, tested through its own protocol (RESP).
//!
//! The lowest node id starts as the primary; every other node starts with `--replicaof
//! <primary> 6379`. Replication is asynchronous: the primary acknowledges a write before
//! any replica has it, so a failover (an operator or sentinel promoting a replica while the
//! old primary is cut off) can lose acknowledged writes. [`System::promote`] and
//! [`System::follow`] are those operator actions (`REPLICAOF NO ONE`, `REPLICAOF <ip>
//! 6379`).
//!
//! Persistence: the append-only file, `appendonly yes`, with `appendfsync everysec` by
//! default (Redis' usual production setting: a crash may lose up to a second of
//! acknowledged writes on that node); [`RedisOptions::appendfsync`] chooses another. A
//! restarted node reloads its AOF from its data directory. Its argv is the one it started
//! with, so a restarted replica follows the first primary again and a restarted first
//! primary comes back as a primary: the nemesis re-issues `follow` where that matters.
//! Replicas keep serving (possibly stale) reads while their primary is unreachable
//! (`replica-serve-stale-data yes`, the default), and refuse writes (`replica-read-only`).
//!
//! Workloads: register (`GET`, `SET`, and cas as a Lua script that compares and sets in
//! one step, returning 1 when it matched), set (`SADD`, `SMEMBERS`), counter (`INCRBY`, and
//! `GET`, an absent counter reading 0) and queue (`RPUSH` to enqueue, `LPOP` to dequeue, a
//! nil answer meaning empty). A dequeue takes an element, so it is a write: a timeout may
//! have taken one, and is `info`.
//!
//! Classification ([`complete`], pure): a read that did not produce a value is `fail` (it
//! changed nothing). A replica's `READONLY` is recorded as `not_leader`, so that a worker
//! moves on to the next node instead of asking the replica again. A write is `fail` when
//! the connection could not be opened, when the cas did not match, or when Redis refused
//! it with an error it raises before executing:
//! `READONLY` (a replica), `LOADING`, `MASTERDOWN`, `NOREPLICAS`, `OOM`, `BUSY`, `WRONGTYPE`,
//! `NOAUTH`, `NOPERM`, `NOSCRIPT`. A timeout, a broken connection, an unreadable reply or
//! any other error is `info`.
//!
//! Redis outside cluster mode has no epoch or term, so [`Probe::status`] reports term 0:
//! two primaries at once is Redis' normal state after a failover, not a split brain the
//! term could tell apart.

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use checkers::EventType;
use nodes::api::{NodeId, Role, Status};
use results::RunDir;
use serde_json::{json, Value};
use tokio::time::Instant;
use workloads::{Op, WorkloadName};

use super::resp::{CallError, Connection, Limits, Reply};
use super::version::program_version;
use super::{BoxFuture, System, SystemName, Topology};
use crate::host::{Clocks, NodeAddrs, NodeSpec, Operator, Probe};
use crate::system::outcome::Completion;

/// The port every node serves clients and replicas on.
pub const PORT: u16 = 6379;

/// Compare-and-set in one step. The `#!lua` line (no `no-writes` flag) declares that the
/// script may write, so a replica refuses it up front with `READONLY`.
const CAS_SCRIPT: &str = "#!lua\n\
    if redis.call('GET', KEYS[1]) == ARGV[1] then\n\
    \x20 redis.call('SET', KEYS[1], ARGV[2])\n\
    \x20 return 1\n\
    end\n\
    return 0\n";

/// Errors Redis raises before executing a command: the command did not happen.
const DEFINITE_ERRORS: [&str; 10] = [
    "READONLY",
    "LOADING",
    "MASTERDOWN",
    "NOREPLICAS",
    "OOM",
    "BUSY",
    "WRONGTYPE",
    "NOAUTH",
    "NOPERM",
    "NOSCRIPT",
];

/// When the append-only file is flushed to disk (`--appendfsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appendfsync {
    /// After every write: a crash loses nothing acknowledged on that node.
    Always,
    /// Once a second: a crash may lose the last second.
    Everysec,
    /// When the OS decides.
    No,
}

impl std::str::FromStr for Appendfsync {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(Appendfsync::Always),
            "everysec" => Ok(Appendfsync::Everysec),
            "no" => Ok(Appendfsync::No),
            other => Err(format!("unknown appendfsync {other:?}; known: always, everysec, no")),
        }
    }
}

impl Appendfsync {
    pub fn as_str(self) -> &'static str {
        match self {
            Appendfsync::Always => "always",
            Appendfsync::Everysec => "everysec",
            Appendfsync::No => "no",
        }
    }
}

/// How to run and use the nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// The redis-server binary (looked up in `PATH` when bare).
    pub program: PathBuf,
    pub appendfsync: Appendfsync,
    /// Bounds on any reply we read.
    pub limits: Limits,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            program: PathBuf::from("redis-server"),
            appendfsync: Appendfsync::Everysec,
            limits: Limits::default(),
        }
    }
}

/// A Redis primary with replicas: one node per node of the topology.
pub struct Redis {
    topology: Topology,
    options: RedisOptions,
}

/// What one command got: a reply, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    Reply(Reply),
    /// The connection could not be opened: nothing was sent.
    NotSent(String),
    /// No reply within the deadline.
    TimedOut,
    /// The connection broke after the command may have been sent.
    Lost(String),
    /// A reply we cannot read.
    Malformed(String),
}

impl Redis {
    pub fn new(topology: Topology, options: RedisOptions) -> Redis {
        Redis { topology, options }
    }

    /// Write node `id`'s current role into its configuration file, so a restart keeps it.
    async fn persist_role(&self, id: NodeId, timeout: Duration) -> anyhow::Result<()> {
        match self.command(id, &[b"CONFIG", b"REWRITE"], timeout).await? {
            Reply::Simple(s) if s.starts_with("OK") => Ok(()),
            other => bail!("redis node {id} changed role but CONFIG REWRITE answered {other:?}"),
        }
    }

    /// The node that starts as primary: the lowest id.
    pub fn first_primary(&self) -> Option<NodeId> {
        self.topology.nodes.keys().next().copied()
    }

    fn ip(&self, id: NodeId) -> anyhow::Result<IpAddr> {
        self.topology.nodes.get(&id).copied().with_context(|| format!("no node {id} in the topology"))
    }

    /// Send one command to `id` on a fresh connection, within `timeout`. The connection is
    /// closed when this returns. A fresh connection per command keeps classification exact:
    /// one that cannot be opened proves the command was never sent, which a pooled
    /// connection to a node that just died cannot.
    pub async fn call(&self, id: NodeId, args: &[&[u8]], timeout: Duration) -> Exchange {
        let Some(&ip) = self.topology.nodes.get(&id) else {
            return Exchange::NotSent(format!("no node {id} in the topology"));
        };
        let deadline = Instant::now() + timeout;
        let addr = SocketAddr::new(ip, PORT);
        let mut conn =
            match tokio::time::timeout_at(deadline, Connection::connect(addr, self.options.limits)).await {
                Err(_) => return Exchange::NotSent(format!("connecting to {addr} timed out")),
                Ok(Err(e)) => return Exchange::NotSent(format!("connecting to {addr}: {e}")),
                Ok(Ok(conn)) => conn,
            };
        match tokio::time::timeout_at(deadline, conn.call(args)).await {
            Err(_) => Exchange::TimedOut,
            Ok(Ok(reply)) => {
                conn.close_now();
                Exchange::Reply(reply)
            }
            Ok(Err(CallError::Io(e))) => Exchange::Lost(e),
            Ok(Err(CallError::Protocol(e))) => Exchange::Malformed(e.to_string()),
        }
    }

    /// An administrative command that must answer with a reply other than an error.
    async fn command(&self, id: NodeId, args: &[&[u8]], timeout: Duration) -> anyhow::Result<Reply> {
        let name = String::from_utf8_lossy(args.first().copied().unwrap_or_default()).into_owned();
        match self.call(id, args, timeout).await {
            Exchange::Reply(Reply::Error(e)) => bail!("redis node {id} refused {name}: {e}"),
            Exchange::Reply(reply) => Ok(reply),
            other => bail!("redis node {id} {name}: {}", describe(&other)),
        }
    }
}

impl System for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn version(&self) -> String {
        program_version(&self.options.program, parse_version)
    }

    fn workloads(&self) -> &'static [WorkloadName] {
        SystemName::Redis.workloads()
    }

    fn node_spec(&self, id: NodeId, run_dir: &Path) -> anyhow::Result<NodeSpec> {
        let Some(&ip) = self.topology.nodes.get(&id) else {
            bail!("redis: node {id} is not in the topology");
        };
        let addr = SocketAddr::new(ip, PORT);
        let data_dir = RunDir::node_data_at(run_dir, id);
        let config = write_role_config(
            id,
            run_dir,
            self.first_primary().filter(|&p| p != id).map(|p| self.topology.nodes[&p]),
        )?;
        let mut argv: Vec<OsString> = vec![self.options.program.clone().into(), config.into()];
        let mut flag = |name: &str, value: OsString| {
            argv.push(name.into());
            argv.push(value);
        };
        flag("--bind", ip.to_string().into());
        flag("--port", PORT.to_string().into());
        flag("--dir", data_dir.clone().into());
        flag("--protected-mode", "no".into());
        flag("--daemonize", "no".into());
        // Empty: log to stdout, which the host appends to the node's log.
        flag("--logfile", "".into());
        flag("--appendonly", "yes".into());
        flag("--appendfsync", self.options.appendfsync.as_str().into());
        // Full resyncs start at once instead of waiting for more replicas to batch.
        flag("--repl-diskless-sync-delay", "0".into());
        Ok(NodeSpec {
            id,
            argv,
            rejoin_argv: None,
            data_dir,
            log_path: RunDir::node_log_at(run_dir, id),
            addrs: NodeAddrs { peer_listen: addr, client: addr },
        })
    }

    /// The role file: a host gets it once, and the operator's failover rewrites it there.
    fn node_files(&self, id: NodeId, run_dir: &Path) -> Vec<PathBuf> {
        vec![role_config_path(id, run_dir)]
    }

    fn invoke<'a>(&'a self, node: NodeId, op: &'a Op, timeout: Duration) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            let Some(args) = command(op) else { return unsupported(op) };
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            complete(op, &self.call(node, &args, timeout).await)
        })
    }
}

/// Node `id`'s configuration file, `<run>/nodes/<id>.redis.conf`.
fn role_config_path(id: NodeId, run_dir: &Path) -> PathBuf {
    RunDir::nodes_dir_at(run_dir).join(format!("{id}.redis.conf"))
}

/// Write node `id`'s configuration file, `<run>/nodes/<id>.redis.conf`, unless it exists.
///
/// It holds only the node's role (`replicaof`, or nothing for the first primary); every
/// other setting is on the command line. The role lives in a file because an operator's
/// failover must outlast a restart: `promote` and `follow` rewrite it (`CONFIG REWRITE`),
/// as Sentinel does, so a node killed after a failover comes back in its new role instead
/// of the one it started with. A restart finds the file and keeps it.
fn write_role_config(id: NodeId, run_dir: &Path, primary: Option<IpAddr>) -> anyhow::Result<PathBuf> {
    let dir = RunDir::nodes_dir_at(run_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = role_config_path(id, run_dir);
    if path.exists() {
        return Ok(path);
    }
    let mut text = format!("# redis node {id}: its role, rewritten by the operator's failover\n");
    if let Some(ip) = primary {
        text.push_str(&format!("replicaof {ip} {PORT}\n"));
    }
    results::write_atomically(&path, text.as_bytes())?;
    Ok(path)
}

/// Why a clock fault cannot reach Redis; said at run start and in each not-taken record.
pub const REDIS_CLOCK_REASON: &str =
    "Redis's clock cannot be skewed: Debian's redis-server links jemalloc, which \
     reads the clock while libfaketime is still initialising, so the server does not start under libfaketime";

/// Redis reads time through libc, but libfaketime, the one way to skew a single process's
/// clock, cannot start Debian's build (jemalloc's initialisation calls `clock_gettime`
/// inside libfaketime's own, a clash libfaketime documents as unresolved). Clock faults on
/// Redis are recorded as not taken, with [`REDIS_CLOCK_REASON`].
impl Clocks for Redis {
    fn clock_refusal(&self) -> Option<&'static str> {
        Some(REDIS_CLOCK_REASON)
    }
}

impl Operator for Redis {
    fn system_name(&self) -> &'static str {
        "redis"
    }

    fn promote(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            match self.command(id, &[b"REPLICAOF", b"NO", b"ONE"], timeout).await? {
                Reply::Simple(s) if s.starts_with("OK") => self.persist_role(id, timeout).await,
                other => bail!("redis node {id} answered REPLICAOF NO ONE with {other:?}"),
            }
        })
    }

    fn follow(&self, id: NodeId, primary: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            if id == primary {
                bail!("redis node {id} cannot follow itself");
            }
            let ip = self.ip(primary)?.to_string();
            let port = PORT.to_string();
            match self.command(id, &[b"REPLICAOF", ip.as_bytes(), port.as_bytes()], timeout).await? {
                Reply::Simple(s) if s.starts_with("OK") => self.persist_role(id, timeout).await,
                other => bail!("redis node {id} answered REPLICAOF {ip} {port} with {other:?}"),
            }
        })
    }
}

impl Probe for Redis {
    /// `PING` answered `PONG`.
    fn health(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            match self.command(id, &[b"PING"], timeout).await? {
                Reply::Simple(s) if s == "PONG" => Ok(()),
                other => bail!("redis node {id} answered PING with {other:?}"),
            }
        })
    }

    /// `INFO replication`: `role:master` is [`Role::Primary`] leading itself, `role:slave`
    /// is [`Role::Backup`] following the node at `master_host`. Term 0 (no epochs).
    fn status(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<Status>> {
        Box::pin(async move {
            let reply = self.command(id, &[b"INFO", b"replication"], timeout).await?;
            let Reply::Bulk(Some(text)) = reply else {
                bail!("redis node {id} answered INFO with {reply:?}")
            };
            let info = parse_replication(&String::from_utf8_lossy(&text))
                .with_context(|| format!("redis node {id} INFO replication"))?;
            let leader = match &info.role {
                Role::Primary => Some(id),
                _ => info.primary_ip.and_then(|ip| {
                    self.topology.nodes.iter().find(|(_, &node_ip)| node_ip == ip).map(|(&n, _)| n)
                }),
            };
            Ok(Status {
                id,
                protocol: "redis".to_string(),
                role: info.role,
                term: 0,
                leader,
                commit_index: info.offset,
                applied_index: info.offset,
            })
        })
    }
}

/// The command for an operation; `None` for operations Redis has no client for here.
pub fn command(op: &Op) -> Option<Vec<Vec<u8>>> {
    let args = |parts: &[&[u8]]| parts.iter().map(|p| p.to_vec()).collect();
    match op {
        Op::Read { key } => Some(args(&[b"GET", key.as_bytes()])),
        Op::Write { key, value } => Some(args(&[b"SET", key.as_bytes(), value.to_string().as_bytes()])),
        Op::Cas { key, from, to } => Some(args(&[
            b"EVAL",
            CAS_SCRIPT.as_bytes(),
            b"1",
            key.as_bytes(),
            from.to_string().as_bytes(),
            to.to_string().as_bytes(),
        ])),
        Op::Add { key, element } => Some(args(&[b"SADD", key.as_bytes(), element.to_string().as_bytes()])),
        Op::ReadSet { key } => Some(args(&[b"SMEMBERS", key.as_bytes()])),
        Op::Increment { key, delta } => {
            Some(args(&[b"INCRBY", key.as_bytes(), delta.to_string().as_bytes()]))
        }
        Op::ReadCounter { key } => Some(args(&[b"GET", key.as_bytes()])),
        Op::Enqueue { key, element } => {
            Some(args(&[b"RPUSH", key.as_bytes(), element.to_string().as_bytes()]))
        }
        Op::Dequeue { key } => Some(args(&[b"LPOP", key.as_bytes()])),
        Op::Transfer { .. } | Op::ReadAccounts { .. } | Op::Txn { .. } => None,
    }
}

/// How what a command got becomes its completion (see the module doc for the rules).
pub fn complete(op: &Op, exchange: &Exchange) -> Completion {
    let read = matches!(op, Op::Read { .. } | Op::ReadSet { .. } | Op::ReadCounter { .. });
    let reply = match exchange {
        Exchange::Reply(reply) => reply,
        Exchange::NotSent(_) => return ended(EventType::Fail, op, describe(exchange)),
        _ if read => return ended(EventType::Fail, op, describe(exchange)),
        _ => return ended(EventType::Info, op, describe(exchange)),
    };
    if let Reply::Error(e) = reply {
        let kind = e.split_whitespace().next().unwrap_or_default();
        let definite = read || DEFINITE_ERRORS.contains(&kind);
        // A replica refusing a write is a node that does not lead: the worker moves on to
        // the next node, as a client looking for the primary would.
        let not_leader = if kind == "READONLY" { "not_leader: " } else { "" };
        return ended(
            if definite { EventType::Fail } else { EventType::Info },
            op,
            format!("{not_leader}redis error: {e}"),
        );
    }
    let value: Result<Value, String> = match (op, reply) {
        (Op::Read { .. }, Reply::Bulk(None)) => Ok(Value::Null),
        (Op::Read { .. }, Reply::Bulk(Some(bytes))) => integer(bytes).map(|v| json!(v)),
        (Op::ReadSet { .. }, Reply::Array(Some(items))) => items
            .iter()
            .map(|item| match item {
                Reply::Bulk(Some(bytes)) => integer(bytes),
                other => Err(format!("set element {other:?}")),
            })
            .collect::<Result<Vec<i64>, String>>()
            .map(|mut elements| {
                elements.sort_unstable();
                json!(elements)
            }),
        (Op::ReadCounter { .. }, Reply::Bulk(None)) => Ok(json!(0)),
        (Op::ReadCounter { .. }, Reply::Bulk(Some(bytes))) => integer(bytes).map(|v| json!(v)),
        (Op::Dequeue { .. }, Reply::Bulk(None)) => Ok(Value::Null),
        (Op::Dequeue { .. }, Reply::Bulk(Some(bytes))) => integer(bytes).map(|v| json!(v)),
        (Op::Write { .. }, Reply::Simple(s)) if s == "OK" => Ok(op.invoke_value()),
        (Op::Add { .. }, Reply::Integer(0 | 1)) => Ok(op.invoke_value()),
        // The counter's new value, and the queue's new length: only the fact is kept.
        (Op::Increment { .. } | Op::Enqueue { .. }, Reply::Integer(_)) => Ok(op.invoke_value()),
        (Op::Cas { .. }, Reply::Integer(1)) => Ok(op.invoke_value()),
        (Op::Cas { .. }, Reply::Integer(0)) => {
            return ended(EventType::Fail, op, "precondition_failed: the value did not match".into())
        }
        (_, other) => Err(format!("unexpected reply {other:?}")),
    };
    match value {
        Ok(value) => Completion { kind: EventType::Ok, value, error: None, leader_hint: None },
        Err(e) if read => ended(EventType::Fail, op, format!("unreadable answer: {e}")),
        Err(e) => ended(EventType::Info, op, format!("unreadable answer: {e}")),
    }
}

fn integer(bytes: &[u8]) -> Result<i64, String> {
    let text = String::from_utf8_lossy(bytes);
    text.parse().map_err(|_| format!("{text:?} is not an integer"))
}

/// A completion that is not `ok`: it carries the invocation's value.
fn ended(kind: EventType, op: &Op, error: String) -> Completion {
    Completion { kind, value: op.invoke_value(), error: Some(error), leader_hint: None }
}

fn unsupported(op: &Op) -> Completion {
    ended(EventType::Fail, op, format!("not sent: redis has no client for {op:?}"))
}

fn describe(exchange: &Exchange) -> String {
    match exchange {
        Exchange::Reply(reply) => format!("reply {reply:?}"),
        Exchange::NotSent(e) => format!("not sent: {e}"),
        Exchange::TimedOut => "timeout".to_string(),
        Exchange::Lost(e) => format!("connection lost: {e}"),
        Exchange::Malformed(e) => e.clone(),
    }
}

/// The fields of `INFO replication` a status needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    pub role: Role,
    /// A replica's primary, as configured (`master_host`).
    pub primary_ip: Option<IpAddr>,
    /// `master_repl_offset`: how far this node's replication stream has come.
    pub offset: u64,
}

/// Parse the text of `INFO replication`.
pub fn parse_replication(text: &str) -> anyhow::Result<Replication> {
    let field = |name: &str| {
        text.lines().find_map(|line| line.trim_end_matches('\r').strip_prefix(name)?.strip_prefix(':'))
    };
    let role = match field("role") {
        Some("master") => Role::Primary,
        Some("slave") => Role::Backup,
        Some(other) => bail!("unknown role {other:?}"),
        None => bail!("no role in {:?}", &text[..text.len().min(200)]),
    };
    let primary_ip = match (role, field("master_host")) {
        (Role::Backup, Some(host)) => Some(host.parse().with_context(|| format!("master_host {host:?}"))?),
        _ => None,
    };
    let offset = match field("master_repl_offset") {
        Some(n) => n.parse().with_context(|| format!("master_repl_offset {n:?}"))?,
        None => 0,
    };
    Ok(Replication { role, primary_ip, offset })
}

/// `redis-server --version` prints `Redis server v=7.0.15 sha=...`.
fn parse_version(text: &str) -> Option<String> {
    text.split_whitespace().find_map(|w| w.strip_prefix("v=")).map(str::to_string).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn topology(n: u32) -> Topology {
        Topology { nodes: (1..=n).map(|i| (i, IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8)))).collect() }
    }

    fn reply(r: Reply) -> Exchange {
        Exchange::Reply(r)
    }

    #[tokio::test]
    async fn a_clock_fault_is_refused_with_the_reason() {
        use crate::host::ClockChange;
        let redis = Redis::new(topology(3), RedisOptions::default());
        let err =
            redis.skew_clock(2, ClockChange::Jump { ms: 1_000 }, Duration::from_secs(1)).await.unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("jemalloc") && err.ends_with("(node 2)"), "{err}");
    }

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(Some(s.as_bytes().to_vec()))
    }

    #[test]
    fn the_first_node_is_primary_and_the_others_replicate_it() {
        let run = tempfile::tempdir().unwrap();
        let redis = Redis::new(topology(3), RedisOptions::default());
        let argv = |id| -> Vec<String> {
            redis
                .node_spec(id, run.path())
                .unwrap()
                .argv
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        let one = argv(1);
        assert_eq!(one[0], "redis-server");
        assert!(!one.contains(&"--replicaof".to_string()), "the role is in the config file only");
        let conf =
            |id: u32| std::fs::read_to_string(run.path().join(format!("nodes/{id}.redis.conf"))).unwrap();
        assert_eq!(one[1], run.path().join("nodes/1.redis.conf").to_string_lossy());
        assert!(!conf(1).contains("replicaof"), "{}", conf(1));
        let at = |argv: &[String], flag: &str| argv[argv.iter().position(|a| a == flag).unwrap() + 1].clone();
        assert_eq!(at(&one, "--bind"), "10.0.0.1");
        assert_eq!(at(&one, "--dir"), run.path().join("data/1").to_string_lossy());
        assert_eq!(at(&one, "--logfile"), "");
        assert_eq!(at(&one, "--appendonly"), "yes");
        assert_eq!(at(&one, "--appendfsync"), "everysec");
        let three = argv(3);
        assert!(!three.contains(&"--replicaof".to_string()));
        assert!(conf(3).contains("replicaof 10.0.0.1 6379"), "{}", conf(3));
        // A restart keeps the file as the failover left it.
        std::fs::write(run.path().join("nodes/3.redis.conf"), "replicaof 10.0.0.2 6379\n").unwrap();
        argv(3);
        assert_eq!(conf(3), "replicaof 10.0.0.2 6379\n");
        let spec = redis.node_spec(3, run.path()).unwrap();
        assert_eq!(spec.log_path, run.path().join("nodes/3.log"));
        assert_eq!(spec.addrs.client.to_string(), "10.0.0.3:6379");
        assert!(redis.node_spec(9, run.path()).is_err(), "a node outside the topology has no spec");
    }

    #[test]
    fn commands_for_each_operation() {
        let c = command(&Op::Write { key: "r1".into(), value: -3 }).unwrap();
        assert_eq!(c, [b"SET".to_vec(), b"r1".to_vec(), b"-3".to_vec()]);
        let c = command(&Op::Cas { key: "r1".into(), from: 1, to: 2 }).unwrap();
        assert_eq!(c[0], b"EVAL");
        assert!(c[1].starts_with(b"#!lua\n"));
        assert_eq!(&c[2..], [b"1".to_vec(), b"r1".to_vec(), b"1".to_vec(), b"2".to_vec()]);
        assert_eq!(command(&Op::Add { key: "s".into(), element: 7 }).unwrap()[0], b"SADD");
        assert_eq!(command(&Op::ReadSet { key: "s".into() }).unwrap()[0], b"SMEMBERS");
        assert_eq!(command(&Op::Transfer { from: "a".into(), to: "b".into(), amount: 1 }), None);
        let c = command(&Op::Increment { key: "c".into(), delta: 4 }).unwrap();
        assert_eq!(c, [b"INCRBY".to_vec(), b"c".to_vec(), b"4".to_vec()]);
        assert_eq!(command(&Op::ReadCounter { key: "c".into() }).unwrap(), [b"GET".to_vec(), b"c".to_vec()]);
        let c = command(&Op::Enqueue { key: "q".into(), element: 12 }).unwrap();
        assert_eq!(c, [b"RPUSH".to_vec(), b"q".to_vec(), b"12".to_vec()]);
        assert_eq!(command(&Op::Dequeue { key: "q".into() }).unwrap(), [b"LPOP".to_vec(), b"q".to_vec()]);
    }

    #[test]
    fn a_counter_reads_0_until_added_to_and_an_add_is_a_write() {
        let read = Op::ReadCounter { key: "c".into() };
        assert_eq!(complete(&read, &reply(Reply::Bulk(None))).value, json!(0));
        assert_eq!(complete(&read, &reply(bulk("17"))).value, json!(17));
        assert_eq!(complete(&read, &Exchange::TimedOut).kind, EventType::Fail, "a read changed nothing");
        let add = Op::Increment { key: "c".into(), delta: 3 };
        let c = complete(&add, &reply(Reply::Integer(20)));
        assert_eq!((c.kind, c.value), (EventType::Ok, json!(3)), "the add's own delta, not the total");
        assert_eq!(complete(&add, &Exchange::TimedOut).kind, EventType::Info);
        assert_eq!(complete(&add, &reply(Reply::Error("READONLY replica".into()))).kind, EventType::Fail);
    }

    #[test]
    fn a_dequeue_answers_its_element_or_empty_and_a_timeout_may_have_taken_one() {
        let enqueue = Op::Enqueue { key: "q".into(), element: 8 };
        let c = complete(&enqueue, &reply(Reply::Integer(3)));
        assert_eq!((c.kind, c.value), (EventType::Ok, json!(8)));
        assert_eq!(complete(&enqueue, &Exchange::Lost("reset".into())).kind, EventType::Info);
        let dequeue = Op::Dequeue { key: "q".into() };
        let c = complete(&dequeue, &reply(bulk("8")));
        assert_eq!((c.kind, c.value), (EventType::Ok, json!(8)));
        let c = complete(&dequeue, &reply(Reply::Bulk(None)));
        assert_eq!((c.kind, c.value), (EventType::Ok, Value::Null), "nil: the queue was empty");
        assert_eq!(complete(&dequeue, &Exchange::TimedOut).kind, EventType::Info);
        assert_eq!(complete(&dequeue, &reply(Reply::Error("READONLY replica".into()))).kind, EventType::Fail);
        assert_eq!(complete(&dequeue, &reply(bulk("x"))).kind, EventType::Info, "an unreadable element");
    }

    #[test]
    fn reads_complete_with_values_and_otherwise_fail() {
        let read = Op::Read { key: "r1".into() };
        assert_eq!(complete(&read, &reply(bulk("4"))).value, json!(4));
        let c = complete(&read, &reply(Reply::Bulk(None)));
        assert_eq!((c.kind, c.value), (EventType::Ok, Value::Null));
        let set = Op::ReadSet { key: "s".into() };
        let c = complete(&set, &reply(Reply::Array(Some(vec![bulk("3"), bulk("1"), bulk("2")]))));
        assert_eq!((c.kind, c.value), (EventType::Ok, json!([1, 2, 3])));
        for bad in [
            reply(bulk("x")),
            reply(Reply::Error("LOADING".into())),
            reply(Reply::Error("ERR strange".into())),
            reply(Reply::Integer(3)),
            Exchange::TimedOut,
            Exchange::Lost("reset".into()),
            Exchange::Malformed("junk".into()),
        ] {
            assert_eq!(complete(&read, &bad).kind, EventType::Fail, "{bad:?}");
        }
        let c = complete(&set, &reply(Reply::Array(Some(vec![bulk("1"), Reply::Integer(2)]))));
        assert_eq!(c.kind, EventType::Fail);
    }

    #[test]
    fn writes_fail_only_on_errors_redis_raises_before_executing() {
        let write = Op::Write { key: "r1".into(), value: 3 };
        let c = complete(&write, &reply(Reply::Simple("OK".into())));
        assert_eq!((c.kind, c.value), (EventType::Ok, json!(3)));
        for definite in
            ["READONLY You can't write against a read only replica.", "LOADING loading", "MASTERDOWN x"]
        {
            let c = complete(&write, &reply(Reply::Error(definite.into())));
            assert_eq!((c.kind, c.value.clone()), (EventType::Fail, json!(3)), "{definite}");
            assert!(c.error.unwrap().contains(definite));
        }
        assert_eq!(complete(&write, &reply(Reply::Error("ERR who knows".into()))).kind, EventType::Info);
        assert_eq!(complete(&write, &Exchange::TimedOut).kind, EventType::Info);
        assert_eq!(complete(&write, &Exchange::Lost("reset".into())).kind, EventType::Info);
        assert_eq!(complete(&write, &Exchange::Malformed("junk".into())).kind, EventType::Info);
        assert_eq!(complete(&write, &reply(Reply::Integer(1))).kind, EventType::Info, "wrong shape");
        assert_eq!(complete(&write, &Exchange::NotSent("refused".into())).kind, EventType::Fail);
        let add = Op::Add { key: "s".into(), element: 5 };
        let c = complete(&add, &reply(Reply::Integer(1)));
        assert_eq!((c.kind, c.value), (EventType::Ok, json!(5)));
    }

    #[test]
    fn a_replica_refusing_a_write_sends_the_worker_to_the_next_node() {
        let write = Op::Write { key: "r1".into(), value: 3 };
        let refused = complete(
            &write,
            &reply(Reply::Error("READONLY You can't write against a read only replica.".into())),
        );
        assert_eq!(refused.kind, EventType::Fail);
        assert!(
            refused.error.as_deref().unwrap().starts_with("not_leader: redis error: READONLY"),
            "{refused:?}"
        );
        assert_eq!(crate::run::client::next_node(&[1, 2, 3], 2, 2, &refused), 3);
        let loading = complete(&write, &reply(Reply::Error("LOADING loading".into())));
        assert_eq!(
            crate::run::client::next_node(&[1, 2, 3], 2, 2, &loading),
            2,
            "not a question of who leads"
        );
    }

    #[test]
    fn a_cas_script_answers_whether_it_matched() {
        let cas = Op::Cas { key: "r1".into(), from: 1, to: 2 };
        let c = complete(&cas, &reply(Reply::Integer(1)));
        assert_eq!((c.kind, c.value), (EventType::Ok, json!([1, 2])));
        let c = complete(&cas, &reply(Reply::Integer(0)));
        assert_eq!((c.kind, c.value), (EventType::Fail, json!([1, 2])));
        assert!(c.error.unwrap().starts_with("precondition_failed"));
        assert_eq!(complete(&cas, &Exchange::TimedOut).kind, EventType::Info);
    }

    #[test]
    fn info_replication_gives_role_primary_and_offset() {
        let primary = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\nmaster_repl_offset:1234\r\n";
        assert_eq!(
            parse_replication(primary).unwrap(),
            Replication { role: Role::Primary, primary_ip: None, offset: 1234 }
        );
        let replica = "# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6379\r\nmaster_repl_offset:99\r\n";
        assert_eq!(
            parse_replication(replica).unwrap(),
            Replication { role: Role::Backup, primary_ip: Some("10.0.0.1".parse().unwrap()), offset: 99 }
        );
        assert!(parse_replication("role:sentinel\r\n").is_err());
        assert!(parse_replication("nothing").is_err());
        assert!(parse_replication("role:slave\r\nmaster_host:not-an-ip\r\n").is_err());
    }

    #[test]
    fn the_version_is_parsed() {
        assert_eq!(
            parse_version("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc"),
            Some("7.0.15".into())
        );
        assert_eq!(parse_version("nope"), None);
    }
}
