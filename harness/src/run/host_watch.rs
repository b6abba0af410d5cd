//! Watching SSH hosts during a run: a host whose control connection is lost is recorded
//! in the history, once, as a nemesis `info` event (`host-lost`, with the node and the
//! reason), so the history says why that node's operations and faults failed from then on.
//! The run goes on and is checked as usual; losing a host is an event, not a crash.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use super::recorder::RecorderHandle;
use crate::nemesis::record::Record;
use crate::ssh::Remotes;

/// How often every host's connection is checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Check every host until `stopped`; record each host lost.
pub async fn watch(remotes: Arc<Remotes>, recorder: RecorderHandle, mut stopped: watch::Receiver<bool>) {
    let mut lost = BTreeSet::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = stopped.changed() => return,
        }
        if *stopped.borrow() {
            return;
        }
        let checking = remotes.clone();
        let Ok(results) = tokio::task::spawn_blocking(move || checking.check_all()).await else { return };
        for (id, result) in results {
            let Err(e) = result else { continue };
            if !lost.insert(id) {
                continue;
            }
            let destination = remotes.get(id).map(|r| r.target.line.destination()).unwrap_or_default();
            eprintln!("faultline: lost the SSH host of node {id} ({destination}): {e:#}");
            let record = Record {
                f: "host-lost".into(),
                value: json!({"node": id, "host": destination, "error": format!("{e:#}")}),
                took_effect: true,
                error: None,
            };
            if recorder.record(record.to_event(recorder.now_ns())).await.is_err() {
                return;
            }
        }
    }
}
