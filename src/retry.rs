//! Backoff schedules, built on `backon`'s exponential backoff.
//!
//! Bento uses cenkalti/backoff: each interval is multiplied by a factor up
//! to a maximum, and randomised by ±`randomization` (0.5 = ±50 %). backon's
//! own jitter only adds (0, delay), so we take its un-jittered schedule and
//! apply the ± randomisation here.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// An endless (or bounded) exponential backoff with ± jitter.
pub struct Backoff {
    builder: ExponentialBuilder,
    inner: ExponentialBackoff,
    randomization: f64,
    last: Duration,
}

impl Backoff {
    /// `initial` delay, multiplied by `factor` per attempt up to `max`,
    /// each randomised by ±`randomization` (0.0 to 1.0); never ends.
    pub fn new(initial: Duration, max: Duration, factor: f32, randomization: f64) -> Self {
        let builder = ExponentialBuilder::default()
            .with_min_delay(initial)
            .with_max_delay(max.max(initial))
            .with_factor(factor.max(1.0))
            .without_max_times();
        Backoff {
            inner: builder.build(),
            builder,
            randomization: randomization.clamp(0.0, 1.0),
            last: initial,
        }
    }

    /// Link reconnects: 0.5 s doubling to 5 s, ±20 %.
    pub fn reconnect() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(5), 2.0, 0.2)
    }

    /// Bento's broker/fan_out output retry: 0.5 s initial, 3 s max, ×1.5, ±50 %
    /// (internal/impl/pure/output_broker.go wraps each output in a retry with
    /// these settings).
    pub fn bento_fan_out() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(3), 1.5, 0.5)
    }

    /// The next delay to wait.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.inner.next().unwrap_or(self.last);
        self.last = base;
        let r = self.randomization;
        let f = 1.0 - r + 2.0 * r * fastrand::f64();
        base.mul_f64(f)
    }

    /// Starts the schedule again from the initial delay (after a success).
    pub fn reset(&mut self) {
        self.inner = self.builder.build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bento_schedule_grows_to_max_with_jitter() {
        let mut b = Backoff::bento_fan_out();
        let d: Vec<f64> = (0..8).map(|_| b.next_delay().as_secs_f64()).collect();
        assert!((0.25..=0.75).contains(&d[0]), "{d:?}");
        assert!((0.375..=1.125).contains(&d[1]), "{d:?}");
        assert!((1.5..=4.5).contains(&d[7]), "{d:?}");
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(750));
    }
}
