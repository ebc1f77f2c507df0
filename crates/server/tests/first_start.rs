//! First start: what it creates, and that a restart creates nothing new.

use hale_directory::first_party;
use hale_store::{Store, StoreError, arm, principals, signing_keys, tenants, users};
use hale_testkit::{ADMIN_PASSWORD, TestServer};

async fn counts(store: &Store) -> Vec<(String, i64)> {
    store
        .read(|tx| {
            let mut out = Vec::new();
            for table in [
                "tenants",
                "users",
                "service_principals",
                "directory_role_members",
                "subscriptions",
                "resource_groups",
                "role_assignments",
                "signing_keys",
                "installation",
            ] {
                let n: i64 = tx.query(&format!("SELECT count(*) FROM {table}"), &[])?[0].get(0)?;
                out.push((table.to_owned(), n));
            }
            Ok::<_, StoreError>(out)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn first_start_creates_the_default_tenant_and_a_restart_keeps_it() {
    let server = TestServer::start().await;
    let first = &server.info().installation;
    assert!(first.created);
    assert_eq!(first.tenant.domain, "hale.local");
    assert_eq!(first.admin_user_principal_name, "admin@hale.local");
    assert!(
        first.generated_admin_password.is_none(),
        "the password came from the settings"
    );
    let (tenant_id, subscription_id) = (first.tenant.id, first.subscription_id);
    let ca_before = std::fs::read(server.info().ca_cert.as_ref().unwrap()).unwrap();

    let server = server.restart().await.unwrap();
    let second = &server.info().installation;
    assert!(!second.created);
    assert_eq!(second.tenant.id, tenant_id);
    assert_eq!(second.subscription_id, subscription_id);
    assert_eq!(
        std::fs::read(server.info().ca_cert.as_ref().unwrap()).unwrap(),
        ca_before,
        "the CA is reused"
    );

    let stopped = server.stop().await;
    let store = stopped.open_store().await;
    let expected: Vec<(String, i64)> = [
        ("tenants", 1),
        ("users", 1),
        (
            "service_principals",
            first_party::provisioned_at_tenant_creation().count() as i64,
        ),
        ("directory_role_members", 1),
        ("subscriptions", 1),
        ("resource_groups", 1),
        ("role_assignments", 1),
        ("signing_keys", 1),
        ("installation", 1),
    ]
    .iter()
    .map(|(t, n)| (t.to_string(), *n))
    .collect();
    assert_eq!(counts(&store).await, expected);

    let (tenant, admin, sps, keys, subs) = store
        .read(move |tx| {
            let tenant = tenants::get(tx, tenant_id)?.unwrap();
            let admin = users::by_upn(tx, tenant_id, "admin@hale.local")?.unwrap();
            let roles = principals::roles_of(tx, tenant_id, admin.id)?;
            assert_eq!(
                roles,
                vec![hale_directory::DirectoryRole::GlobalAdministrator]
            );
            let owner = arm::role_assignments_of(tx, admin.id)?;
            assert_eq!(owner.len(), 1);
            assert_eq!(owner[0].role_definition_id, hale_arm::builtin_roles::OWNER);
            assert_eq!(owner[0].scope, format!("/subscriptions/{subscription_id}"));
            Ok::<_, StoreError>((
                tenant,
                admin,
                principals::list(tx, tenant_id)?,
                signing_keys::list(tx)?,
                arm::resource_groups(tx, subscription_id)?,
            ))
        })
        .await
        .unwrap();
    assert!(tenant.is_default);
    assert!(admin.account_enabled);
    assert!(admin.password.as_ref().unwrap().verify(ADMIN_PASSWORD));
    let app_ids: Vec<_> = sps.iter().map(|sp| sp.app_id).collect();
    assert!(app_ids.contains(&first_party::MICROSOFT_GRAPH.app_id));
    assert!(app_ids.contains(&first_party::AZURE_RESOURCE_MANAGER.app_id));
    assert!(app_ids.contains(&first_party::HALE_CLI.app_id));
    assert!(
        !app_ids.contains(&first_party::AZURE_HEALTHCARE_APIS.app_id),
        "only once a FHIR service exists"
    );
    assert_eq!(keys[0].algorithm, "RS256");
    assert!(
        !keys[0]
            .sealed_private_key
            .windows(4)
            .any(|w| w == b"0\x82\x04"),
        "the private key is sealed"
    );
    assert_eq!(subs[0].name, "hale-default");
}

#[tokio::test]
async fn a_generated_admin_password_is_reported_once() {
    let server = TestServer::start_with(|s| s.admin_password = None).await;
    let password = server
        .info()
        .installation
        .generated_admin_password
        .clone()
        .expect("a generated password");
    assert_eq!(password.len(), 24);
    let server = server.restart().await.unwrap();
    assert!(
        server
            .info()
            .installation
            .generated_admin_password
            .is_none()
    );
    let tenant = server.info().installation.tenant.id;
    let stopped = server.stop().await;
    let store = stopped.open_store().await;
    let admin = store
        .read(move |tx| users::by_upn(tx, tenant, "admin@hale.local"))
        .await
        .unwrap()
        .unwrap();
    assert!(admin.password.unwrap().verify(&password));
}

#[tokio::test]
async fn the_tenant_domain_is_configurable_at_first_start() {
    let server = TestServer::start_with(|s| s.tenant_domain = "Contoso.Example".into()).await;
    let installation = &server.info().installation;
    assert_eq!(installation.tenant.domain, "contoso.example");
    assert_eq!(
        installation.admin_user_principal_name,
        "admin@contoso.example"
    );
    server.stop().await;
}
