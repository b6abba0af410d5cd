//! Amnesia, measured on the consensus protocols: Raft, Multi-Paxos and Zab each lose
//! acknowledged writes when the nodes that held them forget them, and keep every one when
//! the same nodes are only killed. This is why `lose-disk` is outside their safety model.
//!
//! One fixed schedule: node 3 is cut off while nodes 1 and 2 take writes (only they hold
//! them); then node 1 is killed and node 2 loses its disk; the cut heals, and node 2 comes
//! back empty. Nodes 2 and 3 are a majority in which nobody holds those writes, so node 3
//! leads without them, and node 1, restarted at 8 s, is made to follow it. With a kill in
//! place of the lost disk, node 2 comes back with its log and node 3 cannot be chosen
//! over it (Raft's election restriction, Paxos's promises, Zab's newest history), so
//! nothing acknowledged is lost.

mod e2e_support;

use checkers::{CheckDetails, CheckName, Verdict};
use e2e_support::*;

/// The lost-writes report of `protocol` under the schedule with node 2's `fault`, and the
/// run's exit code.
fn run(protocol: &str, fault: &str) -> (ScheduledRun, u64) {
    let run = scheduled_run(protocol, "set", &amnesia_schedule(4000, fault), &["--seed", "9"]);
    let check = &run.results.checks[&CheckName::LostWrites];
    let lost = check.details.as_ref().and_then(CheckDetails::lost_writes).map(|l| l.lost.count);
    let lost = lost.unwrap_or_else(|| panic!("no lost-writes report: {}", check.summary));
    (run, lost)
}

fn loses_writes_when_a_disk_is_lost_and_none_when_it_is_kept(protocol: &str) {
    let (forgot, lost) = run(protocol, r#"{"type": "lose-disk", "node": 2}"#);
    let check = &forgot.results.checks[&CheckName::LostWrites];
    assert_eq!(check.verdict, Verdict::Invalid, "{}\n{}", check.summary, describe(&forgot.output));
    assert!(lost > 0, "{}", check.summary);
    assert_eq!(forgot.output.status.code(), Some(1), "{}", describe(&forgot.output));
    assert!(forgot.recheck.contains("invalid"), "checked again: {}", forgot.recheck);

    let (kept, lost) = run(protocol, r#"{"type": "kill", "kind": "kill", "nodes": [2]}"#);
    let check = &kept.results.checks[&CheckName::LostWrites];
    assert_eq!((check.verdict, lost), (Verdict::Valid, 0), "{}\n{}", check.summary, describe(&kept.output));
    assert_eq!(kept.output.status.code(), Some(0), "{}", describe(&kept.output));
}

#[test]
fn raft_loses_writes_when_a_disk_is_lost_and_none_when_it_is_kept() {
    loses_writes_when_a_disk_is_lost_and_none_when_it_is_kept("raft");
}

#[test]
fn paxos_loses_writes_when_a_disk_is_lost_and_none_when_it_is_kept() {
    loses_writes_when_a_disk_is_lost_and_none_when_it_is_kept("paxos");
}

#[test]
fn zab_loses_writes_when_a_disk_is_lost_and_none_when_it_is_kept() {
    loses_writes_when_a_disk_is_lost_and_none_when_it_is_kept("zab");
}
