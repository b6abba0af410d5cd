//! The names of everything a run creates, all derived from its [`RunTag`].
//!
//! | object                         | name                   |
//! |--------------------------------|------------------------|
//! | network namespace of node `i`  | `faultline-<tag>-<i>`  |
//! | bridge (root namespace)        | `fl-<tag>`             |
//! | veth of node `i` (bridge side) | `fl-<tag>-<i>`         |
//! | veth of node `i` (inside)      | `eth0`                 |
//! | nft table in each namespace    | `inet faultline`       |
//! | nft guard table (root)         | `inet faultline_<tag>` |
//! | state file                     | `/run/faultline/<tag>.json` |
//!
//! A tag is 1 to 8 characters of `[a-z0-9]` and never contains `-`, so one tag's names can
//! never be read as another's (`fl-ab-1` is node 1 of `ab`, never the bridge of a tag
//! `ab-1`), and every interface name fits Linux's 15 characters with node ids up to 999.

use std::fmt;

use anyhow::bail;
use nodes::api::NodeId;

/// Prefix of every namespace a run creates.
pub const NAMESPACE_PREFIX: &str = "faultline-";
/// Prefix of every interface a run creates in the root namespace.
pub const LINK_PREFIX: &str = "fl-";
/// Prefix of the guard table in the root namespace.
pub const GUARD_TABLE_PREFIX: &str = "faultline_";
/// The nft table inside each node's namespace (family `inet`).
pub const NODE_TABLE: &str = "faultline";
/// The interface inside each node's namespace.
pub const NODE_IFACE: &str = "eth0";
/// Longest tag.
pub const MAX_TAG_LEN: usize = 8;
/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// The short name of one run's network objects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunTag(String);

impl RunTag {
    /// A tag as given (`--tag`): 1 to 8 characters of `[a-z0-9]`.
    pub fn new(tag: &str) -> anyhow::Result<RunTag> {
        if tag.is_empty() || tag.len() > MAX_TAG_LEN {
            bail!("run tag {tag:?} must be 1 to {MAX_TAG_LEN} characters long");
        }
        if !tag.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
            bail!("run tag {tag:?} may contain only a-z and 0-9");
        }
        Ok(RunTag(tag.to_string()))
    }

    /// A fresh tag for this process: `r` and seven base-36 digits of a hash of the pid, the
    /// time and a per-process counter. A tag is a resource name, not part of any result,
    /// so it need not come from the run's seed; creating a network whose tag is taken fails.
    pub fn unique() -> RunTag {
        use std::hash::{Hash, Hasher};
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::process::id().hash(&mut hasher);
        COUNTER.fetch_add(1, Ordering::Relaxed).hash(&mut hasher);
        std::time::SystemTime::now().hash(&mut hasher);
        let mut n = hasher.finish() % 36u64.pow(7);
        let mut digits = Vec::new();
        for _ in 0..7 {
            digits.push(char::from_digit((n % 36) as u32, 36).expect("a base-36 digit"));
            n /= 36;
        }
        RunTag(std::iter::once('r').chain(digits.into_iter().rev()).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The namespace of node `id`.
    pub fn namespace(&self, id: NodeId) -> String {
        format!("{NAMESPACE_PREFIX}{}-{id}", self.0)
    }

    /// The bridge in the root namespace.
    pub fn bridge(&self) -> String {
        format!("{LINK_PREFIX}{}", self.0)
    }

    /// The bridge-side veth of node `id`.
    pub fn veth(&self, id: NodeId) -> String {
        format!("{LINK_PREFIX}{}-{id}", self.0)
    }

    /// The guard table in the root namespace (family `inet`).
    pub fn guard_table(&self) -> String {
        format!("{GUARD_TABLE_PREFIX}{}", self.0)
    }

    /// Whether every interface name of node `id` fits.
    pub fn check_node_id(&self, id: NodeId) -> anyhow::Result<()> {
        let veth = self.veth(id);
        if veth.len() > MAX_IFNAME_LEN {
            bail!("node id {id} is too large for run tag {}: interface name {veth} exceeds {MAX_IFNAME_LEN} characters", self.0);
        }
        Ok(())
    }
}

impl fmt::Display for RunTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The tag and node of a namespace name made by [`RunTag::namespace`].
pub fn parse_namespace(name: &str) -> Option<(RunTag, NodeId)> {
    let rest = name.strip_prefix(NAMESPACE_PREFIX)?;
    let (tag, id) = rest.split_once('-')?;
    Some((RunTag::new(tag).ok()?, parse_id(id)?))
}

/// The tag, and the node for a veth, of an interface name made by [`RunTag::bridge`] or
/// [`RunTag::veth`].
pub fn parse_link(name: &str) -> Option<(RunTag, Option<NodeId>)> {
    let rest = name.strip_prefix(LINK_PREFIX)?;
    match rest.split_once('-') {
        None => Some((RunTag::new(rest).ok()?, None)),
        Some((tag, id)) => Some((RunTag::new(tag).ok()?, Some(parse_id(id)?))),
    }
}

/// The tag of a guard table name made by [`RunTag::guard_table`].
pub fn parse_guard_table(name: &str) -> Option<RunTag> {
    RunTag::new(name.strip_prefix(GUARD_TABLE_PREFIX)?).ok()
}

/// A node id exactly as `Display` writes it (no sign, no leading zeros).
fn parse_id(text: &str) -> Option<NodeId> {
    let id: NodeId = text.parse().ok()?;
    (id.to_string() == text).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked() {
        assert!(RunTag::new("ab12").is_ok());
        for bad in ["", "toolongtag", "a-b", "AB", "a b", "é"] {
            assert!(RunTag::new(bad).is_err(), "{bad:?}");
        }
        let tag = RunTag::unique();
        assert_eq!(tag.as_str().len(), 8);
        assert_eq!(RunTag::new(tag.as_str()).unwrap(), tag);
        assert_ne!(RunTag::unique(), RunTag::unique());
    }

    #[test]
    fn names_round_trip_and_fit() {
        let tag = RunTag::new("abcdefgh").unwrap();
        assert_eq!(tag.namespace(3), "faultline-abcdefgh-3");
        assert_eq!(tag.bridge(), "fl-abcdefgh");
        assert_eq!(tag.veth(999), "fl-abcdefgh-999");
        assert!(tag.check_node_id(999).is_ok());
        assert!(tag.check_node_id(1000).is_err());
        assert_eq!(parse_namespace("faultline-abcdefgh-3"), Some((tag.clone(), 3)));
        assert_eq!(parse_link("fl-abcdefgh"), Some((tag.clone(), None)));
        assert_eq!(parse_link("fl-abcdefgh-12"), Some((tag.clone(), Some(12))));
        assert_eq!(parse_guard_table("faultline_abcdefgh"), Some(tag));
        for bad in ["faultline-x", "faultline-x-01", "faultline-X-1", "faultline-a-b-1", "other-a-1"] {
            assert_eq!(parse_namespace(bad), None, "{bad}");
        }
        assert_eq!(parse_link("fl-a-b-1"), None);
        assert_eq!(parse_link("eth0"), None);
    }
}
