//! How an answer becomes an event type: the one place that decides `ok`, `fail` or `info`.
//!
//! - a success whose body has the shape the operation expects: `ok`, with the value read;
//! - an error the node calls definite (`not_leader`, `unavailable`, `precondition_failed`,
//!   ...): `fail`, the operation did not happen;
//! - an error the node calls indefinite (`timeout`, `indeterminate`, `internal`), our own
//!   timeout, a connection that broke after the request may have left, or an answer we
//!   cannot read: `info`, it may have happened, and the process is retired;
//! - a connection that could not be opened: `fail`, the request never left.
//!
//! Pure: the transport's result comes in as an [`Answer`], so every rule has a unit test.

use checkers::EventType;
use nodes::api::{ErrorBody, ErrorCode, NodeId};
use workloads::Op;

/// What the transport got for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A 2xx status and its body.
    Success(Vec<u8>),
    /// Any other status and its body.
    Error { status: u16, body: Vec<u8> },
    /// No answer within the client's deadline.
    TimedOut,
    /// The connection could not be opened: nothing was sent.
    NotSent(String),
    /// The connection failed after the request may have been sent.
    Lost(String),
}

/// What the history records for an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub kind: EventType,
    /// The completion's value: the result on `ok`, the invocation's value otherwise.
    pub value: serde_json::Value,
    pub error: Option<String>,
    /// The leader a `not_leader` answer named, for the client's next operation.
    pub leader_hint: Option<NodeId>,
}

impl Completion {
    /// A definite refusal from a node that does not lead (`not_leader`, with or without a
    /// hint): it serves neither this operation nor, for now, any other.
    pub fn is_not_leader(&self) -> bool {
        self.kind == EventType::Fail && self.error.as_deref().is_some_and(|e| e.starts_with("not_leader"))
    }

    fn failed(kind: EventType, op: &Op, error: String) -> Completion {
        Completion { kind, value: op.invoke_value(), error: Some(error), leader_hint: None }
    }
}

/// Decide the completion of `op` from its answer.
pub fn classify(op: &Op, answer: &Answer) -> Completion {
    match answer {
        Answer::Success(body) => match op.completion_value(body) {
            Ok(value) => Completion { kind: EventType::Ok, value, error: None, leader_hint: None },
            Err(e) => Completion::failed(EventType::Info, op, format!("unreadable answer: {e}")),
        },
        Answer::Error { status, body } => match serde_json::from_slice::<ErrorBody>(body) {
            Ok(ErrorBody { error }) => {
                // The code is the contract; a node that contradicts it is believed only
                // where that is the cautious reading.
                let definite = error.definite && error.code.is_definite();
                let kind = if definite { EventType::Fail } else { EventType::Info };
                let code = serde_json::to_value(error.code)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| format!("{:?}", error.code));
                let mut completion = Completion::failed(kind, op, format!("{code}: {}", error.message));
                if error.code == ErrorCode::NotLeader {
                    completion.leader_hint = error.leader;
                }
                completion
            }
            Err(_) => {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                Completion::failed(
                    EventType::Info,
                    op,
                    format!("http {status} without an error body: {text:?}"),
                )
            }
        },
        Answer::TimedOut => Completion::failed(EventType::Info, op, "timeout".to_string()),
        Answer::NotSent(e) => Completion::failed(EventType::Fail, op, format!("not sent: {e}")),
        Answer::Lost(e) => Completion::failed(EventType::Info, op, format!("connection lost: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodes::api::ApiError;
    use serde_json::json;

    fn write() -> Op {
        Op::Write { key: "r1".into(), value: 3 }
    }

    fn error(e: ApiError) -> Answer {
        Answer::Error {
            status: e.code.http_status(),
            body: serde_json::to_vec(&ErrorBody { error: e }).unwrap(),
        }
    }

    #[test]
    fn success_is_ok_with_the_value_read() {
        let read = Op::Read { key: "r1".into() };
        let c = classify(&read, &Answer::Success(br#"{"value":2}"#.to_vec()));
        assert_eq!((c.kind, c.value), (EventType::Ok, json!(2)));
        let c = classify(&read, &Answer::Success(b"garbage".to_vec()));
        assert_eq!(c.kind, EventType::Info, "an unreadable success may have happened");
    }

    #[test]
    fn definite_errors_fail_and_not_leader_carries_its_hint() {
        let c = classify(&write(), &error(ApiError::not_leader(Some(2))));
        assert_eq!((c.kind, c.leader_hint), (EventType::Fail, Some(2)));
        assert_eq!(c.value, json!(3));
        assert!(c.error.unwrap().starts_with("not_leader"));
        let c = classify(&write(), &error(ApiError::new(ErrorCode::Unavailable, "no quorum")));
        assert_eq!(c.kind, EventType::Fail);
        assert_eq!(c.leader_hint, None);
    }

    #[test]
    fn indefinite_errors_timeouts_and_lost_connections_are_info() {
        let c = classify(&write(), &error(ApiError::new(ErrorCode::Timeout, "slow")));
        assert_eq!(c.kind, EventType::Info);
        // A body claiming definiteness for an indefinite code is not believed.
        let mut lying = ApiError::new(ErrorCode::Indeterminate, "?");
        lying.definite = true;
        assert_eq!(classify(&write(), &error(lying)).kind, EventType::Info);
        assert_eq!(classify(&write(), &Answer::TimedOut).kind, EventType::Info);
        assert_eq!(classify(&write(), &Answer::Lost("reset".into())).kind, EventType::Info);
        let c = classify(&write(), &Answer::Error { status: 502, body: b"bad gateway".to_vec() });
        assert_eq!(c.kind, EventType::Info);
    }

    #[test]
    fn a_connection_never_opened_is_a_definite_failure() {
        let c = classify(&write(), &Answer::NotSent("refused".into()));
        assert_eq!(c.kind, EventType::Fail);
    }
}
