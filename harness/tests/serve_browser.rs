//! `faultline serve` in a real headless browser (Debian's `chromium`): the page a person
//! opens lists the store's runs with every column filled, and a run's report renders its
//! sections.
//!
//! Chromium is a requirement of the test suite (`.ci/run` installs it): without it this
//! test fails and says so, rather than passing without having looked.

mod serve_support;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serve_support::{three_runs, Server};

/// How long chromium has to load and dump a page.
const BROWSER_DEADLINE: Duration = Duration::from_secs(90);

fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chromium is not installed: this test drives `faultline serve` in a real headless browser. \
                 Install it with `apt-get install -y chromium` (as .ci/run does)"
            )
        })
}

/// The DOM of `url` after chromium loaded it.
fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        let _ = stdout.read_to_string(&mut dom);
        dom
    });
    let deadline = Instant::now() + BROWSER_DEADLINE;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not dump {url} within {BROWSER_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

#[test]
fn chromium_sees_the_runs_listed_and_a_report_rendered() {
    let store = tempfile::tempdir().unwrap();
    three_runs(store.path());
    let server = Server::start(store.path());
    let dom = dump_dom(&format!("http://127.0.0.1:{}/", server.port));
    assert!(dom.contains("3 of 3 runs"), "{dom}");
    for test in ["raft-register", "pb-async-register", "paxos-register"] {
        assert!(dom.contains(&format!("<td>{test}</td>")), "{test} not listed: {dom}");
    }
    assert_eq!(dom.matches("class=\"run\"").count(), 3);
    // Every column shows what the run recorded: the workload too, which the default run
    // records as an object with its parameters.
    for (protocol, nemesis) in [("raft", "partition"), ("pb-async", "kill"), ("paxos", "pause,partition")] {
        let row = format!("<td>{protocol}</td><td>register</td><td>{nemesis}</td><td>5</td>");
        assert!(dom.contains(&row), "{protocol}: expected {row} in {dom}");
    }

    let dom = dump_dom(&format!("http://127.0.0.1:{}/?protocol=raft", server.port));
    assert!(dom.contains("1 of 3 runs") && dom.contains("<td>raft-register</td>"), "{dom}");

    let dom = dump_dom(&format!("http://127.0.0.1:{}/runs/latest/report.html", server.port));
    assert!(dom.contains("id=\"timeline\"") && dom.contains("id=\"verdicts\""), "{dom}");
}
