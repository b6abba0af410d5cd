//! One module per subcommand.

pub mod check;
pub mod cleanup;
pub mod gen;
pub mod lab;
pub mod matrix;
pub mod node;
pub mod report;
pub mod serve;
pub mod test;
