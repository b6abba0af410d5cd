//! Speed and memory of the transactional checker at scale.
//!
//! Run with `cargo bench -p faultline-checkers --bench txn`. Generates list-append and
//! rw-register histories (`checkers::txn::gen`, clean, so every reachable cycle search
//! runs to the end) and checks them at strict serializability, printing per row: the
//! check's time (best of a few runs at 100,000 transactions, one run at 1,000,000), its
//! CPU time (user + system, from /proc/self/stat: the machine may be shared), the wall
//! time per transaction, the peak heap during the check above the history it reads, and
//! the history's own heap. The heap is measured by a counting global allocator (live bytes
//! and their high-water mark, reset before each check); the process's VmHWM (peak resident
//! set, from /proc/self/status) is printed at the end as a cross-check that includes
//! everything.
//!
//! The shapes: 1,000 keys active at once, each retiring after 32 appends for a fresh one
//! (Jepsen's list-append default), which keeps reads short so the input grows linearly;
//! and 100,000 transactions over 1,000 fixed keys, where each list grows to about 200
//! elements and every read carries on average half of that. A planted G-single at 100,000
//! shows the cost of finding and explaining a cycle in a large graph.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use checkers::txn::gen::{generate_txn, TxnGenOptions, TxnViolation};
use checkers::txn::{check_txn, AnomalyKind, TxnModel, TxnOptions};
use checkers::{History, Verdict};

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code, reason = "a counting GlobalAlloc must implement an unsafe trait")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc(layout);
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = System.realloc(ptr, layout, new_size);
        if !new.is_null() {
            if new_size > layout.size() {
                let grown = new_size - layout.size();
                let live = LIVE.fetch_add(grown, Ordering::Relaxed) + grown;
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

struct Row {
    name: &'static str,
    model: TxnModel,
    txns: usize,
    max_writes_per_key: usize,
    violate: Option<TxnViolation>,
    runs: usize,
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// The process's peak resident set, from the kernel's VmHWM line.
fn vm_hwm() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// CPU seconds this process has used (user + system), from /proc/self/stat; the machine
/// the figures come from is shared, so wall time alone overstates the cost.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<f64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0.0)).collect();
    // utime and stime are fields 14 and 15 of the line, in clock ticks (100 per second).
    (fields.get(11).copied().unwrap_or(0.0) + fields.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn main() {
    // `cargo bench` passes --bench; any other argument keeps the rows whose name holds it.
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let rows = [
        Row {
            name: "list-append 100k, 1000 keys x 32",
            model: TxnModel::ListAppend,
            txns: 100_000,
            max_writes_per_key: 32,
            violate: None,
            runs: 3,
        },
        Row {
            name: "list-append 1M, 1000 keys x 32",
            model: TxnModel::ListAppend,
            txns: 1_000_000,
            max_writes_per_key: 32,
            violate: None,
            runs: 1,
        },
        Row {
            name: "list-append 100k, 1000 fixed keys",
            model: TxnModel::ListAppend,
            txns: 100_000,
            max_writes_per_key: usize::MAX,
            violate: None,
            runs: 3,
        },
        Row {
            name: "list-append 100k + G-single",
            model: TxnModel::ListAppend,
            txns: 100_000,
            max_writes_per_key: 32,
            violate: Some(TxnViolation::GSingle),
            runs: 3,
        },
        Row {
            name: "rw-register 100k, 1000 keys x 32",
            model: TxnModel::RwRegister,
            txns: 100_000,
            max_writes_per_key: 32,
            violate: None,
            runs: 3,
        },
        Row {
            name: "rw-register 1M, 1000 keys x 32",
            model: TxnModel::RwRegister,
            txns: 1_000_000,
            max_writes_per_key: 32,
            violate: None,
            runs: 1,
        },
    ];
    println!(
        "{:<36} {:>9} {:>8} {:>10} {:>11} {:>12} {:>10}",
        "history (up to 4 ops/txn, c10, seed 1)",
        "check ms",
        "cpu ms",
        "us/txn",
        "check MiB",
        "history MiB",
        "gen ms"
    );
    for row in rows {
        if !filter.iter().all(|f| row.name.contains(f.as_str())) {
            continue;
        }
        let options = TxnGenOptions {
            txns: row.txns,
            keys: 1000,
            max_writes_per_key: row.max_writes_per_key,
            concurrency: 10,
            seed: 1,
            violate: row.violate,
            ..TxnGenOptions::new(row.model)
        };
        let started = Instant::now();
        let history = History::from_events(generate_txn(&options)).expect("generated history is valid");
        let generated = started.elapsed();
        let before = LIVE.load(Ordering::Relaxed);
        let mut best = Duration::MAX;
        let mut best_cpu = f64::MAX;
        let mut added = 0;
        for _ in 0..row.runs {
            PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
            let started = Instant::now();
            let cpu = cpu_seconds();
            let report = check_txn(&history, &TxnOptions::new(row.model)).expect("generated history checks");
            best = best.min(started.elapsed());
            best_cpu = best_cpu.min(cpu_seconds() - cpu);
            added = added.max(PEAK.load(Ordering::Relaxed) - before);
            match row.violate {
                None => assert_eq!(report.verdict, Verdict::Valid, "{}: {}", row.name, report.render_text()),
                Some(v) => {
                    assert_eq!(report.verdict, Verdict::Invalid, "{}", row.name);
                    assert_eq!(
                        report.anomaly_counts.keys().copied().collect::<Vec<AnomalyKind>>(),
                        vec![v.anomaly_kind()]
                    );
                }
            }
        }
        println!(
            "{:<36} {:>9.0} {:>8.0} {:>10.2} {:>11.0} {:>12.0} {:>10.0}",
            row.name,
            best.as_secs_f64() * 1000.0,
            best_cpu * 1000.0,
            best.as_secs_f64() * 1e6 / row.txns as f64,
            mib(added),
            mib(before),
            generated.as_secs_f64() * 1000.0
        );
        drop(history);
    }
    println!("process peak resident set (VmHWM): {}", vm_hwm());
}
