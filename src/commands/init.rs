//! `git okr init`: the state tree of DESIGN §1 in one commit.

use super::daemon::check_job_args;
use crate::cli::InitArgs;
use crate::ctx::validate_file;
use crate::ctx::Ctx;
use crate::model::okrs::is_okr_file;
use crate::store::{Changes, Commit, Step};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// The files a new state starts with: the worked example of OKRchestra's README.
const TEMPLATE: &[(&str, &str)] = &[
    ("okrs/org.yml", include_str!("../templates/org.yml")),
    (
        "okrs/permissions.yml",
        include_str!("../templates/permissions.yml"),
    ),
    ("okrs/schema.md", include_str!("../templates/schema.md")),
    ("culture/values.md", include_str!("../templates/values.md")),
    (
        "culture/standards.md",
        include_str!("../templates/standards.md"),
    ),
    (
        "metrics/manual.yml",
        include_str!("../templates/manual.yml"),
    ),
    (
        "metrics/definitions.yml",
        include_str!("../templates/definitions.yml"),
    ),
];

/// Files of an OKRchestra workspace that an import carries over, besides `okrs/*.yml`.
fn is_importable(path: &str) -> bool {
    let in_dir = |dir: &str, ext: &str| {
        path.strip_prefix(dir)
            .is_some_and(|rest| !rest.contains('/') && rest.ends_with(ext))
    };
    is_okr_file(path)
        || matches!(
            path,
            "okrs/permissions.yml"
                | "okrs/schema.md"
                | "metrics/manual.yml"
                | "metrics/definitions.yml"
                | "metrics/ci_report.json"
                | "metrics/ci_history.jsonl"
        )
        || in_dir("culture/", ".md")
        || in_dir("metrics/snapshots/", ".json")
}

pub fn run(ctx: &Ctx, args: InitArgs) -> Result<()> {
    let (files, origin) = match &args.from {
        Some(dir) => (
            import(dir).with_context(|| format!("importing {}", dir.display()))?,
            format!(" from {}", dir.display()),
        ),
        None => (
            TEMPLATE
                .iter()
                .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
                .collect(),
            String::new(),
        ),
    };
    let count = files.len();
    let outcome = ctx.store.transact(|snap| {
        if let Some(tip) = snap.tip() {
            if !args.force {
                bail!(
                    "refs/okr/state already exists (at {}); use `git okr init --force` to replace its files",
                    tip.to_hex_with_len(7)
                );
            }
        }
        let mut changes = Changes::new();
        for old in snap.list("")? {
            if !files.contains_key(&old) {
                changes.remove(old);
            }
        }
        for (path, bytes) in &files {
            changes.write(path.clone(), bytes.clone());
        }
        let message = ctx.message(format!("okr: init{origin}"), "init").body(format!("{count} files"));
        Ok(Step::Commit(Commit { changes, message, value: () }))
    })?;
    match outcome.commit_id() {
        Some(id) => println!(
            "Initialized refs/okr/state with {count} files{origin} at {}",
            id.to_hex_with_len(7)
        ),
        None => println!("refs/okr/state already holds exactly these files; nothing to commit"),
    }
    Ok(())
}

/// Read and validate an OKRchestra workspace folder; missing pieces come from the template.
fn import(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    if !dir.is_dir() {
        bail!("no such folder");
    }
    let mut files = BTreeMap::new();
    for sub in ["okrs", "culture", "metrics", "metrics/snapshots"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let name = entry
                .file_name()
                .into_string()
                .map_err(|n| anyhow!("{sub}/{n:?}: file name is not UTF-8"))?;
            let path = format!("{sub}/{name}");
            if is_importable(&path) {
                let bytes =
                    std::fs::read(entry.path()).with_context(|| format!("reading {path}"))?;
                let text = String::from_utf8(bytes).map_err(|e| {
                    anyhow!(
                        "{path}: not valid UTF-8 (byte {})",
                        e.utf8_error().valid_up_to()
                    )
                })?;
                files.insert(path, text.into_bytes());
            }
        }
    }
    if !files.keys().any(|p| is_okr_file(p)) {
        bail!("not an OKRchestra workspace: no okrs/*.yml in it");
    }
    let okr_texts: Vec<(String, String)> = files
        .iter()
        .filter(|(p, _)| is_okr_file(p))
        .map(|(p, b)| (p.clone(), String::from_utf8_lossy(b).into_owned()))
        .collect();
    // The OKR files are validated together, once (each alone would parse them all again).
    let mut okrs_checked = false;
    for (path, bytes) in &files {
        if is_okr_file(path) {
            if okrs_checked {
                continue;
            }
            okrs_checked = true;
        }
        validate_file(path, bytes, &okr_texts, check_job_args)?;
    }
    for (path, text) in TEMPLATE.iter().filter(|(p, _)| !is_okr_file(p)) {
        files
            .entry(path.to_string())
            .or_insert_with(|| text.as_bytes().to_vec());
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_valid() {
        let okrs: Vec<(String, String)> = TEMPLATE
            .iter()
            .filter(|(p, _)| is_okr_file(p))
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        for (path, text) in TEMPLATE {
            validate_file(path, text.as_bytes(), &okrs, check_job_args).unwrap();
        }
    }

    #[test]
    fn importable_paths() {
        assert!(is_importable("okrs/team-platform.yml"));
        assert!(is_importable("metrics/snapshots/2026-01-18.json"));
        assert!(is_importable("culture/values.md"));
        assert!(!is_importable("audit/audit.sqlite"));
        assert!(!is_importable("metrics/snapshots/old/x.json"));
    }
}
