//! A built-in node whose port another process took between its choice and the node's
//! bind: the node exits with its own code, and the cluster starts again on new ports.
//!
//! The "other process" is a listener this test holds, handed to the cluster as one node's
//! peer address on the first attempt.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use faultline::commands::test::Args;
use faultline::host::NodeAddrs;
use faultline::run::cluster::{Cluster, START_ATTEMPTS};
use faultline::supervisor::{allocate_addrs, AddressTaken};
use nodes::api::NodeId;
use results::RunDir;

const PROGRAM: &str = env!("CARGO_BIN_EXE_faultline");

fn run_dir(store: &Path) -> (faultline::run::spec::RunSpec, RunDir) {
    let mut spec = Args::default_run().to_spec().expect("the default run");
    spec.store = store.to_path_buf();
    let run = RunDir::create(store, &spec.test_name).expect("a run directory");
    (spec, run)
}

/// Fresh addresses, except node 2's peer address on the attempts `taken` names.
fn chooser<'a>(
    held: SocketAddr,
    taken: impl Fn(u32) -> bool + 'a,
    calls: &'a mut u32,
) -> impl FnMut(&[NodeId]) -> anyhow::Result<BTreeMap<NodeId, NodeAddrs>> + 'a {
    move |ids| {
        *calls += 1;
        let mut addrs = allocate_addrs(ids.iter().copied())?;
        if taken(*calls) {
            addrs.get_mut(&2).expect("node 2").peer_listen = held;
        }
        Ok(addrs)
    }
}

#[tokio::test]
async fn a_taken_port_is_chosen_again_and_the_cluster_starts() {
    let store = tempfile::tempdir().unwrap();
    let (spec, run) = run_dir(store.path());
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut calls = 0;
    let mut choose = chooser(held.local_addr().unwrap(), |call| call == 1, &mut calls);
    let cluster = Cluster::start_with(&spec, &run, reqwest::Client::new(), Path::new(PROGRAM), &mut choose)
        .await
        .expect("the second attempt starts");
    drop(choose);
    assert_eq!(calls, 2, "one attempt lost to the taken port, one started");
    for id in cluster.supervisor.node_ids() {
        let status = cluster.supervisor.status(id, Duration::from_secs(5)).await;
        assert!(status.is_ok(), "node {id} answers on its new ports: {status:?}");
    }
    let log = std::fs::read_to_string(run.path().join("nodes/2.log")).unwrap();
    assert!(log.contains("Address already in use"), "the first life says why it stopped: {log}");
    assert_eq!(log.matches("# faultline: starting node 2").count(), 2, "{log}");
    cluster.supervisor.shutdown();
}

#[tokio::test]
async fn a_port_taken_every_time_is_an_error_that_says_so() {
    let store = tempfile::tempdir().unwrap();
    let (spec, run) = run_dir(store.path());
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut calls = 0;
    let mut choose = chooser(held.local_addr().unwrap(), |_| true, &mut calls);
    let error = Cluster::start_with(&spec, &run, reqwest::Client::new(), Path::new(PROGRAM), &mut choose)
        .await
        .err()
        .expect("no attempt can start node 2");
    drop(choose);
    assert_eq!(calls, START_ATTEMPTS);
    assert!(error.is::<AddressTaken>(), "{error:#}");
    let message = format!("{error:#}");
    assert!(message.starts_with("node 2 exited before it was healthy"), "{message}");
    assert!(message.contains("Address already in use"), "the node's log is quoted: {message}");
}
