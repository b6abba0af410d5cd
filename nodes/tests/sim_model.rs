//! The simulator's own guarantees, shown on `Flood`, a small protocol defined here: every
//! write is persisted, applied and flooded to all peers; reads are local; a `Tick` timer
//! counts in memory only, so a crash visibly loses it.

use std::panic::{catch_unwind, AssertUnwindSafe};

use checkers::{EventType, Process};
use nodes::api::{ApiError, ErrorCode, NodeId, Request, Response, Role, Status};
use nodes::protocol::{Config, Context, Outbox, Protocol, RequestId};
use nodes::sim::{check_seeds, Grudges, NetConfig, OpState, Sim, SimConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Write {
    key: String,
    value: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Tick {
    Count,
    /// Set and then cancelled on every request: must never fire.
    Cancelled,
}

struct Flood {
    config: Config,
    values: BTreeMap<String, i64>,
    ticks: u64,
    received: u64,
    cancelled_fired: bool,
}

impl Protocol for Flood {
    type Message = Write;
    type Record = Write;
    type Timer = Tick;
    const NAME: &'static str = "flood";

    fn recover(config: Config, records: Vec<Write>, _ctx: Context, out: &mut Outbox<Self>) -> Self {
        out.set_timer(Tick::Count, 10);
        let values = records.into_iter().map(|w| (w.key, w.value)).collect();
        Flood { config, values, ticks: 0, received: 0, cancelled_fired: false }
    }

    fn on_message(&mut self, _ctx: Context, _from: NodeId, w: Write, out: &mut Outbox<Self>) {
        self.received += 1;
        out.persist(w.clone());
        self.values.insert(w.key, w.value);
    }

    fn on_request(&mut self, _ctx: Context, request: RequestId, body: Request, out: &mut Outbox<Self>) {
        out.set_timer(Tick::Cancelled, 1);
        out.cancel_timer(Tick::Cancelled);
        match body {
            Request::Put { key, value } => {
                let w = Write { key: key.clone(), value };
                // Reply and send first in the outbox: the simulator must still persist first.
                out.reply(request, Ok(Response::Done {}));
                for peer in self.config.peers() {
                    out.send(peer, w.clone());
                }
                out.persist(w);
                self.values.insert(key, value);
            }
            Request::Get { key } => {
                out.reply(request, Ok(Response::Value { value: self.values.get(&key).copied() }))
            }
            Request::Cas { .. } => {
                out.reply(request, Err(ApiError::new(ErrorCode::Indeterminate, "lost track")))
            }
            Request::SetRead { .. } => out.reply(request, Err(ApiError::not_leader(Some(1)))),
            // Held forever: only a crash or the client timeout ends it.
            Request::SetAdd { .. } | Request::Txn { .. } => {}
        }
    }

    fn on_timer(&mut self, _ctx: Context, timer: Tick, out: &mut Outbox<Self>) {
        match timer {
            Tick::Count => {
                self.ticks += 1;
                out.set_timer(Tick::Count, 10);
            }
            Tick::Cancelled => self.cancelled_fired = true,
        }
    }

    fn status(&self) -> Status {
        let leading = self.config.id == 1;
        Status {
            id: self.config.id,
            protocol: Self::NAME.into(),
            role: if leading { Role::Leader } else { Role::Follower },
            term: self.values.len() as u64,
            leader: Some(1),
            commit_index: 0,
            applied_index: self.values.len() as u64,
        }
    }
}

fn put(key: &str, value: i64) -> Request {
    Request::Put { key: key.into(), value }
}

fn get(key: &str) -> Request {
    Request::Get { key: key.into() }
}

fn lossy() -> NetConfig {
    NetConfig { delay_min_ms: 1, delay_max_ms: 40, loss: 0.2, duplicate: 0.2 }
}

/// A run that exercises every source of randomness, summarised for comparison.
fn scripted_run(seed: u64) -> (Vec<String>, Vec<(u64, u64)>) {
    let mut config = SimConfig::new(3);
    config.network = lossy();
    let mut sim = Sim::<Flood>::new(seed, config);
    for i in 0..20 {
        sim.submit(1 + (i % 3) as NodeId, put(&format!("k{}", i % 4), i));
        sim.run_for(7);
    }
    sim.crash_restart(2);
    sim.run_for(500);
    let events = sim.events().iter().map(|e| serde_json::to_string(e).unwrap()).collect();
    let nodes =
        [1, 2, 3].iter().map(|&id| (sim.node(id).unwrap().received, sim.node(id).unwrap().ticks)).collect();
    (events, nodes)
}

#[test]
fn the_same_seed_gives_the_same_run_and_another_seed_a_different_one() {
    assert_eq!(scripted_run(7), scripted_run(7));
    assert_ne!(scripted_run(7).1, scripted_run(8).1);
}

#[test]
fn writes_flood_to_every_node() {
    let mut sim = Sim::<Flood>::new(1, SimConfig::new(3));
    assert!(sim.call(1, put("a", 5)).is_ok());
    assert!(sim.run_until(100, |s| [2, 3].iter().all(|&n| s.node(n).unwrap().values.get("a") == Some(&5))));
    assert_eq!(sim.call(3, get("a")), OpState::Ok(Response::Value { value: Some(5) }));
    assert_eq!(sim.messages_sent().get(&(1, 2)), Some(&1));
}

#[test]
fn a_crash_keeps_persisted_records_and_loses_memory_and_timers() {
    let mut sim = Sim::<Flood>::new(2, SimConfig::new(2));
    assert!(sim.call(1, put("a", 1)).is_ok());
    sim.run_for(100);
    assert!(sim.node(1).unwrap().ticks >= 9);
    sim.crash(1);
    assert!(sim.node(1).is_none() && sim.status(1).is_none());
    assert_eq!(sim.persisted(1).len(), 1);
    sim.run_for(100);
    sim.restart(1);
    let node = sim.node(1).unwrap();
    assert_eq!((node.ticks, node.values.get("a")), (0, Some(&1)));
    sim.run_for(25);
    assert_eq!(sim.node(1).unwrap().ticks, 2, "recover re-armed the timer; the old one died with the crash");
}

#[test]
fn records_are_durable_before_the_steps_messages_leave() {
    // The request's step replies and sends before persisting in its outbox; a crash right
    // after the step must still find the record, and the peers still get the message.
    let mut sim = Sim::<Flood>::new(3, SimConfig::new(3));
    let op = sim.submit(1, put("a", 9));
    assert!(sim.run_until(10, |s| s.op(op).state.is_ok()));
    sim.crash(1);
    assert_eq!(sim.persisted(1).len(), 1);
    assert!(sim.run_until(100, |s| [2, 3].iter().all(|&n| s.node(n).unwrap().values.get("a") == Some(&9))));
}

#[test]
fn clients_record_ok_fail_and_info_by_what_the_node_said() {
    let mut config = SimConfig::new(2);
    config.client_timeout_ms = 200;
    let mut sim = Sim::<Flood>::new(4, config);
    assert!(sim.call(1, put("a", 1)).is_ok());
    // Definite error: fail. Indefinite error: info.
    assert!(
        matches!(sim.call(2, Request::SetRead { key: "s".into() }), OpState::Fail(e) if e.code == ErrorCode::NotLeader)
    );
    assert!(matches!(sim.call(2, Request::Cas { key: "a".into(), from: 1, to: 2 }), OpState::Info(_)));
    // No answer: info at the client timeout.
    let started = sim.now_ms();
    assert!(
        matches!(sim.call(1, Request::SetAdd { key: "s".into(), element: 1 }), OpState::Info(e) if e.code == ErrorCode::Timeout)
    );
    assert_eq!(sim.now_ms() - started, 200);
    // The node crashes holding the request: info at once.
    let held = sim.submit(2, Request::SetAdd { key: "s".into(), element: 2 });
    sim.run_for(5);
    sim.crash(2);
    assert!(matches!(&sim.op(held).state, OpState::Info(e) if e.code == ErrorCode::Indeterminate));
    // A down node refuses: fail, definite.
    assert!(matches!(sim.call(2, get("a")), OpState::Fail(e) if e.code == ErrorCode::Unavailable));

    let history = sim.history().expect("the simulator records a valid history");
    let kinds: Vec<(EventType, &str)> = history
        .events()
        .iter()
        .filter(|e| e.process != Process::Nemesis && e.kind != EventType::Invoke)
        .map(|e| (e.kind, e.f.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (EventType::Ok, "write"),
            (EventType::Fail, "read"),
            (EventType::Info, "cas"),
            (EventType::Info, "add"),
            (EventType::Info, "add"),
            (EventType::Fail, "read")
        ]
    );
    assert!(history.events().iter().any(|e| e.process == Process::Nemesis && e.f == "crash"));
    assert!(no_cancelled_timer_fired(&sim));
}

fn no_cancelled_timer_fired(sim: &Sim<Flood>) -> bool {
    sim.members().iter().filter_map(|&id| sim.node(id)).all(|n| !n.cancelled_fired)
}

#[test]
fn partitions_cut_by_grudge_one_way_included_and_heal() {
    let mut sim = Sim::<Flood>::new(5, SimConfig::new(3));
    sim.isolate(3);
    assert!(sim.call(1, put("a", 1)).is_ok());
    sim.run_for(100);
    assert_eq!(sim.node(2).unwrap().values.get("a"), Some(&1));
    assert_eq!(sim.node(3).unwrap().values.get("a"), None);

    let mut one_way = Grudges::none();
    one_way.cut_one_way(1, 2); // 2 refuses 1; 2 still reaches 1
    sim.partition(one_way);
    assert!(sim.call(1, put("b", 1)).is_ok());
    assert!(sim.call(2, put("c", 1)).is_ok());
    sim.run_for(100);
    assert_eq!(sim.node(2).unwrap().values.get("b"), None);
    assert_eq!(sim.node(1).unwrap().values.get("c"), Some(&1));

    sim.heal();
    assert!(sim.call(1, put("d", 1)).is_ok());
    sim.run_for(100);
    assert!([1, 2, 3].iter().all(|&n| sim.node(n).unwrap().values.get("d") == Some(&1)));
}

#[test]
fn duplication_delivers_twice_and_loss_delivers_nothing() {
    let mut config = SimConfig::new(2);
    config.network.duplicate = 1.0;
    let mut sim = Sim::<Flood>::new(6, config);
    sim.call(1, put("a", 1));
    sim.run_for(50);
    assert_eq!(sim.node(2).unwrap().received, 2);
    sim.set_network(NetConfig { loss: 1.0, ..NetConfig::default() });
    sim.call(1, put("b", 1));
    sim.run_for(50);
    assert_eq!(sim.node(2).unwrap().received, 2);
}

#[test]
fn status_changes_are_logged_and_leaders_grouped_by_term() {
    let mut sim = Sim::<Flood>::new(7, SimConfig::new(2));
    sim.call(1, put("a", 1));
    sim.call(1, put("b", 1));
    sim.crash(2);
    let leaders = sim.leaders_by_term();
    assert_eq!(leaders.keys().copied().collect::<Vec<_>>(), vec![0, 1, 2]);
    assert!(leaders.values().all(|ids| ids.len() == 1 && ids.contains(&1)));
    let last = sim.status_log().last().unwrap();
    assert_eq!((last.node, last.status.is_none()), (2, true));
}

#[test]
fn check_seeds_names_the_failing_seed() {
    let outcome = catch_unwind(AssertUnwindSafe(|| check_seeds(0..10, |seed| assert_ne!(seed, 3, "boom"))));
    let panic = outcome.expect_err("seed 3 fails");
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.starts_with("seed 3: "), "{message}");
    assert!(message.contains("FAULTLINE_SEED=3"), "{message}");
}

#[test]
fn a_paused_node_runs_nothing_until_resumed_then_catches_up() {
    let mut config = SimConfig::new(2);
    config.client_timeout_ms = 300;
    let mut sim = Sim::<Flood>::new(8, config);
    sim.run_for(50);
    sim.pause(2);
    assert!(sim.is_paused(2));
    let ticks = sim.node(2).unwrap().ticks;
    assert!(sim.call(1, put("a", 1)).is_ok());
    let held = sim.submit(2, get("a"));
    sim.run_for(500);
    let node = sim.node(2).unwrap();
    assert_eq!((node.ticks, node.values.get("a")), (ticks, None), "frozen while paused");
    assert!(matches!(&sim.op(held).state, OpState::Info(e) if e.code == ErrorCode::Timeout));
    sim.resume(2);
    sim.run_for(1);
    let node = sim.node(2).unwrap();
    assert_eq!(node.values.get("a"), Some(&1), "the held message arrived on resume");
    assert_eq!(node.ticks, ticks + 1, "the overdue timer fired once, late");
    assert!(sim.events().iter().any(|e| e.f == "pause") && sim.events().iter().any(|e| e.f == "resume"));
}
