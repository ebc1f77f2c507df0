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

    /// AADSTS70003: a grant type Hale does not (yet) support.
    pub fn unsupported_grant_type(grant: &str) -> Self {
        Self::new(
            400,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        )
    }

    /// AADSTS700016: no such application in the tenant.
    pub fn unknown_client(client_id: &str, tenant: &str) -> Self {
        Self::new(
            400,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    }

    /// AADSTS7000112: the application's service principal in the tenant is
    /// disabled (`accountEnabled: false`); no grant gets a token for it.
    pub fn app_disabled(client_id: &str, name: &str) -> Self {
        Self::new(
            400,
            "unauthorized_client",
            7000112,
            format!("Application '{client_id}'({name}) is disabled."),
        )
    }

    /// AADSTS7000229: the application has no service principal in the tenant.
    pub fn missing_service_principal(client_id: &str, tenant: &str) -> Self {
        Self::new(
            400,
            "invalid_client",
            7000229,
            format!(
                "The client application {client_id} is missing service principal in the tenant {tenant}."
            ),
        )
    }

    /// AADSTS50146: the resource has a claims-mapping policy but has not set
    /// `api.acceptMappedClaims` (Entra's other way out, an application-specific
    /// signing key, Hale does not offer).
    pub fn mapped_claims_not_accepted() -> Self {
        Self::new(
            400,
            "invalid_client",
            50146,
            "This application is required to be configured with an application-specific signing key. It is either not configured with one, or the key has expired or isn't yet valid. Please contact the application's administrator.",
        )
    }

    /// AADSTS7000218: a confidential client sent no credential.
    pub fn missing_credential() -> Self {
        Self::new(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    }

    /// AADSTS7000215: wrong client secret.
    pub fn invalid_secret(client_id: &str) -> Self {
        Self::new(
            401,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        )
    }

    /// AADSTS7000222: the client secret has expired.
    pub fn expired_secret(client_id: &str) -> Self {
        Self::new(
            401,
            "invalid_client",
            7000222,
            format!(
                "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app."
            ),
        )
    }

    /// The error for a refused client assertion, with the AADSTS code Entra
    /// uses for the same mistake.
    pub fn invalid_assertion(
        e: &crate::assertion::AssertionError,
        client_id: &str,
        audience: &str,
    ) -> Self {
        use crate::assertion::AssertionError as E;
        match e {
            E::Malformed(why) => Self::new(
                401,
                "invalid_client",
                50027,
                format!("JWT token is invalid or malformed: {why}."),
            ),
            E::UnknownCertificate => Self::new(
                401,
                "invalid_client",
                700027,
                format!(
                    "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'.]"
                ),
            ),
            E::CertificateNotCurrent => Self::new(
                401,
                "invalid_client",
                700027,
                format!(
                    "The certificate used to sign the client assertion has expired or is not yet valid for app Id '{client_id}'."
                ),
            ),
            E::BadSignature => Self::new(
                401,
                "invalid_client",
                700027,
                "Client assertion failed signature validation.",
            ),
            E::OutsideValidity => Self::new(
                401,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            ),
            E::WrongAudience => Self::new(
                401,
                "invalid_client",
                700212,
                format!(
                    "No matching federated identity record found for presented assertion audience. The assertion's 'aud' must be the token endpoint: {audience}."
                ),
            ),
            E::WrongIssuer => Self::new(
                401,
                "invalid_client",
                700021,
                format!(
                    "Client assertion application identifier doesn't match 'client_id' parameter ('{client_id}'): 'iss' and 'sub' must both be the client ID."
                ),
            ),
        }
    }

    /// AADSTS700019 / 50027: `client_assertion_type` is not a JWT bearer.
    pub fn unsupported_assertion_type(kind: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            50027,
            format!(
                "The client_assertion_type '{kind}' is not supported; use 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'."
            ),
        )
    }

    /// A secret and an assertion both presented.
    pub fn several_credentials() -> Self {
        Self::new(
            400,
            "invalid_request",
            9002313,
            "Invalid request. Send either 'client_secret' or 'client_assertion', not both.",
        )
    }

    /// AADSTS1002012: client credentials need `{resource}/.default`.
    pub fn scope_not_default(scope: &str) -> Self {
        Self::new(
            400,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        )
    }

    /// AADSTS28000: scopes for more than one resource in one request.
    pub fn several_resources(scope: &str) -> Self {
        Self::new(
            400,
            "invalid_scope",
            28000,
            format!(
                "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope {scope} is not valid."
            ),
        )
    }

    /// AADSTS500011: the resource is not in the tenant.
    pub fn unknown_resource(resource: &str, tenant: &str) -> Self {
        Self::new(
            400,
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
        )
    }

    /// AADSTS901002: `resource` sent to the v2 endpoint.
    pub fn resource_on_v2() -> Self {
        Self::new(
            400,
            "invalid_request",
            901002,
            "The 'resource' request parameter is not supported.",
        )
    }

    /// AADSTS900023-style refusal of `common`/`organizations` for app-only tokens.
    pub fn tenant_required(alias: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            900023,
            format!(
                "Specified tenant identifier '{alias}' is not valid for client credentials: use the tenant ID or domain."
            ),
        )
    }

    /// AADSTS900561: the token endpoint asked with another method than POST.
    pub fn post_only(method: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            900561,
            format!("The endpoint only accepts POST requests. Received a {method} request."),
        )
    }

    /// AADSTS9002313: the request body is not a form.
    pub fn malformed_request(why: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            9002313,
            format!("Invalid request. Request is malformed or invalid: {why}"),
        )
    }

    /// AADSTS50126: wrong password.
    pub fn invalid_credentials() -> Self {
        Self::new(
            400,
            "invalid_grant",
            50126,
            "Error validating credentials due to invalid username or password.",
        )
    }

    /// AADSTS50034: no such user.
    pub fn unknown_user(username: &str, tenant: &str) -> Self {
        Self::new(
            400,
            "invalid_grant",
            50034,
            format!(
                "The user account {username} does not exist in the {tenant} directory. To sign into this application, the account must be added to the directory."
            ),
        )
    }

    /// AADSTS50057: the user account is disabled.
    pub fn user_disabled() -> Self {
        Self::new(400, "invalid_grant", 50057, "The user account is disabled.")
    }

    /// AADSTS65001: no consent for the delegated permissions asked.
    pub fn consent_required(client_id: &str, resource: &str) -> Self {
        Self::new(
            400,
            "invalid_grant",
            65001,
            format!(
                "The user or administrator has not consented to use the application with ID '{client_id}'. Send an interactive authorization request for this user and resource ({resource})."
            ),
        )
    }

    /// AADSTS65001 as the authorization endpoint sends it back for
    /// `prompt=none`: OpenID Connect's `consent_required` (Core 3.1.2.6),
    /// where the token endpoint says `invalid_grant`.
    pub fn silent_consent_required(client_id: &str, resource: &str) -> Self {
        OAuthError {
            error: "consent_required",
            ..Self::consent_required(client_id, resource)
        }
    }

    /// AADSTS70011: a scope that is not valid.
    pub fn invalid_scope(scope: &str) -> Self {
        Self::new(
            400,
            "invalid_scope",
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        )
    }

    /// AADSTS7000218 for redirect-less flows of confidential clients: "Allow
    /// public client flows" is off and no credential was given.
    pub fn public_flows_disabled() -> Self {
        Self::new(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    }

    /// AADSTS700025: a public client presented a credential.
    pub fn public_client_with_secret() -> Self {
        Self::new(
            401,
            "invalid_client",
            700025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        )
    }

    /// AADSTS70000: a refresh token that is unknown, revoked, or another
    /// client's.
    pub fn refresh_token_invalid() -> Self {
        Self::new(
            400,
            "invalid_grant",
            70000,
            "Provided grant is invalid or malformed.",
        )
    }

    /// AADSTS700082: a refresh token past its inactivity window.
    pub fn refresh_token_expired() -> Self {
        Self::new(
            400,
            "invalid_grant",
            700082,
            "The refresh token has expired due to inactivity. The token was issued on a date and was inactive for 90 days.",
        )
    }

    /// AADSTS70016: the user has not finished the device sign-in yet.
    pub fn authorization_pending() -> Self {
        Self::new(
            400,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )
    }

    /// AADSTS70019: the device code expired before the user signed in.
    pub fn device_code_expired() -> Self {
        Self::new(400, "expired_token", 70019, "Verification code expired.")
    }

    /// The user declined the device sign-in.
    pub fn authorization_declined() -> Self {
        Self::new(
            400,
            "authorization_declined",
            70000,
            "The end user denied the authorization request.",
        )
    }

    /// A device code that is unknown or already used.
    pub fn bad_verification_code() -> Self {
        Self::new(
            400,
            "bad_verification_code",
            70000,
            "The device_code sent to the token endpoint wasn't recognized.",
        )
    }

    /// AADSTS50011: the redirect URI is not registered for the application.
    pub fn redirect_mismatch(redirect_uri: &str, client_id: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            50011,
            format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal."
            ),
        )
    }

    /// AADSTS9002313: a malformed request, with the reason.
    pub fn invalid_request(why: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            9002313,
            format!("Invalid request. {why}"),
        )
    }

    /// AADSTS700054-like: a `response_type` other than `code`.
    pub fn unsupported_response_type(kind: &str) -> Self {
        Self::new(
            400,
            "unsupported_response_type",
            700054,
            format!("response_type '{kind}' is not enabled for the application; use 'code'."),
        )
    }

    /// AADSTS9002325: SPA and public clients must use PKCE.
    pub fn pkce_required() -> Self {
        Self::new(
            400,
            "invalid_request",
            9002325,
            "Proof Key for Code Exchange is required for cross-origin authorization code redemption.",
        )
    }

    /// AADSTS50147: a code challenge of the wrong size or alphabet.
    pub fn bad_code_challenge() -> Self {
        Self::new(
            400,
            "invalid_request",
            50147,
            "The code challenge must be the base64url encoding (43 characters) of a SHA-256 hash.",
        )
    }

    /// AADSTS50058: `prompt=none` without a signed-in session.
    pub fn login_required() -> Self {
        Self::new(
            400,
            "login_required",
            50058,
            "A silent sign-in request was sent but no user is signed in.",
        )
    }

    /// AADSTS65004: the user declined consent.
    pub fn consent_declined() -> Self {
        Self::new(
            400,
            "access_denied",
            65004,
            "User declined to consent to access the app.",
        )
    }

    /// AADSTS54005: an authorization code redeemed twice.
    pub fn code_redeemed() -> Self {
        Self::new(
            400,
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        )
    }

    /// AADSTS70008: an expired authorization code.
    pub fn code_expired() -> Self {
        Self::new(
            400,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        )
    }

    /// AADSTS70000: an unknown code, or one issued to another client or
    /// redirect URI.
    pub fn code_invalid(why: &str) -> Self {
        Self::new(
            400,
            "invalid_grant",
            70000,
            format!("The provided value for the 'code' parameter is not valid. {why}"),
        )
    }

    /// AADSTS501481: the code verifier does not match the challenge.
    pub fn pkce_mismatch() -> Self {
        Self::new(
            400,
            "invalid_grant",
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        )
    }

    /// AADSTS50013: an on-behalf-of assertion that does not check out.
    pub fn invalid_user_assertion(why: &str) -> Self {
        Self::new(
            400,
            "invalid_grant",
            50013,
            format!("Assertion failed validation: {why}"),
        )
    }

    /// AADSTS500133: an on-behalf-of assertion past its lifetime.
    pub fn user_assertion_expired() -> Self {
        Self::new(
            400,
            "invalid_grant",
            500133,
            "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token.",
        )
    }

    /// AADSTS50055: the password must be changed before the user can sign
    /// in (`forceChangePasswordNextSignIn`), which ROPC cannot do.
    pub fn password_expired() -> Self {
        Self::new(
            400,
            "invalid_grant",
            50055,
            "The password is expired. The user must change it in an interactive sign-in first.",
        )
    }

    /// AADSTS50053: smart lockout after repeated wrong passwords.
    pub fn account_locked() -> Self {
        Self::new(
            400,
            "invalid_grant",
            50053,
            "Your account is locked because you've tried to sign in too many times with an incorrect user ID or password.",
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
