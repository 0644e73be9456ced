//! The `kvaudit` binary: everything happens in the library's `run`.

/// mimalloc: the streaming readers allocate and free many small values,
/// often on different threads, where it is faster than the system malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kvaudit::run(std::env::args_os()).into()
}
