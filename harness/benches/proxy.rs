//! The fault proxy's cost per frame, against direct loopback, measured in one run.
//!
//! `cargo bench -p faultline --bench proxy`
//!
//! Two paths to the same receiving server: a direct TCP connection, and one through the
//! frame-aware proxy with no faults set (the proxy still parses, counts and judges every
//! frame). For each path:
//! - latency: one frame at a time (the next is sent once the previous arrived), one-way
//!   sender-to-receiver time, p50 and p99; the proxy's added latency is the difference;
//! - throughput: a burst of frames written back to back, frames/s and MB/s until the
//!   receiver has them all, for small (protocol-message sized) and large frames.

use faultline::proxy;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use proxy::{Proxy, ProxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const LATENCY_SAMPLES: usize = 20_000;
const WARMUP: usize = 1_000;
const SMALL_FRAME: usize = 200;
const SMALL_BURST: usize = 200_000;
const LARGE_FRAME: usize = 16 * 1024;
const LARGE_BURST: usize = 20_000;

/// The receiver: for every frame, the nanoseconds since `base` at which it arrived.
async fn receiver(base: Instant) -> (SocketAddr, mpsc::UnboundedReceiver<(u64, u64)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            stream.set_nodelay(true).unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::with_capacity(256 * 1024, stream);
                let mut payload = Vec::new();
                loop {
                    let Ok(len) = stream.read_u32().await else { return };
                    payload.resize(len as usize, 0);
                    if stream.read_exact(&mut payload).await.is_err() {
                        return;
                    }
                    let arrived = base.elapsed().as_nanos() as u64;
                    // The first 8 bytes of a payload: when it was sent.
                    let sent = u64::from_be_bytes(payload[..8].try_into().unwrap());
                    if tx.send((sent, arrived)).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn frame(base: Instant, size: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(4 + size);
    f.extend_from_slice(&(size as u32).to_be_bytes());
    f.extend_from_slice(&(base.elapsed().as_nanos() as u64).to_be_bytes());
    f.resize(4 + size, b'x');
    f
}

struct Path {
    stream: TcpStream,
    arrivals: mpsc::UnboundedReceiver<(u64, u64)>,
}

/// Latencies in microseconds, sorted.
async fn latency(path: &mut Path, base: Instant) -> Vec<f64> {
    let mut samples = Vec::with_capacity(LATENCY_SAMPLES);
    for i in 0..WARMUP + LATENCY_SAMPLES {
        path.stream.write_all(&frame(base, SMALL_FRAME)).await.unwrap();
        let (sent, arrived) = path.arrivals.recv().await.unwrap();
        if i >= WARMUP {
            samples.push((arrived - sent) as f64 / 1000.0);
        }
    }
    samples.sort_by(f64::total_cmp);
    samples
}

/// Frames per second and MB/s of a burst of `count` frames of `size` bytes.
async fn throughput(path: &mut Path, base: Instant, size: usize, count: usize) -> (f64, f64) {
    let started = Instant::now();
    let one = frame(base, size);
    let writer = async {
        let mut batch = Vec::with_capacity(64 * one.len());
        let mut left = count;
        while left > 0 {
            batch.clear();
            for _ in 0..left.min(64) {
                batch.extend_from_slice(&one);
            }
            path.stream.write_all(&batch).await.unwrap();
            left -= left.min(64);
        }
    };
    let reader = async {
        for _ in 0..count {
            path.arrivals.recv().await.unwrap();
        }
    };
    tokio::join!(writer, reader);
    let secs = started.elapsed().as_secs_f64();
    (count as f64 / secs, (count * (4 + size)) as f64 / secs / 1e6)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let base = Instant::now();
        let (direct_addr, direct_rx) = receiver(base).await;
        let (proxied_addr, proxied_rx) = receiver(base).await;
        let targets = BTreeMap::from([(1, direct_addr), (2, proxied_addr)]);
        let proxy = Arc::new(Proxy::start(&targets, ProxyConfig::frames(1)).await.unwrap());

        let direct = TcpStream::connect(direct_addr).await.unwrap();
        let through = TcpStream::connect(proxy.listen_addr(1, 2).unwrap()).await.unwrap();
        for s in [&direct, &through] {
            s.set_nodelay(true).unwrap();
        }
        let mut direct = Path { stream: direct, arrivals: direct_rx };
        let mut through = Path { stream: through, arrivals: proxied_rx };
        // The proxy's first frame on a connection is the handshake: send one and await it.
        for p in [&mut direct, &mut through] {
            p.stream.write_all(&frame(base, SMALL_FRAME)).await.unwrap();
            p.arrivals.recv().await.unwrap();
        }

        println!("fault proxy cost per frame (frame mode, no faults set), loopback, one run");
        let d = latency(&mut direct, base).await;
        let t = latency(&mut through, base).await;
        println!("one-way latency, {SMALL_FRAME}-byte frames, {LATENCY_SAMPLES} samples, one in flight:");
        for (name, q) in [("p50", 0.50), ("p99", 0.99)] {
            let (dq, tq) = (quantile(&d, q), quantile(&t, q));
            println!("  {name}: direct {dq:8.1} us   proxy {tq:8.1} us   added {:8.1} us", tq - dq);
        }
        for (size, count) in [(SMALL_FRAME, SMALL_BURST), (LARGE_FRAME, LARGE_BURST)] {
            let (df, dm) = throughput(&mut direct, base, size, count).await;
            let (tf, tm) = throughput(&mut through, base, size, count).await;
            println!("throughput, {size}-byte frames, burst of {count}:");
            println!("  direct {df:12.0} frames/s {dm:9.1} MB/s");
            println!("  proxy  {tf:12.0} frames/s {tm:9.1} MB/s   ({:.0}% of direct)", 100.0 * tf / df);
        }
        let stats = proxy.stats();
        let link = stats.links["1->2"];
        assert_eq!(link.frames as usize, WARMUP + LATENCY_SAMPLES + SMALL_BURST + LARGE_BURST);
        assert_eq!(link.delivered, link.frames, "no faults: every frame delivered");
        println!("proxy counted {} frames, {} bytes on link 1->2", link.frames, link.bytes);
    });
}
