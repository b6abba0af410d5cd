//! `faultline node ...` (hidden): run one node, exactly as `faultline-node` does.
//!
//! The harness spawns its own executable with this subcommand, so a run needs no second
//! binary on the path. The flags are [`nodes::runtime::NodeArgs`].

use std::process::ExitCode;

pub type Args = nodes::runtime::NodeArgs;

/// Run the node until SIGTERM/SIGINT (exit 0) or a failure (reason on stderr; exit 1, or
/// [`nodes::runtime::EXIT_ADDRESS_IN_USE`] where a listen address was taken).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match nodes::runtime::run(args) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("faultline node: error: {e:#}");
            Ok(ExitCode::from(nodes::runtime::failure_code(&e)))
        }
    }
}
