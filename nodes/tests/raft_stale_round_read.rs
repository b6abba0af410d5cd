//! Regression: the stale-round read.
//!
//! A Raft leader numbers its AppendEntries broadcasts ("rounds") so that ReadIndex can tell
//! which broadcast an answer confirms. The round counter used to restart at 0 each time a
//! node became leader, and a follower that refuses an AppendEntries from an older term
//! answers with its own (newer) term but the old request's round. A leader re-elected in
//! that newer term then counted the refusal as confirming its current read round (and as
//! check-quorum contact): a refusal of a request sent two leaderships ago, delayed across
//! an election, confirmed a read at a leader already replaced. A stale read.
//!
//! Fixed twice over: rounds never repeat across leaderships (a leader's first round is
//! derived from its term), and a refusal from a stale term earns no read credit and no
//! check-quorum contact.
//!
//! The first tests replay the bug step by step on real nodes with hand-delivered messages;
//! the simulator seeds below are schedules the chaos of `raft_safety.rs` (stale messages
//! and pauses) found on its own, replayed whole and checked for linearizability.

use nodes::api::{NodeId, Request};
use nodes::protocol::{Config, Context, Effect, Options, Outbox, Protocol};
use nodes::protocols::raft::{Message, Raft, Record, Timer};

type Effects = Vec<Effect<Message, Record, Timer>>;

fn ctx(now_ms: u64) -> Context {
    Context { now_ms, random: 7 }
}

fn boot(id: NodeId) -> Raft {
    let config = Config { id, members: vec![1, 2, 3], options: Options::default() };
    Raft::recover(config, Vec::new(), ctx(0), &mut Outbox::new())
}

fn deliver(raft: &mut Raft, now: u64, from: NodeId, m: Message) -> Effects {
    let mut out = Outbox::new();
    raft.on_message(ctx(now), from, m, &mut out);
    out.drain()
}

fn fire(raft: &mut Raft, now: u64, t: Timer) -> Effects {
    let mut out = Outbox::new();
    raft.on_timer(ctx(now), t, &mut out);
    out.drain()
}

fn read(raft: &mut Raft, now: u64, id: u64) -> Effects {
    let mut out = Outbox::new();
    raft.on_request(ctx(now), id, Request::Get { key: "k".into() }, &mut out);
    out.drain()
}

/// The one message `effects` sends to `to`.
fn sent_to(effects: &Effects, to: NodeId) -> Message {
    let mut sent = effects.iter().filter_map(|e| match e {
        Effect::Send { to: t, message } if *t == to => Some(message.clone()),
        _ => None,
    });
    let first = sent.next().unwrap_or_else(|| panic!("nothing sent to {to}: {effects:?}"));
    first
}

fn answered(effects: &Effects) -> bool {
    effects.iter().any(|e| matches!(e, Effect::Reply { .. }))
}

/// Node 1 wins an election in its next term with node 2's (hand-made) votes; returns what
/// it sent on taking office.
fn win(raft: &mut Raft, now: u64) -> Effects {
    let term = raft.term();
    fire(raft, now, Timer::Election);
    deliver(raft, now, 2, Message::PreVoteResponse { term: term + 1, granted: true, current_term: term });
    let effects = deliver(raft, now, 2, Message::RequestVoteResponse { term: term + 1, granted: true });
    assert!(raft.is_leader() && raft.term() == term + 1);
    effects
}

/// Node 2's acknowledgement of everything node 1 holds, for node 1's current round.
fn ack_from_2(leader: &Raft, round: u64) -> Message {
    Message::AppendEntriesResponse {
        term: leader.term(),
        success: true,
        match_index: leader.log().last_index(),
        rejected_index: 0,
        conflict: None,
        round,
    }
}

fn round_of(m: &Message) -> u64 {
    match m {
        Message::AppendEntries { round, .. } => *round,
        other => panic!("not an AppendEntries: {other:?}"),
    }
}

/// Node 1 leads term 1 and broadcasts a few rounds; the AppendEntries of one of them to
/// node 3 is held in the network. Node 1 is deposed and re-elected in term 3, with node 3
/// following it. Returns (node 1, node 3, the held term-1 AppendEntries, now).
fn leader_reelected_with_an_old_append_in_flight() -> (Raft, Raft, Message, u64) {
    let (mut n1, mut n3) = (boot(1), boot(3));
    let mut now = 1_000;
    let took_office = win(&mut n1, now);
    let first = sent_to(&took_office, 3);
    let answer = deliver(&mut n3, now, 1, first.clone());
    deliver(&mut n1, now, 3, sent_to(&answer, 1));
    let ack = ack_from_2(&n1, round_of(&first));
    deliver(&mut n1, now, 2, ack);
    assert_eq!(n1.commit_index(), 1, "the term-1 no-op commits");
    let mut held = None;
    for beat in 0..3 {
        now += 50;
        let sent = fire(&mut n1, now, Timer::Heartbeat);
        if beat == 1 {
            // The broadcast that, with rounds restarting each leadership, has the same
            // number as term 3's read round below. Held in the network for now.
            held = Some(sent_to(&sent, 3));
        }
    }
    let held = held.expect("three heartbeats");

    // Deposed: node 2 answers from term 2.
    now += 10;
    let newer = Message::AppendEntriesResponse {
        term: 2,
        success: false,
        match_index: 0,
        rejected_index: 0,
        conflict: None,
        round: 0,
    };
    deliver(&mut n1, now, 2, newer);
    assert!(!n1.is_leader());
    // Re-elected in term 3; node 3 follows it and acknowledges.
    now += 1_000;
    let took_office = win(&mut n1, now);
    let append = sent_to(&took_office, 3);
    let answer = deliver(&mut n3, now, 1, append.clone());
    deliver(&mut n1, now, 3, sent_to(&answer, 1));
    let ack = ack_from_2(&n1, round_of(&append));
    deliver(&mut n1, now, 2, ack);
    assert_eq!((n1.term(), n3.term()), (3, 3));
    assert_eq!(n1.commit_index(), 2, "the term-3 no-op commits");
    (n1, n3, held, now)
}

#[test]
fn a_refusal_of_an_older_terms_append_does_not_confirm_a_read_of_a_later_leadership() {
    let (mut n1, mut n3, held, mut now) = leader_reelected_with_an_old_append_in_flight();
    // The held term-1 AppendEntries finally reaches node 3, still in term 3: it refuses.
    let refusal = sent_to(&deliver(&mut n3, now, 1, held), 1);
    assert!(matches!(refusal, Message::AppendEntriesResponse { term: 3, success: false, .. }));
    // Meanwhile node 3 votes node 2 in for term 4 and node 2 commits writes; node 1, cut
    // off, has not heard. It broadcasts on, takes a read and starts its ReadIndex round.
    now += 50;
    let beat = fire(&mut n1, now, Timer::Heartbeat);
    assert!(!answered(&beat));
    let started = read(&mut n1, now, 77);
    assert!(!answered(&started), "a read of a 3-node cluster needs one follower's confirmation");
    // The refusal, delayed across the election, arrives.
    let effects = deliver(&mut n1, now + 1, 3, refusal);
    assert!(
        !answered(&effects),
        "a refusal of an older term's AppendEntries confirmed the read: the stale-round read"
    );
    // A genuine answer to the read's own round still serves it.
    let round = round_of(&sent_to(&started, 2));
    let ack = ack_from_2(&n1, round);
    let effects = deliver(&mut n1, now + 2, 2, ack);
    assert!(answered(&effects), "the read was never served");
}

#[test]
fn a_refusal_of_an_older_terms_append_is_not_check_quorum_contact() {
    let (mut n1, mut n3, held, now) = leader_reelected_with_an_old_append_in_flight();
    let refusal = sent_to(&deliver(&mut n3, now, 1, held), 1);
    // A check-quorum period passes with contact from both followers: still leading.
    fire(&mut n1, now + 300, Timer::CheckQuorum);
    assert!(n1.is_leader());
    // The next period hears only the delayed refusal.
    deliver(&mut n1, now + 400, 3, refusal);
    fire(&mut n1, now + 600, Timer::CheckQuorum);
    assert!(!n1.is_leader(), "a stale refusal kept a cut-off leader in office");
}

#[test]
fn rounds_never_repeat_across_leaderships() {
    let (n1, _, held, _) = leader_reelected_with_an_old_append_in_flight();
    let mut n1 = n1;
    let now_round = round_of(&sent_to(&fire(&mut n1, 10_000, Timer::Heartbeat), 2));
    assert!(now_round > round_of(&held), "term 3's round {now_round} repeats term 1's {}", round_of(&held));
}
