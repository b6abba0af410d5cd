//! The set workload: unique adds to one set, then a read from every node.
//!
//! Each element is added once, so an element missing from the final reads after an `ok`
//! add is a lost write, with nothing to confuse it with. The final reads (one per node,
//! after the faults heal) are issued by the harness; the generator only adds.

use serde::{Deserialize, Serialize};

use crate::op::Op;

/// Parameters of the set workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetParams {
    /// The set's key.
    pub key: String,
}

impl Default for SetParams {
    fn default() -> Self {
        SetParams { key: "s".to_string() }
    }
}

/// The set generator's state: the next unused element.
#[derive(Debug, Clone)]
pub struct SetGenerator {
    params: SetParams,
    next_element: i64,
}

impl SetGenerator {
    pub fn new(params: SetParams) -> SetGenerator {
        SetGenerator { params, next_element: 0 }
    }

    pub fn next_op(&mut self) -> Op {
        let element = self.next_element;
        self.next_element += 1;
        Op::Add { key: self.params.key.clone(), element }
    }

    /// The read each node answers after healing.
    pub fn final_read(&self) -> Op {
        Op::ReadSet { key: self.params.key.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_add_is_a_new_element() {
        let mut generator = SetGenerator::new(SetParams::default());
        let elements: Vec<Op> = (0..3).map(|_| generator.next_op()).collect();
        assert_eq!(elements, (0..3).map(|element| Op::Add { key: "s".into(), element }).collect::<Vec<_>>());
    }
}
