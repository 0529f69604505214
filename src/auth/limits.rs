//! Login rate limits: one budget per client IP and one per account, so
//! neither one source nor many sources can guess passwords quickly.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::LimitSettings;

/// The per-IP and per-account limiters, shared by all workers.
pub struct LoginLimiter {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
    widget_per_ip: DefaultKeyedRateLimiter<IpAddr>,
}

impl LoginLimiter {
    /// Builds limiters that allow the configured attempts per minute (the
    /// whole minute's budget may be spent in a burst).
    pub fn new(limits: &LimitSettings) -> Self {
        LoginLimiter {
            per_ip: RateLimiter::keyed(per_minute(limits.login_per_ip_per_minute)),
            per_account: RateLimiter::keyed(per_minute(limits.login_per_account_per_minute)),
            widget_per_ip: RateLimiter::keyed(per_minute(limits.widget_sessions_per_ip_per_minute)),
        }
    }

    /// Spends one attempt from `ip`; `Err(wait)` when its budget is empty.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Duration> {
        self.per_ip
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(self.per_ip.clock().now()))
    }

    /// Spends one attempt against `account` (a normalised e-mail, existing
    /// or not, so limits do not reveal which accounts exist).
    pub fn check_account(&self, account: &str) -> Result<(), Duration> {
        self.per_account
            .check_key(&account.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.per_account.clock().now()))
    }

    /// Spends one new widget conversation from `ip`.
    pub fn check_widget(&self, ip: IpAddr) -> Result<(), Duration> {
        self.widget_per_ip
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(self.widget_per_ip.clock().now()))
    }

    /// Forgets keys whose budget is full again, so memory stays bounded.
    pub fn forget_idle(&self) {
        self.per_ip.retain_recent();
        self.per_account.retain_recent();
        self.widget_per_ip.retain_recent();
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn each_key_has_its_own_budget() {
        let l = LoginLimiter::new(&LimitSettings {
            login_per_ip_per_minute: 2,
            login_per_account_per_minute: 1,
            widget_sessions_per_ip_per_minute: 1,
        });
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert!(l.check_ip(a).is_ok());
        assert!(l.check_ip(a).is_ok());
        let wait = l.check_ip(a).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        assert!(l.check_ip(b).is_ok());
        assert!(l.check_account("x@y.z").is_ok());
        assert!(l.check_account("x@y.z").is_err());
        assert!(l.check_account("w@y.z").is_ok());
    }
}
