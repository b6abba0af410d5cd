//! Speed of the linearizability checker against Porcupine's published figures, and at scale.
//!
//! Run with `cargo bench -p faultline-checkers`. Reads Porcupine's corpus in place
//! (../shared/data/porcupine beside the workspace), checks every history against its
//! expected verdict, and prints a table: our time (best of several runs, parsing
//! excluded), Porcupine's time on the same 2-core machine kind, the speed-up. Then checks
//! a generated 1,000,000-op history and reports time and peak heap, measured by a
//! counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use checkers::format::{load_path, Format};
use checkers::{check, generate, CheckOptions, GenOptions, History, ModelKind, Verdict};

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
                let live =
                    LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
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

const RUNS: usize = 5;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/porcupine")
}

fn expected() -> Vec<(String, ModelKind, Verdict)> {
    let text =
        std::fs::read_to_string(corpus().join("expected.tsv")).expect("expected.tsv beside the corpus");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let verdict = if cols[2] == "linearizable" { Verdict::Valid } else { Verdict::Invalid };
            (cols[0].to_string(), cols[1].parse().expect("model name"), verdict)
        })
        .collect()
}

struct Case {
    name: &'static str,
    histories: Vec<(String, History, Verdict)>,
    options: CheckOptions,
    porcupine: Duration,
}

/// Best-of-RUNS time to check every history of the case; panics on a wrong verdict.
fn time(case: &Case) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        let started = Instant::now();
        for (file, history, want) in &case.histories {
            let report = check(history, &case.options).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(report.verdict, *want, "{file}: {}", report.reason);
        }
        best = best.min(started.elapsed());
    }
    best
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is accepted and ignored.
    let rows = expected();
    let load = |file: &str| load_path(&corpus().join(file), Format::Auto).unwrap_or_else(|e| panic!("{e}"));
    let pick = |prefix: &str| -> Vec<(String, History, Verdict)> {
        rows.iter()
            .filter(|(f, ..)| f.starts_with(prefix))
            .map(|(f, _, v)| (f.clone(), load(f), *v))
            .collect()
    };
    let no_partition = CheckOptions { partition: false, ..CheckOptions::new(ModelKind::Kv) };
    let cases = [
        Case {
            name: "etcd: all 102 logs (cas-register)",
            histories: pick("jepsen/"),
            options: CheckOptions::new(ModelKind::CasRegister),
            porcupine: Duration::from_millis(494),
        },
        Case {
            name: "kv c50-ok, per key",
            histories: pick("kv/c50-ok"),
            options: CheckOptions::new(ModelKind::Kv),
            porcupine: Duration::from_millis(179),
        },
        Case {
            name: "kv c50-bad, per key",
            histories: pick("kv/c50-bad"),
            options: CheckOptions::new(ModelKind::Kv),
            porcupine: Duration::from_millis(18),
        },
        Case {
            name: "kv c10-ok, no partitioning",
            histories: pick("kv/c10-ok"),
            options: no_partition.clone(),
            porcupine: Duration::from_millis(2240),
        },
        Case {
            name: "kv c10-bad, no partitioning",
            histories: pick("kv/c10-bad"),
            options: no_partition,
            porcupine: Duration::from_millis(2430),
        },
    ];
    assert_eq!(cases[0].histories.len(), 102, "all etcd logs found");

    println!(
        "{:<34} {:>9} {:>12} {:>9}  verdicts",
        "case (best of 5)", "ours ms", "porcupine ms", "speed-up"
    );
    for case in &cases {
        let ours = time(case);
        println!(
            "{:<34} {:>9.2} {:>12.0} {:>8.1}x  {} as expected",
            case.name,
            ms(ours),
            ms(case.porcupine),
            case.porcupine.as_secs_f64() / ours.as_secs_f64(),
            case.histories.len()
        );
    }

    // Scale: 1,000,000 ops over 1,000 keys at concurrency 100.
    for model in [ModelKind::Register, ModelKind::Kv] {
        let gen = GenOptions { ops: 1_000_000, keys: 1000, concurrency: 100, seed: 1, model, violate: false };
        let started = Instant::now();
        let history = History::from_events(generate(&gen)).expect("generated history is valid");
        let generated = started.elapsed();
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let started = Instant::now();
        let report = check(&history, &CheckOptions::new(model)).expect("generated history checks");
        let took = started.elapsed();
        let peak = PEAK.load(Ordering::Relaxed);
        assert_eq!(report.verdict, Verdict::Valid, "{}", report.reason);
        println!(
            "scale {model}: 1,000,000 ops, 1000 keys, concurrency 100 (seed 1): check {:.0} ms, peak heap {:.0} MiB \
             (history itself {:.0} MiB, check added {:.0} MiB), {} states; generated in {:.0} ms",
            ms(took),
            peak as f64 / (1 << 20) as f64,
            before as f64 / (1 << 20) as f64,
            (peak - before) as f64 / (1 << 20) as f64,
            report.stats.states_explored,
            ms(generated)
        );
    }
}
