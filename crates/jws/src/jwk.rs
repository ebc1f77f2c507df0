//! JWKS entries in Entra's shape.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::b64;
use crate::error::Result;
use crate::key::RsaPublicKey;
use crate::thumbprint::sha1_thumbprint;

/// One entry of a JWKS document, with Entra's members in Entra's order:
/// `kty`, `use`, `kid`, `x5t`, `n`, `e`, `x5c`, and `issuer` on the v2 key
/// set only (`/discovery/v2.0/keys`; the v1 `/discovery/keys` has none).
/// `kid` = `x5t` = base64url(SHA-1(certificate DER)) and `x5c` holds the
/// self-signed certificate in standard base64 (padded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Always `"RSA"`.
    pub kty: String,
    /// `"sig"`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Key id; Entra's tokens carry it as `kid` (and as `x5t` in v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// base64url SHA-1 thumbprint of the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5t: Option<String>,
    /// Modulus, base64url.
    pub n: String,
    /// Exponent, base64url (`"AQAB"`).
    pub e: String,
    /// Certificate chain, standard base64 DER.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub x5c: Vec<String>,
    /// Issuer the key is valid for, e.g.
    /// `https://login.microsoftonline.com/{tenantid}/v2.0` (literally
    /// `{tenantid}` in the multi-tenant documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

impl Jwk {
    /// The JWKS entry for a signing certificate, as Entra publishes it.
    pub fn from_certificate(cert_der: &[u8], issuer: Option<&str>) -> Result<Jwk> {
        let key = RsaPublicKey::from_certificate_der(cert_der)?;
        let (n, e) = key.jwk();
        let kid = b64::STRICT_URL.encode(sha1_thumbprint(cert_der));
        Ok(Jwk {
            kty: "RSA".to_owned(),
            use_: Some("sig".to_owned()),
            kid: Some(kid.clone()),
            x5t: Some(kid),
            n,
            e,
            x5c: vec![b64::STD.encode(cert_der)],
            issuer: issuer.map(str::to_owned),
        })
    }

    /// The public key from `n` and `e`.
    pub fn public_key(&self) -> Result<RsaPublicKey> {
        if self.kty != "RSA" {
            return Err(crate::Error::InvalidKey("JWK is not an RSA key"));
        }
        RsaPublicKey::from_jwk(&self.n, &self.e)
    }
}
