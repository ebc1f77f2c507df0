//! Access tokens for applications acting as themselves (client credentials),
//! shaped as Entra shapes them for the resource's token version.

use base64::Engine;
use hale_directory::{AppId, ObjectId, TenantId};
use serde_json::{Value, json};

use crate::OAuthError;
use crate::discovery::{issuer_v1, issuer_v2};

/// `expires_in` of access tokens, as Entra reports it.
pub const ACCESS_TOKEN_LIFETIME: i64 = 3599;
/// Entra back-dates `iat`/`nbf` by five minutes and sets `exp` an hour from now.
const BACKDATE: i64 = 300;

/// Which token shape the resource receives (`api.requestedAccessTokenVersion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenVersion {
    V1,
    V2,
}

/// How the client proved itself: `appidacr`/`azpacr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthentication {
    Secret,
    Certificate,
}

impl ClientAuthentication {
    fn acr(self) -> &'static str {
        match self {
            ClientAuthentication::Secret => "1",
            ClientAuthentication::Certificate => "2",
        }
    }
}

/// Reads the `scope` of a client-credentials request: exactly one
/// `{resource}/.default`. Returns the resource identifier.
pub fn client_credentials_resource(scope: &str) -> Result<String, OAuthError> {
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    if scopes.is_empty() {
        return Err(OAuthError::missing_parameter("scope"));
    }
    let mut resources: Vec<&str> = Vec::new();
    for s in &scopes {
        let Some(resource) = s.strip_suffix("/.default").filter(|r| !r.is_empty()) else {
            return Err(OAuthError::scope_not_default(scope));
        };
        if !resources.iter().any(|r| r.eq_ignore_ascii_case(resource)) {
            resources.push(resource);
        }
    }
    match resources.as_slice() {
        [one] => Ok((*one).to_owned()),
        _ => Err(OAuthError::several_resources(scope)),
    }
}

/// What an app-only access token says.
pub struct AppOnlyToken<'a> {
    pub origin: &'a str,
    pub tenant: TenantId,
    pub client: AppId,
    /// The client's service principal: `oid` and `sub`.
    pub client_principal: ObjectId,
    /// v1: the resource as requested; v2: the resource's client ID.
    pub audience: &'a str,
    pub version: TokenVersion,
    pub authentication: ClientAuthentication,
    /// Application permissions granted to the client on the resource.
    pub roles: &'a [String],
    /// Seconds since the Unix epoch.
    pub now: i64,
}

/// A random token identifier (`uti`): 16 bytes, base64url, 22 characters.
pub fn unique_token_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

impl AppOnlyToken<'_> {
    /// The claims, in v1 or v2 shape.
    pub fn claims(&self) -> Value {
        let oid = self.client_principal.to_string();
        let tid = self.tenant.to_string();
        let mut claims = json!({
            "aud": self.audience,
            "iat": self.now - BACKDATE,
            "nbf": self.now - BACKDATE,
            "exp": self.now + ACCESS_TOKEN_LIFETIME + 1,
            "aio": unique_token_id(),
            "idtyp": "app",
            "oid": oid,
            "rh": format!("0.{}.", unique_token_id()),
            "sub": oid,
            "tid": tid,
            "uti": unique_token_id(),
        });
        let map = claims.as_object_mut().expect("an object");
        match self.version {
            TokenVersion::V1 => {
                let issuer = issuer_v1(self.origin, self.tenant);
                map.insert("iss".into(), json!(issuer));
                map.insert("idp".into(), json!(issuer));
                map.insert("appid".into(), json!(self.client.to_string()));
                map.insert("appidacr".into(), json!(self.authentication.acr()));
                map.insert("ver".into(), json!("1.0"));
            }
            TokenVersion::V2 => {
                map.insert("iss".into(), json!(issuer_v2(self.origin, self.tenant)));
                map.insert("azp".into(), json!(self.client.to_string()));
                map.insert("azpacr".into(), json!(self.authentication.acr()));
                map.insert("ver".into(), json!("2.0"));
            }
        }
        if !self.roles.is_empty() {
            map.insert("roles".into(), json!(self.roles));
        }
        claims
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_credentials_scopes() {
        let ok = [
            (
                "https://graph.microsoft.com/.default",
                "https://graph.microsoft.com",
            ),
            ("api://abc/.default", "api://abc"),
            (
                "  https://x.fhir.azurehealthcareapis.com/.default  ",
                "https://x.fhir.azurehealthcareapis.com",
            ),
            ("api://abc/.default API://ABC/.default", "api://abc"),
        ];
        for (scope, resource) in ok {
            assert_eq!(
                client_credentials_resource(scope).as_deref(),
                Ok(resource),
                "{scope}"
            );
        }
        let bad = [
            ("", 900144),
            ("https://graph.microsoft.com/User.Read", 1002012),
            ("/.default", 1002012),
            ("api://a/.default api://b/.default", 28000),
            ("api://a/.default openid", 1002012),
        ];
        for (scope, code) in bad {
            assert_eq!(
                client_credentials_resource(scope).unwrap_err().code,
                code,
                "{scope:?}"
            );
        }
    }

    #[test]
    fn claim_shapes() {
        let tenant = TenantId::new();
        let token = |version| AppOnlyToken {
            origin: "https://h:1/",
            tenant,
            client: AppId::new(),
            client_principal: ObjectId::new(),
            audience: "https://graph.microsoft.com",
            version,
            authentication: ClientAuthentication::Secret,
            roles: &[],
            now: 1_800_000_000,
        };
        let v1 = token(TokenVersion::V1).claims();
        assert_eq!(v1["iss"], format!("https://h:1/{tenant}/"));
        assert_eq!(v1["idp"], v1["iss"]);
        assert_eq!(v1["appidacr"], "1");
        assert_eq!(v1["ver"], "1.0");
        assert_eq!(
            v1["exp"].as_i64().unwrap() - v1["iat"].as_i64().unwrap(),
            3900
        );
        assert_eq!(v1["oid"], v1["sub"]);
        assert!(
            v1.get("roles").is_none(),
            "no roles claim without granted roles"
        );
        assert_eq!(v1["uti"].as_str().unwrap().len(), 22);
        let v2 = token(TokenVersion::V2).claims();
        assert_eq!(v2["iss"], format!("https://h:1/{tenant}/v2.0"));
        assert_eq!(v2["azpacr"], "1");
        assert!(v2.get("appid").is_none());
    }
}

/// What a delegated (user) access token says.
pub struct UserToken<'a> {
    pub origin: &'a str,
    pub tenant: TenantId,
    pub client: AppId,
    /// `appidacr`/`azpacr`: `None` for a public client (`"0"`).
    pub authentication: Option<ClientAuthentication>,
    pub user: ObjectId,
    pub user_principal_name: &'a str,
    pub name: &'a str,
    /// The directory roles' template IDs (`wids`).
    pub directory_roles: Vec<String>,
    /// How the user signed in (`amr`), e.g. `pwd`.
    pub methods: &'a [&'a str],
    pub audience: &'a str,
    pub version: TokenVersion,
    /// Granted delegated permissions (`scp`), space-separated.
    pub scopes: &'a str,
    /// App roles of the resource assigned to the user (`roles`).
    pub roles: &'a [String],
    pub now: i64,
}

/// `sub` for users: pairwise, the same user looks different to each client.
pub fn pairwise_subject(user: ObjectId, client: AppId) -> String {
    let digest = hale_jws::sha256_thumbprint(format!("{user}:{client}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

impl UserToken<'_> {
    /// The claims, in v1 or v2 shape.
    pub fn claims(&self) -> Value {
        let acr = self.authentication.map_or("0", ClientAuthentication::acr);
        let mut claims = json!({
            "aud": self.audience,
            "iat": self.now - BACKDATE,
            "nbf": self.now - BACKDATE,
            "exp": self.now + ACCESS_TOKEN_LIFETIME + 1,
            "aio": unique_token_id(),
            "amr": self.methods,
            "idtyp": "user",
            "name": self.name,
            "oid": self.user.to_string(),
            "rh": format!("0.{}.", unique_token_id()),
            "scp": self.scopes,
            "sub": pairwise_subject(self.user, self.client),
            "tid": self.tenant.to_string(),
            "uti": unique_token_id(),
            "wids": self.directory_roles,
        });
        let map = claims.as_object_mut().expect("an object");
        match self.version {
            TokenVersion::V1 => {
                map.insert("iss".into(), json!(issuer_v1(self.origin, self.tenant)));
                map.insert("acr".into(), json!("1"));
                map.insert("appid".into(), json!(self.client.to_string()));
                map.insert("appidacr".into(), json!(acr));
                map.insert("unique_name".into(), json!(self.user_principal_name));
                map.insert("upn".into(), json!(self.user_principal_name));
                map.insert("ver".into(), json!("1.0"));
            }
            TokenVersion::V2 => {
                map.insert("iss".into(), json!(issuer_v2(self.origin, self.tenant)));
                map.insert("azp".into(), json!(self.client.to_string()));
                map.insert("azpacr".into(), json!(acr));
                map.insert("preferred_username".into(), json!(self.user_principal_name));
                map.insert("ver".into(), json!("2.0"));
            }
        }
        if !self.roles.is_empty() {
            map.insert("roles".into(), json!(self.roles));
        }
        claims
    }
}

#[cfg(test)]
mod user_tests {
    use super::*;

    #[test]
    fn user_claims() {
        let (user, client) = (ObjectId::new(), AppId::new());
        let token = UserToken {
            origin: "https://h:1",
            tenant: TenantId::new(),
            client,
            authentication: None,
            user,
            user_principal_name: "admin@hale.local",
            name: "Administrator",
            directory_roles: vec!["62e90394-69f5-4237-9190-012177145e10".into()],
            methods: &["pwd"],
            audience: "https://graph.microsoft.com",
            version: TokenVersion::V1,
            scopes: "User.Read",
            roles: &[],
            now: 1_800_000_000,
        };
        let claims = token.claims();
        assert_eq!(claims["appidacr"], "0");
        assert_eq!(claims["upn"], "admin@hale.local");
        assert_eq!(claims["scp"], "User.Read");
        assert_eq!(claims["oid"], user.to_string());
        assert_eq!(claims["sub"], pairwise_subject(user, client));
        assert_ne!(
            pairwise_subject(user, client),
            pairwise_subject(user, AppId::new())
        );
        assert_eq!(claims["sub"].as_str().unwrap().len(), 43);
        assert_eq!(claims["amr"], json!(["pwd"]));
    }
}

/// Lifetime of ID tokens, seconds.
pub const ID_TOKEN_LIFETIME: i64 = 3600;

/// What an ID token says: who signed in to `client`, for MSAL's account cache.
pub struct IdToken<'a> {
    pub origin: &'a str,
    pub tenant: TenantId,
    pub client: AppId,
    pub user: ObjectId,
    pub user_principal_name: &'a str,
    pub name: &'a str,
    /// The `nonce` of the authorization request, echoed.
    pub nonce: Option<&'a str>,
    /// v1 or v2 shape, after the endpoint that issues it.
    pub version: TokenVersion,
    pub now: i64,
}

impl IdToken<'_> {
    /// The claims: v2 shape from the v2 endpoint, v1 shape from the v1 one.
    pub fn claims(&self) -> Value {
        let mut claims = json!({
            "aud": self.client.to_string(),
            "iat": self.now - BACKDATE,
            "nbf": self.now - BACKDATE,
            "exp": self.now + ID_TOKEN_LIFETIME - BACKDATE,
            "name": self.name,
            "oid": self.user.to_string(),
            "rh": format!("0.{}.", unique_token_id()),
            "sub": pairwise_subject(self.user, self.client),
            "tid": self.tenant.to_string(),
            "uti": unique_token_id(),
        });
        let map = claims.as_object_mut().expect("an object");
        match self.version {
            TokenVersion::V1 => {
                map.insert("iss".into(), json!(issuer_v1(self.origin, self.tenant)));
                map.insert("amr".into(), json!(["pwd"]));
                map.insert("unique_name".into(), json!(self.user_principal_name));
                map.insert("upn".into(), json!(self.user_principal_name));
                map.insert("ver".into(), json!("1.0"));
            }
            TokenVersion::V2 => {
                map.insert("iss".into(), json!(issuer_v2(self.origin, self.tenant)));
                map.insert("aio".into(), json!(unique_token_id()));
                map.insert("preferred_username".into(), json!(self.user_principal_name));
                map.insert("ver".into(), json!("2.0"));
            }
        }
        if let Some(nonce) = self.nonce {
            map.insert("nonce".into(), json!(nonce));
        }
        claims
    }
}

/// MSAL's `client_info`: base64url of `{"uid": oid, "utid": tid}`, from which
/// it builds the account's home ID `uid.utid`.
pub fn client_info(user: ObjectId, tenant: TenantId) -> String {
    let body = json!({ "uid": user.to_string(), "utid": tenant.to_string() });
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body.to_string())
}

#[cfg(test)]
mod id_token_tests {
    use super::*;

    #[test]
    fn id_token_and_client_info() {
        let (user, client, tenant) = (ObjectId::new(), AppId::new(), TenantId::new());
        let token = IdToken {
            origin: "https://h:1/",
            tenant,
            client,
            user,
            user_principal_name: "a@hale.local",
            name: "A",
            nonce: Some("n-1"),
            version: TokenVersion::V2,
            now: 1_800_000_000,
        };
        let claims = token.claims();
        assert_eq!(claims["aud"], client.to_string());
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(claims["iss"], format!("https://h:1/{tenant}/v2.0"));
        assert_eq!(claims["preferred_username"], "a@hale.local");
        let info = client_info(user, tenant);
        let decoded: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(info)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(decoded["uid"], user.to_string());
        assert_eq!(decoded["utid"], tenant.to_string());
    }
}
