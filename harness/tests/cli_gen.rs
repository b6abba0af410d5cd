//! `faultline gen | faultline check -` round trips: at many seeds, for every model, a
//! generated history is valid without `--violate` and invalid with it; the same flags give
//! the same bytes; bad flags exit 254. Transactional histories (`--model list-append`,
//! `rw-register`) are loaded from the command's output and checked with `check_txn`: valid
//! without `--violate`, and with `--violate KIND` invalid with KIND named.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_faultline");

/// `faultline gen ARGS`: (exit code, stdout).
fn gen(args: &[&str]) -> (i32, Vec<u8>) {
    let out = Command::new(BIN).arg("gen").args(args).output().expect("run faultline gen");
    (out.status.code().expect("exited"), out.stdout)
}

/// `faultline check ARGS -` with `input` on stdin: (exit code, stdout + stderr).
fn check_stdin(args: &[&str], input: &[u8]) -> (i32, String) {
    let mut child = Command::new(BIN)
        .arg("check")
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run faultline check");
    let mut stdin = child.stdin.take().unwrap();
    let writer = {
        let input = input.to_vec();
        std::thread::spawn(move || stdin.write_all(&input))
    };
    let out = child.wait_with_output().expect("wait for faultline check");
    writer.join().unwrap().expect("feed stdin");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().expect("exited"), text)
}

/// Every model at `seeds` seeds, with shapes that vary by seed.
fn round_trips(model: &str, seeds: std::ops::Range<u64>) {
    for seed in seeds {
        let keys = (1 + seed % 4).to_string();
        let concurrency = (2 + seed % 5).to_string();
        let seed_text = seed.to_string();
        let base = [
            "--ops",
            "150",
            "--keys",
            &keys,
            "--concurrency",
            &concurrency,
            "--seed",
            &seed_text,
            "--model",
            model,
        ];
        let repro = format!("faultline gen {}", base.join(" "));
        let (code, history) = gen(&base);
        assert_eq!(code, 0, "{repro}");
        let (code, out) = check_stdin(&["--model", model], &history);
        assert_eq!(code, 0, "{repro} | faultline check --model {model} -: {out}");

        let mut violating = base.to_vec();
        violating.push("--violate");
        let (code, history) = gen(&violating);
        assert_eq!(code, 0, "{repro} --violate");
        let (code, out) = check_stdin(&["--model", model], &history);
        assert_eq!(code, 1, "{repro} --violate | faultline check --model {model} -: {out}");
    }
}

#[test]
fn register_round_trips() {
    round_trips("register", 0..40);
}

#[test]
fn cas_register_round_trips() {
    round_trips("cas-register", 0..40);
}

#[test]
fn kv_round_trips() {
    round_trips("kv", 0..40);
}

#[test]
fn set_round_trips() {
    round_trips("set", 0..40);
}

#[test]
fn mutex_round_trips() {
    round_trips("mutex", 0..40);
}

#[test]
fn counter_round_trips() {
    round_trips("counter", 0..40);
}

#[test]
fn total_queue_round_trips() {
    round_trips("total-queue", 0..40);
}

#[test]
fn the_same_flags_give_the_same_bytes() {
    let args = ["--ops", "300", "--keys", "3", "--concurrency", "4", "--seed", "42", "--model", "kv"];
    let (_, a) = gen(&args);
    let (_, b) = gen(&args);
    assert!(!a.is_empty());
    assert_eq!(a, b);
    let (_, c) = gen(&["--ops", "300", "--keys", "3", "--concurrency", "4", "--seed", "43", "--model", "kv"]);
    assert_ne!(a, c, "another seed, another history");
    // Every line is one event of the native format.
    let text = String::from_utf8(a).unwrap();
    for line in text.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(event.get("type").is_some() && event.get("process").is_some(), "{line}");
    }
}

#[test]
fn bad_flags_exit_254() {
    assert_eq!(gen(&["--ops", "0"]).0, 254);
    assert_eq!(gen(&["--keys", "0"]).0, 254);
    assert_eq!(gen(&["--concurrency", "x"]).0, 254);
    assert_eq!(gen(&["--model", "queue"]).0, 254);
    assert_eq!(gen(&["--model", "total-queue", "--violate", "lost"]).0, 254);
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    let mut child = Command::new(BIN)
        .args(["gen", "--ops", "200000", "--keys", "10", "--concurrency", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `faultline gen` output for a transactional model, loaded and checked at strict
/// serializability.
fn check_txn_output(model: &str, bytes: &[u8], repro: &str) -> checkers::txn::TxnReport {
    use checkers::format::{load_bytes, Format};
    use checkers::txn::{check_txn, TxnOptions};
    let history =
        load_bytes(bytes, "stdout", Format::Jsonl).unwrap_or_else(|e| panic!("{repro}: {e}")).history;
    check_txn(&history, &TxnOptions::new(model.parse().unwrap())).unwrap_or_else(|e| panic!("{repro}: {e}"))
}

#[test]
fn transactional_models_round_trip_with_every_plant() {
    use checkers::txn::gen::TxnViolation;
    use checkers::Verdict;
    for model in ["list-append", "rw-register"] {
        for seed in 0..4u64 {
            let seed_text = seed.to_string();
            let base = [
                "--model",
                model,
                "--txns",
                "120",
                "--keys",
                "3",
                "--concurrency",
                "4",
                "--seed",
                &seed_text,
            ];
            let repro = format!("faultline gen {}", base.join(" "));
            let (code, bytes) = gen(&base);
            assert_eq!(code, 0, "{repro}");
            let report = check_txn_output(model, &bytes, &repro);
            assert_eq!(report.verdict, Verdict::Valid, "{repro}\n{}", report.render_text());
            for kind in TxnViolation::ALL.into_iter().filter(|k| k.applies_to(model.parse().unwrap())) {
                let mut args = base.to_vec();
                args.extend(["--violate", kind.as_str()]);
                let repro = format!("faultline gen {}", args.join(" "));
                let (code, bytes) = gen(&args);
                assert_eq!(code, 0, "{repro}");
                let report = check_txn_output(model, &bytes, &repro);
                assert_eq!(report.verdict, Verdict::Invalid, "{repro}");
                assert!(
                    report.anomaly_counts.contains_key(&kind.anomaly_kind()),
                    "{repro}: {:?}",
                    report.anomaly_counts
                );
            }
        }
    }
}

#[test]
fn transactional_flags_give_the_same_bytes_and_bad_kinds_exit_254() {
    let args = ["--model", "list-append", "--ops", "200", "--seed", "5", "--violate", "G1c"];
    let (code, a) = gen(&args);
    assert_eq!(code, 0);
    assert_eq!(gen(&args).1, a);
    let text = String::from_utf8(a).unwrap();
    assert!(text.lines().all(|l| l.contains(r#""f":"txn""#)), "every event is a transaction");

    for bad in [
        &["--model", "list-append", "--violate"][..],
        &["--model", "list-append", "--violate", "G3"],
        &["--model", "rw-register", "--violate", "duplicate-appends"],
        &["--model", "rw-register", "--violate", "incompatible-order"],
        &["--model", "kv", "--violate", "G0"],
    ] {
        let out = Command::new(BIN).arg("gen").args(bad).output().expect("run faultline gen");
        assert_eq!(out.status.code(), Some(254), "faultline gen {}", bad.join(" "));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(out.stdout.is_empty(), "faultline gen {}", bad.join(" "));
    }
}

#[test]
fn transactional_histories_pipe_into_check() {
    for model in ["list-append", "rw-register"] {
        for seed in 0..3u64 {
            let seed_text = seed.to_string();
            let base = [
                "--model",
                model,
                "--txns",
                "200",
                "--keys",
                "4",
                "--concurrency",
                "6",
                "--seed",
                &seed_text,
            ];
            let repro = format!("faultline gen {}", base.join(" "));
            let (code, history) = gen(&base);
            assert_eq!(code, 0, "{repro}");
            let (code, out) = check_stdin(&["--model", model], &history);
            assert_eq!(code, 0, "{repro} | faultline check --model {model} -: {out}");
            for kind in ["G1c", "G-single", "G2-item"] {
                let mut args = base.to_vec();
                args.extend(["--violate", kind]);
                let (code, history) = gen(&args);
                assert_eq!(code, 0, "{repro} --violate {kind}");
                let (code, out) = check_stdin(&["--model", model], &history);
                assert_eq!(code, 1, "{repro} --violate {kind} | faultline check --model {model} -: {out}");
                assert!(out.contains(kind), "{repro} --violate {kind}: the verdict names it: {out}");
            }
        }
    }
}
