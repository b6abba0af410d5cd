//! The runtime: executes any protocol's effects over real sockets, disks and clocks.
//!
//! One node is a handful of tasks around one actor:
//!
//! ```text
//!   HTTP clients ──axum── http ──bounded──▶ ┌──────────────┐ ──▶ wal (append, fsync)
//!                                           │ node (actor) │
//!   peers ──TCP── transport::accept ──────▶ │ owns P       │ ──▶ transport::Outbound ──TCP──▶ peers
//!                                           └──────────────┘      (one link per peer)
//! ```
//!
//! - [`frame`]: the peer wire format (length-prefixed JSON, handshake).
//! - [`transport`]: one-way peer links with bounded, lossy queues and backoff.
//! - [`wal`]: the checksummed write-ahead log and its crash recovery ([`crc32`]).
//! - [`timers`]: the protocol's named timers.
//! - [`clock`]: the protocol's clock, skewable through `POST /admin/clock`.
//! - [`node`]: the actor that steps the protocol and keeps the durability contract.
//! - [`http`]: the client API.
//! - [`args`]: the command line, shared by `faultline-node` and `faultline node`.
//!
//! [`run`] is the whole node as a blocking call; [`serve`] is the same node on listeners the
//! caller bound, with a caller-chosen shutdown, for tests that bind port 0.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::api::NodeId;
use crate::protocol::{Config, Options, Protocol};
use crate::protocols::ProtocolName;

pub mod args;
pub mod clock;
pub mod crc32;
pub mod frame;
pub mod http;
pub mod node;
pub mod timers;
pub mod transport;
pub mod wal;

pub use args::{NodeArgs, PeerArg};

/// Client requests queued for the actor; beyond this, clients get `unavailable` at once.
pub const CLIENT_QUEUE: usize = 1024;
/// Peer messages queued for the actor; beyond this, the readers wait (TCP backpressure).
pub const PEER_QUEUE: usize = 4096;

/// A node's settings, parsed and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub id: NodeId,
    /// Every other member, with the address at which this node reaches it.
    pub peers: BTreeMap<NodeId, String>,
    pub data_dir: PathBuf,
    pub options: Options,
    pub request_timeout_ms: u64,
    pub max_frame_bytes: usize,
    pub max_body_bytes: usize,
}

impl Settings {
    pub fn from_args(args: &NodeArgs) -> anyhow::Result<Settings> {
        Ok(Settings {
            id: args.id,
            peers: args.validated_peers()?,
            data_dir: args.data_dir.clone(),
            options: args.options(),
            request_timeout_ms: args.request_timeout_ms,
            max_frame_bytes: args.max_frame_bytes,
            max_body_bytes: args.max_body_bytes,
        })
    }

    /// This node and its peers, ascending.
    pub fn members(&self) -> Vec<NodeId> {
        let mut members: Vec<NodeId> = self.peers.keys().copied().collect();
        members.push(self.id);
        members.sort_unstable();
        members
    }
}

/// The two sockets a node listens on, bound by the caller.
#[derive(Debug)]
pub struct Listeners {
    pub peer: TcpListener,
    pub client: TcpListener,
}

impl Listeners {
    pub async fn bind(peer: SocketAddr, client: SocketAddr) -> anyhow::Result<Listeners> {
        let peer =
            TcpListener::bind(peer).await.with_context(|| format!("binding the peer address {peer}"))?;
        let client = TcpListener::bind(client)
            .await
            .with_context(|| format!("binding the client address {client}"))?;
        Ok(Listeners { peer, client })
    }
}

/// Run one node of protocol `P` until `shutdown` completes (Ok) or the node fails (Err:
/// the write-ahead log is corrupt or could not be written, a listener died).
pub async fn serve<P: Protocol>(
    settings: Settings,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (wal, recovery) = wal::Wal::open(&settings.data_dir)?;
    if recovery.truncated_bytes > 0 {
        warn!(bytes = recovery.truncated_bytes, "truncated a torn record at the end of the write-ahead log");
    }
    let identity = transport::Identity { id: settings.id, protocol: P::NAME };
    // Dropping the set aborts every task of this node.
    let mut tasks = JoinSet::new();
    let outbound =
        transport::Outbound::start(&identity, &settings.peers, settings.max_frame_bytes, &mut tasks);
    let config = Config { id: settings.id, members: settings.members(), options: settings.options.clone() };
    let actor =
        node::Node::<P>::recover(config, wal, recovery.records, outbound, settings.request_timeout_ms)?;

    let (peer_tx, peer_rx) = mpsc::channel(PEER_QUEUE);
    let inbound = transport::Inbound {
        identity,
        peers: settings.peers.keys().copied().collect(),
        max_frame_bytes: settings.max_frame_bytes,
    };
    tasks.spawn(transport::accept::<P::Message>(listeners.peer, inbound, peer_tx));

    let (client_tx, client_rx) = mpsc::channel(CLIENT_QUEUE);
    let state = http::ApiState {
        inbox: client_tx,
        wait: Duration::from_millis(settings.request_timeout_ms) + Duration::from_secs(1),
    };
    let router = http::router(state, settings.max_body_bytes);
    let client_listener = listeners.client;
    let (server_failed_tx, server_failed_rx) = tokio::sync::oneshot::channel();
    tasks.spawn(async move {
        if let Err(e) = axum::serve(client_listener, router).await {
            let _ = server_failed_tx.send(e);
        }
    });
    info!(id = settings.id, protocol = P::NAME, "serving");
    tokio::select! {
        result = actor.run(client_rx, peer_rx, shutdown) => result,
        Ok(e) = server_failed_rx => bail!("the client API server failed: {e}"),
    }
}

/// The exit code of a node that could not listen because an address it was given is in
/// use (Linux's `EADDRINUSE`). Whoever chose the address may choose another and start the
/// node again; every other failure exits 1.
pub const EXIT_ADDRESS_IN_USE: u8 = 98;

/// The exit code for a failure of [`run`]: [`EXIT_ADDRESS_IN_USE`] where a listen address
/// was taken, 1 otherwise.
pub fn failure_code(error: &anyhow::Error) -> u8 {
    let taken = error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::AddrInUse)
    });
    if taken {
        EXIT_ADDRESS_IN_USE
    } else {
        1
    }
}

/// Run the node the flags describe, blocking until SIGTERM or SIGINT (Ok) or a failure.
///
/// Prints one line to stdout once both listeners are bound:
/// `{"ready":{"id":1,"protocol":"raft","peer_listen":"127.0.0.1:40001","client_listen":"..."}}`.
pub fn run(args: NodeArgs) -> anyhow::Result<()> {
    init_logging(&args.log_level)?;
    let settings = Settings::from_args(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("faultline-node")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let shutdown = termination()?;
        let listeners = Listeners::bind(args.peer_listen, args.client_listen).await?;
        announce_ready(args.protocol, settings.id, &listeners)?;
        dispatch(args.protocol, settings, listeners, shutdown).await
    })
}

// ---- Protocol dispatch: the one place that maps a protocol's name to its type. ----
// A protocol joins the node by adding its arm here.
async fn dispatch(
    name: ProtocolName,
    settings: Settings,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    use crate::protocols::{paxos::Paxos, pb, raft::Raft, twopc::TwoPc, zab::Zab};
    match name {
        ProtocolName::PbAsync => serve::<pb::PbAsync>(settings, listeners, shutdown).await,
        ProtocolName::PbSync => serve::<pb::PbSync>(settings, listeners, shutdown).await,
        ProtocolName::Paxos => serve::<Paxos>(settings, listeners, shutdown).await,
        ProtocolName::Raft => serve::<Raft>(settings, listeners, shutdown).await,
        ProtocolName::TwoPc => serve::<TwoPc>(settings, listeners, shutdown).await,
        ProtocolName::Zab => serve::<Zab>(settings, listeners, shutdown).await,
    }
}

fn announce_ready(protocol: ProtocolName, id: NodeId, listeners: &Listeners) -> anyhow::Result<()> {
    let line = serde_json::json!({
        "ready": {
            "id": id,
            "protocol": protocol.as_str(),
            "peer_listen": listeners.peer.local_addr()?.to_string(),
            "client_listen": listeners.client.local_addr()?.to_string(),
        }
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").and_then(|()| stdout.flush()).context("writing the ready line to stdout")
}

/// A future that completes on SIGTERM or SIGINT. The handlers are installed before this
/// returns, so a signal sent right after the ready line is not lost.
fn termination() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("watching SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("watching SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM"),
            _ = interrupt.recv() => info!("SIGINT"),
        }
    })
}

fn init_logging(filter: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| anyhow::anyhow!("--log-level {filter:?} is not a valid filter: {e}"))?;
    // A second node in the same process (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    Ok(())
}
