//! Renders the man pages; during `cargo install` also puts them where `man` finds them.
//!
//! `git okr --help` makes git run `man git-okr` without starting git-okr, so the pages
//! must exist right after `cargo install`. man looks in `../share/man` beside every PATH
//! entry: for `~/.cargo/bin/git-okr` that is `~/.cargo/share/man/man1`.
//!
//! Cargo tells a build script neither that it builds for `cargo install` nor `--root`:
//! the build script's parent is the cargo process, so its command line says both.
//! Ordinary builds (`cargo build`, `cargo test`) write only into OUT_DIR.

#[path = "src/cli.rs"]
#[allow(dead_code)]
mod cli;
/// cli.rs reads durations with the model's parser (which needs only anyhow).
#[path = "src/model/duration.rs"]
#[allow(dead_code)]
mod duration;
mod model {
    pub(crate) use super::duration;
}
#[path = "src/commands/manpages.rs"]
mod manpages;

use clap::CommandFactory;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/cli.rs");
    println!("cargo:rerun-if-changed=src/commands/manpages.rs");
    println!("cargo:rerun-if-changed=src/model/duration.rs");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(out) = std::env::var_os("OUT_DIR") else {
        return;
    };
    let dir = PathBuf::from(out).join("man");
    if let Err(e) = manpages::write_pages(cli::Cli::command(), &dir) {
        println!("cargo:warning=man pages not rendered: {e}");
        return;
    }
    let Some(root) = install_root() else {
        return;
    };
    let man1 = root.join("share").join("man").join("man1");
    match manpages::write_pages(cli::Cli::command(), &man1) {
        Ok(pages) => println!(
            "cargo:warning=installed {} man pages into {} (git okr --help)",
            pages.len(),
            man1.display()
        ),
        Err(e) => println!(
            "cargo:warning=man pages not installed into {}: {e} (run `git okr man` later)",
            man1.display()
        ),
    }
}

/// The root `cargo install` installs into, when the parent cargo runs `install`:
/// `--root`, else CARGO_INSTALL_ROOT, else CARGO_HOME, else ~/.cargo.
fn install_root() -> Option<PathBuf> {
    let args = parent_args()?;
    manpages::cargo_install_root(&args, |name| std::env::var_os(name))
}

/// The command line of the process that started this build script (cargo).
#[cfg(not(unix))]
fn parent_args() -> Option<Vec<String>> {
    None
}

/// The command line of the process that started this build script (cargo).
#[cfg(unix)]
fn parent_args() -> Option<Vec<String>> {
    let parent = std::os::unix::process::parent_id();
    if let Ok(raw) = std::fs::read(format!("/proc/{parent}/cmdline")) {
        return Some(
            raw.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
        );
    }
    // No /proc (macOS, BSD): ask ps; arguments are split at spaces.
    let out = std::process::Command::new("ps")
        .args(["-ww", "-o", "command=", "-p", &parent.to_string()])
        .output()
        .ok()?;
    Some(
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    )
}
