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

/// The search's result and how much work it did.
#[derive(Debug)]
pub(crate) struct SearchResult {
    pub(crate) outcome: Outcome,
    /// Distinct (linearized set, state) configurations explored.
    pub(crate) configurations: u64,
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
}

/// Search the ops (sorted by call) for a linearization under `machine`'s model.
pub(crate) fn search<M: Machine>(machine: &mut M, ops: &[Interval], budget: &Budget) -> SearchResult {
    let n = ops.len();
    assert!(n < (RETURN as usize), "a partition holds fewer than 2^31 ops");
    debug_assert!(ops.windows(2).all(|w| w[0].call < w[1].call), "ops are sorted by call");

    // Completed ops get dense indices for the bitset; unknown ones their own, and a list
    // of their own, so that they neither lengthen every walk from the front nor count as
    // deadlines.
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
    drop(order);
    let mut next: Vec<u32> = (1..=end + 1).collect();
    let mut prev: Vec<u32> = (0..=end).map(|i| i.wrapping_sub(1)).collect();
    next[end as usize] = NONE;

    // The list of unknown ops not yet linearized: node u + 1 for unknown op u, 0 and
    // `unknown_end` as sentinels.
    let unknown_end = unknown as u32 + 1;
    let mut unext: Vec<u32> = (1..=unknown_end + 1).collect();
    let mut uprev: Vec<u32> = (0..=unknown_end).map(|i| i.wrapping_sub(1)).collect();

    let zobrist: Vec<u64> = (0..known as u64).map(mix64).collect();
    let mut bits = vec![0u64; known.div_ceil(64)];
    let mut unknown_bits = vec![0u64; unknown.div_ceil(64)];
    let mut set_hash = 0u64;
    let mut top = 0u32;
    let mut state = machine.initial();
    let mut stack: Vec<Frame> = Vec::new();
    let mut memo = Memo::default();

    // The longest prefix so far, and how much of it the stack still agrees with.
    let mut best: Vec<u32> = Vec::new();
    let mut agree = 0usize;
    let mut failing: Option<u32> = None;

    let mut reported = 0u64;
    let mut steps = 0u64;
    // Each configuration's choices are tried in two passes: first the completed ops whose
    // calls come before the first pending return (walking the main list from `entry`),
    // then, only if none of those leads anywhere, the unknown ops called before that
    // return (walking their list from `uentry`, up to position `due`).
    let mut entry = next[HEAD as usize];
    let mut in_unknown = false;
    let mut uentry = 0u32;
    let mut due = 0u64;

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
        steps += 1;
        if steps % CHECK_EVERY == 0 {
            let mine = memo.bytes() + machine.heap_bytes() as u64 + (best.capacity() * 4) as u64;
            if let Err(stop) = budget.check(&mut reported, mine, memo.growth_bytes()) {
                break Outcome::Stopped(stop);
            }
        }
        // Choose: the next candidate op, or None when this configuration is exhausted.
        let candidate = if !in_unknown {
            if entry == end {
                break Outcome::Linearizable;
            }
            let t = tag[entry as usize];
            if t & RETURN == 0 {
                Some(t)
            } else {
                if failing.is_none() && agree == stack.len() && stack.len() == best.len() {
                    failing = Some(t & !RETURN);
                }
                in_unknown = true;
                due = position[entry as usize];
                uentry = unext[0];
                continue;
            }
        } else if uentry != unknown_end && ops[unknown_ops[uentry as usize - 1] as usize].call < due {
            Some(unknown_ops[uentry as usize - 1])
        } else {
            None
        };

        if let Some(op) = candidate {
            let Some(after) = machine.step(state, op) else {
                if in_unknown {
                    uentry = unext[uentry as usize];
                } else {
                    entry = next[entry as usize];
                }
                continue;
            };
            if in_unknown {
                // Right after another unknown op u: if this op, applied instead of u,
                // reaches the same state, then linearizing it after u is dominated by
                // linearizing it alone, which this configuration's parent tries too
                // (a write that overwrites a crashed write). Skip it.
                if let Some(last) = stack.last() {
                    if ops[last.op as usize].ret.is_none() && machine.step(last.state, op) == Some(after) {
                        uentry = unext[uentry as usize];
                        continue;
                    }
                }
            }
            let class = class_index[op as usize];
            // Tentatively linearize: lift, then ask the memo about the new configuration.
            let (new_hash, new_top) = if in_unknown {
                lift(&mut unext, &mut uprev, uentry);
                unknown_bits[class as usize / 64] |= 1u64 << (class % 64);
                (set_hash, top)
            } else {
                lift(&mut next, &mut prev, entry);
                lift(&mut next, &mut prev, ret_node[op as usize]);
                bits[class as usize / 64] |= 1u64 << (class % 64);
                (set_hash ^ zobrist[class as usize], top.max(class + 1))
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
                if agree == depth && best.len() > depth && best[depth] == op {
                    agree = depth + 1;
                }
                stack.push(Frame { op, state, top, due: if in_unknown { due } else { 0 } });
                state = after;
                set_hash = new_hash;
                top = new_top;
                if stack.len() > best.len() {
                    best.truncate(agree);
                    best.extend(stack[agree..].iter().map(|f| f.op));
                    agree = stack.len();
                    failing = None;
                }
                in_unknown = false;
                entry = next[HEAD as usize];
            } else if in_unknown {
                unknown_bits[class as usize / 64] &= !(1u64 << (class % 64));
                unlift(&mut unext, &mut uprev, uentry);
                uentry = unext[uentry as usize];
            } else {
                bits[class as usize / 64] &= !(1u64 << (class % 64));
                unlift(&mut next, &mut prev, ret_node[op as usize]);
                unlift(&mut next, &mut prev, entry);
                entry = next[entry as usize];
            }
            continue;
        }

        // This configuration is exhausted: undo the last choice.
        let Some(frame) = stack.pop() else {
            let stuck = failing.unwrap_or_else(|| tag[entry as usize] & !RETURN);
            break Outcome::NotLinearizable { prefix: best.clone(), failing: stuck };
        };
        agree = agree.min(stack.len());
        state = frame.state;
        top = frame.top;
        let class = class_index[frame.op as usize];
        if ops[frame.op as usize].ret.is_none() {
            unknown_bits[class as usize / 64] &= !(1u64 << (class % 64));
            let node = class + 1;
            unlift(&mut unext, &mut uprev, node);
            in_unknown = true;
            due = frame.due;
            uentry = unext[node as usize];
        } else {
            set_hash ^= zobrist[class as usize];
            bits[class as usize / 64] &= !(1u64 << (class % 64));
            let call = call_node[frame.op as usize];
            unlift(&mut next, &mut prev, ret_node[frame.op as usize]);
            unlift(&mut next, &mut prev, call);
            in_unknown = false;
            entry = next[call as usize];
        }
    };
    budget.release(reported);
    SearchResult { outcome, configurations: memo.len() as u64 }
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
        search(&mut machine, &intervals, &Budget::new(Instant::now(), None, None)).outcome
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
}
