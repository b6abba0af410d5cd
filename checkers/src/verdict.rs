//! The three-valued verdict every checker returns.

use serde::{Deserialize, Serialize};

/// What a checker concluded. Ordered worst-last, so that [`Verdict::merge`] (and `max`) keeps
/// the worst: `Invalid` beats `Unknown` beats `Valid`. A checker that did not finish, ran out
/// of budget or failed says `Unknown`, never `Valid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Valid,
    Unknown,
    Invalid,
}

impl Verdict {
    /// The worse of two verdicts.
    pub fn merge(self, other: Verdict) -> Verdict {
        self.max(other)
    }

    /// The worst of many; `Unknown` for none at all (nothing checked is not a pass).
    pub fn merge_all(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        verdicts.into_iter().reduce(Verdict::merge).unwrap_or(Verdict::Unknown)
    }

    /// Jepsen's exit codes: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Unknown => "unknown",
            Verdict::Invalid => "invalid",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict::*;
    use super::*;

    #[test]
    fn the_worst_verdict_wins_and_nothing_is_not_a_pass() {
        assert_eq!(Valid.merge(Unknown), Unknown);
        assert_eq!(Unknown.merge(Invalid), Invalid);
        assert_eq!(Verdict::merge_all([Valid, Valid]), Valid);
        assert_eq!(Verdict::merge_all([]), Unknown);
    }
}
