//! faultline-results: the store, where every run leaves a directory a person can read.
//!
//! A run lives in `<store>/<test-name>/<timestamp>/` and `<store>/latest` points at the most
//! recent one. Every file of a run is named, written and read here and nowhere else, so the
//! layout has one definition:
//!
//! | file             | written                          | content                              |
//! |------------------|----------------------------------|--------------------------------------|
//! | `run.json`       | at the start                     | [`RunInfo`]: spec, seed, model, argv |
//! | `history.jsonl`  | appended and flushed as it goes  | one `checkers::Event` per line       |
//! | `schedule.json`  | at the start                     | the fault schedule (replayable)      |
//! | `nodes/<id>.log` | by the node processes            | each node's own log                  |
//! | `data/<id>/`     | by the node processes            | each node's data (write-ahead log)   |
//! | `network.json`   | at the start, namespace runs     | namespaces and addresses to clean up |
//! | `net.json`       | at the end                       | the proxy's per-link counts          |
//! | `roles.json`     | at the end                       | [`RoleSample`]s: role, term per poll |
//! | `commit-log.json`| at the end (built-in nodes)      | committed-log samples of every node  |
//! | `results.json`   | at the end                       | [`RunResults`]: verdicts, stats      |
//!
//! A crashed run keeps what it had: the history is flushed in batches as events arrive, and
//! the other files are written whole (write to a temporary name, then rename).

pub mod history_file;
pub mod report;
pub mod roles;
pub mod run_dir;
pub mod run_info;
pub mod timestamp;

pub use history_file::{read_history, HistoryRead, HistoryWriter};
pub use roles::RoleSample;
pub use run_dir::{write_atomically, RunDir};
pub use run_info::{CheckResult, RunInfo, RunResults};
