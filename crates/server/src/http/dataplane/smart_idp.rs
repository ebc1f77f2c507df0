//! The keys of SMART identity providers hosted elsewhere than this Hale
//! (Azure AD B2C, Entra External ID, Keycloak, …): a FHIR service's
//! `smartIdentityProviders` name their authorities, and a token they issued
//! is checked against the issuer and keys their OpenID configuration
//! publishes (`{authority}/.well-known/openid-configuration`, then its
//! `jwks_uri`), as Azure's FHIR service does.
//!
//! Both documents are fetched when a token first names the authority and
//! kept for an hour; a token signed by a key not among them (the provider
//! rolled its keys) fetches them again, at most once a minute, and a failed
//! fetch keeps what was there. Only `https` authorities are fetched, and
//! `http` on the loopback interface (a provider on the same machine).
//! Documents are bounded in size and time. RSA keys only (RS256), as the
//! FHIR service's identity providers sign.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hale_jws::{Alg, RsaPublicKey, Unverified};
use serde_json::Value;

/// How long an authority's configuration and keys are used without asking again.
const FRESH: Duration = Duration::from_secs(3600);
/// Least time between two fetches for one authority.
const RETRY: Duration = Duration::from_secs(60);
/// Longest a fetch may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Largest configuration or key set read.
const MAX_DOCUMENT: usize = 256 * 1024;
/// Allowed clock skew on `exp`/`nbf`, as for Hale's own tokens.
const SKEW: Duration = Duration::from_secs(300);
/// Most authorities kept (a service names at most two; services are few).
const MAX_AUTHORITIES: usize = 256;

/// What an authority publishes.
struct Published {
    issuer: String,
    /// `(kid, key)` of its RSA signing keys.
    keys: Vec<(Option<String>, RsaPublicKey)>,
    fetched: Instant,
}

/// The configurations and keys of external authorities, shared by requests.
pub(crate) struct ProviderKeys {
    client: Option<reqwest::Client>,
    cache: Mutex<HashMap<String, Arc<Published>>>,
}

impl Default for ProviderKeys {
    fn default() -> Self {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .inspect_err(
                |e| tracing::warn!(error = %e, "no HTTP client for SMART identity providers"),
            )
            .ok();
        ProviderKeys {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

/// Whether Hale may fetch documents from `url`: `https`, or `http` to the
/// loopback interface.
pub(crate) fn fetchable(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

impl ProviderKeys {
    /// The claims of `token` when `authority` issued it: its `iss` is the
    /// issuer the authority's configuration names, one of the authority's
    /// keys signed it (RS256), and it is current. Audience and client are
    /// the caller's to check.
    pub(crate) async fn verify(&self, authority: &str, token: &str) -> Option<Value> {
        let parsed = Unverified::parse(token).ok()?;
        let issuer = parsed.claims().get("iss")?.as_str()?.to_owned();
        let kid = parsed.header().kid.clone();
        let mut published = self.published(authority, false).await?;
        if published.issuer != issuer {
            return None;
        }
        if kid
            .as_ref()
            .is_some_and(|kid| !published.keys.iter().any(|(k, _)| k.as_ref() == Some(kid)))
        {
            // A key the provider added since: ask again (rate limited).
            published = self.published(authority, true).await?;
        }
        let claims = published
            .keys
            .iter()
            .filter(|(k, _)| kid.is_none() || k.is_none() || *k == kid)
            .find_map(|(_, key)| {
                Unverified::parse(token)
                    .ok()?
                    .verify(key, &[Alg::RS256])
                    .ok()
            })?;
        hale_jws::check_times(&claims, SystemTime::now(), SKEW).ok()?;
        Some(claims)
    }

    /// What `authority` publishes: from the cache while fresh (and, when
    /// `refresh`, while fetched less than [`RETRY`] ago), else fetched; a
    /// failed fetch falls back on what was cached.
    async fn published(&self, authority: &str, refresh: bool) -> Option<Arc<Published>> {
        let key = authority.trim_end_matches('/').to_owned();
        let cached = self.cache.lock().ok()?.get(&key).cloned();
        if let Some(c) = &cached {
            let age = c.fetched.elapsed();
            if age < RETRY || (!refresh && age < FRESH) {
                return cached;
            }
        }
        match self.fetch(&key).await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                if let Ok(mut cache) = self.cache.lock() {
                    if cache.len() >= MAX_AUTHORITIES && !cache.contains_key(&key) {
                        cache.clear();
                    }
                    cache.insert(key, fresh.clone());
                }
                Some(fresh)
            }
            Err(why) => {
                tracing::warn!(authority = %key, %why, "could not read a SMART identity provider's keys");
                cached
            }
        }
    }

    async fn fetch(&self, authority: &str) -> Result<Published, String> {
        let config = self
            .document(&format!("{authority}/.well-known/openid-configuration"))
            .await?;
        let issuer = config["issuer"]
            .as_str()
            .ok_or("its OpenID configuration has no issuer")?
            .to_owned();
        let jwks_uri = config["jwks_uri"]
            .as_str()
            .ok_or("its OpenID configuration has no jwks_uri")?;
        let jwks = self.document(jwks_uri).await?;
        let keys = jwks["keys"]
            .as_array()
            .ok_or("its key set has no keys")?
            .iter()
            .filter(|k| k["kty"] == "RSA")
            .filter_map(|k| serde_json::from_value::<hale_jws::Jwk>(k.clone()).ok())
            .filter(|k| k.use_.as_deref().is_none_or(|u| u == "sig"))
            .filter_map(|k| Some((k.kid.clone(), k.public_key().ok()?)))
            .collect();
        Ok(Published {
            issuer,
            keys,
            fetched: Instant::now(),
        })
    }

    /// A JSON document at `url`, of at most [`MAX_DOCUMENT`] bytes.
    async fn document(&self, url: &str) -> Result<Value, String> {
        if !fetchable(url) {
            return Err(format!("{url} is neither https nor http on loopback"));
        }
        let client = self.client.as_ref().ok_or("no HTTP client")?;
        let mut response = client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {e}"))? {
            if body.len() + chunk.len() > MAX_DOCUMENT {
                return Err(format!("{url} is larger than {MAX_DOCUMENT} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::fetchable;

    #[test]
    fn what_may_be_fetched() {
        for ok in [
            "https://login.example.org/t/v2.0/.well-known/openid-configuration",
            "http://127.0.0.1:8080/realms/r",
            "http://localhost/realms/r",
            "http://[::1]:9000/x",
        ] {
            assert!(fetchable(ok), "{ok}");
        }
        for refused in [
            "http://login.example.org/t",
            "http://10.0.0.1/t",
            "file:///etc/passwd",
            "ftp://127.0.0.1/x",
            "not a url",
        ] {
            assert!(!fetchable(refused), "{refused}");
        }
    }
}
