//! The store suite. Every test runs on SQLite by default and on PostgreSQL when
//! `HALE_TEST_DATABASE_URL` is set (`scripts/test` runs it both ways).

use hale_directory::{ObjectId, PasswordHash, Tenant, TenantId, User};
use hale_store::test_support::TestDatabase;
use hale_store::{LATEST_SCHEMA_VERSION, Store, StoreError, Tx, meta, params, tenants, users};
use time::OffsetDateTime;

async fn fresh() -> (Store, TestDatabase) {
    let db = TestDatabase::create().await.expect("test database");
    let store = Store::open(&db.url).await.expect("open store");
    (store, db)
}

fn tenant(domain: &str) -> Tenant {
    Tenant {
        id: TenantId::new(),
        domain: domain.into(),
        display_name: format!("Tenant {domain}"),
        is_default: false,
        created_at: OffsetDateTime::now_utc(),
    }
}

/// A security group named `name` in tenant `tid`.
fn security_group(tid: TenantId, name: &str) -> hale_directory::Group {
    hale_directory::Group {
        id: ObjectId::new(),
        tenant_id: tid,
        display_name: name.into(),
        description: None,
        mail_nickname: name.to_lowercase(),
        mail_enabled: false,
        security_enabled: true,
        group_types: vec![],
        mail: None,
        visibility: None,
        created_date_time: OffsetDateTime::now_utc(),
    }
}

async fn count(store: &Store, table: &'static str) -> i64 {
    store
        .read(move |tx| tx.query(&format!("SELECT count(*) FROM {table}"), &[])?[0].get::<i64>(0))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_database_is_migrated_to_the_latest_version_once() {
    let (store, db) = fresh().await;
    let v = store.schema_version().await.unwrap();
    assert_eq!(v.version, LATEST_SCHEMA_VERSION);
    assert_eq!(v.written_by, env!("CARGO_PKG_VERSION"));
    // One ledger row per migration (version numbers may have gaps while
    // parallel work is merged).
    let applied = count(&store, "hale_schema_migrations").await;
    assert!((2..=LATEST_SCHEMA_VERSION).contains(&applied), "{applied}");
    drop(store);

    // Opening again applies nothing new.
    let again = Store::open(&db.url).await.unwrap();
    assert_eq!(count(&again, "hale_schema_migrations").await, applied);
}

#[tokio::test]
async fn a_database_from_a_newer_hale_is_refused() {
    let (store, db) = fresh().await;
    store
        .write(|tx| {
            tx.execute(
                "INSERT INTO hale_schema_migrations (version, name, applied_at, hale_version) VALUES ($1, $2, $3, $4)",
                params![LATEST_SCHEMA_VERSION + 7, "from the future", 0i64, "99.0.0"],
            )
        })
        .await
        .unwrap();
    drop(store);
    match Store::open(&db.url).await {
        Err(e @ StoreError::NewerSchema { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(&format!("schema version {}", LATEST_SCHEMA_VERSION + 7)),
                "{text}"
            );
            assert!(text.contains("written by a newer Hale (99.0.0)"), "{text}");
        }
        Err(other) => panic!("expected NewerSchema, got {other}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

#[tokio::test]
async fn written_rows_read_back_and_domains_ignore_case() {
    let (store, _db) = fresh().await;
    let t = tenant("Contoso.example");
    let written = t.clone();
    store
        .write(move |tx| tenants::insert(tx, &written))
        .await
        .unwrap();

    let id = t.id;
    let (by_id, by_domain, default) = store
        .read(move |tx| {
            Ok::<_, StoreError>((
                tenants::get(tx, id)?,
                tenants::by_domain(tx, "contoso.EXAMPLE")?,
                tenants::default_tenant(tx)?,
            ))
        })
        .await
        .unwrap();
    let mut expected = t.clone();
    // Instants are kept to the microsecond.
    expected.created_at = OffsetDateTime::from_unix_timestamp_nanos(
        t.created_at.unix_timestamp_nanos() / 1000 * 1000,
    )
    .unwrap();
    assert_eq!(by_id.as_ref(), Some(&expected));
    assert_eq!(by_domain.as_ref(), Some(&expected));
    assert_eq!(default, None);

    let clash = tenant("CONTOSO.example");
    let err = store
        .write(move |tx| tenants::insert(tx, &clash))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(count(&store, "tenants").await, 1);
}

#[derive(Debug)]
enum TestError {
    Store(StoreError),
    Refused,
}
impl From<StoreError> for TestError {
    fn from(e: StoreError) -> Self {
        TestError::Store(e)
    }
}

#[tokio::test]
async fn a_failed_write_leaves_no_trace() {
    let (store, _db) = fresh().await;
    let result = store
        .write(|tx| {
            tenants::insert(tx, &tenant("one.example"))?;
            tenants::insert(tx, &tenant("two.example"))?;
            Err::<(), _>(TestError::Refused)
        })
        .await;
    assert!(matches!(result, Err(TestError::Refused)));
    assert_eq!(count(&store, "tenants").await, 0);

    // A store error half-way through is rolled back too.
    let result = store
        .write(|tx| {
            tenants::insert(tx, &tenant("three.example"))?;
            tx.execute("INSERT INTO no_such_table VALUES (1)", &[])?;
            Ok::<_, TestError>(())
        })
        .await;
    assert!(
        matches!(result, Err(TestError::Store(StoreError::Database(_)))),
        "{result:?}"
    );
    assert_eq!(count(&store, "tenants").await, 0);
}

#[tokio::test]
async fn a_panicking_write_is_rolled_back_and_the_store_keeps_working() {
    let (store, _db) = fresh().await;
    let store2 = store.clone();
    let panicked = tokio::spawn(async move {
        store2
            .write(|tx| -> Result<(), StoreError> {
                tenants::insert(tx, &tenant("panic.example"))?;
                panic!("job failed");
            })
            .await
    })
    .await;
    // SQLite reports the panic as an error; PostgreSQL's blocking task propagates
    // it as a task failure. Either way nothing is stored.
    assert!(matches!(panicked, Ok(Err(_)) | Err(_)));
    store
        .write(|tx| tenants::insert(tx, &tenant("after.example")))
        .await
        .unwrap();
    assert_eq!(count(&store, "tenants").await, 1);
}

#[tokio::test]
async fn concurrent_writes_commit_independently() {
    let (store, _db) = fresh().await;
    // 150 writers at once; every third reuses a domain and must fail alone,
    // without taking the writes committed beside it down.
    let mut tasks = Vec::new();
    for i in 0..150 {
        let store = store.clone();
        let domain = if i % 3 == 2 {
            format!("t{}.example", i - 1)
        } else {
            format!("t{i}.example")
        };
        tasks.push(tokio::spawn(async move {
            store
                .write(move |tx| tenants::insert(tx, &tenant(&domain)))
                .await
        }));
    }
    let mut ok = 0;
    let mut conflicts = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!((ok, conflicts), (100, 50));
    assert_eq!(count(&store, "tenants").await, 100);
}

#[tokio::test]
async fn user_principal_names_are_unique_per_tenant_ignoring_case() {
    let (store, _db) = fresh().await;
    let (a, b) = (tenant("a.example"), tenant("b.example"));
    let (ta, tb) = (a.id, b.id);
    let user = move |tenant_id, upn: &str| User {
        id: ObjectId::new(),
        tenant_id,
        user_principal_name: upn.into(),
        display_name: "Someone".into(),
        password: Some(PasswordHash::create("pw").unwrap()),
        account_enabled: true,
        created_at: OffsetDateTime::now_utc(),
        profile: Default::default(),
    };
    let first = user(ta, "admin@a.example");
    let first_id = first.id;
    store
        .write(move |tx| {
            tenants::insert(tx, &a)?;
            tenants::insert(tx, &b)?;
            users::insert(tx, &first)?;
            // Same name in another tenant is fine.
            users::insert(tx, &user(tb, "admin@a.example"))
        })
        .await
        .unwrap();
    let dup = user(ta, "ADMIN@a.example");
    let err = store
        .write(move |tx| users::insert(tx, &dup))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");

    let found = store
        .read(move |tx| users::by_upn(tx, ta, "Admin@A.Example"))
        .await
        .unwrap()
        .expect("found ignoring case");
    assert_eq!(found.id, first_id);
    assert!(found.password.unwrap().verify("pw"));
}

#[tokio::test]
async fn every_value_type_round_trips() {
    let (store, _db) = fresh().await;
    let bytes: Vec<u8> = (0..=255).collect();
    let stored = bytes.clone();
    store
        .write(move |tx| {
            meta::insert(tx, "all-bytes", &stored)?;
            meta::insert(tx, "empty", &[])
        })
        .await
        .unwrap();
    let (all, empty, missing) = store
        .read(|tx| {
            Ok::<_, StoreError>((
                meta::get(tx, "all-bytes")?,
                meta::get(tx, "empty")?,
                meta::get(tx, "nope")?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(all, Some(bytes));
    assert_eq!(empty, Some(vec![]));
    assert_eq!(missing, None);

    let row = store
        .read(|tx: &mut dyn Tx| {
            tx.query_opt(
                "SELECT CAST($1 AS BIGINT), CAST($2 AS TEXT), $3 || 'x', CAST(NULL AS TEXT)",
                params![-42i64, "héllo", "ab"],
            )
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), -42);
    assert_eq!(row.get::<String>(1).unwrap(), "héllo");
    assert_eq!(row.get::<String>(2).unwrap(), "abx");
    assert_eq!(row.get::<Option<String>>(3).unwrap(), None);
}

#[tokio::test]
async fn group_members_and_their_cleanup() {
    use hale_directory::UserProfile;
    use hale_directory::membership::{Member, MemberKind};
    use hale_store::groups;
    let (store, _db) = fresh().await;
    let t = tenant("groups.example");
    let tid = t.id;
    let (outer, inner) = (security_group(tid, "Outer"), security_group(tid, "Inner"));
    let (outer_id, inner_id) = (outer.id, inner.id);
    let user = User {
        id: ObjectId::new(),
        tenant_id: tid,
        user_principal_name: "u@groups.example".into(),
        display_name: "U".into(),
        password: None,
        account_enabled: true,
        created_at: OffsetDateTime::now_utc(),
        profile: UserProfile {
            job_title: Some("Nurse".into()),
            ..UserProfile::default()
        },
    };
    let user_id = user.id;
    let as_member = |id, kind| Member { id, kind };
    let added = store
        .write(move |tx| {
            tenants::insert(tx, &t)?;
            users::insert(tx, &user)?;
            groups::insert(tx, &outer)?;
            groups::insert(tx, &inner)?;
            Ok::<_, StoreError>((
                groups::add_member(tx, tid, outer_id, as_member(inner_id, MemberKind::Group))?,
                groups::add_member(tx, tid, inner_id, as_member(user_id, MemberKind::User))?,
                groups::add_member(tx, tid, inner_id, as_member(user_id, MemberKind::User))?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(added, (true, true, false), "a second add is refused");
    let (members, of, kind, profile) = store
        .read(move |tx| {
            Ok::<_, StoreError>((
                groups::members(tx, tid, outer_id)?,
                groups::groups_of(tx, tid, user_id)?,
                groups::object_kind(tx, tid, inner_id)?,
                users::get(tx, tid, user_id)?.unwrap().profile,
            ))
        })
        .await
        .unwrap();
    assert_eq!(members, vec![as_member(inner_id, MemberKind::Group)]);
    assert_eq!(of, vec![as_member(inner_id, MemberKind::Group)]);
    assert_eq!(kind, Some(MemberKind::Group));
    assert_eq!(profile.job_title.as_deref(), Some("Nurse"));

    // Deleting the user and the inner group leaves no membership behind.
    store
        .write(move |tx| {
            assert!(users::delete(tx, tid, user_id)?);
            assert!(groups::delete(tx, tid, inner_id)?);
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    assert_eq!(count(&store, "group_members").await, 0);
    assert_eq!(count(&store, "groups").await, 1);
}

/// The authorization epoch rises in every transaction that changes what a
/// data-plane decision reads (role assignments, group members, workspaces,
/// services), cascades included, and in no other.
#[tokio::test]
async fn the_authorization_epoch_rises_with_every_change_a_decision_reads() {
    use hale_arm::{
        HealthService, PrincipalType, ResourceGroup, RoleAssignment, ServiceKind, Subscription,
        Workspace,
    };
    use hale_directory::membership::{Member, MemberKind};
    use hale_store::{arm, groups, health};
    let (store, _db) = fresh().await;
    let epoch = || {
        let store = store.clone();
        async move { store.read_short(arm::authz_epoch).await.unwrap() }
    };
    let t = tenant("epoch.example");
    let tid = t.id;
    let now = OffsetDateTime::now_utc();
    let sub = Subscription {
        id: uuid::Uuid::new_v4(),
        tenant_id: tid,
        display_name: "S".into(),
        state: "Enabled".into(),
        created_at: now,
    };
    let rg = ResourceGroup {
        subscription_id: sub.id,
        name: "rg".into(),
        location: "westeurope".into(),
        tags: Default::default(),
        created_at: now,
    };
    let group = security_group(tid, "G");
    let gid = group.id;
    let (sub2, rg2) = (sub.clone(), rg.clone());
    let e0 = epoch().await;
    // Tenants, subscriptions, resource groups, groups: not read by decisions.
    store
        .write(move |tx| {
            tenants::insert(tx, &t)?;
            arm::insert_subscription(tx, &sub2)?;
            arm::insert_resource_group(tx, &rg2)?;
            groups::insert(tx, &group)
        })
        .await
        .unwrap();
    assert_eq!(epoch().await, e0);

    let mut last = e0;
    let mut rises = |now: i64, what: &str| {
        assert!(now > last, "{what}: epoch {now} after {last}");
        last = now;
    };
    let member = Member {
        id: ObjectId::new(),
        kind: MemberKind::User,
    };
    store
        .write(move |tx| groups::add_member(tx, tid, gid, member))
        .await
        .unwrap();
    rises(epoch().await, "group member added");

    let ws = Workspace {
        id: uuid::Uuid::new_v4(),
        tenant_id: tid,
        subscription_id: sub.id,
        resource_group: rg.name.clone(),
        name: "epochws".into(),
        location: "westeurope".into(),
        tags: Default::default(),
        created_at: now,
        updated_at: now,
    };
    let svc = HealthService {
        id: uuid::Uuid::new_v4(),
        kind: ServiceKind::Fhir,
        tenant_id: tid,
        subscription_id: sub.id,
        resource_group: rg.name.clone(),
        workspace_id: ws.id,
        workspace: ws.name.clone(),
        name: "fhir1".into(),
        resource_kind: Some("fhir-R4".into()),
        location: "westeurope".into(),
        tags: Default::default(),
        cors: None,
        smart_identity_providers: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    let ws2 = ws.clone();
    store
        .write(move |tx| health::insert_workspace(tx, &ws2))
        .await
        .unwrap();
    rises(epoch().await, "workspace created");
    let svc2 = svc.clone();
    store
        .write(move |tx| health::insert_service(tx, &svc2))
        .await
        .unwrap();
    rises(epoch().await, "service created");
    let mut tagged = svc.clone();
    tagged.tags.insert("k".into(), "v".into());
    store
        .write(move |tx| health::update_service(tx, &tagged))
        .await
        .unwrap();
    rises(epoch().await, "service updated");

    let assignment = RoleAssignment {
        id: uuid::Uuid::new_v4(),
        tenant_id: tid,
        scope: svc.resource_id().to_string(),
        role_definition_id: uuid::Uuid::new_v4(),
        principal_id: gid,
        principal_type: PrincipalType::Group,
        description: None,
        created_by: None,
        created_at: now,
        updated_at: now,
    };
    let aid = assignment.id;
    store
        .write(move |tx| arm::insert_role_assignment(tx, &assignment))
        .await
        .unwrap();
    rises(epoch().await, "role assigned");
    store
        .write(move |tx| arm::delete_role_assignment(tx, tid, aid))
        .await
        .unwrap();
    rises(epoch().await, "role unassigned");

    // Deleting the group takes its members with it (a cascade).
    store
        .write(move |tx| groups::delete(tx, tid, gid))
        .await
        .unwrap();
    rises(epoch().await, "group deleted");
    assert_eq!(count(&store, "group_members").await, 0);

    // A failed transaction leaves the epoch where it was.
    let before = epoch().await;
    let failed: Result<(), StoreError> = store
        .write(move |tx| {
            health::delete_service(tx, &svc)?;
            Err(StoreError::Conflict("changed my mind".into()))
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(epoch().await, before);
    store
        .write(move |tx| arm::delete_resource_group(tx, &rg))
        .await
        .unwrap();
    rises(epoch().await, "resource group deleted with its workspace");
}

/// PostgreSQL: every replica knows the authorization epoch without reading
/// it. A change committed through a replica is known to it when its write
/// returns; one committed through another replica, soon after (announced at
/// commit). SQLite always reads it.
#[tokio::test]
async fn replicas_hear_of_each_new_authorization_epoch() {
    use hale_directory::membership::{Member, MemberKind};
    use hale_store::{arm, groups};
    let (a, db) = fresh().await;
    if a.dialect() != hale_store::Dialect::Postgres {
        assert_eq!(a.known_authz_epoch(), None);
        return;
    }
    let b = Store::open(&db.url).await.expect("a second replica");
    let read = |store: &Store| {
        let store = store.clone();
        async move { store.read_short(arm::authz_epoch).await.unwrap() }
    };
    // Waits (at most 10 s) until `store` knows the epoch is `n`.
    let hears = |store: &Store, n: i64, what: &'static str| {
        let store = store.clone();
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while store.known_authz_epoch() != Some(n) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{what}: knows {:?}, the epoch is {n}",
                    store.known_authz_epoch()
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    let start = read(&a).await;
    hears(&a, start, "replica a at start").await;
    hears(&b, start, "replica b at start").await;

    let t = tenant("announce.example");
    let tid = t.id;
    let group = security_group(tid, "G");
    let gid = group.id;
    a.write(move |tx| {
        tenants::insert(tx, &t)?;
        groups::insert(tx, &group)
    })
    .await
    .unwrap();
    for (round, (writer, other)) in [(&a, &b), (&b, &a), (&a, &b)].into_iter().enumerate() {
        let member = Member {
            id: ObjectId::new(),
            kind: MemberKind::User,
        };
        writer
            .write(move |tx| groups::add_member(tx, tid, gid, member))
            .await
            .unwrap();
        // The writing replica knows when its write returns: no waiting.
        let known = writer.known_authz_epoch();
        let now = read(writer).await;
        assert!(now > start, "the epoch rose");
        assert_eq!(known, Some(now), "round {round}: the writer");
        hears(other, now, "the other replica").await;
    }
}

/// PostgreSQL: a table that changed a lot is analyzed within seconds, not
/// at autovacuum's next round a minute later, so that plans see the data.
#[tokio::test]
async fn postgres_statistics_follow_a_bulk_load() {
    let (store, _db) = fresh().await;
    if store.dialect() != hale_store::Dialect::Postgres {
        return;
    }
    store
        .write(|tx| {
            for n in 0..1200 {
                tenants::insert(tx, &tenant(&format!("t{n}.example")))?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    let analyzed = || {
        let store = store.clone();
        async move {
            store
                .read(|tx| {
                    tx.query(
                        "SELECT count(*) FROM pg_stat_user_tables
                         WHERE relname = 'tenants' AND last_analyze IS NOT NULL",
                        &[],
                    )?[0]
                        .get::<i64>(0)
                })
                .await
                .unwrap()
                == 1
        }
    };
    // The keeper looks every 2 s; PostgreSQL may hold an idle backend's
    // change counts for up to 10 s before publishing them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(45);
    while !analyzed().await {
        if std::time::Instant::now() >= deadline {
            let counters = store
                .read(|tx| {
                    tx.query(
                        "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'tenants'",
                        &[],
                    )?[0]
                        .get::<i64>(0)
                })
                .await;
            panic!(
                "tenants not analyzed 45 s after 1,200 inserts; changes counted since the last analysis: {counters:?}"
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// SQLite: once writes pause, the WAL is checkpointed and truncated, so a
/// database at rest takes only its pages' disk; a reader holding an old
/// snapshot does not block the writer (the checkpoint is left for later).
#[tokio::test]
async fn the_wal_is_truncated_when_writes_pause() {
    let (store, db) = fresh().await;
    let hale_store::DatabaseUrl::Sqlite(path) = &db.url else {
        return; // PostgreSQL manages its own WAL.
    };
    let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
    for i in 0..50 {
        let t = tenant(&format!("wal{i}.example"));
        store
            .write(move |tx| tenants::insert(tx, &t))
            .await
            .unwrap();
    }
    let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(size() > 0, "writes go to the WAL first");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(size(), 0, "the WAL is truncated at rest");
    assert!(count(&store, "tenants").await >= 50);
    // Writes go on afterwards.
    let t = tenant("after.example");
    store
        .write(move |tx| tenants::insert(tx, &t))
        .await
        .unwrap();
}

#[tokio::test]
async fn postgres_connections_killed_while_idle_are_replaced() {
    let (store, _db) = fresh().await;
    if store.dialect() != hale_store::Dialect::Postgres {
        return;
    }
    let backends = || {
        let store = store.clone();
        async move {
            store
                .read_short(|tx| tx.query("SELECT pg_backend_pid()::bigint", &[])?[0].get::<i64>(0))
                .await
        }
    };
    // Fill the pool: the reads overlap, so several connections serve them.
    let reads: Vec<_> = (0..16).map(|_| tokio::spawn(backends())).collect();
    let mut before = std::collections::BTreeSet::new();
    for read in reads {
        before.insert(read.await.unwrap().unwrap());
    }
    // Every connection of the pool is killed behind its back.
    let killer = Store::open(&_db.url).await.unwrap();
    let list: Vec<String> = before.iter().map(i64::to_string).collect();
    let sql = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid IN ({})",
        list.join(",")
    );
    let killed = killer
        .read(move |tx| tx.query(&sql, &[])?[0].get::<i64>(0))
        .await
        .unwrap();
    assert_eq!(killed as usize, before.len());
    // Once idle for longer than the pool trusts recent use, each checkout
    // proves its connection alive first, and replaces the dead ones.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    for _ in 0..3 {
        let reads: Vec<_> = (0..16).map(|_| tokio::spawn(backends())).collect();
        for read in reads {
            let pid = read.await.unwrap().expect("a read after the kill");
            assert!(!before.contains(&pid), "served by killed backend {pid}");
        }
    }
}
