//! Certificate credentials (`keyCredentials`): an uploaded X.509 certificate's
//! public part, with which an application signs client assertions.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;
use uuid::Uuid;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::{DirectoryError, KeyCredential};

/// The largest certificate accepted (a chain of a few certificates fits).
pub const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;
/// The smallest RSA modulus accepted for signing client assertions.
pub const MIN_RSA_BITS: usize = 2048;

fn invalid(why: impl Into<String>) -> DirectoryError {
    DirectoryError::InvalidProperty {
        property: "keyCredentials.key".into(),
        why: why.into(),
    }
}

/// The DER of the first certificate in `bytes`: DER itself, or PEM text (the
/// first `CERTIFICATE` block). Private keys are refused: only the public part
/// belongs in the directory.
pub fn certificate_der(bytes: &[u8]) -> Result<Vec<u8>, DirectoryError> {
    if bytes.is_empty() {
        return Err(invalid("the certificate is empty"));
    }
    if bytes.len() > MAX_CERTIFICATE_BYTES {
        return Err(invalid(format!(
            "the certificate is larger than {MAX_CERTIFICATE_BYTES} bytes"
        )));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(bytes.to_vec());
    };
    if !text.contains("-----BEGIN") {
        return Ok(bytes.to_vec());
    }
    if text.contains("PRIVATE KEY-----") {
        return Err(invalid(
            "the upload contains a private key; upload only the certificate (public key)",
        ));
    }
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = text
        .find(BEGIN)
        .ok_or_else(|| invalid("the PEM text holds no CERTIFICATE block"))?
        + BEGIN.len();
    let end = text[start..]
        .find(END)
        .ok_or_else(|| invalid("the PEM CERTIFICATE block is not terminated"))?
        + start;
    let body: String = text[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD
        .decode(body)
        .map_err(|_| invalid("the PEM CERTIFICATE block is not valid base64"))
}

/// Makes a key credential from an uploaded certificate (DER or PEM): the SHA-1
/// thumbprint becomes `customKeyIdentifier`, the validity period the start and
/// end, the subject the default display name. Refuses what is not an X.509
/// certificate, what has already expired, and keys that cannot sign client
/// assertions (Entra takes RS256/PS256: RSA of at least 2048 bits).
pub fn new_key_credential(
    bytes: &[u8],
    key_id: Option<Uuid>,
    display_name: Option<String>,
    now: OffsetDateTime,
) -> Result<KeyCredential, DirectoryError> {
    let der = certificate_der(bytes)?;
    let (rest, cert) = X509Certificate::from_der(&der)
        .map_err(|_| invalid("the key is not an X.509 certificate in DER or PEM form"))?;
    if !rest.is_empty() {
        return Err(invalid("unexpected bytes follow the certificate"));
    }
    let timestamp = |t: x509_parser::time::ASN1Time| {
        OffsetDateTime::from_unix_timestamp(t.timestamp())
            .map_err(|_| invalid("the certificate's validity period is out of range"))
    };
    let start = timestamp(cert.validity().not_before)?;
    let end = timestamp(cert.validity().not_after)?;
    if end <= now {
        return Err(invalid(format!(
            "the certificate expired on {}",
            end.date()
        )));
    }
    match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) if rsa.key_size() >= MIN_RSA_BITS => {}
        Ok(PublicKey::RSA(rsa)) => {
            return Err(invalid(format!(
                "the certificate's RSA key has {} bits; at least {MIN_RSA_BITS} are required",
                rsa.key_size()
            )));
        }
        _ => {
            return Err(invalid(
                "the certificate's key must be RSA (client assertions are signed with RS256 or PS256)",
            ));
        }
    }
    let subject = cert.subject().to_string();
    let display_name = display_name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| {
            if subject.is_empty() {
                "certificate".to_owned()
            } else {
                subject
            }
        });
    if display_name.chars().count() > 256 {
        return Err(DirectoryError::InvalidProperty {
            property: "keyCredentials.displayName".into(),
            why: "must be at most 256 characters".into(),
        });
    }
    Ok(KeyCredential {
        key_id: key_id.unwrap_or_else(Uuid::new_v4),
        kind: "AsymmetricX509Cert".into(),
        usage: "Verify".into(),
        custom_key_identifier: Some(STANDARD.encode(hale_jws::sha1_thumbprint(&der))),
        display_name: Some(display_name),
        start_date_time: start,
        end_date_time: end,
        key: Some(STANDARD.encode(&der)),
    })
}

impl KeyCredential {
    /// The certificate's DER, if the credential holds it.
    pub fn certificate(&self) -> Option<Vec<u8>> {
        STANDARD.decode(self.key.as_deref()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Self-signed certificates made once with openssl, valid until 2126.
    const RSA2048: &str = include_str!("../tests/fixtures/rsa2048.pem");
    const RSA1024: &str = include_str!("../tests/fixtures/rsa1024.pem");
    const EC_P256: &str = include_str!("../tests/fixtures/ec.pem");

    fn rsa_cert() -> (String, Vec<u8>) {
        let der = certificate_der(RSA2048.as_bytes()).unwrap();
        (RSA2048.to_owned(), der)
    }

    #[test]
    fn pem_and_der_give_the_same_credential() {
        let (pem, der) = rsa_cert();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let a = new_key_credential(pem.as_bytes(), None, None, now).unwrap();
        let b = new_key_credential(&der, None, None, now).unwrap();
        assert_eq!(a.custom_key_identifier, b.custom_key_identifier);
        assert_eq!(a.key, b.key);
        assert_eq!(a.kind, "AsymmetricX509Cert");
        assert_eq!(a.usage, "Verify");
        assert!(a.display_name.as_deref().unwrap().contains("CN="));
        assert!(a.start_date_time < a.end_date_time);
        assert_eq!(a.certificate().unwrap(), der);
        assert_eq!(
            STANDARD.decode(a.custom_key_identifier.unwrap()).unwrap(),
            hale_jws::sha1_thumbprint(&der)
        );
    }

    #[test]
    fn refusals() {
        let (pem, _) = rsa_cert();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let with_key =
            format!("{pem}\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "empty"),
            (b"not a certificate".to_vec(), "not an X.509"),
            (with_key.into_bytes(), "private key"),
            (
                b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----".to_vec(),
                "base64",
            ),
            (vec![0u8; MAX_CERTIFICATE_BYTES + 1], "larger"),
            (RSA1024.as_bytes().to_vec(), "1024 bits"),
            (EC_P256.as_bytes().to_vec(), "must be RSA"),
        ];
        for (input, expected) in cases {
            let e = new_key_credential(&input, None, None, now).unwrap_err();
            assert!(e.to_string().contains(expected), "{expected}: {e}");
        }
        let far_future = OffsetDateTime::from_unix_timestamp(5_000_000_000).unwrap();
        let e = new_key_credential(pem.as_bytes(), None, None, far_future).unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
    }
}
