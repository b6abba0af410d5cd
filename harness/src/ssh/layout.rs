//! Where a run's things live on an SSH host, all named after the run's tag, so that one
//! run's leftovers can be told from another's and from everything else on the host.
//!
//! | object                        | name                                  |
//! |-------------------------------|---------------------------------------|
//! | node `i`'s run directory      | `/tmp/faultline-ssh/<tag>-<i>/`       |
//! | the uploaded node program     | `<run directory>/bin/faultline`       |
//! | the node's process group id   | `<run directory>/node.pid`            |
//! | the node's data and log       | under `<run directory>/`, at the paths they have under the local run directory |
//! | a system's configuration files | likewise, uploaded with local run paths in them rebased |
//! | the cuts (receiving host)     | nft table `inet faultline_ssh_<tag>`  |
//!
//! The directory carries the node id as well as the tag because several hosts may share
//! one file system (the lab's namespaces do): each node still gets its own directory.

use std::path::{Path, PathBuf};

use nodes::api::NodeId;

use crate::netns::RunTag;

/// The parent of every run directory on a host.
pub const BASE: &str = "/tmp/faultline-ssh";
/// Prefix of every run's nft table.
pub const TABLE_PREFIX: &str = "faultline_ssh_";

/// Node `id`'s run directory for run `tag`.
pub fn run_dir(tag: &RunTag, id: NodeId) -> PathBuf {
    Path::new(BASE).join(format!("{tag}-{id}"))
}

/// Where the node program is uploaded.
pub fn program(tag: &RunTag, id: NodeId) -> PathBuf {
    run_dir(tag, id).join("bin/faultline")
}

pub fn pid_file(tag: &RunTag, id: NodeId) -> PathBuf {
    run_dir(tag, id).join("node.pid")
}

/// Run `tag`'s nft table (family `inet`).
pub fn table(tag: &RunTag) -> String {
    format!("{TABLE_PREFIX}{tag}")
}

/// The tag of a run directory's name (`<tag>-<id>`).
pub fn parse_run_dir(name: &str) -> Option<RunTag> {
    let (tag, id) = name.split_once('-')?;
    id.parse::<NodeId>().ok()?;
    RunTag::new(tag).ok()
}

/// The tag of a table name made by [`table`].
pub fn parse_table(name: &str) -> Option<RunTag> {
    RunTag::new(name.strip_prefix(TABLE_PREFIX)?).ok()
}

/// `path` under the local run directory `local`, moved under the remote `remote`; other
/// paths unchanged.
pub fn rebase(path: &Path, local: &Path, remote: &Path) -> PathBuf {
    match path.strip_prefix(local) {
        Ok(rest) => remote.join(rest),
        Err(_) => path.to_path_buf(),
    }
}

/// An argument that names something under the local run directory (`--data-dir /run/x/data/1`
/// or `--data-dir=/run/x/data/1`), rewritten to the same place under the remote one.
pub fn rebase_arg(arg: &str, local: &Path, remote: &Path) -> String {
    let Some(local_text) = local.to_str() else { return arg.to_string() };
    let remote_text = remote.display().to_string();
    if arg == local_text || arg.starts_with(&format!("{local_text}/")) {
        return format!("{remote_text}{}", &arg[local_text.len()..]);
    }
    if let Some((flag, value)) = arg.split_once('=') {
        if value == local_text || value.starts_with(&format!("{local_text}/")) {
            return format!("{flag}={remote_text}{}", &value[local_text.len()..]);
        }
    }
    arg.to_string()
}

/// A configuration file's text with every path under the local run directory moved under
/// the remote one, as [`rebase_arg`] moves an argument: each occurrence of `local` that
/// is followed by `/`, whitespace, a quote or the end of the text.
pub fn rebase_text(text: &str, local: &Path, remote: &Path) -> String {
    let Some(local_text) = local.to_str().filter(|l| !l.is_empty()) else { return text.to_string() };
    let remote_text = remote.display().to_string();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(local_text) {
        let after = &rest[at + local_text.len()..];
        let ends =
            after.chars().next().is_none_or(|c| c == '/' || c.is_whitespace() || c == '"' || c == '\'');
        out.push_str(&rest[..at]);
        out.push_str(if ends { &remote_text } else { local_text });
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_tag_and_parse_back() {
        let tag = RunTag::new("r1234567").unwrap();
        assert_eq!(run_dir(&tag, 3), Path::new("/tmp/faultline-ssh/r1234567-3"));
        assert_eq!(program(&tag, 3), Path::new("/tmp/faultline-ssh/r1234567-3/bin/faultline"));
        assert_eq!(table(&tag), "faultline_ssh_r1234567");
        assert_eq!(parse_run_dir("r1234567-3"), Some(tag.clone()));
        assert_eq!(parse_table("faultline_ssh_r1234567"), Some(tag));
        for bad in ["r1234567", "R-1", "x-y", "a-b-1"] {
            assert_eq!(parse_run_dir(bad), None, "{bad}");
        }
        assert_eq!(parse_table("faultline_r1"), None);
        assert_eq!(crate::netns::names::parse_guard_table(&table(&RunTag::new("ab").unwrap())), None);
    }

    #[test]
    fn local_run_paths_move_under_the_remote_directory() {
        let (local, remote) = (Path::new("/store/t/20260101"), Path::new("/tmp/faultline-ssh/ab-1"));
        assert_eq!(rebase(&local.join("data/1"), local, remote), remote.join("data/1"));
        assert_eq!(rebase(Path::new("/usr/bin/etcd"), local, remote), Path::new("/usr/bin/etcd"));
        assert_eq!(rebase_arg("/store/t/20260101/data/1", local, remote), "/tmp/faultline-ssh/ab-1/data/1");
        assert_eq!(rebase_arg("--dir=/store/t/20260101/x", local, remote), "--dir=/tmp/faultline-ssh/ab-1/x");
        assert_eq!(rebase_arg("/store/t/202601011", local, remote), "/store/t/202601011");
        assert_eq!(rebase_arg("--name", local, remote), "--name");
        assert_eq!(
            rebase_text(
                "tickTime=500\ndataDir=/store/t/20260101/data/1\nx=/store/t/202601011\n",
                local,
                remote
            ),
            "tickTime=500\ndataDir=/tmp/faultline-ssh/ab-1/data/1\nx=/store/t/202601011\n"
        );
        assert_eq!(
            rebase_text("dir \"/store/t/20260101\"", local, remote),
            "dir \"/tmp/faultline-ssh/ab-1\""
        );
        assert_eq!(rebase_text("replicaof 10.0.0.1 6379\n", local, remote), "replicaof 10.0.0.1 6379\n");
    }
}
