//! Figures for people: sizes, counts and durations, read and written the same way everywhere
//! (`--keep-within 30d`, `--grace 1h`, and the plans that quote them).

use std::time::Duration;

use crate::sanitize::quote;

/// The accepted duration forms, quoted in every parse error.
pub const DURATION_FORMS: &str = "a number and a unit: 45s, 90m, 12h, 30d or 2w";

/// The longest duration accepted: a century. Longer ones mean nothing for retention and
/// would overflow date arithmetic (a date before year −262,144 cannot be represented).
const MAX_DURATION_SECS: u64 = 100 * 366 * 86_400;
/// [`MAX_DURATION_SECS`] as a duration, for the rules that take durations from elsewhere.
pub const MAX_DURATION: Duration = Duration::from_secs(MAX_DURATION_SECS);

/// Parses `45s`, `90m`, `12h`, `30d`, `2w` (a whole number and one unit, at most a century).
/// Errors quote the input safely (shortened, control characters shown).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("duration {} must be {DURATION_FORMS}", quote(text)))?;
    let per: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "duration {} has unknown unit {}; use {DURATION_FORMS}",
                quote(text),
                quote(unit)
            ))
        }
    };
    match n.checked_mul(per) {
        Some(secs) if secs <= MAX_DURATION_SECS => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "duration {} is longer than 100 years; use a shorter one",
            quote(text)
        )),
    }
}

/// The largest whole unit that writes `d` exactly: `30d`, `90m`, `45s`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    for (per, unit) in [(7 * 86_400, "w"), (86_400, "d"), (3600, "h"), (60, "m")] {
        if secs >= per && secs % per == 0 {
            return format!("{}{unit}", secs / per);
        }
    }
    format!("{secs}s")
}

/// A time to wait, rounded up for people: `under a second`, `45 s`, `7 min`, `1 h 7 min`,
/// `3 d 2 h`.
pub fn about_duration(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    match secs {
        0 => "under a second".into(),
        1..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs.div_ceil(60)),
        3600..86_400 => {
            let mins = secs.div_ceil(60);
            match mins % 60 {
                0 => format!("{} h", mins / 60),
                m => format!("{} h {m} min", mins / 60),
            }
        }
        _ => {
            let hours = secs.div_ceil(3600);
            match hours % 24 {
                0 => format!("{} d", hours / 24),
                h => format!("{} d {h} h", hours / 24),
            }
        }
    }
}

/// `1.2 MB`-style sizes for people.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `65,536`-style counts for people.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_write_alike() {
        assert_eq!(
            parse_duration("2w").unwrap(),
            Duration::from_secs(1_209_600)
        );
        assert_eq!(parse_duration("90m").unwrap(), Duration::from_secs(5_400));
        assert_eq!(parse_duration(" 0s ").unwrap(), Duration::ZERO);
        for bad in [
            "3 fortnights",
            "d",
            "",
            "12",
            "-3d",
            "99999999999999999999w",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains(bad.trim()), "{bad}: {e}");
        }
        for text in ["2w", "30d", "12h", "90m", "45s"] {
            assert_eq!(human_duration(parse_duration(text).unwrap()), text);
        }
        assert_eq!(human_duration(Duration::from_secs(36 * 3600)), "36h");
    }

    #[test]
    fn huge_durations_are_errors_not_overflows() {
        // u64::MAX days used to overflow the multiplication (a panic in debug builds).
        for text in ["18446744073709551615d", "99999999999w", "36600000d"] {
            let e = parse_duration(text).unwrap_err();
            assert!(e.contains("longer than 100 years"), "{e}");
        }
        assert!(parse_duration("36500d").is_ok());
        let e = parse_duration(&format!("{}x", "9".repeat(10_000))).unwrap_err();
        assert!(e.contains("(10,001 characters)") && e.len() < 300, "{e}");
    }

    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500), "1.5 kB");
        assert_eq!(human_bytes(2_000_000), "2.0 MB");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(65_536), "65,536");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(7), "7");
    }

    #[test]
    fn waits_are_rounded_up_for_people() {
        let at = |ms: u64| about_duration(Duration::from_millis(ms));
        assert_eq!(at(0), "under a second");
        assert_eq!(at(1), "1 s");
        assert_eq!(at(74_250), "2 min");
        assert_eq!(at(3_600_000), "1 h");
        assert_eq!(at(3_974_250), "1 h 7 min");
        assert_eq!(at(86_400_000 + 3_600_001), "1 d 2 h");
        assert_eq!(at(2 * 86_400_000), "2 d");
    }
}
