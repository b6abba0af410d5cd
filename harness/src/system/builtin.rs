//! The built-in protocols as a [`System`]: faultline's own nodes, reached over their HTTP
//! client API (`/kv`, `/set`, `/txn`, `/health`, `/status`), peers through the fault proxy.
//!
//! Their node specs are made by the run's cluster (they depend on the proxy's addresses),
//! so this adapter is handed them rather than making them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use nodes::api::{NodeId, Status};
use nodes::protocols::ProtocolName;
use workloads::{Op, WorkloadName};

use super::{BoxFuture, System};
use crate::host::{NodeSpec, Operator, Probe};
use crate::run::client::send;
use crate::run::outcome::{classify, Answer, Completion};
use crate::supervisor::HttpProbe;

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

impl System for Builtin {
    fn name(&self) -> &'static str {
        "faultline"
    }

    fn version(&self) -> String {
        format!("faultline {} ({})", env!("CARGO_PKG_VERSION"), self.protocol)
    }

    fn workloads(&self) -> &'static [WorkloadName] {
        &[WorkloadName::Register, WorkloadName::Set, WorkloadName::Bank]
    }

    fn node_spec(&self, id: NodeId, _run_dir: &Path) -> NodeSpec {
        self.specs.get(&id).cloned().unwrap_or_else(|| panic!("node {id} is not part of this cluster"))
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
