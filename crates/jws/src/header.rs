//! The JOSE header and the signature algorithms.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::b64;
use crate::error::{Error, Result};
use crate::thumbprint::decode_thumbprint;

/// A signature algorithm this crate signs and verifies.
///
/// Entra's own tokens are RS256 only; client assertions are RS256 (MSAL with
/// a SHA-1 thumbprint) or PS256 (MSAL with a SHA-256 thumbprint or a
/// certificate). Symmetric (`HS*`) and `none` are deliberately absent: they
/// can never be allowed by mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    RS256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (RFC 7518
    /// §3.5), which is what PyJWT (MSAL Python) and node `jwa` (MSAL Node) use.
    PS256,
}

impl Alg {
    /// The `alg` header value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::PS256 => "PS256",
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Alg {
    type Err = Error;

    /// Parses an `alg` value, case-sensitively (RFC 7515 §4.1.1). Anything but
    /// `RS256` and `PS256` is [`Error::UnsupportedAlgorithm`].
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "RS256" => Ok(Alg::RS256),
            "PS256" => Ok(Alg::PS256),
            other => Err(Error::UnsupportedAlgorithm(other.to_owned())),
        }
    }
}

/// A JOSE header as Entra writes it and as the Microsoft clients send it.
///
/// Serialization writes the members in Entra's order and omits absent ones:
/// `typ`, `nonce`, `alg`, `x5t`, `kid`, `x5t#S256`, `x5c`. Entra's v1 access
/// tokens are `{"typ":"JWT","alg":"RS256","x5t":K,"kid":K}` and v2 tokens
/// `{"typ":"JWT","alg":"RS256","kid":K}` (see [`Header::entra_v1`],
/// [`Header::entra_v2`]); `nonce` only appears in Microsoft Graph tokens, right
/// after `typ`, and Hale has no reason to emit it.
///
/// Parsing (see [`crate::Unverified`]) ignores members it does not know
/// (`cty`, `jku`, `x5u`: never dereferenced), rejects `crit`, and accepts
/// `x5c` either as an array of strings (RFC 7515, MSAL Python/Node) or as a
/// single string (MSAL.NET's `WithCertificate(sendX5C: true)`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Header {
    /// `typ`: `"JWT"` in everything Entra issues and most assertions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// `nonce`: present only in Microsoft Graph access tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// `alg`, as written. Use [`Header::alg`] to get an [`Alg`].
    pub alg: String,
    /// `x5t`: base64url SHA-1 thumbprint of the certificate (padded when MSAL
    /// Python made it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x5t: Option<String>,
    /// `kid`: in Entra tokens equal to `x5t`; in hand-made assertions
    /// sometimes the hex SHA-1 thumbprint (Microsoft.IdentityModel's
    /// `X509SigningCredentials`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// `x5t#S256`: base64url SHA-256 thumbprint of the certificate.
    #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
    /// `x5c`: the certificate chain, standard base64 DER, leaf first. Entries
    /// may contain line breaks (MSAL Python copies PEM bodies verbatim); use
    /// [`Header::x5c_der`] to decode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x5c: Option<Vec<String>>,
}

impl Header {
    /// `{"typ":"JWT","alg":<alg>}`.
    #[must_use]
    pub fn new(alg: Alg) -> Header {
        Header {
            typ: Some("JWT".to_owned()),
            alg: alg.as_str().to_owned(),
            ..Header::default()
        }
    }

    /// The header of an Entra v1 access token:
    /// `{"typ":"JWT","alg":"RS256","x5t":kid,"kid":kid}`, where `kid` is the
    /// base64url SHA-1 thumbprint of the signing certificate.
    #[must_use]
    pub fn entra_v1(kid: &str) -> Header {
        Header {
            x5t: Some(kid.to_owned()),
            kid: Some(kid.to_owned()),
            ..Header::new(Alg::RS256)
        }
    }

    /// The header of an Entra v2 access token or ID token:
    /// `{"typ":"JWT","alg":"RS256","kid":kid}`.
    #[must_use]
    pub fn entra_v2(kid: &str) -> Header {
        Header {
            kid: Some(kid.to_owned()),
            ..Header::new(Alg::RS256)
        }
    }

    /// The `alg` as an [`Alg`], or [`Error::UnsupportedAlgorithm`].
    pub fn alg(&self) -> Result<Alg> {
        self.alg.parse()
    }

    /// The SHA-1 certificate thumbprint this header refers to: from `x5t`, or
    /// failing that from `kid` (base64url, base64 or hex). `None` when neither
    /// holds a 20-byte thumbprint.
    #[must_use]
    pub fn cert_sha1_thumbprint(&self) -> Option<[u8; 20]> {
        [&self.x5t, &self.kid]
            .into_iter()
            .flatten()
            .find_map(|value| decode_thumbprint::<20>(value).map(|(bytes, _)| bytes))
    }

    /// The SHA-256 certificate thumbprint this header refers to: from
    /// `x5t#S256`, or failing that from `kid`. `None` when neither holds a
    /// 32-byte thumbprint.
    #[must_use]
    pub fn cert_sha256_thumbprint(&self) -> Option<[u8; 32]> {
        [&self.x5t_s256, &self.kid]
            .into_iter()
            .flatten()
            .find_map(|value| decode_thumbprint::<32>(value).map(|(bytes, _)| bytes))
    }

    /// The `x5c` certificates as DER, leaf first; empty when `x5c` is absent.
    /// Whitespace inside entries is ignored (see [`decode_x5c_entry`]).
    ///
    /// `x5c` is attacker-supplied: verify with its leaf's key only after
    /// matching the leaf's thumbprint against a certificate registered for the
    /// application (or, for subject-name/issuer authentication, after
    /// validating the chain to a trusted root, which this crate does not do).
    pub fn x5c_der(&self) -> Result<Vec<Vec<u8>>> {
        self.x5c
            .iter()
            .flatten()
            .map(|entry| decode_x5c_entry(entry))
            .collect()
    }

    /// Builds a header from a parsed JSON object, checking member types.
    pub(crate) fn from_object(object: &Map<String, Value>) -> Result<Header> {
        if object.contains_key("crit") {
            return Err(Error::UnsupportedCritical);
        }
        let alg = match object.get("alg") {
            Some(Value::String(alg)) => alg.clone(),
            Some(_) => return Err(Error::Malformed("header \"alg\" is not a string")),
            None => return Err(Error::Malformed("header has no \"alg\"")),
        };
        Ok(Header {
            typ: string_member(object, "typ")?,
            nonce: string_member(object, "nonce")?,
            alg,
            x5t: string_member(object, "x5t")?,
            kid: string_member(object, "kid")?,
            x5t_s256: string_member(object, "x5t#S256")?,
            x5c: match object.get("x5c") {
                None => None,
                Some(Value::String(single)) => Some(vec![single.clone()]),
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .map(|item| match item {
                            Value::String(s) => Ok(s.clone()),
                            _ => Err(Error::Malformed("header \"x5c\" has a non-string entry")),
                        })
                        .collect::<Result<_>>()?,
                ),
                Some(_) => return Err(Error::Malformed("header \"x5c\" is not an array")),
            },
        })
    }
}

fn string_member(object: &Map<String, Value>, name: &'static str) -> Result<Option<String>> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::Malformed(match name {
            "typ" => "header \"typ\" is not a string",
            "nonce" => "header \"nonce\" is not a string",
            "x5t" => "header \"x5t\" is not a string",
            "kid" => "header \"kid\" is not a string",
            _ => "header \"x5t#S256\" is not a string",
        })),
    }
}

/// Decodes one `x5c` entry to certificate DER: standard base64 (RFC 7515
/// §4.1.6), padded or not, with any ASCII whitespace removed first, because
/// MSAL Python sends PEM bodies with their line breaks.
pub fn decode_x5c_entry(entry: &str) -> Result<Vec<u8>> {
    let compact: Vec<u8> = entry.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    b64::LENIENT_STD
        .decode(compact)
        .map_err(|_| Error::Malformed("header \"x5c\" entry is not base64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_entra_order() {
        let cases = [
            (
                Header::entra_v1("K"),
                r#"{"typ":"JWT","alg":"RS256","x5t":"K","kid":"K"}"#,
            ),
            (
                Header::entra_v2("K"),
                r#"{"typ":"JWT","alg":"RS256","kid":"K"}"#,
            ),
            (
                Header {
                    nonce: Some("n".into()),
                    x5t_s256: Some("S".into()),
                    x5c: Some(vec!["C".into()]),
                    ..Header::entra_v1("K")
                },
                r#"{"typ":"JWT","nonce":"n","alg":"RS256","x5t":"K","kid":"K","x5t#S256":"S","x5c":["C"]}"#,
            ),
            (
                Header {
                    alg: "PS256".into(),
                    ..Header::default()
                },
                r#"{"alg":"PS256"}"#,
            ),
        ];
        for (header, json) in cases {
            assert_eq!(serde_json::to_string(&header).unwrap(), json);
        }
    }

    #[test]
    fn parses_member_types_strictly() {
        let cases: &[(&str, Result<Header>)] = &[
            (
                r#"{"alg":"RS256","typ":"JWT","x5t":"a","cty":"x","jku":"https://evil"}"#,
                Ok(Header {
                    typ: Some("JWT".into()),
                    alg: "RS256".into(),
                    x5t: Some("a".into()),
                    ..Header::default()
                }),
            ),
            (
                r#"{"alg":"RS256","x5c":"MIIB"}"#,
                Ok(Header {
                    alg: "RS256".into(),
                    x5c: Some(vec!["MIIB".into()]),
                    ..Header::default()
                }),
            ),
            (
                r#"{"typ":"JWT"}"#,
                Err(Error::Malformed("header has no \"alg\"")),
            ),
            (
                r#"{"alg":256}"#,
                Err(Error::Malformed("header \"alg\" is not a string")),
            ),
            (
                r#"{"alg":"RS256","kid":1}"#,
                Err(Error::Malformed("header \"kid\" is not a string")),
            ),
            (
                r#"{"alg":"RS256","x5c":[1]}"#,
                Err(Error::Malformed("header \"x5c\" has a non-string entry")),
            ),
            (
                r#"{"alg":"RS256","x5c":{}}"#,
                Err(Error::Malformed("header \"x5c\" is not an array")),
            ),
            (
                r#"{"alg":"RS256","crit":["b64"],"b64":false}"#,
                Err(Error::UnsupportedCritical),
            ),
        ];
        for (json, expected) in cases {
            let object: Map<String, Value> = serde_json::from_str(json).unwrap();
            assert_eq!(&Header::from_object(&object), expected, "{json}");
        }
    }

    #[test]
    fn alg_names_are_case_sensitive() {
        let cases = [
            ("RS256", Ok(Alg::RS256)),
            ("PS256", Ok(Alg::PS256)),
            ("rs256", Err(Error::UnsupportedAlgorithm("rs256".into()))),
            ("none", Err(Error::UnsupportedAlgorithm("none".into()))),
            ("HS256", Err(Error::UnsupportedAlgorithm("HS256".into()))),
            ("", Err(Error::UnsupportedAlgorithm(String::new()))),
        ];
        for (name, expected) in cases {
            assert_eq!(name.parse::<Alg>(), expected, "{name}");
        }
    }

    #[test]
    fn x5c_entries_tolerate_line_breaks() {
        let der = [0x30u8, 0x03, 0x02, 0x01, 0x05];
        let header = Header {
            x5c: Some(vec![
                "MAMC\nAQU=".into(),
                "MAMCAQU".into(),
                " MAM\r\nCAQU= ".into(),
            ]),
            ..Header::new(Alg::PS256)
        };
        assert_eq!(header.x5c_der().unwrap(), vec![der.to_vec(); 3]);
        let bad = Header {
            x5c: Some(vec!["MAMC-AQU".into()]),
            ..Header::new(Alg::PS256)
        };
        assert_eq!(
            bad.x5c_der(),
            Err(Error::Malformed("header \"x5c\" entry is not base64"))
        );
    }
}
