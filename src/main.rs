use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = git_okr::cli::Cli::parse();
    match git_okr::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", git_okr::commands::render_error(&e));
            ExitCode::FAILURE
        }
    }
}
