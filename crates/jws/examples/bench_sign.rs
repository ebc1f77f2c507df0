//! Throughput of token signing and verification with hale-jws.
//!
//! ```text
//! cargo run --release --example bench_sign [seconds per measurement, default 2]
//! ```
//!
//! Prints operations per second and microseconds per operation for: the raw
//! aws-lc-rs RSA-2048 signature (the floor), a full Entra v1 access token
//! signed with hale-jws (claims as a struct and as a `serde_json::Value`),
//! the JSON/base64 part of signing alone, PS256 signing, parse-only, and
//! RS256/PS256 verification of a client assertion; then RS256 signing on every
//! available core at once.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, RsaKeyPair};
use hale_jws::{Alg, Header, RsaSigner, decode_unverified, verify};
use serde::Serialize;
use serde_json::json;

/// The claims of an Entra v1 app-only access token for a FHIR service.
#[derive(Serialize)]
struct V1AppToken<'a> {
    aud: &'a str,
    iss: &'a str,
    iat: u64,
    nbf: u64,
    exp: u64,
    aio: &'a str,
    appid: &'a str,
    appidacr: &'a str,
    idp: &'a str,
    oid: &'a str,
    rh: &'a str,
    sub: &'a str,
    tid: &'a str,
    uti: &'a str,
    ver: &'a str,
}

fn measure(label: &str, budget: Duration, mut op: impl FnMut()) {
    // Warm up, then run in batches until the budget is spent.
    for _ in 0..20 {
        op();
    }
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < budget {
        for _ in 0..50 {
            op();
        }
        count += 50;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{label:<48} {:>10.0} ops/s {:>9.2} µs/op",
        count as f64 / elapsed,
        elapsed * 1e6 / count as f64
    );
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let budget = Duration::from_secs_f64(seconds);

    let generated = RsaKeyPair::generate(KeySize::Rsa2048).expect("keygen");
    let pkcs8 = generated.as_der().expect("pkcs8").as_ref().to_vec();
    let signer = RsaSigner::from_pkcs8(&pkcs8).expect("signer");
    let raw = RsaKeyPair::from_pkcs8(&pkcs8).expect("raw key");
    let rng = SystemRandom::new();

    let kid = "Mc7l3Iz93g7uwgNeEmmw_WYGPko";
    let tid = "11111111-2222-3333-4444-555555555555";
    let client = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
    let iss = format!("https://sts.windows.net/{tid}/");
    let claims = V1AppToken {
        aud: "https://x.fhir.azurehealthcareapis.com",
        iss: &iss,
        iat: 1_795_436_000,
        nbf: 1_795_436_000,
        exp: 1_795_439_900,
        aio: "k2BgYJhX9mXn8vDt3Yu4Z5nAAA==",
        appid: client,
        appidacr: "2",
        idp: &iss,
        oid: "99999999-8888-7777-6666-555555555555",
        rh: "0.AR8AqhHxq4m7K0y9x1Yh2k3l4Q.",
        sub: "99999999-8888-7777-6666-555555555555",
        tid,
        uti: "AbCdEfGhIjKlMnOpQrStUv",
        ver: "1.0",
    };
    let claims_value = serde_json::to_value(&claims).expect("value");
    let v1 = Header::entra_v1(kid);
    let token = signer.sign(&v1, &claims).expect("sign");
    println!(
        "RSA-{} key; v1 access token is {} bytes; {} thread(s) available",
        signer.public_key().bits(),
        token.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let message = token.rsplit_once('.').expect("dot").0.as_bytes().to_vec();
    let mut sig = vec![0u8; raw.public_modulus_len()];
    measure("aws-lc-rs RSA-2048 PKCS#1 sign (floor)", budget, || {
        raw.sign(
            &signature::RSA_PKCS1_SHA256,
            &rng,
            black_box(&message),
            &mut sig,
        )
        .expect("raw sign");
        black_box(&sig);
    });
    measure("sign RS256 v1 access token (struct claims)", budget, || {
        black_box(signer.sign(&v1, black_box(&claims)).expect("sign"));
    });
    measure("sign RS256 v1 access token (Value claims)", budget, || {
        black_box(signer.sign(&v1, black_box(&claims_value)).expect("sign"));
    });
    // What `sign` does besides the RSA operation, replicated: serialize
    // header and claims, base64url them, base64url a 256-byte signature.
    measure(
        "JSON + base64url work of one token (no RSA)",
        budget,
        || {
            use base64::Engine as _;
            let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let h = serde_json::to_vec(black_box(&v1)).expect("json");
            let c = serde_json::to_vec(black_box(&claims)).expect("json");
            let mut out = String::with_capacity(2048);
            engine.encode_string(&h, &mut out);
            out.push('.');
            engine.encode_string(&c, &mut out);
            out.push('.');
            engine.encode_string(black_box(&sig), &mut out);
            black_box(out);
        },
    );
    let ps = Header::new(Alg::PS256);
    measure("sign PS256 (struct claims)", budget, || {
        black_box(signer.sign(&ps, black_box(&claims)).expect("sign"));
    });

    let public = signer.public_key().clone();
    let assertion_claims = json!({
        "aud": format!("https://localhost:18443/{tid}/oauth2/v2.0/token"),
        "exp": 1_795_436_907, "iss": client, "sub": client, "nbf": 1_795_436_307,
        "jti": "0e81c131-0d71-437a-80d4-2836e04cc905", "iat": 1_795_436_306,
    });
    let rs_assertion = signer
        .sign(&Header::new(Alg::RS256), &assertion_claims)
        .expect("sign");
    let ps_assertion = signer.sign(&ps, &assertion_claims).expect("sign");
    let allowed = [Alg::RS256, Alg::PS256];
    measure("decode_unverified (client assertion)", budget, || {
        black_box(decode_unverified(black_box(&rs_assertion)).expect("decode"));
    });
    measure(
        "verify RS256 client assertion (parse+verify)",
        budget,
        || {
            black_box(verify(black_box(&rs_assertion), &public, &allowed).expect("verify"));
        },
    );
    measure(
        "verify PS256 client assertion (parse+verify)",
        budget,
        || {
            black_box(verify(black_box(&ps_assertion), &public, &allowed).expect("verify"));
        },
    );
    measure(
        "verify RS256 v1 access token (parse+verify)",
        budget,
        || {
            black_box(verify(black_box(&token), &public, &allowed).expect("verify"));
        },
    );

    // All cores signing with one shared signer.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = Instant::now();
    let total: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut count = 0u64;
                    while start.elapsed() < budget {
                        black_box(signer.sign(&v1, &claims).expect("sign"));
                        count += 1;
                    }
                    count
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).sum()
    });
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{:<48} {:>10.0} ops/s",
        format!("sign RS256 v1 access token, {threads} threads"),
        total as f64 / elapsed
    );
}
