//! The settings a server starts with. How they are gathered (flags, environment,
//! file) is the CLI's business; this is the resolved result.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hale_blob::BlobUrl;
use hale_store::DatabaseUrl;
use url::Url;
use zeroize::Zeroizing;

/// The default listen address.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8443);
/// The default tenant domain.
pub const DEFAULT_TENANT_DOMAIN: &str = "hale.local";

/// How the server speaks TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// A certificate from the local CA in the data directory, for `localhost`,
    /// `127.0.0.1`, `::1`, the public URL's host and these extra names.
    LocalCa { extra_hostnames: Vec<String> },
    /// The operator's own certificate chain and private key (PEM files).
    Files { cert: PathBuf, key: PathBuf },
    /// Plain HTTP, e.g. behind a TLS-terminating load balancer.
    Off,
}

/// A secret setting, never printed or logged.
#[derive(Clone)]
pub struct Secret(pub Zeroizing<String>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(Zeroizing::new(value))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Everything `hale serve` needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where Hale keeps its files: the SQLite database (by default), the master
    /// key, the local CA and TLS certificate, the blob folder (by default).
    pub data_dir: PathBuf,
    /// Address and port to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The URL clients use to reach this server (issuers, links). Derived from
    /// the listen address when absent.
    pub public_url: Option<Url>,
    /// The database; an SQLite file in the data directory when absent.
    pub database_url: Option<DatabaseUrl>,
    /// The blob store; a folder in the data directory when absent.
    pub blob_url: Option<BlobUrl>,
    pub tls: Tls,
    /// Domain of the tenant made at first start (later starts ignore it).
    pub tenant_domain: String,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// The administrator's password at first start; generated when absent.
    pub admin_password: Option<Secret>,
    /// The master key (base64, 32 bytes); a key file in the data directory when absent.
    pub master_key: Option<Secret>,
    /// Refresh tokens work once (each use revokes the one used) instead of
    /// staying valid until they expire, as in Entra.
    pub strict_refresh_token_rotation: bool,
    /// How often a running server re-reads the signing keys (to pick up a
    /// rotation). Not a command-line setting.
    pub signing_key_refresh: Duration,
    /// The largest DICOM STOW-RS request body and instance, in bytes (Azure:
    /// 2 GB). One instance is held in memory at a time while it is stored.
    /// Not a command-line setting.
    pub dicom_max_request_bytes: u64,
    /// How long a finished FHIR `$export` job (completed, failed or
    /// cancelled) and its files are kept.
    pub export_retention: Duration,
}

/// How long finished `$export` jobs and their files are kept by default: a day.
pub const DEFAULT_EXPORT_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

impl Settings {
    /// The defaults, with data kept in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Settings {
        Settings {
            data_dir: data_dir.into(),
            listen: DEFAULT_LISTEN,
            public_url: None,
            database_url: None,
            blob_url: None,
            tls: Tls::LocalCa {
                extra_hostnames: Vec::new(),
            },
            tenant_domain: DEFAULT_TENANT_DOMAIN.into(),
            shutdown_grace: Duration::from_secs(30),
            admin_password: None,
            master_key: None,
            signing_key_refresh: Duration::from_secs(30),
            strict_refresh_token_rotation: false,
            dicom_max_request_bytes: hale_dicom::MAX_INSTANCE_BYTES,
            export_retention: DEFAULT_EXPORT_RETENTION,
        }
    }

    /// The database URL in effect.
    pub fn effective_database_url(&self) -> DatabaseUrl {
        self.database_url
            .clone()
            .unwrap_or_else(|| DatabaseUrl::Sqlite(self.data_dir.join("hale.db")))
    }

    /// The blob store URL in effect.
    pub fn effective_blob_url(&self) -> BlobUrl {
        self.blob_url
            .clone()
            .unwrap_or_else(|| BlobUrl::Local(self.data_dir.join("blobs")))
    }

    /// The public URL in effect once the server listens on `bound`.
    pub fn effective_public_url(&self, bound: SocketAddr) -> Url {
        if let Some(url) = &self.public_url {
            // Issuers and links are built by appending to it: end it with a slash.
            let mut url = url.clone();
            if !url.path().ends_with('/') {
                let path = format!("{}/", url.path());
                url.set_path(&path);
            }
            url.set_query(None);
            url.set_fragment(None);
            return url;
        }
        let scheme = if self.tls == Tls::Off {
            "http"
        } else {
            "https"
        };
        let host = match bound.ip() {
            ip if ip.is_unspecified() => "localhost".to_owned(),
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        };
        Url::parse(&format!("{scheme}://{host}:{}/", bound.port())).expect("a valid URL")
    }

    /// Where the local CA and the TLS certificate live.
    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }

    /// The master key file, when the key is not given by environment.
    pub fn master_key_file(&self) -> PathBuf {
        self.data_dir.join("master.key")
    }
}

/// Makes `path` absolute against the working directory, without touching the
/// file system (so a path that does not exist yet still resolves).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
