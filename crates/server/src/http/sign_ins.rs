//! The sign-in log: every token request and interactive sign-in, success or
//! failure, with the app, user, IP and AADSTS code. Events are queued in
//! memory and written in batches by one task, so issuing a token never waits
//! for (or causes) a database write of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hale_store::Store;
use hale_store::sign_in_log::{self, SignInEvent};
use tokio::sync::mpsc;

/// Events queued at most; beyond it new events are counted and dropped
/// rather than slowing sign-ins down.
const QUEUE: usize = 10_000;
/// Events written per transaction at most.
const BATCH: usize = 500;

pub(crate) struct SignInLog {
    queue: mpsc::Sender<SignInEvent>,
    dropped: AtomicU64,
}

impl SignInLog {
    /// Starts the writer task; it ends, after writing what is queued, when
    /// the log is dropped.
    pub(crate) fn start(store: Store) -> Arc<SignInLog> {
        let (queue, mut events) = mpsc::channel::<SignInEvent>(QUEUE);
        tokio::spawn(async move {
            while let Some(first) = events.recv().await {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match events.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(_) => break,
                    }
                }
                let n = batch.len();
                if let Err(e) = store.write(move |tx| sign_in_log::insert(tx, &batch)).await {
                    tracing::error!(error = %e, events = n, "writing the sign-in log failed");
                }
            }
        });
        Arc::new(SignInLog {
            queue,
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues an event (never waits).
    pub(crate) fn record(&self, event: SignInEvent) {
        if self.queue.try_send(event).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(
                    dropped,
                    "the sign-in log queue is full; events were dropped"
                );
            }
        }
    }
}
