//! `faultline lab up|down`: a lab of SSH hosts on this machine (see `crate::lab`).
//!
//! `up` prints the hosts file on stdout (and where the key and known_hosts are on stderr);
//! `down` prints one line per thing removed. Bad flags exit 254; a failure 255.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::lab;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Build N network namespaces, each running its own sshd, and print their hosts file.
    Up {
        /// How many hosts.
        #[arg(long, default_value_t = 3)]
        nodes: u32,
        /// The lab's directory (keys, configurations, hosts file, state).
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
    },
    /// Kill the lab's sshd's and remove its namespaces, bridge and files.
    Down {
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
    },
}

/// Where a lab lives unless `--dir` says otherwise.
pub const DEFAULT_DIR: &str = "/tmp/faultline-lab";

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Up { nodes, dir } => {
            if !(1..=lab::MAX_NODES).contains(&nodes) {
                eprintln!("faultline: error: --nodes must be between 1 and {}, got {nodes}", lab::MAX_NODES);
                return Ok(ExitCode::from(crate::EXIT_BAD_INPUT));
            }
            let state = lab::up(nodes, &dir)?;
            let dir = dir.canonicalize()?;
            let hosts = std::fs::read_to_string(lab::hosts_path(&dir))?;
            crate::out!("{hosts}");
            eprintln!(
                "faultline: lab {} up on {}: faultline test --ssh {} --ssh-key {} --ssh-known-hosts {}",
                state.tag,
                state.subnet,
                lab::hosts_path(&dir).display(),
                lab::client_key_path(&dir).display(),
                lab::known_hosts_path(&dir).display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Action::Down { dir } => {
            lab::down(&dir, &mut |line| crate::outln!("{line}"))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
