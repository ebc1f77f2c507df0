//! The test harness every HTTP test uses.
//!
//! [`TestServer::start`] runs a real Hale server inside the test process: HTTPS
//! from its own local CA, an ephemeral port on 127.0.0.1, a temporary data
//! directory, and a database that is SQLite by default or a fresh PostgreSQL
//! database when `HALE_TEST_DATABASE_URL` is set. [`TestServer::client`] trusts
//! that CA and nothing else.
//!
//! Invariant: test support only; no production crate depends on it.

use std::path::Path;
use std::time::Duration;

use hale_server::{RunningServer, Secret, Settings, StartError, StartInfo};
use hale_store::test_support::TestDatabase;
use url::Url;

/// The administrator password every test server is created with.
pub const ADMIN_PASSWORD: &str = "Test-Admin-Password-1";

/// A Hale server running inside the test.
pub struct TestServer {
    server: Option<RunningServer>,
    settings: Settings,
    client: reqwest::Client,
    // Dropped last: the data directory and database outlive the server.
    _database: TestDatabase,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server on the defaults Hale uses, in a fresh data directory.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` has changed its settings.
    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let database = TestDatabase::create().await.expect("test database");
        let mut settings = Self::settings_in(&dir.path().join("data"));
        settings.database_url = Some(database.url.clone());
        adjust(&mut settings);
        let server = hale_server::start(settings.clone())
            .await
            .unwrap_or_else(|e| panic!("test server failed to start: {e}"));
        let client = client_for(server.info());
        TestServer {
            server: Some(server),
            settings,
            client,
            _database: database,
            _dir: dir,
        }
    }

    /// The settings a test server uses for `data_dir` (ephemeral port, fixed
    /// administrator password, short shutdown grace).
    pub fn settings_in(data_dir: &Path) -> Settings {
        let mut settings = Settings::new(data_dir);
        settings.listen = "127.0.0.1:0".parse().expect("socket address");
        settings.admin_password = Some(Secret::new(ADMIN_PASSWORD.into()));
        settings.shutdown_grace = Duration::from_secs(5);
        settings
    }

    /// What the server reported at start.
    pub fn info(&self) -> &StartInfo {
        self.server.as_ref().expect("server running").info()
    }

    /// The settings it was started with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// An HTTPS client that trusts this server's CA (and no other root).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> Url {
        self.info().public_url.join(path).expect("a valid path")
    }

    /// Stops the server gracefully and starts it again on the same data
    /// directory and database (on a new port).
    pub async fn restart(mut self) -> Result<TestServer, StartError> {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
        let server = hale_server::start(self.settings.clone()).await?;
        self.client = client_for(server.info());
        self.server = Some(server);
        Ok(self)
    }

    /// Stops the server gracefully. What it leaves behind (data directory and
    /// database) lives as long as the returned value.
    pub async fn stop(mut self) -> Stopped {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
        Stopped {
            settings: self.settings,
            _database: self._database,
            _dir: self._dir,
        }
    }
}

/// A stopped test server's data, kept for inspection until dropped.
pub struct Stopped {
    pub settings: Settings,
    _database: TestDatabase,
    _dir: tempfile::TempDir,
}

impl Stopped {
    /// Opens the stopped server's database.
    pub async fn open_store(&self) -> hale_store::Store {
        hale_store::Store::open(&self.settings.effective_database_url())
            .await
            .expect("the stopped server's database")
    }
}

/// A client trusting exactly the CA of the server described by `info`.
pub fn client_for(info: &StartInfo) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if let Some(ca) = &info.ca_cert {
        let pem = std::fs::read(ca).expect("the server's CA certificate");
        builder = builder
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM certificate"));
    }
    builder.build().expect("an HTTP client")
}
