//! `--read local` is unsafe by design: a deposed leader that has not yet heard of its
//! successor answers reads from its own state. This test shows that the unsafe switch
//! really produces stale reads under a partition, and that the linearizability checker
//! catches them; with reads through the log the same schedule stays linearizable.

mod paxos_support;

use checkers::{CheckOptions, ModelKind, Verdict};
use nodes::api::{NodeId, Request, Response, Role};
use nodes::protocol::ReadMode;
use nodes::protocols::paxos::Paxos;
use nodes::sim::{OpState, Sim};
use paxos_support::*;

/// Write 1 (to the `liveness` register the support helper writes) through the first leader,
/// cut it off, write 2 through its successor, then read
/// at the old leader. Returns how the read ended and the checker's verdict.
fn stale_read_schedule(read_mode: ReadMode) -> (OpState, Verdict) {
    let mut cfg = config(3, false);
    cfg.options.read_mode = read_mode;
    let mut sim = Sim::<Paxos>::new(11, cfg);
    let old = write_succeeds_within(&mut sim, 2_000, 1);
    sim.isolate(old);
    let others: Vec<NodeId> = sim.members().iter().copied().filter(|&m| m != old).collect();
    let elected = sim
        .run_until(2_000, |s| others.iter().any(|&m| s.status(m).is_some_and(|st| st.role == Role::Leader)));
    assert!(elected, "no successor");
    let new =
        others.iter().copied().find(|&m| sim.status(m).is_some_and(|st| st.role == Role::Leader)).unwrap();
    assert!(sim.call(new, Request::Put { key: "liveness".into(), value: 2 }).is_ok());
    let read = sim.call(old, Request::Get { key: "liveness".into() });
    let history = sim.history().unwrap();
    let report = checkers::check(&history, &CheckOptions::new(ModelKind::CasRegister)).unwrap();
    (read, report.verdict)
}

#[test]
fn local_reads_at_a_deposed_leader_are_stale_and_the_checker_says_invalid() {
    let (read, verdict) = stale_read_schedule(ReadMode::Local);
    assert_eq!(
        read,
        OpState::Ok(Response::Value { value: Some(1) }),
        "the deposed leader did not answer locally"
    );
    assert_eq!(verdict, Verdict::Invalid);
}

#[test]
fn reads_through_the_log_at_a_deposed_leader_never_answer_stale() {
    let (read, verdict) = stale_read_schedule(ReadMode::Quorum);
    assert!(!read.is_ok(), "a cut-off leader answered a read through the log: {read:?}");
    assert_eq!(verdict, Verdict::Valid);
}
