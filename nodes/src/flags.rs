//! The protocol options as command-line flags, declared once.
//!
//! The node (`faultline-node`, `faultline node`) and the controller (`faultline test`)
//! flatten the same [`ProtocolFlags`], so both spell every flag alike; the controller
//! hands what it was given to each node through [`ProtocolFlags::to_argv`]. A flag that is
//! not given leaves the protocol's own default ([`Options::default`]) in force, so the
//! controller passes on exactly what the user asked for and nothing else.

use clap::ValueEnum;

use crate::protocol::{Isolation, Options, ReadMode};
use crate::protocols::ProtocolName;

/// `--read`, `--heartbeat-ms`, ...: each, when given, overrides one field of [`Options`].
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct ProtocolFlags {
    /// How reads are served: quorum (linearizable), local (unsafe: stale reads under
    /// partition), or lease (raft only; unsafe under clock skew and pauses: the leader reads
    /// locally while its lease, shorter than the election timeout, holds on its own clock)
    /// [default: quorum].
    #[arg(long = "read", value_enum, value_name = "MODE")]
    pub read: Option<ReadMode>,

    /// How often a leader or primary tells the others it is alive, in milliseconds
    /// [default: 50].
    #[arg(long, value_name = "MS")]
    pub heartbeat_ms: Option<u64>,

    /// Lower bound of the randomized election (or failover) timeout, in milliseconds
    /// [default: 300].
    #[arg(long, value_name = "MS")]
    pub election_timeout_min_ms: Option<u64>,

    /// Upper bound of the randomized election (or failover) timeout, in milliseconds
    /// [default: 600].
    #[arg(long, value_name = "MS")]
    pub election_timeout_max_ms: Option<u64>,

    /// Raft, paxos, pb-async, pb-sync and 2pc: snapshot the state and compact the log after
    /// this many applied entries (slots for paxos, transactions for 2pc) (0: never)
    /// [default: 10000].
    #[arg(long, value_name = "N")]
    pub snapshot_every: Option<u64>,

    /// Most log entries a leader sends in one message [default: 256].
    #[arg(long, value_name = "N")]
    pub max_batch: Option<usize>,

    /// Paxos: run phase 1 for every value (the classic, unoptimised protocol).
    #[arg(long)]
    pub phase1_every_op: bool,

    /// 2pc only: how a transaction's reads are isolated: serializable, or read-committed
    /// (unsafe: reads answered from the committed state when the transaction arrives, writes
    /// applied when it commits, no locks between: lost updates) [default: serializable].
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub isolation: Option<Isolation>,
}

impl ProtocolFlags {
    /// The protocol options: the defaults, with every given flag applied.
    pub fn options(&self) -> Options {
        let default = Options::default();
        Options {
            heartbeat_ms: self.heartbeat_ms.unwrap_or(default.heartbeat_ms),
            election_timeout_min_ms: self.election_timeout_min_ms.unwrap_or(default.election_timeout_min_ms),
            election_timeout_max_ms: self.election_timeout_max_ms.unwrap_or(default.election_timeout_max_ms),
            read_mode: self.read.unwrap_or(default.read_mode),
            phase1_every_op: self.phase1_every_op || default.phase1_every_op,
            snapshot_every: self.snapshot_every.unwrap_or(default.snapshot_every),
            max_batch: self.max_batch.unwrap_or(default.max_batch),
            isolation: self.isolation.unwrap_or(default.isolation),
        }
    }

    /// What clap cannot check: each option's range, and the options offered by one protocol
    /// only. The node and the controller both ask, so a bad flag is refused before any node
    /// starts, in the words the node would use.
    pub fn validate(&self, protocol: ProtocolName) -> Result<(), String> {
        let o = self.options();
        let timing = [
            ("heartbeat-ms", o.heartbeat_ms),
            ("election-timeout-min-ms", o.election_timeout_min_ms),
            ("election-timeout-max-ms", o.election_timeout_max_ms),
        ];
        for (flag, ms) in timing {
            if !(1..=Self::MAX_TIMING_MS).contains(&ms) {
                return Err(format!("--{flag} must be between 1 and {}, got {ms}", Self::MAX_TIMING_MS));
            }
        }
        if o.election_timeout_min_ms > o.election_timeout_max_ms {
            return Err(format!(
                "--election-timeout-min-ms {} exceeds --election-timeout-max-ms {}",
                o.election_timeout_min_ms, o.election_timeout_max_ms
            ));
        }
        if o.max_batch == 0 {
            return Err("--max-batch must be positive, got 0".to_string());
        }
        if o.read_mode == ReadMode::Lease && protocol != ProtocolName::Raft {
            return Err(format!("--read lease is offered by raft only, not {}", protocol.as_str()));
        }
        if o.isolation != Isolation::Serializable && protocol != ProtocolName::TwoPc {
            return Err(format!("--isolation is offered by 2pc only, not {}", protocol.as_str()));
        }
        Ok(())
    }

    /// The longest heartbeat or election timeout taken: an hour.
    pub const MAX_TIMING_MS: u64 = 3_600_000;

    /// The given flags as a node's command line takes them, in a fixed order; empty when
    /// none was given.
    pub fn to_argv(&self) -> Vec<String> {
        let mut argv = Vec::new();
        let mut flag = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                argv.push(format!("--{name}"));
                argv.push(value);
            }
        };
        flag("read", self.read.and_then(|r| r.to_possible_value()).map(|v| v.get_name().to_string()));
        flag("heartbeat-ms", self.heartbeat_ms.map(|v| v.to_string()));
        flag("election-timeout-min-ms", self.election_timeout_min_ms.map(|v| v.to_string()));
        flag("election-timeout-max-ms", self.election_timeout_max_ms.map(|v| v.to_string()));
        flag("snapshot-every", self.snapshot_every.map(|v| v.to_string()));
        flag("max-batch", self.max_batch.map(|v| v.to_string()));
        flag(
            "isolation",
            self.isolation.and_then(|i| i.to_possible_value()).map(|v| v.get_name().to_string()),
        );
        if self.phase1_every_op {
            argv.push("--phase1-every-op".to_string());
        }
        argv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        flags: ProtocolFlags,
    }

    fn parse(argv: &[&str]) -> ProtocolFlags {
        Cli::try_parse_from(std::iter::once("node").chain(argv.iter().copied())).unwrap().flags
    }

    #[test]
    fn no_flag_leaves_every_default() {
        let flags = parse(&[]);
        assert_eq!(flags.options(), Options::default());
        assert!(flags.to_argv().is_empty());
    }

    #[test]
    fn to_argv_parses_back_to_the_same_flags() {
        let argv = [
            "--read",
            "local",
            "--heartbeat-ms",
            "20",
            "--election-timeout-min-ms",
            "100",
            "--election-timeout-max-ms",
            "200",
            "--snapshot-every",
            "0",
            "--max-batch",
            "8",
            "--isolation",
            "read-committed",
            "--phase1-every-op",
        ];
        let flags = parse(&argv);
        assert_eq!(flags.to_argv(), argv);
        assert_eq!(parse(&flags.to_argv().iter().map(String::as_str).collect::<Vec<_>>()), flags);
        let options = flags.options();
        assert_eq!((options.read_mode, options.heartbeat_ms, options.max_batch), (ReadMode::Local, 20, 8));
        assert!(options.phase1_every_op);
        assert_eq!(options.isolation, Isolation::ReadCommitted);
    }

    #[test]
    fn every_read_mode_round_trips_through_its_flag() {
        for mode in ReadMode::value_variants() {
            let flags = ProtocolFlags { read: Some(*mode), ..ProtocolFlags::default() };
            let argv = flags.to_argv();
            assert_eq!(parse(&argv.iter().map(String::as_str).collect::<Vec<_>>()).read, Some(*mode));
        }
        assert!(Cli::try_parse_from(["node", "--read", "sometimes"]).is_err());
    }

    #[test]
    fn the_help_states_the_protocol_defaults() {
        let help = Cli::command().render_long_help().to_string();
        let d = Options::default();
        for default in [
            format!("[default: {}]", d.heartbeat_ms),
            format!("[default: {}]", d.election_timeout_min_ms),
            format!("[default: {}]", d.election_timeout_max_ms),
            format!("[default: {}]", d.snapshot_every),
            format!("[default: {}]", d.max_batch),
            format!("[default: {}]", d.read_mode.to_possible_value().unwrap().get_name()),
            format!("[default: {}]", d.isolation.to_possible_value().unwrap().get_name()),
        ] {
            assert!(help.contains(&default), "the help does not say {default}:\n{help}");
        }
    }
}
