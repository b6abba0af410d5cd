//! Skewing a real system's clock with Debian's libfaketime, for binaries that read time
//! through libc (Redis).
//!
//! libfaketime is preloaded (`LD_PRELOAD`) into the node and re-reads a timestamp file on
//! every clock call (`FAKETIME_TIMESTAMP_FILE` with `FAKETIME_NO_CACHE=1`). The file holds
//! an offset in seconds and a rate, `+1.250 x2`; the harness rewrites it (to a temporary
//! name, then a rename) to jump the node's clock or make it run fast or slow. libfaketime
//! applies a rate to the time elapsed since the process started, so a rate change also
//! moves the clock by that much at once: a rate fault is a jump plus a rate.
//!
//! It cannot reach a program that reads time without libc: Go binaries (etcd) use the vDSO
//! and raw system calls, so their clock faults are recorded as not taken.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context};
use nodes::api::NodeId;

use crate::host::ClockChange;

/// Where Debian's `faketime` package puts the library, by architecture.
const CANDIDATES: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
];

/// The installed libfaketime, if any.
pub fn library() -> Option<PathBuf> {
    CANDIDATES.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// The clocks of one cluster's nodes, each a timestamp file.
#[derive(Debug, Default)]
pub struct FakeClocks {
    nodes: Mutex<BTreeMap<NodeId, FakeClock>>,
}

#[derive(Debug, Clone, PartialEq)]
struct FakeClock {
    file: PathBuf,
    offset_ms: i64,
    rate: f64,
}

impl FakeClocks {
    /// Prefix `argv` so that the node runs under libfaketime with its clock in
    /// `<run_dir>/clocks/<id>` (created at real time); `argv` unchanged without the library.
    pub fn wrap(&self, id: NodeId, run_dir: &Path, argv: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
        let Some(library) = library() else { return Ok(argv) };
        let dir = run_dir.join("clocks");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let file = dir.join(id.to_string());
        let clock = {
            let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
            // A restart keeps the skew in force; the first start is at real time.
            nodes.entry(id).or_insert(FakeClock { file: file.clone(), offset_ms: 0, rate: 1.0 }).clone()
        };
        write(&clock)?;
        let mut wrapped: Vec<OsString> = vec![
            "env".into(),
            format!("LD_PRELOAD={}", library.display()).into(),
            format!("FAKETIME_TIMESTAMP_FILE={}", file.display()).into(),
            "FAKETIME_NO_CACHE=1".into(),
        ];
        wrapped.extend(argv);
        Ok(wrapped)
    }

    /// Apply a change to node `id`'s timestamp file.
    pub fn skew(&self, id: NodeId, change: ClockChange) -> anyhow::Result<()> {
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        let Some(clock) = nodes.get_mut(&id) else {
            match library() {
                None => bail!("libfaketime is not installed (Debian package faketime)"),
                Some(_) => bail!("node {id} was not started under libfaketime"),
            }
        };
        match change {
            ClockChange::Jump { ms } => clock.offset_ms = clock.offset_ms.saturating_add(ms),
            ClockChange::Rate { rate } => clock.rate = rate,
            ClockChange::Reset => {
                clock.offset_ms = 0;
                clock.rate = 1.0;
            }
        }
        write(clock)
    }
}

/// The timestamp file's text: `+1.250 x2` (offset in seconds, then the rate).
fn text(clock: &FakeClock) -> String {
    let sign = if clock.offset_ms < 0 { '-' } else { '+' };
    let abs = clock.offset_ms.unsigned_abs();
    format!("{sign}{}.{:03} x{}\n", abs / 1000, abs % 1000, clock.rate)
}

fn write(clock: &FakeClock) -> anyhow::Result<()> {
    let tmp = clock.file.with_extension("tmp");
    std::fs::write(&tmp, text(clock)).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &clock.file).with_context(|| format!("renaming into {}", clock.file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timestamp_file_says_offset_and_rate() {
        let clock = |offset_ms, rate| FakeClock { file: PathBuf::new(), offset_ms, rate };
        assert_eq!(text(&clock(0, 1.0)), "+0.000 x1\n");
        assert_eq!(text(&clock(1_250, 2.0)), "+1.250 x2\n");
        assert_eq!(text(&clock(-5_007, 0.25)), "-5.007 x0.25\n");
    }

    #[test]
    fn changes_accumulate_and_a_reset_returns_to_real_time() {
        let dir = tempfile::tempdir().unwrap();
        let clocks = FakeClocks::default();
        let file = dir.path().join("1");
        clocks.nodes.lock().unwrap().insert(1, FakeClock { file: file.clone(), offset_ms: 0, rate: 1.0 });
        clocks.skew(1, ClockChange::Jump { ms: 2_000 }).unwrap();
        clocks.skew(1, ClockChange::Jump { ms: -500 }).unwrap();
        clocks.skew(1, ClockChange::Rate { rate: 0.5 }).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "+1.500 x0.5\n");
        clocks.skew(1, ClockChange::Reset).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "+0.000 x1\n");
        assert!(clocks.skew(2, ClockChange::Reset).is_err(), "an unknown node is an error");
    }
}
