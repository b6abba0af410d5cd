//! Test support: this test executable doubles as a fake node and as a fake harness, so
//! process tests need no other binary.
//!
//! A test spawns `/usr/bin/env FAULTLINE_TEST_ROLE=<role> FAULTLINE_TEST_ARGS=<args>
//! <this executable> --exact <entry test> --nocapture`; `env` execs in place, so the pid the
//! supervisor sees is the role's pid. [`run_role_if_asked`] is called first thing by the
//! entry test and never returns when a role is set.
//!
//! Roles:
//! - `node`: serves `GET /health` and `GET /status` on `--client-listen`, counting its lives
//!   in `<data-dir>/lives` (reported as `commit_index`), so restarts on the same data
//!   directory and wiped disks are visible through the API. `--role` and `--term` set what
//!   `/status` claims.
//! - `harness`: starts fake nodes under a `LocalHost`, prints `PID <pid>` for each, then
//!   waits; with `--signals` it installs the termination handler and shuts down on the first
//!   SIGINT/SIGTERM, printing `SHUTDOWN`; with `--panic` it installs the panic hook and
//!   panics on a second thread once a line arrives on stdin, printing `PANICKED` and staying alive.

#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::host::{Host, NodeAddrs, NodeSpec};
use crate::supervisor::{allocate_addrs, LocalHost, Supervisor, Termination};

pub const ROLE_VAR: &str = "FAULTLINE_TEST_ROLE";
pub const ARGS_VAR: &str = "FAULTLINE_TEST_ARGS";
const SEP: char = '\u{1f}';

/// argv that runs `role` with `args` from this test executable's `entry` test.
pub fn role_argv(entry: &str, role: &str, args: &[String]) -> Vec<OsString> {
    let exe = std::env::current_exe().expect("test executable path");
    vec![
        "/usr/bin/env".into(),
        format!("{ROLE_VAR}={role}").into(),
        format!("{ARGS_VAR}={}", args.join(&SEP.to_string())).into(),
        exe.into(),
        "--exact".into(),
        entry.into(),
        "--nocapture".into(),
        "--test-threads=1".into(),
    ]
}

/// A spec for fake node `id` under `run_dir`.
pub fn fake_node_spec(
    entry: &str,
    run_dir: &Path,
    id: u32,
    addrs: NodeAddrs,
    role: &str,
    term: u64,
) -> NodeSpec {
    let data_dir = run_dir.join("data").join(id.to_string());
    let args = vec![
        "--id".into(),
        id.to_string(),
        "--client-listen".into(),
        addrs.client.to_string(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--role".into(),
        role.into(),
        "--term".into(),
        term.to_string(),
    ];
    NodeSpec {
        id,
        argv: role_argv(entry, "node", &args),
        rejoin_argv: None,
        data_dir,
        log_path: run_dir.join("nodes").join(format!("{id}.log")),
        addrs,
    }
}

/// A supervisor of `n` fake nodes, all followers except `leader` (if any), in term `term`.
pub fn fake_cluster(entry: &str, run_dir: &Path, n: u32, leader: Option<u32>, term: u64) -> Supervisor {
    let addrs = allocate_addrs(1..=n).expect("ports");
    let specs = addrs
        .iter()
        .map(|(&id, &a)| {
            let role = if Some(id) == leader { "leader" } else { "follower" };
            fake_node_spec(entry, run_dir, id, a, role, term)
        })
        .collect();
    Supervisor::new(Arc::new(LocalHost::new()), specs)
}

/// Run the role named in the environment, if any; never returns then.
pub fn run_role_if_asked() {
    let Ok(role) = std::env::var(ROLE_VAR) else { return };
    let args: Vec<String> = std::env::var(ARGS_VAR)
        .unwrap_or_default()
        .split(SEP)
        .filter(|a| !a.is_empty())
        .map(String::from)
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let code = match role.as_str() {
        "node" => runtime.block_on(fake_node(args)),
        "harness" => runtime.block_on(fake_harness(args)),
        other => panic!("unknown test role {other}"),
    };
    std::process::exit(code);
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

async fn fake_node(args: Vec<String>) -> i32 {
    let id: u32 = flag(&args, "--id").unwrap().parse().unwrap();
    let client = flag(&args, "--client-listen").unwrap();
    let data_dir = PathBuf::from(flag(&args, "--data-dir").unwrap());
    let role = flag(&args, "--role").unwrap_or_else(|| "follower".into());
    let term: u64 = flag(&args, "--term").unwrap_or_else(|| "1".into()).parse().unwrap();
    let lives_path = data_dir.join("lives");
    let lives: u64 =
        std::fs::read_to_string(&lives_path).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0) + 1;
    std::fs::write(&lives_path, lives.to_string()).unwrap();
    eprintln!("fake node {id} life {lives} on {client}");
    let listener = tokio::net::TcpListener::bind(&client).await.unwrap();
    let status = serde_json::json!({
        "id": id, "protocol": "fake", "role": role, "term": term,
        "leader": if role == "leader" { Some(id) } else { None },
        "commit_index": lives, "applied_index": lives,
    })
    .to_string();
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let status = status.clone();
        tokio::spawn(async move {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let line = String::from_utf8_lossy(&request).lines().next().unwrap_or_default().to_string();
            let (code, body) = if line.starts_with("GET /health ") {
                ("200 OK", r#"{"ok":true}"#.to_string())
            } else if line.starts_with("GET /status ") {
                ("200 OK", status)
            } else {
                (
                    "404 Not Found",
                    r#"{"error":{"code":"not_found","message":"no route","definite":true}}"#.into(),
                )
            };
            let answer = format!(
                "HTTP/1.1 {code}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        });
    }
}

async fn fake_harness(args: Vec<String>) -> i32 {
    let run_dir = PathBuf::from(flag(&args, "--run-dir").unwrap());
    let entry = flag(&args, "--entry").unwrap();
    let signals = args.iter().any(|a| a == "--signals");
    let termination = if signals { Some(Termination::install().unwrap()) } else { None };
    let supervisor = fake_cluster(&entry, &run_dir, 2, None, 1);
    supervisor.start_all(Duration::from_secs(20)).await.unwrap();
    for id in supervisor.node_ids() {
        if let crate::host::NodeState::Running { pid } = supervisor.host().state(id) {
            println!("PID {pid}");
        }
    }
    println!("READY");
    if args.iter().any(|a| a == "--panic") {
        crate::supervisor::install_panic_hook();
        // Wait for the test to have noted the node pids.
        let _ = std::io::stdin().read_line(&mut String::new());
        // A panic on another thread leaves the process alive: only the hook can kill nodes.
        let _ = std::thread::spawn(|| panic!("a harness bug")).join();
        println!("PANICKED");
    }
    match termination {
        Some(t) => {
            t.recv().await;
            supervisor.shutdown();
            println!("SHUTDOWN");
            0
        }
        None => loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        },
    }
}

/// The start time of a live, non-zombie process `pid` (field 22 of /proc/pid/stat), or
/// `None` if it is gone or a zombie.
pub fn alive_since(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Wait until process `pid` (started at `since`) is gone, or panic at the deadline.
pub async fn wait_gone(pid: u32, since: u64, deadline: Duration) {
    let until = tokio::time::Instant::now() + deadline;
    while alive_since(pid) == Some(since) {
        assert!(tokio::time::Instant::now() < until, "process {pid} still alive after {deadline:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Wait until `cond` holds, or panic at the deadline.
pub async fn wait_until(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let until = tokio::time::Instant::now() + deadline;
    while !cond() {
        assert!(tokio::time::Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn host_pid(host: &dyn Host, id: u32) -> u32 {
    match host.state(id) {
        crate::host::NodeState::Running { pid } | crate::host::NodeState::Paused { pid } => pid,
        other => panic!("node {id} is not alive: {other:?}"),
    }
}

/// The scheduler state letter of process `pid` (`R`, `S`, `T` for stopped, `Z`, ...).
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}
