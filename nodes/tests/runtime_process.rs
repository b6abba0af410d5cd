//! The real `faultline-node` binary: kill -9 and recovery from the data directory, a torn
//! tail, corruption refused, a clean SIGTERM, and bad flags.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_faultline-node");
const LIMIT: Duration = Duration::from_secs(20);

/// A running node process, killed (by its own pid) when dropped.
struct NodeProcess {
    child: Child,
    base: String,
}

fn command(protocol: &str, data_dir: &Path, stderr_log: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["--protocol", protocol, "--id", "1", "--peer-listen", "127.0.0.1:0"])
        .args(["--client-listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(["--election-timeout-min-ms", "50", "--election-timeout-max-ms", "100", "--heartbeat-ms", "20"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(stderr_log).unwrap())
        .kill_on_drop(true);
    command
}

impl NodeProcess {
    async fn start(protocol: &str, data_dir: &Path, stderr_log: &Path) -> NodeProcess {
        let mut child = command(protocol, data_dir, stderr_log).spawn().expect("spawn faultline-node");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(LIMIT, lines.next_line())
            .await
            .expect("a ready line in time")
            .unwrap()
            .unwrap_or_else(|| {
                panic!("no ready line; stderr: {}", std::fs::read_to_string(stderr_log).unwrap())
            });
        let ready: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(ready["ready"]["protocol"], protocol, "{line}");
        assert_eq!(ready["ready"]["id"], 1, "{line}");
        let base = format!("http://{}", ready["ready"]["client_listen"].as_str().unwrap());
        NodeProcess { child, base }
    }

    async fn kill_9(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap()
}

/// Wait until the single node leads (it must elect or promote itself first).
async fn wait_leading(node: &NodeProcess) {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Ok(answer) = http().get(format!("{}/status", node.base)).send().await {
            let status: Value = answer.json().await.unwrap();
            if ["leader", "primary", "coordinator"].contains(&status["role"].as_str().unwrap_or("")) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "node never led");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Write until `count` writes were acknowledged, retrying refusals (the node may still be
/// settling into its role); returns the acknowledged key/value pairs.
async fn write_acknowledged(node: &NodeProcess, count: i64) -> Vec<(String, i64)> {
    let mut acknowledged = Vec::new();
    let deadline = Instant::now() + LIMIT;
    let mut i = 0;
    while (acknowledged.len() as i64) < count {
        assert!(Instant::now() < deadline, "only {} writes acknowledged", acknowledged.len());
        i += 1;
        let key = format!("k{i}");
        let put = http().put(format!("{}/kv/{key}", node.base)).json(&json!({"value": i})).send().await;
        if put.map(|r| r.status().is_success()).unwrap_or(false) {
            acknowledged.push((key, i));
        }
    }
    acknowledged
}

async fn read(node: &NodeProcess, key: &str) -> Option<i64> {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Ok(answer) = http().get(format!("{}/kv/{key}", node.base)).send().await {
            if answer.status().is_success() {
                let body: Value = answer.json().await.unwrap();
                return body["value"].as_i64();
            }
        }
        assert!(Instant::now() < deadline, "reading {key} never succeeded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn acknowledged_writes_survive_kill_9(protocol: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("stderr.log");

    let node = NodeProcess::start(protocol, &data, &log).await;
    wait_leading(&node).await;
    let acknowledged = write_acknowledged(&node, 40).await;
    node.kill_9().await;

    // A crash in the middle of the next append leaves a torn record behind.
    let wal = data.join("wal.log");
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes.extend_from_slice(&[0, 0, 1, 0, 0xde, 0xad]);
    std::fs::write(&wal, &bytes).unwrap();

    let node = NodeProcess::start(protocol, &data, &log).await;
    wait_leading(&node).await;
    for (key, value) in &acknowledged {
        assert_eq!(read(&node, key).await, Some(*value), "{protocol}: acknowledged {key}={value} lost");
    }
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(stderr.contains("torn"), "{protocol}: the torn tail was not reported: {stderr}");
    // Writes continue after recovery.
    assert_eq!(write_acknowledged(&node, 3).await.len(), 3);
    node.kill_9().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pb_async_keeps_acknowledged_writes_across_kill_9() {
    acknowledged_writes_survive_kill_9("pb-async").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_keeps_acknowledged_writes_across_kill_9() {
    acknowledged_writes_survive_kill_9("raft").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paxos_keeps_acknowledged_writes_across_kill_9() {
    acknowledged_writes_survive_kill_9("paxos").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_corrupt_in_the_middle_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("stderr.log");
    let node = NodeProcess::start("pb-async", &data, &log).await;
    wait_leading(&node).await;
    write_acknowledged(&node, 5).await;
    node.kill_9().await;

    let wal = data.join("wal.log");
    let mut bytes = std::fs::read(&wal).unwrap();
    // The first record's first payload byte (after the 17-byte header and 12-byte record header).
    bytes[17 + 12] ^= 0x20;
    std::fs::write(&wal, &bytes).unwrap();

    let mut child = command("pb-async", &data, &log).spawn().unwrap();
    let status = tokio::time::timeout(LIMIT, child.wait()).await.expect("the node exits").unwrap();
    assert_eq!(status.code(), Some(1));
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(stderr.contains("corrupt record at byte 17"), "{stderr}");
    assert_eq!(std::fs::read(&wal).unwrap(), bytes, "the corrupt log must be kept as evidence");
}

#[allow(unsafe_code, reason = "kill(2) sends the node SIGTERM")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_node_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut node = NodeProcess::start("raft", &dir.path().join("data"), &log).await;
    let pid = node.child.id().unwrap() as i32;
    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::time::timeout(LIMIT, node.child.wait()).await.expect("the node exits").unwrap();
    assert_eq!(status.code(), Some(0), "{}", std::fs::read_to_string(&log).unwrap());
}

#[test]
fn bad_flags_exit_2_with_a_one_line_reason() {
    let run = |args: &[&str]| std::process::Command::new(BIN).args(args).output().unwrap();
    let base =
        ["--protocol", "raft", "--id", "1", "--peer-listen", "127.0.0.1:0", "--client-listen", "127.0.0.1:0"];
    let missing = run(&base);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--data-dir"));

    let mut bad_peer = base.to_vec();
    bad_peer.extend(["--data-dir", "/nonexistent/x", "--peer", "two=127.0.0.1:1"]);
    let out = run(&bad_peer);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a non-negative integer"));

    let unknown = run(&["--protocol", "zab", "--id", "1"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown protocol \"zab\""));

    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in
        ["--peer <ID=HOST:PORT>", "--request-timeout-ms", "--max-frame-bytes", "--read", "--snapshot-every"]
    {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pb_sync_keeps_acknowledged_writes_across_kill_9() {
    acknowledged_writes_survive_kill_9("pb-sync").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twopc_keeps_acknowledged_writes_across_kill_9() {
    acknowledged_writes_survive_kill_9("2pc").await;
}
