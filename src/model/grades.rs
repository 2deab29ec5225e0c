//! `grades/<cycle>.json`: a closed cycle's grades, written once by `git okr cycle close`.
//!
//! Google's scale: every KR gets 0.0–1.0 (the score formula on its last value); an
//! objective the weighted mean of its KRs. A `committed` objective is expected to reach
//! 1.0, an `aspirational` one is on target at 0.7.

use super::ids::check_id;
use super::okrs::{Commitment, Status};
use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};

pub const GRADES_DIR: &str = "grades/";
/// A grades file of thousands of KRs stays far below this.
pub const MAX_GRADES_BYTES: usize = 8 * 1024 * 1024;

/// The state path of the grades of cycle `id` (a checked cycle id).
pub fn grades_path(id: &str) -> String {
    format!("{GRADES_DIR}{id}.json")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grades {
    pub schema_version: u32,
    pub cycle: String,
    pub start: String,
    pub end: String,
    pub closed_at: String,
    pub closed_by: String,
    /// The snapshot whose values were graded (`None`: the KRs' recorded values only).
    pub snapshot: Option<String>,
    pub objectives: Vec<ObjectiveGrade>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveGrade {
    pub objective_id: String,
    pub objective: String,
    pub file: String,
    #[serde(rename = "type")]
    pub commitment: Commitment,
    /// 1.0 for committed, 0.7 for aspirational.
    pub expected: f64,
    pub grade: f64,
    pub on_target: bool,
    pub weight: f64,
    pub key_results: Vec<KrGrade>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KrGrade {
    pub kr_id: String,
    pub description: String,
    pub metric_key: String,
    pub baseline: f64,
    pub target: f64,
    /// The last value (`None`: never measured; graded 0).
    pub value: Option<f64>,
    pub grade: f64,
    pub on_target: bool,
    pub status: Status,
    pub weight: f64,
    /// The last check-in's confidence, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

fn check_grade(what: &str, g: f64) -> Result<()> {
    if !g.is_finite() || !(0.0..=1.0).contains(&g) {
        bail!("{what} {g} is outside 0..1");
    }
    Ok(())
}

impl Grades {
    /// Parse and check a grades file read from the ref (`path` is where it was found).
    pub fn parse(path: &str, text: &str) -> Result<Grades> {
        if text.len() > MAX_GRADES_BYTES {
            bail!(
                "{path}: {} bytes, more than the {MAX_GRADES_BYTES} a grades file may hold",
                text.len()
            );
        }
        let g: Grades =
            serde_json::from_str(text).map_err(|e| anyhow!("{path}:{}: {e}", e.line()))?;
        if grades_path(&g.cycle) != path {
            bail!("{path}: cycle {:?} does not match the file name", g.cycle);
        }
        for o in &g.objectives {
            let here = format!("{path}: {}", o.objective_id);
            check_id(&o.objective_id).map_err(|e| anyhow!("{path}: objective_id {e}"))?;
            check_grade(&format!("{here}: grade"), o.grade)?;
            check_grade(&format!("{here}: expected"), o.expected)?;
            for k in &o.key_results {
                check_id(&k.kr_id).map_err(|e| anyhow!("{here}: kr_id {e}"))?;
                check_grade(&format!("{path}: {}: grade", k.kr_id), k.grade)?;
            }
        }
        Ok(g)
    }

    pub fn render(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }
}
