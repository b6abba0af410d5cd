//! One module per subcommand.

pub mod check;
pub mod gen;
pub mod test;
