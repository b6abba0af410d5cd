//! Clients: the processes that invoke operations on the cluster.
//!
//! A client worker runs one operation at a time as one logical process. It talks to one
//! node (its home, `worker % nodes`) through the system's adapter, follows a `not_leader`
//! answer's hint for its next operation, and goes home again after a connection failure or
//! a timeout. When an
//! operation ends `info`, the process is retired and the worker continues as a new process
//! with a fresh id (Jepsen's rule: a process with an operation of unknown outcome never
//! invokes again). Every call has a deadline ([`ClientShared::op_timeout`]).
//!
//! The invocation is recorded before the request leaves and the completion after the
//! answer is in, so the history's intervals contain the real ones (see `recorder`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use checkers::EventType;
use nodes::api::{body, NodeId, Request};
use tokio::sync::watch;
use workloads::{Generator, Op};

use super::outcome::{Answer, Completion};
use super::pacer::Pacer;
use super::recorder::RecorderHandle;
use crate::system::System;

/// What every client of a run shares.
pub struct ClientShared {
    /// How operations reach the nodes.
    pub system: Arc<dyn System>,
    /// The nodes, in id order.
    pub nodes: Vec<NodeId>,
    pub recorder: RecorderHandle,
    pub generator: Mutex<Generator>,
    pub pacer: Pacer,
    /// The next unused process id (ids below it are taken or retired).
    pub next_process: AtomicU64,
    pub op_timeout: Duration,
}

impl ClientShared {
    /// An HTTP client for loopback nodes: no proxy from the environment, bounded pools.
    pub fn http_client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
        use anyhow::Context;
        reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(concurrency.max(1))
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_millis(500))
            .build()
            .context("building the HTTP client")
    }

    /// A fresh process id.
    pub fn new_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }

    /// Invoke `op` as `process` on `node`: record the invocation, call, record the
    /// completion. Returns the completion for the caller's bookkeeping.
    pub async fn perform(&self, process: u64, node: NodeId, op: &Op) -> anyhow::Result<Completion> {
        let mut invoke =
            self.recorder.client_event(process, EventType::Invoke, op.f(), op.key(), op.invoke_value());
        invoke.node = Some(node.to_string());
        self.recorder.record(invoke).await?;
        let completion = self.system.invoke(node, op, self.op_timeout).await;
        let mut event =
            self.recorder.client_event(process, completion.kind, op.f(), op.key(), completion.value.clone());
        event.error = completion.error.clone();
        event.node = Some(node.to_string());
        self.recorder.record(event).await?;
        Ok(completion)
    }
}

/// One client worker, until `stop` turns true. Its first process id is `worker`.
pub async fn run_client(
    shared: Arc<ClientShared>,
    worker: usize,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let ids = shared.nodes.clone();
    assert!(!ids.is_empty(), "a client needs a node");
    let home = ids[worker % ids.len()];
    let mut node = home;
    let mut process = worker as u64;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        tokio::select! {
            _ = shared.pacer.wait() => {}
            _ = stop.changed() => return Ok(()),
        }
        if *stop.borrow() {
            return Ok(());
        }
        let op = shared.generator.lock().unwrap_or_else(|p| p.into_inner()).next_op();
        let completion = shared.perform(process, node, &op).await?;
        if completion.kind == EventType::Info {
            process = shared.new_process();
            node = home;
        } else if let Some(leader) = completion.leader_hint.filter(|l| shared.nodes.contains(l)) {
            node = leader;
        } else if completion.kind == EventType::Fail
            && completion.error.as_deref().is_some_and(|e| e.starts_with("not sent"))
        {
            node = home;
        }
    }
}

/// Send one request to a node's client API and read the answer, within `timeout`.
pub async fn send(http: &reqwest::Client, addr: SocketAddr, request: &Request, timeout: Duration) -> Answer {
    let builder = match request {
        Request::Get { key } => http.get(format!("http://{addr}/kv/{key}")),
        Request::Put { key, value } => {
            http.put(format!("http://{addr}/kv/{key}")).json(&body::Put { value: *value })
        }
        Request::Cas { key, from, to } => {
            http.post(format!("http://{addr}/kv/{key}/cas")).json(&body::Cas { from: *from, to: *to })
        }
        Request::SetAdd { key, element } => {
            http.post(format!("http://{addr}/set/{key}/add")).json(&body::SetAdd { element: *element })
        }
        Request::SetRead { key } => http.get(format!("http://{addr}/set/{key}")),
        Request::Txn { ops } => http.post(format!("http://{addr}/txn")).json(&body::Txn { ops: ops.clone() }),
    };
    let exchange = async {
        let response = builder.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, bytes.to_vec()))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Answer::TimedOut,
        Ok(Ok((status, body))) if status.is_success() => Answer::Success(body),
        Ok(Ok((status, body))) => Answer::Error { status: status.as_u16(), body },
        Ok(Err(e)) if e.is_timeout() => Answer::TimedOut,
        Ok(Err(e)) if e.is_connect() => Answer::NotSent(error_chain(&e)),
        Ok(Err(e)) => Answer::Lost(error_chain(&e)),
    }
}

/// An error and its causes on one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-connection server on loopback that reads the request and then does `reply`.
    async fn server(reply: Option<&'static str>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = socket.read(&mut buf).await;
            match reply {
                Some(text) => socket.write_all(text.as_bytes()).await.unwrap(),
                // Hold the connection open without answering until the client gives up.
                None => {
                    let _ = socket.read(&mut buf).await;
                }
            }
        });
        addr
    }

    fn get() -> Request {
        Request::Get { key: "r1".into() }
    }

    #[tokio::test]
    async fn an_answer_its_status_and_body_come_back() {
        let ok =
            "HTTP/1.1 200 OK\r\ncontent-length: 11\r\ncontent-type: application/json\r\n\r\n{\"value\":3}";
        let http = ClientShared::http_client(1).unwrap();
        let answer = send(&http, server(Some(ok)).await, &get(), Duration::from_secs(10)).await;
        assert_eq!(answer, Answer::Success(br#"{"value":3}"#.to_vec()));
        let err = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\n{}";
        let answer = send(&http, server(Some(err)).await, &get(), Duration::from_secs(10)).await;
        assert_eq!(answer, Answer::Error { status: 503, body: b"{}".to_vec() });
    }

    #[tokio::test]
    async fn silence_is_a_timeout_and_a_hang_up_is_a_lost_connection() {
        let http = ClientShared::http_client(1).unwrap();
        let answer = send(&http, server(None).await, &get(), Duration::from_millis(200)).await;
        assert_eq!(answer, Answer::TimedOut);
        let answer = send(&http, server(Some("")).await, &get(), Duration::from_secs(10)).await;
        assert!(matches!(answer, Answer::Lost(_)), "{answer:?}");
    }

    #[tokio::test]
    async fn a_refused_connection_was_never_sent() {
        // Bind then drop: the port is closed.
        let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let http = ClientShared::http_client(1).unwrap();
        let answer = send(&http, addr, &get(), Duration::from_secs(10)).await;
        assert!(matches!(answer, Answer::NotSent(_)), "{answer:?}");
    }
}
