//! What every command works with: the repository, who is acting, and the typed pieces of
//! the state read from `refs/okr/state`. Neutral ground: commands and domain modules both
//! import it; it imports only `model` and `store`.

use crate::model::definitions::{Definitions, DEFINITIONS_FILE};
use crate::model::manual::{ManualMetrics, MANUAL_FILE};
use crate::model::okrs::{is_okr_file, OkrSet, PERMISSIONS_FILE};
use crate::model::permissions::Permissions;
use crate::store::{CommitMessage, Snapshot, Store};
use anyhow::Result;

/// Who acts: a person (the git identity) or an agent (`--agent`/`OKR_AGENT`).
#[derive(Debug, Clone, PartialEq)]
pub enum Actor {
    Person { name: String, email: String },
    Agent(String),
}

impl Actor {
    /// The value of the `Okr-Actor` trailer.
    pub fn id(&self) -> String {
        match self {
            Actor::Person { email, .. } => email.clone(),
            Actor::Agent(name) => format!("agent:{name}"),
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
        CommitMessage::new(subject)
            .trailer("Okr-Action", action)
            .trailer("Okr-Actor", self.actor.id())
    }
}

/// Commands that need an initialized state say so clearly.
pub fn require_initialized(snap: &Snapshot<'_>) -> Result<()> {
    if !snap.is_initialized() {
        return Err(crate::store::StoreError::NotInitialized.into());
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

/// The text of every OKR file in the state (OKR files are validated together).
pub fn okr_texts(snap: &Snapshot<'_>) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for path in snap.list("okrs")?.into_iter().filter(|p| is_okr_file(p)) {
        let text = snap.read_text(&path)?.unwrap_or_default();
        out.push((path, text));
    }
    Ok(out)
}
