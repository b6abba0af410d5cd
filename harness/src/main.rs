//! `faultline`: the command line.
//!
//! One subcommand per file under `commands/`; each has an `Args` and a `run` that returns
//! the process's exit code. Exit codes follow Jepsen: 0 valid, 1 invalid, 2 unknown,
//! 254 bad arguments or unreadable input, 255 the harness itself failed.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use faultline::{commands, EXIT_BAD_INPUT, EXIT_INTERNAL};

#[derive(Parser)]
#[command(
    name = "faultline",
    version,
    about = "Fault-injection testing and consistency checking for replicated systems"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check recorded histories (faultline JSONL, Jepsen EDN, Porcupine logs) against a model.
    Check(commands::check::Args),
    /// Write a synthetic history (JSON Lines) to stdout, for tests and benchmarks.
    Gen(commands::gen::Args),
    /// Run a cluster through the fault proxy, inject faults, record and check the history.
    Test(commands::test::Args),
    /// Run every protocol under every fault and print the measured table, marked against the design.
    Matrix(commands::matrix::Args),
    /// (Re)write a run directory's report.html from its files.
    Report(commands::report::Args),
    /// Serve the store's runs and their reports on a local web page.
    Serve(commands::serve::Args),
    /// Remove the network namespaces, bridges and rules that crashed runs left.
    Cleanup(commands::cleanup::Args),
    /// A lab of SSH hosts on this machine: network namespaces, each running its own sshd.
    Lab(commands::lab::Args),
    /// Run one node of a protocol (the same node as `faultline-node`); used by the harness.
    #[command(hide = true)]
    Node(commands::node::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                _ => EXIT_BAD_INPUT,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Some(Command::Check(args)) => commands::check::run(args),
        Some(Command::Gen(args)) => commands::gen::run(args),
        Some(Command::Test(args)) => commands::test::run(args),
        Some(Command::Node(args)) => commands::node::run(args),
        Some(Command::Report(args)) => commands::report::run(args),
        Some(Command::Matrix(args)) => commands::matrix::run(args),
        Some(Command::Serve(args)) => commands::serve::run(args),
        Some(Command::Cleanup(args)) => commands::cleanup::run(args),
        Some(Command::Lab(args)) => commands::lab::run(args),
        // With no subcommand, run the default test: a small cluster, a workload, a fault.
        None => commands::test::run(commands::test::Args::default_run()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("faultline: error: {e:#}");
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}
