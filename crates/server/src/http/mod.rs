//! The HTTP application: one router for every protocol Hale speaks, and the
//! layers every request passes through (request IDs, tracing, body limits).

mod arm;
pub(crate) mod auth;
pub(crate) mod dataplane;
pub(crate) mod graph;
mod health;
mod identity;
mod pages;
pub(crate) mod sign_ins;
mod token;
mod userinfo;

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hale_blob::BlobStore;
use hale_store::Store;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// What handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub store: Store,
    pub blobs: BlobStore,
    /// The origin clients use, with a trailing slash: the base of every issuer,
    /// `@odata.context` and link.
    pub public_url: url::Url,
    pub secret_digester: std::sync::Arc<hale_keys::SecretDigester>,
    /// Longest client secret lifetime accepted.
    pub max_secret_lifetime: time::Duration,
    pub key_ring: auth::SharedKeyRing,
    /// `--refresh-token-rotation strict`.
    pub strict_refresh_token_rotation: bool,
    /// Tenants by URL segment, for a minute.
    pub tenant_cache: std::sync::Arc<identity::TenantCache>,
    /// Where sign-in events go (written in batches).
    pub sign_ins: std::sync::Arc<sign_ins::SignInLog>,
    /// The signing keys: the one that signs now, and those JWKS publishes.
    pub signing: std::sync::Arc<crate::signing::SigningKeys>,
    /// Tokens whose signatures were already verified (never decisions).
    pub verified_tokens: std::sync::Arc<auth::VerifiedTokens>,
    /// The DICOM service's STOW-RS size limit (request and instance).
    pub dicom_max_request_bytes: u64,
    /// Data-plane authorization inputs, valid per authorization epoch.
    pub authz_cache: std::sync::Arc<dataplane::AuthzCache>,
    /// The configurations and keys of FHIR services' external SMART
    /// identity providers.
    pub smart_providers: std::sync::Arc<dataplane::ProviderKeys>,
    /// How long finished FHIR `$export` jobs and their files are kept.
    pub export_retention: std::time::Duration,
}

/// Finishes what crashed DICOM writes left behind (at start, then every
/// minute): see `dataplane::dicom::sweep`.
pub(crate) async fn start_dicom_sweeper(state: &AppState) {
    dataplane::dicom_sweeper(state).await
}

/// Removes FHIR `$export` jobs past their retention, and fails those whose
/// replica went away: see `dataplane::fhir::export::sweep`.
pub(crate) fn start_export_sweeper(state: &AppState) {
    dataplane::export_sweeper(state)
}

pub(crate) use token::TokenSigner;

/// The request ID header, set on every request (kept when the client sent one)
/// and echoed on every response.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The peer address of the connection, set by the router on every request
/// (for the sign-in log); a client's own value is replaced.
pub(crate) const CLIENT_ADDRESS: HeaderName = HeaderName::from_static("x-hale-client-address");

/// Largest request body accepted unless a route says otherwise.
const DEFAULT_BODY_LIMIT: usize = 4 * 1024 * 1024;
/// What the Graph and token handlers may read: more than they accept, so that
/// they, not the extractor, refuse an oversize body, in their protocol's shape.
const EXTRACT_LIMIT: usize = 1024 * 1024;

/// ARM's paths are case-insensitive, the first segment too (`/Subscriptions/…`
/// is as good as `/subscriptions/…`), but the router matches that segment
/// exactly: a request whose first segment is `subscriptions` or `providers`
/// in another case gets it in lower case before routing. Nothing else of the
/// path changes (resource names keep their case).
pub(crate) fn fold_arm_prefix<B>(mut req: Request<B>) -> Request<B> {
    let path = req.uri().path();
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let folded = ["subscriptions", "providers"]
        .into_iter()
        .find(|word| first.eq_ignore_ascii_case(word) && first != *word);
    let Some(word) = folded else {
        return req;
    };
    let rest = &path[1 + first.len()..];
    let mut rewritten = format!("/{word}{rest}");
    if let Some(query) = req.uri().query() {
        rewritten.push('?');
        rewritten.push_str(query);
    }
    if let Ok(uri) = rewritten.parse() {
        *req.uri_mut() = uri;
    }
    req
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(health::healthz))
        .route("/readyz", axum::routing::get(health::readyz))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", axum::routing::get(identity::openid_configuration_v2))
        .route("/{tenant}/.well-known/openid-configuration", axum::routing::get(identity::openid_configuration_v1))
        .route("/{tenant}/discovery/v2.0/keys", axum::routing::get(identity::keys_v2))
        .route("/{tenant}/discovery/keys", axum::routing::get(identity::keys_v1))
        .route("/{tenant}/discovery/instance", axum::routing::get(identity::instance_discovery))
        .route("/{tenant}/userrealm/{username}", axum::routing::get(identity::user_realm))
        .route(
            "/{tenant}/oauth2/v2.0/token",
            axum::routing::post(token::token_v2)
                .options(token::preflight)
                .fallback(token::not_post)
                .layer(axum::extract::DefaultBodyLimit::max(EXTRACT_LIMIT)),
        )
        .route(
            "/{tenant}/oauth2/token",
            axum::routing::post(token::token_v1)
                .options(token::preflight)
                .fallback(token::not_post)
                .layer(axum::extract::DefaultBodyLimit::max(EXTRACT_LIMIT)),
        )
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            axum::routing::post(token::device::device_authorization).layer(axum::extract::DefaultBodyLimit::max(EXTRACT_LIMIT)),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            axum::routing::get(token::authorize::authorize_v2)
                .post(token::authorize::authorize_post_v2)
                .layer(axum::extract::DefaultBodyLimit::max(64 * 1024)),
        )
        .route(
            "/{tenant}/oauth2/authorize",
            axum::routing::get(token::authorize::authorize_v1)
                .post(token::authorize::authorize_post_v1)
                .layer(axum::extract::DefaultBodyLimit::max(64 * 1024)),
        )
        .route("/{tenant}/oauth2/v2.0/logout", axum::routing::get(token::authorize::logout))
        .route("/{tenant}/oauth2/logout", axum::routing::get(token::authorize::logout))
        .route(
            "/{tenant}/oauth2/devicecode",
            axum::routing::post(token::device::device_authorization_v1).layer(axum::extract::DefaultBodyLimit::max(EXTRACT_LIMIT)),
        )
        .route(
            "/devicelogin",
            axum::routing::get(token::device::device_login_page)
                .post(token::device::device_login)
                .layer(axum::extract::DefaultBodyLimit::max(64 * 1024)),
        )
        .route(
            "/oidc/userinfo",
            axum::routing::get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route(
            "/v1.0/{*path}",
            axum::routing::any(graph::dispatch).layer(axum::extract::DefaultBodyLimit::max(EXTRACT_LIMIT)),
        )
        .route("/subscriptions", axum::routing::any(arm::dispatch))
        .route(
            "/subscriptions/{*path}",
            axum::routing::any(arm::dispatch).layer(axum::extract::DefaultBodyLimit::max(EXTRACT_LIMIT)),
        )
        .route(
            "/providers/{*path}",
            axum::routing::any(arm::dispatch).layer(axum::extract::DefaultBodyLimit::max(EXTRACT_LIMIT)),
        )
        // Every route above reads at most DEFAULT_BODY_LIMIT; the data planes
        // below stream or bound their bodies themselves, answering an oversize
        // one in their own protocol's shape.
        .route_layer(RequestBodyLimitLayer::new(DEFAULT_BODY_LIMIT))
        .route("/fhir/{*path}", axum::routing::any(dataplane::fhir))
        .route("/dicom/{*path}", axum::routing::any(dataplane::dicom))
        .fallback(not_found)
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn(client_address))
                .layer(axum::middleware::from_fn(read_small_body))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    // Spans carry method, path and request ID: never the query
                    // string or headers, which can hold codes, tokens and secrets.
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request<_>| {
                            let id = req
                                .extensions()
                                .get::<RequestId>()
                                .and_then(|id| id.header_value().to_str().ok())
                                .unwrap_or("-");
                            tracing::info_span!("request", id, method = %req.method(), path = req.uri().path())
                        })
                        .on_request(())
                        .on_response(|res: &axum::http::Response<_>, latency: Duration, _span: &Span| {
                            tracing::info!(status = res.status().as_u16(), latency_us = latency.as_micros() as u64, "served");
                        }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
        )
}

/// Request bodies of at most this declared length are read before the
/// handler runs ([`read_small_body`]).
const SMALL_BODY: u64 = 64 * 1024;

/// Reads a small request body (its `Content-Length` at most [`SMALL_BODY`])
/// before the handler runs. A handler that answers without reading the body
/// (a refusal: no such service, no token, a wrong content type) would
/// otherwise answer while the client is still sending it, and over HTTP/2
/// the server then resets the stream, which some clients (curl) report as an
/// error in place of the answer. Larger bodies are streamed to the handler
/// as they come.
async fn read_small_body(
    request: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if !declared.is_some_and(|n| n > 0 && n <= SMALL_BODY) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, SMALL_BODY as usize).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(_) => (
            StatusCode::BAD_REQUEST,
            "The request body could not be read.",
        )
            .into_response(),
    }
}

/// Puts the connection's peer address in [`CLIENT_ADDRESS`] (removing any the
/// client sent).
async fn client_address(
    mut request: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    request.headers_mut().remove(CLIENT_ADDRESS);
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string());
    if let Some(value) = peer.and_then(|p| axum::http::HeaderValue::from_str(&p).ok()) {
        request.headers_mut().insert(CLIENT_ADDRESS, value);
    }
    next.run(request).await
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({
            "error": { "code": "NotFound", "message": "No such endpoint." }
        })),
    )
        .into_response()
}
