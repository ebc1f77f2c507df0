//! `/oidc/userinfo`: the OpenID Connect UserInfo endpoint the discovery
//! documents name (Entra's lives on Graph's host, so it takes a Graph token,
//! the one a sign-in with `openid profile` returns, and answers errors in
//! Graph's shape).
//!
//! The claims are the signed-in user's, as the directory holds them now:
//! `sub` as the ID token issued to the same client has it (pairwise), and
//! `name`, `given_name`, `family_name` and `email` where the user has them.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use hale_store::users;
use serde_json::{Map, Value, json};

use super::AppState;
use super::auth;
use super::graph::GraphError;

/// `GET` or `POST /oidc/userinfo`.
pub(crate) async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match claims(&state, &headers).await {
        Ok(claims) => Json(claims).into_response(),
        Err(e) => e.into_response_for(&headers),
    }
}

async fn claims(state: &AppState, headers: &HeaderMap) -> Result<Value, GraphError> {
    let bearer = auth::verify_graph_bearer(state, headers).await?;
    if bearer.is_app {
        return Err(GraphError::unauthorized(
            "The UserInfo endpoint needs a token issued to a signed-in user, not to an application.",
        ));
    }
    let sub = bearer
        .text("sub")
        .ok_or_else(|| {
            GraphError::unauthorized("Access token validation failure. The token has no subject.")
        })?
        .to_owned();
    let (tenant, oid) = (bearer.tenant_id, bearer.object_id);
    let user = state
        .store
        .read_short(move |tx| users::get(tx, tenant, oid))
        .await?
        .filter(|u| u.account_enabled)
        .ok_or_else(|| {
            GraphError::unauthorized(
                "Access token validation failure. The user of this token no longer exists or is disabled.",
            )
        })?;
    let mut out = Map::new();
    out.insert("sub".into(), json!(sub));
    let mut put = |name: &str, value: Option<&String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            out.insert(name.into(), json!(v));
        }
    };
    put("name", Some(&user.display_name));
    put("given_name", user.profile.given_name.as_ref());
    put("family_name", user.profile.surname.as_ref());
    put("email", user.profile.mail.as_ref());
    Ok(Value::Object(out))
}
