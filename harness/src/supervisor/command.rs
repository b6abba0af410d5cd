//! [`NodeCommand`]: the argv of one faultline node and where its files go.
//!
//! The harness runs nodes as `faultline node --protocol P --id I --peer-listen A
//! --client-listen B --peer J=ADDR ... --data-dir D [protocol options]`, where each
//! `--peer` address is the fault proxy's listener for the link I->J, never J itself.
//! Files of a run: `<run>/nodes/<id>.log` (stdout and stderr) and `<run>/data/<id>/`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nodes::api::NodeId;
use results::RunDir;

use crate::host::{NodeAddrs, NodeSpec};

/// How to run one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCommand {
    /// The executable; the harness passes its own (`std::env::current_exe()`).
    pub program: PathBuf,
    /// Arguments before the node's own, e.g. `["node"]` for the hidden subcommand.
    pub leading_args: Vec<String>,
    pub protocol: String,
    pub id: NodeId,
    pub addrs: NodeAddrs,
    /// For each other node, the address this node must dial to reach it (the proxy's).
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// Protocol options, appended as given.
    pub extra_args: Vec<String>,
}

impl NodeCommand {
    /// The node's data directory under a run directory.
    pub fn data_dir(run_dir: &Path, id: NodeId) -> PathBuf {
        RunDir::node_data_at(run_dir, id)
    }

    /// The node's log file under a run directory.
    pub fn log_path(run_dir: &Path, id: NodeId) -> PathBuf {
        RunDir::node_log_at(run_dir, id)
    }

    /// The full argv, program first.
    pub fn argv(&self, data_dir: &Path) -> Vec<OsString> {
        let mut argv: Vec<OsString> = vec![self.program.clone().into()];
        argv.extend(self.leading_args.iter().map(OsString::from));
        let mut push = |flag: &str, value: String| {
            argv.push(flag.into());
            argv.push(value.into());
        };
        push("--protocol", self.protocol.clone());
        push("--id", self.id.to_string());
        push("--peer-listen", self.addrs.peer_listen.to_string());
        push("--client-listen", self.addrs.client.to_string());
        for (peer, addr) in &self.peers {
            push("--peer", format!("{peer}={addr}"));
        }
        argv.push("--data-dir".into());
        argv.push(data_dir.into());
        argv.extend(self.extra_args.iter().map(OsString::from));
        argv
    }

    /// A spec that keeps the node's files under `run_dir`.
    pub fn spec(&self, run_dir: &Path) -> NodeSpec {
        let data_dir = Self::data_dir(run_dir, self.id);
        NodeSpec {
            id: self.id,
            argv: self.argv(&data_dir),
            rejoin_argv: None,
            log_path: Self::log_path(run_dir, self.id),
            data_dir,
            addrs: self.addrs,
        }
    }
}
