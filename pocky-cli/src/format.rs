//! Human-readable numbers as Docker prints them.

#[cfg(test)]
use pocky_engine::human::duration;
pub use pocky_engine::human::{ago, parse_time};

/// Sizes in decimal units with three significant digits: `4.26MB`.
pub fn size(bytes: u64) -> String {
    size_with(bytes, 3)
}

/// Docker's `units.HumanSize`: four significant digits (`system df`'s
/// summary, `4.261MB`).
pub fn size_precise(bytes: u64) -> String {
    size_with(bytes, 4)
}

/// Decimal units with `significant` digits, trailing zeros dropped, as
/// Go's `%.Ng`.
fn size_with(bytes: u64, significant: usize) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let whole_digits = if value >= 100.0 {
        3
    } else if value >= 10.0 {
        2
    } else {
        1
    };
    let digits = significant.saturating_sub(whole_digits);
    let mut s = format!("{value:.digits$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{s}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(999), "999B");
        assert_eq!(size(4_261_000), "4.26MB");
        assert_eq!(size(12_300_000), "12.3MB");
        assert_eq!(size(123_400_000), "123MB");
        assert_eq!(size(1_000_000_000), "1GB");
        assert_eq!(size_precise(4_261_000), "4.261MB");
        assert_eq!(size_precise(16_430_000), "16.43MB");
        assert_eq!(size_precise(123_400_000), "123.4MB");
        assert_eq!(size_precise(0), "0B");
    }

    #[test]
    fn durations_like_docker() {
        assert_eq!(duration(Duration::from_secs(30)), "30 seconds");
        assert_eq!(duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(duration(Duration::from_secs(3 * 86400)), "3 days");
        assert_eq!(duration(Duration::from_secs(20 * 86400)), "2 weeks");
    }

    #[test]
    fn parses_config_times() {
        assert!(parse_time("2024-01-02T03:04:05Z").is_some());
        assert!(parse_time("2024-01-02T03:04:05.123456789Z").is_some());
        assert!(parse_time("garbage").is_none());
    }
}
