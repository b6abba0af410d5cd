//! faultline-workloads
