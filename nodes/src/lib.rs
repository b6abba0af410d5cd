//! faultline-nodes: the systems under test.
//!
//! Tour of the crate:
//! - [`api`]: the client API's wire types (HTTP/JSON), shared with the harness.
//! - [`protocol`]: the `Protocol` trait: inputs in, effects out, no I/O.
//! - [`committed_log`]: the committed prefix as running hashes (`GET /admin/log`).
//! - [`flags`]: the protocol options as command-line flags, shared with the harness.
//! - [`state_machine`]: the one replicated key-value/set store every protocol applies.
//! - [`protocols`]: pb-async, pb-sync, 2pc, paxos, raft.
//! - [`runtime`]: executes effects for real: peer transport, write-ahead log, timers, HTTP.
//! - [`sim`]: executes effects in a seeded in-process network for deterministic tests.
//!
//! The binary `faultline-node` (src/main.rs) runs one node of one protocol.

pub mod api;
pub mod committed_log;
pub mod flags;
pub mod protocol;
pub mod protocols;
pub mod runtime;
pub mod sim;
pub mod state_machine;
