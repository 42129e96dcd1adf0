//! `rekindle users add NAME`: a password from standard input, hashed with argon2id into the
//! configuration file's `[http.dashboard_users]`; the file is checked before it is replaced.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use rekindle::config::{Config, DEFAULT_CONFIG_FILE};

use crate::out;

pub fn add(explicit: Option<&Path>, name: &str) -> anyhow::Result<ExitCode> {
    let path = explicit.unwrap_or(Path::new(DEFAULT_CONFIG_FILE));
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        // Typed passwords show on screen: pipe one in (`printf %s "$PW" | rekindle users add …`)
        // where that matters.
        eprint!(
            "Password for {name} (at least {} characters): ",
            rekindle::users::MIN_PASSWORD_CHARS
        );
        std::io::stderr().flush().ok();
    }
    let mut password = String::new();
    stdin
        .lock()
        .read_line(&mut password)
        .context("reading the password")?;
    let password = password.trim_end_matches(['\r', '\n']);
    let hash = rekindle::users::new_user(name, password)?;
    let updated = rekindle::users::with_user(&text, name, &hash);
    // The file must still be a valid configuration before it replaces the old one.
    if let Err(e) = Config::parse(&updated, path)
        .map_err(anyhow::Error::from)
        .and_then(|c| {
            c.validate(&path.display().to_string())?;
            Ok(())
        })
    {
        bail!("the configuration would not be valid with the user added, so it was left as it was: {e}");
    }
    let tmp = path.with_extension("toml.new");
    std::fs::write(&tmp, &updated).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    out!(
        "{name} may sign in at /report (in {}; a running service picks it up when restarted)",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
