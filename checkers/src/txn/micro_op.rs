//! Transactions parsed once from the history's JSON: every `f: "txn"` operation becomes a
//! [`Txn`] of typed micro-ops, keys interned to small integers.
//!
//! A value is read from the completion for an `ok` transaction (reads fill in there) and
//! from the invocation otherwise. Keys may be strings or integers (`1` and `"1"` are the
//! same key); elements and register values must be integers. Both models require every
//! written value to be unique per key, as Jepsen's generators make them, since a read is
//! traced back to its writer by value alone.
//!
//! Anything else (a value that is not a list of micro-ops, a float, a write in a
//! list-append history) is a [`CheckError`] naming the event, never a panic.

use serde_json::Value;

use super::anomaly::TxnSummary;
use super::options::TxnModel;
use crate::hash::FxHashMap;
use crate::history::{EventType, History, Process};
use crate::report::CheckError;

/// An interned key: an index into [`Parsed::keys`].
pub(crate) type KeyId = u32;

/// One micro-op of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MicroOp {
    /// list-append: append `value` to the list at `key`.
    Append { key: KeyId, value: i64 },
    /// list-append: the whole list read (empty for a missing key).
    ReadList { key: KeyId, value: Vec<i64> },
    /// rw-register: write `value`.
    Write { key: KeyId, value: i64 },
    /// rw-register: the value read, `None` for unset.
    ReadRegister { key: KeyId, value: Option<i64> },
}

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// `ok`: it committed; its reads are what it saw.
    Committed,
    /// `info` (or still open at the end): it may or may not have committed. Its writes can
    /// explain reads; its reads are not trusted.
    Indeterminate,
    /// `fail`: it definitely did not commit.
    Aborted,
}

/// A transaction of the history.
#[derive(Debug, Clone)]
pub(crate) struct Txn<'a> {
    /// The index of its invocation in the history.
    pub index: u64,
    /// The index of its completion; `None` when it never completed (or ended `info`,
    /// which for real time is the same: it may take effect at any later moment).
    pub completed: Option<u64>,
    pub process: u64,
    pub status: Status,
    pub ops: Vec<MicroOp>,
    /// The micro-ops as the history holds them, for reports (borrowed: a long history's
    /// values are most of its memory).
    pub value: &'a Value,
}

impl Txn<'_> {
    /// Whether its reads say what it saw.
    pub fn reads_trusted(&self) -> bool {
        self.status == Status::Committed
    }

    /// `T` and its invocation index.
    pub fn name(&self) -> String {
        format!("T{}", self.index)
    }

    pub fn summary(&self) -> TxnSummary {
        TxnSummary {
            name: self.name(),
            index: self.index as usize,
            process: Process::Client(self.process),
            value: self.value.clone(),
        }
    }
}

/// The transactions of a history.
#[derive(Debug, Default)]
pub(crate) struct Parsed<'a> {
    /// Committed and indeterminate transactions, in invocation order: the graph's nodes.
    pub txns: Vec<Txn<'a>>,
    /// Aborted transactions, whose writes nobody may read.
    pub aborted: Vec<Txn<'a>>,
    /// Key names by [`KeyId`].
    pub keys: Vec<String>,
}

impl Parsed<'_> {
    pub fn key(&self, key: KeyId) -> &str {
        &self.keys[key as usize]
    }

    /// The key as a sentence names it: `x`, but `key 1` for a number, which would
    /// otherwise read as a value.
    pub fn key_phrase(&self, key: KeyId) -> String {
        let name = self.key(key);
        if name.parse::<i64>().is_ok() {
            format!("key {name}")
        } else {
            name.to_string()
        }
    }
}

/// How an operation ended, as [`History::operations`] pairs them.
#[derive(Clone, Copy)]
enum Ending {
    /// `ok`, with the completion's position among the events.
    Ok(usize),
    /// `info` or still open: it may have happened.
    Info,
    Fail,
}

/// Parse every client operation as a transaction of `model`.
///
/// Operations are paired here, the way [`History::operations`] pairs them, rather than
/// through it: that would copy every value, and the transactions borrow them instead.
pub(crate) fn parse(history: &History, model: TxnModel) -> Result<Parsed<'_>, CheckError> {
    let events = history.events();
    // Per operation in invocation order: its invocation's position and how it ended.
    let mut ops: Vec<(usize, u64, Ending)> = Vec::new();
    let mut open: FxHashMap<u64, usize> = FxHashMap::default();
    for (at, event) in events.iter().enumerate() {
        let Process::Client(p) = event.process else { continue };
        match event.kind {
            EventType::Invoke => {
                open.insert(p, ops.len());
                ops.push((at, p, Ending::Info));
            }
            kind => {
                let Some(op) = open.remove(&p) else { continue };
                ops[op].2 = match kind {
                    EventType::Ok => Ending::Ok(at),
                    EventType::Fail => Ending::Fail,
                    EventType::Invoke | EventType::Info => Ending::Info,
                };
            }
        }
    }
    drop(open);

    let mut parsed = Parsed::default();
    let mut key_ids: FxHashMap<String, KeyId> = FxHashMap::default();
    for (invoke_at, process, ending) in ops {
        let invoke = &events[invoke_at];
        let err = |event: u64, message: String| CheckError { event: Some(event), message };
        if invoke.f != "txn" {
            return Err(err(
                invoke.index,
                format!(
                    "operation {:?} is not a transaction: a {model} history has only f \"txn\"",
                    invoke.f
                ),
            ));
        }
        let (status, value, at, completed) = match ending {
            Ending::Ok(done) => {
                let done = &events[done];
                (Status::Committed, &done.value, done.index, Some(done.index))
            }
            Ending::Info => (Status::Indeterminate, &invoke.value, invoke.index, None),
            Ending::Fail => (Status::Aborted, &invoke.value, invoke.index, None),
        };
        let ops = parse_ops(value, model, &mut key_ids, &mut parsed.keys).map_err(|m| err(at, m))?;
        let txn = Txn { index: invoke.index, completed, process, status, ops, value };
        match status {
            Status::Aborted => parsed.aborted.push(txn),
            Status::Committed | Status::Indeterminate => parsed.txns.push(txn),
        }
    }
    Ok(parsed)
}

fn parse_ops(
    value: &Value,
    model: TxnModel,
    key_ids: &mut FxHashMap<String, KeyId>,
    keys: &mut Vec<String>,
) -> Result<Vec<MicroOp>, String> {
    let Value::Array(items) = value else {
        return Err(format!("a transaction's value must be a list of micro-ops, got {}", short(value)));
    };
    let mut ops = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let op =
            parse_op(item, model, key_ids, keys).map_err(|m| format!("micro-op {i} {}: {m}", short(item)))?;
        ops.push(op);
    }
    Ok(ops)
}

fn parse_op(
    item: &Value,
    model: TxnModel,
    key_ids: &mut FxHashMap<String, KeyId>,
    keys: &mut Vec<String>,
) -> Result<MicroOp, String> {
    let Some([f, key, value]) = item.as_array().map(Vec::as_slice) else {
        return Err("a micro-op is a list [f, key, value]".into());
    };
    let f = f.as_str().ok_or("its f must be \"append\", \"r\" or \"w\"")?;
    let key_text = match key {
        // A key seen before costs a lookup, not a copy.
        Value::String(s) => match key_ids.get(s.as_str()) {
            Some(&id) => return finish_op(model, f, id, value),
            None => s.clone(),
        },
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => return Err("its key must be a string or an integer".into()),
    };
    let next = KeyId::try_from(keys.len()).map_err(|_| "more than 2^32 keys")?;
    let key = *key_ids.entry(key_text).or_insert_with_key(|k| {
        keys.push(k.clone());
        next
    });
    finish_op(model, f, key, value)
}

/// The micro-op `f` on the interned `key` with its `value`.
fn finish_op(model: TxnModel, f: &str, key: KeyId, value: &Value) -> Result<MicroOp, String> {
    let integer = |v: &Value, what: &str| v.as_i64().ok_or_else(|| format!("{what} must be an integer"));
    match (model, f) {
        (TxnModel::ListAppend, "append") => {
            Ok(MicroOp::Append { key, value: integer(value, "the element")? })
        }
        (TxnModel::ListAppend, "r" | "read") => {
            let list = match value {
                Value::Null => Vec::new(),
                Value::Array(elements) => {
                    elements.iter().map(|e| integer(e, "every element read")).collect::<Result<_, _>>()?
                }
                _ => return Err("a list-append read must be a list of integers or null".into()),
            };
            Ok(MicroOp::ReadList { key, value: list })
        }
        (TxnModel::RwRegister, "w" | "write") => {
            Ok(MicroOp::Write { key, value: integer(value, "the value")? })
        }
        (TxnModel::RwRegister, "r" | "read") => {
            let read = match value {
                Value::Null => None,
                v => Some(integer(v, "a register read")?),
            };
            Ok(MicroOp::ReadRegister { key, value: read })
        }
        (TxnModel::ListAppend, "w" | "write") => {
            Err("a write has no place in a list-append history (is it rw-register?)".into())
        }
        (TxnModel::RwRegister, "append") => {
            Err("an append has no place in an rw-register history (is it list-append?)".into())
        }
        _ => Err(format!("unknown micro-op {f:?} (expected append, r or w)")),
    }
}

/// A value cut short for an error message.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    fn history(lines: &[&str]) -> History {
        let events: Vec<Event> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        History::from_events(events).unwrap()
    }

    #[test]
    fn reads_fill_in_at_completion_and_keys_intern() {
        let h = history(&[
            r#"{"process":0,"type":"invoke","f":"txn","value":[["append","x",1],["r",1,null]]}"#,
            r#"{"process":0,"type":"ok","f":"txn","value":[["append","x",1],["r",1,[4,7]]]}"#,
            r#"{"process":1,"type":"invoke","f":"txn","value":[["r","1",null]]}"#,
            r#"{"process":1,"type":"info","f":"txn","value":[["r","1",null]]}"#,
        ]);
        let parsed = parse(&h, TxnModel::ListAppend).unwrap();
        assert_eq!(parsed.keys, vec!["x", "1"]);
        assert_eq!(parsed.txns[0].ops[1], MicroOp::ReadList { key: 1, value: vec![4, 7] });
        assert_eq!(parsed.txns[0].status, Status::Committed);
        assert_eq!(parsed.txns[1].status, Status::Indeterminate);
        assert_eq!(parsed.txns[1].ops[0], MicroOp::ReadList { key: 1, value: vec![] });
    }

    #[test]
    fn bad_values_are_one_line_errors_naming_the_event() {
        let bad = |value: &str, model| {
            let h = history(&[
                &format!(r#"{{"process":0,"type":"invoke","f":"txn","value":{value}}}"#),
                &format!(r#"{{"process":0,"type":"ok","f":"txn","value":{value}}}"#),
            ]);
            parse(&h, model).unwrap_err().to_string()
        };
        use TxnModel::*;
        assert!(bad("3", ListAppend).starts_with("event 1: a transaction's value must be a list"));
        assert!(bad(r#"[["append","x",1.5]]"#, ListAppend).contains("the element must be an integer"));
        assert!(bad(r#"[["r","x",[1,"a"]]]"#, ListAppend).contains("every element read must be an integer"));
        assert!(bad(r#"[["w","x",1]]"#, ListAppend).contains("rw-register"));
        assert!(bad(r#"[["append","x",1]]"#, RwRegister).contains("list-append"));
        assert!(bad(r#"[["cas","x",1]]"#, RwRegister).contains("unknown micro-op \"cas\""));
        assert!(bad(r#"[["r",{"a":1},1]]"#, RwRegister).contains("key must be a string or an integer"));
        assert!(bad(r#"[["r","x"]]"#, RwRegister).contains("[f, key, value]"));
        let h = history(&[
            r#"{"process":0,"type":"invoke","f":"read","value":null}"#,
            r#"{"process":0,"type":"ok","f":"read","value":1}"#,
        ]);
        let e = parse(&h, ListAppend).unwrap_err();
        assert_eq!(e.event, Some(0));
        assert!(e.message.contains("not a transaction"), "{e}");
    }
}
