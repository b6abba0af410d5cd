//! 2pc nodes driven directly with hostile or nonsensical peer messages.

use nodes::api::{Request, Response};
use nodes::protocol::{Config, Context, Effect, Options, Outbox, Protocol};
use nodes::protocols::twopc::{Message, Record, Snapshot, TwoPc};
use nodes::state_machine::Store;

fn config(id: u32) -> Config {
    Config { id, members: vec![1, 2, 3], options: Options::default() }
}

fn ctx(now_ms: u64) -> Context {
    Context { now_ms, random: 3 }
}

fn put(value: i64) -> Request {
    Request::Put { key: "k".into(), value }
}

#[test]
fn a_participant_takes_orders_only_from_the_coordinator_and_survives_extreme_numbers() {
    let mut out = Outbox::new();
    let mut node = TwoPc::recover(config(2), vec![], ctx(0), &mut out);

    // From a participant, a stranger, itself: ignored.
    for from in [3, 99, 2] {
        let mut out = Outbox::new();
        node.on_message(
            ctx(1),
            from,
            Message::Prepare { txid: 1, ops: vec![put(1)], decided_through: 0 },
            &mut out,
        );
        assert!(out.effects.is_empty(), "prepare from {from} acted on");
    }
    // A commit for a transaction never prepared here changes nothing.
    let mut out = Outbox::new();
    node.on_message(ctx(2), 1, Message::Decision { txid: 5, commit: true }, &mut out);
    assert!(node.store().is_empty());
    // Transaction 0 does not exist; extreme numbers do not overflow.
    for message in [
        Message::Prepare { txid: 0, ops: vec![put(1)], decided_through: 0 },
        Message::Ping { decided_through: u64::MAX },
        Message::Prepare { txid: u64::MAX, ops: vec![put(1)], decided_through: u64::MAX },
        Message::Decision { txid: u64::MAX, commit: true },
    ] {
        let mut out = Outbox::new();
        node.on_message(ctx(3), 1, message, &mut out);
    }
    assert!(node.store().is_empty());
    assert!(node.in_doubt().is_empty());
}

#[test]
fn the_coordinator_ignores_stray_votes_and_answers_queries_with_presumed_abort() {
    let mut out = Outbox::new();
    let mut coordinator = TwoPc::recover(config(1), vec![], ctx(0), &mut out);
    let mut out = Outbox::new();
    coordinator.on_message(ctx(1), 2, Message::Vote { txid: 42, yes: true }, &mut out);
    coordinator.on_message(ctx(1), 3, Message::Decision { txid: 1, commit: true }, &mut out);
    assert!(out.effects.is_empty());
    let mut out = Outbox::new();
    coordinator.on_message(ctx(2), 2, Message::Query { txid: u64::MAX }, &mut out);
    assert!(matches!(
        out.effects.as_slice(),
        [Effect::Send { to: 2, message: Message::Decision { commit: false, .. } }]
    ));
    let mut out = Outbox::new();
    coordinator.on_request(ctx(3), 1, Request::Get { key: "k".into() }, &mut out);
    assert!(matches!(
        out.effects.as_slice(),
        [Effect::Reply { request: 1, result: Ok(Response::Value { value: None }) }]
    ));
}

/// Regression: a participant restarted from a snapshot has forgotten the outcomes it
/// compacted; a delayed duplicate `Prepare` of a transaction it already applied must not be
/// prepared again (a later query would commit and apply it a second time).
#[test]
fn a_stale_prepare_of_an_applied_transaction_is_not_prepared_again_after_a_snapshot() {
    let add = Request::Txn { ops: vec![nodes::api::TxnOp::Add { key: "n".into(), delta: 1 }] };
    let mut store = Store::new();
    store.apply(&add).unwrap();
    let snapshot = Snapshot {
        store: store.clone(),
        applied_through: 1,
        committed_through: 1,
        floor: 0,
        highest: 1,
        committed: vec![],
        applied_count: 1,
        prefix_hash: 0,
    };
    let mut out = Outbox::new();
    let mut node = TwoPc::recover(config(2), vec![Record::Snapshot(Box::new(snapshot))], ctx(0), &mut out);
    let mut out = Outbox::new();
    node.on_message(ctx(1), 1, Message::Prepare { txid: 1, ops: vec![add], decided_through: 0 }, &mut out);
    assert!(node.in_doubt().is_empty(), "re-prepared an applied transaction");
    node.on_message(ctx(2), 1, Message::Decision { txid: 1, commit: true }, &mut out);
    assert_eq!(node.store(), &store, "applied twice");
}
