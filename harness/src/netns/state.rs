//! The record of what a run created, so that what a crashed run left can be found.
//!
//! Before creating anything, a run writes `/run/faultline/<tag>.json`: its owner (pid and
//! the process's start time, so a recycled pid is not mistaken for the owner), its subnet
//! and every object name. The file is removed only after every object is gone. `/run` is a
//! tmpfs, so a reboot, which removes the objects too, also removes the records.
//!
//! A host-wide lock (`flock` on `/run/faultline/.lock`) is held while a run picks its
//! subnet, writes its record and gives its bridge the address, so two runs never pick the
//! same /24.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nodes::api::NodeId;
use serde::{Deserialize, Serialize};

use super::names::RunTag;

/// Where run records live.
pub const STATE_DIR: &str = "/run/faultline";

/// What one run created (or is about to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub tag: String,
    pub owner_pid: u32,
    /// The owner's start time in clock ticks since boot (field 22 of `/proc/pid/stat`).
    pub owner_start: u64,
    /// `10.213.x.0/24`.
    pub subnet: String,
    pub bridge: String,
    /// The guard table in the root namespace (family `inet`).
    pub guard_table: String,
    pub nodes: BTreeMap<NodeId, NodeRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub namespace: String,
    pub veth: String,
    pub addr: String,
}

/// The record file of `tag`.
pub fn record_path(tag: &RunTag) -> PathBuf {
    Path::new(STATE_DIR).join(format!("{tag}.json"))
}

/// Write a record atomically (a temporary file renamed over it).
pub fn write_record(record: &RunRecord) -> anyhow::Result<()> {
    let tag = RunTag::new(&record.tag)?;
    let path = record_path(&tag);
    std::fs::create_dir_all(STATE_DIR).with_context(|| format!("creating {STATE_DIR}"))?;
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(record).context("encoding the run record")?;
    std::fs::write(&tmp, text + "\n").with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Every record file: its tag and its content (or why it could not be read).
pub fn list_records() -> anyhow::Result<BTreeMap<RunTag, anyhow::Result<RunRecord>>> {
    let mut records = BTreeMap::new();
    let entries = match std::fs::read_dir(STATE_DIR) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(records),
        Err(e) => return Err(e).with_context(|| format!("listing {STATE_DIR}")),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {STATE_DIR}"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(tag) = name.strip_suffix(".json").and_then(|t| RunTag::new(t).ok()) else { continue };
        records.insert(tag, read_record(&entry.path()));
    }
    Ok(records)
}

fn read_record(path: &Path) -> anyhow::Result<RunRecord> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
}

/// Remove `tag`'s record; `Ok(false)` if there was none.
pub fn remove_record(tag: &RunTag) -> anyhow::Result<bool> {
    let path = record_path(tag);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// This process as an owner: its pid and start time.
pub fn this_owner() -> anyhow::Result<(u32, u64)> {
    let pid = std::process::id();
    match start_time(pid) {
        Some(start) => Ok((pid, start)),
        None => bail!("cannot read /proc/{pid}/stat of this process"),
    }
}

/// Whether the process that wrote `record` still runs.
pub fn owner_alive(record: &RunRecord) -> bool {
    start_time(record.owner_pid) == Some(record.owner_start)
}

/// Start time of a live, non-zombie process (field 22 of `/proc/pid/stat`), so a pid can
/// be told from a later process that reuses it.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses; fields after the
    // last ')' are plain.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); field 22 is fields[19].
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// The host-wide lock, held until dropped.
pub struct HostLock {
    file: File,
}

impl HostLock {
    /// Wait for the lock (runs hold it for the few commands that give a bridge its address).
    #[allow(unsafe_code, reason = "flock(2) on the host lock file")]
    pub fn acquire() -> anyhow::Result<HostLock> {
        std::fs::create_dir_all(STATE_DIR).with_context(|| format!("creating {STATE_DIR}"))?;
        let path = Path::new(STATE_DIR).join(".lock");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: flock(2) on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("locking {}", path.display()));
        }
        let _ = file.flush();
        Ok(HostLock { file })
    }
}

impl Drop for HostLock {
    #[allow(unsafe_code, reason = "flock(2) releases the host lock")]
    fn drop(&mut self) {
        // SAFETY: flock(2) on a descriptor we own; closing it would release the lock too.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_a_live_owner_and_a_dead_pid_is_not() {
        let (pid, start) = this_owner().unwrap();
        let mut record = RunRecord {
            tag: "x".into(),
            owner_pid: pid,
            owner_start: start,
            subnet: "10.213.1.0/24".into(),
            bridge: "fl-x".into(),
            guard_table: "faultline_x".into(),
            nodes: BTreeMap::new(),
        };
        assert!(owner_alive(&record));
        record.owner_start += 1;
        assert!(!owner_alive(&record), "a recycled pid is not the owner");
        record.owner_pid = u32::MAX;
        assert!(!owner_alive(&record));
    }
}
