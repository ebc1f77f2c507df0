//! Health workspaces, services, role assignments and the RBAC grants query, on
//! SQLite and (with `HALE_TEST_DATABASE_URL`) PostgreSQL.

use std::collections::BTreeMap;

use hale_arm::builtin_roles::{FHIR_DATA_READER, FHIR_DATA_WRITER, OWNER};
use hale_arm::{
    HealthService, PrincipalType, ResourceGroup, ResourceId, RoleAssignment, ServiceKind,
    Subscription, Workspace,
};
use hale_directory::membership::{Member, MemberKind};
use hale_directory::{Group, ObjectId, Tenant, TenantId};
use hale_store::test_support::TestDatabase;
use hale_store::{Store, StoreError, arm, groups, health, tenants};
use time::OffsetDateTime;
use uuid::Uuid;

/// Now, at the microsecond precision instants are stored with.
fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000).unwrap()
}

struct Fixture {
    store: Store,
    _db: TestDatabase,
    tenant: TenantId,
    subscription: Uuid,
}

async fn fixture() -> Fixture {
    let db = TestDatabase::create().await.expect("test database");
    let store = Store::open(&db.url).await.expect("open store");
    let now = now();
    let tenant = Tenant {
        id: TenantId::new(),
        domain: "health.example".into(),
        display_name: "Health".into(),
        is_default: false,
        created_at: now,
    };
    let subscription = Subscription {
        id: Uuid::new_v4(),
        tenant_id: tenant.id,
        display_name: "sub".into(),
        state: "Enabled".into(),
        created_at: now,
    };
    let (tid, sid) = (tenant.id, subscription.id);
    store
        .write(move |tx| {
            tenants::insert(tx, &tenant)?;
            arm::insert_subscription(tx, &subscription)?;
            arm::insert_resource_group(tx, &group(sid, "Clinical-RG"))
        })
        .await
        .unwrap();
    Fixture {
        store,
        _db: db,
        tenant: tid,
        subscription: sid,
    }
}

fn group(subscription: Uuid, name: &str) -> ResourceGroup {
    ResourceGroup {
        subscription_id: subscription,
        name: name.into(),
        location: "local".into(),
        tags: BTreeMap::from([("env".into(), "test".into())]),
        created_at: OffsetDateTime::now_utc(),
    }
}

impl Fixture {
    fn workspace(&self, name: &str) -> Workspace {
        let now = now();
        Workspace {
            id: Uuid::new_v4(),
            tenant_id: self.tenant,
            subscription_id: self.subscription,
            resource_group: "Clinical-RG".into(),
            name: name.into(),
            location: "local".into(),
            tags: BTreeMap::new(),
            created_at: now,
            updated_at: now,
        }
    }

    fn service(&self, ws: &Workspace, kind: ServiceKind, name: &str) -> HealthService {
        let now = now();
        HealthService {
            id: Uuid::new_v4(),
            kind,
            tenant_id: self.tenant,
            subscription_id: self.subscription,
            resource_group: ws.resource_group.clone(),
            workspace_id: ws.id,
            workspace: ws.name.clone(),
            name: name.into(),
            resource_kind: (kind == ServiceKind::Fhir).then(|| "fhir-R4".into()),
            location: "local".into(),
            tags: BTreeMap::new(),
            cors: None,
            smart_identity_providers: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    fn assignment(&self, scope: &str, role: Uuid, principal: ObjectId) -> RoleAssignment {
        let now = now();
        RoleAssignment {
            id: Uuid::new_v4(),
            tenant_id: self.tenant,
            scope: scope.into(),
            role_definition_id: role,
            principal_id: principal,
            principal_type: PrincipalType::User,
            description: Some("why".into()),
            created_by: Some(principal),
            created_at: now,
            updated_at: now,
        }
    }
}

#[tokio::test]
async fn workspaces_and_services_round_trip_and_names_are_unique() {
    let f = fixture().await;
    let ws = f.workspace("clinical");
    let fhir = f.service(&ws, ServiceKind::Fhir, "Patients");
    let dicom = f.service(&ws, ServiceKind::Dicom, "patients");
    let (w2, f2, d2) = (ws.clone(), fhir.clone(), dicom.clone());
    f.store
        .write(move |tx| {
            health::insert_workspace(tx, &w2)?;
            health::insert_service(tx, &f2)?;
            // A DICOM service may share a FHIR service's name.
            health::insert_service(tx, &d2)
        })
        .await
        .unwrap();

    let (sub, ws_id) = (f.subscription, ws.id);
    let (by_name, listed, by_path, other_kind, count) = f
        .store
        .read(move |tx| {
            Ok::<_, StoreError>((
                health::workspace_by_name(tx, "CLINICAL")?,
                health::workspaces(tx, sub, Some("Clinical-RG"))?,
                health::service_by_path(tx, ServiceKind::Fhir, "clinical", "PATIENTS")?,
                health::service_by_path(tx, ServiceKind::Fhir, "clinical", "nobody")?,
                health::service_count(tx, ws_id)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(by_name.as_ref(), Some(&ws));
    assert_eq!(listed, vec![ws.clone()]);
    let found = by_path.unwrap();
    assert_eq!(found.id, fhir.id);
    assert_eq!(found.name, "Patients");
    assert_eq!(found.resource_kind.as_deref(), Some("fhir-R4"));
    assert_eq!(found.tenant_id, f.tenant);
    assert!(other_kind.is_none());
    assert_eq!(count, 2);

    // The same workspace name, anywhere else, conflicts; so does a second
    // FHIR service of the same name in another case.
    let mut again = f.workspace("clinical");
    again.resource_group = "Clinical-RG".into();
    let dup = f.service(&ws, ServiceKind::Fhir, "PATIENTS");
    let dup_ws = f
        .store
        .write(move |tx| health::insert_workspace(tx, &again))
        .await;
    assert!(matches!(dup_ws, Err(StoreError::Conflict(_))), "{dup_ws:?}");
    let dup_svc = f
        .store
        .write(move |tx| health::insert_service(tx, &dup))
        .await;
    assert!(
        matches!(dup_svc, Err(StoreError::Conflict(_))),
        "{dup_svc:?}"
    );
}

#[tokio::test]
async fn deleting_a_service_removes_the_assignments_at_its_scope_only() {
    let f = fixture().await;
    let ws = f.workspace("wsdel");
    let a = f.service(&ws, ServiceKind::Fhir, "a");
    // A sibling whose name extends the deleted one's.
    let ab = f.service(&ws, ServiceKind::Fhir, "a-b");
    let user = ObjectId::new();
    let at_a = f.assignment(&a.resource_id().to_string(), FHIR_DATA_READER, user);
    let at_ab = f.assignment(&ab.resource_id().to_string(), FHIR_DATA_READER, user);
    let at_ws = f.assignment(&ws.resource_id().to_string(), FHIR_DATA_READER, user);
    let (w, w2, a2, ab2) = (ws.clone(), ws.clone(), a.clone(), ab.clone());
    let (x, y, z) = (at_a.clone(), at_ab.clone(), at_ws.clone());
    f.store
        .write(move |tx| {
            health::insert_workspace(tx, &w2)?;
            health::insert_service(tx, &a2)?;
            health::insert_service(tx, &ab2)?;
            arm::insert_role_assignment(tx, &x)?;
            arm::insert_role_assignment(tx, &y)?;
            arm::insert_role_assignment(tx, &z)
        })
        .await
        .unwrap();
    let tenant = f.tenant;
    let left = f
        .store
        .write(move |tx| {
            assert!(health::delete_service(tx, &a)?);
            assert!(!health::delete_service(tx, &a)?);
            arm::role_assignments_within(tx, tenant, &w.resource_id().to_string())
        })
        .await
        .unwrap();
    let ids: Vec<Uuid> = left.iter().map(|a| a.id).collect();
    assert_eq!(ids, vec![at_ab.id, at_ws.id]);
    // Scope kept as given, compared ignoring case; details round-trip.
    let read = f
        .store
        .read(move |tx| arm::role_assignment_by_id(tx, tenant, at_ab.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, at_ab);
}

#[tokio::test]
async fn one_role_per_principal_per_scope_ignoring_case() {
    let f = fixture().await;
    let user = ObjectId::new();
    let scope = format!(
        "/subscriptions/{}/resourceGroups/Clinical-RG",
        f.subscription
    );
    let first = f.assignment(&scope, FHIR_DATA_READER, user);
    let same = f.assignment(
        &scope
            .to_uppercase()
            .replace("SUBSCRIPTIONS", "subscriptions"),
        FHIR_DATA_READER,
        user,
    );
    let other_role = f.assignment(&scope, FHIR_DATA_WRITER, user);
    let (a, b) = (first.clone(), other_role.clone());
    f.store
        .write(move |tx| {
            arm::insert_role_assignment(tx, &a)?;
            arm::insert_role_assignment(tx, &b)
        })
        .await
        .unwrap();
    let dup = f
        .store
        .write(move |tx| arm::insert_role_assignment(tx, &same))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let found = f
        .store
        .read(move |tx| arm::role_assignment_at(tx, &scope.to_uppercase(), FHIR_DATA_READER, user))
        .await
        .unwrap();
    assert_eq!(found.map(|a| a.id), Some(first.id));
}

#[tokio::test]
async fn grants_follow_nested_groups_through_cycles_and_filter_by_scope() {
    let f = fixture().await;
    let tid = f.tenant;
    let mk = |name: &str| Group {
        id: ObjectId::new(),
        tenant_id: tid,
        display_name: name.into(),
        description: None,
        mail_nickname: name.into(),
        mail_enabled: false,
        security_enabled: true,
        group_types: vec![],
        mail: None,
        visibility: None,
        created_date_time: OffsetDateTime::now_utc(),
    };
    let (inner, outer, unrelated) = (mk("inner"), mk("outer"), mk("unrelated"));
    let (gi, go, gu) = (inner.id, outer.id, unrelated.id);
    let user = ObjectId::new();
    let sub = format!("/subscriptions/{}", f.subscription);
    let rg = format!("{sub}/resourceGroups/Clinical-RG");
    let elsewhere = format!("{sub}/resourceGroups/other");
    // user ∈ inner ∈ outer ∈ inner (a cycle); grants on each, and on an unrelated group.
    let assignments = [
        f.assignment(&rg, FHIR_DATA_READER, user),
        f.assignment(&sub, FHIR_DATA_WRITER, go),
        f.assignment(&elsewhere, OWNER, gi),
        f.assignment(&rg, OWNER, gu),
    ];
    f.store
        .write(move |tx| {
            for g in [&inner, &outer, &unrelated] {
                groups::insert(tx, g)?;
            }
            let member = |id, kind| Member { id, kind };
            groups::add_member(tx, tid, gi, member(user, MemberKind::User))?;
            groups::add_member(tx, tid, go, member(gi, MemberKind::Group))?;
            groups::add_member(tx, tid, gi, member(go, MemberKind::Group))?;
            for a in &assignments {
                arm::insert_role_assignment(tx, a)?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();

    let service = ResourceId::parse(&format!(
        "{rg}/providers/Microsoft.HealthcareApis/workspaces/ws/fhirservices/f"
    ))
    .unwrap();
    let scopes: Vec<String> = service
        .self_and_ancestors()
        .iter()
        .map(ResourceId::key)
        .collect();
    let (at_service, everywhere, stranger) = f
        .store
        .read(move |tx| {
            Ok::<_, StoreError>((
                arm::grants(tx, tid, user, Some(&scopes))?,
                arm::grants(tx, tid, user, None)?,
                arm::grants(tx, tid, ObjectId::new(), None)?,
            ))
        })
        .await
        .unwrap();
    let mut got: Vec<(String, Uuid)> = at_service
        .into_iter()
        .map(|g| (g.scope, g.role_definition_id))
        .collect();
    got.sort();
    let mut want = vec![
        (rg.to_lowercase(), FHIR_DATA_READER),
        (sub.to_lowercase(), FHIR_DATA_WRITER),
    ];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(everywhere.len(), 3, "{everywhere:?}");
    assert!(stranger.is_empty());
}

#[tokio::test]
async fn deleting_a_resource_group_takes_everything_in_it() {
    let f = fixture().await;
    let ws = f.workspace("wsrg");
    let svc = f.service(&ws, ServiceKind::Dicom, "d1");
    let user = ObjectId::new();
    let inside = f.assignment(&svc.resource_id().to_string(), FHIR_DATA_READER, user);
    let outside = f.assignment(&format!("/subscriptions/{}", f.subscription), OWNER, user);
    let sub = f.subscription;
    let (w, s, a, b) = (ws.clone(), svc.clone(), inside.clone(), outside.clone());
    f.store
        .write(move |tx| {
            health::insert_workspace(tx, &w)?;
            health::insert_service(tx, &s)?;
            arm::insert_role_assignment(tx, &a)?;
            arm::insert_role_assignment(tx, &b)
        })
        .await
        .unwrap();
    let tenant = f.tenant;
    let (found, deleted, left, ws_left) = f
        .store
        .write(move |tx| {
            let g = arm::resource_group_by_name(tx, sub, "clinical-rg")?.unwrap();
            let deleted = arm::delete_resource_group(tx, &g)?;
            Ok::<_, StoreError>((
                g,
                deleted,
                arm::role_assignments_within(tx, tenant, &format!("/subscriptions/{sub}"))?,
                health::workspace_by_name(tx, "wsrg")?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(found.name, "Clinical-RG");
    assert_eq!(found.tags.get("env").map(String::as_str), Some("test"));
    assert!(deleted);
    assert_eq!(
        left.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![outside.id]
    );
    assert!(ws_left.is_none());
}
