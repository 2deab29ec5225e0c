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

    const OKRS: &str = "scope: org
objectives:
  - objective_id: OBJ-1
    objective: Ship it
    owner_id: team-backend
    key_results:
      - kr_id: KR-1.1
        description: Complete 100 unit tests
        metric_key: ci.test_count
        baseline: 0
        target: 100
        status: not_started
        owner_id: team-backend
";

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

    fn wait_for(path: &Path, within: Duration) {
        let start = Instant::now();
        while !path.exists() {
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
        let file = repo.path().join(".git/forged-plan.json");
        std::fs::write(&file, serde_json::to_string_pretty(plan).unwrap()).unwrap();
        let tip = repo.state_tip().unwrap();
        let blob = repo.git(&["hash-object", "-w", file.to_str().unwrap()]);
        let idx = repo.path().join(".git/forged-index");
        let _ = std::fs::remove_file(&idx);
        let with_index = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .current_dir(repo.path())
                .env("GIT_INDEX_FILE", &idx)
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        with_index(&["read-tree", &tip]);
        with_index(&[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("100644,{},{path}", blob.trim()),
        ]);
        let tree = with_index(&["write-tree"]);
        let commit = repo.git(&[
            "commit-tree",
            tree.trim(),
            "-p",
            &tip,
            "-m",
            "teammate's plan",
        ]);
        repo.git(&["update-ref", "refs/okr/state", commit.trim(), &tip]);
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
        for (n, bad) in ["../../escape", "/tmp/abs", "a/b", "..", "x\ny", "T1.lock"]
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

    const OKRS: &str = "scope: org
objectives:
  - objective_id: OBJ-1
    objective: Grow x
    key_results:
      - kr_id: KR-1.1
        metric_key: manual.x
        baseline: 0
        target: 100
        status: not_started
";

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
