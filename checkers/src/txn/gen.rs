//! Synthetic transaction histories: strict-serializable by construction, or holding exactly
//! one planted anomaly of a named kind.
//!
//! The clean part simulates clients against one store that executes transactions serially.
//! Each transaction is invoked, later executes atomically at one instant of the simulation
//! (its serialization point, where the store changes and every read's result is taken), and
//! later still completes. Other processes' events interleave between those steps, so
//! transactions overlap in real time as in a recorded run, yet the order of serialization
//! points is consistent with real time and with each process's order: the simulation's own
//! order is a witness of strict serializability, so a sound checker finds nothing at any
//! consistency level. Some transactions fail before executing (`fail`: definitely not
//! applied); some crash (`info`) after executing or before, and a crashed one that had not
//! executed may still do so at any later moment or never, which is what `info` means.
//!
//! Keys are integers. As in Jepsen's list-append workload, `keys` keys are active at once
//! and a key retires after `max_writes_per_key` writes, replaced by a fresh one: reads stay
//! short however long the history grows, and its size grows linearly with the number of
//! transactions. Written values are unique per key (1, 2, 3, ...), so a read names the
//! writes it saw.
//!
//! With `violate`, a handful of extra transactions on keys of their own, by processes of
//! their own, form one anomaly of the requested kind and nothing else (but for a write cycle
//! in registers, which can only be seen together with a read cycle: see the plant). They
//! are all invoked before any of them completes, so no real-time or process order joins
//! them: no path of edges can lead from one of them through the clean part back to another
//! (that path would put one's completion before another's invocation), and the anomaly is
//! exactly the one the plant spells out. They are inserted halfway through the clean history.
//!
//! Everything random comes from one ChaCha8 stream seeded by `seed`, so a seed names a
//! history.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::{AnomalyKind, TxnModel};
use crate::history::{Event, EventType, Process};

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnGenOptions {
    pub model: TxnModel,
    /// Client transactions to invoke (a planted anomaly adds two to four more).
    pub txns: usize,
    /// Keys active at once.
    pub keys: usize,
    /// Micro-ops per transaction are drawn from 1 to this.
    pub max_ops_per_txn: usize,
    /// Writes (appends) a key receives before it retires for a fresh one.
    pub max_writes_per_key: usize,
    /// Client processes with a transaction in flight at once.
    pub concurrency: usize,
    pub seed: u64,
    /// Plant one anomaly of this kind.
    pub violate: Option<TxnViolation>,
    /// Share of transactions that crash (`info`), half of them before executing.
    pub info_rate: f64,
    /// Share of transactions that fail (`fail`) without executing.
    pub fail_rate: f64,
}

impl TxnGenOptions {
    /// 1000 transactions of up to 4 micro-ops over 10 active keys retiring after 32
    /// writes, 5 processes, 2% crashed, 5% failed, seed 0, no anomaly.
    pub fn new(model: TxnModel) -> Self {
        TxnGenOptions {
            model,
            txns: 1000,
            keys: 10,
            max_ops_per_txn: 4,
            max_writes_per_key: 32,
            concurrency: 5,
            seed: 0,
            violate: None,
            info_rate: 0.02,
            fail_rate: 0.05,
        }
    }
}

/// The anomalies the generator can plant, named as Elle names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxnViolation {
    /// Write cycle: two transactions each overwrite (append after) the other.
    G0,
    /// Aborted read: a transaction reads what a failed transaction wrote.
    G1a,
    /// Intermediate read: a transaction reads a value its writer later overwrote itself.
    G1b,
    /// Circular information flow: two transactions each read the other's write.
    G1c,
    /// Read skew: a cycle with exactly one read-write anti-dependency.
    GSingle,
    /// Write skew: a cycle of two read-write anti-dependencies.
    G2Item,
    /// A transaction does not read its own earlier write.
    Internal,
    /// A read holds the same appended element twice (list-append only).
    DuplicateAppends,
    /// A read of a value nobody wrote.
    GarbageRead,
    /// Two reads of one list that are not prefixes of one another (list-append only).
    IncompatibleOrder,
}

impl TxnViolation {
    pub const ALL: [TxnViolation; 10] = [
        TxnViolation::G0,
        TxnViolation::G1a,
        TxnViolation::G1b,
        TxnViolation::G1c,
        TxnViolation::GSingle,
        TxnViolation::G2Item,
        TxnViolation::Internal,
        TxnViolation::DuplicateAppends,
        TxnViolation::GarbageRead,
        TxnViolation::IncompatibleOrder,
    ];

    /// Elle's name: `G0`, `G1a`, ..., `G-single`, `G2-item`, `duplicate-appends`.
    pub fn as_str(self) -> &'static str {
        match self {
            TxnViolation::G0 => "G0",
            TxnViolation::G1a => "G1a",
            TxnViolation::G1b => "G1b",
            TxnViolation::G1c => "G1c",
            TxnViolation::GSingle => "G-single",
            TxnViolation::G2Item => "G2-item",
            TxnViolation::Internal => "internal",
            TxnViolation::DuplicateAppends => "duplicate-appends",
            TxnViolation::GarbageRead => "garbage-read",
            TxnViolation::IncompatibleOrder => "incompatible-order",
        }
    }

    /// The kind the checker names this anomaly by.
    pub fn anomaly_kind(self) -> AnomalyKind {
        match self {
            TxnViolation::G0 => AnomalyKind::G0,
            TxnViolation::G1a => AnomalyKind::G1a,
            TxnViolation::G1b => AnomalyKind::G1b,
            TxnViolation::G1c => AnomalyKind::G1c,
            TxnViolation::GSingle => AnomalyKind::GSingle,
            TxnViolation::G2Item => AnomalyKind::G2Item,
            TxnViolation::Internal => AnomalyKind::Internal,
            TxnViolation::DuplicateAppends => AnomalyKind::DuplicateAppends,
            TxnViolation::GarbageRead => AnomalyKind::GarbageRead,
            TxnViolation::IncompatibleOrder => AnomalyKind::IncompatibleOrder,
        }
    }

    /// Whether the model can express this anomaly. A register holds one value, so no read
    /// can repeat an element or disagree with another read about an order.
    pub fn applies_to(self, model: TxnModel) -> bool {
        match model {
            TxnModel::ListAppend => true,
            TxnModel::RwRegister => {
                !matches!(self, TxnViolation::DuplicateAppends | TxnViolation::IncompatibleOrder)
            }
        }
    }
}

impl fmt::Display for TxnViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TxnViolation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TxnViolation::ALL.into_iter().find(|v| v.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            let names: Vec<&str> = TxnViolation::ALL.iter().map(|v| v.as_str()).collect();
            format!("unknown anomaly {s:?}; expected one of {}", names.join(", "))
        })
    }
}

/// The history's events, with dense indices, ready for
/// [`History::from_events`](crate::History::from_events).
///
/// # Panics
///
/// If `violate` names an anomaly the model cannot express ([`TxnViolation::applies_to`]);
/// callers taking the kind from a user check that first.
pub fn generate_txn(options: &TxnGenOptions) -> Vec<Event> {
    if let Some(kind) = options.violate {
        assert!(kind.applies_to(options.model), "{kind} cannot be planted in a {} history", options.model);
    }
    let mut sim = Sim::new(options);
    sim.run();
    sim.events
}

/// One micro-op as the simulation holds it; keys index the store.
#[derive(Debug, Clone, Copy)]
enum MicroOp {
    Write { key: usize, value: i64 },
    Read { key: usize },
}

/// How a transaction will end, drawn when it is invoked.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Ok,
    Fail,
    /// Crashes before executing; may execute later or never.
    InfoBefore,
    /// Executes, then crashes before its completion arrives.
    InfoAfter,
}

#[derive(Debug)]
enum Phase {
    Invoked,
    /// Executed; the micro-ops as completed.
    Executed(Value),
}

struct InFlight {
    ops: Vec<MicroOp>,
    fate: Fate,
    phase: Phase,
}

struct Slot {
    process: u64,
    txn: Option<InFlight>,
}

struct Sim<'a> {
    options: &'a GenOptions,
    rng: ChaCha8Rng,
    events: Vec<Event>,
    /// Per key: every value written, in order; a register's value is the last.
    lists: Vec<Vec<i64>>,
    /// Per key: writes handed out so far (the next value is this plus one).
    writes: Vec<usize>,
    /// Keys clients pick from.
    active: Vec<usize>,
    slots: Vec<Slot>,
    /// Crashed transactions that have not executed and still may.
    zombies: Vec<Vec<MicroOp>>,
    next_process: u64,
    invoked: usize,
    plant: Option<TxnViolation>,
}

type GenOptions = TxnGenOptions;

impl<'a> Sim<'a> {
    fn new(options: &'a GenOptions) -> Self {
        let concurrency = options.concurrency.max(1);
        let mut sim = Sim {
            options,
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            events: Vec::with_capacity(options.txns * 2 + 16),
            lists: Vec::new(),
            writes: Vec::new(),
            active: Vec::new(),
            slots: (0..concurrency as u64).map(|p| Slot { process: p, txn: None }).collect(),
            zombies: Vec::new(),
            next_process: concurrency as u64,
            invoked: 0,
            plant: options.violate,
        };
        sim.active = (0..options.keys.max(1)).map(|_| sim.fresh_key()).collect();
        sim
    }

    fn run(&mut self) {
        loop {
            if self.plant.is_some() && self.invoked >= self.options.txns / 2 {
                self.plant();
            }
            if self.invoked >= self.options.txns && self.slots.iter().all(|s| s.txn.is_none()) {
                break;
            }
            let s = self.rng.gen_range(0..self.slots.len());
            self.tick(s);
            if !self.zombies.is_empty() && self.rng.gen_bool(0.01) {
                let z = self.rng.gen_range(0..self.zombies.len());
                let ops = self.zombies.swap_remove(z);
                self.execute(&ops);
            }
        }
        if self.plant.is_some() {
            self.plant();
        }
    }

    fn tick(&mut self, s: usize) {
        let Some(mut txn) = self.slots[s].txn.take() else {
            if self.invoked < self.options.txns {
                let ops = self.next_txn();
                let fate = self.fate();
                let value = self.invocation(&ops);
                self.emit(self.slots[s].process, EventType::Invoke, value, None);
                self.invoked += 1;
                self.slots[s].txn = Some(InFlight { ops, fate, phase: Phase::Invoked });
            }
            return;
        };
        // Each step waits a random number of ticks, so other processes interleave.
        if self.rng.gen_bool(0.5) {
            self.slots[s].txn = Some(txn);
            return;
        }
        let process = self.slots[s].process;
        match (txn.phase, txn.fate) {
            (Phase::Invoked, Fate::Fail) => {
                let value = self.invocation(&txn.ops);
                self.emit(process, EventType::Fail, value, Some("aborted"));
            }
            (Phase::Invoked, Fate::InfoBefore) => {
                let value = self.invocation(&txn.ops);
                self.emit(process, EventType::Info, value, Some("timeout"));
                self.retire(s);
                if self.rng.gen_bool(0.5) {
                    self.zombies.push(txn.ops);
                }
            }
            (Phase::Invoked, Fate::Ok | Fate::InfoAfter) => {
                txn.phase = Phase::Executed(self.execute(&txn.ops));
                self.slots[s].txn = Some(txn);
            }
            (Phase::Executed(value), Fate::Ok) => self.emit(process, EventType::Ok, value, None),
            (Phase::Executed(_), _) => {
                let value = self.invocation(&txn.ops);
                self.emit(process, EventType::Info, value, Some("timeout"));
                self.retire(s);
            }
        }
    }

    fn fate(&mut self) -> Fate {
        let roll: f64 = self.rng.gen();
        let (fail, info) = (self.options.fail_rate.max(0.0), self.options.info_rate.max(0.0));
        if roll < fail {
            Fate::Fail
        } else if roll < fail + info / 2.0 {
            Fate::InfoBefore
        } else if roll < fail + info {
            Fate::InfoAfter
        } else {
            Fate::Ok
        }
    }

    /// A fresh transaction: 1 to `max_ops_per_txn` micro-ops, half reads, on active keys.
    fn next_txn(&mut self) -> Vec<MicroOp> {
        let n = self.rng.gen_range(1..=self.options.max_ops_per_txn.max(1));
        (0..n)
            .map(|_| {
                let slot = self.rng.gen_range(0..self.active.len());
                let key = self.active[slot];
                if self.rng.gen_bool(0.5) {
                    return MicroOp::Read { key };
                }
                self.writes[key] += 1;
                let value = self.writes[key] as i64;
                if self.writes[key] >= self.options.max_writes_per_key.max(1) {
                    self.active[slot] = self.fresh_key();
                }
                MicroOp::Write { key, value }
            })
            .collect()
    }

    /// The serialization point: apply the writes in order, take each read from the store
    /// as the transaction sees it; the micro-ops as completed.
    fn execute(&mut self, ops: &[MicroOp]) -> Value {
        let list_append = self.options.model == TxnModel::ListAppend;
        let completed = ops
            .iter()
            .map(|op| match *op {
                MicroOp::Write { key, value } => {
                    self.lists[key].push(value);
                    self.write_json(key, value)
                }
                MicroOp::Read { key } if list_append => json!(["r", key, self.lists[key]]),
                MicroOp::Read { key } => json!(["r", key, self.lists[key].last()]),
            })
            .collect();
        Value::Array(completed)
    }

    /// The micro-ops as invoked: reads carry `null`.
    fn invocation(&self, ops: &[MicroOp]) -> Value {
        let invoked = ops
            .iter()
            .map(|op| match *op {
                MicroOp::Write { key, value } => self.write_json(key, value),
                MicroOp::Read { key } => json!(["r", key, null]),
            })
            .collect();
        Value::Array(invoked)
    }

    fn write_json(&self, key: usize, value: i64) -> Value {
        match self.options.model {
            TxnModel::ListAppend => json!(["append", key, value]),
            TxnModel::RwRegister => json!(["w", key, value]),
        }
    }

    /// Emits the planted transactions: every invocation, then every completion.
    fn plant(&mut self) {
        let Some(kind) = self.plant.take() else { return };
        let txns = match self.options.model {
            TxnModel::ListAppend => self.list_append_plant(kind),
            TxnModel::RwRegister => self.rw_register_plant(kind),
        };
        let processes: Vec<u64> = txns.iter().map(|_| self.fresh_process()).collect();
        for (process, (_, completed)) in processes.iter().zip(&txns) {
            self.emit(*process, EventType::Invoke, invoked_form(completed), None);
        }
        for (process, (outcome, completed)) in processes.iter().zip(txns) {
            let value = if outcome == EventType::Ok { completed } else { invoked_form(&completed) };
            let error = (outcome == EventType::Fail).then_some("aborted");
            self.emit(*process, outcome, value, error);
        }
    }

    /// The transactions (outcome, micro-ops as completed) forming `kind` on fresh keys.
    fn list_append_plant(&mut self, kind: TxnViolation) -> Vec<(EventType, Value)> {
        let (x, y) = (self.fresh_key(), self.fresh_key());
        let ok = EventType::Ok;
        match kind {
            // x: [1 2] puts T1 before T2; y: [1 2] puts T2 before T1.
            TxnViolation::G0 => vec![
                (ok, json!([["append", x, 1], ["append", y, 2]])),
                (ok, json!([["append", x, 2], ["append", y, 1]])),
                (ok, json!([["r", x, [1, 2]], ["r", y, [1, 2]]])),
            ],
            TxnViolation::G1a => {
                vec![(EventType::Fail, json!([["append", x, 1]])), (ok, json!([["r", x, [1]]]))]
            }
            // Nobody reads [1 2], so no version order puts the reader before the writer.
            TxnViolation::G1b => {
                vec![(ok, json!([["append", x, 1], ["append", x, 2]])), (ok, json!([["r", x, [1]]]))]
            }
            TxnViolation::G1c => vec![
                (ok, json!([["append", x, 1], ["r", y, [1]]])),
                (ok, json!([["append", y, 1], ["r", x, [1]]])),
            ],
            // T1 misses T2's append to x but sees its append to y; T3 shows x's order.
            TxnViolation::GSingle => vec![
                (ok, json!([["r", x, []], ["r", y, [1]]])),
                (ok, json!([["append", x, 1], ["append", y, 1]])),
                (ok, json!([["r", x, [1]]])),
            ],
            // Each misses the other's append; T3 shows both orders.
            TxnViolation::G2Item => vec![
                (ok, json!([["r", x, []], ["append", y, 1]])),
                (ok, json!([["r", y, []], ["append", x, 1]])),
                (ok, json!([["r", x, [1]], ["r", y, [1]]])),
            ],
            TxnViolation::Internal => vec![(ok, json!([["append", x, 1], ["r", x, []]]))],
            TxnViolation::DuplicateAppends => {
                vec![(ok, json!([["append", x, 1]])), (ok, json!([["r", x, [1, 1]]]))]
            }
            TxnViolation::GarbageRead => vec![(ok, json!([["r", x, [1]]]))],
            TxnViolation::IncompatibleOrder => vec![
                (ok, json!([["append", x, 1]])),
                (ok, json!([["append", x, 2]])),
                (ok, json!([["r", x, [1, 2]]])),
                (ok, json!([["r", x, [2]]])),
            ],
        }
    }

    /// As [`Self::list_append_plant`] for registers. A read of one value never orders two
    /// writes, so versions are ordered only by the unset state coming first and by a
    /// transaction that reads a key and then writes it (its write follows what it read).
    fn rw_register_plant(&mut self, kind: TxnViolation) -> Vec<(EventType, Value)> {
        let (x, y) = (self.fresh_key(), self.fresh_key());
        let ok = EventType::Ok;
        match kind {
            // Each overwrites a value it read from the other. In a register an overwrite is
            // seen only through a read of the value overwritten, so the write cycle comes
            // with a cycle of reads (G1c) on the same two transactions.
            TxnViolation::G0 => vec![
                (ok, json!([["w", x, 1], ["r", y, 1], ["w", y, 2]])),
                (ok, json!([["r", x, 1], ["w", x, 2], ["w", y, 1]])),
            ],
            TxnViolation::G1a => {
                vec![(EventType::Fail, json!([["w", x, 1]])), (ok, json!([["r", x, 1]]))]
            }
            TxnViolation::G1b => vec![(ok, json!([["w", x, 1], ["w", x, 2]])), (ok, json!([["r", x, 1]]))],
            TxnViolation::G1c => {
                vec![(ok, json!([["w", x, 1], ["r", y, 1]])), (ok, json!([["w", y, 1], ["r", x, 1]]))]
            }
            TxnViolation::GSingle => {
                vec![(ok, json!([["r", x, null], ["r", y, 1]])), (ok, json!([["w", x, 1], ["w", y, 1]]))]
            }
            TxnViolation::G2Item => {
                vec![(ok, json!([["r", x, null], ["w", y, 1]])), (ok, json!([["r", y, null], ["w", x, 1]]))]
            }
            TxnViolation::Internal => vec![(ok, json!([["w", x, 1], ["r", x, null]]))],
            TxnViolation::GarbageRead => vec![(ok, json!([["r", x, 1]]))],
            TxnViolation::DuplicateAppends | TxnViolation::IncompatibleOrder => {
                unreachable!("generate_txn refuses {kind} for rw-register")
            }
        }
    }

    fn fresh_key(&mut self) -> usize {
        self.lists.push(Vec::new());
        self.writes.push(0);
        self.lists.len() - 1
    }

    fn fresh_process(&mut self) -> u64 {
        self.next_process += 1;
        self.next_process - 1
    }

    fn retire(&mut self, s: usize) {
        self.slots[s].process = self.fresh_process();
    }

    fn emit(&mut self, process: u64, kind: EventType, value: Value, error: Option<&str>) {
        self.events.push(Event {
            index: self.events.len() as u64,
            time: None,
            process: Process::Client(process),
            kind,
            f: "txn".to_string(),
            key: None,
            value,
            error: error.map(str::to_string),
            node: None,
        });
    }
}

/// A completed transaction's micro-ops as they were invoked: every read's value `null`.
fn invoked_form(completed: &Value) -> Value {
    let ops = completed.as_array().map(Vec::as_slice).unwrap_or_default();
    let invoked = ops
        .iter()
        .map(|op| match op.as_array().map(Vec::as_slice) {
            Some([f, key, _]) if f == "r" => json!(["r", key, null]),
            _ => op.clone(),
        })
        .collect();
    Value::Array(invoked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::History;

    fn options(model: TxnModel, seed: u64) -> TxnGenOptions {
        TxnGenOptions { txns: 300, keys: 4, concurrency: 6, seed, ..TxnGenOptions::new(model) }
    }

    #[test]
    fn the_same_seed_gives_the_same_history() {
        let a = options(TxnModel::ListAppend, 42);
        assert_eq!(generate_txn(&a), generate_txn(&a));
        assert_ne!(generate_txn(&a), generate_txn(&TxnGenOptions { seed: 43, ..a.clone() }));
    }

    #[test]
    fn every_plant_gives_a_loadable_history_of_the_asked_size() {
        for model in [TxnModel::ListAppend, TxnModel::RwRegister] {
            let plants = TxnViolation::ALL.into_iter().filter(|v| v.applies_to(model)).map(Some);
            for violate in std::iter::once(None).chain(plants) {
                let events = generate_txn(&TxnGenOptions { violate, ..options(model, 7) });
                let invokes = events.iter().filter(|e| e.kind == EventType::Invoke).count();
                assert!((300..=304).contains(&invokes), "{model:?} {violate:?}: {invokes} invocations");
                assert!(events.iter().all(|e| e.f == "txn"));
                History::from_events(events).unwrap_or_else(|e| panic!("{model:?} {violate:?}: {e}"));
            }
        }
    }

    #[test]
    fn reads_see_the_writes_of_the_serial_order() {
        // Every ok list-append read is a prefix of the key's final list, and lists never
        // hold an element twice.
        let events = generate_txn(&options(TxnModel::ListAppend, 3));
        let mut longest: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
        let mut reads = Vec::new();
        for event in events.iter().filter(|e| e.kind == EventType::Ok) {
            for op in event.value.as_array().unwrap() {
                if op[0] == "r" {
                    let list: Vec<i64> = serde_json::from_value(op[2].clone()).unwrap();
                    let mut sorted = list.clone();
                    sorted.sort_unstable();
                    sorted.dedup();
                    assert_eq!(sorted.len(), list.len(), "duplicate in {op}");
                    let entry = longest.entry(op[1].to_string()).or_default();
                    if list.len() > entry.len() {
                        *entry = list.clone();
                    }
                    reads.push((op[1].to_string(), list));
                }
            }
        }
        assert!(reads.iter().any(|(_, list)| list.len() > 2), "some reads see several appends");
        for (key, list) in reads {
            assert!(longest[&key].starts_with(&list), "{key}: {list:?} vs {:?}", longest[&key]);
        }
    }

    #[test]
    fn keys_retire_after_their_writes() {
        let options = TxnGenOptions { max_writes_per_key: 5, ..options(TxnModel::RwRegister, 9) };
        let events = generate_txn(&options);
        let mut writes: std::collections::BTreeMap<String, usize> = Default::default();
        for event in events.iter().filter(|e| e.kind == EventType::Invoke) {
            for op in event.value.as_array().unwrap().iter().filter(|op| op[0] == "w") {
                *writes.entry(op[1].to_string()).or_default() += 1;
            }
        }
        assert!(writes.len() > 20, "{} keys", writes.len());
        assert!(writes.values().all(|&n| n <= 5), "{writes:?}");
    }

    #[test]
    fn anomaly_names_round_trip() {
        for v in TxnViolation::ALL {
            assert_eq!(v.as_str().parse::<TxnViolation>(), Ok(v));
        }
        assert!("G3".parse::<TxnViolation>().unwrap_err().contains("G2-item"));
    }
}
