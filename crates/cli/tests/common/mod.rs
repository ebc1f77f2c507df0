//! What the CLI tests share: a `hale` command with a clean environment and a
//! `hale serve` process started from the binary.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use hale_store::test_support::TestDatabase;

/// The `hale` binary under test.
pub const HALE: &str = env!("CARGO_BIN_EXE_hale");

pub fn hale(dir: &Path) -> Command {
    let mut cmd = Command::new(HALE);
    cmd.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("HALE_") && !key.starts_with("HALE_TEST_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("HALE_LOG_FORMAT", "json");
    cmd
}

/// A `hale serve` process, killed when dropped.
pub struct Served {
    child: Child,
    pub url: String,
    pub ca: String,
    /// The banner it printed.
    pub stdout: String,
}

impl Served {
    pub fn start(dir: &Path, database: &str) -> Served {
        Served::start_with(dir, &[], database)
    }

    /// With more `serve` flags.
    pub fn start_with(dir: &Path, extra: &[&str], database: &str) -> Served {
        let mut child = hale(dir)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database,
            ])
            .args(extra)
            .env("HALE_ADMIN_PASSWORD", "Cli-Test-Password-1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("hale starts");
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut stdout = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || Instant::now() > deadline {
                panic!("hale stopped before it was ready:\n{stdout}");
            }
            stdout.push_str(&line);
            if line.trim_start().starts_with("curl --cacert") {
                break;
            }
        }
        let url = stdout
            .lines()
            .next()
            .and_then(|l| l.rsplit(' ').next())
            .expect("the listening line")
            .to_owned();
        let mut served = Served {
            child,
            url,
            ca: String::new(),
            stdout,
        };
        served.ca = served.line("CA certificate");
        served
    }

    /// The value of the banner line starting with `label`.
    pub fn line(&self, label: &str) -> String {
        self.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label} line in:\n{}", self.stdout))
            .trim_start()[label.len()..]
            .trim()
            .to_owned()
    }

    /// Stops it with SIGTERM and waits.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A command's standard output, trimmed.
pub fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A command's standard error.
pub fn err(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The URL `hale serve --database-url` takes for a test database.
pub fn database_url(db: &TestDatabase) -> String {
    match &db.url {
        hale_store::DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        hale_store::DatabaseUrl::Postgres(url) => url.clone(),
    }
}
