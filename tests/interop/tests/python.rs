//! Microsoft's Python client libraries (MSAL Python, azure-identity) against a
//! real Hale server, configured only with Hale's URLs and CA, as CLIENTS.md says.
//!
//! The libraries live in a virtual environment made from `requirements.txt`:
//! `HALE_INTEROP_PYTHON` names its interpreter (scripts/test sets it); without it
//! the test makes the environment itself under Cargo's target directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use hale_testkit::TestServer;
use serde_json::{Value, json};

const REQUIREMENTS: &str = include_str!("../requirements.txt");

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The interpreter of a virtual environment holding the pinned libraries.
fn python() -> PathBuf {
    if let Ok(python) = std::env::var("HALE_INTEROP_PYTHON") {
        return python.into();
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-venv");
    let python = venv.join("bin/python");
    let marker = venv.join("requirements.installed");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(REQUIREMENTS) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs");
        assert!(made.success(), "python3 -m venv failed");
        let installed = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(interop_dir().join("requirements.txt"))
            .status()
            .expect("pip runs");
        assert!(
            installed.success(),
            "pip install -r requirements.txt failed"
        );
        std::fs::write(&marker, REQUIREMENTS).unwrap();
    }
    python
}

async fn graph(server: &TestServer, token: &str, path: &str, body: Value) -> Value {
    let res = server
        .client()
        .post(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap()
}

async fn verify(server: &TestServer, token: &str) -> Value {
    let tid = server.info().installation.tenant.id;
    let jwks: Value = server
        .client()
        .get(server.url(&format!("/{tid}/discovery/v2.0/keys")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys: Vec<hale_jws::Jwk> = serde_json::from_value(jwks["keys"].clone()).unwrap();
    let (header, _) = hale_jws::decode_unverified(token).expect("a JWT");
    let key = keys
        .iter()
        .find(|k| k.kid == header.kid)
        .expect("a published key");
    hale_jws::verify(token, &key.public_key().unwrap(), &[hale_jws::Alg::RS256])
        .expect("a valid signature")
}

#[tokio::test(flavor = "multi_thread")]
async fn msal_python_and_azure_identity_get_app_tokens() {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let server = TestServer::start().await;
    let admin = server.admin_token("Application.ReadWrite.All").await;
    let app = graph(
        &server,
        &admin,
        "/v1.0/applications",
        json!({"displayName": "Python daemon"}),
    )
    .await;
    let client_id = app["appId"].as_str().unwrap().to_owned();
    let secret = graph(
        &server,
        &admin,
        &format!(
            "/v1.0/applications/{}/addPassword",
            app["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    let secret = secret["secretText"].as_str().unwrap().to_owned();
    graph(
        &server,
        &admin,
        "/v1.0/servicePrincipals",
        json!({"appId": client_id}),
    )
    .await;

    let info = server.info();
    let bundle = info.ca_bundle.clone().unwrap();
    let ca = info.ca_cert.clone().unwrap();
    let host = info.public_url.as_str().trim_end_matches('/').to_owned();
    let tenant = info.installation.tenant.id.to_string();
    let domain = info.installation.tenant.domain.clone();
    let script = interop_dir().join("python/client_credentials.py");
    let scope = "https://graph.microsoft.com/.default";
    let output = tokio::task::spawn_blocking({
        let client_id = client_id.clone();
        move || {
            Command::new(python)
                .arg(script)
                // The trust setup CLIENTS.md prescribes: requests honours
                // REQUESTS_CA_BUNDLE over a session's `verify`.
                .env("REQUESTS_CA_BUNDLE", &bundle)
                .env("CURL_CA_BUNDLE", &bundle)
                .env("SSL_CERT_FILE", &bundle)
                .env("HALE_AUTHORITY_HOST", &host)
                .env("HALE_TENANT", &tenant)
                .env("HALE_TENANT_DOMAIN", &domain)
                .env("HALE_CLIENT_ID", &client_id)
                .env("HALE_CLIENT_SECRET", &secret)
                .env("HALE_SCOPE", scope)
                .env("HALE_CA", &ca)
                .output()
                .expect("the script runs")
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the script failed:\n{stderr}");
    let out: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&output.stdout)));

    // MSAL Python: a token, cached for the second call.
    assert_eq!(out["msal"]["error"], Value::Null, "{out}");
    assert_eq!(out["msal"]["token_type"], "Bearer");
    assert_eq!(out["msal"]["expires_in"], 3599);
    assert_eq!(
        out["msal_second_same_token"], true,
        "served from MSAL's cache"
    );
    let claims = verify(&server, out["msal"]["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["appid"], client_id.as_str());
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(out["msal_by_domain"]["error"], Value::Null, "{out}");
    // A wrong secret: Entra's error, as MSAL reports it.
    assert_eq!(out["msal_wrong_secret"]["error"], "invalid_client");
    assert_eq!(out["msal_wrong_secret"]["error_codes"], json!([7000215]));

    // azure-identity.
    let token = out["azure_identity"]["access_token"]
        .as_str()
        .expect("azure-identity got a token");
    let claims = verify(&server, token).await;
    assert_eq!(claims["appid"], client_id.as_str());
    let wrong = out["azure_identity_wrong_secret"].as_str().unwrap();
    assert!(wrong.contains("AADSTS7000215"), "{wrong}");
}
