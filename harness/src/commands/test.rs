//! `faultline test`: run a cluster through the fault proxy, inject faults, record the
//! history, check it, and leave a run directory.
//!
//! This file is the command-line edge: flags are parsed and validated here into a
//! [`RunSpec`], once; the run itself is `crate::run`. Bad flags exit 254 with one line.
//! The run's verdict decides the exit code (0 valid, 1 invalid, 2 unknown); a harness
//! failure is 255. A run that is not valid prints the command that reproduces it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use checkers::txn::Consistency;
use clap::Parser;
use nodes::flags::ProtocolFlags;
use nodes::protocols::ProtocolName;
use workloads::{Workload, WorkloadName};

use crate::nemesis::FaultKind;
use crate::run::spec::RunSpec;
use crate::system::redis::Appendfsync;
use crate::system::SystemName;

/// The protocol of the default run.
pub const DEFAULT_PROTOCOL: &str = "raft";

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The system under test: faultline's own nodes running --protocol, or a real system
    /// (etcd, redis, zookeeper), each node in its own network namespace (Linux, root).
    #[arg(long, default_value = "faultline")]
    pub system: SystemName,
    /// The protocol under test: pb-async, pb-sync, 2pc, paxos, raft, zab.
    #[arg(long, default_value = DEFAULT_PROTOCOL)]
    pub protocol: ProtocolName,
    /// The workload: register, set, bank, list-append (transactions checked for isolation),
    /// counter (adds and reads, checked as a linearizable counter), queue (enqueues and
    /// dequeues, drained at the end, checked by what came out against what went in).
    #[arg(long, default_value = "register")]
    pub workload: WorkloadName,
    /// list-append: the isolation level the transactions are held to: read-committed,
    /// snapshot-isolation, serializable, strict-serializable [default: strict-serializable].
    #[arg(long, value_name = "MODEL")]
    pub consistency: Option<Consistency>,
    /// Faults to inject, comma-separated: partition, kill, pause, latency, ..., or none.
    #[arg(long, default_value = "partition")]
    pub nemesis: String,
    /// Cluster size.
    #[arg(long, default_value_t = 3)]
    pub nodes: u32,
    /// Seconds of workload (with faults).
    #[arg(long, default_value_t = 20.0)]
    pub time_limit: f64,
    /// Operations per second across all clients (0: as fast as they go).
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Client processes running at once.
    #[arg(long, default_value_t = 5)]
    pub concurrency: usize,
    /// The seed everything random derives from (default: from the clock, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Seconds between fault changes.
    #[arg(long, default_value_t = 5.0)]
    pub nemesis_interval: f64,
    /// Where runs are stored.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Replay this recorded fault schedule (a run's schedule.json) instead of generating one.
    #[arg(long)]
    pub schedule: Option<PathBuf>,
    /// The test's name in the store (default: PROTOCOL-WORKLOAD).
    #[arg(long)]
    pub name: Option<String>,
    /// Deadline of one client operation, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub op_timeout_ms: u64,
    /// Budget of the linearizability check, in seconds (then `unknown`).
    #[arg(long, default_value_t = 30.0)]
    pub check_time_limit: f64,
    /// Keep the nodes' data directories (`data/`) of a valid run too; a run that is not
    /// valid always keeps them.
    #[arg(long)]
    pub keep_data: bool,

    /// Protocol options, passed to every node as given (faultline's own nodes only).
    #[command(flatten)]
    pub protocol_flags: ProtocolFlags,
    /// etcd: serve reads from the member's local state (serializable) instead of through
    /// the leader (linearizable, the default).
    #[arg(long)]
    pub etcd_serializable_reads: bool,
    /// zookeeper: send `sync` before every read, so the server catches up with the leader
    /// first (plain reads are sequentially consistent, served from the server's own state).
    #[arg(long)]
    pub zk_sync_reads: bool,
    /// redis: when each node's append-only file is flushed (always, everysec, no).
    #[arg(long)]
    pub redis_appendfsync: Option<Appendfsync>,

    /// Run each node on its own host over SSH: a hosts file with one `id user@host[:port]`
    /// per line, ids 1 to N (N is then the cluster size). Hosts need sshd, nft and root.
    #[arg(long, value_name = "HOSTS_FILE")]
    pub ssh: Option<PathBuf>,
    /// The private key for --ssh (default: the agent's and the ssh configuration's).
    #[arg(long, value_name = "KEY", requires = "ssh")]
    pub ssh_key: Option<PathBuf>,
    /// A known_hosts file that must list every --ssh host (default: the user's, adding
    /// hosts seen for the first time).
    #[arg(long, value_name = "FILE", requires = "ssh")]
    pub ssh_known_hosts: Option<PathBuf>,
}

/// Parses the flags alone, so the default run and `faultline test` share every default.
#[derive(Parser)]
struct Standalone {
    #[command(flatten)]
    args: Args,
}

impl Args {
    /// The run of `faultline` with no subcommand: every default.
    pub fn default_run() -> Self {
        Standalone::parse_from(["faultline"]).args
    }

    /// Validate the flags into a run's specification.
    pub fn to_spec(&self) -> Result<RunSpec, String> {
        if !(1..=9).contains(&self.nodes) {
            return Err(format!("--nodes must be between 1 and 9, got {}", self.nodes));
        }
        let seconds = |flag: &str, v: f64, min: f64, max: f64| {
            if v.is_finite() && v >= min && v <= max {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(format!("--{flag} must be between {min} and {max} seconds, got {v}"))
            }
        };
        let time_limit = seconds("time-limit", self.time_limit, 0.1, 86_400.0)?;
        let nemesis_interval = seconds("nemesis-interval", self.nemesis_interval, 0.05, 86_400.0)?;
        let check_time_limit = seconds("check-time-limit", self.check_time_limit, 0.1, 86_400.0)?;
        if !(self.rate.is_finite() && (0.0..=1e6).contains(&self.rate)) {
            return Err(format!("--rate must be between 0 and 1000000, got {}", self.rate));
        }
        if !(1..=1024).contains(&self.concurrency) {
            return Err(format!("--concurrency must be between 1 and 1024, got {}", self.concurrency));
        }
        if !(10..=600_000).contains(&self.op_timeout_ms) {
            return Err(format!("--op-timeout-ms must be between 10 and 600000, got {}", self.op_timeout_ms));
        }
        let nemesis = crate::run::faults::parse_nemesis(&self.nemesis)?;
        if !self.system.workloads().contains(&self.workload) {
            let known: Vec<&str> = self.system.workloads().iter().map(|w| w.as_str()).collect();
            return Err(format!(
                "--workload {} is not available for --system {} (it has: {})",
                self.workload,
                self.system,
                known.join(", ")
            ));
        }
        if let Some(kind) = nemesis.iter().find(|k| FaultKind::OPERATOR.contains(k)) {
            if !self.system.has_operator() {
                return Err(format!(
                    "--nemesis {kind} needs a system with operator failover (redis), not {}",
                    self.system
                ));
            }
        }
        if self.etcd_serializable_reads && self.system != SystemName::Etcd {
            return Err("--etcd-serializable-reads needs --system etcd".to_string());
        }
        if self.zk_sync_reads && self.system != SystemName::ZooKeeper {
            return Err("--zk-sync-reads needs --system zookeeper".to_string());
        }
        if self.redis_appendfsync.is_some() && self.system != SystemName::Redis {
            return Err("--redis-appendfsync needs --system redis".to_string());
        }
        let ssh = self.ssh.as_ref().map(|hosts| crate::run::spec::SshSpec {
            hosts: hosts.clone(),
            key: self.ssh_key.clone(),
            known_hosts: self.ssh_known_hosts.clone(),
        });
        let subject =
            if self.system.is_builtin() { self.protocol.to_string() } else { self.system.to_string() };
        let name = self.name.clone().unwrap_or_else(|| format!("{subject}-{}", self.workload));
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') || name == "latest" {
            return Err(format!("--name {name:?} cannot be a directory name"));
        }
        let node_args = self.protocol_flags.to_argv();
        if self.system.is_builtin() {
            self.protocol_flags.validate(self.protocol)?;
        }
        if !self.system.is_builtin() && !node_args.is_empty() {
            return Err(format!(
                "protocol options ({}) apply to faultline's own nodes, not to --system {}",
                node_args.iter().filter(|a| a.starts_with("--")).cloned().collect::<Vec<_>>().join(", "),
                self.system
            ));
        }
        if self.consistency.is_some() && self.workload != WorkloadName::ListAppend {
            return Err("--consistency applies to --workload list-append only".to_string());
        }
        let mut workload = Workload::new(self.workload);
        if let Some(consistency) = self.consistency {
            workload.list_append.consistency = consistency;
        }
        Ok(RunSpec {
            system: self.system,
            etcd_serializable_reads: self.etcd_serializable_reads,
            zk_sync_reads: self.zk_sync_reads,
            redis_appendfsync: self.redis_appendfsync.unwrap_or(Appendfsync::Everysec),
            test_name: name,
            protocol: self.protocol,
            workload,
            nemesis_flag: self.nemesis.clone(),
            nemesis,
            nodes: self.nodes,
            time_limit,
            rate: self.rate,
            concurrency: self.concurrency,
            seed: self.seed.unwrap_or_else(clock_seed),
            nemesis_interval,
            store: self.store.clone(),
            schedule: self.schedule.clone(),
            op_timeout: Duration::from_millis(self.op_timeout_ms),
            check_time_limit,
            keep_data: self.keep_data,
            protocol_flags: self.protocol_flags.clone(),
            ssh,
        })
    }
}

/// A seed when none was given: from the clock, printed with the run.
fn clock_seed() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    // Keep it short enough to type back in.
    (now.as_nanos() as u64 ^ u64::from(std::process::id())) % 1_000_000_000
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let spec = match args.to_spec() {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("faultline: error: {e}");
            return Ok(ExitCode::from(crate::EXIT_BAD_INPUT));
        }
    };
    crate::run::run(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Args {
        let mut full = vec!["faultline"];
        full.extend_from_slice(argv);
        Standalone::try_parse_from(full).unwrap().args
    }

    #[test]
    fn the_default_run_is_small_and_valid() {
        let spec = Args::default_run().to_spec().unwrap();
        assert_eq!(spec.nodes, 3);
        assert_eq!(spec.protocol.as_str(), DEFAULT_PROTOCOL);
        assert!(spec.time_limit <= Duration::from_secs(30));
        assert!(!spec.nemesis.is_empty());
    }

    #[test]
    fn a_real_system_names_its_runs_and_keeps_its_options() {
        let spec = parse(&["--system", "etcd", "--etcd-serializable-reads", "--nemesis", "partition-leader"])
            .to_spec()
            .unwrap();
        assert_eq!((spec.system, spec.test_name.as_str()), (SystemName::Etcd, "etcd-register"));
        assert!(spec.etcd_serializable_reads);
        let reproduce = spec.reproduce_command();
        assert!(reproduce.contains("--system etcd") && reproduce.contains("--etcd-serializable-reads"));
        let spec =
            parse(&["--system", "redis", "--workload", "set", "--nemesis", "failover"]).to_spec().unwrap();
        assert_eq!(spec.test_name, "redis-set");
        assert_eq!(spec.redis_appendfsync, Appendfsync::Everysec);
        let spec = parse(&["--system", "redis", "--redis-appendfsync", "always"]).to_spec().unwrap();
        assert_eq!(spec.redis_appendfsync, Appendfsync::Always);
        assert!(spec.reproduce_command().contains("--redis-appendfsync always"));
        assert!(!spec.reproduce_command().contains("--protocol"), "a real system has no protocol");
        let spec = parse(&["--system", "zookeeper", "--zk-sync-reads"]).to_spec().unwrap();
        assert_eq!((spec.system, spec.test_name.as_str()), (SystemName::ZooKeeper, "zookeeper-register"));
        assert!(spec.zk_sync_reads);
        assert!(
            spec.reproduce_command().contains("--system zookeeper")
                && spec.reproduce_command().contains("--zk-sync-reads")
        );
        assert!(parse(&["--system", "zookeeper", "--workload", "set"])
            .to_spec()
            .unwrap_err()
            .contains("--workload"));
    }

    /// Regression: a replayed schedule's run recorded and reproduced the `--nemesis`
    /// default (`partition`) beside `--schedule`, though the schedule decided the faults.
    #[test]
    fn a_replayed_schedule_decides_the_faults_the_run_records_and_reproduces() {
        use crate::nemesis::schedule::{Schedule, ScheduleParams};
        let mut spec = parse(&["--schedule", "/runs/x/schedule.json", "--seed", "3"]).to_spec().unwrap();
        let schedule = Schedule::generate(&ScheduleParams {
            seed: 9,
            kinds: vec![FaultKind::Kill, FaultKind::PauseLeader],
            interval_ms: 1500,
            time_limit_ms: 10_000,
            nodes: vec![1, 2, 3],
            client_timeout_ms: 1_000,
        })
        .unwrap();
        spec.adopt_schedule(&schedule);
        assert_eq!(spec.nemesis, [FaultKind::Kill, FaultKind::PauseLeader]);
        assert_eq!(spec.nemesis_flag, "kill,pause-leader");
        assert_eq!(spec.nemesis_interval, Duration::from_millis(1500));
        assert_eq!(spec.to_json()["nemesis"], "kill,pause-leader");
        let reproduce = spec.reproduce_command();
        assert!(reproduce.contains("--schedule /runs/x/schedule.json"), "{reproduce}");
        assert!(!reproduce.contains("--nemesis"), "{reproduce}");
        let plain = parse(&["--nemesis", "kill"]).to_spec().unwrap().reproduce_command();
        assert!(plain.contains("--nemesis kill") && plain.contains("--nemesis-interval"), "{plain}");
    }

    #[test]
    fn protocol_options_pass_through_to_the_nodes() {
        let spec = parse(&["--read", "local", "--heartbeat-ms", "20", "--phase1-every-op", "--seed", "7"])
            .to_spec()
            .unwrap();
        assert_eq!(
            spec.protocol_flags.to_argv(),
            vec!["--read", "local", "--heartbeat-ms", "20", "--phase1-every-op"]
        );
        assert_eq!(spec.seed, 7);
    }

    #[test]
    fn ssh_flags_reach_the_spec_and_the_reproducing_command() {
        let spec = parse(&["--ssh", "/lab/hosts", "--ssh-key", "/lab/key"]).to_spec().unwrap();
        let ssh = spec.ssh.clone().unwrap();
        assert_eq!(
            (ssh.hosts.to_str(), ssh.key.as_deref().and_then(|k| k.to_str())),
            (Some("/lab/hosts"), Some("/lab/key"))
        );
        assert!(spec.reproduce_command().contains("--ssh /lab/hosts --ssh-key /lab/key"));
        for system in [SystemName::Etcd, SystemName::Redis, SystemName::ZooKeeper] {
            let spec = parse(&["--ssh", "h", "--system", system.as_str()]).to_spec().unwrap();
            assert_eq!(
                (spec.system, spec.ssh.is_some()),
                (system, true),
                "every real system runs over --ssh"
            );
        }
        assert!(
            Standalone::try_parse_from(["faultline", "--ssh-key", "k"]).is_err(),
            "--ssh-key needs --ssh"
        );
        assert_eq!(parse(&[]).to_spec().unwrap().ssh, None);
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        assert!(parse(&["--nodes", "0"]).to_spec().unwrap_err().contains("--nodes"));
        assert!(parse(&["--time-limit=-1"]).to_spec().unwrap_err().contains("--time-limit"));
        assert!(parse(&["--rate", "NaN"]).to_spec().unwrap_err().contains("--rate"));
        assert!(parse(&["--nemesis", "earthquake"]).to_spec().is_err());
        assert!(parse(&["--name", "../x"]).to_spec().is_err());
        assert!(parse(&["--system", "etcd", "--workload", "bank"])
            .to_spec()
            .unwrap_err()
            .contains("--workload"));
        assert!(parse(&["--nemesis", "failover"]).to_spec().unwrap_err().contains("operator"));
        assert!(parse(&["--etcd-serializable-reads"]).to_spec().unwrap_err().contains("--system etcd"));
        assert!(parse(&["--zk-sync-reads"]).to_spec().unwrap_err().contains("--system zookeeper"));
        assert!(parse(&["--redis-appendfsync", "always"]).to_spec().unwrap_err().contains("--system redis"));
        assert!(Standalone::try_parse_from(["faultline", "--redis-appendfsync", "sometimes"]).is_err());
        let err = parse(&["--system", "redis", "--read", "local"]).to_spec().unwrap_err();
        assert!(err.contains("--read"), "{err}");
        let err = parse(&["--protocol", "paxos", "--read", "lease"]).to_spec().unwrap_err();
        assert!(err.contains("raft only"), "{err}");
        assert!(parse(&["--protocol", "raft", "--read", "lease"]).to_spec().is_ok());
        let err = parse(&["--protocol", "raft", "--isolation", "read-committed"]).to_spec().unwrap_err();
        assert!(err.contains("2pc only"), "{err}");
        assert!(parse(&["--protocol", "2pc", "--isolation", "read-committed"]).to_spec().is_ok());
        // Timings a node would refuse are refused before any node starts.
        for (argv, says) in [
            (&["--heartbeat-ms", "0"][..], "--heartbeat-ms must be between 1 and"),
            (&["--election-timeout-max-ms", "99999999999"][..], "--election-timeout-max-ms must be between"),
            (&["--election-timeout-min-ms", "500", "--election-timeout-max-ms", "100"][..], "exceeds"),
            (&["--max-batch", "0"][..], "--max-batch must be positive"),
        ] {
            let err = parse(argv).to_spec().unwrap_err();
            assert!(err.contains(says), "{argv:?}: {err}");
        }
        let err = parse(&["--consistency", "serializable"]).to_spec().unwrap_err();
        assert!(err.contains("list-append only"), "{err}");
        let spec = parse(&["--workload", "list-append", "--consistency", "serializable"]).to_spec().unwrap();
        assert_eq!(spec.workload.list_append.consistency, Consistency::Serializable);
        assert!(spec.reproduce_command().contains("--consistency serializable"));
        assert!(Standalone::try_parse_from(["faultline", "--consistency", "linearizable"]).is_err());
        assert!(Standalone::try_parse_from(["faultline", "--system", "mongo"]).is_err());
        let mut argv = vec!["faultline", "--protocol", "viewstamped"];
        assert!(Standalone::try_parse_from(&argv).is_err());
        argv[2] = "raft";
        assert!(Standalone::try_parse_from(&argv).is_ok());
    }
}
