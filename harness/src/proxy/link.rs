//! One proxied connection: the sender's stream, read and judged frame by frame (or chunk
//! by chunk in byte mode), and a writer that delivers what survives to the receiver.
//!
//! Reader and writer are joined by a bounded queue of deliveries, each with the instant it
//! may be written. The writer waits for that instant, so delays overlap (a 50 ms delay
//! adds 50 ms to each frame, not 50 ms per frame in sequence) and a full queue slows the
//! sender down through TCP back-pressure instead of growing memory.
//!
//! What a cut does to open connections: in frame mode, nothing to the connection. It stays
//! open, and every frame the sender writes while the link is cut is read and silently
//! discarded (counted `dropped`), as packets vanish in a real partition; after a heal,
//! frames flow again on the same connection. The first frame of a connection (the
//! handshake naming the sender) is connection setup: it is always delivered, never faulted.
//! In byte mode the proxy cannot tell where a message ends, and dropping bytes would
//! corrupt the stream, so a cut *stalls* the direction instead: the proxy stops reading,
//! the sender's writes back up in TCP buffers, and everything is delivered after the heal,
//! as TCP retransmission does once a partition heals. If the receiver is down (its peer
//! address refuses), the sender's connection is closed, as it would be without a proxy.

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::faults::{self, decide, Fate};
use super::framing::{FrameEnd, FrameReader};
use super::stats::{bump, LinkCounters};
use super::{Link, Mode, Shared};

/// Deliveries queued between reader and writer of one direction.
const QUEUE_DEPTH: usize = 1024;
/// Longest a frame is held for reordering when no next frame comes.
pub const REORDER_HOLD: Duration = Duration::from_millis(50);
/// Longest the proxy waits to open the onward connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest chunk read at once in byte mode.
const BYTE_CHUNK: usize = 64 * 1024;

struct Delivery {
    at: Instant,
    bytes: Vec<u8>,
    /// Whether it counts as a delivered frame (handshakes and byte chunks do not).
    frame: bool,
}

/// Serve one accepted connection on `link` until either side closes or the proxy stops.
pub(crate) async fn serve(
    inbound: TcpStream,
    link: Link,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let counters = shared.counters(link);
    let index = counters.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let Some(target) = shared.target(link.1) else { return };
    let Ok(Ok(onward)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await else {
        bump(&counters.connect_failures, 1);
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = onward.set_nodelay(true);
    counters.open_connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = onward.into_split();
    let back_link = (link.1, link.0);
    let back_counters = shared.counters(back_link);

    let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
    let (back_tx, back_rx) = mpsc::channel(QUEUE_DEPTH);
    let rng = ChaCha8Rng::seed_from_u64(connection_seed(shared.config.seed, link, index));
    let forward_read = async {
        match shared.config.mode {
            Mode::Frames => read_frames(in_read, tx, link, &shared, &counters, rng).await,
            Mode::Bytes => read_bytes(in_read, tx, link, &shared, &counters).await,
        }
    };
    let forward_write = write(out_write, rx, &counters);
    let back_read = read_bytes(out_read, back_tx, back_link, &shared, &back_counters);
    let back_write = write(in_write, back_rx, &back_counters);
    tokio::pin!(forward_read, forward_write, back_read, back_write);
    let mut forward_read_done = false;
    loop {
        tokio::select! {
            // The sender closed or broke framing: deliver what is queued, then finish.
            _ = &mut forward_read, if !forward_read_done => forward_read_done = true,
            _ = &mut forward_write => break,
            // The receiver closed (killed, restarted): close the sender's side too.
            _ = &mut back_read => break,
            _ = &mut back_write => break,
            _ = shutdown.changed() => break,
        }
    }
    counters.open_connections.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

/// Frame mode: judge each frame by the link's current grudge and faults.
async fn read_frames(
    read: OwnedReadHalf,
    tx: mpsc::Sender<Delivery>,
    link: Link,
    shared: &Shared,
    counters: &LinkCounters,
    mut rng: ChaCha8Rng,
) {
    let mut frames = FrameReader::new(read, shared.config.max_frame_bytes);
    // The handshake: always delivered first, never faulted.
    let hello = match frames.next().await {
        Ok(frame) => frame,
        Err(end) => return note_end(end, counters),
    };
    bump(&counters.bytes, hello.len() as u64);
    if tx.send(Delivery { at: Instant::now(), bytes: hello, frame: false }).await.is_err() {
        return;
    }
    let mut last_at = Instant::now();
    let mut held: Option<Delivery> = None;
    loop {
        let next = match held {
            Some(_) => match tokio::time::timeout(REORDER_HOLD, frames.next()).await {
                Ok(next) => next,
                Err(_) => {
                    // No next frame came: release the held one on its own.
                    let frame = held.take().expect("held");
                    if tx.send(frame).await.is_err() {
                        return;
                    }
                    continue;
                }
            },
            None => frames.next().await,
        };
        let frame = match next {
            Ok(frame) => frame,
            Err(end) => {
                if let Some(frame) = held.take() {
                    let _ = tx.send(frame).await;
                }
                return note_end(end, counters);
            }
        };
        bump(&counters.frames, 1);
        bump(&counters.bytes, frame.len() as u64);
        let (cut, faults) = shared.link_state(link);
        let (delay, duplicate, hold) = match decide(&faults, cut, &mut rng) {
            Fate::Cut | Fate::Lost => {
                bump(&counters.dropped, 1);
                continue;
            }
            Fate::Deliver { delay, duplicate, hold } => (delay, duplicate, hold),
        };
        if !delay.is_zero() {
            bump(&counters.delayed, 1);
        }
        // Keep delivery order under jitter: never before the previous frame.
        let at = (Instant::now() + delay).max(last_at);
        last_at = at;
        let mut out = Vec::with_capacity(3);
        if duplicate {
            bump(&counters.duplicated, 1);
            out.push(Delivery { at, bytes: frame.clone(), frame: true });
        }
        let this = Delivery { at, bytes: frame, frame: true };
        if let Some(mut earlier) = held.take() {
            bump(&counters.reordered, 1);
            earlier.at = earlier.at.max(at);
            out.push(this);
            out.push(earlier);
        } else if hold {
            held = Some(this);
        } else {
            out.push(this);
        }
        for delivery in out {
            if tx.send(delivery).await.is_err() {
                return;
            }
        }
    }
}

fn note_end(end: FrameEnd, counters: &LinkCounters) {
    if let FrameEnd::Broken(_) = end {
        bump(&counters.malformed, 1);
    }
}

/// Byte mode (and the reverse direction of every connection): copy chunks, stalling while
/// the link is cut and delaying by the link's delay and jitter. Loss, duplication and
/// reordering do not apply: without framing they would corrupt the stream.
async fn read_bytes(
    mut read: OwnedReadHalf,
    tx: mpsc::Sender<Delivery>,
    link: Link,
    shared: &Shared,
    counters: &LinkCounters,
) {
    let mut changes = shared.changes.subscribe();
    let mut rng = ChaCha8Rng::seed_from_u64(connection_seed(shared.config.seed, link, u64::MAX));
    let mut last_at = Instant::now();
    loop {
        let mut chunk = Vec::with_capacity(BYTE_CHUNK);
        match read.read_buf(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => bump(&counters.bytes, n as u64),
        }
        let faults = loop {
            let (cut, faults) = shared.link_state(link);
            if !cut {
                break faults;
            }
            if changes.changed().await.is_err() {
                return;
            }
        };
        // Only the delay applies to bytes: loss, duplication and reordering would corrupt
        // a stream whose framing is unknown.
        let delay = faults::delay(&faults, &mut rng);
        if !delay.is_zero() {
            bump(&counters.delayed, 1);
        }
        let at = (Instant::now() + delay).max(last_at);
        last_at = at;
        if tx.send(Delivery { at, bytes: chunk, frame: false }).await.is_err() {
            return;
        }
    }
}

/// Write deliveries in order, each no earlier than its instant; flush when idle.
async fn write(write: OwnedWriteHalf, mut rx: mpsc::Receiver<Delivery>, counters: &LinkCounters) {
    let mut out = BufWriter::with_capacity(64 * 1024, write);
    while let Some(delivery) = rx.recv().await {
        if delivery.at > Instant::now() {
            if out.flush().await.is_err() {
                return;
            }
            tokio::time::sleep_until(delivery.at).await;
        }
        if out.write_all(&delivery.bytes).await.is_err() {
            return;
        }
        if delivery.frame {
            bump(&counters.delivered, 1);
        }
        if rx.is_empty() && out.flush().await.is_err() {
            return;
        }
    }
    let _ = out.flush().await;
    let _ = out.into_inner().shutdown().await;
}

/// A connection's random stream: the proxy seed, the link and the connection's number on
/// that link, mixed so that neighbouring inputs give unrelated streams.
fn connection_seed(seed: u64, link: Link, index: u64) -> u64 {
    let mut x = seed ^ (u64::from(link.0) << 40) ^ (u64::from(link.1) << 20) ^ index;
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
