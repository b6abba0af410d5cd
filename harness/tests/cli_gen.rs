//! `faultline gen | faultline check -` round trips: at many seeds, for every model, a
//! generated history is valid without `--violate` and invalid with it; the same flags give
//! the same bytes; bad flags exit 254.

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
