//! Loading histories from files: the native JSON Lines, Jepsen EDN, Jepsen logs and
//! Porcupine's kv files, recognised by content when the format is [`Format::Auto`].
//!
//! Every loader works the same way: the bytes must be UTF-8 text; a format-specific parser
//! turns it into events, remembering the line each came from; then
//! [`History::from_events`] validates the whole. Any error, from the file system, the
//! parser or the validation, becomes one [`LoadError`] naming the file and the line, so a
//! person can open the file at the fault. Nothing here panics on any input (the fuzz
//! targets in `checkers/fuzz` hold it to that).
//!
//! ```no_run
//! use checkers::format::{load_path, Format};
//! let history = load_path("store/latest/history.jsonl".as_ref(), Format::Auto)?;
//! println!("{} events", history.len());
//! # Ok::<(), checkers::format::LoadError>(())
//! ```
//!
//! Limit: files over [`MAX_INPUT_BYTES`] are refused before they are read.

pub mod edn;
mod edn_history;
mod edn_table;
mod jepsen_log;
mod jsonl;
mod jsonl_table;
mod lines;
mod op_map;
mod porcupine_kv;
mod properties;

use std::path::Path;

pub use lines::EventLines;
pub use properties::assert_loader_properties;

use crate::history::{Event, History};
use crate::op_table::OpTable;

/// The largest file a loader reads (4 GiB): a history past this would not be checked in
/// any reasonable time or memory anyway.
pub const MAX_INPUT_BYTES: u64 = 4 << 30;

/// A history file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Recognise the format by content.
    Auto,
    /// faultline's JSON Lines, one event per line.
    Jsonl,
    /// A Jepsen EDN history: a vector of op maps or a stream of them.
    Edn,
    /// A Jepsen log with `jepsen.util` op lines (Porcupine's etcd corpus).
    JepsenLog,
    /// Porcupine's kv histories: one EDN op map per line.
    PorcupineKv,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 5] =
        [Format::Auto, Format::Jsonl, Format::Edn, Format::JepsenLog, Format::PorcupineKv];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Jsonl => "jsonl",
            Format::Edn => "edn",
            Format::JepsenLog => "jepsen-log",
            Format::PorcupineKv => "kv",
        }
    }

    /// The model a format implies when nothing else names one: Porcupine's etcd logs hold a
    /// compare-and-set register, its kv files a key-value map.
    pub fn default_model(self) -> Option<&'static str> {
        match self {
            Format::JepsenLog => Some("cas-register"),
            Format::PorcupineKv => Some("kv"),
            _ => None,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL.into_iter().find(|f| f.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
            format!("unknown format {s:?} (expected one of: {})", names.join(", "))
        })
    }
}

/// Why a file could not be loaded. Displays as one line: `FILE:LINE: message`, or
/// `FILE: message` when no line applies (an unreadable file, an empty history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub path: String,
    /// 1-based line of the fault.
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

impl std::error::Error for LoadError {}

/// A loaded history, the format it was read as ([`Format::Auto`] resolved), and the
/// source line of every event, so that later errors about an event can name its line.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub history: History,
    pub format: Format,
    /// The 1-based line of each event, by index.
    pub lines: EventLines,
}

impl Loaded {
    /// The source line of the event with this index.
    pub fn line_of(&self, index: u64) -> Option<usize> {
        usize::try_from(index).ok().and_then(|i| self.lines.get(i))
    }
}

/// Load and validate a history file.
pub fn load_path(path: &Path, format: Format) -> Result<History, LoadError> {
    load_path_detailed(path, format).map(|loaded| loaded.history)
}

/// Load and validate a history file, saying which format it was read as.
pub fn load_path_detailed(path: &Path, format: Format) -> Result<Loaded, LoadError> {
    let (bytes, name) = read_file(path)?;
    load_bytes(&bytes, &name, format)
}

/// Load a history file as the table of its operations, the check's input (see
/// [`OpTable`]): JSON Lines and op maps one to a line (EDN streams, Porcupine kv) of the
/// plain shape straight, anything else as a validated [`History`] first. Errors are those
/// of [`load_path_detailed`].
pub fn load_path_table(path: &Path, format: Format) -> Result<LoadedTable, LoadError> {
    load_path_table_as(path, format, false)
}

/// [`load_path_table`] of a history `jepsen.independent` wrote, its tuples split as
/// [`split_independent`] splits them: op maps one to a line straight, anything else (JSON
/// Lines included) the general way. Errors are those of [`load_path_detailed`] and then
/// of [`split_independent`].
pub fn load_path_table_independent(path: &Path, format: Format) -> Result<LoadedTable, LoadError> {
    load_path_table_as(path, format, true)
}

fn load_path_table_as(path: &Path, format: Format, independent: bool) -> Result<LoadedTable, LoadError> {
    let tried = format != Format::JepsenLog && is_large_file(path);
    if tried {
        if let Some(loaded) = scan_path(path, format, independent) {
            return Ok(loaded);
        }
    }
    let (bytes, name) = read_file(path)?;
    let loaded = if tried {
        load_table_general(&bytes, &name, format, independent)
    } else {
        load_table_as(&bytes, &name, format, independent)
    };
    let size = bytes.len();
    free_elsewhere(bytes, size);
    loaded
}

/// Files at least this large are read a piece per thread, never whole.
const LARGE_FILE: u64 = 1 << 20;

fn is_large_file(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && (LARGE_FILE..=MAX_INPUT_BYTES).contains(&meta.len()))
}

/// A large file of JSON Lines or op maps scanned straight into a table, each thread
/// reading its own piece; `None` when the general loader must decide.
fn scan_path(path: &Path, format: Format, independent: bool) -> Option<LoadedTable> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).ok()?;
    let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
    let mut head = vec![0u8; if format == Format::Auto { len.min(HEAD_BYTES) } else { 0 }];
    file.read_exact_at(&mut head, 0).ok()?;
    let reading = table_reading(&head, head.len() == len, format, independent)?;
    let (table, lines) = jsonl_table::scan_file(&file, len, crate::threads::cores(), reading)?;
    Some(LoadedTable { table, format: reading.format, lines })
}

/// How much of a history's start [`table_reading`] is given to tell its format by.
const HEAD_BYTES: usize = 64 << 10;

/// How a table scan reads a history named `format`, whose text starts with `head` (all
/// of it if `whole`): JSON Lines or op maps one to a line, the format to be confirmed by
/// the first lines if it was not named, and op maps only if `independent`. `None` for a
/// format no scan reads (a Jepsen log), or a start that does not tell: [`detect`] judges
/// JSON Lines and EDN by their first line that is not blank, which must be whole in
/// `head`.
fn table_reading(
    head: &[u8],
    whole: bool,
    format: Format,
    independent: bool,
) -> Option<jsonl_table::Reading> {
    let reading = any_table_reading(head, whole, format)?;
    match independent {
        false => Some(reading),
        true => (reading.format != Format::Jsonl).then_some(jsonl_table::Reading { independent, ..reading }),
    }
}

fn any_table_reading(head: &[u8], whole: bool, format: Format) -> Option<jsonl_table::Reading> {
    use jsonl_table::Reading;
    match format {
        Format::Jsonl | Format::Edn | Format::PorcupineKv => {
            Some(Reading { format, auto: false, independent: false })
        }
        Format::JepsenLog => None,
        Format::Auto => {
            let head = head.strip_prefix("\u{feff}".as_bytes()).unwrap_or(head);
            let text = match std::str::from_utf8(head) {
                Ok(text) => text,
                Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
            };
            let start = text.len() - text.trim_start().len();
            let end = match text[start..].find('\n') {
                Some(at) => start + at + 1,
                None if whole => text.len(),
                None => return None,
            };
            let format = detect(&text[..end])?;
            (format != Format::JepsenLog).then_some(Reading { format, auto: true, independent: false })
        }
    }
}

/// [`table_reading`] for a history held in memory.
fn bytes_reading(bytes: &[u8], format: Format, independent: bool) -> Option<jsonl_table::Reading> {
    let head = &bytes[..bytes.len().min(HEAD_BYTES)];
    table_reading(head, head.len() == bytes.len(), format, independent)
}

/// Drops `value` (of about `bytes` bytes) on a thread of its own when it is more than a
/// few megabytes: giving back the pages of a history of a million ops takes tens of
/// milliseconds, and of a hundred thousand most of one, that the caller, going on to check
/// it or to exit, need not wait for. Starting the thread costs about a tenth of that.
pub fn free_elsewhere<T: Send + 'static>(value: T, bytes: usize) {
    if bytes < 4 << 20 {
        return;
    }
    let spawned = std::thread::Builder::new().name("free".into()).spawn(move || drop(value));
    // If no thread can be made, the value was dropped with the failed closure.
    drop(spawned);
}

/// [`load_path_table`] for a history held in memory; `name` stands for the file in errors.
pub fn load_table(bytes: &[u8], name: &str, format: Format) -> Result<LoadedTable, LoadError> {
    load_table_as(bytes, name, format, false)
}

/// [`load_path_table_independent`] for a history held in memory.
pub fn load_table_independent(bytes: &[u8], name: &str, format: Format) -> Result<LoadedTable, LoadError> {
    load_table_as(bytes, name, format, true)
}

fn load_table_as(
    bytes: &[u8],
    name: &str,
    format: Format,
    independent: bool,
) -> Result<LoadedTable, LoadError> {
    if let Some(reading) = bytes_reading(bytes, format, independent) {
        if let Some((table, lines)) = jsonl_table::scan_bytes(bytes, crate::threads::cores(), reading) {
            return Ok(LoadedTable { table, format: reading.format, lines });
        }
    }
    load_table_general(bytes, name, format, independent)
}

/// [`load_table_as`] by the general loader alone.
fn load_table_general(
    bytes: &[u8],
    name: &str,
    format: Format,
    independent: bool,
) -> Result<LoadedTable, LoadError> {
    let loaded = load_bytes(bytes, name, format)?;
    table_of(if independent { split_independent(loaded, name)? } else { loaded }, name)
}

/// A loaded history as the table of its operations; `name` stands for the file in errors.
fn table_of(loaded: Loaded, name: &str) -> Result<LoadedTable, LoadError> {
    let Loaded { history, format, lines } = loaded;
    // Unreachable from input within `MAX_INPUT_BYTES`, whose events are far fewer.
    let table = OpTable::from_history(&history).map_err(|message| LoadError {
        path: name.into(),
        line: None,
        message,
    })?;
    Ok(LoadedTable { table, format, lines })
}

/// A loaded history written by Jepsen's `jepsen.independent`, its ops' `[key value]`
/// tuples split into keys and values ([`crate::independent::split_tuples`]); errors name
/// the line, as the loader's do.
pub fn split_independent(loaded: Loaded, name: &str) -> Result<Loaded, LoadError> {
    let Loaded { history, format, lines } = loaded;
    match crate::independent::split_tuples(history) {
        Ok(history) => Ok(Loaded { history, format, lines }),
        Err(e) => Err(LoadError {
            path: name.into(),
            line: lines.get(e.event),
            message: one_line(&with_related(e, |i| lines.get(i))),
        }),
    }
}

/// A history error's message, with the line of the event it conflicts with.
fn with_related(e: crate::history::HistoryError, line_of: impl Fn(usize) -> Option<usize>) -> String {
    match e.related.and_then(line_of) {
        Some(line) => format!("{} (see line {line})", e.message),
        None => e.message,
    }
}

/// A loaded history as the table of its operations, with the format and the source line
/// of every event, as [`Loaded`] has them.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedTable {
    pub table: OpTable,
    pub format: Format,
    /// The 1-based line of each event, by index.
    pub lines: EventLines,
}

impl LoadedTable {
    /// The source line of the event with this index.
    pub fn line_of(&self, index: u64) -> Option<usize> {
        usize::try_from(index).ok().and_then(|i| self.lines.get(i))
    }
}

/// The bytes of a history file within [`MAX_INPUT_BYTES`], and its name for errors.
fn read_file(path: &Path) -> Result<(Vec<u8>, String), LoadError> {
    let name = path.display().to_string();
    let fail = |message: String| LoadError { path: name.clone(), line: None, message };
    let meta = std::fs::metadata(path).map_err(|e| fail(io_message(&e)))?;
    if meta.is_dir() {
        return Err(fail("is a directory, not a history file".into()));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(fail(format!(
            "{} bytes is more than the {MAX_INPUT_BYTES}-byte limit for a history",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(io_message(&e)))?;
    Ok((bytes, name))
}

/// Load and validate a history held in memory; `name` stands for the file in errors.
pub fn load_bytes(bytes: &[u8], name: &str, format: Format) -> Result<Loaded, LoadError> {
    let at = |line: Option<usize>, message: String| LoadError {
        path: name.to_string(),
        line,
        message: one_line(&message),
    };
    let (text, format) = text_and_format(bytes, name, format)?;
    let parsed = match format {
        Format::Jsonl => jsonl::parse(text),
        Format::Edn => edn_history::parse(text),
        Format::JepsenLog => jepsen_log::parse(text),
        Format::PorcupineKv => porcupine_kv::parse(text),
        Format::Auto => unreachable!("Auto was resolved above"),
    }
    .map_err(|e| at(e.line, format!("{} (read as {format})", e.message)))?;
    if parsed.events.is_empty() {
        return Err(at(None, format!("no events: the history is empty ({format})")));
    }
    let Parsed { events, lines } = parsed;
    let history = History::from_events(events).map_err(|e| {
        let line = lines.get(e.event).copied();
        at(line, with_related(e, |i| lines.get(i).copied()))
    })?;
    Ok(Loaded { history, format, lines: lines.into() })
}

/// The text of a history (UTF-8, no NUL, without a byte-order mark) and its format, with
/// [`Format::Auto`] resolved.
fn text_and_format<'b>(bytes: &'b [u8], name: &str, format: Format) -> Result<(&'b str, Format), LoadError> {
    let at = |line: Option<usize>, message: String| LoadError {
        path: name.to_string(),
        line,
        message: one_line(&message),
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let line = line_of_offset(bytes, e.valid_up_to());
            return Err(at(Some(line), "not UTF-8 text (a binary file?)".into()));
        }
    };
    if let Some(nul) = text.find('\0') {
        return Err(at(Some(line_of_offset(bytes, nul)), "a NUL byte: not a text file".into()));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = match format {
        Format::Auto => detect(text).ok_or_else(|| {
            if text.trim().is_empty() {
                at(None, "the file is empty: no history to check".into())
            } else {
                at(
                    Some(first_content_line(text)),
                    "not a recognised history format (JSON Lines, Jepsen EDN, a Jepsen log or \
                     Porcupine kv); name one with --format"
                        .into(),
                )
            }
        })?,
        other => other,
    };
    Ok((text, format))
}

/// Recognise a history format from its text, or `None` if it is none of them.
///
/// JSON Lines begin with `{"`; an EDN history begins with `[`, `(`, `{:`, `#` or a `;`
/// comment, and is Porcupine kv when its first line is one complete op map with a `:key`;
/// a Jepsen log has a `jepsen.util` op line somewhere.
pub fn detect(text: &str) -> Option<Format> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let start = text.trim_start();
    let mut chars = start.chars();
    match chars.next()? {
        '{' => match chars.as_str().trim_start().chars().next() {
            Some('"' | '}') => Some(Format::Jsonl),
            _ if is_kv_line(start.lines().next().unwrap_or("")) => Some(Format::PorcupineKv),
            _ => Some(Format::Edn),
        },
        '[' | '(' | '#' | ';' => Some(Format::Edn),
        _ => text.lines().any(jepsen_log::is_op_line).then_some(Format::JepsenLog),
    }
}

/// Write events as the native JSON Lines.
pub fn write_jsonl<W: std::io::Write>(events: &[Event], out: W) -> std::io::Result<()> {
    jsonl::write(events, out)
}

/// What a parser produced: the events, and for each the line it came from.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub events: Vec<Event>,
    pub lines: Vec<usize>,
}

impl Parsed {
    fn push(&mut self, event: Event, line: usize) {
        self.events.push(event);
        self.lines.push(line);
    }
}

/// A parser's error, before the file name is attached.
#[derive(Debug)]
pub(crate) struct ParseError {
    pub line: Option<usize>,
    pub message: String,
}

impl From<edn::EdnError> for ParseError {
    fn from(e: edn::EdnError) -> ParseError {
        ParseError { line: Some(e.line), message: e.message }
    }
}

fn is_kv_line(line: &str) -> bool {
    let mut reader = edn::Reader::new(line, 1);
    let Ok(Some((_, edn::Edn::Map(pairs)))) = reader.read() else { return false };
    matches!(reader.read(), Ok(None)) && pairs.iter().any(|(k, _)| *k == edn::Edn::Keyword("key".into()))
}

/// Messages may quote input; escape line breaks so an error stays on one line.
fn one_line(message: &str) -> String {
    if message.contains(['\n', '\r']) {
        message.replace('\n', "\\n").replace('\r', "\\r")
    } else {
        message.to_string()
    }
}

fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

fn first_content_line(text: &str) -> usize {
    text.lines().position(|l| !l.trim().is_empty()).map_or(1, |i| i + 1)
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => format!("cannot read: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_recognised_by_content() {
        assert_eq!(detect("\n{\"process\":1}"), Some(Format::Jsonl));
        assert_eq!(detect("[{:type :ok}]"), Some(Format::Edn));
        assert_eq!(detect("; history\n{:type :ok}"), Some(Format::Edn));
        assert_eq!(detect("{:type :ok, :process 1, :f :read}\n"), Some(Format::Edn));
        assert_eq!(
            detect("{:process 9, :type :invoke, :f :get, :key \"0\", :value nil}\n"),
            Some(Format::PorcupineKv)
        );
        assert_eq!(detect("boot\nINFO  jepsen.util - 3\t:invoke\t:read\tnil\n"), Some(Format::JepsenLog));
        assert_eq!(detect("hello world"), None);
        assert_eq!(detect(""), None);
    }

    #[test]
    fn the_documented_native_example_loads() {
        // The example in the `history` module doc.
        let doc = include_str!("../history.rs");
        let example: String =
            doc.lines().filter_map(|l| l.strip_prefix("//! {")).map(|rest| format!("{{{rest}\n")).collect();
        let loaded = load_bytes(example.as_bytes(), "doc", Format::Auto).unwrap();
        assert_eq!(loaded.format, Format::Jsonl);
        assert_eq!(loaded.history.len(), 7);
        assert_eq!(loaded.history.operations().len(), 3);
    }

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>(), Ok(f));
        }
        assert!("xml".parse::<Format>().unwrap_err().contains("jepsen-log"));
    }

    #[test]
    fn validation_errors_point_at_the_source_line() {
        let text =
            "; a comment\n[{:type :invoke, :process 0, :f :read}\n\n {:type :invoke, :process 0, :f :read}]";
        let e = load_bytes(text.as_bytes(), "h.edn", Format::Auto).unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(e.to_string().starts_with("h.edn:4: process 0 invokes"), "{e}");
    }

    #[test]
    fn binary_empty_and_unknown_input_are_one_line_errors() {
        let e = load_bytes(b"{\"a\":1}\n\xff\xfe", "x", Format::Auto).unwrap_err();
        assert_eq!(e.to_string(), "x:2: not UTF-8 text (a binary file?)");
        let e = load_bytes(b"ok\n\0", "x", Format::Auto).unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = load_bytes(b"  \n", "x", Format::Auto).unwrap_err();
        assert_eq!(e.to_string(), "x: the file is empty: no history to check");
        let e = load_bytes(b"\nhello", "x", Format::Auto).unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = load_bytes(b"[]", "x", Format::Edn).unwrap_err();
        assert!(e.to_string().contains("no events"), "{e}");
    }

    #[test]
    fn missing_files_and_directories_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = load_path(&dir.path().join("nope.jsonl"), Format::Auto).unwrap_err();
        assert!(e.to_string().ends_with("nope.jsonl: no such file"), "{e}");
        let e = load_path(dir.path(), Format::Auto).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
    }
}
