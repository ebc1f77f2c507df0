//! The DICOM service's storage, on [`hale_store::Tx`]: the instance, series
//! and study index ([`instances`]), QIDO-RS compiled to SQL ([`qido`]), the
//! change feed ([`changefeed`]) and the blob journal that keeps the index and
//! the blob store consistent across crashes ([`journal`]).
//!
//! # Crash safety (STOW and delete)
//!
//! An instance is stored in three steps: [`instances::reserve`] commits a
//! *reserved* row (status 0) naming the blob key it will use; the caller
//! writes the blob and makes it durable; [`instances::commit`] turns the row
//! into a stored one (status 1) with its index values, in one transaction
//! with the series, study and change-feed rows. QIDO, WADO and the change
//! feed read stored rows only, so nothing is visible before its blob is
//! durable, and a STOW is acknowledged only after the commit.
//!
//! A crash after the reservation leaves a reserved row whose blob may or may
//! not exist. [`journal::expire_reservations`] moves reservations older than
//! the pending lifetime into `dicom_blob_trash`; [`journal::trash`] lists
//! blob keys to remove, and [`journal::forget`] drops them once removed. A
//! delete moves the blob keys of the deleted rows into the trash in the same
//! transaction that removes the rows. So every blob key ever written is, at
//! every instant, named by a reserved row, a stored row or a trash row: after
//! a crash, a sweep finds every orphan.
//!
//! Invariant: knows SQL and DICOM's storage semantics; nothing of HTTP.
//! Data is always scoped by a service's partition number (`svc`).

pub mod changefeed;
pub mod extended;
pub mod instances;
pub mod journal;
pub mod qido;
mod records;

pub use records::LevelRecord;

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// A UID as the index compares it: ASCII lower-case (Azure compares
/// identifiers case-insensitively; valid identifiers are ASCII).
pub fn uid_key(uid: &str) -> String {
    uid.to_ascii_lowercase()
}
