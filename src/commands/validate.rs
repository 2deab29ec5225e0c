//! Validating a file by where it lives on the state, before `init` or `edit` commits it.

use crate::daemon::ArgsCheck;
use crate::model::cycles::{Cycles, CYCLES_FILE};
use crate::model::definitions::{Definitions, DEFINITIONS_FILE};
use crate::model::manual::{ManualMetrics, MANUAL_FILE};
use crate::model::okrs::{is_okr_file, OkrSet, PERMISSIONS_FILE};
use crate::model::permissions::Permissions;
use crate::model::Invalid;
use anyhow::{anyhow, bail, Result};

/// Validate the content a state path would get. OKR files are checked together with
/// the other OKR files in `others` (ids are unique across files).
/// `check_job_args` checks the arguments of scheduled jobs (see `daemon::ArgsCheck`).
pub fn validate_file(
    path: &str,
    bytes: &[u8],
    others: &[(String, String)],
    check_job_args: ArgsCheck,
) -> Result<()> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| anyhow!("{path}: not valid UTF-8 (byte {})", e.valid_up_to()))?;
    if is_okr_file(path) {
        let mut files: Vec<(&str, &str)> = others
            .iter()
            .filter(|(p, _)| p != path && is_okr_file(p))
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        files.push((path, text));
        files.sort();
        let set = OkrSet::parse(files)?;
        refuse_emptied(path, text, others, &set)?;
        let cycles = others
            .iter()
            .find(|(p, _)| p == CYCLES_FILE)
            .map(|(_, t)| Cycles::parse(CYCLES_FILE, t))
            .transpose()?
            .unwrap_or_default();
        crate::rhythm::check_objective_cycles(&set, &cycles)?;
    } else if path == CYCLES_FILE {
        let cycles = Cycles::parse(path, text)?;
        let files: Vec<(&str, &str)> = others
            .iter()
            .filter(|(p, _)| is_okr_file(p))
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        if let Ok(set) = OkrSet::parse(files) {
            crate::rhythm::check_objective_cycles(&set, &cycles)?;
        }
    } else if path.starts_with(crate::model::checkin::CHECKINS_DIR) {
        crate::model::checkin::Checkin::parse(path, text)?;
    } else if path.starts_with(crate::model::grades::GRADES_DIR) {
        crate::model::grades::Grades::parse(path, text)?;
    } else if path == PERMISSIONS_FILE {
        Permissions::parse(path, text)?;
    } else if path == MANUAL_FILE {
        ManualMetrics::parse(path, text)?;
    } else if path == DEFINITIONS_FILE {
        Definitions::parse(path, text)?;
    } else if path == crate::model::jobs::JOBS_FILE {
        crate::daemon::validate_jobs(text, check_job_args)?;
    } else if path == crate::metrics::ci::REPORT_FILE {
        crate::metrics::ci::ReportBuilder::new().json(path, text)?;
    } else if path == crate::metrics::ci::HISTORY_FILE {
        crate::metrics::ci::parse_history(path, text)?;
    } else if path.starts_with(crate::model::snapshot::SNAPSHOT_DIR) && path.ends_with(".json") {
        serde_json::from_str::<crate::model::snapshot::MetricSnapshot>(text)
            .map_err(|e| json_error(path, e))?;
    } else if path.ends_with(".json") {
        serde_json::from_str::<serde_json::Value>(text).map_err(|e| json_error(path, e))?;
    } else if path.ends_with(".jsonl") {
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            serde_json::from_str::<serde_json::Value>(line).map_err(|e| Invalid {
                file: path.to_string(),
                line: Some(i + 1),
                message: e.to_string(),
            })?;
        }
    } else if path.ends_with(".yml") || path.ends_with(".yaml") {
        crate::model::parse_yaml::<serde_yaml::Value>(path, text)?;
    }
    Ok(())
}

fn json_error(path: &str, e: serde_json::Error) -> Invalid {
    Invalid {
        file: path.to_string(),
        line: Some(e.line()),
        message: e.to_string(),
    }
}

/// An OKR file emptied, or left without objectives where it had some, is almost always
/// an editor or a script gone wrong (and it would delete every objective in it): refuse.
fn refuse_emptied(path: &str, text: &str, others: &[(String, String)], set: &OkrSet) -> Result<()> {
    let text = text.trim_start_matches('\u{feff}');
    let had = others
        .iter()
        .find(|(p, _)| p == path)
        .and_then(|(_, old)| crate::model::parse_yaml::<serde_yaml::Value>(path, old).ok())
        .and_then(|v| {
            v.get("objectives")
                .and_then(|o| o.as_sequence())
                .map(|o| o.len())
        })
        .unwrap_or(0);
    let has = set.objectives().filter(|(doc, _)| doc.path == path).count();
    if text.trim().is_empty() && (path == crate::model::okrs::ORG_FILE || had > 0) {
        bail!("{path}: is empty; an OKR file needs `objectives:` (remove it with `git okr okr propose` instead)");
    }
    if had > 0 && has == 0 {
        bail!("{path}: has no objectives where it had {had}; refusing to delete every objective of a file at once");
    }
    Ok(())
}
