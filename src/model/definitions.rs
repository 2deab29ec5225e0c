//! `metrics/definitions.yml`: the measured branch, windowed and path-filtered git
//! metrics, and CI settings.
//!
//! ```yaml
//! branch: HEAD            # the measured branch (default HEAD)
//! build_window: 20        # builds counted by ci.build_success_rate (percent 0–100)
//! git:
//!   - key: git.commits.q1
//!     stat: commits       # commits | contributors | lines_added | lines_removed | lines_changed | merge_commits
//!     since: 2026-01-01
//!     until: 2026-03-31
//!     paths: [src/]
//!     branch: main
//! ```

use super::{at, line_of};
use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

pub const DEFINITIONS_FILE: &str = "metrics/definitions.yml";
pub const DEFAULT_BUILD_WINDOW: u32 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum GitStat {
    Commits,
    Contributors,
    LinesAdded,
    LinesRemoved,
    LinesChanged,
    MergeCommits,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GitMetricDef {
    pub key: String,
    pub stat: GitStat,
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default)]
    pub until: Option<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub branch: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Definitions {
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub build_window: Option<u32>,
    #[serde(default)]
    pub git: Vec<GitMetricDef>,
}

impl Definitions {
    pub fn parse(path: &str, text: &str) -> Result<Definitions> {
        if text.trim().is_empty() {
            return Ok(Definitions::default());
        }
        let d: Definitions = super::parse_yaml(path, text)?;
        let mut keys = HashSet::new();
        for def in &d.git {
            let here = at(path, line_of(text, "key", &def.key, 0));
            if !def.key.starts_with("git.") {
                bail!(
                    "{here}: git metric key {:?} must start with \"git.\"",
                    def.key
                );
            }
            super::manual::validate_key(&def.key).map_err(|e| anyhow!("{here}: {e}"))?;
            if !keys.insert(def.key.as_str()) {
                bail!(
                    "{}: duplicate git metric key {:?}",
                    at(path, line_of(text, "key", &def.key, 1)),
                    def.key
                );
            }
            for (field, date) in [("since", &def.since), ("until", &def.until)] {
                if let Some(date) = date {
                    parse_date(date).map_err(|e| anyhow!("{here}: {}: {field}: {e}", def.key))?;
                }
            }
        }
        if d.build_window == Some(0) {
            bail!(
                "{}: build_window must be at least 1",
                at(path, line_of(text, "build_window", "0", 0))
            );
        }
        Ok(d)
    }

    pub fn build_window(&self) -> u32 {
        self.build_window.unwrap_or(DEFAULT_BUILD_WINDOW)
    }
}

/// A date bound as people write it: `2026-01-01` (midnight UTC) or RFC 3339.
pub fn parse_date(s: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&chrono::Utc))
        .map_err(|_| anyhow!("{s:?} is not a date (YYYY-MM-DD or RFC 3339)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_definitions() {
        let d = Definitions::parse(
            DEFINITIONS_FILE,
            "git:\n  - key: git.commits.q1\n    stat: commits\n    since: 2026-01-01\n    paths: [src/]\n",
        )
        .unwrap();
        assert_eq!(d.git[0].stat, GitStat::Commits);
        assert_eq!(d.build_window(), 20);
    }

    #[test]
    fn rejects_bad_definitions() {
        let err = Definitions::parse(
            DEFINITIONS_FILE,
            "git:\n  - key: git.x\n    stat: commits\n    since: yesterday\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("metrics/definitions.yml:2: git.x: since"),
            "{err}"
        );
        let err = Definitions::parse(DEFINITIONS_FILE, "git:\n  - key: ci.x\n    stat: commits\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("must start with"), "{err}");
        let err = Definitions::parse(DEFINITIONS_FILE, "git:\n  - key: git.x\n    stat: stars\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("metrics/definitions.yml:3:"), "{err}");
    }
}
