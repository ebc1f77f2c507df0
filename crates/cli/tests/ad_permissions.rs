//! `hale ad app permission …`, `hale ad app credential reset --cert` and
//! `hale login` by device code and as a service principal, against a real
//! `hale serve`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};

use common::{Served, err, hale, text};
use hale_store::test_support::TestDatabase;
use serde_json::Value;

const GRAPH: &str = "00000003-0000-0000-c000-000000000000";
const CERT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../server/tests/fixtures/client-cert.pem"
);

#[tokio::test(flavor = "multi_thread")]
async fn permissions_consent_certificates_and_the_ways_to_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let db_url = common::database_url(&db);
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let served = Served::start(&path, &db_url);
        let config = path.join("config");
        let cli = |args: &[&str]| -> Output {
            hale(&path)
                .env("XDG_CONFIG_HOME", &config)
                .args(args)
                .stdin(Stdio::null())
                .output()
                .expect("hale runs")
        };
        let ok = |args: &[&str]| -> String {
            let out = cli(args);
            assert!(out.status.success(), "{args:?}: {}", err(&out));
            text(&out)
        };
        let json = |args: &[&str]| -> Value { serde_json::from_str(&ok(args)).unwrap() };
        let http = reqwest::blocking::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(&std::fs::read(&served.ca).unwrap()).unwrap(),
            )
            .build()
            .unwrap();

        // Device code sign-in: the CLI prints the page and the code; the
        // "user" enters it in a browser.
        let mut login = hale(&path)
            .env("XDG_CONFIG_HOME", &config)
            .args(["login", "--authority", &served.url, "--ca-cert", &served.ca])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut message = String::new();
        BufReader::new(login.stderr.take().unwrap())
            .read_line(&mut message)
            .unwrap();
        assert!(message.contains("/devicelogin"), "{message}");
        let code = message
            .split("enter the code ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        let page = http
            .get(format!("{}/devicelogin", served.url))
            .send()
            .unwrap();
        let cookie = page.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = page.text().unwrap();
        let csrf = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let done = http
            .post(format!("{}/devicelogin", served.url))
            .header("cookie", &cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("otc", code.as_str()),
                ("username", "admin@hale.local"),
                ("password", "Cli-Test-Password-1"),
                ("decision", "accept"),
            ])
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(done.contains("You have signed in"), "{done}");
        let out = login.wait_with_output().unwrap();
        assert!(out.status.success());
        assert!(text(&out).contains("Signed in"), "{}", text(&out));

        // An app asking for Graph permissions, consented by the administrator.
        let app = json(&["ad", "app", "create", "--display-name", "cli-daemon"]);
        let app_id = app["appId"].as_str().unwrap().to_owned();
        ok(&[
            "ad",
            "app",
            "permission",
            "add",
            "--id",
            &app_id,
            "--api",
            GRAPH,
            "--api-permissions",
            "User.Read.All=Role",
            "e1fe6dd8-ba31-4d61-89e7-88639da4683d=Scope",
        ]);
        let listed = json(&["ad", "app", "permission", "list", "--id", &app_id]);
        assert_eq!(listed[0]["resourceAppId"], GRAPH);
        assert_eq!(listed[0]["resourceAccess"].as_array().unwrap().len(), 2);
        let bad = cli(&[
            "ad",
            "app",
            "permission",
            "add",
            "--id",
            &app_id,
            "--api",
            GRAPH,
            "--api-permissions",
            "Nope.Nope=Role",
        ]);
        assert!(!bad.status.success());
        assert!(
            err(&bad).contains("exposes no Role 'Nope.Nope'"),
            "{}",
            err(&bad)
        );
        let bad = cli(&[
            "ad",
            "app",
            "permission",
            "add",
            "--id",
            &app_id,
            "--api",
            GRAPH,
            "--api-permissions",
            "User.Read",
        ]);
        assert!(err(&bad).contains("=Scope or"), "{}", err(&bad));
        ok(&["ad", "app", "permission", "admin-consent", "--id", &app_id]);
        // Twice is fine: consent is idempotent.
        ok(&["ad", "app", "permission", "admin-consent", "--id", &app_id]);
        let grant = json(&[
            "ad",
            "app",
            "permission",
            "grant",
            "--id",
            &app_id,
            "--api",
            GRAPH,
            "--scope",
            "profile",
        ]);
        assert_eq!(grant["scope"], "User.Read profile");

        // A secret, then the app signs in as itself: its token carries the role.
        let secret = json(&["ad", "app", "credential", "reset", "--id", &app_id]);
        let password = secret["password"].as_str().unwrap().to_owned();
        let token: Value = http
            .post(format!("{}/hale.local/oauth2/v2.0/token", served.url))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", app_id.as_str()),
                ("client_secret", password.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .unwrap()
            .json()
            .unwrap();
        let payload = token["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .to_owned();
        use base64::Engine;
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["roles"], serde_json::json!(["User.Read.All"]));

        // A certificate, next to the secret.
        let cert = json(&[
            "ad",
            "app",
            "credential",
            "reset",
            "--id",
            &app_id,
            "--cert",
            &format!("@{CERT}"),
        ]);
        assert_eq!(cert["displayName"], "CN=hale-test-client");
        let creds = json(&["ad", "app", "credential", "list", "--id", &app_id]);
        assert_eq!(creds.as_array().unwrap().len(), 2);
        let bad = cli(&[
            "ad",
            "app",
            "credential",
            "reset",
            "--id",
            &app_id,
            "--cert",
            "/nonexistent.pem",
        ]);
        assert!(!bad.status.success());

        // The sign-in log shows the secret's use (written in batches: poll).
        let mut logged = Value::Null;
        for _ in 0..50 {
            logged = json(&[
                "ad",
                "sign-in",
                "list",
                "--filter",
                &format!("appId eq '{app_id}'"),
            ]);
            if !logged.as_array().unwrap().is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert_eq!(logged[0]["clientAppUsed"], "client_credentials", "{logged}");
        assert_eq!(logged[0]["status"]["errorCode"], 0);

        // The app signs the CLI in as itself, and may read users (User.Read.All).
        let who = ok(&[
            "login",
            "--service-principal",
            "-u",
            &app_id,
            "-p",
            &password,
            "--tenant",
            "hale.local",
            "--authority",
            &served.url,
            "--ca-cert",
            &served.ca,
        ]);
        assert!(who.contains(&app_id), "{who}");
        let users = json(&["ad", "user", "list"]);
        assert!(
            users
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u["userPrincipalName"] == "admin@hale.local")
        );
        let bad = cli(&[
            "login",
            "--service-principal",
            "-u",
            &app_id,
            "-p",
            "wrong",
            "--tenant",
            "hale.local",
            "--authority",
            &served.url,
            "--ca-cert",
            &served.ca,
        ]);
        assert!(err(&bad).contains("AADSTS7000215"), "{}", err(&bad));
    })
    .await
    .unwrap();
}
