//! The shell scripts run on an SSH host, as pure functions of paths and arguments.
//!
//! Each is POSIX sh, every word from outside quoted (see `quote`), and prints one word the
//! caller reads (`started <pid>`, `yes`/`no` for whether a signal took effect). A node runs
//! under `setsid`, so it leads its own process group and session; its group id goes to a
//! pid file (written to a temporary name and renamed, so it is never read half-written),
//! and every signal goes to the whole group. A process counts as alive when
//! `/proc/<pid>/stat` exists and does not say zombie: an orphaned node is reaped by
//! whatever the host's pid 1 is, which may be slow or never.

use std::path::Path;

use super::quote::quote;
use nodes::api::NodeId;

use crate::netns::RunTag;

/// Shell functions every script starts with.
const PRELUDE: &str =
    "alive() { s=$(cat /proc/$1/stat 2>/dev/null) || return 1; s=${s##*) }; [ \"${s%% *}\" != Z ]; }\n\
pgid() { cat \"$1\" 2>/dev/null; }\n";

/// How many 10 ms steps a script waits for a pid file or for a killed group to die.
const STEPS: u32 = 1000;

fn q(path: &Path) -> String {
    quote(&path.display().to_string())
}

/// Start `argv` (already quoted words) in its own session with stdout and stderr appended
/// to `log`, after creating `data_dir` and the log's directory; prints `started <pgid>`,
/// or `running <pgid>` and starts nothing if the node's group is alive.
pub fn start(pid_file: &Path, log: &Path, data_dir: &Path, argv: &[String]) -> String {
    let (pid, log_q) = (q(pid_file), q(log));
    let log_dir = log.parent().map(q).unwrap_or_else(|| ".".into());
    let pid_dir = pid_file.parent().map(q).unwrap_or_else(|| ".".into());
    format!(
        "{PRELUDE}set -e\n\
         p=$(pgid {pid}) || true\n\
         if [ -n \"$p\" ] && alive \"$p\"; then echo running \"$p\"; exit 0; fi\n\
         rm -f {pid}\n\
         mkdir -p {data} {log_dir} {pid_dir}\n\
         echo \"# faultline: started $(date -u +%Y-%m-%dT%H:%M:%SZ)\" >> {log_q}\n\
         setsid sh -c 'echo $$ > \"$0.tmp\" && mv \"$0.tmp\" \"$0\" && exec \"$@\"' {pid} {argv} >> {log_q} 2>&1 < /dev/null &\n\
         i=0\n\
         while [ ! -s {pid} ]; do i=$((i+1)); [ $i -lt {STEPS} ] || {{ echo 'no pid file' >&2; exit 1; }}; sleep 0.01; done\n\
         echo started $(pgid {pid})\n",
        data = q(data_dir),
        argv = argv.join(" "),
    )
}

/// Send `signal` (`KILL`, `STOP`, `CONT`) to the node's group; prints `yes` if the group
/// was alive, `no` otherwise. After `KILL`, waits until the leader is gone and removes
/// the pid file.
pub fn signal(pid_file: &Path, signal: &str) -> String {
    let pid = q(pid_file);
    let after_kill = if signal == "KILL" {
        format!(
            "i=0; while alive \"$p\"; do i=$((i+1)); [ $i -lt {STEPS} ] || {{ echo \"group $p survived SIGKILL\" >&2; exit 1; }}; sleep 0.01; done\n\
             rm -f {pid}\n"
        )
    } else {
        String::new()
    };
    format!(
        "{PRELUDE}p=$(pgid {pid}) || true\n\
         if [ -z \"$p\" ] || ! alive \"$p\"; then echo no; exit 0; fi\n\
         kill -{signal} -- -\"$p\"\n\
         {after_kill}echo yes\n"
    )
}

/// Delete the data directory and recreate it empty.
pub fn wipe(data_dir: &Path) -> String {
    let d = q(data_dir);
    format!("rm -rf {d} && mkdir -p {d}\n")
}

/// Print the file (a node's log); fails if there is none.
pub fn cat(path: &Path) -> String {
    format!("cat {}\n", q(path))
}

/// Which run directories and tables [`remove`] takes.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Node `id`'s directory of run `tag`, and the run's table.
    Node(&'a RunTag, NodeId),
    /// Every directory and the table of run `tag`.
    Run(&'a RunTag),
    /// Every faultline run's.
    All,
}

/// Kill the group of every run directory in `scope` under `base`, remove those directories
/// and the scope's nft tables (named `table_prefix` and the tag); prints one line per
/// thing removed. Hosts that share a file system may remove the same directory at once,
/// so a directory that is gone afterwards counts as removed, however it went.
pub fn remove(base: &Path, scope: Scope<'_>, table_prefix: &str) -> String {
    let base = q(base);
    let (pattern, table_pattern) = match scope {
        Scope::Node(tag, id) => (quote(&format!("{tag}-{id}")), quote(&format!("{table_prefix}{tag}"))),
        Scope::Run(tag) => (format!("{}-*", quote(tag.as_str())), quote(&format!("{table_prefix}{tag}"))),
        Scope::All => ("*".to_string(), format!("{}*", quote(table_prefix))),
    };
    format!(
        "{PRELUDE}status=0\n\
         for d in {base}/{pattern}; do\n\
         \t[ -d \"$d\" ] || continue\n\
         \tp=$(pgid \"$d/node.pid\") || true\n\
         \tif [ -n \"$p\" ] && alive \"$p\"; then kill -KILL -- -\"$p\" 2>/dev/null && echo \"killed process group $p\"; fi\n\
         \ti=0; while [ -n \"$p\" ] && alive \"$p\" && [ $i -lt {STEPS} ]; do i=$((i+1)); sleep 0.01; done\n\
         \trm -rf \"$d\" 2>/dev/null\n\
         \tif [ -e \"$d\" ]; then echo \"cannot remove $d\" >&2; status=1; else echo \"removed $d\"; fi\n\
         done\n\
         rmdir {base} 2>/dev/null || true\n\
         if command -v nft >/dev/null; then\n\
         \tfor t in $(nft list tables inet 2>/dev/null | sed -n 's/^table inet //p'); do\n\
         \t\tcase \"$t\" in {table_pattern}) nft delete table inet \"$t\" && echo \"removed nft table inet $t\";; esac\n\
         \tdone\n\
         fi\n\
         exit $status\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_quotes_and_records_the_group() {
        let script = start(
            Path::new("/tmp/f/ab-1/node.pid"),
            Path::new("/tmp/f/ab-1/nodes/1.log"),
            Path::new("/tmp/f/ab-1/data/1"),
            &["/usr/bin/etcd".into(), "'a b'".into()],
        );
        assert!(script.contains("setsid sh -c"), "{script}");
        assert!(
            script.contains("/tmp/f/ab-1/node.pid /usr/bin/etcd 'a b' >> /tmp/f/ab-1/nodes/1.log 2>&1"),
            "{script}"
        );
        assert!(script.contains("mkdir -p /tmp/f/ab-1/data/1 /tmp/f/ab-1/nodes /tmp/f/ab-1"), "{script}");
    }

    #[test]
    fn signals_go_to_the_group() {
        let kill = signal(Path::new("/x/node.pid"), "KILL");
        assert!(kill.contains("kill -KILL -- -\"$p\""), "{kill}");
        assert!(kill.contains("rm -f /x/node.pid"), "{kill}");
        let stop = signal(Path::new("/x/node.pid"), "STOP");
        assert!(stop.contains("kill -STOP -- -\"$p\"") && !stop.contains("rm -f"), "{stop}");
        let tag = RunTag::new("ab").unwrap();
        let node = remove(Path::new("/tmp/faultline-ssh"), Scope::Node(&tag, 2), "faultline_ssh_");
        assert!(node.contains("for d in /tmp/faultline-ssh/ab-2; do"), "{node}");
        let one = remove(Path::new("/tmp/faultline-ssh"), Scope::Run(&tag), "faultline_ssh_");
        assert!(one.contains("for d in /tmp/faultline-ssh/ab-*; do"), "{one}");
        assert!(one.contains("case \"$t\" in faultline_ssh_ab)"), "{one}");
        let all = remove(Path::new("/tmp/faultline-ssh"), Scope::All, "faultline_ssh_");
        assert!(all.contains("for d in /tmp/faultline-ssh/*; do"), "{all}");
        assert!(all.contains("faultline_ssh_*)"), "{all}");
        assert_eq!(wipe(Path::new("/d 1")), "rm -rf '/d 1' && mkdir -p '/d 1'\n");
    }
}
