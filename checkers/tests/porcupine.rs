//! Porcupine's published corpus (checkers/testdata/porcupine, see its README): every history gets
//! the verdict its `expected.tsv` gives, loaded through the same importers `faultline
//! check` uses; the kv files c01 and c10 also checked as one map-valued object.

use std::path::{Path, PathBuf};

use checkers::format::{load_path_detailed, Format};
use checkers::{check, CheckOptions, ModelKind, Verdict};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/porcupine")
}

/// (file, model, expected verdict) from expected.tsv.
fn expected() -> Vec<(String, ModelKind, Verdict)> {
    let text = std::fs::read_to_string(corpus().join("expected.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let verdict = match cols[2] {
                "linearizable" => Verdict::Valid,
                "not" => Verdict::Invalid,
                other => panic!("unexpected verdict {other:?} in expected.tsv"),
            };
            (cols[0].to_string(), cols[1].parse().unwrap(), verdict)
        })
        .collect()
}

fn verdict(file: &str, model: ModelKind, partition: bool) -> Verdict {
    let loaded = load_path_detailed(&corpus().join(file), Format::Auto).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.format.default_model(), Some(model.as_str()), "{file}: default model");
    let options = CheckOptions { partition, ..CheckOptions::new(model) };
    let report = check(&loaded.history, &options).unwrap_or_else(|e| panic!("{file}: {e}"));
    if report.verdict == Verdict::Invalid {
        assert!(report.counterexample.is_some(), "{file}: invalid without a counterexample");
    }
    report.verdict
}

#[test]
fn every_etcd_log_gets_its_expected_verdict() {
    let mut checked = 0;
    for (file, model, want) in expected().into_iter().filter(|(f, ..)| f.starts_with("jepsen/")) {
        assert_eq!(verdict(&file, model, true), want, "{file}");
        checked += 1;
    }
    assert_eq!(checked, 102);
}

#[test]
fn every_kv_file_gets_its_expected_verdict_per_key() {
    let mut checked = 0;
    for (file, model, want) in expected().into_iter().filter(|(f, ..)| f.starts_with("kv/")) {
        assert_eq!(verdict(&file, model, true), want, "{file}");
        checked += 1;
    }
    assert_eq!(checked, 6);
}

#[test]
fn kv_c01_and_c10_get_their_verdict_as_one_object() {
    let rows = expected();
    for file in ["kv/c01-ok.txt", "kv/c01-bad.txt", "kv/c10-ok.txt", "kv/c10-bad.txt"] {
        let (_, model, want) = rows.iter().find(|(f, ..)| f == file).unwrap();
        assert_eq!(verdict(file, *model, false), *want, "{file} without partitioning");
    }
}

#[test]
fn kv_c50_bad_is_caught_on_one_thread_though_other_keys_search_without_end() {
    // Several keys of c50-bad are invalid and quick to refute, but the largest keys'
    // searches run far longer than any budget here. Searches take turns in slices, so one
    // thread reaches a quick violation; searching the largest key first to its end would
    // instead stop at the memory limit with `unknown`.
    let loaded = load_path_detailed(&corpus().join("kv/c50-bad.txt"), Format::Auto).unwrap();
    let options =
        CheckOptions { threads: 1, memory_limit_bytes: Some(256 << 20), ..CheckOptions::new(ModelKind::Kv) };
    let report = check(&loaded.history, &options).unwrap();
    assert_eq!(report.verdict, Verdict::Invalid, "{}", report.reason);
    assert_eq!(report.stats.partitions_checked, 1, "the rest were cancelled: {}", report.reason);
}
