//! JSON Lines read straight into an [`OpTable`], for the common shape of a history file.
//!
//! [`super::jsonl`] parses each line into an owned [`crate::Event`] through serde, then
//! [`crate::History::from_events`] validates the whole; for a million-op file that is two
//! million wide structs and four million small allocations, most of the process's time.
//! This reader scans each line by hand, borrows `f` and the key from the text and interns
//! them, parses common values (null, integers, strings, arrays of them) directly, pairs
//! invocations with completions and applies the history's rules as it goes, so that the
//! table is the only thing it builds.
//!
//! It takes only what it is sure of. Anything unusual (an escape in a string, a float
//! where an integer belongs, a duplicate field, a history that breaks a rule, no events)
//! makes it give up with `None`, and the caller loads the file the general way, which
//! reports the fault exactly as it always has. So when this reader answers, its table is
//! the one the general way would have built; the tests compare the two.
//!
//! Everything here but the line itself ([`Scanner`]) also reads Jepsen op maps, one to a
//! line ([`super::edn_table`]): the pieces, their pairing and rules, and their joins.

use serde_json::Value;

use super::{EventLines, Format};
use crate::hash::FxHashMap;
use crate::op_ref::ValueRef;
use crate::op_table::{
    Builder, MaybeIndex, MaybeName, Name, OpTable, Side, TableOp, TableOutcome, TableValue, MAX_EVENTS,
};
use crate::threads::{cores, on_chunks, on_threads};

/// The table and, per event, its 1-based line; `None` when the general loader must decide.
#[cfg(test)]
pub(crate) fn scan(text: &str) -> Option<(OpTable, EventLines)> {
    scan_as(text, Reading::jsonl(false))
}

/// [`scan`] of lines of the format `reading` names.
#[cfg(test)]
pub(crate) fn scan_as(text: &str, reading: Reading) -> Option<(OpTable, EventLines)> {
    let mut piece = Piece::new(true, text.len(), reading.lines());
    piece.feed(text.as_bytes())?;
    finish(piece)
}

/// What a scan reads: lines of `format` (faultline's JSON Lines, or Jepsen op maps one to a
/// line as EDN and Porcupine's kv files hold them), and whether the format was only
/// guessed (`auto`), so that the file's first lines must show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reading {
    pub(crate) format: Format,
    pub(crate) auto: bool,
    /// Whether each op map's value is a `[key value]` tuple to be split, as
    /// [`crate::independent`] splits one (op maps only).
    pub(crate) independent: bool,
}

impl Reading {
    #[cfg(test)]
    pub(crate) const fn jsonl(auto: bool) -> Reading {
        Reading { format: Format::Jsonl, auto, independent: false }
    }

    /// How the lines are read: JSON Lines, or op maps by [`super::edn_table`].
    fn lines(self) -> Lines {
        match (self.format, self.independent) {
            (Format::Jsonl, _) => Lines::Json,
            (_, false) => Lines::Maps,
            (_, true) => Lines::IndependentMaps,
        }
    }
}

/// How a piece's lines are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    Json,
    Maps,
    /// Op maps whose values are `[key value]` tuples.
    IndependentMaps,
}

/// Below this many bytes per thread, a file is scanned on one.
const PIECE_BYTES: usize = 4 << 20;

/// The table straight from a file's bytes, in up to `threads` pieces split at line ends
/// and scanned at once, then joined. The scan takes only UTF-8 (every byte it takes is
/// ASCII but within a string, which it checks), so the bytes are read once. `None` when
/// the general loader must decide, including for bytes that are not JSON Lines (`auto`:
/// the format was not named), not UTF-8 or hold a NUL (which the scan takes nowhere), all
/// of which it reports.
pub(crate) fn scan_bytes(bytes: &[u8], threads: usize, reading: Reading) -> Option<(OpTable, EventLines)> {
    scan_in_pieces(bytes, threads.min(bytes.len() / PIECE_BYTES).max(1), reading)
}

/// Where the piece that starts near `from` begins: after the first line end at or past it.
fn piece_start(bytes: &[u8], from: usize) -> Option<usize> {
    bytes[from..].iter().position(|&b| b == b'\n').map(|at| from + at + 1)
}

/// Piece bounds for `pieces` pieces of about equal size, each starting a line.
fn bounds(len: usize, pieces: usize, mut start_near: impl FnMut(usize) -> Option<usize>) -> Vec<usize> {
    let mut bounds = vec![0];
    for t in 1..pieces {
        let from = (len * t / pieces).max(bounds[bounds.len() - 1]);
        match start_near(from) {
            Some(start) => bounds.push(start),
            None => break,
        }
    }
    bounds.push(len);
    bounds.dedup();
    bounds
}

/// [`scan_bytes`] in about `pieces` pieces of equal size, each on its own thread.
pub(super) fn scan_in_pieces(bytes: &[u8], pieces: usize, reading: Reading) -> Option<(OpTable, EventLines)> {
    let bounds = bounds(bytes.len(), pieces, |from| piece_start(bytes, from));
    let scan = |k: usize| -> Option<Piece> {
        let first = k == 0;
        let mut piece = Piece::new(first, bounds[k + 1] - bounds[k], reading.lines());
        // A later piece is of the format if the first is.
        let undecided = &mut (first && reading.auto);
        piece.feed(region(&bytes[bounds[k]..bounds[k + 1]], first, undecided, reading.format)?)?;
        Some(piece)
    };
    join_all(on_threads(bounds.len() - 1, scan))
}

/// [`scan_bytes`] for a file of `len` bytes, each piece read by the thread that scans it,
/// a chunk at a time, so that the file is never held whole.
pub(crate) fn scan_file(
    file: &std::fs::File,
    len: usize,
    threads: usize,
    reading: Reading,
) -> Option<(OpTable, EventLines)> {
    file_in_pieces(file, len, threads.min(len / PIECE_BYTES).max(1), CHUNK_BYTES, reading)
}

/// [`scan_file`] on `threads` threads, read `chunk` bytes at a time: the file is first cut
/// into one stretch per thread, and a thread done with its stretch while another has at
/// least [`STEAL_BYTES`] left takes the back half of that one as a piece of its own. Threads
/// rarely start together (one may wait milliseconds for its core) or go at one speed, and
/// without this the first to finish would wait for the last.
fn file_in_pieces(
    file: &std::fs::File,
    len: usize,
    threads: usize,
    chunk: usize,
    reading: Reading,
) -> Option<(OpTable, EventLines)> {
    let starts = bounds(len, threads, |from| line_start(file, len, from));
    file_in_pieces_from(file, len, &starts, chunk, STEAL_BYTES, reading)
}

/// Where the line after the first line end at or past `from` starts, looked for in
/// windows of the file.
fn line_start(file: &std::fs::File, len: usize, from: usize) -> Option<usize> {
    use std::os::unix::fs::FileExt;
    let mut window = vec![0u8; 4096];
    let mut at = from;
    while at < len {
        let n = window.len().min(len - at);
        file.read_exact_at(&mut window[..n], at as u64).ok()?;
        if let Some(start) = piece_start(&window[..n], 0) {
            return Some(at + start);
        }
        at += n;
        // A long line: wider windows.
        if window.len() < 1 << 20 {
            window.resize(2 * window.len(), 0);
        }
    }
    None
}

/// The least a stretch must have left to be split with an idle thread: about two
/// milliseconds of scanning, far more than a piece costs to make and to join.
const STEAL_BYTES: usize = 2 << 20;

/// The part of the file a thread has still to read of the piece it is scanning: from
/// `next` to `end`, which a thread that takes the back half brings nearer.
#[derive(Clone, Copy)]
struct Stretch {
    next: usize,
    end: usize,
}

/// [`file_in_pieces`] from given first stretches (`starts`: each stretch's start, then the
/// file's end), one per thread, splitting a stretch that has `steal_bytes` left.
fn file_in_pieces_from(
    file: &std::fs::File,
    len: usize,
    starts: &[usize],
    chunk: usize,
    steal_bytes: usize,
    reading: Reading,
) -> Option<(OpTable, EventLines)> {
    use std::os::unix::fs::FileExt;
    use std::sync::Mutex;
    let stretches: Mutex<Vec<Stretch>> =
        Mutex::new(starts.windows(2).map(|w| Stretch { next: w[0], end: w[1] }).collect());
    let lock = || stretches.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // The next `want` bytes of thread `k`'s stretch, claimed: where they start, how many
    // there are, and whether they end the stretch.
    let claim = |k: usize, want: usize| {
        let mut stretches = lock();
        let stretch = &mut stretches[k];
        let n = want.min(stretch.end - stretch.next);
        let at = stretch.next;
        stretch.next += n;
        (at, n, stretch.next == stretch.end)
    };
    // For thread `k`, done with its stretch: makes the back half of the stretch with the
    // most left `k`'s; false when no stretch is worth splitting.
    let steal = |k: usize| -> bool {
        let mut stretches = lock();
        let Some((victim, left)) =
            stretches.iter().enumerate().map(|(v, s)| (v, s.end - s.next)).max_by_key(|&(_, left)| left)
        else {
            return false;
        };
        if left < steal_bytes.max(2) {
            return false;
        }
        let Stretch { next, end } = stretches[victim];
        let Some(split) = line_start(file, len, next + left / 2).filter(|&split| split < end) else {
            return false;
        };
        stretches[victim].end = split;
        stretches[k] = Stretch { next: split, end };
        true
    };
    // Thread `k`'s stretch, scanned as one piece: where it starts, and the piece.
    let scan = |k: usize, buffer: &mut Vec<u8>| -> Option<(usize, Piece)> {
        let Stretch { next: start, end } = lock()[k];
        let first = start == 0;
        let mut piece = Piece::new(first, end - start, reading.lines());
        let (mut filled, mut start_of_file) = (0, first);
        let mut undecided = first && reading.auto;
        loop {
            if filled == buffer.len() {
                // One line longer than the buffer: make room for it.
                buffer.resize(2 * buffer.len(), 0);
            }
            let (offset, n, done) = claim(k, buffer.len() - filled);
            file.read_exact_at(&mut buffer[filled..filled + n], offset as u64).ok()?;
            filled += n;
            // A stretch ends at a line start, so its last bytes are whole lines.
            let cut = if done {
                filled
            } else {
                buffer[..filled].iter().rposition(|&b| b == b'\n').map_or(0, |at| at + 1)
            };
            if cut > 0 {
                piece.feed(region(&buffer[..cut], start_of_file, &mut undecided, reading.format)?)?;
                start_of_file = false;
                buffer.copy_within(cut..filled, 0);
                filled -= cut;
            }
            if done {
                return Some((start, piece));
            }
        }
    };
    // A piece the scan gives up on leaves the file to the general loader: the other
    // threads are stopped at their next claim rather than left to scan in vain.
    let give_up = || {
        for stretch in lock().iter_mut() {
            stretch.end = stretch.next;
        }
        None
    };
    let work = |k: usize| -> Option<Vec<(usize, Piece)>> {
        let mut buffer = vec![0u8; chunk.min(len).max(1)];
        let mut pieces = Vec::new();
        loop {
            match scan(k, &mut buffer) {
                Some(piece) => pieces.push(piece),
                None => return give_up(),
            }
            if !steal(k) {
                return Some(pieces);
            }
        }
    };
    let done: Option<Vec<Vec<(usize, Piece)>>> = on_threads(starts.len() - 1, work).into_iter().collect();
    let mut pieces: Vec<(usize, Piece)> = done?.into_iter().flatten().collect();
    pieces.sort_unstable_by_key(|&(start, _)| start);
    join_all(pieces.into_iter().map(|(_, piece)| Some(piece)).collect())
}

/// Bytes a piece is read in.
const CHUNK_BYTES: usize = 1 << 20;

fn join_all(pieces: Vec<Option<Piece>>) -> Option<(OpTable, EventLines)> {
    let mut pieces = pieces.into_iter();
    let mut joined = pieces.next()??;
    for piece in pieces {
        joined.join(piece?)?;
    }
    finish(joined)
}

/// Whole lines of a piece. At the start of the file a byte-order mark is skipped; while
/// `undecided` (the format was not named and nothing but blank lines has been seen) the
/// text must begin as `format` does. The lines are not checked for UTF-8 here: the scan
/// takes no byte outside ASCII but within a string, and checks each string that has one.
fn region<'b>(
    bytes: &'b [u8],
    start_of_file: bool,
    undecided: &mut bool,
    format: Format,
) -> Option<&'b [u8]> {
    // A NUL byte (which the general loader reports as such) is not looked for: the scan
    // takes none anywhere, so a line that has one is left to that loader.
    let bytes =
        if start_of_file { bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes) } else { bytes };
    if *undecided {
        let text = std::str::from_utf8(bytes).ok()?;
        if !text.trim().is_empty() {
            if super::detect(text) != Some(format) {
                return None;
            }
            *undecided = false;
        }
    }
    Some(bytes)
}

fn finish(piece: Piece) -> Option<(OpTable, EventLines)> {
    if piece.line_of.is_empty() {
        return None;
    }
    Some((piece.builder.finish(piece.line_of.len() as u64), piece.line_of))
}

/// A stretch of the file's lines, scanned. Positions and lines are the piece's own until
/// it is joined to the pieces before it.
struct Piece {
    /// Whether it starts the file (a completion with no invocation before it in the
    /// piece is then an error, not an op begun in an earlier piece).
    first: bool,
    builder: Builder,
    /// Per event, its 1-based line in the piece.
    line_of: EventLines,
    /// Lines in the piece so far, blank ones included.
    lines: usize,
    /// What the piece knows of each process it has heard from.
    processes: Processes,
    /// In a piece after the first, the processes heard from, in order.
    heard: Vec<u64>,
    /// Completions whose invocation is in an earlier piece, in order.
    dangling: Vec<Dangling>,
    /// How its lines are read.
    lines_are: Lines,
}

/// What a piece knows of each process, indexed by the process for the small numbers
/// histories use (no hashing per event), in a map for any other.
#[derive(Default)]
struct Processes {
    dense: Vec<ProcessState>,
    sparse: FxHashMap<u64, ProcessState>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ProcessState {
    /// The position of its op still open, plus one; 0 when none is.
    open: usize,
    /// Whether its op ended `info` (it may not be heard from again).
    retired: bool,
    /// In a piece after the first, once heard from: whether its first event there was a
    /// completion (of an op begun in an earlier piece).
    heard: Option<bool>,
}

/// Processes below this number are kept in a vector indexed by the number.
const DENSE_PROCESSES: u64 = 1 << 16;

impl Processes {
    /// The state of process `p`, made if new.
    #[inline(always)]
    fn of(&mut self, p: u64) -> &mut ProcessState {
        if p < DENSE_PROCESSES {
            let p = p as usize;
            if p >= self.dense.len() {
                self.dense.resize((p + 1).next_power_of_two().max(64), ProcessState::default());
            }
            return &mut self.dense[p];
        }
        self.sparse.entry(p).or_default()
    }

    fn get(&self, p: u64) -> ProcessState {
        let dense = usize::try_from(p).ok().and_then(|p| self.dense.get(p));
        dense.or_else(|| self.sparse.get(&p)).copied().unwrap_or_default()
    }

    /// Every process whose state is not the new one's.
    fn known(&self) -> impl Iterator<Item = (u64, ProcessState)> + '_ {
        let dense = (0..).zip(self.dense.iter().copied());
        let sparse = self.sparse.iter().map(|(&p, &state)| (p, state));
        dense.chain(sparse).filter(|(_, state)| *state != ProcessState::default())
    }
}

/// A completion of an op begun in an earlier piece, kept until the join.
struct Dangling {
    process: u64,
    index: u32,
    kind: Kind,
    f: Box<str>,
    key: Option<Box<str>>,
    value: Value,
    time: Option<u64>,
}

impl Piece {
    /// An empty piece of `bytes` of text, with room for their ops.
    fn new(first: bool, bytes: usize, lines_are: Lines) -> Piece {
        // About two lines per op and eighty bytes a line; the vector grows past a guess.
        Piece {
            first,
            builder: Builder::with_capacity(bytes / 160 + 1),
            line_of: EventLines::default(),
            lines: 0,
            processes: Processes::default(),
            heard: Vec::new(),
            dangling: Vec::new(),
            lines_are,
        }
    }

    /// Scans the next whole lines of the piece.
    fn feed(&mut self, text: &[u8]) -> Option<()> {
        match self.lines_are {
            Lines::Json => self.feed_lines(Scanner::<false> { text, at: 0 }),
            Lines::Maps => self.feed_lines(super::edn_table::MapLine::<false>::over(text)),
            Lines::IndependentMaps => self.feed_lines(super::edn_table::MapLine::<true>::over(text)),
        }
    }

    /// [`Piece::feed`] in the syntax of `scanner`: each piece's loop is compiled for one.
    #[inline(always)]
    fn feed_lines<'t>(&mut self, mut scanner: impl EventLine<'t>) -> Option<()> {
        let Piece { first, builder, line_of, lines, processes, heard, dangling, .. } = self;
        // One event for every line, each field written as it is read: made anew per line,
        // it would be copied in whole each time.
        let mut event = Scanned::EMPTY;
        // Lines are not split first: each event is read from where the last ended, and
        // must end its line.
        while scanner.more() {
            *lines += 1;
            if scanner.no_event() {
                continue;
            }
            scanner.event(&mut event)?;
            // Event positions are 32 bits; a file of at most 4 GiB has far fewer events.
            let index = u32::try_from(line_of.len()).ok().filter(|&i| u64::from(i) < MAX_EVENTS)?;
            line_of.push(*lines);
            let Some(p) = event.process else { continue };
            let state = processes.of(p);
            if state.retired {
                return None;
            }
            if !*first && state.heard.is_none() {
                // A process's first event in a later piece may complete an op begun in
                // an earlier one; the join pairs them.
                let completes_earlier = event.kind != Kind::Invoke;
                state.heard = Some(completes_earlier);
                state.retired = event.kind == Kind::Info;
                heard.push(p);
                if completes_earlier {
                    dangling.push(Dangling {
                        process: p,
                        index,
                        kind: event.kind,
                        f: event.f.text().into(),
                        key: event.key.map(|k| k.text().into()),
                        value: event.take_value().into_value(),
                        time: event.time,
                    });
                    continue;
                }
            }
            if event.kind == Kind::Invoke {
                if state.open != 0 {
                    return None;
                }
                state.open = builder.len() + 1;
                let f = builder.intern_name(event.f);
                let key = event.key.map(|k| builder.intern_name(k));
                builder.set_times(builder.len(), event.time, None);
                let value = event.take_value().into_table(&mut builder.side);
                let process = builder.side.process_id(p);
                builder.push(TableOp::new(index, process, f, MaybeName::new(key), value));
                continue;
            }
            let at = std::mem::take(&mut state.open).checked_sub(1)?;
            state.retired = event.kind == Kind::Info;
            complete(builder, at, index, &mut event)?;
        }
        Some(())
    }

    /// Appends the piece that follows this one, as if the two had been scanned as one;
    /// `None` where that scan would have given up.
    fn join(&mut self, mut next: Piece) -> Option<()> {
        let events = u32::try_from(self.line_of.len()).ok()?;
        (u64::from(events) + next.line_of.len() as u64 <= MAX_EVENTS).then_some(())?;
        for &p in &next.heard {
            let completes_earlier = next.processes.get(p).heard == Some(true);
            let mine = self.processes.of(p);
            if mine.retired || (mine.open != 0) != completes_earlier {
                return None;
            }
        }
        for d in next.dangling {
            let state = self.processes.of(d.process);
            let at = std::mem::take(&mut state.open).checked_sub(1)?;
            state.retired = d.kind == Kind::Info;
            let mut end = Scanned {
                process: Some(d.process),
                kind: d.kind,
                f: Name::of(&d.f),
                key: d.key.as_deref().map(Name::of),
                value: ScannedValue::Json(d.value),
                time: d.time,
            };
            complete(&mut self.builder, at, events + d.index, &mut end)?;
        }
        let names: Vec<u32> = next.builder.names().iter().map(|n| self.builder.intern(n)).collect();
        // The next piece's string text, JSON values and large processes go after this
        // one's, its references moved with them.
        let shift = self.builder.side.append(std::mem::take(&mut next.builder.side))?;
        let base = self.builder.len();
        let mut ops = std::mem::take(&mut next.builder.ops);
        if next.builder.has_times() {
            for at in 0..ops.len() {
                let (invoke, complete) = next.builder.times(at);
                self.builder.set_times(base + at, invoke, complete);
            }
        }
        // The next piece's ops stay where its thread wrote them, made this piece's in
        // place: their positions, names and string spans.
        let threads = if ops.len() < 1 << 16 { 1 } else { cores() };
        on_chunks(&mut ops, threads, |ops| {
            for op in ops {
                op.invoke_index += events;
                op.complete_index = MaybeIndex::new(op.complete_index.get().map(|i| i + events));
                op.f = names[op.f as usize];
                op.key = MaybeName::new(op.key.get().map(|k| names[k as usize]));
                op.shift(shift);
            }
        });
        let key_uses = next.builder.key_uses().iter().enumerate().map(|(key, &uses)| (names[key], uses));
        self.builder.append_segment(ops, key_uses);
        for (p, theirs) in next.processes.known() {
            let mine = self.processes.of(p);
            if theirs.open != 0 {
                mine.open = base + theirs.open;
            }
            mine.retired |= theirs.retired;
        }
        self.line_of.append(&next.line_of, self.lines);
        self.lines += next.lines;
        Some(())
    }
}

/// Pairs the completion `end`, event `index`, with the invocation at `at`: it must name the
/// same `f` (and key, if any), compared with the interned names rather than interned
/// again. Its value is taken; the rest is read where it lies.
#[inline(always)]
fn complete(builder: &mut Builder, at: usize, index: u32, end: &mut Scanned<'_>) -> Option<()> {
    let invoked = builder.op_mut(at);
    let (f, key) = (invoked.f, invoked.key);
    let same_key = match (end.key, key.get()) {
        (None, _) => true,
        (Some(k), Some(invoked)) => builder.is_name(invoked, k),
        (Some(_), None) => false,
    };
    if !builder.is_name(f, end.f) || !same_key {
        return None;
    }
    builder.set_times(at, None, end.time);
    let outcome = match end.kind {
        Kind::Ok => TableOutcome::Ok(end.take_value().into_table(&mut builder.side)),
        Kind::Fail => TableOutcome::Fail,
        Kind::Info | Kind::Invoke => TableOutcome::Info,
    };
    let op = builder.op_mut(at);
    op.complete_index = MaybeIndex::new(Some(index));
    op.set_outcome(outcome);
    Some(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// A reader of a piece's lines, one event to a line, in one syntax.
pub(super) trait EventLine<'t> {
    /// Whether any text is left.
    fn more(&self) -> bool;
    /// Consumes the line from here if it holds no event (a blank line, or a comment where
    /// the syntax has them).
    fn no_event(&mut self) -> bool;
    /// The line's event, written into `event` (every field of it) with the line end
    /// consumed, or `None` if it is anything the general loader must judge.
    fn event(&mut self, event: &mut Scanned<'t>) -> Option<()>;
}

impl<'t> EventLine<'t> for Scanner<'t, false> {
    #[inline(always)]
    fn more(&self) -> bool {
        self.at < self.text.len()
    }

    /// An event's line starts with its brace; only another may be blank.
    #[inline(always)]
    fn no_event(&mut self) -> bool {
        self.text[self.at] != b'{' && self.blank_line()
    }

    #[inline(always)]
    fn event(&mut self, event: &mut Scanned<'t>) -> Option<()> {
        Scanner::event(self, event)
    }
}

/// One event as the scan reads it; `process` is `None` for the nemesis.
pub(super) struct Scanned<'t> {
    pub(super) process: Option<u64>,
    pub(super) kind: Kind,
    pub(super) f: Name<'t>,
    pub(super) key: Option<Name<'t>>,
    pub(super) value: ScannedValue<'t>,
    pub(super) time: Option<u64>,
}

impl<'t> Scanned<'t> {
    /// What an event holds before any field is read.
    const EMPTY: Scanned<'static> = Scanned {
        process: None,
        kind: Kind::Invoke,
        f: Name { bytes: b"", packed: crate::op_table::LONG },
        key: None,
        value: ScannedValue::Compact(ValueRef::Null),
        time: None,
    };

    /// Its value, moved out (null left in its place).
    #[inline(always)]
    fn take_value(&mut self) -> ScannedValue<'t> {
        std::mem::replace(&mut self.value, ScannedValue::Compact(ValueRef::Null))
    }
}

/// A value as the scan reads it: the common shapes without building JSON, a string
/// borrowed from the line, anything else parsed.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ScannedValue<'t> {
    Compact(ValueRef<'t>),
    Json(Value),
}

impl ScannedValue<'_> {
    /// Whether the value is an array of two, which [`crate::independent`] splits.
    pub(super) fn is_pair(&self) -> bool {
        match self {
            ScannedValue::Compact(value) => matches!(value, ValueRef::Pair(..)),
            ScannedValue::Json(value) => value.as_array().is_some_and(|items| items.len() == 2),
        }
    }

    #[inline(always)]
    fn into_table(self, side: &mut Side) -> TableValue {
        match self {
            ScannedValue::Compact(value) => side.add(value),
            ScannedValue::Json(value) => side.add_owned(value),
        }
    }

    fn into_value(self) -> Value {
        match self {
            ScannedValue::Compact(value) => value.to_value(),
            ScannedValue::Json(value) => value,
        }
    }
}

/// A field of an event object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Index,
    Time,
    Process,
    Type,
    F,
    Key,
    Value,
    Error,
    Node,
    Other,
}

impl Field {
    /// By length first, then as a fixed-size array: compares as integers, not strings.
    #[inline]
    pub(super) fn of(name: &[u8]) -> Field {
        match name.len() {
            1 if name == b"f" => Field::F,
            3 if name == b"key" => Field::Key,
            4 => match <[u8; 4]>::try_from(name).unwrap_or_default() {
                [b't', b'i', b'm', b'e'] => Field::Time,
                [b't', b'y', b'p', b'e'] => Field::Type,
                [b'n', b'o', b'd', b'e'] => Field::Node,
                _ => Field::Other,
            },
            5 => match <[u8; 5]>::try_from(name).unwrap_or_default() {
                [b'i', b'n', b'd', b'e', b'x'] => Field::Index,
                [b'v', b'a', b'l', b'u', b'e'] => Field::Value,
                [b'e', b'r', b'r', b'o', b'r'] => Field::Error,
                _ => Field::Other,
            },
            7 if name == b"process" => Field::Process,
            _ => Field::Other,
        }
    }

    /// Its bit in the set of fields seen; 0 for fields that may repeat (serde ignores
    /// unknown fields, repeated or not).
    pub(super) fn bit(self) -> u16 {
        match self {
            Field::Other => 0,
            known => 1 << (known as u16),
        }
    }
}

/// A known text as [`word`] makes it: pattern, mask, length.
pub(super) type Quoted = (u64, u64, usize);

/// The bytes of `text`, then `then` if any, as the low bytes of a little-endian word: the
/// pattern, its mask, and how many bytes it covers (at most eight).
pub(super) const fn word(text: &[u8], then: Option<u8>) -> Quoted {
    let len = text.len() + if then.is_some() { 1 } else { 0 };
    let (mut pattern, mut mask, mut at) = (0u64, 0u64, 0);
    while at < len {
        let byte = if at < text.len() {
            text[at]
        } else {
            match then {
                Some(byte) => byte,
                None => 0,
            }
        };
        pattern |= (byte as u64) << (8 * at);
        mask |= 0xff << (8 * at);
        at += 1;
    }
    (pattern, mask, at)
}

/// A quoted text's bytes after its opening quote, closing quote included, as a [`word`].
const fn quoted(text: &[u8]) -> Quoted {
    word(text, Some(b'"'))
}

const INDEX: Quoted = quoted(b"index");
const PROCESS: Quoted = quoted(b"process");
const TYPE: Quoted = quoted(b"type");
const TIME: Quoted = quoted(b"time");
const F: Quoted = quoted(b"f");
const KEY: Quoted = quoted(b"key");
const VALUE: Quoted = quoted(b"value");
const INVOKE: Quoted = quoted(b"invoke");
const INFO: Quoted = quoted(b"info");
const OK: Quoted = quoted(b"ok");
const FAIL: Quoted = quoted(b"fail");

/// Each byte of a word 1, and each byte's top bit.
const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The number that eight ASCII digits make, the first in the lowest byte (a zero byte
/// counts as a leading `0`): pairs, then fours, then all eight combined by multiplying.
#[inline(always)]
fn eight_digits(word: u64) -> u64 {
    // The products overflow by design: only the bits kept by each mask are wanted.
    let word = word & 0x0f0f_0f0f_0f0f_0f0f;
    let pairs = word.wrapping_mul(10 << 8 | 1) >> 8 & 0x00ff_00ff_00ff_00ff;
    let fours = pairs.wrapping_mul(100 << 16 | 1) >> 16 & 0x0000_ffff_0000_ffff;
    fours.wrapping_mul(10_000 << 32 | 1) >> 32
}

/// Where a plain string ends: at its closing quote, or (for the general loader to judge)
/// at an escape or a control character.
fn ends_string(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

/// Arrays nested deeper than this are left to serde_json.
const MAX_DEPTH: usize = 16;

/// `SPACES`: whether spaces may stand between tokens. Faultline writes none, so a line
/// is first read without looking for any, and only if that fails read again allowing
/// them.
pub(super) struct Scanner<'t, const SPACES: bool> {
    /// The lines being read.
    pub(super) text: &'t [u8],
    pub(super) at: usize,
}

impl<'t, const SPACES: bool> Scanner<'t, SPACES> {
    /// The line from here as one event object, written into `event` (which the caller
    /// reads field by field: a whole struct returned would be copied in wide loads of
    /// narrow stores, a stall per line), or `None` if it is anything but plain. The line
    /// end is consumed.
    #[inline(always)]
    fn event(&mut self, event: &mut Scanned<'t>) -> Option<()> {
        let start = self.at;
        if self.written_order(event).is_some() {
            return Some(());
        }
        *event = Scanned::EMPTY;
        let mut spaced = self.spaced(start);
        spaced.any_order(event)?;
        self.at = spaced.at;
        Some(())
    }

    /// A scanner of the same text from `at` that allows spaces between tokens.
    #[inline(always)]
    fn spaced(&self, at: usize) -> Scanner<'t, true> {
        Scanner { text: self.text, at }
    }

    /// Consumes the line from here if it holds nothing but spaces.
    #[inline(always)]
    fn blank_line(&mut self) -> bool {
        let mut spaced = self.spaced(self.at);
        spaced.skip_space();
        if spaced.end_of_line() {
            self.at = spaced.at;
            return true;
        }
        false
    }

    /// Consumes the line end if it comes next; true at the end of the text too.
    #[inline(always)]
    fn end_of_line(&mut self) -> bool {
        match self.text.get(self.at..).unwrap_or_default() {
            [] => true,
            [b'\n', ..] => {
                self.at += 1;
                true
            }
            // A Windows line end, so that such a file is read in written order too.
            [b'\r', b'\n', ..] => {
                self.at += 2;
                true
            }
            _ => false,
        }
    }

    /// The line read as faultline writes events: `index`, `time` if any, `process`, `type`,
    /// `f`, `key` if any, `value`, then `error` and `node` if any, in that order, with no
    /// spaces and nothing else. Each field name is then a known run of bytes where it is
    /// expected, compared as words, so no branch depends on which field comes next and no
    /// space is looked for. `None` for any other line, which [`Scanner::any_order`] reads
    /// from the start. Every field of `event` is written (one absent as none), so the
    /// same event serves line after line.
    #[inline(always)]
    fn written_order(&mut self, event: &mut Scanned<'t>) -> Option<()> {
        self.literal(b"{\"index\":")?;
        self.uint()?;
        event.time = None;
        if self.literal(b",\"time\":").is_some() && !self.null() {
            event.time = Some(self.uint()?);
        }
        self.literal(b",\"process\":")?;
        event.process = self.process()?;
        self.literal(b",\"type\":")?;
        event.kind = self.known_kind()?;
        self.literal(b",\"f\":")?;
        event.f = self.name()?;
        event.key = None;
        if self.literal(b",\"key\":").is_some() && !self.null() {
            event.key = Some(self.name()?);
        }
        self.literal(b",\"value\":")?;
        self.top_value(&mut event.value)?;
        // Most lines end here; `error` and `node` are looked for only where one does not.
        if self.text.get(self.at) != Some(&b'}') {
            if self.literal(b",\"error\":").is_some() && !self.null() {
                self.string_span()?;
            }
            if self.literal(b",\"node\":").is_some() && !self.null() {
                self.string_span()?;
            }
        }
        self.literal(b"}")?;
        self.end_of_line().then_some(())
    }

    /// Consumes `bytes` if they come next.
    #[inline(always)]
    fn literal<const N: usize>(&mut self, bytes: &[u8; N]) -> Option<()> {
        let next: &[u8; N] = self.text.get(self.at..self.at + N)?.try_into().ok()?;
        (next == bytes).then(|| self.at += N)
    }

    /// [`Scanner::event`] for fields in any order.
    fn any_order(&mut self, event: &mut Scanned<'t>) -> Option<()> {
        let mut seen = 0u16;
        let Scanned { process, kind, f, key, value, time } = event;
        self.expect(b'{')?;
        if self.peek()? != b'}' {
            loop {
                self.skip_space();
                let field = match self.known_name() {
                    Some(field) => field,
                    None => Field::of(self.string()?.as_bytes()),
                };
                self.expect(b':')?;
                match field {
                    Field::Index => {
                        self.uint()?;
                    }
                    Field::Time => *time = if self.null() { None } else { Some(self.uint()?) },
                    Field::Process => *process = self.process()?,
                    Field::Type => {
                        self.skip_space();
                        if let Some(known) = self.known_kind() {
                            *kind = known;
                        } else {
                            *kind = match self.string()?.as_bytes() {
                                b"invoke" => Kind::Invoke,
                                b"ok" => Kind::Ok,
                                b"fail" => Kind::Fail,
                                b"info" => Kind::Info,
                                _ => return None,
                            }
                        }
                    }
                    Field::F => *f = self.name()?,
                    Field::Key => *key = if self.null() { None } else { Some(self.name()?) },
                    Field::Value => self.top_value(value)?,
                    Field::Error | Field::Node => {
                        if !self.null() {
                            self.string_span()?;
                        }
                    }
                    // A recorder's own field: any JSON value, ignored.
                    Field::Other => {
                        self.value(0)?;
                    }
                }
                let bit = field.bit();
                if seen & bit != 0 {
                    return None;
                }
                seen |= bit;
                match self.next()? {
                    b',' => {}
                    b'}' => break,
                    _ => return None,
                }
            }
        } else {
            self.at += 1;
        }
        self.skip_space();
        let required = Field::Process.bit() | Field::Type.bit() | Field::F.bit();
        (seen & required == required && self.end_of_line()).then_some(())
    }

    /// Skips spaces within the line: a line end is not one, as no event spans lines.
    #[inline(always)]
    fn skip_space(&mut self) {
        if !SPACES {
            return;
        }
        while let Some(b' ' | b'\t' | b'\r') = self.text.get(self.at) {
            self.at += 1;
        }
    }

    /// The eight bytes after the next one, as one integer: what [`Scanner::known_name`]
    /// and [`Scanner::known_kind`] compare the text with.
    #[inline(always)]
    fn word_after(&self) -> Option<u64> {
        let bytes = self.text.get(self.at + 1..self.at + 9)?;
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }

    /// A field name that is one of the known fields, written plainly, read by comparing
    /// one word of the text with each candidate's quoted name rather than byte by byte.
    /// `None` (nothing consumed) for any other name, or one too near the line's end,
    /// which [`Scanner::string`] and [`Field::of`] then read.
    #[inline(always)]
    fn known_name(&mut self) -> Option<Field> {
        self.known(|word| match word as u8 {
            b'i' => Some((Field::Index, INDEX)),
            b'p' => Some((Field::Process, PROCESS)),
            b't' if word & TYPE.1 == TYPE.0 => Some((Field::Type, TYPE)),
            b't' => Some((Field::Time, TIME)),
            b'f' => Some((Field::F, F)),
            b'k' => Some((Field::Key, KEY)),
            b'v' => Some((Field::Value, VALUE)),
            _ => None,
        })
    }

    /// An event's type written plainly, read as [`Scanner::known_name`] reads names.
    #[inline(always)]
    fn known_kind(&mut self) -> Option<Kind> {
        self.known(|word| match word as u8 {
            b'i' if word & INVOKE.1 == INVOKE.0 => Some((Kind::Invoke, INVOKE)),
            b'i' => Some((Kind::Info, INFO)),
            b'o' => Some((Kind::Ok, OK)),
            b'f' => Some((Kind::Fail, FAIL)),
            _ => None,
        })
    }

    /// The quoted text that comes next, if `candidate` (given the word after the opening
    /// quote) names the one it could be and the word matches that one's [`quoted`] form.
    #[inline(always)]
    fn known<T>(&mut self, candidate: impl FnOnce(u64) -> Option<(T, Quoted)>) -> Option<T> {
        if self.text.get(self.at) != Some(&b'"') {
            return None;
        }
        let word = self.word_after()?;
        let (known, (pattern, mask, len)) = candidate(word)?;
        (word & mask == pattern).then(|| {
            self.at += 1 + len;
            known
        })
    }

    /// The next non-space byte, not consumed.
    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.text.get(self.at).copied()
    }

    /// The next non-space byte, consumed.
    #[inline(always)]
    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    #[inline(always)]
    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    /// Consumes `null` if it comes next.
    #[inline(always)]
    fn null(&mut self) -> bool {
        self.skip_space();
        let word = self.text.get(self.at..self.at + 4).and_then(|word| <[u8; 4]>::try_from(word).ok());
        if word == Some(*b"null") {
            self.at += 4;
            return true;
        }
        false
    }

    /// [`Scanner::string`] for an `f` or a key, packed as it is read if it is short.
    #[inline(always)]
    pub(super) fn name(&mut self) -> Option<Name<'t>> {
        self.skip_space();
        let (from, to) = self.string_span()?;
        let bytes = &self.text[from..to];
        let packed = match self.text.get(from..from + 16) {
            Some(window) => Name::packed_in(window.try_into().ok()?, bytes.len()),
            None => crate::op_table::packed(bytes),
        };
        Some(Name { bytes, packed })
    }

    /// A string without escapes or control characters, borrowed.
    #[inline(always)]
    pub(super) fn string(&mut self) -> Option<&'t str> {
        let (from, to) = self.string_span()?;
        std::str::from_utf8(&self.text[from..to]).ok()
    }

    /// [`Scanner::string`] as where its text starts and ends, the closing quote consumed:
    /// UTF-8 text without escapes or control characters.
    #[inline(always)]
    fn string_span(&mut self) -> Option<(usize, usize)> {
        // Where the ASCII string ends: where a string does, or at a byte outside ASCII.
        let ends_ascii = |&b: &u8| ends_string(b) || b >= 0x80;
        self.expect(b'"')?;
        let start = self.at;
        let len = match self.text.get(start..start + 8) {
            // Eight bytes at once: the first that is a quote, a backslash, a control
            // character or outside ASCII. Each test sets a byte's top bit; a borrow moves
            // only to later bytes, past the first that is set for real.
            Some(bytes) => {
                let word = u64::from_le_bytes(bytes.try_into().ok()?);
                let zero = |x: u64| x.wrapping_sub(LOW_BITS) & !x & HIGH_BITS;
                let stop = zero(word ^ (LOW_BITS * u64::from(b'"')))
                    | zero(word ^ (LOW_BITS * u64::from(b'\\')))
                    | word.wrapping_sub(LOW_BITS * 0x20) & !word & HIGH_BITS
                    | word & HIGH_BITS;
                match stop {
                    0 => 8 + self.text[start + 8..].iter().position(ends_ascii)?,
                    stop => (stop.trailing_zeros() / 8) as usize,
                }
            }
            None => self.text[start..].iter().position(ends_ascii)?,
        };
        self.at += len;
        match self.text[self.at] {
            b'"' => {
                self.at += 1;
                Some((start, self.at - 1))
            }
            0x80.. => self.unicode_string(start),
            _ => None,
        }
    }

    /// [`Scanner::string_span`] from `start` for a string that has a byte outside ASCII:
    /// it must be UTF-8.
    #[inline(never)]
    fn unicode_string(&mut self, start: usize) -> Option<(usize, usize)> {
        let len = self.text[start..].iter().position(|&b| ends_string(b))?;
        let end = start + len;
        if self.text[end] != b'"' {
            return None;
        }
        std::str::from_utf8(&self.text[start..end]).ok()?;
        self.at = end + 1;
        Some((start, end))
    }

    /// A non-negative integer as JSON writes it (no sign, no leading zero), within u64.
    /// Without `SPACES` a fraction or exponent after its digits is not looked for: every
    /// such reading goes on to expect a byte that starts neither (a comma, a brace, a
    /// bracket, a field), and a line it fails on is read again with `SPACES`, which does.
    #[inline(always)]
    fn uint(&mut self) -> Option<u64> {
        self.skip_space();
        let start = self.at;
        if let Some(bytes) = self.text.get(start..start + 8) {
            // Eight bytes at once: how many digits lead them, then their value, without a
            // branch per digit. A byte is a digit when neither adding 0x46 nor taking
            // 0x30 sets its top bit; a carry or borrow moves only to later bytes, past
            // the first that is not a digit.
            let word = u64::from_le_bytes(bytes.try_into().ok()?);
            let not_digit = (word.wrapping_add(0x4646_4646_4646_4646)
                | word.wrapping_sub(0x3030_3030_3030_3030))
                & 0x8080_8080_8080_8080;
            let digits = (not_digit.trailing_zeros() / 8) as usize;
            if (1..8).contains(&digits) {
                let leading_zero = digits > 1 && bytes[0] == b'0';
                if leading_zero || SPACES && matches!(bytes[digits], b'.' | b'e' | b'E') {
                    return None;
                }
                self.at += digits;
                return Some(eight_digits(word << (8 * (8 - digits))));
            }
        }
        let digits = self.text[start..].iter().take_while(|d| d.is_ascii_digit()).count();
        // Up to 19 digits cannot overflow; more are added with care.
        let (easy, rest) = self.text[start..start + digits].split_at(digits.min(19));
        let mut n = easy.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        for &d in rest {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        self.at += digits;
        let leading_zero = digits > 1 && self.text[start] == b'0';
        let fraction = matches!(self.text.get(self.at), Some(b'.' | b'e' | b'E'));
        (digits > 0 && !leading_zero && !fraction).then_some(n)
    }

    /// `Some(None)` for the nemesis, `Some(Some(n))` for client `n`.
    #[inline(always)]
    fn process(&mut self) -> Option<Option<u64>> {
        if self.peek()? == b'"' {
            return match self.string()? {
                "nemesis" => Some(None),
                t => t.parse::<u64>().ok().map(Some),
            };
        }
        self.uint().map(Some)
    }

    /// An event's value: null, an integer, a string or a pair of integers read straight
    /// into their compact form, anything else parsed as JSON (and made compact later if
    /// it has a compact form, as a number too large for `i64` may).
    #[inline(always)]
    fn top_value(&mut self, value: &mut ScannedValue<'t>) -> Option<()> {
        // Each shape is written into `value` where it is read, never moved as a whole.
        let start = self.at;
        let read = match self.peek()? {
            b'n' if self.null() => {
                *value = ScannedValue::Compact(ValueRef::Null);
                true
            }
            b'0'..=b'9' => self.uint().map(|n| *value = ScannedValue::Compact(ValueRef::Int(n))).is_some(),
            b'-' => self.negative().map(|n| *value = ScannedValue::Compact(ValueRef::Neg(n))).is_some(),
            b'"' => {
                *value = ScannedValue::Compact(ValueRef::Str(self.string()?));
                true
            }
            b'[' => {
                self.small_pair().map(|(a, b)| *value = ScannedValue::Compact(ValueRef::Pair(a, b))).is_some()
            }
            _ => false,
        };
        if !read {
            self.at = start;
            *value = ScannedValue::Json(self.value(0)?);
        }
        Some(())
    }

    /// A negative integer within `i64`, written plainly (`-0` is left to serde_json).
    #[inline(always)]
    fn negative(&mut self) -> Option<i64> {
        self.expect(b'-')?;
        if !self.text.get(self.at)?.is_ascii_digit() {
            return None;
        }
        let n = self.uint()?;
        (n > 0).then_some(())?;
        i64::try_from(n).ok().map(|n| -n)
    }

    /// `[a, b]` of two integers within `i32`.
    #[inline(always)]
    fn small_pair(&mut self) -> Option<(i32, i32)> {
        self.expect(b'[')?;
        let a = self.small_int()?;
        self.expect(b',')?;
        let b = self.small_int()?;
        self.expect(b']')?;
        Some((a, b))
    }

    #[inline(always)]
    fn small_int(&mut self) -> Option<i32> {
        let n = match self.peek()? {
            b'-' => self.negative()?,
            b'0'..=b'9' => i64::try_from(self.uint()?).ok()?,
            _ => return None,
        };
        i32::try_from(n).ok()
    }

    /// A JSON value: the common ones here, the rest by serde_json.
    fn value(&mut self, depth: usize) -> Option<Value> {
        match self.peek()? {
            b'n' if self.null() => Some(Value::Null),
            b'0'..=b'9' => {
                let start = self.at;
                match self.uint() {
                    Some(n) => Some(Value::from(n)),
                    None => {
                        self.at = start;
                        self.general()
                    }
                }
            }
            b'-' => {
                let start = self.at;
                self.negative().map(Value::from).or_else(|| {
                    self.at = start;
                    self.general()
                })
            }
            b'"' => self.string().map(|s| Value::String(s.to_string())),
            b'[' if depth < MAX_DEPTH => {
                self.at += 1;
                let mut items = Vec::new();
                if self.peek()? == b']' {
                    self.at += 1;
                    return Some(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    match self.next()? {
                        b',' => {}
                        b']' => return Some(Value::Array(items)),
                        _ => return None,
                    }
                }
            }
            _ => self.general(),
        }
    }

    /// Any JSON value, by serde_json.
    fn general(&mut self) -> Option<Value> {
        let rest = &self.text[self.at..];
        let rest = rest.split(|&b| b == b'\n').next().unwrap_or(rest);
        let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<Value>();
        let value = values.next()?.ok()?;
        self.at += values.byte_offset();
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::jsonl;
    use crate::history::History;

    /// The table the general loader builds, if it takes the text.
    fn general(text: &str) -> Option<(OpTable, EventLines)> {
        let parsed = jsonl::parse(text).ok()?;
        let history = History::from_events(parsed.events).ok()?;
        Some((OpTable::from_history(&history).ok()?, parsed.lines.into()))
    }

    #[test]
    fn plain_lines_give_the_general_table() {
        let text = concat!(
            "{\"index\":0,\"time\":5,\"process\":2,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"a\",\"value\":1}\n",
            "\n",
            "{\"index\":1,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":null}\n",
            "{\"process\":3,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"a\",\"value\":[1, -2],\"node\":\"n1\"}\r\n",
            " { \"type\" : \"ok\" , \"process\" : 2 , \"f\":\"write\",\"value\":1,\"time\":null,\"extra\":{\"x\":[1.5]}}\n",
            "{\"process\":\"3\",\"type\":\"info\",\"f\":\"cas\",\"key\":\"a\",\"error\":\"timeout\",\"value\":[1,-2]}\n",
            "{\"process\":4,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n",
            "{\"process\":4,\"type\":\"ok\",\"f\":\"read\",\"value\":[\"x\",true,1e3,18446744073709551616,{}]}\n",
            "{\"process\":5,\"type\":\"invoke\",\"f\":\"read\",\"value\":-0.5}",
        );
        let fast = scan(text).expect("every line is plain");
        assert_eq!(Some(&fast), general(text).as_ref());
        assert_eq!(fast.1, EventLines::from(vec![1, 3, 4, 5, 6, 7, 8, 9]));
        assert_eq!(fast.0.len(), 4);
    }

    #[test]
    fn lines_in_written_order_give_the_general_table() {
        // The order faultline writes, with each optional field there or not, and lines
        // that start that way but are not quite it (read again in any order, or refused).
        let lines = [
            r#"{"index":0,"time":12,"process":1,"type":"invoke","f":"write","key":"k1","value":3}"#,
            r#"{"index":1,"process":1,"type":"ok","f":"write","key":"k1","value":3,"node":"n2"}"#,
            r#"{"index":2,"process":2,"type":"invoke","f":"cas","value":[3,-4]}"#,
            r#"{"index":3,"time":null,"process":2,"type":"fail","f":"cas","value":[3,-4],"error":"no"}"#,
            r#"{"index":4,"process":3,"type":"invoke","f":"read","key":null,"value":null}"#,
            r#"{"index":5,"process":3,"type":"info","f":"read","value":null,"error":null,"node":"n1"}"#,
            r#"{"index":6,"process":4,"type":"invoke","f":"read","value":null,"node":"n1","error":"x"}"#,
            r#"{"index":7,"process":"nemesis","type":"info","f":"start","value":"all"}"#,
            " \t \r",
            "",
            r#"{"index":8,"process":5,"type":"invoke","f":"write","key":"a key longer than a word","value":"héllo, wörld ✓"}"#,
            r#"{"index":9,"process":5,"type":"ok","f":"write","key":"a key longer than a word","value":"héllo, wörld ✓"}"#,
            r#"{ "index" : 10 , "process" : 4 , "type" : "ok" , "f" : "read" , "value" : "s" }  "#,
        ];
        for end in ["\n", "\r\n"] {
            let text = lines.join(end);
            let fast = scan(&text).expect("every line is plain");
            assert_eq!(Some(&fast), general(&text).as_ref());
            assert_eq!(fast.0.len(), 5);
            let mut scanner = Scanner::<false> { text: text.as_bytes(), at: 0 };
            let mut event = Scanned::EMPTY;
            scanner.written_order(&mut event).expect("the first line is in written order");
            assert_eq!(&text[scanner.at - end.len()..scanner.at], end, "its line end is consumed");
            assert_eq!(scanner.written_order(&mut event), Some(()), "and so is the second line");
        }
    }

    #[test]
    fn numbers_of_every_length_read_as_serde_reads_them() {
        let line = |value: &str| {
            format!(
                "{{\"index\":{value},\"process\":{value},\"type\":\"invoke\",\"f\":\"w\",\"value\":{value}}}"
            )
        };
        let mut digits = String::new();
        for n in 1..=22 {
            digits.push(char::from(b'0' + (n % 10) as u8));
            for number in [digits.clone(), format!("{digits}.5"), format!("{digits}e2"), format!("0{digits}")]
            {
                let text = line(&number);
                let fast = scan(&text);
                assert_eq!(fast, general(&text), "{number}");
                assert_eq!(fast.is_some(), n <= 20 && number == digits, "{number}");
                if let Some((table, _)) = fast {
                    let value = table.op_ref(0).value.to_value();
                    assert_eq!(value, serde_json::from_str::<Value>(&number).unwrap(), "{number}");
                }
            }
        }
        // One number in each place of a line otherwise in written order: a fraction or an
        // exponent after the digits, where the scan without spaces does not look for one.
        let places = [
            "{\"index\":N,\"process\":1,\"type\":\"invoke\",\"f\":\"w\",\"value\":1}",
            "{\"index\":0,\"time\":N,\"process\":1,\"type\":\"invoke\",\"f\":\"w\",\"value\":1}",
            "{\"index\":0,\"process\":N,\"type\":\"invoke\",\"f\":\"w\",\"value\":1}",
            "{\"index\":0,\"process\":1,\"type\":\"invoke\",\"f\":\"w\",\"value\":N}",
            "{\"index\":0,\"process\":1,\"type\":\"invoke\",\"f\":\"w\",\"value\":-N}",
            "{\"index\":0,\"process\":1,\"type\":\"invoke\",\"f\":\"w\",\"value\":[N,2]}",
            "{\"index\":0,\"process\":1,\"type\":\"invoke\",\"f\":\"w\",\"value\":[1,N]}",
            "{\"index\":0,\"process\":1,\"type\":\"invoke\",\"f\":\"w\",\"value\":[[N],2,3]}",
            "{\"index\":0,\"process\":1,\"type\":\"invoke\",\"f\":\"w\",\"value\":N,\"error\":\"e\"}",
        ];
        for place in places {
            for number in ["7", "7.5", "7e2", "7E-1", "12345.0", "1234567e1", "0.5", "0e1"] {
                let text = place.replace('N', number);
                assert_eq!(scan(&text), general(&text), "{text}");
            }
        }
        // Eight digits and more, then the end of the text or of the line.
        for text in [line("12345678"), format!("{}\n", line("99999999999"))] {
            assert_eq!(scan(&text), general(&text));
            assert!(scan(&text).is_some());
        }
    }

    #[test]
    fn anything_unusual_is_left_to_the_general_loader() {
        let ok = |rest: &str| format!("{{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"{rest}}}");
        let refused = [
            ok(",\"f\":\"read\""),                                                  // duplicate field
            "{\"process\":1,\"type\":\"invoke\",\"f\":\"re\\u0061d\"}".to_string(), // escape
            ok(",\"key\":\"a long key, then \\\" an escape\""),
            ok(",\"key\":\"a long key, then a\ttab\""),
            ok(",\"key\":\"a long key, then a\u{0}NUL\""),
            ok(",\"key\":\"a long key never closed}"),
            format!("{}\u{0}", ok("")),
            format!("\u{0}{}", ok("")),
            ok(",\"value\":1\u{0}"),
            ok(",\"index\":1.0"), // float index
            ok(",\"index\":01"),  // leading zero
            ok(",\"time\":-1"),
            "{\"process\":-1,\"type\":\"invoke\",\"f\":\"read\"}".to_string(),
            "{\"process\":\"bob\",\"type\":\"invoke\",\"f\":\"read\"}".to_string(),
            "{\"process\":1,\"type\":\"begin\",\"f\":\"read\"}".to_string(),
            "{\"process\":1,\"type\":\"invoke\"}".to_string(), // no f
            ok(",\"value\":[1,"),                              // truncated
            ok("} trailing"),
            ok(",\"key\":3"),
            ok(",\"value\":01"),
            ok(",\"value\":- 5"), // not JSON
            ok(",\"value\":[1,- 5,3]"),
            String::new(), // no events
        ];
        for text in refused {
            assert!(scan(&text).is_none(), "{text}");
        }
        // Histories that break a rule.
        let invoke = "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"a\"}\n";
        for second in [
            invoke.to_string(),
            "{\"process\":1,\"type\":\"ok\",\"f\":\"write\",\"key\":\"a\"}\n".into(),
            "{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"key\":\"b\"}\n".into(),
            "{\"process\":2,\"type\":\"ok\",\"f\":\"read\"}\n".into(),
        ] {
            assert!(scan(&format!("{invoke}{second}")).is_none(), "{second}");
            assert!(general(&format!("{invoke}{second}")).is_none(), "{second}");
        }
        let retired = format!("{invoke}{}{invoke}", invoke.replace("invoke", "info"));
        assert!(scan(&retired).is_none());
    }

    #[test]
    fn strings_outside_ascii_are_taken_only_as_utf8() {
        // Written order and any order; short and long strings; names, values, a
        // recorder's own field and a nested value.
        let lines = [
            "{\"index\":0,\"process\":1,\"type\":\"invoke\",\"f\":\"lire\",\"key\":\"clé\",\"value\":\"ça\"}",
            "{\"index\":1,\"process\":1,\"type\":\"ok\",\"f\":\"lire\",\"key\":\"clé\",\"value\":\"ça, déjà vu, naïve\"}",
            "{\"process\":2,\"type\":\"invoke\",\"f\":\"écrire\",\"key\":\"ключ номер один\",\"value\":[\"日本\",1]}",
            "{\"type\":\"fail\",\"process\":2,\"f\":\"écrire\",\"error\":\"délai\",\"nœud\":{\"ü\":\"€\"},\"value\":null}",
            // Never completed, so its names are compared with no other.
            "{\"index\":4,\"process\":3,\"type\":\"invoke\",\"f\":\"ŝanĝi\",\"key\":\"ĉefa\",\"value\":1}",
        ];
        let text = lines.join("\n");
        let whole = scan(&text).expect("UTF-8 strings are taken");
        assert_eq!(Some(&whole), general(&text).as_ref());
        assert_eq!(whole.0.len(), 3);
        // A byte that is not UTF-8, in each place a string can be and outside any.
        for line in lines {
            for at in line.match_indices(|c: char| !c.is_ascii()).map(|(at, _)| at).chain([line.len() - 1]) {
                let mut bytes = text.as_bytes().to_vec();
                let offset = text.find(line).unwrap() + at;
                bytes[offset] = 0xff;
                assert!(scan_bytes(&bytes, 1, Reading::jsonl(false)).is_none(), "0xff at {offset} of {line}");
                assert!(crate::format::load_bytes(&bytes, "t", crate::format::Format::Jsonl).is_err());
                // A lone continuation byte.
                bytes[offset] = 0x80;
                assert!(scan_bytes(&bytes, 1, Reading::jsonl(false)).is_none(), "0x80 at {offset} of {line}");
            }
        }
        // A sequence cut short by the closing quote.
        let at = text.find("clé\"").unwrap() + "cl".len();
        let cut = [&text.as_bytes()[..at], &[0xc3], &text.as_bytes()[at + "é".len()..]].concat();
        assert!(scan_bytes(&cut, 1, Reading::jsonl(false)).is_none());
    }

    #[test]
    fn processes_of_any_size_are_kept_across_pieces() {
        // Rounds of an invocation by each of a round's processes, then a completion by
        // each, so that a piece may end with any of them in flight; each round's large
        // processes are new.
        let mut text = String::new();
        let mut index = 0;
        for round in 0..30 {
            let processes = [0, 7, (1 << 31) - 1, (1 << 31) + round, (1 << 40) + round, u64::MAX - round];
            for kind in ["invoke", "ok"] {
                for p in processes {
                    text += &format!(
                        "{{\"index\":{index},\"process\":{p},\"type\":\"{kind}\",\"f\":\"read\",\"key\":\"k\",\"value\":null}}\n"
                    );
                    index += 1;
                }
            }
        }
        let whole = scan(&text).expect("plain lines");
        assert_eq!(Some(&whole), general(&text).as_ref());
        for pieces in [2, 3, 5] {
            assert_eq!(in_pieces(&text, pieces).as_ref(), Some(&whole), "{pieces} pieces");
        }
        let processes: Vec<u64> = (0..whole.0.len()).map(|at| whole.0.op_ref(at).process).collect();
        assert_eq!(processes[..6], [0, 7, (1 << 31) - 1, 1 << 31, 1 << 40, u64::MAX]);
        assert_eq!(processes[processes.len() - 1], u64::MAX - 29);
    }

    /// What the scan makes of `text` in `pieces` pieces.
    fn in_pieces(text: &str, pieces: usize) -> Option<(OpTable, EventLines)> {
        scan_in_pieces(text.as_bytes(), pieces, Reading::jsonl(false))
    }

    #[test]
    fn a_file_scanned_in_pieces_gives_the_table_of_one_scan() {
        use crate::gen::{generate, GenOptions};
        use crate::options::ModelKind;
        for (seed, model) in [(1, ModelKind::CasRegister), (2, ModelKind::Kv), (3, ModelKind::Set)] {
            let gen = GenOptions { ops: 3000, keys: 4, concurrency: 12, seed, model, violate: seed == 2 };
            let mut text = Vec::new();
            crate::format::write_jsonl(&generate(&gen), &mut text).unwrap();
            let text = String::from_utf8(text).unwrap();
            let whole = scan(&text).expect("generated text is plain");
            assert_eq!(Some(&whole), general(&text).as_ref());
            for pieces in [2, 3, 7, 40] {
                assert_eq!(in_pieces(&text, pieces).as_ref(), Some(&whole), "seed {seed}, {pieces} pieces");
            }
        }
    }

    /// A generated kv history of `ops` ops as JSON Lines.
    fn kv_text(ops: usize, keys: usize, concurrency: usize, seed: u64) -> String {
        use crate::gen::{generate, GenOptions};
        use crate::options::ModelKind;
        let gen = GenOptions { ops, keys, concurrency, seed, model: ModelKind::Kv, violate: false };
        let mut text = Vec::new();
        crate::format::write_jsonl(&generate(&gen), &mut text).unwrap();
        String::from_utf8(text).unwrap()
    }

    #[test]
    fn a_file_read_in_chunks_gives_the_table_of_one_scan() {
        let text = kv_text(2000, 3, 9, 5);
        // A byte-order mark, blank lines, a line far longer than a chunk, no final newline.
        let long = format!(
            "{{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"x\",\"value\":\"{}\"}}\n\n",
            "y".repeat(500)
        );
        let text = format!("\u{feff}\n{long}{}", text.trim_end());
        let whole = scan(text.trim_start_matches('\u{feff}')).expect("plain");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        std::fs::write(&path, &text).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        for (pieces, chunk) in [(1, 1 << 20), (1, 64), (2, 100), (3, 333), (8, 4096)] {
            for auto in [false, true] {
                let read = file_in_pieces(&file, text.len(), pieces, chunk, Reading::jsonl(auto));
                assert!(read.as_ref() == Some(&whole), "{pieces} pieces, chunks of {chunk}, auto {auto}");
            }
        }
        // What the general loader must decide is left to it.
        std::fs::write(&path, format!("{}\u{0}\n", &text[..text.len() / 2])).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let len = file.metadata().unwrap().len() as usize;
        assert!(file_in_pieces(&file, len, 2, 100, Reading::jsonl(false)).is_none());
    }

    #[test]
    fn a_thread_done_early_takes_half_of_what_another_has_left() {
        let text = kv_text(3000, 4, 7, 9);
        let whole = scan(&text).expect("plain");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        std::fs::write(&path, &text).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let len = text.len();
        // This thread's stretch is one line, the other thread's the rest: this one is done
        // at once and splits the other's, then the halves of what is left, and so on.
        let second = text.find('\n').unwrap() + 1;
        let mut split = 0;
        for _ in 0..20 {
            let (table, lines) =
                file_in_pieces_from(&file, len, &[0, second, len], 256, 4096, Reading::jsonl(false))
                    .expect("plain");
            assert_eq!((&table, &lines), (&whole.0, &whole.1));
            split = split.max(table.segments());
        }
        assert!(split > 2, "no stretch was ever split: {split} segments at most");
        // A rule broken across the halves is still left to the general loader.
        let broken = "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"key\":\"k0\",\"value\":1}\n";
        let end = text.rfind("\"type\":\"invoke\"").map(|at| text[..at].rfind('\n').unwrap() + 1).unwrap();
        let text = format!("{}{broken}{}", &text[..end], &text[end..]);
        assert!(scan(&text).is_none());
        std::fs::write(&path, &text).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        for _ in 0..5 {
            assert!(file_in_pieces_from(
                &file,
                text.len(),
                &[0, second, text.len()],
                256,
                4096,
                Reading::jsonl(false)
            )
            .is_none());
        }
    }

    #[test]
    fn a_rule_broken_across_pieces_is_left_to_the_general_loader() {
        let line =
            |p: u32, kind: &str, f: &str| format!("{{\"process\":{p},\"type\":\"{kind}\",\"f\":\"{f}\"}}\n");
        let filler: String =
            (0..50).map(|i| line(100 + i, "invoke", "read") + &line(100 + i, "ok", "read")).collect();
        let cases = [
            // An op invoked before the middle and completed after it: fine.
            (line(1, "invoke", "read") + &filler + &line(1, "ok", "read"), true),
            (line(1, "invoke", "read") + &filler + &line(1, "info", "read"), true),
            // A second invocation while one is open.
            (line(1, "invoke", "read") + &filler + &line(1, "invoke", "read"), false),
            // A completion of another f.
            (line(1, "invoke", "read") + &filler + &line(1, "ok", "write"), false),
            // A completion with nothing open.
            (filler.clone() + &filler + &line(1, "ok", "read"), false),
            // A process heard from after its op ended info.
            (
                line(1, "invoke", "read") + &line(1, "info", "read") + &filler + &line(1, "invoke", "read"),
                false,
            ),
            (
                line(1, "invoke", "read")
                    + &filler
                    + &line(1, "info", "read")
                    + &filler
                    + &line(1, "invoke", "read"),
                false,
            ),
        ];
        for (text, plain) in cases {
            let whole = scan(&text);
            assert_eq!(whole.is_some(), plain, "{text}");
            assert_eq!(whole.as_ref(), general(&text).as_ref(), "{text}");
            for pieces in [2, 3, 5, 9] {
                assert_eq!(in_pieces(&text, pieces), whole, "{pieces} pieces: {text}");
            }
        }
        // Bytes the general loader must report are never taken.
        assert!(scan_in_pieces(
            b"{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n\xff\n",
            1,
            Reading::jsonl(false)
        )
        .is_none());
        let nul = line(1, "invoke", "read") + "\0\n";
        assert!(in_pieces(&nul, 1).is_none() && in_pieces(&nul, 2).is_none());
        assert!(scan_in_pieces(b"[{:process 1}]", 1, Reading::jsonl(true)).is_none(), "not JSON Lines");
    }

    #[test]
    fn a_table_kept_in_pieces_checks_as_one_scan_does() {
        use crate::gen::{generate, GenOptions};
        use crate::options::{CheckOptions, ModelKind};
        // Large enough to be parsed in stretches, which must not cross a piece's start.
        for (model, violate) in [(ModelKind::CasRegister, false), (ModelKind::Kv, true)] {
            let gen = GenOptions { ops: 150_000, keys: 30, concurrency: 20, seed: 5, model, violate };
            let mut text = Vec::new();
            crate::format::write_jsonl(&generate(&gen), &mut text).unwrap();
            let text = String::from_utf8(text).unwrap();
            let whole = scan(&text).expect("generated text is plain").0;
            let options = CheckOptions { threads: 2, ..CheckOptions::new(model) };
            let expected = crate::check_table(&whole, &options).unwrap();
            for pieces in [2, 3, 5] {
                let (table, _) = in_pieces(&text, pieces).expect("generated text is plain");
                assert!(table.segments() >= 2, "{pieces} pieces are kept apart");
                for (from, to) in table.stretches(2) {
                    assert_eq!(table.ops_in(from, to).len(), to - from, "{from}..{to} lies in one piece");
                }
                let report = crate::check_table(&table, &options).unwrap();
                // A violation cancels the other keys' searches wherever they are, so the
                // states explored are the same only where nothing was cancelled.
                let explored = |r: &crate::CheckReport| (!violate).then_some(r.stats.states_explored);
                let seen =
                    (report.verdict, report.stats.ops, explored(&report), report.counterexample.clone());
                let wanted = (
                    expected.verdict,
                    expected.stats.ops,
                    explored(&expected),
                    expected.counterexample.clone(),
                );
                assert_eq!(seen, wanted, "{model}, {pieces} pieces");
            }
        }
    }

    #[test]
    fn generated_histories_read_the_same_both_ways() {
        use crate::gen::{generate, GenOptions};
        use crate::options::ModelKind;
        for model in [ModelKind::CasRegister, ModelKind::Kv, ModelKind::Set, ModelKind::Mutex] {
            let gen = GenOptions { ops: 400, keys: 3, concurrency: 6, seed: 7, model, violate: true };
            let mut text = Vec::new();
            crate::format::write_jsonl(&generate(&gen), &mut text).unwrap();
            let text = String::from_utf8(text).unwrap();
            let fast = scan(&text).unwrap_or_else(|| panic!("{model}: generated text is plain"));
            assert_eq!(Some(fast), general(&text), "{model}");
        }
    }
}
