//! The queue analysis on hand-written Jepsen histories (`golden/queue/`) and on generated
//! ones read back from their files.

use std::path::{Path, PathBuf};

use checkers::format::{load_bytes, load_path_detailed, load_path_table, load_table, Format};
use checkers::queue::gen::{generate_queue, QueueGenOptions};
use checkers::queue::{check_queue, check_queue_table, QueueReport};
use checkers::Verdict;
use serde_json::json;

fn golden(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/queue").join(file)
}

/// The report of a golden file, the same whether it was loaded as events or as a table.
fn check_file(file: &str) -> QueueReport {
    let loaded = load_path_detailed(&golden(file), Format::Edn).unwrap_or_else(|e| panic!("{e}"));
    let report = check_queue(&loaded.history).unwrap_or_else(|e| panic!("{file}: {e}"));
    let table = load_path_table(&golden(file), Format::Edn).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(check_queue_table(&table.table).as_ref(), Ok(&report), "{file} as a table");
    report
}

#[test]
fn every_acknowledged_element_out_once_is_valid_and_an_unknown_enqueue_that_came_out_is_recovered() {
    let report = check_file("queue-ok.edn");
    assert_eq!(report.verdict, Verdict::Valid, "{}", report.summary());
    assert_eq!((report.attempted, report.acknowledged, report.dequeued), (4, 3, 4));
    assert_eq!(report.recovered.examples, vec![json!(3)]);
    assert_eq!((report.lost, report.missing.count, report.not_drained.count), (0, 0, 0));
}

#[test]
fn a_drain_without_an_acknowledged_element_loses_it_and_a_stranger_is_unexpected() {
    let report = check_file("queue-bad.edn");
    assert_eq!(report.verdict, Verdict::Invalid);
    assert_eq!(report.lost, 1);
    assert_eq!(report.missing.examples, vec![json!(5)]);
    assert_eq!(report.unexpected.examples, vec![json!(9)]);
    let text = report.render_text();
    assert!(text.contains("1 lost (1 missing)") && text.contains("unexpected: 1 (e.g. 9)"), "{text}");
}

#[test]
fn an_element_a_crashed_dequeue_may_have_taken_is_missing_not_lost() {
    let report = check_file("crashed-dequeue.edn");
    assert_eq!(report.verdict, Verdict::Valid, "{}", report.summary());
    assert_eq!((report.lost, report.missing.count, report.crashed_dequeues), (0, 1, 1));
    assert!(report.summary().contains("1 crashed dequeues"), "{}", report.summary());
}

#[test]
fn generated_histories_read_back_from_json_lines_keep_their_verdicts() {
    for seed in 0..12 {
        for violate in [false, true] {
            let options = QueueGenOptions { ops: 2000, keys: 4, concurrency: 10, seed, violate };
            let mut bytes = Vec::new();
            checkers::format::write_jsonl(&generate_queue(&options), &mut bytes).unwrap();
            let loaded = load_bytes(&bytes, "generated", Format::Auto).unwrap();
            let report = check_queue(&loaded.history).unwrap();
            let table = load_table(&bytes, "generated", Format::Auto).unwrap();
            assert_eq!(check_queue_table(&table.table).as_ref(), Ok(&report), "seed {seed} as a table");
            let want = if violate { Verdict::Invalid } else { Verdict::Valid };
            assert_eq!(report.verdict, want, "seed {seed}: {}", report.summary());
            // Crashed dequeues that took an element leave it missing, never lost.
            if !violate {
                assert!(report.missing.count <= report.crashed_dequeues, "seed {seed}: {}", report.summary());
            }
        }
    }
}
