//! `hale serve`: gather settings (file < environment < flags), start the server,
//! print where everything is, and shut down gracefully on SIGINT or SIGTERM.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::ArgMatches;
use clap::parser::ValueSource;
use hale_blob::BlobUrl;
use hale_server::{RunningServer, Secret, Settings, StartInfo, Tls, absolute};
use hale_store::DatabaseUrl;
use serde::Deserialize;
use url::Url;

use crate::EXIT_BAD_START;
use crate::out;

const AFTER_HELP: &str = "\
Settings come from, lowest precedence first: a TOML file (--config), HALE_* environment \
variables, then flags. The file uses the flags' names as keys, e.g.

    data-dir = \"/var/lib/hale\"
    listen = \"0.0.0.0:8443\"
    hostnames = [\"hale.example.org\"]

Secrets are taken from the environment only and never printed:
    HALE_ADMIN_PASSWORD  the administrator's password at first start (at least 8 characters);
                         generated and printed once when absent
    HALE_MASTER_KEY      base64 of 32 bytes sealing secrets at rest; when absent, a key file
                         <data-dir>/master.key is made at first start (keep it apart from backups
                         of the database)

Unknown settings and HALE_* variables are errors. A failed start exits with status 2 and \
leaves nothing behind.";

/// Settings for `hale serve`. Every flag can also be set by the environment
/// variable shown, or in the TOML file under the flag's name.
#[derive(clap::Args, Debug)]
#[command(after_long_help = AFTER_HELP)]
pub struct ServeArgs {
    /// TOML file to read settings from (flags and environment override it).
    #[arg(long, env = "HALE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Where Hale keeps its data: the SQLite database (by default), the master key,
    /// the local CA and TLS certificate, the blob folder (by default).
    /// [default: ./hale-data]
    #[arg(long, env = "HALE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Address and port to listen on. [default: 127.0.0.1:8443]
    #[arg(long, env = "HALE_LISTEN", value_name = "ADDR:PORT")]
    listen: Option<String>,

    /// The URL clients use to reach Hale: it goes into issuers, discovery documents
    /// and links. [default: https://<listen address>:<port>/, localhost for 0.0.0.0]
    #[arg(long, env = "HALE_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,

    /// The database: sqlite://<path> or postgres://user:password@host:port/db.
    /// [default: sqlite://<data-dir>/hale.db]
    #[arg(
        long,
        env = "HALE_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,

    /// The blob store: a folder (file://<path>), s3://bucket/prefix (credentials
    /// from AWS_* variables) or az://container/prefix (AZURE_* variables).
    /// [default: file://<data-dir>/blobs]
    #[arg(long, env = "HALE_BLOB_URL", value_name = "URL")]
    blob_url: Option<String>,

    /// Extra host names (or IP addresses) for the generated TLS certificate, beyond
    /// localhost, 127.0.0.1, ::1 and the public URL's host. Repeat or separate by commas.
    #[arg(
        long = "hostname",
        env = "HALE_HOSTNAMES",
        value_name = "NAME",
        value_delimiter = ','
    )]
    hostnames: Vec<String>,

    /// Your own TLS certificate chain (PEM) instead of one from Hale's local CA.
    #[arg(long, env = "HALE_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "HALE_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Serve plain HTTP, e.g. behind a load balancer that terminates TLS. Microsoft's
    /// client libraries refuse http:// authorities, so set --public-url to the
    /// balancer's https:// URL.
    #[arg(long, env = "HALE_INSECURE_HTTP", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    insecure_http: Option<bool>,

    /// Domain of the tenant created at first start (ignored afterwards).
    /// [default: hale.local]
    #[arg(long, env = "HALE_TENANT_DOMAIN", value_name = "DOMAIN")]
    tenant_domain: Option<String>,

    /// Refresh tokens: `reuse` (as Entra: a used refresh token stays valid until it
    /// expires) or `strict` (each refresh token works once; its use returns the next).
    /// [default: reuse]
    #[arg(long, env = "HALE_REFRESH_TOKEN_ROTATION", value_enum)]
    refresh_token_rotation: Option<Rotation>,

    /// Log format on standard error. [default: pretty]
    #[arg(long, env = "HALE_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,

    /// Log filter, e.g. `info` or `info,hale_store=debug`. [default: info]
    #[arg(long, env = "HALE_LOG", value_name = "FILTER")]
    log: Option<String>,

    /// Seconds to let in-flight requests finish on SIGINT/SIGTERM. [default: 30]
    #[arg(long, env = "HALE_SHUTDOWN_GRACE", value_name = "SECONDS")]
    shutdown_grace: Option<u64>,

    /// Seconds a finished FHIR `$export` job and its files are kept before
    /// they are removed. [default: 86400, a day]
    #[arg(long, env = "HALE_EXPORT_RETENTION", value_name = "SECONDS")]
    export_retention: Option<u64>,

    /// Print the effective settings (secrets masked) and exit.
    #[arg(long)]
    print_config: bool,
}

#[derive(clap::ValueEnum, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Rotation {
    Reuse,
    Strict,
}

#[derive(clap::ValueEnum, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum LogFormat {
    Pretty,
    Json,
}

/// The TOML file: the same names as the flags.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileSettings {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    public_url: Option<String>,
    database_url: Option<String>,
    blob_url: Option<String>,
    hostnames: Option<Vec<String>>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    insecure_http: Option<bool>,
    tenant_domain: Option<String>,
    refresh_token_rotation: Option<Rotation>,
    log_format: Option<LogFormat>,
    log: Option<String>,
    shutdown_grace: Option<u64>,
    export_retention: Option<u64>,
}

/// Environment variables read directly (secrets) rather than through flags.
const SECRET_VARIABLES: &[&str] = &["HALE_ADMIN_PASSWORD", "HALE_MASTER_KEY"];
/// Variables for the test harness, never read by `hale serve`.
const TEST_VARIABLE_PREFIX: &str = "HALE_TEST_";

/// The resolved settings, with where each came from.
struct Resolved {
    settings: Settings,
    log_format: LogFormat,
    log: String,
    sources: Vec<(&'static str, String)>,
}

/// The settings `args` (and the environment and config file) give, for
/// commands that work on an installation without serving it.
pub(crate) fn resolve_settings(args: &ServeArgs, matches: &ArgMatches) -> Result<Settings, String> {
    resolve(args.config.as_deref(), args, matches).map(|r| r.settings)
}

pub fn run(args: ServeArgs, matches: &ArgMatches) -> ExitCode {
    let resolved = match resolve(args.config.as_deref(), &args, matches) {
        Ok(r) => r,
        Err(message) => return bad_start(&message),
    };
    if args.print_config {
        out::text(print_config(&resolved));
        return ExitCode::SUCCESS;
    }
    if let Err(message) = init_logging(resolved.log_format, &resolved.log) {
        return bad_start(&message);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return bad_start(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async move {
        let server = match hale_server::start(resolved.settings).await {
            Ok(server) => server,
            Err(e) => return bad_start(&e.to_string()),
        };
        // For whoever watches; a closed stdout does not stop the server.
        let mut stdout = std::io::stdout();
        let _ = std::io::Write::write_all(&mut stdout, banner(server.info()).as_bytes())
            .and_then(|()| std::io::Write::flush(&mut stdout));
        serve_until_signal(server).await
    })
}

fn bad_start(message: &str) -> ExitCode {
    eprintln!("hale: error: {message}");
    ExitCode::from(EXIT_BAD_START)
}

async fn serve_until_signal(server: RunningServer) -> ExitCode {
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests in flight");
    let result = tokio::select! {
        result = server.shutdown() => result,
        _ = shutdown_signal() => {
            tracing::warn!("second signal: exiting now");
            std::process::exit(130);
        }
    };
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hale: error: the server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn init_logging(format: LogFormat, filter: &str) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| format!("invalid log filter {filter:?} (--log / HALE_LOG): {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Pretty => builder.init(),
    }
    Ok(())
}

/// Reads the file (if any), checks the environment for unknown `HALE_*`
/// variables, and merges: flags and environment (clap) over file over defaults.
fn resolve(
    config: Option<&Path>,
    args: &ServeArgs,
    matches: &ArgMatches,
) -> Result<Resolved, String> {
    let variables = setting_variables();
    check_environment(&variables)?;
    let (file, file_dir) = match config {
        Some(path) => (read_file(path)?, path.parent().map(Path::to_path_buf)),
        None => (FileSettings::default(), None),
    };
    let mut sources = Vec::new();
    // The source of a setting given by clap (flag or environment), else file, else default.
    let mut source = |name: &'static str, id: &str, in_file: bool| {
        let from = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => format!("--{name}"),
            Some(ValueSource::EnvVariable) => variables
                .iter()
                .find(|(arg, _)| arg == id)
                .map(|(_, env)| env.clone())
                .unwrap_or_else(|| "environment".into()),
            _ if in_file => "config file".into(),
            _ => "default".into(),
        };
        sources.push((name, from));
    };
    // Paths in the file are relative to the file.
    let file_path = |p: PathBuf| match &file_dir {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p,
    };

    source("data-dir", "data_dir", file.data_dir.is_some());
    let data_dir = args
        .data_dir
        .clone()
        .or(file.data_dir.clone().map(file_path))
        .unwrap_or_else(|| PathBuf::from("hale-data"));
    let mut settings = Settings::new(absolute(&data_dir));

    source("listen", "listen", file.listen.is_some());
    if let Some(listen) = args.listen.as_ref().or(file.listen.as_ref()) {
        settings.listen = listen
            .parse::<SocketAddr>()
            .map_err(|e| format!("invalid listen address {listen:?} (--listen / HALE_LISTEN / listen): {e}; expected e.g. 127.0.0.1:8443"))?;
    }

    source("public-url", "public_url", file.public_url.is_some());
    if let Some(raw) = args.public_url.as_ref().or(file.public_url.as_ref()) {
        let url = Url::parse(raw).map_err(|e| {
            format!("invalid public URL {raw:?} (--public-url / HALE_PUBLIC_URL / public-url): {e}")
        })?;
        settings.public_url = Some(url);
    }

    source("database-url", "database_url", file.database_url.is_some());
    if let Some(raw) = args.database_url.as_ref().or(file.database_url.as_ref()) {
        settings.database_url = Some(
            DatabaseUrl::parse(raw)
                .map_err(|e| format!("{e} (--database-url / HALE_DATABASE_URL / database-url)"))?,
        );
    }

    source("blob-url", "blob_url", file.blob_url.is_some());
    if let Some(raw) = args.blob_url.as_ref().or(file.blob_url.as_ref()) {
        settings.blob_url = Some(
            BlobUrl::parse(raw)
                .map_err(|e| format!("{e} (--blob-url / HALE_BLOB_URL / blob-url)"))?,
        );
    }

    source(
        "insecure-http",
        "insecure_http",
        file.insecure_http.is_some(),
    );
    source("tls-cert", "tls_cert", file.tls_cert.is_some());
    source("hostnames", "hostnames", file.hostnames.is_some());
    let insecure = args.insecure_http.or(file.insecure_http).unwrap_or(false);
    let cert = args
        .tls_cert
        .clone()
        .or(file.tls_cert.clone().map(file_path));
    let key = args.tls_key.clone().or(file.tls_key.clone().map(file_path));
    let hostnames = if args.hostnames.is_empty() {
        file.hostnames.clone().unwrap_or_default()
    } else {
        args.hostnames.clone()
    };
    settings.tls = match (insecure, cert, key) {
        (true, None, None) => Tls::Off,
        (true, _, _) => {
            return Err(
                "insecure-http and tls-cert/tls-key contradict each other: choose one".into(),
            );
        }
        (false, Some(cert), Some(key)) => Tls::Files {
            cert: absolute(&cert),
            key: absolute(&key),
        },
        (false, None, None) => Tls::LocalCa {
            extra_hostnames: hostnames
                .iter()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect(),
        },
        (false, _, _) => return Err("tls-cert and tls-key must be given together".into()),
    };

    source(
        "tenant-domain",
        "tenant_domain",
        file.tenant_domain.is_some(),
    );
    if let Some(domain) = args.tenant_domain.as_ref().or(file.tenant_domain.as_ref()) {
        settings.tenant_domain = domain.clone();
    }

    source(
        "refresh-token-rotation",
        "refresh_token_rotation",
        file.refresh_token_rotation.is_some(),
    );
    if let Some(rotation) = args.refresh_token_rotation.or(file.refresh_token_rotation) {
        settings.strict_refresh_token_rotation = rotation == Rotation::Strict;
    }

    source(
        "shutdown-grace",
        "shutdown_grace",
        file.shutdown_grace.is_some(),
    );
    if let Some(secs) = args.shutdown_grace.or(file.shutdown_grace) {
        settings.shutdown_grace = Duration::from_secs(secs);
    }

    source(
        "export-retention",
        "export_retention",
        file.export_retention.is_some(),
    );
    if let Some(secs) = args.export_retention.or(file.export_retention) {
        if secs == 0 {
            return Err("export-retention must be at least 1 second".into());
        }
        settings.export_retention = Duration::from_secs(secs);
    }

    source("log-format", "log_format", file.log_format.is_some());
    source("log", "log", file.log.is_some());
    let log_format = args
        .log_format
        .or(file.log_format)
        .unwrap_or(LogFormat::Pretty);
    let log = args
        .log
        .clone()
        .or(file.log.clone())
        .unwrap_or_else(|| "info".into());

    settings.admin_password = secret_from_env("HALE_ADMIN_PASSWORD")?;
    settings.master_key = secret_from_env("HALE_MASTER_KEY")?;

    Ok(Resolved {
        settings,
        log_format,
        log,
        sources,
    })
}

fn secret_from_env(name: &str) -> Result<Option<Secret>, String> {
    match std::env::var(name) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => Ok(Some(Secret::new(v))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
    }
}

/// The environment variable of each `hale serve` setting, by argument ID.
fn setting_variables() -> Vec<(String, String)> {
    let command = <crate::Cli as clap::CommandFactory>::command();
    command
        .find_subcommand("serve")
        .map(|serve| {
            serve
                .get_arguments()
                .filter_map(|a| {
                    a.get_env()
                        .map(|e| (a.get_id().to_string(), e.to_string_lossy().into_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Refuses `HALE_*` variables that no setting reads: a typo would otherwise be
/// silently ignored.
fn check_environment(variables: &[(String, String)]) -> Result<(), String> {
    let known: Vec<String> = variables
        .iter()
        .map(|(_, env)| env.clone())
        .chain(SECRET_VARIABLES.iter().map(|s| s.to_string()))
        .collect();
    let mut unknown: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| {
            k.starts_with("HALE_") && !k.starts_with(TEST_VARIABLE_PREFIX) && !known.contains(k)
        })
        .collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(()),
        Some(name) => Err(format!(
            "unknown setting {name} in the environment; known: {}",
            known.join(", ")
        )),
    }
}

fn read_file(path: &Path) -> Result<FileSettings, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("config file {} (--config): {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start].matches('\n').count() + 1)
            .map(|n| format!(" line {n}:"))
            .unwrap_or_default();
        format!(
            "config file {}:{line} {}",
            path.display(),
            e.message().trim()
        )
    })
}

fn print_config(resolved: &Resolved) -> String {
    let s = &resolved.settings;
    let q = |v: &str| format!("{v:?}");
    let mut values: Vec<(&str, String)> = vec![
        ("data-dir", q(&s.data_dir.display().to_string())),
        ("listen", q(&s.listen.to_string())),
        ("public-url", q(s.effective_public_url(s.listen).as_str())),
        ("database-url", q(&s.effective_database_url().redacted())),
        ("blob-url", q(&s.effective_blob_url().display())),
    ];
    match &s.tls {
        Tls::Off => values.push(("insecure-http", "true".into())),
        Tls::Files { cert, key } => {
            values.push(("tls-cert", q(&cert.display().to_string())));
            values.push(("tls-key", q(&key.display().to_string())));
        }
        Tls::LocalCa { extra_hostnames } => {
            let list: Vec<String> = extra_hostnames.iter().map(|h| q(h)).collect();
            values.push(("hostnames", format!("[{}]", list.join(", "))));
        }
    }
    values.push(("tenant-domain", q(&s.tenant_domain)));
    values.push((
        "refresh-token-rotation",
        q(if s.strict_refresh_token_rotation {
            "strict"
        } else {
            "reuse"
        }),
    ));
    values.push(("shutdown-grace", s.shutdown_grace.as_secs().to_string()));
    values.push(("export-retention", s.export_retention.as_secs().to_string()));
    values.push((
        "log-format",
        q(match resolved.log_format {
            LogFormat::Pretty => "pretty",
            LogFormat::Json => "json",
        }),
    ));
    values.push(("log", q(&resolved.log)));

    let mut out = String::from("# Effective settings of `hale serve` (secrets masked).\n");
    for (name, value) in values {
        let from = resolved
            .sources
            .iter()
            .find(|(n, _)| *n == name || (name == "tls-key" && *n == "tls-cert"))
            .map(|(_, f)| f.as_str())
            .unwrap_or("default");
        let _ = writeln!(out, "{name} = {value}  # {from}");
    }
    let admin = match &s.admin_password {
        Some(_) => "*** (from HALE_ADMIN_PASSWORD, used at first start only)".to_owned(),
        None => "(generated and printed once at first start)".to_owned(),
    };
    let master = match &s.master_key {
        Some(_) => "*** (from HALE_MASTER_KEY)".to_owned(),
        None => format!("(key file {})", s.master_key_file().display()),
    };
    let _ = writeln!(out, "# admin-password: {admin}");
    let _ = writeln!(out, "# master-key: {master}");
    out
}

/// What the operator needs after a start: where everything is and how to trust it.
fn banner(info: &StartInfo) -> String {
    let base = info.public_url.as_str().trim_end_matches('/');
    let inst = &info.installation;
    let tenant = inst.tenant.id;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Hale {} is listening on {base}",
        env!("CARGO_PKG_VERSION")
    );
    if inst.created {
        let _ = writeln!(
            out,
            "First start: created tenant {} ({tenant}).",
            inst.tenant.domain
        );
    }
    let _ = writeln!(out);
    let rows = [
        (
            "Tenant",
            format!(
                "{} ({}), ID {tenant}",
                inst.tenant.display_name, inst.tenant.domain
            ),
        ),
        ("Authority", format!("{base}/{tenant}")),
        (
            "OpenID configuration",
            format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"),
        ),
        ("Microsoft Graph", format!("{base}/v1.0")),
        (
            "Resource Manager",
            format!("{base}/subscriptions/{}", inst.subscription_id),
        ),
        ("Portal", format!("{base}/portal")),
        ("Administrator", inst.admin_user_principal_name.clone()),
        ("Data", info.data_dir.display().to_string()),
        ("Database", info.database.clone()),
        ("Blobs", info.blobs.clone()),
    ];
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<24}{value}");
    }
    if let Some(password) = &inst.generated_admin_password {
        let _ = writeln!(
            out,
            "  {:<24}{}",
            "Administrator password",
            password.as_str()
        );
        let _ = writeln!(
            out,
            "  (shown this once: Hale keeps only its argon2id hash)"
        );
    }
    if let (Some(ca), Some(bundle)) = (&info.ca_cert, &info.ca_bundle) {
        let _ = writeln!(out, "  {:<24}{}", "CA certificate", ca.display());
        let _ = writeln!(out);
        let _ = writeln!(out, "Make clients trust Hale's local CA:");
        let _ = writeln!(
            out,
            "  export REQUESTS_CA_BUNDLE={}   # Python: requests, MSAL, azure-identity",
            bundle.display()
        );
        let _ = writeln!(
            out,
            "  export NODE_EXTRA_CA_CERTS={}   # Node: MSAL Node, @azure/identity",
            ca.display()
        );
        let _ = writeln!(out, "  curl --cacert {} {base}/readyz", ca.display());
    }
    out
}
