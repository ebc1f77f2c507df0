//! Client assertions captured from the real Microsoft libraries (MSAL Python
//! 1.39.0 and MSAL Node 7.2.1; see `fixtures/gen/make_fixtures.sh`), verified
//! the way Hale's token endpoint will: find the registered certificate from
//! the header, verify with RS256 or PS256, check audience and times.

use std::time::{Duration, UNIX_EPOCH};

use hale_jws::{
    Alg, Error, RsaPublicKey, ThumbprintEncoding, Unverified, check_audience, check_times,
    decode_thumbprint, decode_x5c_entry, numeric_date, sha1_thumbprint, sha256_thumbprint,
};
use serde_json::Value;

const TOKEN_ENDPOINT: &str =
    "https://localhost:18443/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token";
const CLIENT_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

fn registered_certificate() -> Vec<u8> {
    let pem = include_str!("fixtures/client_cert.pem");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    decode_x5c_entry(&body).unwrap()
}

struct Expect {
    credential: &'static str,
    alg: Alg,
    /// Which header member names the certificate, and how it is encoded.
    reference: (&'static str, ThumbprintEncoding),
    x5c: bool,
    float_times: bool,
    nbf: bool,
}

const EXPECTED: &[Expect] = &[
    Expect {
        credential: "{private_key, thumbprint}",
        alg: Alg::RS256,
        reference: ("x5t", ThumbprintEncoding::Base64UrlPadded),
        x5c: false,
        float_times: true,
        nbf: false,
    },
    Expect {
        credential: "{private_key, public_certificate}",
        alg: Alg::PS256,
        reference: ("x5t#S256", ThumbprintEncoding::Base64UrlPadded),
        x5c: true,
        float_times: true,
        nbf: false,
    },
    Expect {
        credential: "{private_key_pfx_path}",
        alg: Alg::PS256,
        reference: ("x5t#S256", ThumbprintEncoding::Base64UrlPadded),
        x5c: false,
        float_times: true,
        nbf: false,
    },
    Expect {
        credential: "{private_key_pfx_path, public_certificate: True}",
        alg: Alg::PS256,
        reference: ("x5t#S256", ThumbprintEncoding::Base64UrlPadded),
        x5c: true,
        float_times: true,
        nbf: false,
    },
    Expect {
        credential: "{thumbprintSha256, privateKey}",
        alg: Alg::PS256,
        reference: ("x5t#S256", ThumbprintEncoding::Base64Url),
        x5c: false,
        float_times: false,
        nbf: true,
    },
    Expect {
        credential: "{thumbprintSha256, privateKey, x5c}",
        alg: Alg::PS256,
        reference: ("x5t#S256", ThumbprintEncoding::Base64Url),
        x5c: true,
        float_times: false,
        nbf: true,
    },
    Expect {
        credential: "{thumbprint, privateKey}",
        alg: Alg::RS256,
        reference: ("x5t", ThumbprintEncoding::Base64Url),
        x5c: false,
        float_times: false,
        nbf: true,
    },
];

#[test]
fn real_client_assertions_verify() {
    let cert = registered_certificate();
    let registered = RsaPublicKey::from_certificate_der(&cert).unwrap();
    let (sha1, sha256) = (sha1_thumbprint(&cert), sha256_thumbprint(&cert));

    let lines: Vec<Value> = include_str!("fixtures/msal_assertions.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), EXPECTED.len());

    for (line, expect) in lines.iter().zip(EXPECTED) {
        let name = format!("{} {}", line["client"].as_str().unwrap(), expect.credential);
        assert_eq!(line["credential"], expect.credential, "{name}");
        let token = Unverified::parse(line["token"].as_str().unwrap()).unwrap();
        let header = token.header();
        assert_eq!(header.alg().unwrap(), expect.alg, "{name}");
        assert_eq!(header.typ.as_deref(), Some("JWT"), "{name}");

        // Find the registered certificate from the header.
        let (member, encoding) = expect.reference;
        match member {
            "x5t" => {
                assert_eq!(
                    decode_thumbprint::<20>(header.x5t.as_deref().unwrap()),
                    Some((sha1, encoding)),
                    "{name}"
                );
                assert_eq!(header.cert_sha1_thumbprint(), Some(sha1), "{name}");
            }
            _ => {
                assert_eq!(
                    decode_thumbprint::<32>(header.x5t_s256.as_deref().unwrap()),
                    Some((sha256, encoding)),
                    "{name}"
                );
                assert_eq!(header.cert_sha256_thumbprint(), Some(sha256), "{name}");
            }
        }
        // x5c, when sent, is the same certificate (MSAL Python keeps the PEM
        // line breaks, MSAL Node strips them).
        let chain = header.x5c_der().unwrap();
        assert_eq!(chain.is_empty(), !expect.x5c, "{name}");
        if expect.x5c {
            assert_eq!(chain, vec![cert.clone()], "{name}");
        }

        let claims = token
            .verify(&registered, &[Alg::RS256, Alg::PS256])
            .unwrap();
        assert_eq!(claims["iss"], CLIENT_ID, "{name}");
        assert_eq!(claims["sub"], CLIENT_ID, "{name}");
        assert!(claims["jti"].is_string(), "{name}");
        check_audience(&claims, &[TOKEN_ENDPOINT]).unwrap();

        assert_eq!(claims["exp"].is_f64(), expect.float_times, "{name}");
        assert_eq!(claims.get("nbf").is_some(), expect.nbf, "{name}");
        let iat = numeric_date(&claims, "iat").unwrap();
        let exp = numeric_date(&claims, "exp").unwrap();
        assert!(
            (exp - iat - 600.0).abs() <= 1.0,
            "{name}: lifetime {}",
            exp - iat
        );
        let at = |secs: f64| UNIX_EPOCH + Duration::from_secs_f64(secs);
        let skew = Duration::from_secs(300);
        check_times(&claims, at(iat + 1.0), skew).unwrap();
        assert!(
            matches!(
                check_times(&claims, at(exp + 301.0), skew),
                Err(Error::Expired { .. })
            ),
            "{name}"
        );
        assert!(
            matches!(
                check_times(&claims, at(iat - 310.0), skew),
                Err(Error::NotYetValid { .. })
            ),
            "{name}"
        );
    }
}

#[test]
fn real_client_assertions_fail_with_another_certificate() {
    // Entra's own signing certificate stands in for "some other key".
    let entra = RsaPublicKey::from_jwk(
        "3I2c2shPwo4E7Y9Npyp7A5s4bkw9u3BV0sNsn4Ph2WAZFXduaTy8ZirXa8cQF2_Riwckxcqf2DYmdUKGDb1FCBESW34oV2V5PopqS2llIfwU6gwrbWycQuai7FUG-UZWfud64ZRqbk8oyyYD7gHfijUiZ-nOHd3ozzDS0NNnH6TKCHiwKu-ocqzT7pDUMr3ozu2Gv0Gb4txtQk4m2QbNn4uNmYrSjgKzNH3HYWQgBYAEEgCUkG-nH4Ui1IsBvPCEIig_UhHn-OtJ9ZHnGmQnRQo22VMRWa9WPXYBt4RCA3eljmDYXLfQNua8Z69e40cGoXrSza90KsuXqNLo-0xQ0w",
        "AQAB",
    )
    .unwrap();
    for line in include_str!("fixtures/msal_assertions.jsonl").lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        let token = line["token"].as_str().unwrap();
        assert_eq!(
            hale_jws::verify(token, &entra, &[Alg::RS256, Alg::PS256]),
            Err(Error::BadSignature)
        );
    }
}
