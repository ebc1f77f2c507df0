//! FHIR errors and response framing: every failure is an OperationOutcome
//! whose `id` is the request's `X-Request-Id`, with the status and issue code
//! Azure's FHIR service uses for the same failure.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hale_fhir_model::Issue;
use hale_store::StoreError;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::http::REQUEST_ID;

pub(super) const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// A failed FHIR request: the status and the issues of its OperationOutcome.
#[derive(Debug)]
pub(super) struct FhirError {
    pub status: StatusCode,
    pub issues: Vec<Value>,
    /// For 410 Gone: the version that deleted the resource (its ETag).
    pub etag: Option<i64>,
}

impl FhirError {
    pub fn new(status: StatusCode, code: &str, diagnostics: impl Into<String>) -> Self {
        FhirError {
            status,
            issues: vec![
                json!({ "severity": "error", "code": code, "diagnostics": diagnostics.into() }),
            ],
            etag: None,
        }
    }

    pub fn invalid(diagnostics: impl Into<String>) -> Self {
        FhirError::new(StatusCode::BAD_REQUEST, "invalid", diagnostics)
    }

    pub fn not_found(diagnostics: impl Into<String>) -> Self {
        FhirError::new(StatusCode::NOT_FOUND, "not-found", diagnostics)
    }

    pub fn resource_not_found(resource_type: &str, id: &str) -> Self {
        FhirError::not_found(format!(
            "Resource type '{resource_type}' with id '{id}' couldn't be found."
        ))
    }

    pub fn gone(resource_type: &str, id: &str, version: i64) -> Self {
        let mut e = FhirError::new(
            StatusCode::GONE,
            "deleted",
            format!("The requested resource '{resource_type}/{id}' has been deleted."),
        );
        e.etag = Some(version);
        e
    }

    pub fn precondition(diagnostics: impl Into<String>) -> Self {
        FhirError::new(StatusCode::PRECONDITION_FAILED, "conflict", diagnostics)
    }

    pub fn version_mismatch(supplied: &str) -> Self {
        FhirError::precondition(format!("The supplied version '{supplied}' did not match."))
    }

    /// 400 (or the status given) from model issues.
    pub fn from_issues(status: StatusCode, issues: &[Issue]) -> Self {
        FhirError {
            status,
            issues: issues.iter().map(Issue::to_json).collect(),
            etag: None,
        }
    }

    pub fn internal(what: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "{what}");
        FhirError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "exception",
            format!("{what}; try again."),
        )
    }

    /// The error as the response a client sees.
    pub fn response(&self, headers: &HeaderMap) -> Response {
        let mut response = fhir_json(self.status, operation_outcome(headers, &self.issues));
        if let Some(v) = self.etag {
            response.headers_mut().insert(header::ETAG, etag(v));
        }
        response
    }
}

impl From<StoreError> for FhirError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => FhirError::new(
                StatusCode::CONFLICT,
                "conflict",
                "The resource was changed by another request at the same time; retry.",
            ),
            other => FhirError::internal("The FHIR data store failed", &other),
        }
    }
}

impl From<hale_fhir_store::SearchError> for FhirError {
    fn from(e: hale_fhir_store::SearchError) -> Self {
        match e {
            hale_fhir_store::SearchError::Invalid(issues) => {
                FhirError::from_issues(StatusCode::BAD_REQUEST, &issues)
            }
            hale_fhir_store::SearchError::Store(e) => e.into(),
        }
    }
}

pub(super) type FhirResult<T> = Result<T, FhirError>;

pub(super) fn request_id(headers: &HeaderMap) -> &str {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

pub(super) fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// An OperationOutcome with the given issues, its `id` the request's ID
/// when that is a valid FHIR id (a client's `X-Request-Id` may be anything;
/// it is still echoed in the header).
pub(super) fn operation_outcome(headers: &HeaderMap, issues: &[Value]) -> Value {
    let mut outcome = json!({
        "resourceType": "OperationOutcome",
        "meta": { "lastUpdated": now_rfc3339() },
        "issue": issues,
    });
    let id = request_id(headers);
    if hale_fhir_model::primitives::is_id(id) {
        outcome["id"] = Value::String(id.to_owned());
    }
    outcome
}

/// A single-issue OperationOutcome response.
pub(super) fn outcome(
    headers: &HeaderMap,
    status: StatusCode,
    code: &str,
    diagnostics: &str,
) -> Response {
    let severity = if status.is_success() {
        "information"
    } else {
        "error"
    };
    let issue = json!({ "severity": severity, "code": code, "diagnostics": diagnostics });
    fhir_json(status, operation_outcome(headers, &[issue]))
}

pub(super) fn fhir_json(status: StatusCode, body: Value) -> Response {
    fhir_bytes(status, body.to_string().into_bytes())
}

pub(super) fn fhir_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, FHIR_JSON)], body).into_response()
}

/// `W/"n"`.
pub(super) fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("W/\"{version}\""))
        .unwrap_or(HeaderValue::from_static("W/\"0\""))
}

/// An instant in microseconds as an HTTP date (`Last-Modified`).
pub(super) fn http_date(micros: i64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1000) else {
        return String::new();
    };
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&format).unwrap_or_default()
}

/// An instant in microseconds as FHIR `instant` (`meta.lastUpdated`),
/// millisecond precision with an explicit UTC offset, as Azure writes it.
pub(super) fn fhir_instant(micros: i64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1000) else {
        return String::new();
    };
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+00:00"
    );
    t.format(&format).unwrap_or_default()
}

pub(super) fn now_micros() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        // 2024-02-29T12:34:56.789012Z
        let t = 1_709_210_096_789_012;
        assert_eq!(fhir_instant(t), "2024-02-29T12:34:56.789+00:00");
        assert_eq!(http_date(t), "Thu, 29 Feb 2024 12:34:56 GMT");
        assert_eq!(etag(7), "W/\"7\"");
    }
}
