//! Throwaway databases for tests: SQLite in a temporary directory, or, when
//! `HALE_TEST_DATABASE_URL` names a PostgreSQL server (an admin URL), a fresh
//! database on it for each test, so tests run in parallel without sharing state.

use crate::{DatabaseUrl, StoreError};

/// The environment variable naming a PostgreSQL server for tests.
pub const TEST_DATABASE_ENV: &str = "HALE_TEST_DATABASE_URL";

/// A database for one test; SQLite files are deleted when it is dropped.
pub struct TestDatabase {
    pub url: DatabaseUrl,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A fresh, empty database on the backend the environment selects.
    pub async fn create() -> Result<TestDatabase, StoreError> {
        match std::env::var(TEST_DATABASE_ENV) {
            Ok(admin) if !admin.is_empty() => Ok(TestDatabase {
                url: DatabaseUrl::Postgres(fresh_postgres_database(&admin).await?),
                _dir: None,
            }),
            _ => {
                let dir = tempfile::tempdir().map_err(|e| StoreError::Database(e.to_string()))?;
                Ok(TestDatabase {
                    url: DatabaseUrl::Sqlite(dir.path().join("hale.db")),
                    _dir: Some(dir),
                })
            }
        }
    }
}

/// Creates a uniquely named database on the server of `admin_url` and returns
/// a URL for it.
pub async fn fresh_postgres_database(admin_url: &str) -> Result<String, StoreError> {
    let admin = admin_url.to_owned();
    let name = format!("hale_test_{}", uuid::Uuid::new_v4().simple());
    let created = name.clone();
    crate::blocking(move || {
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).map_err(|e| {
            StoreError::Unreachable {
                target: crate::redact_url(&admin),
                why: e.to_string(),
            }
        })?;
        client
            .batch_execute(&format!("CREATE DATABASE {created}"))
            .map_err(|e| StoreError::Database(e.to_string()))
    })
    .await??;
    let mut url = url::Url::parse(admin_url).map_err(|e| StoreError::InvalidUrl {
        url: crate::redact_url(admin_url),
        why: e.to_string(),
    })?;
    url.set_path(&name);
    Ok(url.to_string())
}
