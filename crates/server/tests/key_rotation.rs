//! Signing key rotation: the next key is published before it signs, the old
//! one stays published while its tokens live, and a running server switches
//! without a restart.

use std::time::Duration;

use hale_testkit::TestServer;
use serde_json::Value;

async fn jwks_kids(server: &TestServer) -> Vec<String> {
    let tenant = server.info().installation.tenant.id;
    let jwks: Value = server
        .client()
        .get(server.url(&format!("/{tenant}/discovery/v2.0/keys")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn token_kid(server: &TestServer) -> String {
    let res = server
        .client()
        .post(server.url("/hale.local/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
            ("username", "admin@hale.local"),
            ("password", hale_testkit::ADMIN_PASSWORD),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let (header, _) = hale_jws::decode_unverified(&token).unwrap();
    header.kid.unwrap()
}

/// Waits for the server's key refresh (1 s in tests).
async fn after_refresh() {
    tokio::time::sleep(Duration::from_millis(1_200)).await;
}

#[tokio::test]
async fn the_next_key_is_published_before_it_signs_and_the_old_one_lingers() {
    let server = TestServer::start().await;
    let first = token_kid(&server).await;
    assert_eq!(jwks_kids(&server).await, std::slice::from_ref(&first));

    // Rotate with a delay: published now, not signing yet.
    let keys = hale_server::rotate_signing_key(server.settings(), time::Duration::hours(1))
        .await
        .unwrap();
    let states: Vec<&str> = keys.iter().map(|k| k.state).collect();
    assert_eq!(
        states.iter().filter(|s| **s == "next").count(),
        1,
        "{keys:?}"
    );
    let next = keys.iter().find(|k| k.state == "next").unwrap().kid.clone();
    after_refresh().await;
    assert_eq!(jwks_kids(&server).await, [first.clone(), next.clone()]);
    assert_eq!(token_kid(&server).await, first, "still the first key");

    // Rotate to sign at once: the new key signs; the first stays published
    // (its tokens are still valid); the pending one too.
    let old_token_holder = server.admin_token("Application.Read.All").await;
    let keys = hale_server::rotate_signing_key(server.settings(), time::Duration::ZERO)
        .await
        .unwrap();
    let now_signing = keys
        .iter()
        .find(|k| k.state == "signing")
        .unwrap()
        .kid
        .clone();
    assert!(now_signing != first && now_signing != next);
    after_refresh().await;
    assert_eq!(token_kid(&server).await, now_signing);
    let published = jwks_kids(&server).await;
    assert_eq!(published[0], now_signing, "the signing key first");
    assert!(
        published.contains(&first) && published.contains(&next),
        "{published:?}"
    );
    // A token signed with the first key is still accepted.
    let res = server
        .client()
        .get(server.url("/v1.0/applications"))
        .bearer_auth(&old_token_holder)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let listed = hale_server::list_signing_keys(server.settings())
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
}

#[tokio::test]
async fn rotation_needs_a_set_up_installation_and_its_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let settings = hale_server::Settings::new(dir.path().join("nothing-here"));
    let e = hale_server::rotate_signing_key(&settings, time::Duration::ZERO)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no master key"), "{e}");

    let server = TestServer::start().await;
    let mut wrong = server.settings().clone();
    wrong.master_key = Some(hale_server::Secret::new(
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
    ));
    let e = hale_server::rotate_signing_key(&wrong, time::Duration::ZERO)
        .await
        .unwrap_err();
    assert!(e.to_string().to_lowercase().contains("master key"), "{e}");
    assert_eq!(
        hale_server::list_signing_keys(server.settings())
            .await
            .unwrap()
            .len(),
        1
    );
}
