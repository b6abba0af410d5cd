//! Single steps of the Paxos state machine, driven directly through an `Outbox`, and small
//! fault-free clusters in the simulator: what each step emits (persist with the answer),
//! what clients are told, what recovery restores, what a write costs in messages.

mod paxos_support;

use nodes::api::{ErrorCode, NodeId, Request, Response};
use nodes::protocol::{Config, Context, Effect, Options, Outbox, Protocol, ReadMode};
use nodes::protocols::paxos::{Ballot, Learned, Message, Paxos, Record, Scope, Value};
use nodes::sim::{OpState, Sim};
use paxos_support::*;

type Effects = Vec<Effect<Message, Record, nodes::protocols::paxos::Timer>>;

fn ctx(now_ms: u64) -> Context {
    Context { now_ms, random: 7 }
}

fn node(id: NodeId, records: Vec<Record>) -> (Paxos, Effects) {
    let config = Config { id, members: vec![1, 2, 3], options: Options::default() };
    let mut out = Outbox::new();
    let node = Paxos::recover(config, records, ctx(0), &mut out);
    (node, out.drain())
}

fn step(f: impl FnOnce(&mut Outbox<Paxos>)) -> Effects {
    let mut out = Outbox::new();
    f(&mut out);
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

fn persisted(effects: &Effects) -> Vec<Record> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Persist(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn b(round: u64, node: NodeId) -> Ballot {
    Ballot { round, node }
}

fn put(value: i64) -> Request {
    Request::Put { key: "k".into(), value }
}

#[test]
fn a_promise_and_an_accepted_answer_are_persisted_in_the_same_step() {
    let (mut n, _) = node(2, vec![]);
    let effects =
        step(|out| n.on_message(ctx(1), 1, Message::Prepare { ballot: b(1, 1), scope: Scope::From(1) }, out));
    assert_eq!(persisted(&effects), vec![Record::Promise { ballot: b(1, 1) }]);
    assert!(matches!(sends(&effects)[..], [(1, Message::Promise { ballot, .. })] if ballot == b(1, 1)));

    let entries = vec![(1, Value::Noop)];
    let accept = Message::Accept { ballot: b(1, 1), entries: entries.clone(), learned: Learned::default() };
    let effects = step(|out| n.on_message(ctx(2), 1, accept.clone(), out));
    assert_eq!(persisted(&effects), vec![Record::Accepted { ballot: b(1, 1), entries }]);
    assert!(matches!(&sends(&effects)[..], [(1, Message::Accepted { slots, .. })] if slots == &vec![1]));

    // A duplicate is answered again but writes nothing.
    let effects = step(|out| n.on_message(ctx(3), 1, accept, out));
    assert!(persisted(&effects).is_empty());
    assert_eq!(sends(&effects).len(), 1);
}

#[test]
fn recovery_restores_the_promise_and_refuses_lower_ballots() {
    let records = vec![
        Record::Promise { ballot: b(4, 3) },
        Record::Accepted { ballot: b(4, 3), entries: vec![(1, Value::Noop)] },
    ];
    let (mut n, boot) = node(2, records);
    assert!(boot.iter().any(|e| matches!(e, Effect::SetTimer { .. })), "recover set no election timer");
    assert_eq!(n.promised(), b(4, 3));
    let effects =
        step(|out| n.on_message(ctx(1), 1, Message::Prepare { ballot: b(3, 1), scope: Scope::From(1) }, out));
    assert!(persisted(&effects).is_empty());
    assert!(matches!(sends(&effects)[..], [(1, Message::Reject { promised, .. })] if promised == b(4, 3)));
    // A higher prepare learns the accepted value.
    let effects =
        step(|out| n.on_message(ctx(2), 1, Message::Prepare { ballot: b(7, 1), scope: Scope::From(1) }, out));
    match &sends(&effects)[..] {
        [(1, Message::Promise { accepted, .. })] => {
            assert_eq!(accepted.len(), 1);
            assert_eq!(accepted[0].ballot, b(4, 3));
        }
        other => panic!("expected one promise, got {other:?}"),
    }
}

#[test]
fn malformed_messages_are_ignored() {
    let (mut n, _) = node(2, vec![]);
    // A prepare claiming another node's ballot, one from a stranger, and a slot 0.
    let forged =
        step(|out| n.on_message(ctx(1), 3, Message::Prepare { ballot: b(9, 1), scope: Scope::From(1) }, out));
    let stranger =
        step(|out| n.on_message(ctx(1), 9, Message::Prepare { ballot: b(9, 9), scope: Scope::From(1) }, out));
    let slot_zero =
        step(|out| n.on_message(ctx(1), 1, Message::Prepare { ballot: b(9, 1), scope: Scope::From(0) }, out));
    assert!(forged.is_empty() && stranger.is_empty() && slot_zero.is_empty());
    assert_eq!(n.promised(), Ballot::ZERO);
}

/// A three-node cluster with a settled leader, in a fault-free simulator.
fn settled(seed: u64, nodes: u32, classic: bool) -> (Sim<Paxos>, NodeId) {
    let mut sim = Sim::<Paxos>::new(seed, config(nodes, classic));
    assert!(sim.run_until(2_000, |s| leader(s).is_some()), "no leader in a healthy cluster");
    sim.run_for(100);
    let l = leader(&sim).expect("a leader");
    (sim, l)
}

#[test]
fn followers_answer_not_leader_with_the_leader_as_hint() {
    let (mut sim, l) = settled(1, 3, false);
    let follower = sim.members().iter().copied().find(|&m| m != l).unwrap();
    match sim.call(follower, put(1)) {
        OpState::Fail(e) => {
            assert_eq!(e.code, ErrorCode::NotLeader);
            assert!(e.definite);
            assert_eq!(e.leader, Some(l));
        }
        other => panic!("a follower answered {other:?}"),
    }
    assert!(sim.call(l, put(1)).is_ok());
}

#[test]
fn reads_through_the_log_see_the_latest_write_and_status_reports_the_ballot() {
    for classic in [false, true] {
        let (mut sim, l) = settled(2, 3, classic);
        assert!(sim.call(l, put(5)).is_ok());
        assert_eq!(
            sim.call(l, Request::Get { key: "k".into() }),
            OpState::Ok(Response::Value { value: Some(5) })
        );
        let cas = Request::Cas { key: "k".into(), from: 4, to: 6 };
        match sim.call(l, cas) {
            OpState::Fail(e) => assert_eq!(e.code, ErrorCode::PreconditionFailed),
            other => panic!("a failing cas answered {other:?}"),
        }
        let status = sim.status(l).unwrap();
        assert_eq!(status.term, sim.node(l).unwrap().promised().round);
        assert_eq!(status.leader, Some(l));
        assert!(status.commit_index >= 3, "commit index {} after three ops", status.commit_index);
    }
}

#[test]
fn local_reads_answer_from_the_leaders_state_without_messages() {
    let mut cfg = config(3, false);
    cfg.options.read_mode = ReadMode::Local;
    let mut sim = Sim::<Paxos>::new(3, cfg);
    assert!(sim.run_until(2_000, |s| leader(s).is_some()));
    let l = leader(&sim).unwrap();
    assert!(sim.call(l, put(8)).is_ok());
    let before: u64 = sim.messages_sent().values().sum();
    let op = sim.submit(l, Request::Get { key: "k".into() });
    sim.step();
    let after: u64 = sim.messages_sent().values().sum();
    assert_eq!(sim.op(op).state, OpState::Ok(Response::Value { value: Some(8) }));
    assert_eq!(before, after, "a local read sent messages");
}

#[test]
fn a_leader_that_steps_down_gives_waiting_clients_an_indefinite_answer() {
    let (mut n, _) = node(1, vec![]);
    // Win an election by hand: prepare, two promises.
    let effects = step(|out| n.on_timer(ctx(10), nodes::protocols::paxos::Timer::Election, out));
    let ballot = match sends(&effects)[0].1 {
        Message::Prepare { ballot, .. } => ballot,
        ref other => panic!("expected a prepare, got {other:?}"),
    };
    step(|out| {
        n.on_message(
            ctx(11),
            2,
            Message::Promise { ballot, scope: Scope::From(1), accepted: vec![], compacted: 0 },
            out,
        )
    });
    assert!(n.is_leader());
    let effects = step(|out| n.on_request(ctx(12), 77, put(1), out));
    assert!(sends(&effects).iter().any(|(_, m)| matches!(m, Message::Accept { .. })));
    // A higher ballot appears before the write is chosen.
    let higher = Ballot { round: ballot.round + 1, node: 2 };
    let effects =
        step(|out| n.on_message(ctx(13), 2, Message::Prepare { ballot: higher, scope: Scope::From(1) }, out));
    assert!(!n.is_leader());
    let reply = effects.iter().find_map(|e| match e {
        Effect::Reply { request: 77, result } => Some(result.clone()),
        _ => None,
    });
    let error = reply.expect("the waiting client got no answer").expect_err("it cannot have succeeded");
    assert_eq!(error.code, ErrorCode::Indeterminate);
    assert!(!error.definite, "a request that may still be chosen was failed definitely");
}

/// Messages of every kind sent cluster-wide while `writes` sequential writes complete.
fn messages_per_write(nodes: u32, classic: bool, writes: i64) -> f64 {
    let (mut sim, l) = settled(4, nodes, classic);
    let before: u64 = sim.messages_sent().values().sum();
    for value in 0..writes {
        assert!(sim.call(l, put(value)).is_ok(), "write {value} failed on a healthy cluster");
    }
    let after: u64 = sim.messages_sent().values().sum();
    (after - before) as f64 / writes as f64
}

#[test]
fn a_stable_leader_pays_two_messages_per_peer_per_write_and_the_classic_variant_four() {
    for nodes in [3u32, 5] {
        let peers = (nodes - 1) as f64;
        let stable = messages_per_write(nodes, false, 200);
        let classic = messages_per_write(nodes, true, 200);
        // Writes complete in a few ms, far below the heartbeat interval, so heartbeats add
        // little; catch-up adds nothing on a healthy network.
        assert!(stable >= 2.0 * peers && stable < 2.5 * peers, "{nodes} nodes, stable: {stable} msgs/write");
        assert!(
            classic >= 4.0 * peers && classic < 4.5 * peers,
            "{nodes} nodes, classic: {classic} msgs/write"
        );
    }
}

#[test]
fn a_restarted_replica_catches_up_on_everything_it_missed() {
    let (mut sim, l) = settled(5, 3, false);
    let lagging = sim.members().iter().copied().find(|&m| m != l).unwrap();
    sim.crash(lagging);
    for value in 0..100 {
        assert!(sim.call(l, put(value)).is_ok());
    }
    sim.restart(lagging);
    assert_eq!(sim.node(lagging).unwrap().applied(), 0, "learned values survived a crash");
    let target = sim.node(l).unwrap().applied();
    // max_batch is 16: catch-up needs several rounds.
    assert!(sim.run_until(2_000, |s| s.node(lagging).unwrap().applied() >= target), "no catch-up");
    assert_eq!(sim.node(lagging).unwrap().store(), sim.node(l).unwrap().store());
}

#[test]
fn a_cut_off_leader_steps_down_and_tells_clients_not_leader() {
    let (mut sim, l) = settled(6, 3, false);
    sim.isolate(l);
    let window = sim.config().options.election_timeout_max_ms;
    assert!(
        sim.run_until(window * 3, |s| s.status(l).is_some_and(|st| st.role != nodes::api::Role::Leader)),
        "a leader cut off from every peer kept leading"
    );
    match sim.call(l, put(1)) {
        OpState::Fail(e) => assert_eq!(e.code, ErrorCode::NotLeader),
        other => panic!("the cut-off node answered {other:?}"),
    }
}
