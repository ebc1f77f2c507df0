//! Data-plane authorization over HTTP: the seeds' last step end to end, the
//! matrix of every built-in role × data action × assignment scope (and via
//! groups), every token fault, and role changes counting from the next
//! request, on one server and across two replicas sharing a database.

mod common;

use base64::Engine;
use common::health::*;
use hale_testkit::TestServer;
use reqwest::Method;
use serde_json::{Value, json};

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// An authorized FHIR search of an empty service.
const AUTHORIZED: u16 = 200;

/// Whether a reply got past authorization (whatever the service then said).
fn got_past_authorization(status: u16) -> bool {
    status != 401 && status != 403
}

async fn sign(h: &Health, claims: Value) -> String {
    h.server.sign(&claims).await
}

fn assert_outcome(reply: &Reply, status: u16, code: &str, diagnostics: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(
        reply.body["resourceType"], "OperationOutcome",
        "{}",
        reply.body
    );
    assert_eq!(reply.body["issue"][0]["code"], code, "{}", reply.body);
    let text = reply.body["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains(diagnostics), "{text:?} lacks {diagnostics:?}");
    assert!(
        reply
            .header("content-type")
            .starts_with("application/fhir+json")
    );
    assert!(
        !reply.body["id"].as_str().unwrap_or_default().is_empty(),
        "id = request ID"
    );
}

/// The seeds' last step: register an app and a secret, create a workspace and
/// a FHIR service, get a token for the service URL (v1 `resource=` and v2
/// `/.default`), see 403, assign "FHIR Data Contributor", see the request
/// authorized, and see it refused again once the assignment goes.
#[tokio::test]
async fn the_seeds_last_step_end_to_end() {
    let h = Health::start().await;
    let app = h.register_app("my-fhir-client").await;

    // "Azure Healthcare APIs" is not in the tenant until a FHIR service exists.
    let healthcare = "servicePrincipals(appId='4f6778d8-5aef-43dc-a1ff-b073724b9495')";
    let before = h
        .server
        .client()
        .get(h.server.url(&format!("/v1.0/{healthcare}")))
        .bearer_auth(&h.graph)
        .send()
        .await
        .unwrap();
    assert_eq!(before.status(), 404);
    let url = h.service_url("fhir", "seeds", "fhir1");
    let (status, body) = h
        .form(
            &format!("/{}/oauth2/token", h.tenant),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &app.client_id),
                ("client_secret", &app.secret),
                ("resource", &url),
            ],
        )
        .await;
    assert_eq!(
        status, 400,
        "no token for a FHIR service that does not exist: {body}"
    );
    assert_eq!(body["error"], "invalid_resource");

    h.create_workspace("seeds").await;
    let fhir = h.create_fhir("seeds", "fhir1").await;
    assert_eq!(
        fhir["properties"]["authenticationConfiguration"]["audience"],
        url
    );
    assert_eq!(
        fhir["properties"]["authenticationConfiguration"]["authority"],
        format!("{}{}", h.server.info().public_url, h.tenant)
    );
    let sp = h
        .graph(Method::GET, &format!("/v1.0/{healthcare}"), json!(null))
        .await;
    assert_eq!(sp["displayName"], "Azure Healthcare APIs");

    let v1 = h.token_v1(&app, &url).await;
    let v2 = h.token_v2(&app, &url).await;
    for (token, iss) in [
        (&v1, format!("{}{}/", h.server.info().public_url, h.tenant)),
        (&v2, format!("{}{}/", h.server.info().public_url, h.tenant)),
    ] {
        let claims = claims_of(token);
        assert_eq!(claims["aud"], url, "{claims}");
        assert_eq!(claims["ver"], "1.0", "the FHIR service gets v1 tokens");
        assert_eq!(claims["iss"], iss);
        assert_eq!(claims["oid"], app.principal_id);
        assert!(claims.get("roles").is_none(), "no app roles: RBAC decides");
    }

    let patients = format!("{url}/Patient");
    for token in [&v1, &v2] {
        let denied = h.data(Method::GET, &patients, Some(token)).await;
        assert_outcome(&denied, 403, "forbidden", "Authorization failed.");
    }
    let metadata = h.data(Method::GET, &format!("{url}/metadata"), None).await;
    assert_eq!(metadata.status, 200);
    assert_eq!(metadata.body["resourceType"], "CapabilityStatement");
    assert_eq!(metadata.body["fhirVersion"], "4.0.1");

    let assignment = h
        .assign(
            &h.fhir_id("seeds", "fhir1"),
            FHIR_DATA_CONTRIBUTOR,
            &app.principal_id,
        )
        .await;
    // The very next request is authorized: no propagation delay.
    for token in [&v1, &v2] {
        let allowed = h.data(Method::GET, &patients, Some(token)).await;
        assert_eq!(allowed.status, AUTHORIZED, "{}", allowed.body);
        assert_eq!(allowed.body["resourceType"], "Bundle");
        assert_eq!(allowed.body["type"], "searchset");
        assert!(allowed.header("server-timing").contains("authz;dur="));
    }
    h.unassign(&h.fhir_id("seeds", "fhir1"), &assignment).await;
    let denied = h.data(Method::GET, &patients, Some(&v1)).await;
    assert_eq!(denied.status, 403);

    // Deleting the service stops its data plane; a new service under the
    // same name inherits none of the old one's assignments.
    h.assign(
        &h.fhir_id("seeds", "fhir1"),
        FHIR_DATA_READER,
        &app.principal_id,
    )
    .await;
    let (status, _) = h
        .arm(Method::DELETE, &h.fhir_id("seeds", "fhir1"), None)
        .await;
    assert_eq!(status, 200);
    let gone = h.data(Method::GET, &patients, Some(&v1)).await;
    assert_outcome(&gone, 404, "not-found", "/fhir/seeds/fhir1");
    let gone = h.data(Method::GET, &format!("{url}/metadata"), None).await;
    assert_eq!(gone.status, 404);
    h.create_fhir("seeds", "fhir1").await;
    let fresh = h.data(Method::GET, &patients, Some(&v1)).await;
    assert_eq!(fresh.status, 403, "{}", fresh.body);
}

/// A request per FHIR data action (none asks for `smart` alone: it is what
/// the SMART on FHIR rules key on).
fn fhir_requests() -> Vec<(&'static str, Method, &'static str)> {
    vec![
        ("read", Method::GET, "Patient"),
        ("write", Method::POST, "Patient"),
        ("delete", Method::DELETE, "Patient/1"),
        ("hardDelete", Method::DELETE, "Patient/1?hardDelete=true"),
        ("export", Method::GET, "$export"),
        ("import", Method::POST, "$import"),
        ("resourceValidate", Method::POST, "Patient/$validate"),
        ("reindex", Method::POST, "$reindex"),
        ("convertData", Method::POST, "$convert-data"),
        (
            "editProfileDefinitions",
            Method::PUT,
            "StructureDefinition/x",
        ),
        ("searchParameter", Method::POST, "SearchParameter"),
    ]
}

/// DICOM requests and what an authorized one is answered on an empty
/// service: no studies (204), no content type (415), no such study (404).
fn dicom_requests() -> Vec<(&'static str, Method, &'static str, u16)> {
    vec![
        ("read", Method::GET, "v2/studies", 204),
        ("write", Method::POST, "v2/studies", 415),
        ("delete", Method::DELETE, "v2/studies/1.2.3", 404),
    ]
}

/// What each built-in role grants, as Azure documents it.
fn fhir_grants(role: &str) -> &'static [&'static str] {
    const ALL_BUT_SMART: &[&str] = &[
        "read",
        "write",
        "delete",
        "hardDelete",
        "export",
        "import",
        "resourceValidate",
        "reindex",
        "convertData",
        "editProfileDefinitions",
        "searchParameter",
    ];
    match role {
        FHIR_DATA_READER => &["read"],
        FHIR_DATA_WRITER => &[
            "read",
            "write",
            "delete",
            "export",
            "import",
            "resourceValidate",
            "reindex",
            "convertData",
            "editProfileDefinitions",
        ],
        FHIR_DATA_CONTRIBUTOR => ALL_BUT_SMART,
        FHIR_DATA_EXPORTER => &["read", "export"],
        FHIR_DATA_IMPORTER => &["read", "import"],
        FHIR_DATA_CONVERTER => &["convertData"],
        // The role alone grants nothing: SMART scopes decide
        // (`smart_scopes_narrow_a_fhir_smart_user`).
        FHIR_SMART_USER => &[],
        _ => &[],
    }
}

fn dicom_grants(role: &str) -> &'static [&'static str] {
    match role {
        DICOM_DATA_OWNER => &["read", "write", "delete"],
        DICOM_DATA_READER => &["read"],
        _ => &[],
    }
}

const ALL_ROLES: &[(&str, &str)] = &[
    ("FHIR Data Reader", FHIR_DATA_READER),
    ("FHIR Data Writer", FHIR_DATA_WRITER),
    ("FHIR Data Contributor", FHIR_DATA_CONTRIBUTOR),
    ("FHIR Data Exporter", FHIR_DATA_EXPORTER),
    ("FHIR Data Importer", FHIR_DATA_IMPORTER),
    ("FHIR Data Converter", FHIR_DATA_CONVERTER),
    ("FHIR SMART User", FHIR_SMART_USER),
    ("DICOM Data Owner", DICOM_DATA_OWNER),
    ("DICOM Data Reader", DICOM_DATA_READER),
    ("Owner", OWNER),
    ("Contributor", CONTRIBUTOR),
    ("Reader", READER),
    ("User Access Administrator", USER_ACCESS_ADMINISTRATOR),
];

/// Every built-in role × every data action × every assignment scope (service,
/// workspace, resource group, subscription, and the service through a nested
/// group), each cell asserted on both services; and assignments elsewhere (a
/// sibling service, the other kind of service) granting nothing.
#[tokio::test]
async fn every_role_by_every_action_by_every_scope() {
    let h = Health::start().await;
    h.create_workspace("matrix").await;
    h.create_fhir("matrix", "fhir1").await;
    h.create_fhir("matrix", "fhir2").await;
    h.create_dicom("matrix", "dcm1").await;
    let app = h.register_app("matrix-client").await;
    // app ∈ inner ∈ outer: a grant to `outer` reaches the app.
    let inner = h.create_group("matrix-inner").await;
    let outer = h.create_group("matrix-outer").await;
    h.add_member(&inner, &app.principal_id).await;
    h.add_member(&outer, &inner).await;

    let fhir_url = h.service_url("fhir", "matrix", "fhir1");
    let dicom_url = h.service_url("dicom", "matrix", "dcm1");
    let fhir_token = h.token_v1(&app, &fhir_url).await;
    let dicom_token = h
        .token_v1(&app, "https://dicom.healthcareapis.azure.com")
        .await;

    let scopes: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "service",
            vec![h.fhir_id("matrix", "fhir1"), h.dicom_id("matrix", "dcm1")],
            "app",
        ),
        ("workspace", vec![h.ws_id("matrix")], "app"),
        ("resource group", vec![h.rg()], "app"),
        (
            "subscription",
            vec![format!("/subscriptions/{}", h.sub)],
            "app",
        ),
        (
            "service, via nested group",
            vec![h.fhir_id("matrix", "fhir1"), h.dicom_id("matrix", "dcm1")],
            "group",
        ),
    ];
    let elsewhere: Vec<String> = vec![h.fhir_id("matrix", "fhir2")];

    let mut cells = 0;
    for (role_name, role) in ALL_ROLES {
        for (scope_name, scope_ids, via) in &scopes {
            let principal = if *via == "group" {
                &outer
            } else {
                &app.principal_id
            };
            let mut made = Vec::new();
            for scope in scope_ids {
                made.push((scope.clone(), h.assign(scope, role, principal).await));
            }
            for (action, method, path) in fhir_requests() {
                let reply = h
                    .data(
                        method.clone(),
                        &format!("{fhir_url}/{path}"),
                        Some(&fhir_token),
                    )
                    .await;
                let granted = fhir_grants(role).contains(&action);
                assert_eq!(
                    got_past_authorization(reply.status),
                    granted,
                    "{role_name} at {scope_name}: FHIR {action} ({method} {path}): {} {}",
                    reply.status,
                    reply.body
                );
                if !granted {
                    assert_eq!(reply.status, 403);
                }
                cells += 1;
            }
            for (action, method, path, authorized) in dicom_requests() {
                let reply = h
                    .data(
                        method.clone(),
                        &format!("{dicom_url}/{path}"),
                        Some(&dicom_token),
                    )
                    .await;
                let granted = dicom_grants(role).contains(&action);
                assert_eq!(
                    got_past_authorization(reply.status),
                    granted,
                    "{role_name} at {scope_name}: DICOM {action}: {} {}",
                    reply.status,
                    reply.body
                );
                if granted {
                    assert_eq!(reply.status, authorized, "{role_name}: DICOM {action}");
                } else {
                    assert_eq!(reply.status, 403);
                    assert_eq!(reply.body, "Authorization failed.");
                }
                cells += 1;
            }
            for (scope, name) in made {
                h.unassign(&scope, &name).await;
            }
        }
        // Granted on a sibling service only: nothing here.
        for scope in &elsewhere {
            let name = h.assign(scope, role, &app.principal_id).await;
            for (action, method, path) in fhir_requests() {
                let reply = h
                    .data(method, &format!("{fhir_url}/{path}"), Some(&fhir_token))
                    .await;
                assert_eq!(
                    reply.status, 403,
                    "{role_name} on fhir2 grants {action} on fhir1"
                );
                cells += 1;
            }
            h.unassign(scope, &name).await;
        }
    }
    assert_eq!(cells, ALL_ROLES.len() * (5 * (11 + 3) + 11));
}

/// Every way a token can be wrong, on the FHIR and the DICOM service; each
/// refused with 401 in the service's own shape, with `WWW-Authenticate`.
#[tokio::test]
async fn token_faults_are_refused_with_401() {
    let h = Health::start().await;
    h.create_workspace("faults").await;
    h.create_fhir("faults", "fhir1").await;
    h.create_fhir("faults", "fhir2").await;
    h.create_dicom("faults", "dcm1").await;
    let app = h.register_app("faults-client").await;
    h.assign(&h.ws_id("faults"), FHIR_DATA_CONTRIBUTOR, &app.principal_id)
        .await;
    h.assign(&h.ws_id("faults"), DICOM_DATA_OWNER, &app.principal_id)
        .await;
    let origin = h.server.info().public_url.to_string();
    let url = h.service_url("fhir", "faults", "fhir1");
    let patients = format!("{url}/Patient");
    let oid = app.principal_id.clone();
    let tid = h.tenant.clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;

    // Another tenant of this Hale, holding the same object ID.
    let other_tenant = hale_directory::TenantId::new();
    {
        let store = hale_store::Store::open(&h.server.settings().effective_database_url())
            .await
            .unwrap();
        let tenant = hale_directory::Tenant {
            id: other_tenant,
            domain: "other.example".into(),
            display_name: "Other".into(),
            is_default: false,
            created_at: time::OffsetDateTime::now_utc(),
        };
        store
            .write(move |tx| hale_store::tenants::insert(tx, &tenant))
            .await
            .unwrap();
    }

    let base = |aud: &str| {
        h.claims(
            aud,
            json!({"oid": oid, "sub": oid, "idtyp": "app", "appid": app.client_id}),
        )
    };
    let with = |aud: &str, extra: Value| {
        let mut c = base(aud);
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };

    // Accepted: from the token endpoint (v1 and v2), and signed variants
    // (trailing slash, v2 issuer, within the five minutes of skew).
    let accepted = vec![
        ("v1 token", h.token_v1(&app, &url).await),
        ("v2 token", h.token_v2(&app, &url).await),
        ("audience with a trailing slash", sign(&h, base(&format!("{url}/"))).await),
        (
            "v2 issuer",
            sign(&h, with(&url, json!({"iss": format!("{origin}{tid}/v2.0"), "ver": "2.0", "azp": app.client_id}))).await,
        ),
        ("expired 4 minutes ago", sign(&h, with(&url, json!({"exp": now - 240}))).await),
        ("valid in 4 minutes", sign(&h, with(&url, json!({"nbf": now + 240}))).await),
    ];
    for (what, token) in &accepted {
        let reply = h.data(Method::GET, &patients, Some(token)).await;
        assert_eq!(reply.status, AUTHORIZED, "{what}: {}", reply.body);
    }

    let good = sign(&h, base(&url)).await;
    let (head, rest) = good.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let mut bad_sig = signature.to_owned().into_bytes();
    bad_sig[10] = if bad_sig[10] == b'A' { b'B' } else { b'A' };
    let tampered_payload = {
        let mut claims = claims_of(&good);
        claims["oid"] = json!(uuid::Uuid::new_v4().to_string());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string())
    };
    let foreign_key = {
        let key = hale_keys::SigningKey::generate(time::Duration::days(1)).unwrap();
        let signer = hale_jws::RsaSigner::from_pkcs8(key.pkcs8_der()).unwrap();
        signer
            .sign(&hale_jws::Header::entra_v1("unknown-kid"), &base(&url))
            .unwrap()
    };
    let mut no_oid = base(&url);
    no_oid.as_object_mut().unwrap().remove("oid");
    let refused: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("not a JWT", Some("not-a-jwt".into())),
        ("wrong audience: Graph", Some(sign(&h, base("https://graph.microsoft.com")).await)),
        ("wrong audience: azurehealthcareapis.com", Some(sign(&h, base("https://azurehealthcareapis.com")).await)),
        ("wrong audience: a sibling service", Some(h.token_v1(&app, &h.service_url("fhir", "faults", "fhir2")).await)),
        ("wrong audience: DICOM", Some(h.token_v1(&app, "https://dicom.healthcareapis.azure.com").await)),
        (
            "another tenant of this Hale",
            Some(sign(&h, with(&url, json!({"tid": other_tenant.to_string(), "iss": format!("{origin}{other_tenant}/")}))).await),
        ),
        (
            "an unknown tenant",
            Some(sign(&h, with(&url, json!({"tid": uuid::Uuid::new_v4().to_string(), "iss": format!("{origin}{}/", uuid::Uuid::new_v4())}))).await),
        ),
        ("issuer of another origin", Some(sign(&h, with(&url, json!({"iss": format!("https://sts.windows.net/{tid}/")}))).await)),
        ("issuer of another tenant", Some(sign(&h, with(&url, json!({"iss": format!("{origin}{other_tenant}/")}))).await)),
        ("expired", Some(sign(&h, with(&url, json!({"exp": now - 400}))).await)),
        ("not yet valid", Some(sign(&h, with(&url, json!({"nbf": now + 400}))).await)),
        ("bad signature", Some(format!("{head}.{payload}.{}", String::from_utf8(bad_sig).unwrap()))),
        ("tampered payload", Some(format!("{head}.{tampered_payload}.{signature}"))),
        ("unknown kid", Some(foreign_key)),
        ("no oid", Some(sign(&h, no_oid).await)),
    ];
    for (what, token) in &refused {
        let reply = h.data(Method::GET, &patients, token.as_deref()).await;
        assert_outcome(&reply, 401, "login", "Authentication failed.");
        let challenge = reply.header("www-authenticate");
        assert!(
            challenge.contains(&format!("authorization_uri=\"{origin}{tid}\""))
                && challenge.contains(&format!("resource_id=\"{url}\"")),
            "{what}: {challenge}"
        );
    }
    // "Basic" is no bearer token.
    let basic = h
        .server
        .client()
        .get(&patients)
        .header("authorization", "Basic YTpi")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);

    // DICOM: the shared audience, plain-text failures.
    let studies = format!("{}/v2/studies", h.service_url("dicom", "faults", "dcm1"));
    let dicom_ok = h
        .token_v2(&app, "https://dicom.healthcareapis.azure.com")
        .await;
    assert_eq!(
        h.data(Method::GET, &studies, Some(&dicom_ok)).await.status,
        204
    );
    for (what, token) in [
        ("FHIR audience", Some(h.token_v1(&app, &url).await)),
        (
            "expired",
            Some(
                sign(
                    &h,
                    with(
                        "https://dicom.healthcareapis.azure.com",
                        json!({"exp": now - 400}),
                    ),
                )
                .await,
            ),
        ),
        ("no token", None),
    ] {
        let reply = h.data(Method::GET, &studies, token.as_deref()).await;
        assert_eq!(reply.status, 401, "{what}");
        assert_eq!(reply.body, "Authentication failed.", "{what}");
        assert!(
            reply
                .header("www-authenticate")
                .contains("resource_id=\"https://dicom.healthcareapis.azure.com\"")
        );
    }
}

#[tokio::test]
async fn anonymous_endpoints_and_unknown_services() {
    let h = Health::start().await;
    h.create_workspace("anon").await;
    h.create_fhir("anon", "fhir1").await;
    h.create_dicom("anon", "dcm1").await;
    let url = h.service_url("fhir", "anon", "fhir1");
    let origin = h.server.info().public_url.to_string();

    let metadata = h.data(Method::GET, &format!("{url}/metadata"), None).await;
    assert_eq!(metadata.status, 200);
    assert_eq!(metadata.body["implementation"]["url"], url);
    let oauth = &metadata.body["rest"][0]["security"]["extension"][0]["extension"];
    assert_eq!(
        oauth[0]["valueUri"],
        format!("{origin}{}/oauth2/v2.0/token", h.tenant)
    );

    let smart = h
        .data(
            Method::GET,
            &format!("{url}/.well-known/smart-configuration"),
            None,
        )
        .await;
    assert_eq!(smart.status, 200);
    assert_eq!(
        smart.body["token_endpoint"],
        format!("{origin}{}/oauth2/v2.0/token", h.tenant)
    );
    assert!(
        smart.body["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("launch-standalone"))
    );
    // Patient and user scopes are honoured (in the fhirUser's
    // compartment); launch context is not issued, so not advertised.
    let capabilities = smart.body["capabilities"].as_array().unwrap();
    assert!(capabilities.contains(&json!("permission-patient")));
    assert!(capabilities.contains(&json!("permission-user")));
    assert!(!capabilities.contains(&json!("context-standalone-patient")));
    assert!(
        smart.body["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("patient/*.read"))
    );

    let health = h
        .data(Method::GET, &format!("{url}/health/check"), None)
        .await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["overallStatus"], "Healthy");
    let dicom_health = h
        .data(
            Method::GET,
            &format!("{}/health/check", h.service_url("dicom", "anon", "dcm1")),
            None,
        )
        .await;
    assert_eq!(dicom_health.status, 200);

    // Names ignore case, as host names would.
    let upper = h
        .data(
            Method::GET,
            &format!("{origin}fhir/ANON/FHIR1/metadata"),
            None,
        )
        .await;
    assert_eq!(upper.status, 200);

    // Only those are anonymous.
    let other = h.data(Method::GET, &format!("{url}/Patient"), None).await;
    assert_eq!(other.status, 401);
    let post_metadata = h.data(Method::POST, &format!("{url}/metadata"), None).await;
    assert_eq!(post_metadata.status, 401);

    for path in [
        "fhir/anon/nope/metadata",
        "fhir/nope/fhir1/Patient",
        "fhir/anon",
        "fhir/anon/dcm1/metadata",
    ] {
        let reply = h.data(Method::GET, &format!("{origin}{path}"), None).await;
        assert_outcome(&reply, 404, "not-found", "There is no FHIR service");
    }
    for path in [
        "dicom/anon/nope/v2/studies",
        "dicom/anon/fhir1/health/check",
        "dicom/x",
    ] {
        let reply = h.data(Method::GET, &format!("{origin}{path}"), None).await;
        assert_eq!(reply.status, 404, "{path}");
        assert!(
            reply
                .body
                .as_str()
                .unwrap()
                .contains("There is no DICOM service"),
            "{path}"
        );
    }
}

/// Group membership and role changes count from the next request.
#[tokio::test]
async fn membership_changes_take_effect_on_the_next_request() {
    let h = Health::start().await;
    h.create_workspace("groups").await;
    h.create_fhir("groups", "fhir1").await;
    let url = h.service_url("fhir", "groups", "fhir1");
    // A user signing in through the CLI (delegated token for the service).
    let user = h.create_user("nurse", "Str0ng-Passw0rd").await;
    let token = h
        .password_token(
            "nurse@hale.local",
            "Str0ng-Passw0rd",
            &format!("{url}/user_impersonation"),
        )
        .await;
    let claims = claims_of(&token);
    assert_eq!(claims["aud"], url);
    assert_eq!(claims["scp"], "user_impersonation");
    let group = h.create_group("ward-7").await;
    h.assign(&h.ws_id("groups"), FHIR_DATA_READER, &group).await;
    let read = format!("{url}/Patient");
    assert_eq!(h.data(Method::GET, &read, Some(&token)).await.status, 403);
    h.add_member(&group, &user).await;
    assert_eq!(
        h.data(Method::GET, &read, Some(&token)).await.status,
        AUTHORIZED
    );
    let res = h
        .server
        .client()
        .delete(
            h.server
                .url(&format!("/v1.0/groups/{group}/members/{user}/$ref")),
        )
        .bearer_auth(&h.graph)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(h.data(Method::GET, &read, Some(&token)).await.status, 403);
}

/// Two replicas on one database: an assignment made on one counts on the
/// other from the next request; its removal as soon as PostgreSQL's
/// announcement of the change arrives (at once on SQLite).
#[tokio::test]
async fn role_changes_count_on_every_replica_at_once() {
    let a = TestServer::start().await;
    let master_key = std::fs::read_to_string(a.settings().data_dir.join("master.key")).unwrap();
    let database = a.settings().effective_database_url();
    let public_url = a.info().public_url.clone();
    let b = TestServer::start_with(move |s| {
        s.database_url = Some(database);
        s.master_key = Some(hale_server::Secret::new(master_key.trim().to_owned()));
        // Replicas behind one balancer share the public URL.
        s.public_url = Some(public_url);
    })
    .await;
    let b_origin = format!("https://127.0.0.1:{}/", b.info().local_addr.port());
    let b_client = b.client().clone();
    let h = Health::on(a).await;
    h.create_workspace("replicas").await;
    h.create_fhir("replicas", "fhir1").await;
    let app = h.register_app("replica-client").await;
    let url = h.service_url("fhir", "replicas", "fhir1");
    let token = h.token_v1(&app, &url).await;
    let on_b = |path: String| {
        let client = b_client.clone();
        let token = token.clone();
        async move {
            client
                .get(path)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let b_url = format!("{b_origin}fhir/replicas/fhir1/Patient");
    assert_eq!(on_b(b_url.clone()).await, 403);
    let name = h
        .assign(
            &h.fhir_id("replicas", "fhir1"),
            FHIR_DATA_READER,
            &app.principal_id,
        )
        .await;
    assert_eq!(on_b(b_url.clone()).await, AUTHORIZED);
    h.unassign(&h.fhir_id("replicas", "fhir1"), &name).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut status = on_b(b_url.clone()).await;
    while status != 403 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        status = on_b(b_url.clone()).await;
    }
    assert_eq!(
        status, 403,
        "the removal never counted on the other replica"
    );
    drop(b);
}

/// "FHIR SMART User" grants what the token's SMART clinical scopes name and
/// nothing more: by resource type and permission (SMART v1 `read`/`write`,
/// v2 letters), included resources of other types dropped from searches,
/// interactions across types refused, `patient/` scopes without a
/// `fhirUser` claim refused (400). Another role held alongside does not
/// lift the scopes.
#[tokio::test]
async fn smart_scopes_narrow_a_fhir_smart_user() {
    let h = Health::start().await;
    h.create_workspace("smart").await;
    h.create_fhir("smart", "fhir1").await;
    let url = h.service_url("fhir", "smart", "fhir1");
    let service = h.fhir_id("smart", "fhir1");
    let writer = h.register_app("smart-writer").await;
    h.assign(&service, FHIR_DATA_CONTRIBUTOR, &writer.principal_id)
        .await;
    let writer_token = h.token_v1(&writer, &url).await;
    let client = h.server.client().clone();
    let put = |path: &str, body: Value| {
        let req = client
            .put(format!("{url}/{path}"))
            .bearer_auth(&writer_token)
            .header("content-type", "application/fhir+json")
            .body(body.to_string());
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        put("Patient/p1", json!({"resourceType": "Patient", "id": "p1"})).await,
        201
    );
    assert_eq!(
        put(
            "Observation/o1",
            json!({"resourceType": "Observation", "id": "o1", "status": "final",
                   "code": {"text": "pulse"}, "subject": {"reference": "Patient/p1"}})
        )
        .await,
        201
    );

    let app = h.register_app("smart-app").await;
    h.assign(&service, FHIR_SMART_USER, &app.principal_id).await;
    let base = claims_of(&h.token_v1(&app, &url).await);
    let with_scopes = |scp: &str| {
        let mut claims = base.clone();
        claims["scp"] = json!(scp);
        sign(&h, claims)
    };
    let status = |token: String, method: Method, path: &'static str| {
        let h = &h;
        let url = &url;
        async move {
            h.data(method, &format!("{url}/{path}"), Some(&token))
                .await
                .status
        }
    };

    // No clinical scope: nothing.
    let none = with_scopes("openid fhirUser").await;
    assert_eq!(status(none.clone(), Method::GET, "Patient/p1").await, 403);
    assert_eq!(status(none, Method::GET, "Observation").await, 403);

    // System scopes: narrowed by type only, no fhirUser needed.
    let token = with_scopes("launch system/Observation.rs system.Patient.r").await;
    for (method, path, want) in [
        (Method::GET, "Observation", 200),
        (Method::GET, "Observation/o1", 200),
        (Method::GET, "Observation/o1/_history/1", 200),
        (Method::GET, "Patient/p1", 200),
        (Method::GET, "Patient/p1/Observation", 200),
        // `r` is read by id; searching needs `s`.
        (Method::GET, "Patient", 403),
        (Method::DELETE, "Observation/o1", 403),
        (Method::GET, "Encounter", 403),
        (Method::GET, "_history", 403),
        // The whole compartment, of every type: a wildcard scope only.
        (Method::GET, "Patient/p1/$everything", 403),
        (Method::POST, "", 403),
    ] {
        assert_eq!(
            status(token.clone(), method.clone(), path).await,
            want,
            "{method} {path}"
        );
    }
    let create = |token: String| {
        let req = client
            .post(format!("{url}/Observation"))
            .bearer_auth(token)
            .header("content-type", "application/fhir+json")
            .body(
                json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}})
                    .to_string(),
            );
        async move { req.send().await.unwrap().status().as_u16() }
    };
    // The role itself grants reads only, as Azure's definition does.
    assert_eq!(
        create(with_scopes("system/Observation.write").await).await,
        403
    );

    // Included resources the scopes do not cover are left out.
    let search = |token: String| {
        let h = &h;
        let url = &url;
        async move {
            h.data(
                Method::GET,
                &format!("{url}/Observation?_id=o1&_include=Observation:subject"),
                Some(&token),
            )
            .await
            .body
        }
    };
    let types = |bundle: &Value| -> Vec<String> {
        bundle["entry"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|e| e["resource"]["resourceType"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        types(&search(token.clone()).await),
        ["Observation", "Patient"]
    );
    let observations_only = with_scopes("system/Observation.read").await;
    assert_eq!(types(&search(observations_only).await), ["Observation"]);

    let everything = with_scopes("system/*.read").await;
    assert_eq!(
        status(everything, Method::GET, "Patient/p1/$everything").await,
        200
    );

    // Patient-context scopes need the fhirUser claim, which this token
    // lacks: 400, as the FHIR service answers.
    let patient = with_scopes("launch/patient patient/Observation.read").await;
    assert_eq!(status(patient, Method::GET, "Observation").await, 400);

    // Another role alongside does not lift the scopes; it may let them
    // grant writes.
    h.assign(&service, FHIR_DATA_WRITER, &app.principal_id)
        .await;
    let narrow = with_scopes("system/Observation.read").await;
    assert_eq!(
        status(narrow.clone(), Method::GET, "Observation").await,
        200
    );
    assert_eq!(status(narrow.clone(), Method::GET, "Patient/p1").await, 403);
    assert_eq!(create(narrow).await, 403);
    assert_eq!(create(token).await, 403);
    assert_eq!(
        create(with_scopes("system/Observation.write").await).await,
        201
    );
    assert_eq!(create(with_scopes("system/*.c").await).await, 201);
}

/// The FHIR service's resources for the compartment tests: patients `a` and
/// `b`, practitioner `d` (`a`'s general practitioner), observations `oa1`
/// (performer `d`), `oa2`, `oa3` (derived from `ob1`) of `a`, `ob1`
/// (performer `d`) and `ob2` (derived from `oa1`) of `b`; and a reader of
/// everything.
struct Clinic {
    h: Health,
    url: String,
    service: String,
    writer: String,
}

impl Clinic {
    async fn start() -> Clinic {
        let h = Health::start().await;
        h.create_workspace("clinic").await;
        h.create_fhir("clinic", "fhir1").await;
        let url = h.service_url("fhir", "clinic", "fhir1");
        let service = h.fhir_id("clinic", "fhir1");
        let writer = h.register_app("clinic-writer").await;
        h.assign(&service, FHIR_DATA_CONTRIBUTOR, &writer.principal_id)
            .await;
        let writer = h.token_v1(&writer, &url).await;
        let clinic = Clinic {
            h,
            url,
            service,
            writer,
        };
        let obs = |id: &str, subject: &str, extra: Value| {
            let mut o = json!({"resourceType": "Observation", "id": id, "status": "final",
                "code": {"text": id}, "subject": {"reference": format!("Patient/{subject}")}});
            o.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            o
        };
        for resource in [
            json!({"resourceType": "Practitioner", "id": "d"}),
            json!({"resourceType": "Patient", "id": "a",
                   "generalPractitioner": [{"reference": "Practitioner/d"}]}),
            json!({"resourceType": "Patient", "id": "b"}),
            obs(
                "oa1",
                "a",
                json!({"performer": [{"reference": "Practitioner/d"}]}),
            ),
            obs("oa2", "a", json!({})),
            obs(
                "oa3",
                "a",
                json!({"derivedFrom": [{"reference": "Observation/ob1"}]}),
            ),
            obs(
                "ob1",
                "b",
                json!({"performer": [{"reference": "Practitioner/d"}]}),
            ),
            obs(
                "ob2",
                "b",
                json!({"derivedFrom": [{"reference": "Observation/oa1"}]}),
            ),
        ] {
            let path = format!(
                "{}/{}",
                resource["resourceType"].as_str().unwrap(),
                resource["id"].as_str().unwrap()
            );
            let reply = clinic
                .send(&clinic.writer, Method::PUT, &path, Some(resource))
                .await;
            assert_eq!(reply.status, 201, "{path}: {}", reply.body);
        }
        clinic
    }

    /// A FHIR SMART User (and, with `write`, Data Writer) application's
    /// token, re-signed with these extra claims.
    async fn smart_token(&self, name: &str, write: bool, claims: Value) -> String {
        let app = self.h.register_app(name).await;
        self.h
            .assign(&self.service, FHIR_SMART_USER, &app.principal_id)
            .await;
        if write {
            self.h
                .assign(&self.service, FHIR_DATA_WRITER, &app.principal_id)
                .await;
        }
        let mut all = claims_of(&self.h.token_v1(&app, &self.url).await);
        all.as_object_mut()
            .unwrap()
            .extend(claims.as_object().unwrap().clone());
        sign(&self.h, all).await
    }

    async fn send(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
        let url = format!("{}/{path}", self.url);
        let Some(body) = body else {
            return self.h.data(method, &url, Some(token)).await;
        };
        let res = self
            .h
            .server
            .client()
            .request(method, url)
            .bearer_auth(token)
            .header("content-type", "application/fhir+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    async fn get(&self, token: &str, path: &str) -> Reply {
        self.send(token, Method::GET, path, None).await
    }

    /// `Type/id` of a bundle's entries, in order (matches and includes).
    async fn ids(&self, token: &str, path: &str) -> Vec<String> {
        let reply = self.get(token, path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        entry_ids(&reply.body)
    }
}

fn entry_ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["resource"]["resourceType"] != "OperationOutcome")
                .map(|e| {
                    format!(
                        "{}/{}",
                        e["resource"]["resourceType"].as_str().unwrap(),
                        e["resource"]["id"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// `patient/` scopes with `fhirUser: Patient/a` see patient `a`'s
/// compartment and nothing else: searches (system-level ones too), totals,
/// pages, includes, reads by id (404 outside), history and `$everything`.
#[tokio::test]
async fn patient_scopes_are_confined_to_the_fhir_users_compartment() {
    let c = Clinic::start().await;
    let a = c
        .smart_token(
            "patient-a",
            false,
            json!({"scp": "openid fhirUser patient/*.read patient/Observation.rs", "fhirUser": "Patient/a"}),
        )
        .await;
    let mine = ["Observation/oa1", "Observation/oa2", "Observation/oa3"];

    // B's observations exist (the writer sees all five).
    assert_eq!(c.ids(&c.writer, "Observation?_count=50").await.len(), 5);
    assert_eq!(c.get(&a, "Patient/a").await.status, 200);
    assert_eq!(sorted(c.ids(&a, "Observation").await), mine);
    let total = c.get(&a, "Observation?_total=accurate").await;
    assert_eq!(total.body["total"], 3, "{}", total.body);
    assert_eq!(
        c.get(&a, "Observation?_summary=count").await.body["total"],
        3
    );

    // Pages stay inside: 2, then 1, then no next link.
    let first = c.get(&a, "Observation?_count=2").await;
    assert_eq!(entry_ids(&first.body).len(), 2);
    let next = first.body["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .expect("a next link")["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = c.h.data(Method::GET, &next, Some(&a)).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let mut paged = entry_ids(&first.body);
    paged.extend(entry_ids(&second.body));
    assert_eq!(sorted(paged), mine);
    assert!(
        !second.body["link"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["relation"] == "next")
    );

    // Includes and revincludes leave out what is outside: ob1 (which oa3
    // derives from), ob2 (derived from oa1), practitioner d.
    assert_eq!(
        c.ids(&a, "Observation?_id=oa3&_include=Observation:derived-from")
            .await,
        ["Observation/oa3"]
    );
    assert_eq!(
        c.ids(
            &c.writer,
            "Observation?_id=oa3&_include=Observation:derived-from"
        )
        .await,
        ["Observation/oa3", "Observation/ob1"]
    );
    assert_eq!(
        c.ids(
            &a,
            "Observation?_id=oa1&_revinclude=Observation:derived-from"
        )
        .await,
        ["Observation/oa1"]
    );
    assert_eq!(
        c.ids(&a, "Observation?_id=oa1&_include=Observation:performer")
            .await,
        ["Observation/oa1"]
    );
    assert_eq!(
        sorted(
            c.ids(
                &a,
                "Patient?_revinclude=Observation:subject&_revinclude=Observation:derived-from"
            )
            .await
        ),
        [
            "Observation/oa1",
            "Observation/oa2",
            "Observation/oa3",
            "Patient/a"
        ]
    );

    // Reads by id outside the compartment: 404, as if absent.
    for path in [
        "Observation/ob1",
        "Patient/b",
        "Practitioner/d",
        "Observation/ob1/_history/1",
        "Observation/ob1/_history",
        "Patient/b/$everything",
    ] {
        let reply = c.get(&a, path).await;
        assert_outcome(&reply, 404, "not-found", "");
    }
    assert_eq!(c.get(&a, "Observation/oa1").await.status, 200);
    assert_eq!(c.get(&a, "Observation/oa1/_history/1").await.status, 200);

    // System-level search and history, compartment searches, $everything.
    let everything_of_a = [
        "Observation/oa1",
        "Observation/oa2",
        "Observation/oa3",
        "Patient/a",
    ];
    assert_eq!(sorted(c.ids(&a, "?_count=50").await), everything_of_a);
    assert_eq!(
        sorted(c.ids(&a, "_history?_count=50").await),
        everything_of_a
    );
    assert_eq!(
        sorted(c.ids(&a, "Observation/_history?_count=50").await),
        mine
    );
    assert_eq!(
        sorted(c.ids(&a, "Patient/a/$everything").await),
        everything_of_a
    );
    assert!(c.ids(&a, "Patient/b/Observation").await.is_empty());
    assert_eq!(sorted(c.ids(&a, "Patient/a/Observation").await), mine);
    // A bulk export would reach beyond the compartment.
    assert_eq!(c.get(&a, "$export").await.status, 403);
}

/// The claim's forms and faults: `extension_fhirUser` when `fhirUser` is
/// absent, absolute URLs, 400 without a usable claim, none needed for
/// `system/` scopes (nor, as the FHIR service does, once any `system/`
/// scope is present).
#[tokio::test]
async fn fhir_user_claim_forms_and_faults() {
    let c = Clinic::start().await;
    let mine = ["Observation/oa1", "Observation/oa2", "Observation/oa3"];
    let extension = c
        .smart_token(
            "extension",
            false,
            json!({"scp": "patient/Observation.rs", "extension_fhirUser": format!("{}/Patient/a", c.url)}),
        )
        .await;
    assert_eq!(sorted(c.ids(&extension, "Observation").await), mine);
    let absolute = c
        .smart_token(
            "absolute",
            false,
            json!({"scp": "patient/Observation.read", "fhirUser": "https://elsewhere.example/fhir/Patient/b", "extension_fhirUser": "Patient/a"}),
        )
        .await;
    assert_eq!(
        sorted(c.ids(&absolute, "Observation").await),
        ["Observation/ob1", "Observation/ob2"]
    );

    let missing = c
        .smart_token("missing", false, json!({"scp": "patient/Observation.read"}))
        .await;
    assert_outcome(
        &c.get(&missing, "Observation").await,
        400,
        "invalid",
        "fhirUser",
    );
    let user_missing = c
        .smart_token(
            "user-missing",
            false,
            json!({"scp": "user/*.read", "fhirUser": ""}),
        )
        .await;
    assert_outcome(
        &c.get(&user_missing, "Patient/a").await,
        400,
        "invalid",
        "fhirUser",
    );
    let organization = c
        .smart_token(
            "organization",
            false,
            json!({"scp": "patient/Observation.read", "fhirUser": "Organization/x"}),
        )
        .await;
    assert_outcome(
        &c.get(&organization, "Observation").await,
        400,
        "invalid",
        "Organization/x",
    );

    let system = c
        .smart_token("system", false, json!({"scp": "system/Observation.rs"}))
        .await;
    assert_eq!(c.ids(&system, "Observation").await.len(), 5);
    let mixed = c
        .smart_token(
            "mixed",
            false,
            json!({"scp": "patient/Observation.rs system/Patient.r"}),
        )
        .await;
    assert_eq!(c.ids(&mixed, "Observation").await.len(), 5);
}

/// `user/` scopes with a Practitioner `fhirUser` see the Practitioner's
/// compartment: itself, the observations it performed, the patient whose
/// general practitioner it is.
#[tokio::test]
async fn user_scopes_see_the_practitioners_compartment() {
    let c = Clinic::start().await;
    let d = c
        .smart_token(
            "practitioner-d",
            false,
            json!({"scp": "user/*.read", "fhirUser": "Practitioner/d"}),
        )
        .await;
    assert_eq!(
        sorted(c.ids(&d, "Observation").await),
        ["Observation/oa1", "Observation/ob1"]
    );
    assert_eq!(c.ids(&d, "Patient").await, ["Patient/a"]);
    assert_eq!(c.get(&d, "Practitioner/d").await.status, 200);
    assert_eq!(c.get(&d, "Patient/a").await.status, 200);
    assert_eq!(c.get(&d, "Patient/b").await.status, 404);
    assert_eq!(c.get(&d, "Observation/oa2").await.status, 404);
    assert_eq!(
        sorted(c.ids(&d, "?_count=50").await),
        [
            "Observation/oa1",
            "Observation/ob1",
            "Patient/a",
            "Practitioner/d"
        ]
    );
}

/// Writes by a confined caller: only of resources in its compartment before
/// and after the write; anything else 403 with nothing stored, a
/// transaction with one such entry refused whole.
#[tokio::test]
async fn patient_scoped_writes_stay_in_the_compartment() {
    let c = Clinic::start().await;
    let a = c
        .smart_token(
            "writer-a",
            true,
            json!({"scp": "patient/Observation.write patient/Observation.rs", "fhirUser": "Patient/a"}),
        )
        .await;
    let obs = |subject: &str| {
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "new"},
               "subject": {"reference": format!("Patient/{subject}")}})
    };
    let count_of = |subject: &'static str| {
        let c = &c;
        async move {
            c.get(
                &c.writer,
                &format!("Observation?subject=Patient/{subject}&_summary=count"),
            )
            .await
            .body["total"]
                .as_u64()
                .unwrap()
        }
    };
    let created = c
        .send(&a, Method::POST, "Observation", Some(obs("a")))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(count_of("a").await, 4);

    let refused = c
        .send(&a, Method::POST, "Observation", Some(obs("b")))
        .await;
    assert_outcome(&refused, 403, "forbidden", "compartment");
    assert_eq!(count_of("b").await, 2);

    // B's observation may not be overwritten, even into A's.
    let mut ob1 = obs("a");
    ob1["id"] = json!("ob1");
    assert_eq!(
        c.send(&a, Method::PUT, "Observation/ob1", Some(ob1))
            .await
            .status,
        403
    );
    // Nor A's moved out of the compartment.
    let mut oa2 = obs("b");
    oa2["id"] = json!("oa2");
    assert_eq!(
        c.send(&a, Method::PUT, "Observation/oa2", Some(oa2))
            .await
            .status,
        403
    );
    // An id not yet used, outside the compartment: refused too.
    let mut fresh = obs("b");
    fresh["id"] = json!("new-b");
    assert_eq!(
        c.send(&a, Method::PUT, "Observation/new-b", Some(fresh))
            .await
            .status,
        403
    );
    assert_eq!(
        c.send(&a, Method::DELETE, "Observation/ob2", None)
            .await
            .status,
        403
    );
    assert_eq!(
        c.send(&a, Method::DELETE, "Observation?subject=Patient/b", None)
            .await
            .status,
        204
    );
    let patch = json!([{"op": "replace", "path": "/status", "value": "amended"}]);
    let res =
        c.h.server
            .client()
            .patch(format!("{}/Observation/ob1", c.url))
            .bearer_auth(&a)
            .header("content-type", "application/json-patch+json")
            .body(patch.to_string())
            .send()
            .await
            .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert_eq!(count_of("b").await, 2);
    assert_eq!(
        c.get(&c.writer, "Observation/ob1").await.body["status"],
        "final"
    );
    assert_eq!(
        c.get(&c.writer, "Observation/oa2").await.body["subject"]["reference"],
        "Patient/a"
    );

    // Bundles: a transaction with one entry outside is refused whole.
    let all = c
        .smart_token(
            "bundler-a",
            true,
            json!({"scp": "patient/*.*", "fhirUser": "Patient/a"}),
        )
        .await;
    let entry = |subject: &str| {
        json!({"fullUrl": format!("urn:uuid:{}", uuid::Uuid::new_v4()), "resource": obs(subject),
               "request": {"method": "POST", "url": "Observation"}})
    };
    let transaction = json!({"resourceType": "Bundle", "type": "transaction",
        "entry": [entry("a"), entry("b")]});
    let reply = c.send(&all, Method::POST, "", Some(transaction)).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!((count_of("a").await, count_of("b").await), (4, 2));
    // A batch: each entry on its own.
    let batch = json!({"resourceType": "Bundle", "type": "batch",
        "entry": [entry("a"), entry("b"),
                  {"request": {"method": "GET", "url": "Observation/ob1"}},
                  {"request": {"method": "GET", "url": "Observation?_count=50"}}]});
    let reply = c.send(&all, Method::POST, "", Some(batch)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let statuses: Vec<&str> = reply.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert!(statuses[0].starts_with("201"), "{statuses:?}");
    assert!(statuses[1].starts_with("403"), "{statuses:?}");
    assert!(statuses[2].starts_with("404"), "{statuses:?}");
    let searched = entry_ids(&reply.body["entry"][3]["resource"]);
    assert_eq!(searched.len(), 5, "{searched:?}");
    assert!(
        !searched
            .iter()
            .any(|id| id == "Observation/ob1" || id == "Observation/ob2")
    );
    assert_eq!((count_of("a").await, count_of("b").await), (5, 2));

    // Conditional references resolve inside the compartment only.
    let by_condition = |patient: &str| {
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "cond"},
               "subject": {"reference": format!("Patient?_id={patient}")}})
    };
    let own = c
        .send(&a, Method::POST, "Observation", Some(by_condition("a")))
        .await;
    assert_eq!(own.status, 201, "{}", own.body);
    assert_eq!(own.body["subject"]["reference"], "Patient/a");
    let other = c
        .send(&a, Method::POST, "Observation", Some(by_condition("b")))
        .await;
    assert_outcome(&other, 400, "invalid", "does not resolve");
    assert_eq!((count_of("a").await, count_of("b").await), (6, 2));
}
