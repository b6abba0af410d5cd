//! Jepsen log files, as in Porcupine's etcd corpus: only op lines matter,
//!
//! ```text
//! INFO  jepsen.util - 3  :invoke  :cas  [4 0]
//! INFO  jepsen.util - 3  :ok  :cas  [4 0]
//! INFO  jepsen.util - 1  :fail  :read  :timed-out
//! ```
//!
//! that is, `jepsen.util -` (or `jepsen.util:`), the process (an integer or `:nemesis`),
//! the type, the function and the value as EDN, separated by tabs or spaces. Every other
//! line is skipped. In a `fail` or `info` line a keyword value (`:timed-out`) is the reason,
//! not a value: it goes to `error` and the value becomes `null`. A `:fail :read :timed-out`
//! is therefore a read that constrains nothing.

use super::edn::{Edn, Reader};
use super::op_map::{describe, process_of};
use super::{ParseError, Parsed};
use crate::history::{Event, EventType};

/// The text that marks a line as one of jepsen.util's op lines.
pub const MARKER: &str = "jepsen.util";

/// Parse a Jepsen log.
pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut parsed = Parsed::default();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if let Some(event) = op_line(line, line_no)? {
            parsed.push(event, line_no);
        }
    }
    if parsed.events.is_empty() {
        return Err(ParseError {
            line: None,
            message: format!("no op lines (`{MARKER} - PROCESS :TYPE :F VALUE`) in this Jepsen log"),
        });
    }
    Ok(parsed)
}

/// Whether a line is an op line (for format detection).
pub fn is_op_line(line: &str) -> bool {
    op_start(line).is_some()
}

/// The text after the marker if it begins with a process, else `None` (not an op line).
fn op_start(line: &str) -> Option<&str> {
    let at = line.find(MARKER)?;
    let rest = line[at + MARKER.len()..].trim_start();
    let rest = rest.strip_prefix('-').or_else(|| rest.strip_prefix(':'))?.trim_start();
    let process = rest.split_ascii_whitespace().next()?;
    (process == ":nemesis" || process.bytes().all(|b| b.is_ascii_digit())).then_some(rest)
}

fn op_line(line: &str, line_no: usize) -> Result<Option<Event>, ParseError> {
    let Some(rest) = op_start(line) else { return Ok(None) };
    let err = |message: String| ParseError { line: Some(line_no), message };
    let mut reader = Reader::new(rest, line_no);
    let mut field = |what: &str| -> Result<Edn, ParseError> {
        match reader.read()? {
            Some((_, form)) => Ok(form),
            None => Err(err(format!("the op line ends before its {what}"))),
        }
    };
    let process = process_of(&field("process")?).map_err(err)?;
    let kind = match field("type")? {
        Edn::Keyword(t) if t == "invoke" => EventType::Invoke,
        Edn::Keyword(t) if t == "ok" => EventType::Ok,
        Edn::Keyword(t) if t == "fail" => EventType::Fail,
        Edn::Keyword(t) if t == "info" => EventType::Info,
        other => {
            return Err(err(format!(
                "expected :invoke, :ok, :fail or :info after the process, got {}",
                describe(&other)
            )))
        }
    };
    let f = match field("function")? {
        Edn::Keyword(f) => f,
        other => {
            return Err(err(format!("expected the op's function as a keyword, got {}", describe(&other))))
        }
    };
    let value = field("value")?;
    if let Some((_, extra)) = reader.read()? {
        return Err(err(format!("unexpected {} after the op's value", describe(&extra))));
    }
    let (value, error) = match (kind, value) {
        (EventType::Fail | EventType::Info, Edn::Keyword(reason)) => (serde_json::Value::Null, Some(reason)),
        (_, value) => (value.to_json(), None),
    };
    Ok(Some(Event { index: 0, time: None, process, kind, f, key: None, value, error, node: None }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Process;

    #[test]
    fn op_lines_with_tabs_or_spaces_and_other_lines_skipped() {
        let text = "INFO  jepsen.core - Running test\n\
                    INFO  jepsen.util - 3\t:invoke\t:cas\t[4 0]\n\
                    INFO  jepsen.util - 3   :ok     :cas    [4 0]\n\
                    INFO  jepsen.util - 1\t:fail\t:read\t:timed-out\n\
                    INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n";
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.lines, vec![2, 3, 4, 5]);
        assert_eq!(parsed.events[0].value, serde_json::json!([4, 0]));
        assert_eq!(parsed.events[1].kind, EventType::Ok);
        assert_eq!(parsed.events[2].kind, EventType::Fail);
        assert_eq!(parsed.events[2].value, serde_json::Value::Null);
        assert_eq!(parsed.events[2].error.as_deref(), Some("timed-out"));
        assert_eq!(parsed.events[3].process, Process::Nemesis);
    }

    #[test]
    fn bad_op_lines_name_their_line() {
        let e = parse("x\nINFO  jepsen.util - 3\t:begin\t:cas\t[4 0]").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains(":invoke"), "{}", e.message);
        let e = parse("INFO  jepsen.util - 3\t:ok\t:cas").unwrap_err();
        assert!(e.message.contains("before its value"), "{}", e.message);
        let e = parse("INFO  jepsen.util - 3\t:ok\t:cas\t[4 0").unwrap_err();
        assert!(e.message.contains("not closed"), "{}", e.message);
        let e = parse("INFO  jepsen.util - 3\t:ok\t:cas\t[4 0] 7").unwrap_err();
        assert!(e.message.contains("after the op's value"), "{}", e.message);
        let e = parse("just some text\n").unwrap_err();
        assert_eq!(e.line, None);
    }
}
