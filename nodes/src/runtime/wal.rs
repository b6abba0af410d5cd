//! The write-ahead log: an append-only file of checksummed records in the data directory.
//!
//! Layout of `DIR/wal.log`: the header line `faultline-wal v1\n`, then records, each
//!
//! ```text
//! u32 BE length N | u32 BE crc32(length bytes) | u32 BE crc32(payload) | N bytes of payload
//! ```
//!
//! The length has its own checksum so that a damaged length in the middle of the file is
//! recognised as corruption instead of being mistaken for the end of the log.
//!
//! Durability: [`Wal::append`] only buffers; [`Wal::sync`] writes the buffer and fdatasyncs,
//! so one fsync covers every record of a step (or of several steps, group commit). The
//! runtime calls `sync` before releasing any send or reply of those steps. [`Wal::rewrite`]
//! replaces the log atomically: a temporary file is written and fsynced, renamed over the
//! log, and the directory is fsynced, so a crash leaves either the old log or the new one.
//!
//! Recovery ([`Wal::open`]) returns every complete record. A torn tail (a last record cut
//! short by a crash: the file ends before the record's declared length, or zero-filled
//! blocks where its header should be) is truncated with a warning: it was never synced, so
//! nothing that depended on it left the node. Any other damage is corruption and refuses
//! to start, naming the offset: damage followed by further records, and equally a last
//! record that is complete (all its declared bytes are there, its length checksum holds)
//! but whose payload checksum does not. A crash cannot produce that shape; dropping it
//! would silently forget a record that may have been synced and acted upon (a vote, an
//! acknowledged write).
//!
//! A data directory created here is fsynced into its parent (and each directory created
//! with it into its own), so that a crash right after the first sync cannot lose the
//! directory entry, and with it the whole log.
//!
//! An open log holds an exclusive lock on `DIR/lock`, so two nodes never append to one log
//! (say, a restart racing a process that is still dying). The kernel drops the lock when the
//! process dies, kill -9 included.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use super::crc32::crc32;

/// The first bytes of every log file.
pub const MAGIC: &[u8] = b"faultline-wal v1\n";

/// Bytes before each record's payload.
pub const RECORD_HEADER_BYTES: usize = 12;

/// The log's file name inside the data directory.
pub const FILE_NAME: &str = "wal.log";

const TEMP_NAME: &str = "wal.log.tmp";

const LOCK_NAME: &str = "lock";

/// One record read back at recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Byte offset of the record's header in the file, for error messages.
    pub offset: u64,
    pub payload: Vec<u8>,
}

/// What recovery found.
#[derive(Debug)]
pub struct Recovery {
    pub records: Vec<Recovered>,
    /// Bytes of torn tail cut off the end of the file (0 if it ended cleanly).
    pub truncated_bytes: u64,
}

/// An open write-ahead log.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    file: File,
    /// Records appended but not yet written and synced.
    pending: Vec<u8>,
    /// Held for as long as the log is open.
    _lock: DirLock,
}

impl Wal {
    /// Open (creating if needed) the log in `dir` and recover its records.
    pub fn open(dir: &Path) -> anyhow::Result<(Wal, Recovery)> {
        create_dir_durably(dir).with_context(|| format!("creating data directory {}", dir.display()))?;
        let lock = DirLock::acquire(dir)?;
        let path = dir.join(FILE_NAME);
        let temp = dir.join(TEMP_NAME);
        if temp.exists() {
            // A rewrite that crashed before its rename: the old log is still the truth.
            fs::remove_file(&temp).with_context(|| format!("removing stale {}", temp.display()))?;
        }
        if !path.exists() {
            write_atomically(dir, &[]).with_context(|| format!("creating {}", path.display()))?;
        }
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let scan = scan(&bytes).with_context(|| format!("recovering {}", path.display()))?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {} for append", path.display()))?;
        let truncated_bytes = bytes.len() as u64 - scan.valid_len;
        if truncated_bytes > 0 {
            file.set_len(scan.valid_len)
                .and_then(|()| file.sync_all())
                .with_context(|| format!("truncating the torn tail of {}", path.display()))?;
        }
        let wal = Wal { dir: dir.to_path_buf(), file, pending: Vec::new(), _lock: lock };
        Ok((wal, Recovery { records: scan.records, truncated_bytes }))
    }

    /// Buffer one record; it is durable only after the next [`Wal::sync`].
    pub fn append(&mut self, payload: &[u8]) {
        encode_record(&mut self.pending, payload);
    }

    /// Whether records are waiting for [`Wal::sync`].
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Write every buffered record and fdatasync. After an error the log's state on disk
    /// is unknown: the caller must stop the node.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.pending)?;
        self.file.sync_data()?;
        self.pending.clear();
        Ok(())
    }

    /// Replace the whole log with `payloads`, atomically and durably. Buffered records not
    /// yet synced are discarded: the rewrite supersedes them.
    pub fn rewrite(&mut self, payloads: &[Vec<u8>]) -> io::Result<()> {
        self.pending.clear();
        write_atomically(&self.dir, payloads)?;
        self.file = OpenOptions::new().append(true).open(self.dir.join(FILE_NAME))?;
        Ok(())
    }
}

/// An exclusive advisory lock (flock) on the data directory's lock file.
#[derive(Debug)]
struct DirLock {
    /// Held open for the lock it carries; released when dropped.
    _file: File,
}

impl DirLock {
    #[allow(unsafe_code, reason = "flock(2): std's File::lock needs Rust 1.89")]
    fn acquire(dir: &Path) -> anyhow::Result<DirLock> {
        use std::os::fd::AsRawFd;
        let path = dir.join(LOCK_NAME);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: flock(2) on a descriptor owned by `file`, which outlives the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                bail!("data directory {} is in use by another node", dir.display());
            }
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
        Ok(DirLock { _file: file })
    }
}

/// Append one framed record to `out`.
pub fn encode_record(out: &mut Vec<u8>, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("a WAL record fits in u32").to_be_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc32(&len).to_be_bytes());
    out.extend_from_slice(&crc32(payload).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Write a complete log holding `payloads` to a temporary file, fsync it, rename it over
/// the log and fsync the directory.
fn write_atomically(dir: &Path, payloads: &[Vec<u8>]) -> io::Result<()> {
    let temp = dir.join(TEMP_NAME);
    let mut bytes = MAGIC.to_vec();
    for payload in payloads {
        encode_record(&mut bytes, payload);
    }
    let mut file = File::create(&temp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, dir.join(FILE_NAME))?;
    File::open(dir)?.sync_all()
}

/// Create `dir` and any missing ancestors, then fsync the parent of each directory
/// created, deepest first, so every new entry is durable. Returns the parents synced
/// (none when `dir` already existed).
fn create_dir_durably(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut created = Vec::new();
    let mut missing = Some(dir);
    while let Some(path) = missing.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        created.push(path.to_path_buf());
        missing = path.parent();
    }
    fs::create_dir_all(dir)?;
    let mut synced = Vec::new();
    for path in &created {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(parent)?.sync_all()?;
        synced.push(parent.to_path_buf());
    }
    Ok(synced)
}

struct Scan {
    records: Vec<Recovered>,
    /// Length of the prefix that holds the header and complete records.
    valid_len: u64,
}

fn scan(bytes: &[u8]) -> anyhow::Result<Scan> {
    if !bytes.starts_with(MAGIC) {
        bail!(
            "not a faultline write-ahead log (the file does not start with {:?})",
            String::from_utf8_lossy(MAGIC)
        );
    }
    let mut records = Vec::new();
    let mut pos = MAGIC.len();
    let torn = |records, pos: usize| Ok(Scan { records, valid_len: pos as u64 });
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        if rest.len() < RECORD_HEADER_BYTES {
            return torn(records, pos);
        }
        let word = |i: usize| u32::from_be_bytes(rest[i..i + 4].try_into().expect("4 bytes"));
        let (len, len_crc, payload_crc) = (word(0), word(4), word(8));
        if crc32(&len.to_be_bytes()) != len_crc {
            if rest.iter().all(|&b| b == 0) {
                return torn(records, pos);
            }
            bail!("corrupt record header at byte {pos} (length checksum mismatch) with data after it");
        }
        let end = RECORD_HEADER_BYTES + len as usize;
        if rest.len() < end {
            return torn(records, pos);
        }
        let payload = &rest[RECORD_HEADER_BYTES..end];
        if crc32(payload) != payload_crc {
            if rest.len() == end {
                bail!(
                    "corrupt last record at byte {pos} (payload checksum mismatch in a complete \
                     record of {len} bytes: damage, not a torn write)"
                );
            }
            bail!("corrupt record at byte {pos} (payload checksum mismatch) with data after it");
        }
        records.push(Recovered { offset: pos as u64, payload: payload.to_vec() });
        pos += end;
    }
    Ok(Scan { records, valid_len: pos as u64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads(recovery: &Recovery) -> Vec<&[u8]> {
        recovery.records.iter().map(|r| r.payload.as_slice()).collect()
    }

    fn log_path(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join(FILE_NAME)
    }

    fn write_three(dir: &Path) {
        let (mut wal, recovery) = Wal::open(dir).unwrap();
        assert!(recovery.records.is_empty());
        for p in [&b"one"[..], b"two", b"three"] {
            wal.append(p);
        }
        wal.sync().unwrap();
    }

    #[test]
    fn synced_records_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        write_three(dir.path());
        let (_wal, recovery) = Wal::open(dir.path()).unwrap();
        assert_eq!(payloads(&recovery), vec![&b"one"[..], b"two", b"three"]);
        assert_eq!(recovery.truncated_bytes, 0);
    }

    #[test]
    fn unsynced_records_are_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        wal.append(b"kept");
        wal.sync().unwrap();
        wal.append(b"never synced");
        assert!(wal.has_pending());
        drop(wal);
        let (_wal, recovery) = Wal::open(dir.path()).unwrap();
        assert_eq!(payloads(&recovery), vec![&b"kept"[..]]);
    }

    #[test]
    fn every_torn_tail_is_truncated_and_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        write_three(dir.path());
        let full = fs::read(log_path(&dir)).unwrap();
        let last_start = full.len() - (RECORD_HEADER_BYTES + b"three".len());
        // Cut the last record at every possible byte.
        for cut in last_start + 1..full.len() {
            fs::write(log_path(&dir), &full[..cut]).unwrap();
            let (mut wal, recovery) = Wal::open(dir.path()).unwrap();
            assert_eq!(payloads(&recovery), vec![&b"one"[..], b"two"], "cut at {cut}");
            assert_eq!(recovery.truncated_bytes, (cut - last_start) as u64);
            wal.append(b"four");
            wal.sync().unwrap();
            drop(wal);
            let (_wal, recovery) = Wal::open(dir.path()).unwrap();
            assert_eq!(payloads(&recovery), vec![&b"one"[..], b"two", b"four"], "cut at {cut}");
        }
    }

    #[test]
    fn a_zero_filled_tail_is_torn_not_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        write_three(dir.path());
        let mut bytes = fs::read(log_path(&dir)).unwrap();
        bytes.extend(std::iter::repeat_n(0u8, 4096));
        fs::write(log_path(&dir), &bytes).unwrap();
        let (_wal, recovery) = Wal::open(dir.path()).unwrap();
        assert_eq!(recovery.records.len(), 3);
        assert_eq!(recovery.truncated_bytes, 4096);
    }

    #[test]
    fn a_last_record_cut_short_is_torn_and_everything_before_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        write_three(dir.path());
        let full = fs::read(log_path(&dir)).unwrap();
        // The header is whole and checks out; the payload ends one byte early.
        let cut = full.len() - 1;
        fs::write(log_path(&dir), &full[..cut]).unwrap();
        let (_wal, recovery) = Wal::open(dir.path()).unwrap();
        assert_eq!(payloads(&recovery), vec![&b"one"[..], b"two"]);
        assert_eq!(recovery.truncated_bytes, (RECORD_HEADER_BYTES + b"three".len() - 1) as u64);
        assert_eq!(
            fs::read(log_path(&dir)).unwrap().len(),
            full.len() - RECORD_HEADER_BYTES - b"three".len()
        );
    }

    /// Regression: a complete last record with a bad payload checksum used to be dropped
    /// as a torn tail, forgetting a record that may have been synced and acted upon.
    #[test]
    fn a_complete_last_record_with_a_damaged_payload_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        write_three(dir.path());
        let mut bytes = fs::read(log_path(&dir)).unwrap();
        let last_start = bytes.len() - (RECORD_HEADER_BYTES + b"three".len());
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        fs::write(log_path(&dir), &bytes).unwrap();
        let err = format!("{:#}", Wal::open(dir.path()).unwrap_err());
        assert!(err.contains(&format!("corrupt last record at byte {last_start}")), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
        // Nothing was truncated: the evidence is kept.
        assert_eq!(fs::read(log_path(&dir)).unwrap(), bytes);
    }

    #[test]
    fn a_new_data_directory_is_synced_into_its_parent() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data").join("1");
        let synced = create_dir_durably(&dir).unwrap();
        assert!(dir.is_dir());
        assert_eq!(synced, vec![root.path().join("data"), root.path().to_path_buf()]);
        assert!(create_dir_durably(&dir).unwrap().is_empty(), "an existing directory needs no sync");
        let (_wal, recovery) = Wal::open(&root.path().join("other")).unwrap();
        assert!(recovery.records.is_empty());
    }

    #[test]
    fn corruption_in_the_middle_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        write_three(dir.path());
        let original = fs::read(log_path(&dir)).unwrap();
        let first = MAGIC.len();
        // A flipped payload byte, and a flipped length byte, of the first record.
        for at in [first + RECORD_HEADER_BYTES, first + 3] {
            let mut bytes = original.clone();
            bytes[at] ^= 0x40;
            fs::write(log_path(&dir), &bytes).unwrap();
            let err = format!("{:#}", Wal::open(dir.path()).unwrap_err());
            assert!(err.contains(&format!("at byte {first}")), "{err}");
            // Nothing was truncated: the evidence is kept.
            assert_eq!(fs::read(log_path(&dir)).unwrap(), bytes);
        }
    }

    #[test]
    fn rewrite_replaces_everything_including_unsynced_records() {
        let dir = tempfile::tempdir().unwrap();
        write_three(dir.path());
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        wal.append(b"superseded");
        wal.rewrite(&[b"snapshot".to_vec()]).unwrap();
        wal.append(b"after");
        wal.sync().unwrap();
        drop(wal);
        let (_wal, recovery) = Wal::open(dir.path()).unwrap();
        assert_eq!(payloads(&recovery), vec![&b"snapshot"[..], b"after"]);
        assert!(!dir.path().join(TEMP_NAME).exists());
    }

    #[test]
    fn a_stale_temp_file_from_a_crashed_rewrite_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        write_three(dir.path());
        fs::write(dir.path().join(TEMP_NAME), b"half a rewrite").unwrap();
        let (_wal, recovery) = Wal::open(dir.path()).unwrap();
        assert_eq!(recovery.records.len(), 3);
        assert!(!dir.path().join(TEMP_NAME).exists());
    }

    #[test]
    fn one_data_directory_serves_one_log_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let (first, _) = Wal::open(dir.path()).unwrap();
        let err = format!("{:#}", Wal::open(dir.path()).unwrap_err());
        assert!(err.contains("in use by another node"), "{err}");
        drop(first);
        Wal::open(dir.path()).unwrap();
    }

    #[test]
    fn a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(log_path(&dir), b"something else entirely").unwrap();
        let err = format!("{:#}", Wal::open(dir.path()).unwrap_err());
        assert!(err.contains("not a faultline write-ahead log"), "{err}");
    }
}
