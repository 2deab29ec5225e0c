//! Plans (`plans/YYYY-MM-DD/<plan-id>.json`) and run results (`runs/<run-id>/result.json`).
//!
//! A plan carries everything an agent needs without reading the state ref: the KRs'
//! context, the guardrails (culture/standards.md and values.md, verbatim) and tasks.
//! Agents asked for tasks answer in `TASKS_SCHEMA`; `parse_tasks_answer` checks an
//! answer against exactly that schema (by hand: the schema is small and fixed).

use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};

pub const PLANS_DIR: &str = "plans";
pub const RUNS_DIR: &str = "runs";
pub const PLAN_SCHEMA_VERSION: u32 = 1;

/// The state path of a plan made on `date` (YYYY-MM-DD).
pub fn plan_path(date: &str, plan_id: &str) -> String {
    format!("{PLANS_DIR}/{date}/{plan_id}.json")
}

pub fn run_dir(run_id: &str) -> String {
    format!("{RUNS_DIR}/{run_id}")
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub schema_version: u32,
    pub plan_id: String,
    pub created_at: String,
    /// Who asked for the plan (`Okr-Actor` form).
    pub created_by: String,
    /// `builtin` (the deterministic planner) or `adapter:NAME`.
    pub generator: String,
    /// The owner shared by every KR of the plan, if they share one.
    #[serde(default)]
    pub owner: Option<String>,
    /// The state commit the plan was made from.
    #[serde(default)]
    pub base: Option<String>,
    pub key_results: Vec<KrContext>,
    /// The role agents take on the tasks (OKRchestra's `agent_role`), when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_role: Option<String>,
    pub guardrails: Guardrails,
    pub tasks: Vec<Task>,
}

impl Plan {
    /// Check the ids and one-line fields of a plan read from the ref (a teammate may
    /// have written it): ids become trailers, task ids become file names.
    pub fn check_ids(&self, path: &str) -> Result<()> {
        use super::ids::{check_id, check_line};
        let id =
            |what: String, value: &str| check_id(value).map_err(|e| anyhow!("{path}: {what} {e}"));
        // plan_id and task ids become paths and branch names: `check_runnable` holds
        // them to the stricter safe-name rule.
        // A blank owner means "none" (the run falls back to the next identity).
        let given = |o: &Option<String>| o.clone().filter(|o| !o.trim().is_empty());
        if let Some(owner) = given(&self.owner) {
            id("owner".into(), &owner)?;
        }
        for (i, kr) in self.key_results.iter().enumerate() {
            id(format!("key_results[{i}].kr_id"), &kr.kr_id)?;
            id(format!("key_results[{i}].objective_id"), &kr.objective_id)?;
            if let Some(owner) = given(&kr.owner) {
                id(format!("key_results[{i}].owner"), &owner)?;
            }
        }
        for (i, task) in self.tasks.iter().enumerate() {
            id(format!("tasks[{i}].kr_id"), &task.kr_id)?;
            for (name, value) in [("title", &task.title), ("metric_key", &task.metric_key)] {
                check_line(value).map_err(|e| anyhow!("{path}: tasks[{i}].{name} {e}"))?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KrContext {
    pub kr_id: String,
    pub description: String,
    pub objective_id: String,
    pub objective: String,
    pub metric_key: String,
    pub baseline: f64,
    /// The latest measured value (snapshot, else the KR's `current`); none before any measurement.
    pub current: Option<f64>,
    pub target: f64,
    /// How far the metric still has to move towards the target (target − current, or
    /// target − baseline without a value); negative for decreasing KRs.
    pub gap: f64,
    /// `increase`, `decrease`, or `hold` (baseline = target: keep it at least there).
    pub direction: String,
    pub owner: Option<String>,
    pub status: String,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub evidence: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Guardrails {
    /// culture/standards.md, verbatim.
    pub standards: String,
    /// culture/values.md, verbatim.
    pub values: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Task {
    pub id: String,
    pub kr_id: String,
    pub title: String,
    pub instructions: String,
    /// How a reviewer (or CI) tells the task is done.
    pub acceptance_check: String,
    /// The metric the task is expected to move.
    pub metric_key: String,
}

/// Longest task id, plan id or agent name accepted from a plan.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `name` is safe as one path component and one git ref component: ASCII letters,
/// digits, `.`, `_`, `-`; not starting with `.` or `-`; no `..`; not ending in `.lock`;
/// 1 to [`MAX_NAME_LEN`] characters. Task ids and plan ids become folder and branch names.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !name.starts_with(['.', '-'])
        && !name.contains("..")
        && !name.ends_with(".lock")
        // git refuses a branch name ending in a dot (task ids end branch names).
        && !name.ends_with('.')
}

/// An agent identity from a plan (a KR's or the plan's owner): trimmed; `None` when blank,
/// so the next candidate is used; an error for control characters or excessive length.
pub fn agent_name(field: &str, value: Option<&str>) -> Result<Option<String>> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().any(char::is_control) {
        bail!("{field}: {v:?} contains control characters");
    }
    if v.chars().count() > 128 {
        bail!("{field}: longer than 128 characters");
    }
    Ok(Some(v.to_string()))
}

impl Plan {
    /// What a run relies on, checked before any agent starts: ids that become paths and
    /// branch names are safe names and unique; owners that become identities are sane.
    /// Errors name the plan file and the field.
    pub fn check_runnable(&self, path: &str) -> Result<()> {
        if !is_safe_name(&self.plan_id) {
            bail!(
                "{path}: plan_id {:?} is not a safe name ({SAFE_NAME_RULE})",
                self.plan_id
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, t) in self.tasks.iter().enumerate() {
            if !is_safe_name(&t.id) {
                bail!(
                    "{path}: tasks[{i}].id {:?} is not a safe name ({SAFE_NAME_RULE})",
                    t.id
                );
            }
            if !seen.insert(t.id.as_str()) {
                bail!("{path}: tasks[{i}].id {:?} is used twice", t.id);
            }
        }
        agent_name(&format!("{path}: owner"), self.owner.as_deref())?;
        for (i, k) in self.key_results.iter().enumerate() {
            agent_name(
                &format!("{path}: key_results[{i}].owner"),
                k.owner.as_deref(),
            )?;
        }
        Ok(())
    }
}

pub const SAFE_NAME_RULE: &str =
    "1-64 of A-Z a-z 0-9 . _ -, not starting with . or -, no .., not ending in .lock";

/// The JSON Schema of an agent's answer to a planning request (codex gets it with
/// `--output-schema`; strict: every property required, no others).
pub const TASKS_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "git-okr plan tasks",
  "type": "object",
  "additionalProperties": false,
  "required": ["tasks"],
  "properties": {
    "tasks": {
      "type": "array",
      "minItems": 1,
      "maxItems": 20,
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["kr_id", "title", "instructions", "acceptance_check", "metric_key"],
        "properties": {
          "kr_id": {"type": "string", "description": "the KR this task moves; one of the plan's KRs"},
          "title": {"type": "string", "minLength": 1, "maxLength": 200},
          "instructions": {"type": "string", "minLength": 1, "description": "what to do, concretely, in this repository"},
          "acceptance_check": {"type": "string", "minLength": 1, "description": "a check a reviewer or CI can run to tell the task is done"},
          "metric_key": {"type": "string", "minLength": 1, "description": "the metric this task is expected to move"}
        }
      }
    }
  }
}
"#;

/// The JSON Schema of an agent's final report on a task (codex `--output-schema` during runs).
pub const REPORT_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "git-okr task report",
  "type": "object",
  "additionalProperties": false,
  "required": ["status", "summary"],
  "properties": {
    "status": {"type": "string", "enum": ["done", "blocked", "failed"]},
    "summary": {"type": "string", "description": "what changed, what was verified, what could not be done"}
  }
}
"#;

pub const MAX_TASKS: usize = 20;

/// Check an agent's planning answer against `TASKS_SCHEMA` and the plan's KRs; number the
/// tasks `T1…`. Accepts the JSON bare or inside one Markdown code fence.
/// The first 160 characters of an agent's answer, quoted and escaped for one line.
fn first_bytes(answer: &str) -> String {
    const SHOWN: usize = 160;
    let head: String = answer.chars().take(SHOWN).collect();
    let more = if answer.chars().count() > SHOWN {
        "…"
    } else {
        ""
    };
    format!("{head:?}{more} ({} bytes in all)", answer.len())
}

pub fn parse_tasks_answer(answer: &str, krs: &[KrContext]) -> Result<Vec<Task>> {
    let text = strip_fence(answer.trim());
    if text.is_empty() {
        bail!("the answer is empty (expected a JSON object with \"tasks\")");
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        anyhow!(
            "the answer is not JSON (line {}: {e}); it begins {}",
            e.line(),
            first_bytes(answer)
        )
    })?;
    let obj = value.as_object().ok_or_else(|| {
        anyhow!(
            "the answer must be a JSON object with \"tasks\"; it begins {}",
            first_bytes(answer)
        )
    })?;
    if let Some(extra) = obj.keys().find(|k| *k != "tasks") {
        bail!("the answer has an unknown property {extra:?} (only \"tasks\" is allowed)");
    }
    let tasks = obj
        .get("tasks")
        .ok_or_else(|| anyhow!("the answer has no \"tasks\""))?
        .as_array()
        .ok_or_else(|| anyhow!("\"tasks\" must be an array"))?;
    if tasks.is_empty() {
        bail!("\"tasks\" is empty: a plan needs at least one task");
    }
    if tasks.len() > MAX_TASKS {
        bail!(
            "\"tasks\" has {} entries; at most {MAX_TASKS} are allowed",
            tasks.len()
        );
    }
    const FIELDS: [&str; 5] = [
        "kr_id",
        "title",
        "instructions",
        "acceptance_check",
        "metric_key",
    ];
    let mut out = Vec::new();
    for (i, task) in tasks.iter().enumerate() {
        let task = task
            .as_object()
            .ok_or_else(|| anyhow!("tasks[{i}] must be an object"))?;
        if let Some(extra) = task.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            bail!("tasks[{i}] has an unknown property {extra:?}");
        }
        let field = |name: &str| -> Result<String> {
            let v = task
                .get(name)
                .ok_or_else(|| anyhow!("tasks[{i}].{name} is missing"))?
                .as_str()
                .ok_or_else(|| anyhow!("tasks[{i}].{name} must be a string"))?
                .trim();
            if v.is_empty() {
                bail!("tasks[{i}].{name} is empty");
            }
            Ok(v.to_string())
        };
        let kr_id = field("kr_id")?;
        if !krs.iter().any(|k| k.kr_id == kr_id) {
            let known: Vec<&str> = krs.iter().map(|k| k.kr_id.as_str()).collect();
            bail!(
                "tasks[{i}].kr_id {kr_id:?} is not a KR of this plan (expected one of {})",
                known.join(", ")
            );
        }
        let title = field("title")?;
        if title.chars().count() > 200 {
            bail!("tasks[{i}].title is longer than 200 characters");
        }
        out.push(Task {
            id: format!("T{}", i + 1),
            kr_id,
            title,
            instructions: field("instructions")?,
            acceptance_check: field("acceptance_check")?,
            metric_key: field("metric_key")?,
        });
    }
    Ok(out)
}

fn strip_fence(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("```") else {
        return text;
    };
    let rest = rest.split_once('\n').map(|(_, r)| r).unwrap_or("");
    rest.trim_end().strip_suffix("```").unwrap_or(rest).trim()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Passed,
    Failed,
    TimedOut,
    Cancelled,
    /// Not started because an earlier task failed (`--stop-on-failure`).
    Skipped,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Passed => "passed",
            TaskStatus::Failed => "failed",
            TaskStatus::TimedOut => "timed_out",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::Skipped => "skipped",
        }
    }
}

/// How a whole run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every task passed and no guardrail was violated.
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A captured stream: the tail that was kept, and how much there was.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogInfo {
    pub path: String,
    pub bytes_total: u64,
    pub bytes_kept: u64,
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskResult {
    pub task_id: String,
    pub kr_id: String,
    pub title: String,
    pub status: TaskStatus,
    pub duration_ms: u64,
    pub started_at: Option<String>,
    pub exit_code: Option<i32>,
    /// The signal that ended the agent, when one did.
    pub signal: Option<i32>,
    /// Why the task did not pass, in one line.
    pub reason: Option<String>,
    /// The agent's own summary (codex report, claude result), shortened.
    pub summary: Option<String>,
    pub agent: String,
    /// The agent's output as it came (stdout and stderr interleaved), capped.
    #[serde(default)]
    pub transcript: Option<LogInfo>,
    /// Where the task's files are kept: `runs/<run-id>/<task-id>/` (prompt.md, report.json,
    /// transcript.log).
    #[serde(default)]
    pub dir: Option<String>,
    /// The agent's final report, when it was valid.
    #[serde(default)]
    pub report: Option<AgentReport>,
    /// The task's own branch and what is on it (not for `--in-place` runs).
    #[serde(default)]
    pub branch: Option<BranchInfo>,
    /// The task's KR value before and after the run (`--measure`).
    #[serde(default)]
    pub measured: Option<Measured>,
    #[serde(default)]
    pub violations: Vec<Violation>,
}

/// A task's branch `okr/<run-id>/<task-id>`: its head after the agent's work (and the
/// leftovers git-okr committed), and the change against the commit the run started at.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BranchInfo {
    pub name: String,
    pub base: String,
    pub head: String,
    /// The commit git-okr made of what the agent left uncommitted, if anything.
    pub leftovers_commit: Option<String>,
    pub files_changed: u64,
    pub insertions: u64,
    pub deletions: u64,
    /// `git diff --stat` of base..head (capped).
    pub diffstat: String,
}

/// A KR's value when the run started and after it (`--measure`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Measured {
    pub kr_id: String,
    pub metric_key: String,
    pub before: Option<f64>,
    pub after: Option<f64>,
}

/// An agent's final report on a task, valid against [`REPORT_SCHEMA`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentReport {
    /// `done`, `blocked` or `failed`.
    pub status: String,
    pub summary: String,
}

/// Largest report accepted (bytes).
pub const MAX_REPORT_BYTES: usize = 64 * 1024;

/// Check an agent's report against [`REPORT_SCHEMA`]: a JSON object with exactly `status`
/// (`done`, `blocked` or `failed`) and `summary` (a string). Accepts the JSON bare or inside
/// one Markdown code fence. The error says what is wrong.
pub fn parse_report(text: &str) -> Result<AgentReport> {
    if text.len() > MAX_REPORT_BYTES {
        bail!(
            "the report is {} bytes; at most {MAX_REPORT_BYTES} are accepted",
            text.len()
        );
    }
    let text = strip_fence(text.trim());
    if text.is_empty() {
        bail!("the report is empty");
    }
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| anyhow!("the report is not JSON (line {}: {e})", e.line()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| anyhow!("the report must be a JSON object"))?;
    if let Some(extra) = obj.keys().find(|k| *k != "status" && *k != "summary") {
        bail!("the report has an unknown property {extra:?}");
    }
    let status = obj
        .get("status")
        .ok_or_else(|| anyhow!("the report has no \"status\""))?
        .as_str()
        .ok_or_else(|| anyhow!("the report's \"status\" must be a string"))?;
    if !["done", "blocked", "failed"].contains(&status) {
        bail!("the report's status {status:?} is not done, blocked or failed");
    }
    let summary = obj
        .get("summary")
        .ok_or_else(|| anyhow!("the report has no \"summary\""))?
        .as_str()
        .ok_or_else(|| anyhow!("the report's \"summary\" must be a string"))?;
    Ok(AgentReport {
        status: status.to_string(),
        summary: summary.to_string(),
    })
}

/// An agent changed OKR state directly instead of proposing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Violation {
    /// `state-ref` (a commit on refs/okr/state that is not a proposal, or a rewrite of the
    /// ref) or `work-tree` (files under okrs/ in the work tree).
    pub kind: String,
    pub detail: String,
    /// The state commits discarded (ref) or the work-tree files touched.
    pub items: Vec<String>,
    /// What git-okr did about it.
    pub action: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunResult {
    pub schema_version: u32,
    pub run_id: String,
    pub plan_id: String,
    pub plan_path: String,
    pub adapter: String,
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub parallel: usize,
    pub timeout_secs: u64,
    /// The state tip when the run started.
    pub base: Option<String>,
    /// The commit (HEAD) every task's branch started from; none for `--in-place` runs.
    #[serde(default)]
    pub start_commit: Option<String>,
    /// The agents ran in the person's own work tree.
    #[serde(default)]
    pub in_place: bool,
    pub tasks: Vec<TaskResult>,
    /// Violations found but not tied to one task.
    #[serde(default)]
    pub violations: Vec<Violation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn krs() -> Vec<KrContext> {
        vec![KrContext {
            kr_id: "KR-1.1".into(),
            description: String::new(),
            objective_id: "OBJ-1".into(),
            objective: String::new(),
            metric_key: "ci.test_count".into(),
            baseline: 0.0,
            current: None,
            target: 100.0,
            gap: 100.0,
            direction: "increase".into(),
            owner: None,
            status: "not_started".into(),
            unit: None,
            evidence: vec![],
        }]
    }

    const GOOD: &str = r#"{"tasks":[{"kr_id":"KR-1.1","title":"t","instructions":"i","acceptance_check":"a","metric_key":"ci.test_count"}]}"#;

    #[test]
    fn accepts_a_good_answer_bare_or_fenced() {
        let tasks = parse_tasks_answer(GOOD, &krs()).unwrap();
        assert_eq!(tasks[0].id, "T1");
        let fenced = format!("```json\n{GOOD}\n```\n");
        assert_eq!(parse_tasks_answer(&fenced, &krs()).unwrap(), tasks);
    }

    #[test]
    fn refuses_bad_answers_clearly() {
        let cases = [
            ("", "empty"),
            ("not json", "not JSON"),
            ("[]", "JSON object"),
            (r#"{"tasks":[]}"#, "empty"),
            (
                r#"{"tasks":[{"kr_id":"KR-1.1"}]}"#,
                "tasks[0].title is missing",
            ),
            (&GOOD.replace("KR-1.1", "KR-9"), "not a KR of this plan"),
            (
                &GOOD.replace("\"t\"", "3"),
                "tasks[0].title must be a string",
            ),
            (
                &GOOD.replace("\"i\"", "\"  \""),
                "tasks[0].instructions is empty",
            ),
            (
                &GOOD.replace("\"a\",", "\"a\",\"x\":1,"),
                "unknown property \"x\"",
            ),
        ];
        for (answer, want) in cases {
            let err = parse_tasks_answer(answer, &krs()).unwrap_err().to_string();
            assert!(err.contains(want), "{answer}: {err}");
        }
    }

    #[test]
    fn safe_names() {
        for ok in ["T1", "task-2", "a.b_c", "run-20260118-142501-3fa9"] {
            assert!(is_safe_name(ok), "{ok}");
        }
        let long = "x".repeat(65);
        for bad in [
            "", ".", "..", "../x", "/abs", "a/b", "-x", ".hidden", "a..b", "T1.lock", "T1.", "a b",
            "a\nb", "a\u{0}b", "é", &long,
        ] {
            assert!(!is_safe_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn agent_names_skip_blanks_and_refuse_control_characters() {
        assert_eq!(agent_name("f", None).unwrap(), None);
        assert_eq!(agent_name("f", Some("  ")).unwrap(), None);
        assert_eq!(
            agent_name("f", Some(" bob ")).unwrap().as_deref(),
            Some("bob")
        );
        let err = agent_name("plan.json: owner", Some("a\nOkr-Action: apply")).unwrap_err();
        assert!(err.to_string().starts_with("plan.json: owner: "), "{err}");
    }

    #[test]
    fn reports_are_checked_against_the_schema() {
        let r = parse_report(r#"{"status":"done","summary":"ok"}"#).unwrap();
        assert_eq!(r.status, "done");
        let fenced = "```json\n{\"status\":\"blocked\",\"summary\":\"s\"}\n```";
        assert_eq!(parse_report(fenced).unwrap().status, "blocked");
        let big = format!(
            r#"{{"status":"done","summary":"{}"}}"#,
            "x".repeat(MAX_REPORT_BYTES)
        );
        for (bad, want) in [
            ("", "empty"),
            ("done!", "not JSON"),
            ("[1]", "JSON object"),
            (r#"{"summary":"s"}"#, "no \"status\""),
            (
                r#"{"status":"ok","summary":"s"}"#,
                "not done, blocked or failed",
            ),
            (r#"{"status":"done"}"#, "no \"summary\""),
            (r#"{"status":"done","summary":3}"#, "must be a string"),
            (
                r#"{"status":"done","summary":"s","x":1}"#,
                "unknown property \"x\"",
            ),
            (big.as_str(), "at most"),
        ] {
            let err = parse_report(bad).unwrap_err().to_string();
            assert!(err.contains(want), "{bad:.40}: {err}");
        }
    }

    #[test]
    fn schemas_are_json() {
        serde_json::from_str::<serde_json::Value>(TASKS_SCHEMA).unwrap();
        serde_json::from_str::<serde_json::Value>(REPORT_SCHEMA).unwrap();
    }
}
