//! Man pages for `git okr` and every subcommand, rendered from the clap definitions.
//!
//! Shared with build.rs (included there by path), so it may use only clap, clap_mangen
//! and std: `cargo install` writes the pages before anyone runs git-okr, which matters
//! because `git okr --help` makes git run `man git-okr` without starting us.

use std::path::{Path, PathBuf};

/// Write `git-okr.1`, `git-okr-kr.1`, `git-okr-kr-measure.1`, … into `dir` (created if
/// missing); returns the files written, parents before children.
pub fn write_pages(cmd: clap::Command, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = cmd.disable_help_subcommand(true);
    // build() names every subcommand `git-okr-kr-measure`, which becomes its file name.
    cmd.build();
    let mut written = Vec::new();
    write_tree(&cmd, dir, &mut written)?;
    Ok(written)
}

/// Where `cargo install` puts binaries' prefix, read from cargo's own command line
/// `args` (None unless it is `cargo … install …`): `--root`, else CARGO_INSTALL_ROOT,
/// else CARGO_HOME, else ~/.cargo.
// Used by build.rs, which includes this file; the crate itself only tests it.
#[cfg_attr(not(test), allow(dead_code))]
pub fn cargo_install_root(
    args: &[String],
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    // Global options before the subcommand that take a value.
    const VALUED: [&str; 4] = ["--config", "-Z", "--color", "-C"];
    let mut rest = args.iter().skip(1).peekable();
    loop {
        let arg = rest.next()?;
        if VALUED.contains(&arg.as_str()) {
            rest.next();
        } else if !arg.starts_with('-') && !arg.starts_with('+') {
            if arg != "install" {
                return None;
            }
            break;
        }
    }
    let rest: Vec<&String> = rest.collect();
    let from_flag = rest.iter().enumerate().find_map(|(i, arg)| {
        if let Some(v) = arg.strip_prefix("--root=") {
            Some(PathBuf::from(v))
        } else if arg.as_str() == "--root" {
            rest.get(i + 1).map(|v| PathBuf::from(v.as_str()))
        } else {
            None
        }
    });
    from_flag
        .or_else(|| env("CARGO_INSTALL_ROOT").map(PathBuf::from))
        .or_else(|| env("CARGO_HOME").map(PathBuf::from))
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}

fn write_tree(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone()).manual("Git OKR Manual");
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    man.render(&mut page)?;
    // Write to a temporary name first so a reader never sees half a page.
    let tmp = path.with_extension("1.tmp");
    std::fs::write(&tmp, &page)?;
    std::fs::rename(&tmp, &path)?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_tree(sub, dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn install_root_follows_cargo() {
        let env = |name: &str| (name == "CARGO_HOME").then(|| "/h/.cargo".into());
        let root = |line: &str| cargo_install_root(&args(line), env);
        assert_eq!(
            root("cargo install --path . --root /tmp/x"),
            Some("/tmp/x".into())
        );
        assert_eq!(
            root("cargo +stable install --root=/opt/y --path ."),
            Some("/opt/y".into())
        );
        assert_eq!(root("cargo -q install --path ."), Some("/h/.cargo".into()));
        assert_eq!(
            root("cargo --config a=b install git-okr"),
            Some("/h/.cargo".into())
        );
        assert_eq!(root("cargo build --release"), None);
        assert_eq!(root("cargo test --root /tmp/x"), None);
        assert_eq!(root("cargo"), None);
        let with_env = |name: &str| match name {
            "CARGO_INSTALL_ROOT" => Some("/r".into()),
            "CARGO_HOME" => Some("/h".into()),
            _ => None,
        };
        assert_eq!(
            cargo_install_root(&args("cargo install --path ."), with_env),
            Some("/r".into())
        );
    }

    #[test]
    fn pages_for_every_subcommand() {
        use clap::CommandFactory;
        let dir = tempfile::tempdir().unwrap();
        let pages = write_pages(crate::cli::Cli::command(), dir.path()).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for name in [
            "git-okr.1",
            "git-okr-kr-measure.1",
            "git-okr-plan-run.1",
            "git-okr-status.1",
        ] {
            assert!(
                names.iter().any(|n| n == name),
                "{name} missing from {names:?}"
            );
        }
        let top = std::fs::read_to_string(dir.path().join("git-okr.1")).unwrap();
        assert!(top.contains(".TH git-okr 1"), "{top}");
        assert!(top.contains("refs/okr/state"), "{top}");
    }
}
