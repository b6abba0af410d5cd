//! pb-async and pb-sync on the simulator: replication without faults, recovery from the
//! persisted log, and the failures the design promises (lost acknowledged writes, split
//! brain, refused writes while a backup is out).

use checkers::{check, CheckOptions, ModelKind, Verdict};
use nodes::api::{ErrorCode, Request, Response, Role};
use nodes::protocol::Protocol;
use nodes::protocols::pb::{PbAsync, PbSync, PrimaryBackup, Record, ReplyRule};
use nodes::sim::{check_seeds, NetConfig, OpState, Sim, SimConfig};
use nodes::state_machine::Store;

fn put(key: &str, value: i64) -> Request {
    Request::Put { key: key.into(), value }
}

fn get(key: &str) -> Request {
    Request::Get { key: key.into() }
}

/// The linearizability checker's verdict on the whole (register) history.
fn register_verdict<R: ReplyRule>(sim: &Sim<PrimaryBackup<R>>) -> Verdict {
    let history = sim.history_of_keys(|_| true).expect("a valid history");
    let options = CheckOptions { threads: 1, ..CheckOptions::new(ModelKind::CasRegister) };
    check(&history, &options).expect("a register history").verdict
}

fn stores<R: ReplyRule>(sim: &Sim<PrimaryBackup<R>>) -> Vec<Store> {
    sim.members().iter().map(|&n| sim.node(n).expect("node is up").store().clone()).collect()
}

fn converged<R: ReplyRule>(sim: &Sim<PrimaryBackup<R>>) -> bool {
    let all = stores(sim);
    all.windows(2).all(|w| w[0] == w[1])
}

/// A mixed write load against the primary, then every store must be the same and hold it.
fn replicates_without_faults<R: ReplyRule>() {
    check_seeds(0..20, |seed| {
        let mut sim = Sim::<PrimaryBackup<R>>::new(seed, SimConfig::new(3));
        let mut ops = Vec::new();
        for i in 0..60 {
            let request = match i % 3 {
                0 => put(&format!("r{}", i % 5), i),
                1 => Request::SetAdd { key: "s".into(), element: i },
                _ => Request::Cas { key: format!("r{}", (i + 2) % 5), from: i - 2, to: i },
            };
            ops.push(sim.submit(1, request));
            let pause = sim.random_between(0, 5);
            sim.run_for(pause);
        }
        assert!(sim.run_until(2_000, |s| ops.iter().all(|&op| !s.op(op).state.is_pending())));
        assert!(sim.run_until(2_000, converged), "stores did not converge");
        for &op in &ops {
            let record = sim.op(op);
            match (&record.request, &record.state) {
                (Request::Cas { .. }, OpState::Ok(_)) => {}
                (Request::Cas { .. }, OpState::Fail(e)) => assert_eq!(e.code, ErrorCode::PreconditionFailed),
                (_, state) => assert!(state.is_ok(), "{:?} ended {state:?}", record.request),
            }
        }
        let elements = sim.call(1, Request::SetRead { key: "s".into() });
        let expected: Vec<i64> = (0..60).filter(|i| i % 3 == 1).collect();
        assert_eq!(elements, OpState::Ok(Response::Elements { elements: expected }));
        // Backups refuse client requests and name the primary.
        assert!(
            matches!(sim.call(2, get("r0")), OpState::Fail(e) if e.code == ErrorCode::NotLeader && e.leader == Some(1))
        );
    });
}

#[test]
fn pb_async_replicates_writes_without_faults() {
    replicates_without_faults::<nodes::protocols::pb::Async>();
}

#[test]
fn pb_sync_replicates_writes_without_faults() {
    replicates_without_faults::<nodes::protocols::pb::Sync>();
}

/// Crash each node in turn and restart it from its records: nothing it persisted is lost.
fn restart_keeps_every_persisted_entry<R: ReplyRule>() {
    check_seeds(0..10, |seed| {
        let mut sim = Sim::<PrimaryBackup<R>>::new(seed, SimConfig::new(3));
        for i in 0..20 {
            assert!(sim.call(1, put("k", i)).is_ok());
        }
        sim.run_for(200);
        for id in [3, 2, 1] {
            let persisted: Vec<_> = sim
                .persisted(id)
                .iter()
                .filter_map(|r| match r {
                    Record::Entry(e) => Some(e.clone()),
                    Record::Era(_) | Record::Snapshot(_) => None,
                })
                .collect();
            assert_eq!(persisted.len(), 20, "node {id} persisted every entry");
            let store_before = sim.node(id).unwrap().store().clone();
            sim.crash_restart(id);
            let node = sim.node(id).unwrap();
            assert_eq!(node.log(), persisted.as_slice(), "node {id} recovered its log");
            assert_eq!(node.store(), &store_before, "node {id} recovered its state");
        }
        // The restarted primary resumes and the cluster still takes writes.
        sim.run_for(100);
        let (_, state) = sim.call_leader(2, put("k", 100));
        assert!(state.is_ok(), "{state:?}");
        assert!(sim.run_until(1_000, converged));
    });
}

#[test]
fn pb_async_restart_keeps_every_persisted_entry() {
    restart_keeps_every_persisted_entry::<nodes::protocols::pb::Async>();
}

#[test]
fn pb_sync_restart_keeps_every_persisted_entry() {
    restart_keeps_every_persisted_entry::<nodes::protocols::pb::Sync>();
}

/// The design's promised failure: the primary acknowledges, dies before shipping, a backup
/// takes over without the write, and when the old primary returns it truncates it too.
#[test]
fn pb_async_loses_an_acknowledged_write_when_the_primary_dies_after_replying() {
    check_seeds(0..20, |seed| {
        let mut sim = Sim::<PbAsync>::new(seed, SimConfig::new(3));
        assert!(sim.call(1, put("x", 1)).is_ok());
        assert!(sim.run_until(500, |s| [2, 3].iter().all(|&n| s.node(n).unwrap().log().len() == 1)));

        let acked = sim.submit(1, put("x", 2));
        assert!(sim.run_until(100, |s| !s.op(acked).state.is_pending()));
        assert!(sim.op(acked).state.is_ok(), "the primary acknowledged the write");
        sim.crash(1); // right after replying: the Ship timer dies with it

        assert!(sim.run_until(5_000, |s| s.status(2).is_some_and(|st| st.role == Role::Primary)));
        assert_eq!(
            sim.call(2, get("x")),
            OpState::Ok(Response::Value { value: Some(1) }),
            "the new primary never saw x=2"
        );

        sim.restart(1);
        assert!(
            sim.run_until(5_000, |s| s.status(1).is_some_and(|st| st.role == Role::Backup) && converged(s))
        );
        for &n in sim.members() {
            let read = sim.node(n).unwrap().store().read(&get("x")).unwrap();
            assert_eq!(read, Response::Value { value: Some(1) }, "node {n} lost the acknowledged x=2");
        }
        assert_eq!(register_verdict(&sim), Verdict::Invalid, "the checker catches the lost write");
    });
}

/// pb-sync does not lose it: the reply waits for every backup.
#[test]
fn pb_sync_keeps_a_write_acknowledged_before_the_primary_died() {
    check_seeds(0..20, |seed| {
        let mut sim = Sim::<PbSync>::new(seed, SimConfig::new(3));
        let acked = sim.submit(1, put("x", 2));
        assert!(sim.run_until(500, |s| !s.op(acked).state.is_pending()));
        assert!(sim.op(acked).state.is_ok());
        sim.crash(1);
        assert!(sim.run_until(5_000, |s| s.status(2).is_some_and(|st| st.role == Role::Primary)));
        assert_eq!(sim.call(2, get("x")), OpState::Ok(Response::Value { value: Some(2) }));
        assert_eq!(register_verdict(&sim), Verdict::Valid);
    });
}

/// Two primaries at once under a partition: ad-hoc failover has no quorum to stop it.
fn splits_brain_under_partition<R: ReplyRule>() {
    check_seeds(0..10, |seed| {
        let mut sim = Sim::<PrimaryBackup<R>>::new(seed, SimConfig::new(3));
        sim.run_for(200);
        sim.isolate(1);
        assert!(sim.run_until(5_000, |s| s.status(2).is_some_and(|st| st.role == Role::Primary)));
        assert_eq!(sim.status(1).unwrap().role, Role::Primary, "the cut-off primary still believes it leads");
        assert_eq!(sim.status(2).unwrap().term, 2);
        sim.heal();
        assert!(sim.run_until(2_000, |s| s.status(1).is_some_and(|st| st.role == Role::Backup)));
        let leaders = sim.leaders_by_term();
        assert!(leaders[&1].contains(&1) && leaders[&2].contains(&2), "{leaders:?}");
    });
}

#[test]
fn pb_async_splits_brain_under_partition() {
    splits_brain_under_partition::<nodes::protocols::pb::Async>();
}

#[test]
fn pb_sync_splits_brain_under_partition() {
    splits_brain_under_partition::<nodes::protocols::pb::Sync>();
}

/// With a backup cut off, the sync primary refuses writes at once (definite: nothing was
/// applied), and a write already applied when the backup vanished ends indefinite.
#[test]
fn pb_sync_refuses_writes_while_a_backup_is_cut_off() {
    check_seeds(0..10, |seed| {
        let mut config = SimConfig::new(3);
        // Keep the backups from promoting during the test: only the primary is judged here.
        config.options.election_timeout_min_ms = 10_000;
        config.options.election_timeout_max_ms = 20_000;
        config.client_timeout_ms = 30_000;
        let mut sim = Sim::<PbSync>::new(seed, config);
        sim.run_for(100);
        let mut cut = nodes::sim::Grudges::none();
        cut.cut(1, 3);
        sim.partition(cut);
        // Applied on the primary, never acknowledged by 3: may have happened.
        let in_flight = sim.submit(1, put("x", 1));
        assert!(sim.run_until(25_000, |s| !s.op(in_flight).state.is_pending()));
        let state = sim.op(in_flight).state.clone();
        assert!(matches!(&state, OpState::Info(_)), "{state:?}");
        // Now 3 is deemed down: refused before anything is applied.
        let refused = sim.call(1, put("y", 1));
        assert!(
            matches!(&refused, OpState::Fail(e) if e.code == ErrorCode::Unavailable && e.definite),
            "{refused:?}"
        );
        assert_eq!(sim.node(1).unwrap().store().read(&get("y")).unwrap(), Response::Value { value: None });
        sim.heal();
        sim.run_for(500);
        assert!(sim.call(1, put("z", 1)).is_ok());
    });
}

#[test]
fn pb_async_converges_after_lossy_delivery() {
    check_seeds(0..10, |seed| {
        let mut config = SimConfig::new(3);
        config.network = NetConfig { delay_min_ms: 1, delay_max_ms: 30, loss: 0.3, duplicate: 0.2 };
        config.options.election_timeout_min_ms = 5_000;
        config.options.election_timeout_max_ms = 6_000;
        let mut sim = Sim::<PbAsync>::new(seed, config);
        for i in 0..50 {
            sim.submit(1, put(&format!("k{}", i % 7), i));
            sim.run_for(3);
        }
        sim.set_network(NetConfig::default());
        assert!(sim.run_until(3_000, converged));
        assert_eq!(sim.node(3).unwrap().log().len(), 50);
        assert_eq!(<PbAsync as Protocol>::NAME, "pb-async");
    });
}

/// pb-sync's divergence: a write applied on the primary (its client got an indefinite error)
/// is read there, then a failover discards it, and later reads no longer see it.
#[test]
fn pb_sync_read_sees_a_write_that_failover_then_discards() {
    check_seeds(0..10, |seed| {
        let mut sim = Sim::<PbSync>::new(seed, SimConfig::new(3));
        assert!(sim.call(1, put("x", 1)).is_ok());
        sim.isolate(1);
        let applied = sim.call(1, put("x", 2));
        assert!(matches!(applied, OpState::Info(_)), "{applied:?}");
        assert_eq!(
            sim.call(1, get("x")),
            OpState::Ok(Response::Value { value: Some(2) }),
            "the primary's own read"
        );
        assert!(sim.run_until(5_000, |s| s.status(2).is_some_and(|st| st.role == Role::Primary)));
        sim.heal();
        assert!(
            sim.run_until(2_000, |s| s.status(1).is_some_and(|st| st.role == Role::Backup) && converged(s))
        );
        assert_eq!(
            sim.call(2, get("x")),
            OpState::Ok(Response::Value { value: Some(1) }),
            "x=2 was discarded"
        );
    });
}
