//! Hale's key material.
//!
//! * [`MasterKey`]: the key that seals secrets at rest (signing keys' private
//!   halves). It lives apart from the database: a file in the data directory or
//!   the `HALE_MASTER_KEY` environment variable.
//! * [`LocalCa`]: the local certificate authority made at first start, and the
//!   ECDSA P-256 TLS certificate it issues for the server's names.
//! * [`SecretDigester`]: keyed digests of client secrets.
//! * [`SigningKey`]: RSA-2048 token signing keys with their self-signed
//!   certificates (published as `x5c`; `kid` = `x5t` = SHA-1 thumbprint).
//!
//! Invariant: no HTTP, no SQL, no knowledge of tenants or tokens' contents. Files
//! are written atomically (temporary file, then rename) with owner-only
//! permissions for anything secret.

mod digest;
mod files;
mod master;
mod signing;
mod tls;

pub use digest::SecretDigester;
pub use files::write_atomic;
pub use master::{MasterKey, MasterKeySource};
pub use signing::{SigningKey, thumbprint};
pub use tls::{LocalCa, TlsFiles, ensure_server_certificate};

/// Errors from key handling.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {why}")]
    File { path: String, why: String },
    #[error("HALE_MASTER_KEY must be 32 bytes, base64-encoded: {0}")]
    BadMasterKey(String),
    #[error(
        "a sealed secret could not be opened: the master key does not match the one it was sealed with"
    )]
    WrongMasterKey,
    #[error("key generation failed: {0}")]
    Generation(String),
    #[error("certificate error: {0}")]
    Certificate(String),
}

impl KeyError {
    fn file(path: &std::path::Path, why: impl std::fmt::Display) -> Self {
        KeyError::File {
            path: path.display().to_string(),
            why: why.to_string(),
        }
    }
}
