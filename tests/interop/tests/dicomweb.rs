//! DICOMweb clients against Hale's DICOM service: dicomweb-client (the
//! ImagingDataCommons Python client) with pydicom, a token from MSAL Python by
//! client credentials for https://dicom.healthcareapis.azure.com, the app
//! holding "DICOM Data Owner" on the service, as the Azure tutorials set it up.
//!
//! The corpus is pydicom's bundled test files (explicit and implicit VR, RLE,
//! JPEG baseline, JPEG-LS, JPEG 2000, multi-frame) and a small generated one
//! (`hale-bench-dicom`: CT, MR, multi-frame secondary capture, JPEG cines).

use std::process::Command;

use common::{interop_dir, python};
use hale_bench_dicom::{Corpus, CorpusSpec};
use hale_testkit::{ADMIN_PASSWORD, TestServer};
use serde_json::{Value, json};

mod common;

const CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const ARM_SCOPE: &str = "https://management.azure.com//user_impersonation";
const DICOM_AUDIENCE: &str = "https://dicom.healthcareapis.azure.com";
const DICOM_DATA_OWNER: &str = "58a3b984-7adf-4c20-983a-32417c86fbc8";

async fn call(
    server: &TestServer,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let res = server
        .client()
        .request(method, url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn token(server: &TestServer, form: &[(&str, &str)]) -> String {
    let tenant = server.info().installation.tenant.id;
    let res = server
        .client()
        .post(server.url(&format!("/{tenant}/oauth2/v2.0/token")))
        .form(form)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {body}"))
        .to_owned()
}

/// A DICOM service, and a daemon app holding DICOM Data Owner on it.
struct Setup {
    server: TestServer,
    service_url: String,
    client_id: String,
    secret: String,
}

async fn setup() -> Setup {
    let server = TestServer::start().await;
    let info = server.info();
    let base = info.public_url.as_str().trim_end_matches('/').to_owned();
    let sub = info.installation.subscription_id.to_string();
    let arm = token(
        &server,
        &[
            ("grant_type", "password"),
            ("client_id", CLI),
            ("username", &info.installation.admin_user_principal_name),
            ("password", ADMIN_PASSWORD),
            ("scope", ARM_SCOPE),
        ],
    )
    .await;
    let ws = format!(
        "/subscriptions/{sub}/resourceGroups/hale-default/providers/Microsoft.HealthcareApis/workspaces/interop"
    );
    let service = format!("{ws}/dicomservices/dicom1");
    for path in [&ws, &service] {
        let (status, body) = call(
            &server,
            reqwest::Method::PUT,
            &format!("{base}{path}?api-version=2023-11-01"),
            &arm,
            json!({"location": "local"}),
        )
        .await;
        assert_eq!(status, 201, "PUT {path}: {body}");
    }

    let graph = server.admin_token("Application.ReadWrite.All").await;
    let (_, app) = call(
        &server,
        reqwest::Method::POST,
        &format!("{base}/v1.0/applications"),
        &graph,
        json!({"displayName": "Interop DICOMweb daemon"}),
    )
    .await;
    let client_id = app["appId"].as_str().unwrap().to_owned();
    let (_, secret) = call(
        &server,
        reqwest::Method::POST,
        &format!(
            "{base}/v1.0/applications/{}/addPassword",
            app["id"].as_str().unwrap()
        ),
        &graph,
        json!({}),
    )
    .await;
    let (_, sp) = call(
        &server,
        reqwest::Method::POST,
        &format!("{base}/v1.0/servicePrincipals"),
        &graph,
        json!({"appId": client_id}),
    )
    .await;
    let (status, body) = call(
        &server,
        reqwest::Method::PUT,
        &format!(
            "{base}{service}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
            uuid::Uuid::new_v4()
        ),
        &arm,
        json!({"properties": {
            "roleDefinitionId": format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{DICOM_DATA_OWNER}"),
            "principalId": sp["id"],
        }}),
    )
    .await;
    assert_eq!(status, 201, "role assignment: {body}");
    Setup {
        service_url: format!("{base}/dicom/interop/dicom1"),
        secret: secret["secretText"].as_str().unwrap().to_owned(),
        client_id,
        server,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dicomweb_client_and_pydicom_store_search_and_retrieve() {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let s = setup().await;
    let info = s.server.info();

    // A small generated corpus: 5 studies, CT/MR/SC/XA, four transfer syntaxes.
    let generated = tempfile::tempdir().unwrap();
    let corpus = Corpus::plan(CorpusSpec {
        rows: 64,
        columns: 64,
        frames: 3,
        ..CorpusSpec::new(2, 1 << 20)
    });
    for at in corpus.instances() {
        let instance = corpus.build(at);
        std::fs::write(
            generated
                .path()
                .join(format!("{}.dcm", instance.sop_instance_uid)),
            &instance.bytes,
        )
        .unwrap();
    }

    let bundle = info.ca_bundle.clone().unwrap();
    let mut command = Command::new(python);
    command
        .arg(interop_dir().join("python/dicomweb.py"))
        .env("REQUESTS_CA_BUNDLE", &bundle)
        .env("SSL_CERT_FILE", &bundle)
        .env(
            "HALE_AUTHORITY_HOST",
            info.public_url.as_str().trim_end_matches('/'),
        )
        .env("HALE_TENANT", info.installation.tenant.id.to_string())
        .env("HALE_CLIENT_ID", &s.client_id)
        .env("HALE_CLIENT_SECRET", &s.secret)
        .env("HALE_DICOM_URL", format!("{}/v2", s.service_url))
        .env("HALE_DICOM_SCOPE", format!("{DICOM_AUDIENCE}/.default"))
        .env("HALE_GENERATED_DIR", generated.path());
    let output = tokio::task::spawn_blocking(move || command.output().expect("python runs"))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the script failed:\n{stderr}");
    let out: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&output.stdout)));
    assert_eq!(out["fatal"], Value::Null, "{}", out["fatal"]);
    assert_eq!(out["token_error"], Value::Null, "{out}");
    assert_eq!(out["token_type"], "Bearer");
    assert_eq!(out["instances"], 8 + corpus.len());
    // The pydicom study and the generated ones.
    assert_eq!(out["studies"], 1 + corpus.studies.len());

    let checks = out["checks"].as_array().unwrap();
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c["ok"] != true)
        .map(|c| format!("{}: {}\n{}", c["name"], c["detail"], c["trace"]))
        .collect();
    assert!(failed.is_empty(), "failed checks:\n{}", failed.join("\n"));
    let names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
    for expected in [
        "stow pydicom test files",
        "stow duplicate is 409/45070",
        "qido studies",
        "qido series and instances",
        "wado instances byte for byte",
        "wado transcodes compressed instances",
        "wado transcodes to JPEG 2000 lossless",
        "wado study and series",
        "metadata",
        "frames",
        "rendered",
        "delete",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} did not run: {names:?}"
        );
    }
    let by_name = |n: &str| {
        checks
            .iter()
            .find(|c| c["name"] == n)
            .map(|c| c["detail"].clone())
            .unwrap()
    };
    assert_eq!(by_name("wado instances byte for byte"), 8 + corpus.len());
    assert_eq!(by_name("stow pydicom test files"), 8);
    assert_eq!(
        by_name("wado transcodes compressed instances")
            .as_array()
            .map(Vec::len),
        Some(6)
    );
    assert_eq!(
        by_name("wado transcodes to JPEG 2000 lossless")
            .as_array()
            .map(Vec::len),
        Some(5)
    );

    // What the clients stored, seen by a plain HTTP client: every study, and
    // every instance but the one deleted.
    let dicom_token = token(
        &s.server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &s.client_id),
            ("client_secret", &s.secret),
            ("scope", &format!("{DICOM_AUDIENCE}/.default")),
        ],
    )
    .await;
    let mut instances = 0;
    let mut offset = 0;
    loop {
        let res = s
            .server
            .client()
            .get(format!(
                "{}/v2/instances?limit=200&offset={offset}",
                s.service_url
            ))
            .bearer_auth(&dicom_token)
            .header("accept", "application/dicom+json")
            .send()
            .await
            .unwrap();
        if res.status() == 204 {
            break;
        }
        assert_eq!(res.status(), 200);
        let page: Vec<Value> = res.json().await.unwrap();
        instances += page.len();
        offset += page.len();
        if page.len() < 200 {
            break;
        }
    }
    assert_eq!(instances, 8 + corpus.len() - 1);
}
