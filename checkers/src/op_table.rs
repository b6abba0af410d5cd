//! The check's input in compact form: client operations already paired, their `f` and
//! key interned, and nothing else of the events kept.
//!
//! A [`History`] keeps every event as its recorder wrote it (owned strings, JSON values,
//! nemesis events), which is what tools that read events need. The linearizability check
//! needs less: each op's call and return positions, its function, key, argument and
//! result. For a million-op history the owned events cost several hundred megabytes and
//! most of the load time (one allocation per string, a wide struct per event), so the
//! command-line check loads JSON Lines straight into this table
//! ([`crate::format::load_path_table`]) and [`crate::check_table`] checks it; histories in
//! other formats, or JSON Lines the fast reader does not take, become a `History` first and
//! then a table ([`OpTable::from_history`]). Both ways give the same ops, hence the same
//! verdict.

use serde_json::Value;

use crate::hash::FxHashMap;
use crate::history::History;
use crate::op_ref::{op_refs, OpRef, OutcomeRef, ValueRef};

/// Client operations in invocation order, paired as [`History::operations`] pairs them.
#[derive(Debug, Clone, Default)]
pub struct OpTable {
    /// Interned `f` and key names; ops refer to them by position.
    names: Vec<Box<str>>,
    /// What the ops refer to beside names: string text, unusual JSON, large processes.
    side: Side,
    /// The ops in invocation order, in segments laid end to end: a table read in pieces
    /// keeps each piece's ops where its thread wrote them rather than copying them into
    /// one vector. One segment for a table built in one go.
    segments: Vec<Segment>,
    /// Ops in all segments.
    len: usize,
    /// Per name id, how many ops have it as their key (counted as ops are added, so that
    /// the check can size each partition without another pass over the table).
    key_uses: Vec<u32>,
    /// Per op, the times of its invocation and completion; empty when no event has a
    /// time. Kept apart from the ops, which the check reads and times it does not.
    times: Vec<Times>,
    /// Events in the history, nemesis events included.
    events: u64,
}

/// A run of ops and the position of its first in the table.
#[derive(Debug, Clone, Default)]
struct Segment {
    start: usize,
    ops: Vec<TableOp>,
}

/// Which of `segments` (in order, by start) holds the op at position `at`.
fn segment_of(segments: &[Segment], at: usize) -> usize {
    segments.partition_point(|s| s.start <= at).saturating_sub(1)
}

/// An op's invocation and completion times.
type Times = (Option<u64>, Option<u64>);

/// One operation; `f` and `key` are positions in `OpTable::names`. 40 bytes: the ops are
/// most of a loaded table, written once (every page of them faulted in new) and read by
/// the check, so a byte saved here is a megabyte saved on a million-op history. Event
/// positions and processes are 32 bits, and each value is eight bytes of payload whose
/// kind is a byte of `kinds` ([`TableValue`] is the same value spread out for use).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TableOp {
    value: u64,
    result: u64,
    /// The process as [`Side::process_id`] holds it.
    pub(crate) process: u32,
    pub(crate) invoke_index: u32,
    pub(crate) complete_index: MaybeIndex,
    pub(crate) f: u32,
    pub(crate) key: MaybeName,
    /// The value's kind, and the outcome: a result's kind for `ok`, or [`FAIL`] or [`INFO`].
    kinds: [u8; 2],
}

/// Kinds of value whose payload is a position in a table's [`Side`].
const STR: u8 = 4;
const JSON: u8 = 5;

/// Outcome bytes of an op that did not end `ok`.
const FAIL: u8 = 6;
const INFO: u8 = 7;

impl TableOp {
    /// An op invoked at event `invoke_index` and not yet completed (`info` until it is).
    #[inline(always)]
    pub(crate) fn new(invoke_index: u32, process: u32, f: u32, key: MaybeName, value: TableValue) -> TableOp {
        let (kind, value) = value.split();
        TableOp {
            process,
            value,
            result: 0,
            invoke_index,
            complete_index: MaybeIndex::NONE,
            f,
            key,
            kinds: [kind, INFO],
        }
    }

    #[inline(always)]
    pub(crate) fn value(&self) -> TableValue {
        TableValue::join(self.kinds[0], self.value)
    }

    #[inline(always)]
    pub(crate) fn outcome(&self) -> TableOutcome {
        match self.kinds[1] {
            FAIL => TableOutcome::Fail,
            INFO => TableOutcome::Info,
            kind => TableOutcome::Ok(TableValue::join(kind, self.result)),
        }
    }

    #[inline(always)]
    pub(crate) fn set_outcome(&mut self, outcome: TableOutcome) {
        let (kind, result) = match outcome {
            TableOutcome::Ok(value) => value.split(),
            TableOutcome::Fail => (FAIL, 0),
            TableOutcome::Info => (INFO, 0),
        };
        self.kinds[1] = kind;
        self.result = result;
    }

    /// Moves its references `by` on (string text, JSON values, a large process), for a
    /// table whose [`Side`] is appended after another's.
    #[inline(always)]
    pub(crate) fn shift(&mut self, by: Shift) {
        if self.process >= LARGE_PROCESS {
            self.process += by.processes;
        }
        self.value = by.payload(self.kinds[0], self.value);
        self.result = by.payload(self.kinds[1], self.result);
    }
}

/// An event index or none, in the room of one: `u32::MAX`, which no event's index can be
/// (a table takes fewer than [`MAX_EVENTS`] events), stands for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MaybeIndex(u32);

impl MaybeIndex {
    pub(crate) const NONE: MaybeIndex = MaybeIndex(u32::MAX);

    #[inline(always)]
    pub(crate) fn new(index: Option<u32>) -> MaybeIndex {
        MaybeIndex(index.unwrap_or(u32::MAX))
    }

    #[inline(always)]
    pub(crate) fn get(self) -> Option<u32> {
        (self.0 != u32::MAX).then_some(self.0)
    }
}

/// Events a table can hold (so ops too): event positions are 32 bits, `u32::MAX` standing
/// for none, and a large process's position in [`Side::processes`] 31. A history file
/// has at most 4 GiB, so far fewer.
pub(crate) const MAX_EVENTS: u64 = LARGE_PROCESS as u64;

/// A name id or none, in the room of one: `u32::MAX`, which no id reaches (each name
/// takes at least three bytes of a file of at most 4 GiB), stands for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MaybeName(u32);

impl MaybeName {
    #[inline(always)]
    pub(crate) fn new(id: Option<u32>) -> MaybeName {
        MaybeName(id.unwrap_or(u32::MAX))
    }

    #[inline(always)]
    pub(crate) fn get(self) -> Option<u32> {
        (self.0 != u32::MAX).then_some(self.0)
    }
}

/// How an op ended; the value of an `ok` completion is its result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TableOutcome {
    Ok(TableValue),
    Fail,
    Info,
}

/// A value as the table holds it: [`ValueRef`]'s shapes in eight bytes and a kind, a
/// string as a span of the table's string text, anything else a position in its list of
/// JSON values. No allocation for null, integers, pairs of integers or strings, which
/// are nearly all the values a history holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TableValue {
    Null,
    Int(u64),
    Neg(i64),
    Pair(i32, i32),
    Str { at: u32, len: u32 },
    Json(u64),
}

impl TableValue {
    /// Its kind (below [`FAIL`]) and payload.
    #[inline(always)]
    fn split(self) -> (u8, u64) {
        match self {
            TableValue::Null => (0, 0),
            TableValue::Int(u) => (1, u),
            TableValue::Neg(i) => (2, i as u64),
            TableValue::Pair(a, b) => (3, u64::from(a as u32) | u64::from(b as u32) << 32),
            TableValue::Str { at, len } => (STR, u64::from(at) | u64::from(len) << 32),
            TableValue::Json(at) => (JSON, at),
        }
    }

    /// The value [`TableValue::split`] made `(kind, payload)` of.
    #[inline(always)]
    fn join(kind: u8, payload: u64) -> TableValue {
        match kind {
            1 => TableValue::Int(payload),
            2 => TableValue::Neg(payload as i64),
            3 => TableValue::Pair(payload as u32 as i32, (payload >> 32) as u32 as i32),
            STR => TableValue::Str { at: payload as u32, len: (payload >> 32) as u32 },
            JSON => TableValue::Json(payload),
            _ => TableValue::Null,
        }
    }
}

/// What a table's ops refer to beside their names: the text of their strings, one after
/// another, the values of no compact shape, and the process numbers too large to be held
/// in an op ([`Side::process_id`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Side {
    text: String,
    json: Vec<Value>,
    processes: Vec<u64>,
}

/// How far [`Side::append`] moved another's references: its text, JSON values and
/// processes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shift {
    text: u32,
    json: u64,
    processes: u32,
}

impl Shift {
    /// A value's payload of this `kind` moved on: a string's span (its start, the low 32
    /// bits, stays within them, as [`Side::append`] checked), a JSON value's position.
    #[inline(always)]
    fn payload(self, kind: u8, payload: u64) -> u64 {
        match kind {
            STR => payload + u64::from(self.text),
            JSON => payload + self.json,
            _ => payload,
        }
    }
}

/// An op's process below this is held as it is; from it up, as this plus its position
/// in [`Side::processes`].
const LARGE_PROCESS: u32 = 1 << 31;

impl Side {
    /// How an op holds process `p`: itself if it is small, as nearly every one is.
    #[inline(always)]
    pub(crate) fn process_id(&mut self, p: u64) -> u32 {
        match u32::try_from(p) {
            Ok(small) if small < LARGE_PROCESS => small,
            _ => self.large_process(p),
        }
    }

    #[inline(never)]
    fn large_process(&mut self, p: u64) -> u32 {
        // Fewer than `LARGE_PROCESS` ops in a table (`MAX_EVENTS`), so the position fits.
        self.processes.push(p);
        LARGE_PROCESS + (self.processes.len() - 1) as u32
    }

    /// The process an op holds as `id`.
    #[inline(always)]
    pub(crate) fn process(&self, id: u32) -> u64 {
        match id.checked_sub(LARGE_PROCESS) {
            None => u64::from(id),
            Some(at) => self.processes[at as usize],
        }
    }

    /// The table's form of `value`, its text (if a string) or JSON added.
    #[inline(always)]
    pub(crate) fn add(&mut self, value: ValueRef<'_>) -> TableValue {
        match value {
            ValueRef::Null => TableValue::Null,
            ValueRef::Int(u) => TableValue::Int(u),
            ValueRef::Neg(i) => TableValue::Neg(i),
            ValueRef::Pair(a, b) => TableValue::Pair(a, b),
            ValueRef::Str(s) => {
                match (u32::try_from(self.text.len()), u32::try_from(self.text.len() + s.len())) {
                    (Ok(at), Ok(end)) => {
                        self.text.push_str(s);
                        TableValue::Str { at, len: end - at }
                    }
                    // A string too far into the text to be a span is still a string.
                    _ => self.add_json(Value::String(s.to_string())),
                }
            }
            ValueRef::Json(value) => self.add_json(value.clone()),
        }
    }

    /// [`Side::add`] for an owned value, moved rather than copied if it is JSON.
    pub(crate) fn add_owned(&mut self, value: Value) -> TableValue {
        match ValueRef::of(&value) {
            ValueRef::Json(_) => self.add_json(value),
            compact => self.add(compact),
        }
    }

    #[inline(never)]
    fn add_json(&mut self, value: Value) -> TableValue {
        self.json.push(value);
        TableValue::Json(self.json.len() as u64 - 1)
    }

    /// The value, borrowed.
    #[inline(always)]
    pub(crate) fn view(&self, value: TableValue) -> ValueRef<'_> {
        match value {
            TableValue::Null => ValueRef::Null,
            TableValue::Int(u) => ValueRef::Int(u),
            TableValue::Neg(i) => ValueRef::Neg(i),
            TableValue::Pair(a, b) => ValueRef::Pair(a, b),
            TableValue::Str { at, len } => ValueRef::Str(&self.text[at as usize..(at + len) as usize]),
            TableValue::Json(at) => ValueRef::of(&self.json[at as usize]),
        }
    }

    /// Appends `next`'s text, JSON values and processes; what [`TableOp::shift`] must
    /// move `next`'s references by, or `None` if the text would outgrow its 32-bit spans.
    pub(crate) fn append(&mut self, next: Side) -> Option<Shift> {
        // Both tables' ops together are fewer than `MAX_EVENTS`, their processes too.
        let by = Shift {
            text: u32::try_from(self.text.len()).ok()?,
            json: self.json.len() as u64,
            processes: self.processes.len() as u32,
        };
        u32::try_from(self.text.len() + next.text.len()).ok()?;
        self.text.push_str(&next.text);
        self.json.extend(next.json);
        self.processes.extend(next.processes);
        Some(by)
    }
}

impl OpTable {
    /// The table of a validated history's operations; the one-line error for a history of
    /// [`MAX_EVENTS`] events or more, which no file the loaders take can hold.
    pub fn from_history(history: &History) -> Result<OpTable, String> {
        if history.len() as u64 >= MAX_EVENTS {
            return Err(format!("{} events are more than a check takes", history.len()));
        }
        // Every event position is below `MAX_EVENTS`, so fits in 32 bits.
        let position = |index: u64| index as u32;
        let mut builder = Builder::default();
        for op in op_refs(history) {
            let f = builder.intern(op.f);
            let key = op.key.map(|k| builder.intern(k));
            let at = builder.len();
            let value = builder.side.add(op.value);
            let process = builder.side.process_id(op.process);
            let mut table_op =
                TableOp::new(position(op.invoke_index), process, f, MaybeName::new(key), value);
            table_op.complete_index = MaybeIndex::new(op.complete_index.map(position));
            table_op.set_outcome(match op.outcome {
                OutcomeRef::Ok(v) => TableOutcome::Ok(builder.side.add(v)),
                OutcomeRef::Fail => TableOutcome::Fail,
                OutcomeRef::Info => TableOutcome::Info,
            });
            builder.push(table_op);
            builder.set_times(at, op.invoke_time, op.complete_time);
        }
        Ok(builder.finish(history.len() as u64))
    }

    /// Client operations in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Events of the history the table was made from, nemesis events included.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Whether the ops look like those of a history `jepsen.independent` wrote, read
    /// without its tuples split ([`crate::independent`]): no op has a key, every
    /// invocation's value is a two-element array, and not every op is a cas (whose
    /// argument `[from to]` is a pair anyway; a read's is nil, in such a history
    /// `[key nil]`). Stops at the first op that says otherwise, which in a keyed history
    /// is the first.
    pub fn looks_independent(&self) -> bool {
        use crate::op_ref::ValueRef;
        let mut not_cas = false;
        for at in 0..self.len {
            let op = self.op_ref(at);
            let pair = match op.value {
                ValueRef::Pair(..) => true,
                ValueRef::Json(Value::Array(items)) => items.len() == 2,
                _ => false,
            };
            if op.key.is_some() || !pair {
                return false;
            }
            not_cas |= op.f != "cas";
        }
        not_cas
    }

    /// How many segments the ops are kept in.
    #[cfg(test)]
    pub(crate) fn segments(&self) -> usize {
        self.segments.len()
    }

    /// The op at position `at`.
    #[inline(always)]
    fn op(&self, at: usize) -> &TableOp {
        let segment = match self.segments.len() {
            1 => &self.segments[0],
            _ => &self.segments[segment_of(&self.segments, at)],
        };
        &segment.ops[at - segment.start]
    }

    /// The ops from `from` to `to`, which lie in one segment (as [`OpTable::stretches`]
    /// gives them).
    pub(crate) fn ops_in(&self, from: usize, to: usize) -> &[TableOp] {
        if from == to {
            return &[];
        }
        let segment = &self.segments[segment_of(&self.segments, from)];
        &segment.ops[from - segment.start..to - segment.start]
    }

    /// About `parts` stretches of equal length that cover the table in order, none across
    /// a segment's start; a cut that would leave a sliver beside a segment's start is
    /// left out.
    pub(crate) fn stretches(&self, parts: usize) -> Vec<(usize, usize)> {
        let (n, parts) = (self.len, parts.max(1));
        let starts: Vec<usize> = self.segments.iter().map(|s| s.start).filter(|&s| 0 < s && s < n).collect();
        let near_start = |cut: usize| starts.iter().any(|&s| cut.abs_diff(s) < n / (4 * parts));
        let mut bounds: Vec<usize> =
            (0..=parts).map(|t| n * t / parts).filter(|&cut| !near_start(cut)).collect();
        bounds.extend([0, n]);
        bounds.extend(&starts);
        bounds.sort_unstable();
        bounds.dedup();
        bounds.windows(2).map(|w| (w[0], w[1])).collect()
    }

    /// How many names (`f`s and keys) are interned; ids are below this.
    pub(crate) fn names(&self) -> usize {
        self.names.len()
    }

    /// How many ops have the name with this id as their key.
    pub(crate) fn key_uses(&self, key: u32) -> u32 {
        self.key_uses.get(key as usize).copied().unwrap_or(0)
    }

    /// The op at position `at`, borrowed as the check reads it.
    #[inline(always)]
    pub(crate) fn op_ref(&self, at: usize) -> OpRef<'_> {
        self.view(at, self.op(at))
    }

    /// The op `op`, which is at position `at`, as the check reads it.
    #[inline(always)]
    pub(crate) fn view<'t>(&'t self, at: usize, op: &'t TableOp) -> OpRef<'t> {
        let name = |at: u32| -> &str { &self.names[at as usize] };
        let (invoke_time, complete_time) = self.times.get(at).copied().unwrap_or_default();
        OpRef {
            invoke_index: u64::from(op.invoke_index),
            complete_index: op.complete_index.get().map(u64::from),
            process: self.side.process(op.process),
            f: name(op.f),
            key: op.key.get().map(name),
            value: self.side.view(op.value()),
            outcome: match op.outcome() {
                TableOutcome::Ok(v) => OutcomeRef::Ok(self.side.view(v)),
                TableOutcome::Fail => OutcomeRef::Fail,
                TableOutcome::Info => OutcomeRef::Info,
            },
            invoke_time,
            complete_time,
        }
    }
}

/// A name as a loader reads it: its text's bytes (UTF-8) and, if it is short, its packed
/// form ([`packed`]), which a scanner can make from the bytes around it in one load;
/// [`LONG`] if it is not (an `Option` would make the name half as large again, and it is
/// copied with every event). The bytes, not a `str`: a short name is interned by its
/// packed form alone, and slicing a `str` checks both ends for a character boundary, a
/// call per name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Name<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) packed: u128,
}

impl<'a> Name<'a> {
    #[inline(always)]
    pub(crate) fn of(text: &'a str) -> Name<'a> {
        Name { bytes: text.as_bytes(), packed: packed(text.as_bytes()) }
    }

    /// Its text: borrowed, since the bytes of a name are read from UTF-8 text between two
    /// quotes.
    pub(crate) fn text(&self) -> std::borrow::Cow<'a, str> {
        String::from_utf8_lossy(self.bytes)
    }

    /// The name that starts `window`, `len` bytes long; the window's other bytes are
    /// whatever follows it in the text.
    #[inline(always)]
    pub(crate) fn packed_in(window: [u8; 16], len: usize) -> u128 {
        match KEEP.get(len) {
            Some(keep) => (u128::from_le_bytes(window) & keep) | (len as u128) << 120,
            None => LONG,
        }
    }
}

/// Per length up to 15, the mask that keeps a packed name's bytes: looked up, since
/// building it is a shift of 128 bits, several instructions, twice a line.
const KEEP: [u128; 16] = {
    let mut keep = [0u128; 16];
    let mut len = 0;
    while len < 16 {
        keep[len] = (1u128 << (8 * len)) - 1;
        len += 1;
    }
    keep
};

/// Slots in [`Builder::recent`], as a power of two.
const RECENT_BITS: u32 = 12;

/// A packed name's slot in [`Builder::recent`].
#[inline(always)]
fn recent_slot(packed: u128) -> usize {
    let folded = (packed as u64) ^ ((packed >> 64) as u64);
    (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - RECENT_BITS)) as usize
}

/// What [`Builder::packed`] and [`Name::packed`] hold for a name too long to pack: its
/// length byte is past 15.
pub(crate) const LONG: u128 = u128::MAX;

/// A name of up to 15 bytes as one integer: its bytes, then its length in the last byte;
/// [`LONG`] for a longer one. Built in a register, a byte at a time: copied into an array
/// and read back whole, it would cost a call to `memcpy` and a stalled load.
#[inline(always)]
pub(crate) fn packed(bytes: &[u8]) -> u128 {
    if bytes.len() > 15 {
        return LONG;
    }
    let packed = bytes.iter().rev().fold(0u128, |packed, &byte| packed << 8 | u128::from(byte));
    packed | (bytes.len() as u128) << 120
}

/// Two tables are equal when they hold the same ops: the same names, and each op the same
/// positions, process, names, values and times. Where a string value's text lies is not
/// compared (one loader adds a result's text when the completion is read, another with
/// its invocation), nor where JSON values lie in the list of them.
impl PartialEq for OpTable {
    fn eq(&self, other: &OpTable) -> bool {
        self.names == other.names
            && self.events == other.events
            && self.key_uses == other.key_uses
            && self.times == other.times
            && self.len == other.len
            && (0..self.len).all(|at| {
                let (a, b) = (self.op_ref(at), other.op_ref(at));
                let (x, y) = (self.op(at), other.op(at));
                (x.invoke_index, x.complete_index, x.f, x.key)
                    == (y.invoke_index, y.complete_index, y.f, y.key)
                    && a.process == b.process
                    && a.value == b.value
                    && a.outcome == b.outcome
            })
    }
}

/// Builds a table: interns names as ops arrive.
#[derive(Default)]
pub(crate) struct Builder {
    names: Vec<Box<str>>,
    /// What the ops added so far refer to beside their names.
    pub(crate) side: Side,
    index: FxHashMap<Box<str>, u32>,
    /// Names of up to 15 bytes, packed with their length into one integer
    /// ([`packed`]): found by hashing an integer and compared without `memcmp`. Nearly
    /// every `f` and key is one.
    short: FxHashMap<u128, u32>,
    /// In front of `short`, a direct-mapped cache: per slot of a packed name's hash, its
    /// id plus one (0 for none). Two loads from a small array instead of a probe of the
    /// map, for the name every op interns. Empty (so unused) unless made with room.
    recent: Vec<u32>,
    /// Segments before `ops`, when pieces have been joined.
    sealed: Vec<Segment>,
    /// Ops in `sealed`.
    sealed_len: usize,
    /// Per name id, its packed form; `LONG` (which no packed name is) for a long name.
    packed: Vec<u128>,
    pub(crate) ops: Vec<TableOp>,
    key_uses: Vec<u32>,
    times: Vec<Times>,
}

impl Builder {
    pub(crate) fn with_capacity(ops: usize) -> Builder {
        Builder { ops: Vec::with_capacity(ops), recent: vec![0; 1 << RECENT_BITS], ..Builder::default() }
    }

    /// The position of `name`, added if new.
    #[inline(always)]
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        self.intern_name(Name::of(name))
    }

    /// [`Builder::intern`] for a name whose packed form is known.
    #[inline(always)]
    pub(crate) fn intern_name(&mut self, name: Name<'_>) -> u32 {
        let packed = name.packed;
        if packed != LONG {
            let slot = recent_slot(packed);
            if let Some(&id) = self.recent.get(slot) {
                if id != 0 && self.packed[id as usize - 1] == packed {
                    return id - 1;
                }
            }
            let at = match self.short.get(&packed) {
                Some(&at) => at,
                None => self.add_short(&name.text(), packed),
            };
            if let Some(id) = self.recent.get_mut(slot) {
                *id = at + 1;
            }
            return at;
        }
        self.intern_long(&name.text())
    }

    #[inline(never)]
    fn add_short(&mut self, name: &str, packed: u128) -> u32 {
        let at = self.names.len() as u32;
        self.names.push(name.into());
        self.packed.push(packed);
        self.short.insert(packed, at);
        at
    }

    #[inline(never)]
    fn intern_long(&mut self, name: &str) -> u32 {
        if let Some(&at) = self.index.get(name) {
            return at;
        }
        let at = self.names.len() as u32;
        self.names.push(name.into());
        self.packed.push(LONG);
        self.index.insert(name.into(), at);
        at
    }

    /// Whether the name at `at` is `name`: for short names, one comparison of integers.
    #[inline(always)]
    pub(crate) fn is_name(&self, at: u32, name: Name<'_>) -> bool {
        match name.packed {
            LONG => self.name(at).as_bytes() == name.bytes,
            packed => self.packed[at as usize] == packed,
        }
    }

    /// Ops added so far.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.sealed_len + self.ops.len()
    }

    /// The op at position `at`.
    #[inline(always)]
    pub(crate) fn op_mut(&mut self, at: usize) -> &mut TableOp {
        if at >= self.sealed_len {
            return &mut self.ops[at - self.sealed_len];
        }
        let s = segment_of(&self.sealed, at);
        let segment = &mut self.sealed[s];
        &mut segment.ops[at - segment.start]
    }

    /// Ends the segment of ops so far and goes on with `ops`, added as they are (the
    /// caller has made their names and positions this builder's).
    pub(crate) fn append_segment(&mut self, ops: Vec<TableOp>, key_uses: impl Iterator<Item = (u32, u32)>) {
        for (key, uses) in key_uses.filter(|&(_, uses)| uses > 0) {
            let key = key as usize;
            if key >= self.key_uses.len() {
                self.key_uses.resize(key + 1, 0);
            }
            self.key_uses[key] += uses;
        }
        let done = std::mem::replace(&mut self.ops, ops);
        if !done.is_empty() {
            let start = self.sealed_len;
            self.sealed_len += done.len();
            self.sealed.push(Segment { start, ops: done });
        }
    }

    /// Per name id, the ops that have it as their key.
    pub(crate) fn key_uses(&self) -> &[u32] {
        &self.key_uses
    }

    /// Adds an op (its names interned already).
    #[inline(always)]
    pub(crate) fn push(&mut self, op: TableOp) {
        if let Some(key) = op.key.get() {
            let key = key as usize;
            if key >= self.key_uses.len() {
                self.key_uses.resize(key + 1, 0);
            }
            self.key_uses[key] += 1;
        }
        self.ops.push(op);
    }

    /// Records the times of the op at `at` (only a time that is there costs room).
    #[inline]
    pub(crate) fn set_times(&mut self, at: usize, invoke: Option<u64>, complete: Option<u64>) {
        if invoke.is_none() && complete.is_none() && at >= self.times.len() {
            return;
        }
        if at >= self.times.len() {
            self.times.resize(at + 1, (None, None));
        }
        let times = &mut self.times[at];
        times.0 = invoke.or(times.0);
        times.1 = complete.or(times.1);
    }

    /// Whether any op has a time.
    pub(crate) fn has_times(&self) -> bool {
        !self.times.is_empty()
    }

    /// The times recorded for the op at `at`.
    pub(crate) fn times(&self, at: usize) -> Times {
        self.times.get(at).copied().unwrap_or_default()
    }

    /// The names interned so far, by id.
    pub(crate) fn names(&self) -> &[Box<str>] {
        &self.names
    }

    /// The name at a position `intern` gave.
    #[inline]
    pub(crate) fn name(&self, at: u32) -> &str {
        &self.names[at as usize]
    }

    pub(crate) fn finish(mut self, events: u64) -> OpTable {
        let len = self.len();
        if !self.times.is_empty() {
            self.times.resize(len, (None, None));
        }
        let last = Segment { start: self.sealed_len, ops: self.ops };
        let mut segments = self.sealed;
        if segments.is_empty() || !last.ops.is_empty() {
            segments.push(last);
        }
        OpTable {
            names: self.names,
            side: self.side,
            segments,
            len,
            key_uses: self.key_uses,
            times: self.times,
            events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;

    #[test]
    fn names_keep_their_ids_whatever_the_cache_holds() {
        // Far more names than the cache has slots, so slots are shared and overwritten.
        let names: Vec<String> =
            (0..20_000).map(|i| format!("k{i}")).chain(["a name longer than fifteen".into()]).collect();
        let mut builder = Builder::with_capacity(0);
        let ids: Vec<u32> = names.iter().map(|n| builder.intern(n)).collect();
        assert_eq!(ids, (0..names.len() as u32).collect::<Vec<_>>());
        for (name, &id) in names.iter().zip(&ids).rev() {
            assert_eq!(builder.intern(name), id);
            assert_eq!(builder.name(id), name);
            assert!(builder.is_name(id, Name::of(name)));
        }
        assert!(!builder.is_name(ids[1], Name::of("k0")));
    }

    #[test]
    fn an_op_takes_40_bytes() {
        assert_eq!(std::mem::size_of::<TableOp>(), 40);
        assert_eq!(MaybeIndex::new(Some(7)).get(), Some(7));
        assert_eq!(MaybeIndex::NONE.get(), None);
        assert_eq!((MaybeName::new(Some(0)).get(), MaybeName::new(None).get()), (Some(0), None));
    }

    #[test]
    fn values_and_outcomes_keep_every_bit_in_an_op() {
        let values = [
            TableValue::Null,
            TableValue::Int(u64::MAX),
            TableValue::Neg(i64::MIN),
            TableValue::Pair(i32::MIN, -1),
            TableValue::Pair(i32::MAX, 0),
            TableValue::Str { at: u32::MAX - 3, len: 3 },
            TableValue::Json(u64::MAX),
        ];
        for value in values {
            let mut op = TableOp::new(u32::MAX - 1, u32::MAX, 1, MaybeName::new(None), value);
            assert_eq!((op.value(), op.outcome()), (value, TableOutcome::Info));
            for outcome in
                [TableOutcome::Ok(value), TableOutcome::Ok(TableValue::Neg(-1)), TableOutcome::Fail]
            {
                op.set_outcome(outcome);
                assert_eq!((op.value(), op.outcome(), op.invoke_index), (value, outcome, u32::MAX - 1));
            }
        }
        let mut side = Side::default();
        let (small, large) = (side.process_id(u64::from(LARGE_PROCESS) - 1), side.process_id(u64::MAX));
        assert_eq!((side.process(small), side.process(large)), (u64::from(LARGE_PROCESS) - 1, u64::MAX));
        let mut op = TableOp::new(0, large, 0, MaybeName::new(None), TableValue::Json(2));
        op.set_outcome(TableOutcome::Ok(TableValue::Str { at: 5, len: 1 }));
        op.shift(Shift { text: 10, json: 3, processes: 4 });
        assert_eq!((op.value(), op.process), (TableValue::Json(5), large + 4));
        assert_eq!(op.outcome(), TableOutcome::Ok(TableValue::Str { at: 15, len: 1 }));
        let mut small_op = TableOp::new(0, small, 0, MaybeName::new(None), TableValue::Null);
        small_op.shift(Shift { text: 10, json: 3, processes: 4 });
        assert_eq!(small_op.process, small);
    }

    #[test]
    fn the_table_gives_the_history_s_operations() {
        let lines = [
            r#"{"process":1,"type":"invoke","f":"write","key":"a","value":1,"time":5}"#,
            r#"{"process":2,"type":"invoke","f":"read","key":"a","value":null}"#,
            r#"{"process":"nemesis","type":"info","f":"kill","value":null}"#,
            r#"{"process":1,"type":"ok","f":"write","key":"a","value":1,"time":9}"#,
            r#"{"process":2,"type":"fail","f":"read","value":null}"#,
            r#"{"process":1,"type":"invoke","f":"cas","key":"b","value":[1,2]}"#,
        ];
        let events: Vec<Event> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        let history = History::from_events(events).unwrap();
        let table = OpTable::from_history(&history).unwrap();
        assert_eq!((table.len(), table.events()), (3, 6));
        let from_table: Vec<_> = (0..table.len()).map(|at| table.op_ref(at).to_operation()).collect();
        assert_eq!(from_table, history.operations());
        assert_eq!(table.names.len(), 5, "write, a, read, cas, b: each once");
    }
}
