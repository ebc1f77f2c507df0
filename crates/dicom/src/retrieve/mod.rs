//! WADO-RS helpers over stored original bytes: `/metadata` and `/frames/{list}`.

use bytes::Bytes;
use dicom_core::header::HasLength;
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

/// Where the frames of an instance's pixel data are in its Part-10 file.
enum Layout<'a> {
    /// Native pixel data of `data_len` bytes: `count` frames of `frame_len`
    /// bytes each from its start (only the frames that fit are counted).
    Native {
        data_len: usize,
        frame_len: usize,
        count: u32,
    },
    /// Encapsulated pixel data: the fragments of each frame, by index into
    /// the pixel sequence's fragments.
    Encapsulated {
        fragments: &'a [Vec<u8>],
        table_len: usize,
        frames: Vec<Vec<usize>>,
    },
}

/// The frame layout of a parsed instance (as in [`extract_frames`]).
fn layout(obj: &InMemDicomObject) -> Result<Layout<'_>, Error> {
    let pixel = obj.get(tags::PIXEL_DATA).ok_or(Error::NoPixelData)?;
    let count: u32 = first_string(obj, tags::NUMBER_OF_FRAMES)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1)
        .max(1);
    match pixel.value() {
        DicomValue::PixelSequence(seq) => {
            let fragments = seq.fragments();
            let table = seq.offset_table();
            let frames: Vec<Vec<usize>> = if fragments.len() == count as usize {
                (0..fragments.len()).map(|f| vec![f]).collect()
            } else if count == 1 {
                vec![(0..fragments.len()).collect()]
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
                        (0..fragments.len())
                            .filter(|f| starts[*f] >= lo && starts[*f] < hi)
                            .collect()
                    })
                    .collect()
            } else {
                return Err(Error::UnreadableInstance(
                    "the frames of the encapsulated pixel data cannot be located".into(),
                ));
            };
            Ok(Layout::Encapsulated {
                fragments,
                table_len: table.len(),
                frames,
            })
        }
        DicomValue::Primitive(p) => {
            let num = |tag| first_string(obj, tag).and_then(|v| v.trim().parse::<u64>().ok());
            let (rows, cols) = match (num(tags::ROWS), num(tags::COLUMNS)) {
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
            // The length only: copying the pixel data to learn it would cost
            // every ingestion a copy of the largest element.
            let data_len = p.calculate_byte_len();
            let fit = data_len.checked_div(frame_len).unwrap_or(0);
            Ok(Layout::Native {
                data_len,
                frame_len,
                count: count.min(u32::try_from(fit).unwrap_or(u32::MAX)),
            })
        }
        DicomValue::Sequence(_) => Err(Error::NoPixelData),
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
    match layout(&obj)? {
        Layout::Encapsulated {
            fragments,
            frames: of,
            ..
        } => frames
            .iter()
            .map(|f| {
                let parts = of.get(*f as usize - 1).ok_or(Error::FrameNotFound)?;
                let mut out = Vec::with_capacity(parts.iter().map(|p| fragments[*p].len()).sum());
                for p in parts {
                    out.extend_from_slice(&fragments[*p]);
                }
                Ok(Bytes::from(out))
            })
            .collect(),
        Layout::Native {
            frame_len, count, ..
        } => {
            let data = obj
                .get(tags::PIXEL_DATA)
                .ok_or(Error::NoPixelData)?
                .value()
                .to_bytes()
                .map_err(|_| Error::NoPixelData)?;
            frames
                .iter()
                .map(|f| {
                    let start = (*f as usize - 1) * frame_len;
                    (*f <= count)
                        .then(|| Bytes::copy_from_slice(&data[start..start + frame_len]))
                        .ok_or(Error::FrameNotFound)
                })
                .collect()
        }
    }
}

/// Where each frame of an instance lies in its stored Part-10 file, so that
/// `/frames` reads byte ranges instead of parsing the file. Computed at
/// ingestion from the parsed instance and checked against the file's bytes
/// (every element and item header it relies on is read back); kept in the
/// index as [`FrameIndex::to_text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameIndex {
    /// Native pixel data: frame `n` (1-based) is the `frame_len` bytes at
    /// `start + (n - 1) × frame_len`, for `n ≤ count`.
    Native {
        start: u64,
        frame_len: u64,
        count: u32,
    },
    /// Encapsulated pixel data: each frame's fragments as (offset, length).
    Fragments(Vec<Vec<(u64, u64)>>),
}

const ITEM: [u8; 4] = [0xFE, 0xFF, 0x00, 0xE0];
const SEQUENCE_DELIMITER: [u8; 8] = [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0];
const PIXEL_DATA_TAG: [u8; 4] = [0xE0, 0x7F, 0x10, 0x00];

impl FrameIndex {
    /// Locates the frames of `obj`, parsed from `bytes` (the whole file).
    /// `None` when that cannot be proven from the bytes: pixel data that is
    /// not the file's last element, big-endian or deflated syntaxes, a layout
    /// [`extract_frames`] cannot read. `/frames` then parses the file.
    pub fn locate(bytes: &[u8], obj: &dicom_object::DefaultDicomObject) -> Option<FrameIndex> {
        let ts = crate::uid::trim_padding(obj.meta().transfer_syntax());
        if ts == "1.2.840.10008.1.2.2" || ts == "1.2.840.10008.1.2.1.99" {
            return None;
        }
        let explicit = ts != crate::ingest::IMPLICIT_VR_LITTLE_ENDIAN;
        let at = |pos: usize, len: usize| bytes.get(pos..pos.checked_add(len)?);
        let u32_at = |pos: usize| at(pos, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        match layout(obj).ok()? {
            Layout::Native {
                data_len,
                frame_len,
                count,
            } => {
                let len = obj.get(tags::PIXEL_DATA)?.header().length().get()? as usize;
                if len != data_len || count == 0 {
                    return None;
                }
                let start = bytes.len().checked_sub(len)?;
                let header = if explicit { 12 } else { 8 };
                let head = at(start.checked_sub(header)?, header)?;
                let vr_ok = !explicit || matches!(&head[4..8], b"OW\0\0" | b"OB\0\0");
                (head[..4] == PIXEL_DATA_TAG && vr_ok && u32_at(start - 4)? as usize == len)
                    .then_some(FrameIndex::Native {
                        start: start as u64,
                        frame_len: frame_len as u64,
                        count,
                    })
            }
            Layout::Encapsulated {
                fragments,
                table_len,
                frames,
            } => {
                if !explicit {
                    return None;
                }
                let mut pos = bytes.len().checked_sub(8)?;
                if at(pos, 8)? != SEQUENCE_DELIMITER {
                    return None;
                }
                // Walk back over the fragments, then the offset table item.
                let mut starts = vec![0usize; fragments.len()];
                for (i, f) in fragments.iter().enumerate().rev() {
                    let start = pos.checked_sub(f.len())?;
                    let head = start.checked_sub(8)?;
                    if at(head, 4)? != ITEM || u32_at(head + 4)? as usize != f.len() {
                        return None;
                    }
                    starts[i] = start;
                    pos = head;
                }
                let head = pos.checked_sub(table_len * 4)?.checked_sub(8)?;
                if at(head, 4)? != ITEM || u32_at(head + 4)? as usize != table_len * 4 {
                    return None;
                }
                let element = at(head.checked_sub(12)?, 12)?;
                if element[..4] != PIXEL_DATA_TAG
                    || !matches!(&element[4..8], b"OB\0\0" | b"OW\0\0")
                    || element[8..] != [0xFF; 4]
                {
                    return None;
                }
                Some(FrameIndex::Fragments(
                    frames
                        .iter()
                        .map(|parts| {
                            parts
                                .iter()
                                .map(|p| (starts[*p] as u64, fragments[*p].len() as u64))
                                .collect()
                        })
                        .collect(),
                ))
            }
        }
    }

    /// How many frames can be read.
    pub fn len(&self) -> u32 {
        match self {
            FrameIndex::Native { count, .. } => *count,
            FrameIndex::Fragments(frames) => u32::try_from(frames.len()).unwrap_or(u32::MAX),
        }
    }

    /// Whether there are no frames.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The byte ranges of frame `n` (1-based), `None` past the last frame.
    pub fn ranges(&self, n: u32) -> Option<Vec<std::ops::Range<u64>>> {
        if n == 0 || n > self.len() {
            return None;
        }
        Some(match self {
            FrameIndex::Native {
                start, frame_len, ..
            } => {
                let from = start + u64::from(n - 1) * frame_len;
                std::iter::once(from..from + frame_len).collect()
            }
            FrameIndex::Fragments(frames) => frames[n as usize - 1]
                .iter()
                .map(|(o, l)| *o..o + l)
                .collect(),
        })
    }

    /// The requested frames cut out of the whole file (what a range read
    /// returns; for tests and callers that hold the bytes).
    pub fn slice(&self, bytes: &[u8], frames: &[u32]) -> Result<Vec<Bytes>, Error> {
        frames
            .iter()
            .map(|f| {
                let mut out = Vec::new();
                for r in self.ranges(*f).ok_or(Error::FrameNotFound)? {
                    let piece = bytes
                        .get(r.start as usize..r.end as usize)
                        .ok_or(Error::FrameNotFound)?;
                    out.extend_from_slice(piece);
                }
                Ok(Bytes::from(out))
            })
            .collect()
    }

    /// The compact text kept in the index: `N start frame_len count`, or
    /// `F` then per frame `;` and its fragments as `offset+length` joined by `,`.
    pub fn to_text(&self) -> String {
        match self {
            FrameIndex::Native {
                start,
                frame_len,
                count,
            } => format!("N {start} {frame_len} {count}"),
            FrameIndex::Fragments(frames) => {
                let mut s = String::from("F");
                for f in frames {
                    s.push(';');
                    let parts: Vec<String> = f.iter().map(|(o, l)| format!("{o}+{l}")).collect();
                    s.push_str(&parts.join(","));
                }
                s
            }
        }
    }

    /// Reads [`FrameIndex::to_text`] back; `None` for anything else.
    pub fn parse(text: &str) -> Option<FrameIndex> {
        if let Some(rest) = text.strip_prefix("N ") {
            let mut it = rest.split(' ');
            let index = FrameIndex::Native {
                start: it.next()?.parse().ok()?,
                frame_len: it.next()?.parse().ok()?,
                count: it.next()?.parse().ok()?,
            };
            return it.next().is_none().then_some(index);
        }
        let rest = text.strip_prefix('F')?;
        if rest.is_empty() {
            return Some(FrameIndex::Fragments(Vec::new()));
        }
        let rest = rest.strip_prefix(';')?;
        rest.split(';')
            .map(|frame| {
                frame
                    .split(',')
                    .map(|piece| {
                        let (o, l) = piece.split_once('+')?;
                        Some((o.parse().ok()?, l.parse().ok()?))
                    })
                    .collect::<Option<Vec<(u64, u64)>>>()
            })
            .collect::<Option<Vec<_>>>()
            .map(FrameIndex::Fragments)
    }

    /// The frame index of a stored file (parses it): for tests and tools.
    pub fn of_file(bytes: &[u8]) -> Option<FrameIndex> {
        FrameIndex::locate(bytes, &parse_part10(bytes).ok()?)
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
