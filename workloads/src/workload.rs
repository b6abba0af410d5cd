//! Choosing a workload: its name on the command line, its parameters, its generator, the
//! model its history is checked against, and the checkers that judge it.

use std::fmt;
use std::str::FromStr;

use checkers::CheckName;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::bank::{BankGenerator, BankParams};
use crate::counter::{CounterGenerator, CounterParams};
use crate::list_append::{ListAppendGenerator, ListAppendParams};
use crate::op::Op;
use crate::queue::{QueueGenerator, QueueParams};
use crate::register::{RegisterGenerator, RegisterParams};
use crate::set::{SetGenerator, SetParams};

/// The workloads, by their command-line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadName {
    Register,
    Set,
    Bank,
    #[serde(rename = "list-append")]
    ListAppend,
    Counter,
    Queue,
}

impl WorkloadName {
    pub const ALL: [WorkloadName; 6] = [
        WorkloadName::Register,
        WorkloadName::Set,
        WorkloadName::Bank,
        WorkloadName::ListAppend,
        WorkloadName::Counter,
        WorkloadName::Queue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadName::Register => "register",
            WorkloadName::Set => "set",
            WorkloadName::Bank => "bank",
            WorkloadName::ListAppend => "list-append",
            WorkloadName::Counter => "counter",
            WorkloadName::Queue => "queue",
        }
    }
}

impl fmt::Display for WorkloadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WorkloadName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WorkloadName::ALL.into_iter().find(|w| w.as_str() == s).ok_or_else(|| {
            let known: Vec<_> = WorkloadName::ALL.iter().map(|w| w.as_str()).collect();
            format!("unknown workload {s:?} (known: {})", known.join(", "))
        })
    }
}

/// A workload with its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    pub name: WorkloadName,
    pub register: RegisterParams,
    pub set: SetParams,
    pub bank: BankParams,
    /// Absent from the `run.json` of a run older than the workload: its defaults.
    #[serde(default)]
    pub list_append: ListAppendParams,
    /// Absent from the `run.json` of a run older than the workload: its defaults.
    #[serde(default)]
    pub counter: CounterParams,
    /// Absent from the `run.json` of a run older than the workload: its defaults.
    #[serde(default)]
    pub queue: QueueParams,
}

impl Workload {
    /// The named workload with default parameters.
    pub fn new(name: WorkloadName) -> Workload {
        Workload {
            name,
            register: RegisterParams::default(),
            set: SetParams::default(),
            bank: BankParams::default(),
            list_append: ListAppendParams::default(),
            counter: CounterParams::default(),
            queue: QueueParams::default(),
        }
    }

    /// The checker model of the recorded history (run.json's `model`).
    pub fn model(&self) -> &'static str {
        match self.name {
            WorkloadName::Register => "cas-register",
            WorkloadName::Set => "set",
            WorkloadName::Bank => "bank",
            WorkloadName::ListAppend => "list-append",
            WorkloadName::Counter => "counter",
            WorkloadName::Queue => "total-queue",
        }
    }

    /// The checkers that judge this workload's history, in the order they run.
    pub fn checkers(&self) -> Vec<CheckName> {
        let own = match self.name {
            WorkloadName::Register | WorkloadName::Counter => vec![CheckName::Linearizable],
            WorkloadName::Set => vec![CheckName::LostWrites],
            WorkloadName::Bank => vec![CheckName::Bank],
            WorkloadName::ListAppend => vec![CheckName::Isolation],
            WorkloadName::Queue => vec![CheckName::Queue],
        };
        own.into_iter().chain([CheckName::SplitBrain, CheckName::DeposedLeader, CheckName::Stats]).collect()
    }

    /// The generator of this run's operations, from the run's seed.
    pub fn generator(&self, seed: u64) -> Generator {
        let rng = ChaCha8Rng::seed_from_u64(seed);
        let kind = match self.name {
            WorkloadName::Register => Kind::Register(RegisterGenerator::new(self.register.clone())),
            WorkloadName::Set => Kind::Set(SetGenerator::new(self.set.clone())),
            WorkloadName::Bank => Kind::Bank(BankGenerator::new(self.bank.clone())),
            WorkloadName::ListAppend => Kind::ListAppend(ListAppendGenerator::new(self.list_append.clone())),
            WorkloadName::Counter => Kind::Counter(CounterGenerator::new(self.counter.clone())),
            WorkloadName::Queue => Kind::Queue(QueueGenerator::new(self.queue.clone())),
        };
        Generator { rng, kind }
    }

    /// The request that prepares the cluster before the workload starts, if any.
    pub fn setup(&self) -> Option<nodes::api::Request> {
        match self.name {
            WorkloadName::Bank => Some(self.bank.setup()),
            WorkloadName::Register
            | WorkloadName::Set
            | WorkloadName::ListAppend
            | WorkloadName::Counter
            | WorkloadName::Queue => None,
        }
    }

    /// The dequeue repeated after healing until the queue answers empty, if the workload
    /// has a queue to drain.
    pub fn final_dequeue(&self) -> Option<Op> {
        (self.name == WorkloadName::Queue).then(|| QueueGenerator::final_dequeue(&self.queue))
    }
}

/// A seeded stream of operations.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: ChaCha8Rng,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Register(RegisterGenerator),
    Set(SetGenerator),
    Bank(BankGenerator),
    ListAppend(ListAppendGenerator),
    Counter(CounterGenerator),
    Queue(QueueGenerator),
}

impl Generator {
    /// The reads every node answers after healing, in order: the set's one read and the
    /// bank's read of every account; a read of every register, counter or list key handed
    /// out so far (retired ones too, which no client touches again, so that a write lost
    /// on one is seen); nothing for the queue, which is drained instead.
    pub fn final_reads(&self) -> Vec<Op> {
        match &self.kind {
            Kind::Set(g) => vec![g.final_read()],
            Kind::Bank(g) => vec![g.final_read()],
            Kind::Register(g) => g.final_reads(),
            Kind::Counter(g) => g.final_reads(),
            Kind::ListAppend(g) => g.final_reads(),
            Kind::Queue(_) => Vec::new(),
        }
    }

    pub fn next_op(&mut self) -> Op {
        match &mut self.kind {
            Kind::Register(g) => g.next_op(&mut self.rng),
            Kind::Set(g) => g.next_op(),
            Kind::Bank(g) => g.next_op(&mut self.rng),
            Kind::ListAppend(g) => g.next_op(&mut self.rng),
            Kind::Counter(g) => g.next_op(&mut self.rng),
            Kind::Queue(g) => g.next_op(&mut self.rng),
        }
    }
}

impl Iterator for Generator {
    type Item = Op;

    fn next(&mut self) -> Option<Op> {
        Some(self.next_op())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_operations() {
        for name in WorkloadName::ALL {
            let w = Workload::new(name);
            let a: Vec<Op> = w.generator(42).take(200).collect();
            let b: Vec<Op> = w.generator(42).take(200).collect();
            assert_eq!(a, b, "{name}");
        }
        let w = Workload::new(WorkloadName::Register);
        let a: Vec<Op> = w.generator(1).take(50).collect();
        let b: Vec<Op> = w.generator(2).take(50).collect();
        assert_ne!(a, b, "different seeds differ");
    }

    #[test]
    fn register_and_counter_runs_end_reading_every_key_they_ever_touched() {
        for name in [WorkloadName::Register, WorkloadName::Counter] {
            let mut generator = Workload::new(name).generator(3);
            let touched: std::collections::BTreeSet<String> =
                (0..2000).map(|_| generator.next_op().key().unwrap().to_string()).collect();
            let reads = generator.final_reads();
            assert!(reads.iter().all(|op| op.f().starts_with("read")), "{name}: {reads:?}");
            let read: std::collections::BTreeSet<String> =
                reads.iter().map(|op| op.key().unwrap().to_string()).collect();
            assert_eq!(read.len(), reads.len(), "{name}: each key once");
            assert_eq!(read, touched, "{name}: retired keys included");
            assert!(touched.len() > 12, "{name}: keys were retired: {}", touched.len());
        }
    }

    #[test]
    fn names_parse_and_each_workload_names_its_model_and_checkers() {
        assert_eq!("bank".parse::<WorkloadName>(), Ok(WorkloadName::Bank));
        assert!("fifo"
            .parse::<WorkloadName>()
            .unwrap_err()
            .contains("known: register, set, bank, list-append, counter, queue"));
        assert_eq!("list-append".parse::<WorkloadName>(), Ok(WorkloadName::ListAppend));
        assert_eq!(serde_json::to_value(WorkloadName::ListAppend).unwrap(), "list-append");
        let list_append = Workload::new(WorkloadName::ListAppend);
        assert_eq!(list_append.model(), "list-append");
        assert_eq!(list_append.checkers()[0], CheckName::Isolation);
        assert!(!list_append.checkers().contains(&CheckName::Linearizable));
        let set = Workload::new(WorkloadName::Set);
        assert_eq!(set.model(), "set");
        assert_eq!(set.checkers()[0], CheckName::LostWrites);
        let mut set_ops = set.generator(1);
        set_ops.next_op();
        assert_eq!(set_ops.final_reads(), vec![Op::ReadSet { key: "s".into() }]);
        assert!(Workload::new(WorkloadName::Bank).setup().is_some());
        assert_eq!(Workload::new(WorkloadName::Register).model(), "cas-register");
        let bank = Workload::new(WorkloadName::Bank).generator(1).final_reads();
        assert!(matches!(&bank[..], [Op::ReadAccounts { accounts }] if accounts.len() == 5), "{bank:?}");
        assert!(Workload::new(WorkloadName::Queue).generator(1).final_reads().is_empty());
        let counter = Workload::new(WorkloadName::Counter);
        assert_eq!((counter.model(), counter.checkers()[0]), ("counter", CheckName::Linearizable));
        assert_eq!("counter".parse::<WorkloadName>(), Ok(WorkloadName::Counter));
        let queue = Workload::new(WorkloadName::Queue);
        assert_eq!((queue.model(), queue.checkers()[0]), ("total-queue", CheckName::Queue));
        assert_eq!(queue.final_dequeue(), Some(Op::Dequeue { key: "q".into() }));
        assert_eq!(Workload::new(WorkloadName::Set).final_dequeue(), None);
    }
}
