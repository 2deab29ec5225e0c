//! What every command works with: the repository, who is acting, and the typed pieces of
//! the state read from `refs/okr/state`. Neutral ground: commands and domain modules both
//! import it; it imports only `model`, `store` and the validators of the domain files.

use crate::model::definitions::{Definitions, DEFINITIONS_FILE};
use crate::model::manual::{ManualMetrics, MANUAL_FILE};
use crate::model::okrs::{is_okr_file, OkrSet, PERMISSIONS_FILE};
use crate::model::permissions::Permissions;
use crate::store::{CommitMessage, Snapshot, Store};
use anyhow::{anyhow, bail, Result};

/// Who acts: a person (the git identity), an agent (`--agent`/`OKR_AGENT`), or the daemon
/// running a job (set by the daemon on its jobs' processes; an agent name wins over it).
#[derive(Debug, Clone, PartialEq)]
pub enum Actor {
    Person {
        name: String,
        email: String,
    },
    Agent(String),
    Daemon {
        /// `Okr-Clone`: the clone's id, the person's email and the machine.
        clone: String,
        /// `Okr-Job`: the scheduled job (or enqueued run) it runs.
        job: String,
        /// `Okr-Trigger`: `cron 0 2 * * *`, `event metrics_recorded refs/okr/state a..b`, …
        trigger: String,
    },
}

impl Actor {
    /// The value of the `Okr-Actor` trailer.
    pub fn id(&self) -> String {
        match self {
            Actor::Person { email, .. } => email.clone(),
            Actor::Agent(name) => format!("agent:{name}"),
            Actor::Daemon { .. } => "daemon".to_string(),
        }
    }

    /// The actor trailers every state commit carries: `Okr-Actor`, and for the daemon also
    /// `Okr-Clone`, `Okr-Job` and `Okr-Trigger` (who ran it, where, and why).
    pub fn sign(&self, message: CommitMessage) -> CommitMessage {
        let message = message.trailer("Okr-Actor", self.id());
        match self {
            Actor::Daemon {
                clone,
                job,
                trigger,
            } => message
                .trailer("Okr-Clone", clone)
                .trailer("Okr-Job", job)
                .trailer("Okr-Trigger", trigger),
            _ => message,
        }
    }
}

/// What every command gets: the repository and who is acting.
pub struct Ctx {
    pub store: Store,
    pub actor: Actor,
}

impl Ctx {
    /// A commit message with the action and actor trailers every state commit carries.
    pub fn message(&self, subject: impl Into<String>, action: &str) -> CommitMessage {
        self.actor
            .sign(CommitMessage::new(subject).trailer("Okr-Action", action))
    }
}

/// Commands that need an initialized state say so clearly.
pub fn require_initialized(snap: &Snapshot<'_>) -> Result<()> {
    if !snap.is_initialized() {
        bail!("refs/okr/state does not exist yet: run `git okr init` first");
    }
    Ok(())
}

/// Every OKR file of the state, validated together.
pub fn load_okrs(snap: &Snapshot<'_>) -> Result<OkrSet> {
    let files = okr_texts(snap)?;
    OkrSet::parse(files.iter().map(|(p, t)| (p.as_str(), t.as_str())))
}

pub fn load_manual(snap: &Snapshot<'_>) -> Result<ManualMetrics> {
    ManualMetrics::parse(
        MANUAL_FILE,
        &snap.read_text(MANUAL_FILE)?.unwrap_or_default(),
    )
}

pub fn load_definitions(snap: &Snapshot<'_>) -> Result<Definitions> {
    Definitions::parse(
        DEFINITIONS_FILE,
        &snap.read_text(DEFINITIONS_FILE)?.unwrap_or_default(),
    )
}

pub fn load_permissions(snap: &Snapshot<'_>) -> Result<Permissions> {
    Permissions::parse(
        PERMISSIONS_FILE,
        &snap.read_text(PERMISSIONS_FILE)?.unwrap_or_default(),
    )
}

/// Validate the content a state path would get. OKR files are checked together with
/// the other OKR files in `others` (ids are unique across files).
/// `check_job_args` checks the arguments of scheduled jobs (see `daemon::ArgsCheck`).
pub fn validate_file(
    path: &str,
    bytes: &[u8],
    others: &[(String, String)],
    check_job_args: crate::daemon::ArgsCheck,
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
        serde_json::from_str::<crate::model::snapshot::Snapshot>(text)
            .map_err(|e| anyhow!("{path}:{}: {e}", e.line()))?;
    } else if path.ends_with(".json") {
        serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| anyhow!("{path}:{}: {e}", e.line()))?;
    } else if path.ends_with(".jsonl") {
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            serde_json::from_str::<serde_json::Value>(line)
                .map_err(|e| anyhow!("{path}:{}: {e}", i + 1))?;
        }
    } else if path.ends_with(".yml") || path.ends_with(".yaml") {
        crate::model::parse_yaml::<serde_yaml::Value>(path, text)?;
    }
    Ok(())
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

/// The text of every OKR file in the state, for `validate_file`.
pub fn okr_texts(snap: &Snapshot<'_>) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for path in snap.list("okrs")?.into_iter().filter(|p| is_okr_file(p)) {
        let text = snap.read_text(&path)?.unwrap_or_default();
        out.push((path, text));
    }
    Ok(out)
}
