//! The bank workload: transfers between accounts, and reads of every account at once.
//!
//! A transfer is one transaction (check the source holds the amount, subtract, add), so a
//! correct system conserves the total and never shows a negative balance; every `ok` read
//! of all accounts must sum to the initial total (`checkers::bank`). The accounts are
//! opened with their initial balances by [`BankParams::setup`] before the workload starts.

use nodes::api::{Request, TxnOp};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::op::Op;

/// Parameters of the bank workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankParams {
    pub accounts: Vec<String>,
    /// Every account's balance before the first transfer.
    pub initial_balance: i64,
    /// Transfers move `1..=max_transfer`. Optional in a stored spec: a re-check needs only
    /// the accounts and their balance.
    #[serde(default = "default_max_transfer")]
    pub max_transfer: i64,
}

fn default_max_transfer() -> i64 {
    BankParams::default().max_transfer
}

impl Default for BankParams {
    fn default() -> Self {
        BankParams {
            accounts: (0..5).map(|i| format!("a{i}")).collect(),
            initial_balance: 20,
            max_transfer: 5,
        }
    }
}

impl BankParams {
    /// What every read must sum to.
    pub fn total(&self) -> i64 {
        self.initial_balance * self.accounts.len() as i64
    }

    /// The transaction that opens every account with its initial balance.
    pub fn setup(&self) -> Request {
        Request::Txn {
            ops: self
                .accounts
                .iter()
                .map(|a| TxnOp::Write { key: a.clone(), value: self.initial_balance })
                .collect(),
        }
    }
}

/// The bank generator.
#[derive(Debug, Clone)]
pub struct BankGenerator {
    params: BankParams,
}

impl BankGenerator {
    pub fn new(params: BankParams) -> BankGenerator {
        assert!(params.accounts.len() >= 2 && params.max_transfer >= 1, "{params:?}");
        BankGenerator { params }
    }

    pub fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Op {
        let accounts = &self.params.accounts;
        if rng.gen_bool(0.4) {
            return Op::ReadAccounts { accounts: accounts.clone() };
        }
        let from = rng.gen_range(0..accounts.len());
        // A different account: skip over `from`.
        let mut to = rng.gen_range(0..accounts.len() - 1);
        if to >= from {
            to += 1;
        }
        Op::Transfer {
            from: accounts[from].clone(),
            to: accounts[to].clone(),
            amount: rng.gen_range(1..=self.params.max_transfer),
        }
    }

    /// The read of every account each node answers once the faults heal: what the
    /// cluster settled on must sum to the total too.
    pub fn final_read(&self) -> Op {
        Op::ReadAccounts { accounts: self.params.accounts.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn transfers_go_between_distinct_accounts_and_reads_cover_all() {
        let params = BankParams::default();
        let mut generator = BankGenerator::new(params.clone());
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (mut transfers, mut reads) = (0, 0);
        for _ in 0..500 {
            match generator.next_op(&mut rng) {
                Op::Transfer { from, to, amount } => {
                    assert_ne!(from, to);
                    assert!((1..=params.max_transfer).contains(&amount));
                    transfers += 1;
                }
                Op::ReadAccounts { accounts } => {
                    assert_eq!(accounts, params.accounts);
                    reads += 1;
                }
                other => panic!("not a bank op: {other:?}"),
            }
        }
        assert!(transfers > 0 && reads > 0);
        assert_eq!(params.total(), 100);
    }
}
