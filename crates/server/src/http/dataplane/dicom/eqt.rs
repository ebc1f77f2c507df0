//! Extended query tags (`/extendedquerytags`) and long-running operations
//! (`/operations/{id}`), in Azure's JSON shapes. Adding tags answers 202 with
//! an operation reference; the reindex runs in a background task in batches,
//! its state in the database (any replica reports it; a restart resumes
//! unfinished operations).

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hale_dicom::eqt::{level_name, parse_add_request, parse_tag_path, tag_path};
use hale_dicom_store::extended::{self, AddRefused, ExtendedTag};
use serde_json::{Value, json};

use super::{Ctx, dicom_error, json_response, query_params, storage_error, text};
use crate::http::AppState;

/// The largest `POST /extendedquerytags` body (128 tags fit many times over).
const MAX_BODY: usize = 64 * 1024;
/// Instances indexed per reindex transaction.
const BATCH: i64 = 200;

fn json(status: StatusCode, v: &Value) -> Response {
    json_response(
        status,
        "application/json; charset=utf-8",
        serde_json::to_vec(v).unwrap_or_default(),
    )
}

fn time(micros: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn tag_json(ctx: &Ctx, t: &ExtendedTag) -> Value {
    let mut v = json!({
        "path": t.path,
        "vr": t.vr,
        "level": level_name(t.level),
        "status": t.status.name(),
        "queryStatus": if t.query_enabled { "Enabled" } else { "Disabled" },
    });
    if let Some(pc) = &t.private_creator {
        v["privateCreator"] = json!(pc);
    }
    if t.error_count > 0 {
        v["errors"] = json!({
            "count": t.error_count,
            "href": format!("{}/extendedquerytags/{}/errors", ctx.base, t.path),
        });
    }
    if let Some(op) = &t.operation {
        v["operation"] = json!({"id": op, "href": format!("{}/operations/{op}", ctx.base)});
    }
    v
}

fn tag_not_found(path: &str) -> Response {
    text(
        StatusCode::NOT_FOUND,
        format!("The specified extended query tag with tag path {path} cannot be found."),
    )
}

/// A tag path from the URL (hex or keyword) as stored: upper-case hex.
fn url_path(raw: &str) -> Result<String, Box<Response>> {
    parse_tag_path(raw).map(tag_path).ok_or_else(|| {
        Box::new(text(
            StatusCode::BAD_REQUEST,
            format!("The extended query tag '{raw}' is invalid as it is not a valid tag path."),
        ))
    })
}

/// `limit` (1..=200, default 100) and `offset`.
fn paging(uri: &Uri) -> Result<(i64, i64), Box<Response>> {
    let (mut limit, mut offset) = (100i64, 0i64);
    for (k, v) in query_params(uri) {
        let bad = |what: &str| {
            Box::new(text(
                StatusCode::BAD_REQUEST,
                format!("The {what} value '{v}' is invalid."),
            ))
        };
        match k.to_ascii_lowercase().as_str() {
            "limit" => {
                limit = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| (1..=200).contains(n))
                    .ok_or_else(|| bad("limit"))?
            }
            "offset" => {
                offset = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n: &i64| *n >= 0)
                    .ok_or_else(|| bad("offset"))?
            }
            _ => {}
        }
    }
    Ok((limit, offset))
}

/// `POST /extendedquerytags`.
pub(super) async fn add(ctx: &Ctx, body: Body) -> Response {
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The request exceeds the maximum allowed size of {MAX_BODY} bytes."),
            );
        }
    };
    let specs = match parse_add_request(&bytes) {
        Ok(s) => s,
        Err(e) => return dicom_error(&e),
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (svc, op) = (ctx.svc, id.clone());
    let now = hale_dicom_store::now_micros();
    match ctx
        .state
        .store
        .write(move |tx| extended::add(tx, svc, &specs, &op, now))
        .await
    {
        Ok(Ok(())) => {}
        Ok(Err(AddRefused::Exists(path))) => {
            return text(
                StatusCode::CONFLICT,
                format!("The extended query tag '{path}' has already been added."),
            );
        }
        Ok(Err(AddRefused::TooMany)) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!(
                    "The total number of extended query tags cannot exceed {}.",
                    hale_dicom::eqt::MAX_EXTENDED_QUERY_TAGS
                ),
            );
        }
        Err(e) => return storage_error(e),
    }
    spawn_reindex(ctx.state.clone(), svc, id.clone());
    json(
        StatusCode::ACCEPTED,
        &json!({"id": id, "href": format!("{}/operations/{id}", ctx.base)}),
    )
}

/// Runs reindex operation `id` to its end in the background.
pub(crate) fn spawn_reindex(state: AppState, svc: i64, id: String) {
    let Some(running) = Running::start(&id) else {
        return; // this process runs it already
    };
    tokio::spawn(async move {
        let _running = running;
        loop {
            let op = id.clone();
            let step = state
                .store
                .write(move |tx| {
                    extended::reindex_step(tx, svc, &op, BATCH, hale_dicom_store::now_micros())
                })
                .await;
            match step {
                Ok(true) => return,
                Ok(false) => tokio::task::yield_now().await,
                Err(e) => {
                    tracing::error!(error = %e, "DICOM reindex failed");
                    let op = id.clone();
                    let msg = "The reindex operation failed.".to_owned();
                    let _ = state
                        .store
                        .write(move |tx| {
                            extended::fail_operation(
                                tx,
                                svc,
                                &op,
                                &msg,
                                hale_dicom_store::now_micros(),
                            )
                        })
                        .await;
                    return;
                }
            }
        }
    });
}

/// The operations this process is running.
static RUNNING: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<String>>> =
    std::sync::LazyLock::new(Default::default);

/// An operation marked running in this process until dropped.
struct Running(String);

impl Running {
    /// `None` when this process runs the operation already.
    fn start(id: &str) -> Option<Running> {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        running
            .insert(id.to_owned())
            .then(|| Running(id.to_owned()))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

/// How long an unfinished operation may go without progress before another
/// process takes it over (each step, a batch of instances, records progress).
pub(crate) const STALLED_AFTER: std::time::Duration = std::time::Duration::from_secs(120);

/// Takes over operations whose runner went away (another replica, or this
/// process before a restart): unfinished, and unmoved for [`STALLED_AFTER`].
pub(crate) async fn take_over_stalled(state: &AppState) {
    let before = hale_dicom_store::now_micros() - STALLED_AFTER.as_micros() as i64;
    match state
        .store
        .read(move |tx| extended::stalled_operations(tx, before))
        .await
    {
        Ok(ops) => {
            for (svc, id) in ops {
                tracing::info!(operation = %id, "DICOM: taking over a stalled operation");
                spawn_reindex(state.clone(), svc, id);
            }
        }
        Err(e) => tracing::warn!(error = %e, "DICOM: reading stalled operations failed"),
    }
}

/// Resumes operations a stopped process left unfinished.
pub(crate) async fn resume(state: &AppState) {
    match state.store.read(extended::unfinished_operations).await {
        Ok(ops) => {
            for (svc, id) in ops {
                spawn_reindex(state.clone(), svc, id);
            }
        }
        Err(e) => tracing::warn!(error = %e, "DICOM: reading unfinished operations failed"),
    }
}

/// `GET /extendedquerytags`.
pub(super) async fn list(ctx: &Ctx, uri: &Uri) -> Response {
    let (limit, offset) = match paging(uri) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let svc = ctx.svc;
    match ctx
        .state
        .store
        .read(move |tx| extended::list(tx, svc, limit, offset))
        .await
    {
        Ok(tags) => json(
            StatusCode::OK,
            &Value::Array(tags.iter().map(|t| tag_json(ctx, t)).collect()),
        ),
        Err(e) => storage_error(e),
    }
}

/// `GET /extendedquerytags/{path}`.
pub(super) async fn get(ctx: &Ctx, raw: &str) -> Response {
    let path = match url_path(raw) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let (svc, p) = (ctx.svc, path.clone());
    match ctx
        .state
        .store
        .read(move |tx| extended::get(tx, svc, &p))
        .await
    {
        Ok(Some(t)) => json(StatusCode::OK, &tag_json(ctx, &t)),
        Ok(None) => tag_not_found(&path),
        Err(e) => storage_error(e),
    }
}

/// `DELETE /extendedquerytags/{path}`.
pub(super) async fn delete(ctx: &Ctx, raw: &str) -> Response {
    let path = match url_path(raw) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let (svc, p) = (ctx.svc, path.clone());
    match ctx
        .state
        .store
        .write(move |tx| extended::delete(tx, svc, &p))
        .await
    {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => tag_not_found(&path),
        Err(e) => storage_error(e),
    }
}

/// `PATCH /extendedquerytags/{path}` with `{"queryStatus": "Enabled"|"Disabled"}`.
pub(super) async fn patch(ctx: &Ctx, raw: &str, body: Body) -> Response {
    let path = match url_path(raw) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let invalid = || {
        text(
            StatusCode::BAD_REQUEST,
            "The request body must be a JSON object with queryStatus 'Enabled' or 'Disabled'."
                .into(),
        )
    };
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return invalid();
    };
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(&bytes) else {
        return invalid();
    };
    let status = o
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("queryStatus"))
        .and_then(|(_, v)| v.as_str())
        .map(str::to_ascii_lowercase);
    let enabled = match status.as_deref() {
        Some("enabled") => true,
        Some("disabled") => false,
        _ => return invalid(),
    };
    let (svc, p) = (ctx.svc, path.clone());
    match ctx
        .state
        .store
        .write(move |tx| extended::set_query_enabled(tx, svc, &p, enabled))
        .await
    {
        Ok(Some(t)) => json(StatusCode::OK, &tag_json(ctx, &t)),
        Ok(None) => tag_not_found(&path),
        Err(e) => storage_error(e),
    }
}

/// `GET /extendedquerytags/{path}/errors`.
pub(super) async fn errors(ctx: &Ctx, raw: &str, uri: &Uri) -> Response {
    let path = match url_path(raw) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let (limit, offset) = match paging(uri) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let (svc, p) = (ctx.svc, path.clone());
    let found = ctx
        .state
        .store
        .read(move |tx| match extended::get(tx, svc, &p)? {
            Some(t) => extended::errors(tx, t.tid, limit, offset).map(Some),
            None => Ok(None),
        })
        .await;
    match found {
        Ok(Some(errors)) => json(
            StatusCode::OK,
            &Value::Array(
                errors
                    .iter()
                    .map(|e| {
                        json!({
                            "studyInstanceUid": e.study_uid,
                            "seriesInstanceUid": e.series_uid,
                            "sopInstanceUid": e.sop_uid,
                            "createdTime": time(e.created),
                            "errorMessage": e.message,
                        })
                    })
                    .collect(),
            ),
        ),
        Ok(None) => tag_not_found(&path),
        Err(e) => storage_error(e),
    }
}

/// `GET /operations/{id}`.
pub(super) async fn operation(ctx: &Ctx, id: &str, _headers: &HeaderMap) -> Response {
    let key = id.to_ascii_lowercase().replace('-', "");
    let svc = ctx.svc;
    let found = ctx
        .state
        .store
        .read(move |tx| extended::operation(tx, svc, &key))
        .await;
    match found {
        // Azure answers 202 until the operation ends, then 200.
        Ok(Some(op)) => json(
            if op.is_finished() {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            },
            &json!({
                "operationId": op.id,
                "type": op.kind,
                "createdTime": time(op.created),
                "lastUpdatedTime": time(op.updated),
                "status": op.status_name(),
                "percentComplete": op.percent,
                "resources": op.resources.iter()
                    .map(|p| format!("{}/extendedquerytags/{p}", ctx.base))
                    .collect::<Vec<_>>(),
            }),
        ),
        Ok(None) => text(
            StatusCode::NOT_FOUND,
            format!("The specified operation '{id}' cannot be found."),
        ),
        Err(e) => storage_error(e),
    }
}
