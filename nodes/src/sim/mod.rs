//! The deterministic simulator: any [`Protocol`](crate::protocol::Protocol), unchanged, in a
//! seeded in-process network with virtual time.
//!
//! # Model
//!
//! - **Time** is virtual milliseconds. One queue holds every future event (a message
//!   arriving, a timer firing, a client request arriving, a client giving up), ordered by
//!   `(time, sequence number)`, so equal times resolve in the order things were scheduled.
//!   Nothing runs unless the test advances time ([`Sim::run_for`], [`Sim::run_until`],
//!   [`Sim::step`]); a run never waits on a real clock.
//! - **One random source**, a ChaCha8 generator seeded from the run's seed, draws every
//!   delay, loss, duplicate, each node's clock offset and every step's [`Context::random`].
//!   Test drivers draw from it too ([`Sim::random`]). The same seed and the same calls give
//!   the same run, event for event.
//! - **The network** ([`NetConfig`], [`Grudges`]): each message gets a delay from a range
//!   (reordering follows from unequal delays), may be lost, may be delivered twice. A
//!   partition is a set of grudges, one-way allowed; a cut message is dropped when sent and
//!   again when it would arrive, so a partition also stops what was in flight.
//!   [`StaleMessages`] holds a fraction of messages for several election timeouts, so that
//!   answers from before an election arrive after it.
//! - **Durability**, as [`crate::protocol`] specifies: the records a step persists are
//!   durable as soon as the step ends, and its messages and replies leave after them. A
//!   crash happens between steps, so it never loses a persisted record and never lets out a
//!   message whose records were not persisted. Every message and record passes through JSON
//!   (as on the real wire and log) unless [`SimConfig::json_round_trip`] is off.
//! - **Crash and restart**: [`Sim::crash`] drops the node's state, its pending timers and
//!   the client requests it holds (those become `info`: the client cannot know). Messages
//!   to a down node are lost. [`Sim::restart`] runs [`Protocol::recover`] with the persisted
//!   records (a `Rewrite` having replaced earlier ones) and a fresh clock offset.
//! - **Clocks**: each node reads virtual time plus its own offset; [`Sim::skew_clock`]
//!   makes one run fast or slow, or jumps it (never backwards: a backward jump holds it
//!   still), and its timers follow, as `POST /admin/clock` does on a real node.
//! - **Pause and resume** ([`Sim::pause`], [`Sim::resume`]), as SIGSTOP and SIGCONT: the
//!   node keeps its state but runs no step; what arrives for it waits and is delivered on
//!   resume, its timers fire late, its clock has jumped.
//! - **Clients**: [`Sim::submit`] sends a request to a node and records an `invoke`; the
//!   answer records `ok`, `fail` (definite error) or `info` (indefinite error, a crash, or no
//!   answer within [`SimConfig::client_timeout_ms`]). Each operation is its own client
//!   process, so `info` never blocks later operations. A down node refuses the request
//!   with a definite `unavailable`. [`recording`] fixes how requests map onto
//!   [`checkers::Event`]s; [`Sim::history`] hands the checkers a validated history.
//! - **Observation**: [`Sim::node`] exposes each live node's protocol state for invariant
//!   checks, [`Sim::status`] what `/status` would say, [`Sim::status_log`] every status each
//!   node ever reported, [`Sim::leaders_by_term`] who claimed to lead in which term,
//!   [`Sim::persisted`] the durable records, [`Sim::messages_sent`] traffic per link.
//!
//! # Random schedules
//!
//! [`Sim::random_fault`] draws one fault of a [`FaultMix`] (isolate a node, split in two,
//! cut one direction, crash, restart, a lossy network, heal) and [`Sim::heal_all`] undoes
//! them all. [`Clients`] keeps concurrent clients busy with register reads, writes of unique
//! values, cas and set adds, following `not_leader` hints. [`run_chaos`] runs both for a
//! while, heals, and lets the cluster settle, ready for the final checks.
//!
//! # Testing over many seeds
//!
//! [`check_seeds`] runs a test for a range of seeds and turns a panic into one that starts
//! `seed N:`; `FAULTLINE_SEED=N cargo test NAME` reruns that seed alone.
//!
//! ```
//! use nodes::api::{Request, Response};
//! use nodes::protocols::twopc::TwoPc;
//! use nodes::sim::{check_seeds, OpState, Sim, SimConfig};
//!
//! check_seeds(0..3, |seed| {
//!     let mut sim = Sim::<TwoPc>::new(seed, SimConfig::new(3));
//!     sim.run_for(200); // first heartbeats: the coordinator hears every participant
//!     assert!(sim.call(1, Request::Put { key: "k".into(), value: 1 }).is_ok());
//!     sim.crash_restart(2);
//!     let read = sim.call(1, Request::Get { key: "k".into() });
//!     assert_eq!(read, OpState::Ok(Response::Value { value: Some(1) }));
//! });
//! ```
//!
//! `nodes/tests/sim_model.rs` tests the simulator itself against a small protocol defined
//! there.
//!
//! [`Protocol`]: crate::protocol::Protocol
//! [`Protocol::recover`]: crate::protocol::Protocol::recover
//! [`Context::random`]: crate::protocol::Context::random

mod chaos;
mod clock;
mod faults;
mod network;
pub mod recording;
mod seeds;
mod simulator;

pub use chaos::{
    describe_faults, final_reads, run_chaos, set_adds_by_outcome, ChaosPlan, Clients, Fault, FaultMix,
    WorkloadMix, SET_KEY,
};
pub use network::{Grudges, NetConfig, StaleMessages};
pub use seeds::{check_seeds, SEED_ENV};
pub use simulator::{ClientOp, OpId, OpState, Sim, SimConfig, StatusChange, MAX_HELD_EVENTS};
