//! Fuzz the edn loader: any bytes give a history or a one-line error, never a panic, and a
//! loaded history survives a round trip through the native format unchanged.
#![no_main]

use checkers::format::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    checkers::format::assert_loader_properties(data, Format::Edn);
});
