//! Microsoft Graph's error shape:
//! `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hale_directory::DirectoryError;
use hale_store::StoreError;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A Graph error, before the request's IDs are attached.
#[derive(Debug)]
pub(crate) struct GraphError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl GraphError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        GraphError {
            status: StatusCode::BAD_REQUEST,
            code: "Request_BadRequest",
            message: message.into(),
        }
    }

    pub fn not_found(id: &str) -> Self {
        GraphError {
            status: StatusCode::NOT_FOUND,
            code: "Request_ResourceNotFound",
            message: format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        GraphError {
            status: StatusCode::UNAUTHORIZED,
            code: "InvalidAuthenticationToken",
            message: message.into(),
        }
    }

    pub fn forbidden() -> Self {
        GraphError {
            status: StatusCode::FORBIDDEN,
            code: "Authorization_RequestDenied",
            message: "Insufficient privileges to complete the operation.".into(),
        }
    }

    pub fn internal() -> Self {
        GraphError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "generalException",
            message: "An internal server error occurred.".into(),
        }
    }

    /// The response, with the IDs Graph puts in `innerError`.
    pub fn into_response_for(self, headers: &HeaderMap) -> Response {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header(super::super::REQUEST_ID.as_str()).unwrap_or_default();
        let client_request_id = header("client-request-id").unwrap_or_else(|| request_id.clone());
        let date = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default();
        let body = serde_json::json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": date,
                    "request-id": request_id,
                    "client-request-id": client_request_id,
                }
            }
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"\", authorization_uri=\"\", client_id=\"00000003-0000-0000-c000-000000000000\""),
            );
        }
        response
    }
}

impl From<DirectoryError> for GraphError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::InvalidProperty { .. }
            | DirectoryError::InvalidDomain(..)
            | DirectoryError::WeakPassword
            | DirectoryError::UnverifiedDomain => GraphError::bad_request(e.to_string()),
            DirectoryError::PasswordHash(_) => GraphError::internal(),
        }
    }
}

impl From<StoreError> for GraphError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage error behind a Graph request");
        GraphError::internal()
    }
}

/// Graph errors are rendered by [`super::respond`], which knows the request's
/// headers; this fallback (no IDs) exists for extractors.
impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        self.into_response_for(&HeaderMap::new())
    }
}

/// Work that failed inside a transaction: a Graph answer, or storage trouble.
pub(crate) enum Failure {
    Graph(GraphError),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}
impl From<GraphError> for Failure {
    fn from(e: GraphError) -> Self {
        Failure::Graph(e)
    }
}
impl From<DirectoryError> for Failure {
    fn from(e: DirectoryError) -> Self {
        Failure::Graph(e.into())
    }
}
impl From<Failure> for GraphError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Graph(e) => e,
            Failure::Store(e) => e.into(),
        }
    }
}
