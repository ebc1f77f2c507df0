//! The base64 engines the crate uses, in one place so the strictness of each
//! is visible.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// JWS segments (RFC 7515 §2): base64url, never padded. Padding, `+`, `/`,
/// whitespace and non-zero trailing bits are all rejected, so one token has
/// exactly one encoding.
pub(crate) const STRICT_URL: GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Thumbprints in `x5t` / `x5t#S256` / `kid`: base64url with or without `=`
/// padding (MSAL Python pads, MSAL Node and MSAL.NET do not).
pub(crate) const LENIENT_URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Standard base64, padded or not: thumbprints some hand-made assertions
/// carry, and `x5c` entries (RFC 7515 §4.1.6: base64, not base64url).
pub(crate) const LENIENT_STD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Standard base64 with padding, for writing `x5c`.
pub(crate) const STD: GeneralPurpose = base64::engine::general_purpose::STANDARD;
