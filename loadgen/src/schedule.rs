//! Send schedules: the *intended* time of every send, computed before the run
//! starts sending and independent of how fast the server answers.
//!
//! This is what keeps the measurements free of coordinated omission: a
//! sender that falls behind still records latency from the time it *should*
//! have sent, so a stalled server shows up as high latency instead of as a
//! quietly lower rate.

use std::time::Duration;

use rand::Rng;
use rand::SeedableRng;
use rand::rngs::SmallRng;

/// How send times are spaced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spacing {
    /// Exponential gaps (a Poisson process): how independent people type.
    Poisson,
    /// Equal gaps: for controlled, repeatable arrival rates.
    Fixed,
}

/// An endless sequence of intended send offsets (from the start of a run) at
/// a given mean rate.
#[derive(Debug)]
pub struct Schedule {
    spacing: Spacing,
    /// Mean gap in seconds (1 / rate).
    mean_gap_s: f64,
    /// Offset of the next send, in seconds.
    next_s: f64,
    rng: SmallRng,
}

impl Schedule {
    /// A schedule of `rate_per_s` sends per second on average, its first send
    /// one gap after the start (so many schedules started together do not all
    /// fire at offset zero). `seed` makes a run repeatable.
    pub fn new(spacing: Spacing, rate_per_s: f64, seed: u64) -> Schedule {
        let mean_gap_s = if rate_per_s > 0.0 {
            1.0 / rate_per_s
        } else {
            f64::INFINITY
        };
        let mut schedule = Schedule {
            spacing,
            mean_gap_s,
            next_s: 0.0,
            rng: SmallRng::seed_from_u64(seed),
        };
        schedule.next_s = match spacing {
            // A fixed schedule starts at a random phase within its first gap,
            // for the same reason.
            Spacing::Fixed => schedule.rng.random::<f64>() * mean_gap_s,
            Spacing::Poisson => schedule.gap(),
        };
        schedule
    }

    /// One gap drawn from the spacing.
    fn gap(&mut self) -> f64 {
        match self.spacing {
            Spacing::Fixed => self.mean_gap_s,
            Spacing::Poisson => {
                // Inverse transform of the exponential distribution; `1 - u`
                // is in (0, 1], so the logarithm is finite.
                let u: f64 = self.rng.random();
                -(1.0 - u).ln() * self.mean_gap_s
            }
        }
    }

    /// The next intended offset, or `None` when it is at or past `end`.
    pub fn next_before(&mut self, end: Duration) -> Option<Duration> {
        if !self.next_s.is_finite() || self.next_s >= end.as_secs_f64() {
            return None;
        }
        let at = Duration::from_secs_f64(self.next_s);
        self.next_s += self.gap();
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(spacing: Spacing, rate: f64, secs: u64, seed: u64) -> Vec<Duration> {
        let mut s = Schedule::new(spacing, rate, seed);
        let end = Duration::from_secs(secs);
        std::iter::from_fn(|| s.next_before(end)).collect()
    }

    #[test]
    fn a_fixed_schedule_sends_exactly_rate_times_duration_at_equal_gaps() {
        let v = offsets(Spacing::Fixed, 100.0, 10, 1);
        assert_eq!(v.len(), 1000);
        for w in v.windows(2) {
            let gap = (w[1] - w[0]).as_secs_f64();
            assert!((gap - 0.01).abs() < 1e-9, "gap {gap}");
        }
        assert!(v[0] < Duration::from_millis(10));
    }

    #[test]
    fn a_poisson_schedule_has_the_asked_mean_rate_and_exponential_gaps() {
        let v = offsets(Spacing::Poisson, 1000.0, 100, 7);
        // 100,000 expected; the standard deviation of a Poisson count is
        // sqrt(100,000) ≈ 316, so 1% (1,000) is over three deviations.
        let n = v.len() as f64;
        assert!((n - 100_000.0).abs() < 1_000.0, "count {n}");
        let gaps: Vec<f64> = v.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        // An exponential distribution's deviation equals its mean; equal gaps
        // would have none.
        let cv = var.sqrt() / mean;
        assert!((cv - 1.0).abs() < 0.05, "coefficient of variation {cv}");
        // About e^-1 of the gaps exceed the mean.
        let over = gaps.iter().filter(|g| **g > mean).count() as f64 / gaps.len() as f64;
        assert!(
            (over - (-1.0f64).exp()).abs() < 0.01,
            "share over mean {over}"
        );
    }

    #[test]
    fn offsets_never_go_back_and_stop_at_the_end() {
        let v = offsets(Spacing::Poisson, 50.0, 5, 3);
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
        assert!(v.iter().all(|d| *d < Duration::from_secs(5)));
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule_and_another_seed_does_not() {
        let a = offsets(Spacing::Poisson, 200.0, 2, 11);
        let b = offsets(Spacing::Poisson, 200.0, 2, 11);
        let c = offsets(Spacing::Poisson, 200.0, 2, 12);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn a_zero_rate_schedules_nothing() {
        assert!(offsets(Spacing::Poisson, 0.0, 10, 1).is_empty());
        assert!(offsets(Spacing::Fixed, 0.0, 10, 1).is_empty());
    }
}
