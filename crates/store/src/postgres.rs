//! The PostgreSQL backend: a pool of synchronous connections (the `postgres`
//! crate), used from blocking threads so that transaction closures are the same
//! synchronous code on both backends. Each connection caches its prepared
//! statements, so a query is parsed once per connection, not once per call.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, GenericClient, IsolationLevel, NoTls, Statement};

use crate::{Dialect, Row, StoreError, Tx, Value, blocking};

const POOL_SIZE: u32 = 16;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A pooled connection used this recently is handed out without the empty
/// query that proves an idle one still alive: that round trip doubled the
/// cost of a keyed read. One dead since is still noticed by its first
/// statement's error (a server restart fails the requests that were using
/// it, as it would have anyway).
const TRUST_RECENT_USE: Duration = Duration::from_secs(5);

pub(crate) struct PgStore {
    /// Always `Some` until dropped.
    pool: Option<r2d2::Pool<Manager>>,
    /// Tells the statistics keeper and the epoch watcher to stop.
    keeper: Arc<(Mutex<bool>, Condvar)>,
    /// The authorization epoch as PostgreSQL announces it.
    epoch: Arc<EpochWatch>,
    /// Opens connections as the pool does, for the epoch watcher's own.
    manager: Manager,
    /// Shared connections for keyed statements from the async runtime.
    pipelines: Box<crate::pg_pipeline::Pipelines>,
}

/// The channel the schema-13 trigger announces each new authorization epoch
/// on, its payload the new value.
const EPOCH_CHANNEL: &str = "hale_authz_epoch";
/// How long the watcher waits for an announcement before looking at its stop
/// flag; and how often it reads the epoch itself, which also proves its
/// connection alive (a silently dead connection would otherwise look quiet).
const EPOCH_WAIT: Duration = Duration::from_millis(500);
const EPOCH_CHECK_EVERY: Duration = Duration::from_secs(2);
/// How long the watcher waits before reconnecting after a failure.
const EPOCH_RETRY_AFTER: Duration = Duration::from_secs(1);

/// What this process knows of the authorization epoch without asking.
///
/// A dedicated connection LISTENs on [`EPOCH_CHANNEL`], so changes made by
/// any replica arrive within a round trip of their commit. Every pooled
/// connection listens too, and is drained after each use: a change committed
/// through this process is known before its `write` returns, so a request
/// that follows it on this replica is decided on the new epoch.
#[derive(Debug, Default)]
pub(crate) struct EpochWatch {
    /// The highest epoch announced or read.
    value: AtomicI64,
    /// Whether the dedicated connection is listening and was alive at its
    /// last check: while it is not, [`EpochWatch::current`] knows nothing.
    live: AtomicBool,
}

impl EpochWatch {
    fn saw(&self, n: i64) {
        self.value.fetch_max(n, Ordering::AcqRel);
    }

    fn saw_payload(&self, payload: &str) {
        if let Ok(n) = payload.parse() {
            self.saw(n);
        }
    }

    /// The current epoch, if the watcher is live.
    pub(crate) fn current(&self) -> Option<i64> {
        self.live
            .load(Ordering::Acquire)
            .then(|| self.value.load(Ordering::Acquire))
    }

    /// Takes the announcements a pooled connection has buffered.
    fn drain(&self, client: &mut Client) {
        let mut notes = client.notifications();
        if notes.is_empty() {
            return;
        }
        let mut pending = notes.iter();
        while let Ok(Some(note)) = FallibleIterator::next(&mut pending) {
            if note.channel() == EPOCH_CHANNEL {
                self.saw_payload(note.payload());
            }
        }
    }
}

/// Whether the keeper flag says stop, waiting up to `wait` for it.
fn stop_requested(stop: &(Mutex<bool>, Condvar), wait: Duration) -> bool {
    let (lock, signal) = stop;
    let Ok(stopped) = lock.lock() else {
        return true;
    };
    match signal.wait_timeout_while(stopped, wait, |s| !*s) {
        Ok((stopped, _)) => *stopped,
        Err(_) => true,
    }
}

/// The epoch watcher's thread: listens, and reconnects after failures until
/// the store is dropped.
fn watch_epoch(manager: Manager, watch: Arc<EpochWatch>, stop: Arc<(Mutex<bool>, Condvar)>) {
    loop {
        let outcome = listen_for_epochs(&manager, &watch, &stop);
        watch.live.store(false, Ordering::Release);
        match outcome {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "authorization epoch watcher lost its connection; reading the epoch per request until it is back");
            }
        }
        if stop_requested(&stop, EPOCH_RETRY_AFTER) {
            return;
        }
    }
}

/// One connection's life (its own, outside the pool, opened as the pool's
/// are, so already listening): read the epoch (after LISTEN, so nothing committed in
/// between is missed), then take announcements. Returns `Ok` when asked to
/// stop.
fn listen_for_epochs(
    manager: &Manager,
    watch: &EpochWatch,
    stop: &(Mutex<bool>, Condvar),
) -> Result<(), StoreError> {
    let PgConn {
        mut client,
        mut statements,
        ..
    } = r2d2::ManageConnection::connect(manager).map_err(map_err)?;
    let mut read = |client: &mut Client| {
        crate::arm::authz_epoch(&mut PgTx {
            tx: client,
            statements: &mut statements,
        })
    };
    watch.saw(read(&mut client)?);
    watch.live.store(true, Ordering::Release);
    let mut checked = Instant::now();
    loop {
        if stop_requested(stop, Duration::ZERO) {
            return Ok(());
        }
        {
            let mut notes = client.notifications();
            let mut waiting = notes.timeout_iter(EPOCH_WAIT);
            while let Some(note) = FallibleIterator::next(&mut waiting).map_err(map_err)? {
                watch.saw_payload(note.payload());
            }
        }
        // A closed connection ends the wait at once: the read reports it.
        if client.is_closed() || checked.elapsed() >= EPOCH_CHECK_EVERY {
            watch.saw(read(&mut client)?);
            checked = Instant::now();
        }
    }
}

/// How often the statistics keeper looks at the tables' change counters.
const STATISTICS_EVERY: Duration = Duration::from_secs(2);
/// Arbitrary but fixed key for PostgreSQL's advisory lock, so that one
/// replica at a time analyzes ("HALESTAT").
const STATISTICS_LOCK: i64 = 0x4841_4c45_5354_4154;

/// Keeps the planner's statistics close to the data. PostgreSQL's autovacuum
/// analyzes a table once a tenth of it has changed, but looks only once a
/// minute: a service loaded a minute ago is planned as if it were empty
/// (read by id and token searches scanned every row of their type). Every
/// [`STATISTICS_EVERY`], tables with more than 500 + 10 % changed rows since
/// their last analysis are analyzed, by one replica at a time. ANALYZE reads a
/// fixed-size sample, and invalidates the plans prepared before it.
fn keep_statistics(pool: r2d2::Pool<Manager>, stop: Arc<(Mutex<bool>, Condvar)>) {
    loop {
        if stop_requested(&stop, STATISTICS_EVERY) {
            return;
        }
        let Some(mut conn) = pool.try_get() else {
            continue;
        };
        if let Err(e) = analyze_changed(&mut conn.client) {
            tracing::warn!(error = %describe(&e), "refreshing planner statistics failed");
        }
    }
}

/// Analyzes the tables that changed enough since their last analysis.
/// Returns the tables analyzed.
fn analyze_changed(client: &mut Client) -> Result<Vec<String>, postgres::Error> {
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&STATISTICS_LOCK])?
        .get(0);
    if !locked {
        return Ok(Vec::new());
    }
    let result = (|| {
        let tables: Vec<String> = client
            .query(
                "SELECT relname::text FROM pg_stat_user_tables
                 WHERE schemaname = current_schema()
                   AND n_mod_since_analyze > 500 + 0.1 * n_live_tup",
                &[],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect();
        for table in &tables {
            client.batch_execute(&format!("ANALYZE \"{}\"", table.replace('"', "\"\"")))?;
        }
        Ok(tables)
    })();
    let _ = client.query_one("SELECT pg_advisory_unlock($1)", &[&STATISTICS_LOCK]);
    if let Ok(tables) = &result
        && !tables.is_empty()
    {
        tracing::debug!(?tables, "planner statistics refreshed");
    }
    result
}

impl Drop for PgStore {
    fn drop(&mut self) {
        let (lock, signal) = &*self.keeper;
        if let Ok(mut stopped) = lock.lock() {
            *stopped = true;
            signal.notify_all();
        }
        // Closing a synchronous postgres client blocks on its own runtime, which
        // panics inside an async context: let the last handle go on a plain thread.
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::Builder::new()
                .name("hale-pg-close".into())
                .spawn(move || drop(pool));
        }
    }
}

/// A pooled connection with its statement cache.
pub(crate) struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
    /// When a statement last succeeded on it (see [`TRUST_RECENT_USE`]).
    last_used: Instant,
}

#[derive(Clone)]
struct Manager {
    config: Arc<postgres::Config>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        // See [`EpochWatch`]: the commits of this connection announce
        // their epoch to it.
        client.batch_execute(&format!("LISTEN {EPOCH_CHANNEL}"))?;
        Ok(PgConn {
            client,
            statements: HashMap::new(),
            last_used: Instant::now(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), postgres::Error> {
        if conn.last_used.elapsed() < TRUST_RECENT_USE && !conn.client.is_closed() {
            return Ok(());
        }
        conn.client.simple_query("")?;
        conn.last_used = Instant::now();
        Ok(())
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

impl PgStore {
    pub(crate) async fn open(url: &str) -> Result<Self, StoreError> {
        let target = crate::redact_url(url);
        let unreachable = move |why: String| StoreError::Unreachable {
            target: target.clone(),
            why,
        };
        // Parsed once: the pool's synchronous connections and the pipelines'
        // asynchronous ones share the settings.
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| unreachable(e.to_string()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("hale");
        }
        let pipelines = Box::new(crate::pg_pipeline::Pipelines::new(config.clone()));
        let manager = Manager {
            config: Arc::new(postgres::Config::from(config)),
        };
        let for_watcher = manager.clone();
        blocking(move || {
            // Connect once up front so an unreachable server is reported at start,
            // clearly, instead of as a pool timeout on the first request.
            let first =
                r2d2::ManageConnection::connect(&manager).map_err(|e| unreachable(describe(&e)))?;
            let pool = r2d2::Pool::builder()
                .max_size(POOL_SIZE)
                .min_idle(Some(1))
                .connection_timeout(Duration::from_secs(30))
                .build_unchecked(manager);
            drop(first);
            let keeper = Arc::new((Mutex::new(false), Condvar::new()));
            let (for_keeper, stop) = (pool.clone(), keeper.clone());
            std::thread::Builder::new()
                .name("hale-pg-stats".into())
                .spawn(move || keep_statistics(for_keeper, stop))
                .map_err(|e| StoreError::Database(format!("cannot start a thread: {e}")))?;
            Ok(PgStore {
                pool: Some(pool),
                keeper,
                epoch: Arc::default(),
                manager: for_watcher,
                pipelines,
            })
        })
        .await?
    }

    /// Starts the authorization epoch watcher (once the schema has the
    /// announcing trigger).
    pub(crate) fn watch_epoch(&self) -> Result<(), StoreError> {
        let (manager, watch, stop) = (
            self.manager.clone(),
            self.epoch.clone(),
            self.keeper.clone(),
        );
        std::thread::Builder::new()
            .name("hale-pg-epoch".into())
            .spawn(move || watch_epoch(manager, watch, stop))
            .map(drop)
            .map_err(|e| StoreError::Database(format!("cannot start a thread: {e}")))
    }

    /// The authorization epoch, when the watcher knows it.
    pub(crate) fn known_epoch(&self) -> Option<i64> {
        self.epoch.current()
    }

    pub(crate) async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run(true, f).await
    }

    pub(crate) async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run(false, f).await
    }

    /// A short read ([`crate::Store::read_short`]): each statement on its own,
    /// in autocommit, without the `BEGIN` and `ROLLBACK` round trips a
    /// transaction costs. Statements may see different snapshots, which keyed
    /// lookups do not mind.
    pub(crate) async fn read_short<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.with_connection(
            move |PgConn {
                      client, statements, ..
                  }| {
                f(&mut PgTx {
                    tx: client,
                    statements,
                })
            },
        )
        .await
    }

    /// One keyed statement, pipelined ([`crate::Store::query_keyed`]).
    pub(crate) async fn query_keyed(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Row>, StoreError> {
        self.pipelines.query(sql, params).await
    }

    /// Runs `f` on a pooled connection, on a blocking thread.
    async fn with_connection<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut PgConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.pool.clone().expect("pool present until drop");
        let epoch = self.epoch.clone();
        blocking(move || {
            let mut conn = checkout(&pool)?;
            let result = f(&mut conn);
            epoch.drain(&mut conn.client);
            if result.is_ok() {
                conn.last_used = Instant::now();
            }
            result
        })
        .await?
    }

    async fn run<T, E, F>(&self, read_only: bool, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.with_connection(
            move |PgConn {
                      client, statements, ..
                  }| {
                let mut tx = client
                    .build_transaction()
                    .read_only(read_only)
                    .isolation_level(if read_only {
                        IsolationLevel::RepeatableRead
                    } else {
                        IsolationLevel::ReadCommitted
                    })
                    .start()
                    .map_err(map_err)?;
                let result = f(&mut PgTx {
                    tx: &mut tx,
                    statements,
                });
                match result {
                    Ok(value) if !read_only => {
                        tx.commit().map_err(map_err)?;
                        Ok(value)
                    }
                    other => {
                        tx.rollback().map_err(map_err)?;
                        other
                    }
                }
            },
        )
        .await
    }
}

/// A connection from the pool, or why there is none.
fn checkout(pool: &r2d2::Pool<Manager>) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
    pool.get()
        .map_err(|e| StoreError::Database(format!("no database connection: {e}")))
}

/// Statements on a transaction, or (for short reads) on the bare connection.
struct PgTx<'a, C: GenericClient> {
    tx: &'a mut C,
    statements: &'a mut HashMap<String, Statement>,
}

impl<C: GenericClient> PgTx<'_, C> {
    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.tx.prepare(sql).map_err(map_err)?;
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

pub(crate) fn as_params(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl<C: GenericClient> Tx for PgTx<'_, C> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let stmt = self.statement(sql)?;
        self.tx.execute(&stmt, &as_params(params)).map_err(map_err)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let stmt = self.statement(sql)?;
        let rows = self.tx.query(&stmt, &as_params(params)).map_err(map_err)?;
        rows.iter().map(to_row).collect()
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.tx.batch_execute(sql).map_err(map_err)
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }
}

/// A row as [`Row`]'s values.
pub(crate) fn to_row(row: &postgres::Row) -> Result<Row, StoreError> {
    (0..row.len())
        .map(|i| row.try_get::<_, Value>(i).map_err(map_err))
        .collect::<Result<Vec<_>, _>>()
        .map(Row)
}

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                _ => Err(format!("cannot bind an integer to a {ty} parameter").into()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => Err(format!("cannot bind a number to a {ty} parameter").into()),
            },
            Value::Text(s) => s.as_str().to_sql(ty, out),
            Value::Blob(b) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Int(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::BYTEA => Value::Blob(Vec::<u8>::from_sql(ty, raw)?),
            _ => Value::Text(String::from_sql(ty, raw)?),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

pub(crate) fn map_err(e: postgres::Error) -> StoreError {
    match e.code() {
        Some(code)
            if *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::FOREIGN_KEY_VIOLATION =>
        {
            StoreError::Conflict(
                e.as_db_error()
                    .map(|db| db.message().to_owned())
                    .unwrap_or_else(|| e.to_string()),
            )
        }
        _ => StoreError::Database(describe(&e)),
    }
}

/// The most useful text of a postgres error: the server's message when there is
/// one, else the client-side cause (e.g. "connection refused").
fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_owned();
    }
    match e.source() {
        Some(source) => format!("{e}: {source}"),
        None => e.to_string(),
    }
}
