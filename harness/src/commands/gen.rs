//! `faultline gen` (being written).

use std::process::ExitCode;

#[derive(clap::Args, Debug, Default)]
pub struct Args {}

impl Args {
    pub fn default_run() -> Self {
        Args::default()
    }
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("faultline gen is not built yet")
}
