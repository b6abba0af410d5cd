//! The native format: JSON Lines, one [`Event`] per line (see [`crate::history`]).
//!
//! Blank lines are skipped. Each line is parsed on its own, so an error names its line and
//! column and a truncated last line is reported as such rather than as a bad history.

use std::io::Write;

use super::{ParseError, Parsed};
use crate::history::Event;

/// Parse JSON Lines text whose first line is line 1.
pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    // One event per line, give or take blank ones: room for all at once, rather than
    // growing (and copying) the vectors of a million events twenty times.
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    let mut parsed = Parsed { events: Vec::with_capacity(lines), lines: Vec::with_capacity(lines) };
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(trimmed)
            .map_err(|e| ParseError { line: Some(line_no), message: json_message(&e) })?;
        parsed.push(event, line_no);
    }
    Ok(parsed)
}

/// Write events as JSON Lines, one per line, in order.
pub fn write<W: Write>(events: &[Event], out: W) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(out);
    for event in events {
        serde_json::to_writer(&mut out, event)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// serde_json's message without its "at line 1 column N" (the line is always 1 here).
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let what = match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => text.as_str(),
    };
    let what = if e.is_eof() { "truncated JSON (the line ends inside a value)" } else { what };
    format!("invalid JSON event: {what} (column {})", e.column())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{EventType, Process};

    #[test]
    fn lines_are_numbered_from_one_skipping_blanks() {
        let text = "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n\n\
                    {\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":3}\n";
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.lines, vec![1, 3]);
        assert_eq!(parsed.events[1].kind, EventType::Ok);
        assert_eq!(parsed.events[1].process, Process::Client(1));
    }

    #[test]
    fn errors_give_the_line_and_column() {
        let e = parse("{\"process\":1,\"type\":\"invoke\",\"f\":\"r\"}\n{\"process\":1,\"ty").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("truncated"), "{}", e.message);
        let e = parse("{\"process\":-1,\"type\":\"invoke\",\"f\":\"r\"}").unwrap_err();
        assert!(e.message.contains("process"), "{}", e.message);
        let e = parse("{\"process\":1,\"type\":\"begin\",\"f\":\"r\"}").unwrap_err();
        assert!(e.message.contains("unknown variant"), "{}", e.message);
    }

    #[test]
    fn written_events_read_back_the_same() {
        let text = "{\"index\":0,\"time\":5,\"process\":2,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"a\",\"value\":1}\n\
                    {\"index\":1,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":null}\n";
        let parsed = parse(text).unwrap();
        let mut out = Vec::new();
        write(&parsed.events, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), text);
    }
}
