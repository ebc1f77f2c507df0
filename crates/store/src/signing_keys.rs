//! Token signing keys. Private keys arrive and leave sealed: this module never
//! sees key material in the clear.

use time::OffsetDateTime;

use crate::{Row, StoreError, Tx, params};

/// A stored signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    /// Key ID as published in JWKS (`kid`, equal to `x5t`).
    pub kid: String,
    /// JWS algorithm, e.g. `RS256`.
    pub algorithm: String,
    /// The self-signed X.509 certificate (DER) published as `x5c`.
    pub certificate: Vec<u8>,
    /// The PKCS#8 private key sealed with the master key.
    pub sealed_private_key: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

const COLUMNS: &str =
    "kid, algorithm, certificate, sealed_private_key, not_before, not_after, created_at";

fn from_row(row: &Row) -> Result<StoredSigningKey, StoreError> {
    Ok(StoredSigningKey {
        kid: row.get(0)?,
        algorithm: row.get(1)?,
        certificate: row.get(2)?,
        sealed_private_key: row.get(3)?,
        not_before: row.get(4)?,
        not_after: row.get(5)?,
        created_at: row.get(6)?,
    })
}

/// Adds a signing key.
pub fn insert(tx: &mut dyn Tx, k: &StoredSigningKey) -> Result<(), StoreError> {
    tx.execute(
        &format!("INSERT INTO signing_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
        params![
            &k.kid,
            &k.algorithm,
            k.certificate.as_slice(),
            k.sealed_private_key.as_slice(),
            k.not_before,
            k.not_after,
            k.created_at
        ],
    )
    .map(drop)
}

/// Every signing key, newest first.
pub fn list(tx: &mut dyn Tx) -> Result<Vec<StoredSigningKey>, StoreError> {
    tx.query(
        &format!("SELECT {COLUMNS} FROM signing_keys ORDER BY created_at DESC, kid"),
        &[],
    )?
    .iter()
    .map(from_row)
    .collect()
}
