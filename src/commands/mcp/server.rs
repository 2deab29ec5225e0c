//! The MCP server: tools that read OKR context and propose changes as one agent, and
//! the state's files as read-only resources. Every call reads the state afresh, so the
//! answers follow refs/okr/state while the server runs.

use super::types::*;
use crate::commands::{proposals, status};
use crate::ctx::{load_checkins, load_okrs, require_initialized, Actor, Ctx};
use crate::measure::{latest_snapshot, latest_values};
use crate::model::okrs::OkrSet;
use crate::model::proposal::{Change, Proposal};
use crate::store::{Snapshot, Store};
use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{
    ErrorData, Implementation, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_handler, tool_router, Json, RoleServer, ServerHandler};
use std::collections::BTreeMap;
use std::path::PathBuf;

const URI_PREFIX: &str = "okr://state/";

#[derive(Clone)]
pub struct OkrServer {
    dir: PathBuf,
    agent: String,
    tool_router: ToolRouter<Self>,
}

/// A tool's failure is the message the CLI would print for the same error. (The return
/// types are spelled out: the `tool` macro derives the output schema from `Json<T>`.)
fn fail(e: anyhow::Error) -> String {
    format!("{e:#}")
}

#[tool_router]
impl OkrServer {
    pub fn new(dir: PathBuf, agent: String) -> OkrServer {
        OkrServer {
            dir,
            agent,
            tool_router: Self::tool_router(),
        }
    }

    fn ctx(&self) -> anyhow::Result<Ctx> {
        Ok(Ctx {
            store: Store::discover(&self.dir)?,
            actor: Actor::Agent(self.agent.clone()),
        })
    }

    #[tool(
        description = "The OKRs at a glance: every objective's score and its key results (status, current value, target, score, confidence), and what needs attention."
    )]
    async fn okr_status(&self) -> Result<Json<Status>, String> {
        self.status().map(Json).map_err(fail)
    }

    #[tool(
        description = "List key results, optionally only one objective's, one owner's, or those in one status."
    )]
    async fn list_key_results(
        &self,
        Parameters(filter): Parameters<KrFilter>,
    ) -> Result<Json<KrList>, String> {
        self.list_krs(&filter).map(Json).map_err(fail)
    }

    #[tool(
        description = "Everything about one key result: baseline, current, target, direction, gap, owner, status, confidence, evidence, its measured history and the forecast to its objective's due date."
    )]
    async fn kr_context(
        &self,
        Parameters(KrId { kr_id }): Parameters<KrId>,
    ) -> Result<Json<KrContext>, String> {
        self.context(&kr_id).map(Json).map_err(fail)
    }

    #[tool(description = "List OKR change proposals, optionally only those in one status.")]
    async fn list_proposals(
        &self,
        Parameters(filter): Parameters<ProposalFilter>,
    ) -> Result<Json<ProposalList>, String> {
        self.proposals(&filter).map(Json).map_err(fail)
    }

    #[tool(
        description = "One proposal: its changes, reason, lifecycle status and the diff of each file it changes."
    )]
    async fn get_proposal(
        &self,
        Parameters(ProposalId { id }): Parameters<ProposalId>,
    ) -> Result<Json<ProposalDetail>, String> {
        self.proposal(&id).map(Json).map_err(fail)
    }

    #[tool(
        description = "Propose a change to the OKRs (set fields, add a key result, remove key results or objectives) with a reason. It is checked exactly as `git okr okr propose` checks it, including this agent's permissions in okrs/permissions.yml; a person reviews and approves it. Agents cannot approve or apply."
    )]
    async fn propose_change(
        &self,
        Parameters(input): Parameters<ProposeInput>,
    ) -> Result<Json<Proposed>, String> {
        self.propose(input).map(Json).map_err(fail)
    }

    #[tool(
        description = "Inside `git okr plan run`: the task this agent was started for, with its key result and the guardrails."
    )]
    async fn get_task(&self) -> Result<Json<Task>, String> {
        task().map(Json).map_err(fail)
    }

    #[tool(
        description = "Inside `git okr plan run`: record this task's final report. It must match the run's result schema (`git okr plan result-schema`); an invalid report is refused with the reason."
    )]
    async fn report_task_result(
        &self,
        Parameters(TaskReport { report }): Parameters<TaskReport>,
    ) -> Result<Json<Recorded>, String> {
        record_report(&report).map(Json).map_err(fail)
    }
}

impl OkrServer {
    fn status(&self) -> anyhow::Result<Status> {
        let ctx = self.ctx()?;
        let snap = ctx.store.snapshot()?;
        let krs = Krs::read(&snap)?;
        let (set, values) = (&krs.set, &krs.values);
        let last = latest_snapshot(&snap)?;
        let mut attention: Vec<String> = status::attention(set, values)
            .into_iter()
            .map(|a| a.message)
            .collect();
        attention.extend(
            crate::report::recent_forecasts(&snap, set)?
                .iter()
                .filter(|(_, f)| f.likely_to_miss)
                .map(|(kr, f)| f.describe(kr)),
        );
        attention.extend(
            status::waiting_proposals(&snap)?
                .into_iter()
                .map(|a| a.message),
        );
        let krs = &krs;
        let objectives = crate::score::by_scope(set, values)
            .into_iter()
            .flat_map(|scope| {
                let name = scope.scope.to_string();
                scope.objectives.into_iter().map(move |o| ObjectiveStatus {
                    key_results: o
                        .key_results
                        .iter()
                        .filter_map(|k| krs.summary(&k.kr_id))
                        .collect(),
                    objective_id: o.objective_id,
                    objective: o.objective,
                    scope: name.clone(),
                    score: o.score,
                })
            })
            .collect();
        Ok(Status {
            state: snap.tip().map(|t| t.to_string()),
            last_measured_at: last.as_ref().map(|(_, s)| s.measured_at.clone()),
            last_snapshot: last.map(|(p, _)| p),
            objectives,
            attention,
        })
    }

    fn list_krs(&self, filter: &KrFilter) -> anyhow::Result<KrList> {
        let ctx = self.ctx()?;
        let krs = Krs::read(&ctx.store.snapshot()?)?;
        if let Some(s) = &filter.status {
            if crate::model::okrs::Status::parse(s).is_none() {
                anyhow::bail!("{s:?} is not a KR status (not_started, in_progress, achieved, at_risk, blocked)");
            }
        }
        let key_results = krs
            .set
            .krs()
            .filter_map(|k| krs.summary(&k.kr.kr_id))
            .filter(|k| {
                filter
                    .objective
                    .as_ref()
                    .is_none_or(|o| &k.objective_id == o)
            })
            .filter(|k| {
                filter
                    .owner
                    .as_ref()
                    .is_none_or(|o| k.owner.as_ref() == Some(o))
            })
            .filter(|k| filter.status.as_ref().is_none_or(|s| &k.status == s))
            .collect();
        Ok(KrList { key_results })
    }

    fn context(&self, kr_id: &str) -> anyhow::Result<KrContext> {
        let ctx = self.ctx()?;
        let snap = ctx.store.snapshot()?;
        let krs = Krs::read(&snap)?;
        let set = &krs.set;
        let found = set
            .find_kr(kr_id)
            .ok_or_else(|| anyhow::anyhow!("{kr_id} is not a key result in the current OKRs"))?;
        let summary = krs.summary(kr_id).expect("the KR exists");
        let history = crate::audit::with_mirror(&ctx.store, |conn| {
            crate::audit::query::kr_history(conn, kr_id)
        })?
        .into_iter()
        .map(|p| HistoryPoint {
            time: chrono::DateTime::from_timestamp(p.time, 0)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            source: p.source.as_str().to_string(),
            value: p.value,
            status: p.status,
        })
        .collect();
        let forecast = crate::report::recent_forecasts(&snap, set)?
            .into_iter()
            .find(|(k, _)| k == kr_id)
            .map(|(_, f)| Forecast {
                due: f.due.to_string(),
                projected: f.projected,
                slope_per_day: f.slope_per_day,
                likely_to_miss: f.likely_to_miss,
            });
        let kr = found.kr;
        Ok(KrContext {
            direction: if kr.is_increasing() {
                "increase"
            } else {
                "decrease"
            }
            .into(),
            gap: kr.target - summary.current.unwrap_or(kr.baseline),
            evidence: kr
                .evidence
                .iter()
                .map(|e| match e {
                    serde_yaml::Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                })
                .collect(),
            due: found.objective.due.clone(),
            summary,
            history,
            forecast,
        })
    }

    fn proposals(&self, filter: &ProposalFilter) -> anyhow::Result<ProposalList> {
        let ctx = self.ctx()?;
        let snap = ctx.store.snapshot()?;
        require_initialized(&snap)?;
        let wanted = match filter.status.as_deref() {
            None => None,
            Some(s) => Some(
                crate::model::proposal::ProposalStatus::parse(s).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{s:?} is not a proposal status (proposed, approved, rejected, applied)"
                    )
                })?,
            ),
        };
        let mut out = Vec::new();
        // Statuses and proposers from history, never from the files' own claims; a file
        // no propose commit made is not a proposal.
        let history = crate::proposal::history::derive(&ctx.store, snap.tip())?;
        for id in proposals::proposal_ids(&snap)? {
            let mut p = proposals::load(&snap, &id)?;
            if history.settle(&mut p).is_err() {
                continue;
            }
            if wanted.is_none_or(|s| p.status() == s) {
                out.push(proposal_summary(&p));
            }
        }
        Ok(ProposalList { proposals: out })
    }

    fn proposal(&self, id: &str) -> anyhow::Result<ProposalDetail> {
        let ctx = self.ctx()?;
        let snap = ctx.store.snapshot()?;
        require_initialized(&snap)?;
        let p = proposals::load_settled(&ctx, &snap, id)?;
        Ok(ProposalDetail {
            summary: proposal_summary(&p),
            base: p.base.clone(),
            krs: p.krs.clone(),
            objectives: p.objectives.clone(),
            diffs: p
                .files
                .iter()
                .map(|f| FileDiff {
                    path: f.path.clone(),
                    diff: f.diff.clone(),
                })
                .collect(),
        })
    }

    fn propose(&self, input: ProposeInput) -> anyhow::Result<Proposed> {
        let ctx = self.ctx()?;
        let reason = input.reason.clone();
        let p = proposals::propose_changes(&ctx, &requested(input)?, &reason)?;
        Ok(Proposed {
            id: p.id.clone(),
            status: p.status().as_str().to_string(),
            summary: p.summary(),
            changes: p.changes.iter().map(|c| c.to_string()).collect(),
            next: format!("a person reviews it with `git okr okr show {}` and approves it with `git okr okr approve {}`", p.id, p.id),
        })
    }
}

/// What the key-result tools read of one state commit.
struct Krs {
    set: OkrSet,
    /// The newest snapshot's values.
    values: BTreeMap<String, f64>,
    /// Each KR's newest check-in's confidence.
    confidences: BTreeMap<String, f64>,
}

impl Krs {
    fn read(snap: &Snapshot<'_>) -> anyhow::Result<Self> {
        require_initialized(snap)?;
        Ok(Krs {
            set: load_okrs(snap)?,
            values: latest_values(snap)?,
            confidences: crate::rhythm::last_confidences(&load_checkins(snap)?),
        })
    }

    /// One KR as the tools show it, with its value from the latest snapshot.
    fn summary(&self, kr_id: &str) -> Option<KrSummary> {
        let k = self.set.find_kr(kr_id)?;
        let current = self.values.get(&k.kr.metric_key).copied().or(k.kr.current);
        Some(KrSummary {
            kr_id: k.kr.kr_id.clone(),
            objective_id: k.objective.objective_id.clone(),
            description: k.kr.description.clone(),
            owner: k
                .kr
                .owner_id
                .clone()
                .or_else(|| k.objective.owner_id.clone()),
            status: k.kr.status.as_str().to_string(),
            metric_key: k.kr.metric_key.clone(),
            unit: k.kr.unit.clone(),
            baseline: k.kr.baseline,
            target: k.kr.target,
            current,
            score: current.map(|c| k.kr.score(c)).unwrap_or(0.0),
            confidence: self.confidences.get(kr_id).copied().or(k.kr.confidence),
        })
    }
}

fn proposal_summary(p: &Proposal) -> ProposalSummary {
    ProposalSummary {
        id: p.id.clone(),
        status: p.status().as_str().to_string(),
        proposer: p.proposer.clone(),
        created: p.created.clone(),
        reason: p.reason.clone(),
        changes: p.changes.iter().map(|c| c.to_string()).collect(),
    }
}

/// The structured changes of a `propose_change` call, built as the command line builds
/// them (a `set` value is typed by its field, exactly as `--set ID.FIELD=VALUE`).
fn requested(input: ProposeInput) -> anyhow::Result<Vec<Change>> {
    let mut changes = Vec::new();
    for set in input.set {
        let value = match &set.value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            other => anyhow::bail!(
                "set {}.{}: the value must be a number, a string or a boolean, not {other}",
                set.id,
                set.field
            ),
        };
        changes.push(crate::proposal::parse_set(&format!(
            "{}.{}={value}",
            set.id, set.field
        ))?);
    }
    if let Some(add) = input.add_kr {
        let kr = serde_yaml::to_value(&add.key_result)?;
        changes.push(Change::AddKr {
            objective: add.objective,
            kr,
        });
    }
    for id in input.remove {
        changes.push(Change::Remove { id });
    }
    if changes.is_empty() {
        anyhow::bail!("nothing to propose: give set, add_kr or remove");
    }
    Ok(changes)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The task `plan run` wrote for this agent.
fn task() -> anyhow::Result<Task> {
    let file = env("OKR_TASK_FILE").ok_or_else(|| {
        anyhow::anyhow!("no task: this server was not started for a task of `git okr plan run` (OKR_TASK_FILE is not set)")
    })?;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| anyhow::anyhow!("reading the task file {file}: {e}"))?;
    Ok(Task {
        task: serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("the task file {file} is not JSON: {e}"))?,
        plan_id: env("OKR_PLAN_ID"),
        run_id: env("OKR_RUN_ID"),
        task_id: env("OKR_TASK_ID"),
        result_file: env("OKR_RESULT_FILE"),
    })
}

/// Validate a final report against the run's result schema and write it where
/// `plan run` reads it.
fn record_report(report: &serde_json::Value) -> anyhow::Result<Recorded> {
    let file = env("OKR_RESULT_FILE").ok_or_else(|| {
        anyhow::anyhow!("no task: this server was not started for a task of `git okr plan run` (OKR_RESULT_FILE is not set)")
    })?;
    check_report(report)?;
    std::fs::write(&file, serde_json::to_vec_pretty(report)?)
        .map_err(|e| anyhow::anyhow!("writing the report to {file}: {e}"))?;
    Ok(Recorded { result_file: file })
}

/// A report valid against `REPORT_SCHEMA`: an object with `status` (done, blocked,
/// failed), `summary` (text) and nothing else.
fn check_report(report: &serde_json::Value) -> anyhow::Result<()> {
    let obj = report.as_object().ok_or_else(|| {
        anyhow::anyhow!("the report must be a JSON object with status and summary")
    })?;
    if let Some(extra) = obj.keys().find(|k| *k != "status" && *k != "summary") {
        anyhow::bail!("the report has a property the result schema does not allow: {extra:?}");
    }
    match obj.get("status").and_then(|s| s.as_str()) {
        Some("done" | "blocked" | "failed") => {}
        Some(other) => anyhow::bail!("report status {other:?} is not one of done, blocked, failed"),
        None => anyhow::bail!("the report has no status (done, blocked or failed)"),
    }
    if !obj.get("summary").is_some_and(|s| s.is_string()) {
        anyhow::bail!("the report has no summary (text: what changed, what was verified)");
    }
    Ok(())
}

/// The state files agents may read: OKR files, culture, the latest snapshot.
fn resource_paths(store: &Store) -> anyhow::Result<Vec<String>> {
    let snap = store.snapshot()?;
    let mut out: Vec<String> = snap
        .list("okrs/")?
        .into_iter()
        .filter(|p| p.ends_with(".yml") || p.ends_with(".md"))
        .collect();
    out.extend(
        snap.list("culture/")?
            .into_iter()
            .filter(|p| p.ends_with(".md")),
    );
    out.extend(latest_snapshot(&snap)?.map(|(p, _)| p));
    Ok(out)
}

fn mime(path: &str) -> &'static str {
    if path.ends_with(".md") {
        "text/markdown"
    } else if path.ends_with(".json") {
        "application/json"
    } else {
        "application/yaml"
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for OkrServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("git-okr", env!("CARGO_PKG_VERSION")))
        .with_instructions(format!(
            "git-okr's OKRs for this repository, read from refs/okr/state. You act as agent {:?}: \
             you may read everything and propose changes (propose_change); people approve and \
             apply them.",
            self.agent
        ))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let store = Store::discover(&self.dir).map_err(internal)?;
        let resources = resource_paths(&store)
            .map_err(internal)?
            .into_iter()
            .map(|p| Resource::new(format!("{URI_PREFIX}{p}"), p.clone()).with_mime_type(mime(&p)))
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let not_found =
            || ErrorData::resource_not_found(format!("no resource {}", request.uri), None);
        let path = request.uri.strip_prefix(URI_PREFIX).ok_or_else(not_found)?;
        let store = Store::discover(&self.dir).map_err(internal)?;
        // Only what list_resources offers can be read: never another path of the state.
        if !resource_paths(&store)
            .map_err(internal)?
            .iter()
            .any(|p| p == path)
        {
            return Err(not_found());
        }
        let text = store
            .snapshot()
            .and_then(|s| s.read_text(path))
            .map_err(internal)?
            .ok_or_else(not_found)?;
        Ok(
            ReadResourceResult::new(vec![ResourceContents::TextResourceContents {
                uri: request.uri.clone(),
                mime_type: Some(mime(path).to_string()),
                text,
                meta: None,
            }])
            .into(),
        )
    }
}

fn internal(e: anyhow::Error) -> ErrorData {
    ErrorData::internal_error(format!("{e:#}"), None)
}
