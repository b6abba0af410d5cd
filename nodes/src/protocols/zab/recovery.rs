//! Rebuilding a node from its write-ahead log: the accepted epoch, the current epoch and the
//! history (DSN IV's persistent variables). What was committed is not recorded; the node
//! relearns it from the leader it joins, and delivers its history again from the start.

use std::collections::BTreeMap;

use super::history::History;
use super::state::{Looking, NodeState};
use super::{Record, Vote, Zab, Zxid};
use crate::committed_log::CommittedLog;
use crate::protocol::Config;
use crate::state_machine::Store;

impl Zab {
    pub(super) fn replay(config: Config, records: Vec<Record>) -> Zab {
        let mut accepted_epoch = 0;
        let mut current_epoch = 0;
        let mut history = History::new();
        for record in records {
            match record {
                Record::AcceptedEpoch { epoch } => accepted_epoch = accepted_epoch.max(epoch),
                Record::CurrentEpoch { epoch } => current_epoch = current_epoch.max(epoch),
                Record::Synced { epoch, keep, txns } => {
                    history.truncate(keep);
                    history.append(txns);
                    current_epoch = current_epoch.max(epoch);
                }
                Record::Appended { txns } => history.append(txns),
            }
        }
        let id = config.id;
        Zab {
            config,
            accepted_epoch,
            current_epoch,
            history,
            committed: 0,
            applied: 0,
            store: Store::new(),
            committed_log: CommittedLog::new(),
            state: NodeState::Looking(Looking {
                vote: Vote { leader: id, epoch: current_epoch, zxid: Zxid::ZERO },
                votes: BTreeMap::new(),
            }),
            round: 0,
            epoch_seen: accepted_epoch,
        }
    }
}
