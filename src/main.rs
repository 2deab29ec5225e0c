// mimalloc: commands on a large OKR set build and free trees of hundreds of thousands of
// small values, where glibc's allocator spent a fifth of the time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    git_okr::main()
}
