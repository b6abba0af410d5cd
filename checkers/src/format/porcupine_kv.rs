//! Porcupine's key-value histories: Jepsen op maps, one per line,
//! `{:process 9, :type :invoke, :f :append, :key "0", :value "x 9 0 y"}`, with `get`, `put`
//! and `append` on string keys.
//!
//! They are an EDN stream of op maps, read by the same reader as Jepsen's `history.edn`
//! (so a map spread over lines is read too); the format differs from EDN only in the model
//! it implies, `kv`, and in refusing a history vector.

use super::edn_history::parse_stream;
use super::{ParseError, Parsed};

/// Parse a kv history.
pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    parse_stream(text)
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
    fn a_map_over_two_lines_is_read_and_a_vector_refused() {
        let parsed = parse("{:process 9, :type :invoke, :f :get, :key \"0\"}\n{:process 9,\n :type :ok, :f :get, :key \"0\", :value \"\"}").unwrap();
        assert_eq!(parsed.lines, vec![1, 2]);
        let e = parse("{:process 9, :type :invoke, :f :get}\n[{:process 9}]").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("stream of op maps"), "{}", e.message);
    }
}
