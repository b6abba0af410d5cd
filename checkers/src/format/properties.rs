//! The promises every loader keeps, as one assertion the fuzz targets (`checkers/fuzz`) and
//! the regression tests share: any bytes give a validated history or an error that fits on
//! one line and names the file; a loaded history has dense indices, a line for every event,
//! and reads back unchanged from the native format. The table loader
//! ([`super::load_table`], the command-line check's path) agrees with it on every input:
//! the same error, or the same operations and lines. So does the table loader of
//! `jepsen.independent` histories ([`super::load_table_independent`]) with the general
//! loader and [`super::split_independent`].

use super::{
    load_bytes, load_table, load_table_independent, split_independent, table_of, write_jsonl, Format,
};
use crate::op_table::OpTable;

/// Load `bytes` as `format` and panic if a promise is broken.
pub fn assert_loader_properties(bytes: &[u8], format: Format) {
    let table = load_table(bytes, "input", format);
    let independent = load_table_independent(bytes, "input", format);
    for (table, split) in [(&table, false), (&independent, true)] {
        let Some(reading) = super::bytes_reading(bytes, format, split) else { continue };
        // Scanned in pieces, as a large file is, the table is the same.
        if let Some((pieces, lines)) = super::jsonl_table::scan_in_pieces(bytes, 3, reading) {
            let whole = table.as_ref().expect("a table scanned in pieces is one the loader takes");
            assert_eq!((&pieces, &lines), (&whole.table, &whole.lines), "the table scanned in pieces");
            assert_eq!(whole.format, reading.format, "the format of the table scanned in pieces");
        }
    }
    let general = load_bytes(bytes, "input", format);
    let split = general.clone().and_then(|loaded| table_of(split_independent(loaded, "input")?, "input"));
    assert_eq!(independent, split, "the independent table loader and the general loader's split");
    if let Err(e) = &split {
        let text = e.to_string();
        assert!(!text.contains('\n') && !text.contains('\r'), "multi-line error: {text:?}");
        assert!(text.starts_with("input"), "error does not name the file: {text:?}");
    }
    match general {
        Err(e) => {
            assert_eq!(table.as_ref().err(), Some(&e), "the table loader gives the same error");
            let text = e.to_string();
            assert!(!text.contains('\n') && !text.contains('\r'), "multi-line error: {text:?}");
            assert!(text.starts_with("input"), "error does not name the file: {text:?}");
            if let Some(line) = e.line {
                let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
                assert!(line >= 1 && line <= lines, "line {line} outside 1..={lines}: {text:?}");
            }
        }
        Ok(loaded) => {
            let events = loaded.history.events();
            assert!(!events.is_empty(), "an empty history loaded");
            assert_eq!(loaded.lines.len(), events.len(), "a line for every event");
            for (i, event) in events.iter().enumerate() {
                assert_eq!(event.index, i as u64, "indices are dense");
            }
            let _ = loaded.history.operations();
            let table = table.unwrap_or_else(|e| panic!("the table loader refused a valid history: {e}"));
            assert_eq!(
                table.table,
                OpTable::from_history(&loaded.history).unwrap(),
                "the table loader's ops"
            );
            assert_eq!((table.format, &table.lines), (loaded.format, &loaded.lines), "its format and lines");
            let mut native = Vec::new();
            write_jsonl(events, &mut native).expect("writing to memory");
            let again = load_bytes(&native, "native", Format::Jsonl)
                .unwrap_or_else(|e| panic!("native form does not load: {e}"));
            assert_eq!(again.history, loaded.history, "native round trip changed the history");
        }
    }
}
