//! `faultline cleanup`: remove what crashed runs of the network-namespace backend left.
//!
//! By default every run whose owning process is dead (and every faultline namespace,
//! bridge, veth or guard table no record accounts for); runs with a live owner are left
//! alone, since other runs may be going on. `--tag TAG` removes that one run whatever the
//! state of its owner; `--dry-run` lists what would go. With `--ssh HOSTS_FILE`, the SSH
//! hosts are cleaned instead (see `crate::ssh::cleanup`): every faultline run directory,
//! node process group and nft table on them, or only run `--tag`'s. Prints one line per object removed
//! (processes killed included) and exits 0; bad flags exit 254, a failure of the host's
//! tools 255.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::netns::{preflight, teardown, RunTag};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove only this run's objects (its tag: 1 to 8 characters of a-z, 0-9), even if its
    /// owner still runs.
    #[arg(long)]
    pub tag: Option<String>,
    /// List what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Clean these SSH hosts (a hosts file, as for `faultline test --ssh`) instead of this
    /// machine's namespaces.
    #[arg(long, value_name = "HOSTS_FILE", conflicts_with = "dry_run")]
    pub ssh: Option<PathBuf>,
    /// The private key for --ssh.
    #[arg(long, value_name = "KEY", requires = "ssh")]
    pub ssh_key: Option<PathBuf>,
    /// A known_hosts file that must list every --ssh host.
    #[arg(long, value_name = "FILE", requires = "ssh")]
    pub ssh_known_hosts: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let tag = match args.tag.as_deref().map(RunTag::new).transpose() {
        Ok(tag) => tag,
        Err(e) => {
            eprintln!("faultline: error: {e:#}");
            return Ok(ExitCode::from(crate::EXIT_BAD_INPUT));
        }
    };
    let mut print = |line: String| crate::outln!("{line}");
    if let Some(hosts) = &args.ssh {
        let targets = match crate::ssh::hosts::load(hosts) {
            Ok(targets) => targets,
            Err(e) => {
                eprintln!("faultline: error: {e:#}");
                return Ok(ExitCode::from(crate::EXIT_BAD_INPUT));
            }
        };
        let options =
            crate::ssh::SshOptions { key: args.ssh_key.clone(), known_hosts: args.ssh_known_hosts.clone() };
        let remotes = crate::ssh::Remotes::connect(&targets, &options)?;
        crate::ssh::cleanup::clean(&remotes, tag.as_ref(), &mut print)?;
        return Ok(ExitCode::SUCCESS);
    }
    preflight()?;
    match tag {
        Some(tag) => teardown::cleanup_tag(&tag, args.dry_run, &mut print)?,
        None => teardown::cleanup_dead(args.dry_run, &mut print, &mut |line| eprintln!("faultline: {line}"))?,
    }
    Ok(ExitCode::SUCCESS)
}
