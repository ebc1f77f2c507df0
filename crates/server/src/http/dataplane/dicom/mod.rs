//! `/dicom/{ws}/{name}/…`: the DICOM service. Anonymous `/health/check`;
//! everything else authenticated (audience
//! `https://dicom.healthcareapis.azure.com`), authorized by Azure RBAC
//! (DICOM Data Owner / Reader: the data action follows from the method), then
//! routed under `/v1` or `/v2`:
//!
//! - STOW-RS `POST /studies[/{study}]` ([`stow`]): streamed, one instance
//!   in memory at a time, blob durable before the index commit.
//! - QIDO-RS `GET /studies`, `/series`, `/instances` and nested ([`qido`]).
//! - WADO-RS instances, `/metadata`, `/frames/{list}` ([`wado`]), and
//!   `/rendered` for an instance or a frame ([`rendered`]).
//! - `DELETE` study, series, instance, and the change feed ([`feed`]).
//! - Extended query tags and `/operations/{id}` ([`eqt`]).
//!
//! Failures are plain-text bodies, as Azure's DICOM service answers them.

mod eqt;
mod feed;
mod qido;
mod rendered;
mod stow;
mod wado;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hale_arm::authz::{self, DataAction};
use hale_arm::{HealthService, ServiceKind};
use hale_dicom::{ApiVersion, Uid};
use hale_store::StoreError;

use super::{Denied, ServicePath, authorize, find_service, with_timing, www_authenticate};
use crate::http::AppState;

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn unknown_service(path: &str) -> Response {
    text(
        StatusCode::NOT_FOUND,
        format!("There is no DICOM service at '/dicom/{path}'."),
    )
}

fn unavailable() -> Response {
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "The server is currently unable to receive requests. Please retry your request.".into(),
    )
}

/// A storage failure: logged, answered 503 as Azure answers data-store errors.
fn storage_error(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "DICOM storage failed");
    unavailable()
}

/// A domain error in Azure's shape: its status, its message as plain text.
fn dicom_error(e: &hale_dicom::Error) -> Response {
    text(
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
        e.to_string(),
    )
}

fn not_found(what: &str) -> Response {
    text(
        StatusCode::NOT_FOUND,
        format!("The specified {what} cannot be found."),
    )
}

fn not_acceptable() -> Response {
    text(
        StatusCode::NOT_ACCEPTABLE,
        "The request headers are not acceptable".into(),
    )
}

fn route_not_found() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "The requested resource does not exist on this DICOM service.".into(),
    )
}

/// What a handler of one DICOMweb request needs.
#[derive(Clone)]
pub(crate) struct Ctx {
    state: AppState,
    /// The service's data partition.
    svc: i64,
    api: ApiVersion,
    /// `https://host/dicom/{ws}/{name}/{version}`: the base of every URL we print.
    base: String,
}

/// Data partitions never change, so each is looked up (or made) once per process.
fn partitions() -> &'static Mutex<HashMap<uuid::Uuid, i64>> {
    static CACHE: OnceLock<Mutex<HashMap<uuid::Uuid, i64>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

async fn partition(state: &AppState, service: &HealthService) -> Result<i64, StoreError> {
    let id = service.id;
    if let Some(svc) = partitions().lock().ok().and_then(|m| m.get(&id).copied()) {
        return Ok(svc);
    }
    let found = state
        .store
        .read(move |tx| hale_store::health::partition(tx, id))
        .await?;
    let svc = match found {
        Some(svc) => svc,
        None => {
            state
                .store
                .write(move |tx| hale_store::health::ensure_partition(tx, id))
                .await?
        }
    };
    if let Ok(mut m) = partitions().lock() {
        m.insert(id, svc);
    }
    Ok(svc)
}

/// A UID from the path, or Azure's 400 error.
fn path_uid(name: &'static str, value: &str) -> Result<Uid, hale_dicom::Error> {
    Uid::parse(name, value)
}

/// The query string's parameters, percent-decoded, in order.
fn query_params(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The media ranges of `Accept`, most preferred first (by `q`, then order);
/// `q=0` ranges dropped. No header is `*/*`.
fn accept_list(headers: &HeaderMap) -> Vec<hale_dicom::multipart::MediaType> {
    let raw: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if raw.is_empty() {
        return vec![hale_dicom::multipart::MediaType {
            essence: "*/*".into(),
            params: Vec::new(),
        }];
    }
    let mut out: Vec<(f32, usize, hale_dicom::multipart::MediaType)> = Vec::new();
    for (i, item) in raw.iter().flat_map(|h| split_top_level(h)).enumerate() {
        let Ok(mt) = hale_dicom::multipart::parse_media_type(item.trim()) else {
            continue;
        };
        let q = mt
            .param("q")
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if q > 0.0 {
            out.push((q, i, mt));
        }
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    out.into_iter().map(|(_, _, mt)| mt).collect()
}

/// Splits an `Accept` value on commas outside quoted strings.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// Whether the caller accepts a DICOM JSON (or plain JSON) answer.
fn accepts_json(headers: &HeaderMap, also_json: bool) -> bool {
    accept_list(headers).iter().any(|mt| {
        matches!(
            mt.essence.as_str(),
            "*/*" | "application/*" | "application/dicom+json"
        ) || (also_json && mt.essence == "application/json")
    })
}

fn json_response(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Every request under `/dicom/`: CORS around [`serve`] (a preflight
/// answered from the service's settings, a browser's request given the
/// headers its origin is allowed).
pub(crate) async fn dispatch(
    State(state): State<AppState>,
    method: Method,
    Path(raw): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = ServicePath::parse(&raw);
    if let Some(path) = &path
        && let Some(answer) =
            super::preflight(&state, ServiceKind::Dicom, path, &method, &headers).await
    {
        return match answer {
            Ok(Some(response)) => response,
            Ok(None) => unknown_service(&raw),
            Err(e) => {
                tracing::error!(error = %e, "DICOM service lookup failed");
                unavailable()
            }
        };
    }
    let response = serve(
        State(state.clone()),
        method.clone(),
        Path(raw.clone()),
        uri,
        headers.clone(),
        body,
    )
    .await;
    match &path {
        Some(path) => super::with_cors(&state, ServiceKind::Dicom, path, &headers, response).await,
        None => response,
    }
}

async fn serve(
    State(state): State<AppState>,
    method: Method,
    Path(raw): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(path) = ServicePath::parse(&raw) else {
        return unknown_service(&raw);
    };
    if matches!(method, Method::GET | Method::HEAD) && path.rest() == ["health", "check"] {
        return match find_service(&state, ServiceKind::Dicom, &path).await {
            Ok(Some(_)) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                r#"{"overallStatus":"Healthy"}"#,
            )
                .into_response(),
            Ok(None) => unknown_service(&raw),
            Err(e) => {
                tracing::error!(error = %e, "DICOM service lookup failed");
                unavailable()
            }
        };
    }
    let action = DataAction::Dicom(authz::dicom_action(method.as_str()));
    let (decision, timing) = authorize(&state, &headers, ServiceKind::Dicom, &path, action).await;
    let response = match decision {
        Ok(authorized) => match partition(&state, &authorized.service).await {
            Ok(svc) => route(&state, svc, &path, &method, &uri, &headers, body).await,
            Err(e) => storage_error(e),
        },
        Err(Denied::UnknownService) => unknown_service(&raw),
        Err(Denied::Unauthenticated(_, service) | Denied::OtherTenant(service)) => {
            let mut r = text(StatusCode::UNAUTHORIZED, "Authentication failed.".into());
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                www_authenticate(&state, &service, ServiceKind::Dicom),
            );
            r
        }
        Err(Denied::Forbidden(_)) => text(StatusCode::FORBIDDEN, "Authorization failed.".into()),
        Err(Denied::Storage(e)) => {
            tracing::error!(error = %e, "DICOM authorization read failed");
            unavailable()
        }
    };
    let mut response = with_timing(response, timing);
    response.headers_mut().insert(
        header::HeaderName::from_static("api-supported-versions"),
        HeaderValue::from_static("1.0-prerelease, 1, 2"),
    );
    response
}

async fn route(
    state: &AppState,
    svc: i64,
    path: &ServicePath,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let rest = path.rest();
    let Some((version, rest)) = rest.split_first() else {
        return route_not_found();
    };
    let api = match *version {
        "v1" | "v1.0-prerelease" => ApiVersion::V1,
        "v2" => ApiVersion::V2,
        _ => return route_not_found(),
    };
    let ctx = Ctx {
        state: state.clone(),
        svc,
        api,
        base: format!(
            "{}dicom/{}/{}/{version}",
            state.public_url, path.workspace, path.name
        ),
    };
    let get = *method == Method::GET || *method == Method::HEAD;
    let study = |s: &str| path_uid("StudyInstanceUid", s);
    let series = |s: &str| path_uid("SeriesInstanceUid", s);
    let sop = |s: &str| path_uid("SopInstanceUid", s);
    macro_rules! uid {
        ($e:expr) => {
            match $e {
                Ok(u) => u,
                Err(e) => return dicom_error(&e),
            }
        };
    }
    use hale_dicom::qido::QueryResource as Q;
    use wado::Target;
    match (method.clone(), rest) {
        (Method::POST, ["studies"]) => stow::store(&ctx, None, headers, body).await,
        (Method::POST, ["studies", s]) => {
            stow::store(&ctx, Some(uid!(study(s))), headers, body).await
        }
        (_, ["studies"]) if get => qido::search(&ctx, Q::AllStudies, uri, headers).await,
        (_, ["series"]) if get => qido::search(&ctx, Q::AllSeries, uri, headers).await,
        (_, ["instances"]) if get => qido::search(&ctx, Q::AllInstances, uri, headers).await,
        (_, ["studies", s, "series"]) if get => {
            qido::search(&ctx, Q::StudySeries(uid!(study(s))), uri, headers).await
        }
        (_, ["studies", s, "instances"]) if get => {
            qido::search(&ctx, Q::StudyInstances(uid!(study(s))), uri, headers).await
        }
        (_, ["studies", s, "series", se, "instances"]) if get => {
            let (s, se) = (uid!(study(s)), uid!(series(se)));
            qido::search(&ctx, Q::StudySeriesInstances(s, se), uri, headers).await
        }
        (_, ["studies", s]) if get => {
            wado::retrieve(&ctx, Target::study(uid!(study(s))), headers).await
        }
        (_, ["studies", s, "metadata"]) if get => {
            wado::metadata(&ctx, Target::study(uid!(study(s))), headers).await
        }
        (_, ["studies", s, "series", se]) if get => {
            let t = Target::series(uid!(study(s)), uid!(series(se)));
            wado::retrieve(&ctx, t, headers).await
        }
        (_, ["studies", s, "series", se, "metadata"]) if get => {
            let t = Target::series(uid!(study(s)), uid!(series(se)));
            wado::metadata(&ctx, t, headers).await
        }
        (_, ["studies", s, "series", se, "instances", i]) if get => {
            let t = Target::instance(uid!(study(s)), uid!(series(se)), uid!(sop(i)));
            wado::retrieve(&ctx, t, headers).await
        }
        (_, ["studies", s, "series", se, "instances", i, "metadata"]) if get => {
            let t = Target::instance(uid!(study(s)), uid!(series(se)), uid!(sop(i)));
            wado::metadata(&ctx, t, headers).await
        }
        (_, ["studies", s, "series", se, "instances", i, "frames", f]) if get => {
            let t = Target::instance(uid!(study(s)), uid!(series(se)), uid!(sop(i)));
            wado::frames(&ctx, t, f, headers).await
        }
        (_, ["studies", s, "series", se, "instances", i, "rendered"]) if get => {
            let t = Target::instance(uid!(study(s)), uid!(series(se)), uid!(sop(i)));
            rendered::rendered(&ctx, t, None, uri, headers).await
        }
        (
            _,
            [
                "studies",
                s,
                "series",
                se,
                "instances",
                i,
                "frames",
                f,
                "rendered",
            ],
        ) if get => {
            let t = Target::instance(uid!(study(s)), uid!(series(se)), uid!(sop(i)));
            rendered::rendered(&ctx, t, Some(f), uri, headers).await
        }
        (Method::DELETE, ["studies", s]) => feed::delete(&ctx, Target::study(uid!(study(s)))).await,
        (Method::DELETE, ["studies", s, "series", se]) => {
            let t = Target::series(uid!(study(s)), uid!(series(se)));
            feed::delete(&ctx, t).await
        }
        (Method::DELETE, ["studies", s, "series", se, "instances", i]) => {
            let t = Target::instance(uid!(study(s)), uid!(series(se)), uid!(sop(i)));
            feed::delete(&ctx, t).await
        }
        (Method::POST, ["extendedquerytags"]) => eqt::add(&ctx, body).await,
        (_, ["extendedquerytags"]) if get => eqt::list(&ctx, uri).await,
        (_, ["extendedquerytags", p]) if get => eqt::get(&ctx, p).await,
        (Method::DELETE, ["extendedquerytags", p]) => eqt::delete(&ctx, p).await,
        (Method::PATCH, ["extendedquerytags", p]) => eqt::patch(&ctx, p, body).await,
        (_, ["extendedquerytags", p, "errors"]) if get => eqt::errors(&ctx, p, uri).await,
        (_, ["operations", id]) if get => eqt::operation(&ctx, id, headers).await,
        (_, ["changefeed"]) if get => feed::changefeed(&ctx, uri, headers).await,
        (_, ["changefeed", "latest"]) if get => feed::latest(&ctx, uri, headers).await,
        _ => route_not_found(),
    }
}

/// How long a STOW reservation may go without word from its writer before
/// the sweep treats the writer as crashed. Writers refresh their
/// reservations every sweep (a minute; [`InFlight`]), so this only has to
/// outlast a few missed refreshes: after a crash, the instances the crashed
/// writer was storing can be stored again within this much.
const PENDING_LIFETIME: Duration = Duration::from_secs(3 * 60);

/// The STOW reservations this process is writing (their index rows' iids).
static IN_FLIGHT: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<i64>>> =
    std::sync::LazyLock::new(Default::default);

/// A reservation being written, marked in [`IN_FLIGHT`] until dropped.
pub(super) struct InFlight(i64);

impl InFlight {
    pub(super) fn start(iid: i64) -> InFlight {
        IN_FLIGHT
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(iid);
        InFlight(iid)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

/// Tells every replica that this process's reservations are alive.
async fn refresh_in_flight(state: &AppState) {
    let iids: Vec<i64> = IN_FLIGHT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .copied()
        .collect();
    if iids.is_empty() {
        return;
    }
    let now = hale_dicom_store::now_micros();
    if let Err(e) = state
        .store
        .write(move |tx| hale_dicom_store::journal::refresh_reservations(tx, &iids, now))
        .await
    {
        tracing::warn!(error = %e, "DICOM sweep: refreshing reservations failed");
    }
}

/// Runs one sweep now, then one a minute in the background.
pub(crate) async fn start_sweeper(state: &AppState) {
    sweep(state, PENDING_LIFETIME).await;
    eqt::resume(state).await;
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.tick().await;
        loop {
            tick.tick().await;
            refresh_in_flight(&state).await;
            sweep(&state, PENDING_LIFETIME).await;
            eqt::take_over_stalled(&state).await;
        }
    });
}

/// Finishes what crashed or failed writes left: reservations older than
/// `lifetime` go to the trash; every trashed blob is removed, then forgotten.
pub(crate) async fn sweep(state: &AppState, lifetime: Duration) {
    let now = hale_dicom_store::now_micros();
    let cutoff = now - lifetime.as_micros() as i64;
    if let Err(e) = state
        .store
        .write(move |tx| hale_dicom_store::journal::expire_reservations(tx, cutoff, now))
        .await
    {
        tracing::warn!(error = %e, "DICOM sweep: expiring reservations failed");
        return;
    }
    loop {
        let batch = match state
            .store
            .read(|tx| hale_dicom_store::journal::trash(tx, 500))
            .await
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "DICOM sweep: reading the trash failed");
                return;
            }
        };
        if batch.is_empty() {
            return;
        }
        let n = batch.len();
        if empty_trash(state, batch).await < n {
            return; // the blob store is failing; try again next time
        }
    }
}

/// Removes trashed blobs, then forgets them; returns how many were done.
async fn empty_trash(state: &AppState, batch: Vec<(i64, String)>) -> usize {
    let mut done = Vec::with_capacity(batch.len());
    for (tid, key) in batch {
        match state.blobs.delete(&key).await {
            Ok(()) => done.push(tid),
            Err(e) => tracing::warn!(error = %e, "DICOM: removing a deleted blob failed"),
        }
    }
    let n = done.len();
    if let Err(e) = state
        .store
        .write(move |tx| hale_dicom_store::journal::forget(tx, &done))
        .await
    {
        tracing::warn!(error = %e, "DICOM: forgetting removed blobs failed");
        return 0;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_lists() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/json;q=0.5, multipart/related; type=\"application/dicom\"; transfer-syntax=*, text/html;q=0",
            ),
        );
        let list = accept_list(&h);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].essence, "multipart/related");
        assert_eq!(list[0].param("transfer-syntax"), Some("*"));
        assert_eq!(list[1].essence, "application/json");
        assert!(accepts_json(&h, true));
        assert!(!accepts_json(&h, false));
        assert_eq!(accept_list(&HeaderMap::new())[0].essence, "*/*");
    }
}
