//! 2pc over 200 seeded fault schedules (loss, duplication, delay, partitions one-way
//! included, crash-restart of any node, the coordinator too; a third of the runs compact
//! their logs every few transactions): it never loses an
//! acknowledged write, never applies a refused one, every replica ends identical, and the
//! recorded history is linearizable (registers, `cas-register`) and loses no set add (`set`).

use std::collections::BTreeMap;
use std::time::Duration;

use checkers::{check, CheckOptions, ModelKind, Verdict};
use nodes::api::{Request, Response};
use nodes::protocols::twopc::TwoPc;
use nodes::sim::{
    check_seeds, describe_faults, run_chaos, set_adds_by_outcome, ChaosPlan, FaultMix, OpState, Sim,
    SimConfig, WorkloadMix, SET_KEY,
};

/// The verdict of the linearizability checker on one model's share of the history.
fn verdict(sim: &Sim<TwoPc>, model: ModelKind, keep: impl Fn(&str) -> bool) -> (Verdict, String) {
    let history = sim.history_of_keys(keep).expect("a valid history");
    let options =
        CheckOptions { threads: 1, time_limit: Some(Duration::from_secs(30)), ..CheckOptions::new(model) };
    let report =
        check(&history, &options).unwrap_or_else(|e| panic!("the {model} checker refused the history: {e}"));
    (report.verdict, report.render_text())
}

fn plan(nodes: usize) -> ChaosPlan {
    ChaosPlan {
        clients: 5,
        workload: WorkloadMix::default(),
        faults: FaultMix::all(nodes),
        duration_ms: 3_000,
        fault_every_ms: 250,
        settle_ms: 3_000,
    }
}

#[test]
fn twopc_never_loses_or_diverges_over_200_fault_schedules() {
    check_seeds(0..200, |seed| {
        let nodes = if seed % 2 == 0 { 3 } else { 5 };
        let mut config = SimConfig::new(nodes);
        if seed % 3 == 0 {
            // Compact the log every few transactions, so crashes land on snapshots too.
            config.options.snapshot_every = 1 + seed % 5;
        }
        let mut sim = Sim::<TwoPc>::new(seed, config);
        sim.run_for(200);
        let faults = run_chaos(&mut sim, &plan(nodes as usize));
        let context = || format!("faults: {}", describe_faults(&faults));

        let history = sim.history().unwrap_or_else(|e| panic!("invalid history: {e}; {}", context()));
        assert!(sim.ops().iter().all(|op| !op.state.is_pending()), "operations still open after settling");

        // Every replica identical, nothing in doubt.
        let coordinator = sim.node(1).expect("up after heal_all").store().clone();
        for &n in sim.members() {
            let node = sim.node(n).unwrap();
            assert!(
                node.in_doubt().is_empty(),
                "node {n} still in doubt about {:?}; {}",
                node.in_doubt(),
                context()
            );
            assert_eq!(node.store(), &coordinator, "node {n} diverged; {}", context());
        }

        // The set: every acknowledged add is there, no refused add is.
        let (acked, refused) = set_adds_by_outcome(&sim);
        let read = coordinator.read(&Request::SetRead { key: "s".into() }).unwrap();
        let Response::Elements { elements } = read else { panic!("set read gave {read:?}") };
        let lost: Vec<_> = acked.iter().filter(|e| !elements.contains(e)).collect();
        assert!(lost.is_empty(), "acknowledged adds lost: {lost:?}; {}", context());
        let leaked: Vec<_> = refused.iter().filter(|e| elements.contains(e)).collect();
        assert!(leaked.is_empty(), "refused adds applied: {leaked:?}; {}", context());

        // Registers: the final value of each was written by a write or cas that did not fail.
        let mut written: BTreeMap<String, Vec<(i64, bool)>> = BTreeMap::new();
        for op in sim.ops() {
            let (key, value) = match &op.request {
                Request::Put { key, value } => (key, *value),
                Request::Cas { key, to, .. } => (key, *to),
                _ => continue,
            };
            written.entry(key.clone()).or_default().push((value, matches!(op.state, OpState::Fail(_))));
        }
        for (key, writes) in &written {
            let Ok(Response::Value { value: Some(v) }) = coordinator.read(&Request::Get { key: key.clone() })
            else {
                assert!(
                    writes.iter().all(|&(_, failed)| failed) || !acked_write(&sim, key),
                    "register {key} empty though a write to it was acknowledged; {}",
                    context()
                );
                continue;
            };
            assert!(
                writes.iter().any(|&(w, failed)| w == v && !failed),
                "register {key} holds {v}, which no successful or uncertain write wrote; {}",
                context()
            );
        }
        assert!(!history.is_empty());

        // And the checkers agree: registers linearizable, the set without lost writes.
        for (model, keep) in [(ModelKind::CasRegister, false), (ModelKind::Set, true)] {
            let (verdict, report) = verdict(&sim, model, |k| (k == SET_KEY) == keep);
            assert_eq!(verdict, Verdict::Valid, "{model}: {report}; {}", context());
        }
    });
}

fn acked_write(sim: &Sim<TwoPc>, key: &str) -> bool {
    sim.ops().iter().any(|op| {
        matches!(&op.request, Request::Put { key: k, .. } | Request::Cas { key: k, .. } if k == key)
            && op.state.is_ok()
    })
}

/// The schedules do what they claim: across the seeds, writes both succeed and are refused,
/// and crashes and partitions both happen (a run whose faults never bit proves nothing).
#[test]
fn twopc_fault_schedules_exercise_both_outcomes() {
    let mut ok = 0;
    let mut refused = 0;
    let mut info = 0;
    for seed in 0..20 {
        let mut sim = Sim::<TwoPc>::new(seed, SimConfig::new(3));
        sim.run_for(200);
        run_chaos(&mut sim, &plan(3));
        for op in sim.ops() {
            match op.state {
                OpState::Ok(_) => ok += 1,
                OpState::Fail(_) => refused += 1,
                OpState::Info(_) => info += 1,
                OpState::Pending => {}
            }
        }
    }
    assert!(ok > 100 && refused > 100 && info > 0, "ok {ok}, fail {refused}, info {info}");
}

/// Pauses (SIGSTOP) of any node, the coordinator included, under load: votes and decisions
/// arrive late or after an abort, and nothing is lost or applied twice.
#[test]
fn twopc_stays_linearizable_through_pauses() {
    use nodes::sim::Clients;
    check_seeds(0..50, |seed| {
        let mut config = SimConfig::new(3);
        config.client_timeout_ms = 300;
        let mut sim = Sim::<TwoPc>::new(seed, config);
        sim.run_for(200);
        let mut clients = Clients::new(4, WorkloadMix::default(), 1);
        for round in 0..600 {
            clients.tick(&mut sim);
            sim.run_for(5);
            if round % 20 == 0 {
                let node = sim.random_between(1, 3) as u32;
                if sim.is_paused(node) {
                    sim.resume(node);
                } else {
                    sim.pause(node);
                }
            }
        }
        sim.heal_all();
        sim.run_for(3_000);
        nodes::sim::final_reads(&mut sim, &WorkloadMix::default());
        let coordinator = sim.node(1).unwrap().store().clone();
        for &n in sim.members() {
            assert_eq!(sim.node(n).unwrap().store(), &coordinator, "node {n} diverged");
        }
        for (model, keep) in [(ModelKind::CasRegister, false), (ModelKind::Set, true)] {
            let (verdict, report) = verdict(&sim, model, |k| (k == SET_KEY) == keep);
            assert_eq!(verdict, Verdict::Valid, "{model}: {report}");
        }
    });
}
