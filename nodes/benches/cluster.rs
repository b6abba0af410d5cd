//! Throughput and latency of a 3-node cluster of each protocol on loopback.
//!
//! Real `faultline-node` processes (fsync always on), no fault proxy: each node reaches its
//! peers directly. For each protocol the leader (or primary, or coordinator) takes `PUT`s
//! from 1, 10 and 100 concurrent clients for a fixed time; the table reports acknowledged
//! writes per second and the p50/p99 latency of acknowledged writes.
//!
//! `cargo bench -p faultline-nodes --bench cluster [-- PROTOCOL...]`
//! Environment: `FAULTLINE_BENCH_SECS` (per cell, default 3).

use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_faultline-node");
const PROTOCOLS: [&str; 6] = ["pb-async", "pb-sync", "2pc", "raft", "paxos", "zab"];
const CONCURRENCY: [usize; 3] = [1, 10, 100];
const MEMBERS: [u32; 3] = [1, 2, 3];
const START_LIMIT: Duration = Duration::from_secs(20);

struct Cell {
    protocol: &'static str,
    clients: usize,
    acknowledged: usize,
    failed: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn main() {
    let wanted: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let seconds: u64 = std::env::var("FAULTLINE_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut cells = Vec::new();
    for protocol in PROTOCOLS {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == protocol) {
            continue;
        }
        match runtime.block_on(bench_protocol(protocol, Duration::from_secs(seconds))) {
            Ok(mut rows) => cells.append(&mut rows),
            Err(e) => eprintln!("{protocol}: skipped: {e:#}"),
        }
    }
    println!();
    println!("3-node cluster on loopback, fsync on, {seconds} s per cell, PUT to the leader");
    println!(
        "{:<10} {:>7} {:>10} {:>9} {:>9} {:>8}",
        "protocol", "clients", "writes/s", "p50 ms", "p99 ms", "errors"
    );
    for c in &cells {
        println!(
            "{:<10} {:>7} {:>10.0} {:>9.2} {:>9.2} {:>8}",
            c.protocol,
            c.clients,
            c.acknowledged as f64 / c.seconds,
            c.p50_ms,
            c.p99_ms,
            c.failed
        );
    }
}

/// A cluster of node processes, each killed by its own pid on drop.
struct Cluster {
    nodes: Vec<Child>,
    clients: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.start_kill();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_cluster(protocol: &str) -> anyhow::Result<Cluster> {
    let dir = tempfile::tempdir()?;
    let peer_ports: Vec<u16> = MEMBERS.iter().map(|_| free_port()).collect();
    let mut nodes = Vec::new();
    let mut clients = Vec::new();
    for (i, &id) in MEMBERS.iter().enumerate() {
        let mut command = Command::new(BIN);
        command
            .args(["--protocol", protocol, "--id", &id.to_string()])
            .args([
                "--peer-listen",
                &format!("127.0.0.1:{}", peer_ports[i]),
                "--client-listen",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(dir.path().join(id.to_string()))
            .args(["--log-level", "warn"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join(format!("{id}.log")))?)
            .kill_on_drop(true);
        for (j, &peer) in MEMBERS.iter().enumerate() {
            if peer != id {
                command.args(["--peer", &format!("{peer}=127.0.0.1:{}", peer_ports[j])]);
            }
        }
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        nodes.push(child);
        let mut line = String::new();
        use tokio::io::AsyncBufReadExt;
        let mut reader = tokio::io::BufReader::new(stdout);
        tokio::time::timeout(START_LIMIT, reader.read_line(&mut line)).await??;
        let ready: Value = serde_json::from_str(&line).map_err(|e| {
            let log = std::fs::read_to_string(dir.path().join(format!("{id}.log"))).unwrap_or_default();
            anyhow::anyhow!("node {id} did not start ({e}): {log}")
        })?;
        let addr = ready["ready"]["client_listen"].as_str().unwrap_or_default().to_string();
        clients.push(format!("http://{addr}"));
    }
    Ok(Cluster { nodes, clients, _dir: dir })
}

/// The base URL of the node that leads, once one does and a write through it succeeds.
async fn find_leader(cluster: &Cluster, http: &reqwest::Client) -> anyhow::Result<String> {
    let deadline = Instant::now() + START_LIMIT;
    while Instant::now() < deadline {
        for base in &cluster.clients {
            let Ok(answer) = http.get(format!("{base}/status")).send().await else { continue };
            let Ok(status) = answer.json::<Value>().await else { continue };
            let role = status["role"].as_str().unwrap_or("");
            if ["leader", "primary", "coordinator"].contains(&role) {
                let put = http.put(format!("{base}/kv/warmup")).json(&json!({"value": 0})).send().await;
                if put.map(|r| r.status().is_success()).unwrap_or(false) {
                    return Ok(base.clone());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("no node led within {START_LIMIT:?}")
}

async fn bench_protocol(protocol: &'static str, duration: Duration) -> anyhow::Result<Vec<Cell>> {
    let cluster = start_cluster(protocol).await?;
    let http =
        reqwest::Client::builder().timeout(Duration::from_secs(5)).pool_max_idle_per_host(200).build()?;
    let leader = Arc::new(find_leader(&cluster, &http).await?);
    let mut cells = Vec::new();
    for clients in CONCURRENCY {
        let started = Instant::now();
        let stop_at = started + duration;
        let mut tasks = tokio::task::JoinSet::new();
        for client in 0..clients {
            let (http, leader) = (http.clone(), leader.clone());
            tasks.spawn(async move {
                let mut latencies = Vec::new();
                let mut failed = 0usize;
                let mut n = 0i64;
                while Instant::now() < stop_at {
                    n += 1;
                    let url = format!("{leader}/kv/c{client}k{}", n % 16);
                    let t0 = Instant::now();
                    let put = http.put(url).json(&json!({"value": n})).send().await;
                    match put {
                        Ok(r) if r.status().is_success() => latencies.push(t0.elapsed()),
                        _ => failed += 1,
                    }
                }
                (latencies, failed)
            });
        }
        let mut latencies = Vec::new();
        let mut failed = 0;
        while let Some(done) = tasks.join_next().await {
            let (l, f) = done?;
            latencies.extend(l);
            failed += f;
        }
        let seconds = started.elapsed().as_secs_f64();
        latencies.sort_unstable();
        let quantile = |q: f64| {
            if latencies.is_empty() {
                return f64::NAN;
            }
            let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[i].as_secs_f64() * 1000.0
        };
        let cell = Cell {
            protocol,
            clients,
            acknowledged: latencies.len(),
            failed,
            seconds,
            p50_ms: quantile(0.50),
            p99_ms: quantile(0.99),
        };
        eprintln!(
            "{protocol} x{clients}: {:.0} writes/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            cell.acknowledged as f64 / seconds,
            cell.p50_ms,
            cell.p99_ms,
            failed
        );
        cells.push(cell);
    }
    drop(cluster);
    Ok(cells)
}
