//! End-to-end behaviour of the public API: signing, verification of tokens
//! made by an independent path (aws-lc-rs directly, shaped like each
//! Microsoft client), tampering, algorithm confusion, malformed input.

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use hale_jws::{
    Alg, Error, Header, Jwk, RsaPublicKey, RsaSigner, ThumbprintEncoding, Unverified,
    check_audience, check_times, decode_thumbprint, decode_unverified, numeric_date,
    sha1_thumbprint, sha256_thumbprint, thumbprint_matches, verify,
};
use serde_json::{Value, json};

const TOKEN_ENDPOINT: &str =
    "https://localhost:18443/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token";
const CLIENT_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const SKEW: Duration = Duration::from_secs(300);

/// An RSA key with a self-signed certificate, made once per test binary.
struct TestKey {
    pkcs8: Vec<u8>,
    key_pair: RsaKeyPair,
    cert_der: Vec<u8>,
}

fn make_key(cn: &str) -> TestKey {
    let generated = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let pkcs8 = generated.as_der().unwrap().as_ref().to_vec();
    let rcgen_key = rcgen::KeyPair::try_from(pkcs8.as_slice()).unwrap();
    let mut params = rcgen::CertificateParams::new(vec![cn.to_owned()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let cert = params.self_signed(&rcgen_key).unwrap();
    TestKey {
        key_pair: RsaKeyPair::from_pkcs8(&pkcs8).unwrap(),
        pkcs8,
        cert_der: cert.der().to_vec(),
    }
}

static CLIENT: LazyLock<TestKey> = LazyLock::new(|| make_key("hale-jws test client"));
static OTHER: LazyLock<TestKey> = LazyLock::new(|| make_key("hale-jws other client"));

fn client_public() -> RsaPublicKey {
    RsaPublicKey::from_certificate_der(&CLIENT.cert_der).unwrap()
}

fn b64u(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The independent path: exact header and claims bytes, signed with aws-lc-rs
/// directly, as a client library would.
fn hand_made(key: &RsaKeyPair, alg: Alg, header_json: &str, claims_json: &str) -> String {
    let input = format!("{}.{}", b64u(header_json), b64u(claims_json));
    let padding: &'static dyn signature::RsaEncoding = match alg {
        Alg::RS256 => &signature::RSA_PKCS1_SHA256,
        Alg::PS256 => &signature::RSA_PSS_SHA256,
    };
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(padding, &SystemRandom::new(), input.as_bytes(), &mut sig)
        .unwrap();
    format!("{input}.{}", b64u(sig))
}

/// What MSAL Node 7 sends for `{thumbprintSha256, privateKey}`.
fn msal_node_assertion() -> String {
    let x5t_s256 = b64u(sha256_thumbprint(&CLIENT.cert_der));
    hand_made(
        &CLIENT.key_pair,
        Alg::PS256,
        &format!(r#"{{"alg":"PS256","typ":"JWT","x5t#S256":"{x5t_s256}"}}"#),
        &format!(
            r#"{{"aud":"{TOKEN_ENDPOINT}","exp":1795436907,"iss":"{CLIENT_ID}","sub":"{CLIENT_ID}","nbf":1795436307,"jti":"0e81c131-0d71-437a-80d4-2836e04cc905","iat":1795436306}}"#
        ),
    )
}

/// What MSAL Python 1.39 sends for `{private_key, thumbprint}`.
fn msal_python_assertion() -> String {
    let x5t = URL_SAFE.encode(sha1_thumbprint(&CLIENT.cert_der));
    assert!(x5t.ends_with('='));
    hand_made(
        &CLIENT.key_pair,
        Alg::RS256,
        &format!(r#"{{"alg":"RS256","typ":"JWT","x5t":"{x5t}"}}"#),
        &format!(
            r#"{{"aud":"{TOKEN_ENDPOINT}","iss":"{CLIENT_ID}","sub":"{CLIENT_ID}","exp":1795388780.2436342,"iat":1795388180.2436342,"jti":"e9eb85ff-c669-4bd9-8da7-0ac218468b78"}}"#
        ),
    )
}

/// What MSAL.NET's `WithCertificate(cert, sendX5C: true)` sends (its
/// JsonWebToken.cs): `x5c` as one string, `nbf`/`exp` as JSON strings, no
/// `iat`.
fn msal_net_assertion() -> String {
    let x5t = b64u(sha1_thumbprint(&CLIENT.cert_der));
    let x5c = STANDARD.encode(&CLIENT.cert_der);
    hand_made(
        &CLIENT.key_pair,
        Alg::RS256,
        &format!(r#"{{"alg":"RS256","typ":"JWT","x5t":"{x5t}","x5c":"{x5c}"}}"#),
        &format!(
            r#"{{"aud":"{TOKEN_ENDPOINT}","iss":"{CLIENT_ID}","sub":"{CLIENT_ID}","nbf":"1795436307","exp":"1795436907","jti":"3f1c2a7e-1d0b-4c55-9a4e-6f0e5b8d2c11"}}"#
        ),
    )
}

fn at(secs: f64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs_f64(secs)
}

#[test]
fn keys_are_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<RsaSigner>();
    assert_send_sync::<RsaPublicKey>();
    assert_send_sync::<Error>();
}

#[test]
fn sign_then_verify_round_trip() {
    let signer = RsaSigner::from_pkcs8(&CLIENT.pkcs8).unwrap();
    assert_eq!(signer.public_key(), &client_public());
    let kid = b64u(sha1_thumbprint(&CLIENT.cert_der));
    let claims = json!({
        "aud": "https://x.fhir.azurehealthcareapis.com",
        "iss": "https://sts.windows.net/11111111-2222-3333-4444-555555555555/",
        "iat": 1_700_000_000, "nbf": 1_700_000_000, "exp": 1_700_003_900,
        "appid": CLIENT_ID, "appidacr": "2", "ver": "1.0",
        "roles": ["a", "b"], "name": "Zoë \u{1F600} \"quoted\"",
    });
    let cases = [
        (
            Header::entra_v1(&kid),
            format!(r#"{{"typ":"JWT","alg":"RS256","x5t":"{kid}","kid":"{kid}"}}"#),
        ),
        (
            Header::entra_v2(&kid),
            format!(r#"{{"typ":"JWT","alg":"RS256","kid":"{kid}"}}"#),
        ),
        (
            Header::new(Alg::PS256),
            r#"{"typ":"JWT","alg":"PS256"}"#.to_owned(),
        ),
    ];
    for (header, header_json) in cases {
        let token = signer.sign(&header, &claims).unwrap();
        let first = token.split('.').next().unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(first).unwrap(),
            header_json.as_bytes()
        );
        let alg = header.alg().unwrap();
        assert_eq!(verify(&token, signer.public_key(), &[alg]).unwrap(), claims);
        assert_eq!(
            verify(&token, &client_public(), &[Alg::RS256, Alg::PS256]).unwrap(),
            claims
        );
        let (parsed_header, parsed_claims) = decode_unverified(&token).unwrap();
        assert_eq!(parsed_header, header);
        assert_eq!(parsed_claims, claims);
    }
}

#[test]
fn signing_a_struct_keeps_entra_claim_order() {
    #[derive(serde::Serialize)]
    struct V1 {
        aud: &'static str,
        iss: &'static str,
        iat: u64,
        nbf: u64,
        exp: u64,
    }
    let signer = RsaSigner::from_pkcs8(&CLIENT.pkcs8).unwrap();
    let claims = V1 {
        aud: "r",
        iss: "i",
        iat: 1,
        nbf: 1,
        exp: 2,
    };
    let token = signer.sign(&Header::entra_v2("k"), &claims).unwrap();
    let second = token.split('.').nth(1).unwrap();
    assert_eq!(
        URL_SAFE_NO_PAD.decode(second).unwrap(),
        br#"{"aud":"r","iss":"i","iat":1,"nbf":1,"exp":2}"#
    );
}

#[test]
fn signing_refuses_bad_input() {
    let signer = RsaSigner::from_pkcs8(&CLIENT.pkcs8).unwrap();
    let cases: Vec<(Header, Value, Error)> = vec![
        (
            Header {
                alg: "none".into(),
                ..Header::default()
            },
            json!({}),
            Error::UnsupportedAlgorithm("none".into()),
        ),
        (
            Header {
                alg: "HS256".into(),
                ..Header::default()
            },
            json!({}),
            Error::UnsupportedAlgorithm("HS256".into()),
        ),
        (
            Header::new(Alg::RS256),
            json!([1, 2]),
            Error::Malformed("claims must be a JSON object"),
        ),
        (
            Header::new(Alg::RS256),
            json!("x"),
            Error::Malformed("claims must be a JSON object"),
        ),
    ];
    for (header, claims, expected) in cases {
        assert_eq!(signer.sign(&header, &claims).unwrap_err(), expected);
    }
    let bad_keys: [&[u8]; 3] = [
        b"",
        &CLIENT.cert_der,
        &CLIENT.pkcs8[..CLIENT.pkcs8.len() - 1],
    ];
    for der in bad_keys {
        assert_eq!(
            RsaSigner::from_pkcs8(der).unwrap_err(),
            Error::InvalidKey("bad RSA PKCS#8 key")
        );
    }
}

#[test]
fn client_shaped_assertions_verify() {
    let key = client_public();
    let sha1 = sha1_thumbprint(&CLIENT.cert_der);
    let sha256 = sha256_thumbprint(&CLIENT.cert_der);
    struct Case {
        name: &'static str,
        token: String,
        alg: Alg,
        /// (iat or nbf, exp) as the client wrote them.
        window: (f64, f64),
    }
    let cases = [
        Case {
            name: "msal node",
            token: msal_node_assertion(),
            alg: Alg::PS256,
            window: (1795436307.0, 1795436907.0),
        },
        Case {
            name: "msal python",
            token: msal_python_assertion(),
            alg: Alg::RS256,
            window: (1795388180.2436342, 1795388780.2436342),
        },
        Case {
            name: "msal.net",
            token: msal_net_assertion(),
            alg: Alg::RS256,
            window: (1795436307.0, 1795436907.0),
        },
    ];
    for case in cases {
        let name = case.name;
        let token = Unverified::parse(&case.token).unwrap();
        let header = token.header().clone();
        assert_eq!(header.alg().unwrap(), case.alg, "{name}");
        // The key is found from the header alone.
        match case.alg {
            Alg::PS256 => assert_eq!(header.cert_sha256_thumbprint(), Some(sha256), "{name}"),
            Alg::RS256 => assert_eq!(header.cert_sha1_thumbprint(), Some(sha1), "{name}"),
        }
        // With RS256-only or PS256-only policies the other is refused.
        let other = if case.alg == Alg::RS256 {
            Alg::PS256
        } else {
            Alg::RS256
        };
        assert_eq!(
            token.clone().verify(&key, &[other]).unwrap_err(),
            Error::AlgorithmNotAllowed(case.alg),
            "{name}"
        );
        let claims = token.verify(&key, &[Alg::RS256, Alg::PS256]).unwrap();
        assert_eq!(claims["iss"], CLIENT_ID, "{name}");
        check_audience(&claims, &[TOKEN_ENDPOINT]).unwrap();
        let (start, exp) = case.window;
        assert_eq!(numeric_date(&claims, "exp"), Some(exp), "{name}");
        check_times(&claims, at(start), SKEW).unwrap();
        check_times(&claims, at(start - 299.0), SKEW).unwrap();
        assert!(
            matches!(
                check_times(&claims, at(start - 301.0), SKEW),
                Err(Error::NotYetValid { .. })
            ),
            "{name}"
        );
        check_times(&claims, at(exp + 299.0), SKEW).unwrap();
        assert!(
            matches!(
                check_times(&claims, at(exp + 300.0), SKEW),
                Err(Error::Expired { .. })
            ),
            "{name}"
        );
    }
}

#[test]
fn msal_net_x5c_string_yields_the_certificate() {
    let (header, _) = decode_unverified(&msal_net_assertion()).unwrap();
    let chain = header.x5c_der().unwrap();
    assert_eq!(chain, vec![CLIENT.cert_der.clone()]);
    let key = RsaPublicKey::from_certificate_der(&chain[0]).unwrap();
    verify(&msal_net_assertion(), &key, &[Alg::RS256]).unwrap();
}

#[test]
fn tampering_is_detected() {
    let key = client_public();
    let both = [Alg::RS256, Alg::PS256];
    for token in [msal_node_assertion(), msal_python_assertion()] {
        let parts: Vec<&str> = token.split('.').collect();
        let (h, c, s) = (parts[0], parts[1], parts[2]);
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).unwrap()).unwrap();
        let mut evil = claims.clone();
        evil["sub"] = json!("ffffffff-bbbb-cccc-dddd-eeeeeeeeeeee");
        let evil_claims = b64u(serde_json::to_vec(&evil).unwrap());
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
        let mut switched = header.clone();
        switched["alg"] = json!(if header["alg"] == "RS256" {
            "PS256"
        } else {
            "RS256"
        });
        let switched = b64u(serde_json::to_vec(&switched).unwrap());
        let mut sig = URL_SAFE_NO_PAD.decode(s).unwrap();
        sig[100] ^= 0x01;
        let flipped = b64u(&sig);
        let short = b64u(&sig[..255]);
        let long = b64u([sig.as_slice(), &[0]].concat());
        let cases = [
            format!("{h}.{evil_claims}.{s}"),
            format!("{switched}.{c}.{s}"),
            format!("{h}.{c}.{flipped}"),
            format!("{h}.{c}.{short}"),
            format!("{h}.{c}.{long}"),
            format!("{h}.{c}."),
        ];
        for tampered in cases {
            assert_eq!(
                verify(&tampered, &key, &both),
                Err(Error::BadSignature),
                "{tampered}"
            );
        }
        assert!(verify(&token, &key, &both).is_ok());
    }
}

#[test]
fn wrong_key_is_rejected() {
    let other = RsaPublicKey::from_certificate_der(&OTHER.cert_der).unwrap();
    for token in [
        msal_node_assertion(),
        msal_python_assertion(),
        msal_net_assertion(),
    ] {
        assert_eq!(
            verify(&token, &other, &[Alg::RS256, Alg::PS256]),
            Err(Error::BadSignature)
        );
    }
    // And the header does not name the other certificate.
    let (header, _) = decode_unverified(&msal_node_assertion()).unwrap();
    assert!(!thumbprint_matches(
        header.x5t_s256.as_deref().unwrap(),
        &sha256_thumbprint(&OTHER.cert_der)
    ));
}

#[test]
fn algorithm_confusion_is_refused() {
    let key = client_public();
    let claims = b64u(format!(
        r#"{{"aud":"{TOKEN_ENDPOINT}","iss":"{CLIENT_ID}","exp":9999999999}}"#
    ));
    let spki = CLIENT
        .key_pair
        .public_key()
        .as_der()
        .unwrap()
        .as_ref()
        .to_vec();
    let pkcs1 = CLIENT.key_pair.public_key().as_ref().to_vec();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(&spki)
    );
    let (n, _) = key.jwk();
    let mut cases: Vec<(String, Error)> = Vec::new();
    // alg "none" in its usual spellings, with and without a signature.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = b64u(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        cases.push((
            format!("{h}.{claims}."),
            Error::UnsupportedAlgorithm(alg.into()),
        ));
        cases.push((
            format!("{h}.{claims}.{}", b64u("x")),
            Error::UnsupportedAlgorithm(alg.into()),
        ));
    }
    // HS256/384/512 keyed with every public form of the RSA key an attacker
    // could hope a confused verifier would use as the HMAC secret.
    for (alg, hmac_alg) in [
        ("HS256", hmac::HMAC_SHA256),
        ("HS384", hmac::HMAC_SHA384),
        ("HS512", hmac::HMAC_SHA512),
    ] {
        for secret in [
            spki.as_slice(),
            pkcs1.as_slice(),
            pem.as_bytes(),
            n.as_bytes(),
            &CLIENT.cert_der,
        ] {
            let h = b64u(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            let input = format!("{h}.{claims}");
            let tag = hmac::sign(&hmac::Key::new(hmac_alg, secret), input.as_bytes());
            cases.push((
                format!("{input}.{}", b64u(tag)),
                Error::UnsupportedAlgorithm(alg.into()),
            ));
        }
    }
    // Other asymmetric algorithms, and RS256 lookalikes.
    for alg in [
        "ES256", "EdDSA", "RS384", "RS512", "PS384", "rs256", "RS256 ", "",
    ] {
        let h = b64u(format!(r#"{{"alg":"{alg}"}}"#));
        cases.push((
            format!("{h}.{claims}.{}", b64u([0u8; 256])),
            Error::UnsupportedAlgorithm(alg.into()),
        ));
    }
    for (token, expected) in cases {
        assert_eq!(
            verify(&token, &key, &[Alg::RS256, Alg::PS256]),
            Err(expected),
            "{token}"
        );
    }
    // An empty allow-list allows nothing.
    assert_eq!(
        verify(&msal_node_assertion(), &key, &[]),
        Err(Error::AlgorithmNotAllowed(Alg::PS256))
    );
}

#[test]
fn oversize_and_malformed_tokens_are_rejected() {
    let key = client_public();
    let valid = msal_node_assertion();
    let huge_claims = b64u(format!(r#"{{"pad":"{}"}}"#, "a".repeat(20_000)));
    let big = format!("{}.{huge_claims}.", b64u(r#"{"alg":"RS256"}"#));
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(String, Error)> = vec![
        (
            big.clone(),
            Error::TooLarge {
                len: big.len(),
                max: 16_384,
            },
        ),
        (
            "a".repeat(1 << 20),
            Error::TooLarge {
                len: 1 << 20,
                max: 16_384,
            },
        ),
        (
            format!(
                "{}.{}.",
                b64u(r#"{"alg":"RS256"}"#),
                b64u(format!(r#"{{"a":{}}}"#, &deep[..8000]))
            ),
            Error::Malformed("claims are not a JSON object"),
        ),
        (
            format!(
                "{}.{}.",
                b64u(r#"{"alg":"RS256"}"#),
                b64u([0xFF, 0xFE, b'{', b'}'])
            ),
            Error::Malformed("claims are not a JSON object"),
        ),
        (
            valid.replace('.', ".."),
            Error::Malformed("expected three dot-separated segments"),
        ),
        (
            valid.replacen('.', "=.", 1),
            Error::Malformed("header is not unpadded base64url"),
        ),
        (
            format!("{valid}="),
            Error::Malformed("signature is not unpadded base64url"),
        ),
        (
            format!("{valid}\n"),
            Error::Malformed("signature is not unpadded base64url"),
        ),
        (
            format!("+{valid}"),
            Error::Malformed("header is not unpadded base64url"),
        ),
        (
            valid.replacen('.', "/.", 1),
            Error::Malformed("header is not unpadded base64url"),
        ),
    ];
    for (token, expected) in cases {
        assert_eq!(
            verify(&token, &key, &[Alg::PS256]),
            Err(expected.clone()),
            "{}",
            &token[..token.len().min(80)]
        );
        assert_eq!(decode_unverified(&token).map(|_| ()), Err(expected));
    }
    // A larger limit is available for chains in x5c.
    assert!(Unverified::parse_with_limit(&big, 64 * 1024).is_ok());
}

/// A tiny deterministic generator so the mutation loop is reproducible.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutate(rng: &mut XorShift, input: &[u8]) -> Vec<u8> {
    const INTERESTING: &[u8] = b".=-_+/ \n\0{}[]\":,AQ\xff\xc3";
    let mut out = input.to_vec();
    for _ in 0..=rng.below(3) {
        if out.is_empty() {
            out.push(INTERESTING[rng.below(INTERESTING.len())]);
            continue;
        }
        let i = rng.below(out.len());
        match rng.below(6) {
            0 => out[i] ^= 1 << rng.below(8),
            1 => {
                out.remove(i);
            }
            2 => out.insert(i, INTERESTING[rng.below(INTERESTING.len())]),
            3 => out.truncate(i),
            4 => {
                let j = rng.below(out.len());
                out.swap(i, j);
            }
            _ => {
                let end = (i + rng.below(64)).min(out.len());
                let chunk = out[i..end].to_vec();
                out.splice(i..i, chunk);
            }
        }
    }
    out
}

#[test]
fn mutated_tokens_never_panic_and_never_verify() {
    let key = client_public();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let originals = [
        msal_node_assertion(),
        msal_python_assertion(),
        msal_net_assertion(),
    ];
    let mut rejected = 0usize;
    for original in &originals {
        // Mutate the compact form, and the JSON inside the header and claims
        // (re-encoded, so parsing gets past base64 and into JSON).
        let parts: Vec<&str> = original.split('.').collect();
        let header_json = URL_SAFE_NO_PAD.decode(parts[0]).unwrap();
        let claims_json = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
        for round in 0..3000 {
            let candidate = match round % 3 {
                0 => mutate(&mut rng, original.as_bytes()),
                1 => format!(
                    "{}.{}.{}",
                    b64u(mutate(&mut rng, &header_json)),
                    parts[1],
                    parts[2]
                )
                .into_bytes(),
                _ => format!(
                    "{}.{}.{}",
                    parts[0],
                    b64u(mutate(&mut rng, &claims_json)),
                    parts[2]
                )
                .into_bytes(),
            };
            let Ok(candidate) = String::from_utf8(candidate) else {
                continue;
            };
            let _ = decode_unverified(&candidate);
            match verify(&candidate, &key, &[Alg::RS256, Alg::PS256]) {
                Ok(_) => assert_eq!(&candidate, original, "a mutation verified"),
                Err(_) => rejected += 1,
            }
        }
    }
    assert!(rejected > 8000, "only {rejected} mutations were rejected");
}

#[test]
fn mutated_certificates_never_panic() {
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    let original = &CLIENT.cert_der;
    let good = client_public();
    for _ in 0..5000 {
        let candidate = mutate(&mut rng, original);
        if let Ok(key) = RsaPublicKey::from_certificate_der(&candidate) {
            // A mutation outside the key leaves it intact, or changes n/e into
            // another acceptable key; either way parsing stayed in bounds.
            let _ = key == good;
        }
        let _ = RsaPublicKey::from_spki_der(&candidate);
        let _ = RsaPublicKey::from_pkcs1_der(&candidate);
        let _ = Jwk::from_certificate(&candidate, None);
    }
}

#[test]
fn public_key_forms_agree() {
    let from_cert = client_public();
    let spki = CLIENT.key_pair.public_key().as_der().unwrap();
    let from_spki = RsaPublicKey::from_spki_der(spki.as_ref()).unwrap();
    let from_pkcs1 = RsaPublicKey::from_pkcs1_der(CLIENT.key_pair.public_key().as_ref()).unwrap();
    let (n, e) = from_cert.jwk();
    let from_jwk = RsaPublicKey::from_jwk(&n, &e).unwrap();
    assert_eq!(e, "AQAB");
    assert_eq!(from_cert.bits(), 2048);
    for key in [&from_spki, &from_pkcs1, &from_jwk] {
        assert_eq!(key, &from_cert);
        verify(&msal_node_assertion(), key, &[Alg::PS256]).unwrap();
    }
    assert_eq!(
        RsaPublicKey::from_certificate_der(spki.as_ref()).unwrap_err(),
        Error::InvalidKey("bad certificate DER")
    );
    assert_eq!(
        RsaPublicKey::from_spki_der(&CLIENT.cert_der).unwrap_err(),
        Error::InvalidKey("bad SubjectPublicKeyInfo")
    );
}

#[test]
fn thumbprint_matrix_for_a_real_certificate() {
    let sha1 = sha1_thumbprint(&CLIENT.cert_der);
    let sha256 = sha256_thumbprint(&CLIENT.cert_der);
    fn forms(bytes: &[u8]) -> Vec<String> {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        vec![
            URL_SAFE_NO_PAD.encode(bytes),
            URL_SAFE.encode(bytes),
            STANDARD.encode(bytes),
            STANDARD.encode(bytes).trim_end_matches('=').to_owned(),
            hex.to_uppercase(),
            hex,
        ]
    }
    for value in forms(&sha1) {
        assert!(thumbprint_matches(&value, &sha1), "{value}");
        assert!(!thumbprint_matches(&value, &sha256), "{value}");
        assert!(
            !thumbprint_matches(&value, &sha1_thumbprint(&OTHER.cert_der)),
            "{value}"
        );
    }
    for value in forms(&sha256) {
        assert!(thumbprint_matches(&value, &sha256), "{value}");
        assert!(!thumbprint_matches(&value, &sha1), "{value}");
        assert!(
            !thumbprint_matches(&value, &sha256_thumbprint(&OTHER.cert_der)),
            "{value}"
        );
    }
    assert_eq!(
        decode_thumbprint::<20>(&URL_SAFE.encode(sha1)),
        Some((sha1, ThumbprintEncoding::Base64UrlPadded))
    );
    // A hex `kid` (Microsoft.IdentityModel's X509SigningCredentials) names the
    // certificate when there is no x5t.
    let header = Header {
        kid: Some(sha1.iter().map(|b| format!("{b:02X}")).collect()),
        ..Header::new(Alg::RS256)
    };
    assert_eq!(header.cert_sha1_thumbprint(), Some(sha1));
    assert_eq!(header.cert_sha256_thumbprint(), None);
}

/// One of Entra's published signing keys (v2 JWKS for `organizations`, as
/// recorded by panva/wellknown): the certificate in `x5c` must give back the
/// published `kid`/`x5t`, `n` and `e`, and `Jwk::from_certificate` must
/// reproduce the entry member for member.
#[test]
fn entra_published_key_round_trips() {
    let published = r#"{"kty":"RSA","use":"sig","kid":"Mc7l3Iz93g7uwgNeEmmw_WYGPko","x5t":"Mc7l3Iz93g7uwgNeEmmw_WYGPko","n":"3I2c2shPwo4E7Y9Npyp7A5s4bkw9u3BV0sNsn4Ph2WAZFXduaTy8ZirXa8cQF2_Riwckxcqf2DYmdUKGDb1FCBESW34oV2V5PopqS2llIfwU6gwrbWycQuai7FUG-UZWfud64ZRqbk8oyyYD7gHfijUiZ-nOHd3ozzDS0NNnH6TKCHiwKu-ocqzT7pDUMr3ozu2Gv0Gb4txtQk4m2QbNn4uNmYrSjgKzNH3HYWQgBYAEEgCUkG-nH4Ui1IsBvPCEIig_UhHn-OtJ9ZHnGmQnRQo22VMRWa9WPXYBt4RCA3eljmDYXLfQNua8Z69e40cGoXrSza90KsuXqNLo-0xQ0w","e":"AQAB","x5c":["MIIC/TCCAeWgAwIBAgIIImlMG8V10AswDQYJKoZIhvcNAQELBQAwLTErMCkGA1UEAxMiYWNjb3VudHMuYWNjZXNzY29udHJvbC53aW5kb3dzLm5ldDAeFw0yNDA5MTExMzQ3NTBaFw0yOTA5MTExMzQ3NTBaMC0xKzApBgNVBAMTImFjY291bnRzLmFjY2Vzc2NvbnRyb2wud2luZG93cy5uZXQwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQDcjZzayE/CjgTtj02nKnsDmzhuTD27cFXSw2yfg+HZYBkVd25pPLxmKtdrxxAXb9GLByTFyp/YNiZ1QoYNvUUIERJbfihXZXk+impLaWUh/BTqDCttbJxC5qLsVQb5RlZ+53rhlGpuTyjLJgPuAd+KNSJn6c4d3ejPMNLQ02cfpMoIeLAq76hyrNPukNQyvejO7Ya/QZvi3G1CTibZBs2fi42ZitKOArM0fcdhZCAFgAQSAJSQb6cfhSLUiwG88IQiKD9SEef460n1kecaZCdFCjbZUxFZr1Y9dgG3hEIDd6WOYNhct9A25rxnr17jRwahetLNr3Qqy5eo0uj7TFDTAgMBAAGjITAfMB0GA1UdDgQWBBRL0QasxmIFseaWG/XjtjJHM1pUVzANBgkqhkiG9w0BAQsFAAOCAQEAnGEW7XHZLTkq3okvdMyjJeiENq7OLQuh7pHYjeMqGcdU3TOouhDBgKpIDIF+Icy0KX2GBnJw9peHf8I7KNNK55HU3t69AKVz9pIYlhsjijCichMGKBqaMKR0fuN1s89ZtBg8ku2DTBS7RNZ6bx2xzkb1XDt1tuXklEc9tML5QUKfWHG/7Lg/MAI1dXgVySRYQwCxiWGyZzqUTTXMgtWTuLEpklqAtyDNx5+TNofr5IypYTkW1G2v60EsKkD9dax5zI+3hGgZbY4RMtM+TAG5uWBBks2omCVn1dn6HpC3GNfxLiLxqjFsqC7Omj7vSrX7qq4kgENEWZCKVTsOzVq//A=="],"issuer":"https://login.microsoftonline.com/{tenantid}/v2.0"}"#;
    let jwk: Jwk = serde_json::from_str(published).unwrap();
    let cert = STANDARD.decode(&jwk.x5c[0]).unwrap();
    let rebuilt = Jwk::from_certificate(&cert, jwk.issuer.as_deref()).unwrap();
    assert_eq!(rebuilt, jwk);
    assert_eq!(serde_json::to_string(&rebuilt).unwrap(), published);
    assert_eq!(
        jwk.public_key().unwrap(),
        RsaPublicKey::from_certificate_der(&cert).unwrap()
    );
    assert!(thumbprint_matches(
        jwk.kid.as_deref().unwrap(),
        &sha1_thumbprint(&cert)
    ));
}
