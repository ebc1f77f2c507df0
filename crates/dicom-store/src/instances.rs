//! Instances, series and studies: reservations, commits, reads for WADO-RS,
//! and deletes. See the crate documentation for the crash-safety argument.

use hale_dicom::{Ingested, Level, SearchValue, Tag, person_name_words};
use hale_store::{Row, StoreError, Tx, Value, params};
use serde_json::Value as Json;

use crate::records::LevelRecord;
use crate::{changefeed, uid_key};

/// Status of a reserved row (blob being written).
pub const RESERVED: i64 = 0;
/// Status of a stored row (blob durable, indexed).
pub const STORED: i64 = 1;

/// The outcome of [`reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The row is reserved: write the blob at `blob_key`, then [`commit`].
    Reserved { iid: i64, blob_key: String },
    /// An instance with these UIDs is stored (Azure's 45070).
    AlreadyExists,
    /// An instance with these UIDs is being stored by another request (45071).
    Pending,
}

/// The blob key of a new instance: its UIDs and a unique suffix, so that a
/// re-stored instance (after a delete) never shares a blob with the old one.
/// One folder per series (not per instance): storing an instance then makes
/// at most one new folder durable. Keys are kept in the index, so older
/// layouts stay readable.
pub fn blob_key(svc: i64, study: &str, series: &str, sop: &str) -> String {
    format!(
        "dicom/{svc}/{study}/{series}/{sop}.{}",
        uuid::Uuid::new_v4().simple()
    )
}

/// Reserves the row of a new instance (status [`RESERVED`]), unless one with
/// the same study, series and SOP instance UIDs exists.
pub fn reserve(
    tx: &mut dyn Tx,
    svc: i64,
    ingested: &Ingested,
    now: i64,
) -> Result<Reservation, StoreError> {
    let (study, series, sop) = (
        ingested.study_instance_uid.as_str(),
        ingested.series_instance_uid.as_str(),
        ingested.sop_instance_uid.as_str(),
    );
    let key = blob_key(svc, study, series, sop);
    let row = tx.query_opt(
        "INSERT INTO dicom_instances (svc, study_key, series_key, sop_key, study_uid, series_uid, sop_uid, status, created, blob_key, size_bytes, sop_class_uid, transfer_syntax, frames, frame_index)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT (svc, study_key, series_key, sop_key) DO NOTHING RETURNING iid",
        params![
            svc,
            uid_key(study),
            uid_key(series),
            uid_key(sop),
            study,
            series,
            sop,
            now,
            key.as_str(),
            ingested.byte_len() as i64,
            ingested.sop_class_uid.as_str(),
            ingested.transfer_syntax_uid.as_str(),
            ingested.number_of_frames as i64,
            ingested.frame_index.as_ref().map(|f| f.to_text())
        ],
    )?;
    if let Some(row) = row {
        return Ok(Reservation::Reserved {
            iid: row.get(0)?,
            blob_key: key,
        });
    }
    let status: Option<i64> = tx
        .query_opt(
            "SELECT status FROM dicom_instances WHERE svc = $1 AND study_key = $2 AND series_key = $3 AND sop_key = $4",
            params![svc, uid_key(study), uid_key(series), uid_key(sop)],
        )?
        .map(|r| r.get(0))
        .transpose()?;
    Ok(match status {
        Some(STORED) => Reservation::AlreadyExists,
        _ => Reservation::Pending,
    })
}

/// What [`commit_prepared`] writes that can be computed before the write
/// transaction: the instance's record and metadata as text, and its study and
/// series records. Building it off the database writer keeps the writer (one
/// thread on SQLite) for SQL alone.
#[derive(Debug, Clone)]
pub struct Prepared {
    record: String,
    metadata: String,
    study: LevelRecord,
    series: LevelRecord,
    /// `study` and `series` in their stored form: when the row already holds
    /// exactly this text (every instance of a series after the first), the
    /// merge would change nothing and the row's record is not parsed.
    study_text: String,
    series_text: String,
}

impl Prepared {
    /// Prepares the commit of `ingested`.
    pub fn of(ingested: &Ingested) -> Prepared {
        let la = &ingested.level_attributes;
        let study = LevelRecord::of(&la.study, &ingested.index, Level::Study);
        let series = LevelRecord::of(&la.series, &ingested.index, Level::Series);
        let instance = LevelRecord::of(&la.instance, &ingested.index, Level::Instance);
        let study_text = study.to_json().to_string();
        let series_text = series.to_json().to_string();
        // The same text as `json!({"study": …, "series": …, "instance": …})`
        // serializes to, without rebuilding the level values.
        let record = format!(
            r#"{{"study":{study_text},"series":{series_text},"instance":{}}}"#,
            instance.to_json()
        );
        Prepared {
            record,
            metadata: ingested.metadata.to_string(),
            study,
            series,
            study_text,
            series_text,
        }
    }
}

/// Makes a reserved instance stored ([`commit_prepared`] with the
/// preparation done here).
pub fn commit(
    tx: &mut dyn Tx,
    svc: i64,
    iid: i64,
    ingested: &Ingested,
    now: i64,
) -> Result<bool, StoreError> {
    commit_prepared(tx, svc, iid, ingested, &Prepared::of(ingested), now)
}

/// Makes a reserved instance stored: its record and metadata, the merged
/// series and study rows, and a `create` change-feed entry. `Ok(false)` when
/// the reservation is gone (expired and swept): nothing was written. A study
/// or series record that the instance does not change is not rewritten.
pub fn commit_prepared(
    tx: &mut dyn Tx,
    svc: i64,
    iid: i64,
    ingested: &Ingested,
    prepared: &Prepared,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = tx.execute(
        "UPDATE dicom_instances SET status = 1, created = $3, record = $4, metadata = $5 WHERE svc = $1 AND iid = $2 AND status = 0",
        params![
            svc,
            iid,
            now,
            prepared.record.as_str(),
            prepared.metadata.as_str()
        ],
    )?;
    if changed != 1 {
        return Ok(false);
    }
    crate::extended::index_new_instance(
        tx,
        svc,
        iid,
        [
            ingested.study_instance_uid.as_str(),
            ingested.series_instance_uid.as_str(),
            ingested.sop_instance_uid.as_str(),
        ],
        &ingested.metadata,
        now,
    )?;
    let study_key = uid_key(ingested.study_instance_uid.as_str());
    let series_key = uid_key(ingested.series_instance_uid.as_str());

    // Study first, then series: every writer locks in this order.
    // One statement makes the study (or counts the instance in it).
    let row = one(tx.query(
        "INSERT INTO dicom_studies (svc, study_key, study_uid, instances, latest, record) VALUES ($1, $2, $3, 1, $4, '{}')
         ON CONFLICT (svc, study_key) DO UPDATE SET instances = dicom_studies.instances + 1,
             latest = CASE WHEN dicom_studies.latest > excluded.latest THEN dicom_studies.latest ELSE excluded.latest END
         RETURNING stid, record",
        params![
            svc,
            study_key.as_str(),
            ingested.study_instance_uid.as_str(),
            iid
        ],
    )?)?;
    let stid: i64 = row.get(0)?;
    if let Some(merged) = merged_record(
        &row.get::<String>(1)?,
        &prepared.study_text,
        &prepared.study,
    ) {
        write_study(tx, svc, stid, &merged)?;
    }

    let row = one(tx.query(
        "INSERT INTO dicom_series (svc, study_key, series_key, series_uid, instances, latest, record) VALUES ($1, $2, $3, $4, 1, $5, '{}')
         ON CONFLICT (svc, study_key, series_key) DO UPDATE SET instances = dicom_series.instances + 1,
             latest = CASE WHEN dicom_series.latest > excluded.latest THEN dicom_series.latest ELSE excluded.latest END
         RETURNING sid, record",
        params![
            svc,
            study_key.as_str(),
            series_key.as_str(),
            ingested.series_instance_uid.as_str(),
            iid
        ],
    )?)?;
    let sid: i64 = row.get(0)?;
    if let Some(merged) = merged_record(
        &row.get::<String>(1)?,
        &prepared.series_text,
        &prepared.series,
    ) {
        write_series(tx, sid, &merged)?;
    }

    changefeed::append(
        tx,
        svc,
        changefeed::Action::Create,
        [
            ingested.study_instance_uid.as_str(),
            ingested.series_instance_uid.as_str(),
            ingested.sop_instance_uid.as_str(),
        ],
        iid,
        now,
    )?;
    Ok(true)
}

fn one(mut rows: Vec<Row>) -> Result<Row, StoreError> {
    match rows.len() {
        1 => Ok(rows.remove(0)),
        n => Err(StoreError::Decode(format!("expected one row, got {n}"))),
    }
}

pub(crate) fn parse(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or(Json::Null)
}

fn folded(rec: &LevelRecord, tag: Tag) -> Value {
    rec.first(tag).and_then(SearchValue::folded).into()
}

fn date(rec: &LevelRecord, tag: Tag) -> Value {
    match rec.first(tag) {
        Some(SearchValue::Date(d)) => Value::Int(i64::from(*d)),
        _ => Value::Null,
    }
}

pub(crate) const PATIENT_NAME: Tag = Tag(0x0010, 0x0010);
pub(crate) const REFERRING: Tag = Tag(0x0008, 0x0090);

fn write_study(tx: &mut dyn Tx, svc: i64, stid: i64, rec: &LevelRecord) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE dicom_studies SET patient_name = $2, patient_id = $3, birth_date = $4, accession = $5, referring = $6, study_date = $7, description = $8, record = $9 WHERE stid = $1",
        &[
            Value::Int(stid),
            folded(rec, PATIENT_NAME),
            folded(rec, Tag(0x0010, 0x0020)),
            date(rec, Tag(0x0010, 0x0030)),
            folded(rec, Tag(0x0008, 0x0050)),
            folded(rec, REFERRING),
            date(rec, Tag(0x0008, 0x0020)),
            folded(rec, Tag(0x0008, 0x1030)),
            Value::Text(rec.to_json().to_string()),
        ],
    )?;
    tx.execute(
        "DELETE FROM dicom_name_words WHERE stid = $1",
        params![stid],
    )?;
    for (attr, tag) in [(0i64, PATIENT_NAME), (1, REFERRING)] {
        let mut words: Vec<String> = rec
            .index
            .get(tag)
            .iter()
            .filter_map(SearchValue::as_text)
            .flat_map(person_name_words)
            .collect();
        words.sort();
        words.dedup();
        for w in words {
            tx.execute(
                "INSERT INTO dicom_name_words (svc, stid, attr, word) VALUES ($1, $2, $3, $4)",
                params![svc, stid, attr, w],
            )?;
        }
    }
    Ok(())
}

fn write_series(tx: &mut dyn Tx, sid: i64, rec: &LevelRecord) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE dicom_series SET modality = $2, model = $3, pps_date = $4, record = $5 WHERE sid = $1",
        &[
            Value::Int(sid),
            folded(rec, Tag(0x0008, 0x0060)),
            folded(rec, Tag(0x0008, 0x1090)),
            date(rec, Tag(0x0040, 0x0244)),
            Value::Text(rec.to_json().to_string()),
        ],
    )?;
    Ok(())
}

/// Which instances a WADO-RS or delete request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub study: String,
    pub series: Option<String>,
    pub sop: Option<String>,
}

impl Scope {
    fn clause(&self, first_param: usize) -> (String, Vec<Value>) {
        let mut sql = format!("study_key = ${first_param}");
        let mut values = vec![Value::Text(uid_key(&self.study))];
        if let Some(series) = &self.series {
            sql.push_str(&format!(
                " AND series_key = ${}",
                first_param + values.len()
            ));
            values.push(Value::Text(uid_key(series)));
        }
        if let Some(sop) = &self.sop {
            sql.push_str(&format!(" AND sop_key = ${}", first_param + values.len()));
            values.push(Value::Text(uid_key(sop)));
        }
        (sql, values)
    }
}

/// A stored instance, as WADO-RS needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInstance {
    pub iid: i64,
    pub study_uid: String,
    pub series_uid: String,
    pub sop_uid: String,
    pub blob_key: String,
    pub size_bytes: i64,
    pub transfer_syntax: String,
    pub frames: i64,
    /// Where the frames are in the blob ([`hale_dicom::retrieve::FrameIndex`]
    /// text), when known.
    pub frame_index: Option<String>,
}

/// The record a study or series row holds once `newer` (whose stored text
/// is `newer_text`) is merged into the `stored` one; `None` when the merge
/// changes nothing. A row already holding exactly `newer_text` (every
/// instance of a series after the first) is not even parsed.
fn merged_record(stored: &str, newer_text: &str, newer: &LevelRecord) -> Option<LevelRecord> {
    if stored == newer_text {
        return None;
    }
    let old = LevelRecord::from_json(&parse(stored));
    let mut merged = old.clone();
    merged.merge(newer);
    (merged != old).then_some(merged)
}

/// The stored instances in `scope`, in series then storage order.
pub fn list(tx: &mut dyn Tx, svc: i64, scope: &Scope) -> Result<Vec<StoredInstance>, StoreError> {
    let (clause, mut values) = scope.clause(2);
    values.insert(0, Value::Int(svc));
    let rows = tx.query(
        &format!(
            "SELECT iid, study_uid, series_uid, sop_uid, blob_key, size_bytes, transfer_syntax, frames, frame_index FROM dicom_instances
             WHERE svc = $1 AND status = 1 AND {clause} ORDER BY series_key, iid"
        ),
        &values,
    )?;
    rows.iter()
        .map(|r| {
            Ok(StoredInstance {
                iid: r.get(0)?,
                study_uid: r.get(1)?,
                series_uid: r.get(2)?,
                sop_uid: r.get(3)?,
                blob_key: r.get(4)?,
                size_bytes: r.get(5)?,
                transfer_syntax: r.get(6)?,
                frames: r.get(7)?,
                frame_index: r.get(8)?,
            })
        })
        .collect()
}

/// The `/metadata` JSON texts of the stored instances in `scope`, in the
/// order of [`list`].
pub fn metadata(tx: &mut dyn Tx, svc: i64, scope: &Scope) -> Result<Vec<String>, StoreError> {
    let (clause, mut values) = scope.clause(2);
    values.insert(0, Value::Int(svc));
    let rows = tx.query(
        &format!(
            "SELECT metadata FROM dicom_instances WHERE svc = $1 AND status = 1 AND {clause} ORDER BY series_key, iid"
        ),
        &values,
    )?;
    rows.iter()
        .map(|r| Ok(r.get::<Option<String>>(0)?.unwrap_or_else(|| "{}".into())))
        .collect()
}

/// What a delete removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// Instances removed.
    pub instances: usize,
    /// Their blobs, now in the trash: remove them, then [`crate::journal::forget`].
    pub trash: Vec<(i64, String)>,
}

/// Deletes the stored instances in `scope`: rows gone, blob keys moved to the
/// trash, a `delete` change-feed entry each, series and studies rebuilt from
/// what remains (or removed). `None` when nothing matched.
pub fn delete(
    tx: &mut dyn Tx,
    svc: i64,
    scope: &Scope,
    now: i64,
) -> Result<Option<Deleted>, StoreError> {
    let (clause, mut values) = scope.clause(2);
    values.insert(0, Value::Int(svc));
    // Lock the study row first (same order as commit).
    tx.execute(
        "UPDATE dicom_studies SET latest = latest WHERE svc = $1 AND study_key = $2",
        params![svc, uid_key(&scope.study)],
    )?;
    let rows = tx.query(
        &format!(
            "SELECT iid, study_uid, series_uid, sop_uid, blob_key, series_key FROM dicom_instances WHERE svc = $1 AND status = 1 AND {clause} ORDER BY iid"
        ),
        &values,
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut trash = Vec::with_capacity(rows.len());
    let mut series_keys: Vec<String> = Vec::new();
    for r in &rows {
        let iid: i64 = r.get(0)?;
        let uids: [String; 3] = [r.get(1)?, r.get(2)?, r.get(3)?];
        let key: String = r.get(4)?;
        let series_key: String = r.get(5)?;
        tx.execute("DELETE FROM dicom_instances WHERE iid = $1", params![iid])?;
        crate::extended::forget_instance(tx, iid)?;
        let tid = crate::journal::put_in_trash(tx, &key, now)?;
        trash.push((tid, key));
        changefeed::append(
            tx,
            svc,
            changefeed::Action::Delete,
            [uids[0].as_str(), uids[1].as_str(), uids[2].as_str()],
            iid,
            now,
        )?;
        if !series_keys.contains(&series_key) {
            series_keys.push(series_key);
        }
    }
    let study_key = uid_key(&scope.study);
    for series_key in &series_keys {
        rebuild_series(tx, svc, &study_key, series_key)?;
    }
    rebuild_study(tx, svc, &study_key)?;
    Ok(Some(Deleted {
        instances: rows.len(),
        trash,
    }))
}

/// Recomputes a series row from its stored instances (oldest to newest,
/// latest wins per attribute), or removes it when none remain.
fn rebuild_series(
    tx: &mut dyn Tx,
    svc: i64,
    study_key: &str,
    series_key: &str,
) -> Result<(), StoreError> {
    let rows = tx.query(
        "SELECT iid, record FROM dicom_instances WHERE svc = $1 AND study_key = $2 AND series_key = $3 AND status = 1 ORDER BY iid",
        params![svc, study_key, series_key],
    )?;
    let Some(sid) = tx
        .query_opt(
            "SELECT sid FROM dicom_series WHERE svc = $1 AND study_key = $2 AND series_key = $3",
            params![svc, study_key, series_key],
        )?
        .map(|r| r.get::<i64>(0))
        .transpose()?
    else {
        return Ok(());
    };
    if rows.is_empty() {
        tx.execute("DELETE FROM dicom_series WHERE sid = $1", params![sid])?;
        return Ok(());
    }
    let mut merged = LevelRecord::default();
    let mut latest = 0;
    for r in &rows {
        latest = r.get(0)?;
        let rec = parse(&r.get::<Option<String>>(1)?.unwrap_or_default());
        merged.merge(&LevelRecord::from_json(&rec["series"]));
    }
    tx.execute(
        "UPDATE dicom_series SET instances = $2, latest = $3 WHERE sid = $1",
        params![sid, rows.len() as i64, latest],
    )?;
    write_series(tx, sid, &merged)
}

fn rebuild_study(tx: &mut dyn Tx, svc: i64, study_key: &str) -> Result<(), StoreError> {
    let rows = tx.query(
        "SELECT iid, record FROM dicom_instances WHERE svc = $1 AND study_key = $2 AND status = 1 ORDER BY iid",
        params![svc, study_key],
    )?;
    let Some(stid) = tx
        .query_opt(
            "SELECT stid FROM dicom_studies WHERE svc = $1 AND study_key = $2",
            params![svc, study_key],
        )?
        .map(|r| r.get::<i64>(0))
        .transpose()?
    else {
        return Ok(());
    };
    if rows.is_empty() {
        tx.execute(
            "DELETE FROM dicom_name_words WHERE stid = $1",
            params![stid],
        )?;
        tx.execute("DELETE FROM dicom_studies WHERE stid = $1", params![stid])?;
        return Ok(());
    }
    let mut merged = LevelRecord::default();
    let mut latest = 0;
    for r in &rows {
        latest = r.get(0)?;
        let rec = parse(&r.get::<Option<String>>(1)?.unwrap_or_default());
        merged.merge(&LevelRecord::from_json(&rec["study"]));
    }
    tx.execute(
        "UPDATE dicom_studies SET instances = $2, latest = $3 WHERE stid = $1",
        params![stid, rows.len() as i64, latest],
    )?;
    write_study(tx, svc, stid, &merged)
}
