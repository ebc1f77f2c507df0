//! The start-up sequence and the running server.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum_server::Handle;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hale_blob::BlobStore;
use hale_directory::validate_domain;
use hale_keys::{LocalCa, MasterKey, ensure_server_certificate};
use hale_store::Store;
use url::Url;

use crate::bootstrap::{self, Installation};
use crate::http::{self, AppState};
use crate::settings::{Settings, Tls, absolute};
use crate::{StartError, tls};

/// What a started server tells its operator.
#[derive(Debug)]
pub struct StartInfo {
    /// The address actually bound (the port is known even when 0 was asked).
    pub local_addr: SocketAddr,
    /// The URL clients use: the origin of every issuer and link.
    pub public_url: Url,
    pub data_dir: PathBuf,
    /// The database, password masked.
    pub database: String,
    pub blobs: String,
    /// The local CA certificate clients must trust (local-CA TLS only).
    pub ca_cert: Option<PathBuf>,
    /// System roots plus the local CA, for `REQUESTS_CA_BUNDLE`.
    pub ca_bundle: Option<PathBuf>,
    pub installation: Installation,
}

/// A server that is accepting connections.
pub struct RunningServer {
    info: StartInfo,
    handle: Handle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    grace: Duration,
}

impl RunningServer {
    /// What the start found and made.
    pub fn info(&self) -> &StartInfo {
        &self.info
    }

    /// Stops accepting connections, lets in-flight requests finish (up to the
    /// shutdown grace period), then returns.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.handle.graceful_shutdown(Some(self.grace));
        self.wait().await
    }

    /// Waits until the server stops by itself (it does not, unless it fails).
    pub async fn wait(self) -> std::io::Result<()> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// Starts a server with `settings`. On error nothing this call created is left
/// behind: files and folders it made are removed.
pub async fn start(settings: Settings) -> Result<RunningServer, StartError> {
    validate(&settings)?;
    let listener = TcpListener::bind(settings.listen).map_err(|e| StartError::Listen {
        addr: settings.listen,
        why: e.to_string(),
    })?;
    let local_addr = listener.local_addr().map_err(|e| StartError::Listen {
        addr: settings.listen,
        why: e.to_string(),
    })?;
    let mut created = Created::default();
    let prepared = prepare(&settings, local_addr, &mut created).await;
    let (info, state, tls_config) = match prepared {
        Ok(parts) => parts,
        Err(e) => {
            created.undo();
            return Err(e);
        }
    };
    listener
        .set_nonblocking(true)
        .map_err(|e| StartError::Listen {
            addr: local_addr,
            why: e.to_string(),
        })?;
    let handle = Handle::new();
    // The FHIR definitions take tens of milliseconds to load: off the
    // request path, in the background.
    tokio::task::spawn_blocking(http::dataplane::warm_fhir);
    let app = axum::ServiceExt::<_>::into_make_service_with_connect_info::<SocketAddr>(
        tower::ServiceExt::map_request(http::router(state), http::fold_arm_prefix),
    );
    // TCP_NODELAY: a streamed body (DICOM multipart parts, a part header
    // then the blob) otherwise waits out Nagle against the client's delayed
    // ACK, about 40 ms per response.
    let task = match tls_config {
        Some(config) => {
            let acceptor = RustlsAcceptor::new(RustlsConfig::from_config(config))
                .acceptor(NoDelayAcceptor::new());
            let server = axum_server::from_tcp(listener)
                .acceptor(acceptor)
                .handle(handle.clone());
            tokio::spawn(server.serve(app))
        }
        None => {
            let server = axum_server::from_tcp(listener)
                .acceptor(NoDelayAcceptor::new())
                .handle(handle.clone());
            tokio::spawn(server.serve(app))
        }
    };
    tracing::info!(address = %local_addr, url = %info.public_url, "listening");
    Ok(RunningServer {
        info,
        handle,
        task,
        grace: settings.shutdown_grace,
    })
}

/// Checks what can be checked before anything is touched.
fn validate(settings: &Settings) -> Result<(), StartError> {
    validate_domain(&settings.tenant_domain).map_err(|e| StartError::Setting {
        name: "tenant-domain",
        why: e.to_string(),
    })?;
    if let Some(url) = &settings.public_url {
        if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
            return Err(StartError::Setting {
                name: "public-url",
                why: format!("{url} is not an http(s) URL with a host"),
            });
        }
        if url.scheme() == "http" && settings.tls != Tls::Off {
            return Err(StartError::Setting {
                name: "public-url",
                why: "an http:// public URL needs --insecure-http (clients cannot reach an HTTPS server over http)".into(),
            });
        }
    }
    if let Tls::Files { cert, key } = &settings.tls {
        for path in [cert, key] {
            if !path.is_file() {
                return Err(StartError::Tls(format!("{}: no such file", path.display())));
            }
        }
    }
    Ok(())
}

async fn prepare(
    settings: &Settings,
    local_addr: SocketAddr,
    created: &mut Created,
) -> Result<(StartInfo, AppState, Option<Arc<rustls::ServerConfig>>), StartError> {
    let data_dir = absolute(&settings.data_dir);
    prepare_data_dir(&data_dir, created)?;
    let settings = Settings {
        data_dir: data_dir.clone(),
        ..settings.clone()
    };

    let key_file = settings.master_key_file();
    created.track(&key_file);
    let master_key_env = settings.master_key.as_ref().map(|s| s.expose());
    let (master_key, _) = MasterKey::load_or_create(master_key_env, &key_file)?;

    let database_url = settings.effective_database_url();
    if let hale_store::DatabaseUrl::Sqlite(path) = &database_url {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            created.track(Path::new(&format!("{}{suffix}", path.display())));
        }
    }
    let store = Store::open(&database_url).await?;
    let installation = bootstrap::ensure(
        &store,
        &master_key,
        &settings.tenant_domain,
        settings.admin_password.as_ref(),
    )
    .await?;

    let public_url = settings.effective_public_url(local_addr);
    let (tls_config, ca_cert, ca_bundle) = match &settings.tls {
        Tls::Off => (None, None, None),
        Tls::Files { cert, key } => (Some(tls::server_config(cert, key)?), None, None),
        Tls::LocalCa { extra_hostnames } => {
            let dir = settings.tls_dir();
            created.track(&dir);
            let (ca, _) = LocalCa::load_or_create(&dir)?;
            let names = certificate_names(&public_url, extra_hostnames);
            let (files, _) = ensure_server_certificate(&ca, &dir, &names)?;
            let config = tls::server_config(&files.server_cert, &files.server_key)?;
            (Some(config), Some(files.ca_cert), Some(files.ca_bundle))
        }
    };

    let blob_url = settings.effective_blob_url();
    if let hale_blob::BlobUrl::Local(path) = &blob_url {
        created.track(&absolute(path));
    }
    let blobs = BlobStore::open(&blob_url).await?;

    let info = StartInfo {
        local_addr,
        public_url,
        data_dir,
        database: store.target().to_owned(),
        blobs: blobs.target().to_owned(),
        ca_cert,
        ca_bundle,
        installation,
    };
    let key_ring = std::sync::Arc::new(crate::http::auth::KeyRing::load(&store).await?);
    let secret_digester =
        std::sync::Arc::new(hale_keys::SecretDigester::for_client_secrets(&master_key));
    let signing = std::sync::Arc::new(
        crate::signing::SigningKeys::load(&store, master_key, settings.signing_key_refresh).await?,
    );
    let sign_ins = crate::http::sign_ins::SignInLog::start(store.clone());
    let state = AppState {
        store,
        blobs,
        public_url: info.public_url.clone(),
        secret_digester,
        sign_ins,
        tenant_cache: Default::default(),
        strict_refresh_token_rotation: settings.strict_refresh_token_rotation,
        max_secret_lifetime: hale_directory::DEFAULT_MAX_SECRET_LIFETIME,
        key_ring,
        signing,
        verified_tokens: std::sync::Arc::new(crate::http::auth::VerifiedTokens::new()),
        authz_cache: std::sync::Arc::new(crate::http::dataplane::AuthzCache::new()),
        smart_providers: std::sync::Arc::default(),
        dicom_max_request_bytes: settings.dicom_max_request_bytes,
        export_retention: settings.export_retention,
    };
    crate::http::start_dicom_sweeper(&state).await;
    crate::http::start_export_sweeper(&state);
    Ok((info, state, tls_config))
}

/// The names the local-CA certificate must cover.
fn certificate_names(public_url: &Url, extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    let public_host = match public_url.host() {
        Some(url::Host::Ipv6(ip)) => Some(ip.to_string()),
        Some(host) => Some(host.to_string()),
        None => None,
    };
    for name in public_host.into_iter().chain(extra.iter().cloned()) {
        let name = name.to_ascii_lowercase();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

fn prepare_data_dir(dir: &Path, created: &mut Created) -> Result<(), StartError> {
    let fail = |why: String| StartError::DataDir {
        path: dir.display().to_string(),
        why,
    };
    if dir.exists() {
        if !dir.is_dir() {
            return Err(fail("it exists and is not a directory".into()));
        }
    } else {
        // Remember the topmost directory this start makes, to remove on failure.
        let mut topmost = dir;
        while let Some(parent) = topmost.parent() {
            if parent.exists() {
                break;
            }
            topmost = parent;
        }
        created.track(topmost);
        // Private: it holds the database, the master key and the CA's key.
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| fail(e.to_string()))?;
    }
    let probe = dir.join(format!(".write-test-{}", std::process::id()));
    std::fs::write(&probe, b"hale")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| fail(format!("cannot write in it: {e}")))
}

/// Paths that did not exist before this start, removed if it fails.
#[derive(Default)]
struct Created(Vec<PathBuf>);

impl Created {
    fn track(&mut self, path: &Path) {
        if !path.exists() && !self.0.iter().any(|p| path.starts_with(p)) {
            self.0.push(path.to_path_buf());
        }
    }

    fn undo(self) {
        for path in self.0.into_iter().rev() {
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if let Err(e) = removed
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), error = %e, "could not remove after a failed start");
            }
        }
    }
}
