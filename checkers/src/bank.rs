//! The bank checker: money is neither made nor destroyed.
//!
//! Every `ok` read of all accounts (`f = "read"`, value `{account: balance}`) must sum to
//! the initial total and show no negative balance. Transfers are transactions that check
//! the source's balance first, so a correct system satisfies both in every read, however
//! the transfers interleave. An absent balance (`null`) counts as 0, as it does on the node.
//!
//! Pure: the history and the expected total in, a report out. No read at all is `unknown`:
//! nothing was checked.

use serde::{Deserialize, Serialize};

use crate::history::{History, Outcome};
use crate::verdict::Verdict;

/// At most this many bad reads are kept in the report (the count is always exact).
pub const MAX_REPORTED: usize = 20;

/// What the bank checker found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankReport {
    pub verdict: Verdict,
    /// `ok` reads examined.
    pub reads: usize,
    /// Reads that broke a rule.
    pub bad_reads: usize,
    /// The first [`MAX_REPORTED`] of them.
    pub errors: Vec<BankError>,
}

/// One read that broke a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankError {
    /// The read's invocation index in the history.
    pub index: u64,
    pub kind: BankErrorKind,
    /// The balances read (or the value that could not be read as balances).
    pub value: serde_json::Value,
    /// What the balances summed to, where they could be summed.
    pub total: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BankErrorKind {
    /// The balances do not sum to the initial total.
    WrongTotal,
    /// An account is below zero.
    NegativeBalance,
    /// An expected account is missing from the read.
    MissingAccount,
    /// The value is not an object of integer (or null) balances.
    Malformed,
}

/// Check every `ok` read against `accounts` and `total`.
pub fn check(history: &History, accounts: &[String], total: i64) -> BankReport {
    let mut reads = 0;
    let mut bad = Vec::new();
    for op in history.operations() {
        let Outcome::Ok(value) = &op.outcome else { continue };
        if op.f != "read" {
            continue;
        }
        reads += 1;
        if let Some(kind) = judge(value, accounts, total) {
            let sum = balances(value).map(|b| b.iter().map(|(_, v)| v).sum());
            bad.push(BankError { index: op.invoke_index, kind, value: value.clone(), total: sum });
        }
    }
    let verdict = if !bad.is_empty() {
        Verdict::Invalid
    } else if reads == 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let bad_reads = bad.len();
    bad.truncate(MAX_REPORTED);
    BankReport { verdict, reads, bad_reads, errors: bad }
}

fn judge(value: &serde_json::Value, accounts: &[String], total: i64) -> Option<BankErrorKind> {
    let Some(balances) = balances(value) else { return Some(BankErrorKind::Malformed) };
    if accounts.iter().any(|a| !balances.iter().any(|(name, _)| name == a)) {
        return Some(BankErrorKind::MissingAccount);
    }
    if balances.iter().any(|&(_, v)| v < 0) {
        return Some(BankErrorKind::NegativeBalance);
    }
    let sum: i64 = balances.iter().map(|&(_, v)| v).sum();
    (sum != total).then_some(BankErrorKind::WrongTotal)
}

/// The balances of a read, `null` as 0; `None` if the value is not such an object.
fn balances(value: &serde_json::Value) -> Option<Vec<(&str, i64)>> {
    let object = value.as_object()?;
    object
        .iter()
        .map(|(name, v)| match v {
            serde_json::Value::Null => Some((name.as_str(), 0)),
            v => v.as_i64().map(|n| (name.as_str(), n)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, EventType, Process};
    use serde_json::json;

    fn history(reads: &[serde_json::Value]) -> History {
        let mut events = Vec::new();
        for (p, value) in reads.iter().enumerate() {
            let event = |kind, value| Event {
                index: 0,
                time: None,
                process: Process::Client(p as u64),
                kind,
                f: "read".into(),
                key: None,
                value,
                error: None,
                node: None,
            };
            events.push(event(EventType::Invoke, json!(null)));
            events.push(event(EventType::Ok, value.clone()));
        }
        History::from_events(events).unwrap()
    }

    fn accounts() -> Vec<String> {
        vec!["a0".into(), "a1".into()]
    }

    #[test]
    fn conserving_reads_are_valid() {
        let report =
            check(&history(&[json!({"a0": 10, "a1": 10}), json!({"a0": 0, "a1": 20})]), &accounts(), 20);
        assert_eq!(report.verdict, Verdict::Valid);
        assert_eq!(report.reads, 2);
    }

    #[test]
    fn money_made_or_lost_or_overdrawn_is_invalid() {
        let report = check(
            &history(&[
                json!({"a0": 10, "a1": 11}),
                json!({"a0": -1, "a1": 21}),
                json!({"a0": 10}),
                json!({"a0": "x", "a1": 1}),
                json!({"a0": null, "a1": 20}),
            ]),
            &accounts(),
            20,
        );
        assert_eq!(report.verdict, Verdict::Invalid);
        let kinds: Vec<_> = report.errors.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                BankErrorKind::WrongTotal,
                BankErrorKind::NegativeBalance,
                BankErrorKind::MissingAccount,
                BankErrorKind::Malformed
            ]
        );
        assert_eq!(report.errors[0].total, Some(21));
    }

    #[test]
    fn no_read_is_unknown() {
        assert_eq!(check(&history(&[]), &accounts(), 20).verdict, Verdict::Unknown);
    }
}
