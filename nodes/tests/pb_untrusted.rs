//! pb nodes driven directly with hostile or nonsensical peer messages: each is ignored or
//! answered, never trusted into a panic or a corrupt state.

use nodes::api::{Request, Role};
use nodes::protocol::{Config, Context, Effect, Options, Outbox, Protocol};
use nodes::protocols::pb::{Entry, Era, Message, PbAsync, PbSync};

fn config(id: u32) -> Config {
    Config { id, members: vec![1, 2, 3], options: Options::default() }
}

fn ctx(now_ms: u64) -> Context {
    Context { now_ms, random: 7 }
}

fn era(epoch: u64, primary: u32) -> Era {
    Era { epoch, primary }
}

fn put(value: i64) -> Request {
    Request::Put { key: "k".into(), value }
}

#[test]
fn a_backup_ignores_strangers_and_forged_eras_and_nacks_impossible_appends() {
    let mut out = Outbox::new();
    let mut backup = PbAsync::recover(config(2), vec![], ctx(0), &mut out);
    let entry = |value| Entry { era: era(1, 1), request: put(value) };

    // From a non-member, and from itself: no effect at all.
    for from in [99, 2] {
        let mut out = Outbox::new();
        let append = Message::Append {
            era: era(9, 1),
            prev_index: 0,
            prev_era: None,
            entries: vec![entry(1)],
            primary_last: 1,
        };
        backup.on_message(ctx(1), from, append, &mut out);
        assert!(out.effects.is_empty(), "message from {from} acted on");
    }
    assert_eq!((backup.era(), backup.log().len()), (era(1, 1), 0));

    // A higher era naming this very node as primary: it never started one, so not believed.
    let mut out = Outbox::new();
    backup.on_message(ctx(2), 1, Message::Alive { era: era(5, 2) }, &mut out);
    assert_eq!(backup.era(), era(1, 1));

    // An append far beyond its log: a Nack asking from its end, nothing applied.
    let mut out = Outbox::new();
    let beyond = Message::Append {
        era: era(1, 1),
        prev_index: u64::MAX,
        prev_era: Some(era(1, 1)),
        entries: vec![entry(2)],
        primary_last: u64::MAX,
    };
    backup.on_message(ctx(3), 1, beyond, &mut out);
    assert!(out
        .effects
        .iter()
        .any(|e| matches!(e, Effect::Send { to: 1, message: Message::Nack { from_index: 1, .. } })));
    assert_eq!(backup.log().len(), 0);

    // A read-only request inside an entry is harmless: applied as a no-op.
    let mut out = Outbox::new();
    let odd = Entry { era: era(1, 1), request: Request::Get { key: "k".into() } };
    let append = Message::Append {
        era: era(1, 1),
        prev_index: 0,
        prev_era: None,
        entries: vec![odd],
        primary_last: 1,
    };
    backup.on_message(ctx(4), 1, append, &mut out);
    assert_eq!(backup.log().len(), 1);
    assert!(backup.store().is_empty());
}

#[test]
fn a_primary_clamps_acks_and_nacks_it_cannot_honour() {
    let mut out = Outbox::new();
    let mut primary = PbSync::recover(config(1), vec![], ctx(0), &mut out);
    assert_eq!(primary.role(), Role::Primary);
    for message in [
        Message::Ack { era: era(1, 1), index: u64::MAX },
        Message::Nack { era: era(1, 1), from_index: 0 },
        Message::Nack { era: era(1, 1), from_index: u64::MAX },
        Message::Ack { era: era(0, 3), index: 5 },
    ] {
        let mut out = Outbox::new();
        primary.on_message(ctx(1), 2, message, &mut out);
    }
    let status = primary.status();
    assert_eq!((status.role, status.commit_index, status.applied_index), (Role::Primary, 0, 0));
}
