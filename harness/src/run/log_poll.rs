//! Watching the committed logs: every built-in node's `GET /admin/log`, polled
//! incrementally for the whole run and once more after healing, as samples for the
//! log-agreement checker.
//!
//! Each node has its own loop. A poll asks only for what is new (`from` = the highest index
//! seen + 1); when the node's commit index falls below that (a restart, or a bug the
//! checker will name), the next poll starts again from the new commit index so the entries
//! under it are compared anew. An answer that cannot be parsed, or a poll that fails or
//! times out, yields no sample: a node we cannot hear commits nothing we can see.
//!
//! Every sample carries how many times the supervisor had started the node, read before
//! and after the question; a sample during which the node was restarted is dropped, since
//! it cannot say which life answered.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use checkers::log_agreement::{LogEntry, LogSample};
use nodes::api::NodeId;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::recorder::RecorderHandle;
use crate::supervisor::Supervisor;

/// Time between two polls of one node.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Deadline of one poll.
pub const POLL_TIMEOUT: Duration = Duration::from_millis(500);
/// Entries asked for per poll (the nodes' own cap).
pub const PAGE: u64 = 10_000;
/// Most pages read back to back in one turn of a node that is far behind.
const MAX_PAGES_PER_TURN: usize = 8;
/// Most entries kept per node over a run; past it the node is no longer polled (the check
/// then covers the prefix it saw).
pub const MAX_ENTRIES_PER_NODE: usize = 2_000_000;
/// Largest answer body read, in bytes (10,000 entries of about 60 bytes, with room).
const MAX_BODY_BYTES: usize = 2 << 20;

/// One node's poller state, kept between the run's polling and the final poll.
pub struct LogPoller {
    id: NodeId,
    addr: SocketAddr,
    /// The highest committed index this poller has seen the node hold.
    seen: u64,
    entries: usize,
    samples: Vec<LogSample>,
}

/// Poll every node until `stop` turns true; the pollers with their samples, to be polled
/// once more with [`final_poll`] after healing.
pub async fn poll(
    http: reqwest::Client,
    supervisor: Arc<Supervisor>,
    clients: Vec<(NodeId, SocketAddr)>,
    clock: RecorderHandle,
    stop: watch::Receiver<bool>,
) -> Vec<LogPoller> {
    let mut tasks = JoinSet::new();
    for (id, addr) in clients {
        let poller = LogPoller { id, addr, seen: 0, entries: 0, samples: Vec::new() };
        tasks.spawn(poll_one(poller, http.clone(), supervisor.clone(), clock.clone(), stop.clone()));
    }
    let mut pollers = Vec::new();
    while let Some(done) = tasks.join_next().await {
        // A poller that panicked loses its samples only; the checker sees fewer samples.
        if let Ok(poller) = done {
            pollers.push(poller);
        }
    }
    pollers.sort_by_key(|p| p.id);
    pollers
}

/// One more turn of every poller (after healing, so every node has caught up), then all
/// samples in time order.
pub async fn final_poll(
    mut pollers: Vec<LogPoller>,
    http: &reqwest::Client,
    supervisor: &Supervisor,
    clock: &RecorderHandle,
) -> Vec<LogSample> {
    for poller in &mut pollers {
        poller.turn(http, supervisor, clock).await;
    }
    let mut samples: Vec<LogSample> = pollers.into_iter().flat_map(|p| p.samples).collect();
    samples.sort_by_key(|s| (s.at_ns, s.node));
    samples
}

async fn poll_one(
    mut poller: LogPoller,
    http: reqwest::Client,
    supervisor: Arc<Supervisor>,
    clock: RecorderHandle,
    mut stop: watch::Receiver<bool>,
) -> LogPoller {
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stop.borrow() {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        poller.turn(&http, &supervisor, &clock).await;
    }
    poller
}

impl LogPoller {
    /// Ask for what is new, page by page while the node has more, within limits.
    async fn turn(&mut self, http: &reqwest::Client, supervisor: &Supervisor, clock: &RecorderHandle) {
        for _ in 0..MAX_PAGES_PER_TURN {
            if self.entries >= MAX_ENTRIES_PER_NODE {
                return;
            }
            let before = supervisor.starts(self.id);
            let answer = fetch(http, self.addr, self.seen + 1).await;
            let at_ns = clock.now_ns();
            let Ok(answer) = answer else { return };
            if supervisor.starts(self.id) != before {
                return;
            }
            let last = answer.entries.last().map(|e| e.index);
            let more = last.is_some_and(|l| l < answer.commit_index);
            self.entries += answer.entries.len();
            self.seen = match last {
                Some(l) => l,
                None => answer.commit_index.min(self.seen),
            };
            self.samples.push(LogSample {
                node: self.id,
                at_ns,
                restarts: before.saturating_sub(1),
                commit_index: answer.commit_index,
                entries: answer.entries,
            });
            if !more {
                return;
            }
        }
    }
}

/// The node's answer, parsed.
#[derive(Debug)]
struct LogAnswer {
    commit_index: u64,
    entries: Vec<LogEntry>,
}

#[derive(Deserialize)]
struct RawAnswer {
    commit_index: u64,
    entries: Vec<RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    index: u64,
    term: u64,
    hash: String,
}

async fn fetch(http: &reqwest::Client, addr: SocketAddr, from: u64) -> anyhow::Result<LogAnswer> {
    let url = format!("http://{addr}/admin/log?from={from}&limit={PAGE}");
    let response = http.get(&url).timeout(POLL_TIMEOUT).send().await.context("asking for the log")?;
    if !response.status().is_success() {
        return Err(anyhow!("{url} answered {}", response.status()));
    }
    let body = tokio::time::timeout(POLL_TIMEOUT, response.bytes())
        .await
        .map_err(|_| anyhow!("{url} did not finish its answer"))?
        .context("reading the log")?;
    if body.len() > MAX_BODY_BYTES {
        return Err(anyhow!("{url} answered {} bytes, more than {MAX_BODY_BYTES}", body.len()));
    }
    parse(&body, from)
}

/// Parse one answer; entries must be ascending and start no earlier than asked.
fn parse(body: &[u8], from: u64) -> anyhow::Result<LogAnswer> {
    let raw: RawAnswer = serde_json::from_slice(body).context("the log answer is not the expected JSON")?;
    let mut entries = Vec::with_capacity(raw.entries.len());
    let mut previous = from.saturating_sub(1);
    for e in raw.entries {
        if e.index <= previous || e.index > raw.commit_index {
            return Err(anyhow!(
                "log entry {} out of order or past the commit index {}",
                e.index,
                raw.commit_index
            ));
        }
        previous = e.index;
        let hash = u64::from_str_radix(&e.hash, 16)
            .map_err(|_| anyhow!("log entry {} has hash {:?}, not 16 hex digits", e.index, e.hash))?;
        entries.push(LogEntry { index: e.index, term: e.term, hash });
    }
    Ok(LogAnswer { commit_index: raw.commit_index, entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_parses_into_typed_entries() {
        let body = br#"{"node":1,"commit_index":3,"first_index":1,
            "entries":[{"index":2,"term":1,"hash":"00000000000000ff"},{"index":3,"term":2,"hash":"ffffffffffffffff"}]}"#;
        let answer = parse(body, 2).unwrap();
        assert_eq!(answer.commit_index, 3);
        assert_eq!(
            answer.entries,
            vec![LogEntry { index: 2, term: 1, hash: 0xff }, LogEntry { index: 3, term: 2, hash: u64::MAX }]
        );
    }

    #[test]
    fn bad_answers_are_refused_with_a_reason() {
        let bad_hash = br#"{"commit_index":1,"entries":[{"index":1,"term":1,"hash":"xyz"}]}"#;
        assert!(parse(bad_hash, 1).unwrap_err().to_string().contains("hex"));
        let out_of_order = br#"{"commit_index":5,"entries":[{"index":3,"term":1,"hash":"1"},{"index":2,"term":1,"hash":"2"}]}"#;
        assert!(parse(out_of_order, 1).is_err());
        let past_commit = br#"{"commit_index":1,"entries":[{"index":2,"term":1,"hash":"1"}]}"#;
        assert!(parse(past_commit, 1).is_err());
        assert!(parse(b"not json", 1).is_err());
    }
}
