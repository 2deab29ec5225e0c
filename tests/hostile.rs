//! Attacks the way a hostile teammate or agent would make them: crafted refs, crafted
//! files, crafted arguments. Each test asserts that the attack's effect never happens
//! (a marker file never appears, config is unchanged, the ref is not moved to a refused tree).

mod common;

use common::{stderr, TestRepo};

// ---------------------------------------------------------------------------------------
// Daemon schedules: job arguments come from the shared ref (issue 12 item 1).
// ---------------------------------------------------------------------------------------

mod daemon_schedules {
    use super::*;
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
