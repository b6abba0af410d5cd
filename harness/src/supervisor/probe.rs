//! [`HttpProbe`]: health and role of faultline's own nodes, from their client API
//! (`GET /health`, `GET /status`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use nodes::api::{NodeId, Status};

use crate::host::{BoxFuture, Probe};

/// Asks built-in nodes over HTTP.
pub struct HttpProbe {
    http: reqwest::Client,
    clients: BTreeMap<NodeId, SocketAddr>,
}

impl HttpProbe {
    /// A probe for nodes whose client API listens at `clients`.
    pub fn new(clients: BTreeMap<NodeId, SocketAddr>) -> HttpProbe {
        // No proxy: a node's client address is local and must be reached directly.
        let http = reqwest::Client::builder().no_proxy().build().unwrap_or_default();
        HttpProbe { http, clients }
    }

    fn url(&self, id: NodeId, path: &str) -> anyhow::Result<String> {
        let addr = self.clients.get(&id).ok_or_else(|| anyhow!("node {id} is not part of this cluster"))?;
        Ok(format!("http://{addr}{path}"))
    }
}

impl Probe for HttpProbe {
    fn health(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let url = self.url(id, "/health")?;
            let answer = self.http.get(&url).timeout(timeout).send().await?;
            if !answer.status().is_success() {
                bail!("last answer {}", answer.status());
            }
            Ok(())
        })
    }

    fn status(&self, id: NodeId, timeout: Duration) -> BoxFuture<'_, anyhow::Result<Status>> {
        Box::pin(async move {
            let url = self.url(id, "/status")?;
            let answer =
                self.http.get(&url).timeout(timeout).send().await.with_context(|| format!("GET {url}"))?;
            if !answer.status().is_success() {
                bail!("GET {url}: {}", answer.status());
            }
            answer.json::<Status>().await.with_context(|| format!("GET {url}: undecodable status"))
        })
    }
}
