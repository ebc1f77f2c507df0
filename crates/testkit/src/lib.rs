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

/// Every test binary that runs a server runs it on Hale's own allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        // Rotation tests see a new key within a second.
        settings.signing_key_refresh = Duration::from_secs(1);
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

impl TestServer {
    /// Signs `claims` with the server's current signing key, exactly as Hale's
    /// token service signs access tokens (Entra's v1 header).
    pub async fn sign(&self, claims: &serde_json::Value) -> String {
        let settings = self.settings.clone();
        let store = hale_store::Store::open(&settings.effective_database_url())
            .await
            .expect("the server's database");
        let stored = store
            .read(hale_store::signing_keys::list)
            .await
            .expect("signing keys")
            .into_iter()
            .next()
            .expect("a signing key");
        let key_file = settings.data_dir.join("master.key");
        let (master, _) = hale_keys::MasterKey::load_or_create(
            settings.master_key.as_ref().map(|s| s.expose()),
            &key_file,
        )
        .expect("the master key");
        let key = hale_keys::SigningKey::unseal(
            stored.certificate,
            &stored.sealed_private_key,
            &master,
            stored.not_before,
            stored.not_after,
        )
        .expect("the signing key unseals");
        let signer = hale_jws::RsaSigner::from_pkcs8(key.pkcs8_der()).expect("an RSA key");
        signer
            .sign(&hale_jws::Header::entra_v1(&key.kid), claims)
            .expect("a signed token")
    }

    /// Claims of a v1 Graph access token for the default tenant, valid for an
    /// hour; `extra` is merged over them.
    pub fn graph_claims(&self, extra: serde_json::Value) -> serde_json::Value {
        let tenant = self.info().installation.tenant.id;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time after 1970")
            .as_secs() as i64;
        let mut claims = serde_json::json!({
            "aud": "https://graph.microsoft.com",
            "iss": format!("{}{tenant}/", self.info().public_url),
            "iat": now - 300,
            "nbf": now - 300,
            "exp": now + 3600,
            "tid": tenant.to_string(),
            "ver": "1.0",
        });
        if let (Some(base), serde_json::Value::Object(more)) = (claims.as_object_mut(), extra) {
            base.extend(more);
        }
        claims
    }

    /// A delegated Graph token for the administrator (Global Administrator)
    /// carrying `scopes` (space-separated).
    pub async fn admin_token(&self, scopes: &str) -> String {
        let tenant = self.info().installation.tenant.id;
        let upn = self.info().installation.admin_user_principal_name.clone();
        let store = hale_store::Store::open(&self.settings.effective_database_url())
            .await
            .expect("the server's database");
        let admin = store
            .read(move |tx| hale_store::users::by_upn(tx, tenant, &upn))
            .await
            .expect("read the administrator")
            .expect("the administrator exists");
        let claims = self.graph_claims(serde_json::json!({
            "oid": admin.id.to_string(),
            "sub": admin.id.to_string(),
            "upn": admin.user_principal_name,
            "idtyp": "user",
            "scp": scopes,
        }));
        self.sign(&claims).await
    }

    /// An app-only Graph token for a service principal holding `roles`.
    pub async fn app_token(&self, roles: &[&str]) -> String {
        let sp = hale_directory::ObjectId::new().to_string();
        let claims = self.graph_claims(serde_json::json!({
            "oid": sp,
            "sub": sp,
            "idtyp": "app",
            "appid": hale_directory::AppId::new().to_string(),
            "roles": roles,
        }));
        self.sign(&claims).await
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
