//! Histories of many objects written as Jepsen's `jepsen.independent` writes them: no op
//! names a key, and each op's value is a `[key value]` tuple instead.
//!
//! Read as they are, such a history is one object whose values are tuples: a write of
//! `[3 5]` overwrites a write of `[4 1]`, and a read of `[4 1]` after it looks stale, so a
//! valid history can be called invalid. [`split_tuples`] makes each tuple's first element
//! the op's key and its second the op's value, after which every check splits the history
//! per key as Jepsen's independent checker does.
//!
//! The key is taken from the invocation, whose value must be a tuple. A completion's value
//! is split when it is a tuple (Jepsen's clients return one) and its key must then be the
//! invocation's; any other completion value is kept whole, since a `fail` or `info` often
//! carries none. Nemesis events are left as they are. A tuple's key is kept as text: a
//! string as itself, anything else as its JSON (`3`, `[0,1]`), so `3` and `"3"` are one
//! key, as they are for a `key` field.

use serde_json::Value;

use crate::abbreviate::short;
use crate::history::{EventType, History, HistoryError, Process};

/// `history` with every client op's `[key value]` tuple split into its key and value.
/// Refused, naming the event: an invocation whose value is not a two-element array, or one
/// that names a key of its own as well; a completion on another key than its invocation's.
pub fn split_tuples(history: History) -> Result<History, HistoryError> {
    let mut events = history.into_events();
    for (i, event) in events.iter_mut().enumerate() {
        if event.process == Process::Nemesis {
            continue;
        }
        let refuse = |message: String| HistoryError { event: i, message, related: None };
        let tuple = match &mut event.value {
            Value::Array(items) if items.len() == 2 => {
                let value = items.pop();
                items.pop().zip(value)
            }
            _ => None,
        };
        let Some((key, value)) = tuple else {
            if event.kind == EventType::Invoke {
                return Err(refuse(format!(
                    "--independent: the invocation's value `{}` is not a [key value] tuple",
                    short(&event.value)
                )));
            }
            continue;
        };
        if let Some(own) = &event.key {
            return Err(refuse(format!(
                "--independent: the op names key {own:?} and its value is a [key value] tuple as well"
            )));
        }
        event.key = Some(match key {
            Value::String(text) => text,
            other => other.to_string(),
        });
        event.value = value;
    }
    // The pairing rules again, now that completions carry keys: one on another key than
    // its invocation's is refused there.
    History::from_events(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;

    fn history(lines: &str) -> History {
        let events: Vec<Event> = lines.trim().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        History::from_events(events).unwrap()
    }

    #[test]
    fn tuples_become_keys_and_values() {
        let split = split_tuples(history(
            r#"
{"process":0,"type":"invoke","f":"cas","value":[3,[1,2]]}
{"process":"nemesis","type":"info","f":"start","value":[1,2]}
{"process":1,"type":"invoke","f":"read","value":["a",null]}
{"process":0,"type":"ok","f":"cas","value":[3,[1,2]]}
{"process":1,"type":"fail","f":"read","value":null}
"#,
        ))
        .unwrap();
        let events = split.events();
        assert_eq!(events[0].key.as_deref(), Some("3"));
        assert_eq!(events[0].value, serde_json::json!([1, 2]));
        assert_eq!(events[1].key, None, "nemesis events are left alone");
        assert_eq!(events[1].value, serde_json::json!([1, 2]));
        assert_eq!(events[2].key.as_deref(), Some("a"));
        assert_eq!(events[2].value, Value::Null);
        assert_eq!(events[3].key.as_deref(), Some("3"));
        assert_eq!(events[3].value, serde_json::json!([1, 2]));
        assert_eq!(events[4].key, None, "a completion without a tuple is kept whole");
        let ops = split.operations();
        assert_eq!(ops[1].key.as_deref(), Some("a"), "its op keeps the invocation's key");
    }

    #[test]
    fn refuses_what_is_not_an_independent_history() {
        let err = |lines: &str| split_tuples(history(lines)).unwrap_err();
        let e = err(r#"{"process":0,"type":"invoke","f":"write","value":5}"#);
        assert_eq!((e.event, e.message.contains("not a [key value] tuple")), (0, true), "{}", e.message);
        let e = err(r#"{"process":0,"type":"invoke","f":"read","value":[1,2,3]}"#);
        assert!(e.message.contains("`[1,2,3]` is not"), "{}", e.message);
        let e = err(r#"{"process":0,"type":"invoke","f":"read","key":"k","value":[1,null]}"#);
        assert!(e.message.contains("names key \"k\""), "{}", e.message);
        let e = err(r#"
{"process":0,"type":"invoke","f":"read","value":[1,null]}
{"process":0,"type":"ok","f":"read","value":[2,5]}
"#);
        assert_eq!(e.event, 1);
        assert!(e.message.contains("on key \"2\" but invoked read on key \"1\""), "{}", e.message);
    }
}
