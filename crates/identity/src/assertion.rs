//! Client assertions (`private_key_jwt`) and Graph's `addKey`/`removeKey`
//! proofs: JWTs signed with the private key of a certificate registered on
//! the application, checked against that certificate.
//!
//! What the Microsoft clients send (CLIENTS.md §2.3): RS256 with `x5t` (SHA-1,
//! padded by MSAL Python) or PS256 with `x5t#S256`, sometimes `x5c`, float
//! `exp`/`iat`, no `nbf`, a `jti` that MSAL reuses while it caches the
//! assertion. `aud` is the token endpoint URL as the client saw it.

use std::time::{Duration, SystemTime};

use hale_directory::KeyCredential;
use hale_jws::{Alg, RsaPublicKey, Unverified};
use serde_json::Value;
use time::OffsetDateTime;

/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const SKEW: Duration = Duration::from_secs(300);
/// The longest client assertion accepted.
pub const MAX_ASSERTION_LEN: usize = 16 * 1024;
/// The form's `client_assertion_type` for a JWT.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Why an assertion was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssertionError {
    /// Not a JWT, or a JWT with a malformed header or claims.
    Malformed(String),
    /// No certificate registered on the application matches the header.
    UnknownCertificate,
    /// The matching certificate has expired or is not yet valid.
    CertificateNotCurrent,
    /// The signature does not verify with the certificate's key.
    BadSignature,
    /// `exp`/`nbf`/`iat` put it outside its valid time range.
    OutsideValidity,
    /// `aud` is not one of the accepted values.
    WrongAudience,
    /// `iss` or `sub` is not the expected client.
    WrongIssuer,
}

/// A verified assertion: its claims and the credential that signed it.
#[derive(Debug)]
pub struct Verified {
    pub claims: Value,
    pub key_id: uuid::Uuid,
}

/// Verifies `token` with whichever of `credentials` its header names (`x5t`,
/// `x5t#S256`, `kid`, or the leaf of `x5c`); with no hint, each current
/// certificate is tried. Checks RS256/PS256 signature and times; audience and
/// issuer are the caller's, through [`check_client_claims`].
pub fn verify(
    token: &str,
    credentials: &[KeyCredential],
    now: OffsetDateTime,
) -> Result<Verified, AssertionError> {
    let unverified = Unverified::parse_with_limit(token, MAX_ASSERTION_LEN)
        .map_err(|e| AssertionError::Malformed(e.to_string()))?;
    let header = unverified.header().clone();
    header
        .alg()
        .ok()
        .filter(|a| matches!(a, Alg::RS256 | Alg::PS256))
        .ok_or_else(|| {
            AssertionError::Malformed(format!(
                "the assertion's alg '{}' is not RS256 or PS256",
                header.alg
            ))
        })?;
    let sha1 = header.cert_sha1_thumbprint();
    let sha256 = header.cert_sha256_thumbprint();
    let leaf = header
        .x5c_der()
        .ok()
        .and_then(|chain| chain.into_iter().next());
    let hinted = sha1.is_some() || sha256.is_some() || leaf.is_some();
    let candidates: Vec<(&KeyCredential, Vec<u8>)> = credentials
        .iter()
        .filter_map(|c| c.certificate().map(|der| (c, der)))
        .filter(|(_, der)| {
            !hinted
                || sha1.is_some_and(|t| t == hale_jws::sha1_thumbprint(der))
                || sha256.is_some_and(|t| t == hale_jws::sha256_thumbprint(der))
                || leaf.as_deref() == Some(der.as_slice())
        })
        .collect();
    if candidates.is_empty() {
        return Err(AssertionError::UnknownCertificate);
    }
    let current: Vec<&(&KeyCredential, Vec<u8>)> = candidates
        .iter()
        .filter(|(c, _)| c.start_date_time <= now + SKEW && now < c.end_date_time)
        .collect();
    if current.is_empty() {
        return Err(AssertionError::CertificateNotCurrent);
    }
    let mut last = AssertionError::BadSignature;
    for (credential, der) in current {
        let Ok(key) = RsaPublicKey::from_certificate_der(der) else {
            continue;
        };
        match unverified.clone().verify(&key, &[Alg::RS256, Alg::PS256]) {
            Ok(claims) => {
                let system_now = SystemTime::UNIX_EPOCH
                    + Duration::from_secs(now.unix_timestamp().max(0) as u64);
                hale_jws::check_times(&claims, system_now, SKEW)
                    .map_err(|_| AssertionError::OutsideValidity)?;
                return Ok(Verified {
                    claims,
                    key_id: credential.key_id,
                });
            }
            Err(_) => last = AssertionError::BadSignature,
        }
    }
    Err(last)
}

/// Checks a client assertion's claims: `iss` and `sub` are the client ID and
/// `aud` is one of `audiences` (compared ignoring a trailing slash and the
/// case of scheme and host).
pub fn check_client_claims(
    claims: &Value,
    client_id: &str,
    audiences: &[String],
) -> Result<(), AssertionError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if !text("iss").is_some_and(|v| v.eq_ignore_ascii_case(client_id))
        || !text("sub").is_some_and(|v| v.eq_ignore_ascii_case(client_id))
    {
        return Err(AssertionError::WrongIssuer);
    }
    let presented = hale_jws::audiences(claims).map_err(|_| AssertionError::WrongAudience)?;
    let matches = |a: &str| audiences.iter().any(|b| same_url(a, b));
    if presented.iter().any(|a| matches(a)) {
        Ok(())
    } else {
        Err(AssertionError::WrongAudience)
    }
}

/// URL equality for audiences: scheme and host ignore case, a trailing slash
/// is ignored, the path is exact otherwise.
fn same_url(a: &str, b: &str) -> bool {
    let a = a.trim_end_matches('/');
    let b = b.trim_end_matches('/');
    let split = |u: &str| -> (String, String) {
        match u.find("://") {
            Some(i) => {
                let rest = &u[i + 3..];
                let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                (
                    format!("{}://{}", &u[..i], authority).to_ascii_lowercase(),
                    path.to_owned(),
                )
            }
            None => (u.to_ascii_lowercase(), String::new()),
        }
    };
    split(a) == split(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_comparison() {
        assert!(same_url(
            "https://LOCALHOST:8443/t/oauth2/v2.0/token",
            "https://localhost:8443/t/oauth2/v2.0/token/"
        ));
        assert!(!same_url(
            "https://localhost:8443/T/oauth2/v2.0/token",
            "https://localhost:8443/t/oauth2/v2.0/token"
        ));
        assert!(!same_url(
            "https://localhost:8443/x",
            "https://localhost:8444/x"
        ));
    }

    #[test]
    fn claims() {
        let aud = vec!["https://h/t/oauth2/v2.0/token".to_owned()];
        let good =
            serde_json::json!({"iss": "c", "sub": "c", "aud": "https://h/t/oauth2/v2.0/token"});
        assert_eq!(check_client_claims(&good, "c", &aud), Ok(()));
        let other_sub = serde_json::json!({"iss": "c", "sub": "d", "aud": aud[0]});
        assert_eq!(
            check_client_claims(&other_sub, "c", &aud),
            Err(AssertionError::WrongIssuer)
        );
        let other_aud =
            serde_json::json!({"iss": "c", "sub": "c", "aud": "https://h/u/oauth2/v2.0/token"});
        assert_eq!(
            check_client_claims(&other_aud, "c", &aud),
            Err(AssertionError::WrongAudience)
        );
    }
}
