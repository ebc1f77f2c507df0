//! Extended query tags on SQLite (and PostgreSQL when HALE_TEST_DATABASE_URL
//! is set): adding, reindexing stored instances in batches, indexing at
//! commit, QIDO filters at each level, errors, disabling and deleting.

#[path = "../../dicom/tests/common/mod.rs"]
mod dicomgen;

use bytes::Bytes;
use dicom_core::VR;
use dicom_dictionary_std::tags;
use dicomgen::{Spec, text};
use hale_dicom::eqt::parse_add_request;
use hale_dicom::qido::{QueryResource, parse_query_with};
use hale_dicom::{ApiVersion, IngestOptions, Ingested, Tag};
use hale_dicom_store::extended::{self, AddRefused, TagStatus};
use hale_dicom_store::instances::{self, Reservation, Scope};
use hale_dicom_store::qido;
use hale_store::test_support::TestDatabase;
use hale_store::{Store, StoreError};

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

async fn put(store: &Store, svc: i64, ing: Ingested) {
    store
        .write(move |tx| {
            if let Reservation::Reserved { iid, .. } = instances::reserve(tx, svc, &ing, 1)? {
                assert!(instances::commit(tx, svc, iid, &ing, 2)?);
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

fn instance(n: u32, body_part: &str, age: &str, series_number: &str) -> Spec {
    let study = format!("1.2.840.77.{}", n % 2);
    let series = format!("{study}.{n}");
    Spec::ct(&study, &series, &format!("{series}.1"))
        .with(text(tags::BODY_PART_EXAMINED, VR::CS, body_part))
        .with(text(tags::PATIENT_AGE, VR::AS, age))
        .with(text(Tag(0x0009, 0x0010), VR::LO, "HALE"))
        .with(text(Tag(0x0009, 0x1001), VR::LO, series_number))
        .with(text(
            tags::ACQUISITION_DATE,
            VR::DA,
            &format!("2020010{}", n % 9 + 1),
        ))
}

async fn search(
    store: &Store,
    svc: i64,
    resource: QueryResource,
    q: &[(&str, &str)],
) -> Result<usize, String> {
    let params: Vec<(String, String)> = q
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    store
        .read(move |tx| {
            let tags = extended::queryable(tx, svc)?;
            Ok::<_, StoreError>(
                match parse_query_with(resource, &params, ApiVersion::V2, &tags) {
                    Ok(query) => Ok(qido::search_all(tx, svc, &query)?.len()),
                    Err(e) => Err(e.to_string()),
                },
            )
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn reindex_commit_indexing_and_qido() {
    let db = TestDatabase::create().await.unwrap();
    let store = Store::open(&db.url).await.unwrap();
    let svc = 5;
    // Five stored instances; one has a private value that is not a number.
    for n in 1..=5u32 {
        let sn = if n == 3 { "x3" } else { "7" };
        put(
            &store,
            svc,
            ingest(&instance(
                n,
                if n <= 2 { "KNEE" } else { "CHEST" },
                "045Y",
                sn,
            )),
        )
        .await;
    }
    // Not queryable before it is added.
    let err = search(
        &store,
        svc,
        QueryResource::AllSeries,
        &[("BodyPartExamined", "knee")],
    )
    .await;
    assert!(err.unwrap_err().contains("not queryable"));

    let specs = parse_add_request(
        br#"[{"path":"BodyPartExamined","level":"Series"},{"path":"00101010","level":"Study"},
             {"path":"00091001","vr":"IS","level":"Series","privateCreator":"HALE"},{"path":"AcquisitionDate","level":"Instance"}]"#,
    )
    .unwrap();
    let s2 = specs.clone();
    store
        .write(move |tx| extended::add(tx, svc, &s2, "op1", 10))
        .await
        .unwrap()
        .unwrap();
    // The same tag again: refused.
    let again = parse_add_request(br#"[{"path":"00180015","level":"Series"}]"#).unwrap();
    assert_eq!(
        store
            .write(move |tx| extended::add(tx, svc, &again, "op2", 10))
            .await
            .unwrap(),
        Err(AddRefused::Exists("00180015".into()))
    );
    let t = store
        .read(move |tx| extended::get(tx, svc, "00180015"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (t.status, t.operation.as_deref()),
        (TagStatus::Adding, Some("op1"))
    );
    // Adding tags are not queryable yet.
    assert!(
        search(
            &store,
            svc,
            QueryResource::AllSeries,
            &[("BodyPartExamined", "knee")]
        )
        .await
        .is_err()
    );

    // An instance stored while the tag is being added is indexed at commit.
    put(&store, svc, ingest(&instance(6, "KNEE", "030Y", "7"))).await;

    // Reindex two at a time: progress, then done.
    let step = |n: i64| {
        let store = store.clone();
        async move {
            store
                .write(move |tx| extended::reindex_step(tx, svc, "op1", n, 20))
                .await
                .unwrap()
        }
    };
    // Unmoved since it was added (at 10): stalled as seen from after 10.
    let stalled = |before: i64| {
        let store = store.clone();
        async move {
            store
                .read(move |tx| extended::stalled_operations(tx, before))
                .await
                .unwrap()
                .into_iter()
                .filter(|(s, _)| *s == svc)
                .map(|(_, id)| id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(stalled(11).await, ["op1"]);
    assert!(stalled(10).await.is_empty());
    assert!(!step(2).await);
    // A step (at 20) is progress: no longer stalled as seen from before it.
    assert!(stalled(15).await.is_empty());
    assert_eq!(stalled(21).await, ["op1"]);
    let op = store
        .read(move |tx| extended::operation(tx, svc, "op1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((op.status_name(), op.kind.as_str()), ("running", "reindex"));
    assert!((1..100).contains(&op.percent), "{}", op.percent);
    while !step(2).await {}
    let op = store
        .read(move |tx| extended::operation(tx, svc, "op1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((op.status_name(), op.percent), ("succeeded", 100));
    assert_eq!(op.resources.len(), 4);
    let t = store
        .read(move |tx| extended::get(tx, svc, "00091001"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((t.status, t.error_count), (TagStatus::Ready, 1));
    let errs = store
        .read(move |tx| extended::errors(tx, t.tid, 10, 0))
        .await
        .unwrap();
    assert_eq!(errs.len(), 1);
    assert!(errs[0].sop_uid.ends_with(".3.1"), "{:?}", errs[0]);

    use QueryResource as Q;
    // Series level: instances 1, 2, 6 are KNEE (case-insensitive), each its own series.
    assert_eq!(
        search(&store, svc, Q::AllSeries, &[("BodyPartExamined", "knee")]).await,
        Ok(3)
    );
    assert_eq!(
        search(&store, svc, Q::AllSeries, &[("00180015", "CHEST")]).await,
        Ok(3)
    );
    assert_eq!(
        search(
            &store,
            svc,
            Q::AllInstances,
            &[("BodyPartExamined", "KNEE")]
        )
        .await,
        Ok(3)
    );
    // Study level: two studies (odd/even n); 030Y only in study of n = 6 (even).
    assert_eq!(
        search(&store, svc, Q::AllStudies, &[("PatientAge", "030Y")]).await,
        Ok(1)
    );
    assert_eq!(
        search(&store, svc, Q::AllStudies, &[("PatientAge", "045Y")]).await,
        Ok(2)
    );
    // Numbers: the non-number was not indexed.
    assert_eq!(
        search(&store, svc, Q::AllSeries, &[("00091001", "7.0")]).await,
        Ok(5)
    );
    assert!(
        search(&store, svc, Q::AllSeries, &[("00091001", "seven")])
            .await
            .is_err()
    );
    // Dates at the instance level, ranges: n%9+1 for n = 1..6 → 2..7.
    assert_eq!(
        search(
            &store,
            svc,
            Q::AllInstances,
            &[("AcquisitionDate", "20200103-20200105")]
        )
        .await,
        Ok(3)
    );
    assert_eq!(
        search(
            &store,
            svc,
            Q::AllInstances,
            &[("AcquisitionDate", "20200106-")]
        )
        .await,
        Ok(2)
    );
    // Instance-level tags are not queryable at the series level; series not at study level.
    assert!(
        search(
            &store,
            svc,
            Q::AllSeries,
            &[("AcquisitionDate", "20200103")]
        )
        .await
        .unwrap_err()
        .contains("not queryable")
    );
    assert!(
        search(&store, svc, Q::AllStudies, &[("BodyPartExamined", "KNEE")])
            .await
            .is_err()
    );
    // Combined with a standard filter.
    assert_eq!(
        search(
            &store,
            svc,
            Q::AllSeries,
            &[("BodyPartExamined", "KNEE"), ("Modality", "CT")]
        )
        .await,
        Ok(3)
    );

    // Disabled: not queryable; enabled again: queryable.
    store
        .write(move |tx| extended::set_query_enabled(tx, svc, "00180015", false))
        .await
        .unwrap();
    assert!(
        search(&store, svc, Q::AllSeries, &[("BodyPartExamined", "KNEE")])
            .await
            .is_err()
    );
    store
        .write(move |tx| extended::set_query_enabled(tx, svc, "00180015", true))
        .await
        .unwrap();

    // Deleting an instance removes its values.
    store
        .write(move |tx| {
            instances::delete(
                tx,
                svc,
                &Scope {
                    study: "1.2.840.77.1".into(),
                    series: Some("1.2.840.77.1.1".into()),
                    sop: None,
                },
                30,
            )
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        search(&store, svc, Q::AllSeries, &[("BodyPartExamined", "knee")]).await,
        Ok(2)
    );

    // A new instance after Ready is indexed at commit.
    put(&store, svc, ingest(&instance(8, "KNEE", "045Y", "7"))).await;
    assert_eq!(
        search(&store, svc, Q::AllSeries, &[("BodyPartExamined", "knee")]).await,
        Ok(3)
    );

    // Other services see nothing; listing pages; delete forgets the tag.
    assert_eq!(
        store
            .read(move |tx| extended::list(tx, 6, 10, 0))
            .await
            .unwrap()
            .len(),
        0
    );
    let page = store
        .read(move |tx| extended::list(tx, svc, 2, 1))
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|t| t.path.as_str()).collect::<Vec<_>>(),
        ["00091001", "00101010"]
    );
    assert!(
        store
            .write(move |tx| extended::delete(tx, svc, "00180015"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .write(move |tx| extended::delete(tx, svc, "00180015"))
            .await
            .unwrap()
    );
    assert!(
        search(&store, svc, Q::AllSeries, &[("BodyPartExamined", "KNEE")])
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_instance_reserved_before_the_add_and_committed_after_is_indexed_once() {
    let db = TestDatabase::create().await.unwrap();
    let store = Store::open(&db.url).await.unwrap();
    let svc = 9;
    let ing = ingest(&instance(1, "KNEE", "045Y", "7"));
    let copy = ing.clone();
    let iid = store
        .write(move |tx| match instances::reserve(tx, svc, &copy, 1)? {
            Reservation::Reserved { iid, .. } => Ok::<_, StoreError>(iid),
            other => panic!("{other:?}"),
        })
        .await
        .unwrap();
    let specs = parse_add_request(
        br#"[{"path":"AcquisitionDate","level":"Instance"},{"path":"BodyPartExamined","level":"Series"}]"#,
    )
    .unwrap();
    store
        .write(move |tx| extended::add(tx, svc, &specs, "op", 10))
        .await
        .unwrap()
        .unwrap();
    store
        .write(move |tx| instances::commit(tx, svc, iid, &ing, 2))
        .await
        .unwrap();
    while !store
        .write(move |tx| extended::reindex_step(tx, svc, "op", 1, 20))
        .await
        .unwrap()
    {}
    let op = store
        .read(move |tx| extended::operation(tx, svc, "op"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(op.status_name(), "succeeded");
    assert_eq!(
        search(
            &store,
            svc,
            QueryResource::AllSeries,
            &[("BodyPartExamined", "KNEE")]
        )
        .await,
        Ok(1)
    );
    assert_eq!(
        search(
            &store,
            svc,
            QueryResource::AllInstances,
            &[("AcquisitionDate", "20200102")]
        )
        .await,
        Ok(1)
    );
}
