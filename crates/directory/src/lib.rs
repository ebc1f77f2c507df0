//! Hale's directory: the Entra ID objects an administrator manages.
//!
//! Tenants, users (argon2id passwords), service principals, first-party
//! applications and directory roles, with the rules that make each valid. Later:
//! applications, groups, credentials, consent grants.
//!
//! Invariant: pure domain code. No HTTP, no SQL, no I/O; persistence is the
//! `store` crate's job and protocols are the server's.

mod ids;
mod password;
mod principal;
mod roles;
mod tenant;

pub mod first_party;

pub use ids::{AppId, ObjectId, TenantId};
pub use password::{PasswordHash, generate_password};
pub use principal::ServicePrincipal;
pub use roles::DirectoryRole;
pub use tenant::{Tenant, User, validate_domain};

/// Errors raised by directory rules.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DirectoryError {
    #[error("invalid domain name {0:?}: {1}")]
    InvalidDomain(String, &'static str),
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
}
