//! Azure Resource Manager's error shape: `{"error":{"code","message"}}`, with
//! ARM's codes for each mistake a caller can make.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hale_store::StoreError;

use crate::http::auth::TokenFault;

/// An ARM error response.
#[derive(Debug)]
pub(crate) struct ArmFailure {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ArmFailure {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ArmFailure {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn missing_api_version() -> Self {
        Self::bad_request(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    }

    pub fn invalid_api_version(given: &str) -> Self {
        Self::bad_request(
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{given}' is invalid. The supported versions are dates such as '2023-11-01', optionally followed by '-preview'."
            ),
        )
    }

    pub fn subscription_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            format!("The subscription '{id}' could not be found."),
        )
    }

    pub fn resource_group_not_found(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ResourceGroupNotFound",
            format!("Resource group '{name}' could not be found."),
        )
    }

    /// A resource below a resource group: `kind` such as
    /// `Microsoft.HealthcareApis/workspaces/ws1`.
    pub fn resource_not_found(resource: &str, group: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!(
                "The Resource '{resource}' under resource group '{group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
            ),
        )
    }

    /// A nested resource (or a listing of them) under a parent that does not
    /// exist, e.g. a FHIR service of a missing workspace.
    pub fn parent_resource_not_found(parent: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ParentResourceNotFound",
            format!(
                "Can not perform requested operation on nested resource. Parent resource '{parent}' not found."
            ),
        )
    }

    pub fn authorization_failed(client: &str, object_id: &str, action: &str, scope: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "AuthorizationFailed",
            format!(
                "The client '{client}' with object id '{object_id}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
            ),
        )
    }

    pub fn invalid_content(why: impl std::fmt::Display) -> Self {
        Self::bad_request(
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{why}'."),
        )
    }

    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("The HTTP method '{method}' is not supported at this resource."),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "The server encountered an internal error; try again.",
        )
    }

    /// ARM's 401s, by what was wrong with the token.
    pub fn unauthenticated(fault: TokenFault) -> Self {
        let (code, message) = match fault {
            TokenFault::Missing => (
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            ),
            TokenFault::Malformed => (
                "InvalidAuthenticationToken",
                "The access token is invalid: it is not a well-formed JWT.",
            ),
            TokenFault::Signature => (
                "InvalidAuthenticationToken",
                "The access token is invalid: its signature could not be verified.",
            ),
            TokenFault::Lifetime => (
                "ExpiredAuthenticationToken",
                "The access token is expired or not yet valid.",
            ),
            TokenFault::Audience => (
                "InvalidAuthenticationTokenAudience",
                "The access token has been obtained for wrong audience or resource. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.",
            ),
            TokenFault::Tenant | TokenFault::Issuer => (
                "InvalidAuthenticationTokenTenant",
                "The access token is from a tenant or issuer this server does not know.",
            ),
            TokenFault::NoObjectId => (
                "InvalidAuthenticationToken",
                "The access token is invalid: it has no object ID.",
            ),
        };
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
}

impl From<StoreError> for ArmFailure {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage error behind an ARM request");
        ArmFailure::internal()
    }
}

impl IntoResponse for ArmFailure {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            let value = format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                self.message.replace('"', "'")
            );
            if let Ok(v) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        response
    }
}
