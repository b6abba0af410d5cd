//! Inputs the fuzz targets (`checkers/fuzz`) found to break a loader, each kept in
//! `tests/fuzz_regressions/` and replayed through every format with the same assertion the
//! fuzz targets make.

use std::path::Path;

use checkers::format::{assert_loader_properties, Format};

fn replay(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for format in Format::ALL {
        assert_loader_properties(&bytes, format);
    }
}

/// `auto` target: detection read an EDN line on after an invalid string escape (`\`
/// before a byte-order mark) and sliced the text inside the multi-byte character.
#[test]
fn invalid_escape_before_multibyte_char() {
    replay("invalid-escape-before-multibyte-char");
}

/// A float such as `12E27` was parsed to a neighbour of its nearest double, so writing
/// the history out and reading it back changed the value: serde_json's exact float
/// parsing (`float_roundtrip`) is on.
#[test]
fn float_that_reads_back_inexactly() {
    replay("float-that-reads-back-inexactly");
}

#[test]
fn every_kept_input_is_replayed_by_a_named_test() {
    let source = include_str!("fuzz_regressions.rs");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(source.contains(&format!("replay(\"{name}\")")), "{name} has no test");
    }
}
