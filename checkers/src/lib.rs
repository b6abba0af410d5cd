//! faultline-checkers: judges recorded histories.
//!
//! Pure library: no async, no sockets, no processes, no clock except the search budget.
//! It depends on no other crate of the workspace, so other projects can record their own
//! histories and call it, as Porcupine is used inside other test suites.
//!
//! ```
//! use checkers::{check, CheckOptions, Event, History, ModelKind, Verdict};
//!
//! // Process 1 writes 1; afterwards process 2 reads nil: a stale read.
//! let lines = r#"
//! {"index":0,"process":1,"type":"invoke","f":"write","value":1}
//! {"index":1,"process":1,"type":"ok","f":"write","value":1}
//! {"index":2,"process":2,"type":"invoke","f":"read","value":null}
//! {"index":3,"process":2,"type":"ok","f":"read","value":null}
//! "#;
//! let events: Vec<Event> =
//!     lines.trim().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
//! let history = History::from_events(events).unwrap();
//!
//! let report = check(&history, &CheckOptions::new(ModelKind::Register)).unwrap();
//! assert_eq!(report.verdict, Verdict::Invalid);
//! let counterexample = report.counterexample.as_ref().unwrap();
//! assert_eq!(counterexample.failing_op.f, "read");
//! println!("{}", report.render_text());
//! ```
//!
//! # Layout
//!
//! - [`history`]: events and operations, the edge representation every recorder shares.
//! - [`check`] with [`CheckOptions`]: the one entry point; it returns a [`CheckReport`]
//!   with a three-valued [`Verdict`], a [`Counterexample`] and, for sets, [`LostWrites`].
//!   [`check_table`] checks the same ops held as an [`OpTable`], the compact form
//!   [`format::load_path_table`] reads JSON Lines into (what `faultline check` uses).
//! - `model/`: the sequential specifications (register, cas-register, kv, set, mutex,
//!   counter), each a pure step function over interned states; `model/strings` keeps kv strings as
//!   hashed append chains so that an append never copies the string.
//! - `search`, `memo`, `budget`: Wing & Gong / Lowe linearizability search (resumable, so
//!   the searches of many keys take turns on the worker threads), its memo of explored
//!   configurations, and the time, memory and cancellation limits; `id_table` is the
//!   hash index the memo and the string store share; `op_ref` reads operations borrowed
//!   from the history.
//! - [`CheckName`] and [`CheckDetails`]: the checks of a run by name, and what each
//!   found, as `results.json` keeps them.
//! - [`txn`]: transactional isolation (Elle-style): list-append and rw-register
//!   histories, dependency graphs, G0 to G2-item cycles, [`check_txn`].
//! - [`independent`]: Jepsen's `[key value]` tuples split into keys, so that a history
//!   `jepsen.independent` wrote is checked per key.
//! - [`queue`]: queues, Jepsen's `total-queue` analysis: what came out against what went
//!   in, with crashed dequeues allowed for ([`queue::check_queue`]).
//! - [`gen`]: histories that are linearizable by construction, or hold one known
//!   violation, for tests and benchmarks.
//!
//! The key design decision: values are parsed into typed ops once, and the search sees
//! only `u32` state ids, so a configuration hashes as a few integers however large the
//! object's value grows.

pub mod bank;
pub mod deposed_leader;
pub mod format;
pub mod gen;
pub mod history;
pub mod independent;
pub mod log_agreement;
pub mod queue;
pub mod split_brain;
pub mod stats;
pub mod txn;
pub mod verdict;

mod abbreviate;
mod budget;
mod check;
mod check_name;
mod counterexample;
mod details;
mod hash;
mod id_table;
mod lost_writes;
mod memo;
mod model;
mod op_ref;
mod op_table;
mod options;
mod report;
mod search;
mod threads;

pub use check::{check, check_table};
pub use check_name::CheckName;
pub use counterexample::{Counterexample, OpSummary, PrefixStep};
pub use details::CheckDetails;
pub use gen::{generate, GenOptions};
pub use history::{Event, EventType, History, HistoryError, Operation, Outcome, Process};
pub use lost_writes::{ElementCount, LostWrites};
pub use op_table::OpTable;
pub use options::{CheckOptions, ModelKind};
pub use report::{CheckError, CheckReport, CheckStats};
pub use txn::{
    check_txn, Anomaly, AnomalyKind, Consistency, CycleEdge, EdgeKind, TxnModel, TxnOptions, TxnReport,
    TxnSummary,
};
pub use verdict::Verdict;
