//! Microsoft's client libraries (MSAL Python, azure-identity, MSAL Node,
//! @azure/identity) against a real Hale server, configured only with Hale's URLs
//! and CA, as CLIENTS.md says.
//!
//! The Python libraries live in a virtual environment made from
//! `requirements.txt` (or `HALE_INTEROP_PYTHON` names an interpreter that has
//! them); the Node ones in a folder installed from `node/package.json`. Both
//! are made under Cargo's target directory and reused while their pins match.

use std::path::PathBuf;
use std::process::Command;

use common::{interop_dir, python};
use hale_testkit::TestServer;
use serde_json::{Value, json};

mod common;

fn node_dir() -> PathBuf {
    common::node_dir(&["client_credentials.mjs", "user_flows.mjs"])
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

/// A server with a registered daemon app: client ID, secret, service principal.
struct Daemon {
    server: TestServer,
    client_id: String,
    secret: String,
}

impl Daemon {
    async fn register() -> Daemon {
        let server = TestServer::start().await;
        let admin = server.admin_token("Application.ReadWrite.All").await;
        let app = graph(
            &server,
            &admin,
            "/v1.0/applications",
            json!({"displayName": "Interop daemon"}),
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
        Daemon {
            server,
            client_id,
            secret,
        }
    }

    /// The environment the client scripts read.
    fn env(&self) -> Vec<(&'static str, String)> {
        let info = self.server.info();
        vec![
            (
                "HALE_AUTHORITY_HOST",
                info.public_url.as_str().trim_end_matches('/').to_owned(),
            ),
            ("HALE_TENANT", info.installation.tenant.id.to_string()),
            (
                "HALE_TENANT_DOMAIN",
                info.installation.tenant.domain.clone(),
            ),
            ("HALE_CLIENT_ID", self.client_id.clone()),
            ("HALE_CLIENT_SECRET", self.secret.clone()),
            ("HALE_SCOPE", SCOPE.to_owned()),
            (
                "HALE_CA",
                info.ca_cert.as_ref().unwrap().display().to_string(),
            ),
        ]
    }

    /// Runs `command` with the scripts' environment and parses its JSON output.
    async fn run(&self, mut command: Command) -> Value {
        for (name, value) in self.env() {
            command.env(name, value);
        }
        let output =
            tokio::task::spawn_blocking(move || command.output().expect("the client script runs"))
                .await
                .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "the client script failed:\n{stderr}"
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&output.stdout))
        })
    }

    /// Checks a token the way a resource server would, and that it names the app.
    async fn assert_app_token(&self, token: &str) {
        let claims = verify(&self.server, token).await;
        assert_eq!(claims["appid"], self.client_id.as_str());
        assert_eq!(claims["aud"], "https://graph.microsoft.com");
    }
}

const SCOPE: &str = "https://graph.microsoft.com/.default";

#[tokio::test(flavor = "multi_thread")]
async fn msal_python_and_azure_identity_get_app_tokens() {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let daemon = Daemon::register().await;
    let bundle = daemon.server.info().ca_bundle.clone().unwrap();
    let mut command = Command::new(python);
    command
        .arg(interop_dir().join("python/client_credentials.py"))
        // The trust setup CLIENTS.md prescribes: requests honours
        // REQUESTS_CA_BUNDLE over a session's `verify`.
        .env("REQUESTS_CA_BUNDLE", &bundle)
        .env("CURL_CA_BUNDLE", &bundle)
        .env("SSL_CERT_FILE", &bundle);
    let out = daemon.run(command).await;

    // MSAL Python: a token, cached for the second call.
    assert_eq!(out["msal"]["error"], Value::Null, "{out}");
    assert_eq!(out["msal"]["token_type"], "Bearer");
    assert_eq!(out["msal"]["expires_in"], 3599);
    assert_eq!(
        out["msal_second_same_token"], true,
        "served from MSAL's cache"
    );
    daemon
        .assert_app_token(out["msal"]["access_token"].as_str().unwrap())
        .await;
    assert_eq!(out["msal_by_domain"]["error"], Value::Null, "{out}");
    // A wrong secret: Entra's error, as MSAL reports it.
    assert_eq!(out["msal_wrong_secret"]["error"], "invalid_client");
    assert_eq!(out["msal_wrong_secret"]["error_codes"], json!([7000215]));

    // azure-identity.
    daemon
        .assert_app_token(
            out["azure_identity"]["access_token"]
                .as_str()
                .expect("azure-identity got a token"),
        )
        .await;
    let wrong = out["azure_identity_wrong_secret"].as_str().unwrap();
    assert!(wrong.contains("AADSTS7000215"), "{wrong}");
}

#[tokio::test(flavor = "multi_thread")]
async fn msal_node_and_azure_identity_for_node_get_app_tokens() {
    let dir = tokio::task::spawn_blocking(node_dir).await.unwrap();
    let daemon = Daemon::register().await;
    let mut command = Command::new("node");
    command
        .arg(dir.join("client_credentials.mjs"))
        .current_dir(&dir)
        .env(
            "NODE_EXTRA_CA_CERTS",
            daemon.server.info().ca_cert.as_ref().unwrap(),
        );
    let out = daemon.run(command).await;

    assert_eq!(out["msal"]["tokenType"], "Bearer", "{out}");
    assert_eq!(out["msal"]["fromCache"], false);
    assert_eq!(
        out["msal_second_from_cache"], true,
        "served from MSAL Node's cache"
    );
    daemon
        .assert_app_token(out["msal"]["accessToken"].as_str().unwrap())
        .await;
    assert_eq!(
        out["msal_wrong_secret"]["errorCode"], "invalid_client",
        "{out}"
    );
    assert!(
        out["msal_wrong_secret"]["message"]
            .as_str()
            .unwrap()
            .contains("AADSTS7000215"),
        "{out}"
    );

    daemon
        .assert_app_token(
            out["azure_identity"]["accessToken"]
                .as_str()
                .expect("@azure/identity got a token"),
        )
        .await;
    let wrong = out["azure_identity_wrong_secret"].as_str().unwrap();
    assert!(wrong.contains("AADSTS7000215"), "{wrong}");
}

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../crates/server/tests/fixtures"
);

#[tokio::test(flavor = "multi_thread")]
async fn msal_python_and_azure_identity_with_certificates_and_device_code() {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let daemon = Daemon::register().await;
    let server = &daemon.server;
    let cert_client = register_certificate_app(server).await;

    let scratch = tempfile::tempdir().unwrap();
    let bundle = server.info().ca_bundle.clone().unwrap();
    let mut command = Command::new(python);
    command
        .arg(interop_dir().join("python/certificate_and_user_flows.py"))
        .env("REQUESTS_CA_BUNDLE", &bundle)
        .env("CURL_CA_BUNDLE", &bundle)
        .env("SSL_CERT_FILE", &bundle)
        .env("HALE_CERT_CLIENT_ID", &cert_client)
        .env("HALE_CERT_PEM", format!("{FIXTURES}/client-cert.pem"))
        .env("HALE_KEY_PEM", format!("{FIXTURES}/client-key.pem"))
        .env(
            "HALE_KEY_AND_CERT_PEM",
            scratch.path().join("key-and-cert.pem"),
        )
        .env(
            "HALE_USERNAME",
            &server.info().installation.admin_user_principal_name,
        )
        .env("HALE_PASSWORD", hale_testkit::ADMIN_PASSWORD);
    let out = daemon.run(command).await;

    for case in [
        "msal_thumbprint",
        "msal_public_certificate",
        "azure_identity_certificate",
    ] {
        let token = out[case]["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{case}: {out}"));
        let claims = verify(server, token).await;
        assert_eq!(claims["appid"], cert_client.as_str(), "{case}");
        assert_eq!(
            claims["appidacr"], "2",
            "{case}: certificate authentication"
        );
    }
    assert_eq!(out["device_flow"]["error"], Value::Null, "{out}");
    assert_eq!(out["device_page"], true, "{out}");
    let token = out["device_token"]["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"));
    let claims = verify(server, token).await;
    assert_eq!(
        claims["upn"],
        server
            .info()
            .installation
            .admin_user_principal_name
            .as_str()
    );
    assert_eq!(claims["aud"], "https://management.azure.com/");
    assert!(out["device_token"]["refresh_token"].is_string(), "{out}");
    let home = out["accounts"][0]["home_account_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no cached account: {out}"));
    assert_eq!(
        home,
        format!(
            "{}.{}",
            claims["oid"].as_str().unwrap(),
            claims["tid"].as_str().unwrap()
        )
    );
    let refreshed = out["silent_refresh"]["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"));
    assert_ne!(refreshed, token, "a new token from the refresh token");
    verify(server, refreshed).await;
}

/// An app holding the test certificate (uploaded as the portal does), with
/// its service principal. Returns its client ID.
async fn register_certificate_app(server: &TestServer) -> String {
    let admin = server.admin_token("Application.ReadWrite.All").await;
    let app = graph(
        server,
        &admin,
        "/v1.0/applications",
        json!({"displayName": "Interop cert daemon"}),
    )
    .await;
    let cert_client = app["appId"].as_str().unwrap().to_owned();
    let cert_pem = std::fs::read_to_string(format!("{FIXTURES}/client-cert.pem")).unwrap();
    let res = server
        .client()
        .patch(server.url(&format!("/v1.0/applications/{}", app["id"].as_str().unwrap())))
        .bearer_auth(&admin)
        .json(&json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": base64_encode(cert_pem.as_bytes())}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    graph(
        server,
        &admin,
        "/v1.0/servicePrincipals",
        json!({"appId": cert_client}),
    )
    .await;
    cert_client
}

#[tokio::test(flavor = "multi_thread")]
async fn msal_node_and_azure_identity_with_certificates_and_device_code() {
    let dir = tokio::task::spawn_blocking(node_dir).await.unwrap();
    let daemon = Daemon::register().await;
    let server = &daemon.server;
    let cert_client = register_certificate_app(server).await;
    let scratch = tempfile::tempdir().unwrap();
    let mut command = Command::new("node");
    command
        .arg(dir.join("user_flows.mjs"))
        .current_dir(&dir)
        .env(
            "NODE_EXTRA_CA_CERTS",
            server.info().ca_cert.as_ref().unwrap(),
        )
        .env("HALE_CERT_CLIENT_ID", &cert_client)
        .env("HALE_CERT_PEM", format!("{FIXTURES}/client-cert.pem"))
        .env("HALE_KEY_PEM", format!("{FIXTURES}/client-key.pem"))
        .env(
            "HALE_KEY_AND_CERT_PEM",
            scratch.path().join("key-and-cert.pem"),
        )
        .env(
            "HALE_USERNAME",
            &server.info().installation.admin_user_principal_name,
        )
        .env("HALE_PASSWORD", hale_testkit::ADMIN_PASSWORD);
    let out = daemon.run(command).await;

    for case in ["msal_certificate", "azure_identity_certificate"] {
        let token = out[case]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("{case}: {out}"));
        let claims = verify(server, token).await;
        assert_eq!(claims["appid"], cert_client.as_str(), "{case}");
        assert_eq!(claims["appidacr"], "2", "{case}");
    }
    assert_eq!(out["device_page"], true, "{out}");
    let token = out["device_token"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"));
    let claims = verify(server, token).await;
    assert_eq!(claims["aud"], "https://management.azure.com/");
    assert_eq!(
        out["device_token"]["username"],
        server
            .info()
            .installation
            .admin_user_principal_name
            .as_str()
    );
    assert_eq!(
        out["device_token"]["homeAccountId"],
        format!(
            "{}.{}",
            claims["oid"].as_str().unwrap(),
            claims["tid"].as_str().unwrap()
        )
    );
    let refreshed = out["silent_refresh"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(out["silent_refresh"]["fromCache"], false);
    verify(server, refreshed).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn msal_python_auth_code_with_pkce_and_a_pyjwt_resource_server() {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let daemon = Daemon::register().await;
    let server = &daemon.server;
    let admin = server.admin_token("Application.ReadWrite.All").await;
    let api = graph(
        server,
        &admin,
        "/v1.0/applications",
        json!({"displayName": "Interop notes API", "identifierUris": ["api://interop-notes"], "api": {"requestedAccessTokenVersion": 2, "oauth2PermissionScopes": [
            {"id": "5b7c2f3e-8a4d-4c1e-9f60-1d2e3f4a5b6c", "value": "Notes.Read", "type": "User", "isEnabled": true}
        ]}}),
    )
    .await;
    let api_sp = graph(
        server,
        &admin,
        "/v1.0/servicePrincipals",
        json!({"appId": api["appId"]}),
    )
    .await;
    let api_secret = graph(
        server,
        &admin,
        &format!(
            "/v1.0/applications/{}/addPassword",
            api["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    // A downstream API the notes API calls on behalf of the user, with admin consent.
    let downstream = graph(
        server,
        &admin,
        "/v1.0/applications",
        json!({"displayName": "Interop downstream", "identifierUris": ["api://interop-downstream"], "api": {"oauth2PermissionScopes": [
            {"id": "6c8d3a4f-9b5e-4d2f-8a71-2e3f4a5b6c7d", "value": "Data.Read", "type": "User", "isEnabled": true}
        ]}}),
    )
    .await;
    let downstream_sp = graph(
        server,
        &admin,
        "/v1.0/servicePrincipals",
        json!({"appId": downstream["appId"]}),
    )
    .await;
    let consent_admin = server
        .admin_token("DelegatedPermissionGrant.ReadWrite.All")
        .await;
    graph(
        server,
        &consent_admin,
        "/v1.0/oauth2PermissionGrants",
        json!({"clientId": api_sp["id"], "consentType": "AllPrincipals", "resourceId": downstream_sp["id"], "scope": "Data.Read"}),
    )
    .await;
    let desktop = graph(
        server,
        &admin,
        "/v1.0/applications",
        json!({"displayName": "Interop desktop", "publicClient": {"redirectUris": ["http://localhost"]}}),
    )
    .await;
    graph(
        server,
        &admin,
        "/v1.0/servicePrincipals",
        json!({"appId": desktop["appId"]}),
    )
    .await;
    let bundle = server.info().ca_bundle.clone().unwrap();
    let mut command = Command::new(python);
    command
        .arg(interop_dir().join("python/auth_code_and_resource_server.py"))
        .env("REQUESTS_CA_BUNDLE", &bundle)
        .env("SSL_CERT_FILE", &bundle)
        .env("HALE_PUBLIC_CLIENT_ID", desktop["appId"].as_str().unwrap())
        .env("HALE_API_SCOPE", "api://interop-notes/Notes.Read")
        .env("HALE_API_AUDIENCE", api["appId"].as_str().unwrap())
        .env(
            "HALE_API_SECRET",
            api_secret["secretText"].as_str().unwrap(),
        )
        .env(
            "HALE_DOWNSTREAM_SCOPE",
            "api://interop-downstream/Data.Read",
        )
        .env(
            "HALE_USERNAME",
            &server.info().installation.admin_user_principal_name,
        )
        .env("HALE_PASSWORD", hale_testkit::ADMIN_PASSWORD);
    let out = daemon.run(command).await;

    assert_eq!(out["pkce_in_auth_uri"], true, "MSAL sends PKCE: {out}");
    assert_eq!(out["consent_page"], true, "{out}");
    assert_eq!(out["redirected_to"], "http://localhost:8765/", "{out}");
    assert_eq!(out["auth_code"]["error"], Value::Null, "{out}");
    assert!(out["auth_code"]["refresh_token"].is_string(), "{out}");
    assert_eq!(
        out["id_token_claims"]["preferred_username"],
        server
            .info()
            .installation
            .admin_user_principal_name
            .as_str()
    );
    assert_eq!(out["sso_status"], 302);
    assert_eq!(out["sso_has_code"], true, "{out}");
    assert_eq!(out["resource_server"]["ok"], true, "{out}");
    assert_eq!(out["resource_server"]["scp"], "Notes.Read");
    assert_eq!(out["resource_server_wrong_audience"], "rejected");
    assert_eq!(out["resource_server_tampered"], "rejected");
    // On-behalf-of, through MSAL Python's confidential client.
    let obo = out["obo"]["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"));
    let claims = verify(server, obo).await;
    assert_eq!(claims["aud"], "api://interop-downstream");
    assert_eq!(claims["appid"], api["appId"]);
    assert_eq!(claims["scp"], "Data.Read");
    assert_eq!(
        claims["upn"],
        server
            .info()
            .installation
            .admin_user_principal_name
            .as_str()
    );
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
