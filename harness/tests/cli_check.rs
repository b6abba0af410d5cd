//! `faultline check` as a user runs it: the built binary on real, golden and broken files,
//! its exit codes (0 valid, 1 invalid, 2 unknown, 254 bad input), its one-line errors that
//! name FILE:LINE, `--json`, and stored run directories.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Run `faultline ARGS`; (exit code, stdout, stderr).
fn faultline(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("run faultline");
    let code = out.status.code().expect("exited, not killed by a signal");
    (code, String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn porcupine(file: &str) -> String {
    path_text(Path::new(env!("CARGO_MANIFEST_DIR")).join("../checkers/testdata/porcupine").join(file))
}

fn golden(file: &str) -> String {
    path_text(Path::new(env!("CARGO_MANIFEST_DIR")).join("../checkers/tests/golden").join(file))
}

fn path_text(path: PathBuf) -> String {
    path.to_str().unwrap().to_string()
}

#[test]
fn a_linearizable_history_exits_0() {
    let (code, out, err) = faultline(&["check", &porcupine("jepsen/etcd_002.log")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("etcd_002.log: valid (cas-register)"), "{out}");
}

#[test]
fn a_violation_exits_1_with_its_counterexample_and_line() {
    let file = porcupine("jepsen/etcd_000.log");
    let (code, out, err) = faultline(&["check", &file]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("invalid (cas-register)"), "{out}");
    assert!(out.contains("cannot linearize"), "{out}");
    assert!(out.contains("longest linearizable prefix"), "{out}");
    assert!(out.contains(&format!("invoked at {file}:85")), "{out}");
}

#[test]
fn an_exhausted_budget_exits_2() {
    let file = porcupine("kv/c50-ok.txt");
    let (code, out, err) = faultline(&["check", "--no-partition", "--time-limit", "0.000001", &file]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("unknown (kv)"), "{out}");
    let (code, out, _) = faultline(&["check", "--no-partition", "--memory-limit", "1", &file]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("memory limit"), "{out}");
}

#[test]
fn the_worst_verdict_over_several_files_decides_the_exit_code() {
    let ok = porcupine("jepsen/etcd_002.log");
    let bad = porcupine("jepsen/etcd_000.log");
    let (code, out, _) = faultline(&["check", &ok, &bad, "--model", "cas-register"]);
    assert_eq!(code, 1);
    assert!(out.contains("etcd_002.log: valid") && out.contains("etcd_000.log: invalid"), "{out}");
    // A violation found is reported as such even when another file is unreadable.
    let (code, _, err) = faultline(&["check", &bad, "/nonexistent/history.jsonl"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/history.jsonl: no such file"), "{err}");
    let (code, _, _) = faultline(&["check", &ok, "/nonexistent/history.jsonl"]);
    assert_eq!(code, 254);
}

/// Regression: `faultline check a b c | head -1` panicked ("failed printing to stdout")
/// once the reader had gone. Every file is still checked, and the exit code is theirs.
#[test]
fn a_reader_that_goes_away_ends_the_printing_not_the_check() {
    let (ok, bad) = (porcupine("jepsen/etcd_002.log"), porcupine("jepsen/etcd_000.log"));
    for (files, want) in [(vec![&ok, &ok, &ok], 0), (vec![&ok, &ok, &bad], 1)] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .arg("check")
            .args(&files)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before the first verdict is printed.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(want), "{err}");
        assert!(err.is_empty(), "nothing to say on stderr: {err}");
    }
    // Any other failure to write is said, once.
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["check", &ok, &bad])
        .stdout(full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("faultline: error: writing to standard output: "), "{err}");
}

#[test]
fn bad_input_is_one_line_naming_file_and_line_and_exits_254() {
    let cases = [
        ("malformed/truncated.jsonl", 2, "truncated JSON"),
        ("malformed/completion-without-invocation.edn", 3, "never invoked"),
        ("malformed/unbalanced.edn", 2, "unexpected `}`"),
        ("malformed/double-invocation.log", 2, "still in flight (see line 1)"),
        ("malformed/process-reused-after-info.txt", 3, "never reused) (see line 2)"),
        ("malformed/garbage.bin", 2, "not UTF-8"),
        ("malformed/mismatched-completion.jsonl", 2, "but invoked read on key \"a\""),
    ];
    for (file, line, message) in cases {
        let path = golden(file);
        let (code, out, err) = faultline(&["check", "--model", "register", &path]);
        assert_eq!(code, 254, "{file}: {out}{err}");
        assert_eq!(err.lines().count(), 1, "{file}: {err}");
        assert!(err.contains(&format!("{path}:{line}: ")), "{file}: {err}");
        assert!(err.contains(message), "{file}: {err}");
    }
}

#[test]
fn wrong_format_unknown_model_and_missing_model_exit_254() {
    // A JSON Lines file read as EDN fails on its first line.
    let jsonl = golden("jsonl/register-ok.jsonl");
    let (code, _, err) = faultline(&["check", "--format", "edn", "--model", "register", &jsonl]);
    assert_eq!(code, 254);
    assert!(err.contains(&format!("{jsonl}:1: ")), "{err}");
    // JSON Lines do not imply a model.
    let (code, _, err) = faultline(&["check", &jsonl]);
    assert_eq!(code, 254);
    assert!(err.contains("no model for a jsonl history: name one with --model"), "{err}");
    let (code, _, err) = faultline(&["check", &golden("edn/cas-register-ok.edn")]);
    assert_eq!(code, 254);
    assert!(err.contains("no model for an edn history"), "{err}");
    let (code, _, err) = faultline(&["check", "--model", "queue", &jsonl]);
    assert_eq!(code, 254);
    assert!(err.contains("unknown model"), "{err}");
    let (code, _, _) = faultline(&["check", "--format", "xml", &jsonl]);
    assert_eq!(code, 254);
    let (code, _, _) = faultline(&["check", "--time-limit", "-3", &jsonl]);
    assert_eq!(code, 254);
    let (code, _, _) = faultline(&["check"]);
    assert_eq!(code, 254, "no FILE");
    // A value the model cannot read is refused at the line of its op.
    let dir = tempfile::tempdir().unwrap();
    let bad_cas = dir.path().join("cas.jsonl");
    std::fs::write(
        &bad_cas,
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n\
         {\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n\
         {\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"value\":7}\n",
    )
    .unwrap();
    let (code, _, err) = faultline(&["check", "--model", "cas-register", bad_cas.to_str().unwrap()]);
    assert_eq!(code, 254, "{err}");
    assert!(err.contains(&format!("{}:3: ", bad_cas.display())), "{err}");
}

#[test]
fn json_output_is_one_document_with_every_file() {
    let bad = porcupine("kv/c01-bad.txt");
    let ok = porcupine("kv/c01-ok.txt");
    let (code, out, _) = faultline(&["check", "--json", &bad, &ok, "/nonexistent/h.jsonl"]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("stdout is one JSON document");
    assert_eq!(doc["verdict"], "invalid");
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[0]["verdict"], "invalid");
    assert_eq!(files[0]["format"], "kv");
    assert_eq!(files[0]["report"]["model"], "kv");
    assert!(files[0]["failing_line"].as_u64().unwrap() > 0);
    assert_eq!(files[0]["report"]["counterexample"]["failing_op"]["f"], "get");
    assert_eq!(files[1]["verdict"], "valid");
    assert_eq!(files[2]["verdict"], "unknown");
    assert!(files[2]["error"].as_str().unwrap().contains("no such file"));
}

#[test]
fn initial_value_changes_the_verdict() {
    // A first read of 5 is impossible from nil and fine from an initial 5.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h.jsonl");
    std::fs::write(
        &file,
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":5}\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    assert_eq!(faultline(&["check", "--model", "register", file]).0, 1);
    assert_eq!(faultline(&["check", "--model", "register", "--initial", "5", file]).0, 0);
}

#[test]
fn a_history_whose_every_op_failed_is_valid_and_says_nothing_took_effect() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h.jsonl");
    std::fs::write(
        &file,
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n\
         {\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"value\":2}\n\
         {\"process\":0,\"type\":\"fail\",\"f\":\"write\",\"value\":1}\n\
         {\"process\":1,\"type\":\"fail\",\"f\":\"write\",\"value\":2}\n",
    )
    .unwrap();
    let (code, out, err) = faultline(&["check", "--model", "register", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("valid (register): linearizable: nothing took effect (all 2 operations failed"),
        "{out}"
    );
}

#[test]
fn a_run_directory_is_checked_with_the_model_of_its_run_json() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(golden("jsonl/register-bad.jsonl"), dir.path().join("history.jsonl")).unwrap();
    let run = dir.path().to_str().unwrap();
    // No run.json: the model must be named.
    let (code, _, err) = faultline(&["check", run]);
    assert_eq!(code, 254);
    assert!(err.contains("run.json"), "{err}");
    std::fs::write(dir.path().join("run.json"), r#"{"model": "register", "seed": 7}"#).unwrap();
    let (code, out, err) = faultline(&["check", run]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("invalid (register)"), "{out}");
    assert!(out.contains("history.jsonl"), "{out}");
    // An unknown model is refused; --model overrides run.json.
    std::fs::write(dir.path().join("run.json"), r#"{"model": "queue"}"#).unwrap();
    let (code, _, err) = faultline(&["check", run]);
    assert_eq!(code, 254);
    assert!(err.contains("unknown model \"queue\""), "{err}");
    let (code, _, _) = faultline(&["check", "--model", "register", run]);
    assert_eq!(code, 1);
    // A `latest` symlink, as the store keeps one, works the same.
    let link = tempfile::tempdir().unwrap();
    let latest = link.path().join("latest");
    std::os::unix::fs::symlink(dir.path(), &latest).unwrap();
    std::fs::write(dir.path().join("run.json"), r#"{"model": "register"}"#).unwrap();
    assert_eq!(faultline(&["check", latest.to_str().unwrap()]).0, 1);
}

#[test]
fn porcupine_kv_checked_as_one_object_keeps_its_verdicts() {
    for (file, want) in
        [("kv/c01-ok.txt", 0), ("kv/c01-bad.txt", 1), ("kv/c10-ok.txt", 0), ("kv/c10-bad.txt", 1)]
    {
        let (code, out, err) = faultline(&["check", "--no-partition", &porcupine(file)]);
        assert_eq!(code, want, "{file}: {out}{err}");
    }
}

/// A stored bank run is re-checked by the bank checker with the accounts its run.json names:
/// money made from nothing is invalid, a conserving history valid.
#[test]
fn a_bank_run_directory_is_rechecked_by_the_bank_checker() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    std::fs::write(
        run.join("run.json"),
        r#"{"model":"bank","spec":{"workload":{"bank":{"accounts":["a0","a1"],"initial_balance":10}}}}"#,
    )
    .unwrap();
    let history = |second_read: &str| {
        format!(
            concat!(
                r#"{{"process":0,"type":"invoke","f":"read","value":null}}"#,
                "\n",
                r#"{{"process":0,"type":"ok","f":"read","value":{{"a0":10,"a1":10}}}}"#,
                "\n",
                r#"{{"process":0,"type":"invoke","f":"read","value":null}}"#,
                "\n",
                r#"{{"process":0,"type":"ok","f":"read","value":{}}}"#,
                "\n"
            ),
            second_read
        )
    };
    let target = path_text(run.to_path_buf());
    std::fs::write(run.join("history.jsonl"), history(r#"{"a0":5,"a1":15}"#)).unwrap();
    let (code, stdout, stderr) = faultline(&["check", &target]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("bank: 2 reads, 0 broke a rule"), "{stdout}");

    std::fs::write(run.join("history.jsonl"), history(r#"{"a0":5,"a1":25}"#)).unwrap();
    let (code, stdout, stderr) = faultline(&["check", &target]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("1 broke a rule"), "{stdout}");

    std::fs::write(run.join("run.json"), r#"{"model":"bank","spec":{}}"#).unwrap();
    let (code, _, stderr) = faultline(&["check", &target]);
    assert_eq!(code, 254);
    assert!(stderr.contains("spec.workload.bank"), "{stderr}");
}

fn elle(file: &str) -> String {
    path_text(Path::new(env!("CARGO_MANIFEST_DIR")).join("../checkers/testdata/elle").join(file))
}

#[test]
fn a_list_append_history_lists_anomalies_by_kind_then_explains_each() {
    let file = elle("list-append-g-single.edn");
    let (code, out, err) = faultline(&["check", "--model", "list-append", &file]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("invalid (list-append, strict-serializable)"), "{out}");
    let counts = out.find("    G-single           1").expect("a count line");
    let explained = out.find("G-single [T7 T6]: ").expect("an explanation");
    assert!(counts < explained, "{out}");
    assert!(out.contains("T7 read key 1 up to 2, without 3, which T6 appended next (rw)"), "{out}");

    // Read committed allows read skew: found, shown, and valid.
    let (code, out, _) =
        faultline(&["check", "--model", "list-append", "--consistency", "read-committed", &file]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("(allowed under read-committed)"), "{out}");

    let (code, out, _) = faultline(&["check", "--model", "list-append", "--json", &file]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let report: checkers::txn::TxnReport = serde_json::from_value(doc["files"][0]["report"].clone()).unwrap();
    assert_eq!(report.anomaly_counts[&checkers::txn::AnomalyKind::GSingle], 1);
    assert_eq!(doc["verdict"], "invalid");
}

#[test]
fn write_skew_in_json_lines_is_serializable_only_under_snapshot_isolation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skew.jsonl");
    std::fs::write(
        &path,
        r#"{"process":0,"type":"invoke","f":"txn","value":[["r","x",null],["append","y",1]]}
{"process":1,"type":"invoke","f":"txn","value":[["r","y",null],["append","x",1]]}
{"process":0,"type":"ok","f":"txn","value":[["r","x",[]],["append","y",1]]}
{"process":1,"type":"ok","f":"txn","value":[["r","y",[]],["append","x",1]]}
{"process":2,"type":"invoke","f":"txn","value":[["r","x",null],["r","y",null]]}
{"process":2,"type":"ok","f":"txn","value":[["r","x",[1]],["r","y",[1]]]}
"#,
    )
    .unwrap();
    let file = path_text(path);
    let check = |consistency: &str| {
        faultline(&["check", "--model", "list-append", "--consistency", consistency, &file])
    };
    let (code, out, _) = check("serializable");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("G2-item"), "{out}");
    let (code, out, _) = check("snapshot-isolation");
    assert_eq!(code, 0, "{out}");
    let (code, out, err) = faultline(&["check", "--model", "list-append", "--time-limit", "0.000001", &file]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("unknown (list-append"), "{out}");
}

#[test]
fn a_list_append_run_directory_is_held_to_the_consistency_it_ran_under() {
    let dir = tempfile::tempdir().unwrap();
    // Write skew: two transactions each read the key the other appends to, and miss it.
    std::fs::write(
        dir.path().join("history.jsonl"),
        r#"{"process":0,"type":"invoke","f":"txn","value":[["r","x",null],["append","y",1]]}
{"process":1,"type":"invoke","f":"txn","value":[["r","y",null],["append","x",1]]}
{"process":0,"type":"ok","f":"txn","value":[["r","x",[]],["append","y",1]]}
{"process":1,"type":"ok","f":"txn","value":[["r","y",[]],["append","x",1]]}
{"process":2,"type":"invoke","f":"txn","value":[["r","x",null],["r","y",null]]}
{"process":2,"type":"ok","f":"txn","value":[["r","x",[1]],["r","y",[1]]]}
"#,
    )
    .unwrap();
    let run_json = |consistency: &str| {
        let spec = format!(
            r#"{{"model":"list-append","spec":{{"workload":{{"list_append":{{"consistency":{consistency}}}}}}}}}"#
        );
        std::fs::write(dir.path().join("run.json"), spec).unwrap();
    };
    let run_dir = path_text(dir.path().to_path_buf());

    run_json("\"snapshot-isolation\"");
    let (code, out, err) = faultline(&["check", &run_dir]);
    assert_eq!(code, 0, "snapshot isolation allows write skew: {out}{err}");
    assert!(out.contains("snapshot-isolation"), "{out}");
    // --consistency overrides what the run stored.
    let (code, out, _) = faultline(&["check", "--consistency", "serializable", &run_dir]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("G2-item"), "{out}");

    // A run that does not say is held to strict serializability.
    run_json("null");
    let (code, out, _) = faultline(&["check", &run_dir]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("strict-serializable"), "{out}");

    run_json("\"linearizable\"");
    let (code, _, err) = faultline(&["check", &run_dir]);
    assert_eq!(code, 254, "{err}");
    assert!(err.contains("spec.workload.list_append.consistency"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn bad_transactional_input_and_misplaced_flags_exit_254_in_one_line() {
    let file = elle("list-append-g-single.edn");
    let (code, _, err) = faultline(&["check", "--model", "rw-register", &file]);
    assert_eq!(code, 254);
    assert!(err.contains("list-append-g-single.edn:8: micro-op 0"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, _, err) = faultline(&["check", "--model", "register", "--consistency", "serializable", &file]);
    assert_eq!(code, 254);
    assert!(err.contains("--consistency applies to list-append and rw-register"), "{err}");
    let (code, _, err) = faultline(&["check", "--model", "list-append", "--initial", "3", &file]);
    assert_eq!(code, 254);
    assert!(err.contains("--initial applies to linearizability models"), "{err}");
    let (code, _, err) =
        faultline(&["check", "--model", "list-append", "--consistency", "linearizable", &file]);
    assert_eq!(code, 254);
    assert!(err.contains("expected read-committed"), "{err}");
}

/// A JSON value written as EDN.
fn edn(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "nil".into(),
        serde_json::Value::Array(items) => {
            format!("[{}]", items.iter().map(edn).collect::<Vec<_>>().join(" "))
        }
        other => other.to_string(),
    }
}

/// A history from `faultline gen ARGS` written as `jepsen.independent` writes one: op maps
/// with no `:key`, each value a `[key value]` tuple whose key is an integer (`k3` is 3).
fn independent_history(dir: &Path, name: &str, gen: &[&str]) -> String {
    let (code, out, err) = faultline(&[&["gen"], gen].concat());
    assert_eq!(code, 0, "{err}");
    let mut text = String::new();
    for line in out.lines() {
        let mut event: serde_json::Value = serde_json::from_str(line).unwrap();
        let map = event.as_object_mut().unwrap();
        let key = map.remove("key").expect("a keyed history");
        let key: u64 = key.as_str().unwrap().trim_start_matches('k').parse().unwrap();
        let value = serde_json::json!([key, map["value"]]);
        text.push_str(&format!(
            "{{:type :{}, :f :{}, :value {}, :process {}, :index {}}}\n",
            map["type"].as_str().unwrap(),
            map["f"].as_str().unwrap(),
            edn(&value),
            map["process"],
            map["index"],
        ));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path_text(path)
}

#[test]
fn an_independent_history_is_checked_per_key_with_independent() {
    let dir = tempfile::tempdir().unwrap();
    let gen = ["--ops", "300", "--keys", "4", "--concurrency", "6", "--seed", "5"];
    let valid = independent_history(dir.path(), "valid.edn", &gen);
    // Read as written it is one register of tuples: invalid, with a note saying why.
    let (code, out, err) = faultline(&["check", "--model", "cas-register", &valid]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("note: no op names a key and every op's value is a pair"), "{out}");
    assert!(out.contains("--independent"), "{out}");
    let (code, out, err) = faultline(&["check", "--model", "cas-register", "--independent", &valid]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("valid (cas-register): linearizable: 216 ops in 4 independent objects"), "{out}");
    assert!(!out.contains("note:"), "{out}");
    // kv refuses ops with no key, and says the same.
    let (code, _, err) = faultline(&["check", "--model", "kv", &valid]);
    assert_eq!(code, 254, "{err}");
    assert!(err.contains("has no key (model kv); no op names a key"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // A planted violation is found on its key, also from standard input.
    let bad = independent_history(dir.path(), "bad.edn", &[&gen[..], &["--violate"]].concat());
    let (code, out, err) = faultline(&["check", "--model", "cas-register", "--independent", "--json", &bad]);
    assert_eq!(code, 1, "{out}{err}");
    let document: serde_json::Value = serde_json::from_str(&out).unwrap();
    let file = &document["files"][0];
    assert_eq!(file["verdict"], "invalid", "{out}");
    assert_eq!(file["hint"], serde_json::Value::Null, "{out}");
    let key = file["report"]["counterexample"]["key"].as_str().expect("the failing key").to_string();
    let (_, keyed, _) = faultline(&[&["gen"], &gen[..], &["--violate"]].concat());
    let keyed_file = dir.path().join("keyed.jsonl");
    std::fs::write(&keyed_file, keyed).unwrap();
    let (code, out, _) = faultline(&["check", "--model", "cas-register", "--json", &path_text(keyed_file)]);
    assert_eq!(code, 1);
    let document: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(document["files"][0]["report"]["counterexample"]["key"], format!("k{key}"));
    let stdin = std::fs::read(&bad).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["check", "--model", "cas-register", "--independent", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("<stdin>: invalid (cas-register)"));
}

#[test]
fn independent_refuses_a_history_without_tuples_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (_, keyed, _) = faultline(&["gen", "--ops", "50", "--keys", "3"]);
    let file = dir.path().join("keyed.jsonl");
    std::fs::write(&file, keyed).unwrap();
    let file = path_text(file);
    let (code, _, err) = faultline(&["check", "--model", "cas-register", "--independent", &file]);
    assert_eq!(code, 254, "{err}");
    assert!(
        err.contains("keyed.jsonl:1: --independent: the invocation's value `1` is not a [key value] tuple"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, _, err) = faultline(&["check", "--model", "list-append", "--independent", &file]);
    assert_eq!(code, 254);
    assert!(err.contains("--independent applies to linearizability models, not to list-append"), "{err}");
}

#[test]
fn a_jepsen_independent_history_names_its_failing_key_and_line() {
    let bad = golden("edn/independent-bad.edn");
    let (code, out, err) = faultline(&["check", "--model", "cas-register", "--independent", &bad]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("not linearizable on key \"2\": p2 read \"2\" -> 3"), "{out}");
    assert!(out.contains(&format!("invoked at {bad}:13")), "{out}");
    let ok = golden("edn/independent-ok.edn");
    let (code, out, err) = faultline(&["check", "--model", "cas-register", "--independent", &ok]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("linearizable: 7 ops in 2 independent objects"), "{out}");
}

#[test]
fn a_jepsen_store_directory_is_checked_by_its_history_edn() {
    let store = tempfile::tempdir().unwrap();
    std::fs::copy(golden("edn/independent-bad.edn"), store.path().join("history.edn")).unwrap();
    std::fs::write(store.path().join("results.edn"), "{:valid? false}\n").unwrap();
    let dir = path_text(store.path().to_path_buf());
    let (code, out, err) = faultline(&["check", "--model", "cas-register", "--independent", &dir]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains(&format!("invoked at {dir}/history.edn:13")), "{out}");
    let (code, _, err) = faultline(&["check", &dir]);
    assert_eq!(code, 254, "{err}");
    assert!(err.contains("a Jepsen store directory (history.edn, no run.json): name the model"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_counter_read_no_single_order_explains_is_found() {
    // Each read is within the bounds of the adds around it; together they are not
    // linearizable.
    let bad = golden("edn/counter-bad.edn");
    let (code, out, err) = faultline(&["check", "--model", "counter", &bad]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("invalid (counter): not linearizable: p3 read -> 2"), "{out}");
    assert!(out.contains(&format!("invoked at {bad}:7")), "{out}");
    let (code, out, err) = faultline(&["check", "--model", "counter", &golden("edn/counter-ok.edn")]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = faultline(&["check", "--model", "counter", &golden("edn/cas-register-ok.edn")]);
    assert_eq!(code, 254, "{err}");
    assert!(err.contains("the counter model has no operation \"write\" (expected add or read)"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_queue_history_is_judged_by_what_came_out_against_what_went_in() {
    let bad = golden("queue/queue-bad.edn");
    let (code, out, err) = faultline(&["check", "--model", "total-queue", &bad]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with(&format!("{bad}: invalid (total-queue)\n")), "{out}");
    assert!(out.contains("1 lost (1 missing), 1 unexpected"), "{out}");
    assert!(out.contains("missing: 1 (e.g. 5)") && out.contains("unexpected: 1 (e.g. 9)"), "{out}");

    // A dequeue that timed out may have taken the missing element: not a loss.
    let crashed = golden("queue/crashed-dequeue.edn");
    let (code, out, err) = faultline(&["check", "--model", "total-queue", "--json", &crashed]);
    assert_eq!(code, 0, "{out}{err}");
    let document: serde_json::Value = serde_json::from_str(&out).unwrap();
    let queue = &document["files"][0]["queue"];
    assert_eq!(document["verdict"], "valid");
    assert_eq!((queue["lost"].as_u64(), queue["missing"]["count"].as_u64()), (Some(0), Some(1)));
    assert_eq!(queue["crashed_dequeues"], 1);
}

#[test]
fn a_queue_check_refuses_other_ops_and_misplaced_flags_in_one_line() {
    let register = golden("edn/cas-register-ok.edn");
    let (code, _, err) = faultline(&["check", "--model", "total-queue", &register]);
    assert_eq!(code, 254, "{err}");
    assert!(err.contains(&format!("{register}:")), "{err}");
    assert!(
        err.contains("is not a queue operation (enqueue, dequeue or drain) (model total-queue)"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let ok = golden("queue/queue-ok.edn");
    for flag in [&["--initial", "3"][..], &["--time-limit", "1"], &["--no-partition"]] {
        let mut args = vec!["check", "--model", "total-queue"];
        args.extend_from_slice(flag);
        args.push(&ok);
        let (code, _, err) = faultline(&args);
        assert_eq!(code, 254, "{flag:?}: {err}");
        assert!(err.contains(&format!("{} does not apply to total-queue", flag[0])), "{err}");
    }
}

#[test]
fn a_jepsen_independent_queue_history_is_split_per_queue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.edn");
    // Queue 1 loses 5; queue 2 returns all it took in.
    std::fs::write(
        &path,
        "{:type :invoke, :f :enqueue, :value [1 5], :process 0}\n\
         {:type :ok, :f :enqueue, :value [1 5], :process 0}\n\
         {:type :invoke, :f :enqueue, :value [2 5], :process 1}\n\
         {:type :ok, :f :enqueue, :value [2 5], :process 1}\n\
         {:type :invoke, :f :drain, :value [1 nil], :process 2}\n\
         {:type :ok, :f :drain, :value [1 []], :process 2}\n\
         {:type :invoke, :f :drain, :value [2 nil], :process 3}\n\
         {:type :ok, :f :drain, :value [2 [5]], :process 3}\n",
    )
    .unwrap();
    let path = path_text(path);
    let (code, out, err) = faultline(&["check", "--model", "total-queue", "--independent", &path]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains(r#"missing: 1 (e.g. {"element":5,"key":"1"})"#), "{out}");
    // Read as written, each op's value is a pair: nothing matches.
    let (code, out, err) = faultline(&["check", "--model", "total-queue", &path]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("unexpected"), "{out}");
}
