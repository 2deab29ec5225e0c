//! git-okr's pre-push and post-merge hooks, run by real `git push`, `git merge` and `git pull`.

mod common;

use common::{stderr, TestRepo};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const OKRS: &str = common::fixtures::ONE_KR;

fn setup() -> TestRepo {
    TestRepo::with_state(&[("okrs/org.yml", OKRS)])
}

/// `git` in `dir` with the repo's isolated config and git-okr on PATH (hooks call `git okr`).
fn git_in(repo: &TestRepo, dir: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_git-okr")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(args)
        .env_remove("OKR_AGENT")
        .env_remove("GIT_OKR_HOOK");
    for (k, v) in repo.env() {
        cmd.env(k, v);
    }
    cmd.env("PATH", path);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `git` in the repo with hooks able to run; panics unless it succeeds; returns what it
/// printed (a pre-push hook's stdout reaches git's stdout; post-merge's its stderr).
fn git_ok(repo: &TestRepo, args: &[&str]) -> String {
    let out = git_in(repo, repo.path(), args, &[]);
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    common::stdout(&out) + &stderr(&out)
}

fn measure_commits(repo: &TestRepo) -> usize {
    repo.git(&[
        "log",
        "--format=%(trailers:key=Okr-Action,valueonly)",
        "refs/okr/state",
    ])
    .lines()
    .filter(|l| l.trim() == "measure")
    .count()
}

fn commit(repo: &TestRepo, dir: &Path, file: &str) {
    std::fs::write(dir.join(file), file).unwrap();
    git_in(repo, dir, &["add", "."], &[]);
    let out = git_in(repo, dir, &["commit", "-q", "-m", file], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn with_remote(repo: &TestRepo) -> TestRepo {
    let remote = TestRepo::bare();
    repo.git(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
    remote
}

fn write_hook(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn push_measures_and_still_runs_the_users_hook_with_its_input() {
    let repo = setup();
    let remote = with_remote(&repo);
    let hooks = repo.path().join(".git/hooks");
    let seen = repo.home.path().join("seen");
    let user_hook = format!(
        "#!/bin/sh\n# the user's own hook\necho \"args: $*\" > '{0}'\ncat >> '{0}'\n",
        seen.display()
    );
    write_hook(&hooks.join("pre-push"), &user_hook);

    let out = repo.ok(&["hooks", "install"]);
    assert!(
        out.contains("pre-push: installed; your hook now runs first"),
        "{out}"
    );
    let installed = std::fs::read(hooks.join("pre-push")).unwrap();
    assert_eq!(
        repo.ok(&["hooks", "install"]),
        "pre-push: already installed\npost-merge: already installed\n"
    );
    assert_eq!(std::fs::read(hooks.join("pre-push")).unwrap(), installed);
    let status = repo.ok(&["hooks", "status"]);
    assert!(
        status.contains("pre-push: installed; runs pre-push.okr-chained first"),
        "{status}"
    );

    repo.ok(&["metric", "set", "manual.x", "5"]);
    let before = measure_commits(&repo);
    let printed = git_ok(&repo, &["push", "-q", "origin", "main"]);
    assert_eq!(measure_commits(&repo), before + 1, "{printed}");
    // Quiet but for status changes.
    assert!(
        printed.contains("Status updated: KR-1.1 not_started -> in_progress (5/100)"),
        "{printed}"
    );
    assert!(!printed.contains("Wrote snapshot"), "{printed}");
    let head = repo.git(&["rev-parse", "HEAD"]);
    let seen = std::fs::read_to_string(&seen).unwrap();
    let remote_path = remote.path().to_str().unwrap();
    assert_eq!(
        seen,
        format!(
            "args: origin {remote_path}\nrefs/heads/main {} refs/heads/main {}\n",
            head.trim(),
            "0".repeat(40)
        )
    );
    assert_eq!(remote.git(&["rev-parse", "main"]), head);

    // The user's hook still decides: when it refuses, the push stops.
    write_hook(
        &hooks.join("pre-push.okr-chained"),
        "#!/bin/sh\necho no >&2\nexit 3\n",
    );
    commit(&repo, repo.path(), "b.txt");
    let out = git_in(&repo, repo.path(), &["push", "-q", "origin", "main"], &[]);
    assert!(!out.status.success());
    assert_eq!(remote.git(&["rev-parse", "main"]), head);

    // Uninstall puts the user's hook back byte for byte, still executable.
    write_hook(&hooks.join("pre-push.okr-chained"), &user_hook);
    repo.ok(&["hooks", "uninstall"]);
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-push")).unwrap(),
        user_hook
    );
    assert_eq!(
        std::fs::metadata(hooks.join("pre-push"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    assert!(!hooks.join("post-merge").exists());
    assert!(!hooks.join("pre-push.okr-chained").exists());
}

#[test]
fn merge_and_pull_measure() {
    let repo = setup();
    let remote = with_remote(&repo);
    repo.ok(&["hooks", "install"]);
    // Some work on a branch, merged.
    repo.git(&["checkout", "-q", "-b", "feature"]);
    commit(&repo, repo.path(), "feature.txt");
    repo.git(&["checkout", "-q", "main"]);
    commit(&repo, repo.path(), "main.txt");
    repo.ok(&["metric", "set", "manual.x", "10"]);
    let before = measure_commits(&repo);
    git_ok(&repo, &["merge", "-q", "--no-edit", "feature"]);
    assert_eq!(measure_commits(&repo), before + 1);
    assert!(repo.state_file("okrs/org.yml").contains("current: 10"));

    // Someone else pushes; a fast-forward pull runs post-merge too.
    git_ok(&repo, &["push", "-q", "origin", "main"]);
    let other = tempfile::tempdir().unwrap();
    let out = git_in(
        &repo,
        other.path(),
        &["clone", "-q", remote.path().to_str().unwrap(), "."],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    commit(&repo, other.path(), "theirs.txt");
    let out = git_in(&repo, other.path(), &["push", "-q", "origin", "main"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    repo.ok(&["metric", "set", "manual.x", "20"]);
    let before = measure_commits(&repo);
    git_ok(&repo, &["pull", "-q", "--no-rebase", "origin", "main"]);
    assert_eq!(measure_commits(&repo), before + 1);
    assert!(repo.state_file("okrs/org.yml").contains("current: 20"));
}

#[test]
fn okr_only_pushes_and_nested_runs_do_not_measure() {
    let repo = setup();
    let _remote = with_remote(&repo);
    repo.ok(&["hooks", "install"]);
    repo.ok(&["metric", "set", "manual.x", "5"]);
    let before = measure_commits(&repo);
    git_ok(
        &repo,
        &["push", "-q", "origin", "refs/okr/state:refs/okr/state"],
    );
    assert_eq!(measure_commits(&repo), before);
    let out = git_in(
        &repo,
        repo.path(),
        &["push", "-q", "origin", "main"],
        &[("GIT_OKR_HOOK", "1")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(measure_commits(&repo), before);
    // Control: a normal push does measure.
    commit(&repo, repo.path(), "c.txt");
    git_ok(&repo, &["push", "-q", "origin", "main"]);
    assert_eq!(measure_commits(&repo), before + 1);
}

/// Replace okrs/org.yml on the state ref with invalid YAML, using git plumbing only.
fn break_state(repo: &TestRepo) {
    let index = repo.home.path().join("state.index");
    let env = [("GIT_INDEX_FILE", index.to_str().unwrap())];
    let run = |args: &[&str], input: Option<&str>| -> String {
        let mut cmd = Command::new("git");
        cmd.current_dir(repo.path()).args(args);
        for (k, v) in repo
            .env()
            .into_iter()
            .chain(env.map(|(k, v)| (k, v.to_string())))
        {
            cmd.env(k, v);
        }
        let out = match input {
            None => cmd.output().unwrap(),
            Some(text) => {
                use std::io::Write;
                let mut child = cmd
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(text.as_bytes())
                    .unwrap();
                child.wait_with_output().unwrap()
            }
        };
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    run(&["read-tree", "refs/okr/state"], None);
    let blob = run(
        &["hash-object", "-w", "--stdin"],
        Some("objectives: [\n  - broken\n"),
    );
    run(
        &[
            "update-index",
            "--cacheinfo",
            &format!("100644,{blob},okrs/org.yml"),
        ],
        None,
    );
    let tree = run(&["write-tree"], None);
    let c = run(
        &[
            "commit-tree",
            &tree,
            "-p",
            "refs/okr/state",
            "-m",
            "broken by hand",
        ],
        None,
    );
    run(&["update-ref", "refs/okr/state", &c], None);
}

#[test]
fn a_broken_state_warns_and_the_push_goes_on_unless_strict() {
    let repo = setup();
    let remote = with_remote(&repo);
    repo.ok(&["hooks", "install"]);
    break_state(&repo);
    let tip = repo.state_tip();
    let out = git_in(&repo, repo.path(), &["push", "-q", "origin", "main"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("git-okr: warning: measurement failed: okrs/org.yml"),
        "{err}"
    );
    assert_eq!(
        remote.git(&["rev-parse", "main"]),
        repo.git(&["rev-parse", "HEAD"])
    );
    assert_eq!(repo.state_tip(), tip);

    repo.git(&["config", "okr.hooks.strict", "true"]);
    assert!(repo
        .ok(&["hooks", "status"])
        .contains("okr.hooks.strict: true"));
    commit(&repo, repo.path(), "d.txt");
    let out = git_in(&repo, repo.path(), &["push", "-q", "origin", "main"], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("okr.hooks.strict") && err.contains("okrs/org.yml"),
        "{err}"
    );
    assert_ne!(
        remote.git(&["rev-parse", "main"]),
        repo.git(&["rev-parse", "HEAD"])
    );

    // Not even git-okr on PATH: still only a warning when not strict.
    repo.git(&["config", "okr.hooks.strict", "false"]);
    let out = git_in(
        &repo,
        repo.path(),
        &["push", "-q", "origin", "main"],
        &[("PATH", "/usr/bin:/bin")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("git-okr: warning: measurement failed; the push goes on"));
}

#[test]
fn core_hooks_path_is_honoured() {
    let repo = setup();
    let _remote = with_remote(&repo);
    repo.git(&["config", "core.hooksPath", ".githooks"]);
    let out = repo.ok(&["hooks", "install"]);
    assert!(out.contains("pre-push: installed"), "{out}");
    assert!(repo.path().join(".githooks/pre-push").exists());
    assert!(!repo.path().join(".git/hooks/pre-push").exists());
    let status = repo.ok(&["hooks", "status"]);
    assert!(status.contains(".githooks"), "{status}");
    repo.ok(&["metric", "set", "manual.x", "5"]);
    let before = measure_commits(&repo);
    git_ok(&repo, &["push", "-q", "origin", "main"]);
    assert_eq!(measure_commits(&repo), before + 1);
}
