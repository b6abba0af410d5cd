//! Speed of the linearizability checker against Porcupine's published figures, and at scale.
//!
//! Run with `cargo bench -p faultline-checkers`. Reads Porcupine's corpus in place
//! (checkers/testdata/porcupine), checks every history against its
//! expected verdict, and prints a table: our time (best of several runs, parsing
//! excluded: each file is loaded as the op table `faultline check` checks), Porcupine's
//! check time on the same 2-core machine kind, the speed-up. Then the hard shapes:
//! generated cas-register histories with many clients on few keys and crashed writes
//! (`faultline gen --ops 100000 --keys 10 --concurrency 50 --seed 2 --model
//! cas-register`, and 1,000,000 ops on 1000 keys at concurrency 100), against Porcupine's
//! check time on the same operations, with the time to load them from a JSON Lines file
//! beside it, as `faultline check` does, and the ratio of the two to the check alone;
//! then the same file loaded and checked by a fresh process (this bench run again, as
//! `faultline check` would be), whose whole time is compared with the check it reports;
//! and the same operations written as Jepsen op maps (EDN, one map to a line), loaded the
//! same two ways.
//! Last, generated 1,000,000-op histories checked from owned events, with time and peak
//! heap measured by a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use checkers::format::{
    load_bytes, load_path_table, load_path_table_independent, split_independent, write_jsonl, Format,
};
use checkers::{
    check, check_table, generate, CheckOptions, Event, GenOptions, History, ModelKind, OpTable, Process,
    Verdict,
};

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Whether allocations are counted: only where the peak heap is measured. Counting is two
/// atomic updates of one shared cache line per allocation, which slows a check that
/// allocates on two threads at once and would make its time depend on the bench's
/// instruments.
static COUNTING: AtomicBool = AtomicBool::new(false);

#[allow(unsafe_code, reason = "a counting GlobalAlloc must implement an unsafe trait")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc(layout);
        if !ptr.is_null() && COUNTING.load(Ordering::Relaxed) {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        if COUNTING.load(Ordering::Relaxed) {
            forget(layout.size());
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = System.realloc(ptr, layout, new_size);
        if !new.is_null() && COUNTING.load(Ordering::Relaxed) {
            if new_size > layout.size() {
                let live =
                    LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                forget(layout.size() - new_size);
            }
        }
        new
    }
}

/// Counts `size` bytes given back; one allocated before counting began counts as none.
fn forget(size: usize) {
    let _ = LIVE.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |live| Some(live.saturating_sub(size)));
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const RUNS: usize = 5;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/porcupine")
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
    histories: Vec<(String, OpTable, Verdict)>,
    options: CheckOptions,
    porcupine: Duration,
}

/// The median and the best time to check every history of the case, over at least RUNS
/// runs and at least `CASE_TIME` of them: a case that takes a fraction of a millisecond is
/// run hundreds of times, so that one unlucky moment on a busy machine is not its figure.
/// Panics on a wrong verdict.
fn time(case: &Case) -> (Duration, Duration) {
    let mut times = Vec::new();
    let began = Instant::now();
    while times.len() < RUNS || began.elapsed() < CASE_TIME {
        let started = Instant::now();
        for (file, table, want) in &case.histories {
            let report = check_table(table, &case.options).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(report.verdict, *want, "{file}: {}", report.reason);
        }
        times.push(started.elapsed());
    }
    times.sort_unstable();
    (times[times.len() / 2], times[0])
}

/// How long each Porcupine case is run for, at the least.
const CASE_TIME: Duration = Duration::from_millis(300);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Set to a history's path, the bench is a fresh process that loads and checks it as
/// `faultline check` does, prints the check's milliseconds and exits.
const CHILD: &str = "CHECK_BENCH_FRESH_PROCESS";

fn main() {
    if let Some(path) = std::env::var_os(CHILD) {
        fresh_process(Path::new(&path));
        return;
    }
    // `cargo bench` passes --bench; a filter argument is accepted and ignored.
    let rows = expected();
    let load = |file: &str| {
        load_path_table(&corpus().join(file), Format::Auto).unwrap_or_else(|e| panic!("{e}")).table
    };
    let pick = |prefix: &str| -> Vec<(String, OpTable, Verdict)> {
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
            // Porcupine at HEAD, side by side on the same machine; its test's own timing
            // (18 ms) includes more than the check.
            porcupine: Duration::from_micros(2800),
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
        "{:<34} {:>10} {:>8} {:>12} {:>9}  verdicts",
        "case", "median ms", "best ms", "porcupine ms", "speed-up"
    );
    for case in &cases {
        let (median, best) = time(case);
        println!(
            "{:<34} {:>10.2} {:>8.2} {:>12.1} {:>8.1}x  {} as expected",
            case.name,
            ms(median),
            ms(best),
            ms(case.porcupine),
            case.porcupine.as_secs_f64() / median.as_secs_f64(),
            case.histories.len()
        );
    }

    hard_shapes();
    drop(cases);

    // Scale: 1,000,000 ops over 1,000 keys at concurrency 100, its heap counted from here.
    COUNTING.store(true, Ordering::Relaxed);
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

/// Generated histories where the search, not the input size, is the cost: many clients on
/// few keys, with crashed writes (see ARCHITECTURE.md, "What the search costs"). Porcupine's
/// figures are its check time on the same operations (fail dropped, info returned at
/// infinity), measured once on the same machine kind.
fn hard_shapes() {
    let shapes = [
        ("100k ops, 10 keys, c50", 100_000, 10, 50, Duration::from_millis(300)),
        ("1M ops, 1000 keys, c100", 1_000_000, 1000, 100, Duration::from_millis(1020)),
    ];
    for (name, ops, keys, concurrency, porcupine) in shapes {
        let gen =
            GenOptions { ops, keys, concurrency, seed: 2, model: ModelKind::CasRegister, violate: false };
        let events = generate(&gen);
        let mut jsonl = Vec::new();
        write_jsonl(&events, &mut jsonl).expect("writing to memory");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("hard.jsonl");
        std::fs::write(&path, &jsonl).expect("writing the history");
        let options = CheckOptions::new(ModelKind::CasRegister);
        // The general loader (owned events), then the table loader `faultline check` uses.
        let started = Instant::now();
        let history = load_bytes(&jsonl, name, Format::Jsonl).expect("generated history loads").history;
        let parse_events = started.elapsed();
        let want = check(&history, &options).expect("generated history checks");
        drop(history);
        let mut best_load = Duration::MAX;
        let mut best = Duration::MAX;
        let mut best_whole = Duration::MAX;
        let mut states = 0;
        for _ in 0..RUNS {
            let started = Instant::now();
            let table = load_path_table(&path, Format::Auto).expect("generated history loads").table;
            let loaded = started.elapsed();
            let checking = Instant::now();
            let report = check_table(&table, &options).expect("generated history checks");
            best = best.min(checking.elapsed());
            best_whole = best_whole.min(started.elapsed());
            best_load = best_load.min(loaded);
            checkers::format::free_elsewhere(table, jsonl.len());
            assert_eq!(report.verdict, Verdict::Valid, "{name}: {}", report.reason);
            assert_eq!(report.stats.states_explored, want.stats.states_explored, "{name}: both loaders");
            states = report.stats.states_explored;
        }
        let (wall, its_check) = fresh_processes(&path);
        println!(
            "hard cas-register {name} (seed 2): check {:.1} ms (best of {RUNS}), porcupine {:.0} ms, {:.1}x; \
             {states} states; reading the {:.0} MB file into a table {:.0} ms (as events, from memory, {:.0} ms); \
             read + check {:.0} ms, {:.2}x the check; a fresh process {:.0} ms, {:.2}x the {:.0} ms check it \
             reports (medians of {FRESH})",
            ms(best),
            ms(porcupine),
            porcupine.as_secs_f64() / best.as_secs_f64(),
            jsonl.len() as f64 / 1e6,
            ms(best_load),
            ms(parse_events),
            ms(best_whole),
            best_whole.as_secs_f64() / best.as_secs_f64(),
            ms(wall),
            wall.as_secs_f64() / its_check.as_secs_f64(),
            ms(its_check),
        );
        drop(jsonl);
        edn_maps(name, &events, states);
    }
}

/// The hard shape `name` written as Jepsen op maps, one to a line (a `history.edn`): the
/// time to read it into a table straight, and as events the general way; a fresh process.
fn edn_maps(name: &str, events: &[Event], states: u64) {
    let text = op_maps(events, false);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("hard.edn");
    std::fs::write(&path, &text).expect("writing the history");
    let started = Instant::now();
    let history = load_bytes(text.as_bytes(), name, Format::Edn).expect("op maps load").history;
    let parse_events = started.elapsed();
    drop(history);
    let options = CheckOptions::new(ModelKind::CasRegister);
    let mut best_load = Duration::MAX;
    for _ in 0..RUNS {
        let started = Instant::now();
        let loaded = load_path_table(&path, Format::Auto).expect("op maps load");
        best_load = best_load.min(started.elapsed());
        assert_eq!(loaded.format, Format::PorcupineKv, "op maps with a :key are read as kv files are");
        let report = check_table(&loaded.table, &options).expect("op maps check");
        assert_eq!((report.verdict, report.stats.states_explored), (Verdict::Valid, states), "{name} as EDN");
        checkers::format::free_elsewhere(loaded.table, text.len());
    }
    let (wall, its_check) = fresh_processes(&path);
    println!(
        "  the same as EDN op maps ({:.0} MB): into a table {:.0} ms (as events, from memory, {:.0} ms); \
         a fresh process {:.0} ms, {:.2}x the {:.0} ms check it reports",
        text.len() as f64 / 1e6,
        ms(best_load),
        ms(parse_events),
        ms(wall),
        wall.as_secs_f64() / its_check.as_secs_f64(),
        ms(its_check),
    );
    drop(text);
    independent_maps(name, events, states);
}

/// The hard shape `name` written as `jepsen.independent` writes it (no `:key`, each value
/// `[key value]`): the time to read it into a table with its tuples split, straight, and
/// as events the general way then split.
fn independent_maps(name: &str, events: &[Event], states: u64) {
    let text = op_maps(events, true);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("independent.edn");
    std::fs::write(&path, &text).expect("writing the history");
    let started = Instant::now();
    let loaded = load_bytes(text.as_bytes(), name, Format::Edn).expect("op maps load");
    let split = split_independent(loaded, name).expect("tuples split");
    let general = started.elapsed();
    drop(split);
    let options = CheckOptions::new(ModelKind::CasRegister);
    let mut best_load = Duration::MAX;
    for _ in 0..RUNS {
        let started = Instant::now();
        let loaded = load_path_table_independent(&path, Format::Auto).expect("op maps load");
        best_load = best_load.min(started.elapsed());
        let report = check_table(&loaded.table, &options).expect("op maps check");
        let found = (report.verdict, report.stats.states_explored);
        assert_eq!(found, (Verdict::Valid, states), "{name} as jepsen.independent op maps");
        checkers::format::free_elsewhere(loaded.table, text.len());
    }
    println!(
        "  the same as jepsen.independent op maps ({:.0} MB): into a table, tuples split, {:.0} ms (as events \
         from memory, then split, {:.0} ms)",
        text.len() as f64 / 1e6,
        ms(best_load),
        ms(general),
    );
}

/// Events as Jepsen writes them: `{:type :invoke, :f :write, :key "k3", :value 5,
/// :process 7, :index 12}`, one to a line; values are `nil`, integers or pairs. With
/// `independent`, as `jepsen.independent` writes them: no `:key`, and `:value [3 5]`.
fn op_maps(events: &[Event], independent: bool) -> String {
    use std::fmt::Write;
    let edn = |value: &serde_json::Value| match value {
        serde_json::Value::Array(items) => {
            format!("[{}]", items.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" "))
        }
        serde_json::Value::Null => "nil".to_string(),
        other => other.to_string(),
    };
    let mut out = String::new();
    for (index, e) in events.iter().enumerate() {
        let kind = e.kind.as_str();
        let process = match e.process {
            Process::Client(p) => p.to_string(),
            Process::Nemesis => ":nemesis".to_string(),
        };
        let (key, value) = match (&e.key, independent) {
            (Some(k), true) => (String::new(), format!("[{} {}]", k.trim_start_matches('k'), edn(&e.value))),
            (key, _) => (key.as_ref().map(|k| format!(" :key {k:?},")).unwrap_or_default(), edn(&e.value)),
        };
        let _ = writeln!(
            out,
            "{{:type :{kind}, :f :{},{key} :value {value}, :process {process}, :index {index}}}",
            e.f,
        );
    }
    out
}

/// Fresh processes timed per hard shape.
const FRESH: usize = 11;

/// The median whole time of a fresh process that loads and checks `path`, from its start
/// to its end, and the median of the check times it reports.
fn fresh_processes(path: &Path) -> (Duration, Duration) {
    let me = std::env::current_exe().expect("the bench's own path");
    let mut walls = Vec::new();
    let mut checks = Vec::new();
    for _ in 0..FRESH {
        let started = Instant::now();
        let out = std::process::Command::new(&me).env(CHILD, path).output().expect("a fresh process runs");
        walls.push(started.elapsed());
        assert!(out.status.success(), "fresh process: {}", String::from_utf8_lossy(&out.stderr));
        let reported: f64 =
            String::from_utf8_lossy(&out.stdout).trim().parse().expect("a fresh process prints its check");
        checks.push(Duration::from_secs_f64(reported / 1000.0));
    }
    walls.sort();
    checks.sort();
    (walls[FRESH / 2], checks[FRESH / 2])
}

/// What `faultline check FILE --model cas-register` does with a history, and no more:
/// load it as a table, check it, give the table's memory back on a thread of its own,
/// print the check's own time.
fn fresh_process(path: &Path) {
    let table = load_path_table(path, Format::Auto).expect("generated history loads").table;
    let report =
        check_table(&table, &CheckOptions::new(ModelKind::CasRegister)).expect("generated history checks");
    assert_eq!(report.verdict, Verdict::Valid, "{}", report.reason);
    let size = table.len().saturating_mul(100);
    checkers::format::free_elsewhere(table, size);
    println!("{}", report.stats.elapsed_ms);
}
