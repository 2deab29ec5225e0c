use clap::Parser;
use git_okr::cli::Cli;
use std::process::ExitCode;

fn main() -> ExitCode {
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
    let code = match git_okr::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", git_okr::commands::render_error(&e));
            ExitCode::FAILURE
        }
    };
    git_okr::commands::finish_pager();
    code
}
