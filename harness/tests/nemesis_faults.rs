//! The nemesis: schedules are deterministic by seed and round-trip through JSON; every
//! fault kind applies to a live cluster (fake nodes behind a real proxy and supervisor)
//! and heals; faults that cannot apply say so.

mod supervisor_support;

use faultline::{host, nemesis, proxy, supervisor};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use checkers::history::{EventType, Process};
use host::NodeState;
use nemesis::{Action, Fault, FaultKind, Nemesis, NemesisConfig, Schedule, ScheduleParams, Step};
use proxy::{Proxy, ProxyConfig};
use supervisor::Supervisor;
use supervisor_support::*;

const ENTRY: &str = "nemesis_roles_entry";
const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn nemesis_roles_entry() {
    run_role_if_asked();
    // As a plain test: the probes used below agree with this process's own state.
    assert!(alive_since(std::process::id()).is_some());
}

fn params(seed: u64, kinds: Vec<FaultKind>) -> ScheduleParams {
    ScheduleParams {
        seed,
        kinds,
        interval_ms: 1000,
        time_limit_ms: 60_000,
        nodes: vec![1, 2, 3, 4, 5],
        client_timeout_ms: 1000,
    }
}

#[test]
fn schedules_are_deterministic_by_seed_and_round_trip_through_json() {
    let all = FaultKind::ALL.to_vec();
    let a = Schedule::generate(&params(7, all.clone())).unwrap();
    assert_eq!(a, Schedule::generate(&params(7, all.clone())).unwrap());
    assert_ne!(a.steps, Schedule::generate(&params(8, all)).unwrap().steps, "another seed, another schedule");
    assert_eq!(Schedule::from_json(&a.to_json()).unwrap(), a);

    // 30 faults, each starting after a calm interval and stopping one interval later
    // (a killed leader, and a short pause, sooner).
    assert_eq!(a.steps.len(), 60);
    for (i, pair) in a.steps.chunks(2).enumerate() {
        assert_eq!((pair[0].action, pair[1].action), (Action::Start, Action::Stop));
        assert_eq!(pair[0].id, pair[1].id);
        assert_eq!(pair[0].fault, pair[1].fault);
        assert_eq!(pair[0].at_ms, 1000 + 2000 * i as u64);
        let lasted = pair[1].at_ms - pair[0].at_ms;
        match pair[0].fault {
            Fault::Pause { .. } | Fault::PauseLeader => assert!((700..=1000).contains(&lasted), "{lasted}"),
            _ => assert_eq!(lasted, 1000),
        }
        assert!(pair[1].at_ms <= 60_000);
    }
    assert!(Schedule::generate(&params(7, vec![])).unwrap().steps.is_empty());
    assert!(
        Schedule::generate(&ScheduleParams { interval_ms: 0, ..params(7, vec![FaultKind::Kill]) }).is_err()
    );
}

#[test]
fn a_killed_leader_comes_back_early_enough_to_serve_again() {
    let long = ScheduleParams {
        interval_ms: 5_000,
        time_limit_ms: 10_000,
        ..params(1, vec![FaultKind::KillLeader])
    };
    let schedule = Schedule::generate(&long).unwrap();
    assert_eq!(schedule.steps.len(), 2);
    let (start, stop) = (&schedule.steps[0], &schedule.steps[1]);
    assert_eq!((start.action, stop.action), (Action::Start, Action::Stop));
    assert_eq!(start.at_ms, 5_000);
    assert_eq!(stop.at_ms, 5_000 + nemesis::KILL_LEADER_DOWN_MAX_MS);
    // Other faults still last the whole interval.
    let kill = Schedule::generate(&ScheduleParams { kinds: vec![FaultKind::Kill], ..long }).unwrap();
    assert_eq!(kill.steps[1].at_ms, 10_000);
}

#[test]
fn half_the_pauses_end_while_clients_still_wait_on_the_paused_node() {
    for kind in [FaultKind::PauseLeader, FaultKind::Pause] {
        let params = ScheduleParams {
            interval_ms: 5_000,
            time_limit_ms: 2_000_000,
            client_timeout_ms: 1_000,
            ..params(11, vec![kind])
        };
        let schedule = Schedule::generate(&params).unwrap();
        let lasted: Vec<u64> = schedule.steps.chunks(2).map(|p| p[1].at_ms - p[0].at_ms).collect();
        assert_eq!(lasted.len(), 200);
        let short = lasted.iter().filter(|&&ms| ms < 1_000).count();
        assert!((70..=130).contains(&short), "{kind}: {short} of 200 pauses were short");
        for ms in lasted {
            assert!(ms == 5_000 || (700..=950).contains(&ms), "{kind}: a pause of {ms} ms");
        }
        // The share follows the op timeout, and never outlasts the interval.
        let patient = ScheduleParams { client_timeout_ms: 4_000, ..params.clone() };
        let steps = Schedule::generate(&patient).unwrap().steps;
        assert!(steps.chunks(2).any(|p| (2_800..=3_800).contains(&(p[1].at_ms - p[0].at_ms))));
        let slow = ScheduleParams { client_timeout_ms: 60_000, ..params };
        assert!(Schedule::generate(&slow).unwrap().steps.chunks(2).all(|p| p[1].at_ms - p[0].at_ms == 5_000));
    }
}

#[test]
fn bad_schedule_files_are_refused_with_a_reason() {
    let good = Schedule::generate(&params(1, vec![FaultKind::Kill])).unwrap();
    assert!(Schedule::from_json("{").unwrap_err().starts_with("bad schedule"));
    let mut backwards = good.clone();
    backwards.steps.swap(0, 1);
    assert!(Schedule::from_json(&backwards.to_json()).unwrap_err().contains("time order"));
    let mut stranger = good.clone();
    stranger.steps[0].fault = Fault::Kill { kind: FaultKind::Kill, nodes: vec![9] };
    assert!(Schedule::from_json(&stranger.to_json()).unwrap_err().contains("node 9"));
    let mut json: serde_json::Value = serde_json::from_str(&good.to_json()).unwrap();
    json["steps"][0]["fault"]["type"] = "explode".into();
    assert!(Schedule::from_json(&json.to_string()).is_err());
}

struct Cluster {
    _run: tempfile::TempDir,
    supervisor: Arc<Supervisor>,
    proxy: Arc<Proxy>,
}

/// Three fake nodes, node 2 leading in term 5, and a proxy over their peer addresses.
async fn cluster(leader: Option<u32>) -> Cluster {
    let run = tempfile::tempdir().unwrap();
    let supervisor = Arc::new(fake_cluster(ENTRY, run.path(), 3, leader, 5));
    supervisor.start_all(DEADLINE).await.unwrap();
    let targets: BTreeMap<u32, std::net::SocketAddr> = supervisor
        .node_ids()
        .into_iter()
        .map(|id| (id, supervisor.spec(id).unwrap().addrs.peer_listen))
        .collect();
    let proxy = Arc::new(Proxy::start(&targets, ProxyConfig::frames(1)).await.unwrap());
    Cluster { _run: run, supervisor, proxy }
}

fn nemesis(c: &Cluster) -> Nemesis {
    let config = NemesisConfig { health_deadline: DEADLINE, status_timeout: Duration::from_secs(2) };
    Nemesis::new(c.supervisor.clone(), c.proxy.clone(), config)
}

fn first_step(kind: FaultKind, nodes: Vec<u32>) -> (Step, Step) {
    let schedule = Schedule::generate(&ScheduleParams {
        seed: 3,
        kinds: vec![kind],
        interval_ms: 10,
        time_limit_ms: 20,
        nodes,
        client_timeout_ms: 1000,
    })
    .unwrap();
    (schedule.steps[0].clone(), schedule.steps[1].clone())
}

fn all_running(sup: &Supervisor) -> bool {
    sup.node_ids().into_iter().all(|id| matches!(sup.state(id), NodeState::Running { .. }))
}

#[tokio::test]
async fn every_fault_kind_applies_and_heals() {
    let c = cluster(Some(2)).await;
    let clocks = Arc::new(FakeClocks::default());
    let mut nemesis = nemesis(&c).with_clocks(clocks.clone());
    // lose-disk is in no group (outside the consensus protocols' model) but is still a fault.
    for kind in FaultKind::ALL.into_iter().chain(FaultKind::OUTSIDE_CONSENSUS_MODEL) {
        let (start, stop) = first_step(kind, vec![1, 2, 3]);
        let record = nemesis.execute(&start).await;
        assert!(record.took_effect, "{kind}: {record:?}");
        assert_eq!(record.f, start.f());
        assert_eq!(nemesis.active(), 1);
        match &start.fault {
            Fault::Partition { grudge, .. } => assert_eq!(&c.proxy.grudge(), grudge, "{kind}"),
            Fault::PartitionLeader => {
                assert_eq!(record.value["leader"], 2);
                assert_eq!(record.value["term"], 5);
                assert!(c.proxy.grudge().is_cut(2, 1) && c.proxy.grudge().is_cut(3, 2));
                assert!(!c.proxy.grudge().is_cut(1, 3));
            }
            Fault::Link { faults, .. } => {
                assert!(c.proxy.links().iter().all(|&l| c.proxy.link_faults(l) == *faults), "{kind}")
            }
            Fault::Kill { nodes, .. } => {
                assert!(
                    nodes.iter().all(|&n| matches!(c.supervisor.state(n), NodeState::Exited { .. })),
                    "{kind}"
                );
                if kind == FaultKind::KillAll {
                    assert_eq!(nodes.len(), 3);
                }
            }
            Fault::Pause { nodes } => {
                assert!(nodes.iter().all(|&n| matches!(c.supervisor.state(n), NodeState::Paused { .. })))
            }
            Fault::LoseDisk { node } => {
                assert!(matches!(c.supervisor.state(*node), NodeState::Exited { .. }));
                let data = &c.supervisor.spec(*node).unwrap().data_dir;
                assert_eq!(std::fs::read_dir(data).unwrap().count(), 0);
            }
            Fault::Failover => unreachable!("failover is not in FaultKind::ALL"),
            Fault::KillLeader => {
                assert_eq!(record.value["leader"], 2);
                assert!(matches!(c.supervisor.state(2), NodeState::Exited { .. }), "{kind}");
            }
            Fault::PauseLeader => {
                assert_eq!(record.value["leader"], 2);
                assert!(matches!(c.supervisor.state(2), NodeState::Paused { .. }), "{kind}");
            }
            Fault::Hold { links, hold_ms, .. } => {
                assert_eq!(links.len(), 2, "one node's outgoing links");
                assert!((1_000..=5_000).contains(hold_ms));
                assert!(c.proxy.has_holds());
            }
            Fault::Clock { node, .. } => {
                // Aimed at a drawn node, or at the leader (node 2) found when it ran.
                let target = node.unwrap_or(2);
                assert_eq!(record.value["node"], target);
                let log = clocks.log.lock().unwrap();
                assert!(!log.is_empty() && log.iter().all(|(id, _)| *id == target), "{log:?}");
            }
        }
        let event = record.to_event(42);
        assert_eq!((event.process, event.kind, event.time), (Process::Nemesis, EventType::Info, Some(42)));
        assert_eq!(event.value["took_effect"], true);

        let healed = nemesis.execute(&stop).await;
        assert!(healed.took_effect, "{kind}: {healed:?}");
        assert_eq!(healed.f, stop.f());
        assert_eq!(nemesis.active(), 0);
        assert!(c.proxy.grudge().is_empty(), "{kind}");
        assert!(c.proxy.links().iter().all(|&l| c.proxy.link_faults(l).is_none()), "{kind}");
        assert!(!c.proxy.has_holds(), "{kind}");
        assert!(all_running(&c.supervisor), "{kind}");
        if let Fault::Clock { .. } = start.fault {
            let last = *clocks.log.lock().unwrap().last().unwrap();
            assert_eq!(last.1, host::ClockChange::Reset, "the stop resets the clock");
        }
        if let Fault::LoseDisk { node } = start.fault {
            assert_eq!(c.supervisor.status(node, DEADLINE).await.unwrap().commit_index, 1, "restarted empty");
        }
    }
}

/// Records the clock changes the nemesis asks for.
#[derive(Default)]
struct FakeClocks {
    log: std::sync::Mutex<Vec<(u32, host::ClockChange)>>,
}

impl host::Clocks for FakeClocks {
    fn skew_clock(
        &self,
        id: u32,
        change: host::ClockChange,
        _: Duration,
    ) -> host::BoxFuture<'_, anyhow::Result<()>> {
        self.log.lock().unwrap().push((id, change));
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn a_clock_fault_without_a_way_to_skew_clocks_is_not_taken() {
    let c = cluster(Some(2)).await;
    let (start, stop) = first_step(FaultKind::Clock, vec![1, 2, 3]);
    let mut nemesis = nemesis(&c);
    let record = nemesis.execute(&start).await;
    assert!(!record.took_effect);
    assert!(record.error.unwrap().contains("no way to skew clocks"));
    assert!(!nemesis.execute(&stop).await.took_effect, "nothing to reset");
}

/// Records the operator actions the nemesis takes.
#[derive(Default)]
struct FakeOperator {
    log: std::sync::Mutex<Vec<String>>,
}

impl host::Operator for FakeOperator {
    fn system_name(&self) -> &'static str {
        "fake"
    }

    fn promote(&self, id: u32, _: Duration) -> host::BoxFuture<'_, anyhow::Result<()>> {
        self.log.lock().unwrap().push(format!("promote {id}"));
        Box::pin(async { Ok(()) })
    }

    fn follow(&self, id: u32, primary: u32, _: Duration) -> host::BoxFuture<'_, anyhow::Result<()>> {
        self.log.lock().unwrap().push(format!("follow {id} {primary}"));
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn failover_cuts_the_primary_off_promotes_another_and_demotes_the_old_one_at_the_stop() {
    let c = cluster(Some(2)).await;
    let (start, stop) = first_step(FaultKind::Failover, vec![1, 2, 3]);

    let mut without = nemesis(&c);
    let record = without.execute(&start).await;
    assert!(!record.took_effect);
    assert!(record.error.unwrap().contains("no operator failover"));
    assert!(c.proxy.grudge().is_empty(), "nothing cut when there is no operator");

    let operator = Arc::new(FakeOperator::default());
    let mut nemesis = nemesis(&c).with_operator(operator.clone());
    let record = nemesis.execute(&start).await;
    assert!(record.took_effect, "{record:?}");
    assert_eq!((record.value["primary"].clone(), record.value["promoted"].clone()), (2.into(), 1.into()));
    assert_eq!(record.value["repointed"], serde_json::json!([3]));
    let grudge = c.proxy.grudge();
    assert!(grudge.is_cut(2, 1) && grudge.is_cut(1, 2) && grudge.is_cut(3, 2) && !grudge.is_cut(1, 3));
    assert_eq!(*operator.log.lock().unwrap(), ["promote 1", "follow 3 1"]);

    let healed = nemesis.execute(&stop).await;
    assert!(healed.took_effect && healed.error.is_none(), "{healed:?}");
    assert_eq!(healed.f, "stop-failover");
    assert_eq!(healed.value["demoted"], 2);
    assert!(c.proxy.grudge().is_empty());
    assert_eq!(*operator.log.lock().unwrap(), ["promote 1", "follow 3 1", "follow 2 1"]);
}

/// A system that cannot come back from an empty disk, as ZooKeeper's adapter says.
struct NoDiskLoss;

impl host::Operator for NoDiskLoss {
    fn system_name(&self) -> &'static str {
        "fake"
    }

    fn check_lose_disk(&self, id: u32) -> anyhow::Result<()> {
        anyhow::bail!("node {id} needs its identity file")
    }
}

#[tokio::test]
async fn a_refused_lose_disk_is_not_taken_and_leaves_the_node_and_its_data_alone() {
    let c = cluster(Some(2)).await;
    let (start, stop) = first_step(FaultKind::LoseDisk, vec![1, 2, 3]);
    let Fault::LoseDisk { node } = start.fault else { panic!("{start:?}") };
    let data = c.supervisor.spec(node).unwrap().data_dir.clone();
    std::fs::write(data.join("identity"), "kept").unwrap();
    let mut nemesis = nemesis(&c).with_operator(Arc::new(NoDiskLoss));
    let record = nemesis.execute(&start).await;
    assert!(!record.took_effect, "{record:?}");
    assert_eq!(record.error.as_deref(), Some(format!("node {node} needs its identity file").as_str()));
    assert!(all_running(&c.supervisor), "the node was not killed");
    assert_eq!(std::fs::read_to_string(data.join("identity")).unwrap(), "kept", "nor its data wiped");
    assert!(!nemesis.execute(&stop).await.took_effect, "nothing to stop");
}

/// An operator that readmits a node after its disk was lost, refusing the first time.
#[derive(Default)]
struct Readmits {
    log: std::sync::Mutex<Vec<String>>,
}

impl host::Operator for Readmits {
    fn system_name(&self) -> &'static str {
        "fake"
    }

    fn readmit(&self, id: u32, _: Duration) -> host::BoxFuture<'_, anyhow::Result<()>> {
        let mut log = self.log.lock().unwrap();
        log.push(format!("readmit {id}"));
        let first = log.len() == 1;
        Box::pin(async move {
            if first {
                anyhow::bail!("the cluster has no quorum to change its members");
            }
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_node_that_lost_its_disk_is_readmitted_before_it_starts_and_only_then() {
    let c = cluster(Some(2)).await;
    let (start, stop) = first_step(FaultKind::LoseDisk, vec![1, 2, 3]);
    let Fault::LoseDisk { node } = start.fault else { panic!("{start:?}") };
    let operator = Arc::new(Readmits::default());
    let mut nemesis = nemesis(&c).with_operator(operator.clone());
    assert!(nemesis.execute(&start).await.took_effect);

    let refused = nemesis.execute(&stop).await;
    assert!(!refused.took_effect, "{refused:?}");
    let error = refused.error.unwrap();
    assert!(error.contains("readmit it after its disk was lost: the cluster has no quorum"), "{error}");
    assert!(!c.supervisor.state(node).is_alive(), "a node not readmitted is not started");

    let healed = nemesis.heal_all().await;
    let heal = healed.last().unwrap();
    assert_eq!(heal.value["restarted"], serde_json::json!([node]), "{heal:?}");
    assert_eq!(*operator.log.lock().unwrap(), [format!("readmit {node}"), format!("readmit {node}")]);

    // Readmitted and healthy, the node is an ordinary one again: a kill's restart asks nothing.
    let kill = Step {
        at_ms: 0,
        id: 9,
        action: Action::Start,
        fault: Fault::Kill { kind: FaultKind::Kill, nodes: vec![node] },
    };
    assert!(nemesis.execute(&kill).await.took_effect);
    assert!(nemesis.execute(&Step { action: Action::Stop, ..kill }).await.took_effect);
    assert_eq!(operator.log.lock().unwrap().len(), 2);
    assert!(all_running(&c.supervisor));
}

#[tokio::test]
async fn faults_that_cannot_apply_say_they_did_not_take_effect() {
    let c = cluster(None).await;
    let mut nemesis = nemesis(&c);
    let (start, stop) = first_step(FaultKind::PartitionLeader, vec![1, 2, 3]);
    let record = nemesis.execute(&start).await;
    assert!(!record.took_effect);
    assert_eq!(record.error.as_deref(), Some("no node claims to lead"));
    assert_eq!(record.to_event(0).value["took_effect"], false);
    assert!(c.proxy.grudge().is_empty());
    assert!(!nemesis.execute(&stop).await.took_effect, "nothing to stop");

    c.supervisor.kill(1).unwrap();
    let kill = Step {
        at_ms: 0,
        id: 7,
        action: Action::Start,
        fault: Fault::Kill { kind: FaultKind::Kill, nodes: vec![1] },
    };
    let record = nemesis.execute(&kill).await;
    assert!(!record.took_effect, "killing a dead node does nothing: {record:?}");
    assert_eq!(nemesis.active(), 0);
}

#[tokio::test]
async fn heal_all_ends_faults_in_force_and_repairs_the_rest() {
    let c = cluster(Some(1)).await;
    let mut nemesis = nemesis(&c);
    let (partition, _) = first_step(FaultKind::PartitionRandomHalves, vec![1, 2, 3]);
    let (latency, _) = first_step(FaultKind::Latency, vec![1, 2, 3]);
    let pause = Step { at_ms: 0, id: 50, action: Action::Start, fault: Fault::Pause { nodes: vec![3] } };
    let latency = Step { id: 51, ..latency };
    for step in [&partition, &latency, &pause] {
        assert!(nemesis.execute(step).await.took_effect);
    }
    c.supervisor.kill(2).unwrap(); // a crash no schedule asked for
    let records = nemesis.heal_all().await;
    let fs: Vec<&str> = records.iter().map(|r| r.f.as_str()).collect();
    assert_eq!(fs, ["stop-partition", "stop-pause", "stop-latency", "heal"], "in step-id order");
    assert!(records.iter().all(|r| r.took_effect && r.error.is_none()), "{records:?}");
    assert_eq!(records[3].value["restarted"], serde_json::json!([2]));
    assert!(all_running(&c.supervisor));
    assert!(c.proxy.grudge().is_empty());
    assert_eq!(nemesis.active(), 0);
    let again = nemesis.heal_all().await;
    assert_eq!(again.len(), 1);
    assert!(!again[0].took_effect, "nothing left to heal");
}

#[tokio::test]
async fn run_executes_a_schedule_into_history_events() {
    let c = cluster(Some(1)).await;
    let mut nemesis = nemesis(&c);
    let schedule = Schedule::generate(&ScheduleParams {
        seed: 5,
        kinds: vec![FaultKind::PartitionHalves, FaultKind::Loss],
        interval_ms: 20,
        time_limit_ms: 200,
        nodes: vec![1, 2, 3],
        client_timeout_ms: 1000,
    })
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    nemesis.run(&schedule, tokio::time::Instant::now(), tx, stop).await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    assert_eq!(events.len(), schedule.steps.len());
    for (event, step) in events.iter().zip(&schedule.steps) {
        assert_eq!(event.f, step.f());
        assert_eq!(event.process, Process::Nemesis);
        assert_eq!(event.value["took_effect"], true, "{event:?}");
        assert!(event.time.unwrap() >= step.at_ms * 1_000_000);
    }
    assert_eq!(nemesis.active(), 0);
}

#[tokio::test]
async fn run_stops_when_asked() {
    let c = cluster(Some(1)).await;
    let mut nemesis = nemesis(&c);
    let schedule = Schedule::generate(&ScheduleParams {
        seed: 5,
        kinds: vec![FaultKind::PartitionOne],
        interval_ms: 60_000,
        time_limit_ms: 600_000,
        nodes: vec![1, 2, 3],
        client_timeout_ms: 1000,
    })
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    stop_tx.send(true).unwrap();
    tokio::time::timeout(DEADLINE, nemesis.run(&schedule, tokio::time::Instant::now(), tx, stop))
        .await
        .expect("run returns once stopped");
    assert!(rx.try_recv().is_err(), "no step ran");
}
