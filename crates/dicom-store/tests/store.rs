//! The DICOM index on SQLite (and PostgreSQL when HALE_TEST_DATABASE_URL is
//! set): reservations and commits, QIDO SQL against the reference matcher,
//! deletes rebuilding studies and series, the change feed, and the sweep.

#[path = "../../dicom/tests/common/mod.rs"]
mod dicomgen;

use bytes::Bytes;
use dicomgen::Spec;
use hale_dicom::qido::{QueryResource, matches, parse_query};
use hale_dicom::{ApiVersion, IndexRecord, IngestOptions, Ingested, Level, SearchValue, Tag, Uid};
use hale_dicom_store::instances::{self, Reservation, Scope};
use hale_dicom_store::{changefeed, journal, qido};
use hale_store::test_support::TestDatabase;
use hale_store::{Store, StoreError};

async fn store() -> (TestDatabase, Store) {
    let db = TestDatabase::create().await.unwrap();
    let store = Store::open(&db.url).await.unwrap();
    (db, store)
}

fn ingest(spec: &Spec) -> Ingested {
    hale_dicom::ingest(
        Bytes::from(dicomgen::build(spec)),
        &IngestOptions {
            api: ApiVersion::V2,
            study_in_path: None,
        },
    )
    .unwrap()
}

async fn put(store: &Store, svc: i64, ing: Ingested) -> Reservation {
    store
        .write(move |tx| {
            let r = instances::reserve(tx, svc, &ing, 1)?;
            if let Reservation::Reserved { iid, .. } = &r {
                assert!(instances::commit(tx, svc, *iid, &ing, 2)?);
            }
            Ok::<_, StoreError>(r)
        })
        .await
        .unwrap()
}

const S1: &str = "1.2.840.99.1";
const S2: &str = "1.2.840.99.2";
const S3: &str = "1.2.840.99.3";

fn corpus() -> Vec<Spec> {
    let mut v = Vec::new();
    let mut a = Spec::ct(S1, "1.2.840.99.1.1", "1.2.840.99.1.1.1");
    a.patient_name = "Doe^John";
    v.push(a.clone());
    a.sop_instance = Some("1.2.840.99.1.1.2".into());
    a.description = "CT Chest later";
    v.push(a);
    let mut m = Spec::mr_implicit(S1, "1.2.840.99.1.2", "1.2.840.99.1.2.1");
    m.patient_name = "Doe^John";
    m.model = "Magnet X";
    m.pps_start_date = "20200301";
    v.push(m);
    let mut b = Spec::us_multiframe(S2, "1.2.840.99.2.1", "1.2.840.99.2.1.1", 2);
    b.patient_name = "Ångström^Zoë";
    b.patient_id = Some("PID-777");
    b.study_date = "20211231";
    b.birth_date = "19851201";
    b.referring = "House^Gregory";
    b.accession = "acc-9";
    v.push(b);
    let mut c = Spec::sr(S3, "1.2.840.99.3.1", "1.2.840.99.3.1.1");
    c.patient_name = "Smith^Jane^Marie";
    c.study_date = "20190101";
    c.patient_id = Some("pid-777");
    v.push(c);
    v
}

fn uid_of(r: &IndexRecord, tag: Tag) -> String {
    match r.get(tag).first() {
        Some(SearchValue::Text(s)) => s.to_ascii_lowercase(),
        _ => String::new(),
    }
}

fn key(r: &IndexRecord, level: Level) -> String {
    let mut k = uid_of(r, Tag(0x0020, 0x000D));
    if level != Level::Study {
        k += "/";
        k += &uid_of(r, Tag(0x0020, 0x000E));
    }
    if level == Level::Instance {
        k += "/";
        k += &uid_of(r, Tag(0x0008, 0x0018));
    }
    k
}

#[tokio::test]
async fn qido_sql_agrees_with_the_matcher() {
    let (_db, store) = store().await;
    for spec in corpus() {
        assert!(matches!(
            put(&store, 7, ingest(&spec)).await,
            Reservation::Reserved { .. }
        ));
    }
    // Another service's data never shows.
    put(&store, 8, ingest(&corpus()[0])).await;

    let uid = |s: &str| Uid::parse("StudyInstanceUid", s).unwrap();
    let resources = [
        QueryResource::AllStudies,
        QueryResource::AllSeries,
        QueryResource::AllInstances,
        QueryResource::StudySeries(uid(S1)),
        QueryResource::StudyInstances(uid(S1)),
        QueryResource::StudySeriesInstances(uid(S1), uid("1.2.840.99.1.2")),
        QueryResource::StudyInstances(uid("1.2.840.99.404")),
    ];
    let queries: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("PatientName", "doe^john")],
        vec![("PatientName", "angstrom^zoe")],
        vec![("PatientName", "Doe")],
        vec![("PatientName", "do jo"), ("fuzzymatching", "true")],
        vec![("PatientName", "ohn"), ("fuzzymatching", "true")],
        vec![("PatientName", "zo"), ("fuzzymatching", "true")],
        vec![("PatientName", "smith marie"), ("fuzzymatching", "true")],
        vec![("00080090", "house"), ("fuzzymatching", "true")],
        vec![("ReferringPhysicianName", "HOUSE^GREGORY")],
        vec![("PatientID", "PID-777")],
        vec![("StudyDate", "20200101-20211231")],
        vec![("StudyDate", "-20200115")],
        vec![("StudyDate", "20200116-")],
        vec![("StudyDate", "20200115")],
        vec![("PatientBirthDate", "19851201")],
        vec![("AccessionNumber", "ACC-9")],
        vec![("StudyDescription", "ct chest later")],
        vec![("StudyDescription", "CT Chest")],
        vec![("ModalitiesInStudy", "mr")],
        vec![("ModalitiesInStudy", "US")],
        vec![("StudyInstanceUID", "1.2.840.99.1,1.2.840.99.3")],
        vec![("StudyInstanceUID", "1.2.840.99.2")],
        vec![("SeriesInstanceUID", "1.2.840.99.1.2\\1.2.840.99.2.1")],
        vec![("Modality", "ct")],
        vec![("ManufacturerModelName", "magnet x")],
        vec![("PerformedProcedureStepStartDate", "20200201-20200401")],
        vec![("SOPInstanceUID", "1.2.840.99.1.1.2")],
        vec![
            ("Modality", "CT"),
            ("PatientName", "doe"),
            ("fuzzymatching", "true"),
        ],
    ];
    let mut checked = 0;
    let mut nonempty = 0;
    for resource in &resources {
        let level = resource.level();
        let candidates = store
            .read(move |tx| qido::candidates(tx, 7, level))
            .await
            .unwrap();
        for q in &queries {
            let params: Vec<(String, String)> = q
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let Ok(query) = parse_query(resource.clone(), &params, ApiVersion::V2) else {
                continue; // not queryable at this resource
            };
            let mut expected: Vec<String> = candidates
                .iter()
                .filter(|c| matches(&query, c))
                .map(|c| key(c, level))
                .collect();
            let query2 = query.clone();
            let found = store
                .read(move |tx| qido::search_all(tx, 7, &query2))
                .await
                .unwrap();
            let mut got: Vec<String> = found.iter().map(|m| key(&m.record, level)).collect();
            expected.sort();
            got.sort();
            assert_eq!(got, expected, "{resource:?} {q:?}");
            checked += 1;
            if !got.is_empty() {
                nonempty += 1;
            }
        }
    }
    assert!(checked > 60, "{checked}");
    assert!(nonempty > 30, "{nonempty}");

    // Spot checks of the semantics themselves.
    let q = parse_query(
        QueryResource::AllStudies,
        &[("PatientName".into(), "ANGSTROM^zoe".into())],
        ApiVersion::V2,
    )
    .unwrap();
    let found = store
        .read(move |tx| qido::search_all(tx, 7, &q))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    // Latest wins: study S1's description is the later instance's.
    let q = parse_query(QueryResource::AllStudies, &[], ApiVersion::V2).unwrap();
    let q2 = q.clone();
    let found = store
        .read(move |tx| qido::search(tx, 7, &q2))
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
    let s1 = found
        .iter()
        .find(|m| key(&m.record, Level::Study) == S1)
        .unwrap();
    assert_eq!(s1.to_json(&q)["00081030"]["Value"][0], "MR Knee");
    assert_eq!(s1.extras.study_related_instances, Some(3));
    // Newest first, paged.
    let mut q3 = q.clone();
    q3.limit = 1;
    q3.offset = 1;
    let page = store
        .read(move |tx| qido::search(tx, 7, &q3))
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(
        key(&page[0].record, Level::Study),
        key(&found[1].record, Level::Study)
    );
    assert_eq!(key(&found[0].record, Level::Study), S3);
}

#[tokio::test]
async fn duplicates_pending_deletes_and_the_change_feed() {
    let (_db, store) = store().await;
    let specs = corpus();
    for spec in &specs[..3] {
        put(&store, 1, ingest(spec)).await;
    }
    assert_eq!(
        put(&store, 1, ingest(&specs[0])).await,
        Reservation::AlreadyExists
    );
    // Same UIDs in other case: still the same instance.
    let mut upper = specs[0].clone();
    upper.study = Some(S1.to_uppercase());
    assert_eq!(
        put(&store, 1, ingest(&upper)).await,
        Reservation::AlreadyExists
    );

    // A reservation not yet committed: another writer sees it pending; it is
    // invisible to reads.
    let pending = ingest(&specs[3]);
    let p2 = pending.clone();
    let r = store
        .write(move |tx| instances::reserve(tx, 1, &p2, 10))
        .await
        .unwrap();
    let Reservation::Reserved { iid, blob_key } = r else {
        panic!("{r:?}")
    };
    assert!(blob_key.starts_with("dicom/1/1.2.840.99.2/1.2.840.99.2.1/1.2.840.99.2.1.1."));
    let p3 = pending.clone();
    assert_eq!(
        store
            .write(move |tx| instances::reserve(tx, 1, &p3, 11))
            .await
            .unwrap(),
        Reservation::Pending
    );
    let scope = Scope {
        study: S2.into(),
        series: None,
        sop: None,
    };
    let sc = scope.clone();
    assert!(
        store
            .read(move |tx| instances::list(tx, 1, &sc))
            .await
            .unwrap()
            .is_empty()
    );

    // The sweep: a reservation younger than the cutoff stays; older goes to the trash.
    let n = store
        .write(|tx| journal::expire_reservations(tx, 5, 100))
        .await
        .unwrap();
    assert_eq!(n, 0);
    // One its writer says is alive (at 60) stays past a cutoff of 50.
    let alive = store
        .write(move |tx| journal::refresh_reservations(tx, &[iid], 60))
        .await
        .unwrap();
    assert_eq!(alive, 1);
    let n = store
        .write(|tx| journal::expire_reservations(tx, 50, 100))
        .await
        .unwrap();
    assert_eq!(n, 0);
    store
        .write(move |tx| {
            tx.execute(
                "UPDATE dicom_instances SET created = 10 WHERE iid = $1",
                hale_store::params![iid],
            )
        })
        .await
        .unwrap();
    let n = store
        .write(|tx| journal::expire_reservations(tx, 50, 100))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let trash = store.read(|tx| journal::trash(tx, 10)).await.unwrap();
    assert_eq!(trash.len(), 1);
    assert_eq!(trash[0].1, blob_key);
    // Its writer comes back too late: the commit refuses.
    let p4 = pending.clone();
    assert!(
        !store
            .write(move |tx| instances::commit(tx, 1, iid, &p4, 12))
            .await
            .unwrap()
    );
    let tids: Vec<i64> = trash.iter().map(|t| t.0).collect();
    store
        .write(move |tx| journal::forget(tx, &tids))
        .await
        .unwrap();
    assert!(
        store
            .read(|tx| journal::trash(tx, 10))
            .await
            .unwrap()
            .is_empty()
    );

    // Delete the newest instance (series 1.2): the study is rebuilt from the rest.
    let one = Scope {
        study: S1.into(),
        series: Some("1.2.840.99.1.2".into()),
        sop: Some("1.2.840.99.1.2.1".into()),
    };
    let o = one.clone();
    let deleted = store
        .write(move |tx| instances::delete(tx, 1, &o, 20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deleted.instances, 1);
    assert_eq!(deleted.trash.len(), 1);
    let o = one.clone();
    assert!(
        store
            .write(move |tx| instances::delete(tx, 1, &o, 21))
            .await
            .unwrap()
            .is_none()
    );
    let q = parse_query(QueryResource::AllStudies, &[], ApiVersion::V2).unwrap();
    let q2 = q.clone();
    let found = store
        .read(move |tx| qido::search(tx, 1, &q2))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].extras.study_related_instances, Some(2));
    assert_eq!(
        found[0].to_json(&q)["00081030"]["Value"][0],
        "CT Chest later"
    );
    let q = parse_query(QueryResource::AllSeries, &[], ApiVersion::V2).unwrap();
    assert_eq!(
        store
            .read(move |tx| qido::search(tx, 1, &q))
            .await
            .unwrap()
            .len(),
        1
    );

    // The feed: 3 creates, 1 delete; the deleted instance's create is "deleted".
    let feed = store
        .read(|tx| changefeed::by_time(tx, 1, 0, i64::MAX, 0, 100, true))
        .await
        .unwrap();
    let seqs: Vec<i64> = feed.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!(feed[3].action, "delete");
    assert!(!feed[2].current);
    assert!(feed[0].current && feed[0].metadata.is_some());
    assert!(feed[2].metadata.is_none());
    let window = store
        .read(|tx| changefeed::by_sequence(tx, 1, 1, 2, false))
        .await
        .unwrap();
    assert_eq!(window.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    assert!(window[0].metadata.is_none());
    let latest = store
        .read(|tx| changefeed::latest(tx, 1, false))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.seq, 4);

    // Delete the whole study: study, series and words gone.
    let all = Scope {
        study: S1.into(),
        series: None,
        sop: None,
    };
    let deleted = store
        .write(move |tx| instances::delete(tx, 1, &all, 30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deleted.instances, 2);
    for q in [
        QueryResource::AllStudies,
        QueryResource::AllSeries,
        QueryResource::AllInstances,
    ] {
        let q = parse_query(q, &[], ApiVersion::V2).unwrap();
        assert!(
            store
                .read(move |tx| qido::search(tx, 1, &q))
                .await
                .unwrap()
                .is_empty()
        );
    }
    let words: i64 = store
        .read(|tx| tx.query("SELECT COUNT(*) FROM dicom_name_words", &[])?[0].get(0))
        .await
        .unwrap();
    assert_eq!(words, 0);
    // The same instance can be stored again after its delete.
    assert!(matches!(
        put(&store, 1, ingest(&specs[0])).await,
        Reservation::Reserved { .. }
    ));
}
