//! The one replicated state machine every protocol applies its log to.
//!
//! Deterministic: the same sequence of requests gives the same answers and the same state
//! on every replica. Protocols decide *order*; this decides *meaning*.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::api::{ApiError, ErrorCode, Request, Response, TxnOp, TxnResult};

/// Most elements one list holds; an append past it is a definite `precondition_failed`
/// that changes nothing (the list-append workload retires a key long before).
pub const MAX_LIST_LEN: usize = 10_000;

/// Registers, sets and lists, by key. A key holds one kind; using it as another is a
/// definite `bad_request` that changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Store {
    registers: BTreeMap<String, i64>,
    sets: BTreeMap<String, BTreeSet<i64>>,
    /// Absent from an older snapshot: empty.
    #[serde(default)]
    lists: BTreeMap<String, Vec<i64>>,
}

/// The kinds of value a key can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Register,
    Set,
    List,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Register => "a register",
            Kind::Set => "a set",
            Kind::List => "a list",
        }
    }
}

/// A transaction's effect, computed against a store but not yet applied to it.
#[derive(Debug, Default)]
struct Staged<'a> {
    /// Each touched register's value after the transaction (None: absent).
    registers: BTreeMap<&'a str, Option<i64>>,
    /// Each touched list's contents after the transaction.
    lists: BTreeMap<&'a str, Vec<i64>>,
}

impl Store {
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply one request. Reads do not change state; a failed cas or txn changes nothing.
    pub fn apply(&mut self, request: &Request) -> Result<Response, ApiError> {
        match request {
            Request::Get { key } => {
                self.ensure_kind(key, Kind::Register)?;
                Ok(Response::Value { value: self.registers.get(key).copied() })
            }
            Request::Put { key, value } => {
                self.ensure_kind(key, Kind::Register)?;
                self.registers.insert(key.clone(), *value);
                Ok(Response::Done {})
            }
            Request::Cas { key, from, to } => {
                self.ensure_kind(key, Kind::Register)?;
                match self.registers.get(key) {
                    Some(current) if current == from => {
                        self.registers.insert(key.clone(), *to);
                        Ok(Response::Done {})
                    }
                    current => Err(ApiError::new(
                        ErrorCode::PreconditionFailed,
                        format!("cas on {key}: expected {from}, found {current:?}"),
                    )),
                }
            }
            Request::SetAdd { key, element } => {
                self.ensure_kind(key, Kind::Set)?;
                self.sets.entry(key.clone()).or_default().insert(*element);
                Ok(Response::Done {})
            }
            Request::SetRead { key } => {
                self.ensure_kind(key, Kind::Set)?;
                let elements = self.sets.get(key).map(|s| s.iter().copied().collect()).unwrap_or_default();
                Ok(Response::Elements { elements })
            }
            Request::Txn { ops } => {
                let (results, staged) = self.stage_txn(ops)?;
                self.commit(staged);
                Ok(Response::Results { results })
            }
        }
    }

    /// Answer a read-only request without changing anything (for protocols that serve
    /// reads outside the log). Panics in debug builds if given a write.
    pub fn read(&self, request: &Request) -> Result<Response, ApiError> {
        debug_assert!(request.is_read_only(), "Store::read given a write: {request:?}");
        match request {
            // No copy of the store for the common case.
            Request::Txn { ops } => self.preview_txn(ops),
            _ => self.clone().apply(request),
        }
    }

    /// The answer a transaction would get if applied now, without applying it: what it
    /// reads is this store's state, and its own earlier steps.
    pub fn preview_txn(&self, ops: &[TxnOp]) -> Result<Response, ApiError> {
        self.stage_txn(ops).map(|(results, _)| Response::Results { results })
    }

    /// Number of keys held, for status and tests.
    pub fn len(&self) -> usize {
        self.registers.len() + self.sets.len() + self.lists.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every step's result and the transaction's writes, against the current state; an
    /// error means the whole transaction aborts.
    fn stage_txn<'a>(&self, ops: &'a [TxnOp]) -> Result<(Vec<TxnResult>, Staged<'a>), ApiError> {
        let mut staged = Staged::default();
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            let key = op.key();
            match op {
                TxnOp::Append { value, .. } => {
                    self.ensure_kind(key, Kind::List)?;
                    let list = self.staged_list(&mut staged, key);
                    if list.len() >= MAX_LIST_LEN {
                        return Err(ApiError::new(
                            ErrorCode::PreconditionFailed,
                            format!(
                                "append on {key}: the list holds {MAX_LIST_LEN} elements, the most allowed"
                            ),
                        ));
                    }
                    list.push(*value);
                    results.push(TxnResult::Value(None));
                }
                TxnOp::ReadList { .. } => {
                    self.ensure_kind(key, Kind::List)?;
                    let list = match staged.lists.get(key) {
                        Some(list) => list.clone(),
                        None => self.lists.get(key).cloned().unwrap_or_default(),
                    };
                    results.push(TxnResult::List(list));
                }
                TxnOp::Pop { .. } => {
                    self.ensure_kind(key, Kind::List)?;
                    let list = self.staged_list(&mut staged, key);
                    let first = (!list.is_empty()).then(|| list.remove(0));
                    results.push(TxnResult::Value(first));
                }
                TxnOp::Read { .. } | TxnOp::Write { .. } | TxnOp::Add { .. } | TxnOp::Check { .. } => {
                    self.ensure_kind(key, Kind::Register)?;
                    let current =
                        *staged.registers.entry(key).or_insert_with(|| self.registers.get(key).copied());
                    results.push(Self::stage_register_step(op, current, &mut staged.registers)?.into());
                }
            }
        }
        Ok((results, staged))
    }

    /// The transaction's copy of list `key`, made from the store's on first write.
    fn staged_list<'s, 'a>(&self, staged: &'s mut Staged<'a>, key: &'a str) -> &'s mut Vec<i64> {
        staged.lists.entry(key).or_insert_with(|| self.lists.get(key).cloned().unwrap_or_default())
    }

    /// One register step of a transaction over the register's staged value `current`.
    fn stage_register_step<'a>(
        op: &'a TxnOp,
        current: Option<i64>,
        registers: &mut BTreeMap<&'a str, Option<i64>>,
    ) -> Result<Option<i64>, ApiError> {
        match op {
            TxnOp::Read { .. } => Ok(current),
            TxnOp::Write { key, value } => {
                registers.insert(key, Some(*value));
                Ok(None)
            }
            TxnOp::Add { key, delta } => {
                let next = current.unwrap_or(0).checked_add(*delta).ok_or_else(|| {
                    ApiError::new(ErrorCode::PreconditionFailed, format!("add on {key} overflows"))
                })?;
                registers.insert(key, Some(next));
                Ok(Some(next))
            }
            TxnOp::Check { key, at_least } => {
                let seen = current.unwrap_or(0);
                if seen < *at_least {
                    return Err(ApiError::new(
                        ErrorCode::PreconditionFailed,
                        format!("check on {key}: {seen} < {at_least}"),
                    ));
                }
                Ok(Some(seen))
            }
            TxnOp::Append { .. } | TxnOp::ReadList { .. } | TxnOp::Pop { .. } => {
                unreachable!("a list step is staged by stage_txn: {op:?}")
            }
        }
    }

    fn commit(&mut self, staged: Staged<'_>) {
        for (key, value) in staged.registers {
            match value {
                Some(v) => self.registers.insert(key.to_string(), v),
                None => self.registers.remove(key),
            };
        }
        for (key, list) in staged.lists {
            // A read of an absent list stages nothing. A pop may leave a list empty: it
            // stays, a list, so that the key keeps its kind.
            self.lists.insert(key.to_string(), list);
        }
    }

    /// Refuse a key that already holds another kind than `want`.
    fn ensure_kind(&self, key: &str, want: Kind) -> Result<(), ApiError> {
        let held = if self.registers.contains_key(key) {
            Some(Kind::Register)
        } else if self.sets.contains_key(key) {
            Some(Kind::Set)
        } else if self.lists.contains_key(key) {
            Some(Kind::List)
        } else {
            None
        };
        match held {
            Some(kind) if kind != want => Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("{key} holds {}, not {}", kind.name(), want.name()),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: i64) -> Request {
        Request::Put { key: key.into(), value }
    }

    #[test]
    fn cas_changes_only_when_the_expected_value_is_there() {
        let mut s = Store::new();
        s.apply(&put("a", 1)).unwrap();
        let miss = s.apply(&Request::Cas { key: "a".into(), from: 2, to: 3 }).unwrap_err();
        assert_eq!(miss.code, ErrorCode::PreconditionFailed);
        assert!(miss.definite);
        s.apply(&Request::Cas { key: "a".into(), from: 1, to: 3 }).unwrap();
        assert_eq!(s.apply(&Request::Get { key: "a".into() }).unwrap(), Response::Value { value: Some(3) });
    }

    #[test]
    fn a_failed_txn_check_changes_nothing() {
        let mut s = Store::new();
        s.apply(&put("a", 10)).unwrap();
        let transfer = |amount| Request::Txn {
            ops: vec![
                TxnOp::Check { key: "a".into(), at_least: amount },
                TxnOp::Add { key: "a".into(), delta: -amount },
                TxnOp::Add { key: "b".into(), delta: amount },
            ],
        };
        assert_eq!(
            s.apply(&transfer(4)).unwrap(),
            Response::Results { results: vec![Some(10).into(), Some(6).into(), Some(4).into()] }
        );
        let before = s.clone();
        assert_eq!(s.apply(&transfer(7)).unwrap_err().code, ErrorCode::PreconditionFailed);
        assert_eq!(s, before);
    }

    #[test]
    fn set_and_register_kinds_do_not_mix() {
        let mut s = Store::new();
        s.apply(&Request::SetAdd { key: "s".into(), element: 1 }).unwrap();
        assert_eq!(s.apply(&put("s", 1)).unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(
            s.apply(&Request::SetRead { key: "s".into() }).unwrap(),
            Response::Elements { elements: vec![1] }
        );
    }

    fn append(key: &str, value: i64) -> TxnOp {
        TxnOp::Append { key: key.into(), value }
    }

    fn read_list(key: &str) -> TxnOp {
        TxnOp::ReadList { key: key.into() }
    }

    #[test]
    fn a_txn_reads_lists_whole_and_sees_its_own_appends() {
        let mut s = Store::new();
        let txn = |ops| Request::Txn { ops };
        assert_eq!(
            s.apply(&txn(vec![read_list("x"), append("x", 1), append("x", 2), read_list("x")])).unwrap(),
            Response::Results {
                results: vec![TxnResult::List(vec![]), None.into(), None.into(), TxnResult::List(vec![1, 2])]
            }
        );
        let read = txn(vec![read_list("x"), read_list("y")]);
        assert!(read.is_read_only());
        assert_eq!(
            s.read(&read).unwrap(),
            Response::Results { results: vec![TxnResult::List(vec![1, 2]), TxnResult::List(vec![])] }
        );
        assert!(!txn(vec![read_list("x"), append("x", 3)]).is_read_only());
    }

    #[test]
    fn an_aborted_txn_leaves_no_append_behind() {
        let mut s = Store::new();
        s.apply(&put("r", 1)).unwrap();
        let before = s.clone();
        let mixed = Request::Txn { ops: vec![append("x", 1), append("r", 2)] };
        assert_eq!(s.apply(&mixed).unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(s, before);
        s.apply(&Request::Txn { ops: vec![append("x", 1)] }).unwrap();
        assert_eq!(s.apply(&put("x", 1)).unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(s.apply(&Request::SetRead { key: "x".into() }).unwrap_err().code, ErrorCode::BadRequest);
    }

    #[test]
    fn appends_and_pops_make_a_fifo_queue() {
        let mut s = Store::new();
        let pop = || Request::Txn { ops: vec![TxnOp::Pop { key: "q".into() }] };
        assert_eq!(s.apply(&pop()).unwrap(), Response::Results { results: vec![None.into()] }, "empty");
        s.apply(&Request::Txn { ops: vec![append("q", 1), append("q", 2)] }).unwrap();
        assert!(!pop().is_read_only());
        assert_eq!(s.apply(&pop()).unwrap(), Response::Results { results: vec![Some(1).into()] });
        // Within one transaction, a pop sees the appends before it.
        let txn = Request::Txn { ops: vec![append("q", 3), TxnOp::Pop { key: "q".into() }, read_list("q")] };
        assert_eq!(
            s.apply(&txn).unwrap(),
            Response::Results { results: vec![None.into(), Some(2).into(), TxnResult::List(vec![3])] }
        );
        // A failed transaction pops nothing.
        let before = s.clone();
        let aborted =
            Request::Txn { ops: vec![TxnOp::Pop { key: "q".into() }, TxnOp::Read { key: "q".into() }] };
        assert_eq!(s.apply(&aborted).unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(s, before);
        assert_eq!(s.apply(&pop()).unwrap(), Response::Results { results: vec![Some(3).into()] });
        assert_eq!(
            s.apply(&put("q", 1)).unwrap_err().code,
            ErrorCode::BadRequest,
            "an emptied queue is a list"
        );
    }

    #[test]
    fn a_full_list_refuses_the_next_append() {
        let mut s = Store::new();
        let fill: Vec<TxnOp> = (0..MAX_LIST_LEN as i64).map(|v| append("x", v)).collect();
        s.apply(&Request::Txn { ops: fill }).unwrap();
        let full = s.apply(&Request::Txn { ops: vec![append("x", -1)] }).unwrap_err();
        assert_eq!(full.code, ErrorCode::PreconditionFailed);
        assert!(full.definite);
    }

    #[test]
    fn txn_results_keep_the_bank_wire_format_and_carry_lists() {
        let results: Vec<TxnResult> = serde_json::from_str("[5, null, [1, 2], []]").unwrap();
        assert_eq!(
            results,
            vec![Some(5).into(), None.into(), TxnResult::List(vec![1, 2]), TxnResult::List(vec![])]
        );
        assert_eq!(serde_json::to_string(&results).unwrap(), "[5,null,[1,2],[]]");
    }
}
