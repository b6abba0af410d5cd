//! The fault proxy: every node-to-node byte passes through here.
//!
//! One listener per directed link `i -> j` on 127.0.0.1 (port 0). Node `i` is told that
//! peer `j` lives at that listener; the proxy connects onward to `j`'s real peer address.
//! Because faultline's nodes dial each peer themselves and each connection carries frames
//! one way, a listener sees exactly one directed link's traffic and knows its sender and
//! receiver without reading a payload.
//!
//! Two modes: **frames** (faultline's own nodes: 4-byte big-endian length + payload) where
//! whole frames are counted, dropped, delayed, duplicated and reordered; and **bytes** for
//! traffic whose framing is unknown, where only cuts and delays apply. The cut semantics
//! of each mode, and what happens to open connections, are documented in `link`.
//!
//! Control is atomic across links: the grudge and every link's faults live in one state
//! behind one lock, so a new partition takes effect on all links at once, never on half of
//! them. All randomness comes from [`ProxyConfig::seed`]; each connection draws from its
//! own stream derived from the seed, the link and the connection's number on the link.

pub mod faults;
pub mod framing;
mod link;
pub mod stats;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use anyhow::{anyhow, Context};
use nodes::api::NodeId;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;

use stats::LinkCounters;

use crate::net::{Grudge, LinkFaults, NetStats, Network};

/// A directed link: `(from, to)`.
pub type Link = (NodeId, NodeId);

/// Whether the proxy understands the traffic's framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Length-prefixed frames: faults act on whole frames.
    Frames,
    /// Unknown framing: bytes are copied; only cuts (as stalls) and delays apply.
    Bytes,
}

/// The proxy's fixed settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyConfig {
    pub mode: Mode,
    pub seed: u64,
    /// Larger announced frames close the connection (counted `malformed`).
    pub max_frame_bytes: usize,
}

/// Default frame limit: far above any protocol message, far below memory trouble.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
/// Connections one link serves at once; more are refused (closed on accept).
pub const MAX_CONNECTIONS_PER_LINK: u64 = 64;

impl ProxyConfig {
    pub fn frames(seed: u64) -> ProxyConfig {
        ProxyConfig { mode: Mode::Frames, seed, max_frame_bytes: DEFAULT_MAX_FRAME_BYTES }
    }

    pub fn bytes(seed: u64) -> ProxyConfig {
        ProxyConfig { mode: Mode::Bytes, ..ProxyConfig::frames(seed) }
    }
}

/// A running proxy. Share it behind an `Arc`; every method takes `&self`.
pub struct Proxy {
    shared: Arc<Shared>,
    listeners: BTreeMap<Link, SocketAddr>,
    shutdown: watch::Sender<bool>,
}

/// What the data path reads for every frame, changed atomically by the control methods.
#[derive(Debug, Clone, Default)]
struct Control {
    grudge: Grudge,
    faults: BTreeMap<Link, LinkFaults>,
}

pub(crate) struct Shared {
    config: ProxyConfig,
    control: RwLock<Control>,
    /// Bumped on every control change, so stalled byte streams re-check their link.
    changes: watch::Sender<u64>,
    /// Each node's real peer-listen address, fixed for the proxy's life.
    targets: BTreeMap<NodeId, SocketAddr>,
    counters: BTreeMap<Link, Arc<LinkCounters>>,
}

impl Proxy {
    /// A proxy for the full mesh of `targets` (each node's real peer-listen address): one
    /// listener for every ordered pair of distinct nodes.
    pub async fn start(targets: &BTreeMap<NodeId, SocketAddr>, config: ProxyConfig) -> anyhow::Result<Proxy> {
        let links: Vec<Link> = targets
            .keys()
            .flat_map(|&i| targets.keys().filter(move |&&j| j != i).map(move |&j| (i, j)))
            .collect();
        Proxy::start_links(targets, &links, config).await
    }

    /// A proxy for the given links only.
    pub async fn start_links(
        targets: &BTreeMap<NodeId, SocketAddr>,
        links: &[Link],
        config: ProxyConfig,
    ) -> anyhow::Result<Proxy> {
        if config.max_frame_bytes == 0 {
            return Err(anyhow!("max_frame_bytes must be positive"));
        }
        for &(from, to) in links {
            if from == to {
                return Err(anyhow!("link {from}->{to} connects a node to itself"));
            }
            if !targets.contains_key(&to) {
                return Err(anyhow!("link {from}->{to}: no address for node {to}"));
            }
        }
        let (shutdown, _) = watch::channel(false);
        // Reverse directions get counters too: byte-mode replies are counted there.
        let counters = links
            .iter()
            .flat_map(|&(a, b)| [(a, b), (b, a)])
            .map(|link| (link, Arc::new(LinkCounters::default())))
            .collect();
        let shared = Arc::new(Shared {
            config,
            control: RwLock::new(Control::default()),
            changes: watch::channel(0).0,
            targets: targets.clone(),
            counters,
        });
        let mut listeners = BTreeMap::new();
        for &link in links {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .with_context(|| format!("binding the proxy listener for {}->{}", link.0, link.1))?;
            listeners.insert(link, listener.local_addr().context("reading a listener address")?);
            tokio::spawn(accept_loop(listener, link, shared.clone(), shutdown.subscribe()));
        }
        Ok(Proxy { shared, listeners, shutdown })
    }

    /// The address node `from` must be given for peer `to`.
    pub fn listen_addr(&self, from: NodeId, to: NodeId) -> Option<SocketAddr> {
        self.listeners.get(&(from, to)).copied()
    }

    /// For node `from`, every peer and the proxy address to dial for it.
    pub fn peers_of(&self, from: NodeId) -> BTreeMap<NodeId, SocketAddr> {
        self.listeners.iter().filter(|((f, _), _)| *f == from).map(|(&(_, to), &a)| (to, a)).collect()
    }

    pub fn links(&self) -> Vec<Link> {
        self.listeners.keys().copied().collect()
    }

    /// Replace the partition: every link is cut or not by this grudge, all at once.
    pub fn set_grudge(&self, grudge: Grudge) {
        self.shared.update(|control| control.grudge = grudge);
    }

    /// Remove every cut. Link faults stay.
    pub fn heal(&self) {
        self.set_grudge(Grudge::none());
    }

    pub fn grudge(&self) -> Grudge {
        self.shared.read().grudge.clone()
    }

    /// Set one link's faults (replacing what it had).
    pub fn set_link_faults(&self, link: Link, faults: LinkFaults) -> anyhow::Result<()> {
        faults.validate().map_err(|e| anyhow!("link {}->{}: {e}", link.0, link.1))?;
        if !self.listeners.contains_key(&link) {
            return Err(anyhow!("no link {}->{} in this proxy", link.0, link.1));
        }
        self.shared.update(|control| {
            control.faults.insert(link, faults);
        });
        Ok(())
    }

    /// Set the same faults on every link, at once.
    pub fn set_all_link_faults(&self, faults: LinkFaults) -> anyhow::Result<()> {
        faults.validate().map_err(|e| anyhow!("link faults: {e}"))?;
        let links = self.links();
        self.shared.update(|control| {
            control.faults = links.iter().map(|&link| (link, faults)).collect();
        });
        Ok(())
    }

    /// Remove every link fault. Cuts stay.
    pub fn clear_link_faults(&self) {
        self.shared.update(|control| control.faults.clear());
    }

    pub fn link_faults(&self, link: Link) -> LinkFaults {
        self.shared.read().faults.get(&link).copied().unwrap_or_default()
    }

    /// A snapshot of every link's counters (for `net.json`).
    pub fn stats(&self) -> NetStats {
        NetStats::from_links(
            self.shared
                .counters
                .iter()
                .map(|(&(from, to), counters)| (format!("{from}->{to}"), counters.snapshot()))
                .collect(),
        )
    }

    /// Connections open through `link` right now.
    pub fn open_connections(&self, link: Link) -> u64 {
        self.shared.counters.get(&link).map_or(0, |c| c.open_connections.load(Ordering::Relaxed))
    }

    /// Stop listening and close every proxied connection. Idempotent; also runs on drop.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, Control> {
        // Every update replaces whole fields, so a poisoned lock still holds a valid state.
        self.control.read().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut Control)) {
        change(&mut self.control.write().unwrap_or_else(|p| p.into_inner()));
        self.changes.send_modify(|generation| *generation += 1);
    }

    /// Whether `link` is cut, and its faults, as of now.
    fn link_state(&self, link: Link) -> (bool, LinkFaults) {
        let control = self.read();
        (control.grudge.is_cut(link.0, link.1), control.faults.get(&link).copied().unwrap_or_default())
    }

    fn target(&self, to: NodeId) -> Option<SocketAddr> {
        self.targets.get(&to).copied()
    }

    fn counters(&self, link: Link) -> Arc<LinkCounters> {
        self.counters.get(&link).cloned().unwrap_or_default()
    }
}

async fn accept_loop(
    listener: TcpListener,
    link: Link,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let counters = shared.counters(link);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if counters.open_connections.load(Ordering::Relaxed) >= MAX_CONNECTIONS_PER_LINK {
                        drop(stream);
                        continue;
                    }
                    tokio::spawn(link::serve(stream, link, shared.clone(), shutdown.clone()));
                }
                // Out of descriptors or a connection reset before accept: keep serving.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            },
        }
    }
}

impl Network for Proxy {
    fn set_grudge(&self, grudge: Grudge) -> anyhow::Result<()> {
        Proxy::set_grudge(self, grudge);
        Ok(())
    }

    fn grudge(&self) -> Grudge {
        Proxy::grudge(self)
    }

    fn set_all_link_faults(&self, faults: LinkFaults) -> anyhow::Result<()> {
        Proxy::set_all_link_faults(self, faults)
    }

    fn clear_link_faults(&self) -> anyhow::Result<()> {
        Proxy::clear_link_faults(self);
        Ok(())
    }

    fn has_link_faults(&self) -> bool {
        self.links().into_iter().any(|l| !self.link_faults(l).is_none())
    }

    fn stats(&self) -> Option<NetStats> {
        Some(Proxy::stats(self))
    }

    fn shutdown(&self) {
        Proxy::shutdown(self)
    }
}
