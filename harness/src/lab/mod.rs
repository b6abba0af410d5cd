//! The SSH lab: real OpenSSH hosts on one machine, to test the SSH backend for real.
//!
//! `faultline lab up --nodes N` builds N network namespaces on a bridge with the
//! network-namespace backend's own code (`netns`: names carrying the lab's tag, a private
//! /24, the guard table that keeps traffic on the machine), then starts in each namespace
//! its own `sshd` (Debian's openssh-server) with a configuration, host key and client key
//! generated into the lab directory (see `config`). It writes a hosts file (`id root@addr`
//! per line), a known_hosts file for the lab's host key and its state (`state`), and prints
//! the hosts file.
//!
//! The lab outlives the command that built it: its namespace record names the first sshd
//! as its owner, so `faultline cleanup` leaves a working lab alone and removes one whose
//! sshd's are gone. `faultline lab down` kills exactly the lab's sshd's (by pid and start
//! time), then every other process in its namespaces, the namespaces, bridge and guard
//! table, and the files it wrote.

pub mod config;
pub mod state;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nodes::api::NodeId;

use crate::netns::command::{on_path, run_ok};
use crate::netns::{self, teardown, NetnsNetwork, RunTag};

use state::{LabNode, LabState};

/// Most hosts in one lab.
pub const MAX_NODES: u32 = 32;
/// How long an sshd has to write its pid file after it daemonised.
const PID_DEADLINE: Duration = Duration::from_secs(10);
const PID_POLL: Duration = Duration::from_millis(10);

/// The files a lab writes in its directory, besides the per-node ones.
const FILES: [&str; 7] =
    ["host_key", "host_key.pub", "client_key", "client_key.pub", "authorized_keys", "known_hosts", "hosts"];

/// The hosts file of the lab in `dir`.
pub fn hosts_path(dir: &Path) -> PathBuf {
    dir.join("hosts")
}

/// The client key of the lab in `dir` (give it to `faultline test --ssh-key`).
pub fn client_key_path(dir: &Path) -> PathBuf {
    dir.join("client_key")
}

/// The known_hosts file of the lab in `dir` (give it to `--ssh-known-hosts`).
pub fn known_hosts_path(dir: &Path) -> PathBuf {
    dir.join("known_hosts")
}

/// Where sshd is: on PATH, or Debian's /usr/sbin/sshd (not on a normal user's PATH).
pub fn sshd_program() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(found) = std::env::split_paths(&path).map(|d| d.join("sshd")).find(|p| p.is_file()) {
            return Ok(found);
        }
    }
    let debian = PathBuf::from("/usr/sbin/sshd");
    if debian.is_file() {
        return Ok(debian);
    }
    bail!("the SSH lab needs sshd: install openssh-server (apt-get install openssh-server)")
}

/// Build a lab of `nodes` hosts in `dir`; its state. On failure nothing is left but `dir`.
pub fn up(nodes: u32, dir: &Path) -> anyhow::Result<LabState> {
    if !(1..=MAX_NODES).contains(&nodes) {
        bail!("--nodes must be between 1 and {MAX_NODES}, got {nodes}");
    }
    netns::preflight()?;
    let sshd = sshd_program()?;
    if !on_path("ssh-keygen") {
        bail!("the SSH lab needs ssh-keygen (Debian package openssh-client)");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?;
    if let Some(lab) = state::read(&dir)? {
        bail!(
            "a lab ({}) is already up in {}: `faultline lab down --dir {}` first",
            lab.tag,
            dir.display(),
            dir.display()
        );
    }
    // sshd refuses to start without its privilege separation directory.
    std::fs::create_dir_all("/run/sshd").context("creating /run/sshd")?;
    let result = build(nodes, &dir, &sshd);
    if result.is_err() {
        remove_files(&dir, nodes);
    }
    result
}

fn build(nodes: u32, dir: &Path, sshd: &Path) -> anyhow::Result<LabState> {
    for key in ["host_key", "client_key"] {
        let path = dir.join(key);
        let path = path.to_str().context("the lab directory's path is not UTF-8")?;
        run_ok(
            "ssh-keygen",
            &["-q", "-t", "ed25519", "-N", "", "-C", "faultline-lab", "-f", path],
            Some("y\n"),
        )?;
    }
    let client_public =
        std::fs::read_to_string(dir.join("client_key.pub")).context("reading client_key.pub")?;
    std::fs::write(dir.join("authorized_keys"), &client_public).context("writing authorized_keys")?;

    let tag = lab_tag();
    let ids: Vec<NodeId> = (1..=nodes).collect();
    // Until it is detached, dropping the network removes the namespaces and every process
    // in them (the sshd's started below included).
    let network = NetnsNetwork::create(tag.clone(), &ids)?;
    let addrs: Vec<(NodeId, Ipv4Addr)> = network
        .topology()
        .nodes
        .into_iter()
        .filter_map(|(id, ip)| match ip {
            IpAddr::V4(v4) => Some((id, v4)),
            IpAddr::V6(_) => None,
        })
        .collect();
    let mut lab_nodes = BTreeMap::new();
    for &(id, addr) in &addrs {
        let conf = dir.join(format!("sshd-{id}.conf"));
        std::fs::write(&conf, config::sshd_config(dir, id, addr))
            .with_context(|| format!("writing {}", conf.display()))?;
        let namespace = network.namespace(id).context("a node without a namespace")?.to_string();
        let sshd = sshd.to_str().context("sshd's path is not UTF-8")?;
        let conf = conf.to_str().context("the lab directory's path is not UTF-8")?;
        // sshd daemonises once it listens; its pid file says which process it became.
        run_ok("ip", &["netns", "exec", &namespace, sshd, "-f", conf], None)
            .with_context(|| format!("starting the sshd of node {id}"))?;
        let pid = wait_for_pid(&dir.join(format!("sshd-{id}.pid")))?;
        let start = netns::state::start_time(pid)
            .with_context(|| format!("the sshd of node {id} (pid {pid}) died"))?;
        lab_nodes.insert(id, LabNode { namespace, addr: addr.to_string(), sshd_pid: pid, sshd_start: start });
    }
    let lab = LabState { tag: tag.to_string(), subnet: network.subnet(), nodes: lab_nodes };
    let host_public = std::fs::read_to_string(dir.join("host_key.pub")).context("reading host_key.pub")?;
    std::fs::write(known_hosts_path(dir), config::known_hosts(&addrs, &host_public))
        .context("writing known_hosts")?;
    std::fs::write(hosts_path(dir), config::hosts_file(&addrs)).context("writing the hosts file")?;
    state::write(dir, &lab)?;
    let first = lab.nodes.values().next().context("a lab without nodes")?;
    network.detach(first.sshd_pid, first.sshd_start)?;
    Ok(lab)
}

/// A fresh tag for a lab: `l` and seven base-36 digits.
fn lab_tag() -> RunTag {
    let unique = RunTag::unique();
    RunTag::new(&format!("l{}", &unique.as_str()[1..]))
        .expect("a unique tag with another first letter is a tag")
}

fn wait_for_pid(path: &Path) -> anyhow::Result<u32> {
    let until = Instant::now() + PID_DEADLINE;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse::<u32>() {
                return Ok(pid);
            }
        }
        if Instant::now() >= until {
            bail!("sshd wrote no pid to {} within {PID_DEADLINE:?}", path.display());
        }
        std::thread::sleep(PID_POLL);
    }
}

/// Take down the lab in `dir`, reporting one line per thing removed.
#[allow(unsafe_code, reason = "kill(2) of the lab's own sshd's, by pid and start time")]
pub fn down(dir: &Path, report: &mut dyn FnMut(String)) -> anyhow::Result<()> {
    let Some(lab) = state::read(dir)? else {
        bail!("no lab in {} (no {})", dir.display(), state::STATE_FILE);
    };
    netns::preflight()?;
    let tag = RunTag::new(&lab.tag)?;
    for (id, node) in &lab.nodes {
        if netns::state::start_time(node.sshd_pid) == Some(node.sshd_start) {
            // SAFETY: kill(2) of the process this lab started, checked by its start time.
            if unsafe { libc::kill(node.sshd_pid as libc::pid_t, libc::SIGKILL) } == 0 {
                report(format!("killed the sshd of node {id} (pid {})", node.sshd_pid));
            }
        }
    }
    teardown::cleanup_tag(&tag, false, report)?;
    let nodes = lab.nodes.keys().copied().max().unwrap_or(0);
    remove_files(dir, nodes);
    report(format!("removed the lab files in {}", dir.display()));
    Ok(())
}

/// Remove what a lab wrote in `dir`, and `dir` itself if that leaves it empty.
fn remove_files(dir: &Path, nodes: u32) {
    let mut names: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    for id in 1..=nodes {
        names.push(format!("sshd-{id}.conf"));
        names.push(format!("sshd-{id}.pid"));
    }
    names.push(state::STATE_FILE.to_string());
    for name in names {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let _ = std::fs::remove_dir(dir);
}
