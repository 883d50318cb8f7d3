//! The `ngx502` binary: parses the command line, runs it, and maps an error to one message and
//! exit code 2 (a broken pipe is success).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    ngx502::heap::restart_with_huge_pages();
    ngx502::heap::keep_freed_memory();
    let cli = ngx502::cli::Cli::parse();
    match ngx502::cmd::run(cli) {
        Ok(exit) => exit.into(),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ngx502: {}", ngx502::escape::sanitize_str(&format!("{err:#}")));
            ngx502::exit::Exit::Usage.into()
        }
    }
}

/// `ngx502 report | head` closing the pipe early is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
