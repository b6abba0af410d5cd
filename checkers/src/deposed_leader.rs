//! The deposed-leader checker: split brain as a user sees it, a leader that has been
//! replaced and still acknowledges writes.
//!
//! [`crate::split_brain`] looks for two leaders of the *same* term at once. A primary cut off
//! from its backups that keeps serving while a backup is promoted into the next epoch is
//! never caught that way: the two claims are in different terms. This checker joins the
//! status samples with the history instead. An `ok` write `w` is flagged when
//!
//! 1. `w` was served by node A (the history's `node` field: the node the client called),
//! 2. before `w` was invoked, a status poll of another node B had already come back saying
//!    B leads term `t_B` (the poll's answer was *received* before the invocation), and
//! 3. after `w` completed, a status poll of A (*sent* after the completion) found A still
//!    leading a term `t_A < t_B`.
//!
//! Why this never fires on a correct Raft, Multi-Paxos or 2PC run (or on etcd, which is
//! Raft): terms (ballot rounds, epochs) never decrease at a node. By (3), A's term stayed
//! at most `t_A` for the whole of `w`. By (2), a majority had already moved to a term of at
//! least `t_B` before `w` began: B could only lead `t_B` after a majority voted (promised)
//! in `t_B`. A node that serves a write in term `t_A` acknowledges it only once a majority
//! accepted an append (accept) of term `t_A` that carried `w`, sent after `w` arrived, that
//! is after `w`'s invocation, and every member of that majority would have rejected a
//! term-`t_A` append then: two majorities intersect. A cannot forward `w` to some other
//! leader either: a node that leads `t_A` after `w` and could not have been elected in
//! `t_A` after (2) was already candidate or leader in `t_A` during all of `w`, and neither
//! forwards. So `w` cannot have been committed, and an `ok` for it is a deposed leader
//! acknowledging a write the new leader never saw. Protocols whose failover does not wait
//! for a majority (primary-backup with asynchronous replication) are exactly the ones that
//! break the premise, and the ones this checker exists to catch.
//!
//! Polling sees only what it samples, so the check can miss a split but what it reports was
//! observed. A primary woken from a pause that answers the requests queued for it in the
//! milliseconds before it reads that it was replaced is such a miss: the next poll of it
//! finds a backup, so (3) never holds; what it lost shows in the history and the logs
//! instead. No sample, or no `ok` write with a node and times, is `unknown`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::history::{History, Outcome};
use crate::split_brain::{claims, Claim, Sample};
use crate::verdict::Verdict;

/// At most this many offending writes are kept in the report (the count is always exact).
pub const MAX_REPORTED: usize = 20;

/// A write acknowledged by a node that had been deposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeposedWrite {
    /// The write's invocation and completion in the history (event indices).
    pub invoke_index: u64,
    pub complete_index: u64,
    pub process: u64,
    pub f: String,
    pub key: Option<String>,
    /// Invocation and completion times, run nanoseconds.
    pub invoke_ns: u64,
    pub complete_ns: u64,
    /// The node that served it, and the claim it still held after the write completed.
    pub served_by: Claim,
    /// The higher claim of another node, seen before the write was invoked.
    pub newer: Claim,
}

/// What the deposed-leader checker found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeposedLeaderReport {
    pub verdict: Verdict,
    pub samples: usize,
    /// `ok` writes with a serving node and times: the writes this check could judge.
    pub writes_judged: usize,
    /// Writes acknowledged by a deposed leader.
    pub deposed_writes: usize,
    /// Pairs of claims (old, newer) that overlapped while the old one acknowledged writes,
    /// with how many writes each pair explains, in order of the old claim's start.
    pub overlapping_claims: Vec<ClaimPair>,
    /// The first [`MAX_REPORTED`] deposed writes, by invocation.
    pub examples: Vec<DeposedWrite>,
}

/// A deposed leader's claim and the newer claim that overlapped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimPair {
    pub old: Claim,
    pub newer: Claim,
    pub writes: usize,
}

/// Judge the `ok` writes of `history` (operations other than `read`, `get` and transactions
/// of reads only) against the
/// status `samples` (in any order; times on the history's clock).
pub fn check(history: &History, samples: &[Sample]) -> DeposedLeaderReport {
    let leading = Leading::new(samples);
    let all_claims = claims(samples);
    let events = history.events();
    let mut writes_judged = 0;
    let mut found = Vec::new();
    for op in history.operations() {
        if !matches!(op.outcome, Outcome::Ok(_)) || is_read(&op.f, &op.value) {
            continue;
        }
        let (Some(invoke_ns), Some(complete_ns), Some(complete_index)) =
            (op.invoke_time, op.complete_time, op.complete_index)
        else {
            continue;
        };
        let Some(node) = events.get(op.invoke_index as usize).and_then(|e| e.node.as_deref()) else {
            continue;
        };
        let Ok(node) = node.trim().parse::<u32>() else { continue };
        writes_judged += 1;
        let Some(newer) = leading.highest_before(invoke_ns, node) else { continue };
        let Some(old) = leading.first_after(node, complete_ns) else { continue };
        if old.term >= newer.term {
            continue;
        }
        let claim_of = |s: &Sample| {
            all_claims
                .iter()
                .find(|c| {
                    c.node == s.node && c.term == s.term && c.from_ns <= s.sent_ns && s.received_ns <= c.to_ns
                })
                .copied()
                .unwrap_or(Claim { node: s.node, term: s.term, from_ns: s.sent_ns, to_ns: s.received_ns })
        };
        found.push(DeposedWrite {
            invoke_index: op.invoke_index,
            complete_index,
            process: op.process,
            f: op.f.clone(),
            key: op.key.clone(),
            invoke_ns,
            complete_ns,
            served_by: claim_of(old),
            newer: claim_of(newer),
        });
    }
    let mut pairs: BTreeMap<(u64, u32, u64, u32), ClaimPair> = BTreeMap::new();
    for w in &found {
        let key = (w.served_by.from_ns, w.served_by.node, w.newer.from_ns, w.newer.node);
        pairs.entry(key).or_insert(ClaimPair { old: w.served_by, newer: w.newer, writes: 0 }).writes += 1;
    }
    let verdict = if !found.is_empty() {
        Verdict::Invalid
    } else if samples.is_empty() || writes_judged == 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let count = found.len();
    found.truncate(MAX_REPORTED);
    DeposedLeaderReport {
        verdict,
        samples: samples.len(),
        writes_judged,
        deposed_writes: count,
        overlapping_claims: pairs.into_values().take(MAX_REPORTED).collect(),
        examples: found,
    }
}

impl DeposedLeaderReport {
    /// One line for a person: what was judged, or the first offence.
    pub fn summary(&self) -> String {
        match self.verdict {
            Verdict::Valid => format!(
                "{} acknowledged writes, none served by a deposed leader ({} status samples)",
                self.writes_judged, self.samples
            ),
            Verdict::Unknown if self.samples == 0 => "no node answered a status poll".to_string(),
            Verdict::Unknown => "no acknowledged write names the node that served it".to_string(),
            Verdict::Invalid => {
                let w = &self.examples[0];
                format!(
                    "{} of {} acknowledged writes served by a deposed leader; first: {} by node {} \
                     (leading term {}) at {:.3} s, after node {} led term {} from {:.3} s",
                    self.deposed_writes,
                    self.writes_judged,
                    w.f,
                    w.served_by.node,
                    w.served_by.term,
                    w.invoke_ns as f64 / 1e9,
                    w.newer.node,
                    w.newer.term,
                    w.newer.from_ns as f64 / 1e9,
                )
            }
        }
    }

    /// The overlapping claims and the offending writes, one per line (at most
    /// `max_writes` writes, then how many more there are).
    pub fn render_text(&self, max_writes: usize) -> String {
        let mut out = self.summary();
        out.push('\n');
        for p in &self.overlapping_claims {
            out.push_str(&format!(
                "  node {} led term {} from {:.3} s to {:.3} s while node {} led term {} from {:.3} s: {} writes\n",
                p.old.node,
                p.old.term,
                p.old.from_ns as f64 / 1e9,
                p.old.to_ns as f64 / 1e9,
                p.newer.node,
                p.newer.term,
                p.newer.from_ns as f64 / 1e9,
                p.writes
            ));
        }
        for w in self.examples.iter().take(max_writes) {
            out.push_str(&format!(
                "  event {}: process {} {} {} ok at node {} in [{:.3} s, {:.3} s]\n",
                w.invoke_index,
                w.process,
                w.f,
                w.key.as_deref().unwrap_or("-"),
                w.served_by.node,
                w.invoke_ns as f64 / 1e9,
                w.complete_ns as f64 / 1e9
            ));
        }
        let shown = self.examples.len().min(max_writes);
        if self.deposed_writes > shown {
            out.push_str(&format!("  ... and {} more\n", self.deposed_writes - shown));
        }
        out
    }
}

/// Reads change nothing; every other operation is judged as a write. A transaction
/// (`f: "txn"`, a list of micro-ops) is a read when each of its micro-ops is a read (`"r"`).
fn is_read(f: &str, value: &serde_json::Value) -> bool {
    match f {
        "read" | "get" => true,
        "txn" => value.as_array().is_some_and(|micro_ops| {
            micro_ops.iter().all(|micro_op| micro_op.get(0).and_then(serde_json::Value::as_str) == Some("r"))
        }),
        _ => false,
    }
}

/// The leading samples of each node, by time.
struct Leading<'a> {
    /// Per node, leading samples ordered by `received_ns`, with the index of the highest
    /// term among the samples up to each position.
    by_received: BTreeMap<u32, (Vec<&'a Sample>, Vec<usize>)>,
    /// Per node, leading samples ordered by `sent_ns`.
    by_sent: BTreeMap<u32, Vec<&'a Sample>>,
}

impl<'a> Leading<'a> {
    fn new(samples: &'a [Sample]) -> Leading<'a> {
        let mut by_sent: BTreeMap<u32, Vec<&Sample>> = BTreeMap::new();
        for s in samples.iter().filter(|s| s.leading) {
            by_sent.entry(s.node).or_default().push(s);
        }
        let mut by_received = BTreeMap::new();
        for (&node, list) in &mut by_sent {
            let mut received: Vec<&Sample> = list.clone();
            received.sort_by_key(|s| (s.received_ns, s.term));
            let mut best: Vec<usize> = Vec::with_capacity(received.len());
            for (i, s) in received.iter().enumerate() {
                let keep = match best.last() {
                    Some(&b) if received[b].term >= s.term => b,
                    _ => i,
                };
                best.push(keep);
            }
            by_received.insert(node, (received, best));
            list.sort_by_key(|s| (s.sent_ns, s.received_ns));
        }
        Leading { by_received, by_sent }
    }

    /// The highest-term leading sample of a node other than `not`, received before `at`.
    fn highest_before(&self, at: u64, not: u32) -> Option<&'a Sample> {
        let mut best: Option<&Sample> = None;
        for (&node, (received, max)) in &self.by_received {
            if node == not {
                continue;
            }
            let n = received.partition_point(|s| s.received_ns < at);
            if n == 0 {
                continue;
            }
            let s = received[max[n - 1]];
            if best.is_none_or(|b| s.term > b.term) {
                best = Some(s);
            }
        }
        best
    }

    /// The first leading sample of `node` sent after `at`: its lowest term after `at`.
    fn first_after(&self, node: u32, at: u64) -> Option<&'a Sample> {
        let list = self.by_sent.get(&node)?;
        let n = list.partition_point(|s| s.sent_ns <= at);
        list.get(n).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, EventType, Process};

    fn s(node: u32, at: u64, leading: bool, term: u64) -> Sample {
        Sample { node, sent_ns: at, received_ns: at + 5, leading, term }
    }

    /// A write by `process` at `node` in `[from, to]`.
    fn write(events: &mut Vec<Event>, process: u64, node: u32, from: u64, to: u64, kind: EventType) {
        for (t, k) in [(from, EventType::Invoke), (to, kind)] {
            events.push(Event {
                index: events.len() as u64,
                time: Some(t),
                process: Process::Client(process),
                kind: k,
                f: "add".into(),
                key: Some("s".into()),
                value: serde_json::json!(process),
                error: None,
                node: Some(node.to_string()),
            });
        }
    }

    fn history(events: Vec<Event>) -> History {
        History::from_events(events).unwrap()
    }

    /// Node 1 leads epoch 1 throughout; node 2 is promoted into epoch 2 at 100.
    fn two_primaries() -> Vec<Sample> {
        vec![s(1, 0, true, 1), s(2, 0, false, 1), s(2, 100, true, 2), s(1, 150, true, 1), s(1, 300, true, 1)]
    }

    #[test]
    fn a_write_acknowledged_by_a_deposed_primary_is_invalid() {
        let mut events = Vec::new();
        write(&mut events, 1, 1, 200, 250, EventType::Ok);
        write(&mut events, 2, 2, 200, 250, EventType::Ok);
        let report = check(&history(events), &two_primaries());
        assert_eq!(report.verdict, Verdict::Invalid, "{}", report.render_text(MAX_REPORTED));
        assert_eq!((report.writes_judged, report.deposed_writes), (2, 1));
        let w = &report.examples[0];
        assert_eq!((w.served_by.node, w.served_by.term, w.newer.node, w.newer.term), (1, 1, 2, 2));
        assert_eq!(w.served_by.from_ns, 0, "the old claim spans all its samples");
        assert_eq!(report.overlapping_claims.len(), 1);
        assert!(
            report.render_text(MAX_REPORTED).contains("node 1 led term 1"),
            "{}",
            report.render_text(MAX_REPORTED)
        );
    }

    #[test]
    fn writes_before_the_new_leader_was_seen_or_not_acknowledged_are_not_flagged() {
        let mut events = Vec::new();
        // Invoked before node 2's claim came back (received at 105).
        write(&mut events, 1, 1, 100, 250, EventType::Ok);
        // Not acknowledged.
        write(&mut events, 2, 1, 200, 250, EventType::Info);
        let report = check(&history(events), &two_primaries());
        assert_eq!(report.verdict, Verdict::Valid, "{}", report.render_text(MAX_REPORTED));
        assert_eq!(report.writes_judged, 1);
    }

    #[test]
    fn a_clean_handover_is_valid() {
        // Node 1 leads term 1, then learns of term 2 and follows; its writes before are fine.
        let samples = [s(1, 0, true, 1), s(2, 100, true, 2), s(1, 120, false, 2), s(1, 300, false, 2)];
        let mut events = Vec::new();
        write(&mut events, 1, 1, 10, 90, EventType::Ok);
        // Invoked at the old leader after the handover, acknowledged: not leading since.
        write(&mut events, 2, 1, 200, 250, EventType::Ok);
        write(&mut events, 3, 2, 200, 250, EventType::Ok);
        let report = check(&history(events), &samples);
        assert_eq!(report.verdict, Verdict::Valid, "{}", report.render_text(MAX_REPORTED));
    }

    #[test]
    fn a_node_leading_again_in_a_higher_term_is_not_deposed() {
        let samples = [s(1, 0, true, 1), s(2, 100, true, 2), s(1, 300, true, 3)];
        let mut events = Vec::new();
        write(&mut events, 1, 1, 200, 250, EventType::Ok);
        assert_eq!(check(&history(events), &samples).verdict, Verdict::Valid);
    }

    #[test]
    fn reads_and_writes_without_a_node_are_not_judged() {
        let mut events = Vec::new();
        write(&mut events, 1, 1, 200, 250, EventType::Ok);
        for e in &mut events {
            e.node = None;
        }
        let report = check(&history(events.clone()), &two_primaries());
        assert_eq!((report.verdict, report.writes_judged), (Verdict::Unknown, 0));
        for e in &mut events {
            e.node = Some("1".into());
            e.f = "read".into();
        }
        assert_eq!(check(&history(events), &two_primaries()).writes_judged, 0);
    }

    #[test]
    fn a_transaction_of_reads_only_is_not_judged_and_one_that_appends_is() {
        let judged = |micro_ops: serde_json::Value| {
            let mut events = Vec::new();
            write(&mut events, 1, 1, 200, 250, EventType::Ok);
            for e in &mut events {
                e.f = "txn".into();
                e.value = micro_ops.clone();
            }
            check(&history(events), &two_primaries()).writes_judged
        };
        assert_eq!(judged(serde_json::json!([["r", "x", null], ["r", "y", null]])), 0);
        assert_eq!(judged(serde_json::json!([["r", "x", null], ["append", "y", 3]])), 1);
    }

    #[test]
    fn nothing_polled_is_unknown() {
        let mut events = Vec::new();
        write(&mut events, 1, 1, 200, 250, EventType::Ok);
        assert_eq!(check(&history(events), &[]).verdict, Verdict::Unknown);
    }
}
