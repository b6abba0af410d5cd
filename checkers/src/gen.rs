//! Synthetic histories: linearizable by construction, or with one known violation.
//!
//! The generator simulates clients against a perfectly linearizable object. Each op is
//! invoked, later takes effect at one instant of the simulation (its linearization point,
//! where the true state is updated and the result computed), and later still completes.
//! Between those steps other processes' events interleave, so ops overlap as in a real run.
//! Some ops fail before taking effect (`fail`), some crash (`info`) before or after taking
//! effect (never kv appends or mutex ops, see `tick`), and a crashed op that had not yet
//! taken effect may do so at any later moment or never, which is exactly the uncertainty
//! Jepsen's `info` describes. Every history is therefore linearizable: the simulation's own
//! order is a witness.
//!
//! With `violate`, one op is added whose result no linearization can explain: a read of a
//! value never written (register, cas-register, kv), a read of an element never added
//! (set), an acquire of a lock that an idle process holds (mutex), or a read of a total
//! above every increment invoked so far together (counter).
//!
//! Written values are unique (a counter), as in Jepsen's register workloads with
//! independent keys, so a read names the write it saw; the etcd corpus covers the harder
//! case of a few values written many times.
//!
//! Hard histories for the checker come from few keys and many clients: about 2% of ops
//! crash, so `keys: 10, concurrency: 50` (`faultline gen --keys 10 --concurrency 50
//! --model cas-register`) puts five clients on each key among hundreds of crashed writes,
//! some of which take effect long after their process crashed; see ARCHITECTURE.md, "What
//! the search costs".
//!
//! Everything random comes from one ChaCha8 stream seeded by `seed`, so a seed names a
//! history.

use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::history::{Event, EventType, Process};
use crate::options::ModelKind;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOptions {
    /// Client operations to invoke.
    pub ops: usize,
    /// Independent objects; ops carry a `key` when there is more than one (always for kv).
    pub keys: usize,
    /// Client processes running at once.
    pub concurrency: usize,
    pub seed: u64,
    pub model: ModelKind,
    /// Add one operation that makes the history not linearizable.
    pub violate: bool,
}

impl GenOptions {
    /// 1000 ops on one key by 5 processes, seed 0, linearizable.
    pub fn new(model: ModelKind) -> Self {
        GenOptions { ops: 1000, keys: 1, concurrency: 5, seed: 0, model, violate: false }
    }
}

/// The history's events, with dense indices, ready for [`History::from_events`](crate::History::from_events).
pub fn generate(options: &GenOptions) -> Vec<Event> {
    let mut sim = Sim::new(options);
    sim.run();
    sim.events
}

/// The value the violating read claims to have seen.
const NEVER_WRITTEN: i64 = -1;

#[derive(Debug, Clone)]
enum Truth {
    Register(Option<i64>),
    Kv(String),
    Set(BTreeSet<i64>),
    Mutex(bool),
    Counter(i64),
}

#[derive(Debug, Clone)]
struct Op {
    key: usize,
    f: &'static str,
    arg: Value,
}

#[derive(Debug, Clone)]
enum Phase {
    Invoked,
    /// Took effect; `Some(result)` to complete ok, `None` to complete fail (no effect).
    Done(Option<Value>),
}

struct Slot {
    process: u64,
    op: Option<(Op, Phase)>,
    /// The lock key this process holds (mutex only).
    holding: Option<usize>,
}

struct Sim<'a> {
    options: &'a GenOptions,
    rng: ChaCha8Rng,
    events: Vec<Event>,
    truth: Vec<Truth>,
    slots: Vec<Slot>,
    /// Crashed ops that have not taken effect and still may.
    zombies: Vec<Op>,
    next_process: u64,
    invoked: usize,
    injected: bool,
    counter: i64,
}

impl<'a> Sim<'a> {
    fn new(options: &'a GenOptions) -> Self {
        let keys = options.keys.max(1);
        let concurrency = options.concurrency.max(1);
        let initial = match options.model {
            ModelKind::Register | ModelKind::CasRegister => Truth::Register(None),
            ModelKind::Kv => Truth::Kv(String::new()),
            ModelKind::Set => Truth::Set(BTreeSet::new()),
            ModelKind::Mutex => Truth::Mutex(false),
            ModelKind::Counter => Truth::Counter(0),
        };
        Sim {
            options,
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            events: Vec::with_capacity(options.ops * 2 + 4),
            truth: vec![initial; keys],
            slots: (0..concurrency as u64).map(|p| Slot { process: p, op: None, holding: None }).collect(),
            zombies: Vec::new(),
            next_process: concurrency as u64,
            invoked: 0,
            injected: !options.violate,
            counter: 0,
        }
    }

    fn run(&mut self) {
        loop {
            if !self.injected && self.invoked >= self.options.ops / 2 {
                self.try_inject();
            }
            let all_idle = self.slots.iter().all(|s| s.op.is_none());
            if self.invoked >= self.options.ops && all_idle {
                break;
            }
            let s = self.rng.gen_range(0..self.slots.len());
            self.tick(s);
            if !self.zombies.is_empty() && self.rng.gen_bool(0.01) {
                let z = self.rng.gen_range(0..self.zombies.len());
                let op = self.zombies.swap_remove(z);
                self.apply(&op);
            }
        }
        if !self.injected {
            self.try_inject();
        }
        if !self.injected {
            // Mutex with every lock free: one fresh process takes key 0's lock and keeps it,
            // another then takes it too.
            let holder = self.fresh_process();
            self.sequential(holder, 0, "acquire", Value::Null, Value::Null);
            self.injected = true;
            self.inject_acquire(0);
        }
    }

    fn tick(&mut self, s: usize) {
        // Ops that never crash. A mutex op of unknown outcome can leave the lock held by
        // a process that no longer exists. A kv append of unknown outcome makes every
        // later state depend on whether and where it happened; a handful pending at once
        // makes the check exponential (for every Wing & Gong checker), so generated
        // appends always complete.
        let mutex = self.options.model == ModelKind::Mutex
            || matches!(&self.slots[s].op, Some((op, _)) if op.f == "append");
        match self.slots[s].op.take() {
            None => {
                if self.invoked < self.options.ops {
                    let op = self.next_op(s);
                    self.emit(self.slots[s].process, EventType::Invoke, &op, op.arg.clone(), None);
                    self.invoked += 1;
                    self.slots[s].op = Some((op, Phase::Invoked));
                }
            }
            Some((op, Phase::Invoked)) => {
                let roll = self.rng.gen_range(0..100);
                if roll < 70 {
                    let result = self.apply(&op);
                    if mutex && result.is_some() {
                        self.slots[s].holding = if op.f == "acquire" { Some(op.key) } else { None };
                    }
                    self.slots[s].op = Some((op, Phase::Done(result)));
                } else if roll < 75 {
                    self.emit(self.slots[s].process, EventType::Fail, &op, op.arg.clone(), Some("refused"));
                } else if roll < 76 && !mutex {
                    self.emit(self.slots[s].process, EventType::Info, &op, op.arg.clone(), Some("timeout"));
                    self.retire(s);
                    if self.rng.gen_bool(0.5) {
                        self.zombies.push(op);
                    }
                } else {
                    self.slots[s].op = Some((op, Phase::Invoked));
                }
            }
            Some((op, Phase::Done(result))) => {
                let roll = self.rng.gen_range(0..100);
                let process = self.slots[s].process;
                if roll < 90 {
                    match result {
                        Some(value) => self.emit(process, EventType::Ok, &op, value, None),
                        None => {
                            self.emit(process, EventType::Fail, &op, op.arg.clone(), Some("precondition"))
                        }
                    }
                } else if roll < 91 && !mutex {
                    self.emit(process, EventType::Info, &op, op.arg.clone(), Some("timeout"));
                    self.retire(s);
                } else {
                    self.slots[s].op = Some((op, Phase::Done(result)));
                }
            }
        }
    }

    fn next_op(&mut self, s: usize) -> Op {
        let keys = self.truth.len();
        let key = self.rng.gen_range(0..keys);
        let roll = self.rng.gen_range(0..100);
        self.counter += 1;
        let n = self.counter;
        match self.options.model {
            ModelKind::Register if roll < 50 => Op { key, f: "read", arg: Value::Null },
            ModelKind::Register => Op { key, f: "write", arg: json!(n) },
            ModelKind::CasRegister if roll < 34 => Op { key, f: "read", arg: Value::Null },
            ModelKind::CasRegister if roll < 67 => Op { key, f: "write", arg: json!(n) },
            ModelKind::CasRegister => {
                // Compare against the current value half the time, so that some cas succeed.
                let from = match &self.truth[key] {
                    Truth::Register(Some(v)) if self.rng.gen_bool(0.5) => *v,
                    _ => self.rng.gen_range(0..n),
                };
                Op { key, f: "cas", arg: json!([from, n]) }
            }
            ModelKind::Kv if roll < 40 => Op { key, f: "get", arg: Value::Null },
            ModelKind::Kv if roll < 60 => Op { key, f: "put", arg: json!(format!("x{n}y")) },
            ModelKind::Kv => Op { key, f: "append", arg: json!(format!("x{n}y")) },
            ModelKind::Set if roll < 70 => Op { key, f: "add", arg: json!(n) },
            ModelKind::Set => Op { key, f: "read", arg: Value::Null },
            ModelKind::Mutex => match self.slots[s].holding {
                Some(held) => Op { key: held, f: "release", arg: Value::Null },
                None => Op { key, f: "acquire", arg: Value::Null },
            },
            // Small increments, as Jepsen's counter workload makes; now and then a
            // decrement.
            ModelKind::Counter if roll < 60 => {
                let n = if self.rng.gen_bool(0.1) { -1 } else { self.rng.gen_range(1..=5) };
                Op { key, f: "add", arg: json!(n) }
            }
            ModelKind::Counter => Op { key, f: "read", arg: Value::Null },
        }
    }

    /// The linearization point: update the truth; the completion's value, or `None` if
    /// the op's precondition failed (it completes `fail` and had no effect).
    fn apply(&mut self, op: &Op) -> Option<Value> {
        match (&mut self.truth[op.key], op.f) {
            (Truth::Register(v), "read") => Some(v.map_or(Value::Null, |v| json!(v))),
            (Truth::Register(v), "write") => {
                *v = op.arg.as_i64();
                Some(op.arg.clone())
            }
            (Truth::Register(v), "cas") => {
                let (from, to) = (op.arg[0].as_i64(), op.arg[1].as_i64());
                if *v == from {
                    *v = to;
                    Some(op.arg.clone())
                } else {
                    None
                }
            }
            (Truth::Kv(s), "get") => Some(json!(s.clone())),
            (Truth::Kv(s), "put") => {
                *s = op.arg.as_str().unwrap_or_default().to_string();
                Some(op.arg.clone())
            }
            (Truth::Kv(s), "append") => {
                s.push_str(op.arg.as_str().unwrap_or_default());
                Some(op.arg.clone())
            }
            (Truth::Set(set), "add") => {
                set.insert(op.arg.as_i64().unwrap_or_default());
                Some(op.arg.clone())
            }
            (Truth::Set(set), "read") => Some(json!(set.iter().collect::<Vec<_>>())),
            (Truth::Mutex(held), "acquire") if !*held => {
                *held = true;
                Some(Value::Null)
            }
            (Truth::Mutex(held), "release") if *held => {
                *held = false;
                Some(Value::Null)
            }
            (Truth::Mutex(_), _) => None,
            (Truth::Counter(total), "add") => {
                *total += op.arg.as_i64().unwrap_or_default();
                Some(op.arg.clone())
            }
            (Truth::Counter(total), "read") => Some(json!(*total)),
            (truth, f) => unreachable!("generator produced {f} for {truth:?}"),
        }
    }

    /// Adds the violating op if now is a good moment.
    fn try_inject(&mut self) {
        let key = self.rng.gen_range(0..self.truth.len());
        match self.options.model {
            ModelKind::Register | ModelKind::CasRegister => {
                let process = self.fresh_process();
                self.sequential(process, key, "read", Value::Null, json!(NEVER_WRITTEN));
            }
            ModelKind::Kv => {
                let process = self.fresh_process();
                self.sequential(process, key, "get", Value::Null, json!("never-written"));
            }
            ModelKind::Set => {
                let process = self.fresh_process();
                self.sequential(process, key, "read", Value::Null, json!([NEVER_WRITTEN]));
            }
            ModelKind::Counter => {
                // A total no subset of the adds so far, in any order, can reach: one more
                // than every positive increment together.
                let reachable: i64 = self
                    .events
                    .iter()
                    .filter(|e| e.kind == EventType::Invoke && e.f == "add")
                    .filter_map(|e| e.value.as_i64())
                    .filter(|&n| n > 0)
                    .sum();
                let process = self.fresh_process();
                self.sequential(process, key, "read", Value::Null, json!(reachable + 1));
            }
            ModelKind::Mutex => {
                // Needs an idle process holding a lock (acquired ok, release not invoked).
                let holder = self.slots.iter().find(|s| s.op.is_none() && s.holding.is_some());
                let Some(held) = holder.and_then(|s| s.holding) else { return };
                self.inject_acquire(held);
            }
        }
        self.injected = true;
    }

    fn inject_acquire(&mut self, key: usize) {
        let process = self.fresh_process();
        self.sequential(process, key, "acquire", Value::Null, Value::Null);
        self.injected = true;
    }

    /// An op invoked and completed ok at once, by a process used for nothing else.
    fn sequential(&mut self, process: u64, key: usize, f: &'static str, arg: Value, result: Value) {
        let op = Op { key, f, arg: arg.clone() };
        self.emit(process, EventType::Invoke, &op, arg, None);
        self.emit(process, EventType::Ok, &op, result, None);
    }

    fn fresh_process(&mut self) -> u64 {
        self.next_process += 1;
        self.next_process - 1
    }

    fn retire(&mut self, s: usize) {
        self.slots[s].process = self.fresh_process();
        self.slots[s].holding = None;
    }

    fn emit(&mut self, process: u64, kind: EventType, op: &Op, value: Value, error: Option<&str>) {
        let keyed = self.options.model == ModelKind::Kv || self.truth.len() > 1;
        self.events.push(Event {
            index: self.events.len() as u64,
            time: None,
            process: Process::Client(process),
            kind,
            f: op.f.to_string(),
            key: keyed.then(|| format!("k{}", op.key)),
            value,
            error: error.map(str::to_string),
            node: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::History;

    #[test]
    fn the_same_seed_gives_the_same_history() {
        let mut options = GenOptions::new(ModelKind::CasRegister);
        options.ops = 200;
        options.seed = 42;
        assert_eq!(generate(&options), generate(&options));
        let other = GenOptions { seed: 43, ..options.clone() };
        assert_ne!(generate(&options), generate(&other));
    }

    #[test]
    fn every_model_generates_a_valid_history_of_the_asked_size() {
        for model in ModelKind::ALL {
            for violate in [false, true] {
                let options = GenOptions { ops: 300, keys: 3, concurrency: 4, seed: 7, model, violate };
                let events = generate(&options);
                let invokes = events.iter().filter(|e| e.kind == EventType::Invoke).count();
                assert!(invokes >= 300, "{model}: {invokes} invocations");
                let history = History::from_events(events).unwrap_or_else(|e| panic!("{model}: {e}"));
                assert!(history.operations().iter().any(|op| op.key.as_deref() == Some("k2")));
            }
        }
    }
}
