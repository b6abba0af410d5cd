//! What each check found, as one typed value per check: the evidence `results.json` keeps
//! under each check's `details`.
//!
//! Serialized with a `"check"` tag beside the report's own fields, so the file stays what a
//! person read before (`{"check": "stats", "counts": {...}, "faults": [...]}`) and a reader
//! gets a type back, not a bag of field names.

use serde::{Deserialize, Serialize};

use crate::bank::BankReport;
use crate::check_name::CheckName;
use crate::counterexample::Counterexample;
use crate::deposed_leader::DeposedLeaderReport;
use crate::log_agreement::LogAgreementReport;
use crate::lost_writes::LostWrites;
use crate::queue::QueueReport;
use crate::report::CheckReport;
use crate::split_brain::SplitBrainReport;
use crate::stats::StatsReport;
use crate::txn::TxnReport;

/// The findings of one check, by check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "kebab-case")]
pub enum CheckDetails {
    /// The linearizability search's report.
    Linearizable(CheckReport),
    /// The set model's report, whose `lost_writes` decides.
    LostWrites(CheckReport),
    Bank(BankReport),
    SplitBrain(SplitBrainReport),
    Stats(StatsReport),
    DeposedLeader(DeposedLeaderReport),
    LogAgreement(LogAgreementReport),
    /// The transactional checker's report: anomalies by kind, each explained.
    Isolation(TxnReport),
    /// The queue analysis: what came out against what went in.
    Queue(QueueReport),
}

impl CheckDetails {
    /// The check these details belong to.
    pub fn name(&self) -> CheckName {
        match self {
            CheckDetails::Linearizable(_) => CheckName::Linearizable,
            CheckDetails::LostWrites(_) => CheckName::LostWrites,
            CheckDetails::Bank(_) => CheckName::Bank,
            CheckDetails::SplitBrain(_) => CheckName::SplitBrain,
            CheckDetails::Stats(_) => CheckName::Stats,
            CheckDetails::DeposedLeader(_) => CheckName::DeposedLeader,
            CheckDetails::LogAgreement(_) => CheckName::LogAgreement,
            CheckDetails::Isolation(_) => CheckName::Isolation,
            CheckDetails::Queue(_) => CheckName::Queue,
        }
    }

    /// The counterexample of a linearizability search that found a violation.
    pub fn counterexample(&self) -> Option<&Counterexample> {
        match self {
            CheckDetails::Linearizable(report) | CheckDetails::LostWrites(report) => {
                report.counterexample.as_ref()
            }
            _ => None,
        }
    }

    /// The lost-write analysis of a set history.
    pub fn lost_writes(&self) -> Option<&LostWrites> {
        match self {
            CheckDetails::Linearizable(report) | CheckDetails::LostWrites(report) => {
                report.lost_writes.as_ref()
            }
            _ => None,
        }
    }

    /// The queue analysis.
    pub fn queue(&self) -> Option<&QueueReport> {
        match self {
            CheckDetails::Queue(report) => Some(report),
            _ => None,
        }
    }

    /// The transactional checker's report.
    pub fn isolation(&self) -> Option<&TxnReport> {
        match self {
            CheckDetails::Isolation(report) => Some(report),
            _ => None,
        }
    }

    pub fn stats(&self) -> Option<&StatsReport> {
        match self {
            CheckDetails::Stats(report) => Some(report),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check, CheckOptions, Event, History, ModelKind};

    fn stale_read() -> History {
        let lines = [
            r#"{"index":0,"process":1,"type":"invoke","f":"write","value":1}"#,
            r#"{"index":1,"process":1,"type":"ok","f":"write","value":1}"#,
            r#"{"index":2,"process":2,"type":"invoke","f":"read","value":null}"#,
            r#"{"index":3,"process":2,"type":"ok","f":"read","value":null}"#,
        ];
        let events: Vec<Event> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        History::from_events(events).unwrap()
    }

    #[test]
    fn details_round_trip_tagged_beside_the_reports_own_fields() {
        let report = check(&stale_read(), &CheckOptions::new(ModelKind::Register)).unwrap();
        let details = CheckDetails::Linearizable(report.clone());
        let json = serde_json::to_value(&details).unwrap();
        assert_eq!(json["check"], "linearizable");
        assert_eq!(json["verdict"], "invalid", "the report's fields stay at the top");
        assert_eq!(json["counterexample"]["failing_op"]["outcome"], "ok");
        let back: CheckDetails = serde_json::from_value(json).unwrap();
        assert_eq!(back, details);
        assert_eq!(back.name(), CheckName::Linearizable);
        assert_eq!(back.counterexample().unwrap().failing_op.f, "read");
        assert!(back.stats().is_none() && back.lost_writes().is_none());

        let stats = CheckDetails::Stats(crate::stats::check(&stale_read(), &[], None));
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!((json["check"].as_str(), json["counts"]["ok"].as_u64()), (Some("stats"), Some(2)));
        assert_eq!(serde_json::from_value::<CheckDetails>(json).unwrap(), stats);
    }
}
