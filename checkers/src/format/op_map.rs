//! Jepsen op maps (`{:process 0, :type :invoke, :f :read, :value nil}`) as [`Event`]s.
//!
//! Shared by the EDN history importer and the Porcupine kv importer, which hold the same
//! maps in different layouts. Fields read: `:type`, `:process`, `:f`, `:value`, `:key`,
//! `:time` (nanoseconds), `:error`, `:node`; `:index` and anything else is ignored, since
//! indices are reassigned in file order. Keys may be keywords or strings.

use super::edn::Edn;
use crate::history::{Event, EventType, Process};

/// Convert one op map; the message says which field was wrong.
pub fn event_from_edn(form: Edn) -> Result<Event, String> {
    let pairs = match form {
        Edn::Map(pairs) => pairs,
        Edn::Tagged(_, inner) => match *inner {
            Edn::Map(pairs) => pairs,
            other => return Err(format!("expected an op map, found {}", describe(&other))),
        },
        other => return Err(format!("expected an op map, found {}", describe(&other))),
    };
    let mut kind = None;
    let mut process = None;
    let mut f = None;
    let mut value = serde_json::Value::Null;
    let mut key = None;
    let mut time = None;
    let mut error = None;
    let mut node = None;
    for (k, v) in pairs {
        let name = match &k {
            Edn::Keyword(name) | Edn::Str(name) => name.as_str(),
            _ => continue,
        };
        match name {
            "type" => kind = Some(event_type(&v)?),
            "process" => process = Some(process_of(&v)?),
            "f" => f = Some(v.as_text()),
            "value" => value = v.to_json(),
            "key" => key = text_or_none(&v),
            "time" => time = time_of(&v)?,
            "error" => error = text_or_none(&v),
            "node" => node = text_or_none(&v),
            _ => {}
        }
    }
    let kind = kind.ok_or("the op map has no :type")?;
    let process = process.ok_or("the op map has no :process")?;
    let f = match (f, process) {
        (Some(f), _) => f,
        (None, Process::Nemesis) => String::new(),
        (None, Process::Client(_)) => return Err("the op map has no :f".into()),
    };
    Ok(Event { index: 0, time, process, kind, f, key, value, error, node })
}

/// A short description of a value for error messages.
pub fn describe(form: &Edn) -> String {
    let text = form.to_edn();
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(40).collect();
        format!("`{cut}...`")
    } else {
        format!("`{text}`")
    }
}

fn event_type(v: &Edn) -> Result<EventType, String> {
    match v {
        Edn::Keyword(t) | Edn::Str(t) => match t.as_str() {
            "invoke" => Ok(EventType::Invoke),
            "ok" => Ok(EventType::Ok),
            "fail" => Ok(EventType::Fail),
            "info" => Ok(EventType::Info),
            _ => Err(format!(":type must be :invoke, :ok, :fail or :info, got {}", describe(v))),
        },
        _ => Err(format!(":type must be :invoke, :ok, :fail or :info, got {}", describe(v))),
    }
}

/// A client process is a non-negative integer; `:nemesis` is the fault injector.
pub fn process_of(v: &Edn) -> Result<Process, String> {
    match v {
        Edn::Int(n) if *n >= 0 => Ok(Process::Client(*n as u64)),
        Edn::Keyword(s) | Edn::Str(s) | Edn::Symbol(s) if s == "nemesis" => Ok(Process::Nemesis),
        _ => Err(format!(":process must be a non-negative integer or :nemesis, got {}", describe(v))),
    }
}

fn time_of(v: &Edn) -> Result<Option<u64>, String> {
    match v {
        Edn::Nil => Ok(None),
        Edn::Int(t) if *t >= 0 => Ok(Some(*t as u64)),
        _ => Err(format!(":time must be a non-negative integer (nanoseconds), got {}", describe(v))),
    }
}

fn text_or_none(v: &Edn) -> Option<String> {
    match v {
        Edn::Nil => None,
        other => Some(other.as_text()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::edn::Reader;

    fn convert(text: &str) -> Result<Event, String> {
        let (_, form) = Reader::new(text, 1).read().unwrap().unwrap();
        event_from_edn(form)
    }

    #[test]
    fn a_full_op_map() {
        let e = convert(
            r#"{:index 7, :time 1500, :type :ok, :process 3, :f :cas, :value [4 0],
                :key "k", :error [:timeout 5], :node "n1"}"#,
        )
        .unwrap();
        assert_eq!(e.kind, EventType::Ok);
        assert_eq!(e.process, Process::Client(3));
        assert_eq!(e.f, "cas");
        assert_eq!(e.value, serde_json::json!([4, 0]));
        assert_eq!(e.key.as_deref(), Some("k"));
        assert_eq!(e.time, Some(1500));
        assert_eq!(e.error.as_deref(), Some("[:timeout 5]"));
        assert_eq!(e.node.as_deref(), Some("n1"));
    }

    #[test]
    fn nemesis_ops_and_string_keys() {
        let e = convert(r#"{"type" "info", "process" :nemesis, "f" :start, "value" {:n1 #{:n2}}}"#).unwrap();
        assert_eq!(e.process, Process::Nemesis);
        assert_eq!(e.value, serde_json::json!({"n1": ["n2"]}));
        assert_eq!(convert("{:type :info, :process :nemesis}").unwrap().f, "");
    }

    #[test]
    fn wrong_fields_are_named() {
        assert_eq!(convert("{:process 1, :f :read}").unwrap_err(), "the op map has no :type");
        assert!(convert("{:type :done, :process 1, :f :r}").unwrap_err().contains(":type must"));
        assert!(convert("{:type :ok, :process -1, :f :r}").unwrap_err().contains(":process"));
        assert!(convert("{:type :ok, :process 1, :f :r, :time 1.5}").unwrap_err().contains(":time"));
        assert_eq!(convert("{:type :ok, :process 1}").unwrap_err(), "the op map has no :f");
        assert!(convert("[1 2]").unwrap_err().contains("expected an op map"));
    }
}
