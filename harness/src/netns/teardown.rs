//! Finding and removing a run's objects: by the network itself at shutdown, and by
//! `faultline cleanup` for runs that crashed.
//!
//! Objects are found by name on the host (`/run/netns`, `/sys/class/net`, `nft list
//! tables`) as well as from the run's record, so a run that died half-way through creating
//! its network is still cleaned up completely. Removal order: every process in the run's
//! namespaces is killed (SIGKILL, by the pids found in them) and waited for, then the veths
//! (which takes each namespace's `eth0` with it), the namespaces, the bridge, the guard
//! table and last the record. Removing what is already gone is not an error and is not
//! reported, so every step is idempotent.
//!
//! Which runs the default `faultline cleanup` removes: those whose record names an owner
//! that is dead, and objects with no record at all. Objects are listed *before* records,
//! and a run writes its record before creating anything, so an object seen without a
//! record cannot belong to a run that is still being set up.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::command::{one_line, run_tool};
use super::names::{parse_guard_table, parse_link, parse_namespace, RunTag};
use super::state::{self, RunRecord};

/// How long removal waits for killed processes to leave a namespace.
const KILL_DEADLINE: Duration = Duration::from_secs(10);
const KILL_POLL: Duration = Duration::from_millis(10);

/// The objects of one run present on the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Objects {
    pub namespaces: BTreeSet<String>,
    pub veths: BTreeSet<String>,
    pub bridge: Option<String>,
    pub guard_table: Option<String>,
    /// Whether the run's record file exists.
    pub record: bool,
}

/// One line of what a removal did (or would do, in a dry run).
pub type Report<'a> = &'a mut dyn FnMut(String);

/// Every faultline object on the host, by run tag (records not included).
pub fn discover_all() -> anyhow::Result<BTreeMap<RunTag, Objects>> {
    let mut found: BTreeMap<RunTag, Objects> = BTreeMap::new();
    for name in list_dir("/run/netns")? {
        if let Some((tag, _)) = parse_namespace(&name) {
            found.entry(tag).or_default().namespaces.insert(name);
        }
    }
    for name in list_dir("/sys/class/net")? {
        match parse_link(&name) {
            Some((tag, Some(_))) => {
                found.entry(tag).or_default().veths.insert(name);
            }
            Some((tag, None)) => found.entry(tag).or_default().bridge = Some(name),
            None => {}
        }
    }
    for table in guard_tables()? {
        if let Some(tag) = parse_guard_table(&table) {
            found.entry(tag).or_default().guard_table = Some(table);
        }
    }
    Ok(found)
}

/// The objects of one run: those on the host, those its record names that still exist,
/// and the record itself.
pub fn discover(tag: &RunTag, record: Option<&RunRecord>) -> anyhow::Result<Objects> {
    let mut objects = discover_all()?.remove(tag).unwrap_or_default();
    if let Some(record) = record {
        for node in record.nodes.values() {
            if namespace_exists(&node.namespace) {
                objects.namespaces.insert(node.namespace.clone());
            }
            if link_exists(&node.veth) {
                objects.veths.insert(node.veth.clone());
            }
        }
    }
    objects.record = state::record_path(tag).exists();
    Ok(objects)
}

/// Remove `objects` of run `tag`, reporting one line per object (and per process killed).
/// Best effort: every step is tried; the first failure is returned at the end.
pub fn remove(tag: &RunTag, objects: &Objects, dry_run: bool, report: Report) -> anyhow::Result<()> {
    let verb = if dry_run { "would remove" } else { "removed" };
    let mut errors: Vec<anyhow::Error> = Vec::new();
    for ns in &objects.namespaces {
        keep(&mut errors, kill_processes(ns, dry_run, report));
    }
    for veth in &objects.veths {
        let result = delete(&["link", "del", veth], || link_exists(veth), dry_run);
        keep(&mut errors, announce(result, || report(format!("{verb} veth {veth}"))));
    }
    for ns in &objects.namespaces {
        let result = delete(&["netns", "del", ns], || namespace_exists(ns), dry_run);
        keep(&mut errors, announce(result, || report(format!("{verb} namespace {ns}"))));
    }
    if let Some(bridge) = &objects.bridge {
        let result = delete(&["link", "del", bridge], || link_exists(bridge), dry_run);
        keep(&mut errors, announce(result, || report(format!("{verb} bridge {bridge}"))));
    }
    if let Some(table) = &objects.guard_table {
        let result = delete_guard_table(table, dry_run);
        keep(&mut errors, announce(result, || report(format!("{verb} nft table inet {table}"))));
    }
    // The record goes last, and only when everything else is gone: it is how a later
    // cleanup finds what is left.
    if objects.record && errors.is_empty() {
        let path = state::record_path(tag);
        let result = if dry_run { Ok(true) } else { state::remove_record(tag) };
        keep(&mut errors, announce(result, || report(format!("{verb} record {}", path.display()))));
    }
    match errors.into_iter().next() {
        Some(e) => Err(e.context(format!("removing the network of run {tag}"))),
        None => Ok(()),
    }
}

fn keep(errors: &mut Vec<anyhow::Error>, result: anyhow::Result<()>) {
    if let Err(e) = result {
        errors.push(e);
    }
}

/// Report a removal that happened; pass errors on.
fn announce(result: anyhow::Result<bool>, report: impl FnOnce()) -> anyhow::Result<()> {
    if result? {
        report();
    }
    Ok(())
}

/// Remove run `tag` whatever the state of its owner (`faultline cleanup --tag`).
pub fn cleanup_tag(tag: &RunTag, dry_run: bool, report: Report) -> anyhow::Result<()> {
    let record = state::list_records()?.remove(tag).and_then(Result::ok);
    let objects = discover(tag, record.as_ref())?;
    remove(tag, &objects, dry_run, report)
}

/// Remove every run whose owner is dead, and objects no record accounts for; runs with a
/// live owner are left alone and named through `skipped`.
pub fn cleanup_dead(dry_run: bool, report: Report, skipped: &mut dyn FnMut(String)) -> anyhow::Result<()> {
    // Objects first, then records: see the module documentation.
    let found = discover_all()?;
    let records = state::list_records()?;
    let tags: BTreeSet<RunTag> = found.keys().chain(records.keys()).cloned().collect();
    let mut first_error = None;
    for tag in tags {
        let record = records.get(&tag).and_then(|r| r.as_ref().ok());
        if let Some(record) = record {
            if state::owner_alive(record) {
                skipped(format!("run {tag} is live (owner pid {}): left alone", record.owner_pid));
                continue;
            }
        }
        let result = discover(&tag, record).and_then(|objects| remove(&tag, &objects, dry_run, report));
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The pids of processes in namespace `ns` (as `ip netns pids` finds them: by comparing
/// each process's network namespace with the named one).
pub fn namespace_pids(ns: &str) -> anyhow::Result<Vec<u32>> {
    let target = match std::fs::metadata(Path::new("/run/netns").join(ns)) {
        Ok(m) => (m.dev(), m.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading /run/netns/{ns}")),
    };
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").context("listing /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        // A process that exits meanwhile simply disappears from the listing.
        if let Ok(m) = std::fs::metadata(entry.path().join("ns/net")) {
            if (m.dev(), m.ino()) == target {
                pids.push(pid);
            }
        }
    }
    pids.sort_unstable();
    Ok(pids)
}

#[allow(unsafe_code, reason = "kill(2) of the namespace's processes")]
fn kill_processes(ns: &str, dry_run: bool, report: Report) -> anyhow::Result<()> {
    let pids = namespace_pids(ns)?;
    for &pid in &pids {
        if dry_run {
            report(format!("would kill process {pid} in namespace {ns}"));
            continue;
        }
        // SAFETY: kill(2) on a process found in the run's own namespace this instant.
        if unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) } == 0 {
            report(format!("killed process {pid} in namespace {ns}"));
        }
    }
    if dry_run || pids.is_empty() {
        return Ok(());
    }
    let until = Instant::now() + KILL_DEADLINE;
    loop {
        let left = namespace_pids(ns)?;
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= until {
            anyhow::bail!("processes {left:?} still in namespace {ns} {KILL_DEADLINE:?} after SIGKILL");
        }
        std::thread::sleep(KILL_POLL);
    }
}

/// Run `ip args`: `Ok(true)` when this call removed the object (a dry run assumes it
/// would), `Ok(false)` when it was already gone, an error if it is still there.
fn delete(args: &[&str], exists: impl Fn() -> bool, dry_run: bool) -> anyhow::Result<bool> {
    if dry_run {
        return Ok(true);
    }
    let out = run_tool("ip", args, None)?;
    if out.success {
        Ok(true)
    } else if exists() {
        anyhow::bail!("`ip {}` failed: {}", args.join(" "), one_line(&out.stderr))
    } else {
        Ok(false)
    }
}

fn delete_guard_table(table: &str, dry_run: bool) -> anyhow::Result<bool> {
    if dry_run {
        return Ok(true);
    }
    let out = run_tool("nft", &["delete", "table", "inet", table], None)?;
    if out.success {
        Ok(true)
    } else if guard_table_exists(table)? {
        anyhow::bail!("`nft delete table inet {table}` failed: {}", one_line(&out.stderr))
    } else {
        Ok(false)
    }
}

pub fn namespace_exists(ns: &str) -> bool {
    Path::new("/run/netns").join(ns).exists()
}

pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Whether the root namespace has table `inet name`.
pub fn guard_table_exists(name: &str) -> anyhow::Result<bool> {
    Ok(guard_tables()?.iter().any(|t| t == name))
}

/// Names of the root namespace's `inet` tables.
fn guard_tables() -> anyhow::Result<Vec<String>> {
    let out = run_tool("nft", &["list", "tables", "inet"], None)?;
    if !out.success {
        anyhow::bail!("`nft list tables inet` failed: {}", one_line(&out.stderr));
    }
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("table inet "))
        .map(|name| name.trim().to_string())
        .collect())
}

fn list_dir(dir: &str) -> anyhow::Result<Vec<String>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            Ok(entries.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("listing {dir}")),
    }
}
