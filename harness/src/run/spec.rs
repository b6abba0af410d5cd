//! A run's specification: every parameter, validated, in one value. Written to `run.json`
//! and turned back into the command line that reproduces the run.

use std::path::PathBuf;
use std::time::Duration;

use nodes::flags::ProtocolFlags;
use nodes::protocols::ProtocolName;
use serde_json::json;
use workloads::Workload;

use super::faults::FaultKinds;
use crate::system::redis::Appendfsync;
use crate::system::SystemName;

#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Faultline's own nodes (running `protocol`) or a real system.
    pub system: SystemName,
    /// etcd: serializable (local) reads instead of linearizable ones.
    pub etcd_serializable_reads: bool,
    /// zookeeper: `sync` before every read.
    pub zk_sync_reads: bool,
    /// redis: when each node flushes its append-only file.
    pub redis_appendfsync: Appendfsync,
    pub test_name: String,
    pub protocol: ProtocolName,
    pub workload: Workload,
    /// The `--nemesis` flag as given (for a replayed schedule, its kinds), for `run.json`.
    pub nemesis_flag: String,
    pub nemesis: FaultKinds,
    pub nodes: u32,
    pub time_limit: Duration,
    pub rate: f64,
    pub concurrency: usize,
    pub seed: u64,
    pub nemesis_interval: Duration,
    pub store: PathBuf,
    pub schedule: Option<PathBuf>,
    pub op_timeout: Duration,
    pub check_time_limit: Duration,
    /// Keep the nodes' data directories of a valid run (`--keep-data`).
    pub keep_data: bool,
    /// Protocol options passed to every node, as given.
    pub protocol_flags: ProtocolFlags,
    /// Run the nodes on SSH hosts instead of this machine.
    pub ssh: Option<SshSpec>,
}

/// The hosts of a run over SSH and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSpec {
    /// The hosts file (`id user@host[:port]` per line).
    pub hosts: PathBuf,
    /// `--ssh-key`.
    pub key: Option<PathBuf>,
    /// `--ssh-known-hosts`.
    pub known_hosts: Option<PathBuf>,
}

impl RunSpec {
    /// Takes the faults and their interval from the replayed `schedule`, which decides
    /// them: what `run.json` records and what the run warns about is then what will
    /// happen, not the `--nemesis` default the flags left in place. The kinds are the ones
    /// the schedule was made from and any a hand-edited step adds.
    pub fn adopt_schedule(&mut self, schedule: &crate::nemesis::schedule::Schedule) {
        let kinds: std::collections::BTreeSet<_> =
            schedule.kinds.iter().copied().chain(schedule.drawn_kinds()).collect();
        self.nemesis = kinds.into_iter().collect();
        self.nemesis_flag = if self.nemesis.is_empty() {
            "none".into()
        } else {
            self.nemesis.iter().map(|k| k.name()).collect::<Vec<_>>().join(",")
        };
        self.nemesis_interval = Duration::from_millis(schedule.interval_ms);
    }

    /// What is tested, for people: the protocol of faultline's own nodes, or the system.
    pub fn subject(&self) -> String {
        if self.system.is_builtin() {
            self.protocol.to_string()
        } else {
            self.system.to_string()
        }
    }

    /// The spec as `run.json` carries it.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "system": self.system.as_str(),
            "etcd_serializable_reads": self.etcd_serializable_reads,
            "zk_sync_reads": self.zk_sync_reads,
            "redis_appendfsync": self.redis_appendfsync.as_str(),
            "protocol": self.subject(),
            "workload": self.workload,
            "nemesis": self.nemesis_flag,
            "nodes": self.nodes,
            "time_limit_s": self.time_limit.as_secs_f64(),
            "rate": self.rate,
            "concurrency": self.concurrency,
            "seed": self.seed,
            "nemesis_interval_s": self.nemesis_interval.as_secs_f64(),
            "schedule": self.schedule,
            "op_timeout_ms": self.op_timeout.as_millis() as u64,
            "check_time_limit_s": self.check_time_limit.as_secs_f64(),
            "node_args": self.protocol_flags.to_argv(),
            "ssh_hosts": self.ssh.as_ref().map(|s| s.hosts.display().to_string()),
        })
    }

    /// The command that runs this test again with the same seed and parameters.
    pub fn reproduce_command(&self) -> String {
        let subject_flag = if self.system.is_builtin() {
            format!("--protocol {}", self.protocol)
        } else {
            format!("--system {}", self.system)
        };
        let mut parts: Vec<String> =
            vec!["faultline test".into(), subject_flag, format!("--workload {}", self.workload.name)];
        // A replayed schedule (`--schedule`, below) decides the faults and their timing.
        if self.schedule.is_none() {
            parts.push(format!("--nemesis {}", shell_word(&self.nemesis_flag)));
        }
        parts.extend([
            format!("--nodes {}", self.nodes),
            format!("--time-limit {}", self.time_limit.as_secs_f64()),
            format!("--rate {}", self.rate),
            format!("--concurrency {}", self.concurrency),
            format!("--seed {}", self.seed),
        ]);
        if self.schedule.is_none() {
            parts.push(format!("--nemesis-interval {}", self.nemesis_interval.as_secs_f64()));
        }
        parts.push(format!("--op-timeout-ms {}", self.op_timeout.as_millis()));
        if self.workload.name == workloads::WorkloadName::ListAppend
            && self.workload.list_append.consistency != checkers::txn::Consistency::StrictSerializable
        {
            parts.push(format!("--consistency {}", self.workload.list_append.consistency));
        }
        if self.etcd_serializable_reads {
            parts.push("--etcd-serializable-reads".into());
        }
        if self.zk_sync_reads {
            parts.push("--zk-sync-reads".into());
        }
        if self.system == SystemName::Redis && self.redis_appendfsync != Appendfsync::Everysec {
            parts.push(format!("--redis-appendfsync {}", self.redis_appendfsync.as_str()));
        }
        if self.test_name != format!("{}-{}", self.subject(), self.workload.name) {
            parts.push(format!("--name {}", shell_word(&self.test_name)));
        }
        if self.store != std::path::Path::new("store") {
            parts.push(format!("--store {}", shell_word(&self.store.display().to_string())));
        }
        if let Some(schedule) = &self.schedule {
            parts.push(format!("--schedule {}", shell_word(&schedule.display().to_string())));
        }
        if let Some(ssh) = &self.ssh {
            parts.push(format!("--ssh {}", shell_word(&ssh.hosts.display().to_string())));
            if let Some(key) = &ssh.key {
                parts.push(format!("--ssh-key {}", shell_word(&key.display().to_string())));
            }
            if let Some(known) = &ssh.known_hosts {
                parts.push(format!("--ssh-known-hosts {}", shell_word(&known.display().to_string())));
            }
        }
        parts.extend(self.protocol_flags.to_argv().iter().map(|a| shell_word(a)));
        parts.join(" ")
    }
}

/// Quote a word for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ',' | '.' | '-' | '_' | '/' | '=' | ':'));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_that_need_quotes_get_them() {
        assert_eq!(shell_word("partition,kill"), "partition,kill");
        assert_eq!(shell_word("my store"), "'my store'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
