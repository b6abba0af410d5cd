//! Real systems nobody here wrote, through the whole harness: etcd, Redis and ZooKeeper from Debian's
//! packages, each node in its own network namespace, cut with nftables.
//!
//! - etcd with its default (linearizable) reads stays valid under partitions, kill -9 and
//!   pauses;
//! - etcd with serializable reads serves stale reads when the leader is cut off;
//! - etcd's queue recipe keeps every element through the same faults;
//! - Redis, failed over by an operator while its primary is cut off, loses acknowledged
//!   writes, and a queue in it loses elements or hands them out twice; with no failover
//!   the same queue survives a cut, kill -9 and a pause of its primary;
//! - ZooKeeper with `sync` before every read stays valid under partitions (the leader's
//!   too), kill -9 and pauses, and so does its queue recipe, even with plain reads;
//! - `faultline matrix --systems etcd,redis` judges their rows against the design, and
//!   runs the failover on Redis's row alone.
//!
//! Each needs root, `ip`, `nft` and the system's binary. Without them the test fails and
//! says what is missing (`.ci/run` installs the packages); it never passes vacuously. After
//! each run, nothing the run created may remain: no namespace, bridge, veth or guard table
//! named after its tag, and no process mentioning its directory.

mod e2e_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use checkers::{CheckDetails, CheckName, Verdict};
use e2e_support::*;
use results::RunDir;

/// Fail, saying why, unless this machine can run `binary` in network namespaces.
#[allow(unsafe_code, reason = "geteuid(2)")]
fn require(binary: &str, package: &str) {
    // SAFETY: geteuid(2) has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "this test needs root to make network namespaces (running as uid {euid})");
    for (tool, pkg) in [("ip", "iproute2"), ("nft", "nftables"), (binary, package)] {
        let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "this test needs `{tool}` (Debian package {pkg}; .ci/run installs it)"
        );
    }
}

/// [`require`] for ZooKeeper: Java and Debian's jar.
fn require_zookeeper() {
    require("java", "zookeeper");
    assert!(
        Path::new("/usr/share/java/zookeeper.jar").is_file(),
        "this test needs ZooKeeper's jar: Debian package zookeeper (.ci/run installs it)"
    );
}

/// The run's network record, written by the harness before it created anything.
fn network_record(store: &Path) -> serde_json::Value {
    record_at(&latest(store).path().join("network.json"))
}

fn record_at(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Assert that nothing named in the latest run's network record is left on this machine.
fn assert_network_gone(store: &Path) {
    assert_network_gone_after(&latest(store).path().join("network.json"));
}

/// [`assert_network_gone`] for the run whose network record is `path`.
fn assert_network_gone_after(path: &Path) {
    let record = record_at(path);
    let tag = record["tag"].as_str().expect("the record names its tag").to_string();
    let namespaces = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let namespaces = String::from_utf8_lossy(&namespaces.stdout).into_owned();
    for ns in record["namespaces"].as_object().unwrap().values() {
        let ns = ns.as_str().unwrap();
        assert!(!namespaces.lines().any(|l| l.split_whitespace().next() == Some(ns)), "namespace {ns} left");
    }
    let links = Command::new("ip").args(["-o", "link", "show"]).output().unwrap();
    let links = String::from_utf8_lossy(&links.stdout).into_owned();
    let bridge = record["bridge"].as_str().unwrap();
    assert!(!links.contains(&format!(": {bridge}:")), "bridge {bridge} left:\n{links}");
    let tables = Command::new("nft").args(["list", "tables"]).output().unwrap();
    let tables = String::from_utf8_lossy(&tables.stdout).into_owned();
    assert!(!tables.contains(&tag), "an nft table of run {tag} left:\n{tables}");
    assert!(
        !Path::new("/run/faultline").join(format!("{tag}.json")).exists(),
        "the state file of run {tag} left"
    );
}

/// Partition, kill -9, SIGSTOP, and cutting off whoever leads, in turn.
const ETCD_FAULTS: &str = r#"{
  "seed": 5,
  "kinds": ["partition-halves", "partition-leader", "kill", "pause"],
  "interval_ms": 2500,
  "time_limit_ms": 20000,
  "nodes": [1, 2, 3],
  "steps": [
    {"at_ms": 1500, "id": 0, "action": "start", "fault": {"type": "partition", "kind": "partition-halves", "grudge": {"1": [3], "2": [3], "3": [1, 2]}}},
    {"at_ms": 4000, "id": 0, "action": "stop", "fault": {"type": "partition", "kind": "partition-halves", "grudge": {"1": [3], "2": [3], "3": [1, 2]}}},
    {"at_ms": 5500, "id": 1, "action": "start", "fault": {"type": "kill", "kind": "kill", "nodes": [2]}},
    {"at_ms": 8000, "id": 1, "action": "stop", "fault": {"type": "kill", "kind": "kill", "nodes": [2]}},
    {"at_ms": 9500, "id": 2, "action": "start", "fault": {"type": "pause", "nodes": [1]}},
    {"at_ms": 12000, "id": 2, "action": "stop", "fault": {"type": "pause", "nodes": [1]}},
    {"at_ms": 13500, "id": 3, "action": "start", "fault": {"type": "partition-leader"}},
    {"at_ms": 17000, "id": 3, "action": "stop", "fault": {"type": "partition-leader"}}
  ]
}"#;

/// Cut off whoever leads for seven seconds: long enough for the rest to elect a leader and
/// take writes while clients of the old leader keep reading from it.
const ISOLATE_LEADER: &str = r#"{
  "seed": 6,
  "kinds": ["partition-leader"],
  "interval_ms": 7000,
  "time_limit_ms": 12000,
  "nodes": [1, 2, 3],
  "steps": [
    {"at_ms": 2000, "id": 0, "action": "start", "fault": {"type": "partition-leader"}},
    {"at_ms": 9000, "id": 0, "action": "stop", "fault": {"type": "partition-leader"}}
  ]
}"#;

/// The operator's failover while the primary is cut off, for six seconds.
const REDIS_FAILOVER: &str = r#"{
  "seed": 7,
  "kinds": ["failover"],
  "interval_ms": 6000,
  "time_limit_ms": 11000,
  "nodes": [1, 2, 3],
  "steps": [
    {"at_ms": 2000, "id": 0, "action": "start", "fault": {"type": "failover"}},
    {"at_ms": 8000, "id": 0, "action": "stop", "fault": {"type": "failover"}}
  ]
}"#;

/// The primary (node 1) cut off, killed and paused in turn, with nobody to fail it over.
const REDIS_PRIMARY_FAULTS: &str = r#"{
  "seed": 5,
  "kinds": ["partition-one", "kill", "pause"],
  "interval_ms": 2500,
  "time_limit_ms": 14000,
  "nodes": [1, 2, 3],
  "steps": [
    {"at_ms": 1500, "id": 0, "action": "start", "fault": {"type": "partition", "kind": "partition-one", "grudge": {"1": [2, 3], "2": [1], "3": [1]}}},
    {"at_ms": 4000, "id": 0, "action": "stop", "fault": {"type": "partition", "kind": "partition-one", "grudge": {"1": [2, 3], "2": [1], "3": [1]}}},
    {"at_ms": 5500, "id": 1, "action": "start", "fault": {"type": "kill", "kind": "kill", "nodes": [1]}},
    {"at_ms": 8000, "id": 1, "action": "stop", "fault": {"type": "kill", "kind": "kill", "nodes": [1]}},
    {"at_ms": 9500, "id": 2, "action": "start", "fault": {"type": "pause", "nodes": [1]}},
    {"at_ms": 12000, "id": 2, "action": "stop", "fault": {"type": "pause", "nodes": [1]}}
  ]
}"#;

/// Node 1 loses its disk, then node 2: each comes back empty before the next goes.
const LOSE_TWO_DISKS: &str = r#"{
  "seed": 8,
  "kinds": ["lose-disk"],
  "interval_ms": 2500,
  "time_limit_ms": 12000,
  "nodes": [1, 2, 3],
  "steps": [
    {"at_ms": 2000, "id": 0, "action": "start", "fault": {"type": "lose-disk", "node": 1}},
    {"at_ms": 4500, "id": 0, "action": "stop", "fault": {"type": "lose-disk", "node": 1}},
    {"at_ms": 7000, "id": 1, "action": "start", "fault": {"type": "lose-disk", "node": 2}},
    {"at_ms": 9500, "id": 1, "action": "stop", "fault": {"type": "lose-disk", "node": 2}}
  ]
}"#;

/// Run `faultline test --system SYSTEM` with `schedule` and `extra` flags in a fresh store.
fn run_real(
    dir: &Path,
    system: &str,
    schedule: &str,
    time_limit: &str,
    extra: &[&str],
) -> (std::process::Output, std::path::PathBuf) {
    let store = dir.join("store");
    let path = dir.join("schedule.json");
    std::fs::write(&path, schedule).unwrap();
    let mut args = vec![
        "--system",
        system,
        "--schedule",
        path.to_str().unwrap(),
        "--time-limit",
        time_limit,
        "--rate",
        "150",
        "--concurrency",
        "6",
        "--op-timeout-ms",
        "500",
        "--seed",
        "3",
    ];
    args.extend_from_slice(extra);
    let output = run_test(&store, &args, Duration::from_secs(240));
    (output, store)
}

/// A queue run that must be valid: `checks` valid, a partition, a kill and a pause taken
/// effect, more than 100 elements in and out, drained to empty, nothing of the run left.
fn assert_queue_kept(store: &Path, output: &std::process::Output, checks: &[CheckName]) {
    let stats = assert_valid_run(store, output, checks);
    for kind in ["partition", "kill", "pause"] {
        assert!(fault_took_effect(store, kind), "no {kind} took effect: {stats:?}");
    }
    let results = results(store);
    let check = &results.checks[&CheckName::Queue];
    let report = check.details.as_ref().and_then(CheckDetails::queue).expect("the queue report");
    assert!(report.acknowledged > 100 && report.dequeued > 100, "{}", check.summary);
    assert_eq!(report.not_drained.count, 0, "{}", check.summary);
    assert!(drained_to_empty(store), "{}", describe(output));
    assert_network_gone(store);
}

/// Whether the run's last dequeue found the queue empty: the final drain got its answer.
fn drained_to_empty(store: &Path) -> bool {
    let path = latest(store).path().join("history.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let last = text
        .lines()
        .rev()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON event"))
        .find(|event| event["f"] == "dequeue" && event["type"] != "invoke");
    last.is_some_and(|event| event["type"] == "ok" && event["value"].is_null())
}

fn fault_took_effect(store: &Path, kind: &str) -> bool {
    took_effect(&results(store), kind)
}

/// Whether a fault of `kind` took effect in the run with these results.
fn took_effect(results: &results::RunResults, kind: &str) -> bool {
    results.stats().is_some_and(|stats| stats.faults.iter().any(|w| w.fault == kind && w.took_effect))
}

#[test]
fn etcd_stays_linearizable_under_partitions_kills_and_pauses() {
    require("etcd", "etcd-server");
    let dir = tempfile::tempdir().unwrap();
    let (output, store) = run_real(dir.path(), "etcd", ETCD_FAULTS, "20", &["--workload", "register"]);
    let stats = assert_valid_run(
        &store,
        &output,
        &[CheckName::Linearizable, CheckName::SplitBrain, CheckName::Stats],
    );
    for kind in ["partition", "kill", "pause"] {
        assert!(fault_took_effect(&store, kind), "no {kind} took effect: {stats:?}");
    }
    let info = latest(&store).read_run_info().unwrap();
    assert_eq!(info.spec["system"], "etcd");
    assert_eq!(info.versions["system"], "etcd");
    assert!(info.versions["etcd"].starts_with("3."), "the binary's own version: {:?}", info.versions);
    assert_network_gone(&store);
}

/// etcd's queue recipe (a head read, then a delete only if the head is unchanged) under
/// the same faults: every acknowledged element comes out once, and the drain ends empty.
#[test]
fn etcd_keeps_a_queue_through_partitions_kills_and_pauses() {
    require("etcd", "etcd-server");
    let dir = tempfile::tempdir().unwrap();
    let (output, store) = run_real(dir.path(), "etcd", ETCD_FAULTS, "20", &["--workload", "queue"]);
    assert_queue_kept(&store, &output, &[CheckName::Queue, CheckName::SplitBrain]);
}

/// The nemesis records of the latest run that stopped a fault of `family`, in order.
fn stop_records(store: &Path, family: &str) -> Vec<serde_json::Value> {
    let path = latest(store).path().join("history.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON event"))
        .filter(|event| event["process"] == "nemesis" && event["f"] == format!("stop-{family}"))
        .collect()
}

/// Under [`LOSE_TWO_DISKS`]: node 1 and then node 2 were restarted by the stops.
fn assert_both_wiped_nodes_came_back(store: &Path, output: &std::process::Output) {
    let stops = stop_records(store, "lose-disk");
    assert_eq!(stops.len(), 2, "{stops:?}");
    for (stop, node) in stops.iter().zip([1, 2]) {
        assert_eq!(stop["value"]["restarted"], serde_json::json!([node]), "{stop}\n{}", describe(output));
    }
}

/// A member whose disk is lost is replaced as etcd's operators replace one (removed, added
/// back, started to join): both come back, and the history stays linearizable. Started
/// again without that, etcd refuses the empty member and it never comes back.
#[test]
fn etcd_replaces_members_that_lost_their_disks_and_stays_linearizable() {
    require("etcd", "etcd-server");
    let dir = tempfile::tempdir().unwrap();
    let (output, store) = run_real(dir.path(), "etcd", LOSE_TWO_DISKS, "12", &["--workload", "register"]);
    assert_valid_run(&store, &output, &[CheckName::Linearizable, CheckName::SplitBrain, CheckName::Stats]);
    assert_both_wiped_nodes_came_back(&store, &output);
    let log = std::fs::read_to_string(latest(&store).path().join("nodes/1.log")).unwrap();
    assert_eq!(log.matches("--initial-cluster-state\", \"existing").count(), 1, "one rejoin of node 1");
    assert_network_gone(&store);
}

/// A leader cut off from the others keeps answering serializable reads from its own
/// store while the others elect a new leader and take writes: some read is stale.
#[test]
fn etcd_serializable_reads_are_stale_when_the_leader_is_cut_off() {
    require("etcd", "etcd-server");
    // Every run measured locally shows it, but a run need not: on a loaded machine the
    // majority may elect its leader too late to take writes the cut-off one then misses
    // (one CI run: 39% available, valid). A few tries, then, each a run of its own.
    let mut tries = Vec::new();
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let (output, store) = run_real(
            dir.path(),
            "etcd",
            ISOLATE_LEADER,
            "12",
            &["--workload", "register", "--etcd-serializable-reads"],
        );
        assert!(
            fault_took_effect(&store, "partition"),
            "the leader was never cut off\n{}",
            describe(&output)
        );
        let check = results(&store).checks[&CheckName::Linearizable].clone();
        assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
        assert_network_gone(&store);
        if check.verdict == Verdict::Invalid {
            assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
            break;
        }
        tries.push(format!("{}: {}\n{}", check.verdict, check.summary, describe(&output)));
    }
    assert!(tries.len() < 3, "no run found a stale read: {tries:#?}");
}

#[test]
fn zookeeper_with_synced_reads_stays_linearizable_under_partitions_kills_and_pauses() {
    require_zookeeper();
    let dir = tempfile::tempdir().unwrap();
    let (output, store) =
        run_real(dir.path(), "zookeeper", ETCD_FAULTS, "20", &["--workload", "register", "--zk-sync-reads"]);
    let stats = assert_valid_run(
        &store,
        &output,
        &[CheckName::Linearizable, CheckName::SplitBrain, CheckName::Stats],
    );
    for kind in ["partition", "kill", "pause"] {
        assert!(fault_took_effect(&store, kind), "no {kind} took effect: {stats:?}");
    }
    let info = latest(&store).read_run_info().unwrap();
    assert_eq!(info.spec["system"], "zookeeper");
    assert_eq!(info.spec["zk_sync_reads"], true);
    assert!(info.versions["zookeeper"].starts_with("3."), "the jar's version: {:?}", info.versions);
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
    assert_network_gone(&store);
}

/// A server whose disk is lost gets its `myid` back before it starts again, as an operator
/// provisions a replaced disk, and joins the ensemble empty: both come back, and synced
/// reads stay linearizable. Without the `myid` the server would never start.
#[test]
fn zookeeper_servers_that_lost_their_disks_come_back_and_synced_reads_stay_linearizable() {
    require_zookeeper();
    let dir = tempfile::tempdir().unwrap();
    let (output, store) = run_real(
        dir.path(),
        "zookeeper",
        LOSE_TWO_DISKS,
        "12",
        &["--workload", "register", "--zk-sync-reads"],
    );
    assert_valid_run(&store, &output, &[CheckName::Linearizable, CheckName::SplitBrain, CheckName::Stats]);
    assert_both_wiped_nodes_came_back(&store, &output);
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
    assert_network_gone(&store);
}

/// Synced reads are linearizable under partitions, kills and pauses, but not when a server
/// that held the latest writes comes back empty while the one that missed them is back
/// too: those two are a quorum, the stale one leads, and reads go back in time. The same
/// schedule with node 2 killed instead of wiped stays linearizable.
#[test]
fn zookeeper_forgets_acknowledged_writes_when_a_disk_is_lost_at_the_worst_time() {
    require_zookeeper();
    let run = |node_2: &str| {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let path = dir.path().join("schedule.json");
        // Four seconds of cut, not three: ZooKeeper's first leader is node 3, and nodes 1
        // and 2 take seconds to elect another before they can take writes.
        std::fs::write(&path, amnesia_schedule(5000, node_2)).unwrap();
        // The default rate and clients: a key lives long enough to be read after node 2's
        // return, so a write lost on it is seen.
        let args = [
            "--system",
            "zookeeper",
            "--workload",
            "register",
            "--zk-sync-reads",
            "--schedule",
            path.to_str().unwrap(),
            "--time-limit",
            "12",
            "--seed",
            "3",
        ];
        let output = run_test(&store, &args, Duration::from_secs(240));
        let check = results(&store).checks[&CheckName::Linearizable].clone();
        assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
        assert_network_gone(&store);
        (output, check)
    };
    // Every run measured so far shows it (14 of 14), but a run need not: the cut-off
    // leader's successor may be elected too late to take many writes, or the keys those
    // writes went to may not be read again (a three-second cut at `--rate 150` missed it in
    // 1 of 7). A few tries, then, each a run of its own.
    let mut tries = Vec::new();
    for _ in 0..4 {
        let (output, check) = run(r#"{"type": "lose-disk", "node": 2}"#);
        if check.verdict == Verdict::Invalid {
            assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
            break;
        }
        tries.push(format!("{}: {}", check.verdict, check.summary));
    }
    assert!(tries.len() < 4, "no run found the lost writes: {tries:?}");
    let (output, check) = run(r#"{"type": "kill", "kind": "kill", "nodes": [2]}"#);
    assert_eq!(check.verdict, Verdict::Valid, "{}\n{}", check.summary, describe(&output));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}

/// ZooKeeper's queue recipe (a child per element, a dequeue deletes the first child it
/// lists) with plain reads: a stale listing can send a dequeue after a child already gone,
/// never hand one child to two, since the leader orders the deletes.
#[test]
fn zookeeper_keeps_a_queue_through_partitions_kills_and_pauses() {
    require_zookeeper();
    let dir = tempfile::tempdir().unwrap();
    let (output, store) = run_real(dir.path(), "zookeeper", ETCD_FAULTS, "20", &["--workload", "queue"]);
    assert_queue_kept(&store, &output, &[CheckName::Queue, CheckName::SplitBrain]);
}

#[test]
fn redis_failover_loses_acknowledged_writes() {
    require("redis-server", "redis-server");
    let dir = tempfile::tempdir().unwrap();
    let (output, store) =
        run_real(dir.path(), "redis", REDIS_FAILOVER, "11", &["--workload", "set", "--nemesis", "failover"]);
    assert!(fault_took_effect(&store, "failover"), "no failover happened\n{}", describe(&output));
    let results = results(&store);
    let lost = &results.checks[&CheckName::LostWrites];
    assert_eq!(lost.verdict, Verdict::Invalid, "{}\n{}", lost.summary, describe(&output));
    let count = lost.details.as_ref().and_then(CheckDetails::lost_writes).map_or(0, |l| l.lost.count);
    assert!(count > 0, "no acknowledged write was lost: {}", lost.summary);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
    assert_network_gone(&store);
}

/// The old primary keeps taking enqueues and dequeues from its clients while it is cut off;
/// when it follows the promoted replica, what it took in is gone (lost), and what it
/// handed out is still in the new primary's copy (handed out again).
#[test]
fn redis_failover_loses_queued_elements_or_hands_them_out_twice() {
    require("redis-server", "redis-server");
    let dir = tempfile::tempdir().unwrap();
    let (output, store) = run_real(dir.path(), "redis", REDIS_FAILOVER, "11", &["--workload", "queue"]);
    assert!(fault_took_effect(&store, "failover"), "no failover happened\n{}", describe(&output));
    let results = results(&store);
    let check = &results.checks[&CheckName::Queue];
    assert_eq!(check.verdict, Verdict::Invalid, "{}\n{}", check.summary, describe(&output));
    let report = check.details.as_ref().and_then(CheckDetails::queue).expect("the queue report");
    assert!(report.lost + report.duplicated.count > 0, "{}", check.summary);
    assert_eq!(report.not_drained.count, 0, "{}", check.summary);
    assert!(drained_to_empty(&store), "the drain found the new primary\n{}", describe(&output));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
    assert_network_gone(&store);
}

/// The primary (node 1) comes back from a lost disk empty, and its replicas copy it:
/// every element queued before is gone, though each was acknowledged from the append-only
/// file. Node 2, a replica, then loses its disk too and copies the primary back.
#[test]
fn redis_loses_its_queue_when_its_primary_loses_its_disk() {
    require("redis-server", "redis-server");
    let dir = tempfile::tempdir().unwrap();
    let (output, store) = run_real(dir.path(), "redis", LOSE_TWO_DISKS, "12", &["--workload", "queue"]);
    let stops = stop_records(&store, "lose-disk");
    assert_eq!(stops.len(), 2, "{stops:?}");
    assert!(
        stops.iter().all(|stop| stop["value"]["took_effect"] == true),
        "{stops:?}\n{}",
        describe(&output)
    );
    let results = results(&store);
    let check = &results.checks[&CheckName::Queue];
    assert_eq!(check.verdict, Verdict::Invalid, "{}\n{}", check.summary, describe(&output));
    let report = check.details.as_ref().and_then(CheckDetails::queue).expect("the queue report");
    assert!(report.lost > 0, "{}", check.summary);
    assert!(drained_to_empty(&store), "{}", describe(&output));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
    assert_network_gone(&store);
}

/// No failover, so one primary holds the queue throughout: a cut, kill -9 (its
/// append-only file written before each answer) and a pause lose nothing acknowledged.
#[test]
fn redis_keeps_a_queue_through_a_cut_kill_and_pause_of_its_primary() {
    require("redis-server", "redis-server");
    let dir = tempfile::tempdir().unwrap();
    let (output, store) = run_real(dir.path(), "redis", REDIS_PRIMARY_FAULTS, "14", &["--workload", "queue"]);
    assert_queue_kept(&store, &output, &[CheckName::Queue]);
}

/// Ctrl-C in the middle of a Redis run: the nodes die, the namespaces, bridge, rules and
/// state file go, and the history recorded so far stays checkable.
/// `faultline matrix --systems etcd,redis`: every system row under a fault it must come
/// through with its queue kept, Redis under an operator's failover, which only its row
/// takes, and a hold only on the protocol's row. Each cell is judged against the design,
/// and each run leaves nothing behind.
#[test]
fn the_matrix_judges_etcd_and_redis_rows_and_fails_over_redis_alone() {
    require("etcd", "etcd-server");
    require("redis-server", "redis-server");
    let store = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["matrix", "--protocols", "raft", "--systems", "etcd,redis", "--workload", "queue"])
        .args(["--nemeses", "kill,failover,hold", "--time-limit", "4", "--seeds", "1", "--store"])
        .arg(store.path())
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let json = std::fs::read_to_string(store.path().join("matrix.json")).unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let cells: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (r["protocol"].as_str().unwrap(), r["fault"].as_str().unwrap(), r["expect"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        cells,
        [
            ("raft", "kill", "safe"),
            ("raft", "hold", "safe"),
            ("etcd", "kill", "safe"),
            ("etcd+serializable", "kill", "safe"),
            ("redis", "kill", "safe"),
            ("redis", "failover", "may-fail"),
        ],
        "{stdout}"
    );
    // Namespaces cannot hold packets: no real-system row runs a hold that would not happen.
    assert!(
        stderr.contains("faultline: matrix: hold is left out of the rows that cannot take it: etcd, etcd+serializable, redis"),
        "{stderr}"
    );
    for row in &rows {
        assert_eq!(row["expected"], true, "{row}");
        assert!(row["verdict"].is_string(), "every run finished: {row}");
        if row["expect"] == "safe" {
            assert_eq!(row["linearizable"], "valid", "{row}");
            assert_eq!(row["lost_writes"], 0, "{row}");
        }
        let run = Path::new(row["run"].as_str().unwrap());
        if row["protocol"] != "raft" {
            assert_network_gone_after(&run.join("network.json"));
        }
        let results = RunDir::open(run).unwrap().read_results().unwrap();
        assert!(took_effect(&results, row["fault"].as_str().unwrap()), "the fault took effect: {row}");
    }
    assert!(wait_for_no_process(&canonical(store.path()), Duration::from_secs(10)).is_empty());
}

#[allow(unsafe_code, reason = "kill(2) sends the harness its Ctrl-C")]
#[test]
fn sigint_mid_run_removes_the_namespaces_and_keeps_the_history() {
    require("redis-server", "redis-server");
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let child = faultline()
        .args(["test", "--system", "redis", "--workload", "register", "--nemesis", "partition"])
        .args(["--time-limit", "60", "--rate", "100", "--seed", "9", "--store"])
        .arg(&store)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let harness_pid = child.id();
    let run = wait_for_events(&store, 50, Duration::from_secs(60));
    let record = network_record(&store);
    let first = record["namespaces"]["1"].as_str().unwrap().to_string();
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&first), "the run's namespaces exist");
    let run_path = canonical(run.path());
    assert!(!processes_mentioning(&run_path).is_empty(), "the nodes are running");

    // SAFETY: kill(2) on the child we spawned.
    unsafe {
        libc::kill(harness_pid as i32, libc::SIGINT);
    }
    let output = wait_with_deadline(child, Duration::from_secs(30));
    let leftovers = wait_for_no_process(&run_path, Duration::from_secs(10));
    kill_all(&leftovers);
    assert!(leftovers.is_empty(), "nodes survived the harness: {leftovers:?}");
    assert_eq!(output.status.code(), Some(2), "an interrupted run is unknown: {}", describe(&output));
    assert_network_gone(&store);
    let check = faultline().arg("check").arg(store.join("latest")).output().unwrap();
    assert!(matches!(check.status.code(), Some(0..=2)), "the history checks: {}", describe(&check));
}
