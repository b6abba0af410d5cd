//! list-append: what the reads of lists reveal.
//!
//! A read of a list shows every append to it so far, in order, so the order of versions of
//! each key is known from reads alone: it is the longest list any committed transaction
//! read, and every other read of the key must be a prefix of it (else
//! `incompatible-order`). From that order:
//!
//! - ww: the appender of each element precedes the appender of the next;
//! - wr: the appender of the last element a read saw (not counting the reader's own
//!   appends) precedes the reader;
//! - rw: a reader precedes the appender of the element right after what it saw.
//!
//! Single reads also show, without any graph: an element appended by an aborted
//! transaction (G1a), a read ending at an element its appender followed with another
//! append to the key (G1b, an intermediate state), an element seen twice
//! (duplicate-appends), an element nobody appended (garbage-read), and a transaction whose
//! read disagrees with its own earlier reads and appends (internal).
//!
//! Only committed transactions' reads are trusted; an indeterminate transaction's appends
//! may have happened, so they explain reads and take part in the version order.

use std::collections::{BTreeMap, HashSet};

use super::anomaly::{Anomaly, AnomalyKind, EdgeKind};
use super::graph::{Dep, Why};
use super::micro_op::{KeyId, MicroOp, Parsed, Txn};
use super::Inference;
use crate::hash::{FxBuild, FxHashMap};
use crate::report::CheckError;

/// Who appended an element.
#[derive(Debug, Clone, Copy)]
struct Appender {
    txn: TxnRef,
    /// Whether this was the transaction's last append to the key.
    last: bool,
}

/// A transaction by where it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnRef {
    /// A committed or indeterminate transaction: a node of the graph.
    Live(usize),
    Aborted(usize),
}

impl TxnRef {
    pub fn get<'p, 'a>(self, parsed: &'p Parsed<'a>) -> &'p Txn<'a> {
        match self {
            TxnRef::Live(i) => &parsed.txns[i],
            TxnRef::Aborted(i) => &parsed.aborted[i],
        }
    }
}

/// A committed transaction's read of one key.
struct Read<'a> {
    txn: usize,
    value: &'a [i64],
}

/// Infer the dependencies and the single-read anomalies of a list-append history.
pub(crate) fn infer(parsed: &Parsed) -> Result<Inference, CheckError> {
    let appenders = appenders(parsed)?;
    let mut out = Inference::default();
    let key = |k: KeyId| parsed.key_phrase(k);
    let name = |i: usize| parsed.txns[i].name();

    for txn in parsed.txns.iter().filter(|t| t.reads_trusted()) {
        out.anomalies.extend(internal(txn, parsed));
    }

    // Committed reads per key, in history order.
    let mut reads: BTreeMap<KeyId, Vec<Read>> = BTreeMap::new();
    for (i, txn) in parsed.txns.iter().enumerate().filter(|(_, t)| t.reads_trusted()) {
        for op in &txn.ops {
            if let MicroOp::ReadList { key, value } = op {
                reads.entry(*key).or_default().push(Read { txn: i, value });
            }
        }
    }

    for (&k, reads) in &reads {
        // The version order: the longest read; every read must be a prefix of it.
        // The first of the longest, so that others are told against the earliest reader.
        let longest =
            reads.iter().fold(&reads[0], |best, r| if r.value.len() > best.value.len() { r } else { best });
        let (longest_txn, order) = (longest.txn, longest.value);
        // Reads that are prefixes of the order and stop before its first doubtful element
        // (seen twice, appended by nobody or by an aborted transaction) need no look at
        // each element: in a clean history that is every read.
        let mut placed: HashSet<i64, FxBuild> =
            HashSet::with_capacity_and_hasher(order.len(), FxBuild::default());
        let clean_until = order
            .iter()
            .position(|&e| {
                !placed.insert(e)
                    || !matches!(appenders.get(&(k, e)), Some(Appender { txn: TxnRef::Live(_), .. }))
            })
            .unwrap_or(order.len());

        // Single-read anomalies.
        for read in reads {
            let reader = &parsed.txns[read.txn];
            if let Some((e, Appender { txn: TxnRef::Live(w), last: false })) =
                last_foreign(read, &appenders, k)
            {
                let writer = &parsed.txns[w];
                let later = later_appends(writer, k, e);
                out.anomalies.push(Anomaly::single(
                    AnomalyKind::G1b,
                    format!(
                        "{} read {} = {}, ending at {}'s append of {}, but {} went on to append {} to {}: \
                         {} saw an intermediate state of {}",
                        reader.name(),
                        key(k),
                        list(read.value),
                        writer.name(),
                        e,
                        writer.name(),
                        join(&later),
                        key(k),
                        reader.name(),
                        writer.name()
                    ),
                    vec![writer, reader],
                ));
            }
            if read.value.len() <= clean_until && order.starts_with(read.value) {
                continue;
            }
            let mut seen: FxHashMap<i64, usize> = FxHashMap::default();
            let mut duplicates = Vec::new();
            for &e in read.value {
                let n = seen.entry(e).or_insert(0);
                *n += 1;
                if *n == 2 {
                    duplicates.push(e);
                }
            }
            if !duplicates.is_empty() {
                out.anomalies.push(Anomaly::single(
                    AnomalyKind::DuplicateAppends,
                    format!(
                        "{} read {} = {} and saw {} more than once, though each element is appended once",
                        reader.name(),
                        key(k),
                        list(read.value),
                        join(&duplicates)
                    ),
                    vec![reader],
                ));
            }
            let garbage: Vec<i64> =
                read.value.iter().copied().filter(|e| !appenders.contains_key(&(k, *e))).collect();
            if !garbage.is_empty() {
                out.anomalies.push(Anomaly::single(
                    AnomalyKind::GarbageRead,
                    format!(
                        "{} read {} = {}, but no transaction ever appended {} to {}",
                        reader.name(),
                        key(k),
                        list(read.value),
                        join(&garbage),
                        key(k)
                    ),
                    vec![reader],
                ));
            }
            let mut aborted_seen: Vec<(usize, i64)> = Vec::new();
            for &e in read.value {
                if let Some(Appender { txn: TxnRef::Aborted(a), .. }) = appenders.get(&(k, e)) {
                    if !aborted_seen.iter().any(|(x, _)| x == a) {
                        aborted_seen.push((*a, e));
                    }
                }
            }
            for (a, e) in aborted_seen {
                let writer = &parsed.aborted[a];
                out.anomalies.push(Anomaly::single(
                    AnomalyKind::G1a,
                    format!(
                        "{} read {} = {}, including {}, which {} appended in a transaction that failed (aborted)",
                        reader.name(),
                        key(k),
                        list(read.value),
                        e,
                        writer.name()
                    ),
                    vec![writer, reader],
                ));
            }
        }

        let mut compatible = vec![true; reads.len()];
        for (j, read) in reads.iter().enumerate() {
            if !order.starts_with(read.value) {
                compatible[j] = false;
                out.anomalies.push(Anomaly::single(
                    AnomalyKind::IncompatibleOrder,
                    format!(
                        "{} read {} = {} and {} read {} = {}: neither is a prefix of the other, so no \
                         single order of appends explains both",
                        name(read.txn),
                        key(k),
                        list(read.value),
                        name(longest_txn),
                        key(k),
                        list(order)
                    ),
                    vec![&parsed.txns[read.txn], &parsed.txns[longest_txn]],
                ));
            }
        }
        let live = |e: i64| match appenders.get(&(k, e)) {
            Some(Appender { txn: TxnRef::Live(w), .. }) => Some(*w),
            _ => None,
        };
        // ww between consecutive appenders (first occurrences only).
        let mut placed: HashSet<i64, FxBuild> =
            HashSet::with_capacity_and_hasher(order.len(), FxBuild::default());
        let distinct: Vec<i64> = order.iter().copied().filter(|&e| placed.insert(e)).collect();
        for pair in distinct.windows(2) {
            if let (Some(a), Some(b)) = (live(pair[0]), live(pair[1])) {
                out.deps.push(Dep {
                    from: a,
                    to: b,
                    kind: EdgeKind::Ww,
                    why: Why::AppendedAfter { key: k, prev: pair[0], next: pair[1] },
                });
            }
        }
        for (j, read) in reads.iter().enumerate() {
            if let Some((e, Appender { txn: TxnRef::Live(w), .. })) = last_foreign(read, &appenders, k) {
                out.deps.push(Dep {
                    from: w,
                    to: read.txn,
                    kind: EdgeKind::Wr,
                    why: Why::ReadAppend { key: k, element: e },
                });
            }
            if !compatible[j] {
                continue;
            }
            if let Some(&next) = order.get(read.value.len()) {
                if let Some(w) = live(next) {
                    out.deps.push(Dep {
                        from: read.txn,
                        to: w,
                        kind: EdgeKind::Rw,
                        why: Why::ReadWithout { key: k, last: read.value.last().copied(), next },
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Every appended element's appender; an element appended twice to one key is refused,
/// since reads could not be traced back to one writer.
fn appenders(parsed: &Parsed) -> Result<FxHashMap<(KeyId, i64), Appender>, CheckError> {
    let mut appenders: FxHashMap<(KeyId, i64), Appender> = FxHashMap::default();
    let all = (0..parsed.txns.len()).map(TxnRef::Live).chain((0..parsed.aborted.len()).map(TxnRef::Aborted));
    for txn_ref in all {
        let txn = txn_ref.get(parsed);
        for (pos, op) in txn.ops.iter().enumerate() {
            let MicroOp::Append { key, value } = *op else { continue };
            let last =
                !txn.ops[pos + 1..].iter().any(|o| matches!(o, MicroOp::Append { key: k, .. } if *k == key));
            if let Some(other) = appenders.insert((key, value), Appender { txn: txn_ref, last }) {
                return Err(CheckError {
                    event: Some(txn.index),
                    message: format!(
                        "{value} is appended to key {:?} by both {} and {}; list-append needs each \
                         element appended once per key",
                        parsed.key(key),
                        other.txn.get(parsed).name(),
                        txn.name()
                    ),
                });
            }
        }
    }
    Ok(appenders)
}

/// The last element of a read appended by some other transaction, and its appender.
fn last_foreign(
    read: &Read,
    appenders: &FxHashMap<(KeyId, i64), Appender>,
    key: KeyId,
) -> Option<(i64, Appender)> {
    read.value.iter().rev().find_map(|&e| match appenders.get(&(key, e)) {
        Some(a) if a.txn == TxnRef::Live(read.txn) => None,
        Some(a) => Some((e, *a)),
        None => None,
    })
}

/// The elements `txn` appended to `key` after `element`.
fn later_appends(txn: &Txn, key: KeyId, element: i64) -> Vec<i64> {
    txn.ops
        .iter()
        .filter_map(|o| match *o {
            MicroOp::Append { key: k, value } if k == key => Some(value),
            _ => None,
        })
        .skip_while(|&v| v != element)
        .skip(1)
        .collect()
}

/// The first read of a committed transaction that disagrees with what the transaction
/// itself read and appended before it.
fn internal(txn: &Txn, parsed: &Parsed) -> Option<Anomaly> {
    // Per key: the whole list as last read plus own appends since, or only own appends
    // when nothing was read yet (the list then ends with them).
    let mut known: FxHashMap<KeyId, (bool, Vec<i64>)> = FxHashMap::default();
    for op in &txn.ops {
        match op {
            MicroOp::Append { key, value } => known.entry(*key).or_insert((false, Vec::new())).1.push(*value),
            MicroOp::ReadList { key, value } => {
                if let Some((whole, expected)) = known.get(key) {
                    let fits = if *whole { value == expected } else { value.ends_with(expected) };
                    if !fits {
                        let what = if *whole {
                            format!("it had already seen {} there (with its own appends)", list(expected))
                        } else {
                            format!("it had itself appended {} there", join(expected))
                        };
                        return Some(Anomaly::single(
                            AnomalyKind::Internal,
                            format!(
                                "{} read {} = {}, but {}",
                                txn.name(),
                                parsed.key_phrase(*key),
                                list(value),
                                what
                            ),
                            vec![txn],
                        ));
                    }
                }
                known.insert(*key, (true, value.clone()));
            }
            MicroOp::Write { .. } | MicroOp::ReadRegister { .. } => {}
        }
    }
    None
}

/// `[1 2 3]`, as a list reads; a long list keeps its first 3 and last 6 elements, since
/// the end is where reads differ.
pub(crate) fn list(values: &[i64]) -> String {
    let text = |vs: &[i64]| vs.iter().map(i64::to_string).collect::<Vec<_>>().join(" ");
    if values.len() <= 12 {
        format!("[{}]", text(values))
    } else {
        let (head, tail) = (&values[..3], &values[values.len() - 6..]);
        format!("[{} ... {}] ({} elements)", text(head), text(tail), values.len())
    }
}

/// `1, 2 and 3`.
pub(crate) fn join(values: &[i64]) -> String {
    match values {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => {
            format!("{} and {last}", init.iter().map(i64::to_string).collect::<Vec<_>>().join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::list;

    #[test]
    fn long_lists_are_cut_in_the_middle() {
        assert_eq!(list(&[]), "[]");
        assert_eq!(list(&[1, 2]), "[1 2]");
        let long: Vec<i64> = (1..=20).collect();
        assert_eq!(list(&long), "[1 2 3 ... 15 16 17 18 19 20] (20 elements)");
    }
}
