//! The SSH backend end to end, against a lab of real sshd's on this machine (`faultline
//! lab up` in a temporary directory, `lab down` when the test ends, also on failure):
//!
//! - raft over SSH under partitions, and under kill -9, is valid as it is locally;
//! - etcd (the hosts' own /usr/bin/etcd) over SSH under partitions and kill -9 is valid,
//!   and under `lose-disk` each wiped member is replaced and comes back;
//! - ZooKeeper (the hosts' own java and jar, its zoo.cfg and myid uploaded) with synced
//!   reads over SSH under partitions, kill -9 and `lose-disk` is valid, each wiped server
//!   given its myid again on its host;
//! - Redis (the hosts' own redis-server, its role file uploaded), failed over by the
//!   operator over SSH while its primary is cut off, loses acknowledged writes, as it does
//!   locally; under kill -9 alone its nodes restart on their uploaded files;
//! - afterwards nothing is left on the hosts: no run directory, no node process, no nft
//!   table of the run's tag;
//! - a host that cannot be reached at the start is an error naming it; one lost during
//!   the run (its link taken down) is a `host-lost` nemesis event, and the run still ends
//!   with a checked history;
//! - `faultline cleanup --ssh` removes what a crashed run left on the hosts.
//!
//! Needs root, `ip`, `nft`, `ssh` and sshd (openssh-server), and etcd, ZooKeeper or Redis
//! for their tests; without them the tests fail saying what to install. Nothing is skipped.

mod e2e_support;
mod lab_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use checkers::{CheckDetails, CheckName, Verdict};
use e2e_support::*;
use lab_support::Lab;

const RUN_DEADLINE: Duration = Duration::from_secs(240);

/// The SSH flags for `lab`.
fn ssh_args(lab: &Lab) -> Vec<String> {
    vec![
        "--ssh".into(),
        lab.path("hosts"),
        "--ssh-key".into(),
        lab.path("client_key"),
        "--ssh-known-hosts".into(),
        lab.path("known_hosts"),
    ]
}

fn run_over_ssh(lab: &Lab, store: &Path, extra: &[&str]) -> std::process::Output {
    let ssh = ssh_args(lab);
    let mut args: Vec<&str> = ssh.iter().map(String::as_str).collect();
    args.extend_from_slice(&["--time-limit", "10", "--nemesis-interval", "2", "--seed", "11"]);
    args.extend_from_slice(extra);
    run_test(store, &args, RUN_DEADLINE)
}

/// The run's tag, from its network record.
fn run_tag(store: &Path) -> String {
    let path = latest(store).path().join("network.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(record["backend"], "ssh");
    record["tag"].as_str().expect("a tag").to_string()
}

/// Nothing of run `tag` on any host of `lab`: no run directory, no nft table, no process.
fn assert_hosts_clean(lab: &Lab, tag: &str) {
    for &id in lab.hosts.keys() {
        let out = lab.ssh(id, &format!("ls -d /tmp/faultline-ssh/{tag}-* 2>/dev/null; nft list tables inet"));
        assert!(out.status.success(), "ssh to node {id}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains(&format!("/tmp/faultline-ssh/{tag}-")),
            "a run directory is left on node {id}: {text}"
        );
        assert!(
            !text.contains(&format!("faultline_ssh_{tag}")),
            "the run's nft table is left on node {id}: {text}"
        );
    }
    let left = wait_for_no_process(Path::new(&format!("/tmp/faultline-ssh/{tag}-")), Duration::from_secs(10));
    assert!(left.is_empty(), "node processes of run {tag} left: {left:?}");
}

/// Whether the run lost at least one disk and every node that lost one came back: each
/// `stop-lose-disk` record restarted its node.
fn every_lost_disk_came_back(store: &Path) -> bool {
    let path = latest(store).path().join("history.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let stops: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON event"))
        .filter(|event| event["f"] == "stop-lose-disk")
        .collect();
    !stops.is_empty()
        && stops.iter().all(|stop| stop["value"]["restarted"] == serde_json::json!([stop["value"]["node"]]))
}

fn fault_took_effect(store: &Path, kind: &str) -> bool {
    let stats = results(store).stats().expect("stats").clone();
    stats.faults.iter().any(|w| w.took_effect && w.fault.contains(kind))
}

#[test]
fn raft_over_ssh_is_valid_under_partitions_and_kills_and_leaves_nothing() {
    let lab = Lab::up(3);
    for nemesis in ["partition", "kill"] {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let output = run_over_ssh(&lab, &store, &["--protocol", "raft", "--nemesis", nemesis]);
        assert_valid_run(&store, &output, &[CheckName::Linearizable, CheckName::Stats]);
        assert!(fault_took_effect(&store, nemesis), "no {nemesis} took effect\n{}", describe(&output));
        let tag = run_tag(&store);
        assert_hosts_clean(&lab, &tag);
        for id in 1..=3 {
            let log = latest(&store).path().join(format!("nodes/{id}.log"));
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                text.contains("# faultline: started"),
                "node {id}'s log was not fetched: {}",
                log.display()
            );
        }
    }
}

#[test]
fn etcd_over_ssh_is_valid_under_partitions_kills_and_lost_disks_and_leaves_nothing() {
    let found = Command::new("sh").args(["-c", "command -v etcd"]).output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "this test needs etcd on the hosts (Debian package etcd-server; .ci/run installs it)"
    );
    let lab = Lab::up(3);
    for nemesis in ["partition,kill", "lose-disk"] {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let output = run_over_ssh(&lab, &store, &["--system", "etcd", "--nemesis", nemesis]);
        assert_valid_run(
            &store,
            &output,
            &[CheckName::Linearizable, CheckName::SplitBrain, CheckName::Stats],
        );
        if nemesis == "lose-disk" {
            assert!(every_lost_disk_came_back(&store), "a wiped member stayed down\n{}", describe(&output));
        }
        let tag = run_tag(&store);
        assert_hosts_clean(&lab, &tag);
    }
}

/// Fail, saying which package to install, unless `binary` is on PATH (the lab's hosts share
/// this machine's programs).
fn require(binary: &str, package: &str) {
    let found = Command::new("sh").args(["-c", &format!("command -v {binary}")]).output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "this test needs {binary} on the hosts (Debian package {package}; .ci/run installs it)"
    );
}

#[test]
fn zookeeper_over_ssh_with_synced_reads_is_valid_under_partitions_kills_and_lost_disks() {
    require("java", "zookeeper");
    assert!(
        Path::new("/usr/share/java/zookeeper.jar").is_file(),
        "this test needs ZooKeeper's jar on the hosts: Debian package zookeeper"
    );
    let lab = Lab::up(3);
    for nemesis in ["partition", "kill", "lose-disk"] {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let output = run_over_ssh(
            &lab,
            &store,
            &["--system", "zookeeper", "--workload", "register", "--zk-sync-reads", "--nemesis", nemesis],
        );
        if nemesis == "lose-disk" {
            assert!(every_lost_disk_came_back(&store), "a wiped server stayed down\n{}", describe(&output));
        }
        assert_valid_run(
            &store,
            &output,
            &[CheckName::Linearizable, CheckName::SplitBrain, CheckName::Stats],
        );
        assert!(fault_took_effect(&store, nemesis), "no {nemesis} took effect\n{}", describe(&output));
        let tag = run_tag(&store);
        assert_hosts_clean(&lab, &tag);
    }
}

/// The operator's failover while the primary is cut off, for six seconds (as the local
/// Redis test schedules it).
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

#[test]
fn redis_over_ssh_fails_over_and_loses_writes_and_restarts_after_kills_and_leaves_nothing() {
    require("redis-server", "redis-server");
    let lab = Lab::up(3);
    let ssh = ssh_args(&lab);

    // The operator's failover, over RESP to the hosts' addresses.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let schedule = dir.path().join("schedule.json");
    std::fs::write(&schedule, REDIS_FAILOVER).unwrap();
    let mut args: Vec<&str> = ssh.iter().map(String::as_str).collect();
    args.extend_from_slice(&[
        "--system",
        "redis",
        "--workload",
        "set",
        "--nemesis",
        "failover",
        "--schedule",
        schedule.to_str().unwrap(),
        "--time-limit",
        "11",
        "--rate",
        "150",
        "--concurrency",
        "6",
        "--op-timeout-ms",
        "500",
        "--seed",
        "3",
    ]);
    let output = run_test(&store, &args, RUN_DEADLINE);
    assert!(fault_took_effect(&store, "failover"), "no failover happened\n{}", describe(&output));
    let checked = results(&store);
    let lost = &checked.checks[&CheckName::LostWrites];
    assert_eq!(lost.verdict, Verdict::Invalid, "{}\n{}", lost.summary, describe(&output));
    let count = lost.details.as_ref().and_then(CheckDetails::lost_writes).map_or(0, |l| l.lost.count);
    assert!(count > 0, "no acknowledged write was lost: {}", lost.summary);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let tag = run_tag(&store);
    assert_hosts_clean(&lab, &tag);

    // Kill -9 alone: each node restarts on its uploaded role file and its data.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let output = run_over_ssh(&lab, &store, &["--system", "redis", "--workload", "set", "--nemesis", "kill"]);
    assert!(fault_took_effect(&store, "kill"), "no kill took effect\n{}", describe(&output));
    let stats = results(&store).stats().expect("stats").clone();
    assert!(stats.counts.ok > 100, "{stats:?}\n{}", describe(&output));
    assert!(matches!(output.status.code(), Some(0 | 1)), "the run was checked: {}", describe(&output));
    // Three first starts, and at least one restart that came up again.
    let ready: usize = (1..=3)
        .map(|id| {
            let log = latest(&store).path().join(format!("nodes/{id}.log"));
            std::fs::read_to_string(&log).unwrap_or_default().matches("Ready to accept connections").count()
        })
        .sum();
    assert!(ready > 3, "no killed node came back ({ready} starts)\n{}", describe(&output));
    let tag = run_tag(&store);
    assert_hosts_clean(&lab, &tag);
}

#[test]
fn an_unreachable_host_is_named_and_cleanup_removes_leftovers() {
    let lab = Lab::up(2);
    // A third host on the lab's subnet where no machine answers.
    let subnet = lab.state["subnet"].as_str().expect("a subnet").to_string();
    let prefix = subnet.trim_end_matches("0/24");
    let hosts = format!("1 {}\n2 {}\n3 root@{prefix}250\n", lab.hosts[&1], lab.hosts[&2]);
    let hosts_path = lab.dir.join("hosts3");
    std::fs::write(&hosts_path, hosts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let args = [
        "--ssh",
        hosts_path.to_str().unwrap(),
        "--ssh-key",
        &lab.path("client_key"),
        "--ssh-known-hosts",
        &lab.path("known_hosts"),
        "--time-limit",
        "2",
    ];
    let output = run_test(&store, &args, RUN_DEADLINE);
    let _ = std::fs::remove_file(&hosts_path);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(255), "{}", describe(&output));
    assert!(stderr.contains(&format!("cannot reach node 3 (root@{prefix}250)")), "{stderr}");

    // What a crashed run leaves: a run directory with a live process group, and a table.
    let tag = "zz9crash";
    let plant = format!(
        "mkdir -p /tmp/faultline-ssh/{tag}-1 && cd /tmp/faultline-ssh/{tag}-1 && \
         (setsid sh -c 'echo $$ > node.pid; exec sleep 300' > /dev/null 2>&1 < /dev/null &) && \
         nft add table inet faultline_ssh_{tag} && sleep 0.2 && cat node.pid"
    );
    let out = lab.ssh(1, &plant);
    assert!(out.status.success(), "planting leftovers: {}", String::from_utf8_lossy(&out.stderr));
    let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("the sleeper's pid");
    assert!(lab_support::process_alive(pid));
    let clean = cleanup_over_ssh(&lab, tag);
    assert!(clean.status.success(), "cleanup: {}", String::from_utf8_lossy(&clean.stderr));
    let said = String::from_utf8_lossy(&clean.stdout);
    // The lab's hosts share one file system, so either host may be the one that kills it.
    assert!(said.contains(&format!(": killed process group {pid}")), "{said}");
    assert!(said.contains(&format!("removed nft table inet faultline_ssh_{tag}")), "{said}");
    assert!(!lab_support::process_alive(pid), "the leftover process survived cleanup");
    assert_hosts_clean(&lab, tag);
}

#[test]
fn a_host_lost_mid_run_is_recorded_and_the_run_is_still_checked() {
    let lab = Lab::up(3);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let ssh = ssh_args(&lab);
    let mut command = faultline();
    command
        .arg("test")
        .args(&ssh)
        .args(["--protocol", "raft", "--nemesis", "none", "--time-limit", "14", "--seed", "3"])
        .arg("--store")
        .arg(&store)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().expect("starting faultline");
    // Once operations flow, cut node 3's host off the bridge.
    wait_for_events(&store, 50, Duration::from_secs(120));
    let veth = format!("fl-{}-3", lab.tag());
    let down = Command::new("ip").args(["link", "set", &veth, "down"]).status().unwrap();
    assert!(down.success(), "taking {veth} down");
    let output = wait_with_deadline(child, RUN_DEADLINE);
    let up = Command::new("ip").args(["link", "set", &veth, "up"]).status().unwrap();
    assert!(up.success(), "bringing {veth} back");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("lost the SSH host of node 3"), "{}", describe(&output));
    let results = results(&store);
    assert!(!results.checks.is_empty(), "the history was not checked: {}", describe(&output));
    let history = latest(&store).read_history().expect("the history");
    let lost: Vec<_> = history
        .events
        .iter()
        .filter(|e| serde_json::to_value(e).is_ok_and(|v| v["f"] == "host-lost" && v["value"]["node"] == 3))
        .collect();
    assert_eq!(lost.len(), 1, "one host-lost event for node 3");
    // Node 3's host could not be cleaned by the run; cleanup --ssh does it now. Its link
    // is just back up, and the first connection may still find no route (the neighbour
    // entry the cut left failed), so cleanup is tried again, as a user would, for a while.
    let tag = run_tag(&store);
    let until = std::time::Instant::now() + Duration::from_secs(30);
    let clean = loop {
        let clean = cleanup_over_ssh(&lab, &tag);
        let unreachable = String::from_utf8_lossy(&clean.stderr).contains("cannot reach node 3");
        if clean.status.success() || !unreachable || std::time::Instant::now() >= until {
            break clean;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(clean.status.success(), "cleanup: {}", String::from_utf8_lossy(&clean.stderr));
    assert_hosts_clean(&lab, &tag);
}

/// `faultline cleanup --ssh` of the run tagged `tag` on the lab's hosts.
fn cleanup_over_ssh(lab: &Lab, tag: &str) -> std::process::Output {
    lab_support::faultline(&[
        "cleanup",
        "--ssh",
        &lab.path("hosts"),
        "--ssh-key",
        &lab.path("client_key"),
        "--ssh-known-hosts",
        &lab.path("known_hosts"),
        "--tag",
        tag,
    ])
}
