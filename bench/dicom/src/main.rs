//! `hale-bench-dicom`:
//!
//! - `generate`: writes a deterministic corpus (seed + size) as Part-10 files;
//! - `bench`: stores the same corpus into a DICOMweb service and measures STOW,
//!   QIDO, WADO instance retrieval, metadata and frames, checking every answer
//!   against what was stored; samples the server's RSS while storing;
//! - `table`: prints two `bench` results side by side with their ratio.

mod driver;
mod multipart;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use clap::Parser;
use hale_bench_dicom::{Corpus, CorpusSpec};

#[derive(Parser)]
#[command(about = "DICOM corpus generator and DICOMweb benchmark")]
enum Command {
    /// Write a corpus of .dcm files.
    Generate(GenerateArgs),
    /// Benchmark one DICOMweb service.
    Bench(Box<driver::BenchArgs>),
    /// Print two or more `bench --json` results side by side.
    Table {
        /// Result files; ratios are of the first to the second.
        files: Vec<PathBuf>,
    },
}

#[derive(clap::Args)]
struct GenerateArgs {
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Approximate corpus size in megabytes.
    #[arg(long, default_value_t = 100)]
    mb: u64,
    #[command(flatten)]
    shape: driver::Shape,
    /// The folder to write to (created).
    #[arg(long)]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    match Command::parse() {
        Command::Generate(args) => generate(args),
        Command::Bench(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(driver::run(*args)),
        Command::Table { files } => driver::table(&files),
    }
}

fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let corpus = Corpus::plan(args.shape.spec(args.seed, args.mb << 20));
    std::fs::create_dir_all(&args.out)?;
    let mut bytes = 0u64;
    for at in corpus.instances() {
        let instance = corpus.build(at);
        let path = args.out.join(format!(
            "study{:04}-series{:02}-{:04}.dcm",
            at.study,
            at.series + 1,
            at.instance + 1
        ));
        std::fs::write(&path, &instance.bytes)?;
        bytes += instance.bytes.len() as u64;
    }
    println!(
        "{} studies, {} instances, {:.1} MB in {}",
        corpus.studies.len(),
        corpus.len(),
        bytes as f64 / 1e6,
        args.out.display()
    );
    Ok(())
}

impl driver::Shape {
    pub fn spec(&self, seed: u64, target_bytes: u64) -> CorpusSpec {
        CorpusSpec {
            rows: self.rows,
            columns: self.columns,
            frames: self.frames,
            jpeg: !self.no_jpeg,
            ..CorpusSpec::new(seed, target_bytes)
        }
    }
}
