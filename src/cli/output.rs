//! Standard output for commands whose output is piped: `rules preview --format json | head`
//! closes the pipe early, and that must end the command quietly, not with a panic.

use std::io::Write;

/// Writes a line to standard output; a closed pipe becomes an error the caller passes up
/// with `?`, which `main` turns into a quiet exit (see `is_closed_pipe`).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))?
    };
}

pub fn line(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_fmt(args)?;
    stdout.write_all(b"\n")
}

/// Text without a trailing line break added.
pub fn text(s: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(s.as_bytes())?;
    stdout.flush()
}

/// Whether an error is, at bottom, a write to a pipe nobody reads any more.
pub fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line, leaving out a cause whose text an outer message
/// already quotes (so `file.csv: No such file or directory` is not said twice).
pub fn describe(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let io = std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "No such file or directory (os error 2)",
        );
        let e = anyhow::Error::new(io).context("nosuchfile.csv: No such file or directory (os error 2)");
        let e = e.context("importing nosuchfile.csv");
        assert_eq!(
            describe(&e),
            "importing nosuchfile.csv: nosuchfile.csv: No such file or directory (os error 2)"
        );
        let r: anyhow::Result<()> = Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe).into());
        assert!(is_closed_pipe(&r.context("writing").unwrap_err()));
    }
}
