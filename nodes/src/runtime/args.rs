//! The node's command line, parsed once into typed settings.
//!
//! Shared by the `faultline-node` binary and the harness's hidden `faultline node`
//! subcommand, so both run exactly the same node.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::api::NodeId;
use crate::flags::ProtocolFlags;
use crate::protocol::Options;
use crate::protocols::ProtocolName;
use anyhow::bail;

/// Everything a node needs to start.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// Replication protocol to run: pb-async, pb-sync, 2pc, paxos, raft or zab.
    #[arg(long, value_parser = parse_protocol)]
    pub protocol: ProtocolName,

    /// This node's id (members are this id plus every --peer id).
    #[arg(long)]
    pub id: NodeId,

    /// Address to accept peer connections on (port 0 picks a free port; see the ready line).
    #[arg(long, value_name = "ADDR")]
    pub peer_listen: SocketAddr,

    /// Address to serve the HTTP client API on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub client_listen: SocketAddr,

    /// A peer, as ID=HOST:PORT: the address at which THIS node reaches that peer (a fault
    /// proxy's listener for the link from this node to it). Repeat once per peer.
    #[arg(long = "peer", value_name = "ID=HOST:PORT", value_parser = parse_peer)]
    pub peers: Vec<PeerArg>,

    /// Directory for the write-ahead log; created if missing. Restarting on the same
    /// directory recovers every record that was made durable.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub protocol_flags: ProtocolFlags,

    /// Server-side deadline of every client request, in milliseconds: without an answer
    /// from the protocol by then the node answers `timeout` (the operation may still happen).
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    pub request_timeout_ms: u64,

    /// Largest peer frame accepted; a peer sending a larger one is disconnected.
    #[arg(long, default_value_t = 16 * 1024 * 1024, value_name = "BYTES")]
    pub max_frame_bytes: usize,

    /// Largest HTTP request body accepted; larger ones get `payload_too_large`.
    #[arg(long, default_value_t = 1024 * 1024, value_name = "BYTES")]
    pub max_body_bytes: usize,

    /// Log filter for stderr: a level (error, warn, info, debug, trace) or tracing directives.
    #[arg(long, default_value = "info", value_name = "FILTER")]
    pub log_level: String,
}

/// One `--peer ID=HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerArg {
    pub id: NodeId,
    pub addr: String,
}

impl NodeArgs {
    /// The protocol options these flags describe.
    pub fn options(&self) -> Options {
        self.protocol_flags.options()
    }

    /// Peers by id, checking what clap cannot: no duplicates, not this node, sane ranges.
    pub fn validated_peers(&self) -> anyhow::Result<BTreeMap<NodeId, String>> {
        let mut peers = BTreeMap::new();
        for peer in &self.peers {
            if peer.id == self.id {
                bail!("--peer {}={} names this node's own id", peer.id, peer.addr);
            }
            if peers.insert(peer.id, peer.addr.clone()).is_some() {
                bail!("--peer {} is given twice", peer.id);
            }
        }
        self.protocol_flags.validate(self.protocol).map_err(anyhow::Error::msg)?;
        if self.request_timeout_ms == 0 {
            bail!("--request-timeout-ms must be positive");
        }
        if self.max_frame_bytes < 64 || self.max_frame_bytes > u32::MAX as usize {
            bail!("--max-frame-bytes must be between 64 and {}", u32::MAX);
        }
        Ok(peers)
    }
}

fn parse_protocol(s: &str) -> Result<ProtocolName, String> {
    s.parse()
}

fn parse_peer(s: &str) -> Result<PeerArg, String> {
    let (id, addr) = s.split_once('=').ok_or_else(|| format!("expected ID=HOST:PORT, got {s:?}"))?;
    let id: NodeId = id.parse().map_err(|_| format!("peer id {id:?} is not a non-negative integer"))?;
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| format!("peer address {addr:?} has no :PORT"))?;
    if host.is_empty() {
        return Err(format!("peer address {addr:?} has no host"));
    }
    port.parse::<u16>().map_err(|_| format!("peer port {port:?} is not a port number"))?;
    Ok(PeerArg { id, addr: addr.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ReadMode;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        node: NodeArgs,
    }

    fn parse(extra: &[&str]) -> Result<NodeArgs, clap::Error> {
        let mut argv = vec![
            "node",
            "--protocol",
            "raft",
            "--id",
            "1",
            "--peer-listen",
            "127.0.0.1:0",
            "--client-listen",
            "127.0.0.1:0",
            "--data-dir",
            "/tmp/x",
        ];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).map(|c| c.node)
    }

    #[test]
    fn flags_map_onto_protocol_options() {
        let args = parse(&[
            "--peer",
            "2=127.0.0.1:9002",
            "--peer",
            "3=localhost:9003",
            "--read",
            "local",
            "--heartbeat-ms",
            "20",
            "--phase1-every-op",
        ])
        .unwrap();
        let peers = args.validated_peers().unwrap();
        assert_eq!(peers.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
        let options = args.options();
        assert_eq!(options.read_mode, ReadMode::Local);
        assert_eq!(options.heartbeat_ms, 20);
        assert!(options.phase1_every_op);
        assert_eq!(options.max_batch, Options::default().max_batch);
    }

    #[test]
    fn bad_flags_are_refused_with_a_reason() {
        assert!(parse(&["--peer", "2"]).unwrap_err().to_string().contains("ID=HOST:PORT"));
        assert!(parse(&["--peer", "x=a:1"]).unwrap_err().to_string().contains("not a non-negative"));
        assert!(parse(&["--peer", "2=host:99999"]).unwrap_err().to_string().contains("not a port"));
        assert!(parse(&["--protocol", "viewstamped"]).is_err());
        let own = parse(&["--peer", "1=127.0.0.1:1"]).unwrap();
        assert!(own.validated_peers().unwrap_err().to_string().contains("own id"));
        let twice = parse(&["--peer", "2=127.0.0.1:1", "--peer", "2=127.0.0.1:2"]).unwrap();
        assert!(twice.validated_peers().unwrap_err().to_string().contains("twice"));
        let lease = parse(&["--read", "lease"]).unwrap();
        assert_eq!(lease.options().read_mode, ReadMode::Lease);
        assert!(lease.validated_peers().is_ok());
        let mut paxos_lease = lease.clone();
        paxos_lease.protocol = ProtocolName::Paxos;
        assert!(paxos_lease.validated_peers().unwrap_err().to_string().contains("raft only"));
        let mut read_committed = parse(&["--isolation", "read-committed"]).unwrap();
        assert!(read_committed.validated_peers().unwrap_err().to_string().contains("2pc only"));
        read_committed.protocol = ProtocolName::TwoPc;
        assert!(read_committed.validated_peers().is_ok());
        let range = parse(&["--election-timeout-min-ms", "900"]).unwrap();
        assert!(range.validated_peers().unwrap_err().to_string().contains("exceeds"));
        for zero in ["--heartbeat-ms", "--election-timeout-min-ms", "--max-batch", "--request-timeout-ms"] {
            let args = parse(&[zero, "0"]).unwrap();
            let err = args.validated_peers().unwrap_err().to_string();
            assert!(err.contains(zero) && !err.contains('\n'), "{zero} 0: {err}");
        }
        let huge = parse(&["--heartbeat-ms", "18446744073709551615"]).unwrap();
        assert!(huge.validated_peers().unwrap_err().to_string().contains("between 1 and 3600000"));
    }
}
