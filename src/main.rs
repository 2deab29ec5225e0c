fn main() -> std::process::ExitCode {
    git_okr::main()
}
