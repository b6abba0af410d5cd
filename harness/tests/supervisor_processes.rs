//! The supervisor with real processes: health waits, kill -9 and restart on the same data
//! directory, pause and resume, losing a disk, and that no node outlives the harness
//! (checked by exact pid and start time).
//!
//! Nodes are fake nodes served by this test executable (see `supervisor_support`).

mod supervisor_support;

use faultline::{host, supervisor};

use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use host::{NodeAddrs, NodeSpec, NodeState};
use supervisor::{allocate_addrs, LocalHost, NodeCommand, Supervisor};
use supervisor_support::*;

const ENTRY: &str = "fake_roles_entry";
const DEADLINE: Duration = Duration::from_secs(20);

/// Entry point of the fake node and fake harness roles; as a plain test, checks the
/// process probes the other tests rely on.
#[test]
fn fake_roles_entry() {
    run_role_if_asked();
    assert!(alive_since(std::process::id()).is_some());
    assert!(matches!(process_state(std::process::id()), Some('R' | 'S')));
    assert_eq!(alive_since(u32::MAX), None);
}

#[tokio::test]
async fn start_waits_for_health_and_restart_keeps_the_data_directory() {
    let run = tempfile::tempdir().unwrap();
    let sup = fake_cluster(ENTRY, run.path(), 2, None, 1);
    sup.start_all(DEADLINE).await.unwrap();
    assert_eq!(sup.status(1, DEADLINE).await.unwrap().commit_index, 1, "first life");
    let pid = host_pid(sup.host().as_ref(), 1);
    let since = alive_since(pid).unwrap();

    assert!(sup.kill(1).unwrap(), "kill of a live node takes effect");
    assert!(matches!(sup.state(1), NodeState::Exited { .. }));
    assert_eq!(alive_since(pid), None, "kill -9 reaps the exact pid");
    let _ = since;
    assert!(!sup.kill(1).unwrap(), "kill of a dead node does not take effect");

    assert!(sup.restart(1, DEADLINE).await.unwrap());
    assert!(!sup.restart(1, DEADLINE).await.unwrap(), "restart of a live node does nothing");
    assert_eq!(sup.status(1, DEADLINE).await.unwrap().commit_index, 2, "same data directory");
    assert_eq!(sup.status(2, DEADLINE).await.unwrap().commit_index, 1, "node 2 untouched");

    let log = std::fs::read_to_string(run.path().join("nodes/1.log")).unwrap();
    assert_eq!(log.matches("# faultline: starting node 1").count(), 2, "{log}");
    assert!(log.contains("fake node 1 life 2"), "stderr goes to the log: {log}");

    let pids = [host_pid(sup.host().as_ref(), 1), host_pid(sup.host().as_ref(), 2)];
    sup.shutdown();
    for pid in pids {
        assert_eq!(alive_since(pid), None, "shutdown kills {pid}");
    }
}

#[tokio::test]
async fn pause_stops_the_process_and_resume_continues_it() {
    let run = tempfile::tempdir().unwrap();
    let sup = fake_cluster(ENTRY, run.path(), 1, None, 1);
    sup.start_all(DEADLINE).await.unwrap();
    let pid = host_pid(sup.host().as_ref(), 1);

    assert!(sup.pause(1).unwrap());
    assert!(!sup.pause(1).unwrap(), "pausing a paused node does not take effect");
    assert_eq!(sup.state(1), NodeState::Paused { pid });
    wait_until("stopped state", DEADLINE, || process_state(pid) == Some('T')).await;
    assert!(sup.status(1, Duration::from_millis(300)).await.is_err(), "a paused node answers nothing");

    assert!(sup.resume(1).unwrap());
    assert!(!sup.resume(1).unwrap(), "resuming a running node does not take effect");
    assert_eq!(sup.state(1), NodeState::Running { pid });
    assert_eq!(sup.status(1, DEADLINE).await.unwrap().id, 1);

    // A paused node can still be killed.
    sup.pause(1).unwrap();
    assert!(sup.kill(1).unwrap());
    assert_eq!(alive_since(pid), None);
}

#[tokio::test]
async fn losing_the_disk_restarts_from_nothing() {
    let run = tempfile::tempdir().unwrap();
    let sup = fake_cluster(ENTRY, run.path(), 1, None, 1);
    sup.start_all(DEADLINE).await.unwrap();
    sup.kill(1).unwrap();
    sup.restart(1, DEADLINE).await.unwrap();
    assert_eq!(sup.status(1, DEADLINE).await.unwrap().commit_index, 2);

    assert!(sup.lose_disk(1).unwrap());
    let data = sup.spec(1).unwrap().data_dir.clone();
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0, "the data directory is empty");
    assert!(!sup.lose_disk(1).unwrap(), "already dead: the kill did not take effect");
    assert!(sup.host().wipe(1).is_ok());
    sup.restart(1, DEADLINE).await.unwrap();
    assert_eq!(sup.status(1, DEADLINE).await.unwrap().commit_index, 1, "a fresh first life");
    assert!(sup.host().wipe(1).is_err(), "a live node's disk is not wiped");
}

#[tokio::test]
async fn a_node_that_dies_or_never_answers_fails_the_health_wait_with_its_log() {
    let run = tempfile::tempdir().unwrap();
    let addrs = allocate_addrs([1, 2]).unwrap();
    let dies = NodeSpec {
        id: 1,
        argv: vec!["/usr/bin/env".into(), "ls".into(), "/no/such/path/at/all".into()],
        rejoin_argv: None,
        data_dir: run.path().join("data/1"),
        log_path: run.path().join("nodes/1.log"),
        addrs: addrs[&1],
    };
    let mute = NodeSpec {
        id: 2,
        argv: vec!["/usr/bin/env".into(), "sleep".into(), "600".into()],
        rejoin_argv: None,
        data_dir: run.path().join("data/2"),
        log_path: run.path().join("nodes/2.log"),
        addrs: addrs[&2],
    };
    let sup = Supervisor::new(Arc::new(LocalHost::new()), vec![dies, mute]);
    sup.start(1).unwrap();
    let err = format!("{:#}", sup.wait_healthy(1, DEADLINE).await.unwrap_err());
    assert!(err.contains("exited before it was healthy"), "{err}");
    assert!(err.contains("/no/such/path/at/all"), "the error quotes the log: {err}");

    sup.start(2).unwrap();
    assert!(sup.start(2).is_err(), "a running node is not started twice");
    let pid = host_pid(sup.host().as_ref(), 2);
    let err = format!("{:#}", sup.wait_healthy(2, Duration::from_millis(200)).await.unwrap_err());
    assert!(err.contains("not healthy within"), "{err}");
    drop(sup);
    assert_eq!(alive_since(pid), None, "dropping the supervisor kills its nodes");
}

#[test]
fn node_command_builds_the_documented_argv() {
    let addrs = NodeAddrs {
        peer_listen: "127.0.0.1:7001".parse().unwrap(),
        client: "127.0.0.1:8001".parse().unwrap(),
    };
    let command = NodeCommand {
        program: "/bin/faultline".into(),
        leading_args: vec!["node".into()],
        protocol: "raft".into(),
        id: 1,
        addrs,
        peers: [(2, "127.0.0.1:9002".parse().unwrap()), (3, "127.0.0.1:9003".parse().unwrap())].into(),
        extra_args: vec!["--read".into(), "local".into()],
    };
    let spec = command.spec(std::path::Path::new("/run"));
    let argv: Vec<String> = spec.argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    assert_eq!(
        argv,
        [
            "/bin/faultline",
            "node",
            "--protocol",
            "raft",
            "--id",
            "1",
            "--peer-listen",
            "127.0.0.1:7001",
            "--client-listen",
            "127.0.0.1:8001",
            "--peer",
            "2=127.0.0.1:9002",
            "--peer",
            "3=127.0.0.1:9003",
            "--data-dir",
            "/run/data/1",
            "--read",
            "local",
        ]
    );
    assert_eq!(spec.log_path, std::path::Path::new("/run/nodes/1.log"));
}

#[test]
fn allocated_ports_are_distinct_and_free() {
    let a = allocate_addrs(1..=5).unwrap();
    let b = allocate_addrs(1..=5).unwrap();
    let mut ports: Vec<u16> =
        a.values().chain(b.values()).flat_map(|x| [x.peer_listen.port(), x.client.port()]).collect();
    let n = ports.len();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), n, "no port handed out twice");
    for x in a.values() {
        std::net::TcpListener::bind(x.client).expect("an allocated port is free");
    }
    // Below the ephemeral range, where the kernel never puts a connection's source port.
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let low: u16 = range.split_whitespace().next().unwrap().parse().unwrap();
    if low >= 12_000 {
        assert!(ports.iter().all(|&p| (10_000..low).contains(&p)), "{ports:?} vs {low}");
    }
}

/// A child process acting as the harness, in its own process group, killed on drop.
struct FakeHarness {
    child: std::process::Child,
    nodes: Vec<(u32, u64)>,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl FakeHarness {
    fn start(run_dir: &std::path::Path, option: Option<&str>) -> FakeHarness {
        let mut args =
            vec!["--run-dir".to_string(), run_dir.display().to_string(), "--entry".into(), ENTRY.into()];
        args.extend(option.map(String::from));
        let argv = role_argv(ENTRY, "harness", &args);
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // From here on, a failed assertion still kills the child (Drop).
        let mut harness = FakeHarness { child, nodes: Vec::new(), lines };
        for line in harness.lines.by_ref() {
            let line = line.unwrap();
            // libtest may print "test <name> ... " on the same line first.
            if let Some((_, pid)) = line.rsplit_once("PID ") {
                let pid: u32 = pid.parse().unwrap();
                harness.nodes.push((pid, alive_since(pid).expect("node alive")));
            }
            if line.ends_with("READY") {
                break;
            }
        }
        assert_eq!(harness.nodes.len(), 2, "the fake harness started two nodes");
        harness
    }
}

impl Drop for FakeHarness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(unsafe_code, reason = "kill(2) of the fake harness's process group")]
#[tokio::test]
async fn killing_the_harness_process_group_leaves_no_node() {
    let run = tempfile::tempdir().unwrap();
    let harness = tokio::task::spawn_blocking({
        let dir = run.path().to_path_buf();
        move || FakeHarness::start(&dir, None)
    })
    .await
    .unwrap();
    let pgid = harness.child.id() as i32;
    // SAFETY: signals the fake harness's own process group, created above.
    assert_eq!(unsafe { libc::kill(-pgid, libc::SIGKILL) }, 0);
    for &(pid, since) in &harness.nodes {
        wait_gone(pid, since, DEADLINE).await;
    }
}

#[allow(unsafe_code, reason = "kill(2) sends the fake harness SIGTERM")]
#[tokio::test]
async fn sigterm_to_the_harness_shuts_every_node_down() {
    let run = tempfile::tempdir().unwrap();
    let mut harness = tokio::task::spawn_blocking({
        let dir = run.path().to_path_buf();
        move || FakeHarness::start(&dir, Some("--signals"))
    })
    .await
    .unwrap();
    // SAFETY: signals the fake harness process started above.
    assert_eq!(unsafe { libc::kill(harness.child.id() as i32, libc::SIGTERM) }, 0);
    let (harness, shutdown) = tokio::task::spawn_blocking(move || {
        let said = harness.lines.by_ref().map_while(Result::ok).any(|l| l.ends_with("SHUTDOWN"));
        let status = harness.child.wait().unwrap();
        assert!(status.success(), "{status}");
        (harness, said)
    })
    .await
    .unwrap();
    assert!(shutdown, "the harness ran its shutdown path");
    for &(pid, since) in &harness.nodes {
        wait_gone(pid, since, DEADLINE).await;
    }
}

#[tokio::test]
async fn a_panic_in_the_harness_kills_every_node_through_the_hook() {
    let run = tempfile::tempdir().unwrap();
    let mut harness = tokio::task::spawn_blocking({
        let dir = run.path().to_path_buf();
        move || FakeHarness::start(&dir, Some("--panic"))
    })
    .await
    .unwrap();
    use std::io::Write;
    writeln!(harness.child.stdin.as_mut().unwrap(), "panic now").unwrap();
    for &(pid, since) in &harness.nodes {
        wait_gone(pid, since, DEADLINE).await;
    }
    assert!(harness.child.try_wait().unwrap().is_none(), "the harness itself is still alive");
    let harness = tokio::task::spawn_blocking(move || {
        assert!(harness.lines.by_ref().map_while(Result::ok).any(|l| l.ends_with("PANICKED")));
        harness
    })
    .await
    .unwrap();
    drop(harness);
}

#[tokio::test]
async fn a_node_starts_with_its_argv_once_and_with_its_rejoin_argv_ever_after() {
    let run = tempfile::tempdir().unwrap();
    let addrs = allocate_addrs([1]).unwrap();
    let say = |word: &str| -> Vec<std::ffi::OsString> {
        vec!["/bin/sh".into(), "-c".into(), format!("echo {word}; exec sleep 600").into()]
    };
    let spec = NodeSpec {
        id: 1,
        argv: say("bootstrap"),
        rejoin_argv: Some(say("rejoin")),
        data_dir: run.path().join("data/1"),
        log_path: run.path().join("nodes/1.log"),
        addrs: addrs[&1],
    };
    let log = spec.log_path.clone();
    let sup = Supervisor::new(Arc::new(LocalHost::new()), vec![spec]);
    let said = |lines: usize| {
        let until = std::time::Instant::now() + DEADLINE;
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let words: Vec<String> =
                text.lines().filter(|l| !l.starts_with('#')).map(str::to_string).collect();
            if words.len() >= lines || std::time::Instant::now() > until {
                return words;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    for life in 1..=3 {
        sup.start(1).unwrap();
        let words = said(life);
        assert_eq!(words.len(), life, "{words:?}");
        assert!(sup.kill(1).unwrap());
        let expected: Vec<&str> = (1..=life).map(|l| if l == 1 { "bootstrap" } else { "rejoin" }).collect();
        assert_eq!(words, expected);
    }
}
