//! Hostile input: the state ref and the agents treated as attackers would use them.
//! Each section is its own module so the suites stay independent.

mod common;

/// Agents misbehaving during `git okr plan run`: outliving their task, forging proposals,
/// and plans whose ids and owners try to escape or impersonate.
mod agents_during_runs {
    use super::common::{stderr, TestRepo};
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::process::Output;
    use std::time::{Duration, Instant};

    const OKRS: &str = super::common::fixtures::ONE_OWNED_KR;

    const PERMISSIONS: &str = "default_policy: deny
permissions:
  - agent: team-backend
    can_propose_for:
      - owner: team-backend
";

    fn setup() -> TestRepo {
        TestRepo::with_state(&[
            ("okrs/org.yml", OKRS),
            ("okrs/permissions.yml", PERMISSIONS),
        ])
    }

    /// A fake `codex` on PATH (with `git-okr` beside it) and a folder it reports into.
    struct Fake {
        bin: tempfile::TempDir,
        seen: tempfile::TempDir,
    }

    const PRELUDE: &str = r#"
task="${OKR_TASK_ID:-plan}"
out=""; prev=""
for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done
cat > /dev/null
report() { printf '{"status":"%s","summary":"%s"}' "$1" "$2" > "$out"; }
"#;

    impl Fake {
        fn codex(body: &str) -> Fake {
            let f = Fake {
                bin: tempfile::tempdir().unwrap(),
                seen: tempfile::tempdir().unwrap(),
            };
            std::os::unix::fs::symlink(
                assert_cmd::cargo::cargo_bin("git-okr"),
                f.bin.path().join("git-okr"),
            )
            .unwrap();
            let path = f.bin.path().join("codex");
            std::fs::write(&path, format!("#!/bin/sh\n{PRELUDE}\n{body}")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            f
        }

        fn path_env(&self) -> String {
            format!(
                "{}:{}",
                self.bin.path().display(),
                std::env::var("PATH").unwrap_or_default()
            )
        }

        fn seen(&self, name: &str) -> PathBuf {
            self.seen.path().join(name)
        }

        fn pid(&self, name: &str) -> u32 {
            let text = std::fs::read_to_string(self.seen(name))
                .unwrap_or_else(|e| panic!("the fake agent left no {name}: {e}"));
            text.trim().parse().unwrap()
        }

        fn command(&self, repo: &TestRepo, args: &[&str]) -> std::process::Command {
            let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("git-okr"));
            cmd.current_dir(repo.path())
                .env_remove("OKR_AGENT")
                .env("PATH", self.path_env())
                .env("FAKE_SEEN", self.seen.path())
                .args(args);
            for (k, v) in repo.env() {
                cmd.env(k, v);
            }
            cmd
        }

        fn run(&self, repo: &TestRepo, args: &[&str]) -> Output {
            self.command(repo, args).output().unwrap()
        }
    }

    fn plan(repo: &TestRepo) -> String {
        let out: serde_json::Value =
            serde_json::from_str(&repo.ok(&["plan", "generate", "--json", "--kr-id", "KR-1.1"]))
                .unwrap();
        out["plan_id"].as_str().unwrap().to_string()
    }

    /// Running, per /proc (a zombie is not running).
    fn alive(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => false,
            Ok(stat) => {
                let state = stat.rsplit(')').next().unwrap_or("").trim_start();
                !state.starts_with('Z') && !state.starts_with('X')
            }
        }
    }

    /// Until `path` has content: the shell creates a file before `echo` writes to it.
    fn wait_for(path: &Path, within: Duration) {
        let start = Instant::now();
        while !path.metadata().is_ok_and(|m| m.len() > 0) {
            assert!(
                start.elapsed() < within,
                "{} never appeared",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Until every pid is gone, for at most `within`; the ones still running.
    fn survivors(pids: &[u32], within: Duration) -> Vec<u32> {
        let start = Instant::now();
        loop {
            let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
            if left.is_empty() || start.elapsed() > within {
                return left;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn proposal_ids(repo: &TestRepo) -> Vec<String> {
        repo.git(&["ls-tree", "--name-only", "refs/okr/state", "proposals/"])
            .lines()
            .map(|l| {
                l.trim_start_matches("proposals/")
                    .trim_end_matches(".yml")
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn a_setsid_grandchild_cannot_approve_after_the_run() {
        let repo = setup();
        repo.ok(&[
            "okr",
            "propose",
            "--set",
            "KR-1.1.target=90",
            "--reason",
            "R",
        ]);
        let proposal = proposal_ids(&repo).remove(0);
        // The agent leaves a grandchild in its own session (out of the process group, its
        // output away from our pipes) that waits, then approves as the person.
        let fake = Fake::codex(&format!(
            r#"setsid sh -c 'echo $$ > "$FAKE_SEEN/grandchild-$OKR_TASK_ID"; sleep 3; env -u OKR_AGENT git okr okr approve {proposal} && touch "$FAKE_SEEN/marker"' < /dev/null > /dev/null 2>&1 &
while [ ! -s "$FAKE_SEEN/grandchild-$task" ]; do sleep 0.05; done
report done "left a grandchild""#
        ));
        let id = plan(&repo);
        let out = fake.run(&repo, &["plan", "run", "--adapter", "codex", &id]);
        assert!(out.status.success(), "{}", stderr(&out));
        let grandchildren: Vec<u32> = ["T1", "T2"]
            .iter()
            .map(|t| fake.pid(&format!("grandchild-{t}")))
            .collect();
        // The run is over: no grandchild may be running, now or in 6 s.
        assert_eq!(
            survivors(&grandchildren, Duration::from_secs(1)),
            Vec::<u32>::new()
        );
        std::thread::sleep(Duration::from_secs(6));
        assert!(!fake.seen("marker").exists(), "a grandchild approved");
        let text = repo.state_file(&format!("proposals/{proposal}.yml"));
        assert!(!text.contains("status: approved"), "{text}");
        let log = repo.git(&["log", "--format=%B", "refs/okr/state"]);
        assert!(!log.contains("Okr-Action: approve"), "{log}");
    }

    #[test]
    fn kill_9_of_plan_run_leaves_no_agent_running() {
        let repo = setup();
        // The agent, a child of it, and a grandchild in its own session all wait for ever.
        let fake = Fake::codex(
            r#"sleep 600 &
echo $! > "$FAKE_SEEN/child"
setsid sh -c 'echo $$ > "$FAKE_SEEN/detached"; exec sleep 600' < /dev/null > /dev/null 2>&1 &
while [ ! -s "$FAKE_SEEN/detached" ]; do sleep 0.05; done
echo $$ > "$FAKE_SEEN/agent"
wait"#,
        );
        let id = plan(&repo);
        let mut child = fake
            .command(&repo, &["plan", "run", "--adapter", "codex", &id])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_for(&fake.seen("agent"), Duration::from_secs(60));
        let pids = [fake.pid("agent"), fake.pid("child"), fake.pid("detached")];
        assert!(pids.iter().all(|p| alive(*p)), "{pids:?} started");
        child.kill().unwrap(); // SIGKILL: plan run cannot clean up itself
        child.wait().unwrap();
        assert_eq!(
            survivors(&pids, Duration::from_secs(20)),
            Vec::<u32>::new(),
            "processes of the agent outlived plan run"
        );
    }

    /// A proposal file as an agent would forge it, from a real proposal's text.
    fn forged(real: &str, real_id: &str, id: &str, proposer: &str, approved: bool) -> String {
        let mut text = real
            .replace(real_id, id)
            .replace("alice@example.com", proposer);
        if approved {
            text = text.replace(
                "files:\n",
                "- status: approved\n  by: alice@example.com\n  at: 2026-01-01T00:00:00Z\nfiles:\n",
            );
        }
        text
    }

    #[test]
    fn forged_proposals_committed_during_a_run_are_reverted() {
        let repo = setup();
        repo.ok(&[
            "okr",
            "propose",
            "--set",
            "KR-1.1.target=90",
            "--reason",
            "R",
        ]);
        let real_id = proposal_ids(&repo).remove(0);
        let real = repo.state_file(&format!("proposals/{real_id}.yml"));
        assert!(real.contains("proposer: alice@example.com"), "{real}");
        let forge = tempfile::tempdir().unwrap();
        let agent = "agent:team-backend";
        let files = [
            // The one honest proposal: by the task's agent, only proposed.
            (
                "P-20260101-00000a",
                forged(&real, &real_id, "P-20260101-00000a", agent, false),
            ),
            // Already approved in its own lifecycle.
            (
                "P-20260101-00000b",
                forged(&real, &real_id, "P-20260101-00000b", agent, true),
            ),
            // In a person's name.
            (
                "P-20260101-00000c",
                forged(
                    &real,
                    &real_id,
                    "P-20260101-00000c",
                    "alice@example.com",
                    false,
                ),
            ),
            // In another agent's name.
            (
                "P-20260101-00000d",
                forged(
                    &real,
                    &real_id,
                    "P-20260101-00000d",
                    "agent:team-web",
                    false,
                ),
            ),
            // A file name that is not its id.
            (
                "P-20260101-00000e",
                forged(&real, &real_id, "P-20260101-00000f", agent, false),
            ),
            // Not a proposal at all.
            ("P-20260101-000010", "lifecycle: approved\n".to_string()),
        ];
        for (i, (name, text)) in files.iter().enumerate() {
            std::fs::write(forge.path().join(format!("{i}-{name}.yml")), text).unwrap();
        }
        let fake = Fake::codex(&format!(
            r#"[ "$task" = T1 ] || {{ report done nothing; exit 0; }}
for f in "{forge}"/*.yml; do
  name=$(basename "$f" | sed 's/^[0-9]*-//')
  tip=$(git rev-parse refs/okr/state)
  idx="$FAKE_SEEN/index"; rm -f "$idx"
  GIT_INDEX_FILE="$idx" git read-tree "$tip"
  blob=$(git hash-object -w "$f")
  GIT_INDEX_FILE="$idx" git update-index --add --cacheinfo "100644,$blob,proposals/$name"
  tree=$(GIT_INDEX_FILE="$idx" git write-tree)
  c=$(printf 'okr: propose %s\n\nOkr-Action: propose\nOkr-Actor: agent:%s\n' "$name" "$OKR_AGENT" | git commit-tree "$tree" -p "$tip")
  git update-ref refs/okr/state "$c" "$tip"
done
report done forged"#,
            forge = forge.path().display()
        ));
        let id = plan(&repo);
        let out = fake.run(&repo, &["plan", "run", "--adapter", "codex", &id]);
        assert!(!out.status.success(), "the forging task fails");
        let mut ids = proposal_ids(&repo);
        ids.sort();
        let mut want = vec![real_id.clone(), "P-20260101-00000a".to_string()];
        want.sort();
        assert_eq!(ids, want, "only the honest proposal is kept");
        let results = repo.git(&["ls-tree", "-r", "--name-only", "refs/okr/state", "runs"]);
        let path = results
            .lines()
            .find(|l| l.ends_with("/result.json"))
            .unwrap();
        let result: serde_json::Value = serde_json::from_str(&repo.state_file(path)).unwrap();
        let t1 = &result["tasks"][0];
        assert_eq!(t1["status"], "failed", "{t1}");
        let items = t1["violations"][0]["items"].as_array().unwrap();
        assert_eq!(items.len(), 5, "{t1}");
        assert_eq!(result["tasks"][1]["status"], "passed");
    }

    /// Put a plan JSON on the state with plumbing, as a teammate's clone could.
    fn put_plan(repo: &TestRepo, id: &str, plan: &serde_json::Value) -> String {
        let path = format!("plans/2026-01-01/{id}.json");
        let text = serde_json::to_string_pretty(plan).unwrap();
        repo.forge_state_file(&path, text.as_bytes(), "teammate's plan");
        path
    }

    fn generated_plan(repo: &TestRepo) -> serde_json::Value {
        let out: serde_json::Value =
            serde_json::from_str(&repo.ok(&["plan", "generate", "--json", "--kr-id", "KR-1.1"]))
                .unwrap();
        out["plan"].clone()
    }

    #[test]
    fn task_ids_that_would_escape_are_refused_before_anything_runs() {
        let repo = setup();
        let fake = Fake::codex(r#"touch "$FAKE_SEEN/ran"; report done ran"#);
        let base = generated_plan(&repo);
        for (n, bad) in [
            "../../escape",
            "/tmp/abs",
            "a/b",
            "..",
            "x\ny",
            "T1.lock",
            "T1.",
        ]
        .iter()
        .enumerate()
        {
            let mut plan = base.clone();
            let id = format!("plan-hostile-{n}");
            plan["plan_id"] = id.clone().into();
            plan["tasks"][0]["id"] = (*bad).into();
            let path = put_plan(&repo, &id, &plan);
            let tip = repo.state_tip();
            let out = fake.run(&repo, &["plan", "run", "--adapter", "codex", &path]);
            assert!(!out.status.success());
            let err = stderr(&out);
            assert!(
                err.contains(&format!("{path}: tasks[0].id")) && err.contains("not a safe name"),
                "{bad:?}: {err}"
            );
            assert_eq!(repo.state_tip(), tip, "nothing recorded for {bad:?}");
            assert!(!fake.seen("ran").exists(), "an agent ran for {bad:?}");
        }
        // Two tasks with one id would share a folder and a branch.
        let mut plan = base.clone();
        plan["plan_id"] = "plan-dup".into();
        plan["tasks"][1]["id"] = plan["tasks"][0]["id"].clone();
        let path = put_plan(&repo, "plan-dup", &plan);
        let err = stderr(&fake.run(&repo, &["plan", "run", "--adapter", "codex", &path]));
        assert!(err.contains("tasks[1].id \"T1\" is used twice"), "{err}");
    }

    #[test]
    fn a_blank_owner_never_makes_the_agent_the_person() {
        let repo = setup();
        let fake = Fake::codex(
            r#"printf '%s' "${OKR_AGENT-unset}" > "$FAKE_SEEN/agent-$task"
git okr okr propose --set KR-1.1.target=95 --reason R 2> "$FAKE_SEEN/propose-$task"
report done ok"#,
        );
        let mut plan = generated_plan(&repo);
        plan["plan_id"] = "plan-blank".into();
        plan["owner"] = "   ".into();
        plan["key_results"][0]["owner"] = "".into();
        let path = put_plan(&repo, "plan-blank", &plan);
        let _ = fake.run(&repo, &["plan", "run", "--adapter", "codex", &path]);
        // Blank KR owner, blank plan owner: the adapter's name.
        assert_eq!(
            std::fs::read_to_string(fake.seen("agent-T1")).unwrap(),
            "codex"
        );
        let log = repo.git(&["log", "--format=%B", "refs/okr/state"]);
        assert!(
            !log.contains("Okr-Actor: alice@example.com\nOkr-Proposal"),
            "a proposal in the person's name: {log}"
        );

        // An empty OKR_AGENT is refused, not read as "the person".
        let out = repo
            .okr()
            .env("OKR_AGENT", "")
            .args([
                "okr",
                "propose",
                "--set",
                "KR-1.1.target=95",
                "--reason",
                "R",
            ])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("OKR_AGENT is set but empty"),
            "{}",
            stderr(&out)
        );
        // A control character in an owner is refused with the field named.
        let mut plan = generated_plan(&repo);
        plan["plan_id"] = "plan-ctl".into();
        plan["key_results"][0]["owner"] = "team\nOkr-Action: apply".into();
        let path = put_plan(&repo, "plan-ctl", &plan);
        let err = stderr(&fake.run(&repo, &["plan", "run", "--adapter", "codex", &path]));
        assert!(
            err.contains(&format!("{path}: key_results[0].owner")),
            "{err}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Daemon schedules: job arguments come from the shared ref (issue 12 item 1).
// ---------------------------------------------------------------------------------------

mod daemon_schedules {
    use super::common::{stderr, TestRepo};
    use std::path::Path;

    const OKRS: &str = super::common::fixtures::ONE_KR;

    /// A clone with state and a bare `origin` it has synced with.
    fn clone_with_origin() -> (TestRepo, TestRepo) {
        let repo = TestRepo::with_state(&[("okrs/org.yml", OKRS)]);
        let origin = TestRepo::bare();
        repo.git(&["remote", "add", "origin", origin.path().to_str().unwrap()]);
        repo.ok(&["sync"]);
        (repo, origin)
    }

    /// Commit `jobs_yml` as `daemon/jobs.yml` on refs/okr/state with git plumbing only,
    /// as another clone could, bypassing every check of `git okr daemon schedule`.
    fn craft_jobs(repo: &TestRepo, jobs_yml: &str) {
        let blob = git_stdin(repo, &["hash-object", "-w", "--stdin"], jobs_yml);
        let daemon_tree = git_stdin(
            repo,
            &["mktree"],
            &format!("100644 blob {blob}\tjobs.yml\n"),
        );
        let mut entries: Vec<String> = repo
            .git(&["ls-tree", "refs/okr/state^{tree}"])
            .lines()
            .filter(|l| !l.ends_with("\tdaemon"))
            .map(str::to_string)
            .collect();
        entries.push(format!("040000 tree {daemon_tree}\tdaemon"));
        let tree = git_stdin(repo, &["mktree"], &(entries.join("\n") + "\n"));
        let commit = repo
            .git(&[
                "commit-tree",
                &tree,
                "-p",
                "refs/okr/state",
                "-m",
                "okr: schedule\n\nOkr-Action: schedule",
            ])
            .trim()
            .to_string();
        repo.git(&["update-ref", "refs/okr/state", &commit]);
    }

    fn git_stdin(repo: &TestRepo, args: &[&str], input: &str) -> String {
        use std::io::Write;
        let mut cmd = std::process::Command::new("git");
        cmd.current_dir(repo.path())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        for (k, v) in repo.env() {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn run_once(repo: &TestRepo) -> String {
        let out = repo
            .okr()
            .args(["daemon", "run", "--once"])
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    }

    fn job(id: &str, kind: &str, args: &[String]) -> String {
        let args: Vec<String> = args
            .iter()
            .map(|a| serde_json::to_string(a).unwrap())
            .collect();
        format!(
            "- id: '{id}'\n  job: {kind}\n  cron: '* * * * * *'\n  created_at: '2020-01-01T00:00:00Z'\n  args: [{}]\n",
            args.join(", ")
        )
    }

    fn touch(marker: &Path) -> String {
        format!("touch {};", marker.display())
    }

    #[test]
    fn the_upload_pack_schedule_is_refused_and_nothing_is_written() {
        let (repo, _origin) = clone_with_origin();
        let marker = repo.home.path().join("pwned");
        let tip = repo.state_tip();
        let payload = format!("--upload-pack={}", touch(&marker));
        let attempts: Vec<Vec<String>> = vec![
            // The exact attack from the report: the value after a second `--`.
            vec!["--".into(), payload.clone()],
            vec![payload.clone()],
            vec!["origin".into(), payload.clone()],
            vec!["--setup".into(), "--push-too".into()],
            vec!["--setup".into()],
            vec![repo.home.path().display().to_string()],
            vec!["file:///tmp/elsewhere.git".into()],
            vec!["-C".into(), "/".into()],
            vec!["--workspace=/".into()],
            vec!["--agent".into(), "boss".into()],
        ];
        for args in &attempts {
            let mut argv = vec![
                "daemon",
                "schedule",
                "--cron",
                "* * * * * *",
                "--job",
                "sync",
                "--",
            ];
            argv.extend(args.iter().map(String::as_str));
            let out = repo.run(&argv);
            assert!(!out.status.success(), "{args:?} was accepted");
            let err = stderr(&out);
            assert!(err.contains("for job sync"), "{args:?}: {err}");
            assert_eq!(repo.state_tip(), tip, "{args:?} wrote to the ref");
        }
        // Measuring jobs cannot smuggle options either.
        for args in [
            &["--rev=--output=/tmp/x"][..],
            &["--hook"][..],
            &["-C", "/"][..],
        ] {
            let mut argv = vec![
                "daemon",
                "schedule",
                "--cron",
                "@daily",
                "--job",
                "kr_measure",
                "--",
            ];
            argv.extend(args);
            let err = repo.fails(&argv);
            assert!(err.contains("for job kr_measure"), "{args:?}: {err}");
        }
        assert_eq!(repo.state_tip(), tip);
        // A sync with a configured remote is fine, and it is rebuilt as `-- origin`.
        let out = repo.ok(&[
            "daemon", "schedule", "--cron", "@daily", "--job", "sync", "--", "origin",
        ]);
        assert!(out.contains("Scheduled job"), "{out}");
        // And `git okr sync` itself refuses a remote that looks like an option.
        let err = repo.fails(&["sync", "--", &payload]);
        assert!(
            err.contains("must not") && err.contains("start with '-'"),
            "{err}"
        );
        assert!(!marker.exists(), "the attack ran");
    }

    #[test]
    fn a_crafted_schedule_on_the_ref_never_reaches_git_or_the_config() {
        let (repo, origin) = clone_with_origin();
        let marker = repo.home.path().join("pwned");
        let payload = format!("--upload-pack={}", touch(&marker));
        let config_before = std::fs::read(repo.path().join(".git/config")).unwrap();
        // A teammate's clone "has" a remote named like the attack: this one does not, and
        // a remote is only ever a name configured here.
        let jobs = [
            job("1", "sync", &["--".into(), payload.clone()]),
            job("2", "sync", std::slice::from_ref(&payload)),
            job("3", "sync", &["--setup".into(), "--push-too".into()]),
            job("4", "sync", &[origin.path().display().to_string()]),
            job("5", "sync", &["--".into(), "-".into()]),
            job("6", "kr_measure", &["-C".into(), "/".into()]),
            job(
                "7",
                "kr_measure",
                &["--rev".into(), "--output=/tmp/x".into()],
            ),
            job("8", "sync", &["origin\n--upload-pack=x".into()]),
        ]
        .concat();
        craft_jobs(&repo, &format!("jobs:\n{jobs}"));
        let log = run_once(&repo);
        for id in 1..=8 {
            assert!(
                log.contains(&format!("job {id} skipped"))
                    || log.contains(&format!("job {id} refused")),
                "job {id} not refused:\n{log}"
            );
            assert!(!log.contains(&format!("job {id} (sync) runs")), "{log}");
        }
        assert!(!marker.exists(), "the attack ran:\n{log}");
        assert_eq!(
            std::fs::read(repo.path().join(".git/config")).unwrap(),
            config_before,
            "a job changed this clone's git config"
        );

        // The same schedule reaches a teammate through sync: their daemon refuses it too.
        let teammate = TestRepo::new();
        teammate.git(&["remote", "add", "origin", origin.path().to_str().unwrap()]);
        repo.ok(&["sync"]);
        teammate.ok(&["sync"]);
        let config_before = std::fs::read(teammate.path().join(".git/config")).unwrap();
        let log = run_once(&teammate);
        assert!(log.contains("job 1 skipped"), "{log}");
        assert!(
            !marker.exists(),
            "the attack ran in the teammate's clone:\n{log}"
        );
        assert_eq!(
            std::fs::read(teammate.path().join(".git/config")).unwrap(),
            config_before
        );
    }
}

/// The state ref crafted with plain git plumbing in a teammate's clone (`git mktree`,
/// `git hash-object`, `git commit-tree`, `git update-ref`, `git push`), then sync, pull,
/// export, list and apply in the victim's clone; forged approvals; hostile ids; and
/// crashed or shared state (stale locks after `kill -9`, parallel cold caches, hanging
/// hooks). Each case asserts that no marker file appears, nothing is written outside the
/// target, nothing is applied without a person's approve commit, the ref never moves to a
/// refused tree, and the clone keeps working.
mod state_ref {
    use super::common::{stderr, stdout, TestRepo};
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
            // Each failure must name one lock file; removing the named files (a kill
            // can leave both the ref's and packed-refs' lock) is enough.
            let mut removed = 0;
            loop {
                let out = repo.run(&["metric", "set", "manual.after", &i.to_string()]);
                if out.status.success() {
                    break;
                }
                let err = stderr(&out);
                let file = err
                    .split("rm ")
                    .nth(1)
                    .map(|f| repo.path().join(f.trim()))
                    .unwrap_or_else(|| panic!("round {i}: no lock file named: {err}"));
                assert!(file.exists(), "round {i}: {}", file.display());
                std::fs::remove_file(&file).unwrap();
                removed += 1;
                assert!(
                    removed <= 2,
                    "round {i}: still failing after removing {removed} locks: {err}"
                );
            }
            named += removed;
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
}

// ---------------------------------------------------------------------------------------
// Sync: a teammate's OKR file goes through the same checks as every state read.
// ---------------------------------------------------------------------------------------

mod sync_merges {
    use super::common::{fixtures, TestRepo};

    #[test]
    fn a_teammates_deeply_nested_okr_file_is_refused_before_merging() {
        let origin = TestRepo::bare();
        let alice = TestRepo::with_state(&[("okrs/org.yml", fixtures::ONE_KR)]);
        alice.git(&["remote", "add", "origin", origin.path().to_str().unwrap()]);
        alice.ok(&["sync"]);
        let bob = TestRepo::with_commit();
        bob.git(&["remote", "add", "origin", origin.path().to_str().unwrap()]);
        bob.ok(&["pull"]);
        // Bob's clone pushes, with plain git, an org.yml nested 500 levels deep.
        let deep = format!(
            "scope: org\nobjectives: {}{}\n",
            "[".repeat(500),
            "]".repeat(500)
        );
        bob.forge_state_file("okrs/org.yml", deep.as_bytes(), "deep");
        bob.git(&["push", "-q", "origin", "refs/okr/state:refs/okr/state"]);
        // Alice changed the same file meanwhile, so sync must merge it.
        let mine = fixtures::ONE_KR.replace("Grow x", "Grow x faster");
        alice.forge_state_file("okrs/org.yml", mine.as_bytes(), "mine");
        let before = alice.state_tip();
        let err = alice.fails(&["sync"]);
        assert!(
            err.contains("okrs/org.yml") && err.contains("nested more than"),
            "{err}"
        );
        assert_eq!(alice.state_tip(), before, "nothing merged");
    }
}

/// `.git/okr/trees/`, the parse cache of state files: it answers only for the exact text
/// it was made from, a damaged entry is a miss, and trees JSON cannot hold are not kept.
mod parse_cache {
    use super::common::{fixtures, TestRepo};
    use std::path::PathBuf;

    fn entries(repo: &TestRepo) -> Vec<PathBuf> {
        let dir = repo.path().join(".git/okr/trees");
        let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    /// The entry of the state's `okrs/org.yml`, named by its blob id.
    fn org_entry(repo: &TestRepo) -> PathBuf {
        let blob = repo.git(&["rev-parse", "refs/okr/state:okrs/org.yml"]);
        repo.path()
            .join(format!(".git/okr/trees/{}.json", blob.trim()))
    }

    #[test]
    fn a_damaged_entry_is_parsed_again_and_a_changed_file_is_never_answered_from_the_old_one() {
        let repo = TestRepo::with_state(&[("okrs/org.yml", fixtures::ONE_KR)]);
        let first = repo.ok(&["status", "--json"]);
        let entry = org_entry(&repo);
        assert!(
            entry.is_file(),
            "status keeps the tree it parsed: {:?}",
            entries(&repo)
        );
        // Garbage, then a truncated entry: both are misses, the output is the same.
        for damage in [
            &b"not json at all"[..],
            &std::fs::read(&entry).unwrap()[..40],
        ] {
            std::fs::write(&entry, damage).unwrap();
            assert_eq!(repo.ok(&["status", "--json"]), first);
            let kept = std::fs::read(&entry).unwrap();
            assert!(
                kept.len() > 40 && kept != damage,
                "rewritten after the miss"
            );
        }
        // A teammate's commit changes the target: the new text has its own entry.
        let changed = fixtures::ONE_KR.replace("target: 100", "target: 250");
        repo.forge_state_file("okrs/org.yml", changed.as_bytes(), "retarget");
        let score = repo.ok(&["kr", "score", "--json"]);
        assert!(score.contains("250"), "{score}");
        assert!(org_entry(&repo).is_file() && org_entry(&repo) != entry);
    }

    #[test]
    fn a_tree_json_cannot_hold_is_parsed_every_time() {
        // A tagged evidence item: JSON has no tags, so keeping it would change the tree.
        let tagged = fixtures::ONE_KR.replace(
            "        status: not_started\n",
            "        status: not_started\n        evidence: [!link https://example.com/x]\n",
        );
        let repo = TestRepo::with_state(&[("okrs/org.yml", &tagged)]);
        let first = repo.ok(&["status", "--json"]);
        assert!(!org_entry(&repo).exists(), "{:?}", entries(&repo));
        assert_eq!(repo.ok(&["status", "--json"]), first);
    }
}
