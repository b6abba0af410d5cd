//! faultline-checkers: judges recorded histories.
//!
//! Pure library: no async, no sockets, no processes, no clock except the search budget.
//! It depends on no other crate of the workspace, so other projects can record their own
//! histories and call it, as Porcupine is used inside other test suites.

pub mod bank;
pub mod history;
pub mod split_brain;
pub mod stats;
pub mod verdict;

pub use history::{Event, EventType, History, HistoryError, Operation, Outcome, Process};
pub use verdict::Verdict;
