use clap::Parser;
use git_okr::cli::Cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    // `plan run` starts each agent under a copy of git-okr that watches over it (hidden).
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).and_then(|a| a.to_str()) == Some(git_okr::plan::supervise::SUPERVISE_ARG) {
        return match git_okr::plan::supervise::main(&argv[2..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!(
                    "git-okr supervisor: {}",
                    git_okr::commands::render_error(&e)
                );
                ExitCode::FAILURE
            }
        };
    }
    let cli = Cli::parse();
    if cli.command.prints_to_pipes() {
        // Like git: a closed pipe (`git okr show | head`) ends the process quietly instead
        // of making every print fail. Long-running commands keep Rust's default (ignore),
        // so a closed socket cannot kill them.
        // SAFETY: no other thread exists yet; SIG_DFL is a valid disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match git_okr::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", git_okr::commands::render_error(&e));
            // 4: refused (permission or guardrail), as the house's exit codes say.
            if git_okr::audit::journal::Refusal::is(&e) {
                ExitCode::from(4)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
