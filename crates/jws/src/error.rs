//! The crate's single error type.

use crate::Alg;

/// Everything that can go wrong while signing, parsing or verifying a token.
///
/// The variants are fine-grained so that the protocol edge can map each one
/// to an Entra error without string matching. For a client assertion
/// (`error` is `invalid_client` except where noted), the codes Entra is known
/// to use are:
///
/// | variant | AADSTS code |
/// | --- | --- |
/// | [`BadSignature`](Error::BadSignature) | 700027 "Client assertion contains an invalid signature" |
/// | [`KeyNotFound`](Error::KeyNotFound), [`ThumbprintMismatch`](Error::ThumbprintMismatch) | 700027 "…certificate with identifier used to sign the client assertion is not registered… [Reason - The key was not found.]" |
/// | [`Expired`](Error::Expired), [`NotYetValid`](Error::NotYetValid) | 700024 "Client assertion is not within its valid time range" |
/// | [`TooLarge`](Error::TooLarge), [`Malformed`](Error::Malformed), [`UnsupportedCritical`](Error::UnsupportedCritical), [`MissingClaim`](Error::MissingClaim), [`InvalidClaim`](Error::InvalidClaim) | 50027 "Invalid JWT token" (`invalid_request`) |
/// | [`UnsupportedAlgorithm`](Error::UnsupportedAlgorithm), [`AlgorithmNotAllowed`](Error::AlgorithmNotAllowed), [`AudienceMismatch`](Error::AudienceMismatch) | 50012 (generic authentication failure); Entra's exact code not confirmed |
///
/// The choice belongs to the caller; this table is guidance.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The token is longer than the parser accepts.
    #[error("token is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// Length of the input in bytes.
        len: usize,
        /// The limit that was exceeded.
        max: usize,
    },

    /// The token is not a well-formed compact JWS: wrong number of segments,
    /// bad base64url, header or claims not a JSON object, a header field of
    /// the wrong type, and so on. The text says which.
    #[error("malformed token: {0}")]
    Malformed(&'static str),

    /// The header's `crit` parameter names extensions; none are understood,
    /// so RFC 7515 §4.1.11 requires rejecting the token.
    #[error("token has a \"crit\" header parameter; no extensions are supported")]
    UnsupportedCritical,

    /// The `alg` is one this crate never verifies or signs (`none`, `HS256`,
    /// `ES256`, anything unknown).
    #[error("unsupported signature algorithm {0:?}")]
    UnsupportedAlgorithm(String),

    /// The `alg` is supported but the caller did not allow it here.
    #[error("signature algorithm {0} is not allowed here")]
    AlgorithmNotAllowed(Alg),

    /// The signature does not verify with the given key (wrong key, tampered
    /// header, claims or signature).
    #[error("signature verification failed")]
    BadSignature,

    /// A required claim is absent.
    #[error("claim {0:?} is missing")]
    MissingClaim(String),

    /// A claim is present but has the wrong JSON type (a NumericDate that is
    /// not a number, an `aud` array with a non-string member, ...).
    #[error("claim {0:?} has an invalid value")]
    InvalidClaim(String),

    /// `exp` is in the past, beyond the allowed clock skew.
    #[error("token expired at {exp} (now {now}, skew included)")]
    Expired {
        /// The token's `exp`, seconds since the epoch.
        exp: f64,
        /// The time it was checked at, seconds since the epoch.
        now: f64,
    },

    /// `nbf` (or `iat`) lies in the future, beyond the allowed clock skew.
    #[error("token is not valid before {value} ({claim}; now {now}, skew included)")]
    NotYetValid {
        /// `"nbf"` or `"iat"`.
        claim: &'static str,
        /// The claim's value, seconds since the epoch.
        value: f64,
        /// The time it was checked at, seconds since the epoch.
        now: f64,
    },

    /// None of the token's audiences is acceptable.
    #[error("audience not accepted")]
    AudienceMismatch,

    /// No key is known for the token's `kid` / `x5t` / `x5t#S256`.
    #[error("no key found for the token")]
    KeyNotFound,

    /// A thumbprint in the header does not match the certificate it was
    /// checked against.
    #[error("certificate thumbprint does not match")]
    ThumbprintMismatch,

    /// A key or certificate could not be parsed or is not acceptable (not RSA,
    /// fewer than 2048 or more than 8192 bits, bad DER). The text says which.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),

    /// The crypto library refused to sign (should not happen with a valid key).
    #[error("signing failed")]
    Signing,
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
