//! The node's controllable clock: the time protocols see, skewable at run time.
//!
//! Protocols learn the time only through [`crate::protocol::Context::now_ms`], and that
//! value comes from here: real monotonic time since the node started, scaled by a `rate`,
//! plus an offset that `POST /admin/clock` can jump. Clock faults are how leases and
//! timeouts are tested (a fast clock fires timeouts early; a slow or held one stretches a
//! lease), so the node's timers run on this clock too: the actor converts a timer's
//! deadline to a real instant through [`SkewedClock::real_wait`], and re-plans after every
//! change, so a forward jump fires at once every timer that became due.
//!
//! The clock never goes backwards, as `CLOCK_MONOTONIC` promises: after a backward jump it
//! stands still until the raw value catches up with the last reading. Standing still is
//! what stretches a lease held by a node whose clock was set back.
//!
//! ```text
//! raw(t)  = base_us + (t - anchor) * rate          (re-anchored on every rate change)
//! now(t)  = max(raw(t), every earlier now)
//! ```

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Slowest and fastest rate `POST /admin/clock` accepts.
pub const MIN_RATE: f64 = 0.1;
pub const MAX_RATE: f64 = 10.0;
/// Largest single jump, either way (a day): beyond it arithmetic, not the protocol, is tested.
pub const MAX_JUMP_MS: i64 = 86_400_000;

/// One change asked of the clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClockChange {
    /// Move the clock by this many milliseconds (negative: back, which holds it still).
    Jump { ms: i64 },
    /// Run at this multiple of real time from now on.
    Rate { rate: f64 },
    /// Back to real time: rate 1, no offset (a backward step holds the clock still).
    Reset,
}

impl ClockChange {
    /// Parse `{"jump_ms": i64}`, `{"rate": f64}` or `{"reset": true}`; anything else is
    /// refused with a one-line reason.
    pub fn parse(body: &[u8]) -> Result<ClockChange, String> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("malformed JSON body: {e}"))?;
        let Some(object) = value.as_object() else {
            return Err("expected a JSON object: {\"jump_ms\": N}, {\"rate\": R} or {\"reset\": true}".into());
        };
        if object.len() != 1 {
            return Err(format!("expected exactly one of jump_ms, rate, reset; got {} fields", object.len()));
        }
        let (name, field) = object.iter().next().expect("one field");
        match name.as_str() {
            "jump_ms" => {
                let ms = field.as_i64().ok_or_else(|| format!("jump_ms must be an integer, got {field}"))?;
                if ms.abs() > MAX_JUMP_MS {
                    return Err(format!("jump_ms {ms} is beyond +-{MAX_JUMP_MS}"));
                }
                Ok(ClockChange::Jump { ms })
            }
            "rate" => {
                let rate = field.as_f64().ok_or_else(|| format!("rate must be a number, got {field}"))?;
                if !(MIN_RATE..=MAX_RATE).contains(&rate) {
                    return Err(format!("rate {rate} is outside [{MIN_RATE}, {MAX_RATE}]"));
                }
                Ok(ClockChange::Rate { rate })
            }
            "reset" if field == &serde_json::Value::Bool(true) => Ok(ClockChange::Reset),
            "reset" => Err(format!("reset must be true, got {field}")),
            other => Err(format!("unknown field {other:?}; expected jump_ms, rate or reset")),
        }
    }
}

/// What `POST /admin/clock` answers: the clock after the change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockReading {
    /// What protocols now see.
    pub now_ms: u64,
    /// `now_ms` minus real milliseconds since the node started (negative: behind).
    pub offset_ms: i64,
    pub rate: f64,
}

/// The clock itself. Pure arithmetic over real instants handed in, so it is tested without
/// waiting; [`SkewedClock::now_ms`] and friends read the real clock.
#[derive(Debug, Clone)]
pub struct SkewedClock {
    start: Instant,
    /// Real microseconds since `start` at the last rate change.
    anchor_us: i128,
    /// The raw clock (microseconds) at `anchor_us`.
    base_us: i128,
    rate: f64,
    /// The highest reading handed out: the clock never goes below it.
    floor_us: i128,
}

impl SkewedClock {
    pub fn new(start: Instant) -> Self {
        SkewedClock { start, anchor_us: 0, base_us: 0, rate: 1.0, floor_us: 0 }
    }

    fn real_us(&self, at: Instant) -> i128 {
        at.saturating_duration_since(self.start).as_micros() as i128
    }

    fn raw_us(&self, real_us: i128) -> i128 {
        self.base_us + ((real_us - self.anchor_us) as f64 * self.rate) as i128
    }

    /// The protocol's time at `at`, never below an earlier reading.
    pub fn now_ms_at(&mut self, at: Instant) -> u64 {
        let raw = self.raw_us(self.real_us(at));
        self.floor_us = self.floor_us.max(raw);
        (self.floor_us / 1000) as u64
    }

    pub fn now_ms(&mut self) -> u64 {
        self.now_ms_at(Instant::now())
    }

    /// Real milliseconds since the node started (request deadlines use real time).
    pub fn real_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// The real instant at which real time reaches `real_ms`.
    pub fn real_instant(&self, real_ms: u64) -> Instant {
        self.start + Duration::from_millis(real_ms)
    }

    /// How long, in real time from `at`, until the protocol's clock reaches `deadline_ms`.
    pub fn real_wait(&self, at: Instant, deadline_ms: u64) -> Duration {
        let raw = self.raw_us(self.real_us(at));
        let ahead_us = (deadline_ms as i128) * 1000 - raw;
        if ahead_us <= 0 {
            return Duration::ZERO;
        }
        // Round up so that the wake never comes before the deadline.
        let real_us = (ahead_us as f64 / self.rate).ceil() as u64;
        Duration::from_micros(real_us.saturating_add(1))
    }

    /// Apply `change` at `at` and report the clock after it.
    pub fn apply_at(&mut self, at: Instant, change: ClockChange) -> ClockReading {
        let real = self.real_us(at);
        let raw = self.raw_us(real);
        match change {
            ClockChange::Jump { ms } => {
                self.base_us = raw + i128::from(ms) * 1000;
                self.anchor_us = real;
            }
            ClockChange::Rate { rate } => {
                self.base_us = raw;
                self.anchor_us = real;
                self.rate = rate;
            }
            ClockChange::Reset => {
                self.base_us = real;
                self.anchor_us = real;
                self.rate = 1.0;
            }
        }
        self.reading_at(at)
    }

    pub fn apply(&mut self, change: ClockChange) -> ClockReading {
        self.apply_at(Instant::now(), change)
    }

    /// The clock as `POST /admin/clock` reports it.
    pub fn reading_at(&mut self, at: Instant) -> ClockReading {
        let now_ms = self.now_ms_at(at);
        let real_ms = (self.real_us(at) / 1000) as i64;
        ClockReading { now_ms, offset_ms: now_ms as i64 - real_ms, rate: self.rate }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn rate_scales_time_and_jumps_move_it() {
        let start = Instant::now();
        let mut clock = SkewedClock::new(start);
        assert_eq!(clock.now_ms_at(at(start, 100)), 100);
        clock.apply_at(at(start, 100), ClockChange::Rate { rate: 2.0 });
        assert_eq!(clock.now_ms_at(at(start, 200)), 300);
        let reading = clock.apply_at(at(start, 200), ClockChange::Jump { ms: 1000 });
        assert_eq!(reading, ClockReading { now_ms: 1300, offset_ms: 1100, rate: 2.0 });
        assert_eq!(clock.real_wait(at(start, 200), 1400), Duration::from_micros(50_001));
        assert_eq!(clock.real_wait(at(start, 200), 1200), Duration::ZERO);
    }

    #[test]
    fn a_backward_jump_holds_the_clock_still_until_real_time_catches_up() {
        let start = Instant::now();
        let mut clock = SkewedClock::new(start);
        assert_eq!(clock.now_ms_at(at(start, 1000)), 1000);
        let reading = clock.apply_at(at(start, 1000), ClockChange::Jump { ms: -500 });
        assert_eq!(reading.now_ms, 1000, "the clock went backwards");
        assert_eq!(clock.now_ms_at(at(start, 1300)), 1000);
        assert_eq!(clock.now_ms_at(at(start, 1600)), 1100);
        assert_eq!(clock.apply_at(at(start, 1600), ClockChange::Jump { ms: 1000 }).now_ms, 2100);
        clock.apply_at(at(start, 1600), ClockChange::Reset);
        assert_eq!(clock.now_ms_at(at(start, 1650)), 2100, "reset stepped back and must hold");
        assert_eq!(clock.now_ms_at(at(start, 2200)), 2200);
    }

    #[test]
    fn bad_bodies_are_refused_with_a_reason() {
        assert_eq!(ClockChange::parse(br#"{"jump_ms": -40}"#), Ok(ClockChange::Jump { ms: -40 }));
        assert_eq!(ClockChange::parse(br#"{"rate": 0.5}"#), Ok(ClockChange::Rate { rate: 0.5 }));
        assert_eq!(ClockChange::parse(br#"{"reset": true}"#), Ok(ClockChange::Reset));
        for (body, says) in [
            (&br#"{"rate": 11}"#[..], "outside"),
            (br#"{"rate": "fast"}"#, "number"),
            (br#"{"jump_ms": 1.5}"#, "integer"),
            (br#"{"reset": false}"#, "true"),
            (br#"{"jump_ms": 1, "rate": 2}"#, "exactly one"),
            (br#"{"skew": 1}"#, "unknown field"),
            (br#"[1]"#, "object"),
            (br#"{"#, "malformed"),
            (br#"{"jump_ms": 99999999999}"#, "beyond"),
        ] {
            let error = ClockChange::parse(body).unwrap_err();
            assert!(error.contains(says), "{error:?} should mention {says:?}");
            assert!(!error.contains('\n'));
        }
    }
}
