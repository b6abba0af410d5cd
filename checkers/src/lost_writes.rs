//! Lost writes in a set history (Jepsen's set-full analysis).
//!
//! Linearizability gives one bit; this analysis says what happened to each element. An
//! element becomes *known* when its add is acknowledged (`ok`), or when a read first shows
//! it (an add whose outcome was unknown may still have happened). From then on every read
//! that begins after it became known must contain it. Each known element is:
//!
//! - *stable*: present in every such read;
//! - *stale*: missing from some, but present in the latest read (it came back, or was late);
//! - *lost*: missing from the latest read;
//! - *never read*: no read began after it became known, so nothing can be said.
//!
//! *Recovered* elements are adds whose outcome was unknown (`info`) that reads show anyway;
//! *unexpected* elements were read but never added. Lost or stale elements make the
//! verdict `Invalid`; a history where no element could be checked is `Unknown`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::canonical;
use crate::verdict::Verdict;

/// How many example elements each category keeps.
const EXAMPLES: usize = 10;

/// Elements of one category: how many, and a few of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ElementCount {
    pub count: u64,
    /// Up to 10 elements, in order of their canonical JSON text; `{"key", "element"}`
    /// objects when the history has keys.
    pub examples: Vec<Value>,
}

impl ElementCount {
    pub(crate) fn note(&mut self, key: &Option<String>, element: &Value) {
        self.note_n(key, element, 1);
    }

    /// [`ElementCount::note`] for `n` copies of one element, shown once.
    pub(crate) fn note_n(&mut self, key: &Option<String>, element: &Value, n: u64) {
        self.count += n;
        if self.examples.len() < EXAMPLES {
            self.examples.push(match key {
                Some(k) => serde_json::json!({ "key": k, "element": element }),
                None => element.clone(),
            });
        }
    }
}

/// A line per category that is not empty: its name, count and examples.
pub(crate) fn render_counts(out: &mut String, counts: &[(&str, &ElementCount)]) {
    for (name, c) in counts {
        if c.count > 0 {
            let examples: Vec<String> = c.examples.iter().map(Value::to_string).collect();
            out.push_str(&format!("    {name}: {} (e.g. {})\n", c.count, examples.join(", ")));
        }
    }
}

/// The lost-write analysis of a set history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LostWrites {
    pub verdict: Verdict,
    /// Adds that did not fail (acknowledged or unknown).
    pub attempted: u64,
    /// Adds that completed `ok`.
    pub acknowledged: u64,
    pub stable: u64,
    pub lost: ElementCount,
    pub stale: ElementCount,
    pub never_read: ElementCount,
    pub recovered: ElementCount,
    pub unexpected: ElementCount,
}

impl LostWrites {
    pub fn render_text(&self) -> String {
        let mut out = format!(
            "  lost writes: {} ({} adds attempted, {} acknowledged, {} stable)\n",
            self.verdict, self.attempted, self.acknowledged, self.stable
        );
        render_counts(
            &mut out,
            &[
                ("lost", &self.lost),
                ("stale", &self.stale),
                ("never read", &self.never_read),
                ("recovered", &self.recovered),
                ("unexpected", &self.unexpected),
            ],
        );
        out
    }

    /// One line for the report's reason.
    pub(crate) fn summary(&self) -> String {
        // Recovered adds are the unacknowledged ones a read showed: not "of" the
        // acknowledged.
        format!(
            "{} lost, {} stale, {} never read of {} acknowledged adds; {} recovered",
            self.lost.count, self.stale.count, self.never_read.count, self.acknowledged, self.recovered.count
        )
    }
}

/// An add that did not fail.
pub(crate) struct Add {
    pub(crate) element: Value,
    /// Completion position when acknowledged, `None` when the outcome is unknown.
    pub(crate) acknowledged_at: Option<u64>,
}

/// An `ok` read of the whole set.
pub(crate) struct Read {
    pub(crate) invoked_at: u64,
    pub(crate) completed_at: u64,
    pub(crate) elements: Vec<Value>,
}

/// One key's set history.
pub(crate) struct SetHistory {
    pub(crate) key: Option<String>,
    pub(crate) initial: Vec<Value>,
    pub(crate) adds: Vec<Add>,
    /// In invocation order.
    pub(crate) reads: Vec<Read>,
}

#[derive(Default)]
struct Element {
    value: Value,
    initial: bool,
    attempted: bool,
    acknowledged_at: Option<u64>,
    /// Indices of the reads that contain it, ascending.
    seen_in: Vec<usize>,
}

/// Analyses every key's set history and merges the counts.
pub(crate) fn analyze(histories: &[SetHistory]) -> LostWrites {
    let mut report = LostWrites {
        verdict: Verdict::Valid,
        attempted: 0,
        acknowledged: 0,
        stable: 0,
        lost: ElementCount::default(),
        stale: ElementCount::default(),
        never_read: ElementCount::default(),
        recovered: ElementCount::default(),
        unexpected: ElementCount::default(),
    };
    for history in histories {
        analyze_one(history, &mut report);
    }
    report.verdict = if report.lost.count > 0 || report.stale.count > 0 {
        Verdict::Invalid
    } else if report.stable == 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    report
}

fn analyze_one(history: &SetHistory, report: &mut LostWrites) {
    debug_assert!(history.reads.windows(2).all(|w| w[0].invoked_at <= w[1].invoked_at));
    let mut elements: BTreeMap<String, Element> = BTreeMap::new();
    for value in &history.initial {
        let e = elements.entry(canonical(value)).or_default();
        e.value = value.clone();
        e.initial = true;
    }
    for add in &history.adds {
        report.attempted += 1;
        let e = elements.entry(canonical(&add.element)).or_default();
        e.value = add.element.clone();
        e.attempted = true;
        if let Some(at) = add.acknowledged_at {
            report.acknowledged += 1;
            e.acknowledged_at = Some(e.acknowledged_at.map_or(at, |prev| prev.min(at)));
        }
    }
    for (r, read) in history.reads.iter().enumerate() {
        let mut seen: Vec<(String, &Value)> = read.elements.iter().map(|v| (canonical(v), v)).collect();
        seen.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        seen.dedup_by(|a, b| a.0 == b.0);
        for (text, value) in seen {
            let e = elements.entry(text).or_default();
            if !e.attempted && !e.initial && e.seen_in.is_empty() {
                e.value = value.clone();
            }
            e.seen_in.push(r);
        }
    }
    let reads = &history.reads;
    let key = &history.key;
    for e in elements.values() {
        if !e.attempted && !e.initial {
            report.unexpected.note(key, &e.value);
            continue;
        }
        if e.attempted && e.acknowledged_at.is_none() && !e.seen_in.is_empty() && !e.initial {
            report.recovered.note(key, &e.value);
        }
        // When the element became known: acknowledged, or first read, or (initial) always.
        let first_seen = e.seen_in.first().map(|&r| reads[r].completed_at);
        let known = if e.initial {
            None
        } else {
            match (e.acknowledged_at, first_seen) {
                (Some(a), Some(s)) => Some(a.min(s)),
                (Some(a), None) => Some(a),
                (None, Some(s)) => Some(s),
                (None, None) => continue, // unknown add never seen: may not have happened
            }
        };
        let first_after = match known {
            None => 0,
            Some(k) => reads.partition_point(|read| read.invoked_at <= k),
        };
        let after = reads.len() - first_after;
        if after == 0 {
            report.never_read.note(key, &e.value);
            continue;
        }
        let present = e.seen_in.len() - e.seen_in.partition_point(|&r| r < first_after);
        if present == after {
            report.stable += 1;
        } else if e.seen_in.last() == Some(&(reads.len() - 1)) {
            report.stale.note(key, &e.value);
        } else {
            report.lost.note(key, &e.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(at: u64, elements: Value) -> Read {
        Read { invoked_at: at, completed_at: at + 1, elements: elements.as_array().unwrap().clone() }
    }

    fn add(element: i64, acknowledged_at: Option<u64>) -> Add {
        Add { element: json!(element), acknowledged_at }
    }

    #[test]
    fn each_category_is_counted() {
        let history = SetHistory {
            key: None,
            initial: vec![],
            adds: vec![
                add(1, Some(1)),  // stable
                add(2, Some(1)),  // lost: missing from the latest read
                add(3, Some(1)),  // stale: missing once, then back
                add(4, None),     // recovered (info, but read)
                add(5, Some(50)), // never read: acknowledged after the last read began
                add(6, None),     // unknown and never seen: says nothing
            ],
            reads: vec![
                read(10, json!([1, 2, 4])),
                read(20, json!([1, 2, 3, 4, 9])),
                read(30, json!([1, 3, 4])),
            ],
        };
        let report = analyze(&[history]);
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!((report.attempted, report.acknowledged, report.stable), (6, 4, 2));
        assert_eq!(report.lost.examples, vec![json!(2)]);
        assert_eq!(report.stale.examples, vec![json!(3)]);
        assert_eq!(report.never_read.examples, vec![json!(5)]);
        assert_eq!(report.recovered.examples, vec![json!(4)]);
        assert_eq!(report.unexpected.examples, vec![json!(9)]);
        assert!(report.render_text().contains("lost: 1 (e.g. 2)"));
    }

    #[test]
    fn all_adds_read_back_is_valid_and_nothing_read_is_unknown() {
        let ok = SetHistory {
            key: Some("k".into()),
            initial: vec![],
            adds: vec![add(1, Some(1))],
            reads: vec![read(5, json!([1]))],
        };
        assert_eq!(analyze(&[ok]).verdict, Verdict::Valid);
        let unread = SetHistory { key: None, initial: vec![], adds: vec![add(1, Some(1))], reads: vec![] };
        let report = analyze(&[unread]);
        assert_eq!(report.verdict, Verdict::Unknown);
        assert_eq!(report.never_read.count, 1);
    }

    #[test]
    fn a_read_that_began_before_the_ack_may_miss_the_element() {
        let history = SetHistory {
            key: Some("k".into()),
            initial: vec![],
            adds: vec![add(1, Some(10))],
            reads: vec![read(5, json!([])), read(20, json!([1]))],
        };
        let report = analyze(&[history]);
        assert_eq!(report.verdict, Verdict::Valid);
        assert_eq!(report.stable, 1);
    }
}
