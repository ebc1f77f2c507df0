//! `/healthz` (the process answers) and `/readyz` (its dependencies answer).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hale_proto::{Check, Health, Readiness, ReadinessChecks};

use super::AppState;

/// How long a readiness check waits for a dependency.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

pub(super) async fn healthz() -> Response {
    no_store(
        StatusCode::OK,
        Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
    )
}

pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let (database, blobs) = tokio::join!(
        check(async { state.store.ping().await.map_err(|e| e.to_string()) }),
        check(async { state.blobs.ping().await.map_err(|e| e.to_string()) }),
    );
    let ready = database.ok && blobs.ok;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    no_store(
        status,
        Readiness {
            status: if ready { "ready" } else { "not ready" }.into(),
            checks: ReadinessChecks { database, blobs },
        },
    )
}

async fn check(probe: impl Future<Output = Result<(), String>>) -> Check {
    match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(())) => Check {
            ok: true,
            error: None,
        },
        Ok(Err(e)) => Check {
            ok: false,
            error: Some(e),
        },
        Err(_) => Check {
            ok: false,
            error: Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
        },
    }
}

fn no_store(status: StatusCode, body: impl serde::Serialize) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}
