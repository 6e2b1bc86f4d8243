//! Figures for people: sizes and durations, read and written the same way everywhere
//! (`--keep-within 30d`, `--grace 1h`, and the plans that quote them).

use std::time::Duration;

/// The accepted duration forms, quoted in every parse error.
pub const DURATION_FORMS: &str = "a number and a unit: 45s, 90m, 12h, 30d or 2w";

/// Parses `45s`, `90m`, `12h`, `30d`, `2w` (a whole number and one unit).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("duration {text:?} must be {DURATION_FORMS}"))?;
    let per: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "duration {text:?} has unknown unit {unit:?}; use {DURATION_FORMS}"
            ))
        }
    };
    n.checked_mul(per)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("duration {text:?} is too long"))
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
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500), "1.5 kB");
        assert_eq!(human_bytes(2_000_000), "2.0 MB");
    }
}
