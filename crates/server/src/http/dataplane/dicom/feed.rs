//! DELETE of studies, series and instances, and the change feed.

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hale_dicom::ApiVersion;
use hale_dicom_store::changefeed::{self, Entry};
use serde_json::{Map, Value, json};

use super::wado::Target;
use super::{Ctx, accepts_json, json_response, not_acceptable, query_params, storage_error, text};

/// Deletes what `target` names: index rows and change-feed entries in one
/// transaction (blob keys moved to the trash with them), then the blobs.
pub(super) async fn delete(ctx: &Ctx, target: Target) -> Response {
    let (svc, scope) = (ctx.svc, target.scope.clone());
    let deleted = ctx
        .state
        .store
        .write(move |tx| {
            hale_dicom_store::instances::delete(tx, svc, &scope, hale_dicom_store::now_micros())
        })
        .await;
    match deleted {
        Ok(Some(d)) => {
            super::empty_trash(&ctx.state, d.trash).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(None) => target.not_found(),
        Err(e) => storage_error(e),
    }
}

fn bad(message: String) -> Response {
    text(StatusCode::BAD_REQUEST, message)
}

fn timestamp(micros: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

fn entry_json(e: &Entry) -> Value {
    let mut m = Map::new();
    m.insert("Sequence".into(), json!(e.seq));
    m.insert("StudyInstanceUid".into(), json!(e.study_uid));
    m.insert("SeriesInstanceUid".into(), json!(e.series_uid));
    m.insert("SopInstanceUid".into(), json!(e.sop_uid));
    m.insert("Action".into(), json!(e.action));
    m.insert("Timestamp".into(), json!(timestamp(e.ts)));
    m.insert(
        "State".into(),
        json!(if e.current { "current" } else { "deleted" }),
    );
    if let Some(md) = &e.metadata {
        m.insert(
            "Metadata".into(),
            serde_json::from_str(md).unwrap_or(Value::Null),
        );
    }
    Value::Object(m)
}

fn invalid(name: &str, v: &str) -> String {
    format!("The value '{v}' is not valid for parameter '{name}'.")
}

fn parse_bool(name: &str, v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(name, v)),
    }
}

fn parse_int(name: &str, v: &str) -> Result<i64, String> {
    v.trim().parse::<i64>().map_err(|_| invalid(name, v))
}

fn parse_time(name: &str, v: &str) -> Result<i64, String> {
    let t = time::OffsetDateTime::parse(v.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|_| invalid(name, v))?;
    Ok((t.unix_timestamp_nanos() / 1000) as i64)
}

pub(super) async fn changefeed(ctx: &Ctx, uri: &Uri, headers: &HeaderMap) -> Response {
    if !accepts_json(headers, true) {
        return not_acceptable();
    }
    let v2 = ctx.api == ApiVersion::V2;
    let (mut offset, mut limit, mut include) = (0i64, if v2 { 100 } else { 10 }, true);
    let (mut start, mut end) = (i64::MIN, i64::MAX);
    let max = if v2 { 200 } else { 100 };
    for (k, v) in query_params(uri) {
        let r = match k.to_ascii_lowercase().as_str() {
            "offset" => parse_int("offset", &v).map(|n| offset = n),
            "limit" => parse_int("limit", &v).map(|n| limit = n),
            "includemetadata" => parse_bool("includeMetadata", &v).map(|b| include = b),
            "starttime" if v2 => parse_time("startTime", &v).map(|t| start = t),
            "endtime" if v2 => parse_time("endTime", &v).map(|t| end = t),
            _ => Ok(()),
        };
        if let Err(message) = r {
            return bad(message);
        }
    }
    if offset < 0 {
        return bad(format!(
            "The value '{offset}' is not valid for parameter 'offset'. It must be greater than or equal to 0."
        ));
    }
    if !(1..=max).contains(&limit) {
        return bad(format!(
            "The value '{limit}' is not valid for parameter 'limit'. It must be between 1 and {max}."
        ));
    }
    if start >= end {
        return bad("The startTime must be before the endTime.".into());
    }
    let svc = ctx.svc;
    let entries = ctx
        .state
        .store
        .read(move |tx| {
            if v2 {
                changefeed::by_time(tx, svc, start, end, offset, limit, include)
            } else {
                changefeed::by_sequence(tx, svc, offset, limit, include)
            }
        })
        .await;
    match entries {
        Ok(entries) => {
            let list: Vec<Value> = entries.iter().map(entry_json).collect();
            json_response(
                StatusCode::OK,
                "application/json; charset=utf-8",
                serde_json::to_vec(&list).unwrap_or_default(),
            )
        }
        Err(e) => storage_error(e),
    }
}

pub(super) async fn latest(ctx: &Ctx, uri: &Uri, headers: &HeaderMap) -> Response {
    if !accepts_json(headers, true) {
        return not_acceptable();
    }
    let mut include = true;
    for (k, v) in query_params(uri) {
        if k.eq_ignore_ascii_case("includemetadata") {
            match parse_bool("includeMetadata", &v) {
                Ok(b) => include = b,
                Err(message) => return bad(message),
            }
        }
    }
    let svc = ctx.svc;
    match ctx
        .state
        .store
        .read(move |tx| changefeed::latest(tx, svc, include))
        .await
    {
        Ok(Some(e)) => json_response(
            StatusCode::OK,
            "application/json; charset=utf-8",
            serde_json::to_vec(&entry_json(&e)).unwrap_or_default(),
        ),
        // Azure answers an empty feed's latest with an empty object.
        Ok(None) => json_response(
            StatusCode::OK,
            "application/json; charset=utf-8",
            b"{}".to_vec(),
        ),
        Err(e) => storage_error(e),
    }
}
