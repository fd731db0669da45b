//! Timestamps as platforms write them. Everything is stored as a UTC instant.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// RFC 3339 with an offset (`2026-11-20T10:00:00-05:00`, `…Z`).
pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
    text.trim()
        .parse::<Timestamp>()
        .map_err(|_| format!("{text:?} is not an RFC 3339 timestamp"))
}

/// A wall-clock time without offset (`2026-11-20T10:00:00` or `2026-11-20 10:00:00`) read in
/// `zone` (WooCommerce's `_gmt` fields are UTC; Youzan's are China time).
pub fn parse_local(text: &str, zone: &TimeZone) -> Result<Timestamp, String> {
    let normalised = text.trim().replacen(' ', "T", 1);
    let civil: DateTime = normalised
        .parse()
        .map_err(|_| format!("{text:?} is not a date and time"))?;
    civil
        .to_zoned(zone.clone())
        .map(|z| z.timestamp())
        .map_err(|_| format!("{text:?} is out of range"))
}

/// Unix seconds given as text.
pub fn parse_unix_seconds(text: &str) -> Option<Timestamp> {
    text.trim()
        .parse::<i64>()
        .ok()
        .and_then(|s| Timestamp::from_second(s).ok())
}

/// An IANA zone from the compiled-in database.
pub fn time_zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| format!("{name:?} is not an IANA time zone"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_time_formats_become_the_same_instant() {
        let utc = parse_rfc3339("2026-11-20T02:00:00Z").unwrap();
        assert_eq!(parse_rfc3339("2026-11-19T21:00:00-05:00").unwrap(), utc);
        assert_eq!(
            parse_local("2026-11-20T02:00:00", &TimeZone::UTC).unwrap(),
            utc
        );
        let shanghai = time_zone("Asia/Shanghai").unwrap();
        assert_eq!(parse_local("2026-11-20 10:00:00", &shanghai).unwrap(), utc);
        assert!(time_zone("Mars/Olympus").is_err());
    }
}
