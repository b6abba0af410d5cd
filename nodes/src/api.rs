//! The client API's wire types, shared by every node and by the harness's clients.
//!
//! HTTP/JSON on each node's client address:
//!
//! | route                    | body                         | answer                         |
//! |--------------------------|------------------------------|--------------------------------|
//! | `GET /kv/{key}`          |                              | `{"value": 5}` or `{"value": null}` |
//! | `PUT /kv/{key}`          | `{"value": 5}`               | `{}`                           |
//! | `POST /kv/{key}/cas`     | `{"from": 5, "to": 6}`       | `{}`, or error `precondition_failed` |
//! | `POST /set/{key}/add`    | `{"element": 7}`             | `{}`                           |
//! | `GET /set/{key}`         |                              | `{"elements": [1, 7]}`         |
//! | `POST /txn`              | `{"ops": [TxnOp, ...]}`      | `{"results": [5, null, [1, 2], ...]}` ([`TxnResult`]) |
//! | `GET /status`            |                              | [`Status`]                     |
//! | `GET /health`            |                              | `{"ok": true}`                 |
//! | `GET /admin/log?from=K&limit=N` |                       | [`crate::committed_log::LogPage`] |
//! | `POST /admin/clock`      | `{"jump_ms": N}`, `{"rate": R}` or `{"reset": true}` | [`crate::runtime::clock::ClockReading`] |
//!
//! Every error is `{"error": {"code", "message", "definite", "leader"}}` ([`ApiError`]).
//! `definite: true` means the operation did not take effect (the history records `fail`);
//! `false` means it may have (`info`).

use serde::{Deserialize, Serialize};

/// A node's identity within its cluster: small integers, 1-based by convention.
pub type NodeId = u32;

/// One client operation, as the HTTP layer decodes it and protocols replicate it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Get { key: String },
    Put { key: String, value: i64 },
    Cas { key: String, from: i64, to: i64 },
    SetAdd { key: String, element: i64 },
    SetRead { key: String },
    Txn { ops: Vec<TxnOp> },
}

impl Request {
    /// Whether the request only observes state. Read-only requests may take a cheaper
    /// path in some protocols (ReadIndex, lease, local read), but never change state.
    pub fn is_read_only(&self) -> bool {
        match self {
            Request::Get { .. } | Request::SetRead { .. } => true,
            Request::Txn { ops } => ops.iter().all(TxnOp::is_read_only),
            _ => false,
        }
    }
}

/// One step of a transaction. A transaction applies all of its steps atomically, or none.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TxnOp {
    /// Read a register; the result is its value (null if absent).
    Read { key: String },
    /// Write a register; the result is null.
    Write { key: String, value: i64 },
    /// Add `delta` to a register (absent counts as 0); the result is the new value.
    Add { key: String, delta: i64 },
    /// Abort the whole transaction with `precondition_failed` unless the register's value
    /// (absent counts as 0) is at least `at_least`; the result is the value seen.
    Check { key: String, at_least: i64 },
    /// Append `value` to the end of a list (absent counts as empty); the result is null.
    Append { key: String, value: i64 },
    /// Read a whole list; the result is the list, oldest first (`[]` if absent).
    ReadList { key: String },
    /// Remove a list's first element; the result is that element (null if the list is
    /// empty or absent). Appends and pops make a list a FIFO queue.
    Pop { key: String },
}

impl TxnOp {
    /// The key this step touches.
    pub fn key(&self) -> &str {
        match self {
            TxnOp::Read { key }
            | TxnOp::Write { key, .. }
            | TxnOp::Add { key, .. }
            | TxnOp::Check { key, .. }
            | TxnOp::Append { key, .. }
            | TxnOp::ReadList { key }
            | TxnOp::Pop { key } => key,
        }
    }

    /// Whether this step only observes state.
    pub fn is_read_only(&self) -> bool {
        match self {
            TxnOp::Read { .. } | TxnOp::Check { .. } | TxnOp::ReadList { .. } => true,
            TxnOp::Write { .. } | TxnOp::Add { .. } | TxnOp::Append { .. } | TxnOp::Pop { .. } => false,
        }
    }
}

/// The result of one step of a transaction. On the wire a register's value is a number or
/// null and a list is an array, so the bank's `[5, null]` answers read as they always did.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TxnResult {
    /// A register step's value (`Read`, `Add`, `Check`), or null for a step that reports
    /// nothing (`Write`, `Append`).
    Value(Option<i64>),
    /// A `ReadList`'s whole list.
    List(Vec<i64>),
}

impl From<Option<i64>> for TxnResult {
    fn from(value: Option<i64>) -> Self {
        TxnResult::Value(value)
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Response {
    /// `GET /kv/{key}`.
    Value { value: Option<i64> },
    /// `GET /set/{key}`.
    Elements { elements: Vec<i64> },
    /// `POST /txn`: one entry per op, in order.
    Results { results: Vec<TxnResult> },
    /// Writes: an empty object.
    Done {},
}

/// Every error a node returns. The code is the contract; the message is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// This node cannot order operations now; try `leader`. Definite.
    NotLeader,
    /// The cluster cannot serve this now (no quorum, a participant unreachable). Definite.
    Unavailable,
    /// A cas or txn check did not hold; nothing was changed. Definite.
    PreconditionFailed,
    /// The server-side deadline passed; the operation may still take effect. Indefinite.
    Timeout,
    /// The node lost track of the outcome (e.g. leadership changed after proposing). Indefinite.
    Indeterminate,
    /// Malformed request. Definite.
    BadRequest,
    /// Unknown route. Definite.
    NotFound,
    /// Body over the size limit. Definite.
    PayloadTooLarge,
    /// A fault of the node itself (e.g. the write-ahead log failed). Indefinite.
    Internal,
}

impl ErrorCode {
    /// Whether an error with this code guarantees the operation did not take effect.
    pub fn is_definite(self) -> bool {
        !matches!(self, ErrorCode::Timeout | ErrorCode::Indeterminate | ErrorCode::Internal)
    }

    /// The HTTP status the node answers with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::NotLeader => 421,
            ErrorCode::Unavailable => 503,
            ErrorCode::PreconditionFailed => 409,
            ErrorCode::Timeout => 504,
            ErrorCode::Indeterminate => 500,
            ErrorCode::BadRequest => 400,
            ErrorCode::NotFound => 404,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::Internal => 500,
        }
    }
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// True: the operation did not take effect. False: it may have.
    pub definite: bool,
    /// The node believed to lead, where this node knows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<NodeId>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), definite: code.is_definite(), leader: None }
    }

    pub fn not_leader(leader: Option<NodeId>) -> Self {
        ApiError { leader, ..ApiError::new(ErrorCode::NotLeader, "this node does not lead") }
    }

    pub fn with_leader(mut self, leader: Option<NodeId>) -> Self {
        self.leader = leader;
        self
    }
}

/// The JSON envelope of an error answer: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ApiError,
}

/// What a node is doing, as `GET /status` reports it. The harness polls it to find the
/// leader and to detect split brain (two nodes leading in the same term at once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub id: NodeId,
    pub protocol: String,
    pub role: Role,
    /// Raft term, Paxos ballot round, primary/backup epoch, 2pc: 0.
    pub term: u64,
    pub leader: Option<NodeId>,
    pub commit_index: u64,
    pub applied_index: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Leader,
    Follower,
    Candidate,
    Primary,
    Backup,
    Coordinator,
    Participant,
}

impl Role {
    /// Whether this role orders writes for the cluster (what split brain counts).
    pub fn is_leading(self) -> bool {
        matches!(self, Role::Leader | Role::Primary | Role::Coordinator)
    }
}

/// The request bodies of the routes that take one.
pub mod body {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Put {
        pub value: i64,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Cas {
        pub from: i64,
        pub to: i64,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct SetAdd {
        pub element: i64,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Txn {
        pub ops: Vec<super::TxnOp>,
    }
}
