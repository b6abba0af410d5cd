//! The built-in protocols as a [`System`]: faultline's own nodes, reached over their HTTP
//! client API (`/kv`, `/set`, `/txn`, `/health`, `/status`), peers through the fault proxy.
//!
//! Their node specs are made by the run's cluster (they depend on the proxy's addresses),
//! so this adapter is handed them rather than making them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use nodes::api::{body, NodeId, Request, Status};
use nodes::protocols::ProtocolName;
use workloads::{Op, WorkloadName};

use super::{BoxFuture, System};
use crate::host::{ClockChange, Clocks, NodeSpec, Operator, Probe};
use crate::supervisor::HttpProbe;
use crate::system::outcome::{classify, Answer, Completion};

/// faultline's own nodes running one protocol.
pub struct Builtin {
    protocol: ProtocolName,
    specs: BTreeMap<NodeId, NodeSpec>,
    http: reqwest::Client,
    probe: HttpProbe,
}

impl Builtin {
    /// An adapter for nodes started from `specs`, with a client pool for `concurrency`.
    pub fn new(protocol: ProtocolName, specs: Vec<NodeSpec>, http: reqwest::Client) -> Builtin {
        let clients = specs.iter().map(|s| (s.id, s.addrs.client)).collect();
        let specs = specs.into_iter().map(|s| (s.id, s)).collect();
        Builtin { protocol, specs, http, probe: HttpProbe::new(clients) }
    }

    /// Each node's client API address.
    pub fn clients(&self) -> BTreeMap<NodeId, SocketAddr> {
        self.specs.iter().map(|(&id, s)| (id, s.addrs.client)).collect()
    }
}

impl Probe for Builtin {
    fn health(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<()>> {
        self.probe.health(id, timeout)
    }

    fn status(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<Status>> {
        self.probe.status(id, timeout)
    }
}

impl Operator for Builtin {
    fn system_name(&self) -> &'static str {
        self.protocol.as_str()
    }
}

impl Clocks for Builtin {
    /// `POST /admin/clock` with `{"jump_ms": N}`, `{"rate": R}` or `{"reset": true}`.
    fn skew_clock(
        &self,
        id: NodeId,
        change: ClockChange,
        timeout: Duration,
    ) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let spec = self
                .specs
                .get(&id)
                .ok_or_else(|| anyhow::anyhow!("node {id} is not part of this cluster"))?;
            let body = match change {
                ClockChange::Jump { ms } => serde_json::json!({ "jump_ms": ms }),
                ClockChange::Rate { rate } => serde_json::json!({ "rate": rate }),
                ClockChange::Reset => serde_json::json!({ "reset": true }),
            };
            let url = format!("http://{}/admin/clock", spec.addrs.client);
            let response = self
                .http
                .post(&url)
                .json(&body)
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("{url}: {}", error_chain(&e)))?;
            let status = response.status();
            if !status.is_success() {
                let text = response.text().await.unwrap_or_default();
                anyhow::bail!("{url} answered {status}: {}", text.trim());
            }
            Ok(())
        })
    }
}

impl System for Builtin {
    fn name(&self) -> &'static str {
        "faultline"
    }

    fn version(&self) -> String {
        format!("faultline {} ({})", env!("CARGO_PKG_VERSION"), self.protocol)
    }

    fn workloads(&self) -> &'static [WorkloadName] {
        &WorkloadName::ALL
    }

    fn node_spec(&self, id: NodeId, _run_dir: &Path) -> anyhow::Result<NodeSpec> {
        self.specs.get(&id).cloned().ok_or_else(|| anyhow::anyhow!("node {id} is not part of this cluster"))
    }

    fn invoke<'a>(&'a self, node: NodeId, op: &'a Op, timeout: Duration) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            let answer = match self.specs.get(&node) {
                Some(spec) => send(&self.http, spec.addrs.client, &op.request(), timeout).await,
                None => Answer::NotSent(format!("no node {node}")),
            };
            classify(op, &answer)
        })
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
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let answer = send(&http, server(Some(ok)).await, &get(), Duration::from_secs(10)).await;
        assert_eq!(answer, Answer::Success(br#"{"value":3}"#.to_vec()));
        let err = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\n{}";
        let answer = send(&http, server(Some(err)).await, &get(), Duration::from_secs(10)).await;
        assert_eq!(answer, Answer::Error { status: 503, body: b"{}".to_vec() });
    }

    #[tokio::test]
    async fn silence_is_a_timeout_and_a_hang_up_is_a_lost_connection() {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let answer = send(&http, server(None).await, &get(), Duration::from_millis(200)).await;
        assert_eq!(answer, Answer::TimedOut);
        let answer = send(&http, server(Some("")).await, &get(), Duration::from_secs(10)).await;
        assert!(matches!(answer, Answer::Lost(_)), "{answer:?}");
    }

    #[tokio::test]
    async fn a_refused_connection_was_never_sent() {
        // Bound but never listening: connections are refused, and the port stays ours, so
        // no other test can take it meanwhile.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let answer = send(&http, addr, &get(), Duration::from_secs(10)).await;
        assert!(matches!(answer, Answer::NotSent(_)), "{answer:?}");
    }
}
