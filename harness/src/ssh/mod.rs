//! The SSH backend: nodes on hosts reached over SSH with the system's OpenSSH, as Jepsen
//! runs them.
//!
//! A hosts file (`hosts`) names one host per node; [`session::Remotes`] holds one control
//! master per host; [`SshHost`] starts, signals and wipes nodes there, and [`SshNetwork`]
//! cuts links with nftables rules on the receiving host. Everything a run creates on a
//! host is named after its tag (`layout`) and written by the shell scripts of `scripts`;
//! `cleanup` removes what a crashed run left. `crate::lab` builds hosts to test all of it
//! on one machine.

pub mod cleanup;
pub mod host;
pub mod hosts;
pub mod layout;
pub mod network;
pub mod quote;
pub mod scripts;
pub mod session;

pub use host::SshHost;
pub use hosts::SshTarget;
pub use network::SshNetwork;
pub use session::{Remotes, SshOptions};
