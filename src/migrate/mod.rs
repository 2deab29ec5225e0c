//! Importing an OKRchestra workspace (`git okr init --from DIR`): its definitions
//! (`okrs/`, `culture/`, `metrics/`), its artifacts (plans, runs and proposals under
//! `artifacts/`, converted to ours) and its audit log (`audit/audit.sqlite`, turned
//! into commits with the events' times and actors). The folder is untrusted input:
//! file names that become state paths must be plain, each file is parsed with its
//! own rules, and errors name the file (and line where known). The caller validates
//! the state files and commits everything in one ref update.

pub mod artifacts;
pub mod history;

use crate::model::okrs::{is_okr_file, OkrSet};
use crate::model::plan::Guardrails;
use anyhow::{anyhow, bail, Context, Result};
use artifacts::{check_name, read_text, sub_dirs, ImportedProposal};
use history::HistoryCommit;
use std::collections::BTreeMap;
use std::path::Path;

/// What an import brings.
#[derive(Debug, Default)]
pub struct Workspace {
    /// State path → content, for the import's own commit.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Proposals, committed once the import's commit (their base) exists.
    pub proposals: Vec<ImportedProposal>,
    /// The audit log's events as commits, oldest first, to go before the import's commit.
    pub history: Vec<HistoryCommit>,
    /// How many plans and runs came from `artifacts/`.
    pub plans: usize,
    pub runs: usize,
}

/// Files of an OKRchestra workspace an import carries over as they are, besides `okrs/*.yml`.
pub fn is_importable(path: &str) -> bool {
    let in_dir = |dir: &str, ext: &str| {
        path.strip_prefix(dir)
            .is_some_and(|rest| !rest.contains('/') && rest.ends_with(ext))
    };
    is_okr_file(path)
        || matches!(
            path,
            "okrs/permissions.yml"
                | "okrs/cycles.yml"
                | "okrs/schema.md"
                | "metrics/manual.yml"
                | "metrics/definitions.yml"
                | "metrics/ci_report.json"
                | "metrics/ci_history.jsonl"
        )
        || in_dir("culture/", ".md")
        || in_dir("metrics/snapshots/", ".json")
}

/// Read the workspace at `dir`.
pub fn read(dir: &Path) -> Result<Workspace> {
    if !dir.is_dir() {
        bail!("no such folder");
    }
    let mut ws = Workspace {
        files: definition_files(dir)?,
        ..Workspace::default()
    };
    if !ws.files.keys().any(|p| is_okr_file(p)) {
        bail!("not an OKRchestra workspace: no okrs/*.yml in it");
    }
    let texts: Vec<(String, String)> = ws
        .files
        .iter()
        .filter(|(p, _)| is_okr_file(p))
        .map(|(p, b)| (p.clone(), String::from_utf8_lossy(b).into_owned()))
        .collect();
    let okrs = OkrSet::parse(texts.iter().map(|(p, t)| (p.as_str(), t.as_str())))?;
    let culture = |name: &str| {
        ws.files
            .get(&format!("culture/{name}"))
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    let guardrails = Guardrails {
        standards: culture("standards.md"),
        values: culture("values.md"),
    };
    let artifacts = dir.join("artifacts");
    // Plan folder (as OKRchestra's audit names it) → (plan id, state path).
    let mut plan_folders: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (folder, path) in sub_dirs(&artifacts.join("plans"))? {
        let file = path.join("plan.json");
        if !file.is_file() {
            continue;
        }
        check_name("artifacts/plans", &folder)?;
        let shown = format!("artifacts/plans/{folder}/plan.json");
        let (state_path, plan) =
            artifacts::convert_plan(&shown, &read_text(&file, &shown)?, &okrs, &guardrails)?;
        if ws.files.contains_key(&state_path) {
            bail!(
                "{shown}: plan id {:?} is used twice on {}",
                plan.plan_id,
                &state_path[..16]
            );
        }
        plan_folders.insert(folder, (plan.plan_id.clone(), state_path.clone()));
        ws.files.insert(
            state_path,
            (serde_json::to_string_pretty(&plan)? + "\n").into_bytes(),
        );
        ws.plans += 1;
    }
    let mut proposals = Vec::new();
    for (folder, path) in sub_dirs(&artifacts.join("proposals"))? {
        proposals.push(artifacts::read_proposal(&folder, &path)?);
    }
    let proposal_ids: BTreeMap<String, String> = proposals
        .iter()
        .map(|p| (p.folder.clone(), p.id.clone()))
        .collect();
    let events = match dir.join(history::AUDIT_DB) {
        db if db.is_file() => history::read_events(&db)?,
        _ => Vec::new(),
    };
    let snapshot_paths: Vec<String> = ws.files.keys().cloned().collect();
    let has_snapshot = |p: &str| snapshot_paths.iter().any(|s| s == p);
    ws.history = history::commits(
        &events,
        &history::Known {
            proposal_ids: &proposal_ids,
            snapshots: &has_snapshot,
        },
    );
    mark_applied(&mut proposals, &events);
    let run_plans = plans_of_runs(&events, &plan_folders);
    for (run_id, path) in sub_dirs(&artifacts.join("runs"))? {
        let files = artifacts::convert_run(&run_id, &path, run_plans.get(&run_id))?;
        ws.files.extend(files);
        ws.runs += 1;
    }
    ws.proposals = proposals;
    Ok(ws)
}

/// `okrs/`, `culture/`, `metrics/` and `metrics/snapshots/` files, as they are.
fn definition_files(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut files = BTreeMap::new();
    for sub in ["okrs", "culture", "metrics", "metrics/snapshots"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let name = entry
                .file_name()
                .into_string()
                .map_err(|n| anyhow!("{sub}/{n:?}: file name is not UTF-8"))?;
            let path = format!("{sub}/{name}");
            if is_importable(&path) {
                let text = read_text(&entry.path(), &path)?;
                files.insert(path, text.into_bytes());
            }
        }
    }
    Ok(files)
}

/// Proposals whose `okr_apply_finished` event succeeded are applied (by that event's
/// actor, at its time): OKRchestra's apply was a person approving and applying at once.
fn mark_applied(proposals: &mut [ImportedProposal], events: &[history::RawEvent]) {
    for e in events.iter().filter(|e| e.kind == "okr_apply_finished") {
        if e.payload.contains_key("error") {
            continue;
        }
        let Some(folder) = e
            .payload
            .get("proposal")
            .and_then(|v| v.as_str())
            .and_then(|p| p.trim_end_matches('/').rsplit('/').next())
        else {
            continue;
        };
        if let Some(p) = proposals.iter_mut().find(|p| p.folder == folder) {
            let at = chrono::DateTime::from_timestamp(e.time, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default();
            p.applied = Some((e.actor.clone(), at));
        }
    }
}

/// Run id → (plan id, state path of the plan), from `plan_run_finished` events
/// (OKRchestra's run folders do not say which plan they ran).
fn plans_of_runs(
    events: &[history::RawEvent],
    plan_folders: &BTreeMap<String, (String, String)>,
) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind == "plan_run_finished") {
        let run = e.payload.get("run_id").and_then(|v| v.as_str());
        let plan = e.payload.get("plan").and_then(|v| v.as_str());
        let (Some(run), Some(plan)) = (run, plan) else {
            continue;
        };
        // .../artifacts/plans/<folder>/plan.json (or the folder itself)
        let mut parts = plan.trim_end_matches('/').rsplit('/');
        let last = parts.next().unwrap_or_default();
        let folder = if last == "plan.json" {
            parts.next().unwrap_or_default()
        } else {
            last
        };
        if let Some(found) = plan_folders.get(folder) {
            out.insert(run.to_string(), found.clone());
        }
    }
    out
}

/// Read the workspace, with the context of where it is in errors.
pub fn read_workspace(dir: &Path) -> Result<Workspace> {
    read(dir).with_context(|| format!("importing {}", dir.display()))
}
