//! The side-by-side table of `bench` result files.

use std::path::PathBuf;

use serde_json::Value;

type Cell = fn(&Value) -> Option<String>;

fn num(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_f64()
}

fn rate(v: &Value, workload: &str) -> Option<String> {
    Some(format!("{:.0}/s", num(v, &[workload, "per_s"])?))
}

fn ms(v: &Value, workload: &str, p: &str) -> Option<String> {
    Some(format!("{:.2} ms", num(v, &[workload, p])?))
}

const ROWS: &[(&str, Cell)] = &[
    ("resources ingested", |v| {
        Some(format!("{:.0}", num(v, &["ingest", "resources"])?))
    }),
    ("ingest, transaction bundles (resources/s)", |v| {
        Some(format!(
            "{:.0}/s ({:.0} clients)",
            num(v, &["ingest", "resources_per_s"])?,
            num(v, &["ingest", "connections"])?
        ))
    }),
    ("ingest, bundle p50", |v| ms(v, "ingest", "p50_ms")),
    ("ingest, bundle p99", |v| ms(v, "ingest", "p99_ms")),
    ("ingest, first 10 % (resources/s)", |v| {
        Some(format!(
            "{:.0}/s",
            num(v, &["ingest", "first_tenth_per_s"])?
        ))
    }),
    ("ingest, last 10 % (resources/s)", |v| {
        Some(format!("{:.0}/s", num(v, &["ingest", "last_tenth_per_s"])?))
    }),
    ("read by id (req/s)", |v| {
        Some(format!(
            "{} ({:.0} conns)",
            rate(v, "read")?,
            num(v, &["read", "connections"])?
        ))
    }),
    ("read by id p50", |v| ms(v, "read", "p50_ms")),
    ("read by id p99", |v| ms(v, "read", "p99_ms")),
    ("single create (req/s)", |v| {
        Some(format!(
            "{} ({:.0} conns)",
            rate(v, "create")?,
            num(v, &["create", "connections"])?
        ))
    }),
    ("single create p50", |v| ms(v, "create", "p50_ms")),
    ("single create p99", |v| ms(v, "create", "p99_ms")),
    ("token search, _count=50 (req/s)", |v| {
        Some(format!(
            "{} ({:.0} conns)",
            rate(v, "search_token")?,
            num(v, &["search_token", "connections"])?
        ))
    }),
    ("token search p50", |v| ms(v, "search_token", "p50_ms")),
    ("token search p99", |v| ms(v, "search_token", "p99_ms")),
    ("chained search, _count=50 (req/s)", |v| {
        Some(format!(
            "{} ({:.0} conns)",
            rate(v, "search_chained")?,
            num(v, &["search_chained", "connections"])?
        ))
    }),
    ("chained search p50", |v| ms(v, "search_chained", "p50_ms")),
    ("chained search p99", |v| ms(v, "search_chained", "p99_ms")),
    ("system $export (resources/s)", |v| {
        Some(format!("{:.0}/s", num(v, &["export", "per_s"])?))
    }),
    ("Patient $export (resources/s)", |v| {
        Some(format!("{:.0}/s", num(v, &["export_patient", "per_s"])?))
    }),
    ("disk bytes per resource", |v| {
        Some(format!("{:.0}", num(v, &["disk", "bytes_per_resource"])?))
    }),
    ("server peak RSS", |v| {
        Some(format!("{:.0} MiB", num(v, &["rss_kib", "peak"])? / 1024.0))
    }),
    ("wrong answers", |v| {
        Some(format!("{:.0}", num(v, &["wrong_answers"])?))
    }),
];

pub fn table(files: &[PathBuf]) -> Result<(), String> {
    let mut runs = Vec::new();
    for f in files {
        let text = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let v: Value =
            serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", f.display()))?;
        runs.push(v);
    }
    let width = 26;
    let mut header = format!("{:<42}", "");
    for run in &runs {
        header.push_str(&format!("{:>width$}", run["name"].as_str().unwrap_or("?")));
    }
    println!("{header}");
    println!("{}", "-".repeat(42 + width * runs.len()));
    for (label, cell) in ROWS {
        let mut line = format!("{label:<42}");
        for run in &runs {
            line.push_str(&format!(
                "{:>width$}",
                cell(run).unwrap_or_else(|| "—".into())
            ));
        }
        println!("{line}");
    }
    Ok(())
}
