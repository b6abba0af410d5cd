//! The part of the run module the namespace tests compile (`system` needs `Completion`).

#[path = "../../src/run/outcome.rs"]
#[allow(dead_code)]
pub mod outcome;
