//! Bearer tokens on Hale's own APIs: who is calling.
//!
//! A token is accepted when Hale signed it (a key of the key ring, by `kid`),
//! its issuer is a tenant of this Hale (v1 `{origin}/{tid}/` or v2
//! `{origin}/{tid}/v2.0`), its audience is the API's, and it is within its
//! lifetime give or take five minutes. [`verify_bearer`] makes those checks
//! for every API (Graph, ARM, the data planes); each maps a [`TokenFault`] to
//! its own error shape.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use hale_directory::access::{self, Principal};
use hale_directory::{ObjectId, TenantId};
use hale_jws::{Alg, RsaPublicKey, Unverified};
use hale_store::{Store, StoreError, principals, signing_keys, tenants};
use serde_json::Value;

use super::AppState;
use super::graph::GraphError;

/// Clock skew tolerated on `exp` and `nbf`, as Azure's resource servers do.
const SKEW: Duration = Duration::from_secs(300);
/// How often an unknown `kid` may trigger a reload of the key ring.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Microsoft Graph's token audiences.
pub(crate) const GRAPH_AUDIENCES: &[&str] = &[
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
    "00000003-0000-0000-c000-000000000000",
];

/// The public halves of the signing keys, by `kid`, reloaded from the database
/// when a token names a key this replica has not seen (another replica rotated).
pub(crate) struct KeyRing {
    keys: RwLock<Vec<(String, RsaPublicKey)>>,
    last_reload: Mutex<Option<Instant>>,
}

impl KeyRing {
    pub(crate) async fn load(store: &Store) -> Result<KeyRing, StoreError> {
        let ring = KeyRing {
            keys: RwLock::new(Vec::new()),
            last_reload: Mutex::new(None),
        };
        ring.reload(store).await?;
        Ok(ring)
    }

    async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let stored = store.read(signing_keys::list).await?;
        let keys = stored
            .iter()
            .filter_map(|k| match RsaPublicKey::from_certificate_der(&k.certificate) {
                Ok(key) => Some((k.kid.clone(), key)),
                Err(e) => {
                    tracing::error!(kid = %k.kid, error = %e, "unusable signing key certificate");
                    None
                }
            })
            .collect();
        *self.keys.write().expect("key ring lock") = keys;
        *self.last_reload.lock().expect("key ring lock") = Some(Instant::now());
        Ok(())
    }

    fn find(&self, kid: &str) -> Option<RsaPublicKey> {
        self.keys
            .read()
            .expect("key ring lock")
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, key)| key.clone())
    }

    async fn key(&self, store: &Store, kid: &str) -> Option<RsaPublicKey> {
        if let Some(key) = self.find(kid) {
            return Some(key);
        }
        let due = self
            .last_reload
            .lock()
            .expect("key ring lock")
            .is_none_or(|at| at.elapsed() >= RELOAD_INTERVAL);
        if due && self.reload(store).await.is_ok() {
            return self.find(kid);
        }
        None
    }
}

/// An authenticated caller of a Hale API.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub tenant_id: TenantId,
    pub tenant_domain: String,
    pub object_id: ObjectId,
    pub principal: Principal,
    /// `scp` (delegated) or `roles` (application) permissions.
    pub permissions: Vec<String>,
}

impl Caller {
    pub(crate) fn require_read_applications(&self) -> Result<(), GraphError> {
        if access::may_read_applications(&self.principal, &self.permissions) {
            Ok(())
        } else {
            Err(GraphError::forbidden())
        }
    }

    /// Refuses unless `rule` allows the caller (`access::may_*`).
    pub(crate) fn require(
        &self,
        rule: fn(&access::Principal, &[String]) -> bool,
    ) -> Result<(), GraphError> {
        if rule(&self.principal, &self.permissions) {
            Ok(())
        } else {
            Err(GraphError::forbidden())
        }
    }

    pub(crate) fn require_write_applications(&self) -> Result<(), GraphError> {
        if access::may_write_applications(&self.principal, &self.permissions) {
            Ok(())
        } else {
            Err(GraphError::forbidden())
        }
    }
}

fn invalid(why: &str) -> GraphError {
    GraphError::unauthorized(format!("Access token validation failure. {why}"))
}

/// Why a bearer token was refused, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenFault {
    /// No `Authorization: Bearer …` header.
    Missing,
    /// Not a compact JWS.
    Malformed,
    /// Unknown `kid`, disallowed algorithm or a signature that does not verify.
    Signature,
    /// Expired, or not valid yet, beyond the allowed skew.
    Lifetime,
    /// `aud` is not one the API accepts.
    Audience,
    /// No usable `tid`.
    Tenant,
    /// `iss` is not the v1 or v2 issuer of `tid` on this origin.
    Issuer,
    /// No usable `oid`.
    NoObjectId,
}

impl TokenFault {
    /// Whether the token may still be good for another audience or issuer:
    /// it is a JWS, and either signed by a key Hale does not hold (another
    /// issuer's) or signed by Hale and current but for someone else.
    pub(crate) fn may_be_other_issuer(self) -> bool {
        matches!(
            self,
            Self::Signature | Self::Audience | Self::Tenant | Self::Issuer | Self::NoObjectId
        )
    }
}

/// A bearer token whose signature, lifetime, audience and issuer were checked.
/// Whether its tenant exists is the caller's to check (in its own read).
#[derive(Debug, Clone)]
pub(crate) struct Bearer {
    pub claims: Arc<Value>,
    pub tenant_id: TenantId,
    pub object_id: ObjectId,
    /// An application acting as itself (no user).
    pub is_app: bool,
}

impl Bearer {
    /// A text claim.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(|v| v.as_str())
    }

    /// Who the caller is, as Azure names it in messages: the user's UPN or the
    /// application's client ID, else the object ID.
    pub(crate) fn display_name(&self) -> String {
        ["upn", "unique_name", "appid", "azp"]
            .iter()
            .find_map(|c| self.text(c))
            .map(str::to_owned)
            .unwrap_or_else(|| self.object_id.to_string())
    }
}

/// Tokens whose signatures were verified, kept until they expire so that a
/// client presenting the same token again costs no RSA verification. Only the
/// signature is remembered: lifetime, audience and issuer are checked on every
/// use, and no authorization decision is ever cached.
pub(crate) struct VerifiedTokens {
    entries: Mutex<HashMap<String, (Arc<Value>, SystemTime)>>,
}

/// Most tokens remembered at once; past it, expired ones are dropped, and if
/// none has expired, all are (the cache only ever saves work).
const VERIFIED_TOKENS_MAX: usize = 10_000;

impl VerifiedTokens {
    pub(crate) fn new() -> VerifiedTokens {
        VerifiedTokens {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, token: &str) -> Option<Arc<Value>> {
        let entries = self.entries.lock().expect("token cache lock");
        entries.get(token).map(|(claims, _)| claims.clone())
    }

    fn put(&self, token: &str, claims: Arc<Value>) {
        let until = hale_jws::numeric_date(&claims, "exp")
            .filter(|e| e.is_finite() && *e > 0.0)
            .map(|e| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(e) + SKEW)
            .unwrap_or_else(SystemTime::now);
        let mut entries = self.entries.lock().expect("token cache lock");
        if entries.len() >= VERIFIED_TOKENS_MAX {
            let now = SystemTime::now();
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= VERIFIED_TOKENS_MAX {
                entries.clear();
            }
        }
        entries.insert(token.to_owned(), (claims, until));
    }
}

/// Checks the bearer token of a request: Hale's signature (by `kid`, from the
/// key ring), lifetime with five minutes of skew, an audience `accept` takes,
/// a tenant, the v1 or v2 issuer of that tenant on this origin, and an `oid`.
pub(crate) async fn verify_bearer(
    state: &AppState,
    headers: &HeaderMap,
    accept: impl Fn(&str) -> bool,
) -> Result<Bearer, TokenFault> {
    let token = bearer(headers).ok_or(TokenFault::Missing)?;
    verify_token(state, token, accept).await
}

/// The checks of [`verify_bearer`] on a token from elsewhere (the assertion
/// of an on-behalf-of request).
pub(crate) async fn verify_token(
    state: &AppState,
    token: &str,
    accept: impl Fn(&str) -> bool,
) -> Result<Bearer, TokenFault> {
    let claims = match state.verified_tokens.get(token) {
        Some(claims) => claims,
        None => {
            let parsed = Unverified::parse(token).map_err(|_| TokenFault::Malformed)?;
            let kid = parsed
                .header()
                .kid
                .clone()
                .or_else(|| parsed.header().x5t.clone())
                .unwrap_or_default();
            let key = state
                .key_ring
                .key(&state.store, &kid)
                .await
                .ok_or(TokenFault::Signature)?;
            let claims = Arc::new(
                parsed
                    .verify(&key, &[Alg::RS256])
                    .map_err(|_| TokenFault::Signature)?,
            );
            state.verified_tokens.put(token, claims.clone());
            claims
        }
    };
    hale_jws::check_times(&claims, SystemTime::now(), SKEW).map_err(|_| TokenFault::Lifetime)?;
    let audiences = hale_jws::audiences(&claims).map_err(|_| TokenFault::Audience)?;
    if !audiences.iter().any(|a| accept(a)) {
        return Err(TokenFault::Audience);
    }
    let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
    let tenant_id: TenantId = text("tid")
        .and_then(|t| t.parse().ok())
        .ok_or(TokenFault::Tenant)?;
    let origin = state.public_url.as_str();
    let issuer = text("iss").unwrap_or_default();
    if issuer != format!("{origin}{tenant_id}/") && issuer != format!("{origin}{tenant_id}/v2.0") {
        return Err(TokenFault::Issuer);
    }
    let object_id: ObjectId = text("oid")
        .and_then(|o| o.parse().ok())
        .ok_or(TokenFault::NoObjectId)?;
    let is_app = text("idtyp") == Some("app") || claims.get("scp").is_none();
    Ok(Bearer {
        claims,
        tenant_id,
        object_id,
        is_app,
    })
}

/// The bearer token of a request to Graph's host (`/v1.0`, `/oidc/userinfo`),
/// verified, or Graph's 401 saying why not.
pub(crate) async fn verify_graph_bearer(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Bearer, GraphError> {
    verify_bearer(state, headers, |a| GRAPH_AUDIENCES.contains(&a))
        .await
        .map_err(|fault| match fault {
            TokenFault::Missing => GraphError::unauthorized("Access token is empty."),
            TokenFault::Malformed => {
                GraphError::unauthorized("Invalid JWT token. The token is malformed.")
            }
            TokenFault::Signature => invalid("Invalid signature."),
            TokenFault::Lifetime => {
                GraphError::unauthorized("Lifetime validation failed, the token is expired.")
            }
            TokenFault::Audience => invalid("Invalid audience."),
            TokenFault::Tenant => invalid("Invalid tenant."),
            TokenFault::Issuer => invalid("Invalid issuer."),
            TokenFault::NoObjectId => invalid("The token has no object ID."),
        })
}

/// The caller of a Graph request.
pub(crate) async fn graph_caller(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Caller, GraphError> {
    let verified = verify_graph_bearer(state, headers).await?;
    let (tenant_id, object_id, is_app) = (verified.tenant_id, verified.object_id, verified.is_app);
    let permissions: Vec<String> = if is_app {
        verified
            .claims
            .get("roles")
            .and_then(|r| r.as_array())
            .map(|roles| {
                roles
                    .iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        verified
            .text("scp")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let (tenant, roles) = state
        .store
        .read(move |tx| {
            let tenant = tenants::get(tx, tenant_id)?;
            let roles = if is_app {
                Vec::new()
            } else {
                principals::roles_of(tx, tenant_id, object_id)?
            };
            Ok::<_, StoreError>((tenant, roles))
        })
        .await?;
    let tenant = tenant.ok_or_else(|| invalid("Invalid tenant."))?;
    Ok(Caller {
        tenant_id,
        tenant_domain: tenant.domain,
        object_id,
        principal: if is_app {
            Principal::Application
        } else {
            Principal::User { roles }
        },
        permissions,
    })
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Shared key ring handle.
pub(crate) type SharedKeyRing = Arc<KeyRing>;
