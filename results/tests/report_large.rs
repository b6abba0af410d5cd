//! A run of 100,000 operations gives a report of bounded size: the timeline aggregates per
//! pixel column instead of drawing a bar per op, and the plots are aggregated too.

use std::collections::BTreeMap;

use checkers::{CheckName, Event, EventType, Process, Verdict};
use rand::{Rng, SeedableRng};
use results::report::{write_report, ReportInput};
use results::{CheckResult, RunDir, RunInfo, RunResults};
use serde_json::json;

const OPS: u64 = 100_000;
const SEED: u64 = 7;

#[test]
fn a_hundred_thousand_ops_give_a_report_of_a_few_hundred_kilobytes() {
    let store = tempfile::tempdir().unwrap();
    let run = RunDir::create(store.path(), "big").unwrap();
    run.write_run_info(&RunInfo {
        model: "cas-register".into(),
        test: "big".into(),
        seed: SEED,
        command: vec![],
        versions: BTreeMap::new(),
        spec: json!({}),
        started: "2026-11-26T12:00:00.000Z".into(),
    })
    .unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(SEED);
    let mut writer = run.history_writer().unwrap();
    // Ten workers, each op 1-50 ms; a worker whose op ends `info` gets a new process, as
    // the clients do, so there are thousands of processes.
    let mut next_process = 10u64;
    let mut process: Vec<u64> = (0..10).collect();
    let mut clock: Vec<u64> = vec![0; 10];
    let mut events: Vec<Event> = Vec::with_capacity(OPS as usize * 2);
    for i in 0..OPS {
        let w = (i % 10) as usize;
        let start = clock[w] + rng.gen_range(0..2_000_000);
        let end = start + rng.gen_range(1_000_000..50_000_000);
        clock[w] = end;
        let roll = rng.gen_range(0..100);
        let kind = if roll < 90 {
            EventType::Ok
        } else if roll < 97 {
            EventType::Fail
        } else {
            EventType::Info
        };
        let p = process[w];
        let make = |kind, time| Event {
            index: 0,
            time: Some(time),
            process: Process::Client(p),
            kind,
            f: "write".into(),
            key: Some(format!("r{}", i % 7)),
            value: json!(i),
            error: None,
            node: None,
        };
        events.push(make(EventType::Invoke, start));
        events.push(make(kind, end));
        if kind == EventType::Info {
            process[w] = next_process;
            next_process += 1;
        }
    }
    events.sort_by_key(|e| e.time);
    for e in &events {
        writer.append(e).unwrap();
    }
    writer.sync().unwrap();
    let end_s = events.last().unwrap().time.unwrap() as f64 / 1e9;
    let stats = json!({"check": "stats", "verdict": "valid", "reasons": [],
    "counts": {"ok": 0, "fail": 0, "info": 0}, "by_function": {}, "latency": null,
    "throughput_ok_per_s": null, "duration_s": null, "availability": null,
    "availability_without_faults": null, "messages": null, "messages_per_ok_op": null,
    "faults": [
        {"fault": "kill", "start_s": end_s * 0.2, "end_s": end_s * 0.3, "took_effect": true,
         "counts": {"ok": 0, "fail": 0, "info": 0}, "availability": null},
        {"fault": "partition", "start_s": end_s * 0.6, "end_s": null, "took_effect": true,
         "counts": {"ok": 0, "fail": 0, "info": 0}, "availability": null}
    ]});
    let checks = BTreeMap::from([(
        CheckName::Stats,
        CheckResult {
            verdict: Verdict::Valid,
            summary: String::new(),
            details: Some(serde_json::from_value(stats).unwrap()),
        },
    )]);
    run.write_results(&RunResults::new(Verdict::Valid, vec![], checks, String::new())).unwrap();

    let input = ReportInput::load(&run).unwrap();
    assert_eq!(input.events.len(), OPS as usize * 2);
    let path = write_report(&run).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    eprintln!("report.html of {OPS} ops: {size} bytes");
    assert!(size < 3_000_000, "report.html is {size} bytes for {OPS} ops (seed {SEED})");
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.contains("100000 operations: aggregated per pixel column"));
    assert!(html.matches("<rect").count() < 60_000, "bounded number of drawn bars");
    assert!(html.contains("lane 0"), "thousands of processes are packed into lanes");
    assert_eq!(html.matches("class=\"fault\"").count(), 6, "two windows on three drawings");
}
