//! The workloads, against one FHIR base URL, each checked response by
//! response and each bounded in time:
//!
//! 1. ingest: the generated transaction bundles from `--ingest-clients`
//!    clients until all are in (or `--ingest-seconds` pass; the later checks
//!    then use only what was stored). Every `transaction-response` must have
//!    one `201` entry per request entry with a `Type/id` location; the ids
//!    are what the other workloads read and expect;
//! 2. read by id (`--read-connections`): a random stored resource; the answer
//!    must be that resource: type, id, and the generated UUID identifier;
//! 3. token search `Observation?code=http://loinc.org|<code>&_count=50`
//!    over four LOINC codes, and
//! 4. chained search `Observation?subject:Patient.name=<family>&_count=50`
//!    over the patients' family names: the first page must hold exactly
//!    `min(matches, 50)` distinct Observations, all among the expected ones
//!    (computed from the generated data: names match by case-insensitive
//!    prefix, as FHIR string search does), with a `next` link when more match
//!    and `total`, when given, equal to the number of matches;
//! 5. single creates (`--create-connections`): `POST Observation`, `201` with
//!    a `Location`; afterwards a sample is read back and ids must be distinct;
//! 7. (after 6, since it writes files) system `$export` with
//!    `Prefer: respond-async`: the time from kick-off to the manifest, and to
//!    download its files; the files must hold every stored resource exactly
//!    once. A server that does not answer 202 is reported as not offering it;
//! 6. disk bytes per resource at rest (`--disk`: the server's storage folder, two quiet seconds after the last write) and the
//!    server's peak RSS (`--server-pid`).
//!
//! Any wrong answer fails the run (exit status 1) after the figures are
//! written; latencies count only correct answers.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hale_bench_fhir::generate::{self, LOINC};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct Args {
    /// A name for the server in the table (e.g. hale, helios).
    #[arg(long)]
    name: String,
    /// The FHIR base URL, e.g. https://127.0.0.1:8443/fhir/bench/fhir1
    #[arg(long)]
    base: String,
    /// A PEM CA certificate to trust (and no other) for https.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// A file holding a bearer token to send.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The server's storage folder, for disk bytes per resource.
    #[arg(long)]
    disk: Option<PathBuf>,
    /// The server's process id, for its peak RSS.
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long, default_value_t = 40)]
    patients: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds each timed workload runs (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The ingest's time bound.
    #[arg(long, default_value_t = 600)]
    ingest_seconds: u64,
    #[arg(long, default_value_t = 2)]
    ingest_clients: usize,
    #[arg(long, default_value_t = 16)]
    read_connections: usize,
    #[arg(long, default_value_t = 16)]
    search_connections: usize,
    #[arg(long, default_value_t = 32)]
    create_connections: usize,
    /// Where to write the figures (JSON).
    #[arg(long)]
    out: PathBuf,
}

/// The error `run` returns when the server has no FHIR interactions yet
/// (the binary exits with status 3 then).
pub const NOT_IMPLEMENTED: &str = "the server does not implement FHIR interactions yet";

/// Page size of the searches.
const COUNT: usize = 50;
/// Most connections per workload, and most bundle bytes accepted in a reply.
const MAX_CONNECTIONS: usize = 256;
const MAX_BODY: usize = 64 << 20;

struct Target {
    base: String,
    ca: Option<reqwest::Certificate>,
    token: Option<String>,
}

impl Target {
    fn client(&self) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .http1_only()
            .pool_max_idle_per_host(1);
        if let Some(ca) = &self.ca {
            builder = builder
                .tls_built_in_root_certs(false)
                .add_root_certificate(ca.clone());
        }
        builder.build().expect("an HTTP client")
    }

    fn request(
        &self,
        client: &reqwest::Client,
        method: Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let url = if path.is_empty() {
            self.base.clone()
        } else {
            format!("{}/{path}", self.base)
        };
        self.request_url(client, method, &url)
    }

    /// A request to an absolute URL the server gave (e.g. an export's).
    fn request_url(
        &self,
        client: &reqwest::Client,
        method: Method,
        url: &str,
    ) -> reqwest::RequestBuilder {
        let mut r = client
            .request(method, url)
            .header("accept", "application/fhir+json");
        if let Some(token) = &self.token {
            r = r.bearer_auth(token);
        }
        r
    }
}

/// A reply: status, `Location`, body parsed as JSON (`Null` when empty).
struct Reply {
    status: StatusCode,
    location: Option<String>,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Result<Reply, String> {
    let res = request
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    let status = res.status();
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = res.bytes().await.map_err(|e| format!("body: {e}"))?;
    if bytes.len() > MAX_BODY {
        return Err(format!("a {} byte reply", bytes.len()));
    }
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "{status}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            )
        })?
    };
    Ok(Reply {
        status,
        location,
        body,
    })
}

fn expect_status(reply: &Reply, status: u16, what: &str) -> Result<(), String> {
    if reply.status.as_u16() != status {
        let body = reply.body.to_string();
        return Err(format!(
            "{what}: status {} (expected {status}): {}",
            reply.status,
            &body[..body.len().min(400)]
        ));
    }
    Ok(())
}

/// The id in a `Location` or `response.location`: the segment after the
/// last `{type}` segment (`Type/id/_history/v`, relative or absolute).
fn location_id(location: &str, resource_type: &str) -> Option<String> {
    let path = location.split(['?', '#']).next()?;
    let segments: Vec<&str> = path.split('/').collect();
    (0..segments.len().saturating_sub(1))
        .rev()
        .find(|&i| segments[i] == resource_type && !segments[i + 1].is_empty())
        .map(|i| segments[i + 1].to_owned())
}

/// A resource the server stored: its type, the server's id, the generated UUID.
#[derive(Clone)]
struct Stored {
    resource_type: String,
    id: String,
    uuid: String,
}

/// A search and the ids its full result must consist of.
struct Query {
    path: String,
    expected: HashSet<String>,
}

struct Ctx {
    target: Target,
    stored: Vec<Stored>,
    patient_ids: Vec<String>,
    token_queries: Vec<Query>,
    chained_queries: Vec<Query>,
    created: Mutex<Vec<(String, String)>>,
    failures: AtomicU64,
    first_failures: Mutex<Vec<String>>,
}

impl Ctx {
    fn fail(&self, workload: &str, message: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_failures.lock().expect("not poisoned");
        if first.len() < 5 {
            first.push(format!("{workload}: {message}"));
        }
    }
}

#[derive(Clone, Copy)]
enum Workload {
    Read,
    TokenSearch,
    ChainedSearch,
    Create,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Read => "read",
            Workload::TokenSearch => "search_token",
            Workload::ChainedSearch => "search_chained",
            Workload::Create => "create",
        }
    }
}

/// Ingest rates (resources/s) over the first and the last tenth of the
/// resources stored, in the order their bundles were answered: whether
/// ingest slows down as the database grows.
fn decile_rates(results: &[(usize, Vec<Stored>, f64)]) -> (f64, f64) {
    let mut done: Vec<(f64, usize)> = results.iter().map(|(_, s, at)| (*at, s.len())).collect();
    done.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: usize = done.iter().map(|d| d.1).sum();
    let Some(&(t_end, _)) = done.last() else {
        return (0.0, 0.0);
    };
    let tenth = (total / 10).max(1);
    // From the start until a tenth was in.
    let (mut count, mut t_first) = (0, t_end);
    for &(at, n) in &done {
        count += n;
        if count >= tenth {
            t_first = at;
            break;
        }
    }
    let first = count as f64 / t_first.max(1e-9);
    // From the answer before the last tenth began to the end.
    let (mut before, mut t_mark) = (0, 0.0);
    for &(at, n) in &done {
        if before + n > total - tenth {
            break;
        }
        before += n;
        t_mark = at;
    }
    let last = (total - before) as f64 / (t_end - t_mark).max(1e-9);
    (first, last)
}

/// Checks a searchset's first page against the expected result.
fn check_page(body: &Value, query: &Query, resource_type: &str) -> Result<(), String> {
    if body["resourceType"] != "Bundle" || body["type"] != "searchset" {
        return Err(format!(
            "{}: not a searchset Bundle: {}",
            query.path, body["resourceType"]
        ));
    }
    let mut seen = HashSet::new();
    for entry in body["entry"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        if entry["search"]["mode"] == "outcome" || entry["search"]["mode"] == "include" {
            continue;
        }
        let resource = &entry["resource"];
        let id = resource["id"].as_str().unwrap_or_default();
        if resource["resourceType"] != resource_type {
            return Err(format!(
                "{}: an entry of type {}",
                query.path, resource["resourceType"]
            ));
        }
        if !query.expected.contains(id) {
            return Err(format!(
                "{}: {resource_type}/{id} does not match",
                query.path
            ));
        }
        if !seen.insert(id.to_owned()) {
            return Err(format!("{}: {resource_type}/{id} twice", query.path));
        }
    }
    let want = query.expected.len().min(COUNT);
    if seen.len() != want {
        return Err(format!(
            "{}: {} entries, expected {want} (of {} matches)",
            query.path,
            seen.len(),
            query.expected.len()
        ));
    }
    let has_next = body["link"]
        .as_array()
        .is_some_and(|links| links.iter().any(|l| l["relation"] == "next"));
    if query.expected.len() > COUNT && !has_next {
        return Err(format!(
            "{}: no next link with {} matches",
            query.path,
            query.expected.len()
        ));
    }
    if let Some(total) = body["total"].as_u64()
        && total as usize != query.expected.len()
    {
        return Err(format!(
            "{}: total {total}, expected {}",
            query.path,
            query.expected.len()
        ));
    }
    Ok(())
}

async fn step(
    ctx: &Ctx,
    workload: Workload,
    client: &reqwest::Client,
    rng: &mut ChaCha8Rng,
) -> Result<(), String> {
    match workload {
        Workload::Read => {
            let s = &ctx.stored[rng.gen_range(0..ctx.stored.len())];
            let path = format!("{}/{}", s.resource_type, s.id);
            let reply = send(ctx.target.request(client, Method::GET, &path)).await?;
            expect_status(&reply, 200, &path)?;
            let body = &reply.body;
            if body["resourceType"] != s.resource_type.as_str() || body["id"] != s.id.as_str() {
                return Err(format!(
                    "{path}: got {}/{}",
                    body["resourceType"], body["id"]
                ));
            }
            if generate::generated_uuid(body) != Some(s.uuid.as_str()) {
                return Err(format!("{path}: not the resource stored there"));
            }
            Ok(())
        }
        Workload::TokenSearch | Workload::ChainedSearch => {
            let queries = if matches!(workload, Workload::TokenSearch) {
                &ctx.token_queries
            } else {
                &ctx.chained_queries
            };
            let query = &queries[rng.gen_range(0..queries.len())];
            let reply = send(ctx.target.request(client, Method::GET, &query.path)).await?;
            expect_status(&reply, 200, &query.path)?;
            check_page(&reply.body, query, "Observation")
        }
        Workload::Create => {
            let patient = &ctx.patient_ids[rng.gen_range(0..ctx.patient_ids.len())];
            let bytes: [u8; 16] = rng.r#gen();
            let uuid = uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .to_string();
            let body = json!({
                "resourceType": "Observation",
                "identifier": [{"system": generate::UUID_SYSTEM, "value": format!("urn:uuid:{uuid}")}],
                "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
                "code": {"coding": [{"system": LOINC, "code": "8310-5", "display": "Body temperature"}]},
                "subject": {"reference": format!("Patient/{patient}")},
                "effectiveDateTime": "2025-01-02T10:00:00Z",
                "valueQuantity": {"value": rng.gen_range(361..378) as f64 / 10.0, "unit": "Cel", "system": generate::UCUM, "code": "Cel"},
            });
            let reply = send(
                ctx.target
                    .request(client, Method::POST, "Observation")
                    .header("content-type", "application/fhir+json")
                    .body(body.to_string()),
            )
            .await?;
            expect_status(&reply, 201, "POST Observation")?;
            let from_location = reply
                .location
                .as_deref()
                .and_then(|l| location_id(l, "Observation"));
            let from_body = reply.body["id"].as_str().map(str::to_owned);
            if !reply.body.is_null() && reply.body["resourceType"] != "Observation" {
                return Err(format!(
                    "POST Observation answered a {}",
                    reply.body["resourceType"]
                ));
            }
            let id = match (from_location, from_body) {
                (Some(a), Some(b)) if a != b => {
                    return Err(format!(
                        "POST Observation: Location says {a}, body says {b}"
                    ));
                }
                (Some(a), _) => a,
                (None, _) => return Err("POST Observation: no Location".into()),
            };
            ctx.created.lock().expect("not poisoned").push((id, uuid));
            Ok(())
        }
    }
}

/// Figures of one timed workload.
#[derive(Default)]
struct Outcome {
    latencies_us: Vec<u32>,
    errors: u64,
    seconds: f64,
    connections: usize,
}

impl Outcome {
    fn json(&self) -> Value {
        let mut l = self.latencies_us.clone();
        l.sort_unstable();
        let pct = |p: f64| -> f64 {
            if l.is_empty() {
                return 0.0;
            }
            l[((l.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
        };
        json!({
            "connections": self.connections,
            "seconds": self.seconds,
            "n": l.len(),
            "errors": self.errors,
            "per_s": l.len() as f64 / self.seconds.max(1e-9),
            "p50_ms": pct(0.5),
            "p99_ms": pct(0.99),
            "max_ms": pct(1.0),
        })
    }
}

async fn timed(ctx: &Arc<Ctx>, workload: Workload, connections: usize, seconds: u64) -> Outcome {
    let connections = connections.clamp(1, MAX_CONNECTIONS);
    let warm_until = Instant::now() + Duration::from_secs(1);
    let until = warm_until + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|worker| {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let client = ctx.target.client();
                let mut rng = ChaCha8Rng::seed_from_u64(worker as u64);
                let mut latencies = Vec::new();
                let mut errors = 0;
                loop {
                    let start = Instant::now();
                    if start >= until {
                        break;
                    }
                    let result = step(&ctx, workload, &client, &mut rng).await;
                    let elapsed = start.elapsed();
                    match result {
                        Ok(()) if start >= warm_until => {
                            latencies.push(elapsed.as_micros().min(u32::MAX as u128) as u32)
                        }
                        Ok(()) => {}
                        Err(e) => {
                            errors += 1;
                            ctx.fail(workload.name(), e);
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut outcome = Outcome {
        seconds: seconds as f64,
        connections,
        ..Outcome::default()
    };
    for task in tasks {
        let (l, e) = task.await.expect("a worker");
        outcome.latencies_us.extend(l);
        outcome.errors += e;
    }
    outcome
}

/// Checks a transaction-response against the request bundle; returns what
/// was stored.
fn check_transaction(request: &Value, reply: &Reply) -> Result<Vec<Stored>, String> {
    expect_status(reply, 200, "transaction")?;
    let body = &reply.body;
    if body["resourceType"] != "Bundle" || body["type"] != "transaction-response" {
        return Err(format!(
            "transaction: answered {} {}",
            body["resourceType"], body["type"]
        ));
    }
    let sent = request["entry"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let got = body["entry"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if sent.len() != got.len() {
        return Err(format!(
            "transaction: {} entries answered for {} sent",
            got.len(),
            sent.len()
        ));
    }
    let mut stored = Vec::with_capacity(sent.len());
    let mut ids = HashSet::new();
    for (i, (s, g)) in sent.iter().zip(got).enumerate() {
        let rt = s["resource"]["resourceType"].as_str().unwrap_or_default();
        let status = g["response"]["status"].as_str().unwrap_or_default();
        if !status.starts_with("201") {
            return Err(format!("transaction entry {i} ({rt}): status {status:?}"));
        }
        let location = g["response"]["location"].as_str().unwrap_or_default();
        let id = location_id(location, rt)
            .ok_or_else(|| format!("transaction entry {i} ({rt}): location {location:?}"))?;
        let r = &g["resource"];
        if !r.is_null() && (r["resourceType"] != rt || r["id"] != id.as_str()) {
            return Err(format!(
                "transaction entry {i}: resource {}/{} for {rt}/{id}",
                r["resourceType"], r["id"]
            ));
        }
        if !ids.insert((rt.to_owned(), id.clone())) {
            return Err(format!("transaction: {rt}/{id} given twice"));
        }
        let uuid = generate::generated_uuid(&s["resource"])
            .ok_or("a generated resource without its UUID")?;
        stored.push(Stored {
            resource_type: rt.to_owned(),
            id,
            uuid: uuid.to_owned(),
        });
    }
    Ok(stored)
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        std::fs::read_dir(path)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| dir_bytes(&e.path()))
                    .sum()
            })
            .unwrap_or(0)
    } else {
        meta.len()
    }
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn name_parts(patient: &Value) -> Vec<String> {
    let mut parts = Vec::new();
    for name in patient["name"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        for key in ["family", "text"] {
            if let Some(s) = name[key].as_str() {
                parts.push(s.to_lowercase());
            }
        }
        for key in ["given", "prefix", "suffix"] {
            for s in name[key].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                if let Some(s) = s.as_str() {
                    parts.push(s.to_lowercase());
                }
            }
        }
    }
    parts
}

pub async fn run(args: Args) -> Result<(), String> {
    if args.patients > generate::MAX_PATIENTS {
        return Err(format!("at most {} patients", generate::MAX_PATIENTS));
    }
    let ca = match &args.ca {
        Some(path) => Some(
            reqwest::Certificate::from_pem(
                &std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?,
            )
            .map_err(|e| format!("{}: {e}", path.display()))?,
        ),
        None => None,
    };
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    let target = Target {
        base: args.base.trim_end_matches('/').to_owned(),
        ca,
        token,
    };
    println!(
        "== {} at {} ({} patients, seed {})",
        args.name, target.base, args.patients, args.seed
    );

    // The server answers and is empty of our data.
    let client = target.client();
    let reply = send(target.request(&client, Method::GET, "metadata")).await?;
    expect_status(&reply, 200, "GET metadata")?;
    if reply.body["resourceType"] != "CapabilityStatement" {
        return Err("GET metadata: not a CapabilityStatement".into());
    }
    let probe = send(target.request(&client, Method::GET, "Patient?_count=1")).await?;
    if probe.status == StatusCode::NOT_IMPLEMENTED {
        println!(
            "{}: searches answer 501 Not Implemented: skipped",
            args.name
        );
        return Err(NOT_IMPLEMENTED.into());
    }
    expect_status(&probe, 200, "GET Patient?_count=1")?;

    // 1. Ingest.
    let bundles: Vec<(Value, bytes::Bytes)> = generate::bundles(args.seed, args.patients)
        .map(|b| {
            let bytes = generate::to_json_bytes(&b);
            (b, bytes.into())
        })
        .collect();
    let bundles = Arc::new(bundles);
    let next = Arc::new(AtomicUsize::new(0));
    // (bundle index, what it stored), in the order the answers came.
    // (bundle, what it stored, seconds from the start when it was answered)
    type Ingested = Vec<(usize, Vec<Stored>, f64)>;
    let results: Arc<Mutex<Ingested>> = Arc::default();
    let ingest_errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let target = Arc::new(target);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.ingest_seconds);
    let clients = args.ingest_clients.clamp(1, MAX_CONNECTIONS);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (bundles, next, results, errors, target) = (
                bundles.clone(),
                next.clone(),
                results.clone(),
                ingest_errors.clone(),
                target.clone(),
            );
            tokio::spawn(async move {
                let client = target.client();
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((bundle, bytes)) = bundles.get(i) else {
                        break;
                    };
                    let t = Instant::now();
                    let reply = send(
                        target
                            .request(&client, Method::POST, "")
                            .header("content-type", "application/fhir+json")
                            .body(bytes.clone()),
                    )
                    .await;
                    let elapsed = t.elapsed();
                    match reply.and_then(|r| check_transaction(bundle, &r)) {
                        Ok(stored) => {
                            latencies.push(elapsed.as_micros().min(u32::MAX as u128) as u32);
                            let at = started.elapsed().as_secs_f64();
                            results.lock().expect("not poisoned").push((i, stored, at));
                        }
                        Err(e) => errors.lock().expect("not poisoned").push(e),
                    }
                }
                latencies
            })
        })
        .collect();
    let mut ingest = Outcome {
        connections: clients,
        ..Outcome::default()
    };
    for task in tasks {
        ingest
            .latencies_us
            .extend(task.await.expect("an ingest client"));
    }
    let ingest_seconds = started.elapsed().as_secs_f64();
    ingest.seconds = ingest_seconds;
    let ingest_errors = std::mem::take(&mut *ingest_errors.lock().expect("not poisoned"));
    ingest.errors = ingest_errors.len() as u64;
    let mut results = std::mem::take(&mut *results.lock().expect("not poisoned"));
    let (first_rate, last_rate) = decile_rates(&results);
    results.sort_by_key(|(i, _, _)| *i);
    let results: Vec<(usize, Vec<Stored>)> = results.into_iter().map(|(i, s, _)| (i, s)).collect();
    let resources: usize = results.iter().map(|(_, s)| s.len()).sum();
    let complete = results.len() == bundles.len();
    println!(
        "ingest: {} of {} bundles, {resources} resources in {ingest_seconds:.1} s = {:.0} resources/s ({clients} clients){}",
        results.len(),
        bundles.len(),
        resources as f64 / ingest_seconds,
        if complete {
            ""
        } else {
            " — time bound reached"
        }
    );
    println!(
        "ingest: first 10 % of resources at {first_rate:.0} resources/s, last 10 % at {last_rate:.0} resources/s ({:.0} % of the first)",
        100.0 * last_rate / first_rate.max(f64::MIN_POSITIVE)
    );
    if let Some(e) = ingest_errors.first() {
        return Err(format!(
            "ingest: {} bundles failed; first: {e}",
            ingest_errors.len()
        ));
    }
    if results.is_empty() {
        return Err("ingest: nothing stored".into());
    }

    // Expectations from what was stored.
    let mut stored = Vec::with_capacity(resources);
    let mut server_id: HashMap<String, String> = HashMap::new();
    let mut patient_ids = Vec::new();
    let mut patients: Vec<(String, Vec<String>)> = Vec::new(); // (uuid, name parts)
    let mut observations: Vec<(String, String, Vec<String>)> = Vec::new(); // (id, subject uuid, LOINC codes)
    for (i, entries) in &results {
        let bundle = &bundles[*i].0;
        for (entry, s) in bundle["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .zip(entries)
        {
            let resource = &entry["resource"];
            server_id.insert(s.uuid.clone(), s.id.clone());
            match s.resource_type.as_str() {
                "Patient" => {
                    patient_ids.push(s.id.clone());
                    patients.push((s.uuid.clone(), name_parts(resource)));
                }
                "Observation" => {
                    let subject = resource["subject"]["reference"]
                        .as_str()
                        .and_then(|r| r.strip_prefix("urn:uuid:"))
                        .unwrap_or_default()
                        .to_owned();
                    let codes = resource["code"]["coding"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or(&[])
                        .iter()
                        .filter(|c| c["system"] == LOINC)
                        .filter_map(|c| c["code"].as_str().map(str::to_owned))
                        .collect();
                    observations.push((s.id.clone(), subject, codes));
                }
                _ => {}
            }
            stored.push(s.clone());
        }
    }
    let token_queries: Vec<Query> = [
        generate::HEART_RATE,
        generate::BODY_WEIGHT,
        generate::GLUCOSE,
        generate::BLOOD_PRESSURE,
    ]
    .iter()
    .map(|code| Query {
        path: format!("Observation?code={LOINC}%7C{code}&_count={COUNT}"),
        expected: observations
            .iter()
            .filter(|(_, _, codes)| codes.iter().any(|c| c == code))
            .map(|(id, _, _)| id.clone())
            .collect(),
    })
    .filter(|q| !q.expected.is_empty())
    .collect();
    let mut families: Vec<String> = patients
        .iter()
        .filter_map(|(_, parts)| parts.first().cloned())
        .collect();
    families.sort();
    families.dedup();
    let chained_queries: Vec<Query> = families
        .iter()
        .take(12)
        .map(|family| {
            let matching: HashSet<&str> = patients
                .iter()
                .filter(|(_, parts)| parts.iter().any(|p| p.starts_with(family.as_str())))
                .map(|(uuid, _)| uuid.as_str())
                .collect();
            let mut name = family.clone();
            name[..1].make_ascii_uppercase();
            Query {
                path: format!("Observation?subject:Patient.name={name}&_count={COUNT}"),
                expected: observations
                    .iter()
                    .filter(|(_, subject, _)| matching.contains(subject.as_str()))
                    .map(|(id, _, _)| id.clone())
                    .collect(),
            }
        })
        .filter(|q| !q.expected.is_empty())
        .collect();
    drop(bundles);
    let target = Arc::try_unwrap(target).map_err(|_| "ingest clients still running")?;
    let ctx = Arc::new(Ctx {
        target,
        stored,
        patient_ids,
        token_queries,
        chained_queries,
        created: Mutex::default(),
        failures: AtomicU64::new(0),
        first_failures: Mutex::default(),
    });
    let print = |label: &str, o: &Outcome| {
        let j = o.json();
        println!(
            "{label}: {:.0}/s  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (n={}, {} connections, {} wrong)",
            j["per_s"].as_f64().unwrap_or(0.0),
            j["p50_ms"].as_f64().unwrap_or(0.0),
            j["p99_ms"].as_f64().unwrap_or(0.0),
            j["max_ms"].as_f64().unwrap_or(0.0),
            o.latencies_us.len(),
            o.connections,
            o.errors
        );
    };

    // 2–4. Reads and searches.
    let read = timed(&ctx, Workload::Read, args.read_connections, args.seconds).await;
    print("read by id", &read);
    let token = timed(
        &ctx,
        Workload::TokenSearch,
        args.search_connections,
        args.seconds,
    )
    .await;
    print(
        &format!(
            "token search ({} codes, {} matches each on average)",
            ctx.token_queries.len(),
            ctx.token_queries
                .iter()
                .map(|q| q.expected.len())
                .sum::<usize>()
                / ctx.token_queries.len().max(1)
        ),
        &token,
    );
    let chained = timed(
        &ctx,
        Workload::ChainedSearch,
        args.search_connections,
        args.seconds,
    )
    .await;
    print(
        &format!(
            "chained search ({} family names)",
            ctx.chained_queries.len()
        ),
        &chained,
    );

    // 5. Creates, then a read-back of a sample.
    let create = timed(
        &ctx,
        Workload::Create,
        args.create_connections,
        args.seconds,
    )
    .await;
    print("single creates", &create);
    let created = std::mem::take(&mut *ctx.created.lock().expect("not poisoned"));
    let distinct: HashSet<&str> = created.iter().map(|(id, _)| id.as_str()).collect();
    if distinct.len() != created.len() {
        ctx.fail(
            "create",
            format!("{} ids for {} creates", distinct.len(), created.len()),
        );
    }
    let client = ctx.target.client();
    let step_by = (created.len() / 200).max(1);
    for (id, uuid) in created.iter().step_by(step_by) {
        let path = format!("Observation/{id}");
        let checked = match send(ctx.target.request(&client, Method::GET, &path)).await {
            Ok(reply) => expect_status(&reply, 200, &path).and_then(|()| {
                (generate::generated_uuid(&reply.body) == Some(uuid.as_str()))
                    .then_some(())
                    .ok_or(format!("{path}: not the created resource"))
            }),
            Err(e) => Err(e),
        };
        if let Err(e) = checked {
            ctx.fail("create read-back", e);
        }
    }

    // 6. Footprint, at rest: two quiet seconds first, so that a server that
    // folds its write-ahead log into the database when writes pause (Hale
    // on SQLite does after 0.5 s) is measured as it sits on disk.
    let total = ctx.stored.len() + created.len();
    if args.disk.is_some() {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
    let disk = args.disk.as_ref().map(|d| dir_bytes(d));
    if let Some(bytes) = disk {
        println!(
            "disk: {bytes} bytes for {total} resources = {:.0} bytes/resource",
            bytes as f64 / total as f64
        );
    }
    let rss = args.server_pid.map(rss_kib);
    if let Some((peak, now)) = rss {
        println!(
            "server RSS: peak {} MiB, now {} MiB",
            peak / 1024,
            now / 1024
        );
    }

    // 7. System export, after the footprint (it writes files).
    let mut expected: HashSet<(String, String)> = ctx
        .stored
        .iter()
        .map(|s| (s.resource_type.clone(), s.id.clone()))
        .collect();
    expected.extend(
        created
            .iter()
            .map(|(id, _)| ("Observation".to_owned(), id.clone())),
    );
    // Every generated type is in the Patient compartment and refers to its
    // patient, so the patient-level export must give the same resources.
    let mut exports = Vec::new();
    for (label, path) in [("system", "$export"), ("Patient", "Patient/$export")] {
        match export(&ctx.target, path, &expected).await {
            Ok(Some(e)) => {
                println!(
                    "{label} $export: {} resources in {:.2} s = {:.0} resources/s (kick-off to manifest); {} files downloaded in {:.2} s",
                    e.resources,
                    e.seconds,
                    e.resources as f64 / e.seconds,
                    e.files,
                    e.download_seconds
                );
                exports.push(Some(e));
            }
            Ok(None) => exports.push(None),
            Err(e) => {
                ctx.fail(path, e);
                exports.push(None);
            }
        }
    }
    let export_json = |e: &Option<Exported>| {
        e.as_ref().map(|e| {
            json!({
                "resources": e.resources,
                "files": e.files,
                "seconds": e.seconds,
                "per_s": e.resources as f64 / e.seconds,
                "download_seconds": e.download_seconds,
            })
        })
    };

    let failures = ctx.failures.load(Ordering::Relaxed);
    let first_failures = ctx.first_failures.lock().expect("not poisoned").clone();
    let ingest_json = {
        let mut j = ingest.json();
        j["resources"] = json!(resources);
        j["bundles"] = json!(results.len());
        j["complete"] = json!(complete);
        j["resources_per_s"] = json!(resources as f64 / ingest_seconds);
        j["first_tenth_per_s"] = json!(first_rate);
        j["last_tenth_per_s"] = json!(last_rate);
        j
    };
    let figures = json!({
        "name": args.name,
        "base": ctx.target.base,
        "patients": args.patients,
        "seed": args.seed,
        "ingest": ingest_json,
        "read": read.json(),
        "search_token": token.json(),
        "search_chained": chained.json(),
        "create": create.json(),
        "disk": disk.map(|bytes| json!({"bytes": bytes, "resources": total, "bytes_per_resource": bytes as f64 / total as f64})),
        "rss_kib": rss.map(|(peak, now)| json!({"peak": peak, "now": now})),
        "export": export_json(&exports[0]),
        "export_patient": export_json(&exports[1]),
        "wrong_answers": failures,
        "first_wrong_answers": first_failures,
    });
    std::fs::write(
        &args.out,
        serde_json::to_vec_pretty(&figures).expect("serializes"),
    )
    .map_err(|e| format!("{}: {e}", args.out.display()))?;
    if failures > 0 {
        return Err(format!(
            "{failures} wrong answers from {}; first: {}",
            args.name,
            first_failures.join(" | ")
        ));
    }
    Ok(())
}

/// What a system export took.
struct Exported {
    resources: usize,
    files: usize,
    seconds: f64,
    download_seconds: f64,
}

/// Runs an `$export` at `path` and checks its files hold exactly `expected`
/// (type, id) once each. `Ok(None)`: the server does not offer it.
async fn export(
    target: &Target,
    path: &str,
    expected: &HashSet<(String, String)>,
) -> Result<Option<Exported>, String> {
    let client = target.client();
    let started = Instant::now();
    let kick = target
        .request(&client, Method::GET, path)
        .header("prefer", "respond-async");
    let res = kick.send().await.map_err(|e| format!("{path}: {e}"))?;
    if res.status() != StatusCode::ACCEPTED {
        println!("{path}: not offered (status {})", res.status());
        return Ok(None);
    }
    let status_url = res
        .headers()
        .get("content-location")
        .and_then(|v| v.to_str().ok())
        .ok_or("$export: 202 without Content-Location")?
        .to_owned();
    let manifest = loop {
        let reply = send(target.request_url(&client, Method::GET, &status_url)).await?;
        match reply.status.as_u16() {
            202 => tokio::time::sleep(Duration::from_millis(20)).await,
            200 => break reply.body,
            _ => return expect_status(&reply, 200, "export status").map(|()| None),
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let downloading = Instant::now();
    let outputs = manifest["output"]
        .as_array()
        .ok_or("export manifest: no output")?;
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for o in outputs {
        let url = o["url"]
            .as_str()
            .ok_or("export manifest: an output without url")?;
        let res = target
            .request_url(&client, Method::GET, url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if res.status() != StatusCode::OK {
            return Err(format!("{url}: status {}", res.status()));
        }
        let text = res.text().await.map_err(|e| format!("{url}: {e}"))?;
        let mut count = 0;
        for line in text.lines() {
            let r: Value = serde_json::from_str(line).map_err(|e| format!("{url}: {e}"))?;
            let key = (
                r["resourceType"].as_str().unwrap_or_default().to_owned(),
                r["id"].as_str().unwrap_or_default().to_owned(),
            );
            if key.0 != o["type"] || !seen.insert(key.clone()) {
                return Err(format!(
                    "{url}: {key:?} is of another type or exported twice"
                ));
            }
            count += 1;
        }
        if Some(count) != o["count"].as_u64() {
            return Err(format!(
                "{url}: {count} lines, the manifest says {}",
                o["count"]
            ));
        }
    }
    if seen != *expected {
        return Err(format!(
            "{path} gave {} resources, {} expected ({} missing)",
            seen.len(),
            expected.len(),
            expected.difference(&seen).count()
        ));
    }
    Ok(Some(Exported {
        resources: seen.len(),
        files: outputs.len(),
        seconds,
        download_seconds: downloading.elapsed().as_secs_f64(),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ingest_rates_over_the_first_and_last_tenth() {
        let bundle = |n: usize, at: f64| {
            let stored = (0..n)
                .map(|i| Stored {
                    resource_type: "Patient".into(),
                    id: i.to_string(),
                    uuid: i.to_string(),
                })
                .collect();
            (0, stored, at)
        };
        // 100 resources in bundles of 10, one bundle a second, then the
        // last one slower: 10 resources in the last 4 seconds.
        let mut results: Vec<_> = (1..=9).map(|i| bundle(10, i as f64)).collect();
        results.push(bundle(10, 13.0));
        let (first, last) = decile_rates(&results);
        assert!((first - 10.0).abs() < 1e-9, "{first}");
        assert!((last - 2.5).abs() < 1e-9, "{last}");
        assert_eq!(decile_rates(&[]), (0.0, 0.0));
    }

    use super::*;

    #[test]
    fn ids_come_from_relative_and_absolute_locations() {
        assert_eq!(
            location_id("Patient/12/_history/1", "Patient").as_deref(),
            Some("12")
        );
        assert_eq!(
            location_id(
                "https://h:1/fhir/ws/svc/Observation/a-b/_history/3",
                "Observation"
            )
            .as_deref(),
            Some("a-b")
        );
        assert_eq!(location_id("Observation/", "Observation"), None);
        assert_eq!(location_id("Patient/1", "Observation"), None);
    }

    fn query(ids: &[&str]) -> Query {
        Query {
            path: "Observation?code=x".into(),
            expected: ids.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn page(ids: &[&str], next: bool) -> Value {
        let entries: Vec<Value> = ids
            .iter()
            .map(|id| json!({"resource": {"resourceType": "Observation", "id": id}, "search": {"mode": "match"}}))
            .collect();
        let mut links = vec![json!({"relation": "self", "url": "x"})];
        if next {
            links.push(json!({"relation": "next", "url": "y"}));
        }
        json!({"resourceType": "Bundle", "type": "searchset", "entry": entries, "link": links})
    }

    #[test]
    fn a_page_must_hold_exactly_the_expected_matches() {
        let q = query(&["1", "2", "3"]);
        assert!(check_page(&page(&["3", "1", "2"], false), &q, "Observation").is_ok());
        // Missing, foreign, duplicated entries, or another type.
        assert!(check_page(&page(&["1", "2"], false), &q, "Observation").is_err());
        assert!(check_page(&page(&["1", "2", "4"], false), &q, "Observation").is_err());
        assert!(check_page(&page(&["1", "2", "2"], false), &q, "Observation").is_err());
        assert!(check_page(&page(&["1", "2", "3"], false), &q, "Patient").is_err());
        // A wrong total.
        let mut wrong_total = page(&["1", "2", "3"], false);
        wrong_total["total"] = json!(4);
        assert!(check_page(&wrong_total, &q, "Observation").is_err());
        // More matches than a page: a full page and a next link.
        let ids: Vec<String> = (0..60).map(|i| i.to_string()).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let q = query(&refs);
        assert!(check_page(&page(&refs[..50], true), &q, "Observation").is_ok());
        assert!(check_page(&page(&refs[..50], false), &q, "Observation").is_err());
        assert!(check_page(&page(&refs[..49], true), &q, "Observation").is_err());
    }

    #[test]
    fn transaction_responses_are_checked_entry_by_entry() {
        let bundle = generate::patient_bundle(7, 0);
        let n = bundle["entry"].as_array().unwrap().len();
        let answer = |status: &str| -> Value {
            let entries: Vec<Value> = bundle["entry"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    json!({"response": {"status": status, "location": format!("{}/{i}/_history/1", e["request"]["url"].as_str().unwrap())}})
                })
                .collect();
            json!({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})
        };
        let reply = |body: Value| Reply {
            status: StatusCode::OK,
            location: None,
            body,
        };
        let stored = check_transaction(&bundle, &reply(answer("201 Created"))).unwrap();
        assert_eq!(stored.len(), n);
        assert_eq!(stored[0].resource_type, "Patient");
        assert_eq!(stored[0].id, "0");
        assert!(check_transaction(&bundle, &reply(answer("200 OK"))).is_err());
        let mut short = answer("201 Created");
        short["entry"].as_array_mut().unwrap().pop();
        assert!(check_transaction(&bundle, &reply(short)).is_err());
        // Two Observations given one id.
        let observations: Vec<usize> = bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .filter(|(_, e)| e["request"]["url"] == "Observation")
            .map(|(i, _)| i)
            .collect();
        let mut same_id = answer("201 Created");
        same_id["entry"][observations[1]]["response"]["location"] =
            json!(format!("Observation/{}", observations[0]));
        assert!(check_transaction(&bundle, &reply(same_id)).is_err());
    }
}
