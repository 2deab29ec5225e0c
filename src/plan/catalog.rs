//! The plans on the state ref and the runs made of them: `plan list` and `plan show`.
//!
//! A plan or run file that does not parse is listed as unreadable (with the parser's
//! words) instead of hiding every other plan: anyone can write the state ref.

use crate::model::plan::{Plan, RunResult, TaskStatus, PLANS_DIR, RUNS_DIR};
use crate::store::Snapshot;
use anyhow::Result;
use serde::Serialize;

/// One line of `plan list`.
#[derive(Debug, Clone, Serialize)]
pub struct PlanEntry {
    pub plan_id: String,
    pub path: String,
    pub created_at: String,
    pub created_by: String,
    pub generator: String,
    pub key_results: Vec<String>,
    /// The objectives of those KRs.
    pub objectives: Vec<String>,
    pub tasks: usize,
    pub runs: Vec<RunEntry>,
    /// Why the file could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A run of a plan, counted.
#[derive(Debug, Clone, Serialize)]
pub struct RunEntry {
    pub run_id: String,
    pub path: String,
    pub adapter: String,
    /// `completed`, `failed`, `cancelled`, `unreadable`, or an imported OKRchestra run's
    /// own word (so text, not `RunStatus`).
    pub status: String,
    pub started_at: String,
    pub passed: usize,
    pub failed: usize,
    /// The KRs its tasks worked on.
    pub key_results: Vec<String>,
    /// The first failed task's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// Every plan, oldest first, each with its runs (oldest first).
pub fn list(snap: &Snapshot<'_>) -> Result<Vec<PlanEntry>> {
    let runs = runs(snap)?;
    let mut plans: Vec<PlanEntry> = Vec::new();
    for path in snap.list(PLANS_DIR)? {
        if !path.ends_with(".json") {
            continue;
        }
        let text = snap.read_text(&path)?.unwrap_or_default();
        let entry = match serde_json::from_str::<Plan>(&text) {
            Ok(plan) => entry(&path, &plan, &runs),
            Err(e) => unreadable(&path, format!("{path}:{}: not a plan: {e}", e.line())),
        };
        plans.push(entry);
    }
    plans.sort_by(|a, b| (&a.created_at, &a.plan_id).cmp(&(&b.created_at, &b.plan_id)));
    Ok(plans)
}

/// Which plan is the newest: of all, or of those for a KR or an objective.
#[derive(Debug, Clone, Copy)]
pub enum Newest<'a> {
    Any,
    ForKr(&'a str),
    ForObjective(&'a str),
}

/// The newest readable plan that `which` picks, by the time it was made. A plan
/// claiming a time more than a day ahead is passed over: anyone can write the state,
/// and a made-up date must not make a plan the one a schedule runs.
pub fn newest(
    snap: &Snapshot<'_>,
    which: Newest<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<PlanEntry>> {
    let horizon = now + chrono::Duration::days(1);
    let chosen = |p: &PlanEntry| match which {
        Newest::Any => true,
        Newest::ForKr(kr) => p.key_results.iter().any(|k| k == kr),
        Newest::ForObjective(o) => p.objectives.iter().any(|id| id == o),
    };
    Ok(list(snap)?
        .into_iter()
        .filter(|p| p.error.is_none() && chosen(p))
        .filter_map(|p| {
            let made = chrono::DateTime::parse_from_rfc3339(&p.created_at).ok()?;
            (made <= horizon).then_some((made, p))
        })
        // The last of equals: `list` is in file order, the later written last.
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, p)| p))
}

/// The runs of one plan (by its id), oldest first.
pub fn runs_of(snap: &Snapshot<'_>, plan_id: &str) -> Result<Vec<RunEntry>> {
    Ok(runs(snap)?
        .into_iter()
        .filter(|(id, _)| id == plan_id)
        .map(|(_, run)| run)
        .collect())
}

fn entry(path: &str, plan: &Plan, runs: &[(String, RunEntry)]) -> PlanEntry {
    PlanEntry {
        plan_id: plan.plan_id.clone(),
        path: path.to_string(),
        created_at: plan.created_at.clone(),
        created_by: plan.created_by.clone(),
        generator: plan.generator.clone(),
        key_results: plan.key_results.iter().map(|k| k.kr_id.clone()).collect(),
        objectives: {
            let mut ids: Vec<String> = plan
                .key_results
                .iter()
                .map(|k| k.objective_id.clone())
                .collect();
            ids.sort();
            ids.dedup();
            ids
        },
        tasks: plan.tasks.len(),
        runs: runs
            .iter()
            .filter(|(id, _)| *id == plan.plan_id)
            .map(|(_, r)| r.clone())
            .collect(),
        error: None,
    }
}

fn unreadable(path: &str, error: String) -> PlanEntry {
    let name = path.rsplit('/').next().unwrap_or(path);
    PlanEntry {
        plan_id: name.trim_end_matches(".json").to_string(),
        path: path.to_string(),
        created_at: String::new(),
        created_by: String::new(),
        generator: String::new(),
        key_results: Vec::new(),
        objectives: Vec::new(),
        tasks: 0,
        runs: Vec::new(),
        error: Some(error),
    }
}

/// Every run with the plan id it ran (empty when the run file is unreadable), oldest first.
pub fn all_runs(snap: &Snapshot<'_>) -> Result<Vec<(String, RunEntry)>> {
    runs(snap)
}

fn runs(snap: &Snapshot<'_>) -> Result<Vec<(String, RunEntry)>> {
    let mut out = Vec::new();
    for path in snap.list(RUNS_DIR)? {
        let Some(run_id) = path
            .strip_prefix("runs/")
            .and_then(|p| p.strip_suffix("/result.json"))
        else {
            continue;
        };
        let text = snap.read_text(&path)?.unwrap_or_default();
        let run = match serde_json::from_str::<RunResult>(&text) {
            Ok(run) => run,
            Err(e) => {
                out.push(other_run(run_id, &path, &text, &e));
                continue;
            }
        };
        let passed = count(&run, |s| s == TaskStatus::Passed);
        let failure = run
            .tasks
            .iter()
            .find(|t| t.status != TaskStatus::Passed)
            .map(|t| {
                format!(
                    "{}: {}",
                    t.task_id,
                    t.reason.as_deref().unwrap_or(t.status.as_str())
                )
            });
        out.push((
            run.plan_id.clone(),
            RunEntry {
                run_id: run.run_id.clone(),
                path: path.clone(),
                adapter: run.adapter.clone(),
                status: run.status.to_string(),
                started_at: run.started_at.clone(),
                passed,
                failed: run.tasks.len() - passed,
                key_results: {
                    let mut krs: Vec<String> = run.tasks.iter().map(|t| t.kr_id.clone()).collect();
                    krs.sort();
                    krs.dedup();
                    krs
                },
                failure,
            },
        ));
    }
    out.sort_by(|a, b| (&a.1.started_at, &a.1.run_id).cmp(&(&b.1.started_at, &b.1.run_id)));
    Ok(out)
}

/// A run file of another shape (an older version, OKRchestra's): what its common
/// fields say; a file that is not JSON at all is unreadable.
fn other_run(
    run_id: &str,
    path: &str,
    text: &str,
    error: &serde_json::Error,
) -> (String, RunEntry) {
    let value: Option<serde_json::Value> = serde_json::from_str(text).ok();
    let field = |keys: &[&str]| -> Option<String> {
        let v = value.as_ref()?;
        keys.iter()
            .find_map(|k| v.get(k).and_then(|x| x.as_str()).filter(|x| !x.is_empty()))
            .map(str::to_string)
    };
    let entry = RunEntry {
        run_id: field(&["run_id", "id"]).unwrap_or_else(|| run_id.to_string()),
        path: path.to_string(),
        adapter: field(&["adapter"]).unwrap_or_default(),
        status: match &value {
            Some(_) => field(&["status", "state", "outcome"]).unwrap_or_else(|| "-".into()),
            None => "unreadable".into(),
        },
        started_at: field(&["started_at", "finished_at", "created_at"]).unwrap_or_default(),
        passed: 0,
        failed: 0,
        key_results: field(&["kr_id"]).into_iter().collect(),
        failure: match &value {
            Some(_) => field(&["reason", "summary", "error", "message"]),
            None => Some(format!("{path}:{}: {error}", error.line())),
        },
    };
    (field(&["plan_id"]).unwrap_or_default(), entry)
}

fn count(run: &RunResult, wanted: impl Fn(TaskStatus) -> bool) -> usize {
    run.tasks.iter().filter(|t| wanted(t.status)).count()
}
