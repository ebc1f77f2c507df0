//! `hale-bench-authz`: what data-plane authorization costs per request, and how
//! long a role change takes to count.
//!
//! Runs a Hale server in this process (SQLite in a temporary directory, or a
//! fresh PostgreSQL database when `HALE_TEST_DATABASE_URL` names a server),
//! sets up the seeds' last step over HTTP (workspace, FHIR service, an
//! application in two nested groups, a role assignment), then:
//!
//! 1. sends `--requests` authorized `GET /fhir/{ws}/{svc}/Patient` one after
//!    another with one token (caches warm: the token's signature is verified
//!    once) and reads the server's own `Server-Timing` (token checks, RBAC
//!    read and decision);
//! 2. `--changes` times: removes the assignment, makes it again with `PUT
//!    roleAssignments`, and times from the PUT's response to the first request
//!    the data plane allows (and the same for a removal to the first refusal).
//!
//! Usage: `cargo run --release -p hale-bench-authz -- [--requests N] [--changes M]`

use std::time::{Duration, Instant};

use hale_testkit::{ADMIN_PASSWORD, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

const CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const FHIR_DATA_READER: &str = "4c8d0bbc-75d3-4935-991f-5f3c56d81508";

struct Bench {
    server: TestServer,
    arm: String,
    graph: String,
    tenant: String,
    sub: String,
}

impl Bench {
    fn url(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.server.info().public_url.as_str().trim_end_matches('/'),
            path
        )
    }

    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .server
            .client()
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn ok(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(token, method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }

    async fn form(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let res = self
            .server
            .client()
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("token");
        res.json().await.expect("json")
    }
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Percentiles of a sample, in the sample's unit.
fn summary(label: &str, unit: &str, mut sample: Vec<f64>) {
    sample.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |p: f64| sample[((sample.len() as f64 - 1.0) * p).round() as usize];
    let mean = sample.iter().sum::<f64>() / sample.len() as f64;
    println!(
        "  {label:<34} p50 {:>8.1} {unit}  p90 {:>8.1} {unit}  p99 {:>8.1} {unit}  mean {:>8.1} {unit}  (n={})",
        at(0.5),
        at(0.9),
        at(0.99),
        mean,
        sample.len()
    );
}

/// `Server-Timing: token;dur=…, rbac;dur=…, authz;dur=…` in µs.
fn timings(header: &str) -> (f64, f64, f64) {
    let mut out = (0.0, 0.0, 0.0);
    for part in header.split(',') {
        let part = part.trim();
        let Some((name, dur)) = part.split_once(";dur=") else {
            continue;
        };
        let us = dur.parse::<f64>().unwrap_or(0.0) * 1000.0;
        match name {
            "token" => out.0 = us,
            "rbac" => out.1 = us,
            "authz" => out.2 = us,
            _ => {}
        }
    }
    out
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let requests = arg("--requests", 2000);
    let changes = arg("--changes", 50);
    let server = TestServer::start().await;
    let backend = if server.info().database.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let tenant = server.info().installation.tenant.id.to_string();
    let sub = server.info().installation.subscription_id.to_string();
    let graph = server
        .admin_token("Application.ReadWrite.All Group.ReadWrite.All Directory.ReadWrite.All")
        .await;
    let mut b = Bench {
        server,
        arm: String::new(),
        graph,
        tenant,
        sub,
    };
    let arm = b
        .form(
            &format!("/{}/oauth2/v2.0/token", b.tenant),
            &[
                ("grant_type", "password"),
                ("client_id", CLI),
                ("username", "admin@hale.local"),
                ("password", ADMIN_PASSWORD),
                ("scope", "https://management.azure.com//user_impersonation"),
            ],
        )
        .await;
    b.arm = arm["access_token"]
        .as_str()
        .expect("an ARM token")
        .to_owned();
    let v = "api-version=2023-11-01";
    let ws = format!(
        "/subscriptions/{}/resourceGroups/hale-default/providers/Microsoft.HealthcareApis/workspaces/bench",
        b.sub
    );
    let svc = format!("{ws}/fhirservices/fhir1");
    b.ok(
        &b.arm,
        Method::PUT,
        &format!("{ws}?{v}"),
        Some(json!({"location": "local"})),
    )
    .await;
    b.ok(
        &b.arm,
        Method::PUT,
        &format!("{svc}?{v}"),
        Some(json!({"location": "local"})),
    )
    .await;

    // The application, in two nested groups (the decision walks them).
    let app = b
        .ok(
            &b.graph,
            Method::POST,
            "/v1.0/applications",
            Some(json!({"displayName": "bench"})),
        )
        .await;
    let secret = b
        .ok(
            &b.graph,
            Method::POST,
            &format!(
                "/v1.0/applications/{}/addPassword",
                app["id"].as_str().unwrap()
            ),
            Some(json!({})),
        )
        .await;
    let client_id = app["appId"].as_str().unwrap().to_owned();
    let sp = b
        .ok(
            &b.graph,
            Method::POST,
            "/v1.0/servicePrincipals",
            Some(json!({"appId": client_id})),
        )
        .await;
    let sp_id = sp["id"].as_str().unwrap().to_owned();
    let base = b
        .server
        .info()
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let mut member = sp_id.clone();
    for name in ["bench-inner", "bench-outer"] {
        let group = b
            .ok(&b.graph, Method::POST, "/v1.0/groups", Some(json!({"displayName": name, "mailNickname": name, "mailEnabled": false, "securityEnabled": true})))
            .await;
        let gid = group["id"].as_str().unwrap().to_owned();
        b.ok(
            &b.graph,
            Method::POST,
            &format!("/v1.0/groups/{gid}/members/$ref"),
            Some(json!({"@odata.id": format!("{base}/v1.0/directoryObjects/{member}")})),
        )
        .await;
        member = gid;
    }

    let fhir_url = format!("{base}/fhir/bench/fhir1");
    let token = b
        .form(
            &format!("/{}/oauth2/token", b.tenant),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                ("client_secret", secret["secretText"].as_str().unwrap()),
                ("resource", &fhir_url),
            ],
        )
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let assignment_path = |name: &str| {
        format!(
            "{ws}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01"
        )
    };
    let assignment_body = json!({"properties": {
        "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{FHIR_DATA_READER}", b.sub),
        "principalId": sp_id,
    }});
    let first = uuid::Uuid::new_v4().to_string();
    b.ok(
        &b.arm,
        Method::PUT,
        &assignment_path(&first),
        Some(assignment_body.clone()),
    )
    .await;

    let patients = format!("{fhir_url}/Patient");
    let get = |url: String| {
        let client = b.server.client().clone();
        let token = token.clone();
        async move {
            let started = Instant::now();
            let res = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("data plane");
            let status = res.status().as_u16();
            let timing = res
                .headers()
                .get("server-timing")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let _ = res.bytes().await;
            (status, timings(&timing), started.elapsed())
        }
    };

    println!(
        "hale-bench-authz: {backend}, {} cores, {}, {} build",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_owned())
            )
            .unwrap_or_default(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );

    // 1. Cost per authorized request, caches warm.
    for _ in 0..200 {
        let (status, _, _) = get(patients.clone()).await;
        assert_eq!(status, 501, "authorized");
    }
    let (mut token_us, mut rbac_us, mut authz_us, mut total_us) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..requests {
        let (status, (t, r, a), elapsed) = get(patients.clone()).await;
        assert_eq!(status, 501);
        token_us.push(t);
        rbac_us.push(r);
        authz_us.push(a);
        total_us.push(elapsed.as_secs_f64() * 1e6);
    }
    let mut anonymous_us = Vec::new();
    for _ in 0..requests {
        let started = Instant::now();
        let res = b
            .server
            .client()
            .get(format!("{fhir_url}/metadata"))
            .send()
            .await
            .expect("metadata");
        assert_eq!(res.status().as_u16(), 200);
        let _ = res.bytes().await;
        anonymous_us.push(started.elapsed().as_secs_f64() * 1e6);
    }
    println!(
        "authorized GET /fhir/bench/fhir1/Patient, one token, sequential (server-side Server-Timing):"
    );
    summary("token checks (signature cached)", "µs", token_us);
    summary("RBAC: service + grants + decision", "µs", rbac_us);
    summary("authorization in all", "µs", authz_us);
    println!("round trips seen by the client (TLS keep-alive, same machine):");
    summary("authorized request (501)", "µs", total_us);
    summary("anonymous GET /metadata", "µs", anonymous_us);

    // 2. How fast a role change counts.
    let mut grant_ms = Vec::new();
    let mut put_ms = Vec::new();
    let mut revoke_ms = Vec::new();
    let mut extra_attempts = 0;
    let mut current = first;
    for _ in 0..changes {
        // Revoke: DELETE, then the first refused request.
        let (status, _) = b
            .call(&b.arm, Method::DELETE, &assignment_path(&current), None)
            .await;
        assert_eq!(status, 200);
        let after = Instant::now();
        loop {
            let (status, _, _) = get(patients.clone()).await;
            if status == 403 {
                break;
            }
            extra_attempts += 1;
            assert!(
                after.elapsed() < Duration::from_secs(30),
                "a revocation never counted"
            );
        }
        revoke_ms.push(after.elapsed().as_secs_f64() * 1e3);
        // Grant: PUT, then the first allowed request.
        current = uuid::Uuid::new_v4().to_string();
        let sent = Instant::now();
        let (status, _) = b
            .call(
                &b.arm,
                Method::PUT,
                &assignment_path(&current),
                Some(assignment_body.clone()),
            )
            .await;
        assert_eq!(status, 201);
        let answered = Instant::now();
        put_ms.push((answered - sent).as_secs_f64() * 1e3);
        loop {
            let (status, _, _) = get(patients.clone()).await;
            if status == 501 {
                break;
            }
            extra_attempts += 1;
            assert!(
                answered.elapsed() < Duration::from_secs(30),
                "a grant never counted"
            );
        }
        grant_ms.push(answered.elapsed().as_secs_f64() * 1e3);
    }
    println!("role changes ({changes} grants and {changes} revocations):");
    summary("PUT roleAssignments (write, commit)", "ms", put_ms);
    summary("PUT answered -> first allowed", "ms", grant_ms);
    summary("DELETE answered -> first refused", "ms", revoke_ms);
    println!("  requests that still saw the old decision: {extra_attempts}");
}
