//! `faultline cleanup`: what a crashed run left is removed (namespaces, veths, bridge, nft
//! table, record and processes), checked by exact name; runs whose owner lives are spared
//! by default; `--dry-run` removes nothing; bad flags exit 254. Also: a node started
//! through `NetnsHost` dies with a harness killed by SIGKILL (the parent-death signal
//! survives `ip netns exec`).
//!
//! Needs root, `ip` and `nft`: without them every test fails saying so.

mod netns_support;

use faultline::{host, netns};

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use netns::{teardown, RunTag};
use netns_support::*;

const ENTRY: &str = "fake_roles_entry";
const DEADLINE: Duration = Duration::from_secs(20);

/// Entry point of the fake roles; as a plain test, checks that tags are fresh.
#[test]
fn fake_roles_entry() {
    run_role_if_asked(ENTRY);
    assert_ne!(RunTag::unique(), RunTag::unique());
}

/// Kills and reaps a child when dropped, so a failing test leaves no process behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIGKILLs the exact pid of a process this test caused to start, when dropped, if it is
/// still alive.
struct KillPidOnDrop(u32);

impl Drop for KillPidOnDrop {
    #[allow(unsafe_code, reason = "kill(2) of the sleeper by exact pid")]
    fn drop(&mut self) {
        if process_alive(self.0) {
            // SAFETY: kill(2) on the sleeper this test started.
            unsafe { libc::kill(self.0 as libc::pid_t, libc::SIGKILL) };
        }
    }
}

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("running faultline")
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes).lines().map(String::from).collect()
}

#[test]
fn cleanup_by_tag_removes_a_run_that_was_never_shut_down() {
    let (_cleaner, net) = network(&[1, 2]);
    let tag = net.tag().clone();
    let ns1 = net.namespace(1).unwrap().to_string();
    std::mem::forget(net);
    assert!(teardown::namespace_exists(&ns1));

    let dry = faultline(&["cleanup", "--tag", tag.as_str(), "--dry-run"]);
    assert!(dry.status.success(), "{dry:?}");
    let listed = lines(&dry.stdout);
    for expected in [
        format!("would remove veth {}", tag.veth(1)),
        format!("would remove veth {}", tag.veth(2)),
        format!("would remove namespace {}", tag.namespace(1)),
        format!("would remove namespace {}", tag.namespace(2)),
        format!("would remove bridge {}", tag.bridge()),
        format!("would remove nft table inet {}", tag.guard_table()),
        format!("would remove record /run/faultline/{tag}.json"),
    ] {
        assert!(listed.contains(&expected), "{expected:?} missing from {listed:?}");
    }
    assert!(teardown::namespace_exists(&ns1), "a dry run removes nothing");
    assert!(netns::state::record_path(&tag).exists(), "a dry run removes nothing");

    let done = faultline(&["cleanup", "--tag", tag.as_str()]);
    assert!(done.status.success(), "{done:?}");
    let removed = lines(&done.stdout);
    assert_eq!(removed.len(), 7, "one line per object: {removed:?}");
    assert!(removed.iter().all(|l| l.starts_with("removed ")), "{removed:?}");
    assert_nothing_left(&tag, &[1, 2]);

    let again = faultline(&["cleanup", "--tag", tag.as_str()]);
    assert!(again.status.success(), "{again:?}");
    assert!(again.stdout.is_empty(), "nothing left to remove: {again:?}");
}

#[test]
fn default_cleanup_removes_a_crashed_run_and_spares_a_live_one() {
    require_root_and_tools();
    let (_live_cleaner, live) = network(&[1]);
    let crashed = RunTag::unique();
    let _crashed_cleaner = Cleaner(crashed.clone());

    // A harness that builds a network, leaves a process in it, and is killed with SIGKILL.
    let files = tempfile::tempdir().unwrap();
    let argv = role_argv(ENTRY, "owner", &[crashed.to_string(), files.path().display().to_string()]);
    let mut owner = KillOnDrop(
        Command::new(&argv[0])
            .args(&argv[1..])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("starting the owner"),
    );
    let mut out = BufReader::new(owner.0.stdout.take().unwrap());
    let mut sleeper = None;
    let mut node = None;
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "the owner exited before READY");
        // The test runner may have printed the test's name on the same line.
        if let Some((_, pid)) = line.trim().split_once("SLEEPER ") {
            sleeper = Some(pid.parse::<u32>().unwrap());
        }
        if let Some((_, pid)) = line.trim().split_once("NODE ") {
            node = Some(pid.parse::<u32>().unwrap());
        }
        if line.trim().ends_with("READY") {
            break;
        }
    }
    let sleeper = sleeper.expect("the owner reported its sleeper");
    let _sleeper_guard = KillPidOnDrop(sleeper);
    let _node_guard = node.map(KillPidOnDrop);
    assert!(process_alive(sleeper));
    owner.0.kill().unwrap();
    owner.0.wait().unwrap();
    assert!(process_alive(sleeper), "the sleeper outlives its owner");
    let node = node.expect("the owner reported its node");
    wait_until("the owner's node to die with it", DEADLINE, || !process_alive(node));
    assert!(teardown::namespace_exists(&crashed.namespace(1)), "the crash left the namespace");

    let done = faultline(&["cleanup"]);
    assert!(done.status.success(), "{done:?}");
    let removed = lines(&done.stdout);
    let ns1 = crashed.namespace(1);
    assert!(removed.contains(&format!("killed process {sleeper} in namespace {ns1}")), "{removed:?}");
    assert!(removed.contains(&format!("removed namespace {ns1}")), "{removed:?}");
    wait_until("the sleeper to be gone", DEADLINE, || !process_alive(sleeper));
    assert_nothing_left(&crashed, &[1, 2]);

    let live_ns = live.namespace(1).unwrap();
    assert!(teardown::namespace_exists(live_ns), "a live run's namespace is spared");
    assert!(teardown::link_exists(&live.tag().bridge()), "a live run's bridge is spared");
    assert!(netns::state::record_path(live.tag()).exists(), "a live run's record is spared");
    assert!(
        lines(&done.stderr).iter().any(|l| l.contains(&format!("run {} is live", live.tag()))),
        "{done:?}"
    );
}

#[test]
fn bad_flags_exit_254_with_one_line() {
    for args in [&["cleanup", "--tag", "Not-A-Tag"][..], &["cleanup", "--tag", ""], &["cleanup", "--bogus"]] {
        let out = faultline(args);
        assert_eq!(out.status.code(), Some(254), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error:") || stderr.starts_with("faultline: error:"), "{stderr}");
    }
    let out = faultline(&["cleanup", "--tag", "Not-A-Tag"]);
    assert_eq!(lines(&out.stderr).len(), 1, "{out:?}");
}

#[test]
fn shutdown_all_removes_every_network_its_process_left_up() {
    require_root_and_tools();
    // In a child process: `shutdown_all` acts on every network of its process, and the
    // other tests here hold networks of their own.
    let tags = [RunTag::unique(), RunTag::unique()];
    let _cleaners = tags.clone().map(Cleaner);
    let argv = role_argv(ENTRY, "forgetter", &[tags[0].to_string(), tags[1].to_string()]);
    let out = Command::new(&argv[0]).args(&argv[1..]).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("FORGOTTEN"), "{out:?}");
    assert_nothing_left(&tags[0], &[1]);
    assert_nothing_left(&tags[1], &[1, 2]);
}
