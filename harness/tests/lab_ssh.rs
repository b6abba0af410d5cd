//! `faultline lab up|down`: every host of the lab is a real sshd in its own namespace that
//! takes the lab's key, and `lab down` leaves nothing (no namespace, no sshd, no bridge, no
//! files).
//!
//! Needs root, `ip`, `nft`, `ssh` and sshd (openssh-server); without them the test fails
//! saying so.

mod lab_support;

use std::path::Path;

use lab_support::*;

#[test]
fn each_host_answers_over_ssh_with_its_own_address_and_down_removes_everything() {
    let mut lab = Lab::up(3);
    assert_eq!(lab.hosts.len(), 3);
    for id in 1..=3 {
        let out = lab.ssh(id, "ip -o -4 addr show dev eth0");
        assert!(out.status.success(), "ssh to node {id}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let own = format!("inet {}/24", lab.addr(id));
        assert!(text.contains(&own), "node {id} shows {text:?}, not {own}");
        for other in (1..=3).filter(|&o| o != id) {
            assert!(
                !text.contains(&format!("inet {}/", lab.addr(other))),
                "node {id} has node {other}'s address"
            );
        }
    }
    let tag = lab.tag();
    let pids: Vec<u32> = lab.state["nodes"]
        .as_object()
        .expect("nodes")
        .values()
        .map(|n| n["sshd_pid"].as_u64().expect("a pid") as u32)
        .collect();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|&p| process_alive(p)));
    // A second lab in the same directory is refused while this one is up.
    let again = faultline(&["lab", "up", "--dir", &lab.path("")]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already up"));

    let out = lab.down();
    assert!(out.status.success(), "lab down: {}", String::from_utf8_lossy(&out.stderr));
    for pid in pids {
        assert!(!process_alive(pid), "sshd {pid} survived lab down");
    }
    for id in 1..=3 {
        let ns = format!("faultline-{tag}-{id}");
        assert!(!Path::new("/run/netns").join(&ns).exists(), "namespace {ns} survived");
    }
    assert!(!Path::new("/sys/class/net").join(format!("fl-{tag}")).exists(), "the bridge survived");
    assert!(!Path::new(&format!("/run/faultline/{tag}.json")).exists(), "the record survived");
    assert!(!lab.dir.exists(), "the lab directory survived");
    let again = faultline(&["lab", "down", "--dir", &lab.path("")]);
    assert!(!again.status.success(), "a second down has no lab to remove");
}

#[test]
fn bad_lab_flags_exit_254() {
    for args in [&["lab", "up", "--nodes", "0"][..], &["lab", "up", "--nodes", "x"], &["lab", "sideways"]] {
        let out = faultline(args);
        assert_eq!(out.status.code(), Some(254), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
