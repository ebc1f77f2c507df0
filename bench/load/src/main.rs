//! `hale-load`: POSTs one form request (or GETs a URL) over and over from N
//! concurrent workers (each on its own keep-alive connection) for a fixed
//! time, then prints the throughput and latency percentiles. Used by
//! `bench/token`.

use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser)]
#[command(about = "Concurrent POSTs of one form body; prints requests/s and latency percentiles")]
struct Args {
    /// The URL to POST to.
    #[arg(long)]
    url: String,
    /// The form body, already URL-encoded; without it, GET the URL.
    #[arg(long)]
    form: Option<String>,
    /// A PEM CA certificate to trust (and no other).
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
    /// Concurrent workers, one connection each.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// How long to run, in seconds (after a one-second warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Use a new connection (and TLS handshake) for every request.
    #[arg(long)]
    new_connection_each: bool,
}

fn client(args: &Args) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .http1_only();
    if let Some(ca) = &args.ca {
        let pem = std::fs::read(ca).expect("the CA file");
        builder = builder
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM certificate"));
    }
    if args.new_connection_each {
        builder = builder.pool_max_idle_per_host(0);
    }
    builder.build().expect("an HTTP client")
}

async fn worker(
    client: reqwest::Client,
    url: String,
    form: Option<String>,
    warm_until: Instant,
    until: Instant,
) -> (Vec<u32>, u64) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    loop {
        let start = Instant::now();
        if start >= until {
            break;
        }
        let request = match &form {
            Some(form) => client
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.clone()),
            None => client.get(&url),
        };
        let ok = match request.send().await {
            Ok(res) => {
                let ok = res.status().is_success();
                let _ = res.bytes().await;
                ok
            }
            Err(_) => false,
        };
        if start < warm_until {
            continue;
        }
        if ok {
            latencies.push(start.elapsed().as_micros() as u32);
        } else {
            errors += 1;
        }
    }
    (latencies, errors)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let warm_until = Instant::now() + Duration::from_secs(1);
    let until = warm_until + Duration::from_secs(args.seconds);
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|_| {
            tokio::spawn(worker(
                client(&args),
                args.url.clone(),
                args.form.clone(),
                warm_until,
                until,
            ))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.expect("a worker");
        latencies.extend(l);
        errors += e;
    }
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i] as f64 / 1000.0
    };
    println!(
        "{} ok, {} errors in {} s with {} workers{}: {:.0} requests/s; latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
        latencies.len(),
        errors,
        args.seconds,
        args.concurrency,
        if args.new_connection_each {
            " (new TLS connection per request)"
        } else {
            " (keep-alive)"
        },
        latencies.len() as f64 / args.seconds as f64,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0),
    );
}
