//! Embedded, versioned schema migrations.
//!
//! Each migration is one SQL file under `migrations/`, written once in the subset
//! both databases accept (`BLOB` is spelled `BYTEA` for PostgreSQL, and SQLite's
//! rowid `INTEGER PRIMARY KEY` becomes an identity column; SQLite's `WITHOUT
//! ROWID` tables are ordinary tables there). All pending
//! migrations run in one transaction at start, so a failed upgrade leaves the
//! database as it was. A database whose recorded version is newer than the newest
//! migration compiled in was written by a newer Hale and is refused.

use time::OffsetDateTime;

use crate::{Dialect, StoreError, Tx, params};

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
    /// The PostgreSQL text, where the shared subset cannot say it (triggers).
    postgres: Option<&'static str>,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "directory, resource manager and signing keys",
        sql: include_str!("../migrations/0001_init.sql"),
        postgres: None,
    },
    Migration {
        version: 2,
        name: "applications and client secrets",
        sql: include_str!("../migrations/0002_applications.sql"),
        postgres: None,
    },
    Migration {
        version: 3,
        name: "consent grants, app role assignments and sign-in secrets",
        sql: include_str!("../migrations/0003_consent_and_sign_in.sql"),
        postgres: None,
    },
    Migration {
        version: 4,
        name: "users' profiles, groups and group members",
        sql: include_str!("../migrations/0004_users_groups.sql"),
        postgres: None,
    },
    Migration {
        version: 5,
        name: "health workspaces, FHIR and DICOM services, role assignment details",
        sql: include_str!("../migrations/0005_health.sql"),
        postgres: None,
    },
    Migration {
        version: 6,
        name: "sign-in log and smart lockout",
        sql: include_str!("../migrations/0006_sign_in_log.sql"),
        postgres: None,
    },
    Migration {
        version: 7,
        name: "data partitions, FHIR resources and search indexes",
        sql: include_str!("../migrations/0007_fhir.sql"),
        postgres: None,
    },
    Migration {
        version: 8,
        name: "DICOM index, change feed and blob journal",
        sql: include_str!("../migrations/0008_dicom.sql"),
        postgres: None,
    },
    Migration {
        version: 9,
        name: "DICOM extended query tags and operations",
        sql: include_str!("../migrations/0009_dicom_extended_query_tags.sql"),
        postgres: None,
    },
    Migration {
        version: 10,
        name: "DICOM frame index",
        sql: include_str!("../migrations/0010_dicom_frame_index.sql"),
        postgres: None,
    },
    Migration {
        version: 11,
        name: "authorization epoch",
        sql: include_str!("../migrations/0011_authz_epoch.sql"),
        postgres: Some(include_str!("../migrations/0011_authz_epoch.pg.sql")),
    },
    Migration {
        version: 12,
        name: "FHIR bulk export jobs",
        sql: include_str!("../migrations/0012_fhir_export.sql"),
        postgres: None,
    },
    Migration {
        version: 13,
        name: "authorization epoch announced to replicas",
        sql: include_str!("../migrations/0013_authz_notify.sql"),
        postgres: Some(include_str!("../migrations/0013_authz_notify.pg.sql")),
    },
    Migration {
        version: 14,
        name: "CORS settings of health services",
        sql: include_str!("../migrations/0014_service_cors.sql"),
        postgres: None,
    },
    Migration {
        version: 15,
        name: "SMART identity providers of FHIR services",
        sql: include_str!("../migrations/0015_smart_identity_providers.sql"),
        postgres: None,
    },
    Migration {
        version: 16,
        name: "claims-mapping policies and their assignments",
        sql: include_str!("../migrations/0016_claims_mapping.sql"),
        postgres: None,
    },
    Migration {
        version: 17,
        name: "directory extensions of applications",
        sql: include_str!("../migrations/0017_extension_properties.sql"),
        postgres: None,
    },
];

/// The newest schema version this build knows.
pub const LATEST_SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// The schema version recorded in a database, and the Hale that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaVersion {
    pub version: i64,
    pub written_by: String,
}

const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS hale_schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    hale_version TEXT NOT NULL
)";

/// Arbitrary but fixed key for PostgreSQL's advisory lock, so replicas starting
/// together migrate one at a time.
const MIGRATION_LOCK: i64 = 0x4841_4c45_4d49_4752; // "HALEMIGR"

pub(crate) fn run(tx: &mut dyn Tx, target: &str) -> Result<(), StoreError> {
    if tx.dialect() == Dialect::Postgres {
        tx.query("SELECT pg_advisory_xact_lock($1)", params![MIGRATION_LOCK])?;
    }
    tx.batch(CREATE_LEDGER)?;
    let current = current(tx)?;
    if current.version > LATEST_SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            target: target.to_owned(),
            found: current.version,
            known: LATEST_SCHEMA_VERSION,
            written_by: current.written_by,
            ours: env!("CARGO_PKG_VERSION"),
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current.version) {
        let sql = match (tx.dialect(), m.postgres) {
            (Dialect::Sqlite, _) => m.sql.to_owned(),
            (Dialect::Postgres, Some(own)) => own.to_owned(),
            // PostgreSQL has no WITHOUT ROWID tables (every table is a heap).
            (Dialect::Postgres, None) => m
                .sql
                .replace(" BLOB", " BYTEA")
                .replace(
                    " INTEGER PRIMARY KEY",
                    " BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                )
                .replace(") WITHOUT ROWID;", ");"),
        };
        tx.batch(&sql)?;
        tx.execute(
            "INSERT INTO hale_schema_migrations (version, name, applied_at, hale_version) VALUES ($1, $2, $3, $4)",
            params![m.version, m.name, OffsetDateTime::now_utc(), env!("CARGO_PKG_VERSION")],
        )?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied schema migration"
        );
    }
    Ok(())
}

pub(crate) fn current(tx: &mut dyn Tx) -> Result<SchemaVersion, StoreError> {
    let row = tx.query_opt(
        "SELECT version, hale_version FROM hale_schema_migrations ORDER BY version DESC LIMIT 1",
        &[],
    )?;
    Ok(match row {
        Some(row) => SchemaVersion {
            version: row.get(0)?,
            written_by: row.get(1)?,
        },
        None => SchemaVersion {
            version: 0,
            written_by: String::new(),
        },
    })
}
