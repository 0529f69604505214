//! Business hours: when a team answers. A weekly schedule in the team's time
//! zone, minus holidays. Pure, so it is tested without clocks or I/O.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc, Weekday,
};
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
    /// Open intervals per weekday (Monday = 0), sorted by start, each
    /// starting before it ends and ending by the day's end.
    week: [Vec<Interval>; 7],
    holidays: BTreeSet<NaiveDate>,
}

/// One open interval of a day, in local time. `end` is `None` for `24:00`,
/// the next day's midnight, which `NaiveTime` cannot hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Interval {
    start: NaiveTime,
    end: Option<NaiveTime>,
}

impl Interval {
    /// The instants `[from, to)` this interval covers on `date`, or `None`
    /// when it covers none: wholly inside skipped clock time, or on a date
    /// the clocks skip entirely. Both ends follow [`instant`], so `is_open`
    /// and `next_open` agree on every instant, clock changes included.
    fn span(self, tz: Tz, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let from = instant(tz, date.and_time(self.start))?;
        if tz.from_utc_datetime(&from.naive_utc()).date_naive() != date {
            // The skip ran past the day's end (Samoa dropped 2011-12-30):
            // the opening belongs to a day that never happened.
            return None;
        }
        let to = match self.end {
            Some(end) => instant(tz, date.and_time(end))?,
            None => instant(tz, date.succ_opt()?.and_time(NaiveTime::MIN))?,
        };
        (from < to).then_some((from, to))
    }
}

/// The instant a team means by the local time `local` in `tz`. A time the
/// clocks skip (spring forward) is the first instant after the skip: "we
/// open at 02:30" on a day without 02:30 means as soon as the day gets
/// there. A time the clocks repeat (fall back) is its first occurrence.
/// `None` only if no valid local time follows within two days, which no
/// real zone has.
fn instant(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return Some(t.with_timezone(&Utc));
    }
    // In a gap. chrono does not say where the gap ends, so find the first
    // valid whole minute after `local`, then walk back by seconds: an old
    // offset (local mean time) may end the gap between two minutes.
    let (mut at, mut t) = (1..=2 * 24 * 60).find_map(|m| {
        let l = local + TimeDelta::minutes(m);
        tz.from_local_datetime(&l).earliest().map(|t| (l, t))
    })?;
    for _ in 0..60 {
        let earlier = at - TimeDelta::seconds(1);
        match tz.from_local_datetime(&earlier).earliest() {
            Some(e) => (at, t) = (earlier, e),
            None => break,
        }
    }
    Some(t.with_timezone(&Utc))
}

fn time(s: &str) -> Result<NaiveTime, ValidationError> {
    NaiveTime::parse_from_str(s, "%H:%M")
        .map_err(|_| ValidationError(format!("{s:?} is not a time like 09:30")))
}

/// An interval's end: a time, or `24:00` for open until the day's end
/// (otherwise a team open all day would close at 23:59 every night).
fn end_time(s: &str) -> Result<Option<NaiveTime>, ValidationError> {
    if s == "24:00" {
        return Ok(None);
    }
    NaiveTime::parse_from_str(s, "%H:%M")
        .map(Some)
        .map_err(|_| ValidationError(format!("{s:?} is not a time like 17:30 or 24:00")))
}

impl BusinessHours {
    /// Validates a time zone name (IANA, e.g. `Europe/Lisbon`), a weekly
    /// schedule and holiday dates (`YYYY-MM-DD`). An interval may end at
    /// `24:00` (the day's end) but not start there.
    pub fn parse(
        timezone: &str,
        schedule: &WeeklySchedule,
        holidays: &[String],
    ) -> Result<Self, ValidationError> {
        let tz: Tz = timezone
            .parse()
            .map_err(|_| ValidationError(format!("{timezone:?} is not an IANA time zone")))?;
        let mut week: [Vec<Interval>; 7] = Default::default();
        for (day, intervals) in &schedule.0 {
            let idx = DAYS
                .iter()
                .position(|d| d == day)
                .ok_or_else(|| ValidationError(format!("{day:?} is not one of mon…sun")))?;
            for (from, to) in intervals {
                let (start, end) = (time(from)?, end_time(to)?);
                if end.is_some_and(|end| start >= end) {
                    return Err(ValidationError(format!(
                        "{day}: {from}–{to} must start before it ends"
                    )));
                }
                week[idx].push(Interval { start, end });
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

    /// Whether the team is open at `at`: inside one of the intervals of
    /// its local date, each converted to instants as [`instant`] says.
    /// Outside clock changes this is the same as comparing wall-clock
    /// times; in a repeated hour a start or end means its first
    /// occurrence, so an interval ending there closes at the first one.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let date = self.tz.from_utc_datetime(&at.naive_utc()).date_naive();
        if self.holidays.contains(&date) {
            return false;
        }
        let day = date.weekday().num_days_from_monday() as usize;
        self.week[day]
            .iter()
            .filter_map(|i| i.span(self.tz, date))
            .any(|(from, to)| from <= at && at < to)
    }

    /// When the team next opens after `at` (within two weeks), if ever:
    /// the first interval start after `at`, skipping intervals that cover
    /// no instant (see [`Interval::span`]) rather than giving up on them.
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = self.tz.from_utc_datetime(&at.naive_utc());
        for offset in 0..15 {
            let date = local.date_naive() + chrono::Days::new(offset);
            if self.holidays.contains(&date) {
                continue;
            }
            let day = date.weekday().num_days_from_monday() as usize;
            for interval in &self.week[day] {
                // Starts are sorted and `instant` keeps their order, so
                // the first one after `at` is the earliest.
                if let Some((from, _)) = interval.span(self.tz, date)
                    && from > at
                {
                    return Some(from);
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

    #[test]
    fn an_opening_the_clocks_skip_opens_when_the_day_gets_there() {
        // New York springs forward on Sunday 2026-03-08: 02:00 EST is 03:00
        // EDT (07:00Z), so that day has no 02:30.
        let h = BusinessHours::parse(
            "America/New_York",
            &schedule(&[("sun", "02:30", "05:00"), ("mon", "09:00", "17:00")]),
            &[],
        )
        .unwrap();
        let saturday = utc("2026-03-07T17:00:00Z");
        assert_eq!(h.next_open(saturday), Some(utc("2026-03-08T07:00:00Z")));
        assert!(!h.is_open(utc("2026-03-08T06:59:59Z")), "01:59:59 EST");
        assert!(h.is_open(utc("2026-03-08T07:00:00Z")), "03:00 EDT");
        assert!(!h.is_open(utc("2026-03-08T09:00:00Z")), "05:00 EDT");

        // An interval wholly inside the skipped hour never opens: the next
        // opening is Monday's, not none at all.
        let h = BusinessHours::parse(
            "America/New_York",
            &schedule(&[("sun", "02:00", "02:45"), ("mon", "09:00", "17:00")]),
            &[],
        )
        .unwrap();
        assert_eq!(h.next_open(saturday), Some(utc("2026-03-09T13:00:00Z")));
        assert!(!h.is_open(utc("2026-03-08T07:00:00Z")));
        // The week after, 02:00–02:45 exists again.
        assert_eq!(
            h.next_open(utc("2026-03-09T22:00:00Z")),
            Some(utc("2026-03-15T06:00:00Z"))
        );
    }

    #[test]
    fn a_clock_change_at_midnight_does_not_lose_the_next_day() {
        // Santiago springs forward at the end of Saturday 2026-09-05: 24:00
        // -04 is Sunday 01:00 -03 (04:00Z), so Sunday has no 00:00.
        let every_day = |end: &str| {
            let pairs: Vec<_> = DAYS.iter().map(|d| (*d, "00:00", end)).collect();
            BusinessHours::parse("America/Santiago", &schedule(&pairs), &[]).unwrap()
        };
        let h = every_day("23:59");
        let late_saturday = utc("2026-09-06T03:59:30Z");
        assert!(!h.is_open(late_saturday), "23:59:30, after 23:59");
        assert_eq!(
            h.next_open(late_saturday),
            Some(utc("2026-09-06T04:00:00Z"))
        );
        assert!(h.is_open(utc("2026-09-06T04:00:00Z")), "Sunday 01:00 -03");

        // Ending at 24:00 closes no minute at all, across the change or not.
        let h = every_day("24:00");
        for at in [
            "2026-09-06T03:59:30Z",
            "2026-09-06T03:59:59Z",
            "2026-09-06T04:00:00Z",
            "2026-09-07T02:59:59Z",
            "2026-09-07T03:00:00Z",
        ] {
            assert!(h.is_open(utc(at)), "{at}");
        }
        // Falling back repeats Saturday 2026-04-04 23:00–24:00; open in both.
        for at in ["2026-04-05T02:30:00Z", "2026-04-05T03:30:00Z"] {
            assert!(h.is_open(utc(at)), "{at}");
        }
    }

    #[test]
    fn a_repeated_time_means_its_first_occurrence() {
        // New York falls back on Sunday 2026-11-01: 01:00–02:00 happens in
        // EDT (05:00Z–06:00Z) and again in EST (06:00Z–07:00Z).
        let h = BusinessHours::parse(
            "America/New_York",
            &schedule(&[("sun", "01:30", "04:00")]),
            &[],
        )
        .unwrap();
        assert_eq!(
            h.next_open(utc("2026-10-31T16:00:00Z")),
            Some(utc("2026-11-01T05:30:00Z"))
        );
        assert!(!h.is_open(utc("2026-11-01T05:29:59Z")));
        assert!(h.is_open(utc("2026-11-01T05:30:00Z")), "01:30 EDT");
        assert!(h.is_open(utc("2026-11-01T06:15:00Z")), "01:15 EST");
        assert!(!h.is_open(utc("2026-11-01T09:00:00Z")), "04:00 EST");

        // An end in the repeated hour is its first occurrence too.
        let h = BusinessHours::parse(
            "America/New_York",
            &schedule(&[("sun", "00:30", "01:30")]),
            &[],
        )
        .unwrap();
        assert!(h.is_open(utc("2026-11-01T05:29:59Z")), "01:29:59 EDT");
        assert!(!h.is_open(utc("2026-11-01T05:30:00Z")), "01:30 EDT");
        assert!(!h.is_open(utc("2026-11-01T06:15:00Z")), "01:15 EST");
        assert_eq!(
            h.next_open(utc("2026-11-01T05:45:00Z")),
            Some(utc("2026-11-08T05:30:00Z"))
        );
    }

    #[test]
    fn twenty_four_hundred_ends_the_day() {
        // 2026-11-23 is a Monday.
        let h = BusinessHours::parse("UTC", &schedule(&[("mon", "09:00", "24:00")]), &[]).unwrap();
        assert!(h.is_open(utc("2026-11-23T23:59:59Z")));
        assert!(!h.is_open(utc("2026-11-24T00:00:00Z")), "Tuesday is closed");
        assert_eq!(
            h.next_open(utc("2026-11-24T00:00:00Z")),
            Some(utc("2026-11-30T09:00:00Z"))
        );
        let h = BusinessHours::parse(
            "UTC",
            &schedule(&[("mon", "00:00", "24:00"), ("tue", "00:00", "12:00")]),
            &[],
        )
        .unwrap();
        assert!(
            h.is_open(utc("2026-11-24T00:00:00Z")),
            "Tuesday opens at once"
        );
        for (from, to) in [("24:00", "24:00"), ("24:00", "09:00"), ("09:00", "24:01")] {
            assert!(
                BusinessHours::parse("UTC", &schedule(&[("mon", from, to)]), &[]).is_err(),
                "{from}–{to}"
            );
        }
    }

    /// Zones with their 2026 clock changes: gaps and repeats of an hour,
    /// half an hour (Lord Howe) and at midnight (Santiago).
    const ZONES: [(&str, [&str; 2]); 5] = [
        (
            "America/New_York",
            ["2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z"],
        ),
        (
            "America/Santiago",
            ["2026-04-05T03:00:00Z", "2026-09-06T04:00:00Z"],
        ),
        (
            "Europe/Lisbon",
            ["2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z"],
        ),
        (
            "Australia/Lord_Howe",
            ["2026-04-04T15:00:00Z", "2026-10-03T15:30:00Z"],
        ),
        ("UTC", ["2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z"]),
    ];

    /// Up to three intervals a day on half-hour marks, so that they often
    /// start or end inside a skipped or repeated hour; 48 is `24:00`.
    fn week() -> impl proptest::strategy::Strategy<Value = WeeklySchedule> {
        use proptest::prelude::*;
        let interval = (0u32..48, 1u32..49).prop_map(|(a, len)| (a, (a + len).min(48)));
        proptest::collection::vec(proptest::collection::vec(interval, 0..3), 7).prop_map(|days| {
            let hm = |slot: u32| format!("{:02}:{:02}", slot / 2, slot % 2 * 30);
            let mut m: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
            for (day, intervals) in DAYS.iter().zip(days) {
                for (a, b) in intervals {
                    m.entry((*day).to_owned()).or_default().push((hm(a), hm(b)));
                }
            }
            WeeklySchedule(m)
        })
    }

    proptest::proptest! {
        /// Near a clock change or not: a schedule with an interval always
        /// has a next opening; it is open there; and when closed at `at`,
        /// it stays closed until then. Outside repeated hours `is_open` is
        /// the plain wall-clock comparison.
        #[test]
        fn next_open_and_is_open_agree_across_clock_changes(
            zone in 0usize..ZONES.len(),
            change in 0usize..2,
            shift in -129_600i64..129_600,
            schedule in week(),
        ) {
            let (name, changes) = ZONES[zone];
            let h = BusinessHours::parse(name, &schedule, &[]).unwrap();
            let at = utc(changes[change]) + TimeDelta::seconds(shift);
            let open = h.is_open(at);
            let next = h.next_open(at);
            let any = schedule.0.values().any(|v| !v.is_empty());
            proptest::prop_assert_eq!(next.is_some(), any);
            if let Some(next) = next {
                proptest::prop_assert!(next > at);
                proptest::prop_assert!(h.is_open(next));
                if !open {
                    let mut t = at;
                    while t < next {
                        proptest::prop_assert!(!h.is_open(t), "open at {} before {}", t, next);
                        t += TimeDelta::minutes(10);
                    }
                    proptest::prop_assert!(!h.is_open(next - TimeDelta::seconds(1)));
                }
            }
            let local = h.tz.from_utc_datetime(&at.naive_utc()).naive_local();
            if h.tz.from_local_datetime(&local).single().is_some() {
                let day = local.weekday().num_days_from_monday() as usize;
                let wall = h.week[day]
                    .iter()
                    .any(|i| i.start <= local.time() && i.end.is_none_or(|e| local.time() < e));
                proptest::prop_assert_eq!(open, wall);
            }
        }
    }
}
