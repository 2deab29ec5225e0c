//! Durations as people and OKRchestra's scripts write them: plain seconds (`1800`) or
//! Go's form (`90s`, `10m`, `1h30m`, `1.5h`, `500ms` rounded up to whole seconds).

use anyhow::{bail, Result};

/// Whole seconds in `text`.
pub fn parse_secs(text: &str) -> Result<u64> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    let bad = || anyhow::anyhow!("{text:?} is not a duration (seconds, or like 90s, 10m, 1h30m)");
    if t.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > u32::MAX as f64 {
        bail!("{text:?} is too long a duration");
    }
    Ok(total.ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_seconds_and_go_durations() {
        assert_eq!(parse_secs("1800").unwrap(), 1800);
        assert_eq!(parse_secs("90s").unwrap(), 90);
        assert_eq!(parse_secs("10m").unwrap(), 600);
        assert_eq!(parse_secs("1h30m").unwrap(), 5400);
        assert_eq!(parse_secs("1.5h").unwrap(), 5400);
        assert_eq!(parse_secs("500ms").unwrap(), 1);
        for bad in ["", "m", "10x", "1h30", "-5s", "ten"] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }
}
