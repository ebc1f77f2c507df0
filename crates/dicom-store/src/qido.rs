//! QIDO-RS compiled to SQL. The semantics are those of
//! [`hale_dicom::qido::matches`] over the merged study and series records and
//! the instance's own values (the tests check both on the same data).

use std::collections::HashMap;

use hale_dicom::qido::{Condition, QidoQuery, ResultExtras};
use hale_dicom::{
    IndexRecord, Level, LevelAttributes, SearchValue, fold_case, fold_case_and_accents, tag_key,
};
use hale_store::{StoreError, Tx, Value};
use serde_json::Value as Json;

use crate::instances::parse;
use crate::records::LevelRecord;
use crate::uid_key;

/// One result: the attributes of each level, the aggregate counts, and the
/// values the query names that are not among the attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub attributes: LevelAttributes,
    /// The merged searchable values of the result (study, series, instance
    /// levels as the resource has them), what `matches` would be given.
    pub record: IndexRecord,
    pub extras: ResultExtras,
}

impl Match {
    /// The QIDO-RS result object.
    pub fn to_json(&self, query: &QidoQuery) -> Json {
        hale_dicom::qido::result_json(query, &self.attributes, &self.extras)
    }
}

/// How an attribute is stored.
enum Column {
    /// A lower-cased UID key.
    Uid(&'static str),
    /// A case-folded text column.
    Text(&'static str),
    /// An accent- and case-folded PN column, and its name-word attribute.
    Name(&'static str, i64),
    /// An integer yyyymmdd column.
    Date(&'static str),
    /// ModalitiesInStudy: the modalities of the study's series.
    Modalities,
}

fn column(tag: hale_dicom::Tag) -> Option<Column> {
    Some(match (tag.0, tag.1) {
        (0x0020, 0x000D) => Column::Uid("st.study_key"),
        (0x0010, 0x0010) => Column::Name("st.patient_name", 0),
        (0x0010, 0x0020) => Column::Text("st.patient_id"),
        (0x0010, 0x0030) => Column::Date("st.birth_date"),
        (0x0008, 0x0050) => Column::Text("st.accession"),
        (0x0008, 0x0090) => Column::Name("st.referring", 1),
        (0x0008, 0x0020) => Column::Date("st.study_date"),
        (0x0008, 0x1030) => Column::Text("st.description"),
        (0x0008, 0x0061) => Column::Modalities,
        (0x0020, 0x000E) => Column::Uid("se.series_key"),
        (0x0008, 0x0060) => Column::Text("se.modality"),
        (0x0040, 0x0244) => Column::Date("se.pps_date"),
        (0x0008, 0x1090) => Column::Text("se.model"),
        (0x0008, 0x0018) => Column::Uid("i.sop_key"),
        _ => return None,
    })
}

struct Sql {
    clauses: Vec<String>,
    params: Vec<Value>,
}

impl Sql {
    fn param(&mut self, v: impl Into<Value>) -> String {
        self.params.push(v.into());
        format!("${}", self.params.len())
    }
}

fn fold_for(col: &Column, q: &str) -> String {
    match col {
        Column::Uid(_) => uid_key(q),
        Column::Name(..) => fold_case_and_accents(q),
        _ => fold_case(q),
    }
}

fn compile(sql: &mut Sql, col: &Column, cond: &Condition) -> Result<(), StoreError> {
    let clause = match (col, cond) {
        (Column::Date(c), Condition::DateRange { from, to }) => {
            let mut parts = vec![format!("{c} IS NOT NULL")];
            if let Some(f) = from {
                parts.push(format!("{c} >= {}", sql.param(i64::from(*f))));
            }
            if let Some(t) = to {
                parts.push(format!("{c} <= {}", sql.param(i64::from(*t))));
            }
            parts.join(" AND ")
        }
        (Column::Date(_), _) | (_, Condition::DateRange { .. }) => "1 = 0".into(),
        (Column::Modalities, Condition::Exact(q)) => {
            let p = sql.param(fold_case(q));
            format!(
                "EXISTS (SELECT 1 FROM dicom_series m WHERE m.svc = st.svc AND m.study_key = st.study_key AND m.modality = {p})"
            )
        }
        (Column::Modalities, Condition::AnyOf(qs)) => {
            let list: Vec<String> = qs.iter().map(|q| sql.param(fold_case(q))).collect();
            format!(
                "EXISTS (SELECT 1 FROM dicom_series m WHERE m.svc = st.svc AND m.study_key = st.study_key AND m.modality IN ({}))",
                list.join(", ")
            )
        }
        (Column::Uid(c) | Column::Text(c) | Column::Name(c, _), Condition::Exact(q)) => {
            let p = sql.param(fold_for(col, q));
            format!("{c} = {p}")
        }
        (Column::Uid(c) | Column::Text(c) | Column::Name(c, _), Condition::AnyOf(qs)) => {
            // The matcher folds list values case-only, even for PN.
            let list: Vec<String> = qs
                .iter()
                .map(|q| {
                    let v = match col {
                        Column::Uid(_) => uid_key(q),
                        _ => fold_case(q),
                    };
                    sql.param(v)
                })
                .collect();
            format!("{c} IN ({})", list.join(", "))
        }
        (Column::Name(_, attr), Condition::FuzzyName(words)) => {
            let mut parts = Vec::new();
            for w in words {
                let a = sql.param(*attr);
                let len = sql.param(w.chars().count() as i64);
                let p = sql.param(w.clone());
                parts.push(format!(
                    "EXISTS (SELECT 1 FROM dicom_name_words nw WHERE nw.stid = st.stid AND nw.attr = {a} AND substr(nw.word, 1, {len}) = {p})"
                ));
            }
            if parts.is_empty() {
                "1 = 0".into()
            } else {
                parts.join(" AND ")
            }
        }
        (_, Condition::FuzzyName(_)) => "1 = 0".into(),
    };
    sql.clauses.push(format!("({clause})"));
    Ok(())
}

/// Runs `query` for service `svc`: the page of results (`offset`, `limit`),
/// newest first.
pub fn search(tx: &mut dyn Tx, svc: i64, query: &QidoQuery) -> Result<Vec<Match>, StoreError> {
    run(
        tx,
        svc,
        query,
        Some((query.limit as i64, query.offset as i64)),
    )
}

/// Every result of `query`'s filters, unpaged (for tests and tools).
pub fn search_all(tx: &mut dyn Tx, svc: i64, query: &QidoQuery) -> Result<Vec<Match>, StoreError> {
    run(tx, svc, query, None)
}

fn run(
    tx: &mut dyn Tx,
    svc: i64,
    query: &QidoQuery,
    page: Option<(i64, i64)>,
) -> Result<Vec<Match>, StoreError> {
    let level = query.resource.level();
    let mut sql = Sql {
        clauses: Vec::new(),
        params: vec![Value::Int(svc)],
    };
    if let Some(study) = query.resource.study() {
        compile(
            &mut sql,
            &Column::Uid("st.study_key"),
            &Condition::Exact(study.as_str().to_owned()),
        )?;
    }
    if let Some(series) = query.resource.series() {
        compile(
            &mut sql,
            &Column::Uid("se.series_key"),
            &Condition::Exact(series.as_str().to_owned()),
        )?;
    }
    for f in &query.filters {
        let col = column(f.attribute.tag)
            .ok_or_else(|| StoreError::Decode(format!("no column for {}", f.attribute.keyword)))?;
        compile(&mut sql, &col, &f.condition)?;
    }
    for f in &query.extended {
        let mut param = |v: Value| sql.param(v);
        let c = crate::extended::clause(f, level, &mut param);
        sql.clauses.push(format!("({c})"));
    }
    let (select, from, order) = match level {
        Level::Study => (
            "st.record, st.instances, NULL, NULL, NULL, st.study_key, st.latest",
            "dicom_studies st WHERE st.svc = $1",
            "st.latest DESC, st.stid DESC",
        ),
        Level::Series => (
            "st.record, st.instances, se.record, se.instances, NULL, st.study_key, se.latest",
            "dicom_series se JOIN dicom_studies st ON st.svc = se.svc AND st.study_key = se.study_key WHERE se.svc = $1",
            "se.latest DESC, se.sid DESC",
        ),
        Level::Instance => (
            "st.record, st.instances, se.record, se.instances, i.record, st.study_key, i.iid",
            "dicom_instances i JOIN dicom_series se ON se.svc = i.svc AND se.study_key = i.study_key AND se.series_key = i.series_key
             JOIN dicom_studies st ON st.svc = i.svc AND st.study_key = i.study_key WHERE i.svc = $1 AND i.status = 1",
            "i.iid DESC",
        ),
    };
    let mut text = format!("SELECT {select} FROM {from}");
    for c in &sql.clauses {
        text.push_str(" AND ");
        text.push_str(c);
    }
    text.push_str(" ORDER BY ");
    text.push_str(order);
    if let Some((limit, offset)) = page {
        let l = sql.param(limit);
        let o = sql.param(offset);
        text.push_str(&format!(" LIMIT {l} OFFSET {o}"));
    }
    let rows = tx.query(&text, &sql.params)?;
    let mut out = Vec::with_capacity(rows.len());
    // Each row's study key and the instance standing for it (the newest of
    // a study or series), for what `add_extras` reads.
    let mut sources: Vec<(String, i64)> = Vec::with_capacity(rows.len());
    for r in &rows {
        sources.push((r.get(5)?, r.get(6)?));
        let study = LevelRecord::from_json(&parse(&r.get::<String>(0)?));
        let study_count: i64 = r.get(1)?;
        let series_text: Option<String> = r.get(2)?;
        let series_count: Option<i64> = r.get(3)?;
        let instance_text: Option<String> = r.get(4)?;
        let series = series_text
            .map(|t| LevelRecord::from_json(&parse(&t)))
            .unwrap_or_default();
        let instance = instance_text
            .map(|t| LevelRecord::from_json(&parse(&t)["instance"]))
            .unwrap_or_default();
        let mut record = IndexRecord::new();
        for part in [&study.index, &series.index, &instance.index] {
            for (tag, values) in part.iter() {
                for v in values {
                    record.insert(tag, v.clone());
                }
            }
        }
        out.push(Match {
            attributes: LevelAttributes {
                study: study.attrs,
                series: series.attrs,
                instance: instance.attrs,
            },
            record,
            extras: ResultExtras {
                study_related_instances: Some(study_count as u64),
                series_related_instances: series_count.map(|n| n as u64),
                ..ResultExtras::default()
            },
        });
    }
    add_extras(tx, svc, query, &sources, &mut out)?;
    Ok(out)
}

/// Rows per statement when reading the extras of many results (a page has
/// at most 200; `search_all` may have more).
const EXTRAS_CHUNK: usize = 200;

/// Reads, for the results of one page, the values the query names that
/// their records do not hold: ModalitiesInStudy (the modalities of each
/// study's series, as stored) and the extended query tags (from the
/// metadata of the instance standing for each result, as Azure reads them).
/// One statement each for the whole page, and only when the query needs it.
fn add_extras(
    tx: &mut dyn Tx,
    svc: i64,
    query: &QidoQuery,
    sources: &[(String, i64)],
    out: &mut [Match],
) -> Result<(), StoreError> {
    if query.returns_modalities_in_study() {
        let mut studies: Vec<&str> = sources.iter().map(|(s, _)| s.as_str()).collect();
        studies.sort_unstable();
        studies.dedup();
        let mut modalities: HashMap<String, Vec<String>> = HashMap::new();
        for chunk in studies.chunks(EXTRAS_CHUNK) {
            let mut params = vec![Value::Int(svc)];
            params.extend(chunk.iter().map(|s| Value::Text((*s).to_owned())));
            let rows = tx.query(
                &format!(
                    "SELECT study_key, record FROM dicom_series WHERE svc = $1 AND study_key IN ({}) AND modality IS NOT NULL",
                    placeholders(2, chunk.len())
                ),
                &params,
            )?;
            for r in &rows {
                let record = parse(&r.get::<String>(1)?);
                if let Some(m) = record["attrs"]["00080060"]["Value"][0].as_str() {
                    modalities.entry(r.get(0)?).or_default().push(m.to_owned());
                }
            }
        }
        for list in modalities.values_mut() {
            // Distinct as the index compares them: case-insensitively.
            list.sort_by_key(|m| fold_case(m));
            list.dedup_by(|a, b| fold_case(a) == fold_case(b));
        }
        for (m, (study, _)) in out.iter_mut().zip(sources) {
            m.extras.modalities_in_study = modalities.get(study).cloned().unwrap_or_default();
        }
    }
    let extended = query.returned_extended();
    if !extended.is_empty() {
        let mut iids: Vec<i64> = sources.iter().map(|(_, iid)| *iid).collect();
        iids.sort_unstable();
        iids.dedup();
        let mut elements: HashMap<i64, serde_json::Map<String, Json>> = HashMap::new();
        for chunk in iids.chunks(EXTRAS_CHUNK) {
            let mut params = vec![Value::Int(svc)];
            params.extend(chunk.iter().map(|i| Value::Int(*i)));
            let rows = tx.query(
                &format!(
                    "SELECT iid, metadata FROM dicom_instances WHERE svc = $1 AND iid IN ({}) AND metadata IS NOT NULL",
                    placeholders(2, chunk.len())
                ),
                &params,
            )?;
            for r in &rows {
                let metadata = parse(&r.get::<String>(1)?);
                let found: serde_json::Map<String, Json> = extended
                    .iter()
                    .filter_map(|&tag| {
                        let key = tag_key(tag);
                        metadata.get(&key).map(|v| (key, v.clone()))
                    })
                    .collect();
                elements.insert(r.get(0)?, found);
            }
        }
        for (m, (_, iid)) in out.iter_mut().zip(sources) {
            m.extras.extended = elements.get(iid).cloned().unwrap_or_default();
        }
    }
    Ok(())
}

/// `$first, $first+1, ...`: `count` placeholders.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every candidate at `level` with the record `matches` is given: merged
/// study values (plus ModalitiesInStudy from its series), merged series
/// values, the instance's own values. For testing the SQL against the matcher.
pub fn candidates(tx: &mut dyn Tx, svc: i64, level: Level) -> Result<Vec<IndexRecord>, StoreError> {
    let query = hale_dicom::qido::parse_query(
        match level {
            Level::Study => hale_dicom::qido::QueryResource::AllStudies,
            Level::Series => hale_dicom::qido::QueryResource::AllSeries,
            Level::Instance => hale_dicom::qido::QueryResource::AllInstances,
        },
        &[],
        hale_dicom::ApiVersion::V2,
    )
    .map_err(|e| StoreError::Decode(e.to_string()))?;
    let mut out = Vec::new();
    for m in search_all(tx, svc, &query)? {
        let mut record = m.record;
        if let Some(SearchValue::Text(study)) = record.get(hale_dicom::Tag(0x0020, 0x000D)).first()
        {
            let rows = tx.query(
                "SELECT modality FROM dicom_series WHERE svc = $1 AND study_key = $2 AND modality IS NOT NULL",
                hale_store::params![svc, uid_key(study)],
            )?;
            for r in rows {
                let modality: String = r.get(0)?;
                record.insert(hale_dicom::MODALITIES_IN_STUDY, SearchValue::Text(modality));
            }
        }
        out.push(record);
    }
    Ok(out)
}
