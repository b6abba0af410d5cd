//! Raft's rules one at a time, driving single nodes through the `Protocol` methods with
//! hand-made messages and reading the effects they emit: the commit rule of 5.4.2, the
//! election restriction of 5.4.1, persistence before the messages that depend on it,
//! conflict truncation and hints, recovery, untrusted input, and a node starting from an
//! empty data directory catching up through InstallSnapshot (the snapshot transfer, not a
//! claim that losing a disk is safe: a node that forgets its vote may vote twice in a
//! term, which Raft's safety argument excludes; `lose-disk` is outside its model).

use std::collections::{BTreeMap, VecDeque};

use nodes::api::{ErrorCode, NodeId, Request, Response};
use nodes::protocol::{Config, Context, Effect, Options, Outbox, Protocol};
use nodes::protocols::raft::{Command, Conflict, Entry, Message, Raft, Record, Snapshot, Timer};
use nodes::state_machine::Store;

type Effects = Vec<Effect<Message, Record, Timer>>;

fn config(id: NodeId, nodes: u32, options: Options) -> Config {
    Config { id, members: (1..=nodes).collect(), options }
}

fn ctx(now_ms: u64) -> Context {
    Context { now_ms, random: 7 }
}

fn boot(id: NodeId, nodes: u32, records: Vec<Record>) -> (Raft, Effects) {
    let mut out = Outbox::new();
    let raft = Raft::recover(config(id, nodes, Options::default()), records, ctx(0), &mut out);
    (raft, out.drain())
}

fn message(raft: &mut Raft, now: u64, from: NodeId, m: Message) -> Effects {
    let mut out = Outbox::new();
    raft.on_message(ctx(now), from, m, &mut out);
    out.drain()
}

fn timer(raft: &mut Raft, now: u64, t: Timer) -> Effects {
    let mut out = Outbox::new();
    raft.on_timer(ctx(now), t, &mut out);
    out.drain()
}

fn request(raft: &mut Raft, now: u64, id: u64, body: Request) -> Effects {
    let mut out = Outbox::new();
    raft.on_request(ctx(now), id, body, &mut out);
    out.drain()
}

fn sends(effects: &Effects) -> Vec<(NodeId, Message)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, message } => Some((*to, message.clone())),
            _ => None,
        })
        .collect()
}

fn replies(effects: &Effects) -> Vec<(u64, Result<Response, nodes::api::ApiError>)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Reply { request, result } => Some((*request, result.clone())),
            _ => None,
        })
        .collect()
}

fn entries(term_per_index: &[u64]) -> Vec<Entry> {
    term_per_index
        .iter()
        .enumerate()
        .map(|(i, &term)| Entry { index: i as u64 + 1, term, command: Command::Noop })
        .collect()
}

fn put(key: &str, value: i64) -> Request {
    Request::Put { key: key.into(), value }
}

/// Make node 1 of `nodes` the leader: election timeout, pre-votes, votes from a majority.
fn elect(raft: &mut Raft, nodes: u32, now: u64) -> Effects {
    let term = raft.term();
    let effects = timer(raft, now, Timer::Election);
    assert!(sends(&effects).iter().all(|(_, m)| matches!(m, Message::PreVote { .. })));
    let majority = nodes / 2 + 1;
    let mut effects = Vec::new();
    for peer in 2..=majority {
        let granted = Message::PreVoteResponse { term: term + 1, granted: true, current_term: term };
        effects.extend(message(raft, now, peer, granted));
    }
    assert_eq!(raft.term(), term + 1, "a majority of pre-votes starts the election");
    let mut effects = Vec::new();
    for peer in 2..=majority {
        effects.extend(message(
            raft,
            now,
            peer,
            Message::RequestVoteResponse { term: term + 1, granted: true },
        ));
    }
    assert!(raft.is_leader());
    effects
}

fn ack(term: u64, match_index: u64, round: u64) -> Message {
    Message::AppendEntriesResponse {
        term,
        success: true,
        match_index,
        rejected_index: 0,
        conflict: None,
        round,
    }
}

#[test]
fn an_entry_of_an_earlier_term_is_not_committed_by_counting_replicas() {
    // Section 5.4.2 / Figure 8: entries 1..=2 are from term 1; the new leader of term 2
    // appends its no-op at 3.
    let (mut leader, _) = boot(
        1,
        3,
        vec![Record::HardState { term: 1, voted_for: None }, Record::Entries { entries: entries(&[1, 1]) }],
    );
    elect(&mut leader, 3, 1_000);
    assert_eq!(leader.log().last_index(), 3);
    assert_eq!(leader.log().entry(3).unwrap().command, Command::Noop);
    message(&mut leader, 1_010, 2, ack(2, 2, 1));
    assert_eq!(leader.commit_index(), 0, "an entry of term 1 was committed by counting replicas in term 2");
    message(&mut leader, 1_020, 2, ack(2, 3, 1));
    assert_eq!(leader.commit_index(), 3, "committing the no-op of term 2 commits everything before it");
}

#[test]
fn a_vote_is_refused_to_a_stale_log_and_granted_once_per_term_after_persisting() {
    let (mut node, _) = boot(
        1,
        3,
        vec![Record::HardState { term: 2, voted_for: None }, Record::Entries { entries: entries(&[1, 2]) }],
    );
    // 5.4.1: a longer log with an older last term is less up-to-date.
    let stale = Message::RequestVote { term: 3, last_log_index: 9, last_log_term: 1 };
    let effects = message(&mut node, 0, 2, stale);
    assert_eq!(sends(&effects), vec![(2, Message::RequestVoteResponse { term: 3, granted: false })]);
    let fresh = Message::RequestVote { term: 3, last_log_index: 2, last_log_term: 2 };
    let effects = message(&mut node, 0, 3, fresh);
    let persisted = effects
        .iter()
        .position(|e| matches!(e, Effect::Persist(Record::HardState { term: 3, voted_for: Some(3) })));
    let sent = effects.iter().position(|e| matches!(e, Effect::Send { .. }));
    assert!(persisted.is_some() && persisted < sent, "the vote must be persisted in the step that sends it");
    assert_eq!(sends(&effects), vec![(3, Message::RequestVoteResponse { term: 3, granted: true })]);
    // One vote per term.
    let again = Message::RequestVote { term: 3, last_log_index: 5, last_log_term: 2 };
    let effects = message(&mut node, 0, 2, again);
    assert_eq!(sends(&effects), vec![(2, Message::RequestVoteResponse { term: 3, granted: false })]);
}

#[test]
fn a_pre_vote_changes_no_term_and_is_refused_while_a_leader_is_heard() {
    let (mut node, _) = boot(1, 3, vec![Record::HardState { term: 4, voted_for: None }]);
    let pre_vote = Message::PreVote { term: 5, last_log_index: 0, last_log_term: 0 };
    let effects = message(&mut node, 0, 2, pre_vote.clone());
    assert_eq!(
        sends(&effects),
        vec![(2, Message::PreVoteResponse { term: 5, granted: true, current_term: 4 })]
    );
    assert_eq!(node.term(), 4);
    assert!(!effects.iter().any(|e| matches!(e, Effect::Persist(_))));
    // Hearing from the leader of term 4 puts the node in its lease.
    let heartbeat = Message::AppendEntries {
        term: 4,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![],
        leader_commit: 0,
        round: 1,
    };
    message(&mut node, 100, 3, heartbeat);
    let effects = message(&mut node, 150, 2, pre_vote);
    assert_eq!(
        sends(&effects),
        vec![(2, Message::PreVoteResponse { term: 5, granted: false, current_term: 4 })]
    );
    // A real vote request for a newer term is disregarded too, term included.
    let effects =
        message(&mut node, 150, 2, Message::RequestVote { term: 5, last_log_index: 0, last_log_term: 0 });
    assert!(effects.is_empty());
    assert_eq!(node.term(), 4);
}

#[test]
fn a_leader_that_sees_a_higher_term_steps_down_and_its_pending_write_is_indeterminate() {
    let (mut leader, _) = boot(1, 3, vec![]);
    elect(&mut leader, 3, 1_000);
    let effects = request(&mut leader, 1_001, 42, put("x", 1));
    assert!(replies(&effects).is_empty(), "a write is answered only once applied");
    let term = leader.term();
    let newer = Message::AppendEntriesResponse {
        term: term + 1,
        success: false,
        match_index: 0,
        rejected_index: 0,
        conflict: None,
        round: 1,
    };
    let effects = message(&mut leader, 1_002, 2, newer);
    assert!(!leader.is_leader());
    assert_eq!(leader.term(), term + 1);
    assert!(effects.contains(&Effect::Persist(Record::HardState { term: term + 1, voted_for: None })));
    let answered = replies(&effects);
    assert_eq!(answered.len(), 1);
    let error = answered[0].1.clone().unwrap_err();
    assert_eq!((answered[0].0, error.code, error.definite), (42, ErrorCode::Indeterminate, false));
}

#[test]
fn a_leader_answers_a_write_once_it_is_applied() {
    let (mut leader, _) = boot(1, 3, vec![]);
    elect(&mut leader, 3, 1_000);
    let term = leader.term();
    message(&mut leader, 1_001, 2, ack(term, 1, 1));
    let effects = request(&mut leader, 1_002, 7, put("x", 5));
    assert!(effects.contains(&Effect::Persist(Record::Entries {
        entries: vec![Entry {
            index: 2,
            term: leader.term(),
            command: Command::Request { request: put("x", 5) }
        }]
    })));
    let effects = message(&mut leader, 1_003, 3, ack(term, 2, 1));
    assert_eq!(replies(&effects), vec![(7, Ok(Response::Done {}))]);
}

#[test]
fn a_read_waits_for_a_majority_to_confirm_a_round_sent_after_it() {
    let (mut leader, _) = boot(1, 3, vec![]);
    elect(&mut leader, 3, 1_000);
    let term = leader.term();
    message(&mut leader, 1_001, 2, ack(term, 1, 1));
    let effects = request(&mut leader, 1_002, 9, Request::Get { key: "x".into() });
    assert!(replies(&effects).is_empty(), "a read was served before a quorum round");
    let round = sends(&effects)
        .iter()
        .find_map(|(_, m)| match m {
            Message::AppendEntries { round, .. } => Some(*round),
            _ => None,
        })
        .expect("the read starts a round");
    // An answer to an older round does not confirm the read.
    let effects = message(&mut leader, 1_003, 3, ack(term, 1, round - 1));
    assert!(replies(&effects).is_empty());
    let effects = message(&mut leader, 1_004, 3, ack(term, 1, round));
    assert_eq!(replies(&effects), vec![(9, Ok(Response::Value { value: None }))]);
}

#[test]
fn a_follower_truncates_a_conflicting_suffix_and_persists_it_before_answering() {
    let (mut follower, _) = boot(
        2,
        3,
        vec![
            Record::HardState { term: 1, voted_for: None },
            Record::Entries { entries: entries(&[1, 1, 1]) },
        ],
    );
    let append = Message::AppendEntries {
        term: 2,
        prev_log_index: 1,
        prev_log_term: 1,
        entries: vec![Entry { index: 2, term: 2, command: Command::Noop }],
        leader_commit: 0,
        round: 3,
    };
    let effects = message(&mut follower, 0, 1, append);
    let truncate = effects.iter().position(|e| *e == Effect::Persist(Record::Truncate { from: 2 }));
    let append = effects.iter().position(|e| matches!(e, Effect::Persist(Record::Entries { .. })));
    let reply = effects.iter().position(|e| matches!(e, Effect::Send { .. }));
    assert!(truncate.is_some() && truncate < append && append < reply, "{effects:?}");
    assert_eq!(follower.log().last_index(), 2);
    assert_eq!(follower.log().last_term(), 2);
    assert_eq!(sends(&effects), vec![(1, ack(2, 2, 3))]);
}

#[test]
fn a_refusal_says_where_the_logs_diverge() {
    let (mut follower, _) = boot(
        2,
        3,
        vec![
            Record::HardState { term: 2, voted_for: None },
            Record::Entries { entries: entries(&[1, 1, 2, 2]) },
        ],
    );
    let probe = |prev_log_index, prev_log_term| Message::AppendEntries {
        term: 3,
        prev_log_index,
        prev_log_term,
        entries: vec![],
        leader_commit: 0,
        round: 1,
    };
    let refusal = |rejected_index, conflict| Message::AppendEntriesResponse {
        term: 3,
        success: false,
        match_index: 0,
        rejected_index,
        conflict: Some(conflict),
        round: 1,
    };
    let effects = message(&mut follower, 0, 1, probe(4, 3));
    assert_eq!(sends(&effects), vec![(1, refusal(4, Conflict { term: Some(2), index: 3 }))]);
    let effects = message(&mut follower, 0, 1, probe(7, 3));
    assert_eq!(sends(&effects), vec![(1, refusal(7, Conflict { term: None, index: 5 }))]);
}

#[test]
fn malformed_or_foreign_messages_change_nothing() {
    let (mut node, _) = boot(2, 3, vec![]);
    let gap = Message::AppendEntries {
        term: 1,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![Entry { index: 2, term: 1, command: Command::Noop }],
        leader_commit: 5,
        round: 1,
    };
    assert!(message(&mut node, 0, 1, gap).is_empty());
    let future_entry = Message::AppendEntries {
        term: 1,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![Entry { index: 1, term: 9, command: Command::Noop }],
        leader_commit: 0,
        round: 1,
    };
    assert!(message(&mut node, 0, 1, future_entry).is_empty());
    let stranger = Message::RequestVote { term: 5, last_log_index: 0, last_log_term: 0 };
    assert!(message(&mut node, 0, 9, stranger).is_empty());
    let huge_snapshot = Message::InstallSnapshot {
        term: 1,
        snapshot: Snapshot { last_index: u64::MAX, last_term: 1, store: Store::new(), prefix_hash: 0 },
        round: 1,
    };
    assert!(message(&mut node, 0, 1, huge_snapshot).is_empty());
    assert_eq!((node.term(), node.log().last_index()), (0, 0));
}

#[test]
fn a_leader_survives_hostile_answers() {
    let (mut leader, _) = boot(1, 3, vec![]);
    elect(&mut leader, 3, 1_000);
    let term = leader.term();
    let hostile = [
        Message::AppendEntriesResponse {
            term,
            success: false,
            match_index: 0,
            rejected_index: u64::MAX,
            conflict: Some(Conflict { term: None, index: u64::MAX }),
            round: u64::MAX,
        },
        Message::AppendEntriesResponse {
            term,
            success: false,
            match_index: 0,
            rejected_index: 0,
            conflict: Some(Conflict { term: Some(u64::MAX), index: 1 << 40 }),
            round: 1,
        },
        ack(term, 1 << 50, 1),
    ];
    for m in hostile {
        message(&mut leader, 1_001, 2, m);
    }
    assert!(leader.is_leader());
    assert_eq!(leader.commit_index(), 0, "claims past the leader's log must not commit anything");
    // The cluster still works with the honest follower.
    message(&mut leader, 1_002, 3, ack(term, 1, 1));
    assert_eq!(leader.commit_index(), 1);
}

#[test]
fn recovery_replays_snapshot_term_vote_entries_and_truncations() {
    let mut store = Store::new();
    store.apply(&put("k", 5)).unwrap();
    let snapshot = Snapshot { last_index: 3, last_term: 1, store, prefix_hash: 0 };
    let entry = |index, term| Entry { index, term, command: Command::Noop };
    let (node, effects) = boot(
        1,
        3,
        vec![
            Record::Snapshot { snapshot },
            Record::HardState { term: 2, voted_for: Some(3) },
            Record::Entries { entries: vec![entry(4, 1), entry(5, 1)] },
            Record::Truncate { from: 5 },
            Record::Entries { entries: vec![entry(5, 2), entry(6, 2)] },
        ],
    );
    assert_eq!((node.term(), node.voted_for()), (2, Some(3)));
    assert_eq!((node.log().snapshot_index(), node.log().last_index(), node.log().last_term()), (3, 6, 2));
    assert_eq!(node.log().term_at(5), Some(2));
    assert_eq!((node.commit_index(), node.applied_index()), (3, 3));
    assert_eq!(
        node.store().read(&Request::Get { key: "k".into() }).unwrap(),
        Response::Value { value: Some(5) }
    );
    assert!(effects.iter().any(|e| matches!(e, Effect::SetTimer { timer: Timer::Election, .. })));
}

/// A cluster whose messages arrive at once and in order, for catch-up scenarios.
struct Instant {
    nodes: BTreeMap<NodeId, Raft>,
    records: BTreeMap<NodeId, Vec<Record>>,
    queue: VecDeque<(NodeId, NodeId, Message)>,
    replies: Vec<(u64, Result<Response, nodes::api::ApiError>)>,
}

impl Instant {
    fn new(nodes: u32, options: Options) -> Self {
        let mut cluster = Instant {
            nodes: BTreeMap::new(),
            records: BTreeMap::new(),
            queue: VecDeque::new(),
            replies: Vec::new(),
        };
        for id in 1..=nodes {
            cluster.boot(id, nodes, options.clone());
        }
        cluster
    }

    /// Start `id` from an empty data directory.
    fn boot(&mut self, id: NodeId, nodes: u32, options: Options) {
        let mut out = Outbox::new();
        let raft = Raft::recover(config(id, nodes, options), vec![], ctx(0), &mut out);
        self.nodes.insert(id, raft);
        self.records.insert(id, vec![]);
        self.absorb(id, out.drain());
    }

    fn absorb(&mut self, id: NodeId, effects: Effects) {
        for effect in effects {
            match effect {
                Effect::Send { to, message } => self.queue.push_back((id, to, message)),
                Effect::Reply { request, result } => self.replies.push((request, result)),
                Effect::Persist(record) => self.records.get_mut(&id).unwrap().push(record),
                Effect::Rewrite(records) => *self.records.get_mut(&id).unwrap() = records,
                Effect::SetTimer { .. } | Effect::CancelTimer { .. } => {}
            }
        }
    }

    fn fire(&mut self, id: NodeId, t: Timer) {
        let effects = timer(self.nodes.get_mut(&id).unwrap(), 1_000, t);
        self.absorb(id, effects);
        self.deliver_all();
    }

    fn request(&mut self, id: NodeId, request_id: u64, body: Request) {
        let effects = request(self.nodes.get_mut(&id).unwrap(), 1_000, request_id, body);
        self.absorb(id, effects);
        self.deliver_all();
    }

    fn deliver_all(&mut self) {
        let mut budget = 100_000;
        while let Some((from, to, m)) = self.queue.pop_front() {
            budget -= 1;
            assert!(budget > 0, "messages never stopped flowing");
            let effects = message(self.nodes.get_mut(&to).unwrap(), 1_000, from, m);
            self.absorb(to, effects);
        }
    }
}

#[test]
fn a_node_restarted_with_an_empty_data_directory_catches_up_through_a_snapshot() {
    let options = Options { snapshot_every: 4, ..Options::default() };
    let mut cluster = Instant::new(3, options.clone());
    cluster.fire(1, Timer::Election);
    assert!(cluster.nodes[&1].is_leader());
    for i in 0..10 {
        cluster.request(1, i, put("k", i as i64));
    }
    assert_eq!(cluster.replies.len(), 10);
    assert!(cluster.replies.iter().all(|(_, r)| r.is_ok()));
    let leader = &cluster.nodes[&1];
    assert!(leader.log().snapshot_index() > 0, "the leader never compacted");
    // The write-ahead log was rewritten: snapshot first, then term and vote.
    assert!(matches!(cluster.records[&1][0], Record::Snapshot { .. }));
    // Node 3 starts over with an empty directory. Here no election follows, so the vote it
    // forgot is never asked for again; in general that amnesia is outside Raft's model.
    cluster.boot(3, 3, options);
    cluster.fire(1, Timer::Heartbeat);
    cluster.fire(1, Timer::Heartbeat);
    let leader_store = cluster.nodes[&1].store().clone();
    assert_eq!(cluster.nodes[&3].store(), &leader_store, "the empty node did not catch up");
    assert!(cluster.records[&3].iter().any(|r| matches!(r, Record::Snapshot { .. })));
    assert_eq!(cluster.nodes[&3].applied_index(), cluster.nodes[&1].applied_index());
}
