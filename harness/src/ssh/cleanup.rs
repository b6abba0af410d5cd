//! Removing what runs left on SSH hosts (`faultline cleanup --ssh HOSTS_FILE [--tag T]`):
//! on every host, each node group of a faultline run directory is killed, the directories
//! are removed, and so are the runs' nft tables. Without a tag every run's leftovers go,
//! runs in progress included: a crashed controller cannot be told from a live one on
//! another machine, so this is for when no run is going on against these hosts.

use std::path::Path;

use super::layout;
use super::scripts;
use super::session::Remotes;
use crate::netns::RunTag;

/// Clean every host of `remotes`, reporting one line per thing removed (prefixed by the
/// node's id). The first host that failed is the error, after every host was tried.
pub fn clean(remotes: &Remotes, tag: Option<&RunTag>, report: &mut dyn FnMut(String)) -> anyhow::Result<()> {
    let scope = match tag {
        Some(tag) => scripts::Scope::Run(tag),
        None => scripts::Scope::All,
    };
    let script = scripts::remove(Path::new(layout::BASE), scope, layout::TABLE_PREFIX);
    let mut first_error = None;
    for (id, result) in remotes.run_everywhere(|_| script.clone()) {
        match result {
            Ok(out) => {
                for line in out.stdout.lines() {
                    report(format!("node {id}: {line}"));
                }
                if !out.success {
                    first_error.get_or_insert(anyhow::anyhow!(
                        "cleaning node {id}'s host: {}",
                        crate::netns::command::one_line(&out.stderr)
                    ));
                }
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}
