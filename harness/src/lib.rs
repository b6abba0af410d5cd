//! faultline, the controller: everything `faultline` does, as a library, so the binary
//! is a thin parser over it and the integration tests and benches call the same code.
//!
//! A tour, bottom up:
//! - `host`: the `Host` trait (start, kill, pause, wipe nodes), `Probe` and `Operator`;
//!   `supervisor/` is its local-process implementation.
//! - `net`: the `Network` seam (grudges, link faults, counters); `proxy/` (the fault proxy
//!   on every directed link) and `netns/` (one network namespace per node, nftables cuts)
//!   implement it.
//! - `system/`: the `System` trait, one adapter per kind of cluster (the built-in
//!   protocols, etcd, Redis, ZooKeeper), and the rule that classifies each operation's outcome.
//! - `nemesis/`: fault kinds, seeded schedules and their execution.
//! - `run/`: one `faultline test` run, from spec to results.
//! - `commands/`: one file per subcommand, each an `Args` and a `run` returning the exit
//!   code.

pub mod commands;
pub mod host;
pub mod lab;
pub mod nemesis;
pub mod net;
pub mod netns;
pub mod out;
pub mod proxy;
pub mod run;
pub mod ssh;
pub mod supervisor;
pub mod system;

/// Exit code for bad arguments or unreadable input.
pub const EXIT_BAD_INPUT: u8 = 254;
/// Exit code for a failure of faultline itself.
pub const EXIT_INTERNAL: u8 = 255;
