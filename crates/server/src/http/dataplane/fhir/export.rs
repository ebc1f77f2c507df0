//! Bulk export (`$export`, FHIR Bulk Data Access), as Azure's FHIR service
//! routes it: `GET [base]/$export`, `[base]/Patient/$export` and
//! `[base]/Group/[id]/$export` with `Prefer: respond-async` start a job
//! (202, `Content-Location: [base]/_operations/export/{id}`); polling that URL
//! answers 202 with `X-Progress` while it runs, then 200 with the manifest;
//! `DELETE` cancels it and removes its files.
//!
//! Azure writes the files to a storage account of the customer's; Hale writes
//! them to its own blob store and serves them at
//! `[base]/_operations/export/{id}/{file}` to the same callers
//! (`requiresAccessToken: true`). Every file is NDJSON of one resource type,
//! at most `_maxCount` resources each. A job belongs to the database, not to
//! a process: any replica answers its status, and a job whose runner stops
//! moving its heartbeat (its replica went away) is reported failed, then
//! marked failed and its partial files removed by the sweeper. A job that
//! ended (completed, failed or cancelled) is kept, files and status, for the
//! retention (`--export-retention`, a day by default), then removed: its
//! status URL answers 404 from then on.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hale_fhir_model::parse_search;
use hale_fhir_model::r4;
use hale_fhir_store::StoredResource;
use hale_fhir_store::export::{self, Cursor, Job, Status};
use hale_fhir_store::search::SearchScope;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::outcome::{FhirError, FhirResult, fhir_instant, fhir_json, now_micros};
use super::rest::{FhirRequest, Prefer};
use super::search::instant_param;
use super::write;
use crate::http::AppState;

/// Resources per file unless `_maxCount` says otherwise.
const DEFAULT_MAX_COUNT: usize = 10_000;
/// The most resources per file a caller may ask for.
const MAX_MAX_COUNT: usize = 100_000;
/// Resources read per page (and between heartbeats).
const PAGE: i64 = 1_000;
/// A running job whose heartbeat is older than this has lost its runner.
const STALE_MICROS: i64 = 120 * 1_000_000;

/// Parameters Azure documents that Hale does not offer: refused, not ignored.
const UNSUPPORTED: &[&str] = &[
    "_container",
    "_anonymizationConfig",
    "_anonymizationConfigCollectionReference",
    "_anonymizationConfigEtag",
    "includeAssociatedData",
    "_elements",
    "patient",
];

/// Which resources a job exports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Spec {
    /// `system`, `patient` or `group`.
    level: String,
    /// The group's id (level `group`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    /// Resource types to export; empty: every type.
    types: Vec<String>,
    /// Microseconds: only resources changed after this.
    since: i64,
    max_count: usize,
    /// `_typeFilter`: per type, searches (any of which) its resources must
    /// match; types without one are exported whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    filters: Vec<TypeFilter>,
}

/// One `_typeFilter` query: `[type]?[search parameters]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct TypeFilter {
    resource_type: String,
    params: Vec<(String, String)>,
}

/// Search parameters that shape results rather than select them: not
/// allowed in a `_typeFilter` (the export pages and projects itself).
const NOT_FILTERS: &[&str] = &[
    "_count",
    "ct",
    "_sort",
    "_include",
    "_revinclude",
    "_summary",
    "_elements",
    "_total",
    "_contained",
    "_containedType",
];

/// Parses one `_typeFilter` value: comma-separated `[type]?[query]`, each
/// query URL-encoded (so its own commas are `%2C`).
fn type_filters(value: &str, strict: bool) -> FhirResult<Vec<TypeFilter>> {
    let mut filters = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (t, query) = part.split_once('?').unwrap_or((part, ""));
        if !r4().is_resource_type(t) {
            return Err(FhirError::invalid(format!(
                "The resource type '{t}' in _typeFilter is not supported."
            )));
        }
        let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if params.is_empty() {
            return Err(FhirError::invalid(format!(
                "The _typeFilter '{part}' has no search parameters."
            )));
        }
        if let Some((k, _)) = params
            .iter()
            .find(|(k, _)| NOT_FILTERS.contains(&k.as_str()))
        {
            return Err(FhirError::invalid(format!(
                "The parameter '{k}' cannot be used in a _typeFilter."
            )));
        }
        parse_search(Some(t), &params, strict)
            .map_err(|issues| FhirError::from_issues(StatusCode::BAD_REQUEST, &issues))?;
        filters.push(TypeFilter {
            resource_type: t.to_owned(),
            params,
        });
    }
    Ok(filters)
}

/// One written file, as the manifest lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Output {
    #[serde(rename = "type")]
    resource_type: String,
    file: String,
    count: usize,
}

/// `GET [base]/$export`, `Patient/$export`, `Group/[id]/$export`: starts a job.
pub(super) async fn kick_off(
    req: &FhirRequest,
    group: Option<&str>,
    patient: bool,
) -> FhirResult<Response> {
    if !respond_async(req) {
        return Err(FhirError::invalid(
            "$export is asynchronous: send the header 'Prefer: respond-async'.",
        ));
    }
    let strict = Prefer::parse(&req.headers).strict;
    let mut spec = Spec {
        level: match (group, patient) {
            (Some(_), _) => "group",
            (None, true) => "patient",
            (None, false) => "system",
        }
        .to_owned(),
        group: group.map(str::to_owned),
        types: Vec::new(),
        since: i64::MIN,
        max_count: DEFAULT_MAX_COUNT,
        filters: Vec::new(),
    };
    let mut till: Option<i64> = None;
    for (k, v) in &req.query {
        match k.as_str() {
            "_type" => {
                for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    if !r4().is_resource_type(t) {
                        return Err(FhirError::invalid(format!(
                            "The resource type '{t}' in _type is not supported."
                        )));
                    }
                    if !spec.types.iter().any(|x| x == t) {
                        spec.types.push(t.to_owned());
                    }
                }
            }
            "_since" => spec.since = instant_param(k, v)?,
            // Unknown search parameters in a filter are always refused: a
            // filter silently dropped would export more than was asked.
            "_typeFilter" => spec.filters.extend(type_filters(v, true)?),
            "_till" => till = Some(instant_param(k, v)?),
            "_outputFormat"
                if !matches!(
                    v.as_str(),
                    "application/fhir+ndjson" | "application/ndjson" | "ndjson"
                ) =>
            {
                return Err(FhirError::invalid(format!(
                    "The _outputFormat '{v}' is not supported; use application/fhir+ndjson."
                )));
            }
            "_outputFormat" => {}
            "_maxCount" => {
                spec.max_count = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_MAX_COUNT).contains(n))
                    .ok_or_else(|| {
                        FhirError::invalid(format!(
                            "_maxCount must be a whole number from 1 to {MAX_MAX_COUNT}."
                        ))
                    })?;
            }
            // A hint about how to run the job, which Hale decides itself.
            "_isParallel" => {}
            k if UNSUPPORTED.contains(&k) => {
                return Err(FhirError::new(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    format!("The $export parameter '{k}' is not supported."),
                ));
            }
            k if strict => {
                return Err(FhirError::new(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    format!("The $export parameter '{k}' is not known."),
                ));
            }
            _ => {}
        }
    }
    if let Some(f) = spec
        .filters
        .iter()
        .find(|f| !spec.types.is_empty() && !spec.types.contains(&f.resource_type))
    {
        return Err(FhirError::invalid(format!(
            "The _typeFilter for '{}' names a type that _type leaves out.",
            f.resource_type
        )));
    }
    let now = now_micros();
    let transaction_time = till.map_or(now, |t| t.min(now));
    let id = Uuid::new_v4().simple().to_string();
    let request = request_url(req);
    let spec_text = serde_json::to_string(&spec)
        .map_err(|e| FhirError::internal("The export could not be recorded", &e))?;
    let service = req.service.id;
    let job = {
        let id = id.clone();
        let group_id = group.map(str::to_owned);
        req.state
            .store
            .write(move |tx| -> FhirResult<Job> {
                let svc = write::partition(tx, service, true)?.unwrap_or_default();
                if let Some(g) = &group_id
                    && hale_fhir_store::resources::current(tx, svc, "Group", g)?
                        .is_none_or(|r| r.deleted)
                {
                    return Err(FhirError::resource_not_found("Group", g));
                }
                let job = Job {
                    id,
                    svc,
                    status: Status::Running,
                    request,
                    transaction_time,
                    spec: spec_text,
                    exported: 0,
                    output: "[]".into(),
                    error: None,
                    heartbeat: now,
                };
                export::create(tx, &job, now)?;
                Ok(job)
            })
            .await?
    };
    tokio::spawn(run(req.state.clone(), job, spec, req.base.clone()));
    let location = format!("{}/_operations/export/{id}", req.base);
    let mut response = StatusCode::ACCEPTED.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::CONTENT_LOCATION, v);
    }
    Ok(response)
}

fn respond_async(req: &FhirRequest) -> bool {
    req.headers.get_all("prefer").iter().any(|v| {
        v.to_str().is_ok_and(|t| {
            t.split([',', ';'])
                .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
        })
    })
}

/// The kick-off URL as the client sent it (the manifest's `request`).
fn request_url(req: &FhirRequest) -> String {
    let path = req.rest.join("/");
    let mut url = format!("{}/{path}", req.base);
    if !req.query.is_empty() {
        url.push('?');
        url.push_str(
            &url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(req.query.iter())
                .finish(),
        );
    }
    url
}

fn job_not_found(id: &str) -> FhirError {
    FhirError::not_found(format!("The export job '{id}' was not found."))
}

/// The job `id` of the request's service, if it exists and is not cancelled.
async fn job_of(req: &FhirRequest, id: &str) -> FhirResult<Job> {
    let (service, id_owned) = (req.service.id, id.to_owned());
    let job = req
        .state
        .store
        .read(move |tx| -> FhirResult<Option<Job>> {
            let Some(svc) = write::partition(tx, service, false)? else {
                return Ok(None);
            };
            Ok(export::get(tx, svc, &id_owned)?)
        })
        .await?;
    job.filter(|j| j.status != Status::Cancelled)
        .ok_or_else(|| job_not_found(id))
}

/// `GET [base]/_operations/export/{id}`: 202 while running, the manifest
/// once done, 500 with the reason if it failed.
pub(super) async fn status(req: &FhirRequest, id: &str) -> FhirResult<Response> {
    let job = job_of(req, id).await?;
    let stalled = job.status == Status::Running && now_micros() - job.heartbeat > STALE_MICROS;
    match job.status {
        Status::Running if !stalled => {
            let mut response = StatusCode::ACCEPTED.into_response();
            let progress = format!("Exported {} resources", job.exported);
            if let Ok(v) = HeaderValue::from_str(&progress) {
                response.headers_mut().insert("x-progress", v);
            }
            Ok(response)
        }
        Status::Completed => {
            let outputs = outputs(&job);
            let files_base = format!("{}/_operations/export/{}", req.base, job.id);
            let output: Vec<Value> = outputs
                .iter()
                .map(|o| {
                    json!({
                        "type": o.resource_type,
                        "url": format!("{files_base}/{}", o.file),
                        "count": o.count,
                    })
                })
                .collect();
            Ok(fhir_json(
                StatusCode::OK,
                json!({
                    "transactionTime": fhir_instant(job.transaction_time),
                    "request": job.request,
                    "requiresAccessToken": true,
                    "output": output,
                    "error": [],
                }),
            ))
        }
        _ => Err(FhirError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "exception",
            match (&job.error, stalled) {
                (_, true) => export::ABANDONED.to_owned(),
                (Some(e), _) if e == export::ABANDONED => e.clone(),
                (Some(e), _) => format!("The export failed: {e}"),
                (None, _) => "The export failed.".to_owned(),
            },
        )),
    }
}

/// `DELETE [base]/_operations/export/{id}`: cancels the job (a running one
/// stops at its next page) and removes its files.
pub(super) async fn cancel(req: &FhirRequest, id: &str) -> FhirResult<Response> {
    let (service, id_owned) = (req.service.id, id.to_owned());
    let cancelled = req
        .state
        .store
        .write(move |tx| -> FhirResult<Option<Job>> {
            let Some(svc) = write::partition(tx, service, false)? else {
                return Ok(None);
            };
            Ok(export::cancel(tx, svc, &id_owned, now_micros())?)
        })
        .await?;
    let Some(job) = cancelled else {
        return Err(job_not_found(id));
    };
    remove_files(&req.state, job.svc, &job.id).await;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// The files a job recorded as written.
fn outputs(job: &Job) -> Vec<Output> {
    serde_json::from_str(&job.output).unwrap_or_default()
}

/// Removes a job's files, those it recorded and any written since.
async fn remove_files(state: &AppState, svc: i64, id: &str) -> bool {
    match state
        .blobs
        .delete_prefix(&export::files_prefix(svc, id))
        .await
    {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(job = %id, error = %e, "an export's files could not be removed");
            false
        }
    }
}

/// How often the sweeper runs at most (more often when the retention is
/// shorter than four times this).
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Jobs removed per sweep transaction.
const SWEEP_BATCH: i64 = 100;

/// Starts the export sweeper: see [`sweep`].
pub(crate) fn start_sweeper(state: &AppState) {
    let state = state.clone();
    let every = (state.export_retention / 4).clamp(Duration::from_millis(100), SWEEP_EVERY);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            sweep(&state).await;
        }
    });
}

/// Fails the running jobs whose heartbeat stopped (their replica went away)
/// and removes their partial files; removes the jobs that ended more than the
/// retention ago, files first, then the row (a job whose files could not be
/// removed is kept, and tried again next time). Every replica sweeps; what
/// they do twice is harmless.
async fn sweep(state: &AppState) {
    let now = now_micros();
    let abandoned = state
        .store
        .write(move |tx| export::fail_abandoned(tx, now - STALE_MICROS, now))
        .await;
    match abandoned {
        Ok(jobs) => {
            for (svc, id) in jobs {
                tracing::warn!(job = %id, "FHIR export abandoned by its replica marked failed");
                remove_files(state, svc, &id).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "export sweep: failing abandoned jobs failed"),
    }
    let cutoff = now.saturating_sub(state.export_retention.as_micros() as i64);
    loop {
        let ended = match state
            .store
            .read(move |tx| export::ended_before(tx, cutoff, SWEEP_BATCH))
            .await
        {
            Ok(ended) => ended,
            Err(e) => {
                tracing::warn!(error = %e, "export sweep: reading ended jobs failed");
                return;
            }
        };
        let full = ended.len() as i64 == SWEEP_BATCH;
        let mut removed = Vec::with_capacity(ended.len());
        for (svc, id) in ended {
            if remove_files(state, svc, &id).await {
                removed.push((svc, id));
            }
        }
        let forgotten = state
            .store
            .write(move |tx| {
                for (svc, id) in &removed {
                    export::forget(tx, *svc, id)?;
                }
                Ok::<_, hale_store::StoreError>(removed.len())
            })
            .await;
        match forgotten {
            Ok(n) if full && n > 0 => continue,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "export sweep: removing ended jobs failed");
                return;
            }
        }
    }
}

/// `GET [base]/_operations/export/{id}/{file}`: one file of a completed job.
pub(super) async fn file(req: &FhirRequest, id: &str, name: &str) -> FhirResult<Response> {
    let job = job_of(req, id).await?;
    if job.status != Status::Completed || !outputs(&job).iter().any(|o| o.file == name) {
        return Err(FhirError::not_found(format!(
            "The export file '{name}' was not found."
        )));
    }
    let stream = req
        .state
        .blobs
        .get_stream(&export::file_key(job.svc, &job.id, name))
        .await
        .map_err(|e| FhirError::internal("The export file could not be read", &e))?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/fhir+ndjson")],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// Runs a job to its end, recording how it ended.
async fn run(state: AppState, job: Job, spec: Spec, base: String) {
    let mut writer = Writer {
        state: state.clone(),
        job: job.clone(),
        spec,
        base,
        open: HashMap::new(),
        outputs: Vec::new(),
        exported: 0,
    };
    let ended = match writer.export().await {
        Ok(true) => writer.flush_all().await.map(|()| true),
        other => other,
    };
    let (svc, id) = (job.svc, job.id.clone());
    let (status, error) = match &ended {
        Ok(true) => (Status::Completed, None),
        // Cancelled: the canceller removes the files it knew of; these
        // may have been written since.
        Ok(false) => {
            remove_files(&state, job.svc, &job.id).await;
            return;
        }
        Err(e) => {
            tracing::error!(job = %id, error = %e, "FHIR export failed");
            (Status::Failed, Some(e.to_string()))
        }
    };
    let output = serde_json::to_string(&writer.outputs).unwrap_or_else(|_| "[]".into());
    let exported = writer.exported as i64;
    let recorded = state
        .store
        .write(move |tx| {
            let now = now_micros();
            export::progress(tx, svc, &id, exported, &output, now)?;
            export::finish(tx, svc, &id, status, error.as_deref(), now)
        })
        .await;
    if let Err(e) = &recorded {
        tracing::error!(error = %e, "an export's end could not be recorded");
    }
    // Only a completed job's files are ever served: a failed job's, or
    // those of a job cancelled while it ended, go.
    if status != Status::Completed || !matches!(recorded, Ok(true)) {
        remove_files(&state, job.svc, &job.id).await;
    }
}

/// Why a job failed, for its status.
type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// `Ok(false)`: the job was cancelled meanwhile.
type RunResult = Result<bool, BoxError>;

/// A running job's files: NDJSON per type, written out every `max_count`.
struct Writer {
    state: AppState,
    job: Job,
    spec: Spec,
    /// The service's base URL (references are resolved against it).
    base: String,
    /// Per type: the lines not yet written, and how many.
    open: HashMap<String, (Vec<u8>, usize)>,
    outputs: Vec<Output>,
    exported: usize,
}

impl Writer {
    /// Exports everything the spec names; `Ok(false)` when the job was
    /// cancelled meanwhile.
    async fn export(&mut self) -> RunResult {
        let mut types: Vec<String> = if self.spec.types.is_empty() {
            r4().resource_types()
                .into_iter()
                .map(str::to_owned)
                .collect()
        } else {
            self.spec.types.clone()
        };
        // Patients whose compartments are exported: all (`None`), or a
        // group's members.
        let members = match (self.spec.level.as_str(), &self.spec.group) {
            ("system", _) => {
                for t in types {
                    if !self.export_whole_or_filtered(&t, None).await? {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            ("group", Some(group)) => Some(self.group_members(group).await?),
            _ => None,
        };
        types.retain(|t| r4().patient_compartment().contains_key(t.as_str()));
        for t in types {
            let allowed = match (&members, t.as_str()) {
                // Every patient is in its own compartment.
                (None, "Patient") => None,
                (Some(ids), "Patient") => Some(self.patient_rids(ids).await?),
                (ids, _) => {
                    let (svc, t, ids) = (self.job.svc, t.clone(), ids.clone());
                    Some(
                        self.state
                            .store
                            .read(move |tx| export::compartment_rids(tx, svc, &t, ids.as_deref()))
                            .await?,
                    )
                }
            };
            if !self.export_whole_or_filtered(&t, allowed).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Exports type `t`: through its `_typeFilter` searches if it has any,
    /// else whole; only the resources of `allowed` (rids, ascending) when given.
    async fn export_whole_or_filtered(&mut self, t: &str, allowed: Option<Vec<i64>>) -> RunResult {
        let filters = self.filters_of(t);
        if filters.is_empty() {
            return match allowed {
                None => self.export_type(t).await,
                Some(rids) => self.export_rids(&rids).await,
            };
        }
        let allowed: Option<HashSet<i64>> = allowed.map(|v| v.into_iter().collect());
        let mut seen = HashSet::new();
        for params in filters {
            let scope = SearchScope {
                resource_types: vec![t.to_owned()],
                compartment: None,
                within: None,
            };
            if !self
                .export_search(scope, &params, &mut seen, allowed.as_ref())
                .await?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The rids of the current versions of Patients `ids`.
    async fn patient_rids(&self, ids: &[String]) -> Result<Vec<i64>, BoxError> {
        let (svc, ids) = (self.job.svc, ids.to_vec());
        let mut rids: Vec<i64> = self
            .state
            .store
            .read(move |tx| -> Result<Vec<i64>, hale_store::StoreError> {
                let mut rids = Vec::new();
                for id in &ids {
                    if let Some(p) = hale_fhir_store::resources::current(tx, svc, "Patient", id)? {
                        rids.push(p.rid);
                    }
                }
                Ok(rids)
            })
            .await?;
        rids.sort_unstable();
        Ok(rids)
    }

    /// The resources `rids` (current versions) that are not deleted and
    /// changed in the job's period, a page at a time.
    async fn export_rids(&mut self, rids: &[i64]) -> RunResult {
        let (since, till) = (self.spec.since, self.job.transaction_time);
        for chunk in rids.chunks(PAGE as usize) {
            let chunk = chunk.to_vec();
            let page = self
                .state
                .store
                .read(move |tx| hale_fhir_store::resources::by_rids(tx, &chunk))
                .await?;
            for r in &page {
                if !r.deleted && r.last_updated > since && r.last_updated <= till {
                    self.add(r).await?;
                }
            }
            if !self.heartbeat().await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn page(
        &self,
        t: &str,
        from: Cursor,
    ) -> Result<Vec<StoredResource>, hale_store::StoreError> {
        let (svc, t, till) = (self.job.svc, t.to_owned(), self.job.transaction_time);
        self.state
            .store
            .read(move |tx| export::page(tx, svc, &t, from, till, PAGE))
            .await
    }

    /// Every current resource of type `t` changed in the job's period.
    async fn export_type(&mut self, t: &str) -> RunResult {
        let mut from = Cursor::start(self.spec.since);
        loop {
            let page = self.page(t, from).await?;
            let Some(last) = page.last() else {
                return Ok(true);
            };
            from = Cursor::after(last);
            for r in &page {
                self.add(r).await?;
            }
            if !self.heartbeat().await? {
                return Ok(false);
            }
        }
    }

    /// The `_typeFilter` queries of type `t`.
    fn filters_of(&self, t: &str) -> Vec<Vec<(String, String)>> {
        self.spec
            .filters
            .iter()
            .filter(|f| f.resource_type == t)
            .map(|f| f.params.clone())
            .collect()
    }

    /// Every resource a search finds (with `filter`'s parameters, in the
    /// job's period), those in `seen` left out, and only those in `allowed`
    /// when given.
    async fn export_search(
        &mut self,
        scope: SearchScope,
        filter: &[(String, String)],
        seen: &mut HashSet<i64>,
        allowed: Option<&HashSet<i64>>,
    ) -> RunResult {
        let mut params: Vec<(String, String)> = filter.to_vec();
        params.extend([
            ("_count".into(), PAGE.to_string()),
            (
                "_lastUpdated".into(),
                format!("le{}", fhir_instant(self.job.transaction_time)),
            ),
        ]);
        if self.spec.since > i64::MIN {
            params.push((
                "_lastUpdated".into(),
                format!("gt{}", fhir_instant(self.spec.since)),
            ));
        }
        let one_type = scope
            .resource_types
            .first()
            .filter(|_| scope.resource_types.len() == 1);
        loop {
            let query = parse_search(one_type.map(String::as_str), &params, true)
                .map_err(|issues| format!("the export's search could not be made: {issues:?}"))?;
            let (svc, scope_c, base) = (self.job.svc, scope.clone(), self.base.clone());
            let page = self
                .state
                .store
                .read(move |tx| hale_fhir_store::search::search(tx, svc, &scope_c, &query, &base))
                .await?;
            for r in &page.matches {
                if allowed.is_none_or(|a| a.contains(&r.rid)) && seen.insert(r.rid) {
                    self.add(r).await?;
                }
            }
            if !self.heartbeat().await? {
                return Ok(false);
            }
            match page.next {
                Some(ct) => {
                    params.retain(|(k, _)| k != "ct");
                    params.push(("ct".into(), ct));
                }
                None => return Ok(true),
            }
        }
    }

    /// The patient ids a Group's `member.entity` refers to.
    async fn group_members(&self, id: &str) -> Result<Vec<String>, BoxError> {
        let (svc, id_owned) = (self.job.svc, id.to_owned());
        let group = self
            .state
            .store
            .read(move |tx| hale_fhir_store::resources::current(tx, svc, "Group", &id_owned))
            .await?
            .filter(|g| !g.deleted)
            .ok_or_else(|| format!("the Group '{id}' does not exist"))?;
        let body: Value = serde_json::from_slice(group.body.as_deref().unwrap_or_default())?;
        let mut patients = Vec::new();
        for m in body["member"].as_array().into_iter().flatten() {
            let Some(reference) = m["entity"]["reference"].as_str() else {
                continue;
            };
            let mut parts = reference.rsplit('/');
            if let (Some(pid), Some("Patient")) = (parts.next(), parts.next())
                && !patients.iter().any(|p| p == pid)
            {
                patients.push(pid.to_owned());
            }
        }
        Ok(patients)
    }

    /// Adds one resource to its type's open file, writing the file out when full.
    async fn add(&mut self, r: &StoredResource) -> Result<(), BoxError> {
        let Some(body) = &r.body else { return Ok(()) };
        let (lines, count) = self.open.entry(r.resource_type.clone()).or_default();
        lines.extend_from_slice(body);
        lines.push(b'\n');
        *count += 1;
        self.exported += 1;
        if *count >= self.spec.max_count {
            let t = r.resource_type.clone();
            self.flush(&t).await?;
        }
        Ok(())
    }

    /// Writes type `t`'s open file out.
    async fn flush(&mut self, t: &str) -> Result<(), BoxError> {
        let Some((lines, count)) = self.open.remove(t).filter(|(_, n)| *n > 0) else {
            return Ok(());
        };
        let n = self.outputs.iter().filter(|o| o.resource_type == t).count() + 1;
        let file = format!("{t}-{n}.ndjson");
        let key = export::file_key(self.job.svc, &self.job.id, &file);
        self.state.blobs.put(&key, lines.into()).await?;
        self.outputs.push(Output {
            resource_type: t.to_owned(),
            file,
            count,
        });
        Ok(())
    }

    async fn flush_all(&mut self) -> Result<(), BoxError> {
        let mut types: Vec<String> = self.open.keys().cloned().collect();
        types.sort();
        for t in types {
            self.flush(&t).await?;
        }
        Ok(())
    }

    /// Records progress; `Ok(false)` when the job was cancelled.
    async fn heartbeat(&self) -> RunResult {
        let (svc, id) = (self.job.svc, self.job.id.clone());
        let output = serde_json::to_string(&self.outputs)?;
        let exported = self.exported as i64;
        Ok(self
            .state
            .store
            .write(move |tx| export::progress(tx, svc, &id, exported, &output, now_micros()))
            .await?)
    }
}
