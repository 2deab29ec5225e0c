//! Per-commit stats: the author and, for non-merge commits, what
//! `git log --numstat` shows per file against the first (only) parent.

use anyhow::{anyhow, Context, Result};
use gix::bstr::BString;
use gix::object::tree::diff::Change;
use gix::ObjectId;

/// One line of `git log --numstat` (binary files: 0 and 0), plus what a
/// path-filtered query needs to redo git's view of a rename whose source or
/// destination lies outside its paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    /// The path in the commit (a rename's destination).
    pub path: BString,
    /// A rename's (or copy's) source path.
    pub source: Option<BString>,
    pub copy: bool,
    pub added: u32,
    pub removed: u32,
    /// Lines of the rename's source and destination blobs (0 when binary): what
    /// git counts as removed / added when a pathspec keeps only one side.
    pub source_lines: u32,
    pub dest_lines: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStats {
    pub author_name: BString,
    pub author_email: BString,
    /// Empty for merges: `git log --numstat` shows nothing for them.
    pub files: Vec<FileStat>,
}

impl CommitStats {
    pub fn added(&self) -> u64 {
        self.files.iter().map(|f| u64::from(f.added)).sum()
    }
    pub fn removed(&self) -> u64 {
        self.files.iter().map(|f| u64::from(f.removed)).sum()
    }
}

/// A commit to read: its parent for the diff (`None` for a root commit) and whether it is a merge.
#[derive(Debug, Clone, Copy)]
pub struct ScanJob {
    pub id: ObjectId,
    pub parent: Option<ObjectId>,
    pub merge: bool,
}

/// Reads commits one after another, reusing its diff caches.
pub struct Scanner<'r> {
    repo: &'r gix::Repository,
    /// Blob data for line diffs and for rename similarity.
    diff_cache: gix::diff::blob::Platform,
    lines_cache: gix::diff::blob::Platform,
}

impl<'r> Scanner<'r> {
    pub fn new(repo: &'r gix::Repository) -> Result<Scanner<'r>> {
        let cache = || {
            repo.diff_resource_cache_for_tree_diff()
                .map_err(|e| crate::store::gix_error(e).context("preparing diffs"))
        };
        Ok(Scanner {
            repo,
            diff_cache: cache()?,
            lines_cache: cache()?,
        })
    }

    pub fn scan(&mut self, job: &ScanJob) -> Result<CommitStats> {
        let what = || format!("reading commit {}", job.id);
        let commit = self
            .repo
            .find_commit(job.id)
            .map_err(crate::store::gix_error)
            .with_context(what)?;
        let author = commit
            .author()
            .map_err(crate::store::gix_error)
            .with_context(what)?
            .trim();
        let (author_name, author_email) = (author.name.to_owned(), author.email.to_owned());
        let files = if job.merge {
            Vec::new()
        } else {
            self.diff(&commit, job.parent).with_context(what)?
        };
        Ok(CommitStats {
            author_name,
            author_email,
            files,
        })
    }

    fn diff(
        &mut self,
        commit: &gix::Commit<'_>,
        parent: Option<ObjectId>,
    ) -> Result<Vec<FileStat>> {
        let git = |e: gix::Error| crate::store::gix_error(e);
        let tree = commit.tree().map_err(git)?;
        let parent_tree = match parent {
            Some(p) => self.repo.find_commit(p).map_err(git)?.tree().map_err(git)?,
            None => self.repo.empty_tree(),
        };
        let mut files = Vec::new();
        let lines_cache = &mut self.lines_cache;
        let mut failure = None;
        parent_tree
            .changes()
            .map_err(git)?
            .options(|o| {
                // Rename tracking stays as configured (git's default: renames, 50%).
                o.track_path();
            })
            .for_each_to_obtain_tree_with_cache(&tree, &mut self.diff_cache, |change| {
                match file_stat(&change, lines_cache) {
                    Ok(Some(stat)) => files.push(stat),
                    Ok(None) => {}
                    Err(e) => {
                        failure = Some(e);
                        return Ok(std::ops::ControlFlow::Break(()));
                    }
                }
                lines_cache.clear_resource_cache_keep_allocation();
                Ok(std::ops::ControlFlow::Continue(()))
            })
            .map_err(git)?;
        self.diff_cache.clear_resource_cache_keep_allocation();
        match failure {
            Some(e) => Err(e),
            None => Ok(files),
        }
    }
}

fn file_stat(
    change: &Change<'_, '_, '_>,
    cache: &mut gix::diff::blob::Platform,
) -> Result<Option<FileStat>> {
    let (mode, previous_mode) = match change {
        Change::Addition { entry_mode, .. } | Change::Deletion { entry_mode, .. } => {
            (*entry_mode, None)
        }
        Change::Modification {
            entry_mode,
            previous_entry_mode,
            ..
        } => (*entry_mode, Some(*previous_entry_mode)),
        Change::Rewrite {
            entry_mode,
            source_entry_mode,
            ..
        } => (*entry_mode, Some(*source_entry_mode)),
    };
    // Directories are not files: their contents show up as changes of their own.
    if mode.is_tree() {
        return Ok(None);
    }
    let path = change.location().to_owned();
    let mut stat = FileStat {
        path,
        source: None,
        copy: false,
        added: 0,
        removed: 0,
        source_lines: 0,
        dest_lines: 0,
    };
    if let Change::Rewrite {
        source_location,
        copy,
        ..
    } = change
    {
        stat.source = Some((*source_location).to_owned());
        stat.copy = *copy;
    }
    // A submodule shows up in a diff as one line, `Subproject commit <id>`.
    if mode.is_commit() || previous_mode.is_some_and(|m| m.is_commit()) {
        let (added, removed) = match change {
            Change::Addition { .. } => (1, 0),
            Change::Deletion { .. } => (0, 1),
            _ => (
                u32::from(mode.is_commit()),
                u32::from(previous_mode.is_some_and(|m| m.is_commit())),
            ),
        };
        stat.added = added;
        stat.removed = removed;
        return Ok(Some(stat));
    }
    let mut platform = change.diff(cache).map_err(crate::store::gix_error)?;
    let counts = platform.line_counts().map_err(crate::store::gix_error)?;
    // `None`: binary, which `--numstat` shows as `-` and we count as 0.
    if let Some(c) = counts {
        stat.added = c.insertions;
        stat.removed = c.removals;
        stat.source_lines = u32::try_from(c.before).map_err(|_| anyhow!("file too long"))?;
        stat.dest_lines = u32::try_from(c.after).map_err(|_| anyhow!("file too long"))?;
    }
    Ok(Some(stat))
}
