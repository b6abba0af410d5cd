//! A compare-and-set register (Jepsen's `cas-register`, the etcd histories' model).
//!
//! `read` and `write` as in the plain register; `cas` with value `[from, to]` replaces
//! `from` by `to` and happens only if the register holds `from`. A cas that found another
//! value completes `fail`: it did not happen, so it is dropped before the search, as
//! Jepsen's knossos does. The step function is the register's with `cas` admitted.

use serde_json::Value;

use super::register::RegisterModel;

/// The cas-register model with the given initial value (nil when absent).
pub(crate) fn model(initial: Option<Value>) -> RegisterModel {
    RegisterModel::new(initial, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Operation, Outcome};
    use crate::model::register::RegisterOp;
    use crate::model::{Machine, Model};
    use crate::op_ref::OpRef;
    use crate::op_ref::ValueRef;
    use serde_json::json;

    fn op(f: &str, value: Value, outcome: Outcome) -> Operation {
        Operation {
            invoke_index: 7,
            complete_index: Some(8),
            process: 1,
            f: f.to_string(),
            key: None,
            value,
            outcome,
            invoke_time: None,
            complete_time: None,
        }
    }

    #[test]
    fn cas_values_must_be_pairs() {
        let m = model(None);
        assert_eq!(
            m.parse(OpRef::of(&op("cas", json!([1, 2]), Outcome::Ok(json!([1, 2]))))),
            Ok(Some(RegisterOp::Cas(ValueRef::Int(1), ValueRef::Int(2))))
        );
        let err = m.parse(OpRef::of(&op("cas", json!(3), Outcome::Fail))).unwrap_err();
        assert!(err.contains("[from, to]"), "{err}");
        assert!(m.parse(OpRef::of(&op("incr", json!(3), Outcome::Fail))).unwrap_err().contains("\"incr\""));
    }

    #[test]
    fn an_unknown_read_constrains_nothing() {
        let m = model(None);
        assert_eq!(m.parse(OpRef::of(&op("read", Value::Null, Outcome::Info))), Ok(None));
        assert_eq!(m.parse(OpRef::of(&op("read", Value::Null, Outcome::Fail))), Ok(None));
        assert_eq!(
            m.parse(OpRef::of(&op("read", Value::Null, Outcome::Ok(Value::Null)))),
            Ok(Some(RegisterOp::Read(ValueRef::Null)))
        );
    }

    #[test]
    fn the_initial_value_is_configurable() {
        let m = model(Some(json!(0)));
        let (zero, one) = (json!(0), json!(1));
        let ops = [RegisterOp::Cas(ValueRef::of(&zero), ValueRef::of(&one))];
        let refs: Vec<&RegisterOp> = ops.iter().collect();
        let mut machine = m.machine(&refs);
        let s = machine.step(machine.initial(), 0).unwrap();
        assert_eq!(machine.describe_state(s), json!(1));
    }
}
