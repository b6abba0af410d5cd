//! [`NetnsHost`]: each node a local process inside its own network namespace.
//!
//! The node's argv is prefixed with `ip netns exec <namespace>`, and the result is started
//! by a [`LocalHost`]. `ip netns exec` enters the namespace (and gives the program a `/sys`
//! that shows the namespace's own interfaces and the namespace's `/etc/netns` files), then
//! execs the program in place: the pid the host records is the node's own, and everything
//! `LocalHost` guarantees holds unchanged: the node leads its own process group (one
//! `killpg` takes it and its forks; pause and resume stop the whole group), the
//! parent-death signal (which survives exec) kills it if the harness dies, and it is
//! reaped in one place. Calling `setns` between fork and exec would do the same with
//! unsafe code of our own and without the `/sys` view; the one extra exec is negligible
//! next to a node's start-up.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::bail;
use nodes::api::NodeId;

use crate::host::{Host, NodeAddrs, NodeSpec, NodeState};
use crate::supervisor::LocalHost;

/// Runs each node in its network namespace.
pub struct NetnsHost {
    local: LocalHost,
    namespaces: BTreeMap<NodeId, String>,
}

impl NetnsHost {
    /// A host that runs node `id` in `namespaces[id]` (which must exist when it starts).
    pub fn new(namespaces: BTreeMap<NodeId, String>) -> NetnsHost {
        NetnsHost { local: LocalHost::new(), namespaces }
    }
}

/// `argv` run inside `namespace`.
pub fn in_namespace(namespace: &str, argv: &[OsString]) -> Vec<OsString> {
    let mut wrapped: Vec<OsString> = ["ip", "netns", "exec", namespace].iter().map(OsString::from).collect();
    wrapped.extend(argv.iter().cloned());
    wrapped
}

impl Host for NetnsHost {
    fn start(&self, spec: &NodeSpec) -> anyhow::Result<()> {
        let Some(namespace) = self.namespaces.get(&spec.id) else {
            bail!("node {} has no network namespace in this run", spec.id);
        };
        if spec.argv.is_empty() {
            bail!("node {}: empty argv", spec.id);
        }
        let wrapped = NodeSpec { argv: in_namespace(namespace, &spec.argv), ..spec.clone() };
        self.local.start(&wrapped)
    }

    fn kill(&self, id: NodeId) -> anyhow::Result<bool> {
        self.local.kill(id)
    }

    fn pause(&self, id: NodeId) -> anyhow::Result<bool> {
        self.local.pause(id)
    }

    fn resume(&self, id: NodeId) -> anyhow::Result<bool> {
        self.local.resume(id)
    }

    fn wipe(&self, id: NodeId) -> anyhow::Result<()> {
        self.local.wipe(id)
    }

    fn state(&self, id: NodeId) -> NodeState {
        self.local.state(id)
    }

    fn log_path(&self, id: NodeId) -> Option<PathBuf> {
        self.local.log_path(id)
    }

    fn addresses(&self, id: NodeId) -> Option<NodeAddrs> {
        self.local.addresses(id)
    }

    fn kill_all(&self) {
        self.local.kill_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_is_prefixed_and_kept_whole() {
        let argv: Vec<OsString> = vec!["/bin/prog".into(), "--flag".into(), "a b".into()];
        let wrapped = in_namespace("faultline-ab-1", &argv);
        assert_eq!(wrapped, ["ip", "netns", "exec", "faultline-ab-1", "/bin/prog", "--flag", "a b"]);
    }
}
