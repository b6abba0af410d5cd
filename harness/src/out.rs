//! Standard output for what a command reports, without `println!`'s panic when the reader
//! has gone (`faultline check a b c | head -1`): the rest of what there was to say is
//! dropped, and the command finishes its work (every file checked, every result written)
//! and exits with the code it would have had. Diagnostics go to stderr as before.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once standard output has refused a write; nothing more is written to it.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `args` to standard output unless it has closed. A write that fails for another
/// reason than a departed reader is said once on stderr.
pub fn write(args: std::fmt::Arguments<'_>) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("faultline: error: writing to standard output: {e}");
        }
    }
}

/// `print!` through [`write`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))
    };
}

/// `println!` through [`write`].
#[macro_export]
macro_rules! outln {
    () => {
        $crate::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}
