//! WADO-RS `/rendered`: one frame of a stored instance as an 8-bit JPEG or
//! PNG, decoded with `dicom-pixeldata`.
//!
//! The grey levels follow the default presentation: the Modality LUT
//! (RescaleSlope/RescaleIntercept), then the first VOI LUT or window
//! (WindowCenter/WindowWidth) the instance carries, else a min–max
//! normalization of the frame. Colour images keep their colours (YBR is
//! converted to RGB). Decodable transfer syntaxes: native (implicit and
//! explicit VR little endian, explicit big endian), JPEG baseline, extended
//! and lossless, RLE lossless, JPEG 2000 (the pure-Rust `openjp2`); others
//! (JPEG-LS) are refused with a 406, as Azure refuses what it cannot render.

use std::io::Cursor;

use dicom_dictionary_std::tags;
use dicom_pixeldata::{BitDepthOption, ConvertOptions, PixelDecoder, VoiLutOption};
use dicom_transfer_syntax_registry::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use image::{DynamicImage, ImageFormat};

use crate::Error;
use crate::ingest::{first_string, parse_part10};

/// The largest stored instance Azure renders or transcodes (100 MB); larger
/// ones are answered 406.
pub const MAX_RENDER_BYTES: usize = 100 * 1024 * 1024;

/// The image format of a `/rendered` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderedType {
    /// `image/jpeg`, the default.
    Jpeg,
    /// `image/png` (lossless; `quality` does not apply).
    Png,
}

impl RenderedType {
    /// The media type of the answer.
    pub fn media_type(self) -> &'static str {
        match self {
            RenderedType::Jpeg => "image/jpeg",
            RenderedType::Png => "image/png",
        }
    }

    /// The format for one `Accept` media range essence: `image/jpeg`,
    /// `image/png`, or a wildcard (`*/*`, `image/*`) meaning JPEG.
    pub fn for_media_range(essence: &str) -> Option<RenderedType> {
        match essence.to_ascii_lowercase().as_str() {
            "image/jpeg" | "image/*" | "*/*" => Some(RenderedType::Jpeg),
            "image/png" => Some(RenderedType::Png),
            _ => None,
        }
    }
}

/// Parses the `quality` query parameter: 1–100, default 100.
pub fn parse_quality(value: Option<&str>) -> Result<u8, Error> {
    match value {
        None => Ok(100),
        Some(v) => v
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|q| (1..=100).contains(q))
            .ok_or_else(|| Error::InvalidQuery("Image quality must be between 1 and 100.".into())),
    }
}

/// Renders frame `frame` (1-based) of the instance in `bytes`.
///
/// Errors: [`Error::InvalidFrames`] for frame 0, [`Error::NoPixelData`] and
/// [`Error::FrameNotFound`] (404), [`Error::NotRenderable`] (406) for
/// instances over [`MAX_RENDER_BYTES`], transfer syntaxes without a decoder
/// here, and pixel data the decoder refuses.
pub fn render(
    bytes: &[u8],
    frame: u32,
    format: RenderedType,
    quality: u8,
) -> Result<Vec<u8>, Error> {
    if frame == 0 {
        return Err(Error::InvalidFrames);
    }
    if bytes.len() > MAX_RENDER_BYTES {
        return Err(Error::NotRenderable(
            "the instance is larger than the 100 MB that can be rendered".into(),
        ));
    }
    let obj = parse_part10(bytes).map_err(Error::UnreadableInstance)?;
    if obj.get(tags::PIXEL_DATA).is_none() {
        return Err(Error::NoPixelData);
    }
    let count: u32 = first_string(&obj, tags::NUMBER_OF_FRAMES)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1)
        .max(1);
    if frame > count {
        return Err(Error::FrameNotFound);
    }
    let ts_uid = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_owned();
    let decodable = TransferSyntaxRegistry
        .get(&ts_uid)
        .is_some_and(|ts| ts.can_decode_all());
    if !decodable {
        return Err(Error::NotRenderable(format!(
            "the transfer syntax '{ts_uid}' is not supported"
        )));
    }
    let decoded = obj
        .decode_pixel_data_frame(frame - 1)
        .map_err(|e| Error::NotRenderable(e.to_string()))?;
    let options = ConvertOptions::new()
        .with_voi_lut(VoiLutOption::Default)
        .with_bit_depth(BitDepthOption::Force8Bit);
    let image = decoded
        .to_dynamic_image_with_options(0, &options)
        .map_err(|e| Error::NotRenderable(e.to_string()))?;
    encode(image, format, quality)
}

/// Encodes an image as 8-bit greyscale or RGB JPEG/PNG.
fn encode(image: DynamicImage, format: RenderedType, quality: u8) -> Result<Vec<u8>, Error> {
    let image = match image {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => image,
        other if other.color().has_color() => DynamicImage::ImageRgb8(other.to_rgb8()),
        other => DynamicImage::ImageLuma8(other.to_luma8()),
    };
    let mut out = Cursor::new(Vec::new());
    let failed = |e: image::ImageError| Error::NotRenderable(e.to_string());
    match format {
        RenderedType::Png => image.write_to(&mut out, ImageFormat::Png).map_err(failed)?,
        RenderedType::Jpeg => {
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
            image.write_with_encoder(encoder).map_err(failed)?
        }
    }
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualities_and_media_ranges() {
        assert_eq!(parse_quality(None), Ok(100));
        assert_eq!(parse_quality(Some("1")), Ok(1));
        assert_eq!(parse_quality(Some("100")), Ok(100));
        for bad in ["0", "101", "-1", "x", ""] {
            assert_eq!(parse_quality(Some(bad)).unwrap_err().status(), 400, "{bad}");
        }
        assert_eq!(
            RenderedType::for_media_range("*/*"),
            Some(RenderedType::Jpeg)
        );
        assert_eq!(
            RenderedType::for_media_range("image/*"),
            Some(RenderedType::Jpeg)
        );
        assert_eq!(
            RenderedType::for_media_range("IMAGE/PNG"),
            Some(RenderedType::Png)
        );
        assert_eq!(RenderedType::for_media_range("application/dicom"), None);
    }
}
