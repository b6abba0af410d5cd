//! The supervisor, proxy and nemesis around real `faultline node` processes: a raft cluster
//! whose every peer frame crosses the proxy, then a leader partition, a kill and restart,
//! a pause and a lost disk, each observed through the proxy's counters and the nodes' own
//! `/status` and `/health`, and no node left behind.

use faultline::{host, nemesis, proxy, supervisor};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use host::NodeState;
use nemesis::{Action, Fault, FaultKind, Nemesis, NemesisConfig, Step};
use proxy::{Proxy, ProxyConfig};
use supervisor::{allocate_addrs, LocalHost, NodeCommand, Supervisor};

const DEADLINE: Duration = Duration::from_secs(30);

async fn wait_until<F: std::future::Future<Output = bool>>(what: &str, mut cond: impl FnMut() -> F) {
    let until = tokio::time::Instant::now() + DEADLINE;
    while !cond().await {
        assert!(tokio::time::Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The node claiming to lead with the highest term, by polling every node.
async fn leader(sup: &Supervisor) -> Option<(u32, u64)> {
    let mut best = None;
    for id in sup.node_ids() {
        if let Ok(s) = sup.status(id, Duration::from_millis(500)).await {
            if s.role.is_leading() && best.is_none_or(|(_, t)| s.term > t) {
                best = Some((s.id, s.term));
            }
        }
    }
    best
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raft_cluster_runs_through_the_proxy_and_takes_every_process_fault() {
    let run = tempfile::tempdir().unwrap();
    let ids = [1, 2, 3];
    let addrs = allocate_addrs(ids.iter().copied()).unwrap();
    let targets = addrs.iter().map(|(&id, a)| (id, a.peer_listen)).collect::<BTreeMap<_, _>>();
    let proxy = Arc::new(Proxy::start(&targets, ProxyConfig::frames(7)).await.unwrap());
    let specs = ids
        .iter()
        .map(|&id| {
            NodeCommand {
                program: PathBuf::from(env!("CARGO_BIN_EXE_faultline")),
                leading_args: vec!["node".into()],
                protocol: "raft".into(),
                id,
                addrs: addrs[&id],
                peers: proxy.peers_of(id),
                extra_args: vec![],
            }
            .spec(run.path())
        })
        .collect();
    let sup = Arc::new(Supervisor::new(Arc::new(LocalHost::new()), specs));
    sup.start_all(DEADLINE).await.unwrap();
    let pids: Vec<u32> = ids
        .iter()
        .map(|&id| match sup.state(id) {
            NodeState::Running { pid } => pid,
            other => panic!("node {id}: {other:?}"),
        })
        .collect();

    wait_until("a leader", || async { leader(&sup).await.is_some() }).await;
    let stats = proxy.stats();
    assert!(stats.total.frames > 0, "peer traffic crosses the proxy: {stats:?}");
    assert_eq!(stats.total.malformed, 0, "the proxy reads the nodes' framing");
    assert_eq!(stats.total.frames, stats.total.delivered);

    let mut nemesis = Nemesis::new(
        sup.clone(),
        proxy.clone(),
        NemesisConfig { health_deadline: DEADLINE, ..NemesisConfig::default() },
    );
    let step = |id, action, fault| Step { at_ms: 0, id, action, fault };

    // Cut off the leader: frames from it are dropped from then on.
    let record = nemesis.execute(&step(1, Action::Start, Fault::PartitionLeader)).await;
    assert!(record.took_effect, "{record:?}");
    let isolated = record.value["leader"].as_u64().unwrap() as u32;
    let other = *ids.iter().find(|&&i| i != isolated).unwrap();
    let link = format!("{isolated}->{other}");
    let before = proxy.stats().links[&link].dropped;
    wait_until("frames from the isolated leader dropped", || {
        let dropped = proxy.stats().links[&link].dropped;
        async move { dropped > before }
    })
    .await;
    assert!(nemesis.execute(&step(1, Action::Stop, Fault::PartitionLeader)).await.took_effect);

    // kill -9 and restart on the same data directory.
    let kill = Fault::Kill { kind: FaultKind::Kill, nodes: vec![other] };
    assert!(nemesis.execute(&step(2, Action::Start, kill.clone())).await.took_effect);
    assert!(matches!(sup.state(other), NodeState::Exited { .. }));
    assert!(nemesis.execute(&step(2, Action::Stop, kill)).await.took_effect);
    assert!(std::fs::read_dir(&sup.spec(other).unwrap().data_dir).unwrap().count() > 0, "data kept");

    // Pause and resume.
    let pause = Fault::Pause { nodes: vec![other] };
    assert!(nemesis.execute(&step(3, Action::Start, pause.clone())).await.took_effect);
    assert!(nemesis.execute(&step(3, Action::Stop, pause)).await.took_effect);
    sup.wait_healthy(other, DEADLINE).await.unwrap();

    // Lose a disk: the node comes back empty and rejoins.
    let lose = Fault::LoseDisk { node: other };
    assert!(nemesis.execute(&step(4, Action::Start, lose.clone())).await.took_effect);
    assert!(nemesis.execute(&step(4, Action::Stop, lose)).await.took_effect);

    let heal = nemesis.heal_all().await;
    assert_eq!(heal.len(), 1);
    assert!(ids.iter().all(|&id| matches!(sup.state(id), NodeState::Running { .. })));
    wait_until("a leader after the faults", || async { leader(&sup).await.is_some() }).await;
    let log = std::fs::read_to_string(run.path().join(format!("nodes/{other}.log"))).unwrap();
    assert!(log.matches("# faultline: starting node").count() >= 3, "one log across restarts");

    sup.shutdown();
    for pid in pids {
        assert!(
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z")),
            "node process {pid} is gone"
        );
    }
}
