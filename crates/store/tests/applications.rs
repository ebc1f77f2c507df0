//! Applications in the store, on SQLite and (with HALE_TEST_DATABASE_URL) PostgreSQL.

use hale_directory::{
    Application, DEFAULT_MAX_SECRET_LIFETIME, Tenant, TenantId, new_password_credential,
};
use hale_store::test_support::TestDatabase;
use hale_store::{Store, StoreError, applications, tenants};
use time::OffsetDateTime;

async fn store_with_tenant() -> (Store, TestDatabase, TenantId) {
    let db = TestDatabase::create().await.unwrap();
    let store = Store::open(&db.url).await.unwrap();
    let tenant = Tenant {
        id: TenantId::new(),
        domain: "apps.example".into(),
        display_name: "Apps".into(),
        is_default: true,
        created_at: OffsetDateTime::now_utc(),
    };
    let id = tenant.id;
    store
        .write(move |tx| tenants::insert(tx, &tenant))
        .await
        .unwrap();
    (store, db, id)
}

fn digest(secret: &str) -> Vec<u8> {
    secret.bytes().rev().collect()
}

#[tokio::test]
async fn applications_round_trip_with_secrets_kept_apart() {
    let (store, _db, tenant) = store_with_tenant().await;
    let mut app = Application::new(tenant, "Confidential client".into(), "apps.example");
    app.web.redirect_uris = vec!["https://app.example/cb".into()];
    app.identifier_uris = vec![format!("api://{}", app.app_id)];
    let (credential, secret) = new_password_credential(
        Some("ci".into()),
        None,
        None,
        DEFAULT_MAX_SECRET_LIFETIME,
        digest,
    )
    .unwrap();
    app.password_credentials.push(credential.clone());
    let stored = app.clone();
    store
        .write(move |tx| applications::insert(tx, &stored))
        .await
        .unwrap();

    let (id, app_id) = (app.id, app.app_id);
    let (by_id, by_app_id, digests, body) = store
        .read(move |tx| {
            let body: String = tx.query("SELECT body FROM applications", &[])?[0].get(0)?;
            Ok::<_, StoreError>((
                applications::get(tx, tenant, id)?.unwrap(),
                applications::by_app_id(tx, app_id)?.unwrap(),
                applications::secret_digests(tx, id)?,
                body,
            ))
        })
        .await
        .unwrap();
    assert_eq!(by_id.id, id);
    assert_eq!(by_app_id.id, id);
    assert_eq!(
        by_id.web.redirect_uris,
        vec!["https://app.example/cb".to_string()]
    );
    assert_eq!(by_id.password_credentials.len(), 1);
    assert!(
        by_id.password_credentials[0].digest.is_empty(),
        "digests are not part of the object"
    );
    assert_eq!(
        by_id.password_credentials[0].hint.as_deref(),
        Some(&secret.expose()[..3])
    );
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0].digest, digest(secret.expose()));
    assert!(
        !body.contains(secret.expose()),
        "the secret is nowhere in the row"
    );
}

#[tokio::test]
async fn identifier_uris_are_unique_in_a_tenant_ignoring_case() {
    let (store, _db, tenant) = store_with_tenant().await;
    let mut first = Application::new(tenant, "First".into(), "apps.example");
    first.identifier_uris = vec!["api://shared".into()];
    let first_id = first.id;
    store
        .write(move |tx| applications::insert(tx, &first))
        .await
        .unwrap();

    let mut second = Application::new(tenant, "Second".into(), "apps.example");
    second.identifier_uris = vec!["API://Shared".into()];
    let err = store
        .write(move |tx| applications::insert(tx, &second))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let owner = store
        .read(move |tx| applications::identifier_uri_owner(tx, tenant, "Api://SHARED"))
        .await
        .unwrap();
    assert_eq!(owner, Some(first_id));
    let count = store
        .read(|tx| tx.query("SELECT count(*) FROM applications", &[])?[0].get::<i64>(0))
        .await
        .unwrap();
    assert_eq!(count, 1, "the failed insert left nothing");
}

#[tokio::test]
async fn updates_sync_uris_and_secret_digests_and_deletes_cascade() {
    let (store, _db, tenant) = store_with_tenant().await;
    let mut app = Application::new(tenant, "App".into(), "apps.example");
    app.identifier_uris = vec!["api://old".into()];
    let (a, _) =
        new_password_credential(None, None, None, DEFAULT_MAX_SECRET_LIFETIME, digest).unwrap();
    let (b, _) =
        new_password_credential(None, None, None, DEFAULT_MAX_SECRET_LIFETIME, digest).unwrap();
    app.password_credentials = vec![a.clone(), b.clone()];
    let stored = app.clone();
    store
        .write(move |tx| applications::insert(tx, &stored))
        .await
        .unwrap();

    // Reload (digests are not in the object), drop secret a, add c, rename, move URI.
    let id = app.id;
    let mut loaded = store
        .read(move |tx| applications::get(tx, tenant, id))
        .await
        .unwrap()
        .unwrap();
    let (c, _) =
        new_password_credential(None, None, None, DEFAULT_MAX_SECRET_LIFETIME, digest).unwrap();
    loaded.password_credentials.retain(|p| p.key_id != a.key_id);
    loaded.password_credentials.push(c.clone());
    loaded.display_name = "Renamed".into();
    loaded.identifier_uris = vec!["api://new".into()];
    store
        .write(move |tx| applications::update(tx, &loaded))
        .await
        .unwrap();

    let (digests, old, new, renamed) = store
        .read(move |tx| {
            Ok::<_, StoreError>((
                applications::secret_digests(tx, id)?,
                applications::identifier_uri_owner(tx, tenant, "api://old")?,
                applications::identifier_uri_owner(tx, tenant, "api://new")?,
                applications::get(tx, tenant, id)?.unwrap().display_name,
            ))
        })
        .await
        .unwrap();
    let mut kept: Vec<_> = digests.iter().map(|d| d.key_id).collect();
    kept.sort();
    let mut expected = vec![b.key_id, c.key_id];
    expected.sort();
    assert_eq!(kept, expected);
    assert_eq!((old, new), (None, Some(id)));
    assert_eq!(renamed, "Renamed");

    assert!(
        store
            .write(move |tx| applications::delete(tx, tenant, id))
            .await
            .unwrap()
    );
    assert!(
        !store
            .write(move |tx| applications::delete(tx, tenant, id))
            .await
            .unwrap()
    );
    let leftovers = store
        .read(|tx| {
            let uris: i64 =
                tx.query("SELECT count(*) FROM application_identifier_uris", &[])?[0].get(0)?;
            let secrets: i64 =
                tx.query("SELECT count(*) FROM application_secrets", &[])?[0].get(0)?;
            Ok::<_, StoreError>((uris, secrets))
        })
        .await
        .unwrap();
    assert_eq!(leftovers, (0, 0));
}

#[tokio::test]
async fn listing_pages_in_creation_order() {
    let (store, _db, tenant) = store_with_tenant().await;
    let mut ids = Vec::new();
    for i in 0..25 {
        let mut app = Application::new(tenant, format!("App {i:02}"), "apps.example");
        app.created_date_time += time::Duration::milliseconds(i);
        ids.push(app.id);
        store
            .write(move |tx| applications::insert(tx, &app))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .read(move |tx| applications::list(tx, tenant, after, 10))
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|a| a.id);
        seen.extend(page.iter().map(|a| a.id));
    }
    assert_eq!(seen, ids);
}
