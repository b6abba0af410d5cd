//! `faultline report RUN_DIR`: (re)write a run directory's `report.html` from its files.
//!
//! The report is a pure function of the directory (see `results::report`), so running this
//! again after `faultline check` re-judged a run, or on a run from an older version, gives
//! the page the files describe now. Exit 0 when written, 254 when the directory is not a run.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run directory (or a store's `latest` link).
    pub run_dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let run = match results::RunDir::open(&args.run_dir) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("faultline: error: {e:#}");
            return Ok(ExitCode::from(crate::EXIT_BAD_INPUT));
        }
    };
    let path = results::report::write_report(&run)?;
    crate::outln!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}
