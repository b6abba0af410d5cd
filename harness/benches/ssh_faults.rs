//! What the SSH control plane costs a fault: the time to put one grudge (a partition) on
//! every host and to heal it, over SSH into a lab, against the same on network namespaces
//! of this machine (the local backend with the same nft rules).
//!
//! `cargo bench -p faultline --bench ssh_faults` (root, sshd, nft, ip: it builds a lab of
//! 3 hosts with `faultline lab up` in a temporary directory and takes it down at the end).
//!
//! Each sample is one `Network::set_grudge` call, which returns once every host's rules
//! were replaced (one `nft -f` per host: over SSH one channel on each host's control
//! master, all hosts at once; in namespaces one `ip netns exec nft` per node in turn).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline::net::{Grudge, Network};
use faultline::netns::{NetnsNetwork, RunTag};
use faultline::ssh::{hosts, Remotes, SshNetwork, SshOptions};

const SAMPLES: usize = 100;

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "{name:<44} p50 {:>7.2} ms   p90 {:>7.2} ms   max {:>7.2} ms   ({} samples)",
        at(0.5),
        at(0.9),
        at(1.0),
        samples.len()
    );
}

fn measure(network: &dyn Network) -> Vec<Duration> {
    let mut grudge = Grudge::none();
    grudge.cut(1, 3);
    grudge.cut(2, 3);
    grudge.cut(3, 1);
    grudge.cut(3, 2);
    let mut samples = Vec::with_capacity(SAMPLES * 2);
    for _ in 0..SAMPLES {
        let start = Instant::now();
        network.set_grudge(grudge.clone()).expect("applying the grudge");
        samples.push(start.elapsed());
        let start = Instant::now();
        network.heal().expect("healing");
        samples.push(start.elapsed());
    }
    samples
}

struct LabDown(std::path::PathBuf);

impl Drop for LabDown {
    fn drop(&mut self) {
        let _ = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .arg("lab")
            .arg("down")
            .arg("--dir")
            .arg(&self.0)
            .output();
    }
}

fn main() {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let dir = temp.path().join("lab");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["lab", "up", "--nodes", "3", "--dir"])
        .arg(&dir)
        .output()
        .expect("running faultline lab up");
    let _down = LabDown(dir.clone());
    assert!(out.status.success(), "lab up: {}", String::from_utf8_lossy(&out.stderr));

    let targets = hosts::load(&dir.join("hosts")).expect("the lab's hosts file");
    let options =
        SshOptions { key: Some(dir.join("client_key")), known_hosts: Some(dir.join("known_hosts")) };
    let remotes = Arc::new(Remotes::connect(&targets, &options).expect("connecting to the lab"));
    let addrs: BTreeMap<_, _> = targets.iter().map(|t| (t.line.id, t.addr)).collect();
    let ssh = SshNetwork::create(remotes, RunTag::unique(), addrs).expect("the SSH network");
    summary("grudge on 3 hosts over SSH (set or heal)", measure(&ssh));
    ssh.shutdown();

    let netns = NetnsNetwork::create(RunTag::unique(), &[1, 2, 3]).expect("the namespace network");
    summary("grudge on 3 local namespaces (set or heal)", measure(&netns));
    netns.shutdown();
}
