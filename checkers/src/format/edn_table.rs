//! Jepsen op maps, one to a line, read straight into an [`crate::OpTable`]: EDN histories
//! written as a stream of maps (Jepsen's `history.edn`) and Porcupine's kv files.
//!
//! The general way reads every map into an [`Edn`] tree, then an owned event, then a
//! validated history, and only then a table: for a million ops, three seconds and 900 MB.
//! This reader is the JSON Lines scan's counterpart and shares all of it but the line
//! ([`super::jsonl_table`]'s pieces, pairing, rules and joins): it reads a map's keys as
//! keywords, borrows `:f` and `:key` from the text, and reads the common values (`nil`,
//! integers, plain strings, keywords, pairs of integers) directly. A value of any other
//! shape is read by the general reader, that value alone.
//!
//! A map may be tagged, as Jepsen prints its op records (`#jepsen.history.Op{...}`). The
//! same bargain as that scan: anything it is not sure of (a history vector, a map over
//! several lines or beside another, a key that is not a keyword, a duplicate
//! field, a `:type`, `:process`, `:f`, `:key` or `:time` not written plainly, a number not
//! written canonically) makes it give up with `None`, and the general loader reads the file
//! and reports what is wrong exactly as it always has. So when it answers, its table is the
//! one the general way would have built; the loader properties compare the two on every
//! input the fuzz targets make.

use super::edn::{Edn, Reader};
use super::jsonl_table::{word, EventLine, Field, Kind, Quoted, Scanned, ScannedValue, Scanner};
use crate::op_ref::ValueRef;
use crate::op_table::{packed, Name};

/// The lines of a piece of op maps, read one map to a line; with `INDEPENDENT`, each op's
/// value a `[key value]` tuple split as [`crate::independent::split_tuples`] splits it.
pub(super) struct MapLine<'t, const INDEPENDENT: bool> {
    text: &'t [u8],
    at: usize,
}

impl<'t, const INDEPENDENT: bool> EventLine<'t> for MapLine<'t, INDEPENDENT> {
    #[inline(always)]
    fn more(&self) -> bool {
        self.at < self.text.len()
    }

    /// A line of nothing but whitespace (commas are whitespace) and perhaps a comment.
    #[inline(always)]
    fn no_event(&mut self) -> bool {
        let start = self.at;
        self.skip_space();
        if self.text.get(self.at) == Some(&b'{') {
            return false;
        }
        if self.end_of_line() {
            return true;
        }
        self.at = start;
        false
    }

    fn event(&mut self, event: &mut Scanned<'t>) -> Option<()> {
        self.skip_space();
        if self.text.get(self.at) == Some(&b'#') {
            self.tag()?;
        }
        self.expect(b'{')?;
        // The fields a map may leave out are reset; the others are known to be read (the
        // bits of `seen` say so), and a nemesis event's `f` is not looked at.
        (event.key, event.time) = (None, None);
        event.value = ScannedValue::Compact(ValueRef::Null);
        let mut seen = 0u16;
        let mut tuple = false;
        loop {
            self.skip_space();
            match *self.text.get(self.at)? {
                b'}' => {
                    self.at += 1;
                    break;
                }
                b':' => {}
                // A key the history does not read (`op_map` passes over any but keywords
                // and strings), a string key, or the map's end on a later line.
                _ => return None,
            }
            let field = match self.known_key() {
                Some(field) => field,
                None => Field::of(self.keyword()?.1),
            };
            let bit = field.bit();
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            self.skip_space();
            match field {
                Field::Type => event.kind = self.kind()?,
                Field::Process => event.process = self.process()?,
                Field::F => event.f = self.name()?,
                // A key beside a tuple is the general loader's to refuse; `nil` is none.
                Field::Key if INDEPENDENT => {
                    if self.key()?.is_some() {
                        return None;
                    }
                }
                Field::Key => event.key = self.key()?,
                Field::Value if INDEPENDENT => {
                    let start = self.at;
                    if let Some((key, value)) = self.tuple() {
                        (event.key, event.value, tuple) = (Some(key), value, true);
                    } else {
                        // Any other value is kept whole, as the split keeps it, unless
                        // the split would take it for a tuple (a list or set of two, a
                        // vector whose key is not read here).
                        self.at = start;
                        let value = self.value(1)?;
                        if value.is_pair() {
                            return None;
                        }
                        event.value = value;
                    }
                }
                Field::Value => event.value = self.value(1)?,
                Field::Time => event.time = self.time()?,
                Field::Index | Field::Error | Field::Node | Field::Other => self.skip_value()?,
            }
        }
        // Every event has a type and a process, and a client's op its `f`; the nemesis may
        // leave `f` out.
        let required = Field::Type.bit() | Field::Process.bit();
        let f_known = seen & Field::F.bit() != 0 || event.process.is_none();
        // Split, a client's invocation must have had a tuple (the general loader says why
        // not); a nemesis event's value is not looked at.
        let split = !INDEPENDENT || tuple || event.kind != Kind::Invoke || event.process.is_none();
        (seen & required == required && f_known && split && self.end_of_line()).then_some(())
    }
}

/// [`CLASS`] of a byte that may be in a keyword or symbol (the EDN reader's symbol
/// characters within ASCII), of one that ends a token, of whitespace within a line (which
/// ends a token too), and (0) of any other.
const SYMBOL: u8 = 1;
const DELIMITER: u8 = 2;
const SPACE: u8 = 3;

/// Per byte, what it is to a token: looked up, where a test per kind of byte was a jump
/// through a table for every byte of every keyword.
const CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() {
            class[b] = SYMBOL;
        }
        b += 1;
    }
    let symbols = b".*+!-_?$%&=<>/:#'";
    let mut i = 0;
    while i < symbols.len() {
        class[symbols[i] as usize] = SYMBOL;
        i += 1;
    }
    let delimiters = b"\n()[]{}\";";
    let mut i = 0;
    while i < delimiters.len() {
        class[delimiters[i] as usize] = DELIMITER;
        i += 1;
    }
    let spaces = b" \t\r,\x0b\x0c";
    let mut i = 0;
    while i < spaces.len() {
        class[spaces[i] as usize] = SPACE;
        i += 1;
    }
    class
};

/// A keyword's text as the low bytes of a little-endian word ([`word`]).
type Word = Quoted;

const TYPE: Word = word(b":type", None);
const TIME: Word = word(b":time", None);
const F: Word = word(b":f", None);
const VALUE: Word = word(b":value", None);
const PROCESS: Word = word(b":process", None);
const INDEX: Word = word(b":index", None);
const KEY: Word = word(b":key", None);
const INVOKE: Word = word(b":invoke", None);
const OK: Word = word(b":ok", None);
const FAIL: Word = word(b":fail", None);
const INFO: Word = word(b":info", None);

impl<'t, const INDEPENDENT: bool> MapLine<'t, INDEPENDENT> {
    pub(super) fn over(text: &'t [u8]) -> MapLine<'t, INDEPENDENT> {
        MapLine { text, at: 0 }
    }

    /// Skips whitespace within the line, commas included; a line end is not skipped.
    #[inline(always)]
    fn skip_space(&mut self) {
        // A comma and a space, as Clojure writes between a map's entries, in one step.
        if self.text.get(self.at..self.at + 2) == Some(b", ") {
            self.at += 2;
        }
        while self.text.get(self.at).is_some_and(|&b| CLASS[b as usize] == SPACE) {
            self.at += 1;
        }
    }

    /// One of `candidates` (a keyword's word and mask, and what it stands for) if it comes
    /// next, whole: the byte after it ends it. `None`, nothing consumed, for any other.
    #[inline(always)]
    fn known<T: Copy>(&mut self, candidates: &[(Word, T)]) -> Option<T> {
        let word = match self.text.get(self.at..self.at + 8) {
            Some(bytes) => u64::from_le_bytes(bytes.try_into().ok()?),
            // Near the end of the text, the rest and zeros, which no keyword holds.
            None => {
                let rest = &self.text[self.at..];
                let mut bytes = [0u8; 8];
                bytes[..rest.len()].copy_from_slice(rest);
                u64::from_le_bytes(bytes)
            }
        };
        for &((pattern, mask, len), known) in candidates {
            if word & mask == pattern && self.delimits(self.at + len) {
                self.at += len;
                return Some(known);
            }
        }
        None
    }

    /// A key that is one of the op map's own fields, read as one word.
    #[inline(always)]
    fn known_key(&mut self) -> Option<Field> {
        let candidates: &[(Word, Field)] = match self.text.get(self.at + 1)? {
            b't' => &[(TYPE, Field::Type), (TIME, Field::Time)],
            b'f' => &[(F, Field::F)],
            b'v' => &[(VALUE, Field::Value)],
            b'p' => &[(PROCESS, Field::Process)],
            b'i' => &[(INDEX, Field::Index)],
            b'k' => &[(KEY, Field::Key)],
            _ => return None,
        };
        self.known(candidates)
    }

    #[inline(always)]
    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.text.get(self.at) == Some(&byte)).then(|| self.at += 1)
    }

    /// Consumes the rest of the line if it holds nothing but whitespace and perhaps a
    /// comment, and its line end; true at the end of the text too.
    fn end_of_line(&mut self) -> bool {
        self.skip_space();
        let rest = &self.text[self.at..];
        let end = match rest.first() {
            None => return true,
            Some(b'\n') => 0,
            Some(b';') => match rest.iter().position(|&b| b == b'\n') {
                Some(end) => end,
                None => rest.len(),
            },
            Some(_) => return false,
        };
        // A comment's text is judged as the general loader judges the whole file's: UTF-8
        // without a NUL.
        let comment = &rest[..end];
        if end > 0 && (comment.contains(&0) || std::str::from_utf8(comment).is_err()) {
            return false;
        }
        self.at += (end + 1).min(rest.len());
        true
    }

    /// Whether the byte at `at` ends a token, as the EDN reader's tokens end (so does the
    /// text's end).
    #[inline(always)]
    fn delimits(&self, at: usize) -> bool {
        self.text.get(at).is_none_or(|&b| CLASS[b as usize] >= DELIMITER)
    }

    /// A tag before a map, as Jepsen prints its op records (`#jepsen.history.Op{...}`),
    /// passed over: the general loader reads a tagged map as the map. `None` for a tag
    /// with a byte that is not a symbol character.
    fn tag(&mut self) -> Option<()> {
        self.expect(b'#')?;
        if !self.text.get(self.at)?.is_ascii_alphabetic() {
            return None;
        }
        while let Some(&b) = self.text.get(self.at) {
            match CLASS[b as usize] {
                SYMBOL => self.at += 1,
                DELIMITER | SPACE => break,
                _ => return None,
            }
        }
        self.skip_space();
        Some(())
    }

    /// A keyword, from its `:`: where its name starts and the name's bytes; `None` (nothing
    /// consumed) for one the EDN reader refuses or one with a byte outside ASCII.
    #[inline(always)]
    fn keyword(&mut self) -> Option<(usize, &'t [u8])> {
        let start = self.at + 1;
        let mut end = start;
        while let Some(&b) = self.text.get(end) {
            match CLASS[b as usize] {
                SYMBOL => end += 1,
                DELIMITER | SPACE => break,
                _ => return None,
            }
        }
        let name = &self.text[start..end];
        if name.first().is_none_or(|&b| b == b':') {
            return None;
        }
        self.at = end;
        Some((start, name))
    }

    /// The keyword's name as a [`Name`], packed from the text around it.
    #[inline(always)]
    fn keyword_name(&mut self) -> Option<Name<'t>> {
        let (start, bytes) = self.keyword()?;
        Some(self.name_at(start, bytes))
    }

    #[inline(always)]
    fn name_at(&self, start: usize, bytes: &'t [u8]) -> Name<'t> {
        let packed = match self.text.get(start..start + 16).and_then(|w| <[u8; 16]>::try_from(w).ok()) {
            Some(window) => Name::packed_in(window, bytes.len()),
            None => packed(bytes),
        };
        Name { bytes, packed }
    }

    /// A string without escapes, borrowed, by the JSON Lines scan's reading of one.
    #[inline(always)]
    fn string(&mut self) -> Option<&'t str> {
        let mut scanner = Scanner::<false> { text: self.text, at: self.at };
        let string = scanner.string();
        self.at = scanner.at;
        string
    }

    /// [`MapLine::string`] as a name.
    #[inline(always)]
    fn string_name(&mut self) -> Option<Name<'t>> {
        let mut scanner = Scanner::<false> { text: self.text, at: self.at };
        let name = scanner.name()?;
        self.at = scanner.at;
        Some(name)
    }

    /// `nil`, consumed, if it comes next.
    #[inline(always)]
    fn nil(&mut self) -> bool {
        let nil = self.text[self.at..].starts_with(b"nil") && self.delimits(self.at + 3);
        if nil {
            self.at += 3;
        }
        nil
    }

    /// An integer written as the reader writes it back (`-` or not, then digits without a
    /// leading zero, and not `-0`) within `i64`, ending at a delimiter; `None` (nothing
    /// consumed) for anything else, even a number the reader takes.
    #[inline(always)]
    fn int(&mut self) -> Option<i64> {
        let negative = self.text.get(self.at) == Some(&b'-');
        let digits_at = self.at + usize::from(negative);
        let mut end = digits_at;
        while self.text.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        let digits = &self.text[digits_at..end];
        if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') || !self.delimits(end) {
            return None;
        }
        let digit = |d: &u8| u64::from(d - b'0');
        let n = match digits.len() {
            // Eighteen digits cannot overflow; more are added with care.
            ..=18 => digits.iter().fold(0, |n, d| n * 10 + digit(d)),
            _ => digits.iter().try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(digit(d)))?,
        };
        let n = match negative {
            false => i64::try_from(n).ok()?,
            true if n == 0 => return None,
            true => 0i64.checked_sub_unsigned(n)?,
        };
        self.at = end;
        Some(n)
    }

    /// An event's `:type`: one of its four keywords.
    fn kind(&mut self) -> Option<Kind> {
        self.known(&[(INVOKE, Kind::Invoke), (OK, Kind::Ok), (FAIL, Kind::Fail), (INFO, Kind::Info)])
    }

    /// `Some(None)` for `:nemesis`, `Some(Some(n))` for client `n`.
    fn process(&mut self) -> Option<Option<u64>> {
        if self.text.get(self.at) == Some(&b':') {
            return (self.keyword()?.1 == b"nemesis").then_some(None);
        }
        u64::try_from(self.int()?).ok().map(Some)
    }

    /// An `:f`: a keyword's name or a string.
    fn name(&mut self) -> Option<Name<'t>> {
        match self.text.get(self.at)? {
            b':' => self.keyword_name(),
            b'"' => self.string_name(),
            _ => None,
        }
    }

    /// A `:key`: `nil` for none, or a keyword's name, a string or an integer's digits (the
    /// text the general loader makes of each).
    fn key(&mut self) -> Option<Option<Name<'t>>> {
        if self.nil() {
            return Some(None);
        }
        match self.text.get(self.at)? {
            b'0'..=b'9' | b'-' => {
                let start = self.at;
                self.int()?;
                Some(Some(self.name_at(start, &self.text[start..self.at])))
            }
            _ => self.name().map(Some),
        }
    }

    /// A `:time`: `nil` or nanoseconds, not negative.
    fn time(&mut self) -> Option<Option<u64>> {
        if self.nil() {
            return Some(None);
        }
        u64::try_from(self.int()?).ok().map(Some)
    }

    /// A `[key value]` tuple: its key read as a `:key` is, but for `nil` (which the split
    /// makes the key `null`), and its value as a `:value` is, one level deeper. `None` for
    /// any other vector, which the general loader judges.
    fn tuple(&mut self) -> Option<(Name<'t>, ScannedValue<'t>)> {
        self.expect(b'[')?;
        self.skip_space();
        let key = self.key()??;
        self.skip_space();
        let value = self.value(2)?;
        self.skip_space();
        self.expect(b']')?;
        Some((key, value))
    }

    /// A `:value`, at `depth` in the general reader (1 for a map's value): the common
    /// shapes read here, any other by the general reader.
    fn value(&mut self, depth: usize) -> Option<ScannedValue<'t>> {
        let start = self.at;
        let compact = match self.text.get(self.at)? {
            b'n' if self.nil() => Some(ValueRef::Null),
            b'0'..=b'9' | b'-' => self.int().map(ValueRef::int),
            b'"' => self.string().map(ValueRef::Str),
            // A keyword's name, as the general loader makes a string of it (its bytes are
            // ASCII).
            b':' => self.keyword().and_then(|(_, name)| std::str::from_utf8(name).ok()).map(ValueRef::Str),
            b'[' => self.small_pair().map(|(a, b)| ValueRef::Pair(a, b)),
            _ => None,
        };
        match compact {
            Some(value) => Some(ScannedValue::Compact(value)),
            None => {
                self.at = start;
                self.any(depth).map(|form| ScannedValue::Json(form.to_json()))
            }
        }
    }

    /// `[a b]` of two integers within `i32`.
    fn small_pair(&mut self) -> Option<(i32, i32)> {
        self.expect(b'[')?;
        self.skip_space();
        let a = i32::try_from(self.int()?).ok()?;
        self.skip_space();
        let b = i32::try_from(self.int()?).ok()?;
        self.skip_space();
        self.expect(b']')?;
        Some((a, b))
    }

    /// A value the table does not keep: passed over, by the general reader if it is not
    /// an integer, a keyword, `nil` or a plain string.
    fn skip_value(&mut self) -> Option<()> {
        let start = self.at;
        let plain = match self.text.get(self.at)? {
            b'n' => self.nil(),
            b'0'..=b'9' | b'-' => self.int().is_some(),
            b':' => self.keyword().is_some(),
            b'"' => self.string().is_some(),
            _ => false,
        };
        if !plain {
            self.at = start;
            self.any(1)?;
        }
        Some(())
    }

    /// One value of any shape, read by the general reader from here to the line's end, at
    /// `depth` in a stream of maps (1 for a map's value); `None` for one it refuses, or a
    /// line that is not UTF-8 or holds a NUL, which the general loader refuses whole.
    #[inline(never)]
    fn any(&mut self, depth: usize) -> Option<Edn> {
        let rest = &self.text[self.at..];
        let line = &rest[..rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())];
        if line.contains(&0) {
            return None;
        }
        let mut reader = Reader::new(std::str::from_utf8(line).ok()?, 1);
        let form = reader.read_within(depth).ok()??;
        self.at += reader.offset();
        Some(form)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::jsonl_table::{scan_as, scan_in_pieces, Reading};
    use super::super::{load_bytes, load_table, EventLines, Format};
    use crate::gen::{generate, GenOptions};
    use crate::history::{Event, Process};
    use crate::op_table::OpTable;
    use crate::options::ModelKind;

    const EDN: Reading = Reading { format: Format::Edn, auto: false, independent: false };

    fn general(text: &str, format: Format) -> Option<(OpTable, EventLines)> {
        let loaded = load_bytes(text.as_bytes(), "h", format).ok()?;
        Some((OpTable::from_history(&loaded.history).ok()?, loaded.lines))
    }

    /// A JSON value written as EDN; a JSON string is an EDN string.
    fn edn(value: &Value) -> String {
        match value {
            Value::Null => "nil".into(),
            Value::Array(items) => format!("[{}]", items.iter().map(edn).collect::<Vec<_>>().join(" ")),
            Value::Object(map) => {
                let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{:?} {}", k, edn(v))).collect();
                format!("{{{}}}", pairs.join(", "))
            }
            other => other.to_string(),
        }
    }

    /// `events` as op maps, one to a line, in one of several ways of writing them.
    fn maps(events: &[Event], style: usize) -> String {
        let mut out = String::new();
        for (i, e) in events.iter().enumerate() {
            let kind = e.kind.as_str();
            let process = match e.process {
                Process::Client(p) => p.to_string(),
                Process::Nemesis => ":nemesis".into(),
            };
            let f = if style == 1 { format!("{:?}", e.f) } else { format!(":{}", e.f) };
            let key = match (&e.key, style) {
                (None, _) => None,
                (Some(k), 2) => Some(format!(":{k}")),
                (Some(k), _) => Some(format!("{k:?}")),
            };
            let mut fields = vec![
                format!(":type :{kind}"),
                format!(":f {f}"),
                format!(":value {}", edn(&e.value)),
                format!(":process {process}"),
                format!(":time {}", 1000 * i),
                format!(":index {i}"),
            ];
            if let Some(key) = key {
                fields.insert(2, format!(":key {key}"));
            }
            if let Some(error) = &e.error {
                fields.push(format!(":error [:cause {error:?}]"));
            }
            match style {
                // Jepsen's way.
                0 => out.push_str(&format!("{{{}}}\n", fields.join(", "))),
                // Another order, spaces only, Windows line ends.
                1 => {
                    fields.reverse();
                    out.push_str(&format!("{{{}}}\r\n", fields.join(" ")));
                }
                // Jepsen's op records, fields in their order.
                3 => {
                    fields.rotate_right(2);
                    out.push_str(&format!("#jepsen.history.Op{{{}}}\n", fields.join(", ")));
                }
                // Leading space, commas everywhere, comments and blank lines between.
                _ => out.push_str(&format!("  {{ {} ,}} ; op {i}\n\n;; note\n", fields.join(",, "))),
            }
        }
        out
    }

    fn generated(model: ModelKind, seed: u64) -> Vec<Event> {
        let options =
            GenOptions { ops: 1500, keys: 3, concurrency: 8, seed, model, violate: seed.is_multiple_of(2) };
        generate(&options)
    }

    #[test]
    fn generated_histories_read_as_the_general_loader_reads_them() {
        let models =
            [ModelKind::Register, ModelKind::CasRegister, ModelKind::Kv, ModelKind::Set, ModelKind::Mutex];
        for (seed, model) in models.into_iter().enumerate() {
            let events = generated(model, seed as u64);
            for style in 0..4 {
                let text = maps(&events, style);
                let fast = scan_as(&text, EDN);
                assert!(fast.is_some(), "{model:?}, style {style}: plain maps are read");
                assert_eq!(fast, general(&text, Format::Edn), "{model:?}, style {style}");
            }
        }
    }

    #[test]
    fn maps_scanned_in_pieces_give_the_table_of_one_scan() {
        for (seed, model) in [(1, ModelKind::CasRegister), (2, ModelKind::Kv)] {
            let text = maps(&generated(model, seed), seed as usize);
            let whole = scan_as(&text, EDN).expect("plain maps");
            for pieces in [2, 3, 7, 40] {
                let split = scan_in_pieces(text.as_bytes(), pieces, EDN);
                assert_eq!(split.as_ref(), Some(&whole), "{model:?}, {pieces} pieces");
            }
        }
    }

    #[test]
    fn any_format_named_or_found_gives_the_general_table() {
        let events = generated(ModelKind::Kv, 4);
        let text = maps(&events, 0);
        let marked = format!("\u{feff}{text}");
        for (text, format) in [
            (&text, Format::Edn),
            (&text, Format::PorcupineKv),
            (&text, Format::Auto),
            (&marked, Format::Auto),
        ] {
            let fast = load_table(text.as_bytes(), "h", format).expect("loads");
            let slow = load_bytes(text.as_bytes(), "h", format).expect("loads");
            assert_eq!(fast.table, OpTable::from_history(&slow.history).unwrap(), "{format}");
            assert_eq!((fast.format, &fast.lines), (slow.format, &slow.lines), "{format}");
        }
        // The first line decides between EDN and kv, as it does for the general loader.
        let no_key = "{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :process 0, :value 1}\n";
        assert_eq!(load_table(no_key.as_bytes(), "h", Format::Auto).unwrap().format, Format::Edn);
    }

    /// Lines the reader takes, each the general loader's way, and lines it leaves to that
    /// loader, whatever it makes of them.
    #[test]
    fn unusual_lines_are_read_exactly_or_left_to_the_general_loader() {
        let invoke = "{:type :invoke, :f :write, :key \"k\", :value 1, :process 0}\n";
        let ok = "{:type :ok, :f :write, :key \"k\", :value 1, :process 0}\n";
        let taken = [
            "{:process 0 :type :invoke :f :write :key \"k\" :value 1}\n",
            "{:type :invoke, :f \"write\", :key :k, :value 1, :process 0, :index 77}\n",
            "{:type :invoke, :f :write, :key \"k\", :value \"a\\\"b\", :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value 1.5, :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value [1 [2 #{3}] {:a nil}], :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value #inst \"2024\", :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value #_ 5 6, :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value :a-b/c, :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value [-3,4], :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value [1 99999999999], :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value -9223372036854775808, :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value 1N, :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value true, :process 0, :time nil}\n",
            "{:type :invoke, :f :write, :key \"k\", :value 1, :process 0, :node \"n1\", :extra (1 2)}\n",
            "#jepsen.history.Op{:index 0, :time 5, :type :invoke, :process 0, :f :write, :key \"k\", :value 1}\n",
            "#op {:type :invoke, :f :write, :key \"k\", :value 1, :process 0}\n",
        ];
        for first in taken {
            let text = format!("{first}{{:type :info, :f :start, :process :nemesis}}\n{ok}");
            let fast = scan_as(&text, EDN);
            assert!(fast.is_some(), "taken: {text}");
            assert_eq!(fast, general(&text, Format::Edn), "{text}");
        }
        let int_key = "{:type :invoke, :f :write, :key -12, :value 1, :process 0}\n\
                       {:type :ok, :f :write, :key \"-12\", :value 1, :process 0}\n";
        assert_eq!(scan_as(int_key, EDN), general(int_key, Format::Edn));
        assert!(scan_as(int_key, EDN).is_some());
        let left = [
            "[{:type :invoke, :f :write, :key \"k\", :value 1, :process 0}\n",
            "#_ {:type :invoke, :f :write, :key \"k\", :value 1, :process 0}\n",
            "#jepsen.history.Op[:type :invoke, :f :write, :key \"k\", :value 1, :process 0]\n",
            "#1op{:type :invoke, :f :write, :key \"k\", :value 1, :process 0}\n",
            "{:type :invoke, :f :write,\n :key \"k\", :value 1, :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value 1, :process 0} {:a 1}\n",
            "{\"type\" :invoke, :f :write, :key \"k\", :value 1, :process 0}\n",
            "{:type :invoke, :type :invoke, :f :write, :key \"k\", :value 1, :process 0}\n",
            "{:type \"invoke\", :f :write, :key \"k\", :value 1, :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value 1, :process 01}\n",
            "{:type :invoke, :f :write, :key -0, :value 1, :process 0}\n",
            "{:type :invoke, :f nil, :key \"k\", :value 1, :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value 1, :process 0, :time -1}\n",
            "{:type :invoke, :f :write, :key \"k\", :value 1, :process 0, :time 1.0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value 1}\n",
            "{:type :invoke, :key \"k\", :value 1, :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value, :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value 1, :process 0} ; \u{0}\n",
            "{:type :invoke, :f :wrïte, :key \"k\", :value 1, :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value \"a\u{0}\", :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value [1 2, :process 0}\n",
        ];
        for first in left {
            let text = format!("{first}{ok}");
            let fast = scan_as(&text, EDN);
            assert!(fast.is_none(), "left: {text}");
        }
        // Broken rules are the general loader's to report.
        assert!(scan_as(&format!("{invoke}{invoke}"), EDN).is_none());
        assert!(scan_as(ok, EDN).is_none());
    }

    const INDEPENDENT: Reading = Reading { format: Format::Edn, auto: false, independent: true };

    /// The general loader's table of `text` with its tuples split.
    fn general_split(text: &str) -> Option<(OpTable, EventLines)> {
        let loaded = load_bytes(text.as_bytes(), "h", Format::Edn).ok()?;
        let loaded = super::super::split_independent(loaded, "h").ok()?;
        Some((OpTable::from_history(&loaded.history).ok()?, loaded.lines))
    }

    /// `events` as `jepsen.independent` records them: each client event's key moved into
    /// its value as `[key value]` (`k7` as the integer 7, every fourth key as a keyword),
    /// but a `fail` with no value, which keeps a bare `nil`.
    fn tupled(events: &[Event]) -> Vec<Event> {
        let mut events = events.to_vec();
        for e in &mut events {
            let Some(key) = e.key.take() else { continue };
            if e.kind.as_str() == "fail" && e.value.is_null() {
                continue;
            }
            let n: u64 = key.trim_start_matches('k').parse().unwrap();
            let key = if n.is_multiple_of(4) { Value::from(format!("key{n}")) } else { Value::from(n) };
            e.value = Value::Array(vec![key, e.value.take()]);
        }
        events
    }

    #[test]
    fn independent_histories_read_as_the_general_loader_splits_them() {
        let models =
            [ModelKind::Register, ModelKind::CasRegister, ModelKind::Kv, ModelKind::Set, ModelKind::Mutex];
        for (seed, model) in models.into_iter().enumerate() {
            let events = tupled(&generated(model, seed as u64));
            for style in 0..4 {
                let text = maps(&events, style);
                let fast = scan_as(&text, INDEPENDENT);
                assert!(fast.is_some(), "{model:?}, style {style}: tuples are split");
                assert_eq!(fast, general_split(&text), "{model:?}, style {style}");
                for pieces in [2, 7] {
                    let split = scan_in_pieces(text.as_bytes(), pieces, INDEPENDENT);
                    assert_eq!(split, fast, "{model:?}, style {style}, {pieces} pieces");
                }
                // Read as written, the same text is one object of tuples.
                assert_eq!(scan_as(&text, EDN), general(&text, Format::Edn), "{model:?}");
            }
        }
    }

    /// Tuples the reader splits, each the general loader's way, and values it leaves to
    /// that loader, whatever it makes of them.
    #[test]
    fn unusual_tuples_are_split_exactly_or_left_to_the_general_loader() {
        let ok = "{:type :ok, :f :write, :value [7 1], :process 0}\n";
        let taken = [
            "{:type :invoke, :f :write, :value [7 1], :process 0}\n",
            "{:process 0 :value [7,1] :f :write :type :invoke}\n",
            "{:type :invoke, :f :write, :value [ 7  #_ 9 1 ], :process 0}\n",
            "{:type :invoke, :f :write, :value [7 [1 [2 #{3}] {:a nil}]], :process 0}\n",
            "{:type :invoke, :f :write, :value [7 1.5], :process 0, :key nil}\n",
            "{:type :invoke, :f :write, :value [7 \"a\"], :process 0}\n",
            "{:type :invoke, :f :write, :value [7 :x], :process 0}\n",
            "{:type :invoke, :f :write, :value [7 nil], :process 0}\n",
            "{:type :invoke, :f :write, :value [7 [1 2]], :process 0}\n",
            "#jepsen.history.Op{:index 0, :type :invoke, :process 0, :f :write, :value [7 1]}\n",
        ];
        for first in taken {
            for last in [
                ok,
                "{:type :fail, :f :write, :process 0}\n",
                "{:type :info, :f :write, :value 3, :process 0}\n",
            ] {
                let text =
                    format!("{first}{{:type :info, :f :start, :process :nemesis, :value [1 2 3]}}\n{last}");
                let fast = scan_as(&text, INDEPENDENT);
                assert!(fast.is_some(), "taken: {text}");
                assert_eq!(fast, general_split(&text), "{text}");
            }
        }
        for key in ["\"7\"", ":7", "-7"] {
            let text =
                format!("{}{ok}", "{:type :invoke, :f :write, :value [K 1], :process 0}\n".replace('K', key));
            let fast = scan_as(&text, INDEPENDENT);
            assert_eq!(fast, general_split(&text), "{text}");
            assert_eq!(fast.is_some(), key != "-7", "{text}: the completion's key 7 is another than -7");
        }
        let left = [
            "{:type :invoke, :f :write, :value 1, :process 0}\n",
            "{:type :invoke, :f :write, :value [nil 1], :process 0}\n",
            "{:type :invoke, :f :write, :value [1.5 1], :process 0}\n",
            "{:type :invoke, :f :write, :value [7 1 2], :process 0}\n",
            "{:type :invoke, :f :write, :value [7], :process 0}\n",
            "{:type :invoke, :f :write, :value [], :process 0}\n",
            "{:type :invoke, :f :write, :value (7 1), :process 0}\n",
            "{:type :invoke, :f :write, :value [07 1], :process 0}\n",
            "{:type :invoke, :f :write, :value [7 1], :key 7, :process 0}\n",
            "{:type :invoke, :f :write, :key \"k\", :value [7 1], :process 0}\n",
            "{:type :invoke, :f :write, :value [7 1, :process 0}\n",
        ];
        for first in left {
            let text = format!("{first}{ok}");
            assert!(scan_as(&text, INDEPENDENT).is_none(), "left: {text}");
        }
        // A completion's value the split would take for a tuple, where the reader does not.
        let invoke = "{:type :invoke, :f :write, :value [7 1], :process 0}\n";
        for value in ["(7 1)", "#{7 1}", "[nil 1]", "[7.0 1]"] {
            let text = format!("{invoke}{{:type :ok, :f :write, :value {value}, :process 0}}\n");
            assert!(scan_as(&text, INDEPENDENT).is_none(), "left: {text}");
        }
    }

    /// Every byte inside or after a keyword, a number or a name is read as the EDN reader
    /// reads it, or left to it.
    #[test]
    fn every_byte_in_a_token_is_judged_as_the_reader_judges_it() {
        let mut taken = 0;
        for b in 0..=255u8 {
            for template in [
                "{:type :invoke, :f :re#ad, :process 0}\n{:type :ok, :f :re#ad, :process 0}\n",
                "{:type :invoke, :f :read, :process 0, :value 1#}\n{:type :fail, :f :read, :process 0}\n",
                "{:type :invoke, :f :read, :process 0, :value :a#}\n{:type :fail, :f :read, :process 0}\n",
                "{:type :invoke, :f :read, :process 0 :x#y 1}\n{:type :fail, :f :read, :process 0}\n",
            ] {
                let bytes: Vec<u8> = template.bytes().map(|c| if c == b'#' { b } else { c }).collect();
                let Ok(text) = std::str::from_utf8(&bytes) else {
                    assert!(scan_in_pieces(&bytes, 1, EDN).is_none(), "byte {b:#x} in {template}");
                    continue;
                };
                let fast = scan_as(text, EDN);
                if fast.is_some() {
                    taken += 1;
                    assert_eq!(fast, general(text, Format::Edn), "byte {b:#x} in {template}");
                }
            }
        }
        // Every symbol character in each of the four places, and the delimiters after a
        // value: not a test of nothing.
        assert!(taken > 250, "bytes read here: {taken}");
    }

    /// A large file is read from the file, a piece per thread, its format told by its
    /// first line as the general loader tells it.
    #[test]
    fn a_large_file_of_op_maps_is_scanned_from_the_file() {
        let options = GenOptions {
            ops: 12_000,
            keys: 5,
            concurrency: 10,
            seed: 3,
            model: ModelKind::CasRegister,
            violate: false,
        };
        let events = generate(&options);
        let dir = tempfile::tempdir().unwrap();
        for (style, format) in [(0, Format::PorcupineKv), (3, Format::Edn)] {
            let text = maps(&events, style);
            assert!(text.len() as u64 >= super::super::LARGE_FILE, "{} bytes", text.len());
            let path = dir.path().join(format!("history-{style}.edn"));
            std::fs::write(&path, &text).unwrap();
            let scanned =
                super::super::scan_path(&path, Format::Auto, false).expect("read straight from the file");
            let general = super::super::load_path_detailed(&path, Format::Auto).unwrap();
            assert_eq!(scanned.table, OpTable::from_history(&general.history).unwrap(), "style {style}");
            assert_eq!((scanned.format, &scanned.lines), (general.format, &general.lines), "style {style}");
            assert_eq!(scanned.format, format);
        }
    }

    #[test]
    fn a_comment_that_is_not_utf8_is_left_to_the_general_loader() {
        let mut bytes = b"{:type :invoke, :f :read, :process 0} ; ".to_vec();
        bytes.extend_from_slice(&[0xff, b'\n']);
        bytes.extend_from_slice(b"{:type :ok, :f :read, :process 0}\n");
        assert!(scan_in_pieces(&bytes, 1, EDN).is_none());
    }
}
