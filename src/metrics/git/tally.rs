//! What a query counted, kept per tip commit by the cache and summed by the selection.

use super::GitStats;
use anyhow::{anyhow, Result};
use gix::bstr::ByteSlice;
use std::collections::HashSet;

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
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.commits += other.commits;
        self.merge_commits += other.merge_commits;
        self.lines_added += other.lines_added;
        self.lines_removed += other.lines_removed;
        self.authors.extend(other.authors.iter().copied());
    }

    /// The stats, counting authors the way shortlog does after `mailmap`.
    pub fn stats(
        &self,
        authors: &std::collections::HashMap<i64, (gix::bstr::BString, gix::bstr::BString)>,
        mailmap: &gix::mailmap::Snapshot,
    ) -> Result<GitStats> {
        let mut people = HashSet::new();
        for a in &self.authors {
            let (name, email) = authors.get(a).ok_or_else(|| {
                anyhow!("internal error: author {a} missing from the stats cache")
            })?;
            let sig = gix::actor::SignatureRef {
                name: name.as_bstr(),
                email: email.as_bstr(),
                time: "",
            };
            let resolved = mailmap.resolve_cow(sig);
            people.insert((resolved.name.into_owned(), resolved.email.into_owned()));
        }
        Ok(GitStats {
            commits: self.commits,
            merge_commits: self.merge_commits,
            contributors: people.len() as u64,
            lines_added: self.lines_added,
            lines_removed: self.lines_removed,
        })
    }
}
