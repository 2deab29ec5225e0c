//! OKRchestra's `artifacts/`: plans, runs and proposals, converted to the records
//! git-okr keeps on the state ref (`plans/`, `runs/`, `proposals/`). Every file is
//! parsed with OKRchestra's own shape first (errors name the file and line), names
//! that become state paths must be plain, and sizes are bounded.

use crate::model::okrs::OkrSet;
use crate::model::plan::{
    plan_path, Guardrails, KrContext, LogInfo, Plan, RunResult, Task, TaskResult, TaskStatus,
    PLAN_SCHEMA_VERSION,
};
use crate::model::proposal::{
    is_proposal_id, Change, FileDiff, LifecycleStep, Proposal, ProposalStatus,
};
use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Transcripts are kept as task logs, cut to their last 256 KiB like `plan run`'s.
const LOG_CAP: usize = 256 * 1024;
/// A file bigger than this in artifacts/ is refused.
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// A name that may become one component of a state path.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        bail!("{what}: {name:?} is not a plain name (letters, digits, '-', '_', '.')");
    }
    Ok(())
}

pub fn read_text(path: &Path, shown: &str) -> Result<String> {
    let meta = std::fs::symlink_metadata(path).with_context(|| format!("reading {shown}"))?;
    if !meta.is_file() {
        bail!("{shown}: not a regular file");
    }
    if meta.len() > MAX_FILE {
        bail!(
            "{shown}: {} bytes is more than an import takes ({MAX_FILE})",
            meta.len()
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {shown}"))?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "{shown}: not valid UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// The sub-folders of `dir`, sorted by name (none when it does not exist).
pub fn sub_dirs(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        // Symlinks are not followed: an import reads the workspace, not what it points at.
        if entry.file_type()?.is_dir() {
            let name = entry
                .file_name()
                .into_string()
                .map_err(|n| anyhow!("{}: {n:?}: name is not UTF-8", dir.display()))?;
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

// ---- plans ----

#[derive(Deserialize)]
struct OcPlan {
    id: String,
    #[serde(default)]
    as_of: String,
    #[serde(default)]
    generated_at: String,
    items: Vec<OcItem>,
}

#[derive(Deserialize)]
struct OcItem {
    id: String,
    #[serde(default)]
    objective_id: String,
    kr_id: String,
    #[serde(default)]
    hypothesis: String,
    task: String,
    #[serde(default)]
    agent_role: String,
    expected_metric_change: OcChange,
    #[serde(default)]
    evidence_plan: Vec<String>,
}

#[derive(Deserialize)]
struct OcChange {
    metric_key: String,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    baseline: f64,
    #[serde(default)]
    target: f64,
}

/// `artifacts/plans/<date>/plan.json` → `plans/<date>/<plan-id>.json`.
pub fn convert_plan(
    shown: &str,
    text: &str,
    okrs: &OkrSet,
    guardrails: &Guardrails,
) -> Result<(String, Plan)> {
    let oc: OcPlan =
        serde_json::from_str(text).map_err(|e| anyhow!("{shown}:{}: not a plan: {e}", e.line()))?;
    check_name(&format!("{shown}: id"), &oc.id)?;
    if oc.items.is_empty() {
        bail!("{shown}: the plan has no items");
    }
    let date = chrono::NaiveDate::parse_from_str(&oc.as_of, "%Y-%m-%d")
        .map_err(|_| anyhow!("{shown}: as_of {:?} is not a date (YYYY-MM-DD)", oc.as_of))?;
    let created_at = match chrono::DateTime::parse_from_rfc3339(&oc.generated_at) {
        Ok(t) => t
            .to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        Err(_) if oc.generated_at.is_empty() => format!("{date}T00:00:00Z"),
        Err(_) => bail!(
            "{shown}: generated_at {:?} is not an RFC 3339 time",
            oc.generated_at
        ),
    };
    let mut key_results: Vec<KrContext> = Vec::new();
    let mut tasks = Vec::new();
    for (i, item) in oc.items.iter().enumerate() {
        let here = format!("{shown}: items[{i}]");
        check_name(&format!("{here}: id"), &item.id)?;
        if item.kr_id.trim().is_empty() || item.task.trim().is_empty() {
            bail!("{here}: kr_id and task are required");
        }
        if tasks.iter().any(|t: &Task| t.id == item.id) {
            bail!("{here}: duplicate item id {:?}", item.id);
        }
        if !key_results.iter().any(|k| k.kr_id == item.kr_id) {
            key_results.push(kr_context(item, okrs));
        }
        let title: String = item
            .task
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        let mut instructions = item.task.clone();
        if !item.hypothesis.trim().is_empty() {
            instructions.push_str(&format!("\n\nHypothesis: {}", item.hypothesis.trim()));
        }
        if !item.agent_role.trim().is_empty() {
            instructions.push_str(&format!("\n\nAgent role: {}", item.agent_role.trim()));
        }
        let acceptance_check = if item.evidence_plan.is_empty() {
            format!(
                "{} moves towards {} ({})",
                item.expected_metric_change.metric_key,
                crate::model::fmt_num(item.expected_metric_change.target),
                item.expected_metric_change.direction
            )
        } else {
            item.evidence_plan.join("; ")
        };
        tasks.push(Task {
            id: item.id.clone(),
            kr_id: item.kr_id.clone(),
            title,
            instructions,
            acceptance_check,
            metric_key: item.expected_metric_change.metric_key.clone(),
        });
    }
    let plan = Plan {
        schema_version: PLAN_SCHEMA_VERSION,
        plan_id: oc.id.clone(),
        created_at,
        created_by: "okrchestra".into(),
        generator: "okrchestra".into(),
        owner: None,
        base: None,
        key_results,
        // OKRchestra gives each item a role; the plan keeps the first one given.
        agent_role: oc
            .items
            .iter()
            .map(|i| i.agent_role.trim())
            .find(|r| !r.is_empty())
            .map(str::to_string),
        guardrails: guardrails.clone(),
        tasks,
    };
    Ok((plan_path(&date.to_string(), &oc.id), plan))
}

fn kr_context(item: &OcItem, okrs: &OkrSet) -> KrContext {
    let change = &item.expected_metric_change;
    match okrs.find_kr(&item.kr_id) {
        Some(k) => KrContext {
            kr_id: k.kr.kr_id.clone(),
            description: k.kr.description.clone(),
            objective_id: k.objective.objective_id.clone(),
            objective: k.objective.objective.clone(),
            metric_key: k.kr.metric_key.clone(),
            baseline: k.kr.baseline,
            current: k.kr.current,
            target: k.kr.target,
            gap: k.kr.target - k.kr.current.unwrap_or(k.kr.baseline),
            direction: direction(k.kr.baseline, k.kr.target),
            owner: k
                .kr
                .owner_id
                .clone()
                .or_else(|| k.objective.owner_id.clone()),
            status: k.kr.status.to_string(),
            unit: k.kr.unit.clone(),
            evidence: Vec::new(),
        },
        // A plan about a KR that is gone keeps what the plan itself said about it.
        None => KrContext {
            kr_id: item.kr_id.clone(),
            description: String::new(),
            objective_id: item.objective_id.clone(),
            objective: String::new(),
            metric_key: change.metric_key.clone(),
            baseline: change.baseline,
            current: None,
            target: change.target,
            gap: change.target - change.baseline,
            direction: direction(change.baseline, change.target),
            owner: None,
            status: "unknown".into(),
            unit: None,
            evidence: Vec::new(),
        },
    }
}

fn direction(baseline: f64, target: f64) -> String {
    if target > baseline {
        "increase"
    } else if target < baseline {
        "decrease"
    } else {
        "hold"
    }
    .into()
}

// ---- runs ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OcResult {
    #[allow(dead_code)]
    schema_version: String,
    summary: String,
    #[allow(dead_code)]
    proposed_changes: Vec<String>,
    #[allow(dead_code)]
    kr_targets: Vec<String>,
    #[allow(dead_code)]
    kr_impact_claim: String,
}

/// `artifacts/runs/<run-id>/item-NNNN/{result.json,transcript.log}` →
/// `runs/<run-id>/result.json` plus each item's transcript tail as `<item>.stdout`.
/// An item passed when its result.json is valid by OKRchestra's rules.
pub fn convert_run(
    run_id: &str,
    dir: &Path,
    plan_of_run: Option<&(String, String)>,
) -> Result<BTreeMap<String, Vec<u8>>> {
    let shown_run = format!("artifacts/runs/{run_id}");
    check_name(&shown_run, run_id)?;
    let started = chrono::NaiveDateTime::parse_from_str(run_id, "%Y%m%dT%H%M%SZ")
        .map(|t| {
            t.and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_default();
    let mut files = BTreeMap::new();
    let mut tasks = Vec::new();
    for (item, item_dir) in sub_dirs(dir)? {
        let shown = format!("{shown_run}/{item}");
        check_name(&shown, &item)?;
        let result_path = item_dir.join("result.json");
        let (status, reason, summary) = if result_path.is_file() {
            let text = read_text(&result_path, &format!("{shown}/result.json"))?;
            match serde_json::from_str::<OcResult>(&text) {
                Ok(r) => (
                    TaskStatus::Passed,
                    None,
                    Some(r.summary.chars().take(2000).collect()),
                ),
                Err(e) => (
                    TaskStatus::Failed,
                    Some(format!("result.json is invalid: {e}")),
                    None,
                ),
            }
        } else {
            (TaskStatus::Failed, Some("no result.json".to_string()), None)
        };
        let transcript = item_dir.join("transcript.log");
        let dir = format!("{}/{item}", crate::model::plan::run_dir(run_id));
        let transcript = if transcript.is_file() {
            let text = read_text(&transcript, &format!("{shown}/transcript.log"))?;
            let total = text.len();
            let mut cut = total.saturating_sub(LOG_CAP);
            while !text.is_char_boundary(cut) {
                cut += 1;
            }
            let path = format!("{dir}/transcript.log");
            files.insert(path.clone(), text.as_bytes()[cut..].to_vec());
            Some(LogInfo {
                path,
                bytes_total: total as u64,
                bytes_kept: (total - cut) as u64,
                truncated: cut > 0,
            })
        } else {
            None
        };
        tasks.push(TaskResult {
            task_id: item.clone(),
            kr_id: String::new(),
            title: item.clone(),
            status,
            duration_ms: 0,
            started_at: None,
            exit_code: None,
            signal: None,
            reason,
            summary,
            agent: "okrchestra".into(),
            transcript,
            dir: Some(dir),
            report: None,
            branch: None,
            measured: None,
            violations: Vec::new(),
        });
    }
    let all_passed = !tasks.is_empty() && tasks.iter().all(|t| t.status == TaskStatus::Passed);
    let (plan_id, plan_path) = plan_of_run.cloned().unwrap_or_default();
    let result = RunResult {
        schema_version: 1,
        run_id: run_id.to_string(),
        plan_id,
        plan_path,
        adapter: "okrchestra".into(),
        status: if all_passed {
            crate::model::plan::RunStatus::Completed
        } else {
            crate::model::plan::RunStatus::Failed
        },
        started_at: started.clone(),
        finished_at: started,
        duration_ms: 0,
        parallel: 1,
        timeout_secs: 0,
        base: None,
        start_commit: None,
        in_place: true,
        tasks,
        violations: Vec::new(),
    };
    files.insert(
        format!("{}/result.json", crate::model::plan::run_dir(run_id)),
        (serde_json::to_string_pretty(&result)? + "\n").into_bytes(),
    );
    Ok(files)
}

// ---- proposals ----

#[derive(Deserialize)]
struct OcProposal {
    id: String,
    agent_id: String,
    #[serde(default)]
    created_at: String,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    note: String,
}

/// An OKRchestra proposal read from its folder, ready to become ours once the commit
/// it is based on exists.
#[derive(Debug, Clone)]
pub struct ImportedProposal {
    /// OKRchestra's folder name (how its audit events refer to it).
    pub folder: String,
    pub id: String,
    pub proposer: String,
    pub created: String,
    pub reason: String,
    /// `okrs/<file>` → the whole proposed content.
    pub files: Vec<(String, String)>,
    /// Set when its audit log shows it applied: (actor, RFC 3339 time).
    pub applied: Option<(String, String)>,
}

/// A stable proposal id for an OKRchestra proposal: its day and a hash of its id.
pub fn proposal_id(created: &str, original: &str) -> String {
    let day = created.get(..10).unwrap_or("").replace('-', "");
    let day = if day.len() == 8 && day.bytes().all(|b| b.is_ascii_digit()) {
        day
    } else {
        "19700101".to_string()
    };
    // FNV-1a: stable across versions and platforms, which the id must be.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in original.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    let id = format!("P-{day}-{:012x}", h & 0xffff_ffff_ffff);
    debug_assert!(is_proposal_id(&id));
    id
}

/// `artifacts/proposals/<folder>/{proposal.json, *.yml}`.
pub fn read_proposal(folder: &str, dir: &Path) -> Result<ImportedProposal> {
    let shown = format!("artifacts/proposals/{folder}");
    check_name(&shown, folder)?;
    let meta_shown = format!("{shown}/proposal.json");
    let text = read_text(&dir.join("proposal.json"), &meta_shown)?;
    let meta: OcProposal = serde_json::from_str(&text)
        .map_err(|e| anyhow!("{meta_shown}:{}: not a proposal: {e}", e.line()))?;
    let agent = meta.agent_id.trim();
    if agent.is_empty()
        || agent.len() > 100
        || agent.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        bail!(
            "{meta_shown}: agent_id {:?} is not an agent name",
            meta.agent_id
        );
    }
    let created = match chrono::DateTime::parse_from_rfc3339(&meta.created_at) {
        Ok(t) => t
            .to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        Err(_) => bail!(
            "{meta_shown}: created_at {:?} is not an RFC 3339 time",
            meta.created_at
        ),
    };
    if meta.files.is_empty() {
        bail!("{meta_shown}: files is empty: the proposal changes nothing");
    }
    let mut files = Vec::new();
    for name in &meta.files {
        check_name(&format!("{meta_shown}: files"), name)?;
        if !(name.ends_with(".yml") || name.ends_with(".yaml")) {
            bail!("{meta_shown}: files: {name:?} is not a YAML file");
        }
        let path = format!("okrs/{name}");
        if path == crate::model::okrs::PERMISSIONS_FILE {
            bail!("{meta_shown}: proposes okrs/permissions.yml, which no proposal may change (permissions are set by people, in the state)");
        }
        let content = read_text(&dir.join(name), &format!("{shown}/{name}"))?;
        files.push((path, content));
    }
    let reason = match meta.note.trim() {
        "" => format!("imported from OKRchestra proposal {}", meta.id),
        note => note.to_string(),
    };
    Ok(ImportedProposal {
        folder: folder.to_string(),
        id: proposal_id(&created, &meta.id),
        proposer: format!("agent:{agent}"),
        created,
        reason,
        files,
        applied: None,
    })
}

impl ImportedProposal {
    /// Our proposal: whole-file changes against `base` (the import's commit, whose OKR
    /// files are `okrs`), applied ones with the approval and application their log shows.
    pub fn to_proposal(&self, base: &str, okrs: &BTreeMap<String, String>) -> Proposal {
        let changes = self
            .files
            .iter()
            .map(|(path, content)| Change::PutFile {
                path: path.clone(),
                content: content.clone(),
            })
            .collect();
        let files: Vec<FileDiff> = self
            .files
            .iter()
            .map(|(path, content)| {
                crate::proposal::file_diff(path, okrs.get(path).map(String::as_str), Some(content))
            })
            .collect();
        let mut lifecycle = vec![LifecycleStep {
            status: ProposalStatus::Proposed,
            by: self.proposer.clone(),
            at: self.created.clone(),
            reason: None,
        }];
        if let Some((by, at)) = &self.applied {
            for status in [ProposalStatus::Approved, ProposalStatus::Applied] {
                lifecycle.push(LifecycleStep {
                    status,
                    by: by.clone(),
                    at: at.clone(),
                    reason: Some("okrchestra okr apply --i-understand".into()),
                });
            }
        }
        Proposal {
            id: self.id.clone(),
            proposer: self.proposer.clone(),
            created: self.created.clone(),
            base: base.to_string(),
            reason: self.reason.clone(),
            changes,
            krs: Vec::new(),
            objectives: Vec::new(),
            lifecycle,
            files,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids() {
        assert!(check_name("x", "20260117T224052Z").is_ok());
        assert!(check_name("x", "..").is_err());
        assert!(check_name("x", "a/b").is_err());
        assert!(check_name("x", "").is_err());
        let id = proposal_id("2026-01-17T22:40:52Z", "20260117-224052-codex");
        assert!(is_proposal_id(&id), "{id}");
        assert_eq!(
            id,
            proposal_id("2026-01-17T22:40:52Z", "20260117-224052-codex")
        );
        assert_ne!(
            id,
            proposal_id("2026-01-17T22:40:52Z", "20260117-224052-claude")
        );
    }
}
