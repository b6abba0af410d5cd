//! Test support for the SSH lab: a lab made by the binary's own `lab up` in a temporary
//! directory and taken down by `lab down` when the guard is dropped (also when a test
//! fails), and `ssh` into one of its hosts with the lab's key and known_hosts.
//!
//! The tests need root, `ip`, `nft` and sshd; without them they fail saying what to install.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Fail (never skip) when this machine cannot build a lab.
#[allow(unsafe_code, reason = "geteuid(2)")]
pub fn require_lab_tools() {
    // SAFETY: geteuid(2) has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "the SSH lab tests need root (running as uid {euid}); CI runs them as root");
    assert!(
        Path::new("/usr/sbin/sshd").is_file() || faultline::netns::command::on_path("sshd"),
        "the SSH lab tests need sshd: install openssh-server (apt-get install openssh-server; .ci/run does)"
    );
    for (tool, package) in [("ip", "iproute2"), ("nft", "nftables"), ("ssh", "openssh-client")] {
        assert!(
            faultline::netns::command::on_path(tool),
            "the SSH lab tests need `{tool}` on PATH: install the Debian package {package} (.ci/run does)"
        );
    }
}

pub fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("running faultline")
}

/// A lab that is taken down when dropped.
pub struct Lab {
    pub dir: PathBuf,
    /// Keeps the temporary directory (the lab's) until after `lab down`.
    _temp: tempfile::TempDir,
    pub hosts: BTreeMap<u32, String>,
    pub state: serde_json::Value,
    down: bool,
}

impl Lab {
    pub fn up(nodes: u32) -> Lab {
        require_lab_tools();
        let temp = tempfile::tempdir().expect("a temporary directory");
        let dir = temp.path().join("lab");
        let dir_text = dir.to_str().expect("a UTF-8 temporary path").to_string();
        let out = faultline(&["lab", "up", "--nodes", &nodes.to_string(), "--dir", &dir_text]);
        // From here the guard exists, so even a half-built lab is taken down.
        let mut lab =
            Lab { dir, _temp: temp, hosts: BTreeMap::new(), state: serde_json::Value::Null, down: false };
        assert!(
            out.status.success(),
            "lab up failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let (id, dest) = line.split_once(' ').expect("a hosts line");
            lab.hosts.insert(id.parse().expect("a node id"), dest.to_string());
        }
        let text = std::fs::read_to_string(lab.dir.join("lab.json")).expect("the lab's state");
        lab.state = serde_json::from_str(&text).expect("the lab's state is JSON");
        lab
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().expect("UTF-8").to_string()
    }

    pub fn tag(&self) -> String {
        self.state["tag"].as_str().expect("a tag").to_string()
    }

    /// The address of node `id`.
    pub fn addr(&self, id: u32) -> String {
        self.hosts[&id].split_once('@').expect("user@addr").1.to_string()
    }

    /// Run `command` on node `id` over ssh with the lab's key.
    pub fn ssh(&self, id: u32, command: &str) -> Output {
        Command::new("ssh")
            .args(["-i", &self.path("client_key")])
            .args(["-o", &format!("UserKnownHostsFile={}", self.path("known_hosts"))])
            .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"])
            .arg(&self.hosts[&id])
            .arg(command)
            .output()
            .expect("running ssh")
    }

    /// `lab down`; its output.
    pub fn down(&mut self) -> Output {
        self.down = true;
        faultline(&["lab", "down", "--dir", &self.path("")])
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.down {
            let out = self.down();
            if !out.status.success() {
                eprintln!("lab down failed: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
    }
}

/// Whether a process with this pid exists (a zombie counts as gone).
pub fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}
