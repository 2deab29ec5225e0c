//! Feeling like git: colour, pager, editor, man pages and completions, on the real
//! binary. Terminal tests run the command under `script`, which gives it a pty.

mod common;

use common::{stdout, TestRepo};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const ESC: &str = "\x1b[";

fn bin_dir() -> String {
    Path::new(env!("CARGO_BIN_EXE_git-okr"))
        .parent()
        .unwrap()
        .display()
        .to_string()
}

/// A repository with the worked example and one measurement (so status has scores).
fn measured_repo() -> TestRepo {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    repo.ok(&["metric", "set", "ci.test_count", "85"]);
    repo.ok(&["kr", "measure"]);
    repo
}

/// Run `command` (a shell line) in `repo` on a pseudo-terminal; returns what the
/// terminal showed, with `\r\n` turned into `\n`. `env` adds variables.
fn on_terminal(repo: &TestRepo, command: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", command, "/dev/null"])
        .current_dir(repo.path())
        .env(
            "PATH",
            format!("{}:{}", bin_dir(), std::env::var("PATH").unwrap()),
        )
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null());
    for name in [
        "GIT_EDITOR",
        "GIT_PAGER",
        "PAGER",
        "GIT_PAGER_IN_USE",
        "NO_COLOR",
        "LESS",
        "OKR_AGENT",
    ] {
        cmd.env_remove(name);
    }
    for (k, v) in repo.env() {
        cmd.env(k, v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("script(1) runs");
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    assert!(
        out.status.success(),
        "{command} failed on the terminal: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// A pager that marks every line it shows, and records LESS as it got it.
fn marking_pager(repo: &TestRepo) -> String {
    let script = repo.home.path().join("pager.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"PAGER-LESS=$LESS\"\nsed 's/^/PAGED: /'\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

#[test]
fn colour_follows_flag_then_color_okr_then_color_ui() {
    let repo = measured_repo();
    // Piped: auto means no colour.
    assert!(!repo.ok(&["status"]).contains(ESC));
    assert!(!repo.ok(&["status", "--color=auto"]).contains(ESC));
    assert!(repo.ok(&["status", "--color=always"]).contains(ESC));
    assert!(repo.ok(&["--color", "always", "kr", "score"]).contains(ESC));
    repo.git(&["config", "color.ui", "always"]);
    assert!(repo.ok(&["status"]).contains(ESC));
    assert!(!repo.ok(&["status", "--color=never"]).contains(ESC));
    repo.git(&["config", "color.okr", "false"]);
    assert!(
        !repo.ok(&["status"]).contains(ESC),
        "color.okr wins over color.ui"
    );
    repo.git(&["config", "color.okr", "true"]);
    assert!(
        !repo.ok(&["status"]).contains(ESC),
        "true means auto: no colour into a pipe"
    );
    let bad = repo.run(&["status", "--color=sometimes"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a bad --color value is a usage error"
    );
}

#[test]
fn colour_on_a_terminal_unless_no_color() {
    let repo = measured_repo();
    let coloured = on_terminal(&repo, "git-okr --no-pager status", &[]);
    assert!(coloured.contains(ESC), "{coloured:?}");
    let plain = on_terminal(&repo, "git-okr --no-pager status", &[("NO_COLOR", "1")]);
    assert!(!plain.contains(&format!("{ESC}3")), "{plain:?}");
    let forced = on_terminal(
        &repo,
        "git-okr --no-pager status --color=always",
        &[("NO_COLOR", "1")],
    );
    assert!(
        forced.contains(ESC),
        "--color=always beats NO_COLOR: {forced:?}"
    );
    let never = on_terminal(&repo, "git-okr --no-pager --color=never status", &[]);
    assert!(!never.contains(&format!("{ESC}3")), "{never:?}");
}

#[test]
fn long_output_goes_through_gits_pager_choice_on_a_terminal() {
    let repo = measured_repo();
    let pager = marking_pager(&repo);
    let shown = on_terminal(&repo, "git-okr status", &[("GIT_PAGER", &pager)]);
    assert!(shown.contains("PAGED: refs/okr/state at"), "{shown:?}");
    assert!(
        shown.contains("PAGER-LESS=FRX"),
        "LESS=FRX when unset: {shown:?}"
    );
    let own_less = on_terminal(
        &repo,
        "git-okr status",
        &[("GIT_PAGER", &pager), ("LESS", "-S")],
    );
    assert!(own_less.contains("PAGER-LESS=-S"), "{own_less:?}");
    for args in ["audit", "kr history KR-1.1", "show okrs/org.yml", "show"] {
        let shown = on_terminal(&repo, &format!("git-okr {args}"), &[("GIT_PAGER", &pager)]);
        assert!(shown.contains("PAGED: "), "{args}: {shown:?}");
    }
    // core.pager, then PAGER, in git's order.
    repo.git(&["config", "core.pager", &pager]);
    let shown = on_terminal(&repo, "git-okr status", &[("PAGER", "false")]);
    assert!(
        shown.contains("PAGED: "),
        "core.pager before PAGER: {shown:?}"
    );
    repo.git(&["config", "--unset", "core.pager"]);
    let shown = on_terminal(&repo, "git-okr status", &[("PAGER", &pager)]);
    assert!(shown.contains("PAGED: "), "{shown:?}");
    // Short commands do not page.
    let shown = on_terminal(&repo, "git-okr kr score", &[("PAGER", &pager)]);
    assert!(!shown.contains("PAGED: "), "{shown:?}");
}

#[test]
fn no_pager_when_piped_or_asked() {
    let repo = measured_repo();
    let pager = marking_pager(&repo);
    let piped = repo
        .okr()
        .arg("status")
        .env("GIT_PAGER", &pager)
        .output()
        .unwrap();
    assert!(!stdout(&piped).contains("PAGED"), "{}", stdout(&piped));
    let flag = on_terminal(&repo, "git-okr --no-pager status", &[("GIT_PAGER", &pager)]);
    assert!(!flag.contains("PAGED"), "{flag:?}");
    assert!(flag.contains("refs/okr/state at"), "{flag:?}");
    let cat = on_terminal(&repo, "git-okr status", &[("GIT_PAGER", "cat")]);
    assert!(
        !cat.contains("PAGED") && cat.contains("refs/okr/state at"),
        "{cat:?}"
    );
}

#[test]
fn git_no_pager_and_git_p_reach_git_okr() {
    let repo = measured_repo();
    let pager = marking_pager(&repo);
    // Through git: it finds git-okr on PATH and runs it on the same terminal.
    let paged = on_terminal(&repo, "git okr status", &[("PAGER", &pager)]);
    assert!(paged.contains("PAGED: refs/okr/state at"), "{paged:?}");
    let not = on_terminal(&repo, "git --no-pager okr status", &[("PAGER", &pager)]);
    assert!(!not.contains("PAGED"), "{not:?}");
    assert!(not.contains("refs/okr/state at"), "{not:?}");
    let config = on_terminal(
        &repo,
        "git -c pager.okr=false okr status",
        &[("PAGER", &pager)],
    );
    assert!(!config.contains("PAGED"), "{config:?}");
    // `git -p okr`: git's pager, and ours not a second time; colour still on.
    let git_paged = on_terminal(&repo, "git -p okr status", &[("PAGER", &pager)]);
    assert_eq!(git_paged.matches("PAGER-LESS").count(), 1, "{git_paged:?}");
    assert!(
        git_paged.contains("PAGED: refs/okr/state at"),
        "{git_paged:?}"
    );
    assert!(
        git_paged.contains(ESC),
        "colour in git's pager: {git_paged:?}"
    );
}

/// An editor script that records its name into `log` and changes nothing.
fn naming_editor(repo: &TestRepo, name: &str) -> String {
    let log = repo.home.path().join("editor.log");
    let script = repo.home.path().join(name);
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho {name} >> '{}'\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

#[test]
fn edit_starts_the_editor_git_would() {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    let [git_editor, core, visual, editor] =
        ["git-editor", "core-editor", "visual", "editor"].map(|n| naming_editor(&repo, n));
    repo.git(&["config", "core.editor", &core]);
    let run = |env: &[(&str, &str)]| {
        let mut cmd = repo.okr();
        cmd.args(["edit", "okrs/org.yml"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", common::stderr(&out));
        assert!(stdout(&out).contains("No changes"), "{}", stdout(&out));
    };
    run(&[
        ("GIT_EDITOR", &git_editor),
        ("VISUAL", &visual),
        ("EDITOR", &editor),
    ]);
    run(&[("VISUAL", &visual), ("EDITOR", &editor)]);
    repo.git(&["config", "--unset", "core.editor"]);
    run(&[("VISUAL", &visual), ("EDITOR", &editor)]);
    run(&[("EDITOR", &editor)]);
    let log = std::fs::read_to_string(repo.home.path().join("editor.log")).unwrap();
    assert_eq!(log, "git-editor\ncore-editor\nvisual\neditor\n");
}

#[test]
fn man_pages_for_every_subcommand_where_man_and_git_help_find_them() {
    let repo = TestRepo::new();
    let prefix = tempfile::tempdir().unwrap();
    let man1 = prefix.path().join("share/man/man1");
    let out = repo.ok(&["man", "--dir", man1.to_str().unwrap()]);
    assert!(out.starts_with("Wrote "), "{out}");
    for page in [
        "git-okr.1",
        "git-okr-status.1",
        "git-okr-kr-measure.1",
        "git-okr-plan-run.1",
        "git-okr-completions.1",
    ] {
        assert!(man1.join(page).is_file(), "{page}: {out}");
    }
    // man derives its search path from PATH: PREFIX/bin gives PREFIX/share/man.
    std::fs::create_dir_all(prefix.path().join("bin")).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_git-okr"),
        prefix.path().join("bin/git-okr"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        prefix.path().join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let found = std::process::Command::new("man")
        .args(["-w", "git-okr"])
        .env("PATH", &path)
        .env_remove("MANPATH")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&found.stdout).trim(),
        man1.join("git-okr.1").display().to_string(),
        "{}",
        String::from_utf8_lossy(&found.stderr)
    );
    // `git okr --help` is git's: it runs `man git-okr`, which now shows our page.
    let help = repo
        .git_command(&["okr", "--help"])
        .env("PATH", &path)
        .env_remove("MANPATH")
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.status.success(),
        "{}",
        String::from_utf8_lossy(&help.stderr)
    );
    assert!(text.contains("refs/okr/state"), "{text}");
    assert!(text.contains("git-okr-status(1)"), "{text}");
    // Without an explicit --dir the pages go beside the binary's folder.
    let out = std::process::Command::new(prefix.path().join("bin/git-okr"))
        .arg("man")
        .env("PATH", &path)
        .env_remove("MANPATH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let bin_prefix = Path::new(env!("CARGO_BIN_EXE_git-okr"))
        .parent()
        .unwrap()
        .parent()
        .unwrap();
    assert!(
        stdout(&out).contains(&bin_prefix.join("share/man/man1").display().to_string()),
        "{}",
        stdout(&out)
    );
}

#[test]
fn completions_for_every_shell_and_git_okr_tab_in_bash() {
    let repo = TestRepo::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = repo.ok(&["completions", shell]);
        assert!(script.contains("git-okr"), "{shell}");
        assert!(script.contains("measure"), "{shell}");
    }
    assert_eq!(repo.run(&["completions", "tcsh"]).status.code(), Some(2));
    let bash = repo.home.path().join("okr.bash");
    std::fs::write(&bash, repo.ok(&["completions", "bash"])).unwrap();
    let git_completion = "/usr/share/bash-completion/completions/git";
    assert!(
        Path::new(git_completion).is_file(),
        "git's bash completion is installed"
    );
    // What bash does on `git okr st<TAB>` and `git okr kr m<TAB>`: git's _git completes,
    // and calls our _git_okr for the words after `okr`.
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let script = format!(
            "source {git_completion}; source {}; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT={}; __git_wrap__git_main; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            bash.display(),
            words.join(" "),
            words.len() - 1,
            line.len()
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let top = complete("git okr st");
    assert!(top.lines().any(|l| l.trim() == "status"), "{top:?}");
    let kr = complete("git okr kr m");
    assert!(kr.lines().any(|l| l.trim() == "measure"), "{kr:?}");
    let flags = complete("git okr status --j");
    assert!(flags.lines().any(|l| l.trim() == "--json"), "{flags:?}");
    // The program itself, as `git-okr kr m<TAB>`: the registered function.
    let direct = std::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                "source {}; complete -p git-okr; COMP_WORDS=(git-okr kr m); COMP_CWORD=2; _git__okr git-okr m kr; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                bash.display()
            ),
        ])
        .output()
        .unwrap();
    let direct = String::from_utf8_lossy(&direct.stdout);
    assert!(direct.contains("-F _git__okr git-okr"), "{direct}");
    assert!(direct.lines().any(|l| l.trim() == "measure"), "{direct}");
}

#[test]
fn plan_run_shows_running_tasks_live_on_a_terminal() {
    let repo = measured_repo();
    let agent = repo.home.path().join("agent.sh");
    std::fs::write(
        &agent,
        "#!/bin/sh\ncat > /dev/null\necho \"working on $OKR_TASK_ID\"\nsleep 1\n\
         printf '{\"status\":\"done\",\"summary\":\"ok\"}' > \"$OKR_RESULT_FILE\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    repo.git(&[
        "config",
        "okr.adapter.fake.command",
        agent.to_str().unwrap(),
    ]);
    let plan: serde_json::Value =
        serde_json::from_str(&repo.ok(&["plan", "generate", "--json", "--kr-id", "KR-1.1"]))
            .unwrap();
    let id = plan["plan_id"].as_str().unwrap();
    let screen = on_terminal(&repo, &format!("git-okr plan run --adapter fake {id}"), &[]);
    // The live line of a running task: its id, its elapsed time, its last output line
    // (drawn in place, so between terminal control sequences).
    let live = screen
        .split(['\n', '\r'])
        .find(|l| l.contains("working on T1"))
        .unwrap_or_else(|| panic!("no live line for T1:\n{screen:?}"));
    assert!(live.contains("T1"), "{live:?}");
    assert!(live.contains(ESC), "drawn in place: {live:?}");
    assert!(
        !screen.contains("[T1]"),
        "output is prefixed only with --follow"
    );
    // Start and end lines stay; the live lines are cleared before the results.
    assert!(screen.contains("started T1: "), "{screen:?}");
    assert!(screen.contains("ended T1: passed after "), "{screen:?}");
    let results = screen.rfind("T1 passed").unwrap();
    assert!(
        !screen[results..].contains("working on"),
        "live lines left under the results: {screen:?}"
    );
}
