//! A small reader for EDN, the data notation Jepsen writes its histories in.
//!
//! It reads what Jepsen histories hold: maps, vectors, lists, sets, keywords, symbols,
//! strings, characters, `nil`, booleans, integers (with an optional `N`), floats (with an
//! optional `M`), ratios, `##Inf`/`##NaN`, tagged values (`#inst "..."`,
//! `#jepsen.history.Op{...}`: the tag is kept, the value read), `#_` discards, `;` comments
//! and commas as whitespace. Every error carries the line it was found on.
//!
//! Limits: nesting deeper than [`MAX_DEPTH`] is refused (the reader recurses, and input must
//! never be able to exhaust the stack); integers must fit in an `i64`.

use serde_json::{Map, Number, Value};

/// Deepest nesting of collections the reader accepts.
pub const MAX_DEPTH: usize = 64;

/// An EDN value as read. Keywords and symbols are stored without their leading `:`.
#[derive(Debug, Clone, PartialEq)]
pub enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Char(char),
    Keyword(String),
    Symbol(String),
    List(Vec<Edn>),
    Vector(Vec<Edn>),
    Set(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
    Tagged(String, Box<Edn>),
}

/// A reading error: where, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdnError {
    pub line: usize,
    pub message: String,
}

/// Reads EDN forms one at a time from text, counting lines.
pub struct Reader<'a> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    line: usize,
    /// The first error: reading stops there, since the position inside a broken form means
    /// nothing (and may not even be a character boundary).
    failed: Option<EdnError>,
}

impl<'a> Reader<'a> {
    /// A reader over `text`, whose first line is numbered `first_line`.
    pub fn new(text: &'a str, first_line: usize) -> Reader<'a> {
        Reader { src: text.as_bytes(), text, pos: 0, line: first_line, failed: None }
    }

    /// The line the reader is on.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Skip whitespace, commas and comments; the next significant byte, not consumed.
    pub fn peek(&mut self) -> Option<u8> {
        loop {
            let &b = self.src.get(self.pos)?;
            match b {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | b',' | 0x0b | 0x0c => self.pos += 1,
                b';' => {
                    while let Some(&c) = self.src.get(self.pos) {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => return Some(b),
            }
        }
    }

    /// Consume one byte already seen by [`Reader::peek`] (never a newline).
    pub fn bump(&mut self) {
        self.pos += 1;
    }

    /// The next form with the line it starts on, or `None` at the end of the input.
    pub fn read(&mut self) -> Result<Option<(usize, Edn)>, EdnError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.read_next();
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn read_next(&mut self) -> Result<Option<(usize, Edn)>, EdnError> {
        loop {
            if self.peek().is_none() {
                return Ok(None);
            }
            let line = self.line;
            if let Some(form) = self.read_form(0)? {
                return Ok(Some((line, form)));
            }
        }
    }

    /// The next form read as an element `depth` collections deep (a map's value in a
    /// stream of op maps is one deep, and may nest as deep as it could there), or `None`
    /// at the end of the input; discards are passed over as [`Reader::read`] passes them.
    pub(crate) fn read_within(&mut self, depth: usize) -> Result<Option<Edn>, EdnError> {
        loop {
            if self.peek().is_none() {
                return Ok(None);
            }
            if let Some(form) = self.read_form(depth)? {
                return Ok(Some(form));
            }
        }
    }

    /// How many bytes of the text have been read.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// Read the elements of a collection whose opening byte was consumed, up to `close`,
    /// handing each to `each` with its line as it is read (so a long top-level vector is
    /// never held whole).
    pub fn read_elements(
        &mut self,
        close: u8,
        opened_at: usize,
        depth: usize,
        mut each: impl FnMut(usize, Edn) -> Result<(), EdnError>,
    ) -> Result<(), EdnError> {
        loop {
            match self.peek() {
                None => {
                    return Err(self.error(format!(
                        "unexpected end of input: `{}` opened on line {opened_at} is not closed",
                        opener(close)
                    )))
                }
                Some(b) if b == close => {
                    self.bump();
                    return Ok(());
                }
                Some(b @ (b')' | b']' | b'}')) => {
                    return Err(self.error(format!(
                        "unexpected `{}`: `{}` opened on line {opened_at} expects `{}`",
                        b as char,
                        opener(close),
                        close as char
                    )))
                }
                Some(_) => {
                    let line = self.line;
                    if let Some(form) = self.read_form(depth)? {
                        each(line, form)?;
                    }
                }
            }
        }
    }

    fn error(&self, message: String) -> EdnError {
        EdnError { line: self.line, message }
    }

    /// One form; `None` when it was a `#_` discard.
    fn read_form(&mut self, depth: usize) -> Result<Option<Edn>, EdnError> {
        if depth >= MAX_DEPTH {
            return Err(self.error(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let Some(b) = self.peek() else {
            return Err(self.error("unexpected end of input: a value was expected".into()));
        };
        let line = self.line;
        let form = match b {
            b'(' | b'[' | b'{' => {
                self.bump();
                let close = match b {
                    b'(' => b')',
                    b'[' => b']',
                    _ => b'}',
                };
                let mut items = Vec::new();
                self.read_elements(close, line, depth + 1, |_, form| {
                    items.push(form);
                    Ok(())
                })?;
                match b {
                    b'(' => Edn::List(items),
                    b'[' => Edn::Vector(items),
                    _ => Self::pairs(items, line)?,
                }
            }
            b')' | b']' | b'}' => {
                return Err(self.error(format!("unexpected `{}`", b as char)));
            }
            b'"' => {
                self.bump();
                Edn::Str(self.string(line)?)
            }
            b'\\' => {
                self.bump();
                Edn::Char(self.character()?)
            }
            b'#' => {
                self.bump();
                return self.dispatch(depth, line);
            }
            _ => self.atom()?,
        };
        Ok(Some(form))
    }

    fn pairs(items: Vec<Edn>, line: usize) -> Result<Edn, EdnError> {
        if items.len() & 1 == 1 {
            return Err(EdnError {
                line,
                message: format!("the map opened on line {line} has a key without a value"),
            });
        }
        let mut pairs = Vec::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k, v));
        }
        Ok(Edn::Map(pairs))
    }

    /// After `#`: a set, a discard, a symbolic value or a tagged value.
    fn dispatch(&mut self, depth: usize, line: usize) -> Result<Option<Edn>, EdnError> {
        match self.src.get(self.pos).copied() {
            Some(b'{') => {
                self.bump();
                let mut items = Vec::new();
                self.read_elements(b'}', line, depth + 1, |_, form| {
                    items.push(form);
                    Ok(())
                })?;
                Ok(Some(Edn::Set(items)))
            }
            Some(b'_') => {
                self.bump();
                // The discarded form must exist; it may itself be a discard.
                while self.read_form(depth + 1)?.is_none() {}
                Ok(None)
            }
            Some(b'#') => {
                self.bump();
                let token = self.token();
                match token {
                    "Inf" => Ok(Some(Edn::Float(f64::INFINITY))),
                    "-Inf" => Ok(Some(Edn::Float(f64::NEG_INFINITY))),
                    "NaN" => Ok(Some(Edn::Float(f64::NAN))),
                    _ => Err(self.error(format!("unknown symbolic value `##{token}`"))),
                }
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let tag = self.token().to_string();
                let value = loop {
                    if let Some(v) = self.read_form(depth + 1)? {
                        break v;
                    }
                };
                Ok(Some(Edn::Tagged(tag, Box::new(value))))
            }
            _ => Err(self.error("`#` must be followed by `{`, `_` or a tag".into())),
        }
    }

    /// A run of token bytes (up to a delimiter), consumed.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(&c) = self.src.get(self.pos) {
            if matches!(
                c,
                b' ' | b'\t'
                    | b'\n'
                    | b'\r'
                    | b','
                    | b'('
                    | b')'
                    | b'['
                    | b']'
                    | b'{'
                    | b'}'
                    | b'"'
                    | b';'
                    | 0x0b
                    | 0x0c
            ) {
                break;
            }
            self.pos += 1;
        }
        // Delimiters are ASCII, so both ends are character boundaries.
        &self.text[start..self.pos]
    }

    fn atom(&mut self) -> Result<Edn, EdnError> {
        let token = self.token();
        if let Some(bad) = token.chars().find(|&c| !is_symbol_char(c)) {
            return Err(self.error(format!("unexpected character {bad:?}")));
        }
        let bytes = token.as_bytes();
        let numeric = bytes[0].is_ascii_digit()
            || (matches!(bytes[0], b'+' | b'-') && bytes.get(1).is_some_and(u8::is_ascii_digit));
        if numeric {
            return number(token).map_err(|message| self.error(message));
        }
        if let Some(name) = token.strip_prefix(':') {
            if name.is_empty() || name.starts_with(':') {
                return Err(self.error(format!("invalid keyword `{token}`")));
            }
            return Ok(Edn::Keyword(name.to_string()));
        }
        Ok(match token {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            _ => Edn::Symbol(token.to_string()),
        })
    }

    fn string(&mut self, opened_at: usize) -> Result<String, EdnError> {
        let mut out = String::new();
        let mut start = self.pos;
        loop {
            let Some(&c) = self.src.get(self.pos) else {
                return Err(self.error(format!(
                    "unexpected end of input: the string opened on line {opened_at} is not closed"
                )));
            };
            match c {
                b'"' => {
                    out.push_str(&self.text[start..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.text[start..self.pos]);
                    self.pos += 1;
                    let Some(&e) = self.src.get(self.pos) else { continue };
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'u' => {
                            let hex = self.text.get(self.pos..self.pos + 4).unwrap_or("");
                            let ch = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                            let Some(ch) = ch.filter(|_| hex.len() == 4) else {
                                return Err(self.error("invalid \\u escape in string".into()));
                            };
                            out.push(ch);
                            self.pos += 4;
                        }
                        _ => {
                            let shown = self.text[self.pos - 1..].chars().next().unwrap_or('?');
                            // Leave the reader on a character boundary.
                            self.pos += shown.len_utf8() - 1;
                            return Err(self.error(format!("invalid escape \\{shown} in string")));
                        }
                    }
                    start = self.pos;
                }
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                _ => self.pos += 1,
            }
        }
    }

    fn character(&mut self) -> Result<char, EdnError> {
        // The character itself may be a delimiter (`\(`), so take one char first.
        let Some(first) = self.text[self.pos..].chars().next() else {
            return Err(self.error("unexpected end of input after `\\`".into()));
        };
        if first.is_whitespace() {
            return Err(self.error("a character literal needs a character after `\\`".into()));
        }
        self.pos += first.len_utf8();
        let rest = self.token();
        if rest.is_empty() {
            return Ok(first);
        }
        let name = format!("{first}{rest}");
        match name.as_str() {
            "newline" => Ok('\n'),
            "space" => Ok(' '),
            "tab" => Ok('\t'),
            "return" => Ok('\r'),
            "backspace" => Ok('\u{8}'),
            "formfeed" => Ok('\u{c}'),
            _ => name
                .strip_prefix('u')
                .filter(|hex| hex.len() == 4)
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .and_then(char::from_u32)
                .ok_or_else(|| self.error(format!("invalid character literal \\{name}"))),
        }
    }
}

fn opener(close: u8) -> char {
    match close {
        b')' => '(',
        b']' => '[',
        _ => '{',
    }
}

fn is_symbol_char(c: char) -> bool {
    c.is_alphanumeric() || ".*+!-_?$%&=<>/:#'".contains(c)
}

fn number(token: &str) -> Result<Edn, String> {
    let invalid = || format!("invalid number `{token}`");
    if let Some(int) = token.strip_suffix('N') {
        return integer(int, token);
    }
    if let Some(dec) = token.strip_suffix('M') {
        return dec.parse::<f64>().map(Edn::Float).map_err(|_| invalid());
    }
    if let Some((n, d)) = token.split_once('/') {
        let (Ok(n), Ok(d)) = (n.parse::<i64>(), d.parse::<i64>()) else { return Err(invalid()) };
        if d == 0 {
            return Err(format!("ratio `{token}` divides by zero"));
        }
        return Ok(Edn::Float(n as f64 / d as f64));
    }
    if token.contains(['.', 'e', 'E']) {
        // Rust accepts "inf"/"nan" spellings; EDN does not, and they cannot start with a digit.
        return token.parse::<f64>().map(Edn::Float).map_err(|_| invalid());
    }
    integer(token, token)
}

fn integer(digits: &str, token: &str) -> Result<Edn, String> {
    use std::num::IntErrorKind::*;
    digits.parse::<i64>().map(Edn::Int).map_err(|e| match e.kind() {
        PosOverflow | NegOverflow => format!("integer `{token}` does not fit in 64 bits"),
        _ => format!("invalid number `{token}`"),
    })
}

impl Edn {
    /// The JSON form of a value: keywords and symbols become strings without the `:`,
    /// vectors, lists and sets become arrays, map keys become their text, tags are dropped,
    /// non-finite floats become the strings "Inf", "-Inf" and "NaN".
    pub fn to_json(&self) -> Value {
        match self {
            Edn::Nil => Value::Null,
            Edn::Bool(b) => Value::Bool(*b),
            Edn::Int(i) => Value::Number((*i).into()),
            Edn::Float(f) => match Number::from_f64(*f) {
                Some(n) => Value::Number(n),
                None if f.is_nan() => Value::String("NaN".into()),
                None if *f > 0.0 => Value::String("Inf".into()),
                None => Value::String("-Inf".into()),
            },
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => Value::String(s.clone()),
            Edn::Char(c) => Value::String(c.to_string()),
            Edn::List(items) | Edn::Vector(items) | Edn::Set(items) => {
                Value::Array(items.iter().map(Edn::to_json).collect())
            }
            Edn::Map(pairs) => {
                let mut map = Map::new();
                for (k, v) in pairs {
                    map.insert(k.as_text(), v.to_json());
                }
                Value::Object(map)
            }
            Edn::Tagged(_, inner) => inner.to_json(),
        }
    }

    /// A short text for the value, as used for map keys, op keys and error descriptions:
    /// strings, keywords and symbols bare, everything else as EDN.
    pub fn as_text(&self) -> String {
        match self {
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => s.clone(),
            Edn::Tagged(_, inner) => inner.as_text(),
            other => other.to_edn(),
        }
    }

    /// The value written back as EDN.
    pub fn to_edn(&self) -> String {
        let mut out = String::new();
        self.write_edn(&mut out);
        out
    }

    fn write_edn(&self, out: &mut String) {
        use std::fmt::Write;
        let seq = |out: &mut String, open: &str, items: &[Edn], close: char| {
            out.push_str(open);
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                item.write_edn(out);
            }
            out.push(close);
        };
        match self {
            Edn::Nil => out.push_str("nil"),
            Edn::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Edn::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Edn::Float(f) if f.is_nan() => out.push_str("##NaN"),
            Edn::Float(f) if f.is_infinite() => out.push_str(if *f > 0.0 { "##Inf" } else { "##-Inf" }),
            Edn::Float(f) => {
                let _ = write!(out, "{f:?}");
            }
            Edn::Str(s) => {
                let _ = write!(out, "{}", Value::String(s.clone()));
            }
            Edn::Char(c) => {
                let _ = match c {
                    '\n' => write!(out, "\\newline"),
                    ' ' => write!(out, "\\space"),
                    '\t' => write!(out, "\\tab"),
                    '\r' => write!(out, "\\return"),
                    c if c.is_control() => write!(out, "\\u{:04x}", *c as u32),
                    c => write!(out, "\\{c}"),
                };
            }
            Edn::Keyword(k) => {
                let _ = write!(out, ":{k}");
            }
            Edn::Symbol(s) => out.push_str(s),
            Edn::List(items) => seq(out, "(", items, ')'),
            Edn::Vector(items) => seq(out, "[", items, ']'),
            Edn::Set(items) => seq(out, "#{", items, '}'),
            Edn::Map(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    k.write_edn(out);
                    out.push(' ');
                    v.write_edn(out);
                }
                out.push('}');
            }
            Edn::Tagged(tag, inner) => {
                let _ = write!(out, "#{tag} ");
                inner.write_edn(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Edn {
        let mut r = Reader::new(text, 1);
        let (_, form) = r.read().unwrap().unwrap();
        assert_eq!(r.read().unwrap(), None, "trailing input in {text:?}");
        form
    }

    fn err(text: &str) -> EdnError {
        let mut r = Reader::new(text, 1);
        loop {
            match r.read() {
                Err(e) => return e,
                Ok(None) => panic!("{text:?} read without error"),
                Ok(Some(_)) => {}
            }
        }
    }

    #[test]
    fn scalars() {
        assert_eq!(one("nil"), Edn::Nil);
        assert_eq!(one("true"), Edn::Bool(true));
        assert_eq!(one("-42"), Edn::Int(-42));
        assert_eq!(one("+7"), Edn::Int(7));
        assert_eq!(one("42N"), Edn::Int(42));
        assert_eq!(one("-1.5e3"), Edn::Float(-1500.0));
        assert_eq!(one("2.5M"), Edn::Float(2.5));
        assert_eq!(one("1/4"), Edn::Float(0.25));
        assert_eq!(one(":timed-out"), Edn::Keyword("timed-out".into()));
        assert_eq!(one(":jepsen/op"), Edn::Keyword("jepsen/op".into()));
        assert_eq!(one("foo.bar"), Edn::Symbol("foo.bar".into()));
        assert_eq!(one(r#""a\"b\n\u00e9""#), Edn::Str("a\"b\né".into()));
        assert_eq!(one(r"\newline"), Edn::Char('\n'));
        assert_eq!(one(r"\("), Edn::Char('('));
        assert_eq!(one("##Inf").to_json(), Value::String("Inf".into()));
    }

    #[test]
    fn collections_comments_commas_tags_and_discards() {
        let form = one("; a history\n{:type :ok, :value [1 2], :s #{:a}, #_ :gone :n (3)}");
        assert_eq!(form.to_json(), serde_json::json!({"type": "ok", "value": [1, 2], "s": ["a"], "n": [3]}));
        let tagged = one("#jepsen.history.Op{:index 0}");
        assert!(matches!(tagged, Edn::Tagged(ref t, _) if t == "jepsen.history.Op"));
        assert_eq!(one("#inst \"2015-01-01\"").to_json(), Value::String("2015-01-01".into()));
        assert_eq!(one("{[1 2] :x}").to_json(), serde_json::json!({"[1 2]": "x"}));
    }

    #[test]
    fn forms_report_the_line_they_start_on() {
        let mut r = Reader::new("{:a 1}\n\n; c\n  [\n 2]\n", 10);
        assert_eq!(r.read().unwrap().unwrap().0, 10);
        assert_eq!(r.read().unwrap().unwrap().0, 13);
        assert_eq!(r.read().unwrap(), None);
    }

    #[test]
    fn errors_name_the_line() {
        let e = err("[1 2\n3");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("opened on line 1"), "{}", e.message);
        assert_eq!(err("{:a 1 :b}").message, "the map opened on line 1 has a key without a value");
        assert!(err("[1 2)").message.contains("unexpected `)`"));
        assert!(err("\"abc").message.contains("string opened on line 1"));
        assert!(err("99999999999999999999").message.contains("64 bits"));
        assert!(err("1.2.3").message.contains("invalid number"));
        assert!(err("\u{1}").message.contains("unexpected character"));
        assert!(err("#").message.contains("`#` must be followed"));
        assert!(err(r#""\q""#).message.contains("invalid escape"));
        assert!(err(":").message.contains("invalid keyword"));
        let deep = "[".repeat(MAX_DEPTH + 5);
        assert!(err(&deep).message.contains("nested deeper"));
    }

    #[test]
    fn reading_after_an_error_repeats_the_error() {
        // Found by fuzzing (fuzz_regressions/invalid-escape-before-multibyte-char): reading on after an invalid
        // escape before a multi-byte character sliced the text inside that character.
        let mut r = Reader::new("\"\\\u{feff}(\"", 1);
        let first = r.read().unwrap_err();
        assert!(first.message.contains("invalid escape"), "{}", first.message);
        assert_eq!(r.read().unwrap_err(), first);
    }

    #[test]
    fn values_print_back_as_edn() {
        let text = r#"{:a [1 -2.5 nil "s"], :b #{:k}, :c (true \x)}"#;
        assert_eq!(one(text).to_edn(), text);
    }
}
