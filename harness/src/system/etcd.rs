//! etcd: a Raft key-value store, tested through its v3 HTTP/JSON gateway.
//!
//! Each node is one etcd member named `n<id>` on its own address, with the usual ports
//! (clients 2379, peers 2380). The cluster is bootstrapped statically: every member is
//! given the whole `--initial-cluster` and `--initial-cluster-state new`. etcd reads those
//! flags only when its data directory is empty. Every later start of a member says
//! `--initial-cluster-state existing`, which on its own data directory changes nothing.
//! A member `lose-disk` wiped is first replaced the way etcd's operators replace one (see
//! [`Operator::readmit`] below: removed, added back under a new member id) and then joins
//! the running cluster with an empty log. Started again without that, it would never come
//! back: a bootstrap is refused ("member has already been bootstrapped"), and a join under
//! its old id panics at the leader's first heartbeat.
//!
//! The register workload maps onto three gateway calls (keys and values are base64, as
//! the gateway's JSON encoding of bytes requires; values are decimal integers):
//! - `read`: `POST /v3/kv/range`, linearizable by default, or `"serializable": true` (a
//!   member's local, possibly stale, view) with [`EtcdOptions::serializable_reads`];
//! - `write`: `POST /v3/kv/put`;
//! - `cas`: `POST /v3/kv/txn` comparing the key's value with `from` and putting `to` when
//!   it matches; `"succeeded"` absent (the gateway omits `false`) means it did not match.
//!
//! The queue workload is etcd's own queue recipe, one key per element under the queue's
//! prefix (`<queue>/<element>`, non-negative elements zero-padded so that keys sort as
//! numbers):
//! - `enqueue`: a txn that creates the element's key if it is absent (an element already
//!   queued is refused, never merged into one copy);
//! - `dequeue`: a range of the prefix, limit 1, for the head (empty: the dequeue answers
//!   null), then a txn that deletes the head if its `mod_revision` is still the one read. A
//!   head another dequeue took first is looked for again while the op's time lasts. Only
//!   the delete can take an element, so the dequeue is `info` only when the delete's answer
//!   is lost; a range that did not answer took nothing and is `fail`.
//!
//! Classification ([`complete`], pure): reads change nothing, so any read that did not
//! produce a value is `fail`. A write or cas is `fail` only when the answer proves it did
//! not happen: a cas that did not match, a refused connection, or an error etcd raises
//! before proposing (gRPC codes for a malformed request, exhausted resources, permission,
//! unimplemented). Everything else (a timeout, `etcdserver: request timed out`, a lost
//! leader, a broken connection, an answer we cannot read) is `info`.
//!
//! etcd has a real leader and term: [`Probe::status`] asks `POST /v3/maintenance/status`
//! and compares the leader's member id with the member's own. Member ids are mapped back to
//! node ids through the member list (names `n<id>`), remembered once learned.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use checkers::EventType;
use nodes::api::{NodeId, Role, Status};
use results::RunDir;
use serde::Deserialize;
use serde_json::{json, Value};
use workloads::{Op, WorkloadName};

use super::version::program_version;
use super::{BoxFuture, System, SystemName, Topology};
use crate::host::{Clocks, NodeAddrs, NodeSpec, Operator, Probe};
use crate::system::outcome::{Answer, Completion};

/// The port members serve clients (and the gateway) on.
pub const CLIENT_PORT: u16 = 2379;
/// The port members talk Raft to each other on.
pub const PEER_PORT: u16 = 2380;
/// The largest answer we read; a register's answers are a few hundred bytes.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// How long opening a connection may take; an operation's timeout should exceed it.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long one membership call (list, remove, add) may take.
const MEMBERSHIP_CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// The pause between rounds of asking for a member's replacement.
const MEMBERSHIP_RETRY: Duration = Duration::from_millis(250);

/// How to run and use the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdOptions {
    /// Reads served from a member's local state, without a quorum (may be stale).
    pub serializable_reads: bool,
    /// The etcd binary (looked up in `PATH` when bare).
    pub program: PathBuf,
    /// Raft heartbeat interval (`--heartbeat-interval`).
    pub heartbeat_interval_ms: u64,
    /// Raft election timeout (`--election-timeout`); etcd wants at least 5 heartbeats.
    pub election_timeout_ms: u64,
    /// `--initial-cluster-token`: members only join a cluster with the same token.
    pub cluster_token: String,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        EtcdOptions {
            serializable_reads: false,
            program: PathBuf::from("etcd"),
            heartbeat_interval_ms: 100,
            election_timeout_ms: 1000,
            cluster_token: "faultline".to_string(),
        }
    }
}

/// An etcd cluster: one member per node of the topology.
pub struct Etcd {
    topology: Topology,
    options: EtcdOptions,
    http: reqwest::Client,
    /// Member id -> node id, learned from answers.
    members: Mutex<BTreeMap<u64, NodeId>>,
}

impl Etcd {
    /// One answer of `/v3/maintenance/status`, parsed.
    async fn status_once(&self, id: NodeId, timeout: Duration) -> anyhow::Result<ParsedStatus> {
        let answer = self.post(id, "/v3/maintenance/status", &json!({}), timeout).await;
        let Answer::Success(body) = answer else { bail!("etcd node {id} status: {}", describe(&answer)) };
        let raw: RawStatus = serde_json::from_slice(&body)
            .with_context(|| format!("etcd node {id} status {}", excerpt(&body)))?;
        parse_status(&raw).with_context(|| format!("etcd node {id} status {}", excerpt(&body)))
    }

    /// An adapter for a cluster with these addresses. Fails only if the HTTP client cannot
    /// be built.
    pub fn new(topology: Topology, options: EtcdOptions) -> anyhow::Result<Etcd> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            // A fresh connection per request. A pooled one to a member that just died
            // fails mid-request ("connection closed before message completed"), which
            // must be `info`; a fresh one is refused before anything is sent: `fail`.
            .pool_max_idle_per_host(0)
            .build()
            .context("building the HTTP client for etcd")?;
        Ok(Etcd { topology, options, http, members: Mutex::new(BTreeMap::new()) })
    }

    fn client_addr(&self, id: NodeId) -> Option<SocketAddr> {
        self.topology.nodes.get(&id).map(|&ip| SocketAddr::new(ip, CLIENT_PORT))
    }

    /// POST a JSON body to a member's gateway and return what came back, within `timeout`.
    async fn post(&self, id: NodeId, path: &str, body: &Value, timeout: Duration) -> Answer {
        let Some(addr) = self.client_addr(id) else {
            return Answer::NotSent(format!("no node {id} in the topology"));
        };
        let request = self.http.post(format!("http://{addr}{path}")).json(body);
        exchange(request, timeout).await
    }

    /// The queue recipe's dequeue (see the module doc): the head, then its delete if nobody
    /// took it first, again while `timeout` lasts.
    async fn dequeue(&self, node: NodeId, op: &Op, queue: &str, timeout: Duration) -> Completion {
        let until = tokio::time::Instant::now() + timeout;
        let left = || until.saturating_duration_since(tokio::time::Instant::now());
        loop {
            let answer = self
                .post(node, "/v3/kv/range", &head_request(queue, self.options.serializable_reads), left())
                .await;
            let head = match &answer {
                Answer::Success(body) => match queue_head(queue, body) {
                    Ok(None) => {
                        return Completion {
                            kind: EventType::Ok,
                            value: Value::Null,
                            error: None,
                            leader_hint: None,
                        }
                    }
                    Ok(Some(head)) => head,
                    Err(e) => return ended(EventType::Fail, op, format!("unreadable answer: {e}")),
                },
                // Nothing was taken yet: whatever went wrong, the dequeue did not happen.
                other => return ended(EventType::Fail, op, describe(other)),
            };
            if left().is_zero() {
                return ended(EventType::Fail, op, "timeout: no time left to take the head".into());
            }
            let answer = self.post(node, "/v3/kv/txn", &take_request(&head), left()).await;
            if let Some(completion) = complete_take(op, &head, &answer) {
                return completion;
            }
            // Taken by another dequeue between the range and the txn: look again, if
            // there is time.
            if left().is_zero() {
                return ended(EventType::Fail, op, "precondition_failed: every head was taken first".into());
            }
        }
    }

    /// The node a member id belongs to, asking `via` for the member list if not yet known.
    async fn node_of_member(&self, member: u64, via: NodeId, timeout: Duration) -> Option<NodeId> {
        if let Some(&id) = self.lock_members().get(&member) {
            return Some(id);
        }
        if let Answer::Success(body) = self.post(via, "/v3/cluster/member/list", &json!({}), timeout).await {
            if let Ok(list) = serde_json::from_slice::<MemberList>(&body) {
                let mut members = self.lock_members();
                for m in list.members {
                    let node = node_of_name(&m.name).filter(|n| self.topology.nodes.contains_key(n));
                    if let (Some(id), Some(node)) = (parse_u64(&m.id), node) {
                        members.insert(id, node);
                    }
                }
            }
        }
        self.lock_members().get(&member).copied()
    }

    fn lock_members(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, NodeId>> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Operator for Etcd {
    fn system_name(&self) -> &'static str {
        "etcd"
    }

    /// etcd's procedure for a member whose disk was lost: remove the member, add it back
    /// (a new member id on the same peer URL), and start it with `--initial-cluster-state
    /// existing` (its [`NodeSpec::rejoin_argv`]). Started under its old id with an empty
    /// log, the member panics as soon as the leader says what is committed ("tocommit(N)
    /// is out of range [lastIndex(0)]"); etcd detects that amnesia rather than survive it.
    fn readmit(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let Some(&ip) = self.topology.nodes.get(&id) else { bail!("no node {id} in the topology") };
            let peer_url = format!("http://{}", SocketAddr::new(ip, PEER_PORT));
            let until = tokio::time::Instant::now() + timeout;
            // etcd refuses to add a member until every voting member has been connected
            // for five seconds ("unhealthy cluster"), which a cluster that just elected a
            // leader may not be: ask each other member in turn until the time is up.
            loop {
                let mut failures = Vec::new();
                for &via in self.topology.nodes.keys().filter(|&&n| n != id) {
                    let left = until.saturating_duration_since(tokio::time::Instant::now());
                    match self.replace_member(&peer_url, via, left.min(MEMBERSHIP_CALL_TIMEOUT)).await {
                        Ok(()) => return Ok(()),
                        Err(e) => failures.push(format!("via node {via}: {e:#}")),
                    }
                }
                if tokio::time::Instant::now() + MEMBERSHIP_RETRY >= until {
                    bail!("member {} not replaced: {}", member_name(id), failures.join("; "));
                }
                tokio::time::sleep(MEMBERSHIP_RETRY).await;
            }
        })
    }
}

impl Etcd {
    /// Asking member `via`: the member on `peer_url` removed and added again, unless it was
    /// added and has not started since (an earlier attempt got that far).
    async fn replace_member(&self, peer_url: &str, via: NodeId, timeout: Duration) -> anyhow::Result<()> {
        let body = self.call(via, "/v3/cluster/member/list", &json!({}), timeout).await?;
        let list: MemberList =
            serde_json::from_slice(&body).with_context(|| format!("member list {}", excerpt(&body)))?;
        match list.members.iter().find(|m| m.peer_urls.iter().any(|u| u == peer_url)) {
            // Added, never started: it has no name yet.
            Some(member) if member.name.is_empty() => return Ok(()),
            Some(member) => {
                self.call(via, "/v3/cluster/member/remove", &json!({ "ID": member.id }), timeout)
                    .await
                    .context("member remove")?;
            }
            None => {}
        }
        self.call(via, "/v3/cluster/member/add", &json!({ "peerURLs": [peer_url] }), timeout)
            .await
            .context("member add")?;
        Ok(())
    }

    /// A gateway call that must succeed: its body, or what went wrong.
    async fn call(
        &self,
        via: NodeId,
        path: &str,
        body: &Value,
        timeout: Duration,
    ) -> anyhow::Result<Vec<u8>> {
        match self.post(via, path, body, timeout).await {
            Answer::Success(body) => Ok(body),
            other => bail!("{path}: {}", describe(&other)),
        }
    }
}

/// etcd is a Go binary: the Go runtime reads the clock through the vDSO and raw system
/// calls, never through libc, so libfaketime cannot reach it and nothing else skews one
/// process's clock. Clock faults on etcd are recorded as not taken, with this reason.
impl Clocks for Etcd {
    fn clock_refusal(&self) -> Option<&'static str> {
        Some(ETCD_CLOCK_REASON)
    }
}

/// Why a clock fault cannot reach etcd; said at run start and in each not-taken record.
pub const ETCD_CLOCK_REASON: &str =
    "etcd's clock cannot be skewed: a Go binary does not read time through libc, so libfaketime cannot reach it";

impl System for Etcd {
    fn name(&self) -> &'static str {
        "etcd"
    }

    fn version(&self) -> String {
        program_version(&self.options.program, parse_version)
    }

    fn workloads(&self) -> &'static [WorkloadName] {
        SystemName::Etcd.workloads()
    }

    fn node_spec(&self, id: NodeId, run_dir: &Path) -> anyhow::Result<NodeSpec> {
        let Some(&ip) = self.topology.nodes.get(&id) else {
            anyhow::bail!("etcd: node {id} is not in the topology");
        };
        let peer = SocketAddr::new(ip, PEER_PORT);
        let client = SocketAddr::new(ip, CLIENT_PORT);
        let data_dir = RunDir::node_data_at(run_dir, id);
        let initial_cluster = self
            .topology
            .nodes
            .iter()
            .map(|(&n, &ip)| format!("{}=http://{}", member_name(n), SocketAddr::new(ip, PEER_PORT)))
            .collect::<Vec<_>>()
            .join(",");
        let o = &self.options;
        let mut argv: Vec<OsString> = vec![o.program.clone().into()];
        let mut flag = |name: &str, value: OsString| {
            argv.push(name.into());
            argv.push(value);
        };
        flag("--name", member_name(id).into());
        flag("--data-dir", data_dir.clone().into());
        flag("--listen-peer-urls", format!("http://{peer}").into());
        flag("--initial-advertise-peer-urls", format!("http://{peer}").into());
        flag("--listen-client-urls", format!("http://{client}").into());
        flag("--advertise-client-urls", format!("http://{client}").into());
        flag("--initial-cluster", initial_cluster.into());
        flag("--initial-cluster-state", "new".into());
        flag("--initial-cluster-token", o.cluster_token.clone().into());
        flag("--heartbeat-interval", o.heartbeat_interval_ms.to_string().into());
        flag("--election-timeout", o.election_timeout_ms.to_string().into());
        let mut rejoin_argv = argv.clone();
        if let Some(state) = rejoin_argv.iter().position(|a| a == "--initial-cluster-state") {
            rejoin_argv[state + 1] = "existing".into();
        }
        Ok(NodeSpec {
            id,
            argv,
            rejoin_argv: Some(rejoin_argv),
            data_dir,
            log_path: RunDir::node_log_at(run_dir, id),
            addrs: NodeAddrs { peer_listen: peer, client },
        })
    }

    fn invoke<'a>(&'a self, node: NodeId, op: &'a Op, timeout: Duration) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            if let Op::Dequeue { key } = op {
                return self.dequeue(node, op, key, timeout).await;
            }
            match request(op, self.options.serializable_reads) {
                Some((path, body)) => complete(op, &self.post(node, path, &body, timeout).await),
                None => unsupported(op),
            }
        })
    }
}

impl Probe for Etcd {
    /// `GET /health`: true when the member has a leader and a quorum read succeeds, so a
    /// member cut off from the majority is not healthy.
    fn health(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let Some(addr) = self.client_addr(id) else { bail!("no node {id} in the topology") };
            match exchange(self.http.get(format!("http://{addr}/health")), timeout).await {
                Answer::Success(body) => {
                    let health: Health = serde_json::from_slice(&body)
                        .with_context(|| format!("etcd /health answered {}", excerpt(&body)))?;
                    if health.health == "true" {
                        Ok(())
                    } else {
                        bail!("etcd node {id} is not healthy: {}", excerpt(&body))
                    }
                }
                other => bail!("etcd node {id} is not healthy: {}", describe(&other)),
            }
        })
    }

    fn status(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<Status>> {
        Box::pin(async move {
            // etcd's `raftTerm` is the term of the member's last applied entry, so a member
            // that has just won an election says it leads the old term until its first
            // entry of the new one applies, while the deposed leader may still claim that
            // old term too: a split brain that never was. A claim to lead is believed only
            // when an answer a moment later repeats it.
            let mut parsed = self.status_once(id, timeout).await?;
            let mut answers = 1;
            while parsed.claims_to_lead() {
                if answers == STATUS_ANSWERS {
                    bail!("etcd node {id} status: its claim to lead did not settle over {answers} answers");
                }
                tokio::time::sleep(STATUS_SETTLE).await;
                let again = self.status_once(id, timeout).await?;
                answers += 1;
                let settled = settled(&parsed, &again);
                parsed = again;
                if settled {
                    break;
                }
            }
            self.lock_members().insert(parsed.member, id);
            let leader = match parsed.leader {
                Some(m) if m == parsed.member => Some(id),
                Some(m) => self.node_of_member(m, id, timeout).await,
                None => None,
            };
            Ok(Status {
                id,
                protocol: "etcd".to_string(),
                role: if parsed.leader == Some(parsed.member) { Role::Leader } else { Role::Follower },
                term: parsed.term,
                leader,
                commit_index: parsed.raft_index,
                applied_index: parsed.applied_index,
            })
        })
    }
}

/// The gateway route and body for an operation; `None` for operations etcd has no client for.
pub fn request(op: &Op, serializable_reads: bool) -> Option<(&'static str, Value)> {
    let b = |s: &str| BASE64.encode(s.as_bytes());
    match op {
        Op::Read { key } => {
            let mut body = json!({ "key": b(key) });
            if serializable_reads {
                body["serializable"] = json!(true);
            }
            Some(("/v3/kv/range", body))
        }
        Op::Write { key, value } => {
            Some(("/v3/kv/put", json!({ "key": b(key), "value": b(&value.to_string()) })))
        }
        Op::Cas { key, from, to } => Some((
            "/v3/kv/txn",
            json!({
                "compare": [{
                    "key": b(key),
                    "target": "VALUE",
                    "result": "EQUAL",
                    "value": b(&from.to_string()),
                }],
                "success": [{ "requestPut": { "key": b(key), "value": b(&to.to_string()) } }],
            }),
        )),
        Op::Enqueue { key, element } => {
            let at = b(&element_key(key, *element));
            Some((
                "/v3/kv/txn",
                json!({
                    "compare": [{ "key": at, "target": "CREATE", "result": "EQUAL", "create_revision": "0" }],
                    "success": [{ "requestPut": { "key": at, "value": b(&element.to_string()) } }],
                }),
            ))
        }
        Op::Add { .. }
        | Op::ReadSet { .. }
        | Op::Transfer { .. }
        | Op::ReadAccounts { .. }
        | Op::Txn { .. }
        | Op::Increment { .. }
        | Op::ReadCounter { .. }
        | Op::Dequeue { .. } => None,
    }
}

/// The key of `element` in `queue`: non-negative elements zero-padded, so that keys sort
/// in the elements' order.
fn element_key(queue: &str, element: i64) -> String {
    if element >= 0 {
        format!("{queue}/{element:020}")
    } else {
        format!("{queue}/{element}")
    }
}

/// The range for a queue's head: the first key under `<queue>/`.
fn head_request(queue: &str, serializable: bool) -> Value {
    let prefix = format!("{queue}/");
    // Every key with the prefix sorts below the prefix with its last byte raised.
    let mut end = prefix.clone().into_bytes();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    let mut body = json!({
        "key": BASE64.encode(prefix.as_bytes()),
        "range_end": BASE64.encode(&end),
        "limit": "1",
    });
    if serializable {
        body["serializable"] = json!(true);
    }
    body
}

/// A queue's head as a range found it: its key (base64, as the gateway speaks), the
/// revision it was last written at, and its element.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    key: String,
    mod_revision: String,
    element: i64,
}

/// The head in a range answer for `queue`, or `None` when the queue is empty.
fn queue_head(queue: &str, body: &[u8]) -> Result<Option<Head>, String> {
    let answer: RangeAnswer = decode(body)?;
    let Some(kv) = answer.kvs.first() else { return Ok(None) };
    let found = BASE64.decode(&kv.key).map_err(|e| format!("key {:?} is not base64: {e}", kv.key))?;
    if !found.starts_with(format!("{queue}/").as_bytes()) {
        return Err(format!("asked for the head of {queue:?}, got {:?}", String::from_utf8_lossy(&found)));
    }
    let bytes = BASE64.decode(&kv.value).map_err(|e| format!("value {:?} is not base64: {e}", kv.value))?;
    let text = String::from_utf8_lossy(&bytes);
    let element = text.parse::<i64>().map_err(|_| format!("element {text:?} is not an integer"))?;
    let mod_revision = kv.mod_revision.clone().ok_or("the head has no mod_revision")?;
    Ok(Some(Head { key: kv.key.clone(), mod_revision, element }))
}

/// The txn that deletes `head` if nobody wrote or deleted it since it was read.
fn take_request(head: &Head) -> Value {
    json!({
        "compare": [{ "key": head.key, "target": "MOD", "result": "EQUAL", "mod_revision": head.mod_revision }],
        "success": [{ "requestDeleteRange": { "key": head.key } }],
    })
}

/// How the answer to [`take_request`] ends the dequeue: `ok` with the element when the
/// delete happened, `None` when another dequeue had taken the head, and otherwise as a
/// write ends (`info` unless the answer proves nothing happened).
fn complete_take(op: &Op, head: &Head, answer: &Answer) -> Option<Completion> {
    match answer {
        Answer::Success(body) => match decode::<TxnAnswer>(body) {
            Ok(TxnAnswer { succeeded: true, .. }) => Some(Completion {
                kind: EventType::Ok,
                value: json!(head.element),
                error: None,
                leader_hint: None,
            }),
            Ok(TxnAnswer { succeeded: false, .. }) => None,
            Err(e) => Some(ended(EventType::Info, op, format!("unreadable answer: {e}"))),
        },
        other => Some(complete(op, other)),
    }
}

/// How an answer to `op` becomes its completion (see the module doc for the rules).
pub fn complete(op: &Op, answer: &Answer) -> Completion {
    let read = matches!(op, Op::Read { .. });
    match answer {
        Answer::Success(body) => {
            let decoded = match op {
                Op::Read { key } => read_value(key, body).map(|v| (true, json!(v))),
                Op::Write { .. } => decode::<Acknowledged>(body).map(|_| (true, op.invoke_value())),
                Op::Cas { .. } => decode::<TxnAnswer>(body).map(|t| (t.succeeded, op.invoke_value())),
                Op::Enqueue { .. } => decode::<TxnAnswer>(body).map(|t| (t.succeeded, op.invoke_value())),
                _ => return unsupported(op),
            };
            match decoded {
                Ok((true, value)) => {
                    Completion { kind: EventType::Ok, value, error: None, leader_hint: None }
                }
                Ok((false, _)) => {
                    let why = match op {
                        Op::Enqueue { .. } => "the element is queued already",
                        _ => "the value did not match",
                    };
                    ended(EventType::Fail, op, format!("precondition_failed: {why}"))
                }
                Err(e) if read => ended(EventType::Fail, op, format!("unreadable answer: {e}")),
                Err(e) => ended(EventType::Info, op, format!("unreadable answer: {e}")),
            }
        }
        Answer::Error { body, .. } => {
            let definite =
                read || serde_json::from_slice::<GatewayError>(body).is_ok_and(|e| definite_code(e.code));
            ended(if definite { EventType::Fail } else { EventType::Info }, op, describe(answer))
        }
        Answer::NotSent(_) => ended(EventType::Fail, op, describe(answer)),
        Answer::TimedOut | Answer::Lost(_) => {
            ended(if read { EventType::Fail } else { EventType::Info }, op, describe(answer))
        }
    }
}

/// gRPC codes etcd answers before a request is proposed, so the request did not happen:
/// InvalidArgument (3), NotFound (5), PermissionDenied (7), ResourceExhausted (8: too many
/// requests, no space), OutOfRange (11), Unimplemented (12), Unauthenticated (16).
/// Unavailable (14: request timed out, leader changed), Unknown, Internal, Canceled and
/// DeadlineExceeded can follow a proposal that still commits.
fn definite_code(code: i64) -> bool {
    matches!(code, 3 | 5 | 7 | 8 | 11 | 12 | 16)
}

/// A completion that is not `ok`: it carries the invocation's value.
fn ended(kind: EventType, op: &Op, error: String) -> Completion {
    Completion { kind, value: op.invoke_value(), error: Some(error), leader_hint: None }
}

fn unsupported(op: &Op) -> Completion {
    ended(EventType::Fail, op, format!("not sent: etcd has no client for {op:?}"))
}

/// One line describing a non-success answer.
fn describe(answer: &Answer) -> String {
    match answer {
        Answer::Success(body) => format!("success {}", excerpt(body)),
        Answer::Error { status, body } => match serde_json::from_slice::<GatewayError>(body) {
            Ok(e) => {
                format!("http {status}: {} (grpc code {})", e.message.or(e.error).unwrap_or_default(), e.code)
            }
            Err(_) => format!("http {status}: {}", excerpt(body)),
        },
        Answer::TimedOut => "timeout".to_string(),
        Answer::NotSent(e) => format!("not sent: {e}"),
        Answer::Lost(e) => format!("connection lost: {e}"),
    }
}

fn excerpt(body: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(&body[..body.len().min(200)]))
}

/// Send a request and read the whole answer (at most [`MAX_ANSWER_BYTES`]) within `timeout`.
async fn exchange(request: reqwest::RequestBuilder, timeout: Duration) -> Answer {
    let exchange = async {
        let mut response = request.send().await?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Ok(Err(format!("answer over {MAX_ANSWER_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok::<_, reqwest::Error>(Ok((status, body)))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Answer::TimedOut,
        Ok(Ok(Ok((status, body)))) if status.is_success() => Answer::Success(body),
        Ok(Ok(Ok((status, body)))) => Answer::Error { status: status.as_u16(), body },
        Ok(Ok(Err(too_long))) => Answer::Lost(too_long),
        // Nothing leaves before the connection is open, even when opening it timed out.
        Ok(Err(e)) if e.is_connect() => Answer::NotSent(error_chain(&e)),
        Ok(Err(e)) if e.is_timeout() => Answer::TimedOut,
        Ok(Err(e)) => Answer::Lost(error_chain(&e)),
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A member's name for node `id`.
fn member_name(id: NodeId) -> String {
    format!("n{id}")
}

fn node_of_name(name: &str) -> Option<NodeId> {
    name.strip_prefix('n')?.parse().ok()
}

/// etcd's JSON renders uint64 as strings.
fn parse_u64(text: &str) -> Option<u64> {
    text.parse().ok()
}

/// The response header every gateway answer carries; its presence tells an answer from
/// some other JSON object.
#[derive(Debug, Deserialize)]
struct Header {
    #[serde(default)]
    member_id: String,
}

#[derive(Debug, Deserialize)]
struct Acknowledged {
    /// Required, so that an answer without etcd's header is refused; not read.
    #[serde(rename = "header")]
    _header: Header,
}

#[derive(Debug, Deserialize)]
struct TxnAnswer {
    /// Required, so that an answer without etcd's header is refused; not read.
    #[serde(rename = "header")]
    _header: Header,
    #[serde(default)]
    succeeded: bool,
}

#[derive(Debug, Deserialize)]
struct RangeAnswer {
    /// Required, so that an answer without etcd's header is refused; not read.
    #[serde(rename = "header")]
    _header: Header,
    #[serde(default)]
    kvs: Vec<KeyValue>,
}

#[derive(Debug, Deserialize)]
struct KeyValue {
    key: String,
    #[serde(default)]
    value: String,
    /// A decimal string, as etcd's JSON renders int64.
    #[serde(default)]
    mod_revision: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GatewayError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
    code: i64,
}

#[derive(Debug, Deserialize)]
struct Health {
    health: String,
}

#[derive(Debug, Deserialize)]
struct MemberList {
    #[serde(default)]
    members: Vec<Member>,
}

#[derive(Debug, Deserialize)]
struct Member {
    #[serde(rename = "ID")]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "peerURLs")]
    peer_urls: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStatus {
    header: Header,
    #[serde(default)]
    leader: Option<String>,
    #[serde(default)]
    raft_term: Option<String>,
    #[serde(default)]
    raft_index: Option<String>,
    #[serde(default)]
    raft_applied_index: Option<String>,
}

/// A member's status, numbers parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ParsedStatus {
    member: u64,
    /// `None` when the member knows no leader.
    leader: Option<u64>,
    term: u64,
    raft_index: u64,
    applied_index: u64,
}

impl ParsedStatus {
    fn claims_to_lead(&self) -> bool {
        self.leader == Some(self.member)
    }
}

/// How long to wait before asking again whether a claim to lead holds.
const STATUS_SETTLE: Duration = Duration::from_millis(100);
/// At most this many status answers for one sample.
const STATUS_ANSWERS: usize = 3;

/// Whether `latest`, taken a moment after `previous`, is an answer to believe: it does not
/// claim to lead, or it repeats the same claim (leader and term).
fn settled(previous: &ParsedStatus, latest: &ParsedStatus) -> bool {
    !latest.claims_to_lead() || (latest.leader, latest.term) == (previous.leader, previous.term)
}

fn parse_status(raw: &RawStatus) -> anyhow::Result<ParsedStatus> {
    let number = |field: &Option<String>, name: &str| -> anyhow::Result<u64> {
        match field {
            None => Ok(0),
            Some(text) => parse_u64(text).with_context(|| format!("{name} {text:?} is not a number")),
        }
    };
    let member = parse_u64(&raw.header.member_id)
        .with_context(|| format!("member id {:?} is not a number", raw.header.member_id))?;
    let leader = number(&raw.leader, "leader")?;
    Ok(ParsedStatus {
        member,
        leader: (leader != 0).then_some(leader),
        term: number(&raw.raft_term, "raftTerm")?,
        raft_index: number(&raw.raft_index, "raftIndex")?,
        applied_index: number(&raw.raft_applied_index, "raftAppliedIndex")?,
    })
}

fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("{}: {e}", excerpt(body)))
}

/// The register's value in a range answer: `None` when the key is absent.
fn read_value(key: &str, body: &[u8]) -> Result<Option<i64>, String> {
    let answer: RangeAnswer = decode(body)?;
    match answer.kvs.as_slice() {
        [] => Ok(None),
        [kv] => {
            let found = BASE64.decode(&kv.key).map_err(|e| format!("key {:?} is not base64: {e}", kv.key))?;
            if found != key.as_bytes() {
                return Err(format!("asked for {key:?}, got {:?}", String::from_utf8_lossy(&found)));
            }
            let bytes =
                BASE64.decode(&kv.value).map_err(|e| format!("value {:?} is not base64: {e}", kv.value))?;
            let text = String::from_utf8_lossy(&bytes);
            text.parse::<i64>().map(Some).map_err(|_| format!("value {text:?} is not an integer"))
        }
        more => Err(format!("{} values for one key", more.len())),
    }
}

/// `etcd --version` prints `etcd Version: 3.4.23` first.
fn parse_version(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("etcd Version:"))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn topology(n: u32) -> Topology {
        Topology { nodes: (1..=n).map(|i| (i, IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8)))).collect() }
    }

    fn b64(s: &str) -> String {
        BASE64.encode(s)
    }

    fn range(value: Option<&str>) -> Answer {
        let kvs = match value {
            Some(v) => json!([{ "key": b64("r1"), "value": b64(v), "mod_revision": "3" }]),
            None => json!(null),
        };
        let mut body = json!({ "header": { "member_id": "7", "revision": "3" } });
        if value.is_some() {
            body["kvs"] = kvs;
            body["count"] = json!("1");
        }
        Answer::Success(serde_json::to_vec(&body).unwrap())
    }

    fn gateway_error(status: u16, code: i64, message: &str) -> Answer {
        Answer::Error {
            status,
            body: serde_json::to_vec(&json!({ "error": message, "message": message, "code": code })).unwrap(),
        }
    }

    #[test]
    fn the_spec_bootstraps_a_static_cluster_on_the_nodes_address() {
        let etcd = Etcd::new(topology(3), EtcdOptions::default()).unwrap();
        let spec = etcd.node_spec(2, Path::new("/run")).unwrap();
        let argv: Vec<String> = spec.argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let value = |flag: &str| argv[argv.iter().position(|a| a == flag).unwrap() + 1].clone();
        assert_eq!(argv[0], "etcd");
        assert_eq!(value("--name"), "n2");
        assert_eq!(value("--data-dir"), "/run/data/2");
        assert_eq!(value("--listen-client-urls"), "http://10.0.0.2:2379");
        assert_eq!(value("--initial-advertise-peer-urls"), "http://10.0.0.2:2380");
        assert_eq!(
            value("--initial-cluster"),
            "n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380,n3=http://10.0.0.3:2380"
        );
        assert_eq!(value("--initial-cluster-state"), "new");
        // Started again, the member joins the cluster it is in; nothing else changes.
        let rejoin = spec.rejoin_argv.as_ref().expect("etcd members rejoin");
        let differs: Vec<_> = argv.iter().zip(rejoin).filter(|(a, b)| OsString::from(a) != **b).collect();
        assert_eq!(rejoin.len(), argv.len());
        assert_eq!(differs.len(), 1, "{differs:?}");
        let state = rejoin.iter().position(|a| a == "--initial-cluster-state").unwrap();
        assert_eq!(rejoin[state + 1], "existing");
        assert_eq!(spec.log_path, Path::new("/run/nodes/2.log"));
        assert_eq!(spec.data_dir, Path::new("/run/data/2"));
        assert_eq!(spec.addrs.client.to_string(), "10.0.0.2:2379");
    }

    #[test]
    fn requests_carry_base64_keys_and_decimal_values() {
        let (path, body) = request(&Op::Write { key: "r1".into(), value: 12 }, false).unwrap();
        assert_eq!(path, "/v3/kv/put");
        assert_eq!(body, json!({ "key": b64("r1"), "value": b64("12") }));
        let (_, body) = request(&Op::Read { key: "r1".into() }, false).unwrap();
        assert_eq!(body.get("serializable"), None);
        let (_, body) = request(&Op::Read { key: "r1".into() }, true).unwrap();
        assert_eq!(body["serializable"], json!(true));
        let (path, body) = request(&Op::Cas { key: "r1".into(), from: 1, to: 2 }, false).unwrap();
        assert_eq!(path, "/v3/kv/txn");
        assert_eq!(body["compare"][0]["value"], json!(b64("1")));
        assert_eq!(body["success"][0]["requestPut"]["value"], json!(b64("2")));
        assert_eq!(request(&Op::ReadSet { key: "s".into() }, false), None);
    }

    #[test]
    fn reads_complete_with_the_value_or_null_and_otherwise_fail() {
        let read = Op::Read { key: "r1".into() };
        let c = complete(&read, &range(Some("5")));
        assert_eq!((c.kind, c.value), (EventType::Ok, json!(5)));
        let c = complete(&read, &range(None));
        assert_eq!((c.kind, c.value), (EventType::Ok, Value::Null));
        for answer in [
            range(Some("five")),
            Answer::Success(b"{}".to_vec()),
            Answer::TimedOut,
            Answer::Lost("reset".into()),
            gateway_error(503, 14, "etcdserver: request timed out"),
        ] {
            assert_eq!(complete(&read, &answer).kind, EventType::Fail, "{answer:?}");
        }
    }

    #[test]
    fn writes_are_ok_only_with_a_header_and_info_unless_proven_not_to_have_happened() {
        let write = Op::Write { key: "r1".into(), value: 3 };
        let ok = Answer::Success(br#"{"header":{"member_id":"1","revision":"2"}}"#.to_vec());
        let c = complete(&write, &ok);
        assert_eq!((c.kind, c.value), (EventType::Ok, json!(3)));
        assert_eq!(complete(&write, &Answer::Success(b"{}".to_vec())).kind, EventType::Info);
        assert_eq!(complete(&write, &Answer::TimedOut).kind, EventType::Info);
        assert_eq!(complete(&write, &Answer::Lost("reset".into())).kind, EventType::Info);
        assert_eq!(
            complete(&write, &gateway_error(503, 14, "etcdserver: request timed out")).kind,
            EventType::Info
        );
        assert_eq!(
            complete(&write, &Answer::Error { status: 502, body: b"bad gateway".to_vec() }).kind,
            EventType::Info
        );
        let c = complete(&write, &gateway_error(429, 8, "etcdserver: too many requests"));
        assert_eq!((c.kind, c.value), (EventType::Fail, json!(3)));
        assert!(c.error.unwrap().contains("too many requests"));
        assert_eq!(complete(&write, &gateway_error(400, 3, "bad key")).kind, EventType::Fail);
        assert_eq!(complete(&write, &Answer::NotSent("refused".into())).kind, EventType::Fail);
    }

    #[test]
    fn a_cas_that_did_not_match_fails() {
        let cas = Op::Cas { key: "r1".into(), from: 1, to: 2 };
        let matched = Answer::Success(br#"{"header":{"member_id":"1"},"succeeded":true}"#.to_vec());
        let c = complete(&cas, &matched);
        assert_eq!((c.kind, c.value), (EventType::Ok, json!([1, 2])));
        let missed = Answer::Success(br#"{"header":{"member_id":"1"}}"#.to_vec());
        let c = complete(&cas, &missed);
        assert_eq!((c.kind, c.value), (EventType::Fail, json!([1, 2])));
        assert!(c.error.unwrap().starts_with("precondition_failed"));
        assert_eq!(complete(&cas, &Answer::TimedOut).kind, EventType::Info);
    }

    #[test]
    fn an_enqueue_creates_its_element_key_once() {
        let enqueue = Op::Enqueue { key: "q".into(), element: 42 };
        let (path, body) = request(&enqueue, false).unwrap();
        assert_eq!(path, "/v3/kv/txn");
        let at = b64("q/00000000000000000042");
        assert_eq!(
            body["compare"][0],
            json!({ "key": at, "target": "CREATE", "result": "EQUAL", "create_revision": "0" })
        );
        assert_eq!(body["success"][0]["requestPut"], json!({ "key": at, "value": b64("42") }));
        assert_eq!(element_key("q", -5), "q/-5");
        let created = Answer::Success(br#"{"header":{"member_id":"1"},"succeeded":true}"#.to_vec());
        let c = complete(&enqueue, &created);
        assert_eq!((c.kind, c.value), (EventType::Ok, json!(42)));
        let queued = complete(&enqueue, &Answer::Success(br#"{"header":{"member_id":"1"}}"#.to_vec()));
        assert_eq!(queued.kind, EventType::Fail);
        assert!(queued.error.unwrap().contains("queued already"));
        assert_eq!(complete(&enqueue, &Answer::TimedOut).kind, EventType::Info);
        assert_eq!(complete(&enqueue, &Answer::NotSent("refused".into())).kind, EventType::Fail);
    }

    #[test]
    fn a_dequeue_reads_the_head_then_deletes_it_only_if_unchanged() {
        let body = head_request("q", false);
        assert_eq!((body["key"].clone(), body["range_end"].clone()), (json!(b64("q/")), json!(b64("q0"))));
        assert_eq!(body["limit"], "1");
        assert_eq!(head_request("q", true)["serializable"], true);
        let answer =
            |kvs: Value| serde_json::to_vec(&json!({ "header": { "member_id": "7" }, "kvs": kvs })).unwrap();
        let found = answer(
            json!([{ "key": b64("q/00000000000000000007"), "value": b64("7"), "mod_revision": "12" }]),
        );
        let head = queue_head("q", &found).unwrap().unwrap();
        assert_eq!(head.element, 7);
        assert_eq!(queue_head("q", br#"{"header":{"member_id":"7"}}"#), Ok(None), "no kvs: empty");
        let stranger = answer(json!([{ "key": b64("r1"), "value": b64("7"), "mod_revision": "12" }]));
        assert!(queue_head("q", &stranger).is_err());
        let no_revision = answer(json!([{ "key": b64("q/1"), "value": b64("1") }]));
        assert!(queue_head("q", &no_revision).is_err());
        assert!(queue_head(
            "q",
            &answer(json!([{ "key": b64("q/1"), "value": b64("x"), "mod_revision": "2" }]))
        )
        .is_err());

        let take = take_request(&head);
        assert_eq!(take["compare"][0]["mod_revision"], "12");
        assert_eq!(take["compare"][0]["target"], "MOD");
        assert_eq!(take["success"][0]["requestDeleteRange"]["key"], json!(b64("q/00000000000000000007")));
        let dequeue = Op::Dequeue { key: "q".into() };
        let taken = Answer::Success(br#"{"header":{"member_id":"1"},"succeeded":true}"#.to_vec());
        let c = complete_take(&dequeue, &head, &taken).unwrap();
        assert_eq!((c.kind, c.value), (EventType::Ok, json!(7)));
        let beaten = Answer::Success(br#"{"header":{"member_id":"1"}}"#.to_vec());
        assert_eq!(complete_take(&dequeue, &head, &beaten), None, "taken first by another: look again");
        let lost = complete_take(&dequeue, &head, &Answer::TimedOut).unwrap();
        assert_eq!((lost.kind, lost.value), (EventType::Info, Value::Null), "the delete may have happened");
        let refused = complete_take(&dequeue, &head, &gateway_error(400, 3, "bad request")).unwrap();
        assert_eq!(refused.kind, EventType::Fail);
        let unreadable = complete_take(&dequeue, &head, &Answer::Success(b"junk".to_vec())).unwrap();
        assert_eq!(unreadable.kind, EventType::Info);
    }

    #[test]
    fn a_claim_to_lead_settles_only_when_repeated_or_given_up() {
        let status = |leader: Option<u64>, term| ParsedStatus {
            member: 7,
            leader,
            term,
            raft_index: 0,
            applied_index: 0,
        };
        // A new leader still reporting the old term, then its own: not yet settled.
        assert!(!settled(&status(Some(7), 10), &status(Some(7), 11)));
        assert!(settled(&status(Some(7), 11), &status(Some(7), 11)));
        assert!(settled(&status(Some(7), 11), &status(Some(3), 12)), "a follower's answer is believed");
        assert!(settled(&status(Some(7), 11), &status(None, 11)));
        assert!(!status(Some(3), 11).claims_to_lead() && status(Some(7), 11).claims_to_lead());
    }

    #[test]
    fn status_numbers_are_strings_and_a_missing_leader_is_none() {
        let raw: RawStatus = serde_json::from_str(
            r#"{"header":{"member_id":"755"},"leader":"755","raftTerm":"4","raftIndex":"9","raftAppliedIndex":"8"}"#,
        )
        .unwrap();
        let s = parse_status(&raw).unwrap();
        assert_eq!(
            s,
            ParsedStatus { member: 755, leader: Some(755), term: 4, raft_index: 9, applied_index: 8 }
        );
        let raw: RawStatus = serde_json::from_str(
            r#"{"header":{"member_id":"755"},"raftTerm":"2","errors":["etcdserver: no leader"]}"#,
        )
        .unwrap();
        assert_eq!(parse_status(&raw).unwrap().leader, None);
        let raw: RawStatus = serde_json::from_str(r#"{"header":{"member_id":"x"}}"#).unwrap();
        assert!(parse_status(&raw).is_err());
        assert_eq!(node_of_name("n12"), Some(12));
        assert_eq!(node_of_name("default"), None);
    }

    /// A one-connection HTTP server on loopback that reads the request, then answers
    /// `reply` (or nothing, holding the connection open).
    async fn server(reply: Option<Vec<u8>>) -> SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = socket.read(&mut buf).await;
            match reply {
                Some(bytes) => {
                    let _ = socket.write_all(&bytes).await;
                }
                None => {
                    let _ = socket.read(&mut buf).await;
                }
            }
        });
        addr
    }

    fn etcd_at(addr: SocketAddr) -> Etcd {
        Etcd::new(Topology { nodes: [(1, addr.ip())].into() }, EtcdOptions::default()).unwrap()
    }

    #[tokio::test]
    async fn an_oversized_answer_is_cut_off_and_silence_is_a_timeout() {
        let http = etcd_at("127.0.0.1:1".parse().unwrap()).http;
        let mut huge =
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", 2 * MAX_ANSWER_BYTES).into_bytes();
        huge.resize(huge.len() + 2 * MAX_ANSWER_BYTES, b'x');
        let addr = server(Some(huge)).await;
        let answer = exchange(http.post(format!("http://{addr}/v3/kv/put")), Duration::from_secs(10)).await;
        assert!(matches!(&answer, Answer::Lost(e) if e.contains("answer over")), "{answer:?}");
        let write = Op::Write { key: "r1".into(), value: 1 };
        assert_eq!(complete(&write, &answer).kind, EventType::Info);

        let addr = server(None).await;
        let answer =
            exchange(http.post(format!("http://{addr}/v3/kv/put")), Duration::from_millis(200)).await;
        assert_eq!(answer, Answer::TimedOut);
    }

    #[test]
    fn the_version_line_is_parsed() {
        assert_eq!(parse_version("etcd Version: 3.4.23\nGit SHA: x\n"), Some("3.4.23".into()));
        assert_eq!(parse_version("something else"), None);
        let v = program_version(Path::new("/nonexistent/etcd"), parse_version);
        assert!(v.starts_with("unknown"), "{v}");
    }
}
