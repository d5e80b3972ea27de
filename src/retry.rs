//! Backoff schedules, built on `backon`'s exponential backoff.
//!
//! Bento uses cenkalti/backoff: each interval is multiplied by a factor up
//! to a maximum, and randomised by ±`randomization` (0.5 = ±50 %). backon's
//! own jitter only adds (0, delay), so we take its un-jittered schedule and
//! apply the ± randomisation here.
//!
//! [`keep`] is the one reconnect loop every long-lived link uses (probe
//! publisher and consumers, the runner's inputs and AMQP output): a link
//! says how to connect, how to run one connection, and how to report; the
//! loop owns the backoff and cancellation.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio_util::sync::CancellationToken;

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

/// Why a link is down, as [`keep`] reports it to [`Reconnect::down`].
#[derive(Debug)]
pub enum Down<'a> {
    /// A connection attempt failed.
    Failed(&'a anyhow::Error),
    /// A connection that was up was lost.
    Lost(&'a str),
}

/// How soon [`keep`] tries again after a [`Reconnect::down`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// After the backoff's next delay (growing).
    Backoff,
    /// After the backoff's first delay: the link is waiting for something
    /// expected soon (a topic about to be created), not failing.
    Soon,
}

/// A long-lived link that [`keep`] keeps up.
pub trait Reconnect: Send {
    /// One live connection.
    type Conn: Send;

    /// One connection attempt.
    fn connect(&mut self) -> impl Future<Output = anyhow::Result<Self::Conn>> + Send;

    /// Runs one connection until it ends: `Ok(())` when the link is done
    /// (cancelled, drained, its requests closed), `Err(why)` when the
    /// connection was lost and should be made again.
    fn session(&mut self, conn: Self::Conn) -> impl Future<Output = Result<(), String>> + Send;

    /// The link is up: report it.
    fn up(&mut self) -> impl Future<Output = ()> + Send;

    /// The link is down: report it, and say how soon to try again.
    fn down(&mut self, why: Down<'_>) -> impl Future<Output = Next> + Send;

    /// Waits `delay` before the next attempt. The default sleeps; a link
    /// that must answer requests meanwhile (fail them at once) overrides it.
    fn wait(&mut self, delay: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(delay)
    }
}

/// Keeps `link` up until `cancel` fires or a session ends with `Ok`:
/// connect; on failure report [`Down::Failed`] and wait; on success reset
/// `backoff`, report up, run the session; when it is lost report
/// [`Down::Lost`], wait, and connect again. Waits follow `backoff` (or its
/// first delay for [`Next::Soon`]); cancellation interrupts a connect
/// attempt or a wait at once (a session watches `cancel` itself, so it can
/// drain).
pub async fn keep<L: Reconnect>(link: &mut L, mut backoff: Backoff, cancel: &CancellationToken) {
    loop {
        let attempt = tokio::select! {
            _ = cancel.cancelled() => return,
            r = link.connect() => r,
        };
        let next = match attempt {
            Err(e) => link.down(Down::Failed(&e)).await,
            Ok(conn) => {
                backoff.reset();
                link.up().await;
                match link.session(conn).await {
                    Ok(()) => return,
                    Err(why) => link.down(Down::Lost(&why)).await,
                }
            }
        };
        if next == Next::Soon {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = link.wait(delay) => {}
        }
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

    /// A link whose first two attempts fail and whose first session is lost.
    struct Flaky {
        attempts: u32,
        sessions: u32,
        log: Vec<String>,
    }

    impl Reconnect for Flaky {
        type Conn = u32;
        async fn connect(&mut self) -> anyhow::Result<u32> {
            self.attempts += 1;
            if self.attempts <= 2 {
                anyhow::bail!("refused {}", self.attempts)
            }
            Ok(self.attempts)
        }
        async fn session(&mut self, conn: u32) -> Result<(), String> {
            self.sessions += 1;
            if self.sessions == 1 {
                Err(format!("lost {conn}"))
            } else {
                Ok(())
            }
        }
        async fn up(&mut self) {
            self.log.push("up".into());
        }
        async fn down(&mut self, why: Down<'_>) -> Next {
            self.log.push(match why {
                Down::Failed(e) => format!("failed: {e}"),
                Down::Lost(e) => format!("lost: {e}"),
            });
            Next::Backoff
        }
    }

    #[tokio::test(start_paused = true)]
    async fn keep_reconnects_after_failures_and_losses_until_a_session_ends() {
        let mut link = Flaky {
            attempts: 0,
            sessions: 0,
            log: Vec::new(),
        };
        let b = Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(40),
            2.0,
            0.0,
        );
        let t0 = tokio::time::Instant::now();
        keep(&mut link, b, &CancellationToken::new()).await;
        assert_eq!(
            link.log,
            [
                "failed: refused 1",
                "failed: refused 2",
                "up",
                "lost: lost 3",
                "up"
            ]
        );
        // 10 ms + 20 ms after the failures; reset on connect, so 10 ms after the loss
        assert_eq!(t0.elapsed(), Duration::from_millis(40));
    }

    #[tokio::test(start_paused = true)]
    async fn keep_stops_waiting_when_cancelled() {
        let mut link = Flaky {
            attempts: 0,
            sessions: 0,
            log: Vec::new(),
        };
        let cancel = CancellationToken::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            c.cancel();
        });
        let b = Backoff::new(Duration::from_secs(60), Duration::from_secs(60), 2.0, 0.0);
        keep(&mut link, b, &cancel).await;
        assert_eq!(link.log, ["failed: refused 1"]);
    }
}
