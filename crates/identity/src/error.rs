//! Entra's OAuth error JSON.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;
use uuid::Uuid;

/// An OAuth error as Entra reports it: an OAuth `error`, an AADSTS code and its
/// description, and the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub code: u32,
    pub description: String,
}

impl OAuthError {
    fn new(status: u16, error: &'static str, code: u32, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            code,
            description: description.into(),
        }
    }

    /// AADSTS90002: the tenant does not exist.
    pub fn tenant_not_found(tenant: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        )
    }

    /// AADSTS900023: the tenant segment is neither a GUID nor a domain.
    pub fn invalid_tenant(tenant: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            900023,
            format!(
                "Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid external domain."
            ),
        )
    }

    /// AADSTS50049: instance discovery for an authority this server does not serve.
    pub fn unknown_instance(authority: &str) -> Self {
        Self::new(
            400,
            "invalid_instance",
            50049,
            format!("Unknown or invalid instance: {authority}."),
        )
    }

    /// AADSTS900144: a required parameter is missing.
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    /// The JSON body, with fresh trace and correlation IDs (the correlation ID
    /// the client sent, when it sent one).
    pub fn to_json(&self, correlation_id: Option<&str>) -> Value {
        let trace = Uuid::new_v4().to_string();
        let correlation = correlation_id
            .and_then(|c| Uuid::parse_str(c).ok())
            .unwrap_or_else(Uuid::new_v4)
            .to_string();
        let timestamp = OffsetDateTime::now_utc()
            .format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]Z"
            ))
            .unwrap_or_default();
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_shape() {
        let body = OAuthError::missing_parameter("grant_type")
            .to_json(Some("0b5c1e9e-5a43-4c3c-9a57-1b2a8d9f0c11"));
        assert_eq!(body["error"], "invalid_request");
        assert_eq!(body["error_codes"], json!([900144]));
        let description = body["error_description"].as_str().unwrap();
        assert!(description.starts_with("AADSTS900144: The request body must contain the following parameter: 'grant_type'.\r\nTrace ID: "));
        assert!(
            description.contains("\r\nCorrelation ID: 0b5c1e9e-5a43-4c3c-9a57-1b2a8d9f0c11\r\n")
        );
        assert_eq!(
            body["correlation_id"],
            "0b5c1e9e-5a43-4c3c-9a57-1b2a8d9f0c11"
        );
        let ts = body["timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), "2016-01-09 02:02:12Z".len());
        assert!(description.ends_with(&format!("Timestamp: {ts}")));
        assert_eq!(
            body["error_uri"],
            "https://login.microsoftonline.com/error?code=900144"
        );
    }
}
