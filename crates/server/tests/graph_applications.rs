//! `/v1.0/applications` as a Graph client meets it.

use hale_testkit::TestServer;
use serde_json::{Value, json};

const WRITE: &str = "Application.ReadWrite.All User.Read";

struct Graph {
    server: TestServer,
    token: String,
}

impl Graph {
    async fn start() -> Graph {
        let server = TestServer::start().await;
        let token = server.admin_token(WRITE).await;
        Graph { server, token }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        self.call_as(&self.token, method, path, body).await
    }

    async fn call_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self
            .server
            .client()
            .request(method, self.server.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value, headers)
    }

    async fn create(&self, body: Value) -> Value {
        let (status, app, _) = self
            .call(reqwest::Method::POST, "/v1.0/applications", Some(body))
            .await;
        assert_eq!(status, 201, "{app}");
        app
    }

    /// GET /v1.0/applications?{query} with `ConsistencyLevel: eventual`.
    async fn eventual(&self, query: &str) -> (u16, Value) {
        let url = format!("{}v1.0/applications?{query}", self.server.info().public_url);
        let res = self
            .server
            .client()
            .get(&url)
            .bearer_auth(&self.token)
            .header("ConsistencyLevel", "eventual")
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json::<Value>().await.unwrap())
    }

    async fn count(&self) -> usize {
        let (status, list, _) = self
            .call(reqwest::Method::GET, "/v1.0/applications?$top=999", None)
            .await;
        assert_eq!(status, 200, "{list}");
        list["value"].as_array().unwrap().len()
    }
}

fn assert_graph_error(
    status: u16,
    body: &Value,
    expected_status: u16,
    code: &str,
    message_part: &str,
) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(message_part),
        "{message:?} lacks {message_part:?}"
    );
    let inner = &body["error"]["innerError"];
    assert!(
        inner["date"].as_str().is_some_and(|d| d.ends_with('Z')),
        "{body}"
    );
    assert!(
        inner["request-id"].as_str().is_some_and(|r| !r.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn tokens_are_checked_before_anything_else() {
    let g = Graph::start().await;
    let s = &g.server;
    let res = s
        .client()
        .get(s.url("/v1.0/applications"))
        .header("client-request-id", "mine-1")
        .send()
        .await
        .unwrap();
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_graph_error(
        status,
        &body,
        401,
        "InvalidAuthenticationToken",
        "Access token is empty.",
    );
    assert_eq!(
        body["error"]["innerError"]["request-id"],
        request_id.as_str()
    );
    assert_eq!(body["error"]["innerError"]["client-request-id"], "mine-1");

    let admin_oid = {
        let token = s.admin_token(WRITE).await;
        let (_, claims) = hale_jws::decode_unverified(&token).unwrap();
        claims["oid"].as_str().unwrap().to_owned()
    };
    let tenant = s.info().installation.tenant.id;
    let base = |extra: Value| {
        s.graph_claims(
            json!({"oid": admin_oid, "scp": WRITE, "idtyp": "user"})
                .as_object()
                .unwrap()
                .clone()
                .into_iter()
                .chain(extra.as_object().unwrap().clone())
                .collect::<serde_json::Map<_, _>>()
                .into(),
        )
    };
    let cases = [
        (
            base(json!({"aud": "https://management.azure.com/"})),
            "Invalid audience.",
        ),
        (
            base(json!({"exp": 1_000_000_000, "nbf": 999_000_000, "iat": 999_000_000})),
            "expired",
        ),
        (
            base(json!({"iss": "https://login.microsoftonline.com/x/"})),
            "Invalid issuer.",
        ),
        (
            base(
                json!({"tid": uuid::Uuid::new_v4().to_string(), "iss": format!("{}{}/", s.info().public_url, uuid::Uuid::new_v4())}),
            ),
            "Invalid",
        ),
    ];
    for (claims, why) in cases {
        let token = s.sign(&claims).await;
        let (status, body, _) = g
            .call_as(&token, reqwest::Method::GET, "/v1.0/applications", None)
            .await;
        assert_graph_error(status, &body, 401, "InvalidAuthenticationToken", why);
    }
    // A token whose signature does not verify.
    let good = s.admin_token(WRITE).await;
    let tampered = format!("{}x", &good[..good.len() - 1]);
    let (status, body, _) = g
        .call_as(&tampered, reqwest::Method::GET, "/v1.0/applications", None)
        .await;
    assert_graph_error(status, &body, 401, "InvalidAuthenticationToken", "");
    let (status, body, _) = g
        .call_as(
            "not.a.jwt",
            reqwest::Method::GET,
            "/v1.0/applications",
            None,
        )
        .await;
    assert_graph_error(
        status,
        &body,
        401,
        "InvalidAuthenticationToken",
        "malformed",
    );
    let _ = tenant;
}

#[tokio::test]
async fn permissions_decide_who_reads_and_who_writes() {
    let g = Graph::start().await;
    let s = &g.server;
    let reader = s.admin_token("Application.Read.All").await;
    let (status, _, _) = g
        .call_as(&reader, reqwest::Method::GET, "/v1.0/applications", None)
        .await;
    assert_eq!(status, 200);
    let (status, body, _) = g
        .call_as(
            &reader,
            reqwest::Method::POST,
            "/v1.0/applications",
            Some(json!({"displayName": "x"})),
        )
        .await;
    assert_graph_error(
        status,
        &body,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges",
    );
    let nothing = s.admin_token("User.Read").await;
    let (status, body, _) = g
        .call_as(&nothing, reqwest::Method::GET, "/v1.0/applications", None)
        .await;
    assert_graph_error(status, &body, 403, "Authorization_RequestDenied", "");

    let app_writer = s.app_token(&["Application.ReadWrite.All"]).await;
    let (status, body, _) = g
        .call_as(
            &app_writer,
            reqwest::Method::POST,
            "/v1.0/applications",
            Some(json!({"displayName": "by an app"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let app_reader = s.app_token(&["Application.Read.All"]).await;
    let (status, _, _) = g
        .call_as(
            &app_reader,
            reqwest::Method::DELETE,
            &format!("/v1.0/applications/{}", body["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(g.count().await, 1);
}

#[tokio::test]
async fn the_seed_registration_steps_over_graph() {
    let g = Graph::start().await;
    // Register a single-tenant app.
    let app = g
        .create(json!({"displayName": "FHIR client", "signInAudience": "AzureADMyOrg"}))
        .await;
    let id = app["id"].as_str().unwrap().to_owned();
    let app_id = app["appId"].as_str().unwrap().to_owned();
    assert!(
        app["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("v1.0/$metadata#applications/$entity")
    );
    assert_eq!(app["signInAudience"], "AzureADMyOrg");
    assert_eq!(app["isFallbackPublicClient"], Value::Null);
    assert_eq!(app["publisherDomain"], "hale.local");

    // Add a redirect URI (Mobile and desktop, as the seeds do for Postman), and
    // turn on public client flows; the web settings stay as they were.
    let (status, _, _) = g
        .call(
            reqwest::Method::PATCH,
            &format!("/v1.0/applications/{id}"),
            Some(json!({
                "publicClient": {"redirectUris": ["https://www.getpostman.com/oauth2/callback"]},
                "web": {"redirectUris": ["https://localhost:5001/signin-oidc"]},
                "isFallbackPublicClient": true
            })),
        )
        .await;
    assert_eq!(status, 204);
    let (status, got, _) = g
        .call(
            reqwest::Method::GET,
            &format!("/v1.0/applications(appId='{app_id}')"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["isFallbackPublicClient"], true);
    assert_eq!(
        got["publicClient"]["redirectUris"],
        json!(["https://www.getpostman.com/oauth2/callback"])
    );
    assert_eq!(
        got["web"]["implicitGrantSettings"]["enableIdTokenIssuance"], false,
        "nested objects merge"
    );

    // Add a secret: its value is shown once.
    let (status, cred, _) = g
        .call(
            reqwest::Method::POST,
            &format!("/v1.0/applications/{id}/addPassword"),
            Some(json!({"passwordCredential": {"displayName": "ci secret", "endDateTime": "2027-05-20T00:00:00Z"}})),
        )
        .await;
    assert_eq!(status, 200, "{cred}");
    let secret = cred["secretText"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 40);
    assert_eq!(cred["hint"], &secret[..3]);
    assert_eq!(cred["displayName"], "ci secret");
    assert_eq!(cred["endDateTime"], "2027-05-20T00:00:00Z");
    let key_id = cred["keyId"].as_str().unwrap().to_owned();

    let (_, got, _) = g
        .call(
            reqwest::Method::GET,
            &format!("/v1.0/applications/{id}"),
            None,
        )
        .await;
    let creds = got["passwordCredentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0]["hint"], &secret[..3]);
    assert!(
        creds[0].get("secretText").is_none(),
        "never shown again: {got}"
    );
    assert!(!got.to_string().contains(&secret));

    // The secret appears nowhere in the database.
    let stopped_check = {
        let store = hale_store::Store::open(&g.server.settings().effective_database_url())
            .await
            .unwrap();
        store
            .read(|tx| {
                let rows = tx.query("SELECT body FROM applications", &[])?;
                Ok::<_, hale_store::StoreError>(
                    rows.iter()
                        .map(|r| r.get::<String>(0).unwrap())
                        .collect::<Vec<_>>(),
                )
            })
            .await
            .unwrap()
    };
    assert!(stopped_check.iter().all(|body| !body.contains(&secret)));

    // Remove it; removing it again is an error.
    let remove = Some(json!({"keyId": key_id}));
    let (status, _, _) = g
        .call(
            reqwest::Method::POST,
            &format!("/v1.0/applications/{id}/removePassword"),
            remove.clone(),
        )
        .await;
    assert_eq!(status, 204);
    let (status, body, _) = g
        .call(
            reqwest::Method::POST,
            &format!("/v1.0/applications/{id}/removePassword"),
            remove,
        )
        .await;
    assert_graph_error(
        status,
        &body,
        400,
        "Request_BadRequest",
        "No password credential found",
    );

    // Delete the app.
    let (status, _, _) = g
        .call(
            reqwest::Method::DELETE,
            &format!("/v1.0/applications/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body, _) = g
        .call(
            reqwest::Method::GET,
            &format!("/v1.0/applications/{id}"),
            None,
        )
        .await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound", &id);
}

#[tokio::test]
async fn bad_input_gets_graphs_errors_and_changes_nothing() {
    let g = Graph::start().await;
    g.create(json!({"displayName": "Owner", "identifierUris": ["api://taken"]}))
        .await;
    let existing = g
        .create(json!({"displayName": "Existing", "identifierUris": ["api://mine"]}))
        .await;
    let id = existing["id"].as_str().unwrap().to_owned();
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"displayName": "x", "colour": "blue"}),
            "Property 'colour' does not exist",
        ),
        (
            json!({"displayName": "x", "web": {"redirectUri": ["https://a"]}}),
            "Property 'web.redirectUri' does not exist",
        ),
        (
            json!({"displayName": "x", "appId": "00000000-0000-0000-0000-000000000001"}),
            "read-only",
        ),
        (
            json!({"displayName": "x", "passwordCredentials": []}),
            "read-only",
        ),
        (json!({"signInAudience": "AzureADMyOrg"}), "displayName"),
        (
            json!({"displayName": "x", "web": {"redirectUris": ["http://contoso.com/cb"]}}),
            "web.redirectUris",
        ),
        (
            json!({"displayName": "x", "spa": {"redirectUris": ["https://a.com/#frag"]}}),
            "fragment",
        ),
        (
            json!({"displayName": "x", "identifierUris": ["API://Taken"]}),
            "identifierUris already exists",
        ),
        (
            json!({"displayName": "x", "signInAudience": "Everyone"}),
            "Invalid value",
        ),
        (
            json!({"displayName": "x", "isFallbackPublicClient": "yes"}),
            "Invalid value",
        ),
        (
            json!({"displayName": "x", "api": {"requestedAccessTokenVersion": 7}}),
            "requestedAccessTokenVersion",
        ),
    ];
    for (body, why) in cases {
        let (status, err, _) = g
            .call(
                reqwest::Method::POST,
                "/v1.0/applications",
                Some(body.clone()),
            )
            .await;
        assert_graph_error(status, &err, 400, "Request_BadRequest", why);
        let (status, err, _) = g
            .call(
                reqwest::Method::PATCH,
                &format!("/v1.0/applications/{id}"),
                Some(body.clone()),
            )
            .await;
        if why != "displayName" {
            assert_eq!(status, 400, "PATCH {body}: {err}");
        }
    }
    // Malformed and oversize bodies.
    let s = &g.server;
    let res = s
        .client()
        .post(s.url("/v1.0/applications"))
        .bearer_auth(&g.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    assert_graph_error(
        status,
        &res.json().await.unwrap(),
        400,
        "Request_BadRequest",
        "Unable to read JSON",
    );
    let huge = json!({"displayName": "x".repeat(300 * 1024)});
    let (status, _, _) = g
        .call(reqwest::Method::POST, "/v1.0/applications", Some(huge))
        .await;
    assert_eq!(status, 413);
    // Bad URLs and query options.
    let (status, err, _) = g
        .call(reqwest::Method::GET, "/v1.0/applications/not-a-guid", None)
        .await;
    assert_graph_error(
        status,
        &err,
        400,
        "Request_BadRequest",
        "Invalid object identifier",
    );
    let (status, err, _) = g.call(reqwest::Method::GET, "/v1.0/widgets", None).await;
    assert_graph_error(status, &err, 400, "BadRequest", "widgets");
    let (status, err, _) = g
        .call(reqwest::Method::GET, "/v1.0/applications?$top=0", None)
        .await;
    assert_graph_error(status, &err, 400, "Request_UnsupportedQuery", "page size");
    let (status, err, _) = g
        .call(
            reqwest::Method::POST,
            &format!("/v1.0/applications/{id}/addPassword"),
            Some(json!({"passwordCredential": {"endDateTime": "2020-01-01T00:00:00Z"}})),
        )
        .await;
    assert_graph_error(status, &err, 400, "Request_BadRequest", "after the start");
    let (status, err, _) = g
        .call(
            reqwest::Method::POST,
            &format!("/v1.0/applications/{id}/addPassword"),
            Some(json!({"passwordCredential": {"endDateTime": "2099-01-01T00:00:00Z"}})),
        )
        .await;
    assert_graph_error(status, &err, 400, "Request_BadRequest", "at most");

    // Nothing above changed anything.
    assert_eq!(g.count().await, 2);
    let (_, after, _) = g
        .call(
            reqwest::Method::GET,
            &format!("/v1.0/applications/{id}"),
            None,
        )
        .await;
    let mut before = existing.clone();
    before.as_object_mut().unwrap().remove("@odata.context");
    let mut after = after;
    after.as_object_mut().unwrap().remove("@odata.context");
    assert_eq!(after, before);
}

#[tokio::test]
async fn lists_page_with_next_links() {
    let g = Graph::start().await;
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(
            g.create(json!({"displayName": format!("App {i}")})).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut seen = Vec::new();
    let mut next = Some(g.server.url("/v1.0/applications?$top=2").to_string());
    while let Some(url) = next {
        let res = g
            .server
            .client()
            .get(&url)
            .bearer_auth(&g.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let page: Value = res.json().await.unwrap();
        assert!(
            page["@odata.context"]
                .as_str()
                .unwrap()
                .ends_with("$metadata#applications")
        );
        let items = page["value"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|a| a["id"].as_str().unwrap().to_owned()));
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, made);
}

#[tokio::test]
async fn filter_select_orderby_and_count() {
    let g = Graph::start().await;
    let a = g
        .create(
            json!({"displayName": "Alpha", "identifierUris": ["api://alpha"], "tags": ["fhir"]}),
        )
        .await;
    g.create(json!({"displayName": "beta", "signInAudience": "AzureADMultipleOrgs"}))
        .await;
    g.create(json!({"displayName": "Gamma"})).await;
    let names = |v: &Value| -> Vec<String> {
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["displayName"].as_str().unwrap().to_owned())
            .collect()
    };
    let cases: &[(&'static str, &[&str])] = &[
        ("$filter=displayName%20eq%20%27alpha%27", &["Alpha"]),
        ("$filter=startswith(displayName,%27B%27)", &["beta"]),
        (
            "$filter=identifierUris/any(x:x%20eq%20%27API://ALPHA%27)",
            &["Alpha"],
        ),
        (
            "$filter=signInAudience%20eq%20%27AzureADMultipleOrgs%27%20or%20tags/any(t:t%20eq%20%27fhir%27)",
            &["Alpha", "beta"],
        ),
        (
            "$orderby=displayName%20desc&$count=true",
            &["Gamma", "beta", "Alpha"],
        ),
    ];
    for (query, expected) in cases {
        let (status, body) = g.eventual(query).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(names(&body), *expected, "{query}");
    }
    let (_, counted) = g.eventual("$count=true&$top=1").await;
    assert_eq!(counted["@odata.count"], 3);
    assert_eq!(counted["value"].as_array().unwrap().len(), 1);
    assert!(
        counted["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("%24count=true")
    );

    let app_id = a["appId"].as_str().unwrap();
    let (status, body, _) = g
        .call(
            reqwest::Method::GET,
            &format!(
                "/v1.0/applications?$filter=appId%20eq%20%27{app_id}%27&$select=appId,displayName"
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let only = &body["value"][0];
    assert_eq!(
        only.as_object()
            .unwrap()
            .keys()
            .filter(|k| !k.starts_with('@'))
            .count(),
        2,
        "{only}"
    );
    assert_eq!(only["appId"], app_id);

    for (query, code) in [
        ("$filter=displayName%20eq", "BadRequest"),
        (
            "$filter=colour%20eq%20%27blue%27",
            "Request_UnsupportedQuery",
        ),
        ("$select=colour", "BadRequest"),
        ("$orderby=tags", "Request_UnsupportedQuery"),
        ("$search=%22displayName:a%22", "Request_UnsupportedQuery"),
    ] {
        let (status, body, _) = g
            .call(
                reqwest::Method::GET,
                &format!("/v1.0/applications?{query}"),
                None,
            )
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
    }
}

/// `$filter` pushed down to the database answers exactly what evaluating the
/// filter over every application answers, page by page, including for rows
/// written before the folded display name existed.
#[tokio::test]
async fn filters_pushed_down_agree_with_evaluation_in_memory() {
    let g = Graph::start().await;
    let names = [
        "FHIR client",
        "fhir loader",
        "Ärzte-Portal",
        "ärzte app",
        "\u{212A}elvin tool",
        "kelvin",
        "ΣΟΦΙΑ",
        "σοφια api",
        "DICOM viewer",
        "dicom",
        "Straße",
        "STRASSE",
    ];
    let mut apps = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut body =
            json!({"displayName": name, "tags": [if i % 2 == 0 { "even" } else { "odd" }]});
        if i % 3 == 0 {
            body["identifierUris"] = json!([format!("api://App-{i}")]);
        }
        apps.push(g.create(body).await);
    }
    // Two rows as a database from before schema version 4 holds them.
    let store = hale_store::Store::open(&g.server.settings().effective_database_url())
        .await
        .unwrap();
    let legacy: Vec<String> = [0, 5]
        .iter()
        .map(|i| apps[*i]["id"].as_str().unwrap().to_owned())
        .collect();
    store
        .write(move |tx| {
            for id in &legacy {
                tx.execute(
                    "UPDATE applications SET display_name_folded = NULL WHERE id = $1",
                    hale_store::params![id.as_str()],
                )?;
            }
            Ok::<_, hale_store::StoreError>(())
        })
        .await
        .unwrap();

    let all: Vec<Value> = {
        let (status, list, _) = g
            .call(reqwest::Method::GET, "/v1.0/applications?$top=999", None)
            .await;
        assert_eq!(status, 200);
        list["value"].as_array().unwrap().clone()
    };
    let app_id = |i: usize| apps[i]["appId"].as_str().unwrap().to_owned();
    let object_id = |i: usize| apps[i]["id"].as_str().unwrap().to_owned();
    let filters = [
        "displayName eq 'fhir client'".to_owned(),
        "startswith(displayName,'FHIR')".into(),
        "startswith(displayName,'ärz')".into(),
        "startswith(displayName,'k')".into(),
        "displayName eq 'kelvin'".into(),
        "displayName eq 'σοφια api' or displayName eq 'ΣΟΦΙΑ'".into(),
        "displayName in ('strasse', 'DICOM')".into(),
        format!("appId eq '{}'", app_id(3)),
        format!(
            "appId in ('{}', '{}', 'not-a-guid')",
            app_id(1).to_uppercase(),
            app_id(7)
        ),
        format!("id eq {}", object_id(5)),
        "identifierUris/any(x:x eq 'API://APP-3')".into(),
        "identifierUris/any(x:x eq 'api://app-9') or startswith(displayName,'dicom')".into(),
        "startswith(displayName,'d') and tags/any(t:t eq 'odd')".into(),
        "tags/any(t:t eq 'even')".into(),
        "startswith(displayName,'zzz')".into(),
    ];
    let limits = hale_odata::Limits::default();
    for text in filters {
        let filter = hale_odata::Filter::parse(&text, &limits).unwrap();
        let expected: Vec<&str> = all
            .iter()
            .filter(|a| filter.matches(a))
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        for top in [1, 2, 100] {
            let mut got = Vec::new();
            let encoded: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
            let mut next = Some(
                g.server
                    .url(&format!("/v1.0/applications?$filter={encoded}&$top={top}"))
                    .to_string(),
            );
            while let Some(url) = next {
                let res = g
                    .server
                    .client()
                    .get(&url)
                    .bearer_auth(&g.token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200, "{text}");
                let page: Value = res.json().await.unwrap();
                let items = page["value"].as_array().unwrap();
                assert!(items.len() <= top, "{text}");
                got.extend(items.iter().map(|a| a["id"].as_str().unwrap().to_owned()));
                next = page["@odata.nextLink"].as_str().map(str::to_owned);
            }
            assert_eq!(got, expected, "{text} with $top={top}");
        }
        let (status, counted) = g
            .eventual(&format!(
                "$count=true&$filter={}",
                url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
            ))
            .await;
        assert_eq!(status, 200, "{text}: {counted}");
        assert_eq!(counted["@odata.count"], expected.len(), "{text}");
    }
}

#[tokio::test]
async fn owners_manage_their_applications_without_a_role() {
    let server = TestServer::start().await;
    let admin = server
        .admin_token("Application.ReadWrite.All User.ReadWrite.All")
        .await;
    let call = |token: String, method: reqwest::Method, path: String, body: Option<Value>| {
        let server = &server;
        async move {
            let mut req = server
                .client()
                .request(method, server.url(&path))
                .bearer_auth(token);
            if let Some(body) = body {
                req = req.json(&body);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, user) = call(
        admin.clone(),
        reqwest::Method::POST,
        "/v1.0/users".into(),
        Some(json!({"accountEnabled": true, "displayName": "Dev", "mailNickname": "dev", "userPrincipalName": "dev@hale.local",
            "passwordProfile": {"password": "Dev-Password-1", "forceChangePasswordNextSignIn": false}})),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let user_id = user["id"].as_str().unwrap().to_owned();
    let claims = server.graph_claims(json!({"oid": user_id, "sub": user_id, "idtyp": "user", "scp": "Application.ReadWrite.All"}));
    let dev = server.sign(&claims).await;

    // Any member may register an application, and owns it.
    let (status, app) = call(
        dev.clone(),
        reqwest::Method::POST,
        "/v1.0/applications".into(),
        Some(json!({"displayName": "Dev's app"})),
    )
    .await;
    assert_eq!(status, 201, "{app}");
    assert!(
        app.get("owners").is_none(),
        "owners is a navigation, not a property"
    );
    let path = format!("/v1.0/applications/{}", app["id"].as_str().unwrap());
    let (_, owners) = call(
        dev.clone(),
        reqwest::Method::GET,
        format!("{path}/owners"),
        None,
    )
    .await;
    assert_eq!(owners["value"][0]["id"], user_id.as_str());
    assert_eq!(owners["value"][0]["@odata.type"], "#microsoft.graph.user");
    let (status, _) = call(
        dev.clone(),
        reqwest::Method::PATCH,
        path.clone(),
        Some(json!({"description": "mine"})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        dev.clone(),
        reqwest::Method::POST,
        format!("{path}/addPassword"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);

    // Not someone else's.
    let (_, other) = call(
        admin.clone(),
        reqwest::Method::POST,
        "/v1.0/applications".into(),
        Some(json!({"displayName": "Admin's app"})),
    )
    .await;
    let other_path = format!("/v1.0/applications/{}", other["id"].as_str().unwrap());
    let (status, body) = call(
        dev.clone(),
        reqwest::Method::PATCH,
        other_path.clone(),
        Some(json!({"description": "not mine"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    // Until the administrator adds the user as an owner; removing ends it.
    let reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user_id}")});
    let (status, body) = call(
        admin.clone(),
        reqwest::Method::POST,
        format!("{other_path}/owners/$ref"),
        Some(reference.clone()),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = call(
        admin.clone(),
        reqwest::Method::POST,
        format!("{other_path}/owners/$ref"),
        Some(reference),
    )
    .await;
    assert_eq!(status, 400, "already an owner");
    let (status, _) = call(
        dev.clone(),
        reqwest::Method::PATCH,
        other_path.clone(),
        Some(json!({"description": "now mine too"})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        admin.clone(),
        reqwest::Method::DELETE,
        format!("{other_path}/owners/{user_id}/$ref"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        dev.clone(),
        reqwest::Method::PATCH,
        other_path.clone(),
        Some(json!({"description": "again"})),
    )
    .await;
    assert_eq!(status, 403);
    let bogus = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", uuid::Uuid::new_v4())});
    let (status, _) = call(
        admin,
        reqwest::Method::POST,
        format!("{other_path}/owners/$ref"),
        Some(bogus),
    )
    .await;
    assert_eq!(status, 400);
}
