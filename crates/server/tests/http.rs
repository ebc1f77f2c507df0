//! The server as a client meets it: real HTTPS on an ephemeral port.

use hale_proto::{Health, Readiness};
use hale_testkit::TestServer;

#[tokio::test]
async fn healthz_and_readyz_answer_over_https() {
    let server = TestServer::start().await;
    let res = server
        .client()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let health: Health = res.json().await.unwrap();
    assert_eq!(health.status, "ok");

    let res = server
        .client()
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ready: Readiness = res.json().await.unwrap();
    assert_eq!(ready.status, "ready");
    assert!(
        ready.checks.database.ok && ready.checks.blobs.ok,
        "{ready:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_the_clients() {
    let server = TestServer::start().await;
    let a = server
        .client()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    let b = server
        .client()
        .get(server.url("/no/such/thing"))
        .send()
        .await
        .unwrap();
    let id_a = a.headers()["x-request-id"].to_str().unwrap().to_owned();
    let id_b = b.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id_a.len(), 36, "a UUID: {id_a}");
    assert_ne!(id_a, id_b);

    let mine = server
        .client()
        .get(server.url("/healthz"))
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(mine.headers()["x-request-id"], "client-chosen-42");
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_get_a_json_404() {
    let server = TestServer::start().await;
    let res = server
        .client()
        .get(server.url("/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NotFound");
    server.stop().await;
}

#[tokio::test]
async fn the_certificate_covers_localhost_and_loopback_addresses() {
    let server = TestServer::start().await;
    let port = server.info().local_addr.port();
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{port}/healthz");
        let res = server
            .client()
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e:?}"));
        assert_eq!(res.status(), 200, "{url}");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_untrusting_client_is_refused_by_tls() {
    let server = TestServer::start().await;
    let stranger = reqwest::Client::builder().build().unwrap();
    let err = stranger
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn plain_http_is_served_only_when_asked() {
    let server = TestServer::start_with(|s| s.tls = hale_server::Tls::Off).await;
    assert_eq!(server.info().public_url.scheme(), "http");
    assert!(server.info().ca_cert.is_none());
    let res = server
        .client()
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_stops_accepting_connections() {
    let server = TestServer::start().await;
    let url = server.url("/healthz");
    let client = server.client().clone();
    assert_eq!(client.get(url.clone()).send().await.unwrap().status(), 200);
    // An idle keep-alive connection is open; shutdown must not wait on it.
    let started = std::time::Instant::now();
    server.stop().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "shutdown waited on an idle connection"
    );
    let fresh = client_without_pool();
    assert!(fresh.get(url).send().await.is_err());
}

/// A client that must open a new connection (the server's is gone by now).
fn client_without_pool() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let server = TestServer::start().await;
    let tenant = server.info().installation.tenant.id;
    let url = server.url(&format!("/{tenant}/oauth2/v2.0/token"));
    let client = server.client().clone();

    // A token request whose body arrives in two parts: the handler is waiting
    // for the second when shutdown begins.
    let (parts, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|part| (part, rx))
    });
    let request = tokio::spawn(async move {
        client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
    });
    parts
        .send(Ok(bytes::Bytes::from_static(b"grant_type=client_cre")))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !stopping.is_finished(),
        "shutdown waits for the request in flight"
    );

    parts
        .send(Ok(bytes::Bytes::from_static(b"dentials&client_id=x")))
        .await
        .unwrap();
    drop(parts);
    let response = request
        .await
        .unwrap()
        .expect("the request in flight is answered");
    // The whole form arrived: Entra's answer about its content, not a cut connection.
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["error_codes"][0], 7000218,
        "no client secret in the form: {body}"
    );
    stopping.await.unwrap();
}

/// A small request body is read before the answer, even a refusal that does
/// not need it: over HTTP/2 an answer sent while the client still uploads
/// is followed by a stream reset, which clients such as curl report in
/// place of the answer. Checked here by sending the body late: the server
/// waits for it, and only then refuses.
#[tokio::test]
async fn a_refusal_waits_for_a_small_body() {
    let server = TestServer::start().await;
    let ca = std::fs::read(server.info().ca_cert.as_ref().unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for path in ["/fhir/ws/nope/Patient", "/dicom/ws/nope/v2/studies"] {
        let late = futures::stream::once(async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"xx"))
        });
        let started = std::time::Instant::now();
        let res = client
            .post(server.url(path))
            .header("content-type", "application/json")
            .header("content-length", "2")
            .body(reqwest::Body::wrap_stream(late))
            .send()
            .await
            .unwrap();
        assert_eq!(res.version(), reqwest::Version::HTTP_2);
        assert_eq!(res.status(), 404, "{path}");
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(300),
            "{path}: answered before the body came"
        );
        assert!(!res.text().await.unwrap().is_empty());
    }
}
