//! Shared by the `serve_*` tests: a store of hand-made runs, a `faultline serve` child on
//! 127.0.0.1 port 0 (killed by pid on drop), and a raw HTTP/1.1 GET that sends the path
//! exactly as written (a client library would normalize away the `..` under test).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use checkers::{CheckName, Verdict};
use results::{CheckResult, RunDir, RunInfo, RunResults};

/// How long the server has to say where it listens.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// One run of `test` with the given protocol, nemesis and verdict, with its report. Its
/// spec is the one the default `faultline test` records (the workload an object with its
/// parameters), with the protocol and nemesis replaced.
pub fn make_run(
    store: &Path,
    test: &str,
    protocol: &str,
    nemesis: &str,
    verdict: Verdict,
    started: &str,
) -> RunDir {
    let run = RunDir::create(store, test).unwrap();
    run.write_run_info(&RunInfo {
        model: "cas-register".into(),
        test: test.into(),
        seed: 5,
        command: vec![],
        versions: BTreeMap::new(),
        spec: default_spec(protocol, nemesis),
        started: started.into(),
    })
    .unwrap();
    std::fs::write(run.history_path(), "").unwrap();
    let reasons = if verdict == Verdict::Valid { vec![] } else { vec![format!("{test} went wrong")] };
    run.write_results(&RunResults::new(
        verdict,
        reasons,
        BTreeMap::from([(CheckName::Stats, CheckResult { verdict, summary: "s".into(), details: None })]),
        String::new(),
    ))
    .unwrap();
    std::fs::write(run.node_log(1), format!("log of {test}\n")).unwrap();
    results::report::write_report(&run).unwrap();
    run
}

/// The spec `faultline test` records for its default run, with `protocol` and `nemesis`.
fn default_spec(protocol: &str, nemesis: &str) -> serde_json::Value {
    let mut spec = faultline::commands::test::Args::default_run().to_spec().unwrap().to_json();
    spec["protocol"] = protocol.into();
    spec["nemesis"] = nemesis.into();
    spec
}

/// Three runs: raft/partition valid (oldest), pb-async/kill invalid, paxos/pause unknown.
pub fn three_runs(store: &Path) {
    make_run(store, "raft-register", "raft", "partition", Verdict::Valid, "2026-11-26T10:00:00.000Z");
    make_run(store, "pb-async-register", "pb-async", "kill", Verdict::Invalid, "2026-11-26T11:00:00.000Z");
    make_run(
        store,
        "paxos-register",
        "paxos",
        "pause,partition",
        Verdict::Unknown,
        "2026-11-26T12:00:00.000Z",
    );
}

/// A running `faultline serve`.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Server {
    pub fn start(store: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["serve", "--port", "0", "--store"])
            .arg(store)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning faultline serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let Ok(line) = rx.recv_timeout(START_DEADLINE) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("faultline serve did not report its address within {START_DEADLINE:?}");
        };
        let port = line
            .trim()
            .strip_prefix("listening on http://127.0.0.1:")
            .and_then(|rest| rest.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from faultline serve: {line:?}"));
        Server { child, port }
    }

    /// `GET path` exactly as written; (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
