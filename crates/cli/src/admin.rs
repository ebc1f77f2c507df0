//! `hale login` and `hale ad …`: administration through Hale's REST API, in the
//! spirit of `az login` and `az ad …`. A session (authority, tenant, CA, access
//! token) is kept in `<config dir>/hale/session.json`, readable by the owner only.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::out;

/// The Azure CLI's client ID, under which Hale's CLI signs in.
const CLI_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// Azure Resource Manager, as `az login` asks for it (the CLI is pre-authorized).
const ARM_SCOPE: &str = "https://management.azure.com//user_impersonation";

#[derive(clap::Args)]
pub struct LoginArgs {
    /// The user, e.g. admin@hale.local (or with --service-principal, the
    /// application's client ID). Without it, sign in with a device code: open
    /// the page printed and enter the code there.
    #[arg(long, short = 'u')]
    username: Option<String>,
    /// The password (or the client secret); read from standard input when absent.
    #[arg(long, short = 'p')]
    password: Option<String>,
    /// Sign in as an application with its client ID and secret (needs --tenant).
    #[arg(long, requires = "username")]
    service_principal: bool,
    /// Hale's origin.
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    authority: String,
    /// The tenant (ID or domain); the username's domain by default.
    #[arg(long)]
    tenant: Option<String>,
    /// Hale's CA certificate; ./hale-data/tls/ca.pem when it exists.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
pub enum Ad {
    /// App registrations.
    #[command(subcommand)]
    App(App),
    /// Service principals.
    #[command(subcommand)]
    Sp(Sp),
    /// Users.
    #[command(subcommand)]
    User(crate::directory::User),
    /// Groups and their members.
    #[command(subcommand)]
    Group(crate::directory::Group),
    /// The sign-in log (Graph auditLogs/signIns).
    #[command(subcommand)]
    SignIn(SignIn),
}

#[derive(clap::Subcommand)]
pub enum SignIn {
    /// Recent sign-ins and token requests, newest first.
    List {
        /// An OData $filter, e.g. "status/errorCode ne 0" or "appId eq '…'".
        #[arg(long)]
        filter: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        top: u32,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(clap::Args, Clone)]
pub struct Output {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "json", global = true)]
    pub(crate) output: Format,
    /// A JMESPath query applied to the result before it is printed, as with
    /// `az --query`, e.g. "[?accountEnabled].userPrincipalName".
    #[arg(long, global = true)]
    query: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Table,
    Tsv,
}

#[derive(clap::Args)]
pub struct AppProperties {
    /// Display name.
    #[arg(long)]
    display_name: Option<String>,
    /// Who may sign in: AzureADMyOrg (single tenant) or AzureADMultipleOrgs.
    #[arg(long)]
    sign_in_audience: Option<String>,
    /// Web platform redirect URIs (replaces the list).
    #[arg(long, num_args = 1..)]
    web_redirect_uris: Option<Vec<String>>,
    /// Mobile and desktop (public client) redirect URIs (replaces the list).
    #[arg(long, num_args = 1..)]
    public_client_redirect_uris: Option<Vec<String>>,
    /// Single-page application redirect URIs (replaces the list).
    #[arg(long, num_args = 1..)]
    spa_redirect_uris: Option<Vec<String>>,
    /// "Allow public client flows".
    #[arg(long)]
    is_fallback_public_client: Option<bool>,
    /// App ID URIs (replaces the list).
    #[arg(long, num_args = 1..)]
    identifier_uris: Option<Vec<String>>,
}

impl AppProperties {
    fn body(&self) -> Value {
        let mut body = serde_json::Map::new();
        let mut put = |key: &str, value: Value| {
            body.insert(key.to_owned(), value);
        };
        if let Some(v) = &self.display_name {
            put("displayName", json!(v));
        }
        if let Some(v) = &self.sign_in_audience {
            put("signInAudience", json!(v));
        }
        if let Some(v) = &self.web_redirect_uris {
            put("web", json!({ "redirectUris": v }));
        }
        if let Some(v) = &self.public_client_redirect_uris {
            put("publicClient", json!({ "redirectUris": v }));
        }
        if let Some(v) = &self.spa_redirect_uris {
            put("spa", json!({ "redirectUris": v }));
        }
        if let Some(v) = self.is_fallback_public_client {
            put("isFallbackPublicClient", json!(v));
        }
        if let Some(v) = &self.identifier_uris {
            put("identifierUris", json!(v));
        }
        Value::Object(body)
    }
}

#[derive(clap::Subcommand)]
pub enum App {
    /// Register an application.
    Create {
        #[command(flatten)]
        properties: AppProperties,
        #[command(flatten)]
        output: Output,
    },
    /// List app registrations.
    List {
        /// An OData $filter, e.g. "startswith(displayName,'fhir')".
        #[arg(long)]
        filter: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Show an application (by client ID or object ID).
    Show {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Change an application's properties.
    Update {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        properties: AppProperties,
    },
    /// Delete an application.
    Delete {
        #[arg(long)]
        id: String,
    },
    /// Client secrets and certificates.
    #[command(subcommand)]
    Credential(Credential),
    /// API permissions and consent.
    #[command(subcommand)]
    Permission(crate::permissions::Permission),
}

#[derive(clap::Subcommand)]
pub enum Credential {
    /// Add a client secret and print it (shown this once), or with `--cert`
    /// upload a certificate.
    Reset {
        #[arg(long)]
        id: String,
        /// A certificate file (PEM or DER, public part only) to upload instead
        /// of creating a secret; `@file` or a path.
        #[arg(long, conflicts_with_all = ["years", "end_date", "display_name"])]
        cert: Option<String>,
        /// A name for the secret.
        #[arg(long)]
        display_name: Option<String>,
        /// Valid for this many years (at most 2).
        #[arg(long, conflicts_with = "end_date")]
        years: Option<u32>,
        /// Valid until this date (RFC 3339, e.g. 2027-05-20T00:00:00Z).
        #[arg(long)]
        end_date: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// List an application's secrets (never their values).
    List {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Remove a client secret.
    Delete {
        #[arg(long)]
        id: String,
        #[arg(long)]
        key_id: String,
    },
}

#[derive(clap::Subcommand)]
pub enum Sp {
    /// Create the service principal of an application (by client ID).
    Create {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        output: Output,
    },
    /// List service principals.
    List {
        #[command(flatten)]
        output: Output,
    },
    /// Show a service principal (by client ID or object ID).
    Show {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        output: Output,
    },
}

/// What `hale login` keeps.
pub(crate) struct Session {
    pub(crate) authority: String,
    pub(crate) tenant: String,
    pub(crate) ca_cert: Option<PathBuf>,
    /// For Microsoft Graph.
    pub(crate) access_token: String,
    /// For Azure Resource Manager (sessions from before it existed have none).
    pub(crate) arm_access_token: Option<String>,
}

fn session_path() -> Result<PathBuf, String> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or("cannot find a configuration directory: set HOME or XDG_CONFIG_HOME")?;
    Ok(base.join("hale").join("session.json"))
}

fn save(session: &Session) -> Result<(), String> {
    let path = session_path()?;
    let dir = path.parent().expect("a parent");
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let body = json!({
        "authority": session.authority,
        "tenant": session.tenant,
        "caCert": session.ca_cert,
        "accessToken": session.access_token,
        "armAccessToken": session.arm_access_token,
    });
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(body.to_string().as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub(crate) fn load() -> Result<Session, String> {
    let path = session_path()?;
    let text = std::fs::read_to_string(&path)
        .map_err(|_| "not signed in: run `hale login --username <user>` first".to_owned())?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let text_of = |k: &str| {
        v[k].as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{}: no {k}; run `hale login` again", path.display()))
    };
    Ok(Session {
        authority: text_of("authority")?,
        tenant: text_of("tenant")?,
        ca_cert: v["caCert"].as_str().map(PathBuf::from),
        access_token: text_of("accessToken")?,
        arm_access_token: v["armAccessToken"].as_str().map(str::to_owned),
    })
}

pub(crate) fn client(ca: Option<&Path>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60));
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).map_err(|e| format!("CA certificate {}: {e}", ca.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("CA certificate {}: {e}", ca.display()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| e.to_string())
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

pub(crate) fn fail(message: &str) -> ExitCode {
    eprintln!("hale: error: {message}");
    ExitCode::FAILURE
}

pub fn login(args: LoginArgs) -> ExitCode {
    match runtime().block_on(login_inner(args)) {
        Ok(message) => {
            out::line(message);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

async fn login_inner(args: LoginArgs) -> Result<String, String> {
    let ca = args
        .ca_cert
        .clone()
        .or_else(|| Some(PathBuf::from("hale-data/tls/ca.pem")).filter(|p| p.exists()));
    let ca = ca.map(|p| std::path::absolute(&p).unwrap_or(p));
    let authority = args.authority.trim_end_matches('/').to_owned();
    let http = client(ca.as_deref())?;
    let read_secret = |given: Option<String>| -> Result<String, String> {
        match given {
            Some(p) => Ok(p),
            None => {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .map_err(|e| e.to_string())?;
                Ok(line.trim_end_matches(['\r', '\n']).to_owned())
            }
        }
    };
    let (tenant, who, form): (String, String, Vec<(&str, String)>) = match &args.username {
        Some(client_id) if args.service_principal => {
            let tenant = args
                .tenant
                .clone()
                .ok_or("--service-principal needs --tenant")?;
            let secret = read_secret(args.password.clone())?;
            (
                tenant,
                format!("application {client_id}"),
                vec![
                    ("grant_type", "client_credentials".into()),
                    ("client_id", client_id.clone()),
                    ("client_secret", secret),
                    ("scope", GRAPH_SCOPE.into()),
                ],
            )
        }
        Some(username) => {
            let tenant = match &args.tenant {
                Some(t) => t.clone(),
                None => username
                    .rsplit_once('@')
                    .map(|(_, d)| d.to_owned())
                    .ok_or("give --tenant, or a username with a domain")?,
            };
            let password = read_secret(args.password.clone())?;
            (
                tenant,
                username.clone(),
                vec![
                    ("grant_type", "password".into()),
                    ("client_id", CLI_CLIENT_ID.into()),
                    ("username", username.clone()),
                    ("password", password),
                    ("scope", GRAPH_SCOPE.into()),
                ],
            )
        }
        None => {
            let tenant = args
                .tenant
                .clone()
                .unwrap_or_else(|| "organizations".into());
            let code = device_code(&http, &authority, &tenant).await?;
            (tenant, "the account you signed in with".into(), code)
        }
    };
    let body = poll_token(&http, &authority, &tenant, &form).await?;
    let Some(token) = body["access_token"].as_str() else {
        let description = body["error_description"]
            .as_str()
            .unwrap_or("sign-in failed");
        return Err(description.lines().next().unwrap_or(description).to_owned());
    };
    // Device code sign-in through `organizations`: the token names the tenant.
    let tenant = if tenant == "organizations" {
        token_tenant(token).unwrap_or(tenant)
    } else {
        tenant
    };
    // A token for Azure Resource Manager too (`hale healthcareapis`, `hale
    // role`): the same credential again, or the device sign-in's refresh token.
    let arm_form: Vec<(&str, String)> = match body["refresh_token"].as_str() {
        Some(refresh) => vec![
            ("grant_type", "refresh_token".into()),
            ("client_id", CLI_CLIENT_ID.into()),
            ("refresh_token", refresh.into()),
            ("scope", ARM_SCOPE.into()),
        ],
        None => form
            .iter()
            .filter(|(k, _)| *k != "interval")
            .map(|(k, v)| match *k {
                "scope" if args.service_principal => {
                    (*k, "https://management.azure.com/.default".to_owned())
                }
                "scope" => (*k, ARM_SCOPE.to_owned()),
                _ => (*k, v.clone()),
            })
            .collect(),
    };
    let arm = poll_token(&http, &authority, &tenant, &arm_form).await?;
    let arm_token = arm["access_token"].as_str().map(str::to_owned);
    save(&Session {
        authority: authority.clone(),
        tenant: tenant.clone(),
        ca_cert: ca,
        access_token: token.to_owned(),
        arm_access_token: arm_token,
    })?;
    Ok(format!(
        "Signed in to {authority} as {who} (tenant {tenant})."
    ))
}

/// Starts a device code sign-in: prints where to go and the code, and returns
/// the form the token endpoint is then polled with.
async fn device_code(
    http: &reqwest::Client,
    authority: &str,
    tenant: &str,
) -> Result<Vec<(&'static str, String)>, String> {
    let res = http
        .post(format!("{authority}/{tenant}/oauth2/v2.0/devicecode"))
        .form(&[
            ("client_id", CLI_CLIENT_ID),
            (
                "scope",
                &format!("{GRAPH_SCOPE} offline_access openid profile"),
            ),
        ])
        .send()
        .await
        .map_err(|e| format!("cannot reach {authority}: {e}"))?;
    let body: Value = res.json().await.map_err(|e| e.to_string())?;
    let Some(device_code) = body["device_code"].as_str() else {
        return Err(body["error_description"]
            .as_str()
            .unwrap_or("device sign-in failed")
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned());
    };
    eprintln!("{}", body["message"].as_str().unwrap_or_default());
    Ok(vec![
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:device_code".into(),
        ),
        ("client_id", CLI_CLIENT_ID.into()),
        ("device_code", device_code.into()),
        (
            "interval",
            body["interval"].as_u64().unwrap_or(5).to_string(),
        ),
    ])
}

/// Posts `form` to the token endpoint, polling while a device sign-in is
/// pending (at the interval the server gave).
async fn poll_token(
    http: &reqwest::Client,
    authority: &str,
    tenant: &str,
    form: &[(&str, String)],
) -> Result<Value, String> {
    let interval = form
        .iter()
        .find(|(k, _)| *k == "interval")
        .and_then(|(_, v)| v.parse::<u64>().ok());
    let form: Vec<(&str, &str)> = form
        .iter()
        .filter(|(k, _)| *k != "interval")
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    loop {
        let res = http
            .post(format!("{authority}/{tenant}/oauth2/v2.0/token"))
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("cannot reach {authority}: {e}"))?;
        let body: Value = res.json().await.map_err(|e| e.to_string())?;
        match (interval, body["error"].as_str()) {
            (Some(seconds), Some("authorization_pending" | "slow_down")) => {
                tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
            }
            _ => return Ok(body),
        }
    }
}

/// The `tid` claim of an access token (no verification: it only names the
/// session's tenant; the server checks every token).
fn token_tenant(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["tid"].as_str().map(str::to_owned)
}

/// One Graph call with the session's token; Graph's error message on failure.
pub(crate) async fn graph(
    session: &Session,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let url = format!("{}/v1.0/{path}", session.authority);
    let mut req = client(session.ca_cert.as_deref())?
        .request(method, &url)
        .bearer_auth(&session.access_token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req
        .send()
        .await
        .map_err(|e| format!("cannot reach {}: {e}", session.authority))?;
    let status = res.status();
    let text = res.text().await.map_err(|e| e.to_string())?;
    let value: Value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    if status.is_success() {
        return Ok(value);
    }
    let message = value["error"]["message"]
        .as_str()
        .unwrap_or("request failed");
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Err(format!("{message} Run `hale login` again."));
    }
    Err(format!("{message} ({status})"))
}

/// An application named by client ID or object ID: its Graph path and the
/// object itself.
pub(crate) async fn find_application(
    session: &Session,
    id: &str,
) -> Result<(String, Value), String> {
    let by_app_id = format!("applications(appId='{id}')");
    if let Ok(app) = graph(session, reqwest::Method::GET, &by_app_id, None).await {
        return Ok((by_app_id, app));
    }
    let by_id = format!("applications/{id}");
    let app = graph(session, reqwest::Method::GET, &by_id, None).await?;
    Ok((by_id, app))
}

pub fn ad(command: Ad) -> ExitCode {
    let result = load().and_then(|session| runtime().block_on(ad_inner(&session, command)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

async fn ad_inner(session: &Session, command: Ad) -> Result<(), String> {
    use reqwest::Method;
    match command {
        Ad::App(App::Create { properties, output }) => {
            let app = graph(
                session,
                Method::POST,
                "applications",
                Some(properties.body()),
            )
            .await?;
            print(&app, &output, &["appId", "displayName", "id"])?;
        }
        Ad::App(App::List { filter, output }) => {
            let path = match filter {
                Some(f) => format!(
                    "applications?$filter={}",
                    url::form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>()
                ),
                None => "applications?$top=999".into(),
            };
            let list = graph(session, Method::GET, &path, None).await?;
            print(&list["value"], &output, &["appId", "displayName", "id"])?;
        }
        Ad::App(App::Show { id, output }) => {
            let (_, app) = find_application(session, &id).await?;
            print(&app, &output, &["appId", "displayName", "id"])?;
        }
        Ad::App(App::Update { id, properties }) => {
            let (path, _) = find_application(session, &id).await?;
            graph(session, Method::PATCH, &path, Some(properties.body())).await?;
        }
        Ad::App(App::Delete { id }) => {
            let (path, _) = find_application(session, &id).await?;
            graph(session, Method::DELETE, &path, None).await?;
        }
        Ad::App(App::Credential(Credential::Reset {
            id,
            cert: Some(cert),
            output,
            ..
        })) => crate::permissions::upload_certificate(session, &id, &cert, &output).await?,
        Ad::App(App::Permission(command)) => crate::permissions::run(session, command).await?,
        Ad::App(App::Credential(Credential::Reset {
            id,
            cert: None,
            display_name,
            years,
            end_date,
            output,
        })) => {
            let (path, app) = find_application(session, &id).await?;
            let end = match (years, end_date) {
                (Some(y), _) => Some(
                    (time::OffsetDateTime::now_utc() + time::Duration::days(365 * i64::from(y)))
                        .format(&time::format_description::well_known::Rfc3339)
                        .map_err(|e| e.to_string())?,
                ),
                (None, end) => end,
            };
            let body =
                json!({"passwordCredential": {"displayName": display_name, "endDateTime": end}});
            let cred = graph(
                session,
                Method::POST,
                &format!("{path}/addPassword"),
                Some(body),
            )
            .await?;
            // What `az ad app credential reset` prints.
            let shown = json!({
                "appId": app["appId"],
                "password": cred["secretText"],
                "tenant": session.tenant,
                "keyId": cred["keyId"],
                "endDateTime": cred["endDateTime"],
            });
            print(&shown, &output, &["appId", "password", "tenant"])?;
        }
        Ad::App(App::Credential(Credential::List { id, output })) => {
            let (_, app) = find_application(session, &id).await?;
            // Secrets and certificates, as `az ad app credential list` (and `--cert`) show them.
            let mut all: Vec<Value> = app["passwordCredentials"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            all.extend(
                app["keyCredentials"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
            print(
                &Value::Array(all),
                &output,
                &["keyId", "displayName", "hint", "endDateTime"],
            )?;
        }
        Ad::App(App::Credential(Credential::Delete { id, key_id })) => {
            let (path, _) = find_application(session, &id).await?;
            graph(
                session,
                Method::POST,
                &format!("{path}/removePassword"),
                Some(json!({"keyId": key_id})),
            )
            .await?;
        }
        Ad::Sp(Sp::Create { id, output }) => {
            let sp = graph(
                session,
                Method::POST,
                "servicePrincipals",
                Some(json!({"appId": id})),
            )
            .await?;
            print(&sp, &output, &["appId", "displayName", "id"])?;
        }
        Ad::Sp(Sp::List { output }) => {
            let list = graph(session, Method::GET, "servicePrincipals", None).await?;
            print(&list["value"], &output, &["appId", "displayName", "id"])?;
        }
        Ad::User(command) => crate::directory::user(session, command).await?,
        Ad::SignIn(SignIn::List {
            filter,
            top,
            output,
        }) => {
            let mut path = format!("auditLogs/signIns?$top={top}");
            if let Some(f) = filter {
                path.push_str("&$filter=");
                path.extend(url::form_urlencoded::byte_serialize(f.as_bytes()));
            }
            let list = graph(session, Method::GET, &path, None).await?;
            print(
                &list["value"],
                &output,
                &[
                    "createdDateTime",
                    "userPrincipalName",
                    "appDisplayName",
                    "clientAppUsed",
                    "ipAddress",
                    "status.errorCode",
                ],
            )?;
        }
        Ad::Group(command) => crate::directory::group(session, command).await?,
        Ad::Sp(Sp::Show { id, output }) => {
            let sp = match graph(
                session,
                Method::GET,
                &format!("servicePrincipals(appId='{id}')"),
                None,
            )
            .await
            {
                Ok(sp) => sp,
                Err(_) => {
                    graph(
                        session,
                        Method::GET,
                        &format!("servicePrincipals/{id}"),
                        None,
                    )
                    .await?
                }
            };
            print(&sp, &output, &["appId", "displayName", "id"])?;
        }
    }
    Ok(())
}

/// Prints an object or a list: JSON as Graph gave it (without `@odata` noise), or
/// `columns` as a table or tab-separated values.
pub(crate) fn print(value: &Value, output: &Output, columns: &[&str]) -> Result<(), String> {
    let clean = |v: &Value| -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| !k.starts_with("@odata"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            other => other.clone(),
        }
    };
    let queried;
    let mut owned_columns: Vec<String> = Vec::new();
    let (value, columns): (&Value, Vec<&str>) = match &output.query {
        None => (value, columns.to_vec()),
        Some(query) => {
            queried = jmespath_search(query, &strip_odata(value))?;
            // Columns of a queried table are the keys of what the query made.
            let first = match &queried {
                Value::Array(items) => items.first(),
                other => Some(other),
            };
            if let Some(Value::Object(map)) = first {
                owned_columns = map.keys().cloned().collect();
            }
            (&queried, owned_columns.iter().map(String::as_str).collect())
        }
    };
    let columns = columns.as_slice();
    let rows: Vec<Value> = match value {
        Value::Array(items) => items.iter().map(clean).collect(),
        other => vec![clean(other)],
    };
    // A query that yields scalars prints them one per line in table and TSV.
    let scalars = output.query.is_some() && rows.iter().all(|r| !r.is_object());
    // A column may be a dotted path (`properties.provisioningState`); its
    // header is the last part.
    let cell = |row: &Value, c: &str| match c.split('.').fold(row, |v, key| &v[key]) {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let header = |c: &str| c.rsplit('.').next().unwrap_or(c).to_owned();
    match output.output {
        Format::Json => {
            let shown = if value.is_array() {
                Value::Array(rows)
            } else {
                rows.into_iter().next().unwrap_or(Value::Null)
            };
            out::line(serde_json::to_string_pretty(&shown).unwrap_or_default());
        }
        Format::Table | Format::Tsv if scalars => {
            for row in &rows {
                match row {
                    Value::String(s) => out::line(s),
                    Value::Null => out::line(""),
                    other => out::line(other),
                }
            }
        }
        Format::Tsv => {
            for row in &rows {
                out::line(
                    columns
                        .iter()
                        .map(|c| cell(row, c))
                        .collect::<Vec<_>>()
                        .join("\t"),
                );
            }
        }
        Format::Table => {
            let widths: Vec<usize> = columns
                .iter()
                .map(|c| {
                    rows.iter()
                        .map(|r| cell(r, c).chars().count())
                        .max()
                        .unwrap_or(0)
                        .max(header(c).len())
                })
                .collect();
            let line = |cells: Vec<String>| {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
            };
            out::line(line(columns.iter().map(|c| header(c)).collect()));
            out::line(line(widths.iter().map(|w| "-".repeat(*w)).collect()));
            for row in &rows {
                out::line(line(columns.iter().map(|c| cell(row, c)).collect()));
            }
        }
    }
    Ok(())
}

/// `value` without Graph's `@odata` annotations, at every level of lists.
fn strip_odata(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with("@odata"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_odata).collect()),
        other => other.clone(),
    }
}

/// Runs a JMESPath `query` over `data`.
fn jmespath_search(query: &str, data: &Value) -> Result<Value, String> {
    // jmespath's messages draw a caret under the query on further lines.
    let first_line =
        |e: jmespath::JmespathError| e.to_string().lines().next().unwrap_or_default().to_owned();
    let expression = jmespath::compile(query)
        .map_err(|e| format!("invalid --query {query:?}: {}", first_line(e)))?;
    let found = expression
        .search(data)
        .map_err(|e| format!("--query {query:?} failed: {}", first_line(e)))?;
    serde_json::to_value(&*found).map_err(|e| e.to_string())
}
