//! The `kvaudit` binary: everything happens in the library's `run`.

fn main() -> std::process::ExitCode {
    kvaudit::run(std::env::args_os()).into()
}
