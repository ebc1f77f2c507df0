//! Token signing keys.

use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_RSA_SHA256};
use rustls_pki_types::PrivatePkcs8KeyDer;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::{KeyError, MasterKey};

/// An RSA-2048 token signing key with its self-signed certificate.
pub struct SigningKey {
    /// `kid`, equal to `x5t`: base64url of the certificate's SHA-1 thumbprint, as
    /// Entra publishes it.
    pub kid: String,
    /// The certificate (DER), published in JWKS as `x5c`.
    pub certificate_der: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl SigningKey {
    /// The JWS algorithm these keys sign with.
    pub const ALGORITHM: &'static str = "RS256";

    /// Generates a key valid from now (back-dated five minutes for clock
    /// skew) for `lifetime`.
    pub fn generate(lifetime: Duration) -> Result<SigningKey, KeyError> {
        Self::generate_from(OffsetDateTime::now_utc() - Duration::minutes(5), lifetime)
    }

    /// Generates a key whose certificate is valid from `not_before` (when it
    /// begins to sign) for `lifetime`.
    pub fn generate_from(
        not_before: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<SigningKey, KeyError> {
        let rsa = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|e| KeyError::Generation(e.to_string()))?;
        let pkcs8 = Zeroizing::new(
            rsa.as_der()
                .map_err(|e| KeyError::Generation(e.to_string()))?
                .as_ref()
                .to_vec(),
        );
        let key_pair = KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(pkcs8.as_slice()),
            &PKCS_RSA_SHA256,
        )
        .map_err(|e| KeyError::Generation(e.to_string()))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Hale token signing");
        params.distinguished_name = dn;
        let not_after = not_before + lifetime;
        params.not_before = not_before;
        params.not_after = not_after;
        let cert = params
            .self_signed(&key_pair)
            .map_err(|e| KeyError::Certificate(e.to_string()))?;
        let certificate_der = cert.der().to_vec();
        Ok(SigningKey {
            kid: thumbprint(&certificate_der),
            certificate_der,
            not_before,
            not_after,
            pkcs8,
        })
    }

    /// Reassembles a key from stored parts (the private key already unsealed).
    pub fn from_parts(
        certificate_der: Vec<u8>,
        pkcs8: Zeroizing<Vec<u8>>,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<SigningKey, KeyError> {
        RsaKeyPair::from_pkcs8(&pkcs8)
            .map_err(|e| KeyError::Certificate(format!("stored signing key: {e}")))?;
        Ok(SigningKey {
            kid: thumbprint(&certificate_der),
            certificate_der,
            not_before,
            not_after,
            pkcs8,
        })
    }

    /// The private key, PKCS#8 DER.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The private key sealed with `master`, for storage.
    pub fn seal(&self, master: &MasterKey) -> Result<Vec<u8>, KeyError> {
        master.seal(&sealing_context(&self.kid), &self.pkcs8)
    }

    /// Reassembles a stored key, unsealing its private half with `master`.
    pub fn unseal(
        certificate_der: Vec<u8>,
        sealed_private_key: &[u8],
        master: &MasterKey,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<SigningKey, KeyError> {
        let kid = thumbprint(&certificate_der);
        let pkcs8 = master.open(&sealing_context(&kid), sealed_private_key)?;
        Self::from_parts(certificate_der, pkcs8, not_before, not_after)
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Binds a sealed private key to its certificate's thumbprint.
fn sealing_context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// base64url (unpadded) SHA-1 of a certificate: Entra's `x5t` and `kid`.
pub fn thumbprint(certificate_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, certificate_der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_round_trips_through_its_parts() {
        let key = SigningKey::generate(Duration::days(90)).unwrap();
        assert_eq!(key.kid.len(), 27, "base64url of 20 bytes");
        let again = SigningKey::from_parts(
            key.certificate_der.clone(),
            Zeroizing::new(key.pkcs8_der().to_vec()),
            key.not_before,
            key.not_after,
        )
        .unwrap();
        assert_eq!(again.kid, key.kid);
        assert!(
            SigningKey::from_parts(
                key.certificate_der.clone(),
                Zeroizing::new(vec![1, 2, 3]),
                key.not_before,
                key.not_after
            )
            .is_err()
        );
    }
}
