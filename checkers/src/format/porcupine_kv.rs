//! Porcupine's key-value histories: one Jepsen op map per line,
//! `{:process 9, :type :invoke, :f :append, :key "0", :value "x 9 0 y"}`, with `get`, `put`
//! and `append` on string keys.

use super::edn::Reader;
use super::op_map::{describe, event_from_edn};
use super::{ParseError, Parsed};

/// Parse a kv history; every non-blank line must be exactly one op map.
pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut parsed = Parsed::default();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let mut reader = Reader::new(line, line_no);
        let Some((_, form)) = reader.read()? else { continue };
        let event = event_from_edn(form).map_err(|message| ParseError { line: Some(line_no), message })?;
        if let Some((_, extra)) = reader.read()? {
            return Err(ParseError {
                line: Some(line_no),
                message: format!("{} after the op map; kv files hold one op map per line", describe(&extra)),
            });
        }
        parsed.push(event, line_no);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_map_per_line() {
        let text = "{:process 9, :type :invoke, :f :append, :key \"0\", :value \"x 9 0 y\"}\n\n\
                    {:process 9, :type :ok, :f :append, :key \"0\", :value \"x 9 0 y\"}\n";
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.lines, vec![1, 3]);
        assert_eq!(parsed.events[0].key.as_deref(), Some("0"));
        assert_eq!(parsed.events[0].value, serde_json::json!("x 9 0 y"));
    }

    #[test]
    fn a_map_split_over_lines_or_two_on_one_line_is_refused() {
        let e = parse("{:process 9, :type :invoke,\n :f :get}").unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = parse("{:process 9, :type :invoke, :f :get} {:process 9}").unwrap_err();
        assert!(e.message.contains("one op map per line"), "{}", e.message);
    }
}
