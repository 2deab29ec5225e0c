//! The MCP tools' inputs and outputs: each derives its JSON Schema, which the server
//! advertises as the tool's input or output schema.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, JsonSchema)]
pub struct Status {
    /// The commit of refs/okr/state read.
    pub state: Option<String>,
    /// The newest snapshot, when one was measured.
    pub last_snapshot: Option<String>,
    pub last_measured_at: Option<String>,
    pub objectives: Vec<ObjectiveStatus>,
    /// What a person should look at (blocked, at risk, regressed, unmeasured, likely to
    /// miss, proposals waiting).
    pub attention: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ObjectiveStatus {
    pub objective_id: String,
    pub objective: String,
    pub scope: String,
    /// Weighted mean of its KRs' scores, 0–1.
    pub score: f64,
    pub key_results: Vec<KrSummary>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct KrSummary {
    pub kr_id: String,
    pub objective_id: String,
    pub description: String,
    pub owner: Option<String>,
    pub status: String,
    pub metric_key: String,
    pub unit: Option<String>,
    pub baseline: f64,
    pub target: f64,
    pub current: Option<f64>,
    /// clamp((current − baseline) / (target − baseline), 0, 1).
    pub score: f64,
    /// The newest check-in's confidence: how likely the target is reached, 0–1.
    pub confidence: Option<f64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KrFilter {
    /// Only the KRs of this objective.
    pub objective: Option<String>,
    /// Only the KRs this owner owns (the KR's owner_id, else its objective's).
    pub owner: Option<String>,
    /// Only KRs in this status (not_started, in_progress, achieved, at_risk, blocked).
    pub status: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct KrList {
    pub key_results: Vec<KrSummary>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KrId {
    /// A key result id, e.g. KR-1.1.
    pub kr_id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct KrContext {
    #[serde(flatten)]
    pub summary: KrSummary,
    /// `increase` when the target lies above the baseline, else `decrease`.
    pub direction: String,
    /// What is left to reach the target (target − current, or − baseline when unmeasured).
    pub gap: f64,
    /// Evidence recorded on the KR, as text.
    pub evidence: Vec<String>,
    pub due: Option<String>,
    /// Measurements and status changes, oldest first.
    pub history: Vec<HistoryPoint>,
    pub forecast: Option<Forecast>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct HistoryPoint {
    /// RFC 3339.
    pub time: String,
    /// `snapshot`, `status-change` or `regression`.
    pub source: String,
    pub value: Option<f64>,
    pub status: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Forecast {
    pub due: String,
    pub projected: f64,
    pub slope_per_day: f64,
    pub likely_to_miss: bool,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposalFilter {
    /// Only proposals in this status (proposed, approved, rejected, applied).
    pub status: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProposalList {
    pub proposals: Vec<ProposalSummary>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProposalSummary {
    pub id: String,
    pub status: String,
    pub proposer: String,
    pub created: String,
    pub reason: String,
    /// One line per change, e.g. `set KR-1.1.target = 120`.
    pub changes: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposalId {
    /// A proposal id, or a unique prefix of one.
    pub id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProposalDetail {
    #[serde(flatten)]
    pub summary: ProposalSummary,
    pub base: String,
    pub krs: Vec<String>,
    pub objectives: Vec<String>,
    /// The unified diff of each OKR file the proposal changes, against its base.
    pub diffs: Vec<FileDiff>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FileDiff {
    pub path: String,
    pub diff: String,
}

/// The changes `git okr okr propose` takes, with the same checks.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeInput {
    /// Why the change is needed (required, one line or more).
    pub reason: String,
    /// Fields to set, like `--set KR-1.1.target=120`.
    #[serde(default)]
    pub set: Vec<SetField>,
    /// A key result to add to an objective, like `--add-kr OBJ --file kr.yml`.
    #[serde(default)]
    pub add_kr: Option<AddKr>,
    /// Ids of key results or objectives to remove, like `--remove KR-2.3`.
    #[serde(default)]
    pub remove: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetField {
    /// A KR or objective id.
    pub id: String,
    /// The field, e.g. target, description, owner_id, status.
    pub field: String,
    /// The new value (a number or a string; typed by the field as on the command line).
    pub value: serde_json::Value,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddKr {
    pub objective: String,
    /// The key result, as its YAML fields (kr_id, description, metric_key, baseline, target…).
    pub key_result: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Proposed {
    pub id: String,
    pub status: String,
    pub summary: String,
    pub changes: Vec<String>,
    /// How a person reviews it.
    pub next: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Task {
    /// The task as `plan run` handed it to this agent (`OKR_TASK_FILE`): the task, its KR
    /// and the guardrails.
    pub task: serde_json::Value,
    pub plan_id: Option<String>,
    pub run_id: Option<String>,
    pub task_id: Option<String>,
    /// Where `report_task_result` writes the final report.
    pub result_file: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskReport {
    /// The final report, as the run's result schema (`git okr plan result-schema`) says.
    pub report: serde_json::Value,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Recorded {
    pub result_file: String,
}
