//! The PostgreSQL backend: a pool of synchronous connections (the `postgres`
//! crate), used from blocking threads so that transaction closures are the same
//! synchronous code on both backends. Each connection caches its prepared
//! statements, so a query is parsed once per connection, not once per call.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, GenericClient, IsolationLevel, NoTls, Statement};

use crate::{Dialect, Row, StoreError, Tx, Value, blocking};

const POOL_SIZE: u32 = 16;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct PgStore {
    /// Always `Some` until dropped.
    pool: Option<r2d2::Pool<Manager>>,
    /// Tells the statistics keeper to stop.
    keeper: Arc<(Mutex<bool>, Condvar)>,
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
    let (lock, signal) = &*stop;
    loop {
        {
            let Ok(stopped) = lock.lock() else { return };
            let Ok((stopped, _)) = signal.wait_timeout_while(stopped, STATISTICS_EVERY, |s| !*s)
            else {
                return;
            };
            if *stopped {
                return;
            }
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
}

struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        Ok(PgConn {
            client: self.config.connect(NoTls)?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(drop)
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
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| unreachable(e.to_string()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("hale");
        }
        let manager = Manager { config };
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
            })
        })
        .await?
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
        self.with_connection(move |PgConn { client, statements }| {
            f(&mut PgTx {
                tx: client,
                statements,
            })
        })
        .await
    }

    /// Runs `f` on a pooled connection, on a blocking thread.
    async fn with_connection<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut PgConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.pool.clone().expect("pool present until drop");
        blocking(move || f(&mut *checkout(&pool)?)).await?
    }

    async fn run<T, E, F>(&self, read_only: bool, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.with_connection(move |PgConn { client, statements }| {
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
        })
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

fn as_params(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
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
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| row.try_get::<_, Value>(i).map_err(map_err))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Row)
            })
            .collect()
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.tx.batch_execute(sql).map_err(map_err)
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }
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

fn map_err(e: postgres::Error) -> StoreError {
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
