//! Rebuilding a node from its write-ahead log.
//!
//! Records are replayed in the order they were made durable. A node restarts as a follower
//! with its term, vote, log and latest snapshot; the commit index restarts at the snapshot
//! and is relearned from the next leader (Figure 2: commitIndex is volatile).
//!
//! The log was written by this node, but a damaged file must not crash it: an `Entries`
//! record that would leave a gap is dropped (the node then holds a shorter log, which Raft
//! repairs from the leader), and so is anything inside the snapshot.

use super::log::Log;
use super::state::RoleState;
use super::{Raft, Record};
use crate::committed_log::CommittedLog;
use crate::protocol::Config;
use crate::state_machine::Store;

impl Raft {
    pub(super) fn replay(config: Config, records: Vec<Record>) -> Raft {
        let mut raft = Raft {
            config,
            term: 0,
            voted_for: None,
            log: Log::new(),
            commit_index: 0,
            applied_index: 0,
            store: Store::new(),
            committed: CommittedLog::new(),
            snapshot: None,
            role: RoleState::Follower,
            leader: None,
            leader_contact_ms: None,
        };
        for record in records {
            match record {
                Record::HardState { term, voted_for } => {
                    raft.term = term;
                    raft.voted_for = voted_for;
                }
                Record::Entries { entries } => {
                    for entry in entries {
                        if entry.index <= raft.log.snapshot_index() {
                            continue;
                        }
                        if entry.index <= raft.log.last_index() {
                            raft.log.truncate_from(entry.index);
                        }
                        if entry.index != raft.log.last_index() + 1 || entry.term < raft.log.last_term() {
                            break;
                        }
                        raft.log.append(entry);
                    }
                }
                Record::Truncate { from } => {
                    if from > raft.log.snapshot_index() {
                        raft.log.truncate_from(from);
                    }
                }
                Record::Snapshot { snapshot } => {
                    if snapshot.last_index <= raft.log.snapshot_index() {
                        continue;
                    }
                    raft.log.compact_to(snapshot.last_index, snapshot.last_term);
                    raft.store = snapshot.store.clone();
                    raft.committed = CommittedLog::starting_at(
                        snapshot.last_index,
                        snapshot.last_term,
                        snapshot.prefix_hash,
                    );
                    raft.commit_index = snapshot.last_index;
                    raft.applied_index = snapshot.last_index;
                    raft.snapshot = Some(snapshot);
                }
            }
        }
        raft
    }
}
