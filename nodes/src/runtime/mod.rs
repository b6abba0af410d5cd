//! The runtime that executes protocol effects over real sockets and disks (being written).
