//! The layering, checked: imports only go down. `main`, `cli` and `commands/` are the top;
//! nothing below them may reach up into them (see ARCHITECTURE.md).

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The top layer: the only files allowed to name `crate::commands` or `crate::cli`.
fn is_top_layer(relative: &Path) -> bool {
    relative.starts_with("commands")
        || relative == Path::new("cli.rs")
        || relative == Path::new("main.rs")
}

#[test]
fn nothing_below_the_commands_imports_them_or_the_cli() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = rust_files(&src);
    assert!(
        files.len() > 20,
        "found only {} files under src/",
        files.len()
    );
    let mut offences = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        if is_top_layer(relative) {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if [
                "crate::commands",
                "crate::cli",
                "git_okr::commands",
                "git_okr::cli",
            ]
            .iter()
            .any(|upward| code.contains(upward))
            {
                offences.push(format!(
                    "src/{}:{}: {}",
                    relative.display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "imports reaching up into commands/cli:\n{}",
        offences.join("\n")
    );
}
