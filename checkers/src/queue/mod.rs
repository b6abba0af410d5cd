//! Queues: every element enqueued comes out exactly once (Jepsen's `total-queue` analysis,
//! with Jepsen's outcome rules applied to the dequeues as well as the enqueues).
//!
//! A queue history has three operations, on one queue or, with keys, one queue per key:
//! `enqueue` (the value is the element), `dequeue` (an `ok` value is the element taken; `ok`
//! with `null`, or `fail`, took none) and `drain` (an `ok` value is the list of elements it
//! took, after which the queue was empty). Order is not judged, only what came out against
//! what went in, counted per element (each element may be enqueued more than once):
//!
//! - *missing*: acknowledged (`ok`) enqueues that no dequeue or drain ever returned,
//!   although the queue was seen empty afterwards: an `ok` drain, or a dequeue that found
//!   nothing, *invoked* after the enqueue was acknowledged;
//! - *lost*: how many of the missing no crashed dequeue can explain (below);
//! - *not drained*: acknowledged enqueues never returned, with no such sight of an empty
//!   queue after them: they may still be queued, so nothing can be said;
//! - *unexpected*: elements taken that no enqueue that did not fail put in (an enqueue that
//!   ended `fail` definitely did not happen);
//! - *duplicated*: elements taken more often than they were enqueued (by enqueues that did
//!   not fail);
//! - *recovered*: elements taken whose enqueues all had an unknown outcome (`info`).
//!
//! A dequeue or drain that ended `info` may have taken elements nobody saw. Jepsen's
//! analysis counts what such a dequeue took as lost; here each crashed dequeue may explain
//! one missing element of its queue and a crashed drain any number, so an element counts
//! as lost only past what they could have taken: per queue, the missing less its crashed
//! dequeues, or none if a drain of it crashed. Which of the missing were lost cannot be
//! told, only how many. The verdict is `invalid` for any loss and for any unexpected or
//! duplicated element, and `unknown` when no acknowledged enqueue could be judged at all.

pub mod gen;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hash::FxHashMap;
use crate::history::History;
use crate::lost_writes::{render_counts, ElementCount};
use crate::model::ValueKey;
use crate::op_ref::{op_refs, OpRef, OutcomeRef, ValueRef};
use crate::op_table::OpTable;
use crate::verdict::Verdict;

/// What the queue analysis found, over every key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueReport {
    pub verdict: Verdict,
    /// Enqueues that did not fail (acknowledged or unknown).
    pub attempted: u64,
    /// Enqueues that completed `ok`.
    pub acknowledged: u64,
    /// Elements taken by `ok` dequeues and drains.
    pub dequeued: u64,
    /// Acknowledged elements gone beyond what crashed dequeues and drains could have taken.
    pub lost: u64,
    pub missing: ElementCount,
    pub not_drained: ElementCount,
    pub unexpected: ElementCount,
    pub duplicated: ElementCount,
    pub recovered: ElementCount,
    /// Dequeues that ended `info`: each may have taken one element.
    pub crashed_dequeues: u64,
    /// Drains that ended `info`: each may have taken any number.
    pub crashed_drains: u64,
}

/// Why a history cannot be read as a queue's: the event's position and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueError {
    pub event: u64,
    pub message: String,
}

impl std::fmt::Display for QueueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "event {}: {}", self.event, self.message)
    }
}

impl std::error::Error for QueueError {}

impl QueueReport {
    /// One line: the counts that decide.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{} lost ({} missing), {} unexpected, {} duplicated, {} recovered, {} not drained; {} of {} \
             acknowledged enqueues returned ({} attempted), {} elements dequeued",
            self.lost,
            self.missing.count,
            self.unexpected.count,
            self.duplicated.count,
            self.recovered.count,
            self.not_drained.count,
            self.acknowledged.saturating_sub(self.missing.count + self.not_drained.count),
            self.acknowledged,
            self.attempted,
            self.dequeued,
        );
        if self.crashed_dequeues + self.crashed_drains > 0 {
            line.push_str(&format!(
                "; {} crashed dequeues and {} crashed drains may have taken elements",
                self.crashed_dequeues, self.crashed_drains
            ));
        }
        line
    }

    /// The summary, then each category that is not empty with examples.
    pub fn render_text(&self) -> String {
        let mut out = format!("  queue: {}\n", self.summary());
        render_counts(
            &mut out,
            &[
                ("missing", &self.missing),
                ("unexpected", &self.unexpected),
                ("duplicated", &self.duplicated),
                ("recovered", &self.recovered),
                ("not drained", &self.not_drained),
            ],
        );
        out
    }
}

/// What one element went through, on one key.
#[derive(Default)]
struct Element {
    /// The element itself where its key cannot give it back (anything but an integer).
    value: Option<Value>,
    /// Enqueues that did not fail.
    attempted: u64,
    /// Completion positions of the acknowledged enqueues.
    acknowledged: Positions,
    /// Times an `ok` dequeue or drain returned it.
    taken: u64,
}

/// Positions, the first held inline: nearly every element is enqueued once, and a vector
/// per element was one allocation per element, the analysis's largest cost after hashing.
#[derive(Default)]
struct Positions {
    first: Option<u64>,
    more: Vec<u64>,
}

impl Positions {
    fn push(&mut self, at: u64) {
        match self.first {
            None => self.first = Some(at),
            Some(_) => self.more.push(at),
        }
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All of them, in ascending order.
    fn sorted(&mut self) -> &[u64] {
        if self.more.is_empty() {
            return self.first.as_slice();
        }
        if let Some(first) = self.first.take() {
            self.more.push(first);
        }
        self.more.sort_unstable();
        &self.more
    }
}

/// One key's ops, as the analysis needs them.
#[derive(Default)]
struct Queue {
    elements: FxHashMap<ValueKey, Element>,
    /// The latest invocation position of an `ok` drain or a dequeue that found nothing:
    /// the last time the queue was seen empty.
    last_empty: Option<u64>,
    crashed_dequeues: u64,
    crashed_drains: u64,
}

/// The analysis of `history` as a queue's (see the module documentation).
pub fn check_queue(history: &History) -> Result<QueueReport, QueueError> {
    check_ops(op_refs(history))
}

/// [`check_queue`] of a history loaded as a table ([`crate::format::load_path_table`]):
/// the same report, without the general history's owned events.
pub fn check_queue_table(table: &OpTable) -> Result<QueueReport, QueueError> {
    check_ops((0..table.len()).map(|at| table.op_ref(at)))
}

fn check_ops<'h>(ops: impl IntoIterator<Item = OpRef<'h>>) -> Result<QueueReport, QueueError> {
    let mut queues: FxHashMap<Option<&'h str>, Queue> = FxHashMap::default();
    for op in ops {
        let error = |message: String| QueueError { event: op.invoke_index, message };
        let queue = queues.entry(op.key).or_default();
        match op.f {
            "enqueue" => {
                if op.value == ValueRef::Null {
                    return Err(error(
                        "an enqueue of null: a dequeue that returns null found the queue empty".into(),
                    ));
                }
                // A failed enqueue definitely did not happen: its element is not counted in.
                if op.outcome != OutcomeRef::Fail {
                    let e = element(queue, op.value);
                    e.attempted += 1;
                    if let OutcomeRef::Ok(_) = op.outcome {
                        e.acknowledged.push(op.complete_index.unwrap_or(u64::MAX));
                    }
                }
            }
            "dequeue" => match op.outcome {
                OutcomeRef::Ok(ValueRef::Null) => queue.saw_empty(op.invoke_index),
                OutcomeRef::Ok(value) => element(queue, value).taken += 1,
                OutcomeRef::Fail => {}
                OutcomeRef::Info => queue.crashed_dequeues += 1,
            },
            "drain" => match op.outcome {
                OutcomeRef::Ok(value) => {
                    let mut take = |item: ValueRef<'_>| -> Result<(), QueueError> {
                        if item == ValueRef::Null {
                            return Err(error("a drain returned null among its elements".into()));
                        }
                        element(queue, item).taken += 1;
                        Ok(())
                    };
                    match value {
                        ValueRef::Null => {}
                        // Two small integers are held as a pair, not as JSON.
                        ValueRef::Pair(a, b) => {
                            take(ValueRef::int(a.into()))?;
                            take(ValueRef::int(b.into()))?;
                        }
                        ValueRef::Json(Value::Array(items)) => {
                            for item in items {
                                take(ValueRef::of(item))?;
                            }
                        }
                        other => {
                            return Err(error(format!(
                                "a drain returned {}, not a list of elements",
                                other.to_value()
                            )))
                        }
                    }
                    queue.saw_empty(op.invoke_index);
                }
                OutcomeRef::Fail => {}
                OutcomeRef::Info => queue.crashed_drains += 1,
            },
            other => {
                return Err(error(format!("{other:?} is not a queue operation (enqueue, dequeue or drain)")))
            }
        }
    }
    Ok(analyze(queues))
}

impl Queue {
    fn saw_empty(&mut self, at: u64) {
        self.last_empty = self.last_empty.max(Some(at));
    }
}

fn element<'q>(queue: &'q mut Queue, value: ValueRef<'_>) -> &'q mut Element {
    let key = value.key();
    let keeps_value = matches!(key, ValueKey::Text(_));
    let e = queue.elements.entry(key).or_default();
    if keeps_value && e.value.is_none() {
        e.value = Some(value.to_value());
    }
    e
}

/// An element's value, for a report.
fn element_value(key: &ValueKey, e: &Element) -> Value {
    match key {
        ValueKey::Null => Value::Null,
        ValueKey::Int(u) => Value::from(*u),
        ValueKey::Neg(i) => Value::from(*i),
        ValueKey::Text(_) => e.value.clone().unwrap_or_default(),
    }
}

/// The elements of a queue in the order of their canonical JSON text, as reports list
/// examples. An integer's text is made on the stack, once per element: a `String` each
/// made a million-op check a fifth slower.
fn in_text_order(elements: FxHashMap<ValueKey, Element>) -> Vec<(ValueKey, Element)> {
    use std::io::Write;
    let mut elements: Vec<(ValueKey, Element)> = elements.into_iter().collect();
    elements.sort_by_cached_key(|(key, _)| {
        let mut text = [0u8; 24];
        let len = {
            let mut at = &mut text[..];
            let written = match key {
                ValueKey::Null => at.write_all(b"null"),
                ValueKey::Int(u) => write!(at, "{u}"),
                ValueKey::Neg(i) => write!(at, "{i}"),
                ValueKey::Text(_) => Ok(()),
            };
            debug_assert!(written.is_ok(), "an integer's text fits 24 bytes");
            24 - at.len()
        };
        match key {
            ValueKey::Text(t) => TextKey::Heap(t.clone()),
            _ => TextKey::Stack(text, len as u8),
        }
    });
    elements
}

/// A canonical text to sort by: short ones inline.
#[derive(PartialEq, Eq)]
enum TextKey {
    Stack([u8; 24], u8),
    Heap(String),
}

impl TextKey {
    fn bytes(&self) -> &[u8] {
        match self {
            TextKey::Stack(text, len) => &text[..*len as usize],
            TextKey::Heap(text) => text.as_bytes(),
        }
    }
}

impl Ord for TextKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes().cmp(other.bytes())
    }
}

impl PartialOrd for TextKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

fn analyze(queues: FxHashMap<Option<&str>, Queue>) -> QueueReport {
    let mut report = QueueReport {
        verdict: Verdict::Unknown,
        attempted: 0,
        acknowledged: 0,
        dequeued: 0,
        lost: 0,
        missing: ElementCount::default(),
        not_drained: ElementCount::default(),
        unexpected: ElementCount::default(),
        duplicated: ElementCount::default(),
        recovered: ElementCount::default(),
        crashed_dequeues: 0,
        crashed_drains: 0,
    };
    // Acknowledged enqueues judged (returned, or missing after the queue was seen empty).
    let mut judged = 0u64;
    let mut queues: Vec<(Option<&str>, Queue)> = queues.into_iter().collect();
    queues.sort_unstable_by_key(|&(key, _)| key);
    for (key, queue) in queues {
        let key = &key.map(str::to_string);
        report.crashed_dequeues += queue.crashed_dequeues;
        report.crashed_drains += queue.crashed_drains;
        let last_empty = queue.last_empty;
        let mut missing = 0u64;
        for (element, mut e) in in_text_order(queue.elements) {
            let value = element_value(&element, &e);
            report.attempted += e.attempted;
            report.acknowledged += e.acknowledged.len() as u64;
            report.dequeued += e.taken;
            if e.taken > 0 && e.attempted == 0 {
                report.unexpected.note_n(key, &value, e.taken);
                continue;
            }
            if e.taken > e.attempted {
                report.duplicated.note_n(key, &value, e.taken - e.attempted);
            }
            if e.taken > 0 && e.acknowledged.is_empty() {
                report.recovered.note(key, &value);
            }
            // The acknowledged copies not returned. The takes are counted against the
            // earliest acknowledged, which an empty queue seen later proves gone first, so
            // the copies left missing are the latest: the reading kindest to the system.
            let acknowledged = e.acknowledged.sorted();
            let returned = e.taken.min(acknowledged.len() as u64) as usize;
            let unreturned = &acknowledged[returned..];
            let due =
                unreturned.iter().filter(|&&at| last_empty.is_some_and(|empty| empty > at)).count() as u64;
            let undecided = unreturned.len() as u64 - due;
            judged += returned as u64 + due;
            missing += due;
            if due > 0 {
                report.missing.note_n(key, &value, due);
            }
            if undecided > 0 {
                report.not_drained.note_n(key, &value, undecided);
            }
        }
        if queue.crashed_drains == 0 {
            report.lost += missing.saturating_sub(queue.crashed_dequeues);
        }
    }
    report.verdict = if report.lost > 0 || report.unexpected.count > 0 || report.duplicated.count > 0 {
        Verdict::Invalid
    } else if judged == 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    report
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::history::{Event, EventType, Process};

    /// Events from `(process, type, f, value)`, indexed in order.
    fn history(events: &[(u64, &str, &str, Value)]) -> History {
        let events = events
            .iter()
            .enumerate()
            .map(|(i, (p, kind, f, value))| Event {
                index: i as u64,
                time: None,
                process: Process::Client(*p),
                kind: match *kind {
                    "invoke" => EventType::Invoke,
                    "ok" => EventType::Ok,
                    "fail" => EventType::Fail,
                    _ => EventType::Info,
                },
                f: f.to_string(),
                key: None,
                value: value.clone(),
                error: None,
                node: None,
            })
            .collect();
        History::from_events(events).unwrap()
    }

    fn enq(p: u64, v: i64, end: &str) -> [(u64, &'static str, &'static str, Value); 2] {
        let end: &'static str = match end {
            "ok" => "ok",
            "fail" => "fail",
            _ => "info",
        };
        [(p, "invoke", "enqueue", json!(v)), (p, end, "enqueue", json!(v))]
    }

    fn drain(p: u64, taken: Value) -> [(u64, &'static str, &'static str, Value); 2] {
        [(p, "invoke", "drain", Value::Null), (p, "ok", "drain", taken)]
    }

    fn check(events: Vec<(u64, &'static str, &'static str, Value)>) -> QueueReport {
        check_queue(&history(&events)).unwrap()
    }

    #[test]
    fn every_acknowledged_element_drained_once_is_valid() {
        let mut events = Vec::new();
        events.extend(enq(1, 1, "ok"));
        events.extend(enq(1, 2, "ok"));
        events.extend([(2, "invoke", "dequeue", Value::Null), (2, "ok", "dequeue", json!(1))]);
        events.extend(drain(3, json!([2])));
        let report = check(events);
        assert_eq!(report.verdict, Verdict::Valid, "{}", report.summary());
        assert_eq!((report.acknowledged, report.dequeued, report.lost, report.missing.count), (2, 2, 0, 0));
    }

    #[test]
    fn an_acknowledged_element_missing_after_a_drain_is_lost() {
        let mut events = Vec::new();
        events.extend(enq(1, 1, "ok"));
        events.extend(enq(1, 2, "ok"));
        events.extend(drain(3, json!([2])));
        let report = check(events);
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!((report.lost, report.missing.count), (1, 1));
        assert_eq!(report.missing.examples, vec![json!(1)]);
    }

    #[test]
    fn without_a_later_sight_of_an_empty_queue_nothing_is_lost() {
        // The drain began before the enqueue was acknowledged: the element may have
        // arrived after it.
        let events = vec![
            (3, "invoke", "drain", Value::Null),
            (1, "invoke", "enqueue", json!(7)),
            (3, "ok", "drain", json!([])),
            (1, "ok", "enqueue", json!(7)),
        ];
        let report = check(events);
        assert_eq!((report.lost, report.missing.count), (0, 0));
        assert_eq!(report.not_drained.count, 1);
        assert_eq!(report.verdict, Verdict::Unknown, "nothing acknowledged could be judged");
    }

    /// One element enqueued twice, acknowledged out of invocation order, taken once: the
    /// take is counted against the earlier acknowledgement, so the copy left is the later
    /// one, which no empty queue was seen after.
    #[test]
    fn an_element_enqueued_twice_leaves_its_later_copy_undecided() {
        let events = vec![
            (1, "invoke", "enqueue", json!(9)),
            (2, "invoke", "enqueue", json!(9)),
            (2, "ok", "enqueue", json!(9)),
            (3, "invoke", "dequeue", Value::Null),
            (3, "ok", "dequeue", Value::Null),
            (1, "ok", "enqueue", json!(9)),
            (3, "invoke", "dequeue", Value::Null),
            (3, "ok", "dequeue", json!(9)),
        ];
        let report = check(events);
        assert_eq!((report.attempted, report.acknowledged, report.dequeued), (2, 2, 1));
        assert_eq!((report.lost, report.missing.count, report.not_drained.count), (0, 0, 1));
        assert_eq!(report.verdict, Verdict::Valid, "{}", report.summary());
    }

    #[test]
    fn an_empty_dequeue_after_the_acknowledgement_also_judges() {
        let mut events = Vec::new();
        events.extend(enq(1, 5, "ok"));
        events.extend([(2, "invoke", "dequeue", Value::Null), (2, "ok", "dequeue", Value::Null)]);
        let report = check(events);
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.lost, 1);
    }

    #[test]
    fn a_crashed_dequeue_may_explain_one_missing_element_not_two() {
        let mut one = Vec::new();
        one.extend(enq(1, 1, "ok"));
        one.extend([(2, "invoke", "dequeue", Value::Null), (2, "info", "dequeue", Value::Null)]);
        one.extend(drain(3, json!([])));
        let report = check(one.clone());
        assert_eq!(report.verdict, Verdict::Valid, "{}", report.summary());
        assert_eq!((report.lost, report.missing.count, report.crashed_dequeues), (0, 1, 1));

        let mut two = one;
        two.splice(2..2, enq(4, 2, "ok"));
        let report = check(two);
        assert_eq!(report.verdict, Verdict::Invalid, "{}", report.summary());
        assert_eq!(
            (report.lost, report.missing.count),
            (1, 2),
            "one of the two is lost, which cannot be told"
        );
    }

    #[test]
    fn a_crashed_drain_may_explain_any_number() {
        let mut events = Vec::new();
        events.extend(enq(1, 1, "ok"));
        events.extend(enq(1, 2, "ok"));
        events.extend([(2, "invoke", "drain", Value::Null), (2, "info", "drain", Value::Null)]);
        events.extend(drain(3, json!([])));
        let report = check(events);
        assert_eq!(report.verdict, Verdict::Valid, "{}", report.summary());
        assert_eq!((report.lost, report.missing.count, report.crashed_drains), (0, 2, 1));
    }

    #[test]
    fn elements_never_enqueued_or_only_by_failed_enqueues_are_unexpected() {
        let mut events = Vec::new();
        events.extend(enq(1, 1, "fail"));
        events.extend(enq(1, 2, "ok"));
        events.extend(drain(3, json!([1, 2, 9])));
        let report = check(events);
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.unexpected.count, 2);
        assert_eq!(report.unexpected.examples, vec![json!(1), json!(9)]);
    }

    #[test]
    fn an_element_taken_twice_is_duplicated_and_an_unknown_enqueue_taken_is_recovered() {
        let mut events = Vec::new();
        events.extend(enq(1, 1, "ok"));
        events.extend(enq(1, 2, "info"));
        events.extend(drain(3, json!([1, 1, 2])));
        let report = check(events);
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.duplicated.count, 1);
        assert_eq!(report.duplicated.examples, vec![json!(1)]);
        assert_eq!(report.recovered.count, 1);
        assert_eq!(report.recovered.examples, vec![json!(2)]);
    }

    #[test]
    fn an_element_enqueued_twice_may_come_out_twice() {
        let mut events = Vec::new();
        events.extend(enq(1, 4, "ok"));
        events.extend(enq(1, 4, "ok"));
        events.extend(drain(3, json!([4])));
        let report = check(events.clone());
        assert_eq!((report.lost, report.missing.count), (1, 1), "one of the two copies is missing");
        events.pop();
        events.push((3, "ok", "drain", json!([4, 4])));
        assert_eq!(check(events).verdict, Verdict::Valid);
    }

    #[test]
    fn keys_are_separate_queues() {
        let mut events: Vec<Event> = history(&[
            (1, "invoke", "enqueue", json!(1)),
            (1, "ok", "enqueue", json!(1)),
            (3, "invoke", "drain", Value::Null),
            (3, "ok", "drain", json!([1])),
        ])
        .into_events();
        events[0].key = Some("a".into());
        events[1].key = Some("a".into());
        events[2].key = Some("b".into());
        events[3].key = Some("b".into());
        let report = check_queue(&History::from_events(events).unwrap()).unwrap();
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.unexpected.examples, vec![json!({"key": "b", "element": 1})]);
        assert_eq!(report.not_drained.examples, vec![json!({"key": "a", "element": 1})]);
    }

    #[test]
    fn ops_a_queue_does_not_have_are_refused_with_their_event() {
        let bad = |events: Vec<(u64, &'static str, &'static str, Value)>| {
            check_queue(&history(&events)).unwrap_err()
        };
        let e = bad(vec![(1, "invoke", "read", Value::Null), (1, "ok", "read", json!(1))]);
        assert_eq!(e.to_string(), "event 0: \"read\" is not a queue operation (enqueue, dequeue or drain)");
        let e = bad(vec![(1, "invoke", "enqueue", Value::Null)]);
        assert!(e.message.contains("enqueue of null"), "{e}");
        let e = bad(vec![(1, "invoke", "drain", Value::Null), (1, "ok", "drain", json!(3))]);
        assert_eq!(e.to_string(), "event 0: a drain returned 3, not a list of elements");
    }

    #[test]
    fn an_empty_history_is_unknown() {
        assert_eq!(check(Vec::new()).verdict, Verdict::Unknown);
    }
}
