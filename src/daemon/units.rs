//! Service definitions that keep `git okr daemon run` going for one repository:
//! a macOS LaunchAgent plist and a systemd user service.

use quick_xml::escape::escape;
use std::path::{Path, PathBuf};

/// A short, stable name for a repository: its folder name and a hash of its full path,
/// so two clones named alike get different services.
pub fn service_slug(repo: &Path) -> String {
    let name: String = repo
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".into())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    // FNV-1a: stable across Rust versions, unlike std's hasher.
    let mut hash: u64 = 0xcbf29ce484222325;
    for b in repo.to_string_lossy().bytes() {
        hash ^= b as u64;
        hash = hash.wrapping_mul(0x100000001b3);
    }
    format!("{}-{:08x}", name.trim_matches('-'), hash as u32)
}

pub fn launchd_label(repo: &Path) -> String {
    format!("dev.git-okr.daemon.{}", service_slug(repo))
}

/// Where `launchd --install` writes the plist.
pub fn launchd_path(home: &Path, repo: &Path) -> PathBuf {
    home.join("Library/LaunchAgents")
        .join(format!("{}.plist", launchd_label(repo)))
}

pub fn systemd_unit_name(repo: &Path) -> String {
    format!("git-okr-{}.service", service_slug(repo))
}

/// Where `systemd --install` writes the unit: `$XDG_CONFIG_HOME/systemd/user` (default `~/.config`).
pub fn systemd_path(config_home: &Path, repo: &Path) -> PathBuf {
    config_home
        .join("systemd/user")
        .join(systemd_unit_name(repo))
}

/// A LaunchAgent that starts the daemon at login and restarts it if it dies.
/// The daemon logs to `.git/okr/daemon.log` itself; launchd's own output goes beside it.
pub fn launchd_plist(exe: &Path, repo: &Path, okr_dir: &Path, path_env: &str) -> String {
    let s = |p: &Path| escape(p.to_string_lossy().as_ref()).into_owned();
    let args: String = [s(exe), "-C".into(), s(repo), "daemon".into(), "run".into()]
        .iter()
        .map(|a| format!("        <string>{a}</string>\n"))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
    <key>Label</key>
    <string>{label}</string>
    <key>ProgramArguments</key>
    <array>
{args}    </array>
    <key>WorkingDirectory</key>
    <string>{repo}</string>
    <key>EnvironmentVariables</key>
    <dict>
        <key>PATH</key>
        <string>{path}</string>
    </dict>
    <key>RunAtLoad</key>
    <true/>
    <key>KeepAlive</key>
    <dict>
        <key>SuccessfulExit</key>
        <false/>
    </dict>
    <key>ProcessType</key>
    <string>Background</string>
    <key>StandardOutPath</key>
    <string>{out}</string>
    <key>StandardErrorPath</key>
    <string>{out}</string>
</dict>
</plist>
"#,
        label = escape(launchd_label(repo).as_str()),
        repo = s(repo),
        path = escape(path_env),
        out = s(&okr_dir.join("daemon.launchd.log")),
    )
}

/// A systemd user service running the daemon; SIGTERM lets the job in hand finish.
pub fn systemd_unit(exe: &Path, repo: &Path, path_env: &str) -> String {
    format!(
        "[Unit]
Description=git-okr daemon for {repo_desc}

[Service]
Type=simple
ExecStart={exe} -C {repo} daemon run
WorkingDirectory={workdir}
Environment={path}
Restart=on-failure
RestartSec=10
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec=15min

[Install]
WantedBy=default.target
",
        repo_desc = specifiers(&repo.to_string_lossy()),
        exe = quoted(&exe.to_string_lossy()),
        repo = quoted(&repo.to_string_lossy()),
        workdir = specifiers(&repo.to_string_lossy()),
        path = quoted(&format!("PATH={path_env}")),
    )
}

/// `%` starts a systemd specifier; `%%` is a literal percent.
fn specifiers(s: &str) -> String {
    s.replace('%', "%%")
}

/// One systemd command-line word in double quotes (C-style escapes; `$` doubled).
fn quoted(s: &str) -> String {
    let inner = specifiers(s)
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('$', "$$");
    format!("\"{inner}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_distinct() {
        let a = service_slug(Path::new("/home/a/my repo"));
        assert!(a.starts_with("my-repo-"), "{a}");
        assert_eq!(a, service_slug(Path::new("/home/a/my repo")));
        assert_ne!(a, service_slug(Path::new("/home/b/my repo")));
    }

    #[test]
    fn systemd_quoting() {
        let unit = systemd_unit(
            Path::new("/opt/x/git-okr"),
            Path::new("/w/100% $HOME \"q\""),
            "/usr/bin",
        );
        assert!(
            unit.contains(r#"ExecStart="/opt/x/git-okr" -C "/w/100%% $$HOME \"q\"" daemon run"#),
            "{unit}"
        );
    }
}
