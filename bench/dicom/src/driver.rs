//! The benchmark: one corpus stored by STOW-RS (multipart batches, several
//! clients), then timed read phases with random targets. Every answer is
//! checked (status, part counts, bytes against an XXH3-128 fingerprint of what was stored,
//! result counts and UIDs), and the first wrong one ends the run with an error:
//! a fast wrong answer is a failure, not a figure.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use hale_bench_dicom::rng::Rng;
use hale_bench_dicom::{Corpus, Instance, InstanceRef};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use crate::multipart;

#[derive(clap::Args, Clone)]
pub struct Shape {
    /// Rows of the CT images (MR and multi-frame SC are half).
    #[arg(long, default_value_t = 512)]
    pub rows: u16,
    /// Columns of the CT images.
    #[arg(long, default_value_t = 512)]
    pub columns: u16,
    /// Frames of each multi-frame secondary capture (the JPEG cines have twice as many).
    #[arg(long, default_value_t = 8)]
    pub frames: u32,
    /// Leave out the JPEG Baseline cine studies.
    #[arg(long)]
    pub no_jpeg: bool,
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// A label for the results (e.g. Hale, Orthanc).
    #[arg(long)]
    name: String,
    /// The DICOMweb base URL: …/v2 for Hale or Azure, …/dicom-web for Orthanc.
    #[arg(long)]
    url: String,
    /// A PEM CA certificate to trust (and no other).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Basic authentication, user:password.
    #[arg(long, env = "HALE_BENCH_BASIC_AUTH", hide_env_values = true)]
    basic: Option<String>,
    /// OAuth token endpoint for client credentials (then also --client-id,
    /// --scope, and the secret in HALE_BENCH_CLIENT_SECRET).
    #[arg(long, requires_all = ["client_id", "scope"])]
    token_url: Option<String>,
    #[arg(long)]
    client_id: Option<String>,
    #[arg(long)]
    scope: Option<String>,
    /// The server's process ID, to sample its resident memory while storing.
    #[arg(long)]
    pid: Option<u32>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Corpus size in megabytes.
    #[arg(long, default_value_t = 300)]
    mb: u64,
    /// Corpus size in gigabytes (overrides --mb); above 2 GB instances are
    /// generated while storing instead of beforehand.
    #[arg(long)]
    gb: Option<u64>,
    #[command(flatten)]
    shape: Shape,
    /// Concurrent clients, one keep-alive connection each.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Megabytes per STOW request (at most 64 instances).
    #[arg(long, default_value_t = 8)]
    batch_mb: u64,
    /// Seconds per read phase (after a one-second warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Write the results here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// What the bench remembers of each stored instance to check answers.
struct Stored {
    at: InstanceRef,
    sop: String,
    len: usize,
    digest: u128,
    frames: Vec<u128>,
}

/// The fingerprint answers are checked against (XXH3, 128 bits).
fn fingerprint(bytes: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(bytes)
}

impl Stored {
    fn of(at: InstanceRef, i: &Instance) -> Stored {
        Stored {
            at,
            sop: i.sop_instance_uid.clone(),
            len: i.bytes.len(),
            digest: fingerprint(&i.bytes),
            frames: (0..i.frames.len())
                .map(|f| fingerprint(i.frame(f)))
                .collect(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Phase {
    pub name: String,
    pub requests: u64,
    pub seconds: f64,
    pub req_per_s: f64,
    pub mb_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// STOW only.
    pub instances_per_s: Option<f64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Rss {
    pub start_mb: f64,
    pub max_mb: f64,
    pub end_mb: f64,
    /// RSS when 25, 50, 75 and 100 % of the bytes had been stored.
    pub quartiles_mb: Vec<f64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Results {
    pub name: String,
    pub url: String,
    pub instances: usize,
    pub studies: usize,
    pub bytes: u64,
    pub clients: usize,
    pub phases: Vec<Phase>,
    pub rss: Option<Rss>,
}

enum Auth {
    None,
    Basic(String),
    Bearer(TokenSource),
}

struct TokenSource {
    url: String,
    form: Vec<(String, String)>,
    current: RwLock<(String, Instant)>,
}

impl Auth {
    async fn header(&self, client: &reqwest::Client) -> anyhow::Result<Option<String>> {
        match self {
            Auth::None => Ok(None),
            Auth::Basic(b) => Ok(Some(b.clone())),
            Auth::Bearer(source) => {
                {
                    let current = source.current.read().await;
                    if !current.0.is_empty() && current.1.elapsed() < Duration::from_secs(1800) {
                        return Ok(Some(format!("Bearer {}", current.0)));
                    }
                }
                let mut current = source.current.write().await;
                if current.0.is_empty() || current.1.elapsed() >= Duration::from_secs(1800) {
                    let res = client.post(&source.url).form(&source.form).send().await?;
                    let status = res.status();
                    let body: Value = res.json().await?;
                    ensure!(status == 200, "token request: {status} {body}");
                    let token = body["access_token"]
                        .as_str()
                        .context("no access_token")?
                        .to_owned();
                    *current = (token, Instant::now());
                }
                Ok(Some(format!("Bearer {}", current.0)))
            }
        }
    }
}

struct Ctx {
    url: String,
    auth: Auth,
    corpus: Corpus,
    stored: Vec<Stored>,
    /// Study UID → its instances' indexes in `stored`.
    by_series: HashMap<(usize, usize), Vec<usize>>,
    /// Patient ID → study UIDs.
    patients: HashMap<String, BTreeSet<String>>,
}

fn client(ca: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .pool_max_idle_per_host(1)
        .http1_only();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        builder = builder
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
    }
    Ok(builder.build()?)
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let url = args.url.trim_end_matches('/').to_owned();
    let target = args.gb.map(|g| g << 30).unwrap_or(args.mb << 20);
    let corpus = Corpus::plan(args.shape.spec(args.seed, target));
    let auth = if let Some(token_url) = &args.token_url {
        let secret = std::env::var("HALE_BENCH_CLIENT_SECRET")
            .context("HALE_BENCH_CLIENT_SECRET must hold the client secret")?;
        Auth::Bearer(TokenSource {
            url: token_url.clone(),
            form: vec![
                ("grant_type".into(), "client_credentials".into()),
                ("client_id".into(), args.client_id.clone().unwrap()),
                ("client_secret".into(), secret),
                ("scope".into(), args.scope.clone().unwrap()),
            ],
            current: RwLock::new((String::new(), Instant::now())),
        })
    } else if let Some(basic) = &args.basic {
        use base64::Engine;
        Auth::Basic(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(basic)
        ))
    } else {
        Auth::None
    };
    let clients: Vec<reqwest::Client> = (0..args.clients.max(1))
        .map(|_| client(args.ca.as_deref()))
        .collect::<anyhow::Result<_>>()?;
    println!(
        "[{}] corpus: seed {}, {} studies, {} instances planned (~{} MB); {} clients",
        args.name,
        args.seed,
        corpus.studies.len(),
        corpus.len(),
        target >> 20,
        clients.len()
    );

    let mut ctx = Ctx {
        url,
        auth,
        stored: Vec::new(),
        by_series: HashMap::new(),
        patients: HashMap::new(),
        corpus,
    };
    for st in &ctx.corpus.studies {
        ctx.patients
            .entry(st.patient.id.clone())
            .or_default()
            .insert(st.uid.clone());
    }

    let (stow, rss, stored, bytes) = stow(&args, &ctx, &clients).await?;
    ctx.stored = stored;
    for (i, s) in ctx.stored.iter().enumerate() {
        ctx.by_series
            .entry((s.at.study, s.at.series))
            .or_default()
            .push(i);
    }
    let ctx = Arc::new(ctx);
    let mut phases = vec![stow];
    let seconds = Duration::from_secs(args.seconds);
    for kind in [
        ReadKind::Qido,
        ReadKind::Instance,
        ReadKind::InstanceMetadata,
        ReadKind::SeriesMetadata,
        ReadKind::Frame,
    ] {
        let phase = read_phase(kind, &ctx, &clients, seconds).await?;
        println!("[{}] {}", args.name, describe(&phase));
        phases.push(phase);
    }
    let results = Results {
        name: args.name.clone(),
        url: ctx.url.clone(),
        instances: ctx.stored.len(),
        studies: ctx.corpus.studies.len(),
        bytes,
        clients: clients.len(),
        phases,
        rss,
    };
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&results)?)?;
    }
    Ok(())
}

fn describe(p: &Phase) -> String {
    let mut s = format!(
        "{:<28} n={:<6} {:>8.1} req/s {:>8.1} MB/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
        p.name, p.requests, p.req_per_s, p.mb_per_s, p.p50_ms, p.p99_ms
    );
    if let Some(i) = p.instances_per_s {
        s.push_str(&format!("  {i:.1} instances/s"));
    }
    s
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// One STOW request, made ready by the generator before it is handed to a
/// client: its multipart body and the fingerprints to check reads against.
/// So the timed requests cost the load generator a send, not a copy of the
/// batch and a hash of every instance (which, on the same cores, would be
/// taken from the server under test).
struct Batch {
    body: bytes::Bytes,
    stored: Vec<Stored>,
}

impl Batch {
    fn of(items: &[(InstanceRef, Instance)]) -> Batch {
        Batch {
            body: multipart::stow_body(items.iter().map(|(_, i)| i.bytes.as_slice())).into(),
            stored: items.iter().map(|(at, i)| Stored::of(*at, i)).collect(),
        }
    }

    fn bytes(&self) -> usize {
        self.stored.iter().map(|s| s.len).sum()
    }
}

/// Stores the corpus; returns the STOW phase, RSS samples, what was stored
/// and its total size.
async fn stow(
    args: &BenchArgs,
    ctx: &Ctx,
    clients: &[reqwest::Client],
) -> anyhow::Result<(Phase, Option<Rss>, Vec<Stored>, u64)> {
    let refs: Vec<InstanceRef> = ctx.corpus.instances().collect();
    let batch_bytes = (args.batch_mb << 20) as usize;
    let pregenerate = args.gb.unwrap_or(0) <= 2 && ctx.corpus.spec.target_bytes <= 2 << 30;
    let (tx, rx) = tokio::sync::mpsc::channel::<Batch>(clients.len() * 2);
    let corpus = ctx.corpus.clone();
    let make_batches = move |tx: tokio::sync::mpsc::Sender<Batch>| {
        let mut batch = Vec::new();
        let mut size = 0;
        for at in refs {
            let instance = corpus.build(at);
            size += instance.bytes.len();
            batch.push((at, instance));
            if size >= batch_bytes || batch.len() >= 64 {
                if tx.blocking_send(Batch::of(&batch)).is_err() {
                    return;
                }
                batch.clear();
                size = 0;
            }
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(Batch::of(&batch));
        }
    };
    let rx = if pregenerate {
        let started = Instant::now();
        let (all_tx, mut all_rx) = tokio::sync::mpsc::channel::<Batch>(1 << 20);
        tokio::task::spawn_blocking(move || make_batches(all_tx)).await?;
        let mut all = Vec::new();
        while let Some(b) = all_rx.recv().await {
            all.push(b);
        }
        println!(
            "[{}] generated {} instances in memory in {:.1} s",
            args.name,
            all.iter().map(|b| b.stored.len()).sum::<usize>(),
            started.elapsed().as_secs_f64()
        );
        tokio::spawn(async move {
            for b in all {
                if tx.send(b).await.is_err() {
                    return;
                }
            }
        });
        rx
    } else {
        println!("[{}] generating instances while storing", args.name);
        std::thread::spawn(move || make_batches(tx));
        rx
    };
    let rx = Arc::new(Mutex::new(rx));

    let stored_bytes = Arc::new(AtomicU64::new(0));
    let total_planned = ctx.corpus.len();
    let done = Arc::new(AtomicUsize::new(0));
    let sampler = args.pid.map(|pid| {
        let stored_bytes = stored_bytes.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut samples: Vec<(u64, u64)> = Vec::new();
            loop {
                if let Some(kb) = rss_kb(pid) {
                    samples.push((stored_bytes.load(Ordering::Relaxed), kb));
                }
                if done.load(Ordering::Relaxed) >= total_planned {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            samples
        })
    });

    let started = Instant::now();
    let mut workers = Vec::new();
    for client in clients {
        let rx = rx.clone();
        let client = client.clone();
        let stored_bytes = stored_bytes.clone();
        let done = done.clone();
        let url = format!("{}/studies", ctx.url);
        let auth_header = ctx.auth.header(&client).await?;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut stored = Vec::new();
            loop {
                let Some(batch) = rx.lock().await.recv().await else {
                    break;
                };
                let body = batch.body.clone();
                let mut req = client
                    .post(&url)
                    .header("content-type", multipart::stow_content_type())
                    .header("accept", "application/dicom+json")
                    .body(body);
                if let Some(h) = &auth_header {
                    req = req.header("authorization", h);
                }
                let t = Instant::now();
                let res = req.send().await.context("STOW request")?;
                let status = res.status();
                let text = res.text().await?;
                latencies.push(t.elapsed());
                check_stow(status.as_u16(), &text, &batch)?;
                stored_bytes.fetch_add(batch.bytes() as u64, Ordering::Relaxed);
                done.fetch_add(batch.stored.len(), Ordering::Relaxed);
                stored.extend(batch.stored);
            }
            anyhow::Ok((latencies, stored))
        }));
    }
    let mut latencies = Vec::new();
    let mut stored = Vec::new();
    let mut failure = None;
    for w in workers {
        match w.await? {
            Ok((l, s)) => {
                latencies.extend(l);
                stored.extend(s);
            }
            Err(e) => failure = Some(e),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    done.store(usize::MAX, Ordering::Relaxed);
    if let Some(e) = failure {
        return Err(e);
    }
    ensure!(
        stored.len() == ctx.corpus.len(),
        "stored {} of {} instances",
        stored.len(),
        ctx.corpus.len()
    );
    stored.sort_by_key(|s| (s.at.study, s.at.series, s.at.instance));
    latencies.sort();
    let bytes: u64 = stored.iter().map(|s| s.len as u64).sum();
    let phase = Phase {
        name: "STOW (multipart batches)".into(),
        requests: latencies.len() as u64,
        seconds: elapsed,
        req_per_s: latencies.len() as f64 / elapsed,
        mb_per_s: bytes as f64 / 1e6 / elapsed,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        instances_per_s: Some(stored.len() as f64 / elapsed),
    };
    println!(
        "[{}] stored {} instances, {:.1} MB in {:.1} s",
        args.name,
        stored.len(),
        bytes as f64 / 1e6,
        elapsed
    );
    println!("[{}] {}", args.name, describe(&phase));
    let rss = match sampler {
        Some(s) => {
            let samples = s.await?;
            let mb = |kb: u64| kb as f64 / 1024.0;
            let quartiles = [0.25, 0.5, 0.75, 1.0]
                .iter()
                .map(|q| {
                    let mark = (bytes as f64 * q) as u64;
                    samples
                        .iter()
                        .find(|(b, _)| *b >= mark)
                        .or(samples.last())
                        .map(|(_, kb)| mb(*kb))
                        .unwrap_or(0.0)
                })
                .collect::<Vec<_>>();
            let rss = Rss {
                start_mb: samples.first().map(|s| mb(s.1)).unwrap_or(0.0),
                max_mb: samples.iter().map(|s| mb(s.1)).fold(0.0, f64::max),
                end_mb: samples.last().map(|s| mb(s.1)).unwrap_or(0.0),
                quartiles_mb: quartiles,
            };
            println!(
                "[{}] server RSS while storing: start {:.0} MB, at 25/50/75/100 % {} MB, max {:.0} MB ({} samples)",
                args.name,
                rss.start_mb,
                rss.quartiles_mb
                    .iter()
                    .map(|m| format!("{m:.0}"))
                    .collect::<Vec<_>>()
                    .join("/"),
                rss.max_mb,
                samples.len()
            );
            Some(rss)
        }
        None => None,
    };
    Ok((phase, rss, stored, bytes))
}

fn first_string(v: &Value, tag: &str) -> Option<String> {
    v[tag]["Value"][0].as_str().map(str::to_owned)
}

fn check_stow(status: u16, text: &str, batch: &Batch) -> anyhow::Result<()> {
    ensure!(
        status == 200 || status == 202,
        "STOW answered {status}: {}",
        text.chars().take(500).collect::<String>()
    );
    let body: Value = serde_json::from_str(text).context("STOW response is not JSON")?;
    if let Some(failed) = body["00081198"]["Value"].as_array() {
        ensure!(failed.is_empty(), "STOW failed instances: {body}");
    }
    let referenced: BTreeSet<String> = body["00081199"]["Value"]
        .as_array()
        .context("no ReferencedSOPSequence in the STOW response")?
        .iter()
        .filter_map(|item| first_string(item, "00081155"))
        .collect();
    let sent: BTreeSet<String> = batch.stored.iter().map(|s| s.sop.clone()).collect();
    ensure!(
        referenced == sent,
        "STOW referenced {} instances, {} were sent",
        referenced.len(),
        sent.len()
    );
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum ReadKind {
    Qido,
    Instance,
    InstanceMetadata,
    SeriesMetadata,
    Frame,
}

impl ReadKind {
    fn name(self) -> &'static str {
        match self {
            ReadKind::Qido => "QIDO study search",
            ReadKind::Instance => "WADO instance",
            ReadKind::InstanceMetadata => "metadata (instance)",
            ReadKind::SeriesMetadata => "metadata (series)",
            ReadKind::Frame => "frame (frames/N)",
        }
    }
}

async fn read_phase(
    kind: ReadKind,
    ctx: &Arc<Ctx>,
    clients: &[reqwest::Client],
    seconds: Duration,
) -> anyhow::Result<Phase> {
    let warm_until = Instant::now() + Duration::from_secs(1);
    let until = warm_until + seconds;
    let mut workers = Vec::new();
    for (w, client) in clients.iter().enumerate() {
        let ctx = ctx.clone();
        let client = client.clone();
        workers.push(tokio::spawn(async move {
            let mut rng = Rng::derive(ctx.corpus.spec.seed, &[100, kind as u64, w as u64]);
            let mut latencies = Vec::new();
            let mut bytes = 0u64;
            loop {
                let start = Instant::now();
                if start >= until {
                    break;
                }
                let n = one_read(kind, &ctx, &client, &mut rng).await?;
                if start >= warm_until {
                    latencies.push(start.elapsed());
                    bytes += n as u64;
                }
            }
            anyhow::Ok((latencies, bytes))
        }));
    }
    let mut latencies = Vec::new();
    let mut bytes = 0;
    for w in workers {
        let (l, b) = w.await??;
        latencies.extend(l);
        bytes += b;
    }
    latencies.sort();
    let secs = seconds.as_secs_f64();
    Ok(Phase {
        name: kind.name().into(),
        requests: latencies.len() as u64,
        seconds: secs,
        req_per_s: latencies.len() as f64 / secs,
        mb_per_s: bytes as f64 / 1e6 / secs,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        instances_per_s: None,
    })
}

/// One checked request; returns the payload bytes it counted.
async fn one_read(
    kind: ReadKind,
    ctx: &Ctx,
    client: &reqwest::Client,
    rng: &mut Rng,
) -> anyhow::Result<usize> {
    let s = &ctx.stored[rng.below(ctx.stored.len() as u64) as usize];
    let study = &ctx.corpus.studies[s.at.study];
    let series = &study.series[s.at.series];
    let instance_url = format!(
        "{}/studies/{}/series/{}/instances/{}",
        ctx.url, study.uid, series.uid, s.sop
    );
    let (url, accept) = match kind {
        ReadKind::Qido => {
            let query = match rng.below(3) {
                0 => format!("PatientID={}", study.patient.id),
                1 => format!("AccessionNumber={}", study.accession),
                _ => format!("StudyInstanceUID={}", study.uid),
            };
            (
                format!("{}/studies?{query}", ctx.url),
                "application/dicom+json".to_owned(),
            )
        }
        ReadKind::Instance => (
            instance_url,
            "multipart/related; type=\"application/dicom\"; transfer-syntax=*".to_owned(),
        ),
        ReadKind::InstanceMetadata => (
            format!("{instance_url}/metadata"),
            "application/dicom+json".into(),
        ),
        ReadKind::SeriesMetadata => (
            format!(
                "{}/studies/{}/series/{}/metadata",
                ctx.url, study.uid, series.uid
            ),
            "application/dicom+json".into(),
        ),
        ReadKind::Frame => {
            let frame = rng.below(s.frames.len() as u64) as usize + 1;
            (
                format!("{instance_url}/frames/{frame}"),
                "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*".into(),
            )
        }
    };
    let mut req = client.get(&url).header("accept", &accept);
    if let Some(h) = ctx.auth.header(client).await? {
        req = req.header("authorization", h);
    }
    let res = req.send().await.with_context(|| format!("GET {url}"))?;
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = res.bytes().await?;
    if status != 200 {
        bail!(
            "GET {url} ({accept}) answered {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(500)])
        );
    }
    let json = || -> anyhow::Result<Vec<Value>> {
        let v: Value =
            serde_json::from_slice(&body).with_context(|| format!("GET {url}: not JSON"))?;
        match v {
            Value::Array(a) => Ok(a),
            other => bail!("GET {url}: not a JSON array: {other}"),
        }
    };
    match kind {
        ReadKind::Qido => {
            let results = json()?;
            let query = url.split_once('?').unwrap().1;
            let expected: BTreeSet<String> = if query.starts_with("PatientID=") {
                ctx.patients[&study.patient.id].clone()
            } else {
                BTreeSet::from([study.uid.clone()])
            };
            let got: BTreeSet<String> = results
                .iter()
                .filter_map(|r| first_string(r, "0020000D"))
                .collect();
            ensure!(
                results.len() == expected.len() && got == expected,
                "QIDO {query}: {} results {got:?}, expected {expected:?}",
                results.len()
            );
        }
        ReadKind::Instance | ReadKind::Frame => {
            let boundary =
                multipart::boundary(&content_type).with_context(|| format!("GET {url}"))?;
            let parts = multipart::parts(&body, &boundary).with_context(|| format!("GET {url}"))?;
            ensure!(
                parts.len() == 1,
                "GET {url}: {} parts, expected 1",
                parts.len()
            );
            let (expected, what) = match kind {
                ReadKind::Instance => (&s.digest, "the stored instance"),
                _ => {
                    let frame: usize = url.rsplit('/').next().unwrap().parse()?;
                    (&s.frames[frame - 1], "the stored frame")
                }
            };
            ensure!(
                &fingerprint(parts[0]) == expected,
                "GET {url}: {} bytes differ from {what}",
                parts[0].len()
            );
            return Ok(parts[0].len());
        }
        ReadKind::InstanceMetadata => {
            let results = json()?;
            ensure!(results.len() == 1, "GET {url}: {} objects", results.len());
            ensure!(
                first_string(&results[0], "00080018").as_deref() == Some(s.sop.as_str())
                    && first_string(&results[0], "0020000D").as_deref() == Some(study.uid.as_str())
                    && first_string(&results[0], "00100020").as_deref()
                        == Some(study.patient.id.as_str()),
                "GET {url}: wrong metadata"
            );
        }
        ReadKind::SeriesMetadata => {
            let results = json()?;
            let expected: BTreeSet<&str> = ctx.by_series[&(s.at.study, s.at.series)]
                .iter()
                .map(|&i| ctx.stored[i].sop.as_str())
                .collect();
            let got: BTreeSet<String> = results
                .iter()
                .filter_map(|r| first_string(r, "00080018"))
                .collect();
            ensure!(
                results.len() == expected.len()
                    && got.iter().map(String::as_str).collect::<BTreeSet<_>>() == expected,
                "GET {url}: {} instances, expected {}",
                results.len(),
                expected.len()
            );
        }
    }
    Ok(body.len())
}

/// Prints result files side by side, with the ratio of the first to the second.
pub fn table(files: &[PathBuf]) -> anyhow::Result<()> {
    let results: Vec<Results> = files
        .iter()
        .map(|f| -> anyhow::Result<Results> {
            Ok(serde_json::from_slice(
                &std::fs::read(f).with_context(|| format!("reading {}", f.display()))?,
            )?)
        })
        .collect::<anyhow::Result<_>>()?;
    ensure!(!results.is_empty(), "no result files");
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    let ratio_label = if results.len() >= 2 {
        format!("{}/{}", names[0], names[1])
    } else {
        String::new()
    };
    println!(
        "corpus: {} studies, {} instances, {:.1} MB; {} clients",
        results[0].studies,
        results[0].instances,
        results[0].bytes as f64 / 1e6,
        results[0].clients
    );
    print!("{:<44}", "");
    for n in &names {
        print!("{n:>14}");
    }
    println!("  {ratio_label:>8}");
    let row = |label: String, values: Vec<Option<f64>>, higher_better: bool| {
        print!("{label:<44}");
        for v in &values {
            match v {
                Some(v) => print!("{v:>14.1}"),
                None => print!("{:>14}", "-"),
            }
        }
        if let (Some(Some(a)), Some(Some(b))) = (values.first(), values.get(1))
            && *b > 0.0
        {
            let note = if higher_better {
                ""
            } else {
                " (lower is better)"
            };
            print!("  {:>8}{note}", format!("{:.2}x", a / b));
        }
        println!();
    };
    let phase_names: Vec<String> = results[0].phases.iter().map(|p| p.name.clone()).collect();
    for name in phase_names {
        let get = |f: &dyn Fn(&Phase) -> Option<f64>| -> Vec<Option<f64>> {
            results
                .iter()
                .map(|r| r.phases.iter().find(|p| p.name == name).and_then(f))
                .collect()
        };
        if name.starts_with("STOW") {
            row(
                format!("{name}: instances/s"),
                get(&|p| p.instances_per_s),
                true,
            );
            row(format!("{name}: MB/s"), get(&|p| Some(p.mb_per_s)), true);
        } else {
            row(format!("{name}: req/s"), get(&|p| Some(p.req_per_s)), true);
            if name.starts_with("WADO") || name.starts_with("frame") {
                row(format!("{name}: MB/s"), get(&|p| Some(p.mb_per_s)), true);
            }
        }
        row(format!("{name}: p99 ms"), get(&|p| Some(p.p99_ms)), false);
    }
    row(
        "server RSS while storing: max MB".into(),
        results
            .iter()
            .map(|r| r.rss.as_ref().map(|r| r.max_mb))
            .collect(),
        false,
    );
    row(
        "server RSS growth from 25 % to 100 % stored, MB".into(),
        results
            .iter()
            .map(|r| {
                r.rss
                    .as_ref()
                    .and_then(|r| Some(r.quartiles_mb.last()? - r.quartiles_mb.first()?))
            })
            .collect(),
        false,
    );
    Ok(())
}
