//! Hale's server: start-up, first start, and the HTTP wiring of every protocol.
//!
//! [`start`] takes resolved [`Settings`], claims the listen address, prepares the
//! data directory, key material, database and blob store, runs first start, and
//! serves until [`RunningServer::shutdown`]. A failed start removes whatever it
//! created and reports one [`StartError`] that names the setting or path at fault.
//!
//! Invariant: wiring only. Protocol handlers are thin and call the domain crates;
//! this crate writes no SQL (the `store` crate does) and decides no domain rule.

mod bootstrap;
mod cpu;
mod http;
mod settings;
mod signing;
mod start;
mod tls;

pub use bootstrap::{DEFAULT_LOCATION, DEFAULT_RESOURCE_GROUP, Installation};
pub use settings::{DEFAULT_LISTEN, DEFAULT_TENANT_DOMAIN, Secret, Settings, Tls, absolute};
pub use signing::{KeyInfo, list_signing_keys, rotate_signing_key};
pub use start::{RunningServer, StartInfo, start};

/// Why the server could not start. Each message is one line naming the setting
/// or path at fault.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr} (--listen): {why}")]
    Listen {
        addr: std::net::SocketAddr,
        why: String,
    },
    #[error("data directory {path} (--data-dir) is not usable: {why}")]
    DataDir { path: String, why: String },
    #[error("database (--database-url): {0}")]
    Database(#[from] hale_store::StoreError),
    #[error("blob store (--blob-url): {0}")]
    Blobs(#[from] hale_blob::BlobError),
    #[error("key material: {0}")]
    Keys(#[from] hale_keys::KeyError),
    #[error("TLS certificate (--tls-cert/--tls-key): {0}")]
    Tls(String),
    #[error("{name}: {why}")]
    Setting { name: &'static str, why: String },
    #[error(
        "the master key ({0}) is not the one this database was set up with; start with the original key file or HALE_MASTER_KEY"
    )]
    MasterKeyMismatch(String),
    #[error("first start failed: {0}")]
    Bootstrap(String),
}
