//! A run's directory: creating it, naming its files, and reading and writing them.
//!
//! Whole files (`run.json`, `schedule.json`, `network.json`, `net.json`, `results.json`) are written to a
//! temporary name and renamed into place, so a reader never sees half of one. The
//! `latest` link in the store root is replaced the same way (a new link, then a rename).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{de::DeserializeOwned, Serialize};

use checkers::log_agreement::LogSample;

use crate::history_file::{read_history, HistoryRead, HistoryWriter};
use crate::roles::{RoleSample, MAX_ROLE_SAMPLES};
use crate::run_info::{RunInfo, RunResults};
use crate::timestamp;

/// The most attempts to find a free directory name when runs start within one millisecond.
const MAX_NAME_ATTEMPTS: u32 = 1000;

/// One run's directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Create `<store>/<test>/<timestamp>/` with its `nodes/` folder and point
    /// `<store>/latest` at it.
    pub fn create(store: &Path, test: &str) -> anyhow::Result<RunDir> {
        if test.is_empty() || test.contains(['/', '\\']) || test == "." || test == ".." || test == "latest" {
            bail!("test name {test:?} cannot be a directory name");
        }
        let parent = store.join(test);
        std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
        let stamp = timestamp::now_compact();
        let mut attempt = 0;
        let path = loop {
            let name = if attempt == 0 { stamp.clone() } else { format!("{stamp}-{attempt}") };
            let candidate = parent.join(&name);
            match std::fs::create_dir(&candidate) {
                Ok(()) => break candidate,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < MAX_NAME_ATTEMPTS => {
                    attempt += 1
                }
                Err(e) => return Err(e).with_context(|| format!("creating {}", candidate.display())),
            }
        };
        let run = RunDir { path };
        std::fs::create_dir(run.nodes_dir())
            .with_context(|| format!("creating {}", run.nodes_dir().display()))?;
        let relative =
            run.path.strip_prefix(store).expect("the run directory is under the store").to_path_buf();
        point_latest(store, &relative)?;
        Ok(run)
    }

    /// An existing run directory (or the `latest` link, resolved).
    pub fn open(path: &Path) -> anyhow::Result<RunDir> {
        let resolved =
            std::fs::canonicalize(path).with_context(|| format!("opening run {}", path.display()))?;
        if !resolved.join(RUN_JSON).is_file() {
            bail!("{} is not a run directory (no {RUN_JSON})", path.display());
        }
        Ok(RunDir { path: resolved })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn nodes_dir(&self) -> PathBuf {
        Self::nodes_dir_at(&self.path)
    }

    /// Where node `id` writes its log.
    pub fn node_log(&self, id: u32) -> PathBuf {
        Self::node_log_at(&self.path, id)
    }

    /// A node's data directory (write-ahead log), kept with the run for post-mortems.
    pub fn node_data(&self, id: u32) -> PathBuf {
        Self::node_data_at(&self.path, id)
    }

    /// `nodes/` of the run directory at `root`. The `_at` forms name the files of a run for
    /// code that is handed only the directory's path (a host adapter, a node command).
    pub fn nodes_dir_at(root: &Path) -> PathBuf {
        root.join(NODES_DIR)
    }

    /// `nodes/<id>.log` of the run directory at `root`.
    pub fn node_log_at(root: &Path, id: u32) -> PathBuf {
        Self::nodes_dir_at(root).join(format!("{id}.log"))
    }

    /// `data/<id>/` of the run directory at `root`.
    pub fn node_data_at(root: &Path, id: u32) -> PathBuf {
        root.join(DATA_DIR).join(id.to_string())
    }

    pub fn history_path(&self) -> PathBuf {
        self.path.join(HISTORY_JSONL)
    }

    pub fn history_writer(&self) -> anyhow::Result<HistoryWriter> {
        HistoryWriter::create(&self.history_path())
    }

    pub fn read_history(&self) -> anyhow::Result<HistoryRead> {
        read_history(&self.history_path())
    }

    pub fn write_run_info(&self, info: &RunInfo) -> anyhow::Result<()> {
        self.write_json(RUN_JSON, info)
    }

    pub fn read_run_info(&self) -> anyhow::Result<RunInfo> {
        self.read_json(RUN_JSON)
    }

    pub fn write_schedule<T: Serialize>(&self, schedule: &T) -> anyhow::Result<()> {
        self.write_json(SCHEDULE_JSON, schedule)
    }

    pub fn read_schedule<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        self.read_json(SCHEDULE_JSON)
    }

    pub fn write_net<T: Serialize>(&self, net: &T) -> anyhow::Result<()> {
        self.write_json(NET_JSON, net)
    }

    pub fn read_net<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        self.read_json(NET_JSON)
    }

    /// The namespace network's record (`network.json`): what to remove if the run dies.
    pub fn write_network<T: Serialize>(&self, network: &T) -> anyhow::Result<()> {
        self.write_json(NETWORK_JSON, network)
    }

    pub fn write_roles(&self, roles: &[RoleSample]) -> anyhow::Result<()> {
        self.write_json(ROLES_JSON, roles)
    }

    /// The role samples, or none when the run recorded none (older runs, unchecked runs).
    pub fn read_roles(&self) -> anyhow::Result<Vec<RoleSample>> {
        if !self.path.join(ROLES_JSON).is_file() {
            return Ok(Vec::new());
        }
        let roles: Vec<RoleSample> = self.read_json(ROLES_JSON)?;
        if roles.len() > MAX_ROLE_SAMPLES {
            bail!("{ROLES_JSON} holds {} samples, more than {MAX_ROLE_SAMPLES}", roles.len());
        }
        Ok(roles)
    }

    /// The committed-log samples of the built-in nodes, for the log-agreement check.
    pub fn write_commit_log(&self, samples: &[LogSample]) -> anyhow::Result<()> {
        self.write_json(COMMIT_LOG_JSON, samples)
    }

    /// `None` for a run that sampled no committed log (a real system, an older run).
    pub fn read_commit_log(&self) -> anyhow::Result<Option<Vec<LogSample>>> {
        if !self.path.join(COMMIT_LOG_JSON).is_file() {
            return Ok(None);
        }
        self.read_json(COMMIT_LOG_JSON).map(Some)
    }

    pub fn write_results(&self, results: &RunResults) -> anyhow::Result<()> {
        self.write_json(RESULTS_JSON, results)
    }

    pub fn read_results(&self) -> anyhow::Result<RunResults> {
        self.read_json(RESULTS_JSON)
    }

    fn write_json<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(value).with_context(|| format!("encoding {name}"))?;
        text.push('\n');
        write_atomically(&self.path.join(name), text.as_bytes())
    }

    fn read_json<T: DeserializeOwned>(&self, name: &str) -> anyhow::Result<T> {
        let path = self.path.join(name);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

pub const RUN_JSON: &str = "run.json";
pub const HISTORY_JSONL: &str = "history.jsonl";
pub const SCHEDULE_JSON: &str = "schedule.json";
pub const NET_JSON: &str = "net.json";
pub const RESULTS_JSON: &str = "results.json";
pub const NETWORK_JSON: &str = "network.json";
pub const NODES_DIR: &str = "nodes";
pub const DATA_DIR: &str = "data";

/// Write a whole file so that a reader never sees half of it: to `.<name>.tmp` beside
/// it, then renamed into place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path.file_name().with_context(|| format!("{} names no file", path.display()))?;
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
}
pub const ROLES_JSON: &str = "roles.json";
pub const COMMIT_LOG_JSON: &str = "commit-log.json";

/// Replace `<store>/latest` with a relative link to `target`.
fn point_latest(store: &Path, target: &Path) -> anyhow::Result<()> {
    let latest = store.join("latest");
    let tmp = store.join(format!(".latest.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).with_context(|| format!("linking {}", tmp.display()))?;
    std::fs::rename(&tmp, &latest).with_context(|| format!("replacing {}", latest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::Verdict;
    use std::collections::BTreeMap;

    fn info() -> RunInfo {
        RunInfo {
            model: "cas-register".into(),
            test: "raft-register".into(),
            seed: 7,
            command: vec!["faultline".into(), "test".into()],
            versions: BTreeMap::from([("faultline".to_string(), "0.1.0".to_string())]),
            spec: serde_json::json!({"nodes": 3}),
            started: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn a_run_is_created_under_its_test_and_latest_points_at_the_newest() {
        let store = tempfile::tempdir().unwrap();
        let first = RunDir::create(store.path(), "raft-register").unwrap();
        first.write_run_info(&info()).unwrap();
        let second = RunDir::create(store.path(), "raft-register").unwrap();
        second.write_run_info(&info()).unwrap();
        assert_ne!(first.path(), second.path());
        assert!(second.nodes_dir().is_dir());
        let latest = RunDir::open(&store.path().join("latest")).unwrap();
        assert_eq!(latest.path(), std::fs::canonicalize(second.path()).unwrap());
        assert_eq!(latest.read_run_info().unwrap(), info());
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(second.path().join(RUN_JSON)).unwrap()).unwrap();
        assert_eq!(raw["model"], "cas-register", "model is a top-level string");
    }

    #[test]
    fn results_round_trip_and_bad_names_are_refused() {
        let store = tempfile::tempdir().unwrap();
        let run = RunDir::create(store.path(), "t").unwrap();
        let results = RunResults::new(
            Verdict::Unknown,
            vec!["no fault took effect".into()],
            BTreeMap::new(),
            "faultline test --seed 1".into(),
        );
        run.write_results(&results).unwrap();
        assert_eq!(run.read_results().unwrap(), results);
        assert!(RunDir::create(store.path(), "a/b").is_err());
        assert!(RunDir::create(store.path(), "latest").is_err());
        assert!(RunDir::open(store.path()).is_err(), "the store root is not a run");
    }

    #[test]
    fn commit_log_samples_round_trip_and_are_absent_until_written() {
        use checkers::log_agreement::LogEntry;
        let store = tempfile::tempdir().unwrap();
        let run = RunDir::create(store.path(), "t").unwrap();
        assert_eq!(run.read_commit_log().unwrap(), None);
        let samples = vec![LogSample {
            node: 2,
            at_ns: 5,
            restarts: 1,
            commit_index: 1,
            entries: vec![LogEntry { index: 1, term: 1, hash: u64::MAX }],
        }];
        run.write_commit_log(&samples).unwrap();
        assert_eq!(run.read_commit_log().unwrap(), Some(samples));
    }
}
