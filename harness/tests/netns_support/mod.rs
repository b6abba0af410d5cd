//! Test support for the network-namespace backend.
//!
//! - [`require_root_and_tools`]: these tests need root, `ip` and `nft`; without them they
//!   fail with a message saying so (they never pass or skip silently).
//! - Sockets in a namespace: [`in_netns`] runs a closure on a thread that entered the
//!   namespace (`setns`), and a socket keeps the namespace it was created in, so probes
//!   create their sockets there and use them from anywhere.
//! - [`Cleaner`]: removes a run's objects when dropped, so a failing test leaves nothing.
//! - Roles: this test executable doubles as a fake node (`node`: a TCP listener that
//!   answers `node <id>`), a process that outlives its parent (`sleeper`), and a harness
//!   that builds a network and is then killed (`owner`), and one that forgets its networks
//!   and relies on `shutdown_all` (`forgetter`). A test spawns `/usr/bin/env
//!   ROLE=... <this executable> --exact <entry test>`; the entry test calls
//!   [`run_role_if_asked`] first.

#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use crate::netns::{teardown, NetnsNetwork, RunTag};

pub const ROLE_VAR: &str = "FAULTLINE_NETNS_TEST_ROLE";
pub const ARGS_VAR: &str = "FAULTLINE_NETNS_TEST_ARGS";

/// How long a probe that should get through may keep trying.
pub const REACH_DEADLINE: Duration = Duration::from_secs(10);
/// How long a probe that should be blocked waits before calling it blocked.
pub const BLOCK_WAIT: Duration = Duration::from_millis(800);

/// Fail (never skip) when this host cannot run namespace tests.
#[allow(unsafe_code, reason = "geteuid(2)")]
pub fn require_root_and_tools() {
    // SAFETY: geteuid(2) has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "the netns tests need root (running as uid {euid}); CI runs them as root");
    for (tool, package) in [("ip", "iproute2"), ("nft", "nftables")] {
        assert!(
            crate::netns::command::on_path(tool),
            "the netns tests need `{tool}` on PATH: install the Debian package {package} (.ci/run does)"
        );
    }
}

/// Removes run `tag`'s objects when dropped (also when the test fails).
pub struct Cleaner(pub RunTag);

impl Drop for Cleaner {
    fn drop(&mut self) {
        if let Err(e) = teardown::cleanup_tag(&self.0, false, &mut |_| {}) {
            eprintln!("cleaning up run {}: {e:#}", self.0);
        }
    }
}

/// A fresh network of nodes `ids`, with its cleaner (declared first, dropped last).
pub fn network(ids: &[u32]) -> (Cleaner, NetnsNetwork) {
    require_root_and_tools();
    let tag = RunTag::unique();
    let cleaner = Cleaner(tag.clone());
    let net = NetnsNetwork::create(tag, ids).expect("creating the network");
    (cleaner, net)
}

/// Run `f` on a thread inside namespace `ns` (`None`: the root namespace, this thread's).
#[allow(unsafe_code, reason = "setns(2) moves this thread into the namespace")]
pub fn in_netns<T: Send>(ns: Option<&str>, f: impl FnOnce() -> T + Send) -> T {
    let Some(ns) = ns else { return f() };
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(format!("/run/netns/{ns}")).expect("opening the namespace");
            // SAFETY: setns(2) on this thread only, with a namespace descriptor we own.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns into {ns}: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("the namespace thread panicked")
    })
}

/// A TCP listener on `ip` (any port) inside `ns`.
pub fn listen_in(ns: Option<&str>, ip: Ipv4Addr) -> TcpListener {
    in_netns(ns, || TcpListener::bind((ip, 0)).expect("binding a listener"))
}

/// One TCP connection attempt from `from` to `to` within `timeout`.
pub fn tcp_connect(from: Option<&str>, to: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    in_netns(from, || TcpStream::connect_timeout(&to, timeout))
}

/// Whether `from` can open a TCP connection to `to`, retrying until [`REACH_DEADLINE`].
pub fn tcp_reaches(from: Option<&str>, to: SocketAddr) -> bool {
    let until = Instant::now() + REACH_DEADLINE;
    loop {
        if tcp_connect(from, to, Duration::from_millis(500)).is_ok() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a TCP connection from `from` to `to` times out (its SYN is dropped: not
/// refused, not accepted).
pub fn tcp_blocked(from: Option<&str>, to: SocketAddr) -> bool {
    match tcp_connect(from, to, BLOCK_WAIT) {
        Ok(_) => false,
        Err(e) => {
            assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "connect to {to} failed otherwise: {e}");
            true
        }
    }
}

/// Whether UDP datagrams sent from `from` reach a socket on `to_ip` in `to`, sending one
/// every 20 ms until one arrives or `wait` passes.
pub fn udp_delivers(from: Option<&str>, to: Option<&str>, to_ip: Ipv4Addr, wait: Duration) -> bool {
    let receiver = in_netns(to, || UdpSocket::bind((to_ip, 0)).expect("binding a UDP socket"));
    let target = receiver.local_addr().unwrap();
    let sender =
        in_netns(from, || UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("binding a UDP socket"));
    receiver.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let until = Instant::now() + wait;
    let mut buf = [0u8; 16];
    while Instant::now() < until {
        // A send can fail while ARP resolves; the next round retries.
        let _ = sender.send_to(b"probe", target);
        if let Ok((n, _)) = receiver.recv_from(&mut buf) {
            if &buf[..n] == b"probe" {
                return true;
            }
        }
    }
    false
}

/// Read the fake node's greeting from a connection, within `timeout`.
pub fn greeting(stream: &mut TcpStream, timeout: Duration) -> std::io::Result<String> {
    stream.set_read_timeout(Some(timeout))?;
    let mut text = String::new();
    let mut buf = [0u8; 64];
    while !text.ends_with('\n') {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    Ok(text.trim().to_string())
}

/// Asserts that nothing of run `tag` remains on the host, checking every exact name.
pub fn assert_nothing_left(tag: &RunTag, ids: &[u32]) {
    for &id in ids {
        let ns = tag.namespace(id);
        assert!(!std::path::Path::new("/run/netns").join(&ns).exists(), "namespace {ns} remains");
        let veth = tag.veth(id);
        assert!(!std::path::Path::new("/sys/class/net").join(&veth).exists(), "veth {veth} remains");
    }
    let bridge = tag.bridge();
    assert!(!std::path::Path::new("/sys/class/net").join(&bridge).exists(), "bridge {bridge} remains");
    let table = tag.guard_table();
    assert!(!teardown::guard_table_exists(&table).unwrap(), "nft table inet {table} remains");
    let record = crate::netns::state::record_path(tag);
    assert!(!record.exists(), "record {} remains", record.display());
    assert!(!teardown::discover_all().unwrap().contains_key(tag), "objects of {tag} remain");
}

/// Whether process `pid` exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').map(|i| s[i + 1..].trim_start().starts_with(|c| c != 'Z')))
        .unwrap_or(false)
}

/// The state letter of process `pid` (`S`, `R`, `T`, ...).
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Wait for `condition` until `deadline`, panicking with `what` if it never holds.
pub fn wait_until(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !condition() {
        assert!(Instant::now() < until, "timed out after {deadline:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// argv that runs `role` with `args` from this test executable's `entry` test.
pub fn role_argv(entry: &str, role: &str, args: &[String]) -> Vec<OsString> {
    let exe = std::env::current_exe().expect("test executable path");
    vec![
        "/usr/bin/env".into(),
        format!("{ROLE_VAR}={role}").into(),
        format!("{ARGS_VAR}={}", args.join(" ")).into(),
        exe.into(),
        "--exact".into(),
        entry.into(),
        "--nocapture".into(),
        "--test-threads=1".into(),
    ]
}

/// Run the role named in the environment, if any; never returns then.
pub fn run_role_if_asked(entry: &str) {
    let Ok(role) = std::env::var(ROLE_VAR) else { return };
    let args: Vec<String> =
        std::env::var(ARGS_VAR).unwrap_or_default().split(' ').map(String::from).collect();
    match role.as_str() {
        "node" => fake_node(&args),
        "sleeper" => loop {
            std::thread::park();
        },
        "owner" => owner(entry, &args),
        "forgetter" => forgetter(&args),
        other => panic!("unknown test role {other}"),
    }
}

/// Listen on `args[1]` and greet every connection with `node <args[0]>`.
fn fake_node(args: &[String]) -> ! {
    let id = &args[0];
    let listener = TcpListener::bind(args[1].as_str()).expect("binding the fake node's address");
    eprintln!("fake node {id} on {}", args[1]);
    for mut stream in listener.incoming().flatten() {
        let _ = writeln!(stream, "node {id}");
    }
    std::process::exit(0)
}

/// Build a network for nodes 1 and 2 under tag `args[0]` (node files under `args[1]`); start a sleeper inside node 1's
/// namespace that is *not* tied to this process (its own process group, no parent-death
/// signal) and a fake node 2 through `NetnsHost` (which is tied to it); print `NODE <pid>`,
/// `SLEEPER <pid>` and `READY`, and wait to be killed.
fn owner(entry: &str, args: &[String]) -> ! {
    let tag = RunTag::new(&args[0]).unwrap();
    let net = NetnsNetwork::create(tag, &[1, 2]).expect("creating the network");
    let mut argv =
        crate::netns::host::in_namespace(net.namespace(1).unwrap(), &role_argv(entry, "sleeper", &[]));
    let program = argv.remove(0);
    let sleeper = std::process::Command::new(program)
        .args(argv)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .expect("starting the sleeper");
    // And a node started the normal way, which must die with this process.
    let host = net.host();
    let addr = SocketAddr::new(net.topology().nodes[&2], 7000);
    let dir = std::path::PathBuf::from(&args[1]);
    let spec = crate::host::NodeSpec {
        id: 2,
        argv: role_argv(entry, "node", &["2".into(), addr.to_string()]),
        rejoin_argv: None,
        data_dir: dir.join("data"),
        log_path: dir.join("node.log"),
        addrs: crate::host::NodeAddrs { peer_listen: addr, client: addr },
    };
    crate::host::Host::start(&host, &spec).expect("starting node 2");
    if let crate::host::NodeState::Running { pid } = crate::host::Host::state(&host, 2) {
        println!("NODE {pid}");
    }
    std::mem::forget(host);
    println!("SLEEPER {}", sleeper.id());
    let mut sleeper = sleeper;
    // Reaped here if it ever ends while this process lives.
    std::thread::spawn(move || sleeper.wait());
    println!("READY");
    std::mem::forget(net);
    loop {
        std::thread::park();
    }
}

/// Build networks under tags `args[0]` (node 1) and `args[1]` (nodes 1, 2), forget both,
/// call `shutdown_all`, print `FORGOTTEN` and exit.
fn forgetter(args: &[String]) -> ! {
    let first = NetnsNetwork::create(RunTag::new(&args[0]).unwrap(), &[1]).expect("creating a network");
    let second = NetnsNetwork::create(RunTag::new(&args[1]).unwrap(), &[1, 2]).expect("creating a network");
    std::mem::forget(first);
    std::mem::forget(second);
    crate::netns::shutdown_all();
    println!("FORGOTTEN");
    std::process::exit(0)
}
