//! STOW-RS: `POST /studies[/{study}]`.
//!
//! The body is read chunk by chunk from the connection through the streaming
//! multipart parser; one instance at a time is collected (up to the limit),
//! ingested and stored before the next chunk is read. Each instance is
//! stored as: reserve its index row (status 0, naming its blob key) → write
//! the original bytes to the blob store and make them durable → commit the
//! row with its index values. Only then is it reported stored. Any failure
//! after the reservation abandons it (row removed, blob key trashed, blob
//! removed); a crash leaves a reservation that the sweep expires.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use hale_dicom::multipart::{Event, Limits, MultipartParser, StowBody, stow_body};
use hale_dicom::{
    FailureReason, IngestOptions, Ingested, InstanceBuffer, InstanceOutcome, StoredInstance, Uid,
};
use hale_dicom_store::instances::{self, Reservation};
use hale_dicom_store::journal;
use hale_store::StoreError;

use super::{Ctx, accepts_json, dicom_error, json_response, not_acceptable, text};

pub(super) async fn store(
    ctx: &Ctx,
    study: Option<Uid>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    if !accepts_json(headers, true) {
        return not_acceptable();
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let framing = match stow_body(content_type) {
        Ok(f) => f,
        Err(e) => return dicom_error(&e),
    };
    let limit = ctx.state.dicom_max_request_bytes;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit
    {
        return dicom_error(&hale_dicom::Error::PayloadTooLarge { limit });
    }
    let options = IngestOptions {
        api: ctx.api,
        study_in_path: study.clone(),
    };
    let mut outcomes = Vec::new();
    let mut stream = body.into_data_stream();
    let result = match framing {
        StowBody::Single => {
            let mut buffer = InstanceBuffer::new(limit);
            let mut failed = None;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(c) => {
                        if let Err(e) = buffer.push(&c) {
                            failed = Some(dicom_error(&e));
                            break;
                        }
                    }
                    Err(_) => {
                        failed = Some(text(
                            StatusCode::BAD_REQUEST,
                            "The request body could not be read.".into(),
                        ));
                        break;
                    }
                }
            }
            match failed {
                Some(r) => Err(r),
                None => {
                    if !buffer.is_empty() {
                        outcomes.push(store_one(ctx, buffer.into_bytes(), &options).await);
                    }
                    Ok(())
                }
            }
        }
        StowBody::Multipart { boundary } => {
            multipart(ctx, &boundary, limit, &options, &mut stream, &mut outcomes).await
        }
    };
    if let Err(response) = result {
        return response;
    }
    let answer = hale_dicom::store_response(&outcomes, &ctx.base, study.as_ref(), ctx.api);
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    match answer.body {
        None => Response::builder()
            .status(status)
            .body(Body::empty())
            .unwrap_or_default(),
        Some(body) => json_response(
            status,
            "application/dicom+json",
            serde_json::to_vec(&body).unwrap_or_default(),
        ),
    }
}

/// Reads parts until the closing delimiter, storing each as it completes.
/// A framing error (truncation, limits, a non-DICOM part) ends the request
/// with its status; instances stored before it stay stored.
async fn multipart(
    ctx: &Ctx,
    boundary: &str,
    limit: u64,
    options: &IngestOptions,
    stream: &mut axum::body::BodyDataStream,
    outcomes: &mut Vec<InstanceOutcome>,
) -> Result<(), Response> {
    let mut parser = MultipartParser::new(
        boundary,
        Limits {
            max_part_bytes: limit,
            max_body_bytes: limit,
            max_header_bytes: 16 * 1024,
        },
    );
    let mut current: Option<InstanceBuffer> = None;
    let mut ended = false;
    loop {
        // Drain every event the parser can produce from what it has.
        loop {
            match parser.next_event() {
                Ok(None) => break,
                Ok(Some(Event::PartStart(h))) => {
                    if let Err(e) = h.check_stow_part() {
                        return Err(dicom_error(&e));
                    }
                    current = Some(InstanceBuffer::new(limit));
                }
                Ok(Some(Event::Data(bytes))) => {
                    if let Some(buffer) = current.as_mut()
                        && let Err(e) = buffer.push(&bytes)
                    {
                        return Err(dicom_error(&e));
                    }
                }
                Ok(Some(Event::PartEnd)) => {
                    if let Some(buffer) = current.take() {
                        outcomes.push(store_one(ctx, buffer.into_bytes(), options).await);
                    }
                }
                Ok(Some(Event::End)) => return Ok(()),
                Err(e) => return Err(dicom_error(&e)),
            }
        }
        if ended {
            return Err(dicom_error(&hale_dicom::Error::TruncatedMultipart));
        }
        match stream.next().await {
            Some(Ok(chunk)) => {
                if let Err(e) = parser.feed(&chunk) {
                    return Err(dicom_error(&e));
                }
            }
            Some(Err(_)) => {
                return Err(text(
                    StatusCode::BAD_REQUEST,
                    "The request body could not be read.".into(),
                ));
            }
            None => {
                parser.finish();
                ended = true;
            }
        }
    }
}

/// Ingests and stores one instance.
async fn store_one(ctx: &Ctx, bytes: Bytes, options: &IngestOptions) -> InstanceOutcome {
    let options = options.clone();
    // Parsing a large instance is CPU work: off the async threads.
    let ingested =
        match tokio::task::spawn_blocking(move || hale_dicom::ingest(bytes, &options)).await {
            Ok(Ok(i)) => i,
            Ok(Err(rejection)) => return InstanceOutcome::Failed(rejection),
            Err(e) => {
                tracing::error!(error = %e, "DICOM ingestion task failed");
                return InstanceOutcome::Failed(hale_dicom::Rejection {
                    reason: FailureReason::ProcessingFailure,
                    sop_class_uid: None,
                    sop_instance_uid: None,
                    failed_attributes: None,
                    message: e.to_string(),
                });
            }
        };
    let ingested = std::sync::Arc::new(ingested);
    match persist(ctx, &ingested).await {
        Ok(()) => InstanceOutcome::Stored(StoredInstance::from(&*ingested)),
        Err(reason) => InstanceOutcome::store_failure(&ingested, reason),
    }
}

async fn persist(ctx: &Ctx, ingested: &std::sync::Arc<Ingested>) -> Result<(), FailureReason> {
    let store = &ctx.state.store;
    let svc = ctx.svc;
    let copy = ingested.clone();
    let reserved = store
        .write(move |tx| instances::reserve(tx, svc, &copy, hale_dicom_store::now_micros()))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "DICOM reservation failed");
            FailureReason::ProcessingFailure
        })?;
    let (iid, blob_key) = match reserved {
        Reservation::Reserved { iid, blob_key } => (iid, blob_key),
        Reservation::AlreadyExists => return Err(FailureReason::SopInstanceAlreadyExists),
        Reservation::Pending => return Err(FailureReason::PendingSopInstance),
    };
    if let Err(e) = ctx
        .state
        .blobs
        .put_durable(&blob_key, ingested.bytes.clone())
        .await
    {
        tracing::error!(error = %e, "DICOM blob write failed");
        abandon(ctx, iid, blob_key).await;
        return Err(FailureReason::ProcessingFailure);
    }
    let copy = ingested.clone();
    let committed = store
        .write(move |tx| instances::commit(tx, svc, iid, &copy, hale_dicom_store::now_micros()))
        .await;
    match committed {
        Ok(true) => Ok(()),
        Ok(false) => {
            tracing::warn!("DICOM reservation expired before its commit");
            abandon(ctx, iid, blob_key).await;
            Err(FailureReason::ProcessingFailure)
        }
        Err(e) => {
            tracing::error!(error = %e, "DICOM index commit failed");
            abandon(ctx, iid, blob_key).await;
            Err(FailureReason::ProcessingFailure)
        }
    }
}

/// Gives a reservation up: row gone and blob key trashed in one
/// transaction, then the blob removed and the key forgotten. If any step
/// fails, the sweep finishes it.
async fn abandon(ctx: &Ctx, iid: i64, blob_key: String) {
    let svc = ctx.svc;
    let key = blob_key.clone();
    let trashed: Result<i64, StoreError> = ctx
        .state
        .store
        .write(move |tx| journal::abandon(tx, svc, iid, &key, hale_dicom_store::now_micros()))
        .await;
    if let Ok(tid) = trashed {
        super::empty_trash(&ctx.state, vec![(tid, blob_key)]).await;
    }
}
