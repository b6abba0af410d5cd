//! Free loopback ports for nodes to listen on.
//!
//! A node binds its own listeners, so the harness can only choose ports, not hold them:
//! bind `127.0.0.1:0`, read the port the kernel picked, release it, hand it out. Two guards
//! make a collision unlikely: every port of one batch is held until the whole batch is
//! chosen (no duplicates within a cluster), and a process-wide record of ports already
//! handed out makes the kernel's reuse of a just-released port a retry, not a clash
//! between two clusters of the same harness (tests run many at once).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Mutex;

use anyhow::{bail, Context};
use nodes::api::NodeId;

use crate::host::NodeAddrs;

/// Attempts per port before giving up.
const MAX_ATTEMPTS: usize = 64;

static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A peer-listen and a client address on 127.0.0.1 for each node, all distinct.
pub fn allocate_addrs(ids: impl IntoIterator<Item = NodeId>) -> anyhow::Result<BTreeMap<NodeId, NodeAddrs>> {
    let ids: Vec<NodeId> = ids.into_iter().collect();
    let mut held = Vec::with_capacity(ids.len() * 2);
    let mut ports = Vec::with_capacity(ids.len() * 2);
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    for _ in 0..ids.len() * 2 {
        let (listener, port) = fresh_port(&handed_out)?;
        handed_out.insert(port);
        held.push(listener);
        ports.push(port);
    }
    drop(held);
    let addr = |port: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    Ok(ids
        .iter()
        .zip(ports.chunks(2))
        .map(|(&id, pair)| (id, NodeAddrs { peer_listen: addr(pair[0]), client: addr(pair[1]) }))
        .collect())
}

fn fresh_port(handed_out: &BTreeSet<u16>) -> anyhow::Result<(TcpListener, u16)> {
    for _ in 0..MAX_ATTEMPTS {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
        let port = listener.local_addr().context("reading a bound port")?.port();
        if !handed_out.contains(&port) {
            return Ok((listener, port));
        }
    }
    bail!("no fresh loopback port after {MAX_ATTEMPTS} attempts")
}
