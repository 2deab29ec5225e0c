//! The hostile suite: refs, files and agents crafted the way an attacker would, with
//! ordinary git plumbing (`git mktree`, `git hash-object`, `git commit-tree`,
//! `git update-ref`, `git push`) in a "teammate" clone; then the victim's clone runs
//! sync, pull, export, list, apply against them. Every case asserts what must never
//! happen (a marker file appears, a write lands outside the target, a change is applied
//! without a person's approve commit, the ref moves to a refused tree) and that the
//! victim's clone keeps working afterwards.
//!
//! Sections (each helper adds its own): state ref trees · export · approvals ·
//! ids and one-line fields · crashed and shared state.

mod common;

use common::{stderr, stdout, TestRepo};
use std::path::Path;

// ───────────────────────────── shared helpers ─────────────────────────────

/// A clone of `remote` in a fresh directory, with its own isolated home.
fn clone_of(remote: &TestRepo) -> TestRepo {
    let repo = TestRepo {
        dir: tempfile::tempdir().unwrap(),
        home: tempfile::tempdir().unwrap(),
    };
    repo.git(&["clone", "-q", remote.path().to_str().unwrap(), "."]);
    repo
}

/// A bare remote, a victim clone that ran `init` and synced, and an attacker clone
/// that has the same state.
fn teammates() -> (TestRepo, TestRepo, TestRepo) {
    let remote = TestRepo::bare();
    let victim = clone_of(&remote);
    victim.ok(&["init"]);
    victim.ok(&["sync"]);
    let attacker = clone_of(&remote);
    attacker.ok(&["sync"]);
    (remote, victim, attacker)
}

/// Write a blob with plain git; its id.
fn blob(repo: &TestRepo, content: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob");
    std::fs::write(&file, content).unwrap();
    repo.git(&["hash-object", "-w", file.to_str().unwrap()])
        .trim()
        .to_string()
}

/// The entries of tree `tree` as `git ls-tree` lines (mode, type, id, name).
fn entries(repo: &TestRepo, tree: Option<&str>) -> Vec<(String, String, String, String)> {
    let Some(tree) = tree else { return Vec::new() };
    repo.git(&["ls-tree", "-z", tree])
        .split('\0')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (meta, name) = l.split_once('\t').unwrap();
            let mut m = meta.split(' ');
            (
                m.next().unwrap().to_string(),
                m.next().unwrap().to_string(),
                m.next().unwrap().to_string(),
                name.to_string(),
            )
        })
        .collect()
}

/// `git mktree --missing` from entries (no name checks at all, as an attacker would).
fn mktree(repo: &TestRepo, list: &[(String, String, String, String)]) -> String {
    let input: String = list
        .iter()
        .map(|(mode, kind, id, name)| format!("{mode} {kind} {id}\t{name}\0"))
        .collect();
    let mut child = std::process::Command::new("git")
        .current_dir(repo.path())
        .args(["mktree", "-z", "--missing"])
        .envs(repo.env())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "mktree failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `tree` with the entry at `path` (components, any names) set to (mode, kind, id).
fn with_entry(
    repo: &TestRepo,
    tree: Option<&str>,
    path: &[&str],
    mode: &str,
    kind: &str,
    id: &str,
) -> String {
    let mut list = entries(repo, tree);
    let (first, rest) = path.split_first().unwrap();
    let existing = list.iter().position(|e| e.3 == *first);
    let entry = if rest.is_empty() {
        (
            mode.to_string(),
            kind.to_string(),
            id.to_string(),
            first.to_string(),
        )
    } else {
        let sub = existing
            .map(|i| list[i].clone())
            .filter(|e| e.1 == "tree")
            .map(|e| e.2);
        let new = with_entry(repo, sub.as_deref(), rest, mode, kind, id);
        ("040000".into(), "tree".into(), new, first.to_string())
    };
    match existing {
        Some(i) => list[i] = entry,
        None => list.push(entry),
    }
    mktree(repo, &list)
}

/// Commit `tree` on top of the attacker's state with `message`, move the attacker's
/// ref there with `git update-ref` and push it raw (no git-okr involved); the commit id.
fn push_crafted(attacker: &TestRepo, tree: &str, message: &str) -> String {
    let parent = attacker.state_tip().unwrap();
    let commit = attacker
        .git(&["commit-tree", tree, "-p", &parent, "-m", message])
        .trim()
        .to_string();
    attacker.git(&["update-ref", "refs/okr/state", &commit]);
    attacker.git(&["push", "-q", "origin", "refs/okr/state:refs/okr/state"]);
    commit
}

fn state_tree(repo: &TestRepo) -> String {
    repo.git(&["rev-parse", "refs/okr/state^{tree}"])
        .trim()
        .to_string()
}

/// The victim still works: a write commits and reads see it. (`git fsck` would also
/// flag the refused objects the fetch stored, unreachable from any of the victim's refs.)
fn still_works(victim: &TestRepo) {
    let before = victim.state_tip();
    victim.ok(&["metric", "set", "manual.after_attack", "1"]);
    assert_ne!(victim.state_tip(), before, "the clone can no longer write");
    assert!(victim
        .state_file("metrics/manual.yml")
        .contains("manual.after_attack"));
}

// ───────────────────── state ref trees (store::verify) ─────────────────────

/// A submodule commit id that exists nowhere (`mktree --missing` takes it).
const GITLINK: &str = "1111111111111111111111111111111111111111";

/// One crafted tree per way a path can escape or lie; each is pushed by the attacker,
/// and the victim's sync and pull must refuse it, naming remote, commit and path.
#[test]
fn crafted_trees_are_refused_by_sync_and_pull_and_the_ref_stays() {
    let (_remote, victim, attacker) = teammates();
    let marker = victim.path().join("pwned");
    let config = blob(
        &attacker,
        format!("[core]\n\tfsmonitor = touch {}\n", marker.display()).as_bytes(),
    );
    let text = blob(&attacker, b"scope: org\nobjectives: []\n");
    let base = state_tree(&attacker);
    let cases: Vec<(&str, Vec<&str>, &str, &str, &str)> = vec![
        (
            "dot-dot folder",
            vec!["..", "pwned"],
            "100644",
            "blob",
            &text,
        ),
        ("dot-dot file", vec!["okrs", ".."], "100644", "blob", &text),
        ("dot folder", vec![".", "x.yml"], "100644", "blob", &text),
        (
            ".git config",
            vec![".git", "config"],
            "100644",
            "blob",
            &config,
        ),
        (
            ".GIT config",
            vec![".GIT", "config"],
            "100644",
            "blob",
            &config,
        ),
        (
            "git~1 config",
            vec!["git~1", "config"],
            "100644",
            "blob",
            &config,
        ),
        (
            ".git. config",
            vec![".git.", "config"],
            "100644",
            "blob",
            &config,
        ),
        (
            ".git space config",
            vec![".git ", "config"],
            "100644",
            "blob",
            &config,
        ),
        (
            "HFS .g\u{200c}it",
            vec![".g\u{200c}it", "config"],
            "100644",
            "blob",
            &config,
        ),
        (
            "nested .git",
            vec!["okrs", ".git"],
            "100644",
            "blob",
            &config,
        ),
        (
            "backslash",
            vec!["okrs", "..\\..\\x.yml"],
            "100644",
            "blob",
            &text,
        ),
        ("symlink", vec!["okrs", "org.yml"], "120000", "blob", &text),
        ("gitlink", vec!["okrs", "sub"], "160000", "commit", GITLINK),
        (
            "outside the layout",
            vec!["hooks", "pre-push"],
            "100755",
            "blob",
            &text,
        ),
        (
            "too deep",
            vec!["plans", "d", "e", "f.json"],
            "100644",
            "blob",
            &text,
        ),
        (
            "newline in a name",
            vec!["okrs", "a\nb.yml"],
            "100644",
            "blob",
            &text,
        ),
    ];
    let mut outcomes = Vec::new();
    for (what, path, mode, kind, id) in &cases {
        // Each attack starts from the shared good state.
        attacker.git(&["update-ref", "refs/okr/state", &victim.state_tip().unwrap()]);
        attacker.git(&[
            "push",
            "-q",
            "-f",
            "origin",
            "refs/okr/state:refs/okr/state",
        ]);
        let tree = with_entry(&attacker, Some(&base), path, mode, kind, id);
        let commit = push_crafted(
            &attacker,
            &tree,
            "okr: edit\n\nOkr-Action: edit\nOkr-Actor: mallory@example.com\n",
        );
        let before = victim.state_tip();
        for verb in ["sync", "pull"] {
            let err = victim.fails(&[verb]);
            assert!(
                err.contains("refused origin's refs/okr/state")
                    && err.contains(&commit[..12])
                    && err.contains("was not changed"),
                "{what}: {verb}: {err}"
            );
            assert_eq!(victim.state_tip(), before, "{what}: {verb} moved the ref");
        }
        assert!(!marker.exists(), "{what}: the marker appeared");
        let config = std::fs::read_to_string(victim.path().join(".git/config")).unwrap();
        assert!(!config.contains("fsmonitor"), "{what}");
        outcomes.push(format!("{what}: refused"));
    }
    // The victim's own clone is untouched and keeps working; git status runs no monitor.
    attacker.git(&["update-ref", "refs/okr/state", &victim.state_tip().unwrap()]);
    attacker.git(&[
        "push",
        "-q",
        "-f",
        "origin",
        "refs/okr/state:refs/okr/state",
    ]);
    victim.git(&["status", "--short"]);
    assert!(!marker.exists());
    still_works(&victim);
    victim.ok(&["sync"]);
    assert_eq!(outcomes.len(), cases.len());
}

/// A ref moved to a crafted tree behind git-okr's back (`git update-ref` in the clone
/// itself): reads refuse it naming the path, nothing is exported, and no write builds
/// on it.
#[test]
fn a_local_ref_on_a_crafted_tree_is_refused_by_every_read_and_write() {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    let good = repo.state_tip().unwrap();
    let text = blob(&repo, b"evil\n");
    let tree = with_entry(
        &repo,
        Some(&state_tree(&repo)),
        &["..", "escaped"],
        "100644",
        "blob",
        &text,
    );
    let bad = repo
        .git(&["commit-tree", &tree, "-p", &good, "-m", "crafted"])
        .trim()
        .to_string();
    repo.git(&["update-ref", "refs/okr/state", &bad]);
    let target = tempfile::tempdir().unwrap();
    let inner = target.path().join("inner");
    for args in [
        vec!["export", inner.to_str().unwrap()],
        vec!["show"],
        vec!["okr", "list"],
        vec!["metric", "set", "manual.x", "1"],
    ] {
        let err = repo.fails(&args);
        assert!(
            err.contains("\"..\"") || err.contains("`..`"),
            "{args:?}: {err}"
        );
        assert_eq!(repo.state_tip().as_deref(), Some(bad.as_str()), "{args:?}");
    }
    assert!(!target.path().join("escaped").exists());
    // Moving the ref back (as the error says) makes the clone work again.
    repo.git(&["update-ref", "refs/okr/state", &good]);
    still_works(&repo);
}

// ─────────────────────────────── export ───────────────────────────────

/// Links planted in the export folder are not followed: nothing outside it is written.
#[test]
fn export_does_not_follow_links_in_the_target_folder() {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    let outside = tempfile::tempdir().unwrap();
    let victim_file = outside.path().join("precious.txt");
    std::fs::write(&victim_file, "keep me\n").unwrap();

    // A link where a folder goes.
    let target = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), target.path().join("okrs")).unwrap();
    let err = repo.fails(&["export", target.path().to_str().unwrap()]);
    assert!(err.contains("symbolic link"), "{err}");
    assert!(!outside.path().join("org.yml").exists());

    // A link where a file goes.
    let target = tempfile::tempdir().unwrap();
    std::fs::create_dir(target.path().join("okrs")).unwrap();
    std::os::unix::fs::symlink(&victim_file, target.path().join("okrs/org.yml")).unwrap();
    let err = repo.fails(&["export", target.path().to_str().unwrap()]);
    assert!(
        err.contains("symbolic link") && err.contains("org.yml"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&victim_file).unwrap(), "keep me\n");

    // A clean folder exports everything, inside it.
    let target = tempfile::tempdir().unwrap();
    repo.ok(&["export", target.path().to_str().unwrap()]);
    assert!(target.path().join("okrs/org.yml").is_file());
}

/// `export .` of a fetched state can never write into `.git` (the CVE-style attack:
/// a `core.fsmonitor` line in `.git/config` runs on the next `git status`).
#[test]
fn export_dot_never_writes_into_dot_git() {
    let (_remote, victim, attacker) = teammates();
    let marker = victim.path().join("pwned");
    let config = blob(
        &attacker,
        format!("[core]\n\tfsmonitor = touch {}\n", marker.display()).as_bytes(),
    );
    let tree = with_entry(
        &attacker,
        Some(&state_tree(&attacker)),
        &[".git", "config"],
        "100644",
        "blob",
        &config,
    );
    push_crafted(
        &attacker,
        &tree,
        "okr: edit\n\nOkr-Action: edit\nOkr-Actor: mallory@example.com\n",
    );
    let config_before = std::fs::read(victim.path().join(".git/config")).unwrap();
    victim.fails(&["pull"]);
    victim.ok(&["export", "."]);
    assert_eq!(
        std::fs::read(victim.path().join(".git/config")).unwrap(),
        config_before
    );
    victim.git(&["status", "--short"]);
    assert!(!marker.exists());
}

// ───────────────────────────── approvals ─────────────────────────────

const PERMS_APPROVERS: &str = "default_policy: deny\npermissions:\n  - agent: planner\n    can_propose_for:\n      - owner: team-backend\napprovers: [alice@example.com]\n";

/// A state with one org KR owned by team-backend and `approvers: [alice]`.
fn approval_repo() -> TestRepo {
    let org = "scope: org\nobjectives:\n  - objective_id: OBJ-1\n    objective: Ship\n    owner_id: team-backend\n    key_results:\n      - kr_id: KR-1.1\n        metric_key: ci.test_count\n        baseline: 0\n        target: 100\n        owner_id: team-backend\n";
    TestRepo::with_state(&[
        ("okrs/org.yml", org),
        ("okrs/permissions.yml", PERMS_APPROVERS),
    ])
}

/// The id of the only proposal on the state.
fn only_proposal(repo: &TestRepo) -> String {
    let listing = repo.ok(&["show", "proposals"]);
    let path = listing.lines().next().expect("a proposal").to_string();
    path.trim_start_matches("proposals/")
        .trim_end_matches(".yml")
        .to_string()
}

fn propose_as_agent(repo: &TestRepo, target: &str) -> String {
    let out = repo
        .okr()
        .args([
            "okr",
            "propose",
            "--set",
            &format!("KR-1.1.target={target}"),
            "--reason",
            "more",
        ])
        .env("OKR_AGENT", "planner")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    only_proposal(repo)
}

/// Commit `content` at `proposals/<id>.yml` with plain git and `message`, as `email`.
fn commit_proposal_file(
    repo: &TestRepo,
    id: &str,
    content: &str,
    message: &str,
    email: &str,
) -> String {
    let b = blob(repo, content.as_bytes());
    let tree = with_entry(
        repo,
        Some(&state_tree(repo)),
        &["proposals", &format!("{id}.yml")],
        "100644",
        "blob",
        &b,
    );
    let parent = repo.state_tip().unwrap();
    let out = std::process::Command::new("git")
        .current_dir(repo.path())
        .envs(repo.env())
        .env("GIT_COMMITTER_EMAIL", email)
        .env("GIT_AUTHOR_EMAIL", email)
        .args(["commit-tree", &tree, "-p", &parent, "-m", message])
        .output()
        .unwrap();
    assert!(out.status.success());
    let commit = String::from_utf8(out.stdout).unwrap().trim().to_string();
    repo.git(&["update-ref", "refs/okr/state", &commit]);
    commit
}

/// A proposal file's text with an `approved` step by alice added to its lifecycle.
fn with_approved_step(text: &str) -> String {
    assert!(text.contains("\nfiles:"), "{text}");
    text.replace(
        "\nfiles:",
        "\n- status: approved\n  by: alice@example.com\n  at: '2026-01-01T00:00:00Z'\nfiles:",
    )
}

fn target_of_kr(repo: &TestRepo) -> String {
    repo.state_file("okrs/org.yml")
        .lines()
        .find(|l| l.trim_start().starts_with("target:"))
        .unwrap()
        .trim()
        .to_string()
}

/// Forged approvals, each tried against `list`, `show` and `apply`: the file says
/// `approved`, an agent's approve commit, an approve by a person not among the
/// approvers, an approve whose Okr-Actor is not its committer, a file with no propose
/// commit. None is applied; a real approve by alice then is (the control).
#[test]
fn approvals_come_from_history_not_from_the_file() {
    let repo = approval_repo();
    let id = propose_as_agent(&repo, "120");
    let text = repo.state_file(&format!("proposals/{id}.yml"));
    let claims_approved = with_approved_step(&text);
    let approve_msg = |actor: &str| {
        format!(
            "okr: approve {id}\n\nOkr-Action: approve\nOkr-Actor: {actor}\nOkr-Proposal: {id}\n"
        )
    };
    let forgeries: Vec<(&str, String, String)> = vec![
        (
            "file claims approved (edit commit)",
            "okr: edit\n\nOkr-Action: edit\nOkr-Actor: alice@example.com\n".into(),
            "alice@example.com".into(),
        ),
        (
            "approve commit by an agent",
            approve_msg("agent:planner"),
            "alice@example.com".into(),
        ),
        (
            "approve by a non-approver",
            approve_msg("carol@example.com"),
            "carol@example.com".into(),
        ),
        (
            "Okr-Actor is not the committer",
            approve_msg("alice@example.com"),
            "mallory@example.com".into(),
        ),
    ];
    let good = repo.state_tip().unwrap();
    for (what, message, committer) in &forgeries {
        repo.git(&["update-ref", "refs/okr/state", &good]);
        commit_proposal_file(&repo, &id, &claims_approved, message, committer);
        let listed = repo.ok(&["okr", "list", "--status", "approved"]);
        assert!(listed.contains("No proposals"), "{what}: {listed}");
        let shown = repo.ok(&["okr", "show", &id]);
        assert!(
            shown.contains("[proposed]") && !shown.contains("approved  alice"),
            "{what}: {shown}"
        );
        let err = repo.fails(&["okr", "apply", &id]);
        assert!(err.contains("not approved yet"), "{what}: {err}");
        assert_eq!(target_of_kr(&repo), "target: 100", "{what}: applied");
    }
    // A real approve commit by alice (an approver) counts: the control.
    repo.git(&["update-ref", "refs/okr/state", &good]);
    repo.ok(&["okr", "approve", &id]);
    repo.ok(&["okr", "apply", &id]);
    assert_eq!(target_of_kr(&repo), "target: 120");
    let audit = repo.git(&[
        "log",
        "--format=%(trailers:key=Okr-Action,valueonly)",
        "refs/okr/state",
    ]);
    let actions: Vec<&str> = audit.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(&actions[..3], ["apply", "approve", "propose"], "{audit}");
}

/// A proposal file no propose commit created, naming a person as proposer and saying
/// `approved`: not listed as a proposal, never applied; and an agent's proposal whose
/// file names a person is still checked as the agent's at apply.
#[test]
fn proposer_and_existence_come_from_the_propose_commit() {
    let repo = approval_repo();
    let id = propose_as_agent(&repo, "120");
    let text = repo.state_file(&format!("proposals/{id}.yml"));
    // A second, invented proposal written by an edit commit.
    let fake_id = "P-20260101-abcdef";
    let fake = text
        .replace(&id, fake_id)
        .replace("agent:planner", "alice@example.com");
    let fake = with_approved_step(&fake);
    commit_proposal_file(
        &repo,
        fake_id,
        &fake,
        "okr: edit\n\nOkr-Action: edit\nOkr-Actor: alice@example.com\n",
        "alice@example.com",
    );
    let out = repo.run(&["okr", "list"]);
    assert!(out.status.success());
    assert!(!stdout(&out).contains(fake_id), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(fake_id) && stderr(&out).contains("no propose commit"),
        "{}",
        stderr(&out)
    );
    let err = repo.fails(&["okr", "apply", fake_id]);
    assert!(err.contains("no propose commit"), "{err}");
    assert_eq!(target_of_kr(&repo), "target: 100");

    // The agent's real proposal, its file rewritten to name alice as proposer; the
    // permissions then withdraw the agent's right: apply must judge the agent.
    let renamed = text.replace("proposer: agent:planner", "proposer: alice@example.com");
    commit_proposal_file(
        &repo,
        &id,
        &renamed,
        "okr: edit\n\nOkr-Action: edit\nOkr-Actor: alice@example.com\n",
        "alice@example.com",
    );
    repo.ok(&["okr", "approve", &id]);
    let shown = repo.ok(&["okr", "show", &id]);
    assert!(shown.contains("proposer  agent:planner"), "{shown}");
    let perms = PERMS_APPROVERS.replace("owner: team-backend", "owner: team-web");
    let scratch = tempfile::tempdir().unwrap();
    let content = scratch.path().join("perms.yml");
    std::fs::write(&content, perms).unwrap();
    let editor = format!("cp {}", content.display());
    repo.okr()
        .args(["edit", "okrs/permissions.yml"])
        .env("EDITOR", &editor)
        .assert()
        .success();
    let err = repo.fails(&["okr", "apply", &id]);
    assert!(err.contains("agent planner may not propose"), "{err}");
    assert_eq!(target_of_kr(&repo), "target: 100");
}

// ───────────────────────── ids and one-line fields ─────────────────────────

/// Ids with NUL, newline, CR, a bidi override or 20,000 characters are refused with
/// file:line wherever they come from; no commit message ever holds a NUL.
#[test]
fn hostile_ids_are_refused_with_file_and_line() {
    let long = "K".repeat(20_000);
    let cases = [
        ("NUL", "\"KR-\\0\""),
        ("newline", "\"KR-1\\nOkr-Action: apply\""),
        ("carriage return", "\"KR-1\\r\""),
        ("bidi override", "\"KR-\u{202e}1.1\""),
        ("20000 characters", long.as_str()),
        ("leading dash", "--upload-pack=x"),
    ];
    for (what, id) in cases {
        let org = format!(
            "scope: org\nobjectives:\n  - objective_id: OBJ-1\n    objective: Ship\n    key_results:\n      - kr_id: {id}\n        metric_key: ci.test_count\n        baseline: 0\n        target: 100\n"
        );
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir(ws.path().join("okrs")).unwrap();
        std::fs::write(ws.path().join("okrs/org.yml"), &org).unwrap();
        let repo = TestRepo::with_commit();
        let err = repo.fails(&["init", "--from", ws.path().to_str().unwrap()]);
        assert!(err.contains("okrs/org.yml:6: kr_id"), "{what}: {err}");
        assert!(err.lines().count() == 1 && err.len() < 400, "{what}: {err}");
        assert_eq!(repo.state_tip(), None, "{what}");
    }
}

/// Line breaks in `--reason`, `--unit`, `--evidence` would forge `Okr-*` paragraphs in
/// message bodies; they are refused and nothing is committed.
#[test]
fn one_line_fields_refuse_line_breaks() {
    let repo = approval_repo();
    let tip = repo.state_tip();
    let forged = "ok\n\nOkr-Action: apply\nOkr-Actor: boss@example.com";
    for args in [
        vec!["metric", "set", "manual.x", "1", "--unit", forged],
        vec!["metric", "set", "manual.x", "1", "--evidence", forged],
        vec![
            "okr",
            "propose",
            "--set",
            "KR-1.1.target=5",
            "--reason",
            forged,
        ],
        vec![
            "okr",
            "propose",
            "--set",
            "KR-1.1.target=5",
            "--reason",
            "\u{202e}evil",
        ],
    ] {
        let out = repo.run(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr(&out).contains("one line"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert_eq!(repo.state_tip(), tip, "{args:?}");
    }
    let fsck = repo.git_output(&["fsck", "--strict", "--no-dangling"]);
    assert!(fsck.status.success());
}

// ───────────────────────── crashed and shared state ─────────────────────────

/// An org with one KR measured from git history (so measuring uses the SQLite cache).
const GIT_ORG: &str = "scope: org\nobjectives:\n  - objective_id: OBJ-1\n    objective: Ship\n    key_results:\n      - kr_id: KR-1.1\n        metric_key: git.commits\n        baseline: 0\n        target: 100\n";

/// A repository with a state whose KR counts commits, its refs packed by `git gc`.
fn gc_repo() -> TestRepo {
    let repo = TestRepo::with_state(&[("okrs/org.yml", GIT_ORG)]);
    repo.ok(&["metric", "set", "manual.x", "1"]);
    repo.git(&["gc", "-q"]);
    assert!(
        !repo.path().join(".git/refs/okr/state").exists(),
        "git gc packs the state ref"
    );
    repo
}

/// Set a file's modification time into the past with `touch -d`.
fn age(path: &Path, ago: &str) {
    let status = std::process::Command::new("touch")
        .args(["-d", ago])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Lock files a killed writer leaves behind are named (with the command to remove
/// them) instead of every later write spinning for minutes; removing them is enough.
#[test]
fn stale_lock_files_are_named_and_removing_them_is_enough() {
    let repo = gc_repo();
    for lock in [".git/refs/okr/state.lock", ".git/packed-refs.lock"] {
        let path = repo.path().join(lock);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        for (what, ago) in [("old", Some("1 minute ago")), ("fresh", None)] {
            std::fs::write(&path, "").unwrap();
            if let Some(ago) = ago {
                age(&path, ago);
            }
            let tip = repo.state_tip();
            let err = repo.fails(&["metric", "set", "manual.x", "2"]);
            // `gix` may not need packed-refs.lock for this update; then the write succeeds.
            if err.is_empty() {
                continue;
            }
            assert!(
                err.contains(lock) && err.contains("rm ") && !err.contains("kept moving"),
                "{lock} {what}: {err}"
            );
            assert_eq!(repo.state_tip(), tip);
        }
        std::fs::remove_file(&path).unwrap();
        repo.ok(&["metric", "set", "manual.x", &format!("{}", lock.len())]);
    }
}

/// `kill -9` in the middle of writes, in a gc'd repository: after each kill the next
/// write either works or names the lock file to remove; after removing it, it works.
#[test]
fn writes_killed_with_sigkill_never_brick_the_clone() {
    let repo = gc_repo();
    let bin = assert_cmd::cargo::cargo_bin("git-okr");
    let mut named = 0;
    for i in 0..20u64 {
        let mut child = std::process::Command::new(&bin);
        child
            .current_dir(repo.path())
            .args(["metric", "set", "manual.kill", &i.to_string()])
            .env_remove("OKR_AGENT")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (k, v) in repo.env() {
            child.env(k, v);
        }
        let mut child = child.spawn().unwrap();
        // Kill at different moments of the write (the timing only varies where it lands).
        std::thread::sleep(std::time::Duration::from_millis(2 + (i * 7) % 40));
        let _ = child.kill();
        let _ = child.wait();
        let out = repo.run(&["metric", "set", "manual.after", &i.to_string()]);
        if !out.status.success() {
            let err = stderr(&out);
            let file = err
                .split("rm ")
                .nth(1)
                .map(|f| repo.path().join(f.trim()))
                .unwrap_or_else(|| panic!("round {i}: no lock file named: {err}"));
            assert!(file.exists(), "round {i}: {}", file.display());
            std::fs::remove_file(&file).unwrap();
            named += 1;
            repo.ok(&["metric", "set", "manual.after", &i.to_string()]);
        }
        let fsck = repo.git_output(&["fsck", "--no-dangling", "--connectivity-only"]);
        assert!(fsck.status.success(), "round {i}");
    }
    eprintln!("{named} of 20 kills left a lock file that was named");
}

/// Eight measurements at once on a cold cache: all succeed (the cache's tables are
/// built by one of them under SQLite's write lock).
#[test]
fn parallel_measurements_on_a_cold_cache_all_succeed() {
    let repo = gc_repo();
    for _ in 0..3 {
        let _ = std::fs::remove_file(repo.path().join(".git/okr/audit.sqlite"));
        let _ = std::fs::remove_file(repo.path().join(".git/okr/audit.sqlite-wal"));
        let _ = std::fs::remove_file(repo.path().join(".git/okr/audit.sqlite-shm"));
        let outs: Vec<std::process::Output> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| repo.run(&["kr", "measure"])))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for out in outs {
            assert!(out.status.success(), "{}", stderr(&out));
        }
    }
}

/// `git` in the repository with git-okr on PATH, as the hooks need it.
fn git_with_hooks(repo: &TestRepo, args: &[&str]) -> std::process::Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_git-okr")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    std::process::Command::new("git")
        .current_dir(repo.path())
        .args(args)
        .env_remove("OKR_AGENT")
        .env_remove("GIT_OKR_HOOK")
        .envs(repo.env())
        .env("PATH", path)
        .output()
        .unwrap()
}

/// A hook whose measurement hangs (here: the cache is write-locked by another
/// process) stops after `okr.hooks.timeout` and the push goes on with a warning;
/// with `okr.hooks.strict` the push stops.
#[test]
fn a_hanging_measurement_does_not_block_a_push() {
    let remote = TestRepo::bare();
    let repo = TestRepo::with_state(&[("okrs/org.yml", GIT_ORG)]);
    repo.git(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
    repo.ok(&["hooks", "install"]);
    repo.ok(&["kr", "measure"]);
    repo.git(&["config", "okr.hooks.timeout", "1"]);
    // Another process holding the cache exclusively: git-okr waits for it (SQLite's
    // busy timeout) far longer than the hook's time limit.
    let db = rusqlite::Connection::open(repo.path().join(".git/okr/audit.sqlite")).unwrap();
    db.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;")
        .unwrap();
    repo.write("a.txt", "a\n");
    repo.git(&["add", "."]);
    repo.git(&["commit", "-q", "-m", "a"]);
    let push = git_with_hooks(&repo, &["push", "-q", "origin", "main"]);
    let err = String::from_utf8_lossy(&push.stderr).to_string();
    assert!(push.status.success(), "{err}");
    assert!(err.contains("took longer than okr.hooks.timeout"), "{err}");

    repo.git(&["config", "okr.hooks.strict", "true"]);
    repo.write("b.txt", "b\n");
    repo.git(&["add", "."]);
    repo.git(&["commit", "-q", "-m", "b"]);
    let push = git_with_hooks(&repo, &["push", "-q", "origin", "main"]);
    assert!(!push.status.success(), "strict mode must stop the push");
    db.execute_batch("ROLLBACK").unwrap();
    drop(db);
    let push = git_with_hooks(&repo, &["push", "-q", "origin", "main"]);
    assert!(
        push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
}
