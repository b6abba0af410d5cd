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
use crate::op_ref::{op_refs, OpRef, OutcomeRef};

/// Client operations in invocation order, paired as [`History::operations`] pairs them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpTable {
    /// Interned `f` and key names; ops refer to them by position.
    names: Vec<Box<str>>,
    ops: Vec<TableOp>,
    /// Per name id, how many ops have it as their key (counted as ops are added, so that
    /// the check can size each partition without another pass over the table).
    key_uses: Vec<u32>,
    /// Per op, the times of its invocation and completion; empty when no event has a
    /// time. Kept apart from the ops, which the check reads and times it does not.
    times: Vec<Times>,
    /// Events in the history, nemesis events included.
    events: u64,
}

/// An op's invocation and completion times.
type Times = (Option<u64>, Option<u64>);

/// One operation; `f` and `key` are positions in `OpTable::names`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TableOp {
    pub(crate) invoke_index: u64,
    pub(crate) complete_index: Option<u64>,
    pub(crate) process: u64,
    pub(crate) f: u32,
    pub(crate) key: Option<u32>,
    pub(crate) value: Value,
    pub(crate) outcome: TableOutcome,
}

/// How an op ended; the value of an `ok` completion is its result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TableOutcome {
    Ok(Value),
    Fail,
    Info,
}

impl OpTable {
    /// The table of a validated history's operations.
    pub fn from_history(history: &History) -> OpTable {
        let mut builder = Builder::default();
        for op in op_refs(history) {
            let f = builder.intern(op.f);
            let key = op.key.map(|k| builder.intern(k));
            let at = builder.ops.len();
            builder.push(TableOp {
                invoke_index: op.invoke_index,
                complete_index: op.complete_index,
                process: op.process,
                f,
                key,
                value: op.value.clone(),
                outcome: match op.outcome {
                    OutcomeRef::Ok(v) => TableOutcome::Ok(v.clone()),
                    OutcomeRef::Fail => TableOutcome::Fail,
                    OutcomeRef::Info => TableOutcome::Info,
                },
            });
            builder.set_times(at, op.invoke_time, op.complete_time);
        }
        builder.finish(history.len() as u64)
    }

    /// Client operations in the table.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Events of the history the table was made from, nemesis events included.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The ops, in invocation order.
    pub(crate) fn ops(&self) -> &[TableOp] {
        &self.ops
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
    #[inline]
    pub(crate) fn op_ref(&self, at: usize) -> OpRef<'_> {
        let name = |at: u32| -> &str { &self.names[at as usize] };
        let op = &self.ops[at];
        let (invoke_time, complete_time) = self.times.get(at).copied().unwrap_or_default();
        OpRef {
            invoke_index: op.invoke_index,
            complete_index: op.complete_index,
            process: op.process,
            f: name(op.f),
            key: op.key.map(name),
            value: &op.value,
            outcome: match &op.outcome {
                TableOutcome::Ok(v) => OutcomeRef::Ok(v),
                TableOutcome::Fail => OutcomeRef::Fail,
                TableOutcome::Info => OutcomeRef::Info,
            },
            invoke_time,
            complete_time,
        }
    }
}

/// Builds a table: interns names as ops arrive.
#[derive(Default)]
pub(crate) struct Builder {
    names: Vec<Box<str>>,
    index: FxHashMap<Box<str>, u32>,
    pub(crate) ops: Vec<TableOp>,
    key_uses: Vec<u32>,
    times: Vec<Times>,
}

impl Builder {
    pub(crate) fn with_capacity(ops: usize) -> Builder {
        Builder { ops: Vec::with_capacity(ops), ..Builder::default() }
    }

    /// The position of `name`, added if new.
    #[inline]
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if let Some(&at) = self.index.get(name) {
            return at;
        }
        let at = self.names.len() as u32;
        self.names.push(name.into());
        self.index.insert(name.into(), at);
        at
    }

    /// Adds an op (its names interned already).
    #[inline]
    pub(crate) fn push(&mut self, op: TableOp) {
        if let Some(key) = op.key {
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
        if !self.times.is_empty() {
            self.times.resize(self.ops.len(), (None, None));
        }
        OpTable { names: self.names, ops: self.ops, key_uses: self.key_uses, times: self.times, events }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;

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
        let table = OpTable::from_history(&history);
        assert_eq!((table.len(), table.events()), (3, 6));
        let from_table: Vec<_> = (0..table.len()).map(|at| table.op_ref(at).to_operation()).collect();
        assert_eq!(from_table, history.operations());
        assert_eq!(table.names.len(), 5, "write, a, read, cas, b: each once");
    }
}
