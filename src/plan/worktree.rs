//! One git worktree per task: `.git/okr/worktrees/<run-id>/<task-id>`, on its own branch
//! `okr/<run-id>/<task-id>` from the commit the run started at. What the agent leaves
//! uncommitted is committed as the agent at the end; the worktree is then removed and the
//! branch kept (until `git okr run clean`). The person's work tree, index, HEAD and
//! branches are never touched.
//!
//! git itself does this work (gix cannot add worktrees): always with the person's hooks
//! off (`core.hooksPath=/dev/null`, `--no-verify`), no signing, and no `GIT_DIR`-style
//! variables from our environment, so nothing of the person's setup runs or is written.

use crate::model::plan::BranchInfo;
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The branch of a task.
pub fn branch_name(run_id: &str, task_id: &str) -> String {
    format!("okr/{run_id}/{task_id}")
}

/// Where a task's worktree lives while it runs.
pub fn worktree_path(common_dir: &Path, run_id: &str, task_id: &str) -> PathBuf {
    worktrees_dir(common_dir).join(run_id).join(task_id)
}

/// `git -C dir` with the person's hooks and signing off and our environment's repository
/// variables removed.
fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "commit.gpgSign=false",
        ])
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_COMMON_DIR")
        .env_remove("GIT_PREFIX")
        .stdin(std::process::Stdio::null());
    cmd
}

fn run(mut cmd: Command, what: &str) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("running git ({what})"))?;
    if !out.status.success() {
        bail!(
            "git {what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The commit HEAD points at in `workdir` (the run's start), or an error saying why not.
pub fn start_commit(workdir: &Path) -> Result<String> {
    let mut cmd = git(workdir);
    cmd.args(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]);
    let head = run(cmd, "rev-parse HEAD").map_err(|_| {
        anyhow!("plan run starts each task from HEAD, and HEAD has no commit yet (commit first, or use --in-place)")
    })?;
    Ok(head.trim().to_string())
}

/// Create the task's branch at `base` and its worktree.
pub fn add(workdir: &Path, path: &Path, branch: &str, base: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut cmd = git(workdir);
    cmd.args(["worktree", "add", "--quiet", "-b", branch])
        .arg(path)
        .arg(base);
    run(cmd, "worktree add").map(|_| ())
}

/// Commit whatever the agent left uncommitted in the worktree, as the agent; then the
/// branch's head and its change against `base`.
pub fn finish(
    workdir: &Path,
    path: &Path,
    branch: &str,
    base: &str,
    agent: &str,
    message: &str,
) -> Result<BranchInfo> {
    let leftovers_commit = commit_leftovers(path, agent, message)?;
    let mut cmd = git(workdir);
    cmd.args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("refs/heads/{branch}^{{commit}}"));
    let head = run(cmd, "rev-parse branch")?.trim().to_string();
    let mut cmd = git(workdir);
    cmd.args(["diff", "--numstat", "--no-renames", base, &head, "--"]);
    let (mut files, mut ins, mut del) = (0u64, 0u64, 0u64);
    for line in run(cmd, "diff --numstat")?.lines() {
        let mut f = line.split('\t');
        files += 1;
        ins += f.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        del += f.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    }
    let mut cmd = git(workdir);
    cmd.args(["diff", "--stat=100", base, &head, "--"]);
    let mut diffstat = run(cmd, "diff --stat")?;
    const MAX_STAT: usize = 8 * 1024;
    if diffstat.len() > MAX_STAT {
        let mut end = MAX_STAT;
        while !diffstat.is_char_boundary(end) {
            end -= 1;
        }
        diffstat.truncate(end);
        diffstat.push_str("\n[cut]\n");
    }
    Ok(BranchInfo {
        name: branch.to_string(),
        base: base.to_string(),
        head,
        leftovers_commit,
        files_changed: files,
        insertions: ins,
        deletions: del,
        diffstat,
    })
}

/// `git add -A` and a commit by `agent` in the worktree, when anything is left.
fn commit_leftovers(path: &Path, agent: &str, message: &str) -> Result<Option<String>> {
    let mut cmd = git(path);
    cmd.args(["status", "--porcelain", "--untracked-files=all"]);
    if run(cmd, "status")?.trim().is_empty() {
        return Ok(None);
    }
    let mut cmd = git(path);
    cmd.args(["add", "-A", "--", "."]);
    run(cmd, "add -A")?;
    let name = format!("agent:{}", agent.replace(['<', '>'], ""));
    let email = "agent@git-okr.invalid";
    let mut cmd = git(path);
    cmd.args(["commit", "--quiet", "--no-verify", "-m", message])
        .env("GIT_AUTHOR_NAME", &name)
        .env("GIT_AUTHOR_EMAIL", email)
        .env("GIT_COMMITTER_NAME", &name)
        .env("GIT_COMMITTER_EMAIL", email);
    run(cmd, "commit")?;
    let mut cmd = git(path);
    cmd.args(["rev-parse", "HEAD"]);
    Ok(Some(run(cmd, "rev-parse HEAD")?.trim().to_string()))
}

/// Remove the worktree (the branch stays); if git cannot, the folder goes and git forgets it.
pub fn remove(workdir: &Path, path: &Path) {
    let mut cmd = git(workdir);
    cmd.args(["worktree", "remove", "--force", "--force"])
        .arg(path);
    if run(cmd, "worktree remove").is_err() {
        let _ = std::fs::remove_dir_all(path);
        let mut cmd = git(workdir);
        cmd.args(["worktree", "prune"]);
        let _ = run(cmd, "worktree prune");
    }
    // The run's folder, once empty.
    if let Some(parent) = path.parent() {
        let _ = std::fs::remove_dir(parent);
    }
}

/// The folder of every run's worktrees.
fn worktrees_dir(common_dir: &Path) -> PathBuf {
    common_dir.join("okr").join("worktrees")
}

/// Held by `plan run` while its tasks have worktrees: an exclusive lock on
/// `.git/okr/worktrees/<run-id>.lock`, which the operating system releases if the run
/// dies, so `run clean` can tell a running run from one that was killed.
pub struct RunLock {
    path: PathBuf,
    _file: std::fs::File,
}

impl RunLock {
    pub fn take(common_dir: &Path, run_id: &str) -> Result<RunLock> {
        let dir = worktrees_dir(common_dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{run_id}.lock"));
        let file = open_lock(&path)?;
        if !fs4::fs_std::FileExt::try_lock_exclusive(&file)
            .with_context(|| format!("locking {}", path.display()))?
        {
            bail!("{} is locked by another run", path.display());
        }
        Ok(RunLock { path, _file: file })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn open_lock(path: &Path) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// What `run clean` did.
#[derive(Debug, Default)]
pub struct Cleaned {
    /// Branch names deleted.
    pub branches: Vec<String>,
    /// Worktrees left by runs that were killed, removed.
    pub worktrees: Vec<PathBuf>,
    /// Runs still running: their branches and worktrees were left alone.
    pub running: Vec<String>,
}

/// Delete the branches of one run (or of every run) and the worktrees of runs that were
/// killed before they could remove them; a run still in progress is left alone.
pub fn clean(workdir: &Path, common_dir: &Path, run_id: Option<&str>) -> Result<Cleaned> {
    let mut cleaned = Cleaned::default();
    let dir = worktrees_dir(common_dir);
    let mut runs: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .map(|name| name.trim_end_matches(".lock").to_string())
                .collect()
        })
        .unwrap_or_default();
    runs.sort();
    runs.dedup();
    for run_name in runs.iter().filter(|r| run_id.is_none_or(|id| id == *r)) {
        let lock_path = dir.join(format!("{run_name}.lock"));
        let lock = open_lock(&lock_path)?;
        if !fs4::fs_std::FileExt::try_lock_exclusive(&lock)
            .with_context(|| format!("locking {}", lock_path.display()))?
        {
            cleaned.running.push(run_name.clone());
            continue;
        }
        let run_dir = dir.join(run_name);
        if let Ok(tasks) = std::fs::read_dir(&run_dir) {
            for task in tasks.flatten() {
                remove(workdir, &task.path());
                cleaned.worktrees.push(task.path());
            }
        }
        let _ = std::fs::remove_dir(&run_dir);
        let _ = std::fs::remove_file(&lock_path);
    }
    let mut cmd = git(workdir);
    cmd.args(["worktree", "prune"]);
    run(cmd, "worktree prune")?;
    let prefix = match run_id {
        Some(id) => format!("refs/heads/okr/{id}/"),
        None => "refs/heads/okr/".to_string(),
    };
    let mut cmd = git(workdir);
    cmd.args(["for-each-ref", "--format=%(refname)", &prefix]);
    let refs: Vec<String> = run(cmd, "for-each-ref")?
        .lines()
        .map(str::to_string)
        .collect();
    for r in refs {
        let branch = r.trim_start_matches("refs/heads/").to_string();
        let of_running = cleaned
            .running
            .iter()
            .any(|id| branch.starts_with(&format!("okr/{id}/")));
        if of_running {
            continue;
        }
        let mut cmd = git(workdir);
        cmd.args(["update-ref", "-d", &r]);
        run(cmd, "update-ref -d")?;
        cleaned.branches.push(branch);
    }
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert_eq!(branch_name("run-1", "T1"), "okr/run-1/T1");
        assert_eq!(
            worktree_path(Path::new("/r/.git"), "run-1", "T1"),
            Path::new("/r/.git/okr/worktrees/run-1/T1")
        );
    }
}
