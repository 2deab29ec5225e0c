//! The pieces every file merge shares: how conflicts are settled and recorded, which side
//! a decision took, and how values and times compare. The per-file merges (`okrs`,
//! `records`) and the tree merge (`merge`) build on this; it builds on nothing of theirs.

use std::cmp::Ordering;
use std::fmt;

/// How to settle a real conflict: stop and report it, or take one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Stop,
    Ours,
    Theirs,
}

/// One field changed both ways to different values.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeConflict {
    pub file: String,
    /// The objective, KR, job, metric key or proposal id; empty for a whole file.
    pub id: String,
    pub field: String,
    pub base: String,
    pub ours: String,
    pub theirs: String,
}

impl fmt::Display for MergeConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match (self.id.is_empty(), self.field.is_empty()) {
            (true, _) => self.field.clone(),
            (false, true) => self.id.clone(),
            (false, false) => format!("{} {}", self.id, self.field),
        };
        write!(
            f,
            "{}: {what}: base {}, ours {}, theirs {}",
            self.file, self.base, self.ours, self.theirs
        )
    }
}

/// Collects decisions and conflicts while merging.
#[derive(Debug)]
pub struct Merger {
    pub resolution: Resolution,
    /// Conflicts that stop the merge (resolution `Stop`).
    pub conflicts: Vec<MergeConflict>,
    /// Conflicts settled by `--ours`/`--theirs`.
    pub settled: Vec<MergeConflict>,
    /// Merges by meaning worth a line in the merge commit (`later measured_at wins`, …).
    pub notes: Vec<String>,
}

/// Which side a decision took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Ours,
    Theirs,
}

impl Merger {
    pub fn new(resolution: Resolution) -> Merger {
        Merger {
            resolution,
            conflicts: Vec::new(),
            settled: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Record a conflict and return the side to keep for now (ours while stopping: the
    /// result is thrown away anyway).
    pub fn conflict(&mut self, c: MergeConflict) -> Side {
        match self.resolution {
            Resolution::Stop => {
                self.conflicts.push(c);
                Side::Ours
            }
            Resolution::Ours => {
                self.settled.push(c);
                Side::Ours
            }
            Resolution::Theirs => {
                self.settled.push(c);
                Side::Theirs
            }
        }
    }

    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }
}

/// The result of merging one file changed on both sides.
#[derive(Debug, PartialEq)]
pub enum Pick {
    Ours,
    Theirs,
    New(Vec<u8>),
}

impl From<Side> for Pick {
    fn from(s: Side) -> Pick {
        match s {
            Side::Ours => Pick::Ours,
            Side::Theirs => Pick::Theirs,
        }
    }
}

/// A value on one line for conflict reports.
pub fn show_yaml(v: Option<&serde_yaml::Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(v) => crate::model::proposal::show_value(v),
    }
}

/// Compare two timestamps: as RFC 3339 instants when both parse, else as text.
pub fn cmp_time(a: &str, b: &str) -> Ordering {
    match (
        chrono::DateTime::parse_from_rfc3339(a),
        chrono::DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}
