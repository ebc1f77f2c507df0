//! Bulk export jobs (`$export`): the `fhir_export_jobs` table.
//!
//! A job row says what to export and how far it got; the files themselves
//! are blobs under [`file_key`]. The replica that accepted a job runs it and
//! moves its heartbeat; every replica answers its status from the row.

use hale_store::{Row, StoreError, Tx, params};

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<Status, StoreError> {
        Ok(match s {
            "running" => Status::Running,
            "completed" => Status::Completed,
            "failed" => Status::Failed,
            "cancelled" => Status::Cancelled,
            other => return Err(StoreError::Decode(format!("export status {other:?}"))),
        })
    }
}

/// One job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub svc: i64,
    pub status: Status,
    pub request: String,
    /// Microseconds since the epoch.
    pub transaction_time: i64,
    /// What to export, as the caller encoded it (JSON).
    pub spec: String,
    pub exported: i64,
    /// The files written so far (JSON array).
    pub output: String,
    pub error: Option<String>,
    pub heartbeat: i64,
}

/// The blob key of one of a job's files.
pub fn file_key(svc: i64, job: &str, file: &str) -> String {
    format!("{}/{file}", files_prefix(svc, job))
}

/// Records a new running job.
pub fn create(tx: &mut dyn Tx, job: &Job, now: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO fhir_export_jobs (id, svc, status, request, transaction_time, spec, exported, output, created, heartbeat)
         VALUES ($1, $2, $3, $4, $5, $6, 0, '[]', $7, $7)",
        params![
            job.id.as_str(),
            job.svc,
            Status::Running.as_str(),
            job.request.as_str(),
            job.transaction_time,
            job.spec.as_str(),
            now
        ],
    )?;
    Ok(())
}

/// The job `id` of service `svc`.
pub fn get(tx: &mut dyn Tx, svc: i64, id: &str) -> Result<Option<Job>, StoreError> {
    tx.query_opt(
        "SELECT id, svc, status, request, transaction_time, spec, exported, output, error, heartbeat
         FROM fhir_export_jobs WHERE svc = $1 AND id = $2",
        params![svc, id],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

fn from_row(row: &Row) -> Result<Job, StoreError> {
    Ok(Job {
        id: row.get(0)?,
        svc: row.get(1)?,
        status: Status::parse(&row.get::<String>(2)?)?,
        request: row.get(3)?,
        transaction_time: row.get(4)?,
        spec: row.get(5)?,
        exported: row.get(6)?,
        output: row.get(7)?,
        error: row.get(8)?,
        heartbeat: row.get(9)?,
    })
}

/// Records progress of a running job: `Ok(false)` when it is no longer
/// running (cancelled), so the runner stops.
pub fn progress(
    tx: &mut dyn Tx,
    svc: i64,
    id: &str,
    exported: i64,
    output: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = tx.execute(
        "UPDATE fhir_export_jobs SET exported = $3, output = $4, heartbeat = $5
         WHERE svc = $1 AND id = $2 AND status = 'running'",
        params![svc, id, exported, output, now],
    )?;
    Ok(n == 1)
}

/// Ends a running job (completed or failed); `Ok(false)` when it was not
/// running any more.
pub fn finish(
    tx: &mut dyn Tx,
    svc: i64,
    id: &str,
    status: Status,
    error: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let n = tx.execute(
        "UPDATE fhir_export_jobs SET status = $3, error = $4, heartbeat = $5
         WHERE svc = $1 AND id = $2 AND status = 'running'",
        params![svc, id, status.as_str(), error, now],
    )?;
    Ok(n == 1)
}

/// Cancels a job, whatever it was doing; returns it as it was (its files are
/// the caller's to remove), or `None` if there is no such job or it was
/// already cancelled.
pub fn cancel(tx: &mut dyn Tx, svc: i64, id: &str, now: i64) -> Result<Option<Job>, StoreError> {
    let Some(job) = get(tx, svc, id)?.filter(|j| j.status != Status::Cancelled) else {
        return Ok(None);
    };
    tx.execute(
        "UPDATE fhir_export_jobs SET status = 'cancelled', heartbeat = $3 WHERE svc = $1 AND id = $2",
        params![svc, id, now],
    )?;
    Ok(Some(job))
}

/// The folder of a job's files (every [`file_key`] of it is under it).
pub fn files_prefix(svc: i64, job: &str) -> String {
    format!("fhir-export/{svc}/{job}")
}

/// Marks failed the running jobs whose heartbeat is older than `stale_before`
/// (the replica running them went away) and returns them as `(svc, id)`: their
/// partial files are the caller's to remove.
pub fn fail_abandoned(
    tx: &mut dyn Tx,
    stale_before: i64,
    now: i64,
) -> Result<Vec<(i64, String)>, StoreError> {
    tx.query(
        "UPDATE fhir_export_jobs SET status = 'failed', error = $2, heartbeat = $3
         WHERE status = 'running' AND heartbeat < $1
         RETURNING svc, id",
        params![stale_before, ABANDONED, now],
    )?
    .iter()
    .map(|row| Ok((row.get(0)?, row.get(1)?)))
    .collect()
}

/// Why [`fail_abandoned`] failed a job.
pub const ABANDONED: &str = "The export stopped: the server running it went away.";

/// Up to `limit` jobs that ended (completed, failed or cancelled) before
/// `ended_before`, as `(svc, id)`: to be removed, files first, then
/// [`forget`].
pub fn ended_before(
    tx: &mut dyn Tx,
    ended_before: i64,
    limit: i64,
) -> Result<Vec<(i64, String)>, StoreError> {
    tx.query(
        "SELECT svc, id FROM fhir_export_jobs
         WHERE status <> 'running' AND heartbeat < $1
         ORDER BY heartbeat LIMIT $2",
        params![ended_before, limit],
    )?
    .iter()
    .map(|row| Ok((row.get(0)?, row.get(1)?)))
    .collect()
}

/// Removes a job's row (its files first: see [`ended_before`]).
pub fn forget(tx: &mut dyn Tx, svc: i64, id: &str) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM fhir_export_jobs WHERE svc = $1 AND id = $2 AND status <> 'running'",
        params![svc, id],
    )?;
    Ok(())
}

/// Where a [`page`] goes on from: the last resource's `(last_updated, rid)`.
/// [`Cursor::start`] starts at `since` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub i64, pub i64);

impl Cursor {
    /// Before every resource changed after `since`.
    pub fn start(since: i64) -> Cursor {
        Cursor(since, i64::MAX)
    }

    /// Just after `r`.
    pub fn after(r: &crate::StoredResource) -> Cursor {
        Cursor(r.last_updated, r.rid)
    }
}

/// One page of the current, not deleted resources of `resource_type`
/// changed up to `till`, after `from`, in `(last_updated, rid)` order (the
/// order of the type's history index, so each page starts where the last
/// ended): what an export reads, `limit` at a time. The cursor is a range
/// on `last_updated` (`>=`), which both planners use to start the index
/// scan at the page, then a filter on the rows of the boundary instant: an
/// `OR` alone left PostgreSQL to scan the type from its start for each page.
pub fn page(
    tx: &mut dyn Tx,
    svc: i64,
    resource_type: &str,
    from: Cursor,
    till: i64,
    limit: i64,
) -> Result<Vec<crate::StoredResource>, StoreError> {
    tx.query(
        &format!(
            "SELECT {} FROM fhir_resources
             WHERE svc = $1 AND resource_type = $2
               AND last_updated >= $3 AND last_updated <= $5
               AND (last_updated > $3 OR rid > $4)
               AND is_current = 1 AND deleted = 0
             ORDER BY last_updated, rid LIMIT $6",
            crate::resources::COLUMNS
        ),
        params![svc, resource_type, from.0, from.1, till, limit],
    )?
    .iter()
    .map(crate::resources::from_row)
    .collect()
}

/// The rids of the current resources of type `t` in the Patient compartment
/// of `patients` (of every patient: `None`), ascending: the reference index
/// rows of the type's compartment parameters that point at a Patient.
/// Resources of types outside the compartment have none.
pub fn compartment_rids(
    tx: &mut dyn Tx,
    svc: i64,
    t: &str,
    patients: Option<&[String]>,
) -> Result<Vec<i64>, StoreError> {
    let keys: Vec<String> = hale_fhir_model::r4()
        .patient_compartment()
        .get(t)
        .into_iter()
        .flatten()
        .map(|code| crate::index::param_key(t, code).to_string())
        .collect();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT DISTINCT rid FROM fhir_ix_ref WHERE svc = $1 AND p IN ({}) AND ttype = 'Patient'",
        keys.join(", ")
    );
    let mut rids: Vec<i64> = Vec::new();
    let mut collect = |rows: Vec<Row>| -> Result<(), StoreError> {
        for row in rows {
            rids.push(row.get(0)?);
        }
        Ok(())
    };
    match patients {
        None => collect(tx.query(&sql, params![svc])?)?,
        Some(ids) => {
            for chunk in ids.chunks(500) {
                let mut values: Vec<hale_store::Value> = vec![svc.into()];
                let marks: Vec<String> = chunk
                    .iter()
                    .map(|id| {
                        values.push(id.as_str().into());
                        format!("${}", values.len())
                    })
                    .collect();
                let sql = format!("{sql} AND tid IN ({})", marks.join(", "));
                collect(tx.query(&sql, &values)?)?;
            }
        }
    }
    rids.sort_unstable();
    rids.dedup();
    Ok(rids)
}
