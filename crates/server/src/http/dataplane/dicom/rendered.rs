//! WADO-RS `/rendered` of an instance (its first frame) or of one frame:
//! `image/jpeg` (the default, `quality` 1–100) or `image/png`, rendered by
//! [`hale_dicom::render`] on a blocking thread.

use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hale_dicom::render::{self, MAX_RENDER_BYTES, RenderedType};

use super::wado::{Target, list};
use super::{Ctx, accept_list, dicom_error, query_params, storage_error, text};

/// `…/rendered` (`frame` = `None`: the first frame) and
/// `…/frames/{frame}/rendered`.
pub(super) async fn rendered(
    ctx: &Ctx,
    target: Target,
    frame: Option<&str>,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    let frame = match frame {
        None => 1,
        Some(f) => match f.trim().parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => return dicom_error(&hale_dicom::Error::InvalidFrames),
        },
    };
    let params = query_params(uri);
    let quality = params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("quality"))
        .map(|(_, v)| v.as_str());
    let quality = match render::parse_quality(quality) {
        Ok(q) => q,
        Err(e) => return dicom_error(&e),
    };
    let Some(format) = accept_list(headers)
        .iter()
        .find_map(|mt| RenderedType::for_media_range(&mt.essence))
    else {
        return text(
            StatusCode::NOT_ACCEPTABLE,
            "The request headers are not acceptable: rendered images are returned as 'image/jpeg' or 'image/png'.".into(),
        );
    };
    let found = match list(ctx, &target).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let inst = found[0].clone();
    if inst.size_bytes > MAX_RENDER_BYTES as i64 {
        return dicom_error(&hale_dicom::Error::NotRenderable(
            "the instance is larger than the 100 MB that can be rendered".into(),
        ));
    }
    let bytes = match ctx.state.blobs.get(&inst.blob_key).await {
        Ok(b) => b,
        Err(e) => return storage_error(e),
    };
    match tokio::task::spawn_blocking(move || render::render(&bytes, frame, format, quality)).await
    {
        Ok(Ok(image)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, format.media_type())],
            image,
        )
            .into_response(),
        Ok(Err(e)) => dicom_error(&e),
        Err(e) => storage_error(e),
    }
}
