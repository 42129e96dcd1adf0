//! Test workspaces: a temporary directory with its own `rekindle.toml` and its own database
//! (a SQLite file, or a fresh PostgreSQL database dropped afterwards), and a way to run the
//! real `rekindle` binary in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor, PgConnection};

/// Where the tests find PostgreSQL: a URL of a database the test role may `CREATE DATABASE` from.
pub const POSTGRES_VAR: &str = "REKINDLE_TEST_POSTGRES";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite always; PostgreSQL when `REKINDLE_TEST_POSTGRES` is set. Under `CI=true` a missing
/// variable is a failure, not a silent skip.
pub fn backends() -> Vec<Backend> {
    if std::env::var(POSTGRES_VAR).is_ok_and(|v| !v.is_empty()) {
        return vec![Backend::Sqlite, Backend::Postgres];
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{POSTGRES_VAR} is not set under CI=true: the PostgreSQL tests must run");
    }
    eprintln!("WARNING: {POSTGRES_VAR} is not set; testing SQLite only, PostgreSQL is NOT tested");
    vec![Backend::Sqlite]
}

/// A PostgreSQL database created for one test and dropped when the test ends.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub fn create() -> PgDatabase {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin_url = std::env::var(POSTGRES_VAR).expect("postgres url");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "rekindle_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos
        );
        let sql = format!("CREATE DATABASE {name}");
        run_admin(&admin_url, sql);
        let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        PgDatabase { admin_url, name, url }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        run_admin(
            &self.admin_url,
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// Runs one statement on the admin database from a thread of its own, so it works from sync
/// tests and from inside a test's async runtime alike.
fn run_admin(admin_url: &str, sql: String) {
    let url = admin_url.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut conn = PgConnection::connect(&url)
                .await
                .expect("connect to test postgres");
            conn.execute(sqlx::AssertSqlSafe(sql))
                .await
                .expect("admin statement");
        })
    })
    .join()
    .unwrap();
}

/// The result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A directory with a `rekindle.toml` pointing at a database of its own.
pub struct Workspace {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub db_url: String,
    /// Environment every run of the binary in this workspace gets (secrets).
    pub env: Vec<(String, String)>,
    _pg: Option<PgDatabase>,
}

/// A 30-day win-back email rule: customers whose last visit is over a month old get one email.
pub const WIN_BACK_EMAIL: &str = r#"id = "win-back"
name = "Win back"
[trigger]
type = "inactive"
days = 30
[message]
channel = "email"
subject = "We miss you"
body = "Come back, {{ customer.first_name }}."
"#;

/// A link secret long enough to be accepted (at least 32 bytes).
pub const TEST_LINK_SECRET: &str = "test-link-secret-0123456789abcdef";

impl Workspace {
    pub fn new(backend: Backend) -> Workspace {
        Workspace::with_config(backend, "")
    }

    /// `extra` is appended to the generated `rekindle.toml` (top-level keys first).
    pub fn with_config(backend: Backend, extra: &str) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let (db_url, pg) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("rekindle.db").display()),
                None,
            ),
            Backend::Postgres => {
                let pg = PgDatabase::create();
                (pg.url.clone(), Some(pg))
            }
        };
        let config = format!("{extra}\n[database]\nurl = \"{db_url}\"\nmax_connections = 4\n");
        std::fs::write(dir.path().join("rekindle.toml"), config).unwrap();
        Workspace {
            backend,
            dir,
            db_url,
            env: Vec::new(),
            _pg: pg,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// Runs `rekindle ARGS` in the workspace with its configuration.
    pub fn rekindle(&self, args: &[&str]) -> Run {
        self.rekindle_env(args, &[])
    }

    /// Runs `rekindle ARGS` with extra environment variables (secrets).
    pub fn rekindle_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = command_in(self.dir.path(), args);
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.envs(env.iter().copied());
        Run::from(cmd.output().expect("run rekindle"))
    }

    /// The store as the library sees it, for checking what a command left behind.
    pub async fn store(&self) -> rekindle::store::Store {
        let cfg = rekindle::config::DatabaseConfig {
            url: self.db_url.clone(),
            max_connections: 2,
        };
        rekindle::store::Store::open(&cfg).await.unwrap()
    }
}

/// Runs the real binary in `dir` (where it finds `rekindle.toml`), with no stray environment.
pub fn rekindle_in(dir: &Path, args: &[&str]) -> Run {
    Run::from(command_in(dir, args).output().expect("run rekindle"))
}

/// The real binary, in `dir`, without any `REKINDLE_*` or log settings from the environment.
pub fn command_in(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rekindle"));
    cmd.args(args).current_dir(dir).env_remove("RUST_LOG");
    for (k, _) in
        std::env::vars().filter(|(k, _)| k.starts_with("REKINDLE_") && k != "REKINDLE_TEST_POSTGRES")
    {
        cmd.env_remove(k);
    }
    cmd
}

pub const CUSTOMERS_HEADER: &str = "id,name,email,phone,birthday,timezone,consent_email,consent_sms,tags";
pub const EVENTS_HEADER: &str = "id,customer_id,kind,occurred_at,amount,score";

/// Imports `n` customers `c00`, `c01`, … whose contact columns `contact(i)` gives (the
/// `email,phone,birthday,timezone,consent_email,consent_sms` part), each with one visit on
/// 2026-05-01 — a crowd that a 30-day win-back rule finds lapsed in June.
pub fn load_lapsed(ws: &Workspace, n: usize, contact: impl Fn(usize) -> String) {
    let mut customers = String::from(CUSTOMERS_HEADER);
    let mut events = String::from(EVENTS_HEADER);
    for i in 0..n {
        customers.push_str(&format!("\nc{i:02},C{i},{},", contact(i)));
        events.push_str(&format!("\nv{i:02},c{i:02},visit,2026-05-01T10:00:00Z,,"));
    }
    customers.push('\n');
    load(ws, &customers, &events);
}

/// `n` lapsed customers with email consent (see [`load_lapsed`]) and a win-back email to each
/// recorded and queued in the ledger as messages 1..=n, for tests that drive the store directly.
pub async fn queued_win_back_emails(ws: &Workspace, n: usize) -> rekindle::store::Store {
    ws.write(
        "rules/win-back.toml",
        "id = \"win-back\"\nname = \"W\"\n[trigger]\ntype = \"inactive\"\ndays = 30\n\
         [message]\nchannel = \"email\"\nsubject = \"s\"\nbody = \"b\"\n",
    );
    load_lapsed(ws, n, |i| format!("c{i}@example.com,,,UTC,yes,"));
    assert_eq!(ws.rekindle(&["evaluate", "--at", "2026-06-15T12:00:00Z"]).code, 0);
    let store = ws.store().await;
    assert_eq!(store.materialize_messages(0, None).await.unwrap(), n as u64);
    store
}

/// Imports customers and events from CSV text, asserting both succeed.
pub fn load(ws: &Workspace, customers: &str, events: &str) {
    ws.write("customers.csv", customers);
    ws.write("events.csv", events);
    let r = ws.rekindle(&["import", "customers", "customers.csv"]);
    assert_eq!(r.code, 0, "{:?}: {r:?}", ws.backend);
    let r = ws.rekindle(&["import", "events", "events.csv"]);
    assert_eq!(r.code, 0, "{:?}: {r:?}", ws.backend);
}

/// Whether `python3` can import `module`. Under `CI=true` a missing module is a failure (`.ci/run`
/// installs the test tools); elsewhere the caller skips, and this says so loudly.
pub fn python_module(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("python module {module} is not installed under CI=true: `.ci/run` installs it");
        }
        eprintln!("WARNING: python3 module {module} is not available; a test that needs it is NOT run");
    }
    ok
}

/// The emails the file outbox holds, in file-name order.
pub fn outbox_emails(ws: &Workspace) -> Vec<String> {
    let dir = ws.path("outbox/email");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}
