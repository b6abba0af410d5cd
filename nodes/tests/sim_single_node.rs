//! A cluster of one: every protocol of this crate's first three serves writes and reads
//! alone (no peer to wait for), and survives a restart.

use nodes::api::{Request, Response};
use nodes::protocol::Protocol;
use nodes::protocols::pb::{PbAsync, PbSync};
use nodes::protocols::twopc::TwoPc;
use nodes::sim::{OpState, Sim, SimConfig};

fn serves_alone<P: Protocol>() {
    let mut sim = Sim::<P>::new(3, SimConfig::new(1));
    sim.run_for(100);
    for i in 0..5 {
        let state = sim.call(1, Request::Put { key: "k".into(), value: i });
        assert!(state.is_ok(), "{}: {state:?}", P::NAME);
    }
    sim.crash_restart(1);
    sim.run_for(100);
    let read = sim.call(1, Request::Get { key: "k".into() });
    assert_eq!(read, OpState::Ok(Response::Value { value: Some(4) }), "{}", P::NAME);
}

#[test]
fn a_single_node_serves_writes_and_reads_and_recovers_them() {
    serves_alone::<PbAsync>();
    serves_alone::<PbSync>();
    serves_alone::<TwoPc>();
}
