//! faultline-workloads: what the clients do to a cluster.
//!
//! A workload is three things (Jepsen's client + generator + checker, in one place):
//! - a seeded generator of typed operations ([`Generator`], one `ChaCha8` stream per run);
//! - how each operation maps to a client call ([`Op::request`]) and how an answer becomes
//!   the value recorded in the history ([`Op::completion_value`]);
//! - which checkers judge the history ([`Workload::checkers`], [`Workload::model`]).
//!
//! Tour: [`op`] the operations, [`register`], [`set`], [`bank`], [`list_append`], [`counter`],
//! [`queue`] the generators, [`workload`] the choice among them and their parameters.
//!
//! Nothing here does I/O: the harness sends the requests and records the answers.

pub mod bank;
pub mod counter;
mod keys;
pub mod list_append;
pub mod op;
pub mod queue;
pub mod register;
pub mod set;
pub mod workload;

pub use checkers::CheckName;
pub use op::Op;
pub use workload::{Generator, Workload, WorkloadName};
