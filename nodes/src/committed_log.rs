//! The white-box view of what a node committed: per committed index, the term (epoch,
//! ballot, transaction) it was written under and a running hash of the committed prefix.
//!
//! Clients see only answers; two replicas can disagree about the past without any client
//! ever reading the difference. Every built-in protocol therefore keeps a [`CommittedLog`]
//! next to its store and the runtime serves it as `GET /admin/log?from=K&limit=N`:
//!
//! ```json
//! {"node":1,"commit_index":C,"first_index":F,
//!  "entries":[{"index":i,"term":t,"hash":"<16 hex digits>"}, ...]}
//! ```
//!
//! `hash` at `i` is FNV-1a 64 over the hash at `i - 1` (8 bytes, little endian) followed by
//! the entry's content bytes, starting from the FNV offset basis at index 0. Content is
//! what was committed (the command's JSON), never a node-local id, so two nodes with the
//! same hash at `i` committed the same prefix `1..=i`. The term is for people reading it and
//! is not hashed: a Raft no-op is the same no-op under any term only if terms agree, which
//! log matching already guarantees.
//!
//! Compaction (a snapshot, or the bound [`MAX_RETAINED`]) keeps the hash at the compaction
//! point: `first_index` is that point + 1, and a page starting at or before it reports the
//! point itself as its first entry (term 0 where unknown), so the prefix stays comparable.
//!
//! Protocols whose "committed" prefix can shrink (primary/backup drops a deposed primary's
//! tail) call [`CommittedLog::truncate_after`]; that is exactly what the harness's
//! never-shrinks check looks for.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::api::NodeId;

/// Most per-index entries held; older ones fold into the compaction point (a limit on
/// memory for protocols that never compact: 24 bytes an entry, 24 MB at most).
pub const MAX_RETAINED: usize = 1_000_000;
/// Default `limit` of one page.
pub const DEFAULT_PAGE: u64 = 1_000;
/// Largest `limit` one page may ask for.
pub const MAX_PAGE: u64 = 10_000;

/// The FNV-1a 64 offset basis: the hash of the empty prefix.
pub const EMPTY_PREFIX_HASH: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The running hash after appending `content` to a prefix whose hash is `previous`.
pub fn chain(previous: u64, content: &[u8]) -> u64 {
    let mut hash = EMPTY_PREFIX_HASH;
    for byte in previous.to_le_bytes().iter().chain(content) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// The content bytes of a committed value: its JSON, as the wire and log encode it.
pub fn content_of<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own plain data types cannot fail; an empty content would still chain.
    serde_json::to_vec(value).unwrap_or_default()
}

/// One node's committed prefix, as hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedLog {
    /// The compaction point: every index up to it is folded into `base_hash`.
    base_index: u64,
    base_term: u64,
    base_hash: u64,
    /// `entries[k]` is index `base_index + 1 + k`: (term, prefix hash).
    entries: VecDeque<(u64, u64)>,
}

impl Default for CommittedLog {
    fn default() -> Self {
        CommittedLog { base_index: 0, base_term: 0, base_hash: EMPTY_PREFIX_HASH, entries: VecDeque::new() }
    }
}

impl CommittedLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// A log whose prefix up to `index` is known only by its hash (a snapshot was installed
    /// or recovered).
    pub fn starting_at(index: u64, term: u64, hash: u64) -> Self {
        CommittedLog { base_index: index, base_term: term, base_hash: hash, entries: VecDeque::new() }
    }

    /// The last committed index.
    pub fn last_index(&self) -> u64 {
        self.base_index + self.entries.len() as u64
    }

    /// The prefix hash at the last committed index.
    pub fn last_hash(&self) -> u64 {
        self.entries.back().map_or(self.base_hash, |&(_, hash)| hash)
    }

    /// The prefix hash at `index`, if it is the compaction point or after it.
    pub fn hash_at(&self, index: u64) -> Option<u64> {
        if index == self.base_index {
            return Some(self.base_hash);
        }
        let offset = index.checked_sub(self.base_index + 1)?;
        self.entries.get(usize::try_from(offset).ok()?).map(|&(_, hash)| hash)
    }

    /// Commit the next index with `content`; returns that index.
    pub fn append(&mut self, term: u64, content: &[u8]) -> u64 {
        let hash = chain(self.last_hash(), content);
        self.entries.push_back((term, hash));
        if self.entries.len() > MAX_RETAINED {
            let fold = MAX_RETAINED / 10;
            self.compact_to(self.base_index + fold as u64);
        }
        self.last_index()
    }

    /// [`CommittedLog::append`] of a value's JSON.
    pub fn append_value<T: Serialize>(&mut self, term: u64, value: &T) -> u64 {
        self.append(term, &content_of(value))
    }

    /// Fold every index up to `index` into the compaction point (no-op if already folded or
    /// not yet committed).
    pub fn compact_to(&mut self, index: u64) {
        if index <= self.base_index || index > self.last_index() {
            return;
        }
        let drop = (index - self.base_index) as usize;
        let (term, hash) = self.entries[drop - 1];
        self.entries.drain(..drop);
        self.base_index = index;
        self.base_term = term;
        self.base_hash = hash;
    }

    /// Forget every index after `index` (a protocol that undoes applied entries). Indices
    /// folded into the compaction point cannot be forgotten: the log then restarts empty at
    /// `index`, which only a caller that rebuilds it from scratch may ask for.
    pub fn truncate_after(&mut self, index: u64) {
        if index >= self.last_index() {
            return;
        }
        if index < self.base_index {
            *self = CommittedLog::new();
            return;
        }
        self.entries.truncate((index - self.base_index) as usize);
    }

    /// The page `from..` of at most `limit` entries, as `GET /admin/log` reports it.
    pub fn page(&self, node: NodeId, query: LogQuery) -> LogPage {
        let first_index = self.base_index + 1;
        let commit_index = self.last_index();
        let mut entries = Vec::new();
        if query.from <= self.base_index && self.base_index > 0 {
            entries.push(LogEntry {
                index: self.base_index,
                term: self.base_term,
                hash: hex(self.base_hash),
            });
        }
        let start = query.from.max(first_index);
        let end = commit_index.min(query.from.saturating_add(query.limit).saturating_sub(1));
        let mut index = start;
        while index <= end {
            let (term, hash) = self.entries[(index - first_index) as usize];
            entries.push(LogEntry { index, term, hash: hex(hash) });
            index += 1;
        }
        LogPage { node, commit_index, first_index, entries }
    }
}

/// `?from=K&limit=N`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogQuery {
    pub from: u64,
    pub limit: u64,
}

impl Default for LogQuery {
    fn default() -> Self {
        LogQuery { from: 1, limit: DEFAULT_PAGE }
    }
}

impl LogQuery {
    /// From the raw query parameters: defaults where absent, `limit` capped at [`MAX_PAGE`].
    /// A `limit` of 0 or a value that is not a number is refused with a reason.
    pub fn parse(from: Option<&str>, limit: Option<&str>) -> Result<LogQuery, String> {
        let number = |name: &str, raw: &str| {
            raw.parse::<u64>().map_err(|_| format!("{name}={raw:?} is not a non-negative integer"))
        };
        let from = from.map(|raw| number("from", raw)).transpose()?.unwrap_or(1);
        let limit = limit.map(|raw| number("limit", raw)).transpose()?.unwrap_or(DEFAULT_PAGE);
        if limit == 0 {
            return Err("limit must be at least 1".into());
        }
        Ok(LogQuery { from, limit: limit.min(MAX_PAGE) })
    }
}

/// The answer to `GET /admin/log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPage {
    pub node: NodeId,
    /// The last committed (applied) index.
    pub commit_index: u64,
    /// The first index held one by one; before it, only the compaction point's hash.
    pub first_index: u64,
    pub entries: Vec<LogEntry>,
}

/// One committed index of a [`LogPage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub index: u64,
    pub term: u64,
    /// The prefix hash, 16 lowercase hex digits.
    pub hash: String,
}

/// A hash as 16 lowercase hex digits.
pub fn hex(hash: u64) -> String {
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(from: u64, limit: u64) -> LogQuery {
        LogQuery { from, limit }
    }

    #[test]
    fn equal_content_gives_equal_hashes_and_any_difference_diverges() {
        let mut a = CommittedLog::new();
        let mut b = CommittedLog::new();
        for (term, content) in [(1, "x"), (1, "y"), (2, "z")] {
            a.append(term, content.as_bytes());
            b.append(term + 5, content.as_bytes());
        }
        assert_eq!(a.last_hash(), b.last_hash(), "terms are not hashed");
        b.truncate_after(2);
        b.append(3, b"other");
        assert_eq!(a.hash_at(2), b.hash_at(2));
        assert_ne!(a.hash_at(3), b.hash_at(3));
        assert_ne!(chain(EMPTY_PREFIX_HASH, b"ab"), chain(chain(EMPTY_PREFIX_HASH, b"a"), b"b"));
    }

    #[test]
    fn pages_cover_the_asked_range_within_the_committed_prefix() {
        let mut log = CommittedLog::new();
        for i in 0..10u64 {
            log.append(1, &i.to_le_bytes());
        }
        let page = log.page(7, query(4, 3));
        assert_eq!((page.node, page.commit_index, page.first_index), (7, 10, 1));
        assert_eq!(page.entries.iter().map(|e| e.index).collect::<Vec<_>>(), vec![4, 5, 6]);
        assert_eq!(page.entries[0].hash, hex(log.hash_at(4).unwrap()));
        assert_eq!(page.entries[0].hash.len(), 16);
        assert_eq!(log.page(7, query(9, 100)).entries.len(), 2);
        assert!(log.page(7, query(11, 5)).entries.is_empty());
        assert!(CommittedLog::new().page(1, LogQuery::default()).entries.is_empty());
    }

    #[test]
    fn compaction_keeps_the_prefix_hash_at_the_compaction_point() {
        let mut log = CommittedLog::new();
        for i in 0..10u64 {
            log.append(i / 3 + 1, &i.to_le_bytes());
        }
        let at_six = log.hash_at(6).unwrap();
        let at_ten = log.last_hash();
        log.compact_to(6);
        assert_eq!(log.hash_at(6), Some(at_six));
        assert_eq!(log.hash_at(5), None);
        assert_eq!(log.last_hash(), at_ten);
        let page = log.page(1, query(1, 3));
        assert_eq!(page.first_index, 7);
        assert_eq!(page.entries.iter().map(|e| e.index).collect::<Vec<_>>(), vec![6]);
        assert_eq!(page.entries[0].hash, hex(at_six));
        let resumed = CommittedLog::starting_at(6, 2, at_six);
        assert_eq!(resumed.page(1, query(6, 2)).entries.len(), 1);
    }

    #[test]
    fn queries_take_defaults_cap_the_limit_and_refuse_nonsense() {
        assert_eq!(LogQuery::parse(None, None), Ok(LogQuery { from: 1, limit: DEFAULT_PAGE }));
        assert_eq!(LogQuery::parse(Some("5"), Some("999999")), Ok(LogQuery { from: 5, limit: MAX_PAGE }));
        assert!(LogQuery::parse(Some("-1"), None).unwrap_err().contains("from"));
        assert!(LogQuery::parse(None, Some("x")).unwrap_err().contains("limit"));
        assert!(LogQuery::parse(None, Some("0")).is_err());
    }
}
