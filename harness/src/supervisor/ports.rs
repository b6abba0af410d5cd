//! Free loopback ports for nodes to listen on.
//!
//! A node binds its own listeners, so the harness can only choose ports, not hold them. A
//! port is chosen, proved free by binding it on 127.0.0.1, released and handed out.
//!
//! Ports come from *below* the kernel's ephemeral range when there is room (10000 up to
//! `ip_local_port_range`'s start). The kernel never picks those for outgoing connections
//! or for a bind to port 0, so a node killed and restarted finds its ports still free even
//! though the proxy and the clients open connections all the while; an ephemeral port could
//! have been taken as some connection's source port in between. Where there is no such
//! room, the fallback is a bind to port 0.
//!
//! Two more guards: every port of one batch is held until the whole batch is chosen (no
//! duplicates within a cluster), and a process-wide record of ports already handed out
//! makes a repeat a retry, not a clash between two clusters of the same harness (tests run
//! many at once).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Mutex;

use anyhow::{bail, Context};
use nodes::api::NodeId;
use rand::Rng;

use crate::host::NodeAddrs;

/// Attempts per port before giving up.
const MAX_ATTEMPTS: usize = 256;
/// Lowest port chosen below the ephemeral range.
const LOWEST_PORT: u16 = 10_000;
/// Fewest ports below the ephemeral range worth drawing from.
const MIN_RANGE: u16 = 2_000;

static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A peer-listen and a client address on 127.0.0.1 for each node, all distinct.
pub fn allocate_addrs(ids: impl IntoIterator<Item = NodeId>) -> anyhow::Result<BTreeMap<NodeId, NodeAddrs>> {
    let ids: Vec<NodeId> = ids.into_iter().collect();
    let below = below_ephemeral_range();
    let mut held = Vec::with_capacity(ids.len() * 2);
    let mut ports = Vec::with_capacity(ids.len() * 2);
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    for _ in 0..ids.len() * 2 {
        let (listener, port) = fresh_port(&handed_out, below)?;
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

/// `[LOWEST_PORT, start of the ephemeral range)`, if the kernel says where that starts and
/// the span is wide enough.
fn below_ephemeral_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let low: u16 = text.split_whitespace().next()?.parse().ok()?;
    (low >= LOWEST_PORT.saturating_add(MIN_RANGE)).then_some((LOWEST_PORT, low))
}

fn fresh_port(handed_out: &BTreeSet<u16>, below: Option<(u16, u16)>) -> anyhow::Result<(TcpListener, u16)> {
    let mut rng = rand::thread_rng();
    for _ in 0..MAX_ATTEMPTS {
        let wanted = match below {
            Some((low, high)) => rng.gen_range(low..high),
            None => 0,
        };
        if wanted != 0 && handed_out.contains(&wanted) {
            continue;
        }
        // In use by someone else: draw again.
        let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, wanted)) else { continue };
        let port = listener.local_addr().context("reading a bound port")?.port();
        if !handed_out.contains(&port) {
            return Ok((listener, port));
        }
    }
    bail!("no free loopback port after {MAX_ATTEMPTS} attempts")
}
