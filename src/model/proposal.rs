//! `proposals/<id>.yml`: an OKR change proposal and its lifecycle
//! (`proposed → approved | rejected`, `approved → applied`).
//!
//! The structured changes are the truth that `apply` re-applies on the state of the
//! day; the unified diff is what reviewers read, made against the base commit.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::fmt;

/// Where proposals live on the state ref.
pub const PROPOSALS_DIR: &str = "proposals/";

/// The state path of proposal `id`.
pub fn proposal_path(id: &str) -> String {
    format!("{PROPOSALS_DIR}{id}.yml")
}

/// Whether `id` has the shape of a proposal id (`P-YYYYMMDD-xxxxxx`), so it is safe in a path.
pub fn is_proposal_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("P-") else {
        return false;
    };
    let Some((date, hex)) = rest.split_once('-') else {
        return false;
    };
    date.len() == 8
        && date.bytes().all(|b| b.is_ascii_digit())
        && (4..=16).contains(&hex.len())
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    Proposed,
    Approved,
    Rejected,
    Applied,
}

impl ProposalStatus {
    pub const ALL: [ProposalStatus; 4] = [
        ProposalStatus::Proposed,
        ProposalStatus::Approved,
        ProposalStatus::Rejected,
        ProposalStatus::Applied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Proposed => "proposed",
            ProposalStatus::Approved => "approved",
            ProposalStatus::Rejected => "rejected",
            ProposalStatus::Applied => "applied",
        }
    }

    pub fn parse(s: &str) -> Option<ProposalStatus> {
        ProposalStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The lifecycle's edges: proposed → approved | rejected; approved → applied.
    pub fn may_become(self, next: ProposalStatus) -> bool {
        matches!(
            (self, next),
            (ProposalStatus::Proposed, ProposalStatus::Approved)
                | (ProposalStatus::Proposed, ProposalStatus::Rejected)
                | (ProposalStatus::Approved, ProposalStatus::Applied)
        )
    }
}

impl fmt::Display for ProposalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One structured change. `apply` re-applies these on the current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// Set one field of a KR or objective (`KR-1.1.target=120`).
    Set {
        id: String,
        field: String,
        value: Value,
    },
    /// Append a key result to an objective.
    AddKr { objective: String, kr: Value },
    /// Remove a key result or an objective.
    Remove { id: String },
    /// Write a whole OKR file (new or replaced).
    PutFile { path: String, content: String },
    /// Append an objective (every field as given) to an OKR file's objectives.
    AddObjective { path: String, objective: Value },
}

impl Change {
    /// The (id, field) a field set changes; `None` for any other change.
    pub fn set_field(&self) -> Option<(&str, &str)> {
        match self {
            Change::Set { id, field, .. } => Some((id, field)),
            _ => None,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Set { id, field, value } => {
                write!(f, "set {id}.{field} = {}", show_value(value))
            }
            Change::AddKr { objective, kr } => {
                let id = kr.get("kr_id").and_then(Value::as_str).unwrap_or("?");
                write!(f, "add {id} to {objective}")
            }
            Change::Remove { id } => write!(f, "remove {id}"),
            Change::AddObjective { path, objective } => {
                let id = objective
                    .get("objective_id")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                write!(f, "add objective {id} to {path}")
            }
            Change::PutFile { path, content } => {
                write!(f, "write {path} ({} lines)", content.lines().count())
            }
        }
    }
}

/// A YAML value on one line, for messages.
pub fn show_value(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .replace('\n', " "),
    }
}

/// The diff of one touched file against the base commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileDiff {
    pub path: String,
    pub added: usize,
    pub removed: usize,
    pub diff: String,
}

/// One step of the lifecycle: who moved the proposal to `status`, when, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleStep {
    pub status: ProposalStatus,
    pub by: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: String,
    /// A person's git email, or `agent:NAME`.
    pub proposer: String,
    pub created: String,
    /// The state commit the changes and the diff were made against.
    pub base: String,
    pub reason: String,
    pub changes: Vec<Change>,
    /// The key results and objectives the changes touch (for the audit and trailers).
    #[serde(default)]
    pub krs: Vec<String>,
    #[serde(default)]
    pub objectives: Vec<String>,
    pub lifecycle: Vec<LifecycleStep>,
    pub files: Vec<FileDiff>,
}

impl Proposal {
    pub fn parse(path: &str, text: &str) -> Result<Proposal> {
        let p: Proposal = super::parse_yaml(path, text)?;
        if !is_proposal_id(&p.id) {
            bail!(
                "{path}: id {:?} is not a proposal id (P-YYYYMMDD-hex)",
                p.id
            );
        }
        if p.changes.is_empty() {
            bail!("{path}: a proposal needs at least one change");
        }
        p.check_fields(path)?;
        let Some(first) = p.lifecycle.first() else {
            bail!("{path}: lifecycle is empty")
        };
        if first.status != ProposalStatus::Proposed {
            bail!(
                "{path}: lifecycle must start with `proposed`, not `{}`",
                first.status
            );
        }
        for pair in p.lifecycle.windows(2) {
            if !pair[0].status.may_become(pair[1].status) {
                bail!(
                    "{path}: lifecycle goes from {} to {}, which is not allowed",
                    pair[0].status,
                    pair[1].status
                );
            }
        }
        Ok(p)
    }

    pub fn render(&self) -> Result<String> {
        Ok(serde_yaml::to_string(self)?)
    }

    /// Ids and one-line fields: they reach trailers, terminals and commit bodies.
    fn check_fields(&self, path: &str) -> Result<()> {
        use super::ids::{check_id, check_line};
        let line =
            |what: &str, v: &str| check_line(v).map_err(|e| anyhow::anyhow!("{path}: {what} {e}"));
        let id =
            |what: &str, v: &str| check_id(v).map_err(|e| anyhow::anyhow!("{path}: {what} {e}"));
        id("proposer", &self.proposer)?;
        line("reason", &self.reason)?;
        line("created", &self.created)?;
        line("base", &self.base)?;
        for kr in &self.krs {
            id("krs", kr)?;
        }
        for objective in &self.objectives {
            id("objectives", objective)?;
        }
        for step in &self.lifecycle {
            line("lifecycle by", &step.by)?;
            line("lifecycle at", &step.at)?;
            if let Some(r) = &step.reason {
                line("lifecycle reason", r)?;
            }
        }
        Ok(())
    }

    /// The status is the last step of the lifecycle.
    pub fn status(&self) -> ProposalStatus {
        self.lifecycle
            .last()
            .map(|s| s.status)
            .unwrap_or(ProposalStatus::Proposed)
    }

    /// `okrs/org.yml +1 -1, okrs/team.yml +12 -0`
    pub fn summary(&self) -> String {
        diff_summary(&self.files)
    }
}

/// `path +N -M` per file, comma separated.
pub fn diff_summary(files: &[FileDiff]) -> String {
    files
        .iter()
        .map(|f| format!("{} +{} -{}", f.path, f.added, f.removed))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Proposal {
        Proposal {
            id: "P-20261124-a1b2c3".into(),
            proposer: "agent:codex".into(),
            created: "2026-11-24T10:00:00Z".into(),
            base: "0".repeat(40),
            reason: "raise the bar".into(),
            changes: vec![
                Change::Set { id: "KR-1.1".into(), field: "target".into(), value: Value::from(120) },
                Change::Remove { id: "KR-2.3".into() },
            ],
            krs: vec!["KR-1.1".into(), "KR-2.3".into()],
            objectives: vec![],
            lifecycle: vec![LifecycleStep {
                status: ProposalStatus::Proposed,
                by: "agent:codex".into(),
                at: "2026-11-24T10:00:00Z".into(),
                reason: None,
            }],
            files: vec![FileDiff {
                path: "okrs/org.yml".into(),
                added: 1,
                removed: 1,
                diff: "--- a/okrs/org.yml\n+++ b/okrs/org.yml\n@@ -1 +1 @@\n-  target: 100\n+  target: 120\n".into(),
            }],
        }
    }

    #[test]
    fn round_trips() {
        let p = sample();
        let text = p.render().unwrap();
        assert!(text.contains("op: set"), "{text}");
        assert_eq!(Proposal::parse("proposals/x.yml", &text).unwrap(), p);
        assert_eq!(p.status(), ProposalStatus::Proposed);
        assert_eq!(p.summary(), "okrs/org.yml +1 -1");
    }

    #[test]
    fn lifecycle_edges_are_checked() {
        let mut p = sample();
        let mut step = p.lifecycle[0].clone();
        step.status = ProposalStatus::Applied;
        p.lifecycle.push(step);
        let err = Proposal::parse("proposals/x.yml", &p.render().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("from proposed to applied"), "{err}");
    }

    #[test]
    fn ids() {
        assert!(is_proposal_id("P-20261124-a1b2c3"));
        assert!(!is_proposal_id("P-2026112-a1b2c3"));
        assert!(!is_proposal_id("P-20261124-../x"));
        assert!(!is_proposal_id("20261124-a1b2c3"));
    }
}
