//! The client API end to end: every route, every kind of bad request, and the deadline.

mod runtime_common;

use std::collections::BTreeMap;
use std::time::Duration;

use runtime_common::{bind, client, json, settings, wait_for, TestNode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn node(dir: &tempfile::TempDir) -> TestNode {
    TestNode::start(settings(1, BTreeMap::new(), dir.path()), bind().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir).await;
    let http = client();

    assert_eq!(json(http.get(node.url("/health")).send().await.unwrap()).await, (200, json!({"ok": true})));
    assert_eq!(json(http.get(node.url("/kv/a")).send().await.unwrap()).await, (200, json!({"value": null})));
    let put = http.put(node.url("/kv/a")).json(&json!({"value": 5})).send().await.unwrap();
    assert_eq!(json(put).await, (200, json!({})));
    assert_eq!(json(http.get(node.url("/kv/a")).send().await.unwrap()).await, (200, json!({"value": 5})));

    let cas = http.post(node.url("/kv/a/cas")).json(&json!({"from": 5, "to": 6})).send().await.unwrap();
    assert_eq!(json(cas).await, (200, json!({})));
    let (status, body) =
        json(http.post(node.url("/kv/a/cas")).json(&json!({"from": 5, "to": 7})).send().await.unwrap()).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "precondition_failed");
    assert_eq!(body["error"]["definite"], true);

    for element in [3, 1, 3] {
        let add = http.post(node.url("/set/s/add")).json(&json!({"element": element})).send().await.unwrap();
        assert_eq!(json(add).await, (200, json!({})));
    }
    assert_eq!(
        json(http.get(node.url("/set/s")).send().await.unwrap()).await,
        (200, json!({"elements": [1, 3]}))
    );

    let txn = json!({"ops": [
        {"op": "read", "key": "a"},
        {"op": "add", "key": "b", "delta": 4},
        {"op": "write", "key": "c", "value": 1},
        {"op": "check", "key": "b", "at_least": 4},
    ]});
    let answer = http.post(node.url("/txn")).json(&txn).send().await.unwrap();
    assert_eq!(json(answer).await, (200, json!({"results": [6, 4, null, 4]})));

    let (status, body) = json(http.get(node.url("/status")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], 1);
    assert_eq!(body["protocol"], "echo-test");
    assert_eq!(body["role"], "leader");
    assert_eq!(body["applied_index"], 6, "{body}");

    node.stop().await.unwrap();
}

/// Send one request and expect a definite JSON error with `code` and HTTP `status`.
async fn expect_error(request: reqwest::RequestBuilder, status: u16, code: &str) -> String {
    let (got, body) = json(request.send().await.unwrap()).await;
    assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{body}");
    assert_eq!(body["error"]["definite"], true, "{body}");
    body["error"]["message"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir).await;
    let http = client();

    let raw = |body: &'static str| {
        http.put(node.url("/kv/a")).header("content-type", "application/json").body(body)
    };
    let message = expect_error(raw("not json"), 400, "bad_request").await;
    assert!(message.contains("malformed JSON"), "{message}");
    expect_error(raw(r#"{"value": "five"}"#), 400, "bad_request").await;
    expect_error(raw(r#"{"value": 1, "extra": 2}"#), 400, "bad_request").await;
    expect_error(raw(r#"{"value": 1.5}"#), 400, "bad_request").await;
    expect_error(raw(""), 400, "bad_request").await;
    let bad_op = http.post(node.url("/txn")).json(&json!({"ops": [{"op": "frobnicate", "key": "a"}]}));
    expect_error(bad_op, 400, "bad_request").await;
    let cas_types = http.post(node.url("/kv/a/cas")).json(&json!({"from": null, "to": 1}));
    expect_error(cas_types, 400, "bad_request").await;

    let message = expect_error(http.get(node.url("/no/such/route")), 404, "not_found").await;
    assert!(message.contains("/no/such/route"), "{message}");
    let message = expect_error(http.delete(node.url("/kv/a")), 400, "bad_request").await;
    assert!(message.contains("DELETE"), "{message}");
    expect_error(http.get(node.url("/txn")), 400, "bad_request").await;

    let huge = format!(r#"{{"value": 1, "pad": "{}"}}"#, "x".repeat(2 * 1024 * 1024));
    // Its own client: the node answers 413 and closes the connection while the body is
    // still being sent, and that connection must not go back to the pool the next request
    // takes one from.
    let once = reqwest::Client::new();
    let too_large = once.put(node.url("/kv/a")).header("content-type", "application/json").body(huge);
    expect_error(too_large, 413, "payload_too_large").await;

    // A key of the wrong kind is the state machine's definite error, passed through.
    http.post(node.url("/set/s/add")).json(&json!({"element": 1})).send().await.unwrap();
    expect_error(http.put(node.url("/kv/s")).json(&json!({"value": 1})), 400, "bad_request").await;

    // Bytes that are not HTTP at all: the connection is refused, the node keeps serving.
    let mut garbage = tokio::net::TcpStream::connect(node.base.trim_start_matches("http://")).await.unwrap();
    garbage.write_all(b"\x00\x01\x02 NOT HTTP\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), garbage.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || text.starts_with("HTTP/1.1 400"), "{text}");
    assert_eq!(json(http.get(node.url("/health")).send().await.unwrap()).await, (200, json!({"ok": true})));
    // Nothing above changed the register.
    assert_eq!(json(http.get(node.url("/kv/a")).send().await.unwrap()).await, (200, json!({"value": null})));

    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_request_times_out_as_indefinite() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir).await;
    let http = client();
    // Echo never answers keys starting with "hold"; the node's deadline is 300 ms.
    let (status, body) =
        json(http.put(node.url("/kv/hold-me")).json(&json!({"value": 1})).send().await.unwrap()).await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "timeout");
    assert_eq!(body["error"]["definite"], false);
    // The node is unharmed and answers others normally.
    let put = http.put(node.url("/kv/a")).json(&json!({"value": 2})).send().await.unwrap();
    assert_eq!(json(put).await, (200, json!({})));
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_fire_and_rearm() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir).await;
    let http = client();
    // Echo's tick timer re-arms itself every 10 ms and counts into `term`.
    wait_for("five ticks", Duration::from_secs(10), || async {
        let (_, body) = json(http.get(node.url("/status")).send().await.unwrap()).await;
        (body["term"].as_u64().unwrap() >= 5).then_some(())
    })
    .await;
    node.stop().await.unwrap();
}

/// Serve only the HTTP layer over `inbox`, with no actor behind it.
async fn bare_api(inbox: tokio::sync::mpsc::Sender<nodes::runtime::node::ClientInput>) -> String {
    use std::future::IntoFuture;
    let state = nodes::runtime::http::ApiState { inbox, wait: Duration::from_secs(5) };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, nodes::runtime::http::router(state, 1024)).into_future());
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_actor_queue_answers_unavailable_at_once() {
    use nodes::runtime::node::ClientInput;
    let (inbox, _queue) = tokio::sync::mpsc::channel(1);
    let (answer, _) = tokio::sync::oneshot::channel();
    inbox.try_send(ClientInput::Status { answer }).unwrap();
    let base = bare_api(inbox).await;
    let (status, body) =
        json(client().put(format!("{base}/kv/a")).json(&json!({"value": 1})).send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str(), body["error"]["definite"].as_bool()),
        (503, Some("unavailable"), Some(true))
    );
    let (status, _) = json(client().get(format!("{base}/status")).send().await.unwrap()).await;
    assert_eq!(status, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_lost_with_a_stopped_actor_is_indefinite() {
    use nodes::runtime::node::ClientInput;
    let (inbox, mut queue) = tokio::sync::mpsc::channel::<ClientInput>(8);
    // An actor that takes each request and dies without answering.
    tokio::spawn(async move {
        while let Some(input) = queue.recv().await {
            drop(input);
        }
    });
    let base = bare_api(inbox).await;
    let (status, body) =
        json(client().put(format!("{base}/kv/a")).json(&json!({"value": 1})).send().await.unwrap()).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "internal");
    assert_eq!(body["error"]["definite"], false);
}
