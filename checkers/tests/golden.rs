//! The hand-written golden histories of every importer (`golden/expected.tsv`): each `-ok`
//! file is valid and each `-bad` file invalid under its model, with a counterexample that
//! points at an operation of the file. A file whose `reading` is `independent` is a
//! `jepsen.independent` history, checked with its tuples split.

use std::path::{Path, PathBuf};

use checkers::format::{load_path_detailed, split_independent, Format};
use checkers::{check, CheckOptions, ModelKind, Verdict};

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn golden_histories_get_their_verdicts() {
    let text = std::fs::read_to_string(golden().join("expected.tsv")).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, format, model, want, reading) = (cols[0], cols[1], cols[2], cols[3], cols[4]);
        let format: Format = format.parse().unwrap();
        let model: ModelKind = model.parse().unwrap();
        let want = match want {
            "valid" => Verdict::Valid,
            "invalid" => Verdict::Invalid,
            other => panic!("unexpected verdict {other:?}"),
        };
        let loaded = load_path_detailed(&golden().join(file), format).unwrap_or_else(|e| panic!("{e}"));
        let loaded = match reading {
            "as-written" => loaded,
            "independent" => {
                // Read as written, even the valid one is one register of tuples, and not
                // linearizable.
                let whole = check(&loaded.history, &CheckOptions::new(model)).unwrap();
                assert_eq!(whole.verdict, Verdict::Invalid, "{file} as written");
                split_independent(loaded, file).unwrap_or_else(|e| panic!("{e}"))
            }
            other => panic!("unexpected reading {other:?}"),
        };
        let report =
            check(&loaded.history, &CheckOptions::new(model)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(report.verdict, want, "{file}: {}", report.render_text());
        if want == Verdict::Invalid {
            let counterexample = report.counterexample.as_ref().expect("a counterexample");
            let op = &counterexample.failing_op;
            assert!(loaded.history.events().iter().any(|e| e.f == op.f), "{file}: {op:?}");
        }
        seen.insert(format);
    }
    let importers = [Format::Jsonl, Format::Edn, Format::JepsenLog, Format::PorcupineKv];
    assert_eq!(seen, importers.into_iter().collect(), "an ok and a bad history for every importer");
}
