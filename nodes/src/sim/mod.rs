//! The deterministic in-process simulator (being written).
