//! Claim checks: NumericDates, validity window, audience.
//!
//! What the clients send in client assertions: MSAL Python `exp`/`iat` as
//! JSON floats (`time.time() + 600`) and no `nbf`; MSAL Node integer `exp`,
//! `iat`, `nbf`; MSAL.NET `nbf`/`exp` as JSON *strings* of integers
//! (`"nbf":"1700000000"`, its `JsonWebToken.cs`), and no `iat`. Entra accepts
//! all three, so [`numeric_date`] does too.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::error::{Error, Result};

/// The NumericDate claim `name` in seconds since the epoch, or `None` when it
/// is absent or not a date. Accepts JSON integers and floats (RFC 7519 §2
/// allows non-integer values) and strings of plain decimal digits with an
/// optional fraction (MSAL.NET). Exponents, signs, `NaN` and the like in
/// strings are refused.
#[must_use]
pub fn numeric_date(claims: &Value, name: &str) -> Option<f64> {
    try_numeric_date(claims, name).ok().flatten()
}

/// Like [`numeric_date`] but tells absent (`Ok(None)`) from malformed
/// (`Err(InvalidClaim)`).
pub fn try_numeric_date(claims: &Value, name: &str) -> Result<Option<f64>> {
    let invalid = || Error::InvalidClaim(name.to_owned());
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(number)) => number.as_f64().map(Some).ok_or_else(invalid),
        Some(Value::String(text)) => parse_decimal(text).map(Some).ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}

fn parse_decimal(text: &str) -> Option<f64> {
    let (int, frac) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    if digits(int) && digits(frac) {
        text.parse().ok()
    } else {
        None
    }
}

fn seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Checks the validity window at `now`, allowing `skew` either way:
///
/// * `exp` is required; the token is [`Error::Expired`] once
///   `now >= exp + skew` (RFC 7519 §4.1.4).
/// * `nbf`, if present: [`Error::NotYetValid`] while `now < nbf - skew`.
/// * `iat`, if present: [`Error::NotYetValid`] while `now < iat - skew`. RFC
///   7519 does not require this, but an assertion "issued" in the future means
///   a client clock ahead by more than the skew; checking it treats MSAL
///   Python (which sends `iat` but no `nbf`) like MSAL Node.
///
/// Entra's usual tolerance is 5 minutes. No upper bound is put on
/// `exp - iat`: Entra does not restrict assertion lifetime either.
pub fn check_times(claims: &Value, now: SystemTime, skew: Duration) -> Result<()> {
    let now = seconds(now);
    let skew = skew.as_secs_f64();
    let exp = try_numeric_date(claims, "exp")?.ok_or_else(|| Error::MissingClaim("exp".into()))?;
    if now >= exp + skew {
        return Err(Error::Expired { exp, now });
    }
    for claim in ["nbf", "iat"] {
        if let Some(value) = try_numeric_date(claims, claim)?
            && now < value - skew
        {
            return Err(Error::NotYetValid { claim, value, now });
        }
    }
    Ok(())
}

/// The `aud` claim as a list: a single string becomes one entry, an array of
/// strings stays as it is (RFC 7519 §4.1.3). Missing `aud` is
/// [`Error::MissingClaim`]; any other shape, an empty array or a non-string
/// member is [`Error::InvalidClaim`].
pub fn audiences(claims: &Value) -> Result<Vec<&str>> {
    let invalid = || Error::InvalidClaim("aud".into());
    match claims.get("aud") {
        None => Err(Error::MissingClaim("aud".into())),
        Some(Value::String(aud)) => Ok(vec![aud.as_str()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().ok_or_else(invalid))
            .collect(),
        Some(_) => Err(invalid()),
    }
}

/// Succeeds when one of the token's audiences equals one of `accepted`
/// exactly (case-sensitive, RFC 7519 §4.1.3); [`Error::AudienceMismatch`]
/// otherwise.
///
/// For a client assertion the caller passes every form of its token endpoint
/// URL the client may have seen, built from the externally visible
/// `https://host[:port]`: `/{tenant}/oauth2/v2.0/token`,
/// `/{tenant}/oauth2/token`, tenant GUID and domain aliases, and the
/// `/{tenant}/v2.0` issuer form the MSAL.NET documentation's hand-made sample
/// uses. Normalising (trailing slash, host case) is the caller's choice.
pub fn check_audience(claims: &Value, accepted: &[&str]) -> Result<()> {
    if audiences(claims)?.iter().any(|aud| accepted.contains(aud)) {
        Ok(())
    } else {
        Err(Error::AudienceMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(secs: f64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs_f64(secs)
    }

    #[test]
    fn numeric_dates() {
        let claims = json!({
            "int": 1_795_388_180,
            "float": 1_795_388_780.243_634_2,
            "string": "1700000600",
            "string_frac": "1700000600.5",
            "neg": -1,
            "exp_notation": 1.7e9,
            "bad_exp_string": "1.7e9",
            "bad_sign": "+1700000600",
            "bad_space": " 1700000600",
            "bad_nan": "NaN",
            "bad_empty": "",
            "bad_dot": "1700000600.",
            "bad_bool": true,
            "bad_null": null,
            "bad_array": [1],
        });
        let cases: &[(&str, Result<Option<f64>>)] = &[
            ("int", Ok(Some(1_795_388_180.0))),
            ("float", Ok(Some(1_795_388_780.243_634_2))),
            ("string", Ok(Some(1_700_000_600.0))),
            ("string_frac", Ok(Some(1_700_000_600.5))),
            ("neg", Ok(Some(-1.0))),
            ("exp_notation", Ok(Some(1.7e9))),
            ("absent", Ok(None)),
            (
                "bad_exp_string",
                Err(Error::InvalidClaim("bad_exp_string".into())),
            ),
            ("bad_sign", Err(Error::InvalidClaim("bad_sign".into()))),
            ("bad_space", Err(Error::InvalidClaim("bad_space".into()))),
            ("bad_nan", Err(Error::InvalidClaim("bad_nan".into()))),
            ("bad_empty", Err(Error::InvalidClaim("bad_empty".into()))),
            ("bad_dot", Err(Error::InvalidClaim("bad_dot".into()))),
            ("bad_bool", Err(Error::InvalidClaim("bad_bool".into()))),
            ("bad_null", Err(Error::InvalidClaim("bad_null".into()))),
            ("bad_array", Err(Error::InvalidClaim("bad_array".into()))),
        ];
        for (name, expected) in cases {
            assert_eq!(&try_numeric_date(&claims, name), expected, "{name}");
            assert_eq!(
                numeric_date(&claims, name),
                expected.clone().ok().flatten(),
                "{name}"
            );
        }
    }

    #[test]
    fn validity_window() {
        let skew = Duration::from_secs(300);
        let msal_python = json!({"exp": 1000.25, "iat": 400.25});
        let msal_node = json!({"exp": 1000, "iat": 400, "nbf": 400});
        let msal_net = json!({"exp": "1000", "nbf": "400"});
        let cases: Vec<(&Value, f64, Result<()>)> = vec![
            (&msal_python, 500.0, Ok(())),
            (&msal_python, 1300.0, Ok(())),
            (
                &msal_python,
                1300.25,
                Err(Error::Expired {
                    exp: 1000.25,
                    now: 1300.25,
                }),
            ),
            (&msal_python, 100.25, Ok(())),
            (
                &msal_python,
                100.0,
                Err(Error::NotYetValid {
                    claim: "iat",
                    value: 400.25,
                    now: 100.0,
                }),
            ),
            (&msal_node, 1299.5, Ok(())),
            (
                &msal_node,
                1300.0,
                Err(Error::Expired {
                    exp: 1000.0,
                    now: 1300.0,
                }),
            ),
            (
                &msal_node,
                99.0,
                Err(Error::NotYetValid {
                    claim: "nbf",
                    value: 400.0,
                    now: 99.0,
                }),
            ),
            (&msal_net, 700.0, Ok(())),
            (
                &msal_net,
                2000.0,
                Err(Error::Expired {
                    exp: 1000.0,
                    now: 2000.0,
                }),
            ),
        ];
        for (claims, now, expected) in cases {
            assert_eq!(
                check_times(claims, at(now), skew),
                expected,
                "{claims} at {now}"
            );
        }
        let no_skew = Duration::ZERO;
        assert_eq!(check_times(&msal_node, at(999.999), no_skew), Ok(()));
        assert!(check_times(&msal_node, at(1000.0), no_skew).is_err());

        let broken: &[(Value, Error)] = &[
            (json!({"iat": 1}), Error::MissingClaim("exp".into())),
            (json!({"exp": "soon"}), Error::InvalidClaim("exp".into())),
            (
                json!({"exp": 1e12, "nbf": false}),
                Error::InvalidClaim("nbf".into()),
            ),
        ];
        for (claims, expected) in broken {
            assert_eq!(check_times(claims, at(500.0), skew).as_ref(), Err(expected));
        }
    }

    #[test]
    fn audience_forms() {
        let endpoint = "https://localhost:18443/t/oauth2/v2.0/token";
        let cases: &[(Value, Result<()>)] = &[
            (json!({"aud": endpoint}), Ok(())),
            (json!({"aud": ["other", endpoint]}), Ok(())),
            (
                json!({"aud": "https://localhost:18443/t/oauth2/v2.0/token/"}),
                Err(Error::AudienceMismatch),
            ),
            (
                json!({"aud": "HTTPS://localhost:18443/t/oauth2/v2.0/token"}),
                Err(Error::AudienceMismatch),
            ),
            (json!({"aud": ["other"]}), Err(Error::AudienceMismatch)),
            (json!({"aud": []}), Err(Error::InvalidClaim("aud".into()))),
            (
                json!({"aud": [endpoint, 1]}),
                Err(Error::InvalidClaim("aud".into())),
            ),
            (
                json!({"aud": {"x": endpoint}}),
                Err(Error::InvalidClaim("aud".into())),
            ),
            (json!({}), Err(Error::MissingClaim("aud".into()))),
        ];
        for (claims, expected) in cases {
            assert_eq!(
                &check_audience(claims, &[endpoint, "https://x/t/oauth2/token"]),
                expected,
                "{claims}"
            );
        }
        assert_eq!(
            audiences(&json!({"aud": ["a", "b"]})).unwrap(),
            vec!["a", "b"]
        );
    }
}
