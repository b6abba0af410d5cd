//! The operations of every workload, typed, and their two edges: the client request they
//! become and the history values they are recorded as.
//!
//! History values follow the models' conventions: a register `write` carries its value, a
//! `cas` carries `[from, to]`, a `read` completes with the value read (or null); a set `add`
//! carries its element and a set `read` completes with the sorted elements; a bank
//! `transfer` carries `{"from", "to", "amount"}` and a bank `read` completes with
//! `{account: balance}`. A counter `add` carries its delta and a counter `read` completes
//! with the total (an absent counter reads 0). A queue `enqueue` carries its element and a
//! `dequeue` completes with the element taken, or null when the queue was empty. A list-append `txn` carries its steps as `[["append", k, v],
//! ["r", k, null]]` and completes with each read's list in place of its null
//! (`checkers::txn`'s format).

use nodes::api::{Request, TxnOp, TxnResult};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::list_append::MicroOp;

/// One client operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Read a register.
    Read { key: String },
    /// Write a register.
    Write { key: String, value: i64 },
    /// Compare-and-set a register.
    Cas { key: String, from: i64, to: i64 },
    /// Add a unique element to a set.
    Add { key: String, element: i64 },
    /// Read a whole set.
    ReadSet { key: String },
    /// Move `amount` between two accounts, unless `from` would go negative.
    Transfer { from: String, to: String, amount: i64 },
    /// Read every account in one transaction.
    ReadAccounts { accounts: Vec<String> },
    /// A list-append transaction: its steps, applied atomically.
    Txn { ops: Vec<MicroOp> },
    /// Add `delta` to a counter.
    Increment { key: String, delta: i64 },
    /// Read a counter's total.
    ReadCounter { key: String },
    /// Put a unique element at the tail of a queue.
    Enqueue { key: String, element: i64 },
    /// Take the element at the head of a queue.
    Dequeue { key: String },
}

impl Op {
    /// The history's `f`.
    pub fn f(&self) -> &'static str {
        match self {
            Op::Read { .. } | Op::ReadSet { .. } | Op::ReadAccounts { .. } | Op::ReadCounter { .. } => "read",
            Op::Write { .. } => "write",
            Op::Cas { .. } => "cas",
            Op::Add { .. } | Op::Increment { .. } => "add",
            Op::Transfer { .. } => "transfer",
            Op::Txn { .. } => "txn",
            Op::Enqueue { .. } => "enqueue",
            Op::Dequeue { .. } => "dequeue",
        }
    }

    /// The history's `key`: the object a per-key model splits on. Bank operations span
    /// accounts and have none.
    pub fn key(&self) -> Option<&str> {
        match self {
            Op::Read { key }
            | Op::Write { key, .. }
            | Op::Cas { key, .. }
            | Op::Add { key, .. }
            | Op::ReadSet { key }
            | Op::Increment { key, .. }
            | Op::ReadCounter { key }
            | Op::Enqueue { key, .. }
            | Op::Dequeue { key } => Some(key),
            Op::Transfer { .. } | Op::ReadAccounts { .. } | Op::Txn { .. } => None,
        }
    }

    /// The invocation's value (the argument).
    pub fn invoke_value(&self) -> Value {
        match self {
            Op::Read { .. }
            | Op::ReadSet { .. }
            | Op::ReadAccounts { .. }
            | Op::ReadCounter { .. }
            | Op::Dequeue { .. } => Value::Null,
            Op::Increment { delta, .. } => json!(delta),
            Op::Enqueue { element, .. } => json!(element),
            Op::Write { value, .. } => json!(value),
            Op::Cas { from, to, .. } => json!([from, to]),
            Op::Add { element, .. } => json!(element),
            Op::Transfer { from, to, amount } => json!({"from": from, "to": to, "amount": amount}),
            Op::Txn { ops } => Value::Array(
                ops.iter()
                    .map(|op| match op {
                        MicroOp::Append { key, value } => json!(["append", key, value]),
                        MicroOp::Read { key } => json!(["r", key, null]),
                    })
                    .collect(),
            ),
        }
    }

    /// The client call.
    pub fn request(&self) -> Request {
        match self {
            Op::Read { key } => Request::Get { key: key.clone() },
            Op::Write { key, value } => Request::Put { key: key.clone(), value: *value },
            Op::Cas { key, from, to } => Request::Cas { key: key.clone(), from: *from, to: *to },
            Op::Add { key, element } => Request::SetAdd { key: key.clone(), element: *element },
            Op::ReadSet { key } => Request::SetRead { key: key.clone() },
            Op::Increment { key, delta } => {
                Request::Txn { ops: vec![TxnOp::Add { key: key.clone(), delta: *delta }] }
            }
            Op::ReadCounter { key } => Request::Get { key: key.clone() },
            Op::Enqueue { key, element } => {
                Request::Txn { ops: vec![TxnOp::Append { key: key.clone(), value: *element }] }
            }
            Op::Dequeue { key } => Request::Txn { ops: vec![TxnOp::Pop { key: key.clone() }] },
            Op::Transfer { from, to, amount } => Request::Txn {
                ops: vec![
                    TxnOp::Check { key: from.clone(), at_least: *amount },
                    TxnOp::Add { key: from.clone(), delta: -amount },
                    TxnOp::Add { key: to.clone(), delta: *amount },
                ],
            },
            Op::ReadAccounts { accounts } => {
                Request::Txn { ops: accounts.iter().map(|a| TxnOp::Read { key: a.clone() }).collect() }
            }
            Op::Txn { ops } => Request::Txn {
                ops: ops
                    .iter()
                    .map(|op| match op {
                        MicroOp::Append { key, value } => TxnOp::Append { key: key.clone(), value: *value },
                        MicroOp::Read { key } => TxnOp::ReadList { key: key.clone() },
                    })
                    .collect(),
            },
        }
    }

    /// The value an `ok` completion records, from the body of a successful answer. The
    /// body is decoded by the shape this operation expects (the wire's untagged `Response`
    /// cannot tell `{}` from `{"value": null}`). An answer of the wrong shape is an error:
    /// the caller cannot tell what happened and records `info`.
    pub fn completion_value(&self, body: &[u8]) -> Result<Value, String> {
        #[derive(Deserialize)]
        struct ValueBody {
            // Required even when null: `{}` is not an answer to a read.
            #[serde(deserialize_with = "required_option")]
            value: Option<i64>,
        }
        fn required_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
            Option::<i64>::deserialize(d)
        }
        #[derive(Deserialize)]
        struct ElementsBody {
            elements: Vec<i64>,
        }
        #[derive(Deserialize)]
        struct ResultsBody {
            results: Vec<Option<i64>>,
        }
        fn decode<'a, T: Deserialize<'a>>(op: &Op, body: &'a [u8]) -> Result<T, String> {
            serde_json::from_slice(body).map_err(|e| {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                format!("answer {text:?} does not fit a {} {:?}: {e}", op.f(), op.key())
            })
        }
        match self {
            Op::Read { .. } => {
                let ValueBody { value } = decode(self, body)?;
                Ok(json!(value))
            }
            // A counter no add has reached is absent, and counts as 0.
            Op::ReadCounter { .. } => {
                let ValueBody { value } = decode(self, body)?;
                Ok(json!(value.unwrap_or(0)))
            }
            // One-step transactions whose acknowledgement is their own argument.
            Op::Increment { .. } | Op::Enqueue { .. } => {
                let ResultsBody { results } = decode(self, body)?;
                if results.len() != 1 {
                    return Err(format!("{} results for an {} of 1 step", results.len(), self.f()));
                }
                Ok(self.invoke_value())
            }
            // The element taken, or null: the queue was empty.
            Op::Dequeue { .. } => {
                let ResultsBody { results } = decode(self, body)?;
                match results[..] {
                    [taken] => Ok(json!(taken)),
                    _ => Err(format!("{} results for a dequeue of 1 step", results.len())),
                }
            }
            Op::ReadSet { .. } => {
                let ElementsBody { mut elements } = decode(self, body)?;
                elements.sort_unstable();
                Ok(json!(elements))
            }
            Op::ReadAccounts { accounts } => {
                let ResultsBody { results } = decode(self, body)?;
                if results.len() != accounts.len() {
                    return Err(format!(
                        "{} results for a read of {} accounts",
                        results.len(),
                        accounts.len()
                    ));
                }
                let balances: serde_json::Map<String, Value> =
                    accounts.iter().zip(results).map(|(a, r)| (a.clone(), json!(r))).collect();
                Ok(Value::Object(balances))
            }
            Op::Transfer { .. } => {
                let ResultsBody { results } = decode(self, body)?;
                if results.len() != 3 {
                    return Err(format!("{} results for a transfer of 3 steps", results.len()));
                }
                Ok(self.invoke_value())
            }
            Op::Txn { ops } => {
                #[derive(Deserialize)]
                struct TxnBody {
                    results: Vec<TxnResult>,
                }
                let TxnBody { results } = decode(self, body)?;
                if results.len() != ops.len() {
                    return Err(format!("{} results for a txn of {} steps", results.len(), ops.len()));
                }
                let steps = ops
                    .iter()
                    .zip(results)
                    .map(|(op, result)| match (op, result) {
                        (MicroOp::Append { key, value }, _) => Ok(json!(["append", key, value])),
                        (MicroOp::Read { key }, TxnResult::List(list)) => Ok(json!(["r", key, list])),
                        (MicroOp::Read { key }, TxnResult::Value(v)) => {
                            Err(format!("the read of list {key} answered {v:?}, not a list"))
                        }
                    })
                    .collect::<Result<Vec<Value>, String>>()?;
                Ok(Value::Array(steps))
            }
            // A successful status is the acknowledgement; the body carries nothing.
            Op::Write { .. } | Op::Cas { .. } | Op::Add { .. } => Ok(self.invoke_value()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_checks_the_source_then_moves_the_amount_atomically() {
        let op = Op::Transfer { from: "a0".into(), to: "a1".into(), amount: 3 };
        assert_eq!(
            op.request(),
            Request::Txn {
                ops: vec![
                    TxnOp::Check { key: "a0".into(), at_least: 3 },
                    TxnOp::Add { key: "a0".into(), delta: -3 },
                    TxnOp::Add { key: "a1".into(), delta: 3 },
                ]
            }
        );
        assert_eq!(op.key(), None);
        assert_eq!(op.f(), "transfer");
    }

    #[test]
    fn answers_become_the_models_values() {
        let read = Op::Read { key: "r1".into() };
        assert_eq!(read.completion_value(br#"{"value":4}"#), Ok(json!(4)));
        assert_eq!(read.completion_value(br#"{"value":null}"#), Ok(Value::Null));
        let cas = Op::Cas { key: "r1".into(), from: 1, to: 2 };
        assert_eq!(cas.invoke_value(), json!([1, 2]));
        assert_eq!(cas.completion_value(b"{}"), Ok(json!([1, 2])));
        let set = Op::ReadSet { key: "s".into() };
        assert_eq!(set.completion_value(br#"{"elements":[3,1,2]}"#), Ok(json!([1, 2, 3])));
        let accounts = Op::ReadAccounts { accounts: vec!["a0".into(), "a1".into()] };
        assert_eq!(accounts.completion_value(br#"{"results":[5,null]}"#), Ok(json!({"a0": 5, "a1": null})));
    }

    #[test]
    fn a_txn_records_its_steps_and_completes_with_the_lists_read() {
        let op = Op::Txn {
            ops: vec![MicroOp::Append { key: "l1".into(), value: 3 }, MicroOp::Read { key: "l2".into() }],
        };
        assert_eq!(op.f(), "txn");
        assert_eq!(op.key(), None);
        assert_eq!(op.invoke_value(), json!([["append", "l1", 3], ["r", "l2", null]]));
        assert_eq!(
            op.request(),
            Request::Txn {
                ops: vec![TxnOp::Append { key: "l1".into(), value: 3 }, TxnOp::ReadList { key: "l2".into() }]
            }
        );
        assert!(!op.request().is_read_only());
        assert_eq!(
            op.completion_value(br#"{"results":[null,[1,2]]}"#),
            Ok(json!([["append", "l1", 3], ["r", "l2", [1, 2]]]))
        );
        assert!(op.completion_value(br#"{"results":[null,5]}"#).is_err(), "a register value for a list");
        assert!(op.completion_value(br#"{"results":[null]}"#).is_err(), "a result short");
    }

    #[test]
    fn a_counter_adds_in_one_step_and_reads_absent_as_zero() {
        let add = Op::Increment { key: "c1".into(), delta: 3 };
        assert_eq!((add.f(), add.key(), add.invoke_value()), ("add", Some("c1"), json!(3)));
        assert_eq!(add.request(), Request::Txn { ops: vec![TxnOp::Add { key: "c1".into(), delta: 3 }] });
        assert_eq!(add.completion_value(br#"{"results":[7]}"#), Ok(json!(3)));
        assert!(add.completion_value(br#"{"results":[]}"#).is_err());
        let read = Op::ReadCounter { key: "c1".into() };
        assert_eq!((read.f(), read.invoke_value()), ("read", Value::Null));
        assert!(read.request().is_read_only());
        assert_eq!(read.completion_value(br#"{"value":7}"#), Ok(json!(7)));
        assert_eq!(read.completion_value(br#"{"value":null}"#), Ok(json!(0)));
        assert!(read.completion_value(b"{}").is_err());
    }

    #[test]
    fn an_answer_of_the_wrong_shape_is_refused() {
        let read = Op::Read { key: "r1".into() };
        assert!(read.completion_value(b"{}").is_err());
        assert!(read.completion_value(b"not json").is_err());
        let set = Op::ReadSet { key: "s".into() };
        assert!(set.completion_value(br#"{"value":null}"#).is_err());
        let accounts = Op::ReadAccounts { accounts: vec!["a0".into(), "a1".into()] };
        assert!(accounts.completion_value(br#"{"results":[5]}"#).is_err());
    }
}
