//! Duration flags: every one takes a human duration in humantime's syntax (`500ms`, `10s`,
//! `2m`, `1h 30m`), like the API's `?wait=5s`, from the command line or from its environment
//! fallback alike.
//!
//! A bare number keeps the unit the flag's old name carried, so scripts written before the
//! rename run unchanged: milliseconds for flags that were `…-ms` (`--lease-ttl-ms 1500`, now
//! an alias of `--lease-ttl`), seconds for flags that were `…-s` or took seconds
//! (`--duration-s 60`, `load --duration 5`). Each flag picks its parser: [`millis`] or
//! [`seconds`].

use std::fmt;
use std::time::Duration;

/// A duration flag's value. Displayed in the syntax it is typed in (`30s`, `1s 500ms`), so
/// clap's `[default: …]` reads as a duration and parses back through either parser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(Duration);

impl HumanDuration {
    pub const ZERO: HumanDuration = HumanDuration(Duration::ZERO);

    pub const fn from_millis(ms: u64) -> HumanDuration {
        HumanDuration(Duration::from_millis(ms))
    }

    pub const fn from_secs(s: u64) -> HumanDuration {
        HumanDuration(Duration::from_secs(s))
    }

    pub const fn get(self) -> Duration {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Whole milliseconds (the parsers refuse anything finer), saturating at `u64::MAX`.
    pub fn as_millis(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }
}

impl From<Duration> for HumanDuration {
    fn from(d: Duration) -> HumanDuration {
        HumanDuration(d)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// What a bare number means to a flag.
#[derive(Clone, Copy)]
enum Unit {
    Millis,
    Seconds,
}

/// A duration flag whose bare numbers are milliseconds (`1500`, or `1.5s`, `1s 500ms`).
pub fn millis(text: &str) -> Result<HumanDuration, String> {
    parse(text, Unit::Millis)
}

/// A duration flag whose bare numbers are seconds, a fraction allowed (`60`, `2.5`, or `1m`).
pub fn seconds(text: &str) -> Result<HumanDuration, String> {
    parse(text, Unit::Seconds)
}

fn parse(text: &str, unit: Unit) -> Result<HumanDuration, String> {
    let text = text.trim();
    let bare = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let duration = match (bare, unit) {
        (true, Unit::Millis) => text.parse().map(Duration::from_millis).ok(),
        (true, Unit::Seconds) => text
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok()),
        (false, _) => humantime::parse_duration(text).ok(),
    };
    let bare_unit = match unit {
        Unit::Millis => "milliseconds",
        Unit::Seconds => "seconds",
    };
    let duration = duration.ok_or_else(|| {
        format!("not a duration: write e.g. 500ms, 10s or 2m (a bare number is {bare_unit})")
    })?;
    if duration.subsec_nanos() % 1_000_000 != 0 {
        return Err("finer than a millisecond: durations here count whole milliseconds".into());
    }
    Ok(HumanDuration(duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> Result<u64, String> {
        millis(text).map(HumanDuration::as_millis)
    }

    #[test]
    fn human_durations_and_bare_numbers_in_the_flag_s_old_unit() {
        assert_eq!(ms("1500"), Ok(1_500));
        assert_eq!(ms("1500ms"), Ok(1_500));
        assert_eq!(ms("1s 500ms"), Ok(1_500));
        assert_eq!(ms("10s"), Ok(10_000));
        assert_eq!(ms("2m"), Ok(120_000));
        assert_eq!(ms(" 0s "), Ok(0));
        let s = |text| seconds(text).map(HumanDuration::as_millis);
        assert_eq!(s("60"), Ok(60_000));
        assert_eq!(s("2.5"), Ok(2_500));
        assert_eq!(s("500ms"), Ok(500));
        assert_eq!(s("2m"), Ok(120_000));
    }

    #[test]
    fn what_is_not_a_duration_is_refused_in_one_line() {
        for text in ["", "abc", "10 parsecs", "-5s", "1.2.3", "1e3", "5 s ms"] {
            let err = millis(text).expect_err(text);
            assert!(err.starts_with("not a duration"), "{text}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        assert!(millis("1.5").is_err(), "bare milliseconds are whole");
        assert!(seconds("abc")
            .unwrap_err()
            .ends_with("a bare number is seconds)"));
        assert!(millis("1500us").unwrap_err().starts_with("finer than"));
        assert!(seconds("0.0005").unwrap_err().starts_with("finer than"));
    }

    #[test]
    fn the_display_parses_back_to_the_same_duration() {
        for ms in [0, 5, 250, 1_500, 30_000, 90_061_001] {
            let d = HumanDuration::from_millis(ms);
            assert_eq!(millis(&d.to_string()), Ok(d), "{d}");
            assert_eq!(seconds(&d.to_string()), Ok(d), "{d}");
        }
        assert_eq!(HumanDuration::from_millis(1_500).to_string(), "1s 500ms");
        assert_eq!(HumanDuration::ZERO.to_string(), "0s");
    }
}
