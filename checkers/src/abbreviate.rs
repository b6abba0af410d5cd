//! Long values shortened for the terminal.
//!
//! A kv counterexample shows the state after every op of its prefix; with append, each
//! state's strings are hundreds of characters that share one long prefix and differ only
//! at the end. In text output a string longer than `LONG` keeps its last `TAIL`
//! characters (the appends that tell one state from the next) behind a marker saying how
//! many characters were cut. Only text is abbreviated: `--json` and the report carry the
//! structured values whole.

use serde_json::Value;

/// Strings longer than this (in characters) are cut in text output.
const LONG: usize = 48;
/// How many characters of a cut string's end are kept.
const TAIL: usize = 32;

/// `value` as compact JSON text, with every long string inside it cut to its tail:
/// `"…[412 chars cut]x 9 0 y x 3 1 y"`.
pub(crate) fn short(value: &Value) -> String {
    if fits(value) {
        return value.to_string();
    }
    cut(value).to_string()
}

/// Whether no string in `value` is long (the common case, rendered without a copy).
fn fits(value: &Value) -> bool {
    match value {
        Value::String(s) => s.len() <= LONG || s.chars().count() <= LONG,
        Value::Array(items) => items.iter().all(fits),
        Value::Object(map) => map.iter().all(|(k, v)| k.len() <= LONG && fits(v)),
        _ => true,
    }
}

fn cut(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(cut_str(s)),
        Value::Array(items) => Value::Array(items.iter().map(cut).collect()),
        Value::Object(map) => map.iter().map(|(k, v)| (cut_str(k), cut(v))).collect(),
        other => other.clone(),
    }
}

fn cut_str(s: &str) -> String {
    let chars = s.chars().count();
    if chars <= LONG {
        return s.to_string();
    }
    let cut = chars - TAIL;
    let tail: String = s.chars().skip(cut).collect();
    format!("…[{cut} chars cut]{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_values_are_left_whole() {
        let value = json!({"k": "x 1 y", "n": [1, 2, null]});
        assert_eq!(short(&value), value.to_string());
    }

    #[test]
    fn a_long_string_keeps_its_tail_and_says_how_much_was_cut() {
        let head = "x 0 0 y ".repeat(50);
        let value = json!({"0": format!("{head}x 9 1 y"), "1": "short"});
        let text = short(&value);
        assert_eq!(text, r#"{"0":"…[375 chars cut] x 0 0 y x 0 0 y x 0 0 y x 9 1 y","1":"short"}"#);
    }

    #[test]
    fn cuts_fall_on_character_boundaries() {
        let s = "é".repeat(100);
        assert_eq!(short(&json!(s)), format!("\"…[68 chars cut]{}\"", "é".repeat(32)));
    }
}
