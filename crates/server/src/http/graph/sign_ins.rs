//! `/v1.0/auditLogs/signIns`: the sign-in log, newest first, as Graph's
//! `signIn` objects, with `$filter` (e.g. `status/errorCode eq 50126`,
//! `appId eq '…'`, `userPrincipalName eq '…'`) and `$top`.

use axum::http::StatusCode;
use axum::response::Response;
use hale_directory::{AppId, access, first_party};
use hale_store::sign_in_log::{self, SignInEvent};
use hale_store::{StoreError, applications};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::{GraphError, context, json as respond};
use crate::http::AppState;
use crate::http::auth::Caller;

/// The most events one request reads.
const MAX_EVENTS: usize = 1000;

fn value(e: &SignInEvent, app_name: Option<String>) -> Value {
    json!({
        "id": e.id,
        "createdDateTime": e.created_at.format(&Rfc3339).unwrap_or_default(),
        "appId": e.app_id,
        "appDisplayName": app_name.or_else(|| e.app_display_name.clone()),
        "userId": e.user_id,
        "userPrincipalName": e.user_principal_name,
        "ipAddress": e.ip_address,
        "clientAppUsed": e.client_app_used,
        "resourceDisplayName": e.resource,
        "isInteractive": matches!(e.client_app_used.as_str(), "authorization_code" | "device_code" | "urn:ietf:params:oauth:grant-type:device_code"),
        "status": {
            "errorCode": e.error_code,
            "failureReason": e.failure_reason.clone().unwrap_or_else(|| "Other.".into()),
        },
    })
}

pub(super) async fn list(
    state: &AppState,
    caller: &Caller,
    query: &[(String, String)],
) -> Result<Response, GraphError> {
    caller.require(access::may_read_sign_ins)?;
    let q = hale_odata::parse_query(
        query.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &hale_odata::Limits::default(),
    )
    .map_err(super::collection::odata_error)?;
    let top = (q.top as usize).min(MAX_EVENTS);
    let tenant = caller.tenant_id;
    let events = state
        .store
        .read(move |tx| {
            let events = sign_in_log::recent(tx, tenant, MAX_EVENTS)?;
            let mut named = Vec::with_capacity(events.len());
            for e in events {
                let name = match e.app_id.as_deref().and_then(|a| a.parse::<AppId>().ok()) {
                    Some(app) => match first_party::by_app_id(app) {
                        Some(fp) => Some(fp.display_name.to_owned()),
                        None => applications::by_app_id(tx, app)?.map(|a| a.display_name),
                    },
                    None => None,
                };
                named.push(value(&e, name));
            }
            Ok::<_, StoreError>(named)
        })
        .await?;
    let items: Vec<Value> = events
        .into_iter()
        .filter(|v| q.filter.as_ref().is_none_or(|f| f.matches(v)))
        .take(top)
        .map(|v| match &q.select {
            Some(select) => hale_odata::apply_select(&v, select),
            None => v,
        })
        .collect();
    Ok(respond(
        StatusCode::OK,
        json!({ "@odata.context": context(state, "auditLogs/signIns"), "value": items }),
    ))
}
