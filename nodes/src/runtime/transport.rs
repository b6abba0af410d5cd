//! Peer transport: one outbound link per peer, and a listener for inbound links.
//!
//! Every TCP connection carries frames one way. To reach peer `j`, a node writes only on
//! the connection it opened to the address it was given for `j`; on connections it
//! accepted it only reads. A fault proxy listening on that address therefore sees exactly
//! the frames of the directed link `i -> j`.
//!
//! Limits: each outbound link has a bounded queue and a frame that does not fit is dropped
//! (the network is lossy by contract, and a protocol must not stall on a slow peer); a
//! frame larger than the frame limit is refused before it is queued (the peer would only
//! disconnect on it), and the caller logs the sizes;
//! reconnection backs off exponentially up to a cap; inbound frames over the size limit,
//! and frames that do not decode as the protocol's message, disconnect the sender with a
//! warning; inbound connections are capped in number.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout, Instant};
use tracing::{debug, info, warn};

use super::frame::{self, Hello, MAX_HELLO_BYTES};
use crate::api::NodeId;

/// Frames queued per peer before new ones are dropped.
pub const SEND_QUEUE_FRAMES: usize = 4096;
/// First pause before reconnecting to a peer.
pub const BACKOFF_INITIAL: Duration = Duration::from_millis(50);
/// Longest pause before reconnecting to a peer.
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an accepted connection has to send its handshake.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Inbound connections served at once; more are closed on accept.
pub const MAX_INBOUND_CONNECTIONS: usize = 256;
/// Most queued frames written before a flush.
const WRITE_BATCH_FRAMES: usize = 256;

/// Who this node is on the wire.
#[derive(Debug, Clone)]
pub struct Identity {
    pub id: NodeId,
    pub protocol: &'static str,
}

/// The sending side: a bounded queue per peer, each drained by its own link task.
#[derive(Debug)]
pub struct Outbound {
    queues: BTreeMap<NodeId, mpsc::Sender<Vec<u8>>>,
    /// The peers' frame limit (the cluster shares one): a larger frame is never sent.
    max_frame_bytes: usize,
}

/// Why [`Outbound::send`] did not queue a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRefused {
    UnknownPeer,
    QueueFull,
    /// The frame's payload is larger than the frame limit.
    TooLarge {
        bytes: usize,
        limit: usize,
    },
}

impl Outbound {
    /// Start one link task per peer in `tasks`. `peers` maps each peer to the address at
    /// which this node reaches it.
    pub fn start(
        identity: &Identity,
        peers: &BTreeMap<NodeId, String>,
        max_frame_bytes: usize,
        tasks: &mut JoinSet<()>,
    ) -> Outbound {
        let mut queues = BTreeMap::new();
        for (&to, addr) in peers {
            let (tx, rx) = mpsc::channel(SEND_QUEUE_FRAMES);
            queues.insert(to, tx);
            tasks.spawn(link(identity.clone(), to, addr.clone(), rx));
        }
        Outbound { queues, max_frame_bytes }
    }

    /// Queue a complete frame for `to`, or drop it.
    pub fn send(&self, to: NodeId, frame: Vec<u8>) -> Result<(), SendRefused> {
        let queue = self.queues.get(&to).ok_or(SendRefused::UnknownPeer)?;
        let bytes = frame.len().saturating_sub(frame::HEADER_BYTES);
        if bytes > self.max_frame_bytes {
            return Err(SendRefused::TooLarge { bytes, limit: self.max_frame_bytes });
        }
        queue.try_send(frame).map_err(|_| SendRefused::QueueFull)
    }
}

/// Keep a connection to one peer open and write its queued frames to it.
async fn link(identity: Identity, to: NodeId, addr: String, mut queue: mpsc::Receiver<Vec<u8>>) {
    let hello = Hello { from: identity.id, protocol: identity.protocol.to_string() }.encode_frame();
    let mut backoff = BACKOFF_INITIAL;
    loop {
        let started = Instant::now();
        match timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr)).await {
            Ok(Ok(stream)) => {
                debug!(peer = to, %addr, "connected");
                match run_connection(stream, &hello, &mut queue).await {
                    LinkEnd::QueueClosed => return,
                    LinkEnd::Lost(reason) => debug!(peer = to, %addr, %reason, "connection lost"),
                }
            }
            Ok(Err(e)) => debug!(peer = to, %addr, error = %e, "connect failed"),
            Err(_) => debug!(peer = to, %addr, "connect timed out"),
        }
        if started.elapsed() > BACKOFF_MAX {
            backoff = BACKOFF_INITIAL;
        }
        sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

enum LinkEnd {
    /// The node is shutting down.
    QueueClosed,
    Lost(String),
}

async fn run_connection(stream: TcpStream, hello: &[u8], queue: &mut mpsc::Receiver<Vec<u8>>) -> LinkEnd {
    let _ = stream.set_nodelay(true);
    let (mut read_half, write_half) = stream.into_split();
    let mut writer = BufWriter::with_capacity(64 * 1024, write_half);
    if let Err(e) = async {
        writer.write_all(hello).await?;
        writer.flush().await
    }
    .await
    {
        return LinkEnd::Lost(format!("handshake: {e}"));
    }
    // The receiver never writes; reading only notices that it closed the connection.
    let mut ignored = [0u8; 64];
    loop {
        tokio::select! {
            next = queue.recv() => {
                let Some(first) = next else { return LinkEnd::QueueClosed };
                let written = async {
                    writer.write_all(&first).await?;
                    for _ in 1..WRITE_BATCH_FRAMES {
                        match queue.try_recv() {
                            Ok(frame) => writer.write_all(&frame).await?,
                            Err(_) => break,
                        }
                    }
                    writer.flush().await
                }
                .await;
                if let Err(e) = written {
                    return LinkEnd::Lost(format!("write: {e}"));
                }
            }
            read = read_half.read(&mut ignored) => {
                return LinkEnd::Lost(match read {
                    Ok(0) => "closed by the receiver".to_string(),
                    Ok(_) => "the receiver wrote on a one-way connection".to_string(),
                    Err(e) => format!("read: {e}"),
                });
            }
        }
    }
}

/// What the receiving side needs to know.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub identity: Identity,
    /// Every member but this node: the only ids a handshake may name.
    pub peers: Vec<NodeId>,
    pub max_frame_bytes: usize,
}

/// Accept peer connections forever, delivering each decoded message to `inbox`.
pub async fn accept<M: DeserializeOwned + Send + 'static>(
    listener: TcpListener,
    inbound: Inbound,
    inbox: mpsc::Sender<(NodeId, M)>,
) {
    let inbound = Arc::new(inbound);
    let slots = Arc::new(Semaphore::new(MAX_INBOUND_CONNECTIONS));
    // Owned here so that the connections end when accepting ends.
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Usually out of file descriptors: wait for some to be released.
                warn!(error = %e, "accepting a peer connection failed");
                sleep(BACKOFF_INITIAL).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            warn!(%remote, limit = MAX_INBOUND_CONNECTIONS, "too many peer connections; closing a new one");
            continue;
        };
        let (inbound, inbox) = (inbound.clone(), inbox.clone());
        connections.spawn(async move {
            let _slot = slot;
            receive(stream, remote, &inbound, inbox).await;
        });
    }
}

/// Read one inbound connection until it ends or misbehaves.
async fn receive<M: DeserializeOwned>(
    stream: TcpStream,
    remote: std::net::SocketAddr,
    inbound: &Inbound,
    inbox: mpsc::Sender<(NodeId, M)>,
) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let hello_limit = MAX_HELLO_BYTES.min(inbound.max_frame_bytes);
    let hello = match timeout(HELLO_TIMEOUT, frame::read_frame(&mut reader, hello_limit)).await {
        Err(_) => return warn!(%remote, "peer sent no handshake in time; disconnecting"),
        Ok(Ok(None)) => return debug!(%remote, "peer closed before its handshake"),
        Ok(Err(e)) => return warn!(%remote, error = %e, "bad handshake frame; disconnecting"),
        Ok(Ok(Some(payload))) => match Hello::decode(&payload) {
            Ok(hello) => hello,
            Err(e) => return warn!(%remote, error = %e, "bad handshake; disconnecting"),
        },
    };
    if hello.protocol != inbound.identity.protocol {
        return warn!(%remote, theirs = %hello.protocol, ours = inbound.identity.protocol,
            "peer runs another protocol; disconnecting");
    }
    if !inbound.peers.contains(&hello.from) {
        return warn!(%remote, from = hello.from, "handshake names no peer of this node; disconnecting");
    }
    let from = hello.from;
    info!(peer = from, %remote, "peer connected");
    loop {
        let payload = match frame::read_frame(&mut reader, inbound.max_frame_bytes).await {
            Ok(Some(payload)) => payload,
            Ok(None) => return debug!(peer = from, "peer closed its connection"),
            Err(e) => return warn!(peer = from, error = %e, "bad frame from peer; disconnecting"),
        };
        let message = match serde_json::from_slice::<M>(&payload) {
            Ok(message) => message,
            Err(e) => {
                return warn!(peer = from, error = %e, bytes = payload.len(),
                    "undecodable message from peer; disconnecting")
            }
        };
        if inbox.send((from, message)).await.is_err() {
            return; // The node is shutting down.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_drops_instead_of_waiting() {
        // An address nobody listens on: the link keeps failing to connect and never drains.
        let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = dead.local_addr().unwrap().to_string();
        drop(dead);
        let identity = Identity { id: 1, protocol: "test" };
        let mut tasks = JoinSet::new();
        let outbound = Outbound::start(&identity, &BTreeMap::from([(2, addr)]), 1024, &mut tasks);
        let mut refused = None;
        for i in 0..=SEND_QUEUE_FRAMES + 1 {
            if let Err(e) = outbound.send(2, frame::encode(b"{}")) {
                refused = Some((i, e));
                break;
            }
        }
        assert_eq!(refused, Some((SEND_QUEUE_FRAMES, SendRefused::QueueFull)));
        assert_eq!(outbound.send(7, Vec::new()), Err(SendRefused::UnknownPeer));
    }

    #[tokio::test]
    async fn a_frame_over_the_limit_is_refused_with_its_size() {
        let identity = Identity { id: 1, protocol: "test" };
        let mut tasks = JoinSet::new();
        let outbound =
            Outbound::start(&identity, &BTreeMap::from([(2, "127.0.0.1:9".to_string())]), 8, &mut tasks);
        assert_eq!(outbound.send(2, frame::encode(b"12345678")), Ok(()));
        assert_eq!(
            outbound.send(2, frame::encode(b"123456789")),
            Err(SendRefused::TooLarge { bytes: 9, limit: 8 })
        );
    }
}
