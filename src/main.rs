//! The `rekindle` command line: parse the arguments, set up logging and the runtime, and hand
//! over to the command (`src/cli/`, one file each).

mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::args::{Cli, Command, LogFormat};

/// Evaluation and rendering allocate a few small values per row and per message on several
/// threads (sqlx's SQLite workers and Tokio's); glibc's allocator took a fifth of a preview's
/// samples. mimalloc (3.6 s of build) made the 100k-customer preview ≈ 30 % faster
/// (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The service reports what it does at info; one-shot commands only warn.
    let default_level = if matches!(cli.command, Command::Serve) {
        "info,sqlx=warn,apalis=warn,apalis_core=warn,apalis_sqlite=warn,apalis_postgres=warn"
    } else {
        "warn"
    };
    init_logging(cli.log_format, default_level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The command runs as a task on the runtime's workers, not on this thread: a future given
    // to `block_on` is polled by the main thread, so every socket or channel wake-up it waits
    // for is handed over from a worker thread (a futex wake and two context switches). With
    // delivery's SMTP answers, that hand-off was a large share of the process's CPU
    // (BENCHMARKS.md); a worker that finds the task ready polls it itself.
    let result = runtime.block_on(async {
        match tokio::spawn(cli::run(cli)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(anyhow::Error::new(e).context("the command was cancelled")),
        }
    });
    // The command is done and its store closed. Dropping the runtime would wait for every task
    // without limit, and a pool's maintenance task polled after the timer shut down can spin
    // forever (seen in a test run after a stalled SMTP attempt): leftovers get a moment.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(code) => code,
        // `… | head` closed the pipe: the reader has what it wanted.
        Err(e) if cli::output::is_closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli::output::describe(&e));
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal, never into the journal or a file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
