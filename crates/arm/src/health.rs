//! Health workspaces and the FHIR and DICOM services they hold.

use std::collections::BTreeMap;

use hale_directory::TenantId;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::resource_id::{ResourceId, ServiceKind};

/// The one ARM `kind` of FHIR service Hale runs.
pub const FHIR_R4: &str = "fhir-R4";

/// A health workspace: a container of FHIR and DICOM services. Its name is
/// unique across the installation, because every service URL carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub subscription_id: Uuid,
    /// The resource group's name as stored.
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Workspace {
    /// Its ARM resource ID.
    pub fn resource_id(&self) -> ResourceId {
        ResourceId::Workspace {
            subscription: self.subscription_id,
            group: self.resource_group.clone(),
            workspace: self.name.clone(),
        }
    }
}

/// A FHIR or DICOM service in a workspace. Names are unique per workspace and
/// kind, ignoring case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthService {
    pub id: Uuid,
    pub kind: ServiceKind,
    pub tenant_id: TenantId,
    pub subscription_id: Uuid,
    pub resource_group: String,
    pub workspace_id: Uuid,
    pub workspace: String,
    pub name: String,
    /// ARM's `kind` (`fhir-R4` for FHIR services; none for DICOM).
    pub resource_kind: Option<String>,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    /// Which browser origins may call the service (ARM's
    /// `properties.corsConfiguration`); `None`: none.
    pub cors: Option<CorsConfiguration>,
    /// Identity providers besides the tenant whose tokens a FHIR service
    /// takes (ARM's `authenticationConfiguration.smartIdentityProviders`);
    /// empty for none and for DICOM services.
    pub smart_identity_providers: Vec<SmartIdentityProvider>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A service's CORS settings, as Azure's FHIR and DICOM services take them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsConfiguration {
    /// Allowed origins (`https://app.example.org`), or `*` for any.
    pub origins: Vec<String>,
    /// Request headers a browser may send (`*`: any).
    pub headers: Vec<String>,
    /// Methods a browser may use.
    pub methods: Vec<String>,
    /// Seconds a browser may keep a preflight's answer.
    pub max_age: Option<u32>,
    /// Whether credentials (cookies, `Authorization`) may be sent.
    pub allow_credentials: bool,
}

/// An OpenID Connect provider whose access tokens a FHIR service accepts
/// (serialized in ARM's JSON shape)
/// for SMART on FHIR clients, as Azure's `smartIdentityProviders` entries:
/// a token counts when its `iss` is the authority's issuer, its `aud` an
/// application's `audience` and its `azp` (or `appid`) that application's
/// `clientId`; it then may do what the application's `allowedDataActions`
/// say, within its SMART scopes and its `fhirUser` compartment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmartIdentityProvider {
    /// The token authority, a fully qualified URL.
    #[serde(default)]
    pub authority: String,
    #[serde(default)]
    pub applications: Vec<SmartApplication>,
}

/// A resource application of a [`SmartIdentityProvider`] (ARM's JSON shape).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmartApplication {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub audience: String,
    /// What its tokens may do: Azure accepts `Read` only.
    #[serde(default)]
    pub allowed_data_actions: Vec<String>,
}

/// Most identity providers, and applications per provider, Azure takes.
pub const MAX_SMART_IDENTITY_PROVIDERS: usize = 2;

/// Why `providers` cannot be stored, if they cannot: Azure's rules and its
/// messages (at most two providers of distinct, fully qualified authorities,
/// each with one or two applications of non-empty, globally distinct client
/// IDs, a non-empty audience and `allowedDataActions` of exactly `Read`).
pub fn smart_identity_providers_problem(providers: &[SmartIdentityProvider]) -> Option<String> {
    if providers.len() > MAX_SMART_IDENTITY_PROVIDERS {
        return Some("The maximum number of SMART identity providers is 2.".into());
    }
    let url_like = |a: &str| {
        a.len() <= 2048
            && a.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "https" | "http")
                    && !rest.is_empty()
                    && !rest.starts_with('/')
                    && !rest.contains(char::is_whitespace)
            })
    };
    if providers.iter().any(|p| !url_like(&p.authority)) {
        return Some(
            "One or more SMART identity provider authority values are null, empty, or invalid."
                .into(),
        );
    }
    let same = |a: &str, b: &str| {
        a.trim_end_matches('/')
            .eq_ignore_ascii_case(b.trim_end_matches('/'))
    };
    if providers.len() == 2 && same(&providers[0].authority, &providers[1].authority) {
        return Some("All SMART identity provider authorities must be unique.".into());
    }
    let apps: Vec<&SmartApplication> = providers.iter().flat_map(|p| &p.applications).collect();
    if providers.iter().any(|p| p.applications.len() > 2) {
        return Some("The maximum number of SMART identity provider applications is 2.".into());
    }
    if providers.iter().any(|p| p.applications.is_empty()) {
        return Some("One or more SMART applications are null.".into());
    }
    for app in &apps {
        let actions = &app.allowed_data_actions;
        if actions.is_empty() {
            return Some(
                "One or more SMART application allowedDataActions values are null or empty.".into(),
            );
        }
        if actions.iter().any(|a| a != "Read") {
            return Some(
                "One or more SMART application allowedDataActions values are invalid.".into(),
            );
        }
        if actions.len() > 1 {
            return Some(
                "One or more SMART application allowedDataActions contain duplicate elements."
                    .into(),
            );
        }
        if app.audience.trim().is_empty() || app.audience.len() > 2048 {
            return Some(
                "One or more SMART application audience values are null, empty, or invalid.".into(),
            );
        }
        if app.client_id.trim().is_empty() || app.client_id.len() > 256 {
            return Some(
                "One or more SMART application client id values are null, empty, or invalid."
                    .into(),
            );
        }
    }
    for (i, a) in apps.iter().enumerate() {
        if apps[..i]
            .iter()
            .any(|b| b.client_id.eq_ignore_ascii_case(&a.client_id))
        {
            return Some(
                "All SMART identity provider application client ids must be unique.".into(),
            );
        }
    }
    None
}

/// Methods a CORS configuration may name (Azure's list).
pub const CORS_METHODS: [&str; 6] = ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"];

/// Longest preflight cache Azure accepts, in seconds.
pub const CORS_MAX_AGE: u32 = 99_999;

impl CorsConfiguration {
    /// Whether `origin` (an `Origin` header) may call the service.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins
            .iter()
            .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }

    /// Whether a browser may use `method`.
    pub fn allows_method(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
    }

    /// Whether a browser may send every one of `headers` (a preflight's
    /// `Access-Control-Request-Headers`, comma-separated).
    pub fn allows_headers(&self, headers: &str) -> bool {
        headers
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .all(|h| {
                self.headers
                    .iter()
                    .any(|a| a == "*" || a.eq_ignore_ascii_case(h))
            })
    }

    /// Why it cannot be stored, if it cannot (Azure's rules: origins are
    /// `*` or an http(s) origin, known methods, a bounded max age, and no
    /// credentials with any origin).
    pub fn problem(&self) -> Option<String> {
        for o in &self.origins {
            let origin_like = o == "*"
                || ((o.starts_with("https://") || o.starts_with("http://"))
                    && !o.split_once("://").is_some_and(|(_, rest)| {
                        rest.trim_end_matches('/').contains(['/', '?', '#']) || rest.is_empty()
                    }));
            if !origin_like {
                return Some(format!(
                    "The CORS origin '{o}' is invalid: an origin is '*' or a scheme, host and optional port (https://app.example.org)."
                ));
            }
        }
        if let Some(m) = self
            .methods
            .iter()
            .find(|m| !CORS_METHODS.iter().any(|k| k.eq_ignore_ascii_case(m)))
        {
            return Some(format!(
                "The CORS method '{m}' is invalid; the allowed methods are {}.",
                CORS_METHODS.join(", ")
            ));
        }
        if self.max_age.is_some_and(|a| a > CORS_MAX_AGE) {
            return Some(format!(
                "The CORS max age must be between 0 and {CORS_MAX_AGE} seconds."
            ));
        }
        if self.allow_credentials && self.origins.iter().any(|o| o == "*") {
            return Some(
                "CORS credentials cannot be allowed for every origin ('*'); name the origins."
                    .into(),
            );
        }
        None
    }
}

impl HealthService {
    /// Its ARM resource ID.
    pub fn resource_id(&self) -> ResourceId {
        ResourceId::Service {
            subscription: self.subscription_id,
            group: self.resource_group.clone(),
            workspace: self.workspace.clone(),
            kind: self.kind,
            name: self.name.clone(),
        }
    }

    /// The service's base URL on Hale's origin (`origin` with a trailing
    /// slash): `{origin}fhir/{workspace}/{name}` or `{origin}dicom/…`, names
    /// lowercased as host names would be in Azure.
    pub fn service_url(&self, origin: &str) -> String {
        service_url(origin, self.kind, &self.workspace, &self.name)
    }
}

/// The base URL of the `kind` service `name` in `workspace` on `origin`.
pub fn service_url(origin: &str, kind: ServiceKind, workspace: &str, name: &str) -> String {
    format!(
        "{}/{}/{}/{}",
        origin.trim_end_matches('/'),
        kind.path_prefix(),
        workspace.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    )
}

/// The audience every DICOM service accepts (Azure's shared one).
pub const DICOM_AUDIENCE: &str = "https://dicom.healthcareapis.azure.com";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_urls_are_on_the_origin() {
        assert_eq!(
            service_url(
                "https://127.0.0.1:8443/",
                ServiceKind::Fhir,
                "ws1",
                "My-Fhir"
            ),
            "https://127.0.0.1:8443/fhir/ws1/my-fhir"
        );
        assert_eq!(
            service_url("https://h.example", ServiceKind::Dicom, "ws1", "d"),
            "https://h.example/dicom/ws1/d"
        );
    }
}
