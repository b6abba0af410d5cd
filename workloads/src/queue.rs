//! The queue workload: enqueues of unique elements and dequeues, on one queue, then a
//! drain (Jepsen's queue workload, judged by its `total-queue` analysis).
//!
//! An enqueue is a one-step transaction that appends the element to a list, and a dequeue
//! one that pops the list's head (`TxnOp::Pop`), answering the element or, on an empty
//! queue, null. After the faults heal the harness dequeues until the queue answers empty
//! ([`QueueGenerator::final_dequeue`]); those dequeues are ordinary operations of the
//! history. Each element is enqueued once, so an acknowledged element that never comes out
//! although the queue was seen empty after it is missing, and one that comes out twice is
//! duplicated, with nothing to confuse them with.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::op::Op;

/// Parameters of the queue workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueParams {
    /// The queue's key.
    pub key: String,
    /// Percent of operations that enqueue; the rest dequeue. At half the queue stays
    /// short, so dequeues often find it empty and every element is soon judged.
    pub enqueue_percent: u8,
}

impl Default for QueueParams {
    fn default() -> Self {
        QueueParams { key: "q".to_string(), enqueue_percent: 50 }
    }
}

/// The queue generator's state: the next unused element.
#[derive(Debug, Clone)]
pub struct QueueGenerator {
    params: QueueParams,
    next_element: i64,
}

impl QueueGenerator {
    pub fn new(params: QueueParams) -> QueueGenerator {
        assert!(params.enqueue_percent <= 100, "{params:?}");
        QueueGenerator { params, next_element: 1 }
    }

    pub fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Op {
        let key = self.params.key.clone();
        if rng.gen_range(0..100) < self.params.enqueue_percent {
            let element = self.next_element;
            self.next_element += 1;
            Op::Enqueue { key, element }
        } else {
            Op::Dequeue { key }
        }
    }

    /// The dequeue the harness repeats after healing until the queue answers empty.
    pub fn final_dequeue(params: &QueueParams) -> Op {
        Op::Dequeue { key: params.key.clone() }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn elements_are_unique_and_dequeues_are_mixed_in() {
        let mut generator = QueueGenerator::new(QueueParams::default());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let ops: Vec<Op> = (0..1000).map(|_| generator.next_op(&mut rng)).collect();
        let elements: Vec<i64> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Enqueue { element, .. } => Some(*element),
                _ => None,
            })
            .collect();
        assert_eq!(elements, (1..=elements.len() as i64).collect::<Vec<_>>());
        assert!((400..600).contains(&elements.len()), "{} enqueues", elements.len());
        assert!(ops.iter().all(|op| op.key() == Some("q")));
    }
}
