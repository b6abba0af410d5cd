//! Transactional isolation checking, after Elle (Kingsbury and Alvaro, 2020): infer the
//! dependencies between transactions from what they read, build the dependency graph, and
//! look in it for the cycles Adya's phenomena name.
//!
//! A transaction is one operation with `f: "txn"` whose value is a list of micro-ops:
//! `["append", k, v]` and `["r", k, [..]]` for [`TxnModel::ListAppend`], `["w", k, v]` and
//! `["r", k, v]` for [`TxnModel::RwRegister`]. Jepsen EDN histories
//! (`[:append :x 1]`) load into the same shape.
//!
//! ```
//! use checkers::txn::{check_txn, AnomalyKind, TxnModel, TxnOptions};
//! use checkers::{Event, History, Verdict};
//!
//! // T0 and T1 each read a key empty that the other appends to (a later read shows both
//! // appends): a cycle of two anti-dependencies, write skew.
//! let lines = r#"
//! {"process":0,"type":"invoke","f":"txn","value":[["r","x",null],["append","y",1]]}
//! {"process":1,"type":"invoke","f":"txn","value":[["r","y",null],["append","x",1]]}
//! {"process":0,"type":"ok","f":"txn","value":[["r","x",[]],["append","y",1]]}
//! {"process":1,"type":"ok","f":"txn","value":[["r","y",[]],["append","x",1]]}
//! {"process":2,"type":"invoke","f":"txn","value":[["r","x",null],["r","y",null]]}
//! {"process":2,"type":"ok","f":"txn","value":[["r","x",[1]],["r","y",[1]]]}
//! "#;
//! let events: Vec<Event> = lines.trim().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
//! let history = History::from_events(events).unwrap();
//! let report = check_txn(&history, &TxnOptions::new(TxnModel::ListAppend)).unwrap();
//! assert_eq!(report.verdict, Verdict::Invalid);
//! assert_eq!(report.anomaly_counts[&AnomalyKind::G2Item], 1);
//! println!("{}", report.render_text());
//! ```
//!
//! # Layout
//!
//! - `micro_op`: the history's JSON parsed once into typed transactions.
//! - `list_append`, `rw_register`: what reads reveal per model: dependency edges (ww, wr,
//!   rw) and the anomalies single reads show (G1a, G1b, internal, ...).
//! - `realtime`: real-time edges for strict serializability, without n^2 edges.
//! - `graph`: the dependency graph, built once from all the evidence (sorted, merged
//!   into an edge per ordered pair with its kinds, adjacency in one array).
//! - `scc`, `cycles`: Tarjan's components, then per anomaly class the shortest cycle by
//!   restricting edge kinds, under a time and search budget.
//! - `anomaly`, `explain`, `report`: what was found, in types and in words.
//!
//! The budget is honest: if the search of a class the model forbids is cut short and
//! nothing forbidden was found, the verdict is `Unknown`, never `Valid`.

mod anomaly;
mod cycles;
mod explain;
pub mod gen;
mod graph;
mod list_append;
mod micro_op;
mod options;
mod realtime;
mod report;
mod rw_register;
mod scc;

use std::collections::BTreeMap;
use std::time::Instant;

pub use anomaly::{Anomaly, AnomalyKind, CycleEdge, EdgeKind, TxnSummary};
pub use options::{Consistency, TxnModel, TxnOptions};
pub use report::TxnReport;

use crate::history::History;
use crate::report::CheckError;
use crate::verdict::Verdict;

/// What the reads of a history reveal: dependency edges and single-read anomalies.
#[derive(Debug, Default)]
pub(crate) struct Inference {
    pub deps: Vec<graph::Dep>,
    pub anomalies: Vec<Anomaly>,
}

/// Check a transactional history against `options.consistency`.
///
/// Errors when the history is not one of `options.model`: a non-transaction operation, a
/// value that is not a list of micro-ops, a non-integer element, a value written twice.
pub fn check_txn(history: &History, options: &TxnOptions) -> Result<TxnReport, CheckError> {
    let started = Instant::now();
    let parsed = micro_op::parse(history, options.model)?;
    let inference = match options.model {
        TxnModel::ListAppend => list_append::infer(&parsed)?,
        TxnModel::RwRegister => rw_register::infer(&parsed)?,
    };
    let mut deps = inference.deps;
    if options.consistency == Consistency::StrictSerializable {
        deps.extend(realtime::edges(&parsed.txns));
    }
    let graph = graph::DepGraph::build(parsed.txns.len(), deps);
    let mut budget = cycles::Budget::new(started, options);
    let search = cycles::search(&graph, options, &mut budget);

    let mut all = inference.anomalies;
    all.extend(search.found.iter().map(|found| explain::cycle_anomaly(found, &graph, &parsed)));
    let mut anomaly_counts: BTreeMap<AnomalyKind, usize> = BTreeMap::new();
    for anomaly in &all {
        *anomaly_counts.entry(anomaly.kind).or_insert(0) += 1;
    }
    // Examples: forbidden kinds first, then by kind, capped per kind.
    all.sort_by_key(|a| (!a.kind.is_forbidden_under(options.consistency), a.kind));
    let mut kept: BTreeMap<AnomalyKind, usize> = BTreeMap::new();
    all.retain(|a| {
        let n = kept.entry(a.kind).or_insert(0);
        *n += 1;
        *n <= options.max_examples_per_kind
    });

    let forbidden_found = anomaly_counts.keys().any(|k| k.is_forbidden_under(options.consistency));
    let verdict = if forbidden_found {
        Verdict::Invalid
    } else if search.cut_forbidden.is_some() {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let reason = search.cut_forbidden.or(search.cut_allowed).map(|why| {
        format!("{why} after {} cycle searches over {} dependencies", search.searches, graph.edge_count())
    });
    Ok(TxnReport {
        verdict,
        model: options.model,
        consistency: options.consistency,
        anomaly_counts,
        anomalies: all,
        transactions: parsed.txns.len(),
        reason,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}
