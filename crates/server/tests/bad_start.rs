//! Starts that must fail: one clear error naming the setting or path, and
//! nothing left behind.

use std::path::Path;

use hale_server::{Secret, StartError, Tls};
use hale_store::test_support::TestDatabase;
use hale_store::{LATEST_SCHEMA_VERSION, Store, params};
use hale_testkit::TestServer;

fn settings(dir: &Path) -> hale_server::Settings {
    TestServer::settings_in(dir)
}

async fn expect_failure(settings: hale_server::Settings) -> StartError {
    match hale_server::start(settings).await {
        Ok(_) => panic!("the start should have failed"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_port_in_use_is_reported_and_creates_nothing() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = settings(&data);
    s.listen = taken.local_addr().unwrap();
    let err = expect_failure(s).await;
    assert!(matches!(err, StartError::Listen { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("--listen") && text.contains(&taken.local_addr().unwrap().to_string()),
        "{text}"
    );
    assert!(!data.exists(), "nothing created");
}

#[tokio::test]
async fn an_unusable_data_dir_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    for data in [file.clone(), file.join("data")] {
        let err = expect_failure(settings(&data)).await;
        assert!(matches!(err, StartError::DataDir { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("--data-dir") && text.contains(&*data.to_string_lossy()),
            "{text}"
        );
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[tokio::test]
async fn an_unreachable_database_is_reported_and_the_new_data_dir_removed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    let mut s = settings(&data);
    s.database_url =
        Some(hale_store::DatabaseUrl::parse("postgres://hale:pw@127.0.0.1:1/hale").unwrap());
    let err = expect_failure(s).await;
    let text = err.to_string();
    assert!(matches!(err, StartError::Database(_)), "{text}");
    assert!(
        text.contains("--database-url") && text.contains("127.0.0.1:1"),
        "{text}"
    );
    assert!(!text.contains("pw"), "the password is masked: {text}");
    assert!(
        !dir.path().join("nested").exists(),
        "the directories this start made are gone"
    );
}

#[tokio::test]
async fn a_database_from_a_newer_hale_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db = TestDatabase::create().await.unwrap();
    let mut s = settings(&data);
    s.database_url = Some(db.url.clone());
    hale_server::start(s.clone())
        .await
        .unwrap()
        .shutdown()
        .await
        .unwrap();

    let store = Store::open(&db.url).await.unwrap();
    store
        .write(|tx| {
            tx.execute(
                "INSERT INTO hale_schema_migrations (version, name, applied_at, hale_version) VALUES ($1, 'future', 0, '9.9.9')",
                params![LATEST_SCHEMA_VERSION + 1],
            )
        })
        .await
        .unwrap();
    drop(store);

    let files_before: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let err = expect_failure(s).await;
    let text = err.to_string();
    assert!(
        text.contains("--database-url") && text.contains("newer") || text.contains("9.9.9"),
        "{text}"
    );
    let files_after: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        files_before.len(),
        files_after.len(),
        "nothing added or removed"
    );
}

#[tokio::test]
async fn a_different_master_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let mut s = settings(&dir.path().join("data"));
    s.database_url = Some(db.url.clone());
    hale_server::start(s.clone())
        .await
        .unwrap()
        .shutdown()
        .await
        .unwrap();
    s.master_key = Some(Secret::new(
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
    ));
    let err = expect_failure(s).await;
    assert!(matches!(err, StartError::MasterKeyMismatch(_)), "{err}");
}

#[tokio::test]
async fn bad_settings_are_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    type Adjust = Box<dyn Fn(&mut hale_server::Settings)>;
    let cases: Vec<(&str, Adjust)> = vec![
        (
            "tenant-domain",
            Box::new(|s| s.tenant_domain = "no dots".into()),
        ),
        (
            "public-url",
            Box::new(|s| s.public_url = Some("ftp://x/".parse().unwrap())),
        ),
        (
            "--tls-cert",
            Box::new(|s| {
                s.tls = Tls::Files {
                    cert: "/nonexistent.pem".into(),
                    key: "/nonexistent.key".into(),
                }
            }),
        ),
    ];
    for (name, adjust) in cases {
        let mut s = settings(&data);
        adjust(&mut s);
        let err = expect_failure(s).await;
        assert!(err.to_string().contains(name), "{name}: {err}");
        assert!(!data.exists(), "{name}: nothing created");
    }
    let mut s = settings(&data);
    s.admin_password = Some(Secret::new("short".into()));
    let err = expect_failure(s).await;
    assert!(err.to_string().contains("HALE_ADMIN_PASSWORD"), "{err}");
}
