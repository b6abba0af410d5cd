//! The check: parse once, split into independent objects, search them in parallel, merge.
//!
//! Operations are parsed into the model's typed ops before anything else, so bad input is
//! an error naming its event and never a half-finished search. `fail` ops are dropped (they
//! did not happen), as are reads whose result is unknown (they constrain nothing); a history
//! left with none is linearizable (nothing took effect), one that held none is `unknown`. What is
//! left is split per key (P-compositionality: a history is linearizable iff each object's
//! subhistory is) and the partitions are searched on a pool of scoped threads, largest
//! first, each in slices of steps taken in turn, so that a partition quick to decide is not
//! kept waiting behind a long one. The first partition found not linearizable cancels the
//! others. Verdicts merge
//! worst-first, and a partition that was stopped can only make the answer `Unknown`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use crate::budget::{Budget, Stop};
use crate::counterexample::{self, Counterexample, PREFIX_SHOWN};
use crate::history::{History, Operation};
use crate::lost_writes::{self, SetHistory};
use crate::memo::Memo;
use crate::model::counter::CounterModel;
use crate::model::kv::{KvMapModel, KvModel};
use crate::model::mutex::MutexModel;
use crate::model::register::RegisterModel;
use crate::model::set::{SetModel, SetOp};
use crate::model::{cas_register, Machine, Model};
use crate::op_table::{OpTable, TableOutcome};
use crate::options::{CheckOptions, ModelKind};
use crate::report::{CheckError, CheckReport, CheckStats};
use crate::search::{Interval, Outcome, Search};
use crate::threads::on_threads;
use crate::verdict::Verdict;

/// Checks `history` against the model and limits in `options`.
///
/// `Err` only for input this model cannot judge (an unknown `f`, a value of the wrong
/// shape); a history that is merely wrong is `Ok` with an `Invalid` verdict, and a search
/// that ran out of time or memory is `Ok` with `Unknown`.
pub fn check(history: &History, options: &CheckOptions) -> Result<CheckReport, CheckError> {
    let started = Instant::now();
    let table = OpTable::from_history(history).map_err(|message| CheckError { event: None, message })?;
    check_ops(&table, options, started)
}

/// [`check`] for a history loaded as the table of its operations
/// ([`crate::format::load_path_table`]): the same ops, hence the same report.
pub fn check_table(table: &OpTable, options: &CheckOptions) -> Result<CheckReport, CheckError> {
    let started = Instant::now();
    check_ops(table, options, started)
}

fn check_ops(ops: &OpTable, options: &CheckOptions, started: Instant) -> Result<CheckReport, CheckError> {
    let mut report = judge(ops, options, started)?;
    // The whole call, as its caller would time it: the verdicts merged and the check's
    // typed copies of the ops freed (a few milliseconds on a million ops) included.
    report.stats.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(report)
}

fn judge(ops: &OpTable, options: &CheckOptions, started: Instant) -> Result<CheckReport, CheckError> {
    let initial = options.initial.clone();
    let bad_initial = |message: String| CheckError { event: None, message };
    match options.model {
        ModelKind::Register => linearizability(&RegisterModel::new(initial, false), ops, options, started),
        ModelKind::CasRegister => linearizability(&cas_register::model(initial), ops, options, started),
        ModelKind::Kv if options.partition => {
            linearizability(&KvModel::new(initial).map_err(bad_initial)?, ops, options, started)
        }
        ModelKind::Kv => {
            linearizability(&KvMapModel::new(initial).map_err(bad_initial)?, ops, options, started)
        }
        ModelKind::Mutex => {
            linearizability(&MutexModel::new(initial).map_err(bad_initial)?, ops, options, started)
        }
        ModelKind::Counter => {
            linearizability(&CounterModel::new(initial).map_err(bad_initial)?, ops, options, started)
        }
        ModelKind::Set => {
            let model = SetModel::new(initial).map_err(bad_initial)?;
            let parsed = parse(&model, ops, options)?;
            let mut report = search_all(&model, &parsed, options, started);
            let histories: Vec<SetHistory> = parsed
                .partitions
                .iter()
                .map(|(key, part)| set_history(ops, key, model.initial_elements(), part))
                .collect();
            let lost = lost_writes::analyze(&histories);
            if lost.verdict != Verdict::Valid {
                report.reason = format!("{}; lost writes: {}", report.reason, lost.summary());
            }
            report.verdict = report.verdict.merge(lost.verdict);
            report.lost_writes = Some(lost);
            Ok(report)
        }
    }
}

/// An operation the search will consider, with the model's typed op.
struct Prepared<Op> {
    /// Its position in the table.
    at: u32,
    /// Positions of its call and (for an `ok` op) return in the history's total order.
    call: u64,
    ret: Option<u64>,
    typed: Op,
}

/// One partition's ops, in invocation order: the ops of each stretch of the table that
/// was parsed on its own, stretch after stretch.
struct Part<Op> {
    chunks: Vec<Vec<Prepared<Op>>>,
}

impl<Op> Part<Op> {
    fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    fn iter(&self) -> impl Iterator<Item = &Prepared<Op>> {
        self.chunks.iter().flatten()
    }
}

struct Parsed<'h, Op> {
    table: &'h OpTable,
    /// Per partition key, in key order.
    partitions: Vec<(Option<String>, Part<Op>)>,
    ops: u64,
    /// Operations in the history, the dropped ones included.
    total: u64,
}

/// Below this many ops per thread, the table is parsed on one.
const PARSE_STRETCH: usize = 64 * 1024;

/// Types every op, drops those that constrain nothing, and splits the rest by key. Keys
/// are interned in the table, so an op finds its partition by indexing, not hashing. A
/// large table is parsed in stretches, one per worker thread, whose partitions are then
/// laid end to end; the error reported is the first in the table either way.
fn parse<'h, M: Model>(
    model: &M,
    table: &'h OpTable,
    options: &CheckOptions,
) -> Result<Parsed<'h, M::Op<'h>>, CheckError> {
    let n = table.len();
    let threads = options.worker_threads().min(n / PARSE_STRETCH).max(1);
    let bounds = table.stretches(threads);
    let stretches = on_threads(bounds.len(), |t| parse_stretch(model, table, bounds[t].0, bounds[t].1));
    // Partitions in order of first appearance, by key slot.
    let mut part_of_slot: Vec<u32> = vec![NO_PART; table.names() + 1];
    let mut partitions: Vec<(Option<&'h str>, Part<M::Op<'h>>)> = Vec::new();
    let mut count = 0u64;
    for stretch in stretches {
        let stretch = stretch?;
        count += stretch.count;
        for (slot, key, ops) in stretch.parts {
            if part_of_slot[slot] == NO_PART {
                part_of_slot[slot] = partitions.len() as u32;
                partitions.push((key, Part { chunks: Vec::with_capacity(threads) }));
            }
            partitions[part_of_slot[slot] as usize].1.chunks.push(ops);
        }
    }
    partitions.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let partitions = partitions.into_iter().map(|(key, part)| (key.map(str::to_string), part)).collect();
    Ok(Parsed { table, partitions, ops: count, total: n as u64 })
}

/// In a map from key slot to partition, a slot with no partition yet.
const NO_PART: u32 = u32::MAX;

/// A key slot, its key, and the stretch's ops of it.
type StretchPart<'h, Op> = (usize, Option<&'h str>, Vec<Prepared<Op>>);

/// One stretch of the table, parsed: per key slot (in order of first appearance) the key
/// and the ops kept.
struct Stretch<'h, Op> {
    parts: Vec<StretchPart<'h, Op>>,
    count: u64,
}

fn parse_stretch<'h, M: Model>(
    model: &M,
    table: &'h OpTable,
    from: usize,
    to: usize,
) -> Result<Stretch<'h, M::Op<'h>>, CheckError> {
    let ops = table.ops_in(from, to);
    let partitioned = model.partitioned();
    // Slot 0 is for ops without a key (or every op, when the model is one object).
    let slot_of = |key: Option<u32>| match key {
        Some(key) if partitioned => key as usize + 1,
        _ => 0,
    };
    // Room for every op of the key: growing a thousand vectors as ops arrive copies them
    // over and over, and room never written costs no memory.
    let room = |key: Option<u32>| match key {
        Some(key) if partitioned => table.key_uses(key) as usize,
        _ => ops.len(),
    };
    let mut part_of_slot: Vec<u32> = vec![NO_PART; table.names() + 1];
    let mut parts: Vec<StretchPart<'h, M::Op<'h>>> = Vec::new();
    let mut count = 0u64;
    for (at, op) in (from..).zip(ops) {
        let view = table.view(at, op);
        let typed =
            model.parse(view).map_err(|message| CheckError { event: Some(view.invoke_index), message })?;
        let Some(typed) = typed else { continue };
        let ret = match op.outcome() {
            TableOutcome::Ok(_) => view.complete_index,
            TableOutcome::Fail => continue,
            TableOutcome::Info => None,
        };
        count += 1;
        let slot = slot_of(op.key.get());
        if part_of_slot[slot] == NO_PART {
            part_of_slot[slot] = parts.len() as u32;
            let key = if partitioned { view.key } else { None };
            parts.push((slot, key, Vec::with_capacity(room(op.key.get()).min(ops.len()))));
        }
        let part = &mut parts[part_of_slot[slot] as usize].2;
        part.push(Prepared { at: at as u32, call: view.invoke_index, ret, typed });
    }
    Ok(Stretch { parts, count })
}

fn linearizability<M: Model>(
    model: &M,
    table: &OpTable,
    options: &CheckOptions,
    started: Instant,
) -> Result<CheckReport, CheckError> {
    let parsed = parse(model, table, options)?;
    Ok(search_all(model, &parsed, options, started))
}

/// How one partition's search ended.
enum PartitionResult {
    Linearizable,
    NotLinearizable(Box<Counterexample>),
    Stopped(Stop),
}

fn search_all<'h, M: Model>(
    model: &M,
    parsed: &Parsed<'h, M::Op<'h>>,
    options: &CheckOptions,
    started: Instant,
) -> CheckReport {
    let budget = Budget::new(started, options.time_limit, options.memory_limit_bytes);
    let partitions = &parsed.partitions;
    let mut order: Vec<usize> = (0..partitions.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(partitions[i].1.len()));
    let threads = options.worker_threads().min(partitions.len()).max(1);
    let queue = Mutex::new(Queue { live: VecDeque::new(), started: 0, running: 0, spare: Vec::new() });

    let work = || {
        let mut done: Vec<(usize, PartitionResult, u64)> = Vec::new();
        loop {
            let job = {
                let mut q = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if budget.is_cancelled() {
                    break;
                }
                if q.running < LIVE && q.started < order.len() {
                    let index = order[q.started];
                    q.started += 1;
                    q.running += 1;
                    Err((index, q.spare.pop()))
                } else if let Some(task) = q.live.pop_front() {
                    Ok(task)
                } else {
                    break;
                }
            };
            let mut task = job.unwrap_or_else(|(index, memo)| {
                let part = &partitions[index].1;
                let typed: Vec<&M::Op<'h>> = part.iter().map(|p| &p.typed).collect();
                let machine = model.machine(&typed);
                let memo = memo.map_or_else(|| Memo::with_capacity(4 * typed.len()), Memo::recycle);
                let search = Search::new(&intervals(part), &machine, memo);
                Task { index, machine, search, slice: first_slice(typed.len()) }
            });
            let Some(outcome) = task.search.run(&mut task.machine, &budget, task.slice) else {
                task.slice = (task.slice * 2).min(LAST_SLICE);
                queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).live.push_back(task);
                continue;
            };
            let (key, part) = &partitions[task.index];
            let result = match outcome {
                Outcome::Linearizable => PartitionResult::Linearizable,
                Outcome::Stopped(stop) => PartitionResult::Stopped(stop),
                Outcome::NotLinearizable { prefix, failing } => {
                    budget.cancel();
                    // Owned copies only of the ops a counterexample may show.
                    let owned: Vec<Operation> =
                        part.iter().map(|p| parsed.table.op_ref(p.at as usize).to_operation()).collect();
                    let ops: Vec<&Operation> = owned.iter().collect();
                    let c = explain(&mut task.machine, key, &prefix, failing, &ops);
                    PartitionResult::NotLinearizable(Box::new(c))
                }
            };
            done.push((task.index, result, task.search.configurations()));
            let memo = task.search.into_memo();
            let mut q = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            q.running -= 1;
            q.spare.push(memo);
        }
        done
    };
    let mut finished: Vec<(usize, PartitionResult, u64)> =
        on_threads(threads, |_| work()).into_iter().flatten().collect();
    // Searches left unfinished were cancelled by a violation found elsewhere.
    let queue = queue.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    for task in queue.live {
        let explored = task.search.configurations();
        finished.push((task.index, PartitionResult::Stopped(Stop::Cancelled), explored));
    }

    let mut results: Vec<Option<PartitionResult>> = (0..partitions.len()).map(|_| None).collect();
    let mut stats =
        CheckStats { ops: parsed.ops, partitions: partitions.len() as u64, ..CheckStats::default() };
    for (index, result, explored) in finished {
        stats.states_explored += explored;
        if !matches!(result, PartitionResult::Stopped(_)) {
            stats.partitions_checked += 1;
        }
        results[index] = Some(result);
    }

    let (verdict, reason, counterexample) = merge(results, parsed, model_noun(options));
    CheckReport { model: options.model, verdict, reason, counterexample, lost_writes: None, stats }
}

/// How many partitions' searches may be under way at once. Each gets a slice of steps in
/// turn, so a partition that is quick to decide (a violation found early) is not kept
/// waiting behind one whose search is long, and a long one cannot hold a thread forever;
/// the bound keeps the tables of unfinished searches from piling up.
const LIVE: usize = 64;
/// Steps a search takes before yielding its thread to the next partition: few at first
/// ([`first_slice`]), so that partitions quick to decide finish early, then twice as many
/// each turn (up to `LAST_SLICE`), so that long searches change threads rarely and keep
/// their tables in cache. Partitions started together stay in step for their size, each
/// getting at most about twice the steps per op of any one that finishes.
const FIRST_SLICE: u64 = 8 * 1024;
const LAST_SLICE: u64 = 1 << 20;
/// Steps per op of a partition in its first turn. A search that is not hard needs fewer:
/// on generated histories one per op with many keys, up to thirteen with ten keys and
/// fifty clients. It then finishes in one turn and gives its memo to the next partition,
/// instead of yielding with its tables still held while every other partition starts
/// its own: with 8,192 steps whatever the size, the ten 7,000-op partitions of a
/// 100,000-op history all took three turns, all ten sets of tables were alive at once,
/// and a fresh process spent twice as long checking it, faulting in their pages.
const FIRST_SLICE_PER_OP: u64 = 16;
/// At most this many steps in a first turn (a few milliseconds), however large the
/// partition: a quick violation on another key waits for no more than that per search
/// started ahead of it, even on one thread.
const FIRST_SLICE_MAX: u64 = 1 << 17;

/// The steps of a search's first turn, for a partition of `ops` ops.
fn first_slice(ops: usize) -> u64 {
    (ops as u64).saturating_mul(FIRST_SLICE_PER_OP).clamp(FIRST_SLICE, FIRST_SLICE_MAX)
}

/// A partition's search under way.
struct Task<Mc> {
    index: usize,
    machine: Mc,
    search: Search,
    /// Steps of its next turn.
    slice: u64,
}

/// The partitions the workers share.
struct Queue<Mc> {
    /// Searches waiting for their next slice.
    live: VecDeque<Task<Mc>>,
    /// Partitions started so far, in `order`.
    started: usize,
    /// Searches started and not finished (waiting or being run).
    running: usize,
    /// Memos of finished searches, for the next ones to empty and reuse.
    spare: Vec<Memo>,
}

fn model_noun(options: &CheckOptions) -> &'static str {
    if options.model == ModelKind::Kv && !options.partition {
        "one map-valued object"
    } else {
        "partitions"
    }
}

fn merge<Op>(
    results: Vec<Option<PartitionResult>>,
    parsed: &Parsed<'_, Op>,
    noun: &str,
) -> (Verdict, String, Option<Counterexample>) {
    let total = parsed.partitions.len();
    let mut stopped: Option<Stop> = None;
    let mut checked = 0usize;
    for result in results {
        match result {
            Some(PartitionResult::NotLinearizable(c)) => {
                let at = c.key.as_ref().map(|k| format!(" on key {k:?}")).unwrap_or_default();
                let reason = format!(
                    "not linearizable{at}: {} cannot take effect after {} linearized ops",
                    c.failing_op.render(),
                    c.linearized
                );
                return (Verdict::Invalid, reason, Some(*c));
            }
            Some(PartitionResult::Linearizable) => checked += 1,
            Some(PartitionResult::Stopped(stop)) => {
                if stopped.is_none() || stopped == Some(Stop::Cancelled) {
                    stopped = Some(stop);
                }
            }
            None => stopped = stopped.or(Some(Stop::Cancelled)),
        }
    }
    if let Some(stop) = stopped {
        let reason =
            format!("{} before the search finished ({checked} of {total} {noun} checked)", stop.describe());
        return (Verdict::Unknown, reason, None);
    }
    if parsed.total == 0 {
        return (Verdict::Unknown, "the history holds no operations".into(), None);
    }
    if parsed.ops == 0 {
        // Every op failed (or is a read without a result): the empty linearization explains
        // the history, as Knossos and Porcupine agree. Whether a run that acknowledged
        // nothing tested anything is the stats check's question, not this one's.
        let reason = format!(
            "linearizable: nothing took effect (all {} operations failed or are reads without a result)",
            parsed.total
        );
        return (Verdict::Valid, reason, None);
    }
    let reason = if noun == "partitions" {
        format!(
            "linearizable: {} ops in {total} independent {}",
            parsed.ops,
            if total == 1 { "object" } else { "objects" }
        )
    } else {
        format!("linearizable: {} ops as {noun}", parsed.ops)
    };
    (Verdict::Valid, reason, None)
}

/// A partition's ops as positions in the history's total order.
fn intervals<Op>(part: &Part<Op>) -> Vec<Interval> {
    part.iter().map(|p| Interval { call: p.call, ret: p.ret }).collect()
}

/// Replays the prefix to describe the states it passes through.
fn explain<Mc: Machine>(
    machine: &mut Mc,
    key: &Option<String>,
    prefix: &[u32],
    failing: u32,
    ops: &[&Operation],
) -> Counterexample {
    let mut state = machine.initial();
    let initial_state = machine.describe_state(state);
    let shown_from = prefix.len().saturating_sub(PREFIX_SHOWN);
    let mut shown = Vec::new();
    for (i, &op) in prefix.iter().enumerate() {
        // The search took this exact path, so every step succeeds; stop describing if not.
        let Some(after) = machine.step(state, op) else { break };
        state = after;
        if i >= shown_from {
            shown.push(machine.describe_state(state));
        }
    }
    let final_state = machine.describe_state(state);
    counterexample::build(key.clone(), prefix, failing, initial_state, shown, final_state, ops)
}

/// The lost-write analysis's view of one key's ops.
fn set_history(
    table: &OpTable,
    key: &Option<String>,
    initial: &[serde_json::Value],
    part: &Part<SetOp<'_>>,
) -> SetHistory {
    let mut adds = Vec::new();
    let mut reads = Vec::new();
    for p in part.iter() {
        match &p.typed {
            SetOp::Add(element) => {
                adds.push(lost_writes::Add { element: element.to_value(), acknowledged_at: p.ret })
            }
            SetOp::Read(elements) => reads.push(lost_writes::Read {
                invoked_at: p.call,
                completed_at: table.op_ref(p.at as usize).complete_index.unwrap_or(u64::MAX),
                elements: elements.clone(),
            }),
        }
    }
    SetHistory { key: key.clone(), initial: initial.to_vec(), adds, reads }
}
