//! The state ref: reading its tree and the one write path (ARCHITECTURE.md).
//!
//! `store` knows git, not OKRs: it reads and writes files on `refs/okr/state`
//! with gix and never touches the user's index, work tree, HEAD or branches.

mod history;
mod message;
pub mod verify;

pub use history::FolderChange;
pub use message::{parse_trailers, CommitMessage};
pub use verify::TreeError;

use anyhow::{anyhow, bail, Context, Result};
use gix::object::tree::EntryKind;
use gix::refs::transaction::PreviousValue;
use gix::refs::Target;
use gix::ObjectId;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The one ref that holds all of git-okr's shared state.
pub const STATE_REF: &str = "refs/okr/state";

/// How often a transaction re-reads and re-applies after losing a race.
const MAX_ATTEMPTS: u32 = 100;

/// What callers of the store branch on. Other failures (I/O, a bad file) stay `anyhow`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("refs/okr/state does not exist yet: run `git okr init` first")]
    NotInitialized,
    /// Every compare-and-swap lost against other writers.
    #[error(
        "refs/okr/state kept moving under concurrent writers; gave up after {attempts} attempts"
    )]
    Contended {
        attempts: u32,
        #[source]
        last: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A git operation failed. gix's error keeps its causes as sources (its `Display`
    /// shows only the top line); `{:#}` and the command line's error print walk them all.
    #[error(transparent)]
    Git(#[from] gix::Error),
}

/// A gix error as an `anyhow` error that callers can still downcast to [`StoreError`].
pub fn gix_error(e: impl Into<gix::Error>) -> anyhow::Error {
    StoreError::Git(e.into()).into()
}

trait GixContext<T> {
    fn git(self, what: &str) -> Result<T>;
}

impl<T, E: Into<gix::Error>> GixContext<T> for std::result::Result<T, E> {
    fn git(self, what: &str) -> Result<T> {
        self.map_err(|e| gix_error(e).context(what.to_string()))
    }
}

/// A repository opened for git-okr.
pub struct Store {
    repo: gix::Repository,
    /// Subtrees found valid by `verify`, so each is checked once per process.
    verified: verify::Verified,
}

/// The files to change in one commit: `Some(bytes)` writes, `None` removes.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    files: BTreeMap<String, Option<Vec<u8>>>,
}

impl Changes {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn write(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) -> &mut Self {
        self.files.insert(path.into(), Some(bytes.into()));
        self
    }
    pub fn remove(&mut self, path: impl Into<String>) -> &mut Self {
        self.files.insert(path.into(), None);
        self
    }
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }
}

/// What an operation wants committed, and what it returns to its caller.
pub struct Commit<T> {
    pub changes: Changes,
    pub message: CommitMessage,
    pub value: T,
}

/// What an operation decided after looking at the state.
pub enum Step<T> {
    /// Nothing to write; hand `T` back to the caller.
    Nothing(T),
    /// Write this commit.
    Commit(Commit<T>),
}

/// The result of a transaction.
pub enum Outcome<T> {
    /// A commit was made and the ref moved to it.
    Committed { id: ObjectId, value: T },
    /// The operation decided there was nothing to write, or its changes left the tree as it was.
    Unchanged { value: T },
}

impl<T> Outcome<T> {
    pub fn value(&self) -> &T {
        match self {
            Outcome::Committed { value, .. } | Outcome::Unchanged { value } => value,
        }
    }
    pub fn commit_id(&self) -> Option<ObjectId> {
        match self {
            Outcome::Committed { id, .. } => Some(*id),
            Outcome::Unchanged { .. } => None,
        }
    }
}

/// Who made a commit and when (seconds since the Unix epoch, UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp {
    pub name: String,
    pub email: String,
    pub time: i64,
}

/// The commits of one `transact_chain`, written but not yet on the ref.
pub struct Chain<'s> {
    store: &'s Store,
    head: Option<ObjectId>,
    tree: Option<ObjectId>,
    subject: String,
}

impl Chain<'_> {
    /// Write a commit of `changes` on top of the chain (even when the tree stays the
    /// same: a record of an event is worth a commit). `stamp` sets author, committer and
    /// time; without it the user's identity and the current time are used.
    pub fn commit(
        &mut self,
        changes: &Changes,
        message: &CommitMessage,
        stamp: Option<&Stamp>,
    ) -> Result<ObjectId> {
        let tree = self.store.write_tree(self.tree, changes)?;
        let parents: Vec<ObjectId> = self.head.into_iter().collect();
        let id = match stamp {
            Some(stamp) => self
                .store
                .write_commit_stamped(tree, parents, message, stamp)?,
            None => self.store.write_commit(tree, parents, message)?,
        };
        self.head = Some(id);
        self.tree = Some(tree);
        self.subject = message.subject.clone();
        Ok(id)
    }

    /// The chain's newest commit (the tip it started on before any commit).
    pub fn head(&self) -> Option<ObjectId> {
        self.head
    }
}

/// A read-only view of `refs/okr/state` at one commit.
pub struct Snapshot<'s> {
    store: &'s Store,
    tip: Option<ObjectId>,
    tree: Option<ObjectId>,
}

impl Store {
    /// Open the repository containing `path` (a work tree, a `.git` dir or a bare repository).
    pub fn discover(path: &Path) -> Result<Store> {
        if !path.exists() {
            bail!("no such directory: {}", path.display());
        }
        let mut repo = gix::discover(path).map_err(|e| {
            anyhow!(
                "not a git repository (or any parent up to /): {} ({:#})",
                path.display(),
                gix_error(e)
            )
        })?;
        // A state commit needs an identity; git-okr must work in hooks and daemons where none is set.
        repo.committer_or_set_fallback("git-okr", "git-okr@localhost")
            .git("reading the git identity")?;
        let verified = verify::Verified::kept_in(repo.common_dir().join("okr").join("verified"));
        Ok(Store { repo, verified })
    }

    pub fn repo(&self) -> &gix::Repository {
        &self.repo
    }

    /// `.git/okr/` (in the common dir, so every worktree shares it); created on demand.
    pub fn okr_dir(&self) -> Result<PathBuf> {
        let dir = self.repo.common_dir().join("okr");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// The user's identity as `Name <email>` parts (committer, as git resolves it).
    pub fn identity(&self) -> (String, String) {
        match self.repo.committer() {
            Some(Ok(sig)) => (sig.name.to_string(), sig.email.to_string()),
            _ => ("git-okr".into(), "git-okr@localhost".into()),
        }
    }

    /// The commit `refs/okr/state` points at, if the ref exists.
    pub fn tip(&self) -> Result<Option<ObjectId>> {
        self.ref_tip(STATE_REF)
    }

    /// The state as it is now.
    pub fn snapshot(&self) -> Result<Snapshot<'_>> {
        let tip = self.tip()?;
        self.snapshot_at(tip)
    }

    /// The state at `commit` (or the empty state for `None`). Its tree is verified first
    /// (see `verify`): nothing of a tree with an escaping path or a symlink is ever read.
    pub fn snapshot_at(&self, commit: Option<ObjectId>) -> Result<Snapshot<'_>> {
        let tree = match commit {
            Some(id) => Some(self.verified_tree_of(id)?),
            None => None,
        };
        Ok(Snapshot {
            store: self,
            tip: commit,
            tree,
        })
    }

    /// Verify the tree of `commit` (paths, layout, entry kinds, sizes).
    pub fn verify_commit(&self, commit: ObjectId) -> std::result::Result<(), TreeError> {
        let tree = self.tree_of(commit).map_err(|e| TreeError::Unreadable {
            path: "/".into(),
            why: format!("{e:#}"),
        })?;
        verify::verify_tree(&self.repo, tree, &self.verified)
    }

    /// The tree of `commit`, refused (naming the commit and the path) unless it verifies.
    fn verified_tree_of(&self, commit: ObjectId) -> Result<ObjectId> {
        let tree = self.tree_of(commit)?;
        verify::verify_tree(&self.repo, tree, &self.verified).map_err(|e| {
            anyhow!(
                "refs/okr/state commit {} is refused: {e}. Move the ref back to a good commit \
                 (git log refs/okr/state; git update-ref refs/okr/state GOOD)",
                commit.to_hex_with_len(12)
            )
        })?;
        Ok(tree)
    }

    /// The one write path: read the tip, let `op` compute changes from that state,
    /// write the commit and move the ref with compare-and-swap. On a lost race the
    /// operation runs again on the new state, a bounded number of times.
    pub fn transact<T>(
        &self,
        mut op: impl FnMut(&Snapshot<'_>) -> Result<Step<T>>,
    ) -> Result<Outcome<T>> {
        let mut last_error = None;
        let mut locks = LockWatch::default();
        for attempt in 0..MAX_ATTEMPTS {
            let snap = self.snapshot()?;
            let commit = match op(&snap)? {
                Step::Nothing(value) => return Ok(Outcome::Unchanged { value }),
                Step::Commit(commit) => commit,
            };
            let tree = self.write_tree(snap.tree, &commit.changes)?;
            if Some(tree) == snap.tree {
                return Ok(Outcome::Unchanged {
                    value: commit.value,
                });
            }
            let id = self.write_commit(tree, snap.tip.into_iter().collect(), &commit.message)?;
            match self.move_ref(snap.tip, id, &commit.message.subject) {
                Ok(()) => {
                    return Ok(Outcome::Committed {
                        id,
                        value: commit.value,
                    })
                }
                Err(e) => {
                    if self.tip()? == snap.tip && !is_lock_contention(&e) {
                        return Err(e.context("updating refs/okr/state"));
                    }
                    if is_lock_contention(&e) {
                        if let Some(stale) = locks.stale(&self.lock_files()) {
                            return Err(anyhow::Error::new(stale));
                        }
                    }
                    last_error = Some(e);
                    backoff(attempt);
                }
            }
        }
        Err(StoreError::Contended {
            attempts: MAX_ATTEMPTS,
            last: last_error.map(Into::into),
        }
        .into())
    }

    /// Several commits in one ref update: `op` writes a chain of commits on top of the
    /// tip it is shown (each may carry its own author, committer and time, as an
    /// import of earlier history needs), then the ref moves to the chain's head with
    /// one compare-and-swap. On a lost race the chain is discarded and `op` runs again
    /// on the new tip. An empty chain changes nothing.
    pub fn transact_chain<T>(
        &self,
        mut op: impl FnMut(&Snapshot<'_>, &mut Chain<'_>) -> Result<T>,
    ) -> Result<(Option<ObjectId>, T)> {
        let mut last_error = None;
        for attempt in 0..MAX_ATTEMPTS {
            let snap = self.snapshot()?;
            let mut chain = Chain {
                store: self,
                head: snap.tip,
                tree: snap.tree,
                subject: String::new(),
            };
            let value = op(&snap, &mut chain)?;
            if chain.head == snap.tip {
                return Ok((None, value));
            }
            let head = chain.head.expect("a chain that moved has a head");
            match self.move_ref(snap.tip, head, &chain.subject) {
                Ok(()) => return Ok((Some(head), value)),
                Err(e) => {
                    if self.tip()? == snap.tip && !is_lock_contention(&e) {
                        return Err(e.context("updating refs/okr/state"));
                    }
                    last_error = Some(e);
                    backoff(attempt);
                }
            }
        }
        bail!(
            "refs/okr/state kept moving under concurrent writers; gave up after {MAX_ATTEMPTS} attempts (last: {})",
            last_error.map(|e| e.to_string()).unwrap_or_default()
        )
    }

    /// Write a commit whose tree is `tree` with the given parents (used by sync's merge too).
    pub fn write_commit(
        &self,
        tree: ObjectId,
        parents: Vec<ObjectId>,
        message: &CommitMessage,
    ) -> Result<ObjectId> {
        let committer = self
            .repo
            .committer()
            .ok_or_else(|| anyhow!("no git identity"))?
            .git("reading the git identity")?;
        let author = match self.repo.author() {
            Some(a) => a.git("reading the git identity")?,
            None => committer,
        };
        let commit = self
            .repo
            .new_commit_as(committer, author, message.render(), tree, parents)
            .git("writing a state commit")?;
        Ok(commit.id)
    }

    /// Like `write_commit`, but authored and committed by `stamp` (who and when).
    fn write_commit_stamped(
        &self,
        tree: ObjectId,
        parents: Vec<ObjectId>,
        message: &CommitMessage,
        stamp: &Stamp,
    ) -> Result<ObjectId> {
        let sig = gix::actor::Signature {
            name: stamp.name.as_str().into(),
            email: stamp.email.as_str().into(),
            time: gix::date::Time::new(stamp.time, 0),
        };
        let mut buf = gix::date::parse::TimeBuf::default();
        let sig = sig.to_ref(&mut buf);
        let commit = self
            .repo
            .new_commit_as(sig, sig, message.render(), tree, parents)
            .git("writing a state commit")?;
        Ok(commit.id)
    }

    /// Apply `changes` on top of `base` and return the new tree id.
    fn write_tree(&self, base: Option<ObjectId>, changes: &Changes) -> Result<ObjectId> {
        let mut entries = Vec::with_capacity(changes.files.len());
        for (path, content) in &changes.files {
            if content.is_some() {
                verify::check_file_path(path).map_err(|e| anyhow!("refusing to write {e}"))?;
            }
            let blob = content.as_deref().map(|b| self.write_blob(b)).transpose()?;
            entries.push((path.as_str(), blob));
        }
        self.edit_tree(base, entries)
    }

    /// `base` (or the empty tree) with each path set to a blob (`Some`) or removed (`None`).
    fn edit_tree<'p>(
        &self,
        base: Option<ObjectId>,
        entries: impl IntoIterator<Item = (&'p str, Option<ObjectId>)>,
    ) -> Result<ObjectId> {
        let base = base.unwrap_or_else(|| ObjectId::empty_tree(self.repo.object_hash()));
        let mut editor = self.repo.edit_tree(base).git("editing the state tree")?;
        for (path, blob) in entries {
            match blob {
                Some(id) => editor.upsert(path, EntryKind::Blob, id).map(|_| ()),
                None => editor.remove(path).map(|_| ()),
            }
            .map_err(|e| gix_error(e).context(format!("invalid state path {path:?}")))?;
        }
        Ok(editor.write().git("writing the state tree")?.detach())
    }

    /// Compare-and-swap `refs/okr/state` from `old` to `new`.
    /// The new commit's tree is verified first: the ref never moves to a refused tree.
    pub fn move_ref(&self, old: Option<ObjectId>, new: ObjectId, why: &str) -> Result<()> {
        self.verify_commit(new).map_err(|e| {
            anyhow!(
                "refused to move refs/okr/state to {}: {e}",
                new.to_hex_with_len(12)
            )
        })?;
        let constraint = match old {
            Some(prev) => PreviousValue::MustExistAndMatch(Target::Object(prev)),
            None => PreviousValue::MustNotExist,
        };
        self.repo
            .reference(STATE_REF, new, constraint, format!("git-okr: {why}"))
            .map(|_| ())
            .map_err(gix_error)
    }
}

impl Store {
    /// The directory to run `git` in for transport (the work tree, else the git dir).
    pub fn git_cwd(&self) -> PathBuf {
        self.repo
            .workdir()
            .unwrap_or_else(|| self.repo.git_dir())
            .to_path_buf()
    }

    /// The commit any ref points at, if it exists (e.g. a remote-tracking state ref).
    pub fn ref_tip(&self, name: &str) -> Result<Option<ObjectId>> {
        match self
            .repo
            .try_find_reference(name)
            .git(&format!("reading {name}"))?
        {
            None => Ok(None),
            Some(mut r) => Ok(Some(
                r.peel_to_id().git(&format!("resolving {name}"))?.detach(),
            )),
        }
    }

    /// Point `name` at `id` whatever it pointed at before (for tracking refs, never the state ref).
    pub fn set_ref(&self, name: &str, id: ObjectId, why: &str) -> Result<()> {
        self.repo
            .reference(name, id, PreviousValue::Any, format!("git-okr: {why}"))
            .map(|_| ())
            .map_err(gix_error)
    }

    /// The newest commit on `start`'s first-parent line committed at or before `time`
    /// (seconds since the Unix epoch): what a branch, or the state ref, was at that
    /// moment. `None` when even its first commit is later.
    pub fn first_parent_at_or_before(
        &self,
        start: ObjectId,
        time: i64,
    ) -> Result<Option<ObjectId>> {
        let mut next = Some(start);
        while let Some(id) = next {
            let commit = self.repo.find_commit(id).git("reading a commit")?;
            let when = commit.time().git("reading a commit's time")?.seconds;
            if when <= time {
                return Ok(Some(id));
            }
            next = commit.parent_ids().next().map(|p| p.detach());
        }
        Ok(None)
    }

    /// The best common ancestor of two commits, or `None` when their histories are unrelated.
    pub fn merge_base(&self, one: ObjectId, two: ObjectId) -> Result<Option<ObjectId>> {
        Ok(self
            .repo
            .merge_base(one, two)
            .git("finding the merge base")?
            .map(|id| id.detach()))
    }

    /// Every file of `commit`'s tree as path → blob id, without reading the blobs.
    pub fn file_ids(&self, commit: ObjectId) -> Result<BTreeMap<String, ObjectId>> {
        let tree = self
            .repo
            .find_commit(commit)
            .git("reading a state commit")?
            .tree()
            .git("reading a state commit's tree")?;
        let mut out = BTreeMap::new();
        walk(&tree, "", &mut |path, mode, id| {
            if mode.is_blob() {
                out.insert(path, id);
            }
        })?;
        Ok(out)
    }

    pub fn read_blob(&self, id: ObjectId) -> Result<Vec<u8>> {
        Ok(self
            .repo
            .find_blob(id)
            .git("reading a state file")?
            .data
            .clone())
    }

    pub fn write_blob(&self, bytes: &[u8]) -> Result<ObjectId> {
        Ok(self.repo.write_blob(bytes).git("writing a blob")?.detach())
    }

    /// Write a whole tree from path → blob id (e.g. a merged state) and return its id.
    pub fn write_tree_of(&self, files: &BTreeMap<String, ObjectId>) -> Result<ObjectId> {
        self.edit_tree(
            None,
            files.iter().map(|(path, id)| (path.as_str(), Some(*id))),
        )
    }

    /// The tree id of a commit.
    pub fn tree_of(&self, commit: ObjectId) -> Result<ObjectId> {
        Ok(self
            .repo
            .find_commit(commit)
            .git("reading a state commit")?
            .tree_id()
            .git("reading a state commit's tree")?
            .detach())
    }
}

/// Every entry below `tree` that is not itself a tree, depth first, as its full path,
/// mode and id (`prefix` is the path of `tree`, `/`-terminated or empty).
fn walk(
    tree: &gix::Tree<'_>,
    prefix: &str,
    visit: &mut dyn FnMut(String, gix::object::tree::EntryMode, ObjectId),
) -> Result<()> {
    for entry in tree.iter() {
        let entry = entry.git("reading a state tree")?;
        let path = format!("{prefix}{}", entry.filename());
        if entry.mode().is_tree() {
            let sub = entry.object().git("reading a state tree")?.into_tree();
            walk(&sub, &format!("{path}/"), visit)?;
        } else {
            visit(path, entry.mode(), entry.oid().to_owned());
        }
    }
    Ok(())
}

impl Store {
    /// The lock files a move of `refs/okr/state` takes (git's and gix's names alike).
    fn lock_files(&self) -> Vec<PathBuf> {
        let common = self.repo.common_dir();
        vec![
            common.join(format!("{STATE_REF}.lock")),
            common.join("packed-refs.lock"),
        ]
    }
}

/// A lock file nobody holds: left by a writer killed with `kill -9` (or a crash).
#[derive(Debug, thiserror::Error)]
#[error("{} has been in place for {}s, longer than any write holds it: a git or git-okr process was probably killed while writing. If no git command is running in this repository, remove it: rm {}", path.display(), age.as_secs(), path.display())]
pub struct StaleLock {
    pub path: PathBuf,
    pub age: Duration,
}

/// How long one lock file may stay in place, unchanged, while we wait on it: a real
/// writer holds it for milliseconds (it writes one small file and renames it); the
/// margin covers a writer descheduled on a badly overloaded machine.
const LOCK_PATIENCE: Duration = Duration::from_secs(3);
/// A lock file this old when we run into it is stale at once (the usual case: it was
/// left by a crash some time ago), so the error comes on the first attempt.
const STALE_LOCK_AGE: Duration = Duration::from_secs(3);

/// Watches the lock files a transaction keeps running into. A lock another live writer
/// holds comes and goes (a new file each time); the same file (same inode, same mtime)
/// in place for `LOCK_PATIENCE`, or one older than `STALE_LOCK_AGE`, is stale.
#[derive(Default)]
struct LockWatch {
    seen: BTreeMap<PathBuf, (u64, std::time::SystemTime, std::time::Instant)>,
}

impl LockWatch {
    fn stale(&mut self, files: &[PathBuf]) -> Option<StaleLock> {
        use std::os::unix::fs::MetadataExt;
        for path in files {
            let Ok(meta) = std::fs::symlink_metadata(path) else {
                self.seen.remove(path);
                continue;
            };
            let Ok(modified) = meta.modified() else {
                continue;
            };
            let age = modified.elapsed().unwrap_or_default();
            let identity = (meta.ino(), modified);
            let first_seen = match self.seen.get(path) {
                Some((ino, mtime, at)) if (*ino, *mtime) == identity => *at,
                _ => {
                    let now = std::time::Instant::now();
                    self.seen
                        .insert(path.clone(), (identity.0, identity.1, now));
                    now
                }
            };
            if age >= STALE_LOCK_AGE || first_seen.elapsed() >= LOCK_PATIENCE {
                return Some(StaleLock {
                    path: path.clone(),
                    age,
                });
            }
        }
        None
    }
}

fn is_lock_contention(e: &anyhow::Error) -> bool {
    // gix reports a held ref lock somewhere in the chain, not in the top message.
    e.chain()
        .any(|cause| cause.to_string().to_lowercase().contains("lock"))
}

/// Sleep a little, more on each attempt, with jitter so racing writers spread out.
fn backoff(attempt: u32) {
    use rand::Rng;
    let cap = 2u64.saturating_pow(attempt.min(6)).min(50);
    let ms = rand::rng().random_range(0..=cap);
    std::thread::sleep(Duration::from_millis(ms));
}

impl<'s> Snapshot<'s> {
    /// The store this view reads from (for history questions about its tip).
    pub fn store(&self) -> &'s Store {
        self.store
    }

    /// The commit this view was read from (`None` before `init`).
    pub fn tip(&self) -> Option<ObjectId> {
        self.tip
    }

    pub fn is_initialized(&self) -> bool {
        self.tip.is_some()
    }

    fn root(&self) -> Result<Option<gix::Tree<'s>>> {
        match self.tree {
            None => Ok(None),
            Some(id) => Ok(Some(
                self.store
                    .repo
                    .find_tree(id)
                    .git("reading the state tree")?,
            )),
        }
    }

    /// The bytes of the file at `path`, if it exists (and is a file).
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(root) = self.root()? else {
            return Ok(None);
        };
        let Some(entry) = root
            .lookup_entry_by_path(path)
            .git("looking up a state file")?
        else {
            return Ok(None);
        };
        if !entry.mode().is_blob() {
            return Ok(None);
        }
        let object = entry.object().git("reading a state file")?;
        Ok(Some(object.data.clone()))
    }

    /// The text of the file at `path`; a file that is not UTF-8 is an error naming it.
    pub fn read_text(&self, path: &str) -> Result<Option<String>> {
        self.read(path)?.map(|bytes| utf8(path, bytes)).transpose()
    }

    /// The tree of directory `dir` ("" for the root), if there is one.
    fn dir_tree(&self, dir: &str) -> Result<Option<gix::Tree<'s>>> {
        let Some(root) = self.root()? else {
            return Ok(None);
        };
        if dir.is_empty() {
            return Ok(Some(root));
        }
        match root
            .lookup_entry_by_path(dir)
            .git("looking up a state path")?
        {
            Some(e) if e.mode().is_tree() => {
                Ok(Some(e.object().git("reading a state tree")?.into_tree()))
            }
            _ => Ok(None),
        }
    }

    /// Whether `path` names a directory on the ref.
    pub fn is_dir(&self, path: &str) -> Result<bool> {
        Ok(self.dir_tree(path)?.is_some())
    }

    /// Every file below `dir` ("" for all), as full paths, sorted.
    pub fn list(&self, dir: &str) -> Result<Vec<String>> {
        let dir = dir.trim_end_matches('/');
        let Some(start) = self.dir_tree(dir)? else {
            return Ok(Vec::new());
        };
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut out = Vec::new();
        walk(&start, &prefix, &mut |path, _, _| out.push(path))?;
        out.sort();
        Ok(out)
    }

    /// The files directly inside `dir` with their bytes, sorted by name, reading the
    /// directory's tree once (reading thousands of files one `read` at a time would
    /// decode the directory's tree again for each).
    pub fn read_dir_files(&self, dir: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let dir = dir.trim_end_matches('/');
        let Some(tree) = self.dir_tree(dir)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in tree.iter() {
            let entry = entry.git("reading a state tree")?;
            if entry.mode().is_blob() {
                let object = entry.object().git("reading a state file")?;
                out.push((format!("{dir}/{}", entry.filename()), object.data.clone()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The texts of the files of `dir` whose path `keep` accepts, as `read_dir_files`
    /// reads them; a kept file that is not UTF-8 is an error naming it.
    pub fn read_dir_texts(
        &self,
        dir: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Vec<(String, String)>> {
        self.read_dir_files(dir)?
            .into_iter()
            .filter(|(path, _)| keep(path))
            .map(|(path, bytes)| Ok((path.clone(), utf8(&path, bytes)?)))
            .collect()
    }
}

/// The text of the state file `path`, or an error naming it and the first bad byte.
fn utf8(path: &str, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "{path}: not valid UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_contention_is_found_anywhere_in_the_chain() {
        let held = anyhow!("the lock for refs/okr/state is held by another process")
            .context("updating refs/okr/state");
        assert!(is_lock_contention(&held));
        assert!(!is_lock_contention(
            &anyhow!("object not found").context("updating refs/okr/state")
        ));
    }
}
