//! The lab's state file, `<dir>/lab.json`: what `faultline lab down` needs to remove
//! exactly this lab, its namespaces' tag and each sshd's pid with the pid's start time (so
//! a pid reused by another process after a crash is never signalled).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use nodes::api::NodeId;
use serde::{Deserialize, Serialize};

/// The state file's name in the lab directory.
pub const STATE_FILE: &str = "lab.json";

/// One lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabState {
    /// The tag of the lab's namespaces and bridge (see `netns::names`).
    pub tag: String,
    pub subnet: String,
    pub nodes: BTreeMap<NodeId, LabNode>,
}

/// One host of the lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabNode {
    pub namespace: String,
    pub addr: String,
    pub sshd_pid: u32,
    /// The sshd's start time in clock ticks since boot (`/proc/pid/stat` field 22).
    pub sshd_start: u64,
}

pub fn state_path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

/// Write the state atomically.
pub fn write(dir: &Path, state: &LabState) -> anyhow::Result<()> {
    let path = state_path(dir);
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(state).context("encoding the lab state")?;
    std::fs::write(&tmp, text + "\n").with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
}

/// The lab in `dir`; `Ok(None)` when there is none.
pub fn read(dir: &Path) -> anyhow::Result<Option<LabState>> {
    let path = state_path(dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            serde_json::from_str(&text).map(Some).with_context(|| format!("reading {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let state = LabState {
            tag: "lab1".into(),
            subnet: "10.213.9.0/24".into(),
            nodes: BTreeMap::from([(
                1,
                LabNode {
                    namespace: "faultline-lab1-1".into(),
                    addr: "10.213.9.2".into(),
                    sshd_pid: 7,
                    sshd_start: 9,
                },
            )]),
        };
        write(dir.path(), &state).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(state));
        std::fs::write(state_path(dir.path()), "{").unwrap();
        assert!(read(dir.path()).unwrap_err().to_string().contains("lab.json"));
    }
}
