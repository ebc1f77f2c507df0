//! Discovery documents: what MSAL and azure-identity fetch before any token
//! request. Every URL is built from Hale's origin; for a tenant, every endpoint
//! carries the tenant GUID (MSAL derives the tenant from `token_endpoint`).

use hale_directory::TenantId;
use serde_json::{Value, json};

/// Whose document: one tenant, or a multi-tenant alias (`common`, `organizations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    Tenant(TenantId),
    Alias(&'a str),
}

impl Scope<'_> {
    fn segment(&self) -> String {
        match self {
            Scope::Tenant(id) => id.to_string(),
            Scope::Alias(alias) => (*alias).to_owned(),
        }
    }

    /// The tenant part of issuers: the GUID, or Entra's literal `{tenantid}`
    /// template in multi-tenant documents.
    fn issuer_tenant(&self) -> String {
        match self {
            Scope::Tenant(id) => id.to_string(),
            Scope::Alias(_) => "{tenantid}".to_owned(),
        }
    }
}

/// `origin` without a trailing slash, e.g. `https://127.0.0.1:8443`.
fn trim(origin: &str) -> &str {
    origin.trim_end_matches('/')
}

/// The v2 issuer of a tenant: `{origin}/{tid}/v2.0`.
pub fn issuer_v2(origin: &str, tenant: TenantId) -> String {
    format!("{}/{tenant}/v2.0", trim(origin))
}

/// The v1 issuer of a tenant: `{origin}/{tid}/` (Entra's `sts.windows.net`, on Hale's origin).
pub fn issuer_v1(origin: &str, tenant: TenantId) -> String {
    format!("{}/{tenant}/", trim(origin))
}

const AUTH_METHODS: [&str; 3] = [
    "client_secret_post",
    "private_key_jwt",
    "client_secret_basic",
];
const RESPONSE_MODES: [&str; 3] = ["query", "fragment", "form_post"];

/// The members the v1 and v2 documents share; `base` is `{origin}/{tenant}`.
fn shared(origin: &str, base: &str, scope: Scope<'_>) -> serde_json::Map<String, Value> {
    let region = match scope {
        Scope::Tenant(_) => json!("NA"),
        Scope::Alias(_) => Value::Null,
    };
    let value = json!({
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "response_modes_supported": RESPONSE_MODES,
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "userinfo_endpoint": format!("{origin}/oidc/userinfo"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "kerberos_endpoint": format!("{base}/kerberos"),
        "tenant_region_scope": region,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    match value {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

/// `shared` plus one document's own members.
fn document(origin: &str, base: &str, scope: Scope<'_>, own: Value) -> Value {
    let mut map = shared(origin, base, scope);
    if let Value::Object(own) = own {
        map.extend(own);
    }
    Value::Object(map)
}

/// `/{tenant}/v2.0/.well-known/openid-configuration`.
pub fn openid_configuration_v2(origin: &str, scope: Scope<'_>) -> Value {
    let origin = trim(origin);
    let base = format!("{origin}/{}", scope.segment());
    let own = json!({
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        // Entra also lists "id_token token"; Hale issues access tokens only
        // from the token endpoint, so it does not claim the implicit one.
        "response_types_supported": ["code", "id_token", "code id_token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{origin}/{}/v2.0", scope.issuer_tenant()),
        "request_uri_parameter_supported": false,
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
            "name", "tid", "ver", "at_hash", "c_hash", "email"
        ],
    });
    document(origin, &base, scope, own)
}

/// `/{tenant}/.well-known/openid-configuration` (the v1 document).
pub fn openid_configuration_v1(origin: &str, scope: Scope<'_>) -> Value {
    let origin = trim(origin);
    let base = format!("{origin}/{}", scope.segment());
    let own = json!({
        "token_endpoint": format!("{base}/oauth2/token"),
        "jwks_uri": format!("{origin}/common/discovery/keys"),
        "response_types_supported": ["code", "id_token", "code id_token"],
        "scopes_supported": ["openid"],
        "issuer": format!("{origin}/{}/", scope.issuer_tenant()),
        "microsoft_multi_refresh_token": true,
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "device_authorization_endpoint": format!("{base}/oauth2/devicecode"),
        "end_session_endpoint": format!("{base}/oauth2/logout"),
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email",
            "given_name", "family_name", "nickname"
        ],
        "check_session_iframe": format!("{base}/oauth2/checksession"),
    });
    document(origin, &base, scope, own)
}

/// A JWKS document of the signing certificates (DER). v2 key sets carry each
/// key's `issuer` (`Some(issuer)`), v1 key sets none.
pub fn jwks<'a>(certificates: impl IntoIterator<Item = &'a [u8]>, issuer: Option<&str>) -> Value {
    let keys: Vec<Value> = certificates
        .into_iter()
        .filter_map(|der| hale_jws::Jwk::from_certificate(der, issuer).ok())
        .filter_map(|jwk| serde_json::to_value(jwk).ok())
        .collect();
    json!({ "keys": keys })
}

/// MSAL's instance discovery answer (`/common/discovery/instance`): this origin
/// is its own cloud, with no aliases.
pub fn instance_discovery(origin: &str, tenant_segment: &str) -> Value {
    let origin = trim(origin);
    let host = origin.split_once("://").map_or(origin, |(_, h)| h);
    json!({
        "tenant_discovery_endpoint": format!("{origin}/{tenant_segment}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host],
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_documents_carry_the_tenant_guid_everywhere() {
        let tid = TenantId::new();
        let v2 = openid_configuration_v2("https://127.0.0.1:8443/", Scope::Tenant(tid));
        assert_eq!(
            v2["token_endpoint"],
            format!("https://127.0.0.1:8443/{tid}/oauth2/v2.0/token")
        );
        assert_eq!(v2["issuer"], format!("https://127.0.0.1:8443/{tid}/v2.0"));
        assert_eq!(v2["issuer"], issuer_v2("https://127.0.0.1:8443", tid));
        assert_eq!(
            v2["jwks_uri"],
            format!("https://127.0.0.1:8443/{tid}/discovery/v2.0/keys")
        );
        for field in [
            "authorization_endpoint",
            "token_endpoint",
            "device_authorization_endpoint",
            "jwks_uri",
            "issuer",
            "end_session_endpoint",
        ] {
            assert!(
                v2[field].as_str().unwrap().starts_with("https://"),
                "{field}"
            );
        }
        let v1 = openid_configuration_v1("https://127.0.0.1:8443", Scope::Tenant(tid));
        assert_eq!(v1["issuer"], issuer_v1("https://127.0.0.1:8443", tid));
        assert_eq!(
            v1["token_endpoint"],
            format!("https://127.0.0.1:8443/{tid}/oauth2/token")
        );
        assert_eq!(v1["microsoft_multi_refresh_token"], true);
    }

    #[test]
    fn alias_documents_use_the_issuer_template() {
        let v2 = openid_configuration_v2("https://h:1", Scope::Alias("organizations"));
        assert_eq!(v2["issuer"], "https://h:1/{tenantid}/v2.0");
        assert_eq!(
            v2["token_endpoint"],
            "https://h:1/organizations/oauth2/v2.0/token"
        );
        assert_eq!(v2["tenant_region_scope"], Value::Null);
    }

    #[test]
    fn instance_discovery_points_back_at_this_origin() {
        let doc = instance_discovery("https://localhost:8443", "common");
        assert_eq!(
            doc["tenant_discovery_endpoint"],
            "https://localhost:8443/common/v2.0/.well-known/openid-configuration"
        );
        assert_eq!(doc["metadata"][0]["aliases"][0], "localhost:8443");
    }
}
