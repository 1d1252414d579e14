//! When a channel's digests are due: `at: "09:30"` or `every: 4h` (from local
//! midnight), on some `days`, in an IANA `timezone`. Local times go through a
//! real time-zone database (jiff's bundled copy): a 09:30 digest is at 09:30
//! on either side of a daylight-saving change; a time that does not exist that
//! day (skipped by a spring-forward) is the first one after it, and one that
//! happens twice (a fall-back) is the first of the two.

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::config::{DigestConfig, DigestDay};
use crate::store::Millis;

#[derive(Debug, Clone)]
pub struct Schedule {
    times: Times,
    /// Empty: every day.
    days: Vec<Weekday>,
    pub timezone: TimeZone,
    /// The zone's name, as the config gave it (`UTC` by default).
    pub timezone_name: String,
}

#[derive(Debug, Clone, Copy)]
enum Times {
    /// Once a day at this local hour and minute.
    At(i8, i8),
    /// Every this many minutes from local midnight.
    Every(i64),
}

/// How far apart `every:` may be: at least a minute, at most a day.
pub const EVERY_RANGE: (i64, i64) = (1, 24 * 60);

impl Schedule {
    /// The schedule a channel's `digest:` says, or what is wrong with it (the
    /// key and the problem), for `check` to report.
    pub fn from_config(digest: &DigestConfig) -> Result<Schedule, (&'static str, String)> {
        let times = match (&digest.at, digest.every) {
            (Some(at), None) => {
                let parsed =
                    parse_at(at).ok_or(("at", format!("`{at}` is not a time of day like \"09:30\"")))?;
                Times::At(parsed.0, parsed.1)
            }
            (None, Some(every)) => {
                let minutes = (every.0.as_secs() / 60) as i64;
                if every.0.as_secs() % 60 != 0 || minutes < EVERY_RANGE.0 || minutes > EVERY_RANGE.1 {
                    return Err(("every", "must be whole minutes, between 1m and 24h".into()));
                }
                Times::Every(minutes)
            }
            (Some(_), Some(_)) => return Err(("at", "give `at` or `every`, not both".into())),
            (None, None) => {
                return Err(("at", "missing: when the digest is sent, `at: \"09:30\"` or `every: 4h`".into()))
            }
        };
        let timezone_name = digest.timezone.clone().unwrap_or_else(|| "UTC".into());
        let timezone = TimeZone::get(&timezone_name).map_err(|_| {
            (
                "timezone",
                format!(
                    "`{timezone_name}` is not an IANA time zone (like Europe/Berlin or America/New_York)"
                ),
            )
        })?;
        let days = digest.days.iter().map(|day| weekday(*day)).collect();
        Ok(Schedule { times, days, timezone, timezone_name })
    }

    /// The first due time strictly after `after`.
    pub fn next_after(&self, after: Millis) -> Millis {
        let today = self.local_date(after);
        (-1..=8)
            .filter_map(|offset| today.checked_add(jiff::Span::new().days(offset)).ok())
            .flat_map(|date| self.due_on(date))
            .filter(|due| *due > after)
            .min()
            .unwrap_or(Millis::MAX)
    }

    /// The last due time at or before `at`, if there was one in the past week.
    pub fn last_at_or_before(&self, at: Millis) -> Option<Millis> {
        let today = self.local_date(at);
        (-8..=1)
            .filter_map(|offset| today.checked_add(jiff::Span::new().days(offset)).ok())
            .flat_map(|date| self.due_on(date))
            .filter(|due| *due <= at)
            .max()
    }

    /// The due times on a local date, in order.
    fn due_on(&self, date: Date) -> Vec<Millis> {
        if !self.days.is_empty() && !self.days.contains(&date.weekday()) {
            return Vec::new();
        }
        let local: Vec<DateTime> = match self.times {
            Times::At(hour, minute) => vec![date.at(hour, minute, 0, 0)],
            Times::Every(minutes) => (0..24 * 60 / minutes)
                .map(|k| date.at(0, 0, 0, 0) + jiff::SignedDuration::from_mins(k * minutes))
                .collect(),
        };
        let mut due: Vec<Millis> = local
            .into_iter()
            .filter_map(|time| self.timezone.to_zoned(time).ok())
            .map(|zoned| zoned.timestamp().as_millisecond())
            .collect();
        // A fall-back repeats an hour of wall-clock times; a due time is once.
        due.dedup();
        due
    }

    fn local_date(&self, at: Millis) -> Date {
        let timestamp = Timestamp::from_millisecond(at).unwrap_or(Timestamp::UNIX_EPOCH);
        timestamp.to_zoned(self.timezone.clone()).date()
    }

    /// `2026-03-30 09:30 CEST`: a due time as the channel's people read it.
    pub fn local_text(&self, at: Millis) -> String {
        let timestamp = Timestamp::from_millisecond(at).unwrap_or(Timestamp::UNIX_EPOCH);
        timestamp.to_zoned(self.timezone.clone()).strftime("%Y-%m-%d %H:%M %Z").to_string()
    }

    /// `Mon 30 Mar`: the local day a digest is for.
    pub fn local_day(&self, at: Millis) -> String {
        let timestamp = Timestamp::from_millisecond(at).unwrap_or(Timestamp::UNIX_EPOCH);
        timestamp.to_zoned(self.timezone.clone()).strftime("%a %-d %b").to_string()
    }
}

fn parse_at(text: &str) -> Option<(i8, i8)> {
    let (hour, minute) = text.trim().split_once(':')?;
    let (hour, minute): (i8, i8) = (hour.parse().ok()?, minute.parse().ok()?);
    ((0..24).contains(&hour) && (0..60).contains(&minute) && text.trim().len() == 5).then_some((hour, minute))
}

fn weekday(day: DigestDay) -> Weekday {
    match day {
        DigestDay::Mon => Weekday::Monday,
        DigestDay::Tue => Weekday::Tuesday,
        DigestDay::Wed => Weekday::Wednesday,
        DigestDay::Thu => Weekday::Thursday,
        DigestDay::Fri => Weekday::Friday,
        DigestDay::Sat => Weekday::Saturday,
        DigestDay::Sun => Weekday::Sunday,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(yaml: &str) -> Schedule {
        Schedule::from_config(&serde_yaml::from_str(yaml).unwrap()).unwrap()
    }

    fn utc(text: &str) -> Millis {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn text(at: Millis) -> String {
        Timestamp::from_millisecond(at).unwrap().to_string()
    }

    #[test]
    fn a_working_day_digest_keeps_its_local_time_across_daylight_saving() {
        let standup = schedule("{ at: \"09:30\", days: [mon, tue, wed, thu, fri], timezone: Europe/Berlin }");
        // Friday 27 March 2026 is still CET (UTC+1); Sunday the 29th moves Berlin to CEST (UTC+2).
        let friday = standup.next_after(utc("2026-03-27T07:00:00Z"));
        assert_eq!(text(friday), "2026-03-27T08:30:00Z");
        let monday = standup.next_after(friday);
        assert_eq!(text(monday), "2026-03-30T07:30:00Z", "the weekend is skipped, and 09:30 is CEST now");
        assert_eq!(standup.last_at_or_before(utc("2026-03-29T12:00:00Z")), Some(friday));
        assert_eq!(standup.local_text(monday), "2026-03-30 09:30 CEST");
        assert_eq!(standup.local_day(monday), "Mon 30 Mar");
    }

    #[test]
    fn a_time_a_spring_forward_skips_is_the_first_after_it_and_a_fall_back_hour_counts_once() {
        let night = schedule("{ at: \"02:30\", timezone: Europe/Berlin }");
        // 29 March 2026, 02:00 CET jumps to 03:00 CEST: 02:30 does not exist.
        assert_eq!(text(night.next_after(utc("2026-03-28T12:00:00Z"))), "2026-03-29T01:30:00Z");
        let hourly = schedule("{ every: 1h, timezone: Europe/Berlin }");
        // 25 October 2026, 03:00 CEST falls back to 02:00 CET: 02:00 happens twice.
        let mut at = utc("2026-10-24T22:30:00Z");
        let mut dues = Vec::new();
        while at < utc("2026-10-25T02:30:00Z") {
            at = hourly.next_after(at);
            dues.push(text(at));
        }
        assert_eq!(
            dues,
            ["2026-10-24T23:00:00Z", "2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"],
            "local 01:00, 02:00 (the first), 03:00, 04:00"
        );
    }

    #[test]
    fn every_counts_from_local_midnight_and_utc_is_the_default_zone() {
        let four = schedule("{ every: 4h }");
        assert_eq!(text(four.next_after(utc("2026-12-03T05:00:00Z"))), "2026-12-03T08:00:00Z");
        assert_eq!(four.timezone_name, "UTC");
    }

    #[test]
    fn a_schedule_names_what_is_wrong_with_it() {
        let error = |yaml: &str| Schedule::from_config(&serde_yaml::from_str(yaml).unwrap()).unwrap_err();
        assert_eq!(error("{ at: \"9.30\" }").0, "at");
        assert_eq!(error("{ at: \"24:00\" }").0, "at");
        assert_eq!(error("{ every: 90s }").0, "every");
        assert_eq!(error("{ every: 2d }").0, "every");
        assert_eq!(error("{ at: \"09:30\", every: 1h }").1, "give `at` or `every`, not both");
        assert_eq!(error("{}").0, "at");
        let zone = error("{ at: \"09:30\", timezone: Mars/Olympus }");
        assert_eq!(zone.0, "timezone");
        assert!(zone.1.contains("Mars/Olympus"), "{}", zone.1);
    }
}
