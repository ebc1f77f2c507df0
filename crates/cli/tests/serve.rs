//! `hale serve` as an operator meets it: the real binary, its output and exit
//! status. Runs on SQLite, and on PostgreSQL when `HALE_TEST_DATABASE_URL` is set.

mod common;

use common::{HALE, Served, database_url, hale};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use hale_store::test_support::TestDatabase;

/// A `hale serve` command with a clean environment: no inherited `HALE_*`
/// variables but the test harness's own.
fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("hale runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a failed start: exit status 2 and one error line containing `needles`.
fn assert_bad_start(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("hale: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "one error line: {err}");
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "{needle:?} missing from {:?}",
            lines[0]
        );
    }
}

#[test]
fn help_documents_every_setting() {
    let out = run(Command::new(HALE).args(["serve", "--help"]));
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for setting in [
        "--config",
        "--data-dir",
        "--listen",
        "--public-url",
        "--database-url",
        "--blob-url",
        "--hostname",
        "--tls-cert",
        "--tls-key",
        "--insecure-http",
        "--tenant-domain",
        "--log-format",
        "--log",
        "--shutdown-grace",
        "--print-config",
        "HALE_ADMIN_PASSWORD",
        "HALE_MASTER_KEY",
        "HALE_DATA_DIR",
    ] {
        assert!(help.contains(setting), "{setting} is not documented");
    }
}

#[test]
fn unknown_settings_are_refused_wherever_they_come_from() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(hale(dir.path()).args(["serve", "--no-such-flag"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--no-such-flag"));

    let out = run(hale(dir.path())
        .args(["serve"])
        .env("HALE_LISTNE", "127.0.0.1:1"));
    assert_bad_start(&out, &["HALE_LISTNE"]);

    std::fs::write(
        dir.path().join("hale.toml"),
        "listen = \"127.0.0.1:0\"\ndata-dri = \"x\"\n",
    )
    .unwrap();
    let out = run(hale(dir.path()).args(["serve", "--config", "hale.toml"]));
    assert_bad_start(&out, &["hale.toml", "line 2", "data-dri"]);
    assert!(!dir.path().join("hale-data").exists());
}

#[test]
fn malformed_values_name_the_setting_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (&["--listen", "nonsense"], &["listen", "nonsense"]),
        (&["--database-url", "mysql://x/y"], &["--database-url"]),
        (&["--blob-url", "ftp://x/y"], &["--blob-url", "ftp"]),
        (&["--public-url", "not a url"], &["--public-url"]),
        (&["--tenant-domain", "nodots"], &["tenant-domain"]),
        (&["--tls-cert", "c.pem", "--tls-key", "k.pem"], &["c.pem"]),
        (&["--log", "=[bad"], &["--log"]),
    ];
    for (args, needles) in cases {
        let out = run(hale(dir.path())
            .arg("serve")
            .args(*args)
            .args(["--data-dir", "data"]));
        assert_bad_start(&out, needles);
        assert!(
            !dir.path().join("data").exists(),
            "{args:?} created the data dir"
        );
    }
    let out = run(hale(dir.path()).args(["serve", "--shutdown-grace", "soon"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--shutdown-grace"));
}

#[test]
fn print_config_layers_file_environment_and_flags_and_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hale.toml"),
        "data-dir = \"from-file\"\nlisten = \"127.0.0.1:1111\"\ntenant-domain = \"file.example\"\nshutdown-grace = 7\n",
    )
    .unwrap();
    let out = run(hale(dir.path())
        .args([
            "serve",
            "--print-config",
            "--config",
            "hale.toml",
            "--listen",
            "127.0.0.1:3333",
        ])
        .env("HALE_LISTEN", "127.0.0.1:2222")
        .env("HALE_TENANT_DOMAIN", "env.example")
        .env(
            "HALE_DATABASE_URL",
            "postgres://hale:s3cret-pw@db.internal:5432/hale",
        )
        .env("HALE_ADMIN_PASSWORD", "admin-s3cret")
        .env(
            "HALE_MASTER_KEY",
            "bWFzdGVyLXNlY3JldC1tYXN0ZXItc2VjcmV0LTEyMzQ=",
        ));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let expect = [
        format!(
            "data-dir = {:?}  # config file",
            dir.path().join("from-file").display().to_string()
        ),
        "listen = \"127.0.0.1:3333\"  # --listen".into(),
        "tenant-domain = \"env.example\"  # HALE_TENANT_DOMAIN".into(),
        "shutdown-grace = 7  # config file".into(),
        "database-url = \"postgres://hale:***@db.internal:5432/hale\"  # HALE_DATABASE_URL".into(),
    ];
    for line in expect {
        assert!(text.contains(&line), "missing {line:?} in:\n{text}");
    }
    for secret in ["s3cret-pw", "admin-s3cret", "bWFzdGVy"] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
    assert!(
        !dir.path().join("from-file").exists(),
        "print-config creates nothing"
    );
}

fn ca_client(ca: &Path) -> reqwest::blocking::Client {
    let pem = std::fs::read(ca).unwrap();
    reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_then_sigterm_then_restart_keeps_the_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let db_url = database_url(&db);
    let dir_path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let first = Served::start_with(&dir_path, &[], &db_url);
        assert!(
            first
                .stdout
                .contains("First start: created tenant hale.local"),
            "{}",
            first.stdout
        );
        assert!(
            !first.stdout.contains("Cli-Test-Password-1"),
            "a given password is never printed"
        );
        let tenant = first.line("Tenant");
        let ca = PathBuf::from(first.line("CA certificate"));
        assert!(
            first
                .stdout
                .contains(&format!("export NODE_EXTRA_CA_CERTS={}", ca.display()))
        );
        let bundle = first
            .stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("export REQUESTS_CA_BUNDLE="))
            .and_then(|rest| rest.split_whitespace().next())
            .map(PathBuf::from)
            .expect("the REQUESTS_CA_BUNDLE line");
        assert!(
            std::fs::read_to_string(&bundle)
                .unwrap()
                .contains(&std::fs::read_to_string(&ca).unwrap())
        );

        let client = ca_client(&ca);
        let ready = client.get(format!("{}/readyz", first.url)).send().unwrap();
        assert_eq!(ready.status(), 200);
        let status = first.terminate();
        assert!(status.success(), "SIGTERM ends hale cleanly: {status:?}");

        let second = Served::start_with(&dir_path, &[], &db_url);
        assert!(!second.stdout.contains("First start"), "{}", second.stdout);
        assert_eq!(second.line("Tenant"), tenant, "the tenant ID is kept");
        assert_eq!(second.line("Administrator"), "admin@hale.local");
        let client = ca_client(&ca);
        assert_eq!(
            client
                .get(format!("{}/readyz", second.url))
                .send()
                .unwrap()
                .status(),
            200
        );
        assert!(second.terminate().success());
    })
    .await
    .unwrap();
}

#[test]
fn a_port_in_use_exits_with_status_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = run(hale(dir.path()).args(["serve", "--listen", &addr]));
    assert_bad_start(&out, &["--listen", &addr]);
    assert!(!dir.path().join("hale-data").exists());
}

#[test]
fn an_unreachable_database_exits_with_status_2_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(hale(dir.path()).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        "postgres://hale:pw@127.0.0.1:1/hale",
    ]));
    assert_bad_start(&out, &["--database-url", "127.0.0.1:1"]);
    assert!(!stderr(&out).contains(":pw@"));
    assert!(!dir.path().join("hale-data").exists());
}

#[test]
fn an_unwritable_data_dir_exits_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), b"").unwrap();
    let out = run(hale(dir.path()).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        "file/data",
    ]));
    assert_bad_start(&out, &["--data-dir", "file/data"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_from_a_newer_hale_exits_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let store = hale_store::Store::open(&db.url).await.unwrap();
    store
        .write(|tx| {
            tx.execute(
                "INSERT INTO hale_schema_migrations (version, name, applied_at, hale_version) VALUES ($1, 'future', 0, '42.0.0')",
                hale_store::params![hale_store::LATEST_SCHEMA_VERSION + 1],
            )
        })
        .await
        .unwrap();
    drop(store);
    let url = database_url(&db);
    let path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        run(hale(&path).args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url]))
    })
    .await
    .unwrap();
    assert_bad_start(&out, &["--database-url", "42.0.0", "newer"]);
    assert!(
        !dir.path().join("hale-data").exists(),
        "the new data dir is removed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seeds_steps_with_hale_login_and_hale_ad() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let db_url = database_url(&db);
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let served = Served::start_with(&path, &[], &db_url);
        let ca = served.line("CA certificate");
        let config = path.join("config");
        let cli = |args: &[&str]| -> Output {
            let mut cmd = hale(&path);
            cmd.env("XDG_CONFIG_HOME", &config).args(args);
            run(&mut cmd)
        };
        let stdout = |out: &Output| String::from_utf8_lossy(&out.stdout).trim().to_owned();

        // Not signed in yet.
        let out = cli(&["ad", "app", "list"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("hale login"), "{}", stderr(&out));
        let out = cli(&[
            "login",
            "-u",
            "admin@hale.local",
            "-p",
            "wrong",
            "--authority",
            &served.url,
            "--ca-cert",
            &ca,
        ]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("AADSTS50126"), "{}", stderr(&out));

        let out = cli(&[
            "login",
            "-u",
            "admin@hale.local",
            "-p",
            "Cli-Test-Password-1",
            "--authority",
            &served.url,
            "--ca-cert",
            &ca,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(config.join("hale/session.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "the session holds a token");
        }

        // Register, add a redirect URI, turn public client flows off, add a secret, create the SP.
        let out = cli(&[
            "ad",
            "app",
            "create",
            "--display-name",
            "cli-client",
            "--public-client-redirect-uris",
            "https://www.getpostman.com/oauth2/callback",
            "-o",
            "tsv",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let app_id = stdout(&out).split('\t').next().unwrap().to_owned();
        assert_eq!(app_id.len(), 36);
        let out = cli(&[
            "ad",
            "app",
            "update",
            "--id",
            &app_id,
            "--is-fallback-public-client",
            "false",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let out = cli(&[
            "ad",
            "app",
            "credential",
            "reset",
            "--id",
            &app_id,
            "--years",
            "1",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let secret = shown["password"].as_str().unwrap().to_owned();
        assert_eq!(shown["appId"], app_id.as_str());
        assert_eq!(shown["tenant"], "hale.local");
        let out = cli(&["ad", "sp", "create", "--id", &app_id]);
        assert!(out.status.success(), "{}", stderr(&out));

        let out = cli(&["ad", "app", "show", "--id", &app_id]);
        let app: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(app["isFallbackPublicClient"], false);
        assert_eq!(
            app["publicClient"]["redirectUris"][0],
            "https://www.getpostman.com/oauth2/callback"
        );
        assert!(!stdout(&out).contains(&secret), "the secret is shown once");
        let out = cli(&[
            "ad",
            "app",
            "list",
            "--filter",
            "startswith(displayName,'cli')",
            "-o",
            "table",
        ]);
        assert!(
            stdout(&out).lines().nth(2).unwrap().contains(&app_id),
            "{}",
            stdout(&out)
        );

        // The app gets a token with its new secret.
        let client = ca_client(Path::new(&ca));
        let res = client
            .post(format!("{}/hale.local/oauth2/v2.0/token", served.url))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", app_id.as_str()),
                ("client_secret", secret.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);

        // Errors from Graph reach the operator as one line.
        let out = cli(&[
            "ad",
            "app",
            "update",
            "--id",
            &app_id,
            "--web-redirect-uris",
            "http://not-localhost/cb",
        ]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("web.redirectUris"),
            "{}",
            stderr(&out)
        );
        assert!(served.terminate().success());
    })
    .await
    .unwrap();
}
