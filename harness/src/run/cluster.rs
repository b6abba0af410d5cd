//! The cluster of a run, in one of two shapes:
//!
//! - faultline's own nodes ([`Cluster::start`]): the fault proxy on every link, and the
//!   nodes started through the supervisor, each told to reach its peers only through the
//!   proxy. Nodes are this very executable run as `faultline node ...` (argv, never a
//!   shell), so a test needs nothing installed.
//! - a real system ([`Cluster::start_real`]): one network namespace per node on a bridge
//!   the run creates, each node the system's own binary started by its adapter inside its
//!   namespace; cuts are nftables rules. What the run creates is written to
//!   `<run>/network.json` first, and removed when the cluster stops or is dropped.
//!
//! Either way, node logs land in `<run>/nodes/<id>.log` and data in `<run>/data/<id>/`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use nodes::api::{NodeId, Status};
use results::RunDir;

use crate::host::NodeAddrs;
use crate::nemesis::FaultKind;
use crate::net::Network;
use crate::netns::{NetnsNetwork, RunTag};
use crate::proxy::{Proxy, ProxyConfig};
use crate::ssh::{Remotes, SshHost, SshNetwork, SshOptions};
use crate::supervisor::{allocate_addrs, on_forced_exit, AddressTaken, LocalHost, NodeCommand, Supervisor};
use crate::system::builtin::Builtin;
use crate::system::etcd::{Etcd, EtcdOptions};
use crate::system::redis::{Redis, RedisOptions};
use crate::system::zookeeper::{ZkOptions, ZooKeeper};
use crate::system::{System, SystemName};

use super::spec::{RunSpec, SshSpec};

/// Where faultline's own nodes listen on an SSH host (its own address): peers, clients.
pub const SSH_PEER_PORT: u16 = 7400;
pub const SSH_CLIENT_PORT: u16 = 7401;

/// How long every node has to answer `/health` after it is started.
pub const START_DEADLINE: Duration = Duration::from_secs(20);
/// How many times [`Cluster::start`] chooses ports for the built-in nodes.
pub const START_ATTEMPTS: u32 = 3;
/// How often readiness polls `/status`.
const READY_POLL: Duration = Duration::from_millis(50);

/// Addresses for the built-in nodes with these ids (normally [`allocate_addrs`]).
pub type ChoosePorts<'a> = dyn FnMut(&[NodeId]) -> anyhow::Result<BTreeMap<NodeId, NodeAddrs>> + 'a;

/// A running cluster.
pub struct Cluster {
    pub supervisor: Arc<Supervisor>,
    pub network: Arc<dyn Network>,
    /// How clients, the poller and the nemesis talk to the nodes.
    pub system: Arc<dyn System>,
    /// The built-in nodes' client API addresses (for a workload's setup); empty for
    /// real systems.
    pub clients: BTreeMap<NodeId, SocketAddr>,
    /// The SSH hosts' connections, for a run over SSH (watched for lost hosts).
    pub remotes: Option<Arc<Remotes>>,
}

impl Cluster {
    /// Start the proxy and every built-in node, and wait for each to be healthy.
    ///
    /// A node's ports are chosen free, but only the node can hold them, so another process
    /// may take one first. A node that finds its address taken exits with its own code
    /// ([`AddressTaken`]); the whole cluster then starts again on new ports, with empty
    /// data directories, up to [`START_ATTEMPTS`] times.
    pub async fn start(spec: &RunSpec, run_dir: &RunDir, http: reqwest::Client) -> anyhow::Result<Cluster> {
        let program = std::env::current_exe().context("finding the faultline executable")?;
        Cluster::start_with(spec, run_dir, http, &program, &mut |ids| allocate_addrs(ids.iter().copied()))
            .await
    }

    /// [`Cluster::start`], with the nodes run as `program node ...` on the addresses
    /// `choose` gives for the node ids, asked again for each attempt.
    pub async fn start_with(
        spec: &RunSpec,
        run_dir: &RunDir,
        http: reqwest::Client,
        program: &Path,
        choose: &mut ChoosePorts<'_>,
    ) -> anyhow::Result<Cluster> {
        let mut attempt = 1;
        loop {
            let ids: Vec<NodeId> = (1..=spec.nodes).collect();
            let addrs = choose(&ids)?;
            let cluster = Cluster::builtin(spec, run_dir, http.clone(), program, &addrs).await?;
            match cluster.supervisor.start_all(START_DEADLINE).await {
                Ok(()) => return Ok(cluster),
                Err(e) if attempt < START_ATTEMPTS && e.is::<AddressTaken>() => {
                    eprintln!("faultline: a node's port was taken by another process; choosing new ports");
                    cluster.supervisor.shutdown();
                    for id in cluster.supervisor.node_ids() {
                        cluster.supervisor.host().wipe(id)?;
                    }
                    attempt += 1;
                }
                // On failure the cluster is dropped here, which kills whatever started.
                Err(e) => return Err(e),
            }
        }
    }

    /// The proxy and the supervisor of the built-in nodes on `addrs`; no node started yet.
    async fn builtin(
        spec: &RunSpec,
        run_dir: &RunDir,
        http: reqwest::Client,
        program: &Path,
        addrs: &BTreeMap<NodeId, NodeAddrs>,
    ) -> anyhow::Result<Cluster> {
        let ids: Vec<NodeId> = addrs.keys().copied().collect();
        let targets: BTreeMap<NodeId, SocketAddr> =
            addrs.iter().map(|(&id, a)| (id, a.peer_listen)).collect();
        let proxy = Proxy::start(&targets, ProxyConfig::frames(spec.seed))
            .await
            .context("starting the fault proxy")?;
        let specs = ids
            .iter()
            .map(|&id| builtin_node(spec, program, id, addrs[&id], proxy.peers_of(id)).spec(run_dir.path()))
            .collect::<Vec<_>>();
        let system = Arc::new(Builtin::new(spec.protocol, specs.clone(), http));
        let supervisor = Arc::new(Supervisor::with_probe(Arc::new(LocalHost::new()), specs, system.clone()));
        Ok(Cluster { supervisor, network: Arc::new(proxy), clients: system.clients(), system, remotes: None })
    }

    /// Build the run's network namespaces and start a real system's nodes in them, and
    /// wait for each to be healthy.
    pub async fn start_real(spec: &RunSpec, run_dir: &RunDir) -> anyhow::Result<Cluster> {
        crate::netns::preflight()?;
        let ids: Vec<NodeId> = (1..=spec.nodes).collect();
        let tag = RunTag::unique();
        let network = {
            let ids = ids.clone();
            tokio::task::spawn_blocking(move || NetnsNetwork::create(tag, &ids))
                .await
                .context("the network builder's thread was lost")??
        };
        let network = Arc::new(network);
        // A second Ctrl-C or a panic skips destructors: remove the namespaces anyway.
        on_forced_exit(crate::netns::shutdown_all);
        let record = serde_json::json!({
            "backend": "netns",
            "tag": network.tag().as_str(),
            "subnet": network.subnet(),
            "controller": network.controller_addr().to_string(),
            "namespaces": network.namespaces(),
            "bridge": network.tag().bridge(),
            "addresses": network.topology().nodes,
            "netem": network.netem_available(),
        });
        run_dir.write_network(&record)?;
        eprintln!(
            "faultline: network namespaces of run {} on {} (`faultline cleanup --tag {}` if a crash leaves them)",
            network.tag().as_str(),
            network.subnet(),
            network.tag().as_str()
        );
        let needs_netem: Vec<&str> = spec
            .nemesis
            .iter()
            .filter(|k| matches!(k, FaultKind::Latency | FaultKind::Duplicate | FaultKind::Reorder))
            .map(|k| k.name())
            .collect();
        if !needs_netem.is_empty() && !network.netem_available() {
            eprintln!(
                "faultline: {} not available on this host (the kernel has no netem); those faults will be \
                 recorded as not taken effect",
                needs_netem.join(", ")
            );
        }
        if spec.nemesis.contains(&FaultKind::Hold) {
            eprintln!(
                "faultline: hold needs the fault proxy (namespaces cannot keep a link's packets and release \
                 them later); it will be recorded as not taken effect"
            );
        }
        let topology = network.topology();
        let system = real_system(spec, topology)?;
        if let Some(reason) = system.clock_refusal().filter(|_| spec.nemesis.contains(&FaultKind::Clock)) {
            eprintln!("faultline: {reason}; clock faults will be recorded as not taken effect");
        }
        if !system.workloads().contains(&spec.workload.name) {
            anyhow::bail!("{} has no client for the {} workload", system.name(), spec.workload.name);
        }
        let specs =
            ids.iter().map(|&id| system.node_spec(id, run_dir.path())).collect::<anyhow::Result<Vec<_>>>()?;
        let host = Arc::new(network.host());
        let supervisor = Arc::new(Supervisor::with_probe(host, specs, system.clone()));
        let cluster = Cluster { supervisor, network, system, clients: BTreeMap::new(), remotes: None };
        // On failure the cluster is dropped here: nodes killed, namespaces removed.
        cluster.supervisor.start_all(START_DEADLINE).await?;
        Ok(cluster)
    }

    /// Connect to the hosts of `ssh` and start the nodes there (faultline's own, uploaded,
    /// or a real system's, the host's own, with its configuration files uploaded), each
    /// listening on its host's address; the controller talks to them directly and cuts
    /// are nftables rules on the hosts. Wait for each to be healthy. An unreachable host is an error naming it.
    pub async fn start_ssh(
        spec: &RunSpec,
        run_dir: &RunDir,
        http: reqwest::Client,
        ssh: &SshSpec,
    ) -> anyhow::Result<Cluster> {
        let targets = crate::ssh::hosts::load(&ssh.hosts)?;
        if targets.len() != spec.nodes as usize {
            anyhow::bail!(
                "--nodes is {} but {} lists {} hosts: the hosts file decides the cluster (pass --nodes {})",
                spec.nodes,
                ssh.hosts.display(),
                targets.len(),
                targets.len()
            );
        }
        let options = SshOptions { key: ssh.key.clone(), known_hosts: ssh.known_hosts.clone() };
        let tag = RunTag::unique();
        let ips: BTreeMap<NodeId, std::net::Ipv4Addr> = targets.iter().map(|t| (t.line.id, t.addr)).collect();
        let (remotes, network) = {
            let (targets, tag, ips) = (targets.clone(), tag.clone(), ips.clone());
            tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let remotes = Arc::new(Remotes::connect(&targets, &options)?);
                let network = SshNetwork::create(remotes.clone(), tag, ips)?;
                Ok((remotes, network))
            })
            .await
            .context("the SSH connector's thread was lost")??
        };
        let network = Arc::new(network);
        run_dir.write_network(&serde_json::json!({
            "backend": "ssh",
            "tag": tag.as_str(),
            "hosts": targets.iter().map(|t| (t.line.id, t.line.destination())).collect::<BTreeMap<_, _>>(),
            "addresses": ips,
            "remote_dirs": ips.keys().map(|&id| (id, crate::ssh::layout::run_dir(&tag, id))).collect::<BTreeMap<_, _>>(),
            "table": crate::ssh::layout::table(&tag),
        }))?;
        eprintln!(
            "faultline: {} SSH hosts, run tag {} (`faultline cleanup --ssh {} --tag {}` if a crash leaves anything)",
            targets.len(),
            tag,
            ssh.hosts.display(),
            tag
        );
        let ids: Vec<NodeId> = ips.keys().copied().collect();
        let (system, specs, upload): (Arc<dyn System>, Vec<_>, _) = if spec.system.is_builtin() {
            let program = std::env::current_exe().context("finding the faultline executable")?;
            let addrs: BTreeMap<NodeId, NodeAddrs> = ips
                .iter()
                .map(|(&id, &ip)| {
                    let ip = std::net::IpAddr::V4(ip);
                    (
                        id,
                        NodeAddrs {
                            peer_listen: SocketAddr::new(ip, SSH_PEER_PORT),
                            client: SocketAddr::new(ip, SSH_CLIENT_PORT),
                        },
                    )
                })
                .collect();
            let specs: Vec<_> = ids
                .iter()
                .map(|&id| {
                    let peers =
                        addrs.iter().filter(|(&p, _)| p != id).map(|(&p, a)| (p, a.peer_listen)).collect();
                    builtin_node(spec, &program, id, addrs[&id], peers).spec(run_dir.path())
                })
                .collect();
            (Arc::new(Builtin::new(spec.protocol, specs.clone(), http)), specs, Some(program))
        } else {
            let topology = crate::system::Topology {
                nodes: ips.iter().map(|(&id, &ip)| (id, std::net::IpAddr::V4(ip))).collect(),
            };
            let system = real_system(spec, topology)?;
            if !system.workloads().contains(&spec.workload.name) {
                anyhow::bail!("{} has no client for the {} workload", system.name(), spec.workload.name);
            }
            let specs = ids
                .iter()
                .map(|&id| system.node_spec(id, run_dir.path()))
                .collect::<anyhow::Result<Vec<_>>>()?;
            (system, specs, None)
        };
        let files: BTreeMap<NodeId, Vec<std::path::PathBuf>> =
            ids.iter().map(|&id| (id, system.node_files(id, run_dir.path()))).collect();
        if let Some(reason) = system.clock_refusal().filter(|_| spec.nemesis.contains(&FaultKind::Clock)) {
            eprintln!("faultline: {reason}; clock faults will be recorded as not taken effect");
        }
        let clients = specs.iter().map(|s| (s.id, s.addrs.client)).collect();
        let host = Arc::new(SshHost::new(remotes.clone(), tag, run_dir.path(), upload).with_files(files));
        let supervisor = Arc::new(Supervisor::with_probe(host, specs, system.clone()));
        let cluster = Cluster {
            supervisor,
            network,
            clients: if spec.system.is_builtin() { clients } else { BTreeMap::new() },
            system,
            remotes: Some(remotes),
        };
        // On failure the cluster is dropped here: nodes killed, hosts cleaned.
        cluster.supervisor.start_all(START_DEADLINE).await?;
        Ok(cluster)
    }

    /// Wait until some node says it leads (leader, primary or coordinator). `false` if
    /// none did within `deadline`: the workload then runs against a leaderless cluster,
    /// and the history shows it.
    pub async fn wait_for_leader(&self, deadline: Duration) -> bool {
        let until = Instant::now() + deadline;
        loop {
            for id in self.supervisor.node_ids() {
                if let Ok(status) = self.supervisor.status(id, READY_POLL * 4).await {
                    if is_leading(&status) {
                        return true;
                    }
                }
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Wait until every node answers `/health` again (after healing), within `deadline`.
    pub async fn wait_healthy(&self, deadline: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + deadline;
        for id in self.supervisor.node_ids() {
            self.supervisor.wait_healthy(id, until.saturating_duration_since(Instant::now())).await?;
        }
        Ok(())
    }

    /// Kill every node and take the network down. Idempotent.
    pub fn stop(&self) {
        self.supervisor.shutdown();
        self.network.shutdown();
    }
}

/// The adapter of `spec`'s real system, bound to `topology`, with the run's options.
fn real_system(spec: &RunSpec, topology: crate::system::Topology) -> anyhow::Result<Arc<dyn System>> {
    Ok(match spec.system {
        SystemName::Etcd => Arc::new(Etcd::new(
            topology,
            EtcdOptions { serializable_reads: spec.etcd_serializable_reads, ..EtcdOptions::default() },
        )?),
        SystemName::Redis => Arc::new(Redis::new(
            topology,
            RedisOptions { appendfsync: spec.redis_appendfsync, ..RedisOptions::default() },
        )),
        SystemName::ZooKeeper => Arc::new(ZooKeeper::new(
            topology,
            ZkOptions { sync_reads: spec.zk_sync_reads, ..ZkOptions::default() },
        )),
        SystemName::Faultline => anyhow::bail!("faultline's own nodes are not a real system"),
    })
}

fn is_leading(status: &Status) -> bool {
    status.role.is_leading()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How to run one of faultline's own nodes: this executable's hidden `node` subcommand with
/// the run's protocol and protocol flags, dialling `peers` (the proxy's addresses locally,
/// the peers' own over SSH).
fn builtin_node(
    spec: &RunSpec,
    program: &std::path::Path,
    id: NodeId,
    addrs: NodeAddrs,
    peers: BTreeMap<NodeId, SocketAddr>,
) -> NodeCommand {
    NodeCommand {
        program: program.to_path_buf(),
        leading_args: vec!["node".to_string()],
        protocol: spec.protocol.to_string(),
        id,
        addrs,
        peers,
        extra_args: spec.protocol_flags.to_argv(),
    }
}
