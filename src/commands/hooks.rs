//! `git okr hooks install|uninstall|status`.

use crate::cli::HooksCommand;
use crate::ctx::Ctx;
use crate::hooks::{self, HookState, CHAINED, HOOKS, STRICT_KEY};
use anyhow::Result;

pub fn run(ctx: &Ctx, cmd: HooksCommand) -> Result<()> {
    let repo = ctx.store.repo();
    let dir = hooks::hooks_dir(repo)?;
    // Shown to people: absolute, even when git-okr was started with `-C .`.
    let dir = match (
        dir.parent().and_then(|p| p.canonicalize().ok()),
        dir.file_name(),
    ) {
        (Some(parent), Some(name)) => parent.join(name),
        _ => dir,
    };
    let lines = match cmd {
        HooksCommand::Install => hooks::install(&dir)?,
        HooksCommand::Uninstall => hooks::uninstall(&dir)?,
        HooksCommand::Status => {
            let mut lines = vec![format!("hooks folder: {}", dir.display())];
            for (name, script) in HOOKS {
                lines.push(match hooks::state(&dir, name, script) {
                    HookState::Absent => format!("{name}: not installed"),
                    HookState::Foreign => format!("{name}: not installed (another hook is there)"),
                    HookState::Installed { current, chained } => format!(
                        "{name}: installed{}{}",
                        if current {
                            ""
                        } else {
                            " (an older version: run `git okr hooks install`)"
                        },
                        if chained {
                            format!("; runs {name}{CHAINED} first")
                        } else {
                            String::new()
                        }
                    ),
                });
            }
            lines.push(format!(
                "{STRICT_KEY}: {}",
                if hooks::strict(repo) {
                    "true (a git-okr failure stops the push)"
                } else {
                    "false (a git-okr failure is a warning)"
                }
            ));
            lines
        }
    };
    for line in lines {
        println!("{line}");
    }
    Ok(())
}
