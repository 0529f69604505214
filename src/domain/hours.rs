//! Business hours: when a team answers. A weekly schedule in the team's time
//! zone, minus holidays. Pure, so it is tested without clocks or I/O.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::ValidationError;

/// Day keys of the schedule, Monday first.
pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The schedule as stored and sent: `{"mon": [["09:00","17:00"]], …}` in
/// the team's time zone; a day absent or empty is closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WeeklySchedule(pub BTreeMap<String, Vec<(String, String)>>);

/// A validated schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessHours {
    tz: Tz,
    /// Open intervals per weekday (Monday = 0), start < end, same day.
    week: [Vec<(NaiveTime, NaiveTime)>; 7],
    holidays: BTreeSet<NaiveDate>,
}

fn time(s: &str) -> Result<NaiveTime, ValidationError> {
    NaiveTime::parse_from_str(s, "%H:%M")
        .map_err(|_| ValidationError(format!("{s:?} is not a time like 09:30")))
}

impl BusinessHours {
    /// Validates a time zone name (IANA, e.g. `Europe/Lisbon`), a weekly
    /// schedule and holiday dates (`YYYY-MM-DD`).
    pub fn parse(
        timezone: &str,
        schedule: &WeeklySchedule,
        holidays: &[String],
    ) -> Result<Self, ValidationError> {
        let tz: Tz = timezone
            .parse()
            .map_err(|_| ValidationError(format!("{timezone:?} is not an IANA time zone")))?;
        let mut week: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        for (day, intervals) in &schedule.0 {
            let idx = DAYS
                .iter()
                .position(|d| d == day)
                .ok_or_else(|| ValidationError(format!("{day:?} is not one of mon…sun")))?;
            for (from, to) in intervals {
                let (a, b) = (time(from)?, time(to)?);
                if a >= b {
                    return Err(ValidationError(format!(
                        "{day}: {from}–{to} must start before it ends"
                    )));
                }
                week[idx].push((a, b));
            }
            week[idx].sort();
        }
        let holidays = holidays
            .iter()
            .map(|d| {
                NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| ValidationError(format!("{d:?} is not a date like 2026-12-25")))
            })
            .collect::<Result<_, _>>()?;
        Ok(BusinessHours { tz, week, holidays })
    }

    /// Whether the team is open at `at`.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = self.tz.from_utc_datetime(&at.naive_utc());
        if self.holidays.contains(&local.date_naive()) {
            return false;
        }
        let day = local.weekday().num_days_from_monday() as usize;
        let t = local.time();
        self.week[day].iter().any(|(a, b)| *a <= t && t < *b)
    }

    /// When the team next opens after `at` (within two weeks), if ever.
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = self.tz.from_utc_datetime(&at.naive_utc());
        for offset in 0..15 {
            let date = local.date_naive() + chrono::Days::new(offset);
            if self.holidays.contains(&date) {
                continue;
            }
            let day = date.weekday().num_days_from_monday() as usize;
            for (start, _) in &self.week[day] {
                let candidate = self
                    .tz
                    .from_local_datetime(&date.and_time(*start))
                    .earliest()?
                    .with_timezone(&Utc);
                if candidate > at {
                    return Some(candidate);
                }
            }
        }
        None
    }
}

/// Weekday of a day key, for docs and tests.
pub fn weekday(key: &str) -> Option<Weekday> {
    DAYS.iter()
        .position(|d| *d == key)
        .and_then(|i| Weekday::try_from(i as u8).ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn schedule(pairs: &[(&str, &str, &str)]) -> WeeklySchedule {
        let mut m: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (d, a, b) in pairs {
            m.entry((*d).to_owned())
                .or_default()
                .push(((*a).to_owned(), (*b).to_owned()));
        }
        WeeklySchedule(m)
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn open_inside_the_local_interval_only() {
        // 2026-11-23 is a Monday; Lisbon is UTC+0 in winter, São Paulo UTC-3.
        let h = BusinessHours::parse(
            "America/Sao_Paulo",
            &schedule(&[("mon", "09:00", "17:00")]),
            &[],
        )
        .unwrap();
        assert!(!h.is_open(utc("2026-11-23T11:59:00Z")), "08:59 local");
        assert!(h.is_open(utc("2026-11-23T12:00:00Z")), "09:00 local");
        assert!(h.is_open(utc("2026-11-23T19:59:00Z")), "16:59 local");
        assert!(!h.is_open(utc("2026-11-23T20:00:00Z")), "17:00 local");
        assert!(!h.is_open(utc("2026-11-24T13:00:00Z")), "Tuesday");
    }

    #[test]
    fn holidays_close_the_day_and_next_open_skips_them() {
        let h = BusinessHours::parse(
            "Europe/Lisbon",
            &schedule(&[
                ("mon", "09:00", "12:00"),
                ("mon", "13:00", "18:00"),
                ("tue", "09:00", "18:00"),
            ]),
            &["2026-11-24".to_owned()],
        )
        .unwrap();
        assert!(h.is_open(utc("2026-11-23T10:00:00Z")));
        assert!(!h.is_open(utc("2026-11-23T12:30:00Z")), "lunch");
        assert!(!h.is_open(utc("2026-11-24T10:00:00Z")), "holiday");
        assert_eq!(
            h.next_open(utc("2026-11-23T12:30:00Z")),
            Some(utc("2026-11-23T13:00:00Z"))
        );
        assert_eq!(
            h.next_open(utc("2026-11-23T19:00:00Z")),
            Some(utc("2026-11-30T09:00:00Z"))
        );
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        assert!(BusinessHours::parse("Mars/Olympus", &WeeklySchedule::default(), &[]).is_err());
        assert!(
            BusinessHours::parse("UTC", &schedule(&[("funday", "09:00", "10:00")]), &[]).is_err()
        );
        assert!(BusinessHours::parse("UTC", &schedule(&[("mon", "10:00", "09:00")]), &[]).is_err());
        assert!(BusinessHours::parse("UTC", &schedule(&[("mon", "9am", "10:00")]), &[]).is_err());
        assert!(
            BusinessHours::parse("UTC", &WeeklySchedule::default(), &["25/12/2026".into()])
                .is_err()
        );
        assert_eq!(weekday("sun"), Some(Weekday::Sun));
    }
}
