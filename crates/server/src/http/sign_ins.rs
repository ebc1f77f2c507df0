//! The sign-in log: every token request and interactive sign-in, success or
//! failure, with the app, user, IP and AADSTS code. Events are queued in
//! memory and written in batches by one task, so issuing a token never waits
//! for a write. Successful app-only sign-ins (client credentials) are logged
//! once a minute per app, resource and address, as Entra aggregates service
//! principal sign-ins: a daemon fetching tokens in a loop causes no write per
//! token.

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
    /// When each (tenant, app, resource, address) last logged an app-only success.
    recent_app_sign_ins: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// How long repeated app-only successes are folded into the first.
const APP_SIGN_IN_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

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
            recent_app_sign_ins: Default::default(),
        })
    }

    /// Queues an event (never waits).
    pub(crate) fn record(&self, event: SignInEvent) {
        if event.error_code == 0 && event.client_app_used == "client_credentials" {
            let key = format!(
                "{}|{}|{}|{}",
                event.tenant,
                event.app_id.as_deref().unwrap_or_default(),
                event.resource.as_deref().unwrap_or_default(),
                event.ip_address.as_deref().unwrap_or_default()
            );
            let mut recent = self.recent_app_sign_ins.lock().expect("sign-in log lock");
            let now = std::time::Instant::now();
            if recent
                .get(&key)
                .is_some_and(|at| now.duration_since(*at) < APP_SIGN_IN_WINDOW)
            {
                return;
            }
            if recent.len() >= 10_000 {
                recent.retain(|_, at| now.duration_since(*at) < APP_SIGN_IN_WINDOW);
            }
            recent.insert(key, now);
        }
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
