//! Compact JWS for Hale's Entra-compatible token service.
//!
//! This crate signs Hale's access and ID tokens in exactly the shape Microsoft
//! Entra ID issues them, and verifies the client assertions that MSAL Python,
//! MSAL Node, MSAL.NET and azure-identity send (and, at resource servers,
//! Hale's own tokens). It knows nothing of HTTP, tenants or applications.
//!
//! * [`RsaSigner`]: RS256 (and PS256) signing with an RSA-2048+ PKCS#8 key,
//!   parsed once. Headers are [`Header`]s, serialized in Entra's member order.
//! * [`Unverified`], [`decode_unverified`], [`verify`]: strict parsing with a
//!   size limit, then RS256/PS256 verification against an [`RsaPublicKey`]
//!   with an explicit allow-list of [`Alg`]s. `none`, `HS*` and everything else
//!   are refused.
//! * [`RsaPublicKey`]: from a certificate, a SubjectPublicKeyInfo or JWK
//!   `n`/`e`; [`Jwk`] builds Entra's JWKS entries.
//! * [`sha1_thumbprint`], [`sha256_thumbprint`], [`thumbprint_matches`],
//!   [`decode_thumbprint`]: the `x5t` / `x5t#S256` / `kid` key references,
//!   padded or unpadded, base64url, base64 or hex.
//! * [`numeric_date`], [`check_times`], [`check_audience`]: claim checks that
//!   accept what the Microsoft clients really send (float NumericDates from
//!   MSAL Python, string NumericDates from MSAL.NET).
//!
//! Every failure is one [`Error`] variant, fine-grained enough to choose an
//! AADSTS code from.
//!
//! Architecture invariant: depends only on aws-lc-rs for cryptography and on
//! serde/serde_json/base64 for encoding; never on an HTTP stack, a store or a
//! JWT crate. Nothing here panics on untrusted input.

#![warn(missing_docs)]

mod b64;
mod claims;
mod der;
mod error;
mod header;
mod jwk;
mod key;
mod sign;
mod thumbprint;
mod verify;

pub use claims::{audiences, check_audience, check_times, numeric_date, try_numeric_date};
pub use error::{Error, Result};
pub use header::{Alg, Header, decode_x5c_entry};
pub use jwk::Jwk;
pub use key::RsaPublicKey;
pub use sign::RsaSigner;
pub use thumbprint::{
    ThumbprintEncoding, decode_thumbprint, sha1_thumbprint, sha256_thumbprint, thumbprint_matches,
};
pub use verify::{DEFAULT_MAX_TOKEN_LEN, Unverified, decode_unverified, verify};
