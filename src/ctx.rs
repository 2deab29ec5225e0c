//! What every command works with: the repository, who is acting, and the typed pieces of
//! the state read from `refs/okr/state`. Neutral ground: commands and domain modules both
//! import it; it imports only `model` and `store`.

use crate::model::definitions::{Definitions, DEFINITIONS_FILE};
use crate::model::manual::{ManualMetrics, MANUAL_FILE};
use crate::model::okrs::{is_okr_file, OkrSet, PERMISSIONS_FILE};
use crate::model::permissions::Permissions;
use crate::store::{CommitMessage, Snapshot, Store};
use anyhow::Result;

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
    // One read of the folder: 500 team files read by path would decode it 500 times.
    snap.read_dir_texts("okrs", is_okr_file)
}

/// `okrs/cycles.yml`, checked (no file: quarters, check-ins due every 7 days).
pub fn load_cycles(snap: &Snapshot<'_>) -> Result<crate::model::cycles::Cycles> {
    use crate::model::cycles::{Cycles, CYCLES_FILE};
    Cycles::parse(
        CYCLES_FILE,
        &snap.read_text(CYCLES_FILE)?.unwrap_or_default(),
    )
}

/// Every check-in on the state (`checkins/DAY/*.json`), checked, oldest first.
pub fn load_checkins(snap: &Snapshot<'_>) -> Result<Vec<crate::model::checkin::Checkin>> {
    use crate::model::checkin::{Checkin, CHECKINS_DIR};
    let mut out = Vec::new();
    for day in snap.list(CHECKINS_DIR)?.iter().filter_map(|p| {
        let (dir, _) = p.rsplit_once('/')?;
        Some(dir.to_string())
    }) {
        if out
            .last()
            .is_some_and(|(d, _): &(String, Vec<Checkin>)| *d == day)
        {
            continue;
        }
        let mut of_day = Vec::new();
        for (path, bytes) in snap.read_dir_files(&day)? {
            let text =
                String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{path}: not UTF-8"))?;
            of_day.push(Checkin::parse(&path, &text)?);
        }
        out.push((day, of_day));
    }
    let mut all: Vec<Checkin> = out.into_iter().flat_map(|(_, c)| c).collect();
    all.sort_by_key(|c| c.millis());
    Ok(all)
}

/// The grades of cycle `id`, if it was closed.
pub fn load_grades(snap: &Snapshot<'_>, id: &str) -> Result<Option<crate::model::grades::Grades>> {
    use crate::model::grades::{grades_path, Grades};
    let path = grades_path(id);
    snap.read_text(&path)?
        .map(|text| Grades::parse(&path, &text))
        .transpose()
}
