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
//! count by dominance (see `memo`). An unknown op whose effect no other op could observe
//! (`Machine::observable`: a crashed write of a value nobody read) is not tried at all:
//! every configuration would otherwise try it as a last resort, each time reaching a new
//! state, and such ops made nine in ten of the configurations of a generated history with
//! many clients on few keys.
//!
//! The walk's data is split by role: `Timeline` (the completed ops' calls and returns,
//! dancing links over `u32` arrays), `Crashed` (the unknown ops, likewise), `Linearized`
//! (the bitsets, with an incremental Zobrist hash), `Cursor` (the configuration and the
//! choice being tried, copied into a local so it stays in registers) and `Longest` (the
//! counterexample so far). `Search::walk` is the loop; each step is an `#[inline]` method
//! of one of them. States are interned ids; see `memo`.

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
/// Marks, in `Linearized::class`, an op of unknown outcome.
const CRASHED: u32 = 1 << 31;
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
    /// The configuration's guard before this op was pushed (see `Cursor::guard`).
    guard: u32,
}

/// Search the ops (sorted by call) for a linearization under `machine`'s model, to the end.
#[cfg(test)]
pub(crate) fn search<M: Machine>(machine: &mut M, ops: &[Interval], budget: &Budget) -> Outcome {
    let mut search = Search::new(ops, machine, Memo::default());
    loop {
        if let Some(outcome) = search.run(machine, budget, u64::MAX) {
            return outcome;
        }
    }
}

/// One object's search, resumable: [`Search::run`] goes on for a number of steps and
/// returns the outcome once there is one, so a scheduler can share threads between the
/// searches of many objects and none of them can hold a thread forever.
pub(crate) struct Search {
    set: Linearized,
    timeline: Timeline,
    crashed: Crashed,
    /// Where the walk stands; copied into a local for the walk, so that it lives in
    /// registers rather than behind `&mut self`.
    at: Cursor,
    stack: Vec<Frame>,
    memo: Memo,
    longest: Longest,
    /// Bytes last reported to the budget.
    reported: u64,
    steps: u64,
    /// Whether the machine prunes with `can_reach`: it says so, and no op of unknown
    /// outcome resets (such an op could take effect before any deadline). Decided at the
    /// first run.
    prunes: Option<bool>,
}

impl Search {
    /// A search of `ops` (sorted by call) from `machine`'s initial state, recording
    /// configurations in `memo` (which must be empty; a cleared one keeps its room).
    pub(crate) fn new<M: Machine>(ops: &[Interval], machine: &M, memo: Memo) -> Self {
        assert!(ops.len() < (RETURN as usize), "a partition holds fewer than 2^31 ops");
        debug_assert!(ops.windows(2).all(|w| w[0].call < w[1].call), "ops are sorted by call");
        debug_assert_eq!(memo.len(), 0, "a search starts from an empty memo");
        let set = Linearized::new(ops, machine);
        let timeline = Timeline::new(ops);
        let crashed = Crashed::new(ops, machine);
        let at = Cursor {
            state: machine.initial(),
            set_hash: 0,
            top: 0,
            entry: timeline.first(),
            in_unknown: false,
            uentry: 0,
            due: 0,
            guard: NONE,
        };
        Search {
            set,
            timeline,
            crashed,
            at,
            stack: Vec::new(),
            memo,
            longest: Longest::default(),
            reported: 0,
            steps: 0,
            prunes: None,
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
        let crashed_ops = self.crashed.ops();
        let prunes = *self
            .prunes
            .get_or_insert_with(|| M::PRUNES && crashed_ops.iter().all(|&op| !machine.resets(op)));
        let Search {
            set,
            timeline,
            crashed,
            at: saved,
            stack,
            memo,
            longest,
            reported,
            steps: saved_steps,
            ..
        } = self;
        let mut at = *saved;
        let mut steps = *saved_steps;
        let guard_of = |machine: &M, timeline: &Timeline| {
            if M::PRUNES && prunes {
                timeline.guard(machine)
            } else {
                NONE
            }
        };
        if steps == 0 {
            at.guard = guard_of(machine, timeline);
        }
        let stop_at = steps.saturating_add(max_steps);

        let outcome = loop {
            steps += 1;
            if steps.is_multiple_of(CHECK_EVERY) {
                let mine = memo.bytes() + machine.heap_bytes() as u64 + longest.bytes();
                if let Err(stop) = budget.check(reported, mine, memo.growth_bytes()) {
                    break Some(Outcome::Stopped(stop));
                }
                if steps >= stop_at {
                    break None;
                }
            }

            // Choose the next candidate op, or backtrack when this configuration is exhausted.
            let op = if !at.in_unknown {
                if at.entry == timeline.end {
                    break Some(Outcome::Linearizable);
                }
                let t = timeline.tag[at.entry as usize];
                if t & RETURN != 0 {
                    // The first pending return: no completed op called after it may come
                    // first, so the second pass tries the unknown ops called before it.
                    longest.due(stack.len(), t & !RETURN);
                    at.in_unknown = true;
                    at.due = timeline.position[at.entry as usize];
                    at.uentry = crashed.first();
                    continue;
                }
                t
            } else if let Some(op) = crashed.called_before(at.uentry, at.due) {
                op
            } else {
                let Some(frame) = stack.pop() else {
                    let stuck = longest.failing.unwrap_or(timeline.tag[at.entry as usize] & !RETURN);
                    break Some(longest.outcome(stuck));
                };
                longest.popped(stack.len());
                at.back(&frame, set, timeline, crashed);
                continue;
            };

            let Some(after) = machine.step(at.state, op) else {
                at.skip(timeline, crashed);
                continue;
            };
            if at.in_unknown {
                // Right after another unknown op u: if this op, applied instead of u,
                // reaches the same state, then linearizing it after u is dominated by
                // linearizing it alone, which this configuration's parent tries too
                // (a write that overwrites a crashed write). Skip it.
                if let Some(last) = stack.last() {
                    if set.is_crashed(last.op) && machine.step(last.state, op) == Some(after) {
                        at.skip(timeline, crashed);
                        continue;
                    }
                }
            }
            if M::PRUNES && at.guard != NONE {
                let due_op = timeline.tag[at.guard as usize] & !RETURN;
                if due_op != op && !machine.can_reach(after, due_op) {
                    // The stack plus this op is still a linearizable prefix, after which
                    // the guarding op cannot take effect: as good a counterexample as one
                    // the search would have walked into.
                    longest.pruned(stack, op, due_op);
                    at.skip(timeline, crashed);
                    continue;
                }
            }

            // Tentatively linearize, then ask the memo about the new configuration.
            let (set_hash, top) = at.lift(op, set, timeline, crashed);
            let lowest = match timeline.first_call() {
                Some(first) => set.index(first) as usize,
                None => set.known,
            };
            let (first_word, words) = set.key(lowest, top);
            if memo.insert(Memo::hash(set_hash, after), after, first_word, words, &set.unknown_bits) {
                stack.push(Frame {
                    op,
                    state: at.state,
                    top: at.top,
                    due: if at.in_unknown { at.due } else { 0 },
                    guard: at.guard,
                });
                longest.pushed(stack);
                at.state = after;
                at.set_hash = set_hash;
                at.top = top;
                at.in_unknown = false;
                at.entry = timeline.first();
                at.guard = guard_of(machine, timeline);
            } else {
                at.unlift(op, set, timeline, crashed);
                at.skip(timeline, crashed);
            }
        };
        *saved = at;
        *saved_steps = steps;
        outcome
    }
}

/// Where the walk stands: the current configuration (state, set hash, top) and the
/// choice being tried in it.
///
/// Each configuration's choices are tried in two passes: first the completed ops whose
/// calls come before the first pending return (walking the timeline from `entry`), then,
/// only if none of those leads anywhere, the unknown ops called before that return
/// (walking their list from `uentry`, up to position `due`).
#[derive(Clone, Copy)]
struct Cursor {
    state: StateId,
    /// The Zobrist hash of the linearized completed ops.
    set_hash: u64,
    /// One more than the highest linearized completed op.
    top: u32,
    entry: u32,
    in_unknown: bool,
    uentry: u32,
    due: u64,
    /// In the current configuration, the first pending return of an op that guards (a kv
    /// get), as a node, if no op called before that return and not yet linearized resets;
    /// `NONE` otherwise. Only those ops can be linearized before the guarding op (it is
    /// pending, so the walk never passes its return), so a candidate whose state cannot
    /// reach it (by `Machine::can_reach`) leads nowhere and is pruned.
    guard: u32,
}

impl Cursor {
    /// Moves on to the next candidate of the current pass.
    #[inline]
    fn skip(&mut self, timeline: &Timeline, crashed: &Crashed) {
        if self.in_unknown {
            self.uentry = crashed.next[self.uentry as usize];
        } else {
            self.entry = timeline.next[self.entry as usize];
        }
    }

    /// Linearizes `op`, the current candidate, in the set and lifts it out of its list;
    /// returns the new set hash and top (the cursor keeps the old ones until the memo
    /// accepts the configuration).
    #[inline]
    fn lift(
        &self,
        op: u32,
        set: &mut Linearized,
        timeline: &mut Timeline,
        crashed: &mut Crashed,
    ) -> (u64, u32) {
        let class = set.index(op);
        if self.in_unknown {
            crashed.lift(self.uentry);
            set.add_unknown(class);
            (self.set_hash, self.top)
        } else {
            timeline.lift(self.entry, op);
            (self.set_hash ^ set.add_known(class), self.top.max(class + 1))
        }
    }

    /// Undoes [`Cursor::lift`] of the current candidate `op`.
    #[inline]
    fn unlift(&self, op: u32, set: &mut Linearized, timeline: &mut Timeline, crashed: &mut Crashed) {
        let class = set.index(op);
        if self.in_unknown {
            set.remove_unknown(class);
            crashed.unlift(self.uentry);
        } else {
            set.remove_known(class);
            timeline.unlift(self.entry, op);
        }
    }

    /// Undoes the choice `frame` recorded, and goes on with the candidate after it.
    #[inline]
    fn back(&mut self, frame: &Frame, set: &mut Linearized, timeline: &mut Timeline, crashed: &mut Crashed) {
        self.state = frame.state;
        self.top = frame.top;
        self.guard = frame.guard;
        let class = set.index(frame.op);
        if set.is_crashed(frame.op) {
            set.remove_unknown(class);
            let node = class + 1;
            crashed.unlift(node);
            self.in_unknown = true;
            self.due = frame.due;
            self.uentry = crashed.next[node as usize];
        } else {
            self.set_hash ^= set.remove_known(class);
            let call = timeline.call_node[frame.op as usize];
            timeline.unlift(call, frame.op);
            self.in_unknown = false;
            self.entry = timeline.next[call as usize];
        }
    }
}

/// Which ops are linearized: a bitset over the completed ops (with an incremental
/// Zobrist hash, so a memo probe does not rehash it) and one over the ops of unknown
/// outcome, which the memo compares by inclusion (see `memo`).
#[derive(Default)]
struct Linearized {
    /// Per op: its bit among the completed ops, or `CRASHED |` its bit among the unknown
    /// ones (`NONE` for an unknown op left out).
    class: Vec<u32>,
    /// Number of completed ops.
    known: usize,
    zobrist: Vec<u64>,
    bits: Vec<u64>,
    unknown_bits: Vec<u64>,
}

impl Linearized {
    /// The empty set over `ops`; the unknown ops `machine` cannot observe get no bit
    /// (the search never tries them), the others are numbered as `Crashed` lists them.
    fn new<M: Machine>(ops: &[Interval], machine: &M) -> Self {
        let (mut known, mut unknown) = (0u32, 0u32);
        let class = ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                if op.ret.is_some() {
                    known += 1;
                    known - 1
                } else if machine.observable(i as u32) {
                    unknown += 1;
                    CRASHED | (unknown - 1)
                } else {
                    NONE
                }
            })
            .collect();
        Linearized {
            class,
            known: known as usize,
            zobrist: (0..known as u64).map(mix64).collect(),
            bits: vec![0u64; (known as usize).div_ceil(64)],
            unknown_bits: vec![0u64; (unknown as usize).div_ceil(64)],
        }
    }

    /// The op's bit in its own class's set.
    #[inline]
    fn index(&self, op: u32) -> u32 {
        self.class[op as usize] & !CRASHED
    }

    #[inline]
    fn is_crashed(&self, op: u32) -> bool {
        self.class[op as usize] & CRASHED != 0
    }

    /// Adds completed op `class`; returns its Zobrist key.
    #[inline]
    fn add_known(&mut self, class: u32) -> u64 {
        self.bits[class as usize / 64] |= 1u64 << (class % 64);
        self.zobrist[class as usize]
    }

    /// Removes completed op `class`; returns its Zobrist key.
    #[inline]
    fn remove_known(&mut self, class: u32) -> u64 {
        self.bits[class as usize / 64] &= !(1u64 << (class % 64));
        self.zobrist[class as usize]
    }

    #[inline]
    fn add_unknown(&mut self, class: u32) {
        self.unknown_bits[class as usize / 64] |= 1u64 << (class % 64);
    }

    #[inline]
    fn remove_unknown(&mut self, class: u32) {
        self.unknown_bits[class as usize / 64] &= !(1u64 << (class % 64));
    }

    /// The completed set as the memo keys it: every op below `lowest` (the first one not
    /// linearized) is in it, so only the words from `lowest`'s to `top`'s are stored.
    #[inline]
    fn key(&self, lowest: usize, top: u32) -> (u32, &[u64]) {
        let first_word = lowest / 64;
        let words: &[u64] = if top > 0 && first_word <= (top as usize - 1) / 64 {
            &self.bits[first_word..=(top as usize - 1) / 64]
        } else {
            &[]
        };
        (first_word as u32, words)
    }
}

/// The calls and returns of the completed ops not yet linearized, in real-time order: a
/// doubly linked list over `u32` arrays (dancing links) from `HEAD` to `end`, out of which
/// a linearized op's call and return are lifted and back into which they drop on undo.
#[derive(Default)]
struct Timeline {
    /// Per node: the op, with `RETURN` for a return entry (`NONE` at the sentinels).
    tag: Vec<u32>,
    /// Per node: its position in the history's total order.
    position: Vec<u64>,
    /// Per op: the nodes of its call and its return.
    call_node: Vec<u32>,
    ret_node: Vec<u32>,
    next: Vec<u32>,
    prev: Vec<u32>,
    end: u32,
}

impl Timeline {
    /// The list of the completed ops among `ops` (ops of unknown outcome have a list of
    /// their own, so that they neither lengthen every walk from the front nor count as
    /// deadlines).
    fn new(ops: &[Interval]) -> Self {
        let n = ops.len();
        // Calls come sorted; only the returns need sorting, then the two are merged.
        let mut returns: Vec<(u64, u32)> = Vec::with_capacity(n);
        for (i, op) in ops.iter().enumerate() {
            if let Some(ret) = op.ret {
                debug_assert!(ret > op.call);
                returns.push((ret, i as u32 | RETURN));
            }
        }
        returns.sort_unstable_by_key(|&(position, _)| position);
        let mut order: Vec<(u64, u32)> = Vec::with_capacity(2 * returns.len());
        let mut pending = returns.iter().peekable();
        for (i, op) in ops.iter().enumerate() {
            if op.ret.is_none() {
                continue;
            }
            while let Some(&&ret) = pending.peek().filter(|r| r.0 < op.call) {
                order.push(ret);
                pending.next();
            }
            order.push((op.call, i as u32));
        }
        order.extend(pending);
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
        Timeline { tag, position, call_node, ret_node, next, prev, end }
    }

    #[inline]
    fn first(&self) -> u32 {
        self.next[HEAD as usize]
    }

    /// The op of the first entry left, which is a call (a return is lifted with its
    /// call), or `None` when every completed op is linearized.
    #[inline]
    fn first_call(&self) -> Option<u32> {
        let first = self.first();
        (first != self.end).then(|| self.tag[first as usize])
    }

    /// Lifts `op`'s call (node `call`) and return out of the list.
    #[inline]
    fn lift(&mut self, call: u32, op: u32) {
        lift(&mut self.next, &mut self.prev, call);
        lift(&mut self.next, &mut self.prev, self.ret_node[op as usize]);
    }

    /// Drops `op`'s return and call (node `call`) back into the list.
    #[inline]
    fn unlift(&mut self, call: u32, op: u32) {
        unlift(&mut self.next, &mut self.prev, self.ret_node[op as usize]);
        unlift(&mut self.next, &mut self.prev, call);
    }

    /// The configuration's guard (see `Cursor::guard`) for a pruning machine.
    fn guard<M: Machine>(&self, machine: &M) -> u32 {
        let mut at = self.first();
        while at != self.end {
            let t = self.tag[at as usize];
            if t & RETURN == 0 {
                if machine.resets(t) {
                    return NONE;
                }
            } else if machine.guards(t & !RETURN) {
                return at;
            }
            at = self.next[at as usize];
        }
        NONE
    }
}

/// The ops of unknown outcome not yet linearized, in call order, with 0 and `end` as
/// sentinels. Node u + 1 is the u-th observable unknown op.
#[derive(Default)]
struct Crashed {
    /// Per node: the op (`NONE` at the sentinels) and its call's position (`u64::MAX` at
    /// `end`, so the walk stops there).
    op: Vec<u32>,
    call: Vec<u64>,
    next: Vec<u32>,
    prev: Vec<u32>,
}

impl Crashed {
    /// The list of the unknown ops among `ops` that `machine` says another op could
    /// observe; the others need never be linearized (see `Machine::observable`).
    fn new<M: Machine>(ops: &[Interval], machine: &M) -> Self {
        let mut op = vec![NONE];
        let mut call = vec![0];
        for (i, interval) in ops.iter().enumerate() {
            if interval.ret.is_none() && machine.observable(i as u32) {
                op.push(i as u32);
                call.push(interval.call);
            }
        }
        op.push(NONE);
        call.push(u64::MAX);
        let end = op.len() as u32 - 1;
        let next: Vec<u32> = (1..=end + 1).collect();
        let prev: Vec<u32> = (0..=end).map(|i| i.wrapping_sub(1)).collect();
        Crashed { op, call, next, prev }
    }

    /// Every op of unknown outcome.
    fn ops(&self) -> &[u32] {
        &self.op[1..self.op.len() - 1]
    }

    #[inline]
    fn first(&self) -> u32 {
        self.next[0]
    }

    /// The op at `node` if it was called before position `due`.
    #[inline]
    fn called_before(&self, node: u32, due: u64) -> Option<u32> {
        (self.call[node as usize] < due).then(|| self.op[node as usize])
    }

    #[inline]
    fn lift(&mut self, node: u32) {
        lift(&mut self.next, &mut self.prev, node);
    }

    #[inline]
    fn unlift(&mut self, node: u32) {
        unlift(&mut self.next, &mut self.prev, node);
    }
}

#[inline]
fn lift(next: &mut [u32], prev: &mut [u32], node: u32) {
    let (p, q) = (prev[node as usize], next[node as usize]);
    next[p as usize] = q;
    prev[q as usize] = p;
}

#[inline]
fn unlift(next: &mut [u32], prev: &mut [u32], node: u32) {
    let (p, q) = (prev[node as usize], next[node as usize]);
    next[p as usize] = node;
    prev[q as usize] = node;
}

/// The longest linearizable prefix found so far, for the counterexample, and how much of
/// it the stack still agrees with (so that it is rewritten only from there).
#[derive(Default)]
struct Longest {
    best: Vec<u32>,
    agree: usize,
    /// The op whose deadline passed right after `best`, once known.
    failing: Option<u32>,
}

impl Longest {
    fn bytes(&self) -> u64 {
        (self.best.capacity() * 4) as u64
    }

    /// At depth `depth`, op `op`'s return came before any candidate led anywhere: if the
    /// stack is the longest prefix, that op is where it fails.
    #[inline]
    fn due(&mut self, depth: usize, op: u32) {
        if self.failing.is_none() && self.agree == depth && depth == self.best.len() {
            self.failing = Some(op);
        }
    }

    /// The stack's top frame was just pushed.
    #[inline]
    fn pushed(&mut self, stack: &[Frame]) {
        let depth = stack.len() - 1;
        if self.agree == depth && self.best.len() > depth && self.best[depth] == stack[depth].op {
            self.agree = depth + 1;
        }
        if stack.len() > self.best.len() {
            self.best.truncate(self.agree);
            self.best.extend(stack[self.agree..].iter().map(|f| f.op));
            self.agree = stack.len();
            self.failing = None;
        }
    }

    /// The stack plus `op` is a linearizable prefix after which `failing` cannot take
    /// effect.
    fn pruned(&mut self, stack: &[Frame], op: u32, failing: u32) {
        if stack.len() + 1 > self.best.len() {
            self.best.truncate(self.agree);
            self.best.extend(stack[self.agree..].iter().map(|f| f.op));
            self.best.push(op);
            self.agree = stack.len();
            self.failing = Some(failing);
        }
    }

    /// A frame was popped, leaving `depth`.
    #[inline]
    fn popped(&mut self, depth: usize) {
        self.agree = self.agree.min(depth);
    }

    fn outcome(&self, failing: u32) -> Outcome {
        Outcome::NotLinearizable { prefix: self.best.clone(), failing }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::register::{RegisterModel, RegisterOp};
    use crate::model::Model;
    use crate::op_ref::ValueRef;
    use serde_json::{json, Value};
    use std::time::Instant;

    /// A register op owning its values.
    enum Op {
        Read(Value),
        Write(Value),
        Cas(Value, Value),
    }

    /// Ops as (call, return, op) with positions in one total order.
    fn run(ops: &[(u64, Option<u64>, Op)]) -> Outcome {
        let model = RegisterModel::new(None, true);
        let typed: Vec<RegisterOp<'_>> = ops
            .iter()
            .map(|(_, _, op)| match op {
                Op::Read(v) => RegisterOp::Read(ValueRef::of(v)),
                Op::Write(v) => RegisterOp::Write(ValueRef::of(v)),
                Op::Cas(from, to) => RegisterOp::Cas(ValueRef::of(from), ValueRef::of(to)),
            })
            .collect();
        let typed: Vec<&RegisterOp<'_>> = typed.iter().collect();
        let intervals: Vec<Interval> = ops.iter().map(|&(call, ret, _)| Interval { call, ret }).collect();
        let mut machine = model.machine(&typed);
        search(&mut machine, &intervals, &Budget::new(Instant::now(), None, None))
    }

    use Op::*;

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
                let Some(t) = model.parse(op).unwrap() else { continue };
                let ret = match op.outcome {
                    OutcomeRef::Ok(_) => op.complete_index,
                    OutcomeRef::Fail => continue,
                    OutcomeRef::Info => None,
                };
                typed.push(t);
                intervals.push(Interval { call: op.invoke_index, ret });
            }
            let refs: Vec<&RegisterOp<'_>> = typed.iter().collect();
            let budget = Budget::new(Instant::now(), None, None);
            let whole = search(&mut model.machine(&refs), &intervals, &budget);

            let mut machine = model.machine(&refs);
            let mut sliced = Search::new(&intervals, &machine, Memo::default());
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
