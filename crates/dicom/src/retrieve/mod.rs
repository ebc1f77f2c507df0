//! WADO-RS helpers over stored original bytes: `/metadata` and `/frames/{list}`.

use bytes::Bytes;
use dicom_core::value::Value as DicomValue;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde_json::Value;

use crate::Error;
use crate::ingest::{first_string, parse_part10, strip_bulk_data};

/// The `/metadata` DICOM JSON of a stored instance, computed from its bytes:
/// file meta group and OB/OD/OF/OL/OV/OW/UN elements left out (recursively),
/// IS/DS as numbers. [`crate::Ingested::metadata`] is the same object
/// computed once at ingestion (and, in v2, without attributes that failed
/// validation) — keep that one rather than calling this per request.
pub fn instance_metadata(bytes: &[u8]) -> Result<Value, Error> {
    let obj = parse_part10(bytes).map_err(Error::UnreadableInstance)?;
    let mut dataset: InMemDicomObject = (*obj).clone();
    strip_bulk_data(&mut dataset);
    let mut json =
        dicom_json::to_value(&dataset).map_err(|e| Error::UnreadableInstance(e.to_string()))?;
    crate::json::numbers_for_is_ds(&mut json);
    Ok(json)
}

/// Parses the `{frames}` of `/frames/{frames}`: comma-separated, 1-based.
pub fn parse_frame_list(s: &str) -> Result<Vec<u32>, Error> {
    let frames: Vec<u32> = s
        .split(',')
        .map(|f| f.trim().parse::<u32>().ok().filter(|n| *n > 0))
        .collect::<Option<Vec<u32>>>()
        .ok_or(Error::InvalidFrames)?;
    if frames.is_empty() {
        Err(Error::InvalidFrames)
    } else {
        Ok(frames)
    }
}

/// The bytes of the requested frames (1-based, in the order asked), from the
/// instance's original bytes, in its own transfer syntax: for native pixel
/// data a slice of rows × columns × samples × bits allocated; for
/// encapsulated pixel data the frame's fragments (one fragment per frame, the
/// Basic Offset Table, or all fragments for a single frame).
pub fn extract_frames(bytes: &[u8], frames: &[u32]) -> Result<Vec<Bytes>, Error> {
    if frames.is_empty() || frames.contains(&0) {
        return Err(Error::InvalidFrames);
    }
    let obj = parse_part10(bytes).map_err(Error::UnreadableInstance)?;
    let pixel = obj.get(tags::PIXEL_DATA).ok_or(Error::NoPixelData)?;
    let count: u32 = first_string(&obj, tags::NUMBER_OF_FRAMES)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1)
        .max(1);
    if frames.iter().any(|f| *f > count) {
        return Err(Error::FrameNotFound);
    }
    match pixel.value() {
        DicomValue::PixelSequence(seq) => {
            let fragments = seq.fragments();
            let table = seq.offset_table();
            let frame_fragments: Vec<Vec<&Vec<u8>>> = if fragments.len() == count as usize {
                fragments.iter().map(|f| vec![f]).collect()
            } else if count == 1 {
                vec![fragments.iter().collect()]
            } else if table.len() == count as usize {
                // Offsets count from the first fragment's item header (8 bytes each).
                let mut starts = Vec::with_capacity(fragments.len());
                let mut pos = 0u64;
                for f in fragments {
                    starts.push(pos);
                    pos += 8 + f.len() as u64;
                }
                (0..count as usize)
                    .map(|i| {
                        let lo = table[i] as u64;
                        let hi = table.get(i + 1).map_or(u64::MAX, |h| *h as u64);
                        fragments
                            .iter()
                            .zip(&starts)
                            .filter(|(_, s)| **s >= lo && **s < hi)
                            .map(|(f, _)| f)
                            .collect()
                    })
                    .collect()
            } else {
                return Err(Error::UnreadableInstance(
                    "the frames of the encapsulated pixel data cannot be located".into(),
                ));
            };
            Ok(frames
                .iter()
                .map(|f| {
                    let parts = &frame_fragments[*f as usize - 1];
                    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
                    for p in parts {
                        out.extend_from_slice(p);
                    }
                    Bytes::from(out)
                })
                .collect())
        }
        DicomValue::Primitive(p) => {
            let data = p.to_bytes();
            let num = |tag| first_string(&obj, tag).and_then(|v| v.trim().parse::<u64>().ok());
            let (rows, cols) = (num(tags::ROWS), num(tags::COLUMNS));
            let (rows, cols) = match (rows, cols) {
                (Some(r), Some(c)) => (r, c),
                _ => {
                    // Rows/Columns are US: read them as numbers.
                    let n = |tag| obj.get(tag).and_then(|e| e.value().to_int::<u64>().ok());
                    (
                        n(tags::ROWS).ok_or(Error::NoPixelData)?,
                        n(tags::COLUMNS).ok_or(Error::NoPixelData)?,
                    )
                }
            };
            let n = |tag, default| {
                obj.get(tag)
                    .and_then(|e| e.value().to_int::<u64>().ok())
                    .unwrap_or(default)
            };
            let samples = n(tags::SAMPLES_PER_PIXEL, 1);
            let bits = n(tags::BITS_ALLOCATED, 8);
            let frame_bits = rows * cols * samples * bits;
            if frame_bits % 8 != 0 {
                return Err(Error::UnreadableInstance(
                    "frames of 1-bit pixel data do not start on byte boundaries".into(),
                ));
            }
            let frame_len = (frame_bits / 8) as usize;
            frames
                .iter()
                .map(|f| {
                    let start = (*f as usize - 1) * frame_len;
                    data.get(start..start + frame_len)
                        .map(Bytes::copy_from_slice)
                        .ok_or(Error::FrameNotFound)
                })
                .collect()
        }
        DicomValue::Sequence(_) => Err(Error::NoPixelData),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lists() {
        assert_eq!(parse_frame_list("1"), Ok(vec![1]));
        assert_eq!(parse_frame_list("4, 5,6"), Ok(vec![4, 5, 6]));
        for bad in ["", "0", "1,,2", "a", "-1", "1.5"] {
            assert_eq!(parse_frame_list(bad), Err(Error::InvalidFrames), "{bad}");
        }
    }
}
