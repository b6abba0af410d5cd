//! Zab's rules, one scenario each, in the simulator: the election picks the newest history,
//! epochs only grow and are persisted before they are acknowledged, a transaction is held
//! durably by a quorum before a client hears it committed, a deposed leader can neither
//! commit nor serve a read, and malformed peer messages are refused.

use nodes::api::{ErrorCode, NodeId, Request, Response};
use nodes::protocol::{Context, Outbox, Protocol};
use nodes::protocols::zab::{Message, Record, Txn, Zab, Zxid};
use nodes::sim::{OpState, Sim, SimConfig};

fn leader(sim: &Sim<Zab>) -> Option<NodeId> {
    sim.members()
        .iter()
        .copied()
        .filter(|&n| sim.node(n).is_some_and(|z| z.is_broadcasting_leader()))
        .max_by_key(|&n| sim.node(n).map(|z| z.current_epoch()))
}

fn elect(sim: &mut Sim<Zab>) -> NodeId {
    assert!(sim.run_until(5_000, |s| leader(s).is_some()), "no leader within 5 s");
    leader(sim).unwrap()
}

fn put(key: &str, value: i64) -> Request {
    Request::Put { key: key.into(), value }
}

#[test]
fn a_quiet_cluster_establishes_epoch_one_and_serves_writes_and_reads() {
    let mut sim = Sim::<Zab>::new(3, SimConfig::new(3));
    let first = elect(&mut sim);
    assert_eq!(sim.node(first).unwrap().current_epoch(), 1);
    assert!(sim.call(first, put("k", 7)).is_ok());
    assert_eq!(
        sim.call(first, Request::Get { key: "k".into() }),
        OpState::Ok(Response::Value { value: Some(7) })
    );
    // Every node follows, and says who leads.
    for n in [1, 2, 3] {
        assert_eq!(sim.status(n).unwrap().leader, Some(first), "node {n}");
    }
    let other = [1, 2, 3].into_iter().find(|&n| n != first).unwrap();
    let refused = sim.call(other, put("k", 8));
    assert_eq!(refused.error().map(|e| (e.code, e.leader)), Some((ErrorCode::NotLeader, Some(first))));
}

#[test]
fn a_write_is_acknowledged_only_once_a_quorum_persisted_it() {
    let mut sim = Sim::<Zab>::new(5, SimConfig::new(5));
    let first = elect(&mut sim);
    assert!(sim.call(first, put("k", 1)).is_ok());
    let holders = sim
        .members()
        .iter()
        .filter(|&&n| {
            sim.persisted(n).iter().any(|r| match r {
                Record::Appended { txns } | Record::Synced { txns, .. } => {
                    txns.iter().any(|t| t.request == put("k", 1))
                }
                _ => false,
            })
        })
        .count();
    assert!(holders >= 3, "only {holders} of 5 nodes persisted the write before it was acknowledged");
}

#[test]
fn the_newest_history_wins_and_epochs_grow_durably() {
    let mut sim = Sim::<Zab>::new(11, SimConfig::new(3));
    let first = elect(&mut sim);
    assert!(sim.call(first, put("k", 1)).is_ok());
    // Cut one follower off, commit more without it, then lose the leader.
    let behind = [1, 2, 3].into_iter().find(|&n| n != first).unwrap();
    sim.isolate(behind);
    assert!(sim.call(first, put("k", 2)).is_ok());
    sim.heal();
    sim.crash(first);
    let second = elect(&mut sim);
    assert_ne!(second, behind, "the node that missed a committed write was elected");
    let epoch = sim.node(second).unwrap().current_epoch();
    assert!(epoch >= 2, "epoch {epoch} after a second election");
    // Both live nodes persisted the new epoch as accepted before acknowledging it.
    for n in [1, 2, 3].into_iter().filter(|&n| n != first) {
        let accepted = sim.persisted(n).iter().filter_map(|r| match r {
            Record::AcceptedEpoch { epoch } => Some(*epoch),
            _ => None,
        });
        assert_eq!(accepted.max(), Some(epoch), "node {n}");
    }
    assert_eq!(
        sim.call(second, Request::Get { key: "k".into() }),
        OpState::Ok(Response::Value { value: Some(2) })
    );
}

#[test]
fn a_deposed_leader_neither_commits_nor_serves_reads() {
    let mut sim = Sim::<Zab>::new(4, SimConfig::new(3));
    let old = elect(&mut sim);
    assert!(sim.call(old, put("k", 1)).is_ok());
    sim.isolate(old);
    // The majority elects a newer epoch and writes in it.
    assert!(sim.run_until(5_000, |s| leader(s).is_some_and(|l| l != old)));
    let new = leader(&sim).unwrap();
    assert!(sim.call(new, put("k", 2)).is_ok());
    // The old leader may still believe it leads, but nothing it answers is a success.
    let write = sim.submit(old, put("k", 3));
    let read = sim.submit(old, Request::Get { key: "k".into() });
    sim.run_for(2_000);
    assert!(!sim.op(write).state.is_ok(), "a deposed leader committed: {:?}", sim.op(write).state);
    assert!(!sim.op(read).state.is_ok(), "a deposed leader served a read: {:?}", sim.op(read).state);
    sim.heal();
    let back = sim.run_until(5_000, |s| s.node(old).is_some_and(|z| z.applied() >= 2));
    assert!(back, "the old leader did not catch up");
    assert_eq!(sim.node(old).unwrap().store(), sim.node(new).unwrap().store());
}

#[test]
fn malformed_peer_messages_are_refused() {
    let txn = |epoch, counter| Txn { zxid: Zxid { epoch, counter }, request: put("k", 1) };
    let bad = [
        // Out of order, or of another epoch than the proposal's.
        Message::Proposal { epoch: 2, prev: Zxid::ZERO, txns: vec![txn(2, 2), txn(2, 1)] },
        Message::Proposal { epoch: 2, prev: Zxid::ZERO, txns: vec![txn(3, 1)] },
        Message::Proposal { epoch: 2, prev: Zxid::ZERO, txns: vec![] },
        // Epoch zero, or near overflow.
        Message::NewEpoch { epoch: 0, session: 1 },
        Message::NewEpoch { epoch: u64::MAX, session: 1 },
        // A NEWLEADER whose kept prefix and count disagree.
        Message::NewLeader {
            epoch: 2,
            session: 1,
            keep: 0,
            keep_last: Zxid { epoch: 1, counter: 1 },
            txns: vec![],
        },
        Message::Commit { epoch: 1, zxid: Zxid { epoch: 5, counter: 1 } },
    ];
    for message in &bad {
        assert!(!message.is_well_formed(), "{message:?}");
    }
    // A node fed them (from a member, as the transport would) is unchanged.
    let config = nodes::protocol::Config { id: 1, members: vec![1, 2, 3], options: Default::default() };
    let ctx = Context { now_ms: 0, random: 9 };
    let mut out = Outbox::new();
    let mut zab = Zab::recover(config, vec![], ctx, &mut out);
    let before = zab.debug_state();
    for message in bad {
        let mut out = Outbox::new();
        zab.on_message(ctx, 2, message, &mut out);
        assert!(out.effects.is_empty());
    }
    assert_eq!(zab.debug_state(), before);
}
