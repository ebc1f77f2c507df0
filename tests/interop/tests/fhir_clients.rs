//! FHIR client libraries against Hale's FHIR service: the SMART on FHIR Python
//! client (`fhirclient`) and `fhir-kit-client` for Node, each with a token
//! from azure-identity for the service URL, as a developer points them at an
//! Azure Health Data Services FHIR service. Each creates and reads a Patient,
//! searches for it, posts a generated Synthea-shaped transaction bundle,
//! pages through the new patient's Observations by `next` links, runs a
//! token search, and meets a 404 and a 401 as OperationOutcomes.
//!
//! The set-up goes through Hale's own APIs, as a tenant administrator would:
//! a workspace and a FHIR service through ARM, an application with a secret
//! and its service principal through Graph, and "FHIR Data Contributor" for
//! it on the service.

use std::path::PathBuf;
use std::process::Command;

use common::{interop_dir, python};
use hale_bench_fhir::generate;
use hale_testkit::{ADMIN_PASSWORD, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

mod common;

const CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const FHIR_DATA_CONTRIBUTOR: &str = "5a1fc7df-4bf1-4951-a576-89034ee01acd";

fn node_dir() -> PathBuf {
    common::node_dir(&["fhir_client.mjs"])
}

/// A server with a FHIR service and an application allowed to use it.
struct Fhir {
    server: TestServer,
    fhir_url: String,
    /// The service's ARM resource ID, and the administrator's ARM and Graph tokens.
    service: String,
    arm: String,
    graph: String,
    client_id: String,
    secret: String,
    /// A generated transaction bundle (one patient), as a file.
    bundle: tempfile::NamedTempFile,
    bundle_value: Value,
}

async fn call(server: &TestServer, token: &str, method: Method, path: &str, body: Value) -> Value {
    let res = server
        .client()
        .request(method.clone(), server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

impl Fhir {
    async fn start(patient: usize) -> Fhir {
        let server = TestServer::start().await;
        let tenant = server.info().installation.tenant.id.to_string();
        let sub = server.info().installation.subscription_id.to_string();
        let graph = server
            .admin_token(
                "Application.ReadWrite.All Directory.ReadWrite.All User.ReadWrite.All DelegatedPermissionGrant.ReadWrite.All Policy.ReadWrite.ApplicationConfiguration",
            )
            .await;
        let arm: Value = server
            .client()
            .post(server.url(&format!("/{tenant}/oauth2/v2.0/token")))
            .form(&[
                ("grant_type", "password"),
                ("client_id", CLI),
                ("username", "admin@hale.local"),
                ("password", ADMIN_PASSWORD),
                ("scope", "https://management.azure.com//user_impersonation"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let arm = arm["access_token"]
            .as_str()
            .expect("an ARM token")
            .to_owned();

        let ws = format!(
            "/subscriptions/{sub}/resourceGroups/hale-default/providers/Microsoft.HealthcareApis/workspaces/interop"
        );
        let svc = format!("{ws}/fhirservices/fhir1");
        call(
            &server,
            &arm,
            Method::PUT,
            &format!("{ws}?api-version=2023-11-01"),
            json!({"location": "local"}),
        )
        .await;
        let service = call(
            &server,
            &arm,
            Method::PUT,
            &format!("{svc}?api-version=2023-11-01"),
            json!({"location": "local"}),
        )
        .await;
        let fhir_url = service["properties"]["authenticationConfiguration"]["audience"]
            .as_str()
            .expect("the service's audience")
            .to_owned();

        let app = call(
            &server,
            &graph,
            Method::POST,
            "/v1.0/applications",
            json!({"displayName": "Interop FHIR client"}),
        )
        .await;
        let client_id = app["appId"].as_str().unwrap().to_owned();
        let secret = call(
            &server,
            &graph,
            Method::POST,
            &format!(
                "/v1.0/applications/{}/addPassword",
                app["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await["secretText"]
            .as_str()
            .unwrap()
            .to_owned();
        let sp = call(
            &server,
            &graph,
            Method::POST,
            "/v1.0/servicePrincipals",
            json!({"appId": client_id}),
        )
        .await;
        call(
            &server,
            &arm,
            Method::PUT,
            &format!(
                "{svc}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
                uuid_like(patient)
            ),
            json!({"properties": {
                "roleDefinitionId": format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{FHIR_DATA_CONTRIBUTOR}"),
                "principalId": sp["id"],
            }}),
        )
        .await;

        let bundle_value = generate::patient_bundle(2024, patient);
        let bundle = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(bundle.path(), generate::to_json_bytes(&bundle_value)).unwrap();
        Fhir {
            server,
            fhir_url,
            service: svc,
            arm,
            graph,
            client_id,
            secret,
            bundle,
            bundle_value,
        }
    }

    fn env(&self, family: &str) -> Vec<(&'static str, String)> {
        let info = self.server.info();
        vec![
            (
                "HALE_AUTHORITY_HOST",
                info.public_url.as_str().trim_end_matches('/').to_owned(),
            ),
            ("HALE_TENANT", info.installation.tenant.id.to_string()),
            ("HALE_CLIENT_ID", self.client_id.clone()),
            ("HALE_CLIENT_SECRET", self.secret.clone()),
            (
                "HALE_CA",
                info.ca_cert.as_ref().unwrap().display().to_string(),
            ),
            ("HALE_FHIR_URL", self.fhir_url.clone()),
            ("HALE_FAMILY", family.to_owned()),
            ("HALE_BUNDLE", self.bundle.path().display().to_string()),
        ]
    }

    async fn run(&self, mut command: Command, family: &str) -> Value {
        for (name, value) in self.env(family) {
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

    /// The number of the bundle's Observations, and of those with a LOINC code.
    fn observations(&self, loinc: Option<&str>) -> usize {
        self.bundle_value["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["resource"])
            .filter(|r| r["resourceType"] == "Observation")
            .filter(|r| loinc.is_none_or(|code| r["code"]["coding"][0]["code"] == code))
            .count()
    }

    /// What a script reported, checked against the data and, through the
    /// FHIR API with the script's own token, against what Hale stored.
    async fn check(&self, out: &Value, family: &str) {
        // The token: for the FHIR service's URL, for this application.
        let token = out["token"].as_str().unwrap_or_else(|| panic!("{out}"));
        let (_, claims) = hale_jws::decode_unverified(token).expect("a JWT");
        assert_eq!(claims["aud"], self.fhir_url.as_str(), "{claims}");
        assert_eq!(claims["appid"], self.client_id.as_str());

        assert_eq!(out["capability"]["fhirVersion"], "4.0.1", "{out}");
        let id = out["created"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{out}"));
        assert_eq!(out["created"]["resourceType"], "Patient");
        assert_eq!(out["read"]["id"], id);
        assert_eq!(out["read"]["family"], family);
        assert_eq!(out["read"]["versionId"], "1");
        assert_eq!(out["search_family"], json!([id]), "{out}");

        let entries = self.bundle_value["entry"].as_array().unwrap().len();
        assert_eq!(out["transaction"]["type"], "transaction-response", "{out}");
        assert_eq!(out["transaction"]["entries"], entries);
        assert_eq!(out["transaction"]["statuses"], json!(["201"]), "{out}");
        let observations = self.observations(None);
        assert!(observations > 10, "the bundle has more than one page");
        assert_eq!(out["paged"]["ids"], observations, "{out}");
        assert_eq!(out["paged"]["distinct"], observations, "{out}");
        assert_eq!(out["paged"]["pages"], observations.div_ceil(10), "{out}");
        assert_eq!(
            out["heart_rate"]["count"],
            self.observations(Some(generate::HEART_RATE)),
            "{out}"
        );
        assert_eq!(out["heart_rate"]["all_heart_rate"], true);

        assert_eq!(out["missing"]["status"], 404, "{out}");
        assert_eq!(out["missing"]["resourceType"], "OperationOutcome");
        assert_eq!(out["no_token"]["status"], 401, "{out}");
        assert_eq!(out["no_token"]["resourceType"], "OperationOutcome");

        // What the script created is in Hale, read with the script's token.
        let res = self
            .server
            .client()
            .get(format!("{}/Patient/{id}", self.fhir_url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let patient: Value = res.json().await.unwrap();
        assert_eq!(patient["name"][0]["family"], family);
        let bundle_patient = out["transaction"]["patient_id"].as_str().unwrap();
        let res = self
            .server
            .client()
            .get(format!("{}/Patient/{bundle_patient}", self.fhir_url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let stored: Value = res.json().await.unwrap();
        assert_eq!(
            generate::generated_uuid(&stored),
            generate::generated_uuid(&self.bundle_value["entry"][0]["resource"]),
            "the bundle's patient"
        );
    }
}

/// A fixed role assignment name per test.
fn uuid_like(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

#[tokio::test(flavor = "multi_thread")]
async fn python_fhirclient_creates_reads_posts_a_bundle_searches_and_pages() {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let fhir = Fhir::start(3).await;
    let bundle = fhir.server.info().ca_bundle.clone().unwrap();
    let mut command = Command::new(python);
    command
        .arg(interop_dir().join("python/fhir_client.py"))
        // The trust setup CLIENTS.md prescribes for requests-based clients.
        .env("REQUESTS_CA_BUNDLE", &bundle)
        .env("CURL_CA_BUNDLE", &bundle)
        .env("SSL_CERT_FILE", &bundle);
    let family = "Interopython";
    let out = fhir.run(command, family).await;
    fhir.check(&out, family).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn node_fhir_kit_client_creates_reads_posts_a_bundle_searches_and_pages() {
    let dir = tokio::task::spawn_blocking(node_dir).await.unwrap();
    let fhir = Fhir::start(4).await;
    let mut command = Command::new("node");
    command
        .arg(dir.join("fhir_client.mjs"))
        .current_dir(&dir)
        .env(
            "NODE_EXTRA_CA_CERTS",
            fhir.server.info().ca_cert.as_ref().unwrap(),
        );
    let family = "Interopnode";
    let out = fhir.run(command, family).await;
    fhir.check(&out, family).await;
}

/// SMART on FHIR with Hale as the identity provider, through MSAL Python and
/// fhirclient: a patient whose `fhirUser` a claims-mapping policy takes from
/// her directory attribute signs in by the authorization code flow for an
/// API's `patient.all.read`, and reads her own record and nobody else's from
/// the FHIR service that names the tenant as its SMART identity provider.
#[tokio::test(flavor = "multi_thread")]
async fn python_msal_and_fhirclient_read_a_patients_own_record_with_smart_scopes() {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let fhir = Fhir::start(5).await;
    let server = &fhir.server;
    let (graph, arm) = (&fhir.graph, &fhir.arm);
    let tenant = server.info().installation.tenant.id.to_string();
    let host = server
        .info()
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();

    // Two patients and an observation each, written by the contributor app.
    let writer: Value = server
        .client()
        .post(server.url(&format!("/{tenant}/oauth2/v2.0/token")))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", fhir.client_id.as_str()),
            ("client_secret", fhir.secret.as_str()),
            ("scope", &format!("{}/.default", fhir.fhir_url)),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let writer = writer["access_token"].as_str().unwrap();
    for (path, body) in [
        (
            "Patient/alice",
            json!({"resourceType": "Patient", "id": "alice"}),
        ),
        (
            "Patient/bob",
            json!({"resourceType": "Patient", "id": "bob"}),
        ),
        (
            "Observation/alice-1",
            json!({"resourceType": "Observation", "id": "alice-1", "status": "final",
            "code": {"text": "pulse"}, "subject": {"reference": "Patient/alice"}}),
        ),
        (
            "Observation/bob-1",
            json!({"resourceType": "Observation", "id": "bob-1", "status": "final",
            "code": {"text": "pulse"}, "subject": {"reference": "Patient/bob"}}),
        ),
    ] {
        let res = server
            .client()
            .put(format!("{}/{path}", fhir.fhir_url))
            .bearer_auth(writer)
            .header("content-type", "application/fhir+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{path}");
    }

    // The patient, her fhirUser in extensionAttribute1.
    let password = "Interop-Smart-Pass-7";
    let user = call(
        server,
        graph,
        Method::POST,
        "/v1.0/users",
        json!({
            "accountEnabled": true, "displayName": "Alice", "mailNickname": "alice",
            "userPrincipalName": "alice@hale.local",
            "passwordProfile": {"password": password, "forceChangePasswordNextSignIn": false},
        }),
    )
    .await;
    call(server, graph, Method::PATCH, &format!("/v1.0/users/{}", user["id"].as_str().unwrap()),
        json!({"onPremisesExtensionAttributes": {"extensionAttribute1": format!("{}/Patient/alice", fhir.fhir_url)}}))
    .await;

    // The API with the SMART scope, its mapped fhirUser claim, and the app.
    // It takes v2 tokens: their issuer is the tenant's v2 authority, and their
    // audience the API's client ID.
    let identifier = "api://interop-smart";
    let api = call(server, graph, Method::POST, "/v1.0/applications", json!({
        "displayName": "Interop SMART API", "identifierUris": [identifier],
        "api": {"acceptMappedClaims": true, "requestedAccessTokenVersion": 2, "oauth2PermissionScopes": [{"id": uuid::Uuid::new_v4(),
            "value": "patient.all.read", "type": "User", "isEnabled": true,
            "adminConsentDisplayName": "Read your record", "adminConsentDescription": "Read your record",
            "userConsentDisplayName": "Read your record", "userConsentDescription": "Read your record"}]},
    }))
    .await;
    let audience = api["appId"].as_str().unwrap().to_owned();
    let api_sp = call(
        server,
        graph,
        Method::POST,
        "/v1.0/servicePrincipals",
        json!({"appId": audience}),
    )
    .await;
    let definition = json!({"ClaimsMappingPolicy": {"Version": 1, "IncludeBasicClaimSet": "true",
        "ClaimsSchema": [{"Source": "user", "ID": "extensionattribute1", "JwtClaimType": "fhirUser"}]}});
    let policy = call(
        server,
        graph,
        Method::POST,
        "/v1.0/policies/claimsMappingPolicies",
        json!({"definition": [definition.to_string()], "displayName": "fhirUser"}),
    )
    .await;
    call(server, graph, Method::POST,
        &format!("/v1.0/servicePrincipals/{}/claimsMappingPolicies/$ref", api_sp["id"].as_str().unwrap()),
        json!({"@odata.id": format!("{host}/v1.0/policies/claimsMappingPolicies/{}", policy["id"].as_str().unwrap())}))
    .await;
    let app = call(
        server,
        graph,
        Method::POST,
        "/v1.0/applications",
        json!({
            "displayName": "Interop patient portal", "isFallbackPublicClient": true,
            "publicClient": {"redirectUris": ["http://localhost:8765/"]},
        }),
    )
    .await;
    let app_id = app["appId"].as_str().unwrap().to_owned();
    let app_sp = call(
        server,
        graph,
        Method::POST,
        "/v1.0/servicePrincipals",
        json!({"appId": app_id}),
    )
    .await;
    call(server, graph, Method::POST, "/v1.0/oauth2PermissionGrants", json!({
        "clientId": app_sp["id"], "consentType": "AllPrincipals", "resourceId": api_sp["id"], "scope": "patient.all.read",
    }))
    .await;

    // The FHIR service takes the tenant's tokens for the API from the app.
    call(server, arm, Method::PATCH, &format!("{}?api-version=2023-12-01", fhir.service), json!({
        "properties": {"authenticationConfiguration": {"smartIdentityProviders": [{
            "authority": format!("{host}/{tenant}/v2.0"),
            "applications": [{"clientId": app_id, "audience": audience, "allowedDataActions": ["Read"]}],
        }]}},
    }))
    .await;

    let bundle = server.info().ca_bundle.clone().unwrap();
    let mut command = Command::new(python);
    command
        .arg(interop_dir().join("python/smart_patient.py"))
        .env("REQUESTS_CA_BUNDLE", &bundle)
        .env("HALE_AUTHORITY_HOST", &host)
        .env("HALE_TENANT", &tenant)
        .env("HALE_CA", &bundle)
        .env("HALE_PUBLIC_CLIENT_ID", &app_id)
        .env("HALE_API_SCOPE", format!("{identifier}/patient.all.read"))
        .env("HALE_USERNAME", "alice@hale.local")
        .env("HALE_PASSWORD", password)
        .env("HALE_FHIR_URL", &fhir.fhir_url)
        .env("HALE_OWN_PATIENT", "alice")
        .env("HALE_OTHER_PATIENT", "bob");
    let output = tokio::task::spawn_blocking(move || command.output().expect("the script runs"))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the client script failed:\n{stderr}"
    );
    let out: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&output.stdout)));

    let token = out["token"].as_str().unwrap_or_else(|| panic!("{out}"));
    let (_, claims) = hale_jws::decode_unverified(token).expect("a JWT");
    assert_eq!(claims["aud"], audience.as_str(), "{claims}");
    assert_eq!(claims["azp"], app_id.as_str(), "{claims}");
    assert_eq!(claims["scp"], "patient.all.read", "{claims}");
    assert_eq!(
        claims["fhirUser"],
        format!("{}/Patient/alice", fhir.fhir_url),
        "{claims}"
    );
    assert_eq!(out["own_patient"], "alice", "{out}");
    assert_eq!(
        out["observation_subjects"],
        json!(["Patient/alice"]),
        "{out}"
    );
    assert_eq!(out["other_patient_status"], 404, "{out}");
}
