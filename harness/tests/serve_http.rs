//! `faultline serve` over HTTP on 127.0.0.1: the list (newest first, filtered by query
//! parameters), each run's report, and nothing outside the store.

mod serve_support;

use serve_support::{three_runs, Server};

#[test]
fn the_index_lists_runs_newest_first_with_verdicts() {
    let store = tempfile::tempdir().unwrap();
    three_runs(store.path());
    let server = Server::start(store.path());
    let (status, body) = server.get("/");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("3 of 3 runs"), "{body}");
    let paxos = body.find("<td>paxos-register</td>").expect("paxos run listed");
    let pb = body.find("<td>pb-async-register</td>").expect("pb-async run listed");
    let raft = body.find("<td>raft-register</td>").expect("raft run listed");
    assert!(paxos < pb && pb < raft, "newest first");
    assert!(body.contains("class=\"badge v-invalid\">invalid"));
    assert!(body.contains("class=\"badge v-valid\">valid"));
    assert!(body.contains("pb-async-register went wrong"));
}

#[test]
fn query_parameters_filter_by_protocol_fault_and_verdict() {
    let store = tempfile::tempdir().unwrap();
    three_runs(store.path());
    let server = Server::start(store.path());
    let (_, body) = server.get("/?protocol=pb-async");
    assert!(body.contains("1 of 3 runs") && body.contains("<td>pb-async-register</td>"), "{body}");
    assert!(!body.contains("<td>raft-register</td>"));
    let (_, body) = server.get("/?fault=partition");
    assert!(body.contains("2 of 3 runs"), "partition alone and within pause,partition: {body}");
    assert!(!body.contains("<td>pb-async-register</td>"));
    let (_, body) = server.get("/?verdict=valid&fault=partition");
    assert!(body.contains("1 of 3 runs") && body.contains("<td>raft-register</td>"), "{body}");
    let (_, body) = server.get("/?verdict=invalid&protocol=raft");
    assert!(body.contains("0 of 3 runs"), "{body}");
}

#[test]
fn each_run_opens_its_report_and_logs() {
    let store = tempfile::tempdir().unwrap();
    three_runs(store.path());
    let server = Server::start(store.path());
    let (_, body) = server.get("/");
    let start = body.find("href=\"/runs/raft-register/").expect("a link to the raft run");
    let link = &body[start + 6..];
    let link = &link[..link.find('"').unwrap()];
    assert!(link.ends_with("/report.html"), "{link}");
    let (status, report) = server.get(link);
    assert_eq!(status, 200);
    assert!(report.contains("id=\"verdicts\"") && report.contains("raft-register"));
    let log = link.replace("report.html", "nodes/1.log");
    let (status, text) = server.get(&log);
    assert_eq!(status, 200);
    assert_eq!(text, "log of raft-register\n");
    let (status, _) = server.get("/runs/latest/report.html");
    assert_eq!(status, 200, "the store's own latest link stays inside the store");
}

#[test]
fn nothing_outside_the_store_is_served() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    let store = tempfile::tempdir().unwrap();
    three_runs(store.path());
    std::os::unix::fs::symlink(outside.path(), store.path().join("escape")).unwrap();
    let server = Server::start(store.path());
    for path in [
        "/runs/../secret.txt",
        "/runs/raft-register/../../secret.txt",
        "/runs/%2e%2e/%2e%2e/etc/passwd",
        "/runs/..%2f..%2fetc%2fpasswd",
        "/runs/%2fetc%2fpasswd",
        "/runs/escape/secret.txt",
        "/runs/raft-register",
        "/etc/passwd",
        "/../etc/passwd",
    ] {
        let (status, body) = server.get(path);
        assert!(status == 404 || status == 400, "{path} gave {status}");
        assert!(!body.contains("secret") && !body.contains("root:"), "{path} leaked {body}");
    }
}
