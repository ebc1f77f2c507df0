//! Hale's storage.
//!
//! Everything Hale keeps lives behind one small transaction API, implemented twice:
//! for an embedded SQLite file (one machine) and for PostgreSQL (several replicas).
//!
//! * [`Tx`] is the connection-level trait both backends implement: execute a
//!   statement, run a query, run a DDL batch. SQL is written once, with PostgreSQL's
//!   `$1` placeholders, in the portable subset both databases accept.
//! * [`Store::read`] and [`Store::write`] run a synchronous closure inside one
//!   transaction on a blocking thread. Closures never await, which keeps
//!   transactions short and lets SQLite's single writer *group-commit*: writes that
//!   arrive together run as savepoints inside one transaction and share one fsync.
//! * The repository modules ([`tenants`], [`users`], …) map domain types to rows,
//!   once, on top of [`Tx`].
//!
//! Invariant: this crate knows SQL and the domain's data types; it knows nothing of
//! HTTP, and makes no policy decision (what is allowed is decided by the domain
//! crates before a write is attempted).

mod migrate;
mod pg_pipeline;
mod postgres;
mod sqlite;
mod value;

pub mod applications;
pub mod arm;
pub mod claims_mapping;
pub mod directory_roles;
pub mod extension_properties;
pub mod grants;
pub mod groups;
pub mod health;
pub mod meta;
pub mod principals;
pub mod sign_in;
pub mod sign_in_log;
pub mod signing_keys;
pub mod tenants;
pub mod users;

#[cfg(feature = "test-support")]
pub mod test_support;

use std::fmt;

pub use migrate::{LATEST_SCHEMA_VERSION, SchemaVersion};
pub use value::{FromValue, Row, Value};

/// A transaction on either backend. Obtained only inside [`Store::read`] or
/// [`Store::write`]; every call runs within that one transaction.
pub trait Tx {
    /// Runs one statement and returns the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    /// Runs one query and returns all of its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;
    /// Runs several `;`-separated statements without parameters (migrations).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// Which database this is, for the rare statement that must differ.
    fn dialect(&self) -> Dialect;

    /// Runs a query expected to return at most one row.
    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        let mut rows = self.query(sql, params)?;
        match rows.len() {
            0 => Ok(None),
            1 => Ok(rows.pop()),
            n => Err(StoreError::Decode(format!(
                "expected at most one row, got {n}"
            ))),
        }
    }
}

/// The SQL dialect behind a [`Tx`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Errors from the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid database URL {url:?}: {why}")]
    InvalidUrl { url: String, why: String },
    #[error("cannot open database {target}: {why}")]
    Unreachable { target: String, why: String },
    #[error(
        "database {target} has schema version {found}, written by a newer Hale ({written_by}); this Hale ({ours}) knows schema versions up to {known}: upgrade Hale or use another database"
    )]
    NewerSchema {
        target: String,
        found: i64,
        known: i64,
        written_by: String,
        ours: &'static str,
    },
    /// A uniqueness or key constraint refused the write; carries the constraint's text.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("stored data could not be read: {0}")]
    Decode(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("the storage worker stopped")]
    WorkerGone,
}

/// Where the data lives, parsed from `--database-url`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://<path>` or `sqlite:<path>`: an embedded database file.
    Sqlite(std::path::PathBuf),
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses a database URL as given on the command line.
    pub fn parse(raw: &str) -> Result<Self, StoreError> {
        let invalid = |why: &str| StoreError::InvalidUrl {
            url: redact_url(raw),
            why: why.to_owned(),
        };
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            raw.parse::<::postgres::Config>()
                .map_err(|e| invalid(&e.to_string()))?;
            return Ok(DatabaseUrl::Postgres(raw.to_owned()));
        }
        if let Some(rest) = raw.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(invalid("the SQLite file path is empty"));
            }
            return Ok(DatabaseUrl::Sqlite(path.into()));
        }
        Err(invalid(
            "expected sqlite://<path> or postgres://user@host/db",
        ))
    }

    /// The URL with any password replaced by `***`, safe to log and print.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => redact_url(url),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Masks the password of a `scheme://user:password@host` URL, and any
/// `password=` query parameter.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let masked = k.eq_ignore_ascii_case("password");
                    (
                        k.into_owned(),
                        if masked { "***".into() } else { v.into_owned() },
                    )
                })
                .collect();
            if !pairs.is_empty() {
                url.query_pairs_mut().clear().extend_pairs(pairs);
            }
            url.to_string()
        }
        // Unparsable: show only the scheme, never risk printing a secret.
        Err(_) => match raw.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://…"),
            None => "…".into(),
        },
    }
}

enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// A handle on the database. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Store {
    backend: std::sync::Arc<Backend>,
    target: String,
}

impl Store {
    /// Opens (creating an SQLite file if needed) and migrates the database.
    /// Refuses a database whose schema is newer than this Hale knows.
    pub async fn open(url: &DatabaseUrl) -> Result<Store, StoreError> {
        let backend = match url {
            DatabaseUrl::Sqlite(path) => Backend::Sqlite(sqlite::SqliteStore::open(path).await?),
            DatabaseUrl::Postgres(raw) => Backend::Postgres(postgres::PgStore::open(raw).await?),
        };
        let store = Store {
            backend: std::sync::Arc::new(backend),
            target: url.redacted(),
        };
        let target = store.target.clone();
        store.write(move |tx| migrate::run(tx, &target)).await?;
        if let Backend::Postgres(p) = &*store.backend {
            p.watch_epoch()?;
        }
        Ok(store)
    }

    /// The current authorization epoch ([`arm::authz_epoch`]) when this
    /// process knows it without reading: on PostgreSQL, while its listener
    /// for the epoch's announcements is connected (a change committed through
    /// this process is known before its `write` returns; one from another
    /// replica a round trip after its commit). `None` means read it.
    pub fn known_authz_epoch(&self) -> Option<i64> {
        match &*self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(p) => p.known_epoch(),
        }
    }

    /// `sqlite` or `postgres`.
    pub fn dialect(&self) -> Dialect {
        match &*self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The database's location with secrets masked.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Runs `f` in a read-only transaction that sees one consistent snapshot.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match &*self.backend {
            Backend::Sqlite(s) => s.read(f).await,
            Backend::Postgres(p) => p.read(f).await,
        }
    }

    /// Like [`Store::read`], for a read known to be short (a few lookups by
    /// key, no scans): on SQLite it runs on the calling thread, where handing
    /// it to the blocking pool and back would cost more than the read itself
    /// (two thread wake-ups against tens of microseconds of SQLite work).
    /// On PostgreSQL it runs without a transaction (autocommit), saving the
    /// `BEGIN` and `ROLLBACK` round trips: each statement sees its own
    /// snapshot, so `f` must not need several statements to agree.
    pub async fn read_short<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match &*self.backend {
            Backend::Sqlite(s) => s.read_here(f),
            Backend::Postgres(p) => p.read_short(f).await,
        }
    }

    /// Runs one statement that looks rows up by key (an index lookup that
    /// answers in microseconds, never a scan) outside any transaction, and
    /// returns its rows. On PostgreSQL it is sent from the calling task over
    /// a connection shared with other such statements (pipelined), without
    /// the blocking-thread hand-off of [`Store::read_short`]; on SQLite it is
    /// [`Store::read_short`].
    pub async fn query_keyed(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.read_here(|tx| tx.query(sql, &params)),
            Backend::Postgres(p) => p.query_keyed(sql, &params).await,
        }
    }

    /// Runs `f` in a write transaction. If `f` returns `Err`, nothing it did is
    /// kept. `Ok` is returned only once the transaction is durably committed.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match &*self.backend {
            Backend::Sqlite(s) => s.write(f).await,
            Backend::Postgres(p) => p.write(f).await,
        }
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read(|tx| tx.query("SELECT 1", &[]).map(drop)).await
    }

    /// The schema version recorded in the database.
    pub async fn schema_version(&self) -> Result<SchemaVersion, StoreError> {
        self.read(migrate::current).await
    }
}

/// Runs blocking database work off the async executor.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Database(format!("storage task failed: {e}")))
}
