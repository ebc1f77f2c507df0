//! WADO-RS: instances of a study, series or one instance as
//! `multipart/related` (or one `application/dicom`), `/metadata` at every
//! level, and `/frames/{list}`.
//!
//! Original bytes (`transfer-syntax=*`, or a requested syntax equal to the
//! stored one) are streamed from the blob store, never whole in memory.
//! Transcoding ([`hale_dicom::transcode`]): to Explicit VR Little Endian, the
//! default syntax, and to JPEG 2000 lossless, from native syntaxes and from
//! every compressed one dicom-rs decodes here (JPEG, RLE, JPEG 2000), frames
//! included (as `application/octet-stream` or, for JPEG 2000, `image/jp2`
//! parts); anything else, and pixel data that cannot be decoded or encoded,
//! is answered 406 with the reason, as Azure does for syntaxes it cannot
//! produce.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use hale_dicom::Uid;
use hale_dicom::multipart::{
    MediaType, MultipartWriter, dicom_part_type, frame_part_type, new_boundary,
};
use hale_dicom::retrieve::FrameIndex;
use hale_dicom::transcode;
use hale_dicom_store::instances::{self, Scope, StoredInstance};

use super::{Ctx, accept_list, dicom_error, json_response, not_found, storage_error, text};

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const JPEG2000_LOSSLESS: &str = transcode::JPEG2000_LOSSLESS;

/// What a WADO-RS (or delete) path names.
pub(super) struct Target {
    pub scope: Scope,
    level: &'static str,
}

impl Target {
    pub fn study(study: Uid) -> Target {
        Target {
            scope: Scope {
                study: study.to_string(),
                series: None,
                sop: None,
            },
            level: "study",
        }
    }
    pub fn series(study: Uid, series: Uid) -> Target {
        Target {
            scope: Scope {
                study: study.to_string(),
                series: Some(series.to_string()),
                sop: None,
            },
            level: "series",
        }
    }
    pub fn instance(study: Uid, series: Uid, sop: Uid) -> Target {
        Target {
            scope: Scope {
                study: study.to_string(),
                series: Some(series.to_string()),
                sop: Some(sop.to_string()),
            },
            level: "instance",
        }
    }
    fn is_instance(&self) -> bool {
        self.scope.sop.is_some()
    }
    pub fn not_found(&self) -> Response {
        not_found(self.level)
    }
}

pub(super) async fn list(ctx: &Ctx, target: &Target) -> Result<Vec<StoredInstance>, Response> {
    let (svc, scope) = (ctx.svc, target.scope.clone());
    let found = ctx
        .state
        .store
        .read(move |tx| instances::list(tx, svc, &scope))
        .await
        .map_err(storage_error)?;
    if found.is_empty() {
        return Err(target.not_found());
    }
    Ok(found)
}

/// The response form chosen from `Accept`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Form {
    multipart: bool,
    /// `None`: each instance's own syntax (`transfer-syntax=*`).
    transfer_syntax: Option<String>,
}

/// Picks the first acceptable form for instance retrieval.
fn negotiate(accept: &[MediaType], instance_level: bool) -> Option<Form> {
    for mt in accept {
        let ts = |mt: &MediaType| match mt.param("transfer-syntax").map(str::trim) {
            Some("*") => None,
            Some(ts) => Some(ts.to_owned()),
            None => Some(EXPLICIT_LE.to_owned()),
        };
        match mt.essence.as_str() {
            "*/*" | "multipart/*" => {
                return Some(Form {
                    multipart: !instance_level || mt.essence == "multipart/*",
                    transfer_syntax: None,
                });
            }
            "multipart/related" => {
                let part = mt
                    .param("type")
                    .map(str::trim)
                    .unwrap_or("application/dicom");
                if part.eq_ignore_ascii_case("application/dicom") {
                    return Some(Form {
                        multipart: true,
                        transfer_syntax: ts(mt),
                    });
                }
            }
            "application/dicom" if instance_level => {
                return Some(Form {
                    multipart: false,
                    transfer_syntax: ts(mt),
                });
            }
            _ => {}
        }
    }
    None
}

fn native(ts: &str) -> bool {
    matches!(ts, IMPLICIT_LE | EXPLICIT_LE | EXPLICIT_BE)
}

/// Whether an instance can be sent as `wanted` (`None`: as stored).
fn can_send(stored: &StoredInstance, wanted: Option<&str>) -> Result<(), hale_dicom::Error> {
    match wanted {
        None => Ok(()),
        Some(w) => transcode::check(&stored.transfer_syntax, w, stored.size_bytes.max(0) as u64),
    }
}

/// For a retrieval of several instances that encodes some of them, whether
/// the encoder takes each one's pixel layout, read from the stored metadata:
/// a 406 naming the first it would refuse, before any part is sent (once the
/// multipart response has started, a failure can only cut it short).
async fn check_layouts(
    ctx: &Ctx,
    target: &Target,
    found: &[StoredInstance],
    wanted: Option<&str>,
) -> Result<(), Response> {
    if wanted != Some(JPEG2000_LOSSLESS) || found.len() < 2 {
        return Ok(());
    }
    let encoded: std::collections::HashMap<&str, &str> = found
        .iter()
        .filter(|i| i.transfer_syntax != JPEG2000_LOSSLESS)
        .map(|i| (i.sop_uid.as_str(), i.transfer_syntax.as_str()))
        .collect();
    if encoded.is_empty() {
        return Ok(());
    }
    let (svc, scope) = (ctx.svc, target.scope.clone());
    let texts = ctx
        .state
        .store
        .read(move |tx| instances::metadata(tx, svc, &scope))
        .await
        .map_err(storage_error)?;
    for text in texts {
        let Ok(attrs) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let sop = attrs
            .pointer("/00080018/Value/0")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        if let Some(stored) = encoded.get(sop) {
            transcode::check_attributes(stored, JPEG2000_LOSSLESS, &attrs)
                .map_err(|e| dicom_error(&e))?;
        }
    }
    Ok(())
}

type PartStream = futures::stream::BoxStream<'static, Result<Bytes, std::io::Error>>;

/// Why an instance's bytes could not be had.
#[derive(Debug)]
enum BodyError {
    /// The blob store failed (503).
    Storage(String),
    /// The instance cannot be sent as asked: pixel data the decoder or the
    /// encoder refuses (406, with the reason).
    Dicom(hale_dicom::Error),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Storage(e) => f.write_str(e),
            BodyError::Dicom(e) => e.fmt(f),
        }
    }
}

impl BodyError {
    fn response(&self) -> Response {
        match self {
            BodyError::Storage(e) => storage_error(e),
            BodyError::Dicom(e) => dicom_error(e),
        }
    }
}

/// One instance's bytes as sent: streamed from the blob store when sent as
/// stored, else transcoded.
async fn instance_body(
    ctx: &Ctx,
    inst: &StoredInstance,
    wanted: &Option<String>,
) -> Result<(PartStream, String), BodyError> {
    let storage = |e: &dyn std::fmt::Display| BodyError::Storage(e.to_string());
    let transcode = matches!(wanted, Some(w) if *w != inst.transfer_syntax);
    if !transcode {
        let stream = ctx
            .state
            .blobs
            .get_stream(&inst.blob_key)
            .await
            .map_err(|e| storage(&e))?;
        let stream = stream.map(|r| r.map_err(std::io::Error::other)).boxed();
        return Ok((stream, inst.transfer_syntax.clone()));
    }
    let bytes = ctx
        .state
        .blobs
        .get(&inst.blob_key)
        .await
        .map_err(|e| storage(&e))?;
    let ts = wanted.clone().unwrap_or_default();
    let target = ts.clone();
    let out = tokio::task::spawn_blocking(move || transcode::transcode(&bytes, &target))
        .await
        .map_err(|e| storage(&e))?
        .map_err(BodyError::Dicom)?;
    Ok((
        futures::stream::once(async move { Ok(Bytes::from(out)) }).boxed(),
        ts,
    ))
}

pub(super) async fn retrieve(ctx: &Ctx, target: Target, headers: &HeaderMap) -> Response {
    let Some(form) = negotiate(&accept_list(headers), target.is_instance()) else {
        return super::not_acceptable();
    };
    let found = match list(ctx, &target).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    for inst in &found {
        if let Err(e) = can_send(inst, form.transfer_syntax.as_deref()) {
            return dicom_error(&e);
        }
    }
    if let Err(r) = check_layouts(ctx, &target, &found, form.transfer_syntax.as_deref()).await {
        return r;
    }
    if !form.multipart {
        let inst = &found[0];
        return match instance_body(ctx, inst, &form.transfer_syntax).await {
            Ok((stream, ts)) => Response::builder()
                .status(StatusCode::OK)
                .header(
                    header::CONTENT_TYPE,
                    format!("application/dicom; transfer-syntax={ts}"),
                )
                .body(Body::from_stream(stream))
                .unwrap_or_default(),
            Err(e) => e.response(),
        };
    }
    let writer = MultipartWriter::new(new_boundary());
    let content_type = writer.content_type(
        "application/dicom",
        Some(form.transfer_syntax.as_deref().unwrap_or("*")),
    );
    let part = |w: &MultipartWriter, stream: PartStream, ts: &str| -> PartStream {
        let head = w.part_header(&dicom_part_type(ts));
        let tail = w.part_end();
        futures::stream::once(async move { Ok(head) })
            .chain(stream)
            .chain(futures::stream::once(async move { Ok(tail) }))
            .boxed()
    };
    // The first instance before the response starts, so that an instance
    // that cannot be transcoded (a lone one, or the first) is a 406 with
    // the reason rather than a response cut short.
    let mut found = found.into_iter();
    let Some(first) = found.next() else {
        return target.not_found();
    };
    let first = match instance_body(ctx, &first, &form.transfer_syntax).await {
        Ok((stream, ts)) => part(&writer, stream, &ts),
        Err(e) => return e.response(),
    };
    let ctx2 = ctx.clone();
    let wanted = form.transfer_syntax.clone();
    let w = writer.clone();
    let rest = futures::stream::iter(found)
        .then(move |inst| {
            let (ctx, wanted, w) = (ctx2.clone(), wanted.clone(), w.clone());
            async move {
                match instance_body(&ctx, &inst, &wanted).await {
                    Ok((stream, ts)) => part(&w, stream, &ts),
                    Err(e) => {
                        tracing::error!(error = %e, "DICOM retrieve: an instance could not be read or transcoded");
                        futures::stream::once(async move { Err(std::io::Error::other(e.to_string())) }).boxed()
                    }
                }
            }
        })
        .flatten();
    let parts = first.chain(rest);
    let finish = writer.finish();
    let body = parts.chain(futures::stream::once(async move { Ok(finish) }));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from_stream(body))
        .unwrap_or_default()
}

pub(super) async fn metadata(ctx: &Ctx, target: Target, headers: &HeaderMap) -> Response {
    if !super::accepts_json(headers, false) {
        return super::not_acceptable();
    }
    let (svc, scope) = (ctx.svc, target.scope.clone());
    let found = match ctx
        .state
        .store
        .read(move |tx| instances::metadata(tx, svc, &scope))
        .await
    {
        Ok(f) => f,
        Err(e) => return storage_error(e),
    };
    if found.is_empty() {
        return target.not_found();
    }
    // The stored JSON texts joined as they are: no parsing per request.
    let mut body = Vec::with_capacity(found.iter().map(|m| m.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (i, m) in found.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(m.as_bytes());
    }
    body.push(b']');
    let etag = format!("\"{:016x}\"", fnv(&body));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let mut r = json_response(StatusCode::OK, "application/dicom+json", body);
    if let Ok(v) = header::HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

pub(super) async fn frames(
    ctx: &Ctx,
    target: Target,
    list_text: &str,
    headers: &HeaderMap,
) -> Response {
    let frames = match hale_dicom::retrieve::parse_frame_list(list_text) {
        Ok(f) => f,
        Err(e) => return dicom_error(&e),
    };
    let found = match list(ctx, &target).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let inst = found[0].clone();
    // Frames of native pixel data are the same bytes in every native
    // syntax, so they can be labelled with the default one.
    let mut chosen: Option<FrameForm> = None;
    for mt in accept_list(headers) {
        let wanted = match mt.param("transfer-syntax").map(str::trim) {
            Some("*") => None,
            Some(ts) => Some(ts.to_owned()),
            None => Some(EXPLICIT_LE.to_owned()),
        };
        let ok = |w: &Option<String>| match w {
            None => Some(inst.transfer_syntax.clone()),
            Some(w) if *w == inst.transfer_syntax => Some(w.clone()),
            Some(w) if w == EXPLICIT_LE && native(&inst.transfer_syntax) => Some(w.clone()),
            // Encapsulated: the frames of the instance decoded.
            Some(w) if can_send(&inst, Some(w)).is_ok() => Some(w.clone()),
            _ => None,
        };
        let form = |multipart, ts, part_type| FrameForm {
            multipart,
            transfer_syntax: ts,
            part_type,
        };
        let pick = match mt.essence.as_str() {
            "*/*" | "multipart/*" => Some(form(true, inst.transfer_syntax.clone(), OCTET_STREAM)),
            "multipart/related" => {
                let part = mt.param("type").map(str::trim).unwrap_or(OCTET_STREAM);
                if part == "*/*" && mt.param("transfer-syntax").is_none() {
                    // Any part type (dicomweb-client's default for frames):
                    // the frames as stored, as for `*/*`.
                    Some(form(true, inst.transfer_syntax.clone(), OCTET_STREAM))
                } else if part.eq_ignore_ascii_case(OCTET_STREAM) || part == "*/*" {
                    ok(&wanted).map(|ts| form(true, ts, OCTET_STREAM))
                } else if part.eq_ignore_ascii_case(JP2) {
                    // JPEG 2000 codestreams: the lossless syntax, named or not.
                    let jp2 = match mt.param("transfer-syntax").map(str::trim) {
                        None | Some(JPEG2000_LOSSLESS) => Some(JPEG2000_LOSSLESS.to_owned()),
                        Some(_) => None,
                    };
                    jp2.and_then(|w| ok(&Some(w))).map(|ts| form(true, ts, JP2))
                } else {
                    None
                }
            }
            "application/octet-stream" if frames.len() == 1 => {
                ok(&wanted).map(|ts| form(false, ts, OCTET_STREAM))
            }
            _ => None,
        };
        if pick.is_some() {
            chosen = pick;
            break;
        }
    }
    let Some(FrameForm {
        multipart,
        transfer_syntax: ts,
        part_type,
    }) = chosen
    else {
        return text(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "The requested frames cannot be returned in the accepted media types and transfer syntaxes; the instance is stored in '{}'.",
                inst.transfer_syntax
            ),
        );
    };
    let as_stored = ts == inst.transfer_syntax || (native(&inst.transfer_syntax) && native(&ts));
    let read = if as_stored {
        read_frames(ctx, &inst, &frames).await
    } else {
        parsed_frames(ctx, &inst, &frames, Some(ts.clone())).await
    };
    let extracted = match read {
        Ok(parts) => parts,
        Err(r) => return r,
    };
    if !multipart {
        return Response::builder()
            .status(StatusCode::OK)
            .header(
                header::CONTENT_TYPE,
                format!("application/octet-stream; transfer-syntax={ts}"),
            )
            .body(Body::from(extracted.into_iter().next().unwrap_or_default()))
            .unwrap_or_default();
    }
    let writer = MultipartWriter::new(new_boundary());
    let part_content_type = if part_type == JP2 {
        format!("{JP2}; transfer-syntax={ts}")
    } else {
        frame_part_type(&ts)
    };
    let mut body = Vec::with_capacity(extracted.iter().map(|f| f.len() + 128).sum());
    for f in &extracted {
        body.extend_from_slice(&writer.part_header(&part_content_type));
        body.extend_from_slice(f);
        body.extend_from_slice(&writer.part_end());
    }
    body.extend_from_slice(&writer.finish());
    Response::builder()
        .status(StatusCode::OK)
        .header(
            header::CONTENT_TYPE,
            writer.content_type(part_type, Some(&ts)),
        )
        .body(Body::from(body))
        .unwrap_or_default()
}

/// `application/octet-stream`, the media type of frames.
const OCTET_STREAM: &str = "application/octet-stream";
/// `image/jp2`, the media type of JPEG 2000 frames.
const JP2: &str = "image/jp2";

/// The response form chosen for frames.
struct FrameForm {
    multipart: bool,
    transfer_syntax: String,
    /// [`OCTET_STREAM`] or [`JP2`].
    part_type: &'static str,
}

/// The requested frames of a stored instance: byte ranges of its blob when
/// the index knows where the frames are, else the blob parsed.
async fn read_frames(
    ctx: &Ctx,
    inst: &StoredInstance,
    frames: &[u32],
) -> Result<Vec<Bytes>, Response> {
    let index = inst.frame_index.as_deref().and_then(FrameIndex::parse);
    if let Some(index) = index {
        let mut ranges = Vec::new();
        let mut pieces = Vec::with_capacity(frames.len());
        for f in frames {
            let r = index
                .ranges(*f)
                .ok_or_else(|| dicom_error(&hale_dicom::Error::FrameNotFound))?;
            pieces.push(r.len());
            ranges.extend(r);
        }
        let mut parts = ctx
            .state
            .blobs
            .get_ranges(&inst.blob_key, &ranges)
            .await
            .map_err(storage_error)?
            .into_iter();
        return Ok(pieces
            .into_iter()
            .map(|n| {
                let mut frame: Vec<Bytes> = parts.by_ref().take(n).collect();
                if frame.len() == 1 {
                    frame.remove(0)
                } else {
                    Bytes::from(frame.concat())
                }
            })
            .collect());
    }
    parsed_frames(ctx, inst, frames, None).await
}

/// The requested frames from the whole blob, parsed: as stored, or (an
/// instance asked for in another syntax, `decode_to`) of the instance
/// transcoded: decoded, and encoded again for JPEG 2000.
async fn parsed_frames(
    ctx: &Ctx,
    inst: &StoredInstance,
    frames: &[u32],
    decode_to: Option<String>,
) -> Result<Vec<Bytes>, Response> {
    let bytes = ctx
        .state
        .blobs
        .get(&inst.blob_key)
        .await
        .map_err(storage_error)?;
    let list = frames.to_vec();
    let parsed = tokio::task::spawn_blocking(move || match decode_to {
        Some(ts) => transcode::transcode_frames(&bytes, &ts, &list),
        None => hale_dicom::retrieve::extract_frames(&bytes, &list),
    })
    .await;
    match parsed {
        Ok(Ok(parts)) => Ok(parts),
        Ok(Err(e)) => Err(dicom_error(&e)),
        Err(e) => Err(storage_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mt(s: &str) -> MediaType {
        hale_dicom::multipart::parse_media_type(s).unwrap()
    }

    #[test]
    fn negotiation() {
        let star = Form {
            multipart: true,
            transfer_syntax: None,
        };
        assert_eq!(negotiate(&[mt("*/*")], false), Some(star.clone()));
        assert_eq!(
            negotiate(
                &[mt(
                    "multipart/related; type=\"application/dicom\"; transfer-syntax=*"
                )],
                false
            ),
            Some(star)
        );
        assert_eq!(
            negotiate(&[mt("multipart/related; type=application/dicom")], false),
            Some(Form {
                multipart: true,
                transfer_syntax: Some(EXPLICIT_LE.into())
            })
        );
        assert_eq!(negotiate(&[mt("application/dicom")], false), None);
        assert_eq!(
            negotiate(&[mt("application/dicom; transfer-syntax=*")], true),
            Some(Form {
                multipart: false,
                transfer_syntax: None
            })
        );
        assert_eq!(
            negotiate(&[mt("multipart/related; type=\"image/jpeg\"")], false),
            None
        );
    }
}
