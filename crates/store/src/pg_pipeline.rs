//! Keyed statements sent straight from the async runtime to PostgreSQL,
//! pipelined over a few shared connections ([`crate::Store::query_keyed`]).
//!
//! The pool of [`crate::postgres`] serves closures on blocking threads: each
//! statement costs a hand-off to a blocking thread and back, and a round trip
//! on a connection nobody else may use meanwhile. A lookup by key needs
//! neither: here its statement is written onto one of a few connections that
//! many requests share, and PostgreSQL reads the queued statements together
//! and answers them back to back, so one wake-up of each side serves several
//! requests. Only statements that answer in microseconds (index lookups)
//! belong here: a slow one would hold up the statements queued behind it.
//!
//! Invariant: a connection found closed is replaced on its next use; no
//! statement here runs inside a transaction.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio_postgres::{Client, NoTls, Statement};

use crate::postgres::{as_params, map_err, to_row};
use crate::{Row, StoreError, Value};

/// How many shared connections: enough to keep every core's backend busy.
fn connections() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8)
}

pub(crate) struct Pipelines {
    config: tokio_postgres::Config,
    slots: Vec<tokio::sync::Mutex<Option<Arc<Pipe>>>>,
    next: AtomicUsize,
}

/// One shared connection and the statements prepared on it.
struct Pipe {
    client: Client,
    statements: Mutex<HashMap<String, Statement>>,
}

impl Pipelines {
    pub(crate) fn new(config: tokio_postgres::Config) -> Self {
        Pipelines {
            config,
            slots: (0..connections())
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The next connection in turn, opened (again) if it is not open.
    async fn pipe(&self) -> Result<Arc<Pipe>, StoreError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[n].lock().await;
        if let Some(pipe) = slot.as_ref().filter(|p| !p.client.is_closed()) {
            return Ok(pipe.clone());
        }
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| StoreError::Database(format!("no database connection: {e}")))?;
        // The connection's task ends when the client is dropped or the
        // server goes away; `is_closed` then tells the next caller.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a pipelined PostgreSQL connection ended");
            }
        });
        let pipe = Arc::new(Pipe {
            client,
            statements: Mutex::default(),
        });
        *slot = Some(pipe.clone());
        Ok(pipe)
    }

    /// Runs one statement outside any transaction and returns its rows.
    pub(crate) async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let pipe = self.pipe().await?;
        let known = pipe
            .statements
            .lock()
            .ok()
            .and_then(|m| m.get(sql).cloned());
        let statement = match known {
            Some(s) => s,
            None => {
                let s = pipe.client.prepare(sql).await.map_err(map_err)?;
                if let Ok(mut m) = pipe.statements.lock() {
                    m.insert(sql.to_owned(), s.clone());
                }
                s
            }
        };
        let rows = pipe
            .client
            .query(&statement, &as_params(params))
            .await
            .map_err(map_err)?;
        rows.iter().map(to_row).collect()
    }
}
