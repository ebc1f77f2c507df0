//! Applications (app registrations): the definition of an app, in its home tenant.
//!
//! The types serialize exactly as Microsoft Graph's `application` resource
//! (camelCase, Graph's defaults), so the Graph edge can emit them unchanged.
//! Secret digests are never serialized.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{AppId, DirectoryError, ObjectId, TenantId};

/// Who may sign in to an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SignInAudience {
    /// Single tenant: accounts in this directory only.
    #[default]
    AzureADMyOrg,
    /// Multitenant: accounts in any directory.
    AzureADMultipleOrgs,
    AzureADandPersonalMicrosoftAccount,
    PersonalMicrosoftAccount,
}

/// Settings of the "Web" platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct WebApplication {
    pub redirect_uris: Vec<String>,
    pub home_page_url: Option<String>,
    pub logout_url: Option<String>,
    pub implicit_grant_settings: ImplicitGrantSettings,
}

/// Implicit grant switches of the Web platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ImplicitGrantSettings {
    pub enable_id_token_issuance: bool,
    pub enable_access_token_issuance: bool,
}

/// Redirect URIs of the "Single-page application" or "Mobile and desktop" platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct RedirectUris {
    pub redirect_uris: Vec<String>,
}

/// "Expose an API".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ApiApplication {
    /// Access token version this API receives: `null` or 1 → v1, 2 → v2.
    pub requested_access_token_version: Option<i32>,
    pub oauth2_permission_scopes: Vec<PermissionScope>,
    pub pre_authorized_applications: Vec<PreAuthorizedApplication>,
    pub known_client_applications: Vec<Uuid>,
    /// Whether this API takes tokens carrying claims from a claims-mapping
    /// policy (Entra refuses to issue them otherwise: AADSTS50146).
    pub accept_mapped_claims: Option<bool>,
}

/// A delegated permission (scope) the API exposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionScope {
    pub id: Uuid,
    pub value: String,
    /// `User` (users may consent) or `Admin` (an administrator must).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default = "enabled")]
    pub is_enabled: bool,
    #[serde(default)]
    pub admin_consent_display_name: Option<String>,
    #[serde(default)]
    pub admin_consent_description: Option<String>,
    #[serde(default)]
    pub user_consent_display_name: Option<String>,
    #[serde(default)]
    pub user_consent_description: Option<String>,
}

fn enabled() -> bool {
    true
}

/// A client allowed to get the API's scopes without consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreAuthorizedApplication {
    pub app_id: Uuid,
    #[serde(default)]
    pub delegated_permission_ids: Vec<Uuid>,
}

/// A role the application defines, for users, groups or applications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    pub id: Uuid,
    /// `User` and/or `Application`.
    pub allowed_member_types: Vec<String>,
    pub value: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    #[serde(default = "enabled")]
    pub is_enabled: bool,
}

/// Permissions the application requests on one resource ("API permissions").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredResourceAccess {
    pub resource_app_id: Uuid,
    pub resource_access: Vec<ResourceAccess>,
}

/// One requested permission: a scope (`Scope`) or an app role (`Role`) by ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAccess {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A client secret. The secret text exists only in the `addPassword` answer;
/// Hale keeps a keyed digest of it, never serialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    pub key_id: Uuid,
    pub display_name: Option<String>,
    /// The secret's first three characters.
    pub hint: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub start_date_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end_date_time: OffsetDateTime,
    /// Unused by Hale, present in Graph.
    pub custom_key_identifier: Option<String>,
    /// Only in the answer to `addPassword`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub secret_text: Option<String>,
    #[serde(skip)]
    pub digest: Vec<u8>,
}

/// An uploaded certificate's public part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    pub key_id: Uuid,
    /// `AsymmetricX509Cert`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `Verify`.
    pub usage: String,
    /// base64 of the certificate's SHA-1 thumbprint.
    pub custom_key_identifier: Option<String>,
    pub display_name: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub start_date_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end_date_time: OffsetDateTime,
    /// base64 DER; Graph returns it only when `$select`ed.
    pub key: Option<String>,
}

/// One optional claim of an application's `optionalClaims`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OptionalClaim {
    pub name: String,
    /// `null` for a claim Entra defines; `user` for a directory extension of
    /// the user, `name` being the extension's full name.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub essential: bool,
    #[serde(default)]
    pub additional_properties: Vec<String>,
}

/// `optionalClaims`: claims an application asks to find in the ID tokens
/// issued to it and in the access tokens issued for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OptionalClaims {
    #[serde(default)]
    pub id_token: Vec<OptionalClaim>,
    #[serde(default)]
    pub access_token: Vec<OptionalClaim>,
    #[serde(default)]
    pub saml2_token: Vec<OptionalClaim>,
}

/// The optional claims Hale emits, by name: what the user's profile holds.
/// `email` (`mail`), `family_name` (`surname`), `given_name`, `upn`,
/// `xms_pl` (`preferredLanguage`), `acct` (0: a member of the tenant), and
/// `auth_time` (ID tokens: when the user authenticated).
pub const OPTIONAL_CLAIM_NAMES: &[&str] = &[
    "email",
    "family_name",
    "given_name",
    "upn",
    "xms_pl",
    "acct",
    "auth_time",
];

/// The most optional claims per token type.
pub const MAX_OPTIONAL_CLAIMS: usize = 50;

impl OptionalClaims {
    fn validate(&self) -> Result<(), DirectoryError> {
        for (property, list) in [
            ("optionalClaims.idToken", &self.id_token),
            ("optionalClaims.accessToken", &self.access_token),
            ("optionalClaims.saml2Token", &self.saml2_token),
        ] {
            if list.len() > MAX_OPTIONAL_CLAIMS {
                return Err(invalid(
                    property,
                    &format!("at most {MAX_OPTIONAL_CLAIMS} optional claims"),
                ));
            }
            for claim in list {
                // A directory extension of the user: Entra takes any name of
                // the extension shape without checking it is registered (the
                // claim is simply absent while no user has a value), so Hale
                // does too.
                if let Some(source) = &claim.source {
                    if !source.eq_ignore_ascii_case("user") {
                        return Err(invalid(
                            property,
                            &format!(
                                "'{}' has source '{}': only 'user' (directory extensions) is supported",
                                claim.name.chars().take(64).collect::<String>(),
                                source.chars().take(64).collect::<String>()
                            ),
                        ));
                    }
                    if crate::extension_short_name(&claim.name).is_none() {
                        return Err(invalid(
                            property,
                            &format!(
                                "'{}' is not a directory extension name (extension_{{appId}}_{{name}})",
                                claim.name.chars().take(64).collect::<String>()
                            ),
                        ));
                    }
                } else if !OPTIONAL_CLAIM_NAMES.contains(&claim.name.as_str()) {
                    return Err(invalid(
                        property,
                        &format!(
                            "'{}' is not an optional claim Hale emits; it emits {}",
                            claim.name.chars().take(64).collect::<String>(),
                            OPTIONAL_CLAIM_NAMES.join(", ")
                        ),
                    ));
                }
                if claim.additional_properties.len() > 8
                    || claim.additional_properties.iter().any(|p| p.len() > 64)
                {
                    return Err(invalid(property, "additionalProperties is too long"));
                }
            }
            if has_duplicates(list.iter().map(|c| c.name.to_ascii_lowercase())) {
                return Err(invalid(property, "names the same claim twice"));
            }
        }
        Ok(())
    }
}

/// An app registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub id: ObjectId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub app_id: AppId,
    pub display_name: String,
    pub description: Option<String>,
    pub sign_in_audience: SignInAudience,
    pub identifier_uris: Vec<String>,
    /// "Allow public client flows".
    pub is_fallback_public_client: Option<bool>,
    pub web: WebApplication,
    pub spa: RedirectUris,
    pub public_client: RedirectUris,
    pub api: ApiApplication,
    pub app_roles: Vec<AppRole>,
    pub required_resource_access: Vec<RequiredResourceAccess>,
    pub password_credentials: Vec<PasswordCredential>,
    pub key_credentials: Vec<KeyCredential>,
    pub group_membership_claims: Option<String>,
    #[serde(default)]
    pub optional_claims: Option<OptionalClaims>,
    pub tags: Vec<String>,
    pub publisher_domain: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
    /// Owners: users or service principals who may manage the application
    /// without a directory role. A navigation in Graph (`owners`), kept with
    /// the object but never shown in its JSON.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<ObjectId>,
}

/// The most redirect URIs an application may have across its platforms.
pub const MAX_REDIRECT_URIS: usize = 256;
/// The longest redirect URI accepted.
pub const MAX_REDIRECT_URI_LEN: usize = 256;

/// A redirect URI's platform, which decides the schemes it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Web,
    Spa,
    PublicClient,
}

impl Platform {
    /// Graph's property path for this platform's redirect URIs.
    pub fn property(self) -> &'static str {
        match self {
            Platform::Web => "web.redirectUris",
            Platform::Spa => "spa.redirectUris",
            Platform::PublicClient => "publicClient.redirectUris",
        }
    }
}

impl Application {
    /// A new registration with Graph's defaults.
    pub fn new(tenant_id: TenantId, display_name: String, publisher_domain: &str) -> Application {
        Application {
            id: ObjectId::new(),
            tenant_id,
            app_id: AppId::new(),
            display_name,
            description: None,
            sign_in_audience: SignInAudience::AzureADMyOrg,
            identifier_uris: Vec::new(),
            is_fallback_public_client: None,
            web: WebApplication::default(),
            spa: RedirectUris::default(),
            public_client: RedirectUris::default(),
            api: ApiApplication::default(),
            app_roles: Vec::new(),
            required_resource_access: Vec::new(),
            password_credentials: Vec::new(),
            key_credentials: Vec::new(),
            group_membership_claims: None,
            optional_claims: None,
            tags: Vec::new(),
            publisher_domain: Some(publisher_domain.to_owned()),
            created_date_time: OffsetDateTime::now_utc(),
            owners: Vec::new(),
        }
    }

    /// The optional claims the application asks for in the ID tokens issued
    /// to it (`id_token`) or in the access tokens issued for it.
    pub fn optional_claim_names(&self, id_token: bool) -> Vec<String> {
        self.optional_claims
            .as_ref()
            .map(|c| {
                if id_token {
                    &c.id_token
                } else {
                    &c.access_token
                }
            })
            .map(|list| list.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default()
    }

    /// Whether "Allow public client flows" is on.
    pub fn allows_public_client_flows(&self) -> bool {
        self.is_fallback_public_client == Some(true)
    }

    /// Checks every rule an app registration must satisfy on its own (rules
    /// that span the tenant, such as unique identifier URIs, are the caller's).
    pub fn validate(&self) -> Result<(), DirectoryError> {
        let name = self.display_name.trim();
        if name.is_empty() || self.display_name.chars().count() > 256 {
            return Err(invalid("displayName", "must be 1 to 256 characters"));
        }
        let platforms = [
            (Platform::Web, &self.web.redirect_uris),
            (Platform::Spa, &self.spa.redirect_uris),
            (Platform::PublicClient, &self.public_client.redirect_uris),
        ];
        let total: usize = platforms.iter().map(|(_, uris)| uris.len()).sum();
        if total > MAX_REDIRECT_URIS {
            return Err(invalid(
                "redirectUris",
                &format!("an application can have at most {MAX_REDIRECT_URIS} redirect URIs"),
            ));
        }
        for (platform, uris) in platforms {
            for uri in uris.iter() {
                validate_redirect_uri(platform, uri)?;
            }
            if has_duplicates(uris.iter().map(|u| u.as_str())) {
                return Err(invalid(platform.property(), "contains the same URI twice"));
            }
        }
        for uri in &self.identifier_uris {
            validate_identifier_uri(uri)?;
        }
        if has_duplicates(self.identifier_uris.iter().map(|u| u.to_ascii_lowercase())) {
            return Err(invalid("identifierUris", "contains the same URI twice"));
        }
        if let Some(claims) = &self.optional_claims {
            claims.validate()?;
        }
        if let Some(v) = self.api.requested_access_token_version
            && !(1..=2).contains(&v)
        {
            return Err(invalid(
                "api.requestedAccessTokenVersion",
                "must be null, 1 or 2",
            ));
        }
        for scope in &self.api.oauth2_permission_scopes {
            validate_permission_value("api.oauth2PermissionScopes", &scope.value)?;
            if scope.kind != "User" && scope.kind != "Admin" {
                return Err(invalid(
                    "api.oauth2PermissionScopes",
                    "type must be User or Admin",
                ));
            }
        }
        if has_duplicates(
            self.api
                .oauth2_permission_scopes
                .iter()
                .map(|s| s.value.to_ascii_lowercase()),
        ) {
            return Err(invalid(
                "api.oauth2PermissionScopes",
                "scope values must be unique",
            ));
        }
        if has_duplicates(self.api.oauth2_permission_scopes.iter().map(|s| s.id)) {
            return Err(invalid(
                "api.oauth2PermissionScopes",
                "scope ids must be unique",
            ));
        }
        for role in &self.app_roles {
            if let Some(value) = &role.value {
                validate_permission_value("appRoles", value)?;
            }
            if role.allowed_member_types.is_empty()
                || !role
                    .allowed_member_types
                    .iter()
                    .all(|t| t == "User" || t == "Application")
            {
                return Err(invalid(
                    "appRoles",
                    "allowedMemberTypes must be User and/or Application",
                ));
            }
        }
        if has_duplicates(
            self.app_roles
                .iter()
                .filter_map(|r| r.value.as_ref())
                .map(|v| v.to_ascii_lowercase()),
        ) {
            return Err(invalid("appRoles", "app role values must be unique"));
        }
        if has_duplicates(self.app_roles.iter().map(|r| r.id)) {
            return Err(invalid("appRoles", "app role ids must be unique"));
        }
        for access in &self.required_resource_access {
            if access
                .resource_access
                .iter()
                .any(|a| a.kind != "Scope" && a.kind != "Role")
            {
                return Err(invalid(
                    "requiredResourceAccess",
                    "type must be Scope or Role",
                ));
            }
        }
        Ok(())
    }
}

fn invalid(property: &str, why: &str) -> DirectoryError {
    DirectoryError::InvalidProperty {
        property: property.to_owned(),
        why: why.to_owned(),
    }
}

fn has_duplicates<T: PartialEq>(items: impl Iterator<Item = T>) -> bool {
    let items: Vec<T> = items.collect();
    items
        .iter()
        .enumerate()
        .any(|(i, a)| items[..i].contains(a))
}

/// Checks a redirect URI for its platform, as Entra does: absolute, no
/// fragment, no wildcard, at most 256 characters; `https` for Web and SPA except
/// `http://localhost` (and loopback addresses); public clients may also use
/// custom schemes (`msal{appId}://auth`, `myapp://callback`).
pub fn validate_redirect_uri(platform: Platform, uri: &str) -> Result<(), DirectoryError> {
    let property = platform.property();
    if uri.is_empty() || uri.len() > MAX_REDIRECT_URI_LEN {
        return Err(invalid(
            property,
            &format!("a redirect URI must be 1 to {MAX_REDIRECT_URI_LEN} characters"),
        ));
    }
    if uri.contains('#') {
        return Err(invalid(
            property,
            "a redirect URI cannot contain a fragment",
        ));
    }
    if uri.contains('*') {
        return Err(invalid(property, "a redirect URI cannot contain wildcards"));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(property, "a redirect URI cannot contain spaces"));
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        // `urn:ietf:wg:oauth:2.0:oob` is the one accepted non-hierarchical URI (public clients).
        if platform == Platform::PublicClient
            && uri.eq_ignore_ascii_case("urn:ietf:wg:oauth:2.0:oob")
        {
            return Ok(());
        }
        return Err(invalid(property, "a redirect URI must be an absolute URI"));
    };
    let scheme = scheme.to_ascii_lowercase();
    let valid_scheme = !scheme.is_empty()
        && scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme {
        return Err(invalid(
            property,
            "a redirect URI must start with a valid scheme",
        ));
    }
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let hostname = if host.starts_with('[') {
        host.split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or("").to_owned()
    };
    let loopback = matches!(
        hostname.to_ascii_lowercase().as_str(),
        "localhost" | "127.0.0.1" | "[::1]"
    );
    match scheme.as_str() {
        "https" if hostname.is_empty() => Err(invalid(property, "a redirect URI must name a host")),
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(invalid(
            property,
            "http is allowed only for localhost; use https",
        )),
        _ if platform == Platform::PublicClient => Ok(()),
        _ => Err(invalid(property, "must use https (or http://localhost)")),
    }
}

/// Checks an App ID URI: `api://…`, `https://…` or `urn:…`-style absolute URI
/// without fragment, query or wildcard, at most 120 characters.
pub fn validate_identifier_uri(uri: &str) -> Result<(), DirectoryError> {
    let bad = |why: &str| Err(invalid("identifierUris", why));
    if uri.is_empty() || uri.len() > 120 {
        return bad("an identifier URI must be 1 to 120 characters");
    }
    if uri.contains(['#', '?', '*']) || uri.chars().any(char::is_whitespace) {
        return bad("an identifier URI cannot contain a fragment, query, wildcard or space");
    }
    match uri.split_once(':') {
        Some((scheme, rest)) if !scheme.is_empty() && !rest.is_empty() => {
            if (scheme.eq_ignore_ascii_case("api") || scheme.eq_ignore_ascii_case("https"))
                && rest.trim_start_matches('/').is_empty()
            {
                return bad("an identifier URI must name something after the scheme");
            }
            Ok(())
        }
        _ => bad("an identifier URI must be an absolute URI such as api://<appId>"),
    }
}

/// Checks a scope or app role `value`: 1–120 visible characters, no spaces, not
/// starting with a dot, and none of `" ' < > & , ;` (Entra's rules).
pub fn validate_permission_value(property: &str, value: &str) -> Result<(), DirectoryError> {
    let ok = !value.is_empty()
        && value.chars().count() <= 120
        && !value.starts_with('.')
        && value.chars().all(|c| {
            c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '<' | '>' | '&' | ',' | ';')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            property,
            "a value must be 1 to 120 characters without spaces, quotes, <, >, &, comma or semicolon, and not start with a dot",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_by_platform() {
        use Platform::*;
        let cases = [
            (Web, "https://app.contoso.com/signin", true),
            (Web, "http://localhost:5000/callback", true),
            (Web, "http://127.0.0.1/cb", true),
            (Web, "http://contoso.com/cb", false),
            (Web, "https://contoso.com/cb#frag", false),
            (Web, "https://*.contoso.com/cb", false),
            (Web, "myapp://callback", false),
            (Web, "https:///nohost", false),
            (Web, "not a uri", false),
            (Spa, "https://spa.contoso.com", true),
            (Spa, "http://localhost:3000", true),
            (Spa, "http://spa.contoso.com", false),
            (
                PublicClient,
                "msal04b07795-8ddb-461a-bbee-02f9e1bf7b46://auth",
                true,
            ),
            (
                PublicClient,
                "https://www.getpostman.com/oauth2/callback",
                true,
            ),
            (PublicClient, "http://localhost", true),
            (PublicClient, "urn:ietf:wg:oauth:2.0:oob", true),
            (PublicClient, "http://example.com", false),
            (PublicClient, "1bad://x", false),
        ];
        for (platform, uri, ok) in cases {
            assert_eq!(
                validate_redirect_uri(platform, uri).is_ok(),
                ok,
                "{platform:?} {uri}"
            );
        }
        assert!(validate_redirect_uri(Web, &format!("https://a.com/{}", "x".repeat(250))).is_err());
    }

    #[test]
    fn permission_values() {
        for ok in [
            "user_impersonation",
            "Dicom.ReadWrite",
            "Application.ReadWrite.All",
            "a",
        ] {
            assert!(validate_permission_value("p", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "has space",
            ".dot",
            "a,b",
            "a;b",
            "quo\"te",
            "<x>",
            &"x".repeat(121),
        ] {
            assert!(validate_permission_value("p", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn identifier_uris() {
        for ok in ["api://1b2c", "https://contoso.com/api", "urn:contoso:api"] {
            assert!(validate_identifier_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "api://",
            "nocolon",
            "api://x#f",
            "api://x?q=1",
            "api://*",
            "api://a b",
        ] {
            assert!(validate_identifier_uri(bad).is_err(), "{bad:?}");
        }
    }

    fn app() -> Application {
        Application::new(TenantId::new(), "My app".into(), "hale.local")
    }

    #[test]
    fn application_rules() {
        assert!(app().validate().is_ok());
        let mut a = app();
        a.display_name = "  ".into();
        assert!(a.validate().is_err());

        let mut a = app();
        a.web.redirect_uris = (0..200).map(|i| format!("https://a.com/{i}")).collect();
        a.spa.redirect_uris = (0..56).map(|i| format!("https://b.com/{i}")).collect();
        assert!(a.validate().is_ok(), "256 in all is fine");
        a.public_client
            .redirect_uris
            .push("http://localhost".into());
        let err = a.validate().unwrap_err().to_string();
        assert!(err.contains("256"), "{err}");

        let mut a = app();
        a.web.redirect_uris = vec!["https://a.com".into(), "https://a.com".into()];
        assert!(a.validate().is_err());

        let mut a = app();
        a.identifier_uris = vec!["api://x".into(), "API://X".into()];
        assert!(a.validate().is_err());

        let mut a = app();
        a.api.requested_access_token_version = Some(3);
        assert!(a.validate().is_err());

        let scope = |value: &str| PermissionScope {
            id: Uuid::new_v4(),
            value: value.into(),
            kind: "User".into(),
            is_enabled: true,
            admin_consent_display_name: None,
            admin_consent_description: None,
            user_consent_display_name: None,
            user_consent_description: None,
        };
        let mut a = app();
        a.api.oauth2_permission_scopes = vec![scope("read"), scope("READ")];
        assert!(
            a.validate().is_err(),
            "scope values are unique ignoring case"
        );
        a.api.oauth2_permission_scopes = vec![scope("read"), scope("write")];
        assert!(a.validate().is_ok());

        let role = |value: &str, types: &[&str]| AppRole {
            id: Uuid::new_v4(),
            allowed_member_types: types.iter().map(|t| t.to_string()).collect(),
            value: Some(value.into()),
            display_name: None,
            description: None,
            is_enabled: true,
        };
        let mut a = app();
        a.app_roles = vec![
            role("Reader", &["Application"]),
            role("Writer", &["User", "Application"]),
        ];
        assert!(a.validate().is_ok());
        a.app_roles.push(role("reader", &["User"]));
        assert!(a.validate().is_err());
        a.app_roles = vec![role("Reader", &["Robot"])];
        assert!(a.validate().is_err());
    }

    #[test]
    fn graph_json_shape() {
        let a = app();
        let json = serde_json::to_value(&a).unwrap();
        for key in [
            "id",
            "appId",
            "displayName",
            "signInAudience",
            "identifierUris",
            "isFallbackPublicClient",
            "web",
            "spa",
            "publicClient",
            "api",
            "appRoles",
            "requiredResourceAccess",
            "passwordCredentials",
            "keyCredentials",
            "createdDateTime",
        ] {
            assert!(json.get(key).is_some(), "{key} missing from {json}");
        }
        assert_eq!(json["signInAudience"], "AzureADMyOrg");
        assert_eq!(
            json["web"]["implicitGrantSettings"]["enableIdTokenIssuance"],
            false
        );
        assert!(json.get("tenantId").is_none());
    }
}
