//! How a parent process learns where a child `faultline test` put its run.
//!
//! When the environment names a file in [`RUN_DIR_FILE_ENV`], the run writes its run
//! directory's path there (the path's bytes and nothing else) as soon as the directory
//! exists, atomically, so a reader sees either nothing or the whole path. `faultline
//! matrix` passes a file of its own to each run it spawns, instead of reading the run's
//! messages for people, which may change.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The environment variable that names the file.
pub const RUN_DIR_FILE_ENV: &str = "FAULTLINE_RUN_DIR_FILE";

/// Write `run_dir` into `file` (a temporary name beside it, then a rename).
pub fn write(file: &Path, run_dir: &Path) -> anyhow::Result<()> {
    let mut name = file.file_name().unwrap_or(OsStr::new("run-dir")).to_os_string();
    name.push(".tmp");
    let tmp = file.with_file_name(name);
    std::fs::write(&tmp, run_dir.as_os_str().as_bytes())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, file).with_context(|| format!("renaming into {}", file.display()))
}

/// Write the run directory where the environment asks for it, if it does.
pub fn announce(run_dir: &Path) -> anyhow::Result<()> {
    match std::env::var_os(RUN_DIR_FILE_ENV) {
        Some(file) if !file.is_empty() => write(Path::new(&file), run_dir),
        _ => Ok(()),
    }
}

/// The run directory a child wrote; `None` when it wrote none (it failed before creating one).
pub fn read(file: &Path) -> anyhow::Result<Option<PathBuf>> {
    match std::fs::read(file) {
        Ok(bytes) if bytes.is_empty() => Ok(None),
        Ok(bytes) => Ok(Some(PathBuf::from(OsStr::from_bytes(&bytes)))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", file.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_directory_round_trips_through_the_file_and_none_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("run-dir");
        assert_eq!(read(&file).unwrap(), None, "nothing written yet");
        let run = dir.path().join("store/raft register/20260101T000000.000Z");
        write(&file, &run).unwrap();
        assert_eq!(read(&file).unwrap(), Some(run));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("run-dir")], "no temporary file is left");
    }
}
