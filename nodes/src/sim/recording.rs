//! How a client operation is written into a [`checkers::Event`] history.
//!
//! One mapping, used for every operation the simulator records, so that checkers see the
//! same vocabulary whichever protocol ran:
//!
//! | request                 | `f`     | `key` | invoke `value`  | `ok` value                  |
//! |-------------------------|---------|-------|-----------------|-----------------------------|
//! | `Get { key }`           | `read`  | key   | `null`          | the register (`null`: none) |
//! | `Put { key, value }`    | `write` | key   | value           | value                       |
//! | `Cas { key, from, to }` | `cas`   | key   | `[from, to]`    | `[from, to]`                |
//! | `SetAdd { key, e }`     | `add`   | key   | e               | e                           |
//! | `SetRead { key }`       | `read`  | key   | `null`          | the elements, ascending     |
//! | `Txn { ops }`           | `txn`   | none  | the ops as JSON | the per-op results          |
//!
//! A `fail` or `info` completion repeats the invocation's value. A definite error is
//! `fail`; an indefinite error, a crash of the node holding the request, or no answer by the
//! client's timeout is `info`.

use checkers::{Event, EventType, Process};
use serde_json::{json, Value};

use crate::api::{Request, Response};

/// The function name, key and argument under which `request` is recorded.
pub fn invocation(request: &Request) -> (&'static str, Option<String>, Value) {
    match request {
        Request::Get { key } => ("read", Some(key.clone()), Value::Null),
        Request::Put { key, value } => ("write", Some(key.clone()), json!(value)),
        Request::Cas { key, from, to } => ("cas", Some(key.clone()), json!([from, to])),
        Request::SetAdd { key, element } => ("add", Some(key.clone()), json!(element)),
        Request::SetRead { key } => ("read", Some(key.clone()), Value::Null),
        Request::Txn { ops } => ("txn", None, serde_json::to_value(ops).unwrap_or(Value::Null)),
    }
}

/// The value an `ok` completion of `request` records, given the node's answer.
pub fn ok_value(request: &Request, response: &Response) -> Value {
    match (request, response) {
        (Request::Get { .. }, Response::Value { value }) => json!(value),
        (Request::SetRead { .. }, Response::Elements { elements }) => json!(elements),
        (Request::Txn { .. }, Response::Results { results }) => json!(results),
        // Writes echo their argument, as Jepsen records them.
        (request, _) => invocation(request).2,
    }
}

/// One client event: `process` is the client, `at_ms` virtual time, `node` who served it.
pub(crate) fn event(
    process: u64,
    at_ms: u64,
    kind: EventType,
    request: &Request,
    value: Value,
    error: Option<String>,
    node: crate::api::NodeId,
) -> Event {
    let (f, key, _) = invocation(request);
    Event {
        index: 0,
        time: Some(at_ms.saturating_mul(1_000_000)),
        process: Process::Client(process),
        kind,
        f: f.to_string(),
        key,
        value,
        error,
        node: Some(node.to_string()),
    }
}

/// One nemesis event (a fault starting or healing), for people reading the history.
pub(crate) fn nemesis(at_ms: u64, f: &str, value: Value) -> Event {
    Event {
        index: 0,
        time: Some(at_ms.saturating_mul(1_000_000)),
        process: Process::Nemesis,
        kind: EventType::Info,
        f: f.to_string(),
        key: None,
        value,
        error: None,
        node: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_of_registers_and_sets_record_what_was_read() {
        let get = Request::Get { key: "k".into() };
        assert_eq!(invocation(&get), ("read", Some("k".into()), Value::Null));
        assert_eq!(ok_value(&get, &Response::Value { value: Some(3) }), json!(3));
        let set = Request::SetRead { key: "s".into() };
        assert_eq!(ok_value(&set, &Response::Elements { elements: vec![1, 2] }), json!([1, 2]));
        let cas = Request::Cas { key: "k".into(), from: 1, to: 2 };
        assert_eq!(ok_value(&cas, &Response::Done {}), json!([1, 2]));
    }
}
