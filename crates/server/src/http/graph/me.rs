//! `/v1.0/me`: the signed-in user of a delegated token. Application tokens
//! have no signed-in user and get Graph's 400.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hale_directory::access::Principal;
use serde_json::{Map, Value};

use super::GraphError;
use super::directory::{Depth, MemberIds, UserKey};
use super::users;
use crate::http::AppState;
use crate::http::auth::Caller;

fn signed_in(caller: &Caller) -> Result<UserKey, GraphError> {
    match caller.principal {
        Principal::User { .. } => Ok(UserKey::Id(caller.object_id.0)),
        Principal::Application => Err(GraphError {
            status: StatusCode::BAD_REQUEST,
            code: "BadRequest",
            message: "/me request is only valid with delegated authentication flow.".into(),
        }),
    }
}

pub(super) async fn get(
    state: &AppState,
    caller: &Caller,
    query: &[(String, String)],
) -> Result<Response, GraphError> {
    let key = signed_in(caller)?;
    users::get(state, caller, key, query).await
}

pub(super) async fn member_of(
    state: &AppState,
    caller: &Caller,
    depth: Depth,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    let key = signed_in(caller)?;
    users::member_of(state, caller, key, depth, query, headers).await
}

/// `POST /me/getMemberGroups`, `/me/getMemberObjects`.
pub(super) async fn member_ids(
    state: &AppState,
    caller: &Caller,
    ids: MemberIds,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    let key = signed_in(caller)?;
    users::member_ids(state, caller, key, ids, body).await
}
