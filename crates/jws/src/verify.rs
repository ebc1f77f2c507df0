//! Parsing and verifying compact JWS.
//!
//! The usual flow at the token endpoint parses once, looks the key up by the
//! header, then verifies:
//!
//! ```no_run
//! # fn find_key(_: &[u8; 20]) -> Option<hale_jws::RsaPublicKey> { None }
//! # fn f(assertion: &str) -> hale_jws::Result<()> {
//! use hale_jws::{Alg, Error, Unverified};
//! let token = Unverified::parse(assertion)?;
//! let sha1 = token.header().cert_sha1_thumbprint().ok_or(Error::KeyNotFound)?;
//! let key = find_key(&sha1).ok_or(Error::KeyNotFound)?;
//! let claims = token.verify(&key, &[Alg::RS256, Alg::PS256])?;
//! # let _ = claims; Ok(()) }
//! ```

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::b64;
use crate::error::{Error, Result};
use crate::header::{Alg, Header};
use crate::key::RsaPublicKey;

/// Default upper bound on a token's length in bytes: 16 KiB. An RS256
/// access token is about 1.5 KiB; a client assertion carrying a leaf
/// certificate in `x5c` about 3 KiB. A full chain of large certificates in
/// `x5c` (MSAL Python sends every certificate in the PEM file) can approach
/// the limit; use [`Unverified::parse_with_limit`] for a larger one.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;

/// A structurally valid compact JWS whose signature has not been checked.
///
/// Parsing enforces: the length limit; exactly three `.`-separated segments;
/// strict unpadded base64url in every segment (RFC 7515 §2 — no client pads
/// them, only thumbprint *values* are padded); header and claims that are
/// JSON objects; header members of the right types, an `alg`, and no `crit`.
/// Duplicate JSON member names resolve to the last one (RFC 7519 §4 permits
/// this).
#[derive(Debug, Clone)]
pub struct Unverified<'a> {
    header: Header,
    claims: Value,
    signing_input: &'a str,
    signature: Vec<u8>,
}

impl<'a> Unverified<'a> {
    /// Parses with [`DEFAULT_MAX_TOKEN_LEN`].
    pub fn parse(token: &'a str) -> Result<Unverified<'a>> {
        Unverified::parse_with_limit(token, DEFAULT_MAX_TOKEN_LEN)
    }

    /// Parses, refusing tokens longer than `max_len` bytes before looking at
    /// them.
    pub fn parse_with_limit(token: &'a str, max_len: usize) -> Result<Unverified<'a>> {
        if token.len() > max_len {
            return Err(Error::TooLarge {
                len: token.len(),
                max: max_len,
            });
        }
        let mut segments = token.split('.');
        let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(Error::Malformed("expected three dot-separated segments"));
        };
        let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];

        let header_json = b64::STRICT_URL
            .decode(header_b64)
            .map_err(|_| Error::Malformed("header is not unpadded base64url"))?;
        let header_object: Map<String, Value> = serde_json::from_slice(&header_json)
            .map_err(|_| Error::Malformed("header is not a JSON object"))?;
        let header = Header::from_object(&header_object)?;

        let claims_json = b64::STRICT_URL
            .decode(claims_b64)
            .map_err(|_| Error::Malformed("claims are not unpadded base64url"))?;
        let claims: Map<String, Value> = serde_json::from_slice(&claims_json)
            .map_err(|_| Error::Malformed("claims are not a JSON object"))?;

        let signature = b64::STRICT_URL
            .decode(signature_b64)
            .map_err(|_| Error::Malformed("signature is not unpadded base64url"))?;

        Ok(Unverified {
            header,
            claims: Value::Object(claims),
            signing_input,
            signature,
        })
    }

    /// The header, unverified: use it only to find the key.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The claims, unverified: use them only to find the key or the
    /// application (`iss`/`sub` of a client assertion), never to decide.
    pub fn claims(&self) -> &Value {
        &self.claims
    }

    /// Header and claims, still unverified.
    pub fn into_parts(self) -> (Header, Value) {
        (self.header, self.claims)
    }

    /// Checks the signature with `key` and returns the claims.
    ///
    /// The header's `alg` must be `RS256` or `PS256`
    /// ([`Error::UnsupportedAlgorithm`] for `none`, `HS256` and the rest) and
    /// must be in `allowed` ([`Error::AlgorithmNotAllowed`]). Time, audience
    /// and issuer are not checked here: see [`crate::check_times`] and
    /// [`crate::check_audience`].
    pub fn verify(self, key: &RsaPublicKey, allowed: &[Alg]) -> Result<Value> {
        let alg = self.header.alg()?;
        if !allowed.contains(&alg) {
            return Err(Error::AlgorithmNotAllowed(alg));
        }
        key.verify_signature(alg, self.signing_input.as_bytes(), &self.signature)?;
        Ok(self.claims)
    }
}

/// Parses a token without verifying it (see [`Unverified`] for what is
/// checked) and returns its header and claims.
pub fn decode_unverified(token: &str) -> Result<(Header, Value)> {
    Unverified::parse(token).map(Unverified::into_parts)
}

/// Parses `token` and verifies its signature with `key`, accepting only the
/// algorithms in `allowed`; returns the claims. Equivalent to
/// `Unverified::parse(token)?.verify(key, allowed)`.
pub fn verify(token: &str, key: &RsaPublicKey, allowed: &[Alg]) -> Result<Value> {
    Unverified::parse(token)?.verify(key, allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        b64::STRICT_URL.encode(s)
    }

    #[test]
    fn structural_checks() {
        let h = b64(r#"{"alg":"RS256","typ":"JWT"}"#);
        let c = b64(r#"{"aud":"x","exp":1}"#);
        let s = b64("sig");
        let cases: Vec<(String, Result<()>)> = vec![
            (format!("{h}.{c}.{s}"), Ok(())),
            (format!("{h}.{c}."), Ok(())), // empty signature parses; verify refuses
            (
                format!("{h}.{c}"),
                Err(Error::Malformed("expected three dot-separated segments")),
            ),
            (
                format!("{h}.{c}.{s}.x.y"),
                Err(Error::Malformed("expected three dot-separated segments")),
            ),
            (
                String::new(),
                Err(Error::Malformed("expected three dot-separated segments")),
            ),
            (
                "..".into(),
                Err(Error::Malformed("header is not a JSON object")),
            ),
            (
                format!("{h}=.{c}.{s}"),
                Err(Error::Malformed("header is not unpadded base64url")),
            ),
            (
                format!("{h}.{c}=.{s}"),
                Err(Error::Malformed("claims are not unpadded base64url")),
            ),
            (
                format!("{h}.{c}.{}", b64::STD.encode("sigs")),
                Err(Error::Malformed("signature is not unpadded base64url")),
            ),
            (
                format!("{h}.{c}.c2l+"),
                Err(Error::Malformed("signature is not unpadded base64url")),
            ),
            (
                format!(" {h}.{c}.{s}"),
                Err(Error::Malformed("header is not unpadded base64url")),
            ),
            (
                format!("{}.{c}.{s}", b64(r#"["alg","RS256"]"#)),
                Err(Error::Malformed("header is not a JSON object")),
            ),
            (
                format!("{h}.{}.{s}", b64(r#""just a string""#)),
                Err(Error::Malformed("claims are not a JSON object")),
            ),
            (
                format!("{h}.{}.{s}", b64(r#"{"a":1} trailing"#)),
                Err(Error::Malformed("claims are not a JSON object")),
            ),
            (
                format!("{h}.{}.{s}", b64("{\"a\":\"\u{0}\"")),
                Err(Error::Malformed("claims are not a JSON object")),
            ),
            (
                format!("{}.{c}.{s}", b64(r#"{"typ":"JWT"}"#)),
                Err(Error::Malformed("header has no \"alg\"")),
            ),
        ];
        for (token, expected) in cases {
            assert_eq!(Unverified::parse(&token).map(|_| ()), expected, "{token:?}");
        }
    }

    #[test]
    fn size_limit_is_checked_first() {
        let token = "a".repeat(DEFAULT_MAX_TOKEN_LEN + 1);
        assert_eq!(
            Unverified::parse(&token).unwrap_err(),
            Error::TooLarge {
                len: DEFAULT_MAX_TOKEN_LEN + 1,
                max: DEFAULT_MAX_TOKEN_LEN
            }
        );
        let h = b64(r#"{"alg":"RS256"}"#);
        let ok = format!("{h}.{}.", b64("{}"));
        assert!(Unverified::parse_with_limit(&ok, ok.len()).is_ok());
        assert!(matches!(
            Unverified::parse_with_limit(&ok, ok.len() - 1),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn duplicate_members_take_the_last() {
        let token = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","alg":"RS256"}"#),
            b64(r#"{"sub":"a","sub":"b"}"#)
        );
        let (header, claims) = decode_unverified(&token).unwrap();
        assert_eq!(header.alg, "RS256");
        assert_eq!(claims["sub"], "b");
    }
}
