//! The admin routes end to end: `GET /admin/log` (the committed prefix as running hashes)
//! and `POST /admin/clock` (skewing the protocol's clock), with their bad-input answers.

mod runtime_common;

use std::collections::BTreeMap;
use std::time::Duration;

use nodes::protocols::pb::PbAsync;
use nodes::runtime::serve;
use runtime_common::{bind, client, json, settings, TestNode};
use serde_json::json;
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_route_pages_through_hashes_of_what_was_applied() {
    let dir = tempfile::tempdir().unwrap();
    let listeners = bind().await;
    let base = format!("http://{}", listeners.client.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let task =
        tokio::spawn(serve::<PbAsync>(settings(1, BTreeMap::new(), dir.path()), listeners, async move {
            let _ = stopped.await;
        }));
    let http = client();
    for value in 1..=3 {
        let put = http.put(format!("{base}/kv/a")).json(&json!({ "value": value })).send().await.unwrap();
        assert_eq!(json(put).await, (200, json!({})));
    }

    let (status, page) = json(http.get(format!("{base}/admin/log")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!((page["node"].as_u64(), page["commit_index"].as_u64()), (Some(1), Some(3)), "{page}");
    assert_eq!(page["first_index"], 1);
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.iter().map(|e| e["index"].as_u64().unwrap()).collect::<Vec<_>>(), vec![1, 2, 3]);
    for entry in entries {
        let hash = entry["hash"].as_str().unwrap();
        assert!(hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{entry}");
        assert_eq!(entry["term"], 1, "pb's epoch");
    }
    let (_, middle) = json(http.get(format!("{base}/admin/log?from=2&limit=1")).send().await.unwrap()).await;
    assert_eq!(middle["entries"], json!([entries[1]]));

    for bad in ["from=x", "limit=0", "limit=-3", "size=4"] {
        let (status, body) = json(http.get(format!("{base}/admin/log?{bad}")).send().await.unwrap()).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{bad}: {body}");
    }
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_route_jumps_scales_and_resets_and_never_goes_back() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(settings(1, BTreeMap::new(), dir.path()), bind().await).await;
    let http = client();
    let clock = |body: serde_json::Value| http.post(node.url("/admin/clock")).json(&body).send();

    let (status, jumped) = json(clock(json!({"jump_ms": 60_000})).await.unwrap()).await;
    assert_eq!(status, 200, "{jumped}");
    assert!(jumped["now_ms"].as_u64().unwrap() >= 60_000, "{jumped}");
    assert!(jumped["offset_ms"].as_i64().unwrap() >= 59_000, "{jumped}");
    assert_eq!(jumped["rate"], 1.0);
    // Timers follow the protocol's clock: after a forward jump the echo protocol's 10 ms
    // tick keeps running (a backward jump below would hold it, as it holds the clock).
    let (_, before) = json(http.get(node.url("/status")).send().await.unwrap()).await;
    runtime_common::wait_for("ticks after a forward jump", Duration::from_secs(10), || async {
        let (_, now) = json(http.get(node.url("/status")).send().await.unwrap()).await;
        (now["term"].as_u64() > before["term"].as_u64()).then_some(())
    })
    .await;

    let (_, back) = json(clock(json!({"jump_ms": -120_000})).await.unwrap()).await;
    assert!(back["now_ms"].as_u64() >= jumped["now_ms"].as_u64(), "the clock went back: {back}");

    let (_, fast) = json(clock(json!({"rate": 4.0})).await.unwrap()).await;
    assert_eq!(fast["rate"], 4.0);
    let (_, reset) = json(clock(json!({"reset": true})).await.unwrap()).await;
    assert_eq!(reset["rate"], 1.0);
    assert!(reset["now_ms"].as_u64() >= fast["now_ms"].as_u64(), "{reset}");

    for bad in [json!({"rate": 0.01}), json!({"jump_ms": "soon"}), json!({"reset": false}), json!({})] {
        let (status, body) = json(clock(bad.clone()).await.unwrap()).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{bad}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap().contains('\n'));
    }
    // A protocol that keeps no committed log says so.
    let (status, body) = json(http.get(node.url("/admin/log")).send().await.unwrap()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");

    node.stop().await.unwrap();
}
