//! Synthetic queue histories: every element accounted for by construction, or with one
//! known fault.
//!
//! Clients enqueue unique integers and dequeue from a true FIFO queue per key. Each op is
//! invoked, takes effect at one instant of the simulation, and completes later, so ops
//! overlap. Some fail before taking effect, some crash (`info`) before or after; a crashed
//! op that had not taken effect may still do so later, or never (a crashed dequeue that
//! does takes an element nobody sees). When every client is done, one drain per key takes
//! what is left.
//!
//! With `violate`, one fault is planted, chosen by the seed: a drain that leaves out more
//! acknowledged elements than the key's crashed dequeues could have taken (lost), one that
//! returns an element a dequeue already returned (duplicated), or one that returns an
//! element never enqueued (unexpected).
//!
//! Everything random comes from one ChaCha8 stream seeded by `seed`.

use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::history::{Event, EventType, Process};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueGenOptions {
    /// Client enqueues and dequeues to invoke (the drains come on top).
    pub ops: usize,
    /// Independent queues; ops carry a `key` when there is more than one.
    pub keys: usize,
    /// Client processes running at once.
    pub concurrency: usize,
    pub seed: u64,
    /// Plant one fault the analysis must find.
    pub violate: bool,
}

impl QueueGenOptions {
    /// 1000 ops on one queue by 5 processes, seed 0, every element accounted for.
    pub fn new() -> Self {
        QueueGenOptions { ops: 1000, keys: 1, concurrency: 5, seed: 0, violate: false }
    }
}

impl Default for QueueGenOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// The element a planted unexpected dequeue returns: no enqueue writes a negative one.
const NEVER_ENQUEUED: i64 = -1;

/// The history's events, with dense indices.
pub fn generate_queue(options: &QueueGenOptions) -> Vec<Event> {
    let mut sim = Sim::new(options);
    sim.run();
    sim.drain_all();
    sim.events
}

#[derive(Debug, Clone)]
struct Op {
    key: usize,
    /// The element to enqueue; `None` for a dequeue.
    element: Option<i64>,
}

impl Op {
    fn f(&self) -> &'static str {
        if self.element.is_some() {
            "enqueue"
        } else {
            "dequeue"
        }
    }

    fn arg(&self) -> Value {
        self.element.map_or(Value::Null, |e| json!(e))
    }
}

#[derive(Debug, Clone)]
enum Phase {
    Invoked,
    /// Took effect; the completion's value.
    Done(Value),
}

struct Slot {
    process: u64,
    op: Option<(Op, Phase)>,
}

struct Sim<'a> {
    options: &'a QueueGenOptions,
    rng: ChaCha8Rng,
    events: Vec<Event>,
    queues: Vec<VecDeque<i64>>,
    /// Per key, the elements whose enqueue completed `ok`.
    acknowledged: Vec<Vec<i64>>,
    /// Per key, the elements `ok` dequeues returned.
    returned: Vec<Vec<i64>>,
    /// Per key, dequeues that ended `info`.
    crashed_dequeues: Vec<usize>,
    slots: Vec<Slot>,
    /// Crashed ops that have not taken effect and still may.
    zombies: Vec<Op>,
    next_process: u64,
    invoked: usize,
    counter: i64,
}

impl<'a> Sim<'a> {
    fn new(options: &'a QueueGenOptions) -> Self {
        let keys = options.keys.max(1);
        let concurrency = options.concurrency.max(1);
        Sim {
            options,
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            events: Vec::with_capacity(options.ops * 2 + 2 * keys + 4),
            queues: vec![VecDeque::new(); keys],
            acknowledged: vec![Vec::new(); keys],
            returned: vec![Vec::new(); keys],
            crashed_dequeues: vec![0; keys],
            slots: (0..concurrency as u64).map(|p| Slot { process: p, op: None }).collect(),
            zombies: Vec::new(),
            next_process: concurrency as u64,
            invoked: 0,
            counter: 0,
        }
    }

    fn run(&mut self) {
        loop {
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
        // Crashed ops still pending take effect now or never, before the drains.
        for op in std::mem::take(&mut self.zombies) {
            if self.rng.gen_bool(0.5) {
                self.apply(&op);
            }
        }
    }

    fn tick(&mut self, s: usize) {
        match self.slots[s].op.take() {
            None => {
                if self.invoked < self.options.ops {
                    let op = self.next_op();
                    self.emit(self.slots[s].process, EventType::Invoke, op.key, op.f(), op.arg(), None);
                    self.invoked += 1;
                    self.slots[s].op = Some((op, Phase::Invoked));
                }
            }
            Some((op, Phase::Invoked)) => {
                let roll = self.rng.gen_range(0..100);
                if roll < 70 {
                    let result = self.apply(&op);
                    self.slots[s].op = Some((op, Phase::Done(result)));
                } else if roll < 75 {
                    self.emit(
                        self.slots[s].process,
                        EventType::Fail,
                        op.key,
                        op.f(),
                        op.arg(),
                        Some("refused"),
                    );
                } else if roll < 77 {
                    self.crash(s, &op);
                    if self.rng.gen_bool(0.5) {
                        self.zombies.push(op);
                    }
                } else {
                    self.slots[s].op = Some((op, Phase::Invoked));
                }
            }
            Some((op, Phase::Done(result))) => {
                let roll = self.rng.gen_range(0..100);
                if roll < 90 {
                    match (op.element, result.as_i64()) {
                        (Some(element), _) => self.acknowledged[op.key].push(element),
                        (None, Some(element)) => self.returned[op.key].push(element),
                        (None, None) => {}
                    }
                    self.emit(self.slots[s].process, EventType::Ok, op.key, op.f(), result, None);
                } else if roll < 92 {
                    self.crash(s, &op);
                } else {
                    self.slots[s].op = Some((op, Phase::Done(result)));
                }
            }
        }
    }

    fn next_op(&mut self) -> Op {
        let key = self.rng.gen_range(0..self.queues.len());
        if self.rng.gen_range(0..100) < 60 {
            self.counter += 1;
            Op { key, element: Some(self.counter) }
        } else {
            Op { key, element: None }
        }
    }

    /// The linearization point: the completion's value (the element taken, or `null` for
    /// a dequeue that found the queue empty).
    fn apply(&mut self, op: &Op) -> Value {
        match op.element {
            Some(element) => {
                self.queues[op.key].push_back(element);
                json!(element)
            }
            None => self.queues[op.key].pop_front().map_or(Value::Null, |e| json!(e)),
        }
    }

    /// The op ends `info`; its process is retired.
    fn crash(&mut self, s: usize, op: &Op) {
        self.emit(self.slots[s].process, EventType::Info, op.key, op.f(), op.arg(), Some("timeout"));
        if op.element.is_none() {
            self.crashed_dequeues[op.key] += 1;
        }
        self.slots[s].process = self.fresh_process();
    }

    /// One drain per key, by a process of its own, taking what is left; with `violate`,
    /// one of them holds the planted fault.
    fn drain_all(&mut self) {
        let faulty = self.options.violate.then(|| self.rng.gen_range(0..self.queues.len()));
        for key in 0..self.queues.len() {
            let mut taken: Vec<i64> = self.queues[key].drain(..).collect();
            if faulty == Some(key) {
                self.plant(key, &mut taken);
            }
            let process = self.fresh_process();
            self.emit(process, EventType::Invoke, key, "drain", Value::Null, None);
            self.emit(process, EventType::Ok, key, "drain", json!(taken), None);
        }
    }

    /// Changes what `key`'s drain returns so that the analysis must call it invalid.
    fn plant(&mut self, key: usize, taken: &mut Vec<i64>) {
        let acknowledged: std::collections::HashSet<i64> = self.acknowledged[key].iter().copied().collect();
        let acknowledged_left: Vec<usize> =
            (0..taken.len()).filter(|&i| acknowledged.contains(&taken[i])).collect();
        // Loss shows only past what the crashed dequeues could have taken.
        let need = self.crashed_dequeues[key] + 1;
        match self.rng.gen_range(0..3) {
            0 if acknowledged_left.len() >= need => {
                for &i in acknowledged_left[..need].iter().rev() {
                    taken.remove(i);
                }
            }
            1 if !self.returned[key].is_empty() => {
                let again = self.returned[key][self.rng.gen_range(0..self.returned[key].len())];
                taken.push(again);
            }
            _ => taken.push(NEVER_ENQUEUED),
        }
    }

    fn fresh_process(&mut self) -> u64 {
        self.next_process += 1;
        self.next_process - 1
    }

    fn emit(
        &mut self,
        process: u64,
        kind: EventType,
        key: usize,
        f: &str,
        value: Value,
        error: Option<&str>,
    ) {
        let keyed = self.queues.len() > 1;
        self.events.push(Event {
            index: self.events.len() as u64,
            time: None,
            process: Process::Client(process),
            kind,
            f: f.to_string(),
            key: keyed.then(|| format!("k{key}")),
            value,
            error: error.map(str::to_string),
            node: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::check_queue;
    use crate::{History, Verdict};

    #[test]
    fn the_same_seed_gives_the_same_history() {
        let options = QueueGenOptions { ops: 300, seed: 42, ..QueueGenOptions::new() };
        assert_eq!(generate_queue(&options), generate_queue(&options));
        assert_ne!(
            generate_queue(&options),
            generate_queue(&QueueGenOptions { seed: 43, ..options.clone() })
        );
    }

    #[test]
    fn generated_histories_are_valid_and_planted_faults_are_found() {
        for seed in 0..40 {
            for keys in [1, 3] {
                let options = QueueGenOptions { ops: 400, keys, concurrency: 6, seed, violate: false };
                let history = History::from_events(generate_queue(&options)).unwrap();
                let report = check_queue(&history).unwrap();
                assert_eq!(report.verdict, Verdict::Valid, "seed {seed}, {keys} keys: {}", report.summary());
                assert!(report.acknowledged > 100, "seed {seed}: {}", report.summary());

                let violated = QueueGenOptions { violate: true, ..options };
                let history = History::from_events(generate_queue(&violated)).unwrap();
                let report = check_queue(&history).unwrap();
                assert_eq!(
                    report.verdict,
                    Verdict::Invalid,
                    "seed {seed}, {keys} keys: {}",
                    report.summary()
                );
            }
        }
    }

    #[test]
    fn every_kind_of_fault_is_planted_over_the_seeds() {
        let (mut lost, mut duplicated, mut unexpected) = (0, 0, 0);
        for seed in 0..40 {
            let options = QueueGenOptions { ops: 300, keys: 1, concurrency: 5, seed, violate: true };
            let report = check_queue(&History::from_events(generate_queue(&options)).unwrap()).unwrap();
            lost += usize::from(report.lost > 0);
            duplicated += usize::from(report.duplicated.count > 0);
            unexpected += usize::from(report.unexpected.count > 0);
        }
        assert!(lost > 0 && duplicated > 0 && unexpected > 0, "{lost} {duplicated} {unexpected}");
    }
}
