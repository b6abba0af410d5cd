//! Every importer on real and hand-written files: Porcupine's corpus loads with the format
//! recognised, the golden histories load, and each malformed file in `golden/malformed`
//! fails with its expected line and message (`golden/errors.tsv`).

use std::path::{Path, PathBuf};

use checkers::format::{assert_loader_properties, detect, load_path_detailed, Format};
use checkers::{EventType, Process};

fn porcupine() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/porcupine")
}

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Rows of a tab-separated file with a header line.
fn rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(String::from).collect())
        .collect()
}

#[test]
fn every_porcupine_file_loads_as_its_format() {
    let rows = rows(&porcupine().join("expected.tsv"));
    assert_eq!(rows.len(), 108, "102 etcd logs and 6 kv files");
    for row in rows {
        let path = porcupine().join(&row[0]);
        let loaded = load_path_detailed(&path, Format::Auto).unwrap_or_else(|e| panic!("{e}"));
        let want = if row[0].starts_with("jepsen/") { Format::JepsenLog } else { Format::PorcupineKv };
        assert_eq!(loaded.format, want, "{}", row[0]);
        assert_eq!(loaded.format.default_model(), Some(row[1].as_str()), "{}", row[0]);
        // Every op line (and, in kv files, every line) becomes one event, none invented.
        let text = std::fs::read_to_string(&path).unwrap();
        let op_lines = if loaded.format == Format::JepsenLog {
            text.lines().filter(|l| l.contains("jepsen.util - ")).count()
        } else {
            text.lines().filter(|l| !l.trim().is_empty()).count()
        };
        assert_eq!(loaded.history.len(), op_lines, "{}", row[0]);
        assert!(op_lines > 1, "{}", row[0]);
    }
}

#[test]
fn porcupine_logs_keep_jepsen_semantics() {
    // etcd_000: process 2's write timed out (`:info`), reads that timed out are `fail`.
    let loaded = load_path_detailed(&porcupine().join("jepsen/etcd_000.log"), Format::Auto).unwrap();
    let events = loaded.history.events();
    let first = &events[0];
    assert_eq!(
        (first.process, first.kind, first.f.as_str()),
        (Process::Client(0), EventType::Invoke, "read")
    );
    assert_eq!(loaded.line_of(0), Some(1));
    let cas = events.iter().find(|e| e.f == "cas").unwrap();
    assert_eq!(cas.value, serde_json::json!([3, 0]));
    let timed_out = events.iter().find(|e| e.kind == EventType::Info).unwrap();
    assert_eq!(timed_out.error.as_deref(), Some("timed-out"));
    assert_eq!(timed_out.value, serde_json::Value::Null);
    // etcd_100 separates its fields with spaces instead of tabs.
    let spaced = load_path_detailed(&porcupine().join("jepsen/etcd_100.log"), Format::JepsenLog).unwrap();
    assert_eq!(spaced.history.events()[2].value, serde_json::json!([1, 2]));

    let kv = load_path_detailed(&porcupine().join("kv/c10-ok.txt"), Format::Auto).unwrap();
    let e = &kv.history.events()[0];
    assert_eq!((e.f.as_str(), e.key.as_deref()), ("append", Some("0")));
    assert_eq!(e.value, serde_json::json!("x 9 0 y"));
}

#[test]
fn golden_histories_load_as_their_format() {
    for row in rows(&golden().join("expected.tsv")) {
        let path = golden().join(&row[0]);
        let format: Format = row[1].parse().unwrap();
        let loaded = load_path_detailed(&path, Format::Auto).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.format, format, "{} detected as {}", row[0], loaded.format);
        let bytes = std::fs::read(&path).unwrap();
        assert_loader_properties(&bytes, Format::Auto);
        assert_loader_properties(&bytes, format);
    }
}

#[test]
fn golden_edn_reads_every_notation() {
    let loaded = load_path_detailed(&golden().join("edn/cas-register-ok.edn"), Format::Auto).unwrap();
    let events = loaded.history.events();
    assert_eq!(events.len(), 14);
    assert_eq!(events[2].process, Process::Nemesis);
    assert_eq!(events[2].value, serde_json::json!({"n1": ["n2", "n3"]}));
    assert_eq!(events[3].value, serde_json::json!([1, 2]));
    assert_eq!(events[10].error.as_deref(), Some("[:timeout 1000]"));
    assert_eq!(events[10].time, Some(7000));
    assert_eq!(loaded.line_of(10), Some(14), "the comment line is counted");
    let stream = load_path_detailed(&golden().join("edn/cas-register-bad.edn"), Format::Auto).unwrap();
    assert_eq!(stream.history.events()[2].value, serde_json::json!([-3, 4]));
    assert_eq!(stream.history.events()[1].kind, EventType::Ok, "records read as their map");
}

#[test]
fn malformed_files_fail_on_their_line() {
    for row in rows(&golden().join("errors.tsv")) {
        let path = golden().join("malformed").join(&row[0]);
        let format: Format = row[1].parse().unwrap();
        let err = load_path_detailed(&path, format).expect_err(&row[0]);
        let text = err.to_string();
        let want_prefix = format!("{}:{}: ", path.display(), row[2]);
        assert!(text.starts_with(&want_prefix), "{} ({format}): {text}", row[0]);
        assert!(text.contains(&row[3]), "{} ({format}): {text} lacks {:?}", row[0], row[3]);
        assert!(!text.contains('\n'));
        assert_loader_properties(&std::fs::read(&path).unwrap(), format);
    }
}

#[test]
fn detection_refuses_what_it_does_not_know() {
    assert_eq!(detect("time,process,op\n1,2,read\n"), None);
    assert_eq!(detect("INFO  jepsen.core - no ops here\n"), None);
}
