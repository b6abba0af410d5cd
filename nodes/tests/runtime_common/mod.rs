//! A tiny protocol and node helpers for testing the runtime on its own.
//!
//! `Echo` applies every request to a [`Store`] at once, persists each write, forwards it to
//! every peer (which apply and persist it), and replies. Requests on keys starting with
//! `hold` are never answered, to exercise the runtime's request deadline. A `tick` timer
//! re-arms itself; `/status` reports the ticks as `term` and the writes applied as
//! `applied_index`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use nodes::api::{NodeId, Request, Role, Status};
use nodes::protocol::{Config, Context, Options, Outbox, Protocol, RequestId};
use nodes::runtime::{serve, Listeners, Settings};
use nodes::state_machine::Store;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const TICK_MS: u64 = 10;

pub struct Echo {
    config: Config,
    store: Store,
    applied: u64,
    ticks: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EchoTimer {
    Tick,
}

impl Echo {
    fn apply_write(&mut self, request: &Request, out: &mut Outbox<Self>) -> bool {
        let ok = self.store.apply(request).is_ok();
        if ok {
            self.applied += 1;
            out.persist(request.clone());
        }
        ok
    }
}

impl Protocol for Echo {
    type Message = Request;
    type Record = Request;
    type Timer = EchoTimer;

    const NAME: &'static str = "echo-test";

    fn recover(config: Config, records: Vec<Request>, _ctx: Context, out: &mut Outbox<Self>) -> Self {
        let mut store = Store::new();
        for record in &records {
            store.apply(record).expect("a persisted write applies again");
        }
        out.set_timer(EchoTimer::Tick, TICK_MS);
        Echo { config, store, applied: records.len() as u64, ticks: 0 }
    }

    fn on_message(&mut self, _ctx: Context, _from: NodeId, message: Request, out: &mut Outbox<Self>) {
        if !message.is_read_only() {
            self.apply_write(&message, out);
        }
    }

    fn on_request(&mut self, _ctx: Context, request: RequestId, body: Request, out: &mut Outbox<Self>) {
        let held = match &body {
            Request::Get { key } | Request::Put { key, .. } => key.starts_with("hold"),
            _ => false,
        };
        if held {
            return;
        }
        if body.is_read_only() {
            out.reply(request, self.store.read(&body));
            return;
        }
        let result = self.store.clone().apply(&body);
        if result.is_ok() {
            self.apply_write(&body, out);
            for peer in self.config.peers().collect::<Vec<_>>() {
                out.send(peer, body.clone());
            }
        }
        out.reply(request, result);
    }

    fn on_timer(&mut self, _ctx: Context, timer: EchoTimer, out: &mut Outbox<Self>) {
        match timer {
            EchoTimer::Tick => {
                self.ticks += 1;
                out.set_timer(EchoTimer::Tick, TICK_MS);
            }
        }
    }

    fn status(&self) -> Status {
        Status {
            id: self.config.id,
            protocol: Self::NAME.to_string(),
            role: Role::Leader,
            term: self.ticks,
            leader: Some(self.config.id),
            commit_index: self.applied,
            applied_index: self.applied,
        }
    }
}

/// Listeners bound on port 0, before the node starts, so peers can be told the addresses.
pub async fn bind() -> Listeners {
    Listeners {
        peer: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        client: TcpListener::bind("127.0.0.1:0").await.unwrap(),
    }
}

pub fn settings(id: NodeId, peers: BTreeMap<NodeId, String>, data_dir: &Path) -> Settings {
    Settings {
        id,
        peers,
        data_dir: data_dir.to_path_buf(),
        options: Options::default(),
        request_timeout_ms: 300,
        max_frame_bytes: 64 * 1024,
        max_body_bytes: 1024 * 1024,
    }
}

/// An Echo node running in this process.
pub struct TestNode {
    pub base: String,
    pub peer_addr: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestNode {
    pub async fn start(settings: Settings, listeners: Listeners) -> TestNode {
        let base = format!("http://{}", listeners.client.local_addr().unwrap());
        let peer_addr = listeners.peer.local_addr().unwrap().to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve::<Echo>(settings, listeners, async move {
            let _ = stopped.await;
        }));
        TestNode { base, peer_addr, stop: Some(stop), task: Some(task) }
    }

    /// Stop the node and return what `serve` returned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

/// Poll `check` until it returns Some, or panic after `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn json(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let body = response.json().await.expect("a JSON body");
    (status, body)
}
