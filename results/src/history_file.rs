//! `history.jsonl`: the run's history, one `checkers::Event` per line.
//!
//! The writer appends and flushes as the run goes, so that a harness that crashes, or is
//! interrupted, still leaves every event it recorded on disk. Flushing is done by the caller
//! after each batch (the recorder drains what is queued, writes it, then flushes once), which
//! keeps the system-call count low at high rates without holding events back.
//!
//! The reader accepts a torn last line, the mark of a run killed mid-write: the line is
//! dropped and reported, everything before it is kept. A malformed line anywhere else is
//! an error naming its line number.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use checkers::Event;

/// Appends events to a history file.
pub struct HistoryWriter {
    path: PathBuf,
    out: BufWriter<File>,
    written: u64,
}

impl HistoryWriter {
    /// Create (or truncate) the file at `path`.
    pub fn create(path: &Path) -> anyhow::Result<HistoryWriter> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(HistoryWriter {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 16, file),
            written: 0,
        })
    }

    /// Write one event as one line. Not on disk until [`HistoryWriter::flush`].
    pub fn append(&mut self, event: &Event) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.out, event).context("encoding a history event")?;
        self.out.write_all(b"\n").with_context(|| format!("writing {}", self.path.display()))?;
        self.written += 1;
        Ok(())
    }

    /// Hand everything appended so far to the operating system.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.out.flush().with_context(|| format!("flushing {}", self.path.display()))
    }

    /// Flush and make durable (fsync); for the end of a run.
    pub fn sync(&mut self) -> anyhow::Result<()> {
        self.flush()?;
        self.out.get_ref().sync_all().with_context(|| format!("syncing {}", self.path.display()))
    }

    /// Events appended so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

/// What [`read_history`] found.
#[derive(Debug)]
pub struct HistoryRead {
    pub events: Vec<Event>,
    /// A last line that did not parse and had no newline: a write cut short by a crash.
    pub torn_tail: Option<String>,
}

/// Read a history file written by [`HistoryWriter`] (or any faultline JSONL history).
pub fn read_history(path: &Path) -> anyhow::Result<HistoryRead> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut events = Vec::new();
    let mut line = String::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            return Ok(HistoryRead { events, torn_tail: None });
        }
        number += 1;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(text) {
            Ok(event) => events.push(event),
            Err(_) if !line.ends_with('\n') => {
                return Ok(HistoryRead { events, torn_tail: Some(text.to_string()) });
            }
            Err(e) => bail!("{}:{number}: not a history event: {e}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::{EventType, Process};

    fn event(index: u64, kind: EventType) -> Event {
        Event {
            index,
            time: Some(index * 10),
            process: Process::Client(1),
            kind,
            f: "write".into(),
            key: Some("k".into()),
            value: serde_json::json!(index),
            error: None,
            node: Some("1".into()),
        }
    }

    #[test]
    fn flushed_events_read_back_while_the_writer_is_still_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let mut w = HistoryWriter::create(&path).unwrap();
        w.append(&event(0, EventType::Invoke)).unwrap();
        w.append(&event(1, EventType::Ok)).unwrap();
        w.flush().unwrap();
        let read = read_history(&path).unwrap();
        assert_eq!(read.events, vec![event(0, EventType::Invoke), event(1, EventType::Ok)]);
        assert!(read.torn_tail.is_none());
        assert_eq!(w.written(), 2);
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_reported_but_a_bad_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let good = serde_json::to_string(&event(0, EventType::Invoke)).unwrap();
        std::fs::write(&path, format!("{good}\n{{\"index\":1,\"proc")).unwrap();
        let read = read_history(&path).unwrap();
        assert_eq!(read.events.len(), 1);
        assert_eq!(read.torn_tail.as_deref(), Some("{\"index\":1,\"proc"));

        std::fs::write(&path, format!("not json\n{good}\n")).unwrap();
        let err = read_history(&path).unwrap_err().to_string();
        assert!(err.contains(":1: not a history event"), "{err}");
    }
}
