//! `hale-bench-fhir`: writes generated FHIR data, sets Hale up for the
//! benchmark, runs the benchmark against any FHIR base URL, and prints the
//! side-by-side table. `bench/fhir/run` drives it; see bench/fhir/README.md.

mod bench;
mod hale;
mod report;

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use hale_bench_fhir::generate;

#[derive(Parser)]
#[command(about = "Synthea-shaped FHIR R4 data and the FHIR benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes generated patients: one transaction Bundle per patient
    /// (`patient-00000.json` …), or NDJSON with one resource a line
    /// (`Patient.ndjson`, `Observation.ndjson` …, ids and `Type/id` references).
    Generate {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 40)]
        patients: usize,
        /// The folder to write into (made if missing).
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        ndjson: bool,
    },
    /// Prepares Hale for the benchmark: a workspace and FHIR service, an
    /// application with a secret, "FHIR Data Contributor" on the service, and
    /// a token for it (audience = the service URL). Prints the FHIR base URL;
    /// writes the token to `--token-out` (mode 0600).
    HaleSetup {
        /// Hale's URL, e.g. https://127.0.0.1:8443
        #[arg(long)]
        url: String,
        /// Hale's CA certificate (PEM).
        #[arg(long)]
        ca: PathBuf,
        /// The administrator's password (admin@hale.local).
        #[arg(long, env = "HALE_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, default_value = "bench")]
        workspace: String,
        #[arg(long, default_value = "fhir1")]
        service: String,
        #[arg(long)]
        token_out: PathBuf,
    },
    /// Runs the workloads against one FHIR server and writes its figures as JSON.
    Bench(bench::Args),
    /// Prints the side-by-side table of result files written by `bench`.
    Table { results: Vec<PathBuf> },
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Generate {
            seed,
            patients,
            out,
            ndjson,
        } => write_generated(seed, patients, &out, ndjson),
        Command::HaleSetup {
            url,
            ca,
            password,
            workspace,
            service,
            token_out,
        } => hale::setup(&url, &ca, &password, &workspace, &service, &token_out).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Table { results } => report::table(&results),
    };
    if let Err(e) = outcome {
        eprintln!("hale-bench-fhir: {e}");
        std::process::exit(if e == bench::NOT_IMPLEMENTED { 3 } else { 1 });
    }
}

fn write_generated(
    seed: u64,
    patients: usize,
    out: &std::path::Path,
    ndjson: bool,
) -> Result<(), String> {
    if patients > generate::MAX_PATIENTS {
        return Err(format!("at most {} patients", generate::MAX_PATIENTS));
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut files: std::collections::BTreeMap<String, std::io::BufWriter<std::fs::File>> =
        Default::default();
    let mut resources = 0usize;
    for (i, bundle) in generate::bundles(seed, patients).enumerate() {
        if ndjson {
            for resource in generate::resources_with_ids(&bundle) {
                let rt = resource["resourceType"]
                    .as_str()
                    .unwrap_or("Unknown")
                    .to_owned();
                if !files.contains_key(&rt) {
                    let path = out.join(format!("{rt}.ndjson"));
                    let file = std::fs::File::create(&path)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    files.insert(rt.clone(), std::io::BufWriter::new(file));
                }
                let file = files.get_mut(&rt).expect("opened above");
                let mut line = generate::to_json_bytes(&resource);
                line.push(b'\n');
                file.write_all(&line).map_err(|e| e.to_string())?;
                resources += 1;
            }
        } else {
            resources += bundle["entry"].as_array().map_or(0, Vec::len);
            let path = out.join(format!("patient-{i:05}.json"));
            let bytes = generate::to_json_bytes(&bundle);
            std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    for (_, mut file) in files {
        file.flush().map_err(|e| e.to_string())?;
    }
    println!(
        "{patients} patients, {resources} resources (seed {seed}) in {}",
        out.display()
    );
    Ok(())
}
