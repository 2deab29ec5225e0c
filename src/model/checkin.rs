//! `checkins/YYYY-MM-DD/HHMMSS-xxxxxxxx.json`: one owner's check-in on a KR — how
//! confident they are, a note, and maybe a value or a status.
//!
//! One file per check-in, never rewritten: two clones' check-ins are different files,
//! so sync takes both without a conflict. The name carries the day, the time and 8
//! random hex digits.

use super::ids::{check_id, check_line, MAX_LINE_LEN};
use super::okrs::Status;
use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};

pub const CHECKINS_DIR: &str = "checkins/";
/// A check-in is a few hundred bytes; anything this big is not one.
pub const MAX_CHECKIN_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkin {
    pub schema_version: u32,
    pub kr_id: String,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who: a git email or `agent:NAME`.
    pub by: String,
    /// 0.0 (no chance) to 1.0 (certain) that the KR reaches its target this cycle.
    pub confidence: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The cycle of the KR's objective at the time, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle: Option<String>,
}

/// The state path of a check-in made at `at` with the random suffix `hex` (8 hex digits).
pub fn checkin_path(at: chrono::DateTime<chrono::Utc>, hex: u32) -> String {
    format!(
        "{CHECKINS_DIR}{}/{}-{hex:08x}.json",
        at.format("%Y-%m-%d"),
        at.format("%H%M%S")
    )
}

/// A confidence as given on the command line or in a file: a number from 0 to 1.
pub fn check_confidence(c: f64) -> Result<(), String> {
    if !c.is_finite() || !(0.0..=1.0).contains(&c) {
        return Err(format!("{c} is outside 0..1 (0 = no chance, 1 = certain)"));
    }
    Ok(())
}

impl Checkin {
    /// Parse and check a check-in file read from the ref.
    pub fn parse(path: &str, text: &str) -> Result<Checkin> {
        if text.len() > MAX_CHECKIN_BYTES {
            bail!(
                "{path}: {} bytes, more than the {MAX_CHECKIN_BYTES} a check-in may hold",
                text.len()
            );
        }
        let c: Checkin =
            serde_json::from_str(text).map_err(|e| anyhow!("{path}:{}: {e}", e.line()))?;
        c.check().map_err(|e| anyhow!("{path}: {e}"))?;
        Ok(c)
    }

    /// The rules every check-in keeps; the error names the field.
    pub fn check(&self) -> Result<()> {
        check_id(&self.kr_id).map_err(|e| anyhow!("kr_id {e}"))?;
        check_line(&self.by).map_err(|e| anyhow!("by {e}"))?;
        if self.by.trim().is_empty() {
            bail!("by is empty");
        }
        chrono::DateTime::parse_from_rfc3339(&self.at)
            .map_err(|_| anyhow!("at {:?} is not an RFC 3339 time", self.at))?;
        check_confidence(self.confidence).map_err(|e| anyhow!("confidence {e}"))?;
        if let Some(note) = &self.note {
            check_line(note).map_err(|e| anyhow!("note {e}"))?;
            if note.chars().count() > MAX_LINE_LEN {
                bail!("note is longer than {MAX_LINE_LEN} characters");
            }
        }
        if let Some(v) = self.value {
            if !v.is_finite() {
                bail!("value {v} is not a finite number");
            }
        }
        if let Some(cycle) = &self.cycle {
            super::cycles::check_cycle_id(cycle).map_err(|e| anyhow!("cycle {e}"))?;
        }
        Ok(())
    }

    /// Milliseconds since the Unix epoch (check-ins are ordered by it).
    pub fn millis(&self) -> i64 {
        chrono::DateTime::parse_from_rfc3339(&self.at)
            .map(|t| t.timestamp_millis())
            .unwrap_or_default()
    }

    pub fn render(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one() -> Checkin {
        Checkin {
            schema_version: 1,
            kr_id: "KR-1.1".into(),
            at: "2026-11-30T10:00:00Z".into(),
            by: "alice@example.com".into(),
            confidence: 0.6,
            note: Some("waiting on review".into()),
            value: None,
            status: Some(Status::AtRisk),
            cycle: Some("2026-Q4".into()),
        }
    }

    #[test]
    fn round_trip_and_paths() {
        let c = one();
        let text = c.render().unwrap();
        assert_eq!(Checkin::parse("x", &text).unwrap(), c);
        let at = chrono::DateTime::parse_from_rfc3339(&c.at)
            .unwrap()
            .to_utc();
        let path = checkin_path(at, 0xab);
        assert_eq!(path, "checkins/2026-11-30/100000-000000ab.json");
    }

    #[test]
    fn hostile_files_name_the_field() {
        let bad = |f: &dyn Fn(&mut Checkin)| {
            let mut c = one();
            f(&mut c);
            Checkin::parse("checkins/d/f.json", &serde_json::to_string(&c).unwrap())
                .unwrap_err()
                .to_string()
        };
        assert!(bad(&|c| c.confidence = 1.5).contains("confidence 1.5 is outside 0..1"));
        assert!(bad(&|c| c.kr_id = "KR\n1".into()).contains("kr_id"));
        assert!(bad(&|c| c.note = Some("a\u{202e}b".into())).contains("note"));
        assert!(bad(&|c| c.at = "yesterday".into()).contains("at \"yesterday\""));
        assert!(bad(&|c| c.cycle = Some("../x".into())).contains("cycle"));
        let err = Checkin::parse("f", "{\"kr_id\": 3}")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("f:1:"), "{err}");
        let big = format!("{{\"note\": \"{}\"}}", "a".repeat(MAX_CHECKIN_BYTES));
        assert!(Checkin::parse("f", &big)
            .unwrap_err()
            .to_string()
            .contains("bytes"));
    }
}
