//! Peer transport end to end: the frames a node writes, what it does with bad peers, and
//! reconnection after a peer restarts.

mod runtime_common;

use std::collections::BTreeMap;
use std::time::Duration;

use nodes::api::Request;
use nodes::runtime::frame::{self, Hello};
use runtime_common::{bind, client, json, settings, wait_for, TestNode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_writes_a_handshake_then_messages_on_the_connection_it_opens() {
    let dir = tempfile::tempdir().unwrap();
    // Stand in for peer 2 (as a fault proxy would): node 1 is told to reach 2 here.
    let fake_peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peers = BTreeMap::from([(2, fake_peer.local_addr().unwrap().to_string())]);
    let node = TestNode::start(settings(1, peers, dir.path()), bind().await).await;

    let (mut conn, _) = tokio::time::timeout(LIMIT, fake_peer.accept()).await.unwrap().unwrap();
    let hello = frame::read_frame(&mut conn, 4096).await.unwrap().unwrap();
    assert_eq!(hello, br#"{"hello":{"from":1,"protocol":"echo-test"}}"#);
    assert_eq!(Hello::decode(&hello).unwrap(), Hello { from: 1, protocol: "echo-test".into() });

    let put = client().put(node.url("/kv/a")).json(&json!({"value": 7})).send().await.unwrap();
    assert_eq!(put.status(), 200);
    let message =
        tokio::time::timeout(LIMIT, frame::read_frame(&mut conn, 4096)).await.unwrap().unwrap().unwrap();
    let message: Request = serde_json::from_slice(&message).unwrap();
    assert_eq!(message, Request::Put { key: "a".into(), value: 7 });

    // Closing the connection makes the node reconnect and greet again.
    drop(conn);
    let (mut again, _) = tokio::time::timeout(LIMIT, fake_peer.accept()).await.unwrap().unwrap();
    let hello = frame::read_frame(&mut again, 4096).await.unwrap().unwrap();
    assert_eq!(Hello::decode(&hello).unwrap().from, 1);
    node.stop().await.unwrap();
}

/// Connect to `node`'s peer listener, write `bytes`, and expect the node to close the
/// connection without writing anything.
async fn expect_disconnected(peer_addr: &str, bytes: &[u8]) {
    let mut conn = TcpStream::connect(peer_addr).await.unwrap();
    // The node may close before taking everything; a failed write also means it hung up.
    let _ = conn.write_all(bytes).await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(LIMIT, conn.read_to_end(&mut got)).await;
    assert!(
        read.is_ok(),
        "the node kept a misbehaving peer connected after {:?}",
        String::from_utf8_lossy(bytes)
    );
    assert!(got.is_empty(), "the node wrote on an accepted connection: {got:?}");
}

fn hello(from: u32, protocol: &str) -> Vec<u8> {
    Hello { from, protocol: protocol.into() }.encode_frame()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_send_garbage_are_disconnected_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let peers = BTreeMap::from([(2, "127.0.0.1:9".to_string())]);
    let node = TestNode::start(settings(1, peers, dir.path()), bind().await).await;
    let http = client();

    // A valid peer's message is applied: the wire format the node reads is the one above.
    let mut good = hello(2, "echo-test");
    good.extend(frame::encode(&serde_json::to_vec(&Request::Put { key: "g".into(), value: 1 }).unwrap()));
    let mut conn = TcpStream::connect(&node.peer_addr).await.unwrap();
    conn.write_all(&good).await.unwrap();
    wait_for("the peer's write", LIMIT, || async {
        let (_, body) = json(http.get(node.url("/kv/g")).send().await.unwrap()).await;
        (body["value"] == 1).then_some(())
    })
    .await;
    // The same connection then sends garbage and is cut.
    let _ = conn.write_all(&frame::encode(b"\xff\xfe not json")).await;
    let mut rest = Vec::new();
    tokio::time::timeout(LIMIT, conn.read_to_end(&mut rest)).await.expect("cut after garbage").unwrap();

    let mut oversized = hello(2, "echo-test");
    oversized.extend_from_slice(&u32::MAX.to_be_bytes());
    let mut wrong_type = hello(2, "echo-test");
    wrong_type.extend(frame::encode(br#"{"op":"put","key":"x","value":"not a number"}"#));
    let mut bad_hello_json = frame::encode(b"{\"hello\":");
    bad_hello_json.extend(frame::encode(b"{}"));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("raw garbage", b"GET / HTTP/1.1\r\n\r\n".to_vec()),
        ("a hello that does not parse", bad_hello_json),
        ("another protocol", hello(2, "raft")),
        ("an unknown sender", hello(9, "echo-test")),
        ("the node's own id", hello(1, "echo-test")),
        ("an oversized frame", oversized),
        ("a message of the wrong shape", wrong_type),
        ("a huge handshake length", u32::MAX.to_be_bytes().to_vec()),
    ];
    for (what, bytes) in cases {
        eprintln!("case: {what}");
        expect_disconnected(&node.peer_addr, &bytes).await;
    }

    assert_eq!(json(http.get(node.url("/health")).send().await.unwrap()).await, (200, json!({"ok": true})));
    assert_eq!(json(http.get(node.url("/kv/x")).send().await.unwrap()).await, (200, json!({"value": null})));
    assert_eq!(json(http.get(node.url("/kv/g")).send().await.unwrap()).await, (200, json!({"value": 1})));
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_reach_a_peer_again_after_it_restarts() {
    let (dir1, dir2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (l1, l2) = (bind().await, bind().await);
    let addr1 = l1.peer.local_addr().unwrap().to_string();
    let addr2 = l2.peer.local_addr().unwrap();
    let node1 = TestNode::start(settings(1, BTreeMap::from([(2, addr2.to_string())]), dir1.path()), l1).await;
    let node2 = TestNode::start(settings(2, BTreeMap::from([(1, addr1.clone())]), dir2.path()), l2).await;
    let http = client();
    let value_on = |node: &TestNode, key: &str| {
        let request = http.get(node.url(&format!("/kv/{key}")));
        async move { json(request.send().await.unwrap()).await.1["value"].as_i64() }
    };

    http.put(node1.url("/kv/a")).json(&json!({"value": 1})).send().await.unwrap();
    wait_for("a on node 2", LIMIT, || async { (value_on(&node2, "a").await == Some(1)).then_some(()) }).await;

    // Node 2 goes away; node 1 keeps serving (its message to 2 is lost or queued).
    node2.stop().await.unwrap();
    http.put(node1.url("/kv/b")).json(&json!({"value": 2})).send().await.unwrap();

    // Node 2 comes back on the same address and data directory; node 1 reconnects.
    let l2 = nodes::runtime::Listeners {
        peer: TcpListener::bind(addr2).await.unwrap(),
        client: TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let node2 = TestNode::start(settings(2, BTreeMap::from([(1, addr1)]), dir2.path()), l2).await;
    assert_eq!(value_on(&node2, "a").await, Some(1), "node 2 recovered its log");
    let mut c = 0;
    wait_for("a fresh write on node 2", LIMIT, || {
        c += 1;
        let put = http.put(node1.url("/kv/c")).json(&json!({"value": c}));
        let node2 = &node2;
        async move {
            put.send().await.unwrap();
            value_on(node2, "c").await.filter(|&v| v > 0).map(|_| ())
        }
    })
    .await;
    node1.stop().await.unwrap();
    node2.stop().await.unwrap();
}
