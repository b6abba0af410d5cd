//! What a check is asked to do: the model and the budgets.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The sequential specification a history is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// `read` / `write` of one value.
    Register,
    /// `read` / `write` / `cas` with value `[from, to]`.
    CasRegister,
    /// `get` / `put` / `append` of strings under string keys.
    Kv,
    /// `add` of elements, `read` of the whole set; also checked for lost writes.
    Set,
    /// `acquire` / `release`.
    Mutex,
    /// `add` of an integer, `read` of the total.
    Counter,
}

impl ModelKind {
    /// Every model, in the order the command line lists them.
    pub const ALL: [ModelKind; 6] = [
        ModelKind::Register,
        ModelKind::CasRegister,
        ModelKind::Kv,
        ModelKind::Set,
        ModelKind::Mutex,
        ModelKind::Counter,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::Kv => "kv",
            ModelKind::Set => "set",
            ModelKind::Mutex => "mutex",
            ModelKind::Counter => "counter",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelKind::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| {
            format!("unknown model {s:?} (expected register, cas-register, kv, set, mutex, counter)")
        })
    }
}

/// How to check a history. Build with [`CheckOptions::new`] and set fields as needed.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOptions {
    pub model: ModelKind,
    /// The object's value before the first operation. `None` means nil for the registers,
    /// the empty string for every kv key (as in Porcupine's kv histories), the empty set,
    /// and a free mutex (a mutex takes no initial value).
    pub initial: Option<serde_json::Value>,
    /// Check each key as an independent object (P-compositionality). `false` checks a kv
    /// history as one map-valued object; the other models always split per key, because
    /// their operations on different keys are independent by definition.
    pub partition: bool,
    /// Give up and answer `Unknown` after this long.
    pub time_limit: Option<Duration>,
    /// Give up and answer `Unknown` once the search's own tables (memo, interned states)
    /// would pass this many bytes, counted by the checker rather than left to the OS.
    pub memory_limit_bytes: Option<u64>,
    /// Worker threads for independent partitions; 0 means one per available core.
    pub threads: usize,
}

impl CheckOptions {
    /// Per-key partitioning, no time or memory limit, all cores.
    pub fn new(model: ModelKind) -> Self {
        CheckOptions {
            model,
            initial: None,
            partition: true,
            time_limit: None,
            memory_limit_bytes: None,
            threads: 0,
        }
    }

    /// The number of worker threads this check will use at most.
    pub(crate) fn worker_threads(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            crate::threads::cores()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_round_trip_and_typos_are_refused() {
        for model in ModelKind::ALL {
            assert_eq!(model.to_string().parse::<ModelKind>(), Ok(model));
        }
        let err = "cas_register".parse::<ModelKind>().unwrap_err();
        assert!(err.contains("unknown model \"cas_register\""), "{err}");
    }

    #[test]
    fn defaults_partition_without_limits() {
        let options = CheckOptions::new(ModelKind::Kv);
        assert!(options.partition);
        assert_eq!(options.time_limit, None);
        assert_eq!(options.memory_limit_bytes, None);
        assert!(options.worker_threads() >= 1);
    }
}
