//! WADO-RS transcoding: sending a stored instance in another transfer syntax
//! than the one it was stored in.
//!
//! Azure transcodes to Explicit VR Little Endian (the default when a request
//! names no syntax) and to JPEG 2000 lossless. Hale produces Explicit VR
//! Little Endian from every syntax dicom-rs can decode here: the native ones,
//! JPEG baseline, extended and lossless, RLE lossless, and JPEG 2000 lossless
//! and lossy (the pure-Rust `openjp2` decoder). dicom-rs has no JPEG 2000
//! encoder, so JPEG 2000 is only sent when it is the stored syntax; other
//! requests are answered 406 with the reason, as Azure answers what it cannot
//! produce. Frames of a transcoded instance are the frames of its native
//! pixel data.

use dicom_dictionary_std::uids;
use dicom_pixeldata::Transcode;
use dicom_transfer_syntax_registry::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN;

use crate::Error;
use crate::ingest::parse_part10;

/// The largest stored instance Azure transcodes (100 MB); larger ones are
/// answered 406.
pub const MAX_TRANSCODE_BYTES: u64 = 100 * 1024 * 1024;

/// Explicit VR Little Endian, the syntax Hale transcodes to.
pub const EXPLICIT_VR_LE: &str = uids::EXPLICIT_VR_LITTLE_ENDIAN;

/// Whether pixel data in `ts` can be decoded here (native syntaxes included).
pub fn decodable(ts: &str) -> bool {
    TransferSyntaxRegistry
        .get(ts.trim_end_matches('\0'))
        .is_some_and(|ts| !ts.is_unsupported() && ts.can_decode_all())
}

/// Whether an instance of `size` bytes stored in `stored` can be sent in
/// `wanted`; the reason (Azure's 406 message) when not.
pub fn check(stored: &str, wanted: &str, size: u64) -> Result<(), Error> {
    if stored == wanted {
        return Ok(());
    }
    if wanted != EXPLICIT_VR_LE {
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

/// The Part-10 bytes of the instance in `bytes`, re-encoded in `wanted`
/// (checked with [`check`] first): pixel data decoded to native form, the
/// attributes that describe it (photometric interpretation, planar
/// configuration, ...) updated to match, the file meta group naming the new
/// syntax.
pub fn transcode(bytes: &[u8], wanted: &str) -> Result<Vec<u8>, Error> {
    let mut obj = parse_part10(bytes).map_err(Error::UnreadableInstance)?;
    let stored = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_owned();
    check(&stored, wanted, bytes.len() as u64)?;
    if stored != wanted {
        obj.transcode(&EXPLICIT_VR_LITTLE_ENDIAN.erased())
            .map_err(|e| {
                Error::NotTranscodable(format!(
                    "The instance could not be transcoded from '{stored}' to '{wanted}': {e}."
                ))
            })?;
    }
    let mut out = Vec::with_capacity(bytes.len() + 1024);
    obj.write_all(&mut out).map_err(|e| {
        Error::NotTranscodable(format!(
            "The transcoded instance could not be written: {e}."
        ))
    })?;
    Ok(out)
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
        // No JPEG 2000 encoder.
        assert_eq!(
            check(EXPLICIT_VR_LE, J2K_LOSSLESS, 1000).map_err(|e| e.status()),
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
}
