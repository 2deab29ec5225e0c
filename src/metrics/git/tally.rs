//! What a query counted, kept per tip commit by the cache and summed by the selection.

use super::GitStats;
use anyhow::Result;
use gix::bstr::BStr;
use std::collections::{HashMap, HashSet};

/// What a query counted: [`GitStats`] before mailmap, plus where the walk left the
/// graph it was given (see [`super::graph::Node::external`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub commits: u64,
    pub merge_commits: u64,
    pub lines_added: u64,
    pub lines_removed: u64,
    /// Author row ids of the counted commits.
    pub authors: HashSet<i64>,
    /// External commits the walk reached and would have walked into.
    pub exits: Vec<gix::ObjectId>,
    /// Counted commits whose lines could not be read: (commit, missing object).
    pub missing: Vec<(gix::ObjectId, gix::ObjectId)>,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.commits += other.commits;
        self.merge_commits += other.merge_commits;
        self.lines_added += other.lines_added;
        self.lines_removed += other.lines_removed;
        self.authors.extend(other.authors.iter().copied());
        self.missing.extend(other.missing.iter().copied());
    }

    /// The stats, counting authors the way shortlog does after `mailmap`.
    pub fn stats(&self, people: &People) -> GitStats {
        let distinct: HashSet<i64> = self
            .authors
            .iter()
            .filter_map(|a| people.0.get(a).copied())
            .collect();
        GitStats {
            commits: self.commits,
            merge_commits: self.merge_commits,
            contributors: distinct.len() as u64,
            lines_added: self.lines_added,
            lines_removed: self.lines_removed,
            missing: self.missing.clone(),
        }
    }
}

/// Author row ids mapped to the person they are after the mailmap.
#[derive(Default)]
pub struct People(pub HashMap<i64, i64>);

impl People {
    /// A number for the person `name <email>` is after `mailmap`: the first 8
    /// bytes of a SHA-1 of the mapped name and email (two people share one
    /// with a chance of 1 in 2^64 per pair).
    pub fn person(mailmap: &gix::mailmap::Snapshot, name: &BStr, email: &BStr) -> Result<i64> {
        let resolved = mailmap.try_resolve_ref(gix::actor::SignatureRef {
            name,
            email,
            time: "",
        });
        let (name, email) = match resolved {
            Some(r) => (r.name.unwrap_or(name), r.email.unwrap_or(email)),
            None => (name, email),
        };
        let digest = super::cache::digest([Some(name.as_ref()), Some(email.as_ref())])?;
        Ok(i64::from_le_bytes(
            digest.as_bytes()[..8].try_into().expect("8 bytes"),
        ))
    }

    /// A digest of `mailmap`'s entries: what [`People`] found after it is kept under it.
    pub fn mailmap_digest(mailmap: &gix::mailmap::Snapshot) -> Result<String> {
        let parts = mailmap.iter().flat_map(|entry| {
            [
                Some(entry.old_email()),
                entry.old_name(),
                entry.new_name(),
                entry.new_email(),
            ]
            .map(|part| part.map(|text| text.as_ref()))
        });
        Ok(super::cache::digest(parts)?.to_string())
    }
}
