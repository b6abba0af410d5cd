//! `faultline-node`: one node of one protocol. See `faultline-node --help` and
//! [`nodes::runtime`].

use std::process::ExitCode;

use clap::Parser;

/// One node of a replicated key-value store under test.
#[derive(Parser)]
#[command(
    name = "faultline-node",
    version,
    about = "One node of a replicated key-value store under test (faultline)"
)]
struct Cli {
    #[command(flatten)]
    node: nodes::runtime::NodeArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match nodes::runtime::run(cli.node) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faultline-node: error: {e:#}");
            ExitCode::from(nodes::runtime::failure_code(&e))
        }
    }
}
