//! `git okr plan generate`: the KRs' context, the guardrails, and tasks — from the
//! deterministic planner (task templates by metric family) or from an agent.

use super::adapters::{self, Adapter};
use super::exec::{self, Cancel};
use super::guard;
use super::new_id;
use super::prompt::planning_prompt;
use crate::ctx::Ctx;
use crate::ctx::{load_okrs, require_initialized};
use crate::measure::latest_values;
use crate::model::fmt_num;
use crate::model::okrs::{KrRef, OkrSet, Status};
use crate::model::plan::{
    parse_tasks_answer, plan_path, Guardrails, KrContext, Plan, Task, PLAN_SCHEMA_VERSION,
    TASKS_SCHEMA,
};
use crate::store::{Changes, Commit, Snapshot, Step};
use anyhow::{anyhow, bail, Result};
use std::collections::BTreeMap;
use std::time::Duration;

pub const STANDARDS_FILE: &str = "culture/standards.md";
pub const VALUES_FILE: &str = "culture/values.md";

/// Default time an agent gets to answer a planning request.
const PLANNING_TIMEOUT_SECS: u64 = 900;

/// What `plan generate` is asked for.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// Plan for this key result.
    pub kr_id: Option<String>,
    /// Plan for the KRs of this objective that are not achieved.
    pub objective: Option<String>,
    /// Ask this agent for the tasks; `None` uses the built-in templates.
    pub adapter: Option<String>,
    /// Plan as of this past day: its latest snapshot's values, filed under that day.
    pub as_of: Option<chrono::NaiveDate>,
    /// The role agents take on the tasks.
    pub agent_role: Option<String>,
    /// Only the KRs whose forecast falls short of the target by the due date.
    pub likely_to_miss: bool,
}

/// There was nothing to plan (every KR achieved, none likely to miss): not a failure,
/// so a scheduled `plan generate` or `plan run --generate` ends quietly.
#[derive(Debug, thiserror::Error)]
#[error("nothing to plan: {0}")]
pub struct NothingToPlan(pub String);

/// A plan committed to the state, and its state path.
#[derive(Debug)]
pub struct GeneratedPlan {
    pub path: String,
    pub plan: Plan,
}

pub fn generate(ctx: &Ctx, args: &PlanRequest) -> Result<GeneratedPlan> {
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    // Resolve the adapter before anything starts: a missing program is reported first.
    let adapter = match &args.adapter {
        Some(name) => Some(adapters::load(&ctx.store, name)?),
        None => None,
    };
    let now = chrono::Local::now();
    let date = args
        .as_of
        .unwrap_or(now.date_naive())
        .format("%Y-%m-%d")
        .to_string();
    let mut plan = draft(ctx, &snap, args, now)?;
    plan.tasks = match &adapter {
        None => builtin_tasks(&plan.key_results),
        Some(adapter) => {
            plan.generator = format!("adapter:{}", adapter.name);
            ask_agent(ctx, adapter, &plan)?
        }
    };
    let path = plan_path(&date, &plan.plan_id);
    let text = serde_json::to_string_pretty(&plan)? + "\n";
    ctx.store.transact(|snap| {
        if snap.read(&path)?.is_some() {
            bail!("{path} already exists on refs/okr/state");
        }
        let mut changes = Changes::new();
        changes.write(path.clone(), text.clone());
        let krs: Vec<&str> = plan.key_results.iter().map(|k| k.kr_id.as_str()).collect();
        let mut message = ctx
            .message(
                format!(
                    "okr: plan {} ({} task{} for {})",
                    plan.plan_id,
                    plan.tasks.len(),
                    if plan.tasks.len() == 1 { "" } else { "s" },
                    krs.join(", ")
                ),
                "plan-generate",
            )
            .body(
                plan.tasks
                    .iter()
                    .map(|t| format!("{} [{}] {}", t.id, t.kr_id, t.title))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
            .trailer("Okr-Plan", &plan.plan_id);
        for kr in krs {
            message = message.trailer("Okr-KR", kr);
        }
        Ok(Step::Commit(Commit {
            changes,
            message,
            value: (),
        }))
    })?;
    Ok(GeneratedPlan { path, plan })
}

/// The plan without tasks: which KRs, their context, the guardrails.
fn draft(
    ctx: &Ctx,
    snap: &Snapshot<'_>,
    args: &PlanRequest,
    now: chrono::DateTime<chrono::Local>,
) -> Result<Plan> {
    let set = load_okrs(snap)?;
    let values = match args.as_of {
        Some(day) => crate::measure::snapshot_on_or_before(snap, day)?
            .map(|(_, s)| s.values())
            .unwrap_or_default(),
        None => latest_values(snap)?,
    };
    let mut selected = select(&set, args)?;
    if args.likely_to_miss {
        let missing: std::collections::BTreeSet<String> =
            crate::report::recent_forecasts(snap, &set)?
                .into_iter()
                .filter(|(_, f)| f.likely_to_miss)
                .map(|(kr, _)| kr)
                .collect();
        selected.retain(|k| missing.contains(&k.kr.kr_id));
        if selected.is_empty() {
            return Err(NothingToPlan(
                "no KR is likely to miss its target (a forecast needs a due date and measurements on two days)"
                    .into(),
            )
            .into());
        }
    }
    let key_results: Vec<KrContext> = selected.iter().map(|k| context(k, &values)).collect();
    let mut owners: Vec<Option<&String>> = key_results.iter().map(|k| k.owner.as_ref()).collect();
    owners.dedup();
    let owner = match owners.as_slice() {
        [one] => one.cloned(),
        _ => None,
    };
    Ok(Plan {
        schema_version: PLAN_SCHEMA_VERSION,
        plan_id: new_id("plan", now),
        // Milliseconds: `plan run latest` tells apart plans made in the same second.
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        created_by: ctx.actor.id(),
        generator: "builtin".into(),
        owner,
        base: snap.tip().map(|t| t.to_string()),
        key_results,
        agent_role: args.agent_role.clone(),
        guardrails: Guardrails {
            standards: snap.read_text(STANDARDS_FILE)?.unwrap_or_default(),
            values: snap.read_text(VALUES_FILE)?.unwrap_or_default(),
        },
        tasks: Vec::new(),
    })
}

fn select<'a>(set: &'a OkrSet, args: &PlanRequest) -> Result<Vec<KrRef<'a>>> {
    if let Some(id) = &args.kr_id {
        let kr = set.find_kr(id).ok_or_else(|| {
            let known: Vec<&str> = set.krs().map(|k| k.kr.kr_id.as_str()).collect();
            anyhow!("unknown KR {id:?} (known: {})", known.join(", "))
        })?;
        return Ok(vec![kr]);
    }
    let krs: Vec<KrRef<'a>> = match &args.objective {
        Some(id) => {
            if set.find_objective(id).is_none() {
                let known: Vec<&str> = set
                    .objectives()
                    .map(|(_, o)| o.objective_id.as_str())
                    .collect();
                bail!("unknown objective {id:?} (known: {})", known.join(", "));
            }
            set.krs()
                .filter(|k| &k.objective.objective_id == id && k.kr.status != Status::Achieved)
                .collect()
        }
        None => set
            .krs()
            .filter(|k| k.kr.status != Status::Achieved)
            .collect(),
    };
    if krs.is_empty() {
        return Err(NothingToPlan(match &args.objective {
            Some(id) => format!("every KR of {id} is achieved"),
            None => "every KR is achieved".to_string(),
        })
        .into());
    }
    Ok(krs)
}

fn context(k: &KrRef<'_>, values: &BTreeMap<String, f64>) -> KrContext {
    let kr = k.kr;
    let current = values.get(&kr.value_key()).copied().or(kr.current);
    KrContext {
        kr_id: kr.kr_id.clone(),
        description: kr.description.clone(),
        objective_id: k.objective.objective_id.clone(),
        objective: k.objective.objective.clone(),
        metric_key: kr.metric_key.clone(),
        baseline: kr.baseline,
        current,
        target: kr.target,
        gap: kr.target - current.unwrap_or(kr.baseline),
        direction: if kr.is_flat() {
            "hold"
        } else if kr.is_increasing() {
            "increase"
        } else {
            "decrease"
        }
        .into(),
        owner: kr
            .owner_id
            .clone()
            .or_else(|| k.objective.owner_id.clone())
            .or_else(|| k.doc.file.owner_id.clone()),
        status: kr.status.to_string(),
        unit: kr.unit.clone(),
        evidence: kr
            .evidence
            .iter()
            .filter_map(|e| serde_json::to_value(e).ok())
            .collect(),
    }
}

/// Ask the agent for tasks; its answer must match `TASKS_SCHEMA`. Nothing is committed on a
/// bad answer, a failed agent, or an agent that touched the state ref.
fn ask_agent(ctx: &Ctx, adapter: &Adapter, plan: &Plan) -> Result<Vec<Task>> {
    let workdir = ctx
        .store
        .repo()
        .workdir()
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| ctx.store.repo().git_dir().to_path_buf());
    let workdir = std::fs::canonicalize(&workdir).unwrap_or(workdir);
    let scratch = tempfile::tempdir()?;
    let task_file = scratch.path().join("plan-request.json");
    std::fs::write(&task_file, serde_json::to_vec_pretty(plan)?)?;
    // Never empty: a blank owner would make the agent act as the person.
    let agent = crate::model::plan::agent_name("plan owner", plan.owner.as_deref())?
        .unwrap_or_else(|| adapter.name.clone());
    let invocation = adapter.invocation(
        &workdir,
        scratch.path(),
        TASKS_SCHEMA,
        planning_prompt(plan),
        &task_file,
        &[
            ("OKR_AGENT", agent.as_str()),
            ("OKR_PLAN_ID", &plan.plan_id),
        ],
    )?;
    let timeout = Duration::from_secs(adapter.timeout.unwrap_or(PLANNING_TIMEOUT_SECS));
    let mut accepted = ctx
        .store
        .tip()?
        .ok_or_else(|| anyhow!("refs/okr/state vanished"))?;
    let rt = exec::runtime()?;
    let outcome = rt.block_on(async {
        let cancel = Cancel::on_signals()?;
        Ok::<_, anyhow::Error>(
            exec::exec(
                invocation,
                workdir.clone(),
                timeout,
                exec::LOG_CAP,
                adapter.inspector(),
                cancel.receiver(),
            )
            .await,
        )
    })?;
    if let Some(v) = guard::check_state_ref(&ctx.store, &mut accepted, &[agent.clone()].into())? {
        return Err(crate::model::Refused(format!(
            "adapter {}: the planning agent changed refs/okr/state directly ({}); {}. Nothing committed",
            adapter.name, v.detail, v.action
        ))
        .into());
    }
    let verdict = adapter.judge(&outcome);
    if !verdict.passed {
        let tail = outcome.stderr.tail_text(2000);
        bail!(
            "adapter {}: the planning agent failed: {}{}",
            adapter.name,
            verdict.reason.unwrap_or_default(),
            if tail.trim().is_empty() {
                String::new()
            } else {
                format!("\nstderr (tail):\n{}", tail.trim_end())
            }
        );
    }
    let answer = verdict
        .answer
        .ok_or_else(|| anyhow!("adapter {}: the agent gave no answer", adapter.name))?;
    parse_tasks_answer(&answer, &plan.key_results).map_err(|e| {
        anyhow!(
            "adapter {}: bad plan answer: {e}. Nothing committed (the answer must match the schema in `git okr plan schema`)",
            adapter.name
        )
    })
}

/// The deterministic planner: tasks from templates by metric family, sized by the gap.
pub fn builtin_tasks(krs: &[KrContext]) -> Vec<Task> {
    let mut tasks = Vec::new();
    for kr in krs {
        for (title, instructions, acceptance_check) in templates(kr) {
            tasks.push(Task {
                id: format!("T{}", tasks.len() + 1),
                kr_id: kr.kr_id.clone(),
                title,
                instructions,
                acceptance_check,
                metric_key: kr.metric_key.clone(),
            });
        }
    }
    tasks
}

fn templates(kr: &KrContext) -> Vec<(String, String, String)> {
    let key = kr.metric_key.as_str();
    let target = fmt_num(kr.target);
    let current = kr
        .current
        .map(fmt_num)
        .unwrap_or_else(|| format!("{} (baseline; not measured yet)", fmt_num(kr.baseline)));
    let need = fmt_num(kr.gap.abs().ceil());
    let unit = kr
        .unit
        .as_deref()
        .map(|u| format!(" {u}"))
        .unwrap_or_default();
    let id = &kr.kr_id;
    let decreasing = kr.direction == "decrease";
    let t = |a: String, b: String, c: String| (a, b, c);
    match key {
        "ci.test_count" | "ci.tests_passed" => vec![
            t(
                format!("Write tests for untested modules ({id})"),
                format!(
                    "{key} is {current}, the target is {target}: about {need} more tests are needed. \
                     List the source modules that no test exercises (no test file, no test calling \
                     them), most used first. Write tests for them that check real behaviour — \
                     results, edge cases, error paths — so each test fails if that behaviour breaks. \
                     Keep each commit to one module."
                ),
                format!(
                    "The project's test command passes and counts at least {need} more tests than \
                     before the task; every new test fails when the code it covers is broken \
                     (check one by breaking the code locally)."
                ),
            ),
            t(
                format!("Cover error paths of the most used modules ({id})"),
                "For the modules with tests already, add tests for the error paths and edge \
                 cases they miss (invalid input, empty input, boundaries). Never delete or \
                 weaken an existing test."
                    .to_string(),
                "The test command passes; the new tests are listed in the task report with the \
                 behaviour each one checks."
                    .to_string(),
            ),
        ],
        "ci.tests_failed" => vec![t(
            format!("Fix failing tests ({id})"),
            format!(
                "{current} tests fail; the target is at most {target}. Run the test suite, take \
                 the failures one by one, find the cause in the code (not in the test) and fix it. \
                 Do not skip, delete or loosen a test."
            ),
            format!(
                "The test command reports at most {target} failing tests, and no test was removed \
                 or marked as skipped (compare the test count before and after)."
            ),
        )],
        "ci.coverage" => vec![t(
            format!("Cover uncovered lines ({id})"),
            format!(
                "Line coverage is {current}{unit}, the target is {target}{unit}. Run the project's \
                 coverage tool, list the files with the most uncovered lines, and write tests that \
                 execute those lines and assert on their results. Tests without assertions do not \
                 count."
            ),
            format!(
                "The coverage report of the test suite shows at least {target}{unit} line coverage \
                 and the test command passes."
            ),
        )],
        "ci.build_success_rate" => vec![t(
            format!("Make the build reliable ({id})"),
            format!(
                "The build succeeds {current}{unit} of the time; the target is {target}{unit}. Find \
                 the recent failing or flaky builds (CI history, flaky tests, order or time \
                 dependence), reproduce each locally and fix the cause."
            ),
            "The full build and test command passes five times in a row locally, and every fix \
             names the failure it removes in its commit message."
                .to_string(),
        )],
        "git.contributors" => vec![t(
            format!("Make the first contribution easy ({id})"),
            format!(
                "{key} is {current}, the target is {target}. Write or fix CONTRIBUTING.md with setup, \
                 build and test steps that work in a fresh clone, and mark small self-contained \
                 issues or TODOs as good first contributions."
            ),
            "Following CONTRIBUTING.md step by step in a fresh clone builds the project and \
             passes its tests."
                .to_string(),
        )],
        "git.lines_removed" => vec![t(
            format!("Remove dead code ({id})"),
            format!(
                "{key} is {current}, the target is {target}. Find code nothing calls (unused \
                 functions, modules, feature flags, stale scripts) and remove it in small commits, \
                 one area per commit."
            ),
            "The build and tests pass after every commit, and each commit message says why the \
             removed code was unused."
                .to_string(),
        )],
        _ if key.starts_with("git.lead_time") => vec![t(
            format!("Ship in smaller batches ({id})"),
            format!(
                "{key} is {current} hours from a commit to its deployment; the target is \
                 {target}. Find what makes changes wait (long-lived branches, large pull \
                 requests, manual release steps) in the recent history between deployment tags, \
                 and cut the next pieces of work into changes small enough to land and release \
                 within a day; automate one manual release step."
            ),
            format!(
                "Each change of the task lands as its own small commit that builds and passes the \
                 tests; the task report names the release step made shorter. {key} moves towards \
                 {target} at the next deployments."
            ),
        )],
        _ if key.starts_with("git.change_failure") => vec![t(
            format!("Test the areas that were reverted or hotfixed ({id})"),
            format!(
                "{key} is {current}% of deployments followed by a revert or a hotfix; the target \
                 is {target}%. List the commits of the last deployments that were reverted \
                 (`git log --grep='This reverts commit'`) or hotfixed, find the code they touched, \
                 and write tests that would have caught each failure. Do not revert or rewrite \
                 history."
            ),
            "Every new test fails on the code as it was before the revert or hotfix it \
             covers, and passes now; the test command passes."
                .to_string(),
        )],
        _ if key.starts_with("git.time_to_restore") => vec![t(
            format!("Make restoring a failed deployment fast ({id})"),
            format!(
                "{key} is {current} hours from a failed deployment to the next one; the target \
                 is {target}. Document and script the way back (revert and re-release) so that \
                 it runs in one command, and make the release checks fast enough to run it \
                 within the target."
            ),
            "A dry run of the scripted revert-and-release on a throwaway branch succeeds, and \
             the task report gives its duration."
                .to_string(),
        )],
        _ if key.starts_with("git.deploy") => vec![t(
            format!("Release more often ({id})"),
            format!(
                "{key} is {current}, the target is {target}. Find what holds back a release \
                 (manual steps, unfinished features on the main branch) and remove one obstacle: \
                 automate a manual step, or put unfinished work behind a flag so the main branch \
                 is always releasable."
            ),
            "The release procedure in the repository runs without manual edits, and the task \
             report names the obstacle removed."
                .to_string(),
        )],
        _ if key.starts_with("git.") => vec![t(
            format!("Ship the next small changes ({id})"),
            format!(
                "{key} is {current}, the target is {target} (about {need} to go). Pick the next \
                 items of the backlog (open issues, TODO/FIXME comments) that each fit in one small \
                 reviewable commit, and land them one commit at a time with a message that says why."
            ),
            format!(
                "`git log --oneline` shows the new commits on the branch, each builds and passes \
                 the tests on its own; {key} moves towards {target} at the next measurement."
            ),
        )],
        _ if key.starts_with("manual.") => vec![
            t(
                format!("Gather evidence for {key} ({id})"),
                format!(
                    "{key} is a manual metric: {current}{unit} now, target {target}{unit}. Find the \
                     evidence that shows its real value today (documents, dashboards, benchmark or \
                     test output, links) and write it to docs/okr-evidence/{id}.md: the value, the \
                     date, and each source. Do not record the metric yourself (guardrail 1)."
                ),
                format!(
                    "docs/okr-evidence/{id}.md states the value with its sources, and a person can \
                     record it with `git okr metric set {key} VALUE --evidence docs/okr-evidence/{id}.md`."
                ),
            ),
            t(
                format!("Move {key} towards {target}{unit} ({id})"),
                format!(
                    "Find what in this repository drives {key} ({}: {current} → {target}) and make \
                     the smallest change that moves it; add its effect to docs/okr-evidence/{id}.md.",
                    kr.description
                ),
                format!(
                    "docs/okr-evidence/{id}.md shows the new value with evidence, and the tests pass."
                ),
            ),
        ],
        _ if decreasing || is_latency_like(key) => vec![
            t(
                format!("Profile {key} ({id})"),
                format!(
                    "{key} is {current}{unit} and must come down to {target}{unit}. Add a benchmark \
                     or script to the repository that measures it reproducibly, run it under a \
                     profiler, and list the top cost centres in the task report."
                ),
                format!(
                    "A committed benchmark command prints {key}; the report names where the cost \
                     goes, with numbers."
                ),
            ),
            t(
                format!("Fix the hot spot of {key} ({id})"),
                format!(
                    "Using the profile, change the code at the largest cost centre to bring {key} \
                     from {current}{unit} to {target}{unit} or below, without changing behaviour."
                ),
                format!(
                    "The benchmark reports {key} at or below {target}{unit} on three runs, and the \
                     test command passes."
                ),
            ),
        ],
        _ => vec![t(
            format!("Move {key} from {current} to {target} ({id})"),
            format!(
                "Find what in this repository drives {key} ({}) and make the smallest set of \
                 changes that moves it from {current} towards {target}{unit}.",
                kr.description
            ),
            format!(
                "{key} reaches {target}{unit} in the next CI report or measurement, and the test \
                 command passes."
            ),
        )],
    }
}

fn is_latency_like(key: &str) -> bool {
    [
        "latency", "duration", "time", "_ms", "p95", "p99", "error", "size",
    ]
    .iter()
    .any(|w| key.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kr(key: &str, baseline: f64, target: f64) -> KrContext {
        KrContext {
            kr_id: "KR-1".into(),
            description: "d".into(),
            objective_id: "O".into(),
            objective: "o".into(),
            metric_key: key.into(),
            baseline,
            current: Some(baseline + 10.0),
            target,
            gap: target - baseline - 10.0,
            direction: if target > baseline {
                "increase"
            } else {
                "decrease"
            }
            .into(),
            owner: None,
            status: "in_progress".into(),
            unit: None,
            evidence: vec![],
        }
    }

    #[test]
    fn templates_by_family_never_ask_for_measure() {
        for (key, b, t, want) in [
            (
                "ci.test_count",
                0.0,
                100.0,
                "Write tests for untested modules",
            ),
            ("ci.coverage", 50.0, 80.0, "Cover uncovered lines"),
            ("git.commits_30d", 0.0, 50.0, "Ship the next small changes"),
            (
                "git.lead_time_hours_p50",
                72.0,
                24.0,
                "Ship in smaller batches",
            ),
            (
                "git.change_failure_rate",
                30.0,
                10.0,
                "Test the areas that were reverted",
            ),
            ("git.deploys_per_week", 1.0, 5.0, "Release more often"),
            ("git.time_to_restore_hours_p50", 48.0, 4.0, "Make restoring"),
            ("manual.latency_ms", 300.0, 200.0, "Gather evidence"),
            ("bench.p95", 300.0, 200.0, "Profile bench.p95"),
            ("custom.thing", 0.0, 5.0, "Move custom.thing"),
        ] {
            let tasks = builtin_tasks(&[kr(key, b, t)]);
            assert!(
                tasks[0].title.starts_with(want),
                "{key}: {}",
                tasks[0].title
            );
            for task in &tasks {
                assert!(!task.instructions.contains("kr measure"));
                assert!(!task.acceptance_check.is_empty());
                assert_eq!(task.metric_key, key);
            }
        }
        let tasks = builtin_tasks(&[kr("ci.test_count", 0.0, 100.0)]);
        assert!(
            tasks[0].instructions.contains("about 90 more tests"),
            "{}",
            tasks[0].instructions
        );
    }
}
