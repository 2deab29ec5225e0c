//! Shared helpers for integration tests: real temporary git repositories and the
//! real `git-okr` binary, with git's configuration isolated from the machine's.
#![allow(dead_code)]

pub mod fixtures;

use assert_cmd::Command;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A temporary git repository with a fixed identity and no global/system config.
pub struct TestRepo {
    pub dir: tempfile::TempDir,
    pub home: tempfile::TempDir,
}

pub const AUTHOR_NAME: &str = "Alice Example";
pub const AUTHOR_EMAIL: &str = "alice@example.com";

impl TestRepo {
    /// `git init` in a fresh temp dir (branch `main`), no commits.
    pub fn new() -> TestRepo {
        let repo = TestRepo::empty_dir();
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// `git init --bare`.
    pub fn bare() -> TestRepo {
        let repo = TestRepo::empty_dir();
        repo.git(&["init", "-q", "--bare", "-b", "main"]);
        repo
    }

    /// A repository with one commit on main.
    pub fn with_commit() -> TestRepo {
        let repo = TestRepo::new();
        repo.write("README.md", "hello\n");
        repo.git(&["add", "."]);
        repo.git(&["commit", "-q", "-m", "initial"]);
        repo
    }

    /// A repository with one commit whose state is imported from `files`
    /// (state paths and contents, e.g. `("okrs/org.yml", OKRS)`) with `git okr init --from`.
    pub fn with_state(files: &[(&str, &str)]) -> TestRepo {
        let repo = TestRepo::with_commit();
        let ws = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let p = ws.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        repo.ok(&["init", "--from", ws.path().to_str().unwrap()]);
        repo
    }

    fn empty_dir() -> TestRepo {
        TestRepo {
            dir: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Environment that isolates git and git-okr from the machine's config.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HOME", self.home.path().display().to_string()),
            (
                "XDG_CONFIG_HOME",
                self.home.path().join(".config").display().to_string(),
            ),
            ("GIT_CONFIG_NOSYSTEM", "1".into()),
            (
                "GIT_CONFIG_GLOBAL",
                self.home.path().join(".gitconfig").display().to_string(),
            ),
            ("GIT_AUTHOR_NAME", AUTHOR_NAME.into()),
            ("GIT_AUTHOR_EMAIL", AUTHOR_EMAIL.into()),
            ("GIT_COMMITTER_NAME", AUTHOR_NAME.into()),
            ("GIT_COMMITTER_EMAIL", AUTHOR_EMAIL.into()),
            ("LC_ALL", "C".to_string()),
            ("TZ", "UTC".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect()
    }

    /// A `git` command in this repository; panics unless it succeeds.
    pub fn git(&self, args: &[&str]) -> String {
        let out = self.git_output(args);
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn git_output(&self, args: &[&str]) -> Output {
        self.git_command(args).output().unwrap()
    }

    /// A `git` command in this repository with the isolated environment, not yet run.
    pub fn git_command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new("git");
        cmd.current_dir(self.path())
            .args(args)
            .env_remove("OKR_AGENT");
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        cmd
    }

    /// The `git-okr` binary, run inside this repository.
    pub fn okr(&self) -> Command {
        let mut cmd = Command::cargo_bin("git-okr").unwrap();
        cmd.current_dir(self.path())
            .env_remove("OKR_AGENT")
            .env_remove("VISUAL")
            .env_remove("EDITOR");
        // The terminal's settings of the machine must not leak into tests.
        for name in [
            "GIT_EDITOR",
            "GIT_PAGER",
            "PAGER",
            "GIT_PAGER_IN_USE",
            "NO_COLOR",
            "LESS",
        ] {
            cmd.env_remove(name);
        }
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        cmd
    }

    /// Run git-okr with `args`; returns the output whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.okr().args(args).output().unwrap()
    }

    /// Run git-okr and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "git okr {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run git-okr and require failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "git okr {args:?} should have failed:\nstdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Run git-okr and require exit status `code` (README "Exit codes"); returns stderr.
    pub fn fails_with(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "git okr {args:?}: exit status\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// The commit refs/okr/state points at, if any.
    pub fn state_tip(&self) -> Option<String> {
        let out = self.git_output(&["rev-parse", "--verify", "-q", "refs/okr/state"]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Put `bytes` at `path` on refs/okr/state with git's plumbing, in a commit of
    /// git-okr's tip, as a teammate's clone (or anyone who can push) could. Returns the
    /// new tip.
    pub fn forge_state_file(&self, path: &str, bytes: &[u8], message: &str) -> String {
        let tip = self.state_tip().expect("an initialized state");
        let file = self.path().join(".git/forged-blob");
        std::fs::write(&file, bytes).unwrap();
        let blob = self.git(&["hash-object", "-w", file.to_str().unwrap()]);
        let index = self.path().join(".git/forged-index");
        let _ = std::fs::remove_file(&index);
        let with_index = |args: &[&str]| {
            let mut cmd = self.git_command(args);
            let out = cmd.env("GIT_INDEX_FILE", &index).output().unwrap();
            assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
            stdout(&out).trim().to_string()
        };
        with_index(&["read-tree", &tip]);
        let entry = format!("100644,{},{path}", blob.trim());
        with_index(&["update-index", "--add", "--cacheinfo", &entry]);
        let tree = with_index(&["write-tree"]);
        let commit = self.git(&["commit-tree", &tree, "-p", &tip, "-m", message]);
        self.git(&["update-ref", "refs/okr/state", commit.trim(), &tip]);
        commit.trim().to_string()
    }

    /// A file of the state as git shows it.
    pub fn state_file(&self, path: &str) -> String {
        self.git(&["show", &format!("refs/okr/state:{path}")])
    }

    /// Every file of the work tree and the parts of .git a command must never touch
    /// (index, HEAD, branches, tags), byte for byte.
    pub fn user_visible_state(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let git_dir = self.git(&["rev-parse", "--git-dir"]).trim().to_string();
        let git_dir = self.path().join(git_dir);
        collect(self.path(), self.path(), &mut out, &|p: &Path| {
            p.starts_with(&git_dir)
        });
        for name in ["index", "HEAD", "packed-refs", "config"] {
            if let Ok(bytes) = std::fs::read(git_dir.join(name)) {
                out.insert(PathBuf::from(".git").join(name), bytes);
            }
        }
        collect(&git_dir.join("refs/heads"), &git_dir, &mut out, &|_| false);
        collect(&git_dir.join("refs/tags"), &git_dir, &mut out, &|_| false);
        out
    }
}

fn collect(
    dir: &Path,
    base: &Path,
    out: &mut BTreeMap<PathBuf, Vec<u8>>,
    skip: &dyn Fn(&Path) -> bool,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        if skip(&p) {
            continue;
        }
        if p.is_dir() {
            collect(&p, base, out, skip);
        } else {
            out.insert(
                p.strip_prefix(base).unwrap().to_path_buf(),
                std::fs::read(&p).unwrap(),
            );
        }
    }
}

/// stdout of an Output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
