//! rw-register: what reads of single values reveal, which is much less than lists do.
//!
//! Inferred:
//! - wr: every written value is unique per key, so a committed read of a value names its
//!   writer, which precedes the reader.
//! - version order, partially: the unset state comes before every written value, and a
//!   transaction that read `v1` of a key (before writing it itself) and then wrote `v2`
//!   orders `v1 < v2` (its last write to the key counts). From each such pair: ww from the
//!   writer of `v1` to the transaction, and rw from every other transaction that read `v1`
//!   to it. From the unset state: rw from every reader of the unset key to every writer
//!   of it.
//!
//! Not inferred: the order of blind writes (writes by transactions that did not read the
//! key first), and anything from real time. Anomalies that need those orders are missed:
//! the checker is sound (every anomaly reported is real) but not complete.
//!
//! Single reads also show G1a (a value written by an aborted transaction), G1b (a value
//! its writer overwrote within the same transaction), garbage-read (a value nobody wrote)
//! and internal (a read that disagrees with the transaction's own earlier reads and
//! writes). Only committed transactions' reads are trusted.

use std::collections::BTreeMap;

use super::anomaly::{Anomaly, AnomalyKind, EdgeKind};
use super::graph::{Dep, Why};
use super::list_append::TxnRef;
use super::micro_op::{KeyId, MicroOp, Parsed, Txn};
use super::Inference;
use crate::hash::FxHashMap;
use crate::report::CheckError;

/// Who wrote a value.
#[derive(Debug, Clone, Copy)]
struct Writer {
    txn: TxnRef,
    /// Whether it was the transaction's last write to the key.
    last: bool,
}

/// Infer the dependencies and single-read anomalies of an rw-register history.
pub(crate) fn infer(parsed: &Parsed) -> Result<Inference, CheckError> {
    let writers = writers(parsed)?;
    let mut out = Inference::default();
    let key = |k: KeyId| parsed.key_phrase(k);

    // Per key: external reads (value -> readers) and read-then-write pairs.
    let mut readers: BTreeMap<KeyId, FxHashMap<Option<i64>, Vec<usize>>> = BTreeMap::new();
    let mut successions: BTreeMap<KeyId, Vec<(Option<i64>, i64, usize)>> = BTreeMap::new();
    let mut last_writes: BTreeMap<KeyId, Vec<(i64, usize)>> = BTreeMap::new();
    for (i, txn) in parsed.txns.iter().enumerate() {
        for (k, w) in final_writes(txn) {
            last_writes.entry(k).or_default().push((w, i));
        }
        if !txn.reads_trusted() {
            continue;
        }
        out.anomalies.extend(internal(txn, parsed));
        for (k, read, wrote) in external_reads(txn) {
            readers.entry(k).or_default().entry(read).or_default().push(i);
            if let Some(w) = wrote {
                successions.entry(k).or_default().push((read, w, i));
            }
            let Some(v) = read else { continue };
            match writers.get(&(k, v)) {
                None => out.anomalies.push(Anomaly::single(
                    AnomalyKind::GarbageRead,
                    format!(
                        "{} read {} = {v}, but no transaction ever wrote {v} to {}",
                        txn.name(),
                        key(k),
                        key(k)
                    ),
                    vec![txn],
                )),
                Some(Writer { txn: TxnRef::Aborted(a), .. }) => {
                    let writer = &parsed.aborted[*a];
                    out.anomalies.push(Anomaly::single(
                        AnomalyKind::G1a,
                        format!(
                            "{} read {} = {v}, which {} wrote in a transaction that failed (aborted)",
                            txn.name(),
                            key(k),
                            writer.name()
                        ),
                        vec![writer, txn],
                    ));
                }
                Some(Writer { txn: TxnRef::Live(w), .. }) if *w == i => out.anomalies.push(Anomaly::single(
                    AnomalyKind::Internal,
                    format!("{} read {} = {v} before it wrote {v} there itself", txn.name(), key(k)),
                    vec![txn],
                )),
                Some(Writer { txn: TxnRef::Live(w), last }) => {
                    let writer = &parsed.txns[*w];
                    out.deps.push(Dep {
                        from: *w,
                        to: i,
                        kind: EdgeKind::Wr,
                        why: Why::ReadValue { key: k, value: v },
                    });
                    if !last {
                        let final_value =
                            final_writes(writer).into_iter().find(|(kk, _)| *kk == k).map_or(v, |(_, w)| w);
                        out.anomalies.push(Anomaly::single(
                            AnomalyKind::G1b,
                            format!(
                                "{} read {} = {v}, which {} wrote but then overwrote with {final_value} in the \
                                 same transaction: {} saw an intermediate state of {}",
                                txn.name(),
                                key(k),
                                writer.name(),
                                txn.name(),
                                writer.name()
                            ),
                            vec![writer, txn],
                        ));
                    }
                }
            }
        }
    }

    for (&k, pairs) in &successions {
        for &(read, wrote, t) in pairs {
            if let Some(v) = read {
                if let Some(Writer { txn: TxnRef::Live(w), .. }) = writers.get(&(k, v)) {
                    out.deps.push(Dep {
                        from: *w,
                        to: t,
                        kind: EdgeKind::Ww,
                        why: Why::OverwroteRead { key: k, read: v, wrote },
                    });
                }
            }
            // Unset readers are linked to every writer below.
            if read.is_none() {
                continue;
            }
            for &r in readers.get(&k).and_then(|m| m.get(&read)).into_iter().flatten() {
                out.deps.push(Dep {
                    from: r,
                    to: t,
                    kind: EdgeKind::Rw,
                    why: Why::ReadBeforeWrite { key: k, read, wrote },
                });
            }
        }
    }
    for (&k, writes) in &last_writes {
        for &r in readers.get(&k).and_then(|m| m.get(&None)).into_iter().flatten() {
            for &(wrote, t) in writes {
                out.deps.push(Dep {
                    from: r,
                    to: t,
                    kind: EdgeKind::Rw,
                    why: Why::ReadBeforeWrite { key: k, read: None, wrote },
                });
            }
        }
    }
    Ok(out)
}

/// Every written value's writer; a value written twice to one key is refused.
fn writers(parsed: &Parsed) -> Result<FxHashMap<(KeyId, i64), Writer>, CheckError> {
    let mut writers: FxHashMap<(KeyId, i64), Writer> = FxHashMap::default();
    let all = (0..parsed.txns.len()).map(TxnRef::Live).chain((0..parsed.aborted.len()).map(TxnRef::Aborted));
    for txn_ref in all {
        let txn = txn_ref.get(parsed);
        for (pos, op) in txn.ops.iter().enumerate() {
            let MicroOp::Write { key, value } = *op else { continue };
            let last =
                !txn.ops[pos + 1..].iter().any(|o| matches!(o, MicroOp::Write { key: k, .. } if *k == key));
            if let Some(other) = writers.insert((key, value), Writer { txn: txn_ref, last }) {
                return Err(CheckError {
                    event: Some(txn.index),
                    message: format!(
                        "{value} is written to key {:?} by both {} and {}; rw-register needs each value \
                         written once per key",
                        parsed.key(key),
                        other.txn.get(parsed).name(),
                        txn.name()
                    ),
                });
            }
        }
    }
    Ok(writers)
}

/// The last value a transaction wrote to each key it wrote.
fn final_writes(txn: &Txn) -> Vec<(KeyId, i64)> {
    let mut last: Vec<(KeyId, i64)> = Vec::new();
    for op in &txn.ops {
        if let MicroOp::Write { key, value } = *op {
            match last.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => last.push((key, value)),
            }
        }
    }
    last
}

/// Per key the transaction read before writing it: (key, value read, last value written
/// afterwards, if any).
fn external_reads(txn: &Txn) -> Vec<(KeyId, Option<i64>, Option<i64>)> {
    let mut out: Vec<(KeyId, Option<i64>, Option<i64>)> = Vec::new();
    let mut touched: Vec<KeyId> = Vec::new();
    for op in &txn.ops {
        match *op {
            MicroOp::ReadRegister { key, value } if !touched.contains(&key) => {
                touched.push(key);
                out.push((key, value, None));
            }
            MicroOp::Write { key, value } => {
                if !touched.contains(&key) {
                    touched.push(key);
                }
                if let Some(slot) = out.iter_mut().find(|(k, _, _)| *k == key) {
                    slot.2 = Some(value);
                }
            }
            _ => {}
        }
    }
    out
}

/// The first read that disagrees with the transaction's own earlier read or write.
fn internal(txn: &Txn, parsed: &Parsed) -> Option<Anomaly> {
    let mut known: FxHashMap<KeyId, (Option<i64>, bool)> = FxHashMap::default();
    for op in &txn.ops {
        match *op {
            MicroOp::Write { key, value } => {
                known.insert(key, (Some(value), true));
            }
            MicroOp::ReadRegister { key, value } => {
                if let Some(&(expected, wrote)) = known.get(&key) {
                    if expected != value {
                        let show = |v: Option<i64>| v.map_or("unset".to_string(), |v| v.to_string());
                        let what = if wrote { "had written" } else { "had already read" };
                        return Some(Anomaly::single(
                            AnomalyKind::Internal,
                            format!(
                                "{} read {} = {}, but it {what} {} there",
                                txn.name(),
                                parsed.key_phrase(key),
                                show(value),
                                show(expected)
                            ),
                            vec![txn],
                        ));
                    }
                }
                known.insert(key, (value, false));
            }
            MicroOp::Append { .. } | MicroOp::ReadList { .. } => {}
        }
    }
    None
}
