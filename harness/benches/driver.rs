//! How many operations per second `faultline test` drives and records.
//!
//! Runs the built `faultline` against the cheapest protocol (pb-async: one message per
//! write, reads served by the primary) with no faults and no rate limit, and reads the
//! figures back from the run's `results.json`: operations recorded (every completed
//! operation, ok, fail or info) per second of workload, and acknowledged ones. The
//! harness, the three nodes and the proxy share the machine, so the figure is the whole
//! loop's: client, HTTP, node, replication through the proxy, recorder, disk.
//!
//!     cargo bench -p faultline --bench driver
//!
//! Environment: `FAULTLINE_BENCH_SECONDS` (default 10), `FAULTLINE_BENCH_CONCURRENCY`
//! (default 64).

use std::process::Command;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = env_or("FAULTLINE_BENCH_SECONDS", 10)?;
    let concurrency: u64 = env_or("FAULTLINE_BENCH_CONCURRENCY", 64)?;
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    let began = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--protocol", "pb-async", "--workload", "register", "--nemesis", "none"])
        .args(["--rate", "0", "--seed", "1", "--check-time-limit", "60"])
        .args(["--time-limit", &seconds.to_string(), "--concurrency", &concurrency.to_string()])
        .arg("--store")
        .arg(&store)
        .output()?;
    let wall = began.elapsed();
    // No faults, so the verdict is `unknown` by design (exit 2); anything else is a failure.
    if !matches!(output.status.code(), Some(0..=2)) {
        return Err(format!(
            "faultline failed: {:?}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let run = results::RunDir::open(&store.join("latest"))?;
    let results = run.read_results()?;
    let stats = results.stats().ok_or("no stats in results.json")?;
    let (ok, fail, info) = (stats.counts.ok, stats.counts.fail, stats.counts.info);
    let duration = stats.duration_s.ok_or("no duration in the stats")?;
    let events = run.read_history()?.events.len();
    println!("driver: pb-async, 3 nodes, register, concurrency {concurrency}, {seconds} s, no rate limit");
    println!("driver: {ok} ok / {fail} fail / {info} info over {duration:.2} s ({events} history events)");
    println!(
        "driver: {:.0} ops/s recorded, {:.0} ok ops/s; p50 {:.2} ms, p99 {:.2} ms; whole run {:.1} s",
        (ok + fail + info) as f64 / duration,
        ok as f64 / duration,
        stats.latency.map_or(f64::NAN, |l| l.p50_ms),
        stats.latency.map_or(f64::NAN, |l| l.p99_ms),
        wall.as_secs_f64()
    );
    Ok(())
}

fn env_or(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Ok(text) => text.parse().map_err(|_| format!("{name}={text:?} is not a number")),
        Err(_) => Ok(default),
    }
}
