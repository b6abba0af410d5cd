//! The one replicated state machine every protocol applies its log to.
//!
//! Deterministic: the same sequence of requests gives the same answers and the same state
//! on every replica. Protocols decide *order*; this decides *meaning*.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::api::{ApiError, ErrorCode, Request, Response, TxnOp};

/// Registers and sets, by key. A key holds one kind; using it as the other is a definite
/// `bad_request` that changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Store {
    registers: BTreeMap<String, i64>,
    sets: BTreeMap<String, BTreeSet<i64>>,
}

impl Store {
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply one request. Reads do not change state; a failed cas or txn changes nothing.
    pub fn apply(&mut self, request: &Request) -> Result<Response, ApiError> {
        match request {
            Request::Get { key } => {
                self.ensure_not_set(key)?;
                Ok(Response::Value { value: self.registers.get(key).copied() })
            }
            Request::Put { key, value } => {
                self.ensure_not_set(key)?;
                self.registers.insert(key.clone(), *value);
                Ok(Response::Done {})
            }
            Request::Cas { key, from, to } => {
                self.ensure_not_set(key)?;
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
                self.ensure_not_register(key)?;
                self.sets.entry(key.clone()).or_default().insert(*element);
                Ok(Response::Done {})
            }
            Request::SetRead { key } => {
                self.ensure_not_register(key)?;
                let elements = self.sets.get(key).map(|s| s.iter().copied().collect()).unwrap_or_default();
                Ok(Response::Elements { elements })
            }
            Request::Txn { ops } => self.apply_txn(ops),
        }
    }

    /// Answer a read-only request without changing anything (for protocols that serve
    /// reads outside the log). Panics in debug builds if given a write.
    pub fn read(&self, request: &Request) -> Result<Response, ApiError> {
        debug_assert!(request.is_read_only(), "Store::read given a write: {request:?}");
        self.clone().apply(request)
    }

    /// Number of keys held, for status and tests.
    pub fn len(&self) -> usize {
        self.registers.len() + self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn apply_txn(&mut self, ops: &[TxnOp]) -> Result<Response, ApiError> {
        // Work on a copy of the touched registers so that an abort changes nothing.
        let mut staged: BTreeMap<&str, Option<i64>> = BTreeMap::new();
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            let key = match op {
                TxnOp::Read { key }
                | TxnOp::Write { key, .. }
                | TxnOp::Add { key, .. }
                | TxnOp::Check { key, .. } => key,
            };
            self.ensure_not_set(key)?;
            let current = *staged.entry(key.as_str()).or_insert_with(|| self.registers.get(key).copied());
            match op {
                TxnOp::Read { .. } => results.push(current),
                TxnOp::Write { value, .. } => {
                    staged.insert(key, Some(*value));
                    results.push(None);
                }
                TxnOp::Add { delta, .. } => {
                    let next = current.unwrap_or(0).checked_add(*delta).ok_or_else(|| {
                        ApiError::new(ErrorCode::PreconditionFailed, format!("add on {key} overflows"))
                    })?;
                    staged.insert(key, Some(next));
                    results.push(Some(next));
                }
                TxnOp::Check { at_least, .. } => {
                    let seen = current.unwrap_or(0);
                    if seen < *at_least {
                        return Err(ApiError::new(
                            ErrorCode::PreconditionFailed,
                            format!("check on {key}: {seen} < {at_least}"),
                        ));
                    }
                    results.push(Some(seen));
                }
            }
        }
        for (key, value) in staged {
            match value {
                Some(v) => self.registers.insert(key.to_string(), v),
                None => self.registers.remove(key),
            };
        }
        Ok(Response::Results { results })
    }

    fn ensure_not_set(&self, key: &str) -> Result<(), ApiError> {
        if self.sets.contains_key(key) {
            return Err(ApiError::new(ErrorCode::BadRequest, format!("{key} holds a set, not a register")));
        }
        Ok(())
    }

    fn ensure_not_register(&self, key: &str) -> Result<(), ApiError> {
        if self.registers.contains_key(key) {
            return Err(ApiError::new(ErrorCode::BadRequest, format!("{key} holds a register, not a set")));
        }
        Ok(())
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
            Response::Results { results: vec![Some(10), Some(6), Some(4)] }
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
}
