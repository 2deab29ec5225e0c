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
//! deployments:            # delivery (DORA) metrics: what counts as a deployment
//!   tag_pattern: "v*"     # tags matching this glob (default v*), or:
//!   branch: production    # each first-parent commit of this branch
//!   hotfix_pattern: "(?i)hotfix"
//! ```

use super::{at, line_of, yaml_error};
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
    Deployments,
    DeploysPerWeek,
    LeadTimeHoursP50,
    LeadTimeHoursP90,
    ChangeFailureRate,
    TimeToRestoreHoursP50,
}

impl GitStat {
    /// Delivery (DORA) statistics come from deployments, not from commit counts.
    pub fn is_delivery(self) -> bool {
        matches!(
            self,
            GitStat::Deployments
                | GitStat::DeploysPerWeek
                | GitStat::LeadTimeHoursP50
                | GitStat::LeadTimeHoursP90
                | GitStat::ChangeFailureRate
                | GitStat::TimeToRestoreHoursP50
        )
    }
}

/// `deployments:` in `metrics/definitions.yml`: which refs are deployments.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct DeploymentsDef {
    /// Tags matching this glob (as `git tag --list PATTERN`) are deployments.
    #[serde(default)]
    pub tag_pattern: Option<String>,
    /// Instead of tags: every first-parent commit of this branch is a deployment.
    #[serde(default)]
    pub branch: Option<String>,
    /// A commit whose subject matches this regex marks the deployment before it failed.
    #[serde(default)]
    pub hotfix_pattern: Option<String>,
}

pub const DEFAULT_TAG_PATTERN: &str = "v*";
pub const DEFAULT_HOTFIX_PATTERN: &str = "(?i)hotfix";

impl DeploymentsDef {
    pub fn tag_pattern(&self) -> &str {
        self.tag_pattern.as_deref().unwrap_or(DEFAULT_TAG_PATTERN)
    }
    pub fn hotfix_pattern(&self) -> &str {
        self.hotfix_pattern
            .as_deref()
            .unwrap_or(DEFAULT_HOTFIX_PATTERN)
    }
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
    #[serde(default)]
    pub deployments: Option<DeploymentsDef>,
}

impl Definitions {
    pub fn parse(path: &str, text: &str) -> Result<Definitions> {
        if text.trim().is_empty() {
            return Ok(Definitions::default());
        }
        let d: Definitions = serde_yaml::from_str(text).map_err(|e| yaml_error(path, e))?;
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
        if let Some(dep) = &d.deployments {
            let here = |field: &str, value: &str| at(path, line_of(text, field, value, 0));
            if dep.tag_pattern.is_some() && dep.branch.is_some() {
                bail!(
                    "{}: deployments: give tag_pattern or branch, not both",
                    here("branch", dep.branch.as_deref().unwrap_or_default())
                );
            }
            if let Some(p) = &dep.tag_pattern {
                if p.trim().is_empty() {
                    bail!(
                        "{}: deployments: tag_pattern is empty",
                        here("tag_pattern", p)
                    );
                }
            }
            regex::Regex::new(dep.hotfix_pattern()).map_err(|e| {
                anyhow!(
                    "{}: deployments: hotfix_pattern is not a regular expression: {e}",
                    here("hotfix_pattern", dep.hotfix_pattern())
                )
            })?;
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

/// An upper date bound: `2026-03-31` means the whole of that day (UTC), a full
/// timestamp means itself.
pub fn parse_until(s: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    let d = parse_date(s)?;
    if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() {
        return Ok(d + chrono::Duration::days(1) - chrono::Duration::seconds(1));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_until_dates_include_the_day() {
        assert_eq!(
            parse_until("2026-03-31").unwrap().to_rfc3339(),
            "2026-03-31T23:59:59+00:00"
        );
        assert_eq!(
            parse_until("2026-03-31T12:00:00Z").unwrap().to_rfc3339(),
            "2026-03-31T12:00:00+00:00"
        );
    }

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
