//! `git okr show`, `export` and `edit`: the state's files as files.

use super::daemon::check_job_args;
use super::validate::validate_file;
use crate::cli::{EditArgs, ExportArgs, ShowArgs};
use crate::ctx::Ctx;
use crate::ctx::{okr_texts, require_initialized};
use crate::model::cycles::CYCLES_FILE;
use crate::model::snapshot::{MetricSnapshot, SNAPSHOT_DIR};
use crate::store::{Changes, Commit, Step};
use anyhow::{bail, Context, Result};
use std::io::{IsTerminal, Write};
use std::path::Path;

pub fn show(ctx: &Ctx, args: ShowArgs) -> Result<()> {
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let path = args
        .path
        .as_deref()
        .map(normalize)
        .transpose()?
        .unwrap_or_default();
    if !path.is_empty() {
        if let Some(bytes) = snap.read(&path)? {
            if args.json {
                bail!("{path} is a file: --json lists the files of a folder; drop --json to print it as it is");
            }
            std::io::stdout().write_all(&bytes)?;
            return Ok(());
        }
        if !snap.is_dir(&path)? {
            bail!("{path}: no such file on refs/okr/state");
        }
    }
    let listing = snap.list(&path)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&listing)?);
    } else {
        let mut out = std::io::stdout().lock();
        for p in listing {
            writeln!(out, "{p}")?;
        }
    }
    Ok(())
}

pub fn export(ctx: &Ctx, args: ExportArgs) -> Result<()> {
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let mut files = snap.list("")?;
    // OKRchestra parses every okrs/*.yml but permissions.yml as OKRs, and one that is
    // not (the cycles) fails its whole load: its workspace gets it left out.
    let left_out: Vec<String> = if args.okrchestra {
        files
            .iter()
            .filter(|p| p.as_str() == crate::model::cycles::CYCLES_FILE)
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    files.retain(|p| !left_out.contains(p));
    // Every file is read (and converted) before the first is written, so a snapshot
    // that does not convert leaves no half export behind.
    let mut contents = Vec::with_capacity(files.len());
    for path in &files {
        let mut bytes = snap.read(path)?.unwrap_or_default();
        if args.okrchestra && is_snapshot(path) {
            bytes = okrchestra_snapshot(path, &bytes)?.into_bytes();
        }
        contents.push(bytes);
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    for (path, bytes) in files.iter().zip(&contents) {
        write_inside(&args.dir, path, bytes)?;
    }
    let form = if args.okrchestra {
        " (snapshots in OKRchestra's form)"
    } else {
        ""
    };
    println!(
        "Exported {} files to {}{form}",
        files.len(),
        args.dir.display()
    );
    for path in &left_out {
        println!("Left out {path}: OKRchestra would read it as an OKR file");
    }
    Ok(())
}

fn is_snapshot(path: &str) -> bool {
    path.strip_prefix(SNAPSHOT_DIR)
        .is_some_and(|rest| rest.starts_with('/') && rest.ends_with(".json"))
}

fn okrchestra_snapshot(path: &str, bytes: &[u8]) -> Result<String> {
    let parsed: MetricSnapshot =
        serde_json::from_slice(bytes).map_err(|e| anyhow::anyhow!("{path}:{}: {e}", e.line()))?;
    Ok(parsed.to_okrchestra_json()?)
}

/// Write `bytes` to `root/path` without leaving `root`: the snapshot's paths are already
/// verified (no `..`, no `.git`), and no symlink inside `root` is followed, so a link
/// planted in the folder cannot redirect the write elsewhere.
fn write_inside(root: &Path, path: &str, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let components: Vec<&str> = path.split('/').collect();
    let Some((name, folders)) = components.split_last() else {
        bail!("{path}: not a file path");
    };
    let mut dir = root.to_path_buf();
    for folder in folders {
        dir.push(folder);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                bail!("{} is a symbolic link; export does not follow links (remove it or export to an empty folder)", dir.display())
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!("{} is in the way: not a folder", dir.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        }
    }
    let target = dir.join(name);
    if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!(
            "{} is a symbolic link; export does not follow links (remove it or export to an empty folder)",
            target.display()
        );
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        // A link created between the check and the open still fails here.
        .custom_flags(libc::O_NOFOLLOW)
        .open(&target)
        .with_context(|| format!("writing {}", target.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", target.display()))?;
    Ok(())
}

pub fn edit(ctx: &Ctx, args: EditArgs) -> Result<()> {
    let path = normalize(&args.path)?;
    if let Some(writer) = machine_writer(&path) {
        bail!("{path}: written by git-okr itself, not by hand; {writer}");
    }
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    if snap.is_dir(&path)? {
        bail!("{path}: is a folder; name a file");
    }
    let original = snap.read(&path)?;
    let edited = edit_until_valid(
        ctx,
        &path,
        original.as_deref().unwrap_or_default(),
        &with_cycles(&snap)?,
    )?;
    if Some(&edited) == original.as_ref() || (original.is_none() && edited.is_empty()) {
        println!("No changes to {path}");
        return Ok(());
    }
    let summary = diff_summary(original.as_deref().unwrap_or_default(), &edited);
    let outcome = ctx.store.transact(|now| {
        // Someone else committed this file while the editor was open: never overwrite their change.
        if now.read(&path)? != original {
            let kept = keep_rejected(ctx, &path, &edited)?;
            bail!("{path} changed on refs/okr/state while you were editing; your version is kept at {kept}");
        }
        validate_file(&path, &edited, &with_cycles(now)?, check_job_args)?;
        let mut changes = Changes::new();
        changes.write(path.clone(), edited.clone());
        let mut message = ctx.message(format!("okr: edit {path} ({summary})"), "edit").trailer("Okr-File", &path);
        for (key, value) in okr_trailers(&okr_texts(now)?, &path, &edited)? {
            message = message.trailer(key, value);
        }
        Ok(Step::Commit(Commit { changes, message, value: () }))
    })?;
    match outcome.commit_id() {
        Some(id) => println!("Committed {path} ({summary}) at {}", id.to_hex_with_len(7)),
        None => println!("No changes to {path}"),
    }
    Ok(())
}

/// `Okr-KR`, `Okr-Objective` and `Okr-Change` trailers for an edit of an OKR file, so
/// `git okr audit --kr KR-1.1` finds who changed its target. Other files get none.
fn okr_trailers(
    okrs: &[(String, String)],
    path: &str,
    edited: &[u8],
) -> Result<Vec<(&'static str, String)>> {
    use crate::proposal::{field_changes, flatten, touched_ids, Texts};
    if !crate::model::okrs::is_okr_file(path) {
        return Ok(Vec::new());
    }
    let before: Texts = okrs.iter().cloned().collect();
    let mut after = before.clone();
    after.insert(
        path.to_string(),
        String::from_utf8_lossy(edited).into_owned(),
    );
    let (before, after) = (flatten(&before)?, flatten(&after)?);
    let (krs, objectives) = touched_ids(&before, &after);
    let mut out: Vec<(&'static str, String)> = Vec::new();
    out.extend(objectives.into_iter().map(|o| ("Okr-Objective", o)));
    out.extend(krs.into_iter().map(|k| ("Okr-KR", k)));
    out.extend(
        field_changes(&before, &after)
            .into_iter()
            .map(|c| ("Okr-Change", c)),
    );
    Ok(out)
}

/// The commands that own the records git-okr writes itself. A hand edit would bypass
/// their rules: an edited proposal could mark itself approved, a snapshot could
/// carry values no measurement produced.
fn machine_writer(path: &str) -> Option<&'static str> {
    use crate::metrics::ci::{HISTORY_FILE, REPORT_FILE};
    use crate::model::plan::{PLANS_DIR, RUNS_DIR};
    use crate::model::proposal::PROPOSALS_DIR;
    use crate::model::snapshot::SNAPSHOT_DIR;
    let owners = [
        (
            PROPOSALS_DIR,
            "proposals change only through `git okr okr propose/approve/reject/apply`",
        ),
        (PLANS_DIR, "plans are written by `git okr plan generate`"),
        (RUNS_DIR, "runs are written by `git okr plan run`"),
        (
            SNAPSHOT_DIR,
            "snapshots are written by `git okr kr measure`",
        ),
        (
            REPORT_FILE,
            "the CI report is written by `git okr ci ingest`",
        ),
        (
            HISTORY_FILE,
            "the CI history is written by `git okr ci ingest`",
        ),
    ];
    owners.into_iter().find_map(|(owned, writer)| {
        let owned = owned.trim_end_matches('/');
        let inside = path == owned || path.strip_prefix(owned).is_some_and(|r| r.starts_with('/'));
        inside.then_some(writer)
    })
}

/// Open the editor on a temporary copy until the content validates, or the user gives up.
fn edit_until_valid(
    ctx: &Ctx,
    path: &str,
    original: &[u8],
    okrs: &[(String, String)],
) -> Result<Vec<u8>> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let tmp = tempfile::Builder::new()
        .prefix("okr-edit-")
        .suffix(&format!("-{name}"))
        .tempfile()?;
    std::fs::write(tmp.path(), original)?;
    let editor = editor_command(&ctx.store.repo().config_snapshot());
    loop {
        run_editor(&editor, tmp.path())?;
        let edited = std::fs::read(tmp.path())?;
        let Err(e) = validate_file(path, &edited, okrs, check_job_args) else {
            return Ok(edited);
        };
        if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
            eprintln!("error: {e:#}");
            eprint!("Re-open the editor? [Y/n] ");
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            if !answer.trim().to_lowercase().starts_with('n') {
                continue;
            }
        }
        let kept = keep_rejected(ctx, path, &edited)?;
        bail!("{e:#} (nothing committed; your edit is kept at {kept})");
    }
}

/// The editor git would start: GIT_EDITOR, core.editor, VISUAL, EDITOR, else vi.
fn editor_command(config: &gix::config::Snapshot<'_>) -> String {
    let env = |name: &str| std::env::var(name).ok();
    [
        env("GIT_EDITOR"),
        config.string("core.editor").map(|v| v.to_string()),
        env("VISUAL"),
        env("EDITOR"),
    ]
    .into_iter()
    .flatten()
    .find(|e| !e.trim().is_empty())
    .unwrap_or_else(|| "vi".to_string())
}

fn run_editor(editor: &str, file: &Path) -> Result<()> {
    // Through the shell, as git does, so `EDITOR="code --wait"` works.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$@\""))
        .arg(editor)
        .arg(file)
        .status()
        .with_context(|| format!("running the editor {editor:?}"))?;
    if !status.success() {
        bail!("the editor {editor:?} exited with {status}; nothing committed");
    }
    Ok(())
}

/// Save a rejected edit under `.git/okr/` so no typing is lost.
fn keep_rejected(ctx: &Ctx, path: &str, bytes: &[u8]) -> Result<String> {
    let file = ctx
        .store
        .okr_dir()?
        .join(format!("rejected-edit-{}", path.replace('/', "_")));
    std::fs::write(&file, bytes)?;
    Ok(file.display().to_string())
}

/// `+added -removed` lines between two versions.
pub fn diff_summary(old: &[u8], new: &[u8]) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let diff = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
    let (mut added, mut removed) = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Insert => added += 1,
            similar::ChangeTag::Delete => removed += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    format!("+{added} -{removed}")
}

/// A state path as git stores it: relative, `/`-separated, no `.` or `..`.
pub(super) fn normalize(path: &str) -> Result<String> {
    let trimmed = path.trim_matches('/');
    if path.starts_with('/')
        || trimmed.split('/').any(|c| c == ".." || c == ".")
        || trimmed.contains('\\')
    {
        bail!("{path}: not a path on refs/okr/state (use a relative path like okrs/org.yml)");
    }
    Ok(trimmed
        .split('/')
        .filter(|c| !c.is_empty())
        .collect::<Vec<_>>()
        .join("/"))
}

/// The OKR files and `okrs/cycles.yml`: what validating an OKR file or the cycles needs.
fn with_cycles(snap: &crate::store::Snapshot<'_>) -> Result<Vec<(String, String)>> {
    let mut texts = okr_texts(snap)?;
    if let Some(cycles) = snap.read_text(CYCLES_FILE)? {
        texts.push((CYCLES_FILE.to_string(), cycles));
    }
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize("okrs/org.yml").unwrap(), "okrs/org.yml");
        assert_eq!(normalize("okrs//").unwrap(), "okrs");
        assert!(normalize("/etc/passwd").is_err());
        assert!(normalize("okrs/../x").is_err());
    }

    #[test]
    fn machine_written_records_name_their_command() {
        for path in [
            "proposals/P-1.yml",
            "plans/2026-01-18/p.json",
            "runs/r/result.json",
            "metrics/snapshots/2026-01-18.json",
            "metrics/ci_report.json",
            "metrics/ci_history.jsonl",
        ] {
            assert!(machine_writer(path).is_some(), "{path}");
        }
        for path in [
            "okrs/org.yml",
            "metrics/manual.yml",
            "daemon/jobs.yml",
            "plansx.yml",
            "metrics/ci_report.json.bak",
        ] {
            assert!(machine_writer(path).is_none(), "{path}");
        }
    }

    #[test]
    fn summarizes_diffs() {
        assert_eq!(diff_summary(b"a\nb\n", b"a\nc\nd\n"), "+2 -1");
    }
}
