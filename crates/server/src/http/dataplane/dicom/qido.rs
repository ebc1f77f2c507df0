//! QIDO-RS: search at the study, series and instance levels.

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hale_dicom::qido::{QueryResource, parse_query_with};

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
    let (svc, api, params) = (ctx.svc, ctx.api, query_params(uri));
    // The extended query tags and the search read one snapshot.
    let (query, found) = match ctx
        .state
        .store
        .read(move |tx| {
            let tags = hale_dicom_store::extended::queryable(tx, svc)?;
            match parse_query_with(resource, &params, api, &tags) {
                Ok(q) => {
                    let found = hale_dicom_store::qido::search(tx, svc, &q)?;
                    Ok::<_, hale_store::StoreError>(Ok((q, found)))
                }
                Err(e) => Ok(Err(e)),
            }
        })
        .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return dicom_error(&e),
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
