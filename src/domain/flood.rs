//! When a socket's rate-limit refusals make a flood (protocol §1.6): the
//! refusals that come within one send window of each other are counted,
//! and the one that reaches the limit closes the socket.
//!
//! Why not count over the socket's life: an agent's socket stays open for a
//! whole shift, and an agent who bursts past the limit now and then (a few
//! quick replies in a row, a macro) would collect strikes for hours and be
//! cut off for what is not a flood.

use std::time::{Duration, Instant};

/// A socket's run of rate-limit refusals.
#[derive(Debug, Clone)]
pub struct Strikes {
    limit: u32,
    window: Duration,
    count: u32,
    last: Option<Instant>,
}

impl Strikes {
    /// No strikes yet; `limit` refusals each within `window` of the one
    /// before make a flood.
    pub fn new(limit: u32, window: Duration) -> Self {
        Strikes {
            limit,
            window,
            count: 0,
            last: None,
        }
    }

    /// Counts a refusal at `now`; whether it makes a flood (the socket is
    /// to be closed). A refusal more than a window after the previous one
    /// starts the count again.
    pub fn strike(&mut self, now: Instant) -> bool {
        let forgiven = self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) > self.window);
        if forgiven {
            self.count = 0;
        }
        self.count += 1;
        self.last = Some(now);
        self.count >= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WINDOW: Duration = Duration::from_secs(10);

    #[test]
    fn refusals_in_a_row_make_a_flood_at_the_limit() {
        let t = Instant::now();
        let mut s = Strikes::new(3, WINDOW);
        assert!(!s.strike(t));
        assert!(!s.strike(t + Duration::from_secs(1)));
        assert!(s.strike(t + Duration::from_secs(2)));
    }

    #[test]
    fn a_refusal_after_a_quiet_window_starts_the_count_again() {
        let t = Instant::now();
        let mut s = Strikes::new(3, WINDOW);
        assert!(!s.strike(t));
        assert!(!s.strike(t + Duration::from_secs(1)));
        // 11 s after the last refusal: forgiven, this is the first again.
        let later = t + Duration::from_secs(12);
        assert!(!s.strike(later));
        assert!(!s.strike(later + Duration::from_secs(1)));
        assert!(s.strike(later + Duration::from_secs(2)));
    }

    #[test]
    fn a_limit_of_one_closes_at_the_first_refusal() {
        assert!(Strikes::new(1, WINDOW).strike(Instant::now()));
    }

    proptest! {
        /// A flood is declared exactly when the last `limit` refusals each
        /// came within a window of the one before, whatever the gaps.
        #[test]
        fn a_flood_is_limit_refusals_each_within_a_window_of_the_last(
            limit in 1u32..6,
            gaps_ms in proptest::collection::vec(0u64..25_000, 1..40),
        ) {
            let t0 = Instant::now();
            let mut s = Strikes::new(limit, WINDOW);
            let mut at = t0;
            let mut times = Vec::new();
            for (i, gap) in gaps_ms.iter().enumerate() {
                if i > 0 {
                    at += Duration::from_millis(*gap);
                }
                times.push(at);
                let flood = s.strike(at);
                // The run ending here: refusals back to the first gap wider
                // than the window.
                let run = 1 + times
                    .windows(2)
                    .rev()
                    .take_while(|w| w[1] - w[0] <= WINDOW)
                    .count();
                prop_assert_eq!(flood, run >= limit as usize);
                if flood {
                    // The socket closes: nothing comes after.
                    break;
                }
            }
        }
    }
}
