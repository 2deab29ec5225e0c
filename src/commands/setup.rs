//! `git okr man` and `git okr completions`: what a shell and `man` need. Both work
//! outside a repository.

use crate::cli::{Cli, CompletionShell, CompletionsArgs, ManArgs};
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::io::Write;
use std::path::PathBuf;

pub fn man(args: ManArgs) -> Result<()> {
    let dir = match args.dir {
        Some(dir) => dir,
        None => default_man_dir()?,
    };
    let pages = super::manpages::write_pages(Cli::command(), &dir)
        .with_context(|| format!("writing man pages into {}", dir.display()))?;
    println!("Wrote {} man pages into {}", pages.len(), dir.display());
    if !man_finds(&dir) {
        println!(
            "man does not look there by itself; add it: export MANPATH=\"{}:$MANPATH\"",
            dir.parent().unwrap_or(&dir).display()
        );
    }
    Ok(())
}

/// `share/man/man1` beside the folder git-okr runs from: for `~/.cargo/bin/git-okr`,
/// `~/.cargo/share/man/man1`, which man searches for every PATH entry `X/bin`.
fn default_man_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding git-okr's own path")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let bin = exe.parent().context("git-okr's path has no folder")?;
    let prefix = bin.parent().unwrap_or(bin);
    Ok(prefix.join("share").join("man").join("man1"))
}

/// Whether man's search path (as `manpath` prints it) holds the folder above `man1`.
fn man_finds(man1: &std::path::Path) -> bool {
    let Some(root) = man1.parent() else {
        return false;
    };
    let Ok(out) = std::process::Command::new("manpath").output() else {
        // No manpath program: nothing to check against, say nothing.
        return true;
    };
    let listed = String::from_utf8_lossy(&out.stdout);
    let root = root.canonicalize().unwrap_or(root.to_path_buf());
    listed.trim().split(':').any(|p| {
        let p = std::path::Path::new(p);
        p.canonicalize().unwrap_or(p.to_path_buf()) == root
    })
}

/// Bash completion from git's own completion calls this for `git okr …`: it hands the
/// words from `okr` on to clap's `_git__okr`, as if `git-okr` had been typed.
const GIT_BASH_BRIDGE: &str = r#"
# `git okr <TAB>`: git's completion (git-completion.bash) calls _git_okr.
_git_okr() {
    local i okr=1
    for ((i = 1; i < ${#words[@]}; i++)); do
        if [[ ${words[i]} == okr ]]; then okr=$i; break; fi
    done
    local COMP_WORDS=(git-okr "${words[@]:okr+1}")
    local COMP_CWORD=$((cword - okr))
    _git__okr git-okr "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
}
"#;

pub fn completions(args: CompletionsArgs) -> Result<()> {
    use clap_complete::Shell;
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
        CompletionShell::Elvish => Shell::Elvish,
        CompletionShell::Powershell => Shell::PowerShell,
    };
    let mut script = Vec::new();
    if args.shell == CompletionShell::Bash {
        // clap_complete's bash script names its cases inconsistently for a program name
        // with a dash (git__okr vs git__subcmd__okr), so nothing below the top level
        // would complete: generate it for `gitokr` and register the function for git-okr.
        clap_complete::generate(shell, &mut Cli::command(), "gitokr", &mut script);
        let text = String::from_utf8_lossy(&script)
            .replace(" -o default gitokr\n", " -o default git-okr\n")
            .replace("_gitokr", "_git__okr");
        std::io::stdout()
            .lock()
            .write_all((text + GIT_BASH_BRIDGE).as_bytes())?;
        return Ok(());
    }
    // Completed as the program `git-okr`.
    clap_complete::generate(shell, &mut Cli::command(), "git-okr", &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(())
}
