//! Per-commit stats: the author and, for non-merge commits, what
//! `git log --numstat` shows per file against the first (only) parent.
//!
//! The pairs are git's: a tree diff, then git's rename detection
//! ([`super::renames`]); each pair's numbers are git's diffstat rules: the same
//! blob on both sides counts 0; a side that is binary (`-diff`/`binary` in
//! `.gitattributes`, a diff driver with `binary = true`, larger than
//! `core.bigFileThreshold`, or a NUL in its first 8000 bytes) counts 0 (git
//! prints `-`); a submodule is the one line `Subproject commit <id>`; otherwise
//! the lines of a line diff that compares lines with their terminator.

use super::lines::{self, Differ};
use super::packs::{Objects, PackReader, Packs};
use super::renames::{self, Contents, Detect, Pair, Side};
use anyhow::{anyhow, Context, Result};
use gix::bstr::{BString, ByteSlice};
use gix::diff::tree::recorder::Change;
use gix::prelude::Find;
use gix::ObjectId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

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

/// A commit's line stats, as far as they could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lines {
    /// Per file, as `--numstat` (empty for merges: git shows nothing for them).
    Known(Vec<FileStat>),
    /// Not computed: the measurement needed no line metric.
    Skipped,
    /// An object the diff needs is not in this clone (and could not be fetched).
    Missing(ObjectId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStats {
    pub author_name: BString,
    pub author_email: BString,
    pub lines: Lines,
}

impl CommitStats {
    pub fn files(&self) -> &[FileStat] {
        match &self.lines {
            Lines::Known(files) => files,
            _ => &[],
        }
    }
    pub fn added(&self) -> u64 {
        self.files().iter().map(|f| u64::from(f.added)).sum()
    }
    pub fn removed(&self) -> u64 {
        self.files().iter().map(|f| u64::from(f.removed)).sum()
    }
}

/// A commit to read: its parent for the diff (`None` for a root commit) and whether it is a merge.
#[derive(Debug, Clone, Copy)]
pub struct ScanJob {
    pub id: ObjectId,
    pub parent: Option<ObjectId>,
    pub merge: bool,
}

/// An object this clone does not have.
#[derive(Debug, thiserror::Error)]
#[error("object {0} is missing from this clone")]
pub struct MissingObject(pub ObjectId);

/// How a repository's configuration shapes its diffs (git's defaults when unset).
#[derive(Debug, Clone)]
pub struct DiffConfig {
    pub renames: renames::Settings,
    pub algorithm: gix::diff::blob::Algorithm,
    /// `core.bigFileThreshold`: larger blobs are binary.
    pub big_file_threshold: u64,
    /// `diff.<driver>.binary = true` drivers.
    pub binary_drivers: Vec<BString>,
}

impl DiffConfig {
    pub fn from_repo(repo: &gix::Repository) -> Result<DiffConfig> {
        let config = repo.config_snapshot();
        let detect = match config.string("diff.renames").map(|v| v.to_string()) {
            None => Detect::Renames,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "copies" | "copy" => Detect::Copies,
                _ => match config.boolean("diff.renames") {
                    Some(true) => Detect::Renames,
                    Some(false) => Detect::Off,
                    None => {
                        return Err(anyhow!(
                            "diff.renames: {v:?} is not a boolean or \"copies\""
                        ))
                    }
                },
            },
        };
        let limit = match config.integer("diff.renameLimit") {
            Some(n) if n > 0 => n as u64,
            Some(_) => 0,
            None => renames::DEFAULT_LIMIT,
        };
        let algorithm_name = config.string("diff.algorithm").map(|v| v.to_string());
        let algorithm = lines::algorithm(algorithm_name.as_deref()).ok_or_else(|| {
            anyhow!(
                "diff.algorithm = {:?} is not supported for line counts (myers, minimal and histogram are)",
                algorithm_name.unwrap_or_default()
            )
        })?;
        let big_file_threshold = config
            .integer("core.bigFileThreshold")
            .filter(|n| *n > 0)
            .map_or(512 * 1024 * 1024, |n| n as u64);
        let mut binary_drivers = Vec::new();
        if let Some(sections) = config.plumbing().sections_by_name("diff") {
            for section in sections {
                if let Some(name) = section.header().subsection_name() {
                    if section.value("binary").is_some()
                        && config.boolean(format!("diff.{name}.binary").as_str()) == Some(true)
                    {
                        binary_drivers.push(name.to_owned());
                    }
                }
            }
        }
        Ok(DiffConfig {
            renames: renames::Settings {
                detect,
                min_score: renames::DEFAULT_SCORE,
                limit,
            },
            algorithm,
            big_file_threshold,
            binary_drivers,
        })
    }

    /// What the stats cache is invalidated by.
    pub fn fingerprint(&self) -> String {
        format!(
            "renames={:?};limit={};algorithm={:?};bigFileThreshold={};binary={:?}",
            self.renames.detect,
            self.renames.limit,
            self.algorithm,
            self.big_file_threshold,
            self.binary_drivers
        )
    }
}

/// Reads commits one after another, reusing its buffers.
pub struct Scanner<'r> {
    repo: &'r gix::Repository,
    config: DiffConfig,
    /// Compute line stats at all.
    lines: bool,
    /// Missing objects may be fetched by asking git (a promisor remote is configured).
    promisor: bool,
    tree_state: gix::diff::tree::State,
    old_tree: Vec<u8>,
    new_tree: Vec<u8>,
    differ: Differ,
    attributes: Option<Attributes<'r>>,
    /// Blobs read for this commit's binary checks and rename detection.
    blobs: HashMap<ObjectId, Rc<Vec<u8>>>,
    spans: HashMap<ObjectId, Rc<Vec<(u32, u32)>>>,
    /// Trees and blobs, read from the packs by the scan itself (see
    /// [`PackReader`]); the repository's object cache holds the commits.
    packs: RefCell<PackReader<'r>>,
}

struct Attributes<'r> {
    stack: gix::AttributeStack<'r>,
    outcome: gix::attrs::search::Outcome,
}

impl<'r> Scanner<'r> {
    /// `cache_bytes`: how much of the trees and blobs read to keep (see [`PackReader`]).
    pub fn new(
        repo: &'r gix::Repository,
        packs: &'r Packs,
        config: DiffConfig,
        lines: bool,
        cache_bytes: usize,
    ) -> Result<Scanner<'r>> {
        Ok(Scanner {
            repo,
            differ: Differ::new(config.algorithm),
            config,
            lines,
            promisor: has_promisor_remote(repo),
            tree_state: Default::default(),
            old_tree: Vec::new(),
            new_tree: Vec::new(),
            attributes: if lines { attributes(repo)? } else { None },
            blobs: HashMap::new(),
            spans: HashMap::new(),
            packs: RefCell::new(PackReader::new(repo, packs, cache_bytes)),
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
        let tree = commit
            .tree_id()
            .map_err(crate::store::gix_error)
            .with_context(what)?
            .detach();
        let lines = if !self.lines {
            Lines::Skipped
        } else if job.merge {
            Lines::Known(Vec::new())
        } else {
            let parent_tree = match job.parent {
                Some(p) => Some(
                    self.repo
                        .find_commit(p)
                        .map_err(crate::store::gix_error)
                        .and_then(|c| c.tree_id().map_err(crate::store::gix_error))
                        .with_context(what)?
                        .detach(),
                ),
                None => None,
            };
            let mut lines = self.diff_lines(parent_tree, tree).with_context(what)?;
            if matches!(lines, Lines::Missing(_))
                && self.promisor
                && fetch_through_git(self.repo, job.id)
            {
                lines = self.diff_lines(parent_tree, tree).with_context(what)?;
            }
            lines
        };
        Ok(CommitStats {
            author_name,
            author_email,
            lines,
        })
    }

    fn diff_lines(&mut self, old: Option<ObjectId>, new: ObjectId) -> Result<Lines> {
        let result = self.files(old, new);
        self.blobs.clear();
        self.spans.clear();
        match result {
            Ok(files) => Ok(Lines::Known(files)),
            Err(e) => match e.downcast_ref::<MissingObject>() {
                Some(m) => Ok(Lines::Missing(m.0)),
                None => Err(e),
            },
        }
    }

    fn files(&mut self, old: Option<ObjectId>, new: ObjectId) -> Result<Vec<FileStat>> {
        let mut pairs = self.tree_pairs(old, new)?;
        renames::detect(&mut pairs, &self.config.renames.clone(), self)?;
        let mut files = Vec::with_capacity(pairs.len());
        for pair in &pairs {
            files.push(self.file_stat(pair)?);
        }
        Ok(files)
    }

    /// The changed files from `old` to `new`, in git's order (by path).
    fn tree_pairs(&mut self, old: Option<ObjectId>, new: ObjectId) -> Result<Vec<Pair>> {
        let kind = new.kind();
        let objects = Objects(&self.packs);
        if let Some(old) = old {
            if objects.try_find(&old, &mut self.old_tree)?.is_none() {
                return Err(MissingObject(old).into());
            }
        } else {
            self.old_tree.clear();
        }
        if objects.try_find(&new, &mut self.new_tree)?.is_none() {
            return Err(MissingObject(new).into());
        }
        let mut recorder = gix::diff::tree::Recorder::default();
        gix::diff::tree(
            gix::objs::TreeRefIter::from_bytes(&self.old_tree, kind),
            gix::objs::TreeRefIter::from_bytes(&self.new_tree, kind),
            &mut self.tree_state,
            &objects,
            &mut recorder,
        )
        .map_err(|e| {
            anyhow!(
                "comparing trees {} and {new}: {e}",
                old.unwrap_or(ObjectId::empty_tree(kind))
            )
        })?;
        let side =
            |id: ObjectId, mode: gix::objs::tree::EntryMode, path: BString| Side { id, mode, path };
        let mut pairs: Vec<Pair> = Vec::with_capacity(recorder.records.len());
        for change in recorder.records {
            let pair = match change {
                Change::Addition {
                    entry_mode,
                    oid,
                    path,
                    ..
                } => {
                    if entry_mode.is_tree() {
                        continue;
                    }
                    Pair {
                        old: None,
                        new: Some(side(oid, entry_mode, path)),
                        copy: None,
                    }
                }
                Change::Deletion {
                    entry_mode,
                    oid,
                    path,
                    ..
                } => {
                    if entry_mode.is_tree() {
                        continue;
                    }
                    Pair {
                        old: Some(side(oid, entry_mode, path)),
                        new: None,
                        copy: None,
                    }
                }
                Change::Modification {
                    previous_entry_mode,
                    previous_oid,
                    entry_mode,
                    oid,
                    path,
                } => {
                    match (previous_entry_mode.is_tree(), entry_mode.is_tree()) {
                        (true, true) => continue,
                        (false, false) => Pair {
                            old: Some(side(previous_oid, previous_entry_mode, path.clone())),
                            new: Some(side(oid, entry_mode, path)),
                            copy: None,
                        },
                        // A tree on one side: its files show up as changes of their own.
                        (true, false) => Pair {
                            old: None,
                            new: Some(side(oid, entry_mode, path)),
                            copy: None,
                        },
                        (false, true) => Pair {
                            old: Some(side(previous_oid, previous_entry_mode, path)),
                            new: None,
                            copy: None,
                        },
                    }
                }
            };
            pairs.push(pair);
        }
        let path = |p: &Pair| -> BString {
            p.new
                .as_ref()
                .or(p.old.as_ref())
                .map(|s| s.path.clone())
                .unwrap_or_default()
        };
        pairs.sort_by_cached_key(|p| (path(p), p.new.is_some()));
        Ok(pairs)
    }

    fn file_stat(&mut self, pair: &Pair) -> Result<FileStat> {
        let path = pair
            .new
            .as_ref()
            .or(pair.old.as_ref())
            .expect("a side")
            .path
            .clone();
        let mut stat = FileStat {
            path,
            source: None,
            copy: pair.copy == Some(true),
            added: 0,
            removed: 0,
            source_lines: 0,
            dest_lines: 0,
        };
        if pair.copy.is_some() {
            stat.source = pair.old.as_ref().map(|s| s.path.clone());
        }
        let same = matches!((&pair.old, &pair.new), (Some(a), Some(b)) if a.id == b.id);
        if same && pair.copy.is_none() {
            return Ok(stat);
        }
        // Each side is read once and let go after this pair (a commit that
        // changes thousands of files holds one pair's blobs at a time).
        let old_data = match &pair.old {
            Some(s) => match self.text(s)? {
                Some(data) => Some(data),
                None => return Ok(stat),
            },
            None => None,
        };
        let new_data = match &pair.new {
            Some(s) => match self.text(s)? {
                Some(data) => Some(data),
                None => return Ok(stat),
            },
            None => None,
        };
        let (old, new) = (
            old_data.as_deref().map_or(&[][..], Vec::as_slice),
            new_data.as_deref().map_or(&[][..], Vec::as_slice),
        );
        if pair.copy.is_some() {
            stat.source_lines = lines::count(old);
            stat.dest_lines = lines::count(new);
        }
        if !same {
            (stat.added, stat.removed) = self.differ.counts(old, new);
        }
        Ok(stat)
    }

    /// The content git diffs: a blob's data, or for a submodule the line git shows.
    /// `keep`: remember it for this commit (it is read again).
    fn data(&mut self, side: &Side, keep: bool) -> Result<Rc<Vec<u8>>> {
        if side.mode.is_commit() {
            return Ok(Rc::new(
                format!("Subproject commit {}\n", side.id).into_bytes(),
            ));
        }
        if let Some(d) = self.blobs.get(&side.id) {
            return Ok(d.clone());
        }
        let (_, data) = self
            .packs
            .get_mut()
            .read(&side.id)?
            .ok_or(MissingObject(side.id))?;
        if keep {
            self.blobs.insert(side.id, data.clone());
        }
        Ok(data)
    }

    /// The content of `side` to diff, or `None` when git calls it binary (as
    /// [`Self::is_binary`], without keeping the blob for the rest of the commit).
    fn text(&mut self, side: &Side) -> Result<Option<Rc<Vec<u8>>>> {
        let by_attributes = self.binary_by_attributes(side)?;
        if by_attributes == Some(true) {
            return Ok(None);
        }
        let data = self.data(side, false)?;
        if by_attributes.is_none()
            && !side.mode.is_commit()
            && (data.len() as u64 > self.config.big_file_threshold || lines::looks_binary(&data))
        {
            return Ok(None);
        }
        Ok(Some(data))
    }

    /// Git's `diff_filespec_is_binary` for one side.
    fn is_binary(&mut self, side: &Side) -> Result<bool> {
        if let Some(by_attributes) = self.binary_by_attributes(side)? {
            return Ok(by_attributes);
        }
        if side.mode.is_commit() {
            return Ok(false);
        }
        let data = self.data(side, true)?;
        Ok(data.len() as u64 > self.config.big_file_threshold || lines::looks_binary(&data))
    }

    /// `Some` when `.gitattributes` decides: `-diff` (or `binary`) is binary, a
    /// `diff=driver` is what `diff.driver.binary` says.
    fn binary_by_attributes(&mut self, side: &Side) -> Result<Option<bool>> {
        let Some(attrs) = self.attributes.as_mut() else {
            return Ok(None);
        };
        let mode = gix::index::entry::Mode::from_bits(u32::from(side.mode.value()));
        let platform = attrs
            .stack
            .at_entry(side.path.as_bstr(), mode)
            .map_err(|e| anyhow!("reading .gitattributes for {}: {e}", side.path))?;
        attrs.outcome.reset();
        platform.matching_attributes(&mut attrs.outcome);
        let Some(diff) = attrs.outcome.iter_selected().next() else {
            return Ok(None);
        };
        use gix::attrs::StateRef;
        Ok(match diff.assignment.state {
            StateRef::Unset => Some(true),
            StateRef::Value(driver) => {
                let name = driver.as_bstr();
                self.config
                    .binary_drivers
                    .iter()
                    .any(|d| d == name)
                    .then_some(true)
            }
            _ => None,
        })
    }
}

impl Contents for Scanner<'_> {
    fn size(&mut self, side: &Side) -> Result<u64> {
        Ok(self.data(side, true)?.len() as u64)
    }

    fn spans(&mut self, side: &Side) -> Result<Rc<Vec<(u32, u32)>>> {
        if let Some(s) = self.spans.get(&side.id) {
            return Ok(s.clone());
        }
        let text = !self.is_binary(side)?;
        let data = self.data(side, true)?;
        let spans = Rc::new(renames::span_hashes(&data, text));
        self.spans.insert(side.id, spans.clone());
        Ok(spans)
    }
}

/// The attributes git's diff reads (`.gitattributes` of the worktree, else of the
/// index, plus `info/attributes` and the global file), when there are any at all.
fn attributes(repo: &gix::Repository) -> Result<Option<Attributes<'_>>> {
    use gix::worktree::stack::state::attributes::Source;
    let index = repo.index_or_empty().map_err(crate::store::gix_error)?;
    let source = if repo.workdir().is_some() {
        Source::WorktreeThenIdMapping
    } else {
        Source::IdMapping
    };
    let stack = repo
        .attributes_only(&index, source)
        .map_err(|e| crate::store::gix_error(e).context("reading .gitattributes"))?;
    let outcome = stack.selected_attribute_matches(["diff"]);
    Ok(Some(Attributes { stack, outcome }))
}

/// Whether missing objects can be fetched: git's partial clone configuration.
pub fn has_promisor_remote(repo: &gix::Repository) -> bool {
    let config = repo.config_snapshot();
    if config.string("extensions.partialClone").is_some() {
        return true;
    }
    repo.remote_names()
        .iter()
        .any(|name| config.boolean(format!("remote.{name}.promisor").as_str()) == Some(true))
}

/// Let git obtain what it needs for `commit`'s numstat, as `git log --numstat`
/// would (a lazy fetch from the promisor remote). Whether git succeeded.
pub fn fetch_through_git(repo: &gix::Repository, commit: ObjectId) -> bool {
    std::process::Command::new("git")
        .arg("--git-dir")
        .arg(repo.git_dir())
        .args(["show", "--numstat", "--format=", "--no-color"])
        .arg(commit.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
