//! Epoch milliseconds (Pivotal's `occurred_at`) as RFC 3339 UTC text.

/// `1389218474000` → `2014-01-08T22:01:14Z`. Days-to-date is Howard Hinnant's
/// `civil_from_days`, exact for the proleptic Gregorian calendar.
pub fn rfc3339_from_millis(millis: i64) -> String {
    let seconds = millis.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// `2026-11-25T13:00:00Z` (seconds may carry a fraction) → epoch milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-').map(|part| part.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let mut time = time.split(':').map(|part| part.parse::<f64>().ok());
    let (hour, minute, second) = (time.next()??, time.next()??, time.next().flatten().unwrap_or(0.0));
    let seconds =
        days_from_civil(year, month, day) as f64 * 86_400.0 + hour * 3600.0 + minute * 60.0 + second;
    Some((seconds * 1000.0).round() as i64)
}

/// Any of the timestamps trackers send, as epoch milliseconds: RFC 3339 with
/// `Z` or an offset (`+02:00`), Jira's `2021-09-07T09:14:25.958-0400`,
/// GitLab's `2021-09-27 05:00:01 UTC`.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, rest) = text.split_once(['T', ' '])?;
    let rest = rest.trim();
    let (time, offset_minutes) =
        if let Some(time) = rest.strip_suffix('Z').or_else(|| rest.strip_suffix(" UTC")) {
            (time.trim(), 0)
        } else {
            let split = rest.rfind(['+', '-'])?;
            let (time, offset) = rest.split_at(split);
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let digits: String = offset[1..].chars().filter(char::is_ascii_digit).collect();
            if digits.len() != 4 {
                return None;
            }
            let hours: i64 = digits[..2].parse().ok()?;
            let minutes: i64 = digits[2..].parse().ok()?;
            (time, sign * (hours * 60 + minutes))
        };
    let utc = parse_rfc3339(&format!("{date}T{time}Z"))?;
    Some(utc - offset_minutes * 60_000)
}

/// The inverse of `civil_from_days`, from the same source.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_known_instants() {
        assert_eq!(rfc3339_from_millis(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_from_millis(1_389_218_474_000), "2014-01-08T22:01:14Z");
        assert_eq!(rfc3339_from_millis(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_from_millis(-1_000), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn parsing_reads_back_what_formatting_wrote() {
        for millis in [0, 951_782_400_000, 1_764_075_600_000] {
            assert_eq!(parse_rfc3339(&rfc3339_from_millis(millis)), Some(millis));
        }
        assert_eq!(parse_rfc3339("2026-11-25"), None);
    }

    #[test]
    fn trackers_timestamps_read_as_the_same_instant() {
        let instant = parse_rfc3339("2021-09-27T05:00:01Z");
        for text in [
            "2021-09-27 05:00:01 UTC",
            "2021-09-27T05:00:01Z",
            "2021-09-27T07:00:01+02:00",
            "2021-09-27T01:00:01.000-0400",
            " 2021-09-27T05:00:01.000Z ",
        ] {
            assert_eq!(parse_timestamp(text), instant, "{text}");
        }
        for text in ["2021-09-27", "yesterday", "2021-09-27T05:00:01+2", ""] {
            assert_eq!(parse_timestamp(text), None, "{text}");
        }
    }
}
