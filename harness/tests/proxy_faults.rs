//! The fault proxy against plain TCP sink servers: frame counting, seeded frame faults
//! (probabilities 0 and 1, so every assertion is exact), grudges, one-way cuts, byte mode.

use faultline::{net, proxy};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use net::{Grudge, LinkFaults};
use proxy::{Proxy, ProxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const DEADLINE: Duration = Duration::from_secs(10);

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

/// A node's peer listener stand-in: every payload received, tagged with its connection.
struct Sink {
    addr: SocketAddr,
    received: mpsc::UnboundedReceiver<(usize, Vec<u8>)>,
}

impl Sink {
    async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, received) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut conn = 0;
            while let Ok((mut stream, _)) = listener.accept().await {
                conn += 1;
                let tx = tx.clone();
                tokio::spawn(async move {
                    loop {
                        let mut header = [0u8; 4];
                        if stream.read_exact(&mut header).await.is_err() {
                            return;
                        }
                        let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
                        if stream.read_exact(&mut payload).await.is_err() {
                            return;
                        }
                        if tx.send((conn, payload)).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Sink { addr, received }
    }

    async fn next(&mut self) -> (usize, Vec<u8>) {
        tokio::time::timeout(DEADLINE, self.received.recv())
            .await
            .expect("a frame within the deadline")
            .expect("sink open")
    }

    async fn payloads(&mut self, n: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(self.next().await.1);
        }
        out
    }
}

/// Node 1 dials node 2 through the proxy and says hello.
async fn dial(proxy: &Proxy, from: u32, to: u32) -> TcpStream {
    let mut stream = TcpStream::connect(proxy.listen_addr(from, to).unwrap()).await.unwrap();
    stream.write_all(&frame(format!("hello {from}").as_bytes())).await.unwrap();
    stream
}

async fn send(stream: &mut TcpStream, payloads: &[&str]) {
    for p in payloads {
        stream.write_all(&frame(p.as_bytes())).await.unwrap();
    }
    stream.flush().await.unwrap();
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let until = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(tokio::time::Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn two_nodes(config: ProxyConfig) -> (Proxy, Sink, Sink) {
    let one = Sink::start().await;
    let two = Sink::start().await;
    let targets = BTreeMap::from([(1, one.addr), (2, two.addr)]);
    (Proxy::start(&targets, config).await.unwrap(), one, two)
}

fn texts(payloads: Vec<Vec<u8>>) -> Vec<String> {
    payloads.into_iter().map(|p| String::from_utf8(p).unwrap()).collect()
}

#[tokio::test]
async fn frames_and_bytes_are_counted_per_link() {
    let (proxy, _one, mut two) = two_nodes(ProxyConfig::frames(1)).await;
    let mut s = dial(&proxy, 1, 2).await;
    send(&mut s, &["a", "bb", "ccc"]).await;
    assert_eq!(texts(two.payloads(4).await), ["hello 1", "a", "bb", "ccc"]);
    wait_for("delivered count", || proxy.stats().links["1->2"].delivered == 3).await;
    let stats = proxy.stats();
    let link = stats.links["1->2"];
    assert_eq!(link.frames, 3, "the handshake is not a protocol frame");
    assert_eq!(link.bytes, (4 + 7) + (4 + 1) + (4 + 2) + (4 + 3));
    assert_eq!(link.connections, 1);
    assert_eq!((link.dropped, link.duplicated, link.reordered, link.delayed), (0, 0, 0, 0));
    assert_eq!(stats.links["2->1"].frames, 0);
    assert_eq!(stats.total.frames, 3);
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["links"]["1->2"]["frames"], 3);
}

#[tokio::test]
async fn loss_one_drops_every_frame_and_loss_zero_none() {
    let (proxy, _one, mut two) = two_nodes(ProxyConfig::frames(2)).await;
    let mut s = dial(&proxy, 1, 2).await;
    assert_eq!(two.next().await.1, b"hello 1");
    proxy.set_link_faults((1, 2), LinkFaults { drop: 1.0, ..LinkFaults::default() }).unwrap();
    send(&mut s, &["x1", "x2", "x3", "x4", "x5"]).await;
    wait_for("five drops", || proxy.stats().links["1->2"].dropped == 5).await;
    proxy.set_link_faults((1, 2), LinkFaults { drop: 0.0, ..LinkFaults::default() }).unwrap();
    send(&mut s, &["y1", "y2"]).await;
    assert_eq!(texts(two.payloads(2).await), ["y1", "y2"], "nothing of the lost frames arrives");
    let link = proxy.stats().links["1->2"];
    assert_eq!((link.frames, link.dropped, link.delivered), (7, 5, 2));
}

#[tokio::test]
async fn duplicate_one_delivers_each_frame_twice() {
    let (proxy, _one, mut two) = two_nodes(ProxyConfig::frames(3)).await;
    proxy.set_link_faults((1, 2), LinkFaults { duplicate: 1.0, ..LinkFaults::default() }).unwrap();
    let mut s = dial(&proxy, 1, 2).await;
    send(&mut s, &["a", "b"]).await;
    assert_eq!(texts(two.payloads(5).await), ["hello 1", "a", "a", "b", "b"]);
    wait_for("counts", || proxy.stats().links["1->2"].delivered == 4).await;
    assert_eq!(proxy.stats().links["1->2"].duplicated, 2);
}

#[tokio::test]
async fn reorder_one_swaps_each_pair() {
    let (proxy, _one, mut two) = two_nodes(ProxyConfig::frames(4)).await;
    proxy.set_link_faults((1, 2), LinkFaults { reorder: 1.0, ..LinkFaults::default() }).unwrap();
    let mut s = dial(&proxy, 1, 2).await;
    send(&mut s, &["a", "b", "c", "d"]).await;
    assert_eq!(texts(two.payloads(5).await), ["hello 1", "b", "a", "d", "c"]);
    // A held frame with no successor is still delivered (after the hold bound).
    send(&mut s, &["e"]).await;
    assert_eq!(texts(two.payloads(1).await), ["e"]);
    assert_eq!(proxy.stats().links["1->2"].reordered, 2);
}

#[tokio::test]
async fn delay_with_jitter_keeps_order_and_counts() {
    let (proxy, _one, mut two) = two_nodes(ProxyConfig::frames(5)).await;
    let faults = LinkFaults { delay_ms: 2, jitter_ms: 20, ..LinkFaults::default() };
    proxy.set_link_faults((1, 2), faults).unwrap();
    assert_eq!(proxy.link_faults((1, 2)), faults);
    let mut s = dial(&proxy, 1, 2).await;
    let sent: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
    send(&mut s, &refs).await;
    assert_eq!(two.next().await.1, b"hello 1");
    assert_eq!(texts(two.payloads(40).await), sent);
    assert_eq!(proxy.stats().links["1->2"].delayed, 40);
}

#[tokio::test]
async fn grudge_cut_is_a_black_hole_and_heal_restores_the_same_connection() {
    let (proxy, mut one, mut two) = two_nodes(ProxyConfig::frames(6)).await;
    let mut s12 = dial(&proxy, 1, 2).await;
    let mut s21 = dial(&proxy, 2, 1).await;
    assert_eq!(two.next().await, (1, b"hello 1".to_vec()));
    assert_eq!(one.next().await, (1, b"hello 2".to_vec()));

    proxy.set_grudge(Grudge::complete(&[vec![1], vec![2]]));
    assert!(proxy.grudge().is_cut(1, 2) && proxy.grudge().is_cut(2, 1));
    send(&mut s12, &["lost-1", "lost-2"]).await;
    send(&mut s21, &["lost-3"]).await;
    wait_for("drops", || {
        let stats = proxy.stats();
        stats.links["1->2"].dropped == 2 && stats.links["2->1"].dropped == 1
    })
    .await;
    assert_eq!(proxy.open_connections((1, 2)), 1, "a cut leaves connections open");

    proxy.heal();
    send(&mut s12, &["after-1"]).await;
    send(&mut s21, &["after-2"]).await;
    assert_eq!(two.next().await, (1, b"after-1".to_vec()), "same connection, no lost frame");
    assert_eq!(one.next().await, (1, b"after-2".to_vec()));
}

#[tokio::test]
async fn one_way_cut_drops_one_direction_only() {
    let (proxy, mut one, mut two) = two_nodes(ProxyConfig::frames(7)).await;
    let mut grudge = Grudge::none();
    grudge.cut(1, 2); // node 2 drops traffic from node 1
    proxy.set_grudge(grudge);
    let mut s12 = dial(&proxy, 1, 2).await;
    let mut s21 = dial(&proxy, 2, 1).await;
    send(&mut s12, &["to-2"]).await;
    send(&mut s21, &["to-1"]).await;
    assert_eq!(texts(one.payloads(2).await), ["hello 2", "to-1"]);
    wait_for("drop on 1->2", || proxy.stats().links["1->2"].dropped == 1).await;
    assert_eq!(two.next().await.1, b"hello 1", "only the handshake crossed 1->2");
    assert!(two.received.try_recv().is_err());
}

#[tokio::test]
async fn the_same_seed_drops_the_same_frames() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (proxy, _one, mut two) = two_nodes(ProxyConfig::frames(42)).await;
        proxy.set_link_faults((1, 2), LinkFaults { drop: 0.5, ..LinkFaults::default() }).unwrap();
        let mut s = dial(&proxy, 1, 2).await;
        let sent: Vec<String> = (0..64).map(|i| format!("{i}")).collect();
        send(&mut s, &sent.iter().map(String::as_str).collect::<Vec<_>>()).await;
        wait_for("all judged", || proxy.stats().links["1->2"].frames == 64).await;
        proxy.clear_link_faults();
        send(&mut s, &["end"]).await;
        let mut got = Vec::new();
        loop {
            let (_, p) = two.next().await;
            if p == b"end" {
                break;
            }
            got.push(String::from_utf8(p).unwrap());
        }
        runs.push(got);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].len() > 1 && runs[0].len() < 65, "some but not all dropped: {}", runs[0].len());
}

#[tokio::test]
async fn oversized_frame_closes_the_connection_and_counts_malformed() {
    let one = Sink::start().await;
    let mut two = Sink::start().await;
    let targets = BTreeMap::from([(1, one.addr), (2, two.addr)]);
    let config = ProxyConfig { max_frame_bytes: 8, ..ProxyConfig::frames(8) };
    let proxy = Proxy::start(&targets, config).await.unwrap();
    let mut s = dial(&proxy, 1, 2).await;
    assert_eq!(two.next().await.1, b"hello 1");
    s.write_all(&frame(b"far too long for the limit")).await.unwrap();
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(DEADLINE, s.read(&mut buf)).await.expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "the proxy closes the sender's connection");
    assert_eq!(proxy.stats().links["1->2"].malformed, 1);
}

#[tokio::test]
async fn a_receiver_that_is_down_closes_the_senders_connection() {
    let one = Sink::start().await;
    // An address nothing listens on: bind, note, release.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let targets = BTreeMap::from([(1, one.addr), (2, dead)]);
    let proxy = Proxy::start(&targets, ProxyConfig::frames(9)).await.unwrap();
    let mut s = TcpStream::connect(proxy.listen_addr(1, 2).unwrap()).await.unwrap();
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(DEADLINE, s.read(&mut buf)).await.expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)));
    assert_eq!(proxy.stats().links["1->2"].connect_failures, 1);
}

#[tokio::test]
async fn byte_mode_stalls_during_a_cut_and_delivers_after_heal() {
    let (proxy, _one, mut two) = two_nodes(ProxyConfig::bytes(10)).await;
    let mut s = dial(&proxy, 1, 2).await;
    assert_eq!(two.next().await.1, b"hello 1");
    proxy.set_grudge(Grudge::complete(&[vec![1], vec![2]]));
    send(&mut s, &["held"]).await;
    wait_for("bytes read", || proxy.stats().links["1->2"].bytes == 4 + 7 + 4 + 4).await;
    assert!(two.received.try_recv().is_err(), "nothing crosses a cut");
    proxy.heal();
    assert_eq!(two.next().await.1, b"held", "stalled bytes arrive after the heal");
    let link = proxy.stats().links["1->2"];
    assert_eq!((link.frames, link.dropped), (0, 0), "byte mode does not see frames");
}

#[tokio::test]
async fn bad_fault_settings_are_refused() {
    let (proxy, _one, _two) = two_nodes(ProxyConfig::frames(11)).await;
    assert!(proxy.set_link_faults((1, 2), LinkFaults { drop: 2.0, ..LinkFaults::default() }).is_err());
    assert!(proxy.set_link_faults((1, 3), LinkFaults::default()).is_err());
    assert!(proxy.set_all_link_faults(LinkFaults { reorder: -1.0, ..LinkFaults::default() }).is_err());
    assert_eq!(proxy.link_faults((1, 2)), LinkFaults::default());
    assert_eq!(proxy.peers_of(1).keys().copied().collect::<Vec<_>>(), [2]);
}

#[tokio::test]
async fn byte_mode_applies_delay_but_never_drops() {
    let (proxy, _one, mut two) = two_nodes(ProxyConfig::bytes(12)).await;
    let faults = LinkFaults { drop: 1.0, delay_ms: 5, ..LinkFaults::default() };
    proxy.set_link_faults((1, 2), faults).unwrap();
    let mut s = dial(&proxy, 1, 2).await;
    send(&mut s, &["slow"]).await;
    assert_eq!(texts(two.payloads(2).await), ["hello 1", "slow"], "loss does not apply to bytes");
    let link = proxy.stats().links["1->2"];
    assert!(link.delayed >= 1, "{link:?}");
    assert_eq!(link.dropped, 0);
}
