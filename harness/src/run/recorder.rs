//! The recorder: the one writer of a run's history.
//!
//! Clients and the nemesis hand events to a bounded channel; one thread owns the
//! `history.jsonl` writer, gives each event its dense index, and appends it. After each
//! batch (whatever was queued, up to [`MAX_BATCH`]) it flushes, so the file on disk is never
//! more than one batch behind, and a crashed or interrupted run still leaves its history.
//!
//! Order: an invocation is queued before its request is sent, and a completion after its
//! answer arrived, and the channel is first-in first-out, so the history's order never
//! shows an operation ending before another began when in real time it did not. Times are
//! taken by the sender (nanoseconds since the run started) and clamped to be monotonic in
//! index order, so times and indices never disagree.
//!
//! A write error ends the recorder and is returned by [`Recorder::finish`]; senders then
//! see a closed channel and stop: durability errors are never swallowed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{anyhow, Context};
use checkers::{Event, EventType, Process};
use results::HistoryWriter;
use tokio::sync::mpsc;

/// Events queued before senders wait.
pub const CHANNEL_CAPACITY: usize = 65_536;
/// Most events written between two flushes.
pub const MAX_BATCH: usize = 4096;

/// Live counts for the progress bar, as recorded.
#[derive(Debug, Default)]
pub struct Counters {
    pub invoked: AtomicU64,
    pub ok: AtomicU64,
    pub fail: AtomicU64,
    pub info: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.fail.load(Ordering::Relaxed),
            self.info.load(Ordering::Relaxed),
        )
    }
}

/// The recorder thread and the means to feed it.
pub struct Recorder {
    handle: RecorderHandle,
    thread: JoinHandle<anyhow::Result<Vec<Event>>>,
}

/// What senders hold: cheap to clone.
#[derive(Clone)]
pub struct RecorderHandle {
    tx: mpsc::Sender<Event>,
    start: Instant,
    counters: Arc<Counters>,
}

impl Recorder {
    /// Start recording into `writer`. `start` is the run's time zero.
    pub fn start(writer: HistoryWriter, start: Instant) -> anyhow::Result<Recorder> {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let counters = Arc::new(Counters::default());
        let thread_counters = counters.clone();
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || write_loop(writer, rx, &thread_counters))
            .context("starting the recorder thread")?;
        Ok(Recorder { handle: RecorderHandle { tx, start, counters }, thread })
    }

    pub fn handle(&self) -> RecorderHandle {
        self.handle.clone()
    }

    /// Stop accepting events (once every handle is dropped), write what is queued, sync,
    /// and return the whole history in order.
    pub fn finish(self) -> anyhow::Result<Vec<Event>> {
        drop(self.handle);
        self.thread.join().map_err(|_| anyhow!("the recorder thread panicked"))?
    }
}

impl RecorderHandle {
    /// Nanoseconds since the run started.
    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Queue one event; its time is stamped now if it has none. An error means the
    /// recorder stopped (its own error is reported by [`Recorder::finish`]).
    pub async fn record(&self, mut event: Event) -> anyhow::Result<()> {
        if event.time.is_none() {
            event.time = Some(self.now_ns());
        }
        self.tx.send(event).await.map_err(|_| anyhow!("the recorder has stopped"))
    }

    /// An event of a client process, stamped now.
    pub fn client_event(
        &self,
        process: u64,
        kind: EventType,
        f: &str,
        key: Option<&str>,
        value: serde_json::Value,
    ) -> Event {
        Event {
            index: 0,
            time: Some(self.now_ns()),
            process: Process::Client(process),
            kind,
            f: f.to_string(),
            key: key.map(str::to_string),
            value,
            error: None,
            node: None,
        }
    }
}

fn write_loop(
    mut writer: HistoryWriter,
    mut rx: mpsc::Receiver<Event>,
    counters: &Counters,
) -> anyhow::Result<Vec<Event>> {
    let mut events: Vec<Event> = Vec::new();
    let mut last_time = 0u64;
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        let mut batch = 0;
        while let Some(mut event) = next.take() {
            event.index = events.len() as u64;
            let time = event.time.unwrap_or(last_time).max(last_time);
            event.time = Some(time);
            last_time = time;
            count(counters, &event);
            writer.append(&event)?;
            events.push(event);
            batch += 1;
            if batch < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        writer.flush()?;
    }
    writer.sync()?;
    Ok(events)
}

fn count(counters: &Counters, event: &Event) {
    if event.process == Process::Nemesis {
        return;
    }
    let counter = match event.kind {
        EventType::Invoke => &counters.invoked,
        EventType::Ok => &counters.ok,
        EventType::Fail => &counters.fail,
        EventType::Info => &counters.info,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn events_get_dense_indices_monotonic_times_and_reach_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let recorder = Recorder::start(HistoryWriter::create(&path).unwrap(), Instant::now()).unwrap();
        let handle = recorder.handle();
        let mut late = handle.client_event(1, EventType::Invoke, "write", Some("k"), json!(1));
        late.time = Some(u64::MAX / 2);
        handle.record(late).await.unwrap();
        let mut early = handle.client_event(1, EventType::Ok, "write", Some("k"), json!(1));
        early.time = Some(5);
        handle.record(early).await.unwrap();
        drop(handle);
        let events = recorder.finish().unwrap();
        assert_eq!(events[1].kind, EventType::Ok);
        assert_eq!(events.iter().map(|e| e.index).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(events[1].time, events[0].time, "a time earlier than its predecessor is clamped");
        let on_disk = results::read_history(&path).unwrap().events;
        assert_eq!(on_disk, events);
    }

    #[tokio::test]
    async fn the_file_is_flushed_while_recording_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let recorder = Recorder::start(HistoryWriter::create(&path).unwrap(), Instant::now()).unwrap();
        let handle = recorder.handle();
        handle
            .record(handle.client_event(7, EventType::Invoke, "read", Some("k"), json!(null)))
            .await
            .unwrap();
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let read = results::read_history(&path).unwrap();
            if read.events.len() == 1 {
                break;
            }
            assert!(Instant::now() < deadline, "the event never reached the file");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(handle.counters().invoked.load(Ordering::Relaxed), 1);
        drop(handle);
        recorder.finish().unwrap();
    }
}
