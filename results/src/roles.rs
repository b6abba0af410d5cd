//! `roles.json`: every node's claimed role and term over the run, as the status poller saw
//! it. The split-brain and deposed-leader checks judge these samples; the report draws them
//! as the role lane above the operation timeline.
//!
//! The role is kept as the system's own word (`leader`, `primary`, `backup`, ...): the store
//! does not know the node crate's types, and a person reads the file.

use checkers::split_brain::Sample;
use serde::{Deserialize, Serialize};

/// Most samples a `roles.json` may hold when read back (a file past it is refused).
pub const MAX_ROLE_SAMPLES: usize = 1_000_000;

/// One answer to one status poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSample {
    pub node: u32,
    /// The poll was sent and answered at these run nanoseconds; the answer held at some
    /// instant between.
    pub sent_ns: u64,
    pub received_ns: u64,
    /// The role the node claimed (`leader`, `follower`, `candidate`, `primary`, ...).
    pub role: String,
    /// Whether that role orders writes (leader, primary, coordinator).
    pub leading: bool,
    /// Its term, epoch or ballot round.
    pub term: u64,
}

impl RoleSample {
    /// The sample as the checkers take it.
    pub fn sample(&self) -> Sample {
        Sample {
            node: self.node,
            sent_ns: self.sent_ns,
            received_ns: self.received_ns,
            leading: self.leading,
            term: self.term,
        }
    }
}

/// The samples as the checkers take them.
pub fn samples(roles: &[RoleSample]) -> Vec<Sample> {
    roles.iter().map(RoleSample::sample).collect()
}
