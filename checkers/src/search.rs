//! Linearizability of one object's history: Wing & Gong's search with Lowe's
//! just-in-time linearization and memo.
//!
//! The history is a list of call and return entries in real-time order. The search walks
//! it from the front. At a call it tries to linearize that op now: if the model allows the
//! op in the current state and the resulting (linearized set, state) is new, the op's call
//! and return are lifted out of the list and the walk restarts from the front. Reaching a
//! return means that op's deadline passed unlinearized: undo the last choice (unlift) and
//! try the next call after it. Reaching the end of the list means every completed op was
//! linearized: the history is linearizable. Backtracking past the first choice proves it
//! is not.
//!
//! Ops whose outcome is unknown (`info`, or open when the history ended) have no return
//! entry: their return is at +infinity, after every other, and an op that never has to be
//! linearized need not be. That is Jepsen's reading of `info`: it may have happened, at any
//! time after its call, or not at all.
//!
//! At each configuration the search first tries the ops that completed, and only then the
//! ops of unknown outcome: every choice is still tried, but a crashed op is linearized
//! only when something needs it. Unknown ops live in a list of their own and in the memo
//! count by dominance (see `memo`).
//!
//! The list is index-based (dancing links over `u32` arrays); the linearized set is a
//! bitset with an incremental Zobrist hash; states are interned ids; see `memo`.

use crate::budget::{Budget, Stop};
use crate::hash::mix64;
use crate::memo::Memo;
use crate::model::{Machine, StateId};

/// One op of the object's history, in call order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Interval {
    /// Position of the call in the history's total order.
    pub(crate) call: u64,
    /// Position of the return, `None` for an op whose outcome is unknown.
    pub(crate) ret: Option<u64>,
}

/// What the search concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Linearizable,
    NotLinearizable {
        /// The longest sequence of ops the search could linearize (in linearization order).
        prefix: Vec<u32>,
        /// The op whose return came before it could be linearized after that prefix.
        failing: u32,
    },
    Stopped(Stop),
}

const HEAD: u32 = 0;
const RETURN: u32 = 1 << 31;
const NONE: u32 = u32::MAX;
/// How many steps between looks at the clock, the memory count and the cancel flag.
const CHECK_EVERY: u64 = 1024;

struct Frame {
    op: u32,
    state: StateId,
    /// One more than the highest linearized completed op before this one was pushed.
    top: u32,
    /// For an op of unknown outcome: the position of the return that was due when it
    /// was chosen (the walk over unknown ops stops there).
    due: u64,
    /// The configuration's guard before this op was pushed (see `Search::guard`).
    guard: u32,
}

/// Search the ops (sorted by call) for a linearization under `machine`'s model, to the end.
#[cfg(test)]
pub(crate) fn search<M: Machine>(machine: &mut M, ops: &[Interval], budget: &Budget) -> Outcome {
    let mut search = Search::new(ops, machine.initial(), Memo::default());
    loop {
        if let Some(outcome) = search.run(machine, budget, u64::MAX) {
            return outcome;
        }
    }
}

/// One object's search, resumable: [`Search::run`] goes on for a number of steps and
/// returns the outcome once there is one, so a scheduler can share threads between the
/// searches of many objects and none of them can hold a thread forever.
#[derive(Default)]
pub(crate) struct Search {
    ops: Vec<Interval>,
    /// Per op: its index among the completed ops (bitset position) or the unknown ones.
    class_index: Vec<u32>,
    /// Number of completed ops.
    known: usize,
    unknown_ops: Vec<u32>,
    /// The main list: per node, the op (with `RETURN` for a return entry) and its position.
    tag: Vec<u32>,
    position: Vec<u64>,
    call_node: Vec<u32>,
    ret_node: Vec<u32>,
    next: Vec<u32>,
    prev: Vec<u32>,
    end: u32,
    /// The list of unknown ops not yet linearized: node u + 1 for unknown op u, 0 and
    /// `unknown_end` as sentinels.
    unext: Vec<u32>,
    uprev: Vec<u32>,
    unknown_end: u32,
    zobrist: Vec<u64>,
    bits: Vec<u64>,
    unknown_bits: Vec<u64>,
    set_hash: u64,
    top: u32,
    state: StateId,
    stack: Vec<Frame>,
    memo: Memo,
    /// The longest prefix so far, and how much of it the stack still agrees with.
    best: Vec<u32>,
    agree: usize,
    failing: Option<u32>,
    /// Bytes last reported to the budget.
    reported: u64,
    steps: u64,
    // Each configuration's choices are tried in two passes: first the completed ops whose
    // calls come before the first pending return (walking the main list from `entry`),
    // then, only if none of those leads anywhere, the unknown ops called before that
    // return (walking their list from `uentry`, up to position `due`).
    entry: u32,
    in_unknown: bool,
    uentry: u32,
    due: u64,
    /// Whether the machine prunes with `can_reach`: it says so, and no op of unknown
    /// outcome resets (such an op could take effect before any deadline). Decided at the
    /// first run.
    prunes: Option<bool>,
    /// In the current configuration, the first pending return of an op that guards (a kv
    /// get), as a node, if no op called before that return and not yet linearized resets;
    /// `NONE` otherwise. Only those ops can be linearized before the guarding op (it is
    /// pending, so the walk never passes its return), so a candidate whose state cannot
    /// reach it (by `Machine::can_reach`) leads nowhere and is pruned.
    guard: u32,
}

impl Search {
    /// A search of `ops` (sorted by call) from `initial`, recording configurations in
    /// `memo` (which must be empty; a cleared one keeps its room).
    pub(crate) fn new(ops: &[Interval], initial: StateId, memo: Memo) -> Self {
        let n = ops.len();
        assert!(n < (RETURN as usize), "a partition holds fewer than 2^31 ops");
        debug_assert!(ops.windows(2).all(|w| w[0].call < w[1].call), "ops are sorted by call");
        debug_assert_eq!(memo.len(), 0, "a search starts from an empty memo");

        // Completed ops get dense indices for the bitset; unknown ones their own, and a
        // list of their own, so that they neither lengthen every walk from the front nor
        // count as deadlines.
        let mut class_index = vec![0u32; n];
        let mut known_ops: Vec<u32> = Vec::new();
        let mut unknown_ops: Vec<u32> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if op.ret.is_some() {
                class_index[i] = known_ops.len() as u32;
                known_ops.push(i as u32);
            } else {
                class_index[i] = unknown_ops.len() as u32;
                unknown_ops.push(i as u32);
            }
        }
        let known = known_ops.len();
        let unknown = unknown_ops.len();

        // The main list: HEAD, calls and returns of completed ops in real-time order, END.
        let mut order: Vec<(u64, u32)> = Vec::with_capacity(2 * known);
        for &i in &known_ops {
            let op = ops[i as usize];
            order.push((op.call, i));
            if let Some(ret) = op.ret {
                debug_assert!(ret > op.call);
                order.push((ret, i | RETURN));
            }
        }
        order.sort_unstable_by_key(|&(position, _)| position);
        let end = order.len() as u32 + 1;
        let mut tag = Vec::with_capacity(order.len() + 2);
        let mut position = Vec::with_capacity(order.len() + 2);
        tag.push(NONE);
        position.push(0);
        let mut call_node = vec![NONE; n];
        let mut ret_node = vec![NONE; n];
        for (node, &(at, t)) in order.iter().enumerate() {
            let node = node as u32 + 1;
            if t & RETURN == 0 {
                call_node[t as usize] = node;
            } else {
                ret_node[(t & !RETURN) as usize] = node;
            }
            tag.push(t);
            position.push(at);
        }
        tag.push(NONE);
        position.push(u64::MAX);
        let mut next: Vec<u32> = (1..=end + 1).collect();
        let prev: Vec<u32> = (0..=end).map(|i| i.wrapping_sub(1)).collect();
        next[end as usize] = NONE;

        let unknown_end = unknown as u32 + 1;
        let unext: Vec<u32> = (1..=unknown_end + 1).collect();
        let uprev: Vec<u32> = (0..=unknown_end).map(|i| i.wrapping_sub(1)).collect();

        let entry = next[HEAD as usize];
        Search {
            ops: ops.to_vec(),
            class_index,
            known,
            unknown_ops,
            tag,
            position,
            call_node,
            ret_node,
            next,
            prev,
            end,
            unext,
            uprev,
            unknown_end,
            zobrist: (0..known as u64).map(mix64).collect(),
            bits: vec![0u64; known.div_ceil(64)],
            unknown_bits: vec![0u64; unknown.div_ceil(64)],
            set_hash: 0,
            top: 0,
            state: initial,
            stack: Vec::new(),
            memo,
            best: Vec::new(),
            agree: 0,
            failing: None,
            reported: 0,
            steps: 0,
            entry,
            in_unknown: false,
            uentry: 0,
            due: 0,
            prunes: None,
            guard: NONE,
        }
    }

    /// Distinct (linearized set, state) configurations explored so far.
    pub(crate) fn configurations(&self) -> u64 {
        self.memo.len() as u64
    }

    /// The memo, for the next search to reuse its room.
    pub(crate) fn into_memo(self) -> Memo {
        self.memo
    }

    /// Goes on with the search for about `max_steps` steps (at least one look at the
    /// budget every `CHECK_EVERY`); `None` if it has not finished. Once it returns an
    /// outcome it must not be run again. On any outcome, the bytes this search reported
    /// to the budget are released.
    pub(crate) fn run<M: Machine>(
        &mut self,
        machine: &mut M,
        budget: &Budget,
        max_steps: u64,
    ) -> Option<Outcome> {
        let outcome = self.walk(machine, budget, max_steps)?;
        budget.release(self.reported);
        self.reported = 0;
        Some(outcome)
    }

    fn walk<M: Machine>(&mut self, machine: &mut M, budget: &Budget, max_steps: u64) -> Option<Outcome> {
        // The fields become plain locals for the walk (and go back at the end), so that
        // the compiler keeps them in registers: through `&mut self` every call out of the
        // loop could, as far as it knows, change them.
        let Search {
            ops,
            class_index,
            known,
            unknown_ops,
            tag,
            position,
            call_node,
            ret_node,
            mut next,
            mut prev,
            end,
            mut unext,
            mut uprev,
            unknown_end,
            zobrist,
            mut bits,
            mut unknown_bits,
            set_hash: mut set_hash_,
            top: mut top_,
            state: mut state_,
            mut stack,
            mut memo,
            mut best,
            agree: mut agree_,
            failing: mut failing_,
            mut reported,
            steps: mut steps_,
            entry: mut entry_,
            in_unknown: mut in_unknown_,
            uentry: mut uentry_,
            due: mut due_,
            prunes,
            guard: mut guard_,
        } = std::mem::take(self);
        let prunes = prunes.unwrap_or_else(|| M::PRUNES && unknown_ops.iter().all(|&op| !machine.resets(op)));
        // The guard of the configuration the list now describes.
        let guard_of = |machine: &M, next: &[u32]| -> u32 {
            if !M::PRUNES || !prunes {
                return NONE;
            }
            let mut at = next[HEAD as usize];
            while at != end {
                let t = tag[at as usize];
                if t & RETURN == 0 {
                    if machine.resets(t) {
                        return NONE;
                    }
                } else if machine.guards(t & !RETURN) {
                    return at;
                }
                at = next[at as usize];
            }
            NONE
        };
        if steps_ == 0 {
            guard_ = guard_of(machine, &next);
        }
        let stop_at = steps_.saturating_add(max_steps);

        let lift = |next: &mut [u32], prev: &mut [u32], node: u32| {
            let (p, q) = (prev[node as usize], next[node as usize]);
            next[p as usize] = q;
            prev[q as usize] = p;
        };
        let unlift = |next: &mut [u32], prev: &mut [u32], node: u32| {
            let (p, q) = (prev[node as usize], next[node as usize]);
            next[p as usize] = node;
            prev[q as usize] = node;
        };

        let outcome = loop {
            steps_ += 1;
            if steps_.is_multiple_of(CHECK_EVERY) {
                let mine = memo.bytes() + machine.heap_bytes() as u64 + (best.capacity() * 4) as u64;
                if let Err(stop) = budget.check(&mut reported, mine, memo.growth_bytes()) {
                    break Some(Outcome::Stopped(stop));
                }
                if steps_ >= stop_at {
                    break None;
                }
            }
            // Choose: the next candidate op, or None when this configuration is exhausted.
            let candidate = if !in_unknown_ {
                if entry_ == end {
                    break Some(Outcome::Linearizable);
                }
                let t = tag[entry_ as usize];
                if t & RETURN == 0 {
                    Some(t)
                } else {
                    if failing_.is_none() && agree_ == stack.len() && stack.len() == best.len() {
                        failing_ = Some(t & !RETURN);
                    }
                    in_unknown_ = true;
                    due_ = position[entry_ as usize];
                    uentry_ = unext[0];
                    continue;
                }
            } else if uentry_ != unknown_end && ops[unknown_ops[uentry_ as usize - 1] as usize].call < due_ {
                Some(unknown_ops[uentry_ as usize - 1])
            } else {
                None
            };

            if let Some(op) = candidate {
                let Some(after) = machine.step(state_, op) else {
                    if in_unknown_ {
                        uentry_ = unext[uentry_ as usize];
                    } else {
                        entry_ = next[entry_ as usize];
                    }
                    continue;
                };
                if in_unknown_ {
                    // Right after another unknown op u: if this op, applied instead of u,
                    // reaches the same state, then linearizing it after u is dominated by
                    // linearizing it alone, which this configuration's parent tries too
                    // (a write that overwrites a crashed write). Skip it.
                    if let Some(last) = stack.last() {
                        if ops[last.op as usize].ret.is_none() && machine.step(last.state, op) == Some(after)
                        {
                            uentry_ = unext[uentry_ as usize];
                            continue;
                        }
                    }
                }
                if M::PRUNES && guard_ != NONE {
                    let due_op = tag[guard_ as usize] & !RETURN;
                    if due_op != op && !machine.can_reach(after, due_op) {
                        // The stack plus this op is still a linearizable prefix, after
                        // which the guarding op cannot take effect: as good a
                        // counterexample as one the search would have walked into.
                        if stack.len() + 1 > best.len() {
                            best.truncate(agree_);
                            best.extend(stack[agree_..].iter().map(|f| f.op));
                            best.push(op);
                            agree_ = stack.len();
                            failing_ = Some(due_op);
                        }
                        if in_unknown_ {
                            uentry_ = unext[uentry_ as usize];
                        } else {
                            entry_ = next[entry_ as usize];
                        }
                        continue;
                    }
                }
                let class = class_index[op as usize];
                // Tentatively linearize: lift, then ask the memo about the new configuration.
                let (new_hash, new_top) = if in_unknown_ {
                    lift(&mut unext, &mut uprev, uentry_);
                    unknown_bits[class as usize / 64] |= 1u64 << (class % 64);
                    (set_hash_, top_)
                } else {
                    lift(&mut next, &mut prev, entry_);
                    lift(&mut next, &mut prev, ret_node[op as usize]);
                    bits[class as usize / 64] |= 1u64 << (class % 64);
                    (set_hash_ ^ zobrist[class as usize], top_.max(class + 1))
                };
                let first = next[HEAD as usize];
                let lowest =
                    if first == end { known } else { class_index[tag[first as usize] as usize] as usize };
                let first_word = lowest / 64;
                let words: &[u64] = if new_top > 0 && first_word <= (new_top as usize - 1) / 64 {
                    &bits[first_word..=(new_top as usize - 1) / 64]
                } else {
                    &[]
                };
                if memo.insert(Memo::hash(new_hash, after), after, first_word as u32, words, &unknown_bits) {
                    let depth = stack.len();
                    if agree_ == depth && best.len() > depth && best[depth] == op {
                        agree_ = depth + 1;
                    }
                    stack.push(Frame {
                        op,
                        state: state_,
                        top: top_,
                        due: if in_unknown_ { due_ } else { 0 },
                        guard: guard_,
                    });
                    state_ = after;
                    set_hash_ = new_hash;
                    top_ = new_top;
                    if stack.len() > best.len() {
                        best.truncate(agree_);
                        best.extend(stack[agree_..].iter().map(|f| f.op));
                        agree_ = stack.len();
                        failing_ = None;
                    }
                    in_unknown_ = false;
                    entry_ = next[HEAD as usize];
                    guard_ = guard_of(machine, &next);
                } else if in_unknown_ {
                    unknown_bits[class as usize / 64] &= !(1u64 << (class % 64));
                    unlift(&mut unext, &mut uprev, uentry_);
                    uentry_ = unext[uentry_ as usize];
                } else {
                    bits[class as usize / 64] &= !(1u64 << (class % 64));
                    unlift(&mut next, &mut prev, ret_node[op as usize]);
                    unlift(&mut next, &mut prev, entry_);
                    entry_ = next[entry_ as usize];
                }
                continue;
            }

            // This configuration is exhausted: undo the last choice.
            let Some(frame) = stack.pop() else {
                let stuck = failing_.unwrap_or_else(|| tag[entry_ as usize] & !RETURN);
                break Some(Outcome::NotLinearizable { prefix: best.clone(), failing: stuck });
            };
            agree_ = agree_.min(stack.len());
            state_ = frame.state;
            top_ = frame.top;
            guard_ = frame.guard;
            let class = class_index[frame.op as usize];
            if ops[frame.op as usize].ret.is_none() {
                unknown_bits[class as usize / 64] &= !(1u64 << (class % 64));
                let node = class + 1;
                unlift(&mut unext, &mut uprev, node);
                in_unknown_ = true;
                due_ = frame.due;
                uentry_ = unext[node as usize];
            } else {
                set_hash_ ^= zobrist[class as usize];
                bits[class as usize / 64] &= !(1u64 << (class % 64));
                let call = call_node[frame.op as usize];
                unlift(&mut next, &mut prev, ret_node[frame.op as usize]);
                unlift(&mut next, &mut prev, call);
                in_unknown_ = false;
                entry_ = next[call as usize];
            }
        };
        *self = Search {
            ops,
            class_index,
            known,
            unknown_ops,
            tag,
            position,
            call_node,
            ret_node,
            next,
            prev,
            end,
            unext,
            uprev,
            unknown_end,
            zobrist,
            bits,
            unknown_bits,
            set_hash: set_hash_,
            top: top_,
            state: state_,
            stack,
            memo,
            best,
            agree: agree_,
            failing: failing_,
            reported,
            steps: steps_,
            entry: entry_,
            in_unknown: in_unknown_,
            uentry: uentry_,
            due: due_,
            prunes: Some(prunes),
            guard: guard_,
        };
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::register::{RegisterModel, RegisterOp};
    use crate::model::Model;
    use serde_json::{json, Value};
    use std::time::Instant;

    /// Ops as (call, return, op) with positions in one total order.
    fn run(ops: &[(u64, Option<u64>, RegisterOp)]) -> Outcome {
        let model = RegisterModel::new(None, true);
        let typed: Vec<&RegisterOp> = ops.iter().map(|(_, _, op)| op).collect();
        let intervals: Vec<Interval> = ops.iter().map(|&(call, ret, _)| Interval { call, ret }).collect();
        let mut machine = model.machine(&typed);
        search(&mut machine, &intervals, &Budget::new(Instant::now(), None, None))
    }

    use RegisterOp::*;

    #[test]
    fn concurrent_ops_may_take_effect_in_either_order() {
        // write 1 || read 1 then read nil overlapping both: fine in one order.
        let ops = [(0, Some(3), Write(json!(1))), (1, Some(2), Read(json!(1))), (4, Some(5), Read(json!(1)))];
        assert_eq!(run(&ops), Outcome::Linearizable);
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_caught() {
        let ops = [(0, Some(1), Write(json!(1))), (2, Some(3), Read(Value::Null))];
        assert_eq!(run(&ops), Outcome::NotLinearizable { prefix: vec![0], failing: 1 });
    }

    #[test]
    fn an_unknown_op_may_happen_late_or_never() {
        // A crashed write of 2 explains a later read of 2; a crashed cas never has to happen.
        let ops = [
            (0, None, Write(json!(2))),
            (1, None, Cas(json!(7), json!(8))),
            (2, Some(3), Read(Value::Null)),
            (4, Some(5), Read(json!(2))),
        ];
        assert_eq!(run(&ops), Outcome::Linearizable);
    }

    #[test]
    fn the_longest_prefix_and_failing_op_are_reported() {
        let ops = [
            (0, Some(1), Write(json!(1))),
            (2, Some(3), Write(json!(2))),
            (4, Some(5), Read(json!(2))),
            (6, Some(7), Read(json!(1))),
        ];
        assert_eq!(run(&ops), Outcome::NotLinearizable { prefix: vec![0, 1, 2], failing: 3 });
    }

    #[test]
    fn a_search_taken_in_slices_ends_as_one_taken_at_once() {
        use crate::gen::{generate, GenOptions};
        use crate::history::History;
        use crate::op_ref::{op_refs, OutcomeRef};
        use crate::options::ModelKind;
        for (seed, violate) in [(1, true), (2, false), (3, true)] {
            let options =
                GenOptions { ops: 3000, keys: 1, concurrency: 8, seed, model: ModelKind::Register, violate };
            let history = History::from_events(generate(&options)).unwrap();
            let model = RegisterModel::new(None, false);
            let mut typed = Vec::new();
            let mut intervals = Vec::new();
            for op in op_refs(&history) {
                let Some(t) = model.parse(&op).unwrap() else { continue };
                let ret = match op.outcome {
                    OutcomeRef::Ok(_) => op.complete_index,
                    OutcomeRef::Fail => continue,
                    OutcomeRef::Info => None,
                };
                typed.push(t);
                intervals.push(Interval { call: op.invoke_index, ret });
            }
            let refs: Vec<&RegisterOp> = typed.iter().collect();
            let budget = Budget::new(Instant::now(), None, None);
            let whole = search(&mut model.machine(&refs), &intervals, &budget);

            let mut machine = model.machine(&refs);
            let mut sliced = Search::new(&intervals, machine.initial(), Memo::default());
            let mut slices = 0;
            let outcome = loop {
                slices += 1;
                if let Some(outcome) = sliced.run(&mut machine, &budget, CHECK_EVERY) {
                    break outcome;
                }
            };
            assert!(slices > 3, "seed {seed}: the search took {slices} slices, too few to test resuming");
            assert_eq!(outcome, whole, "seed {seed}");
            assert_eq!(matches!(whole, Outcome::Linearizable), !violate, "seed {seed}");
        }
    }
}
