//! `git okr report --html FILE [--open]`: the HTML report. Writing FILE is its only write.

use crate::cli::ReportArgs;
use crate::ctx::Ctx;
use crate::ctx::{load_okrs, require_initialized};
use crate::report::{gather, html};
use anyhow::{Context, Result};

pub fn run(ctx: &Ctx, args: ReportArgs) -> Result<()> {
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let set = load_okrs(&snap)?;
    let report = gather(&snap, &set)?;
    let page = html::render(&report);
    std::fs::write(&args.html, page).with_context(|| format!("writing {}", args.html.display()))?;
    println!("Wrote report: {}", args.html.display());
    if args.open {
        open(&args.html);
    }
    Ok(())
}

/// Best effort: hand the file to the desktop's opener; say so when there is none.
fn open(path: &std::path::Path) {
    let openers: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else {
        &["xdg-open", "open"]
    };
    for opener in openers {
        let spawned = std::process::Command::new(opener)
            .arg(path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if spawned.is_ok() {
            println!("Opening it with {opener}");
            return;
        }
    }
    println!(
        "Could not open it: no {} found; open {} yourself",
        openers.join(" or "),
        path.display()
    );
}
