//! Jepsen EDN histories: either one vector (or list) of op maps, as in a test's
//! `results.edn`, or a stream of op maps, as in `history.edn`. Records printed as
//! `#jepsen.history.Op{...}` are read as their map.

use super::edn::{Edn, EdnError, Reader};
use super::op_map::{describe, event_from_edn};
use super::{ParseError, Parsed};

/// Parse an EDN history.
pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut parsed = Parsed::default();
    let mut reader = Reader::new(text, 1);
    match reader.peek() {
        Some(open @ (b'[' | b'(')) => {
            let opened_at = reader.line();
            reader.bump();
            let close = if open == b'[' { b']' } else { b')' };
            reader
                .read_elements(close, opened_at, 1, |line, form| {
                    let event = event_from_edn(form).map_err(|message| EdnError { line, message })?;
                    parsed.push(event, line);
                    Ok(())
                })
                .map_err(ParseError::from)?;
            if let Some((line, form)) = reader.read()? {
                return Err(ParseError {
                    line: Some(line),
                    message: format!(
                        "{} after the history vector opened on line {opened_at}; a history is \
                         one vector or a stream of op maps",
                        describe(&form)
                    ),
                });
            }
        }
        _ => return parse_stream(text),
    }
    Ok(parsed)
}

/// Parse a stream of op maps (no enclosing vector).
pub fn parse_stream(text: &str) -> Result<Parsed, ParseError> {
    let mut parsed = Parsed::default();
    let mut reader = Reader::new(text, 1);
    while let Some((line, form)) = reader.read()? {
        if matches!(form, Edn::Vector(_) | Edn::List(_)) {
            return Err(ParseError {
                line: Some(line),
                message: format!(
                    "{} in a stream of op maps; a history is one vector or a stream of op maps",
                    describe(&form)
                ),
            });
        }
        let event = event_from_edn(form).map_err(|message| ParseError { line: Some(line), message })?;
        parsed.push(event, line);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{EventType, Process};

    #[test]
    fn a_vector_and_a_stream_read_the_same() {
        let vector = "[{:type :invoke, :f :read, :process 0}\n {:type :ok, :f :read, :process 0, :value 3}]";
        let stream = "{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :process 0, :value 3}";
        let (a, b) = (parse(vector).unwrap(), parse(stream).unwrap());
        assert_eq!(a.events, b.events);
        assert_eq!(a.lines, vec![1, 2]);
        assert_eq!(a.events[1].kind, EventType::Ok);
        assert_eq!(a.events[1].process, Process::Client(0));
    }

    #[test]
    fn errors_give_the_line() {
        let e = parse("[{:type :invoke, :f :read, :process 0}\n {:type :ok, :f :read}]").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert_eq!(e.message, "the op map has no :process");
        let e = parse("[{:type :invoke, :f :read, :process 0}\n").unwrap_err();
        assert!(e.message.contains("not closed"), "{}", e.message);
        let e = parse("[]\n[]").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse("{:type :invoke, :f :read, :process 0}\n[1]").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse("{:type :invoke, :f :read, :process 0}\n:x").unwrap_err();
        assert!(e.message.contains("expected an op map"), "{}", e.message);
    }
}
