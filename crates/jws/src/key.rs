//! RSA public keys: parsed once from a certificate, a SubjectPublicKeyInfo
//! or JWK components, then used for many verifications.

use std::fmt;

use aws_lc_rs::signature::{self, ParsedPublicKey};
use base64::Engine as _;

use crate::Alg;
use crate::b64;
use crate::der::{self, DerError, Reader};
use crate::error::{Error, Result};

/// OID 1.2.840.113549.1.1.1 (rsaEncryption), contents only.
const RSA_ENCRYPTION_OID: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];

/// Accepted modulus sizes in bits: what aws-lc-rs's `*_2048_8192_*`
/// verification algorithms accept, checked up front so a bad key fails when
/// it is loaded rather than on every verification.
const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 8192;

/// An RSA public key (2048 to 8192 bits) ready to verify RS256 and PS256
/// signatures. Cheap to clone; safe to share between threads.
#[derive(Clone)]
pub struct RsaPublicKey {
    /// Modulus, big-endian, no leading zero.
    n: Vec<u8>,
    /// Public exponent, big-endian, no leading zero.
    e: Vec<u8>,
    rs256: ParsedPublicKey,
    ps256: ParsedPublicKey,
}

impl RsaPublicKey {
    /// Extracts the public key of an X.509 certificate (DER). Only the
    /// structure up to the SubjectPublicKeyInfo is read; the certificate's
    /// own signature, validity and extensions are not checked (Entra does not
    /// check them for client credentials either: it trusts the registered
    /// key credential and its start/end dates).
    pub fn from_certificate_der(cert_der: &[u8]) -> Result<RsaPublicKey> {
        let spki =
            spki_of_certificate(cert_der).map_err(|_| Error::InvalidKey("bad certificate DER"))?;
        RsaPublicKey::from_spki_der(spki)
    }

    /// Parses a DER SubjectPublicKeyInfo holding an `rsaEncryption` key.
    pub fn from_spki_der(spki_der: &[u8]) -> Result<RsaPublicKey> {
        let pkcs1 = rsa_public_key_of_spki(spki_der)?;
        RsaPublicKey::from_pkcs1_der(pkcs1)
    }

    /// Parses a DER PKCS#1 `RSAPublicKey` (`SEQUENCE { n, e }`).
    pub fn from_pkcs1_der(pkcs1_der: &[u8]) -> Result<RsaPublicKey> {
        let (n, e) = parse_pkcs1(pkcs1_der).map_err(|_| Error::InvalidKey("bad RSAPublicKey"))?;
        RsaPublicKey::from_components(n, e)
    }

    /// Builds a key from JWK `n` and `e` (base64url, unpadded, RFC 7518
    /// §6.3.1), as published in a JWKS.
    pub fn from_jwk(n: &str, e: &str) -> Result<RsaPublicKey> {
        let n = b64::STRICT_URL
            .decode(n)
            .map_err(|_| Error::InvalidKey("JWK \"n\" is not base64url"))?;
        let e = b64::STRICT_URL
            .decode(e)
            .map_err(|_| Error::InvalidKey("JWK \"e\" is not base64url"))?;
        RsaPublicKey::from_components(&n, &e)
    }

    /// Builds a key from the big-endian modulus and exponent. One leading
    /// zero byte is tolerated on each (some encoders keep DER's sign byte).
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<RsaPublicKey> {
        let n = strip_one_zero(n);
        let e = strip_one_zero(e);
        match n.first() {
            None | Some(0) => return Err(Error::InvalidKey("modulus has leading zeros")),
            Some(_) => {}
        }
        let bits = n.len() * 8 - n[0].leading_zeros() as usize;
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(Error::InvalidKey("modulus must have 2048 to 8192 bits"));
        }
        // aws-lc accepts exponents of at most 33 bits; 65537 is universal.
        if e.is_empty() || e[0] == 0 || e.len() > 5 || e[e.len() - 1] & 1 == 0 || e == [1] {
            return Err(Error::InvalidKey("unacceptable public exponent"));
        }
        let mut body = Vec::with_capacity(n.len() + e.len() + 16);
        der::push_unsigned_integer(&mut body, n);
        der::push_unsigned_integer(&mut body, e);
        let mut pkcs1 = Vec::with_capacity(body.len() + 8);
        pkcs1.push(der::TAG_SEQUENCE);
        der::push_length(&mut pkcs1, body.len());
        pkcs1.extend_from_slice(&body);

        let rejected = |_| Error::InvalidKey("rejected by aws-lc");
        let rs256 = ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &pkcs1)
            .map_err(rejected)?;
        let ps256 =
            ParsedPublicKey::new(&signature::RSA_PSS_2048_8192_SHA256, &pkcs1).map_err(rejected)?;
        Ok(RsaPublicKey {
            n: n.to_vec(),
            e: e.to_vec(),
            rs256,
            ps256,
        })
    }

    /// JWK `n` and `e`, base64url without padding, for a JWKS entry.
    #[must_use]
    pub fn jwk(&self) -> (String, String) {
        (
            b64::STRICT_URL.encode(&self.n),
            b64::STRICT_URL.encode(&self.e),
        )
    }

    /// Modulus size in bits.
    #[must_use]
    pub fn bits(&self) -> usize {
        self.n.len() * 8 - self.n[0].leading_zeros() as usize
    }

    /// Verifies `signature` over `message` with `alg`. `Err(BadSignature)` on
    /// any mismatch, including a signature of the wrong length.
    pub(crate) fn verify_signature(&self, alg: Alg, message: &[u8], sig: &[u8]) -> Result<()> {
        let key = match alg {
            Alg::RS256 => &self.rs256,
            Alg::PS256 => &self.ps256,
        };
        key.verify_sig(message, sig)
            .map_err(|_| Error::BadSignature)
    }
}

impl PartialEq for RsaPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.n == other.n && self.e == other.e
    }
}

impl Eq for RsaPublicKey {}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, e) = self.jwk();
        f.debug_struct("RsaPublicKey")
            .field("bits", &self.bits())
            .field("n", &format_args!("{}…", &n[..16]))
            .field("e", &e)
            .finish()
    }
}

fn strip_one_zero(bytes: &[u8]) -> &[u8] {
    match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => bytes,
    }
}

/// Walks `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
/// signatureValue }` down to `tbsCertificate.subjectPublicKeyInfo` and returns
/// that element's complete encoding.
pub(crate) fn spki_of_certificate(cert_der: &[u8]) -> Result<&[u8], DerError> {
    let mut outer = Reader::new(cert_der);
    let mut cert = outer.read_sequence()?;
    outer.finish()?;
    let mut tbs = cert.read_sequence()?;
    cert.read(der::TAG_SEQUENCE)?; // signatureAlgorithm
    cert.read(der::TAG_BIT_STRING)?; // signatureValue
    cert.finish()?;

    if tbs.peek_tag() == Some(der::TAG_CONTEXT_0) {
        tbs.read_any()?; // version
    }
    tbs.read(der::TAG_INTEGER)?; // serialNumber
    tbs.read(der::TAG_SEQUENCE)?; // signature
    tbs.read(der::TAG_SEQUENCE)?; // issuer
    tbs.read(der::TAG_SEQUENCE)?; // validity
    tbs.read(der::TAG_SEQUENCE)?; // subject
    Ok(tbs.read(der::TAG_SEQUENCE)?.raw)
}

/// `SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
/// subjectPublicKey BIT STRING }` with algorithm rsaEncryption; returns the
/// PKCS#1 `RSAPublicKey` inside the bit string.
fn rsa_public_key_of_spki(spki_der: &[u8]) -> Result<&[u8]> {
    let malformed = |_: DerError| Error::InvalidKey("bad SubjectPublicKeyInfo");
    let mut outer = Reader::new(spki_der);
    let mut spki = outer.read_sequence().map_err(malformed)?;
    outer.finish().map_err(malformed)?;
    let mut algorithm = spki.read_sequence().map_err(malformed)?;
    let oid = algorithm.read(der::TAG_OID).map_err(malformed)?;
    if oid.contents != RSA_ENCRYPTION_OID {
        return Err(Error::InvalidKey("not an rsaEncryption key"));
    }
    // RFC 3279 says NULL parameters; tolerate their absence.
    if !algorithm.is_empty() {
        let null = algorithm.read(der::TAG_NULL).map_err(malformed)?;
        if !null.contents.is_empty() {
            return Err(Error::InvalidKey("bad SubjectPublicKeyInfo"));
        }
        algorithm.finish().map_err(malformed)?;
    }
    let bits = spki.read(der::TAG_BIT_STRING).map_err(malformed)?;
    spki.finish().map_err(malformed)?;
    match bits.contents {
        [0, pkcs1 @ ..] => Ok(pkcs1),
        _ => Err(Error::InvalidKey("bad SubjectPublicKeyInfo")),
    }
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn parse_pkcs1(pkcs1_der: &[u8]) -> Result<(&[u8], &[u8]), DerError> {
    let mut outer = Reader::new(pkcs1_der);
    let mut seq = outer.read_sequence()?;
    outer.finish()?;
    let n = der::positive_integer(seq.read(der::TAG_INTEGER)?.contents)?;
    let e = der::positive_integer(seq.read(der::TAG_INTEGER)?.contents)?;
    seq.finish()?;
    Ok((n, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modulus(bits: usize) -> Vec<u8> {
        let mut n = vec![0xA5u8; bits.div_ceil(8)];
        n[0] = 0x80 >> ((8 - bits % 8) % 8);
        let last = n.len() - 1;
        n[last] |= 1;
        n
    }

    #[test]
    fn component_limits() {
        let cases: Vec<(Vec<u8>, Vec<u8>, Result<usize>)> = vec![
            (modulus(2048), vec![1, 0, 1], Ok(2048)),
            (modulus(3072), vec![3], Ok(3072)),
            (modulus(4096), vec![0, 1, 0, 1], Ok(4096)),
            (
                modulus(2047),
                vec![1, 0, 1],
                Err(Error::InvalidKey("modulus must have 2048 to 8192 bits")),
            ),
            (
                modulus(1024),
                vec![1, 0, 1],
                Err(Error::InvalidKey("modulus must have 2048 to 8192 bits")),
            ),
            (
                modulus(8193),
                vec![1, 0, 1],
                Err(Error::InvalidKey("modulus must have 2048 to 8192 bits")),
            ),
            (
                modulus(2048),
                vec![1, 0, 0],
                Err(Error::InvalidKey("unacceptable public exponent")),
            ),
            (
                modulus(2048),
                vec![1],
                Err(Error::InvalidKey("unacceptable public exponent")),
            ),
            (
                modulus(2048),
                vec![],
                Err(Error::InvalidKey("unacceptable public exponent")),
            ),
            (
                [vec![0, 0], modulus(2048)].concat(),
                vec![1, 0, 1],
                Err(Error::InvalidKey("modulus has leading zeros")),
            ),
        ];
        for (n, e, expected) in cases {
            let got = RsaPublicKey::from_components(&n, &e).map(|k| k.bits());
            assert_eq!(got, expected, "n {} bytes, e {e:?}", n.len());
        }
    }

    #[test]
    fn jwk_round_trip() {
        let key = RsaPublicKey::from_components(&modulus(2048), &[1, 0, 1]).unwrap();
        let (n, e) = key.jwk();
        assert_eq!(e, "AQAB");
        assert_eq!(RsaPublicKey::from_jwk(&n, &e).unwrap(), key);
        assert_eq!(
            RsaPublicKey::from_jwk(&format!("{n}="), &e).unwrap_err(),
            Error::InvalidKey("JWK \"n\" is not base64url")
        );
    }

    #[test]
    fn spki_rejects_other_algorithms() {
        // An EC P-256 SPKI header (id-ecPublicKey, prime256v1) with a dummy point.
        let mut ec = vec![
            0x30, 0x19, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06,
            0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07, 0x03, 0x02, 0x00, 0x04,
        ];
        assert_eq!(
            RsaPublicKey::from_spki_der(&ec).unwrap_err(),
            Error::InvalidKey("not an rsaEncryption key")
        );
        ec.push(0);
        assert_eq!(
            RsaPublicKey::from_spki_der(&ec).unwrap_err(),
            Error::InvalidKey("bad SubjectPublicKeyInfo")
        );
    }
}
