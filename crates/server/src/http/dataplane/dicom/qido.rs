//! QIDO-RS: search at the study, series and instance levels.

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hale_dicom::qido::{QueryResource, parse_query};

use super::{
    Ctx, accepts_json, dicom_error, json_response, not_acceptable, query_params, storage_error,
};

pub(super) async fn search(
    ctx: &Ctx,
    resource: QueryResource,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    if !accepts_json(headers, true) {
        return not_acceptable();
    }
    let query = match parse_query(resource, &query_params(uri), ctx.api) {
        Ok(q) => q,
        Err(e) => return dicom_error(&e),
    };
    let svc = ctx.svc;
    let q = query.clone();
    let found = match ctx
        .state
        .store
        .read(move |tx| hale_dicom_store::qido::search(tx, svc, &q))
        .await
    {
        Ok(found) => found,
        Err(e) => return storage_error(e),
    };
    if found.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let results: Vec<serde_json::Value> = found.iter().map(|m| m.to_json(&query)).collect();
    json_response(
        StatusCode::OK,
        "application/dicom+json",
        serde_json::to_vec(&results).unwrap_or_default(),
    )
}
