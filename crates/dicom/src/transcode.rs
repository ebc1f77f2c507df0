//! WADO-RS transcoding: sending a stored instance in another transfer syntax
//! than the one it was stored in.
//!
//! Azure transcodes to Explicit VR Little Endian (the default when a request
//! names no syntax) and to JPEG 2000 lossless; so does Hale, from every
//! syntax dicom-rs can decode here: the native ones (Deflated Explicit VR
//! Little Endian among them), JPEG baseline, extended and lossless, RLE
//! lossless, and JPEG 2000 lossless and lossy (the
//! pure-Rust `openjp2` decoder). Pixel data is decoded to native form first;
//! for JPEG 2000 lossless each frame is then encoded by [`crate::j2k`]
//! (dicom-rs has no JPEG 2000 encoder). Other targets, stored syntaxes
//! without a decoder, instances over [`MAX_TRANSCODE_BYTES`] and pixel data
//! the decoder or the encoder refuses are answered 406 with the reason, as
//! Azure answers what it cannot produce. Frames of a transcoded instance are
//! the frames of its new pixel data: native bytes, or one JPEG 2000
//! codestream per frame.

use dicom_core::value::PixelFragmentSequence;
use dicom_core::{DataElement, Length, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::Transcode;
use dicom_transfer_syntax_registry::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_transfer_syntax_registry::entries::{
    EXPLICIT_VR_LITTLE_ENDIAN, JPEG_2000_IMAGE_COMPRESSION_LOSSLESS_ONLY,
};

use bytes::Bytes;

use crate::Error;
use crate::ingest::parse_part10;
use crate::j2k::{FrameLayout, encode_lossless};

/// The largest stored instance Azure transcodes (100 MB); larger ones are
/// answered 406.
pub const MAX_TRANSCODE_BYTES: u64 = 100 * 1024 * 1024;

/// Explicit VR Little Endian, the default syntax of WADO-RS.
pub const EXPLICIT_VR_LE: &str = uids::EXPLICIT_VR_LITTLE_ENDIAN;

/// JPEG 2000 Image Compression (Lossless Only), the other syntax Azure (and
/// Hale) transcode to.
pub const JPEG2000_LOSSLESS: &str = uids::JPEG2000_LOSSLESS;

/// Whether pixel data in `ts` can be decoded here (native syntaxes included).
pub fn decodable(ts: &str) -> bool {
    TransferSyntaxRegistry
        .get(ts.trim_end_matches('\0'))
        .is_some_and(|ts| !ts.is_unsupported() && ts.can_decode_all())
}

/// Whether Hale produces `ts` from decoded pixel data.
fn producible(ts: &str) -> bool {
    ts == EXPLICIT_VR_LE || ts == JPEG2000_LOSSLESS
}

/// Whether an instance of `size` bytes stored in `stored` can be sent in
/// `wanted`; the reason (Azure's 406 message) when not. Pixel data the
/// decoder or the encoder refuses is only found out by [`transcode`].
pub fn check(stored: &str, wanted: &str, size: u64) -> Result<(), Error> {
    if stored == wanted {
        return Ok(());
    }
    if !producible(wanted) {
        return Err(Error::NotTranscodable(format!(
            "The requested transfer syntax '{wanted}' is not supported for an instance stored in '{stored}'."
        )));
    }
    if !decodable(stored) {
        return Err(Error::NotTranscodable(format!(
            "The instance is stored in '{stored}', which cannot be transcoded to '{wanted}'."
        )));
    }
    if size > MAX_TRANSCODE_BYTES {
        return Err(Error::NotTranscodable(
            "The requested DICOM instance is too large to be transcoded.".into(),
        ));
    }
    Ok(())
}

/// Whether the pixel attributes of an instance (its DICOM JSON metadata, as
/// stored at STOW) fit what the encoder of `wanted` takes, before any byte
/// is read: a study or series retrieval checks every instance this way, so
/// that one the JPEG 2000 encoder would refuse is a 406 with the reason, not
/// a multipart response cut short after the instances before it. Pixel data
/// that the decoder refuses is still only found out by [`transcode`].
pub fn check_attributes(
    stored: &str,
    wanted: &str,
    attrs: &serde_json::Value,
) -> Result<(), Error> {
    if stored == wanted || wanted != JPEG2000_LOSSLESS {
        return Ok(());
    }
    let number = |tag: &str| -> Option<u64> { attrs.get(tag)?.get("Value")?.get(0)?.as_u64() };
    let Some(rows) = number("00280010") else {
        // No pixel data: the instance only changes syntax.
        return Ok(());
    };
    let small = |tag: &str| number(tag).map(|n| u16::try_from(n).unwrap_or(u16::MAX));
    let bits_allocated = small("00280100").unwrap_or(0);
    let layout = FrameLayout {
        width: number("00280011").map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        height: u32::try_from(rows).unwrap_or(u32::MAX),
        samples_per_pixel: small("00280002").unwrap_or(1),
        bits_allocated,
        bits_stored: small("00280101").unwrap_or(bits_allocated),
        signed: small("00280103") == Some(1),
        planar: small("00280006") == Some(1),
    };
    layout
        .frame_len()
        .map(|_| ())
        .map_err(|e| failure(stored, wanted, &e))
}

/// The Part-10 bytes of the instance in `bytes`, re-encoded in `wanted`
/// (checked with [`check`] first): pixel data decoded to native form and,
/// for JPEG 2000 lossless, encoded again frame by frame; the attributes that
/// describe it (photometric interpretation, planar configuration, ...)
/// updated to match, the file meta group naming the new syntax.
pub fn transcode(bytes: &[u8], wanted: &str) -> Result<Vec<u8>, Error> {
    let (mut obj, stored) = open_checked(bytes, wanted)?;
    if stored != wanted {
        let failed = |e: &dyn std::fmt::Display| failure(&stored, wanted, e);
        obj.transcode(&EXPLICIT_VR_LITTLE_ENDIAN.erased())
            .map_err(|e| failed(&e))?;
        if wanted == JPEG2000_LOSSLESS {
            encode_jpeg2000_lossless(&mut obj).map_err(|e| failed(&e))?;
        }
    }
    let mut out = Vec::with_capacity(bytes.len() + 1024);
    obj.write_all(&mut out).map_err(|e| {
        Error::NotTranscodable(format!(
            "The transcoded instance could not be written: {e}."
        ))
    })?;
    Ok(out)
}

/// The frames `list` (1-based, as `/frames/{list}` names them) of the
/// instance in `bytes`, in `wanted` ([`check`]ed first). For JPEG 2000
/// lossless only the frames asked for are encoded (a frame of a large
/// multi-frame instance costs one frame's encoding, not the instance's).
pub fn transcode_frames(bytes: &[u8], wanted: &str, list: &[u32]) -> Result<Vec<Bytes>, Error> {
    if wanted != JPEG2000_LOSSLESS {
        return crate::retrieve::extract_frames(&transcode(bytes, wanted)?, list);
    }
    if list.is_empty() || list.contains(&0) {
        return Err(Error::InvalidFrames);
    }
    let (mut obj, stored) = open_checked(bytes, wanted)?;
    if stored == wanted {
        return crate::retrieve::extract_frames(bytes, list);
    }
    let failed = |e: &dyn std::fmt::Display| failure(&stored, wanted, e);
    if obj.get(tags::PIXEL_DATA).is_none() {
        return Err(Error::NoPixelData);
    }
    obj.transcode(&EXPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| failed(&e))?;
    let native = NativeFrames::of(&obj).map_err(|e| failed(&e))?;
    list.iter()
        .map(|&f| {
            let frame = native.frame(f).ok_or(Error::FrameNotFound)?;
            encode_lossless(frame, &native.layout)
                .map(Bytes::from)
                .map_err(|e| failed(&e))
        })
        .collect()
}

/// The instance in `bytes`, parsed, and its stored syntax, once [`check`]
/// says it can be sent in `wanted`.
fn open_checked(bytes: &[u8], wanted: &str) -> Result<(DefaultDicomObject, String), Error> {
    let obj = parse_part10(bytes).map_err(Error::UnreadableInstance)?;
    let stored = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_owned();
    check(&stored, wanted, bytes.len() as u64)?;
    Ok((obj, stored))
}

/// Why transcoding from `stored` to `wanted` failed (406).
fn failure(stored: &str, wanted: &str, why: &dyn std::fmt::Display) -> Error {
    Error::NotTranscodable(format!(
        "The instance could not be transcoded from '{stored}' to '{wanted}': {why}."
    ))
}

/// The native (Explicit VR Little Endian) pixel data of an instance, cut
/// into frames.
struct NativeFrames {
    layout: FrameLayout,
    frames: usize,
    /// Bytes per frame.
    frame_len: usize,
    data: Vec<u8>,
}

impl NativeFrames {
    fn of(obj: &DefaultDicomObject) -> Result<NativeFrames, String> {
        let uint = |tag, name: &str| -> Result<u32, String> {
            obj.get(tag)
                .ok_or_else(|| format!("{name} is missing"))?
                .value()
                .to_int::<u32>()
                .map_err(|_| format!("{name} is not a number"))
        };
        let small = |tag, name: &str| -> Result<u16, String> {
            u16::try_from(uint(tag, name)?).map_err(|_| format!("{name} is out of range"))
        };
        let optional = |tag, name: &str| obj.get(tag).map(|_| small(tag, name)).transpose();
        let bits_allocated = small(tags::BITS_ALLOCATED, "Bits Allocated")?;
        let layout = FrameLayout {
            width: uint(tags::COLUMNS, "Columns")?,
            height: uint(tags::ROWS, "Rows")?,
            samples_per_pixel: small(tags::SAMPLES_PER_PIXEL, "Samples per Pixel")?,
            bits_allocated,
            bits_stored: optional(tags::BITS_STORED, "Bits Stored")?.unwrap_or(bits_allocated),
            signed: optional(tags::PIXEL_REPRESENTATION, "Pixel Representation")? == Some(1),
            planar: optional(tags::PLANAR_CONFIGURATION, "Planar Configuration")? == Some(1),
        };
        let frames = match obj.get(tags::NUMBER_OF_FRAMES) {
            Some(_) => uint(tags::NUMBER_OF_FRAMES, "Number of Frames")?,
            None => 1,
        } as usize;
        let frame_len = layout.frame_len()?;
        let data = native_bytes(obj)?;
        let needed = frame_len
            .checked_mul(frames)
            .ok_or("the pixel data is too large")?;
        if frames == 0 || data.len() < needed {
            return Err(format!(
                "the pixel data has {} bytes, not the {needed} of {frames} frames",
                data.len()
            ));
        }
        Ok(NativeFrames {
            layout,
            frames,
            frame_len,
            data,
        })
    }

    /// Frame `n` (1-based), if there is one.
    fn frame(&self, n: u32) -> Option<&[u8]> {
        let n = usize::try_from(n).ok()?.checked_sub(1)?;
        if n >= self.frames {
            return None;
        }
        self.data.get(n * self.frame_len..)?.get(..self.frame_len)
    }
}

/// Re-encodes the native (Explicit VR Little Endian) pixel data of `obj` as
/// JPEG 2000 lossless: one fragment per frame, each a J2K codestream, after
/// a Basic Offset Table that locates them. An instance without pixel data
/// only changes syntax.
fn encode_jpeg2000_lossless(obj: &mut DefaultDicomObject) -> Result<(), String> {
    if obj.get(tags::PIXEL_DATA).is_some() {
        let native = NativeFrames::of(obj)?;
        let mut fragments = Vec::with_capacity(native.frames);
        let mut offsets = Vec::with_capacity(native.frames);
        let mut offset = 0u32;
        for n in 1..=native.frames as u32 {
            let frame = native.frame(n).ok_or("a frame is missing")?;
            let mut codestream = encode_lossless(frame, &native.layout)?;
            // Items hold an even number of bytes; a codestream ends at its
            // EOC marker, so a trailing pad byte is ignored by decoders.
            if codestream.len() % 2 == 1 {
                codestream.push(0);
            }
            offsets.push(offset);
            offset = u32::try_from(codestream.len())
                .ok()
                .and_then(|n| offset.checked_add(8)?.checked_add(n))
                .ok_or("the encoded pixel data is too large")?;
            fragments.push(codestream);
        }
        obj.put(DataElement::new_with_len(
            tags::PIXEL_DATA,
            VR::OB,
            Length::UNDEFINED,
            PixelFragmentSequence::new(offsets, fragments),
        ));
        // A JPEG 2000 codestream has no sample interleaving; DICOM says 0
        // (PS3.5 §8.2.4), which is also how decoders hand the samples back.
        if native.layout.samples_per_pixel > 1 {
            obj.put(DataElement::new(
                tags::PLANAR_CONFIGURATION,
                VR::US,
                PrimitiveValue::from(0u16),
            ));
        }
    }
    obj.update_meta(|meta| meta.set_transfer_syntax(&JPEG_2000_IMAGE_COMPRESSION_LOSSLESS_ONLY));
    Ok(())
}

/// The native pixel data of `obj` as little-endian bytes (dicom-rs keeps
/// 16-bit values as numbers in memory).
fn native_bytes(obj: &DefaultDicomObject) -> Result<Vec<u8>, String> {
    let value = obj
        .get(tags::PIXEL_DATA)
        .ok_or("the pixel data is missing")?
        .value()
        .primitive()
        .ok_or("the pixel data is not native")?;
    Ok(match value {
        PrimitiveValue::U8(v) => v.to_vec(),
        PrimitiveValue::U16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::Empty => Vec::new(),
        _ => return Err("the pixel data has an unexpected value type".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_can_be_sent_in_which_syntax() {
        const IMPLICIT: &str = uids::IMPLICIT_VR_LITTLE_ENDIAN;
        const BIG: &str = "1.2.840.10008.1.2.2";
        const JPEG: &str = uids::JPEG_BASELINE8_BIT;
        const JPEG_LOSSLESS: &str = uids::JPEG_LOSSLESS_SV1;
        const RLE: &str = uids::RLE_LOSSLESS;
        const J2K_LOSSLESS: &str = uids::JPEG2000_LOSSLESS;
        const J2K: &str = uids::JPEG2000;
        const JPEG_LS: &str = uids::JPEGLS_LOSSLESS;
        for stored in [
            IMPLICIT,
            BIG,
            EXPLICIT_VR_LE,
            JPEG,
            JPEG_LOSSLESS,
            RLE,
            J2K_LOSSLESS,
            J2K,
        ] {
            assert_eq!(check(stored, EXPLICIT_VR_LE, 1000), Ok(()), "{stored}");
            assert_eq!(check(stored, stored, 1000), Ok(()), "{stored}");
        }
        // JPEG-LS needs the CharLS C library, which Hale does not link.
        assert_eq!(
            check(JPEG_LS, EXPLICIT_VR_LE, 1000).map_err(|e| e.status()),
            Err(406)
        );
        assert_eq!(check(JPEG_LS, JPEG_LS, 1000), Ok(()));
        // JPEG 2000 lossless is produced from every decodable syntax, JPEG-LS
        // still not; other targets are not produced at all.
        for stored in [IMPLICIT, BIG, EXPLICIT_VR_LE, JPEG, RLE, J2K] {
            assert_eq!(check(stored, J2K_LOSSLESS, 1000), Ok(()), "{stored}");
        }
        assert_eq!(
            check(JPEG_LS, J2K_LOSSLESS, 1000).map_err(|e| e.status()),
            Err(406)
        );
        assert_eq!(
            check(EXPLICIT_VR_LE, J2K, 1000).map_err(|e| e.status()),
            Err(406)
        );
        assert_eq!(
            check(EXPLICIT_VR_LE, IMPLICIT, 1000).map_err(|e| e.status()),
            Err(406)
        );
        assert_eq!(
            check(RLE, J2K_LOSSLESS, MAX_TRANSCODE_BYTES + 1).map_err(|e| e.status()),
            Err(406)
        );
        assert_eq!(
            check(JPEG, EXPLICIT_VR_LE, MAX_TRANSCODE_BYTES + 1),
            Err(Error::NotTranscodable(
                "The requested DICOM instance is too large to be transcoded.".into()
            ))
        );
        assert_eq!(
            check("1.2.3.4", EXPLICIT_VR_LE, 10).map_err(|e| e.status()),
            Err(406)
        );
    }

    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
    use dicom_pixeldata::PixelDecoder;

    /// The pixel attributes of a generated instance.
    #[derive(Clone, Copy)]
    struct Pixels {
        rows: u16,
        columns: u16,
        samples: u16,
        bits_allocated: u16,
        bits_stored: u16,
        signed: bool,
        planar: bool,
        frames: u32,
    }

    impl Pixels {
        fn mono(bits: u16) -> Pixels {
            Pixels {
                rows: 17,
                columns: 33,
                samples: 1,
                bits_allocated: bits,
                bits_stored: bits,
                signed: false,
                planar: false,
                frames: 1,
            }
        }
        fn rgb(planar: bool) -> Pixels {
            Pixels {
                samples: 3,
                planar,
                ..Pixels::mono(8)
            }
        }
        fn frame_len(&self) -> usize {
            self.rows as usize
                * self.columns as usize
                * self.samples as usize
                * (self.bits_allocated as usize / 8)
        }
        /// Deterministic, irregular pixel bytes: every byte value occurs,
        /// neighbours differ, so the wavelet has real work to do.
        fn data(&self) -> Vec<u8> {
            (0..self.frame_len() * self.frames as usize)
                .map(|i| {
                    let i = i as u32;
                    ((i.wrapping_mul(2_654_435_761) >> 13) ^ (i / 7)) as u8
                })
                .collect()
        }
    }

    /// A Part-10 instance in `ts` with `data` as its pixel data.
    fn instance(p: &Pixels, data: &[u8], ts: &str) -> Vec<u8> {
        let mut obj = InMemDicomObject::new_empty();
        let us = |v: u16| PrimitiveValue::from(v);
        obj.put(DataElement::new(
            tags::SOP_CLASS_UID,
            VR::UI,
            uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
        ));
        obj.put(DataElement::new(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            "1.2.3.4.5",
        ));
        obj.put(DataElement::new(
            tags::SAMPLES_PER_PIXEL,
            VR::US,
            us(p.samples),
        ));
        let photometric = if p.samples == 3 { "RGB" } else { "MONOCHROME2" };
        obj.put(DataElement::new(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            photometric,
        ));
        if p.samples == 3 {
            obj.put(DataElement::new(
                tags::PLANAR_CONFIGURATION,
                VR::US,
                us(u16::from(p.planar)),
            ));
        }
        if p.frames > 1 {
            obj.put(DataElement::new(
                tags::NUMBER_OF_FRAMES,
                VR::IS,
                p.frames.to_string(),
            ));
        }
        obj.put(DataElement::new(tags::ROWS, VR::US, us(p.rows)));
        obj.put(DataElement::new(tags::COLUMNS, VR::US, us(p.columns)));
        obj.put(DataElement::new(
            tags::BITS_ALLOCATED,
            VR::US,
            us(p.bits_allocated),
        ));
        obj.put(DataElement::new(
            tags::BITS_STORED,
            VR::US,
            us(p.bits_stored),
        ));
        obj.put(DataElement::new(
            tags::HIGH_BIT,
            VR::US,
            us(p.bits_stored - 1),
        ));
        obj.put(DataElement::new(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            us(u16::from(p.signed)),
        ));
        let value = if p.bits_allocated == 8 {
            PrimitiveValue::from(data.to_vec())
        } else {
            PrimitiveValue::U16(
                data.chunks_exact(2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .collect(),
            )
        };
        let vr = if p.bits_allocated == 8 {
            VR::OB
        } else {
            VR::OW
        };
        obj.put(DataElement::new(tags::PIXEL_DATA, vr, value));
        let meta = FileMetaTableBuilder::new()
            .transfer_syntax(ts)
            .media_storage_sop_class_uid(uids::SECONDARY_CAPTURE_IMAGE_STORAGE)
            .media_storage_sop_instance_uid("1.2.3.4.5");
        let mut out = Vec::new();
        obj.with_meta(meta).unwrap().write_all(&mut out).unwrap();
        out
    }

    /// `data` (planar configuration 1) with its samples interleaved.
    fn interleaved(p: &Pixels, data: &[u8]) -> Vec<u8> {
        let plane = p.rows as usize * p.columns as usize;
        data.chunks_exact(plane * 3)
            .flat_map(|frame| (0..plane).flat_map(move |i| [0, 1, 2].map(|c| frame[c * plane + i])))
            .collect()
    }

    /// Transcodes `bytes` to JPEG 2000 lossless and checks the result is
    /// such an instance, one codestream per frame; the instance and its
    /// pixel data as dicom-rs decodes it.
    fn to_jpeg2000(bytes: &[u8], frames: u32) -> (DefaultDicomObject, Vec<u8>) {
        let out = transcode(bytes, JPEG2000_LOSSLESS).unwrap();
        let obj = parse_part10(&out).unwrap();
        assert_eq!(
            obj.meta().transfer_syntax().trim_end_matches('\0'),
            JPEG2000_LOSSLESS
        );
        let fragments = obj.get(tags::PIXEL_DATA).unwrap().fragments().unwrap();
        assert_eq!(fragments.len(), frames as usize);
        for f in fragments {
            assert!(f.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]), "SOC, SIZ");
            assert_eq!(f.len() % 2, 0);
        }
        let offsets = obj.get(tags::PIXEL_DATA).unwrap().offset_table().unwrap();
        assert_eq!(offsets.len(), frames as usize);
        assert_eq!(offsets[0], 0);
        let decoded = obj.decode_pixel_data().unwrap().data().to_vec();
        (obj, decoded)
    }

    fn round_trip(p: Pixels, ts: &str) {
        let data = p.data();
        let (_, decoded) = to_jpeg2000(&instance(&p, &data, ts), p.frames);
        assert!(decoded == data, "{ts}: the decoded pixels differ");
    }

    #[test]
    fn jpeg2000_lossless_round_trips_mono() {
        round_trip(Pixels::mono(8), EXPLICIT_VR_LE);
        round_trip(Pixels::mono(16), EXPLICIT_VR_LE);
        round_trip(Pixels::mono(16), uids::IMPLICIT_VR_LITTLE_ENDIAN);
        let signed = Pixels {
            signed: true,
            ..Pixels::mono(16)
        };
        round_trip(signed, EXPLICIT_VR_LE);
        // Larger than a code block, five wavelet decompositions.
        round_trip(
            Pixels {
                rows: 70,
                columns: 96,
                ..signed
            },
            EXPLICIT_VR_LE,
        );
        round_trip(
            Pixels {
                frames: 3,
                ..Pixels::mono(16)
            },
            EXPLICIT_VR_LE,
        );
        // Single pixel, single row.
        round_trip(
            Pixels {
                rows: 1,
                columns: 1,
                ..Pixels::mono(8)
            },
            EXPLICIT_VR_LE,
        );
        round_trip(
            Pixels {
                rows: 1,
                ..Pixels::mono(16)
            },
            EXPLICIT_VR_LE,
        );
    }

    #[test]
    fn jpeg2000_lossless_round_trips_colour() {
        let (p, data) = (Pixels::rgb(false), Pixels::rgb(false).data());
        let (obj, decoded) = to_jpeg2000(&instance(&p, &data, EXPLICIT_VR_LE), 1);
        assert!(decoded == data, "the decoded pixels differ");
        assert_eq!(
            obj.get(tags::PHOTOMETRIC_INTERPRETATION)
                .unwrap()
                .to_str()
                .unwrap(),
            "RGB"
        );
        assert!(obj.get(tags::LOSSY_IMAGE_COMPRESSION).is_none());
        // Planar configuration 1: the codestream has no interleaving, the
        // instance says 0 and decodes to the samples interleaved.
        for frames in [1, 4] {
            let p = Pixels {
                frames,
                ..Pixels::rgb(true)
            };
            let data = p.data();
            let (obj, decoded) = to_jpeg2000(&instance(&p, &data, EXPLICIT_VR_LE), frames);
            assert!(
                decoded == interleaved(&p, &data),
                "the decoded pixels differ"
            );
            assert_eq!(
                obj.get(tags::PLANAR_CONFIGURATION)
                    .unwrap()
                    .to_int::<u16>()
                    .unwrap(),
                0
            );
        }
    }

    #[test]
    fn frames_asked_for_are_the_frames_of_the_whole_instance_transcoded() {
        let p = Pixels {
            frames: 4,
            ..Pixels::mono(16)
        };
        let bytes = instance(&p, &p.data(), EXPLICIT_VR_LE);
        let whole = transcode(&bytes, JPEG2000_LOSSLESS).unwrap();
        let all = crate::retrieve::extract_frames(&whole, &[1, 2, 3, 4]).unwrap();
        let some = transcode_frames(&bytes, JPEG2000_LOSSLESS, &[3, 1]).unwrap();
        assert_eq!(some.len(), 2);
        // The instance's fragments are padded to an even length; a frame
        // asked for alone is the codestream as the encoder wrote it.
        for (got, n) in some.iter().zip([3usize, 1]) {
            let full = &all[n - 1];
            assert!(full.starts_with(got), "frame {n}");
            assert!(full.len() - got.len() <= 1, "frame {n}");
        }
        // Explicit VR Little Endian: the native frames.
        let native = transcode_frames(&bytes, EXPLICIT_VR_LE, &[2]).unwrap();
        assert_eq!(
            native[0].as_ref(),
            &p.data()[p.frame_len()..2 * p.frame_len()]
        );
        assert_eq!(
            transcode_frames(&bytes, JPEG2000_LOSSLESS, &[5]),
            Err(Error::FrameNotFound)
        );
        assert_eq!(
            transcode_frames(&bytes, JPEG2000_LOSSLESS, &[0]),
            Err(Error::InvalidFrames)
        );
    }

    #[test]
    fn jpeg2000_keeps_the_bits_stored() {
        // 12 bits stored, unsigned: bits above them are not pixel value.
        let p = Pixels {
            bits_stored: 12,
            ..Pixels::mono(16)
        };
        let clean: Vec<u8> = p
            .data()
            .chunks_exact(2)
            .flat_map(|b| (u16::from_le_bytes([b[0], b[1]]) & 0x0FFF).to_le_bytes())
            .collect();
        let dirty: Vec<u8> = clean
            .chunks_exact(2)
            .flat_map(|b| (u16::from_le_bytes([b[0], b[1]]) | 0xA000).to_le_bytes())
            .collect();
        let (_, decoded) = to_jpeg2000(&instance(&p, &dirty, EXPLICIT_VR_LE), 1);
        assert!(decoded == clean, "masked to 12 bits");
        // 12 bits stored, signed, sign-extended to 16 as usual.
        let p = Pixels { signed: true, ..p };
        let signed: Vec<u8> = clean
            .chunks_exact(2)
            .flat_map(|b| ((u16::from_le_bytes([b[0], b[1]]) << 4) as i16 >> 4).to_le_bytes())
            .collect();
        let (_, decoded) = to_jpeg2000(&instance(&p, &signed, EXPLICIT_VR_LE), 1);
        assert!(decoded == signed, "negative values survive");
    }

    #[test]
    fn what_cannot_be_encoded_is_a_406_with_the_reason() {
        let p = Pixels::mono(32);
        let e = transcode(&instance(&p, &p.data(), EXPLICIT_VR_LE), JPEG2000_LOSSLESS).unwrap_err();
        assert_eq!(e.status(), 406);
        assert!(e.to_string().contains("32 bits allocated"), "{e}");
        // Pixel data shorter than its attributes say.
        let p = Pixels::mono(8);
        let short = instance(&p, &p.data()[..100], EXPLICIT_VR_LE);
        let e = transcode(&short, JPEG2000_LOSSLESS).unwrap_err();
        assert_eq!(e.status(), 406, "{e}");
        // Explicit VR Little Endian still works for both.
        assert!(transcode(&short, EXPLICIT_VR_LE).is_ok());
    }

    #[test]
    fn what_the_encoder_refuses_is_known_from_the_attributes() {
        let attrs = |samples: u16, bits: u16| {
            serde_json::json!({
                "00280002": {"vr": "US", "Value": [samples]},
                "00280010": {"vr": "US", "Value": [64]},
                "00280011": {"vr": "US", "Value": [32]},
                "00280100": {"vr": "US", "Value": [bits]},
                "00280101": {"vr": "US", "Value": [bits]},
            })
        };
        const RLE: &str = uids::RLE_LOSSLESS;
        assert_eq!(
            check_attributes(RLE, JPEG2000_LOSSLESS, &attrs(1, 16)),
            Ok(())
        );
        assert_eq!(
            check_attributes(RLE, JPEG2000_LOSSLESS, &attrs(3, 8)),
            Ok(())
        );
        let e = check_attributes(RLE, JPEG2000_LOSSLESS, &attrs(1, 32)).unwrap_err();
        assert_eq!(e.status(), 406);
        assert!(e.to_string().contains("32 bits allocated"), "{e}");
        // The same words as the encoder's own refusal.
        let p = Pixels::mono(32);
        let encoded = transcode(&instance(&p, &p.data(), EXPLICIT_VR_LE), JPEG2000_LOSSLESS);
        let from_attrs = check_attributes(EXPLICIT_VR_LE, JPEG2000_LOSSLESS, &attrs(1, 32));
        assert_eq!(encoded.unwrap_err(), from_attrs.unwrap_err());
        let e = check_attributes(RLE, JPEG2000_LOSSLESS, &attrs(4, 8)).unwrap_err();
        assert!(e.to_string().contains("4 samples per pixel"), "{e}");
        // Explicit VR Little Endian takes any layout, the stored syntax
        // needs no encoder, and an instance without pixel data has no layout.
        assert_eq!(check_attributes(RLE, EXPLICIT_VR_LE, &attrs(1, 32)), Ok(()));
        assert_eq!(
            check_attributes(JPEG2000_LOSSLESS, JPEG2000_LOSSLESS, &attrs(1, 32)),
            Ok(())
        );
        assert_eq!(
            check_attributes(RLE, JPEG2000_LOSSLESS, &serde_json::json!({})),
            Ok(())
        );
    }
}
