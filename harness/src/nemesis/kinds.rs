//! The kinds of fault a schedule may draw from, and their names on the command line
//! (`--nemesis partition,kill`).
//!
//! The groups (`all`, `process`, ...) hold only faults the consensus protocols are meant to
//! survive. Two kinds are named one by one and never drawn by a group: `failover`, which
//! needs an operator, and `lose-disk`, which is outside the safety model of Raft, Paxos,
//! ZAB and 2PC (see [`FaultKind::OUTSIDE_CONSENSUS_MODEL`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// One kind of fault. Names are kebab-case; see [`FaultKind::parse_list`] for groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// The first half of the nodes (by id) against the rest.
    PartitionHalves,
    /// A random half against the rest.
    PartitionRandomHalves,
    /// One random node cut off from all others.
    PartitionOne,
    /// The node leading now (highest term among those claiming to lead) cut off.
    PartitionLeader,
    /// Every node sees a majority, no two the same one (a ring of overlapping majorities).
    PartitionRing,
    /// Two halves that cannot talk, and one node in the middle that talks to both.
    PartitionBridge,
    /// A random half's traffic to the other half dropped; the other direction flows.
    PartitionOneWay,
    /// Latency with jitter on every link.
    Latency,
    /// Random frame loss on every link.
    Loss,
    /// Random frame duplication on every link.
    Duplicate,
    /// Random frame reordering on every link.
    Reorder,
    /// kill -9 one random node; restart it on the same data directory at the stop.
    Kill,
    /// SIGSTOP one random node; SIGCONT at the stop (in half the generated draws within
    /// the op timeout: `SHORT_PAUSE_PER_MILLE`).
    Pause,
    /// kill -9 every node at once; restart them all at the stop.
    KillAll,
    /// Kill one random node and delete its data directory; restart it empty at the stop.
    /// Outside the safety model of the consensus protocols: the node forgets its votes,
    /// promises and decisions and may then vote twice in a term, accept a lower ballot or
    /// decide a transaction again. What follows its restart is not catch-up but amnesia,
    /// and a violation under it is no bug of theirs. Named explicitly only.
    LoseDisk,
    /// An operator's failover (Redis without Sentinel): cut the primary off, promote a
    /// replica and point the others at it; at the stop, heal and make the old primary a
    /// replica of the new one. Only for systems with an operator (not in `all`).
    Failover,
    /// kill -9 the node leading now (leader or primary, as the system reports it, highest
    /// term first); restart it at the stop, which a generated schedule places at most
    /// `KILL_LEADER_DOWN_MAX_MS` after the kill so the old leader serves again while
    /// clients run.
    KillLeader,
    /// SIGSTOP the node leading now; SIGCONT at the stop. It wakes believing it still leads,
    /// in half the generated draws while clients still wait on it (`SHORT_PAUSE_PER_MILLE`).
    PauseLeader,
    /// kill -9 a random minority (fewer than half the nodes, at least one); restart at the stop.
    KillMinority,
    /// kill -9 a random majority; no quorum remains until the stop restarts them.
    KillMajority,
    /// Stale messages: one random node's outgoing frames are kept, not dropped, for a drawn
    /// 1 to 5 s (far past any election timeout), then delivered all at once, in order or
    /// shuffled. Only the proxy can hold frames.
    Hold,
    /// Skew one node's clock (a jump, a strobe, or a fast or slow rate), the leader's in
    /// about half the draws; reset at the stop.
    Clock,
}

impl FaultKind {
    /// The `all` group: every kind the consensus protocols are meant to survive (neither
    /// [`OUTSIDE_CONSENSUS_MODEL`](Self::OUTSIDE_CONSENSUS_MODEL) nor
    /// [`OPERATOR`](Self::OPERATOR)).
    pub const ALL: [FaultKind; 20] = [
        FaultKind::PartitionHalves,
        FaultKind::PartitionRandomHalves,
        FaultKind::PartitionOne,
        FaultKind::PartitionLeader,
        FaultKind::PartitionRing,
        FaultKind::PartitionBridge,
        FaultKind::PartitionOneWay,
        FaultKind::Latency,
        FaultKind::Loss,
        FaultKind::Duplicate,
        FaultKind::Reorder,
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::KillAll,
        FaultKind::KillLeader,
        FaultKind::PauseLeader,
        FaultKind::KillMinority,
        FaultKind::KillMajority,
        FaultKind::Hold,
        FaultKind::Clock,
    ];

    pub const PARTITIONS: [FaultKind; 7] = [
        FaultKind::PartitionHalves,
        FaultKind::PartitionRandomHalves,
        FaultKind::PartitionOne,
        FaultKind::PartitionLeader,
        FaultKind::PartitionRing,
        FaultKind::PartitionBridge,
        FaultKind::PartitionOneWay,
    ];

    pub const LINKS: [FaultKind; 5] =
        [FaultKind::Latency, FaultKind::Loss, FaultKind::Duplicate, FaultKind::Reorder, FaultKind::Hold];

    pub const PROCESSES: [FaultKind; 7] = [
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::KillAll,
        FaultKind::KillLeader,
        FaultKind::PauseLeader,
        FaultKind::KillMinority,
        FaultKind::KillMajority,
    ];

    /// Faults aimed at whichever node leads when they run.
    pub const BY_ROLE: [FaultKind; 3] =
        [FaultKind::PartitionLeader, FaultKind::KillLeader, FaultKind::PauseLeader];

    /// Faults that need the system's operator actions; named one by one, never by a group.
    pub const OPERATOR: [FaultKind; 1] = [FaultKind::Failover];

    /// Faults outside the safety model of the consensus protocols (Raft, Paxos, ZAB, 2PC,
    /// and the real etcd and ZooKeeper): each assumes that what a node wrote to its disk
    /// before answering is never forgotten. Named one by one, never by a group; a run that
    /// asks for one says so at its start, and the matrix expects that it may fail.
    pub const OUTSIDE_CONSENSUS_MODEL: [FaultKind; 1] = [FaultKind::LoseDisk];

    /// Every kind, grouped or not: what a name on the command line may be.
    pub fn every() -> impl Iterator<Item = FaultKind> {
        FaultKind::ALL.into_iter().chain(FaultKind::OUTSIDE_CONSENSUS_MODEL).chain(FaultKind::OPERATOR)
    }

    /// Whether the consensus protocols' safety survives this fault by design.
    pub fn outside_consensus_model(self) -> bool {
        FaultKind::OUTSIDE_CONSENSUS_MODEL.contains(&self)
    }

    /// Why a fault is outside the consensus protocols' safety model, in one line.
    pub fn outside_model_reason(self) -> Option<&'static str> {
        match self {
            FaultKind::LoseDisk => Some(
                "lose-disk restarts a node with an empty data directory: it forgets its votes, \
                 promises and decisions, which Raft, Paxos, ZAB and 2PC assume are never lost; \
                 the fault is outside their safety model, and an invalid verdict under it is \
                 expected, not a protocol bug",
            ),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::PartitionHalves => "partition-halves",
            FaultKind::PartitionRandomHalves => "partition-random-halves",
            FaultKind::PartitionOne => "partition-one",
            FaultKind::PartitionLeader => "partition-leader",
            FaultKind::PartitionRing => "partition-ring",
            FaultKind::PartitionBridge => "partition-bridge",
            FaultKind::PartitionOneWay => "partition-one-way",
            FaultKind::Latency => "latency",
            FaultKind::Loss => "loss",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Reorder => "reorder",
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::KillAll => "kill-all",
            FaultKind::LoseDisk => "lose-disk",
            FaultKind::Failover => "failover",
            FaultKind::KillLeader => "kill-leader",
            FaultKind::PauseLeader => "pause-leader",
            FaultKind::KillMinority => "kill-minority",
            FaultKind::KillMajority => "kill-majority",
            FaultKind::Hold => "hold",
            FaultKind::Clock => "clock",
        }
    }

    /// Parse a comma-separated list of kinds and groups into a sorted, deduplicated list.
    /// Groups: `partition` (every partition kind), `link` (latency, loss, duplicate,
    /// reorder, hold), `process` (kill, pause, kill-all, kill-leader, pause-leader,
    /// kill-minority, kill-majority), `leader` (partition-leader, kill-leader,
    /// pause-leader), `all`; `none` is empty. No group holds `lose-disk` or `failover`.
    pub fn parse_list(text: &str) -> Result<Vec<FaultKind>, String> {
        let mut kinds = std::collections::BTreeSet::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "none" => {}
                "all" => kinds.extend(FaultKind::ALL),
                "partition" => kinds.extend(FaultKind::PARTITIONS),
                "link" => kinds.extend(FaultKind::LINKS),
                "process" => kinds.extend(FaultKind::PROCESSES),
                "leader" => kinds.extend(FaultKind::BY_ROLE),
                name => match FaultKind::every().find(|k| k.name() == name) {
                    Some(kind) => {
                        kinds.insert(kind);
                    }
                    None => {
                        let known: Vec<&str> = FaultKind::every().map(|k| k.name()).collect();
                        return Err(format!(
                            "unknown fault {name:?}; known: partition, link, process, leader, all, none, {}",
                            known.join(", ")
                        ));
                    }
                },
            }
        }
        Ok(kinds.into_iter().collect())
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_groups_expand() {
        for kind in FaultKind::every() {
            assert_eq!(FaultKind::parse_list(kind.name()).unwrap(), vec![kind]);
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
        assert_eq!(FaultKind::every().count(), 22);
        assert_eq!(FaultKind::parse_list("partition,kill").unwrap().len(), 8);
        assert_eq!(FaultKind::parse_list("all").unwrap().len(), 20);
        assert_eq!(FaultKind::parse_list("leader").unwrap().len(), 3);
        assert!(FaultKind::parse_list("none").unwrap().is_empty());
        let err = FaultKind::parse_list("partition,explode").unwrap_err();
        assert!(err.contains("explode"), "{err}");
    }

    /// Regression: `all` and `process` used to draw lose-disk, which no consensus protocol
    /// survives by design, so a run of "every fault" could fail for a reason outside the
    /// model. Named explicitly it is still there, and says why it is different.
    #[test]
    fn lose_disk_is_named_explicitly_and_no_group_draws_it() {
        for group in ["all", "process", "partition", "link", "leader", "all,process"] {
            let kinds = FaultKind::parse_list(group).unwrap();
            assert!(!kinds.contains(&FaultKind::LoseDisk), "{group} draws lose-disk");
            assert!(kinds.iter().all(|k| !k.outside_consensus_model()), "{group}");
        }
        assert_eq!(FaultKind::parse_list("process").unwrap().len(), 7);
        assert_eq!(
            FaultKind::parse_list("kill,lose-disk").unwrap(),
            vec![FaultKind::Kill, FaultKind::LoseDisk]
        );
        assert!(FaultKind::LoseDisk.outside_consensus_model());
        assert!(FaultKind::LoseDisk.outside_model_reason().unwrap().contains("outside their safety model"));
        assert!(FaultKind::every()
            .filter(|k| *k != FaultKind::LoseDisk)
            .all(|k| k.outside_model_reason().is_none()));
    }
}
