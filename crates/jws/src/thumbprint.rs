//! Certificate thumbprints and the `x5t` / `x5t#S256` / `kid` values that
//! refer to them.
//!
//! What the clients send (CLIENTS.md §2.3, msal/oauth2cli/assertion.py,
//! msal-node ClientAssertion, MSAL.NET JsonWebToken.cs):
//!
//! | client | member | encoding |
//! | --- | --- | --- |
//! | MSAL Python, azure-identity Python | `x5t`, `x5t#S256` | base64url **with** `=` padding |
//! | MSAL Node, @azure/identity Node, MSAL.NET | `x5t`, `x5t#S256` | base64url, unpadded |
//! | Microsoft.IdentityModel `X509SigningCredentials` (hand-made assertions) | `kid` | **hex** SHA-1 (`X509Certificate2.Thumbprint`, upper case), next to a base64url `x5t` |
//! | MSAL.NET docs' hand-made sample | `kid` | base64url SHA-1, no `x5t` at all |
//!
//! Entra accepts all of these. Standard base64 (`+`, `/`) is accepted here
//! too: an Azure docs change (MicrosoftDocs/azure-docs#95348, from a support
//! case) says Entra took a standard-base64 `x5t`. Hex is *not* accepted by
//! Entra inside `x5t` itself as far as we know (ADAL.NET 3.9's base64url of the
//! hex string failed, AzureAD/azure-activedirectory-library-for-dotnet#309),
//! but accepting a plain hex value costs nothing and cannot collide with a
//! base64 form of the same length. Callers that want to be stricter can look
//! at the [`ThumbprintEncoding`] that [`decode_thumbprint`] reports.

use aws_lc_rs::digest;
use base64::Engine as _;

use crate::b64;

/// SHA-1 of the certificate's DER: the value behind `x5t`, `kid` in Entra's
/// tokens, and Graph's `keyCredential.customKeyIdentifier`.
#[must_use]
pub fn sha1_thumbprint(cert_der: &[u8]) -> [u8; 20] {
    let digest = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, cert_der);
    let mut out = [0u8; 20];
    out.copy_from_slice(digest.as_ref());
    out
}

/// SHA-256 of the certificate's DER: the value behind `x5t#S256`.
#[must_use]
pub fn sha256_thumbprint(cert_der: &[u8]) -> [u8; 32] {
    let digest = digest::digest(&digest::SHA256, cert_der);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// How a thumbprint value was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbprintEncoding {
    /// base64url without padding (RFC 7515; MSAL Node, MSAL.NET).
    Base64Url,
    /// base64url with `=` padding (MSAL Python).
    Base64UrlPadded,
    /// Standard base64, padded or not, containing `+` or `/`.
    Base64Std,
    /// Hexadecimal, either case.
    Hex,
}

/// Decodes a header value that should hold an `N`-byte thumbprint (20 for
/// SHA-1, 32 for SHA-256), trying base64url (padded or not), standard base64
/// (padded or not) and hex. Returns `None` for anything else, including a
/// valid encoding of the wrong length.
#[must_use]
pub fn decode_thumbprint<const N: usize>(value: &str) -> Option<([u8; N], ThumbprintEncoding)> {
    // Longest accepted form is hex; refuse anything longer before decoding.
    if value.is_empty() || value.len() > 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    if value.len() == 2 * N && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        for (i, pair) in value.as_bytes().chunks_exact(2).enumerate() {
            out[i] = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
        }
        return Some((out, ThumbprintEncoding::Hex));
    }
    let padded = value.ends_with('=');
    let (engine, encoding) = if value.bytes().any(|b| b == b'+' || b == b'/') {
        (&b64::LENIENT_STD, ThumbprintEncoding::Base64Std)
    } else if padded {
        (&b64::LENIENT_URL, ThumbprintEncoding::Base64UrlPadded)
    } else {
        (&b64::LENIENT_URL, ThumbprintEncoding::Base64Url)
    };
    // Decode into a buffer with room to spare so a longer value fails on
    // length rather than on buffer size.
    let mut buf = [0u8; 64];
    let len = engine.decode_slice(value, &mut buf[..]).ok()?;
    if len != N {
        return None;
    }
    out.copy_from_slice(&buf[..N]);
    Some((out, encoding))
}

/// Whether a header value (`x5t`, `x5t#S256` or `kid`) names the thumbprint
/// `expected` (20 or 32 bytes), in any encoding [`decode_thumbprint`] accepts.
#[must_use]
pub fn thumbprint_matches(header_value: &str, expected: &[u8]) -> bool {
    match expected.len() {
        20 => decode_thumbprint::<20>(header_value).is_some_and(|(got, _)| got == expected),
        32 => decode_thumbprint::<32>(header_value).is_some_and(|(got, _)| got == expected),
        _ => false,
    }
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Azure docs example: SHA-1 84E05C1D98BCE3A5421D225B140B36E86A3D5534.
    const SHA1_HEX: &str = "84E05C1D98BCE3A5421D225B140B36E86A3D5534";

    fn sha1_bytes() -> [u8; 20] {
        decode_thumbprint::<20>(SHA1_HEX).unwrap().0
    }

    #[test]
    fn sha1_matrix() {
        let expected = sha1_bytes();
        let cases: &[(&str, Option<ThumbprintEncoding>)] = &[
            (
                "hOBcHZi846VCHSJbFAs26Go9VTQ=",
                Some(ThumbprintEncoding::Base64UrlPadded),
            ),
            (
                "hOBcHZi846VCHSJbFAs26Go9VTQ",
                Some(ThumbprintEncoding::Base64Url),
            ),
            (SHA1_HEX, Some(ThumbprintEncoding::Hex)),
            (
                "84e05c1d98bce3a5421d225b140b36e86a3d5534",
                Some(ThumbprintEncoding::Hex),
            ),
            // Wrong: base64url of the hex *string* (ADAL.NET 3.9's bug).
            (
                "ODRFMDVDMUQ5OEJDRTNBNTQyMUQyMjVCMTQwQjM2RTg2QTNENTUzNA",
                None,
            ),
            // Wrong: bad padding, truncated, extended, with separators.
            ("hOBcHZi846VCHSJbFAs26Go9VTQ==", None),
            ("hOBcHZi846VCHSJbFAs26Go9VT", None),
            ("hOBcHZi846VCHSJbFAs26Go9VTQA", None),
            (
                "84:E0:5C:1D:98:BC:E3:A5:42:1D:22:5B:14:0B:36:E8:6A:3D:55:34",
                None,
            ),
            ("84E05C1D98BCE3A5421D225B140B36E86A3D553", None),
            ("", None),
        ];
        for (value, encoding) in cases {
            let got = decode_thumbprint::<20>(value);
            assert_eq!(got.map(|(_, e)| e), *encoding, "{value}");
            if let Some((bytes, _)) = got {
                assert_eq!(bytes, expected);
            }
            assert_eq!(
                thumbprint_matches(value, &expected),
                encoding.is_some(),
                "{value}"
            );
        }
    }

    #[test]
    fn sha256_matrix_with_std_alphabet() {
        // Bytes chosen so base64 needs both '+' and '/': 0xFB 0xFF ...
        let mut expected = [0u8; 32];
        expected[..3].copy_from_slice(&[0xFB, 0xEF, 0xFF]);
        expected[31] = 0x3E;
        let std_padded = base64::engine::general_purpose::STANDARD.encode(expected);
        let url_padded = base64::engine::general_purpose::URL_SAFE.encode(expected);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(expected);
        let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
        assert!(std_padded.contains('+') && std_padded.contains('/'));
        let cases = [
            (std_padded.clone(), Some(ThumbprintEncoding::Base64Std)),
            (
                std_padded.trim_end_matches('=').to_owned(),
                Some(ThumbprintEncoding::Base64Std),
            ),
            (url_padded, Some(ThumbprintEncoding::Base64UrlPadded)),
            (url.clone(), Some(ThumbprintEncoding::Base64Url)),
            (hex.to_uppercase(), Some(ThumbprintEncoding::Hex)),
            (hex, Some(ThumbprintEncoding::Hex)),
            // Mixed alphabets are not base64 at all.
            (format!("-{}", &std_padded[1..]), None),
        ];
        for (value, encoding) in cases {
            assert_eq!(
                decode_thumbprint::<32>(&value).map(|(_, e)| e),
                encoding,
                "{value}"
            );
            assert_eq!(
                thumbprint_matches(&value, &expected),
                encoding.is_some(),
                "{value}"
            );
        }
        // A SHA-256 value never matches a SHA-1 expectation and vice versa.
        assert!(!thumbprint_matches(&url, &sha1_bytes()));
        assert!(!thumbprint_matches(
            "hOBcHZi846VCHSJbFAs26Go9VTQ",
            &expected
        ));
        assert!(!thumbprint_matches(&url, &expected[..31]));
    }

    #[test]
    fn digests_of_known_input() {
        // FIPS 180 test vector "abc".
        assert_eq!(
            sha1_thumbprint(b"abc"),
            decode_thumbprint::<20>("a9993e364706816aba3e25717850c26c9cd0d89d")
                .unwrap()
                .0
        );
        assert_eq!(
            sha256_thumbprint(b"abc"),
            decode_thumbprint::<32>(
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            )
            .unwrap()
            .0
        );
    }
}
